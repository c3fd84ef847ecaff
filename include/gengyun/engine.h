// The embedding seam: load a GGUF model, turn text into a prompt, generate tokens back.
// The command line (`gengyun run`) and the HTTP server use only this header (plus deploy/),
// as llama.h is for llama.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/kv_cache_type.h"
#include "gengyun/result.h"

namespace gengyun {

/// How a model is loaded.
struct ModelOptions {
  int n_threads = 0;  ///< 0: one per physical core
  int n_ctx = 0;      ///< context length in tokens; 0: the model's training context, capped at 4096
  KvCacheType kv_cache_type = KvCacheType::F16;
};

/// Sampling and stopping for one generation (OpenAI / llama.cpp semantics).
struct GenerationParams {
  int max_tokens = 256;             ///< tokens to generate at most; < 0: until the context is full
  float temperature = 0.8f;         ///< <= 0: greedy (argmax)
  int top_k = 40;                   ///< <= 0: off
  float top_p = 0.95f;              ///< >= 1: off
  float min_p = 0.05f;              ///< <= 0: off
  float repeat_penalty = 1.0f;      ///< 1: off (llama.cpp's repetition penalty)
  float presence_penalty = 0.0f;    ///< OpenAI presence_penalty
  float frequency_penalty = 0.0f;   ///< OpenAI frequency_penalty
  int penalty_last_n = 64;          ///< tokens of history the penalties look at
  std::optional<uint64_t> seed;     ///< same seed, same prompt, same params -> same output
  std::vector<std::string> stop;    ///< stop strings; the text is cut before the first match
};

enum class FinishReason { Stop, Length, Cancelled };

/// "stop", "length" or "cancelled".
std::string_view finish_reason_name(FinishReason reason);

/// Outcome of one generation. Times in microseconds.
struct GenerationResult {
  std::string text;            ///< all text streamed to the callback
  int prompt_tokens = 0;
  int completion_tokens = 0;   ///< tokens sampled (including an end-of-generation token)
  FinishReason finish_reason = FinishReason::Stop;
  int64_t prefill_us = 0;      ///< prompt evaluation time
  int64_t decode_us = 0;       ///< time spent generating after the prompt
};

/// Receives text as it is produced (always complete UTF-8). Return false to cancel.
using TextCallback = std::function<bool(std::string_view text)>;

/// One chat message (OpenAI `messages[i]`).
struct ChatMessage {
  std::string role;     ///< "system", "user", "assistant"
  std::string content;
};

class Tokenizer;

/// A loaded model: weights (mmap'd), tokenizer, one KV cache. generate() calls are serialized
/// by an internal mutex: concurrent callers queue and never interleave.
class LoadedModel {
 public:
  /// Loads a GGUF model. Errors: unreadable/corrupt file, unsupported architecture or tensor
  /// type, missing tensors, bad hyper-parameters.
  static Result<std::shared_ptr<LoadedModel>> load(const std::string& path,
                                                   const ModelOptions& options = {});
  virtual ~LoadedModel() = default;

  /// Tokens of `text`; BOS prepended when the model's metadata asks for it and add_bos is
  /// true; special tokens (e.g. `<|im_start|>`) parsed only when parse_special is true.
  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_bos,
                                        bool parse_special) const = 0;

  /// Prompt text for a chat: ChatML for models whose template uses `<|im_start|>`, Llama 2
  /// `[INST]` for SentencePiece models; ends with the assistant turn's opening.
  virtual std::string render_chat(std::span<const ChatMessage> messages) const = 0;

  /// Generates from `prompt` (token ids). Errors: empty prompt, prompt + 1 longer than the
  /// context, token id out of range. Cancellation (callback returned false) is not an error.
  virtual Result<GenerationResult> generate(std::span<const int32_t> prompt,
                                            const GenerationParams& params,
                                            const TextCallback& on_text) = 0;

  virtual int n_ctx() const = 0;
  virtual int n_vocab() const = 0;
  virtual int n_threads() const = 0;
  virtual const std::string& path() const = 0;
  /// Time spent in load(), microseconds.
  virtual int64_t load_us() const = 0;
};

}  // namespace gengyun
