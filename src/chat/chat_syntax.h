// What a chat template's answers speak (reasoning tags, a tool-call format), read from the
// template's source and the prompt it rendered.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "gengyun/chat_syntax.h"

namespace gengyun::chat {

/// The tags of reasoning (Qwen3, QwQ, DeepSeek-R1).
inline constexpr std::string_view kReasoningOpen = "<think>";
inline constexpr std::string_view kReasoningClose = "</think>";

/// How a family writes its tool calls: the one description that both the output parser (which
/// reads calls) and the tool-call grammar (which makes the model write them, tool_choice
/// "required") follow. One call is `call_open padding {"name": ..., "<arguments_key>": {...}}
/// padding call_close`; calls are `marker list_open call (separator call)* list_close`.
struct ToolCallWriting {
  /// A control token before the calls ("<|python_tag|>", "[TOOL_CALLS]"): the detokenizer gives
  /// control tokens as "", so the parser takes its text as optional and the grammar leaves it
  /// out (a grammar never allows a token without bytes).
  std::string_view marker;
  std::string_view list_open, list_close;
  std::string_view call_open, call_close;  ///< tags around each call (Hermes)
  std::string_view padding;                ///< written inside the tags, around the JSON
  std::string_view separator;              ///< between calls, as the model writes it
  /// The key of the arguments object (Llama 3.x: "parameters"; the parser takes "arguments"
  /// too).
  std::string_view arguments_key;
  /// Calls may follow content (Hermes); else the calls are the whole answer (after leading
  /// whitespace) and an answer that begins as they do is held until its JSON closes.
  bool anywhere = false;
};

/// The writing of `format`; all empty for ToolCallFormat::None.
const ToolCallWriting& tool_call_writing(ToolCallFormat format);

/// The syntax of the answers to a template's prompts (starts_in_reasoning left false):
/// reasoning when the source holds "<think>"; tool calls Hermes when it holds "<tool_call>",
/// MistralJson when it holds "[TOOL_CALLS]", Llama3Json when it holds "<|python_tag|>" or
/// both "\"parameters\"" and "<|eot_id|>" (Llama 3.2's template names no python tag); else none.
ChatSyntax template_syntax(std::string_view source);

/// Whether `prompt` ends inside reasoning: of the "<think>" and "</think>" in it that overlap
/// no range of `request_spans` (sorted, disjoint [begin, end) byte ranges of text a client
/// wrote), the last is "<think>" (QwQ's and DeepSeek-R1's generation prompts open it).
bool ends_in_reasoning(std::string_view prompt,
                       std::span<const std::pair<size_t, size_t>> request_spans);

/// Whether `prompt` ends just after a reasoning block its template closed: of the same tags,
/// the last is "</think>", followed only by whitespace (Qwen3's generation prompt with
/// enable_thinking false: "<think>\n\n</think>\n\n"), so the answer is not to reason.
bool ends_after_reasoning(std::string_view prompt,
                          std::span<const std::pair<size_t, size_t>> request_spans);

}  // namespace gengyun::chat
