// Built-in chat prompt formats (ChatML, Llama 2 [INST], Llama 3 headers) for models whose chat template is
// rendered without a Jinja engine. Output follows llama.cpp's llm_chat_apply_template.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gengyun::chat {

enum class ChatFormat { ChatML, Llama2, Llama3 };

/// ChatML when `chat_template` (GGUF tokenizer.chat_template, may be empty) contains
/// "<|im_start|>"; Llama3 when it contains "<|start_header_id|>"; otherwise Llama2 when the vocabulary is SentencePiece (`is_spm`) or the
/// template contains "[INST]"; otherwise ChatML.
ChatFormat detect_chat_format(std::string_view chat_template, bool is_spm);

/// One chat message (OpenAI `messages[i]`): role "system", "user", "assistant", ...
struct Message {
  std::string role;
  std::string content;
};

/// The prompt text for `messages`, ending with the opening of the assistant's turn.
/// ChatML: "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then
/// "<|im_start|>assistant\n". Llama2 (llama.cpp's llama2-sys-bos): "[INST] " first (the
/// tokenizer adds BOS), a system message as "<<SYS>>\n{content}\n<</SYS>>\n\n", a user message
/// as "{content} [/INST]", any other role as an assistant reply "{content}{eos_text}" after
/// which the next message opens a turn with "{bos_text}[INST] " (so a conversation ending with
/// an assistant reply ends with eos_text). Llama3 (llama.cpp's llama3):
/// "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>" per message, then
/// "<|start_header_id|>assistant<|end_header_id|>\n\n" (the tokenizer adds BOS). Content is
/// copied verbatim. When `request_spans` is given, it receives the byte ranges of the output
/// that are the messages' roles and contents (sorted, disjoint).
std::string render_chat(ChatFormat format, std::span<const Message> messages,
                        std::string_view bos_text, std::string_view eos_text,
                        std::vector<std::pair<size_t, size_t>>* request_spans = nullptr);

}  // namespace gengyun::chat
