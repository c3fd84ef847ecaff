// The embedding seam: load a GGUF model, turn text into a prompt, submit requests to the
// model's batching engine and read their tokens back.
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
#include <utility>
#include <vector>

#include "gengyun/chat_syntax.h"
#include "gengyun/kv_cache_type.h"
#include "gengyun/result.h"

namespace gengyun {

/// How a model is loaded and how its engine batches requests.
struct ModelOptions {
  int n_threads = 0;  ///< 0: one per physical core
  /// Longest sequence (prompt + generated tokens); 0: the model's training context, or what
  /// the KV cache holds if that is less.
  int n_ctx = 0;
  KvCacheType kv_cache_type = KvCacheType::F16;
  /// Bytes of the KV cache pool shared by all sequences; 0: a quarter of the available memory
  /// (MemAvailable), at most what max_seqs sequences of the whole context need.
  int64_t kv_cache_bytes = 0;
  int max_batch_tokens = 512;  ///< tokens per engine step: decode tokens plus prefill chunks
  int max_seqs = 64;           ///< sequences generating at once
  /// Requests queued beyond the running ones; more are refused. An embedding model queues at
  /// least 2048: each input of an embeddings request is one request (OpenAI allows 2048).
  int max_waiting = 256;
  bool prefix_cache = true;    ///< share the KV blocks of equal prompt prefixes
  /// Weights (and LoRA adapters loaded against the model: load_adapter) stay in a mapping of
  /// the file (paged in on demand, shared with the page cache) instead of being read into
  /// anonymous memory with transparent huge pages (the default: faster decode,
  /// docs/kernels.md; a file rewritten in place while mapped ends the process with SIGBUS).
  bool mmap = false;
  /// A request whose events stay unread this long is cancelled (its usage so far is reported).
  int64_t stall_timeout_us = 60'000'000;
  /// Called by LoadedModel::load on its thread as the file is read into memory: bytes read so
  /// far and the file's size, every 64 MiB and at the end. Not called with `mmap` (nothing is
  /// read at load).
  std::function<void(int64_t bytes_read, int64_t bytes_total)> load_progress = nullptr;
};

/// What the output must be (OpenAI response_format), enforced by constrained decoding: each
/// step allows only the tokens that keep the output a prefix of a valid answer, and the end
/// only when it is complete (docs/structured_output.md).
struct OutputFormat {
  enum class Kind { Text, JsonObject, JsonSchema, ToolCalls };
  Kind kind = Kind::Text;  ///< Text: unconstrained; JsonObject: any JSON object
  /// Kind::JsonSchema: the JSON Schema's text (the supported subset: sampling/json_schema.h).
  std::string json_schema;
  /// Kind::ToolCalls (OpenAI tool_choice "required", a named function, parallel_tool_calls
  /// false): the answer is tool calls as `syntax.tool_calls` writes them (not None), each naming
  /// a tool of `tools_json` (an array of OpenAI tools, JSON text) and with arguments valid under
  /// its `parameters`; reasoning first where `syntax` speaks it (docs/chat.md).
  std::string tools_json;
  std::string tool_name;       ///< only this function, one call ("": any of the tools)
  /// tool_choice "auto": text is allowed instead of calls, and is free (not masked) up to where
  /// a call begins (docs/structured_output.md, "Lazy grammars").
  bool text_allowed = false;
  bool parallel_calls = true;  ///< more than one call (parallel_tool_calls)
  ChatSyntax syntax;
};

/// Sampling and stopping for one generation (OpenAI / llama.cpp semantics).
struct GenerationParams {
  int max_tokens = 256;             ///< tokens to generate at most; < 0: until the context is full
  float temperature = 0.8f;         ///< <= 0: greedy (argmax)
  int top_k = 40;                   ///< <= 0: off
  float top_p = 0.95f;              ///< >= 1: off
  float min_p = 0.05f;              ///< <= 0: off
  float repeat_penalty = 1.0f;      ///< 1: off (llama.cpp's repetition penalty)
  float presence_penalty = 0.0f;    ///< OpenAI presence_penalty (counts generated tokens only)
  float frequency_penalty = 0.0f;   ///< OpenAI frequency_penalty (counts generated tokens only)
  int penalty_last_n = 64;          ///< prompt and generated tokens repeat_penalty looks at
  std::optional<uint64_t> seed;     ///< same seed, same prompt, same params -> same output
  std::vector<std::string> stop;    ///< stop strings; the text is cut before the first match
  /// End-of-generation tokens do not stop the sequence (benchmarks: a fixed number of tokens;
  /// vLLM's ignore_eos).
  bool ignore_eos = false;
  OutputFormat format;
  /// Added to the logits of token ids before sampling (OpenAI logit_bias: -100..100).
  std::vector<std::pair<int32_t, float>> logit_bias;
  /// Log-probabilities in the events: -1 none; 0 each sampled token's; 1..20 also that many
  /// most likely alternatives (OpenAI logprobs / top_logprobs).
  int top_logprobs = -1;
};

/// The log-probability (natural log) of a sampled token and of the most likely alternatives:
/// softmax over the vocabulary after logit_bias, penalties and the output format's mask, before
/// temperature, top-k / top-p / min-p, so the same step reports the same values whatever the
/// temperature (as OpenAI's and llama.cpp's logprobs). Tokens the format forbids have -infinity.
struct TokenLogprobs {
  int32_t id = 0;  ///< the sampled token
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  ///< (token id, logprob), most likely first
};

enum class FinishReason { Stop, Length, Cancelled };

/// "stop", "length" or "cancelled".
std::string_view finish_reason_name(FinishReason reason);

/// Tokens one request consumed (OpenAI `usage`).
struct Usage {
  /// Prompt tokens that entered the KV cache, computed or found in the prefix cache: the whole
  /// prompt once generation starts, fewer for a request cancelled during its prefill, 0 for
  /// one cancelled while waiting.
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;  ///< of those, the ones found in the prefix cache
  int completion_tokens = 0;     ///< tokens sampled (including an end-of-generation token)
};

/// When a request passed its milestones, in microseconds on a monotonic clock (only
/// differences mean anything); 0 for one not reached (a request cancelled while waiting has no
/// first token).
struct RequestTimes {
  int64_t submitted_us = 0;
  int64_t first_token_us = 0;  ///< its first token was sampled (time to first token: the difference)
  int64_t finished_us = 0;
};

/// What a request's handle yields: the tokens sampled since the previous event, their text,
/// and at the end the finish reason. A reader that falls behind gets the tokens of several
/// engine steps merged into one event, so a request's buffer never holds more than one.
struct GenerationEvent {
  std::vector<int32_t> token_ids;  ///< new tokens, in order
  /// When params.top_logprobs >= 0: the sampled tokens whose text has been given, in order
  /// (llama.cpp's server and OpenAI's answers report the tokens of the text): a token comes
  /// with the event whose `text` holds its first byte (its text held back, as the start of a
  /// stop string or of a character, it comes later), tokens that stand for no bytes with the
  /// next text or at the end, and tokens after the start of a stop string never.
  std::vector<TokenLogprobs> logprobs;
  std::string text;  ///< their text: complete UTF-8, cut before a stop string
  bool finished = false;
  FinishReason finish_reason = FinishReason::Stop;  ///< when finished
  /// When finished with FinishReason::Stop: a stop string ended the text (cut there), not the
  /// model (its end-of-generation token, or an output format that admits no further byte).
  bool stop_string = false;
  std::string error;  ///< when finished by a failure or by the engine (e.g. a stalled reader)
  Usage usage;        ///< so far; final when finished
  RequestTimes times;  ///< when finished
  /// An embedding request's finished event: the final-norm hidden states pooled as the
  /// model's pooling type says, [n_embd()], not normalized (llama.cpp's pooled output).
  /// Bit-identical whatever else shares the engine's passes.
  std::vector<float> embedding;
};

/// One generation submitted to an engine.
struct EngineRequest {
  std::vector<int32_t> prompt;  ///< token ids
  GenerationParams params;
  int priority = 0;        ///< lower values are admitted first; equal ones in arrival order
  std::string cache_salt;  ///< prefix-cache blocks are shared only between equal salts
  /// Bytes decoded before the generated tokens' bytes, as the start of the generated text: the
  /// unfinished UTF-8 character that the prompt's text ends with (LoadedModel::detokenize),
  /// which the first generated tokens complete (a completion's echo leaves it to the generation,
  /// so that the answer holds it whole). Given with the first text; as U+FFFD at the end when
  /// no token completes it. Empty: none.
  std::string text_prefix = {};
  /// The embedding of `prompt` instead of a generation (an embedding model's only kind of
  /// request; LoadedModel::is_embedding_model): the prompt is computed, in the same batched
  /// passes as the other requests, and the finished event carries its pooled vector; params
  /// are not used.
  bool embed = false;
};

/// A submitted request. Thread-safe. Destroying it cancels the request if it has not finished.
class RequestHandle {
 public:
  virtual ~RequestHandle() = default;
  /// The next event, waiting up to `timeout_us` microseconds (0: do not wait); nullopt when
  /// none came. After the finished event, nullopt.
  virtual std::optional<GenerationEvent> next(int64_t timeout_us) = 0;
  /// `notify` is called from the engine's thread each time an event becomes ready (and at once
  /// if one is); it must not block. For servers that wait on many requests without a thread
  /// each. Replaces an earlier callback.
  virtual void on_ready(std::function<void()> notify) = 0;
  /// Stops the request: a waiting one is dropped, a running one stops at the next engine step
  /// (a long prefill at its next chunk) and frees its KV blocks. Its finished event follows.
  virtual void cancel() = 0;
  /// Whether the request has ended: its finished event is ready or was taken. A reader that
  /// cannot pass events on yet may leave the ones before it unread (the engine merges them, and
  /// cancels the request once one stays unread for ModelOptions::stall_timeout_us).
  virtual bool finished() const = 0;
};

/// Why submit() refused a request.
enum class SubmitStatus { Ok, InvalidRequest, QueueFull };

/// The answer of submit(): a handle, or the status and a message a person can act on.
struct Submission {
  std::unique_ptr<RequestHandle> handle;
  SubmitStatus status = SubmitStatus::Ok;
  std::string message;
};

/// What LoadedModel::submit_all returns: when status is Ok, one handle per request, in the
/// order of the requests; otherwise none, and the message says why.
struct BatchSubmission {
  std::vector<std::unique_ptr<RequestHandle>> handles;
  SubmitStatus status = SubmitStatus::Ok;
  std::string message;
};

/// A snapshot of an engine's accounts.
struct EngineStats {
  int running = 0;         ///< sequences admitted (generating or prefilling)
  int waiting = 0;         ///< requests queued, including preempted ones
  int kv_blocks_used = 0;  ///< blocks referenced by running sequences
  int kv_blocks_total = 0;
  int kv_block_tokens = 0;           ///< positions per block
  int64_t prefix_cache_queries = 0;  ///< prompt tokens looked up in the prefix cache
  int64_t prefix_cache_hits = 0;     ///< of those, found there
  int64_t steps = 0;                 ///< engine steps (forward passes) run
  /// Token masks computed for constrained output (one per step of a grammar, none before a
  /// lazy grammar's trigger but where a free token had to be drawn again;
  /// docs/structured_output.md)
  int64_t grammar_masks = 0;
  int64_t preemptions = 0;
  int64_t finished = 0;  ///< requests finished (any reason)
};

/// Outcome of one generation read to its end (LoadedModel::generate). Times in microseconds.
struct GenerationResult {
  std::string text;              ///< all text streamed to the callback
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;  ///< of the prompt tokens, those found in the prefix cache
  int completion_tokens = 0;     ///< tokens sampled (including an end-of-generation token)
  FinishReason finish_reason = FinishReason::Stop;
  int64_t prefill_us = 0;  ///< submission to the first token (time to first token)
  int64_t decode_us = 0;   ///< first token to the end
};

/// Receives text as it is produced (always complete UTF-8). Return false to cancel.
using TextCallback = std::function<bool(std::string_view text)>;

/// One chat message (OpenAI `messages[i]`).
struct ChatMessage {
  std::string role;     ///< "system", "user", "assistant", "tool"
  std::string content;
  /// More members for the chat template, as the text of a JSON object ("" for none): an
  /// assistant's `tool_calls` (each `function.arguments` an object), `reasoning_content`, a
  /// tool message's `tool_call_id`, a `name`.
  std::string extra_json = {};
};

/// What a chat gives its template besides the messages, as JSON text ("" for none).
struct ChatOptions {
  std::string tools_json;            ///< an array of OpenAI tools; none when empty
  std::string template_kwargs_json;  ///< an object of more template variables
};

/// A chat's prompt tokens and what the answer to them speaks.
struct ChatPrompt {
  std::vector<int32_t> tokens;
  /// From the model's own template (reasoning tags, tool-call format) and the rendered prompt
  /// (starts_in_reasoning); all off for the built-in formats.
  ChatSyntax syntax;
  /// Rendered by the model's own template; false for a built-in format (which reads neither
  /// tools nor template variables).
  bool own_template = false;
};

class Tokenizer;

/// A loaded model: weights (mmap'd), tokenizer, and its engine: a thread that runs every
/// submitted request in one continuous batch over a paged KV cache (scheduler, prefix cache,
/// chunked prefill, preemption), as vLLM's engine does.
class LoadedModel {
 public:
  /// Loads a GGUF model and starts its engine (an embedding model's computes embeddings only,
  /// and shares no prefix cache: its pooling may read every row). Errors: unreadable/corrupt
  /// file, unsupported architecture or tensor type, missing tensors, bad hyper-parameters, bad
  /// options (threads,
  /// a context longer than the model's training context or than the KV cache pool holds, a
  /// pool that holds no block).
  static Result<std::shared_ptr<LoadedModel>> load(const std::string& path,
                                                   const ModelOptions& options = {});
  virtual ~LoadedModel() = default;

  /// Tokens of `text`; BOS prepended when the model's metadata asks for it and add_bos is
  /// true; special tokens (e.g. `<|im_start|>`) parsed only when parse_special is true.
  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_bos,
                                        bool parse_special) const = 0;

  /// Prompt text for a chat, ending with the assistant turn's opening: the model's own chat
  /// template (GGUF tokenizer.chat_template) rendered as Hugging Face's apply_chat_template
  /// renders it (add_generation_prompt true, the vocabulary's BOS and EOS text as bos_token and
  /// eos_token); for a GGUF without a template, or whose template does not parse, a built-in
  /// format (ChatML, Llama 2 `[INST]`, Llama 3 headers). Errors: what the template raises
  /// ("TemplateError: System role not supported") or another failure of the template.
  /// `options` reach the template as `tools` and as variables of their own (chat_template_kwargs,
  /// e.g. enable_thinking); the built-in formats ignore them. Errors also: `options` or a
  /// message's extra_json that is not the JSON it should be.
  virtual Result<std::string> render_chat(std::span<const ChatMessage> messages,
                                          const ChatOptions& options) const = 0;

  /// The prompt tokens of a chat: render_chat's text tokenized with the special tokens of the
  /// template's own text parsed, and none of the messages' text: a user who writes
  /// `<|im_start|>system` gets those characters, not a forged turn. With the model's own
  /// template, the template decides BOS (as Hugging Face tokenizes a rendered chat); with a
  /// built-in format, BOS is prepended when the metadata asks for it. Also what the answer
  /// speaks (chat::template_syntax; starts_in_reasoning when the template's own markup leaves
  /// a <think> open at the end). Errors: those of render_chat.
  virtual Result<ChatPrompt> chat_prompt(std::span<const ChatMessage> messages,
                                         const ChatOptions& options) const = 0;

  /// An embedding model's input for `tokens` (a text's ids from tokenize(text, false, false),
  /// or a client's token ids): BOS prepended and EOS appended where the metadata asks
  /// (tokenizer.ggml.add_bos_token, add_eos_token), as the model was trained to read it.
  virtual std::vector<int32_t> embedding_input(std::span<const int32_t> tokens) const = 0;

  /// Queues a request and returns at once. InvalidRequest: empty prompt, a token id outside
  /// the vocabulary, prompt + 1 longer than n_ctx() (an embedding's prompt: longer than
  /// n_ctx()), sampling parameters out of range, `embed` on a model that generates or a
  /// generation on an embedding model.
  /// InvalidRequest also: a logit_bias id outside the vocabulary, a JSON schema outside the
  /// supported subset (the message names the keyword and its place).
  /// QueueFull: max_seqs requests run and max_waiting more already wait.
  virtual Submission submit(EngineRequest request) = 0;

  /// Queues all of `requests` or none of them (the prompts and choices of one API request, the
  /// inputs of one embeddings request): each is checked as submit() checks it (InvalidRequest:
  /// the first refusal's message), and QueueFull when they do not all fit beside the requests
  /// running and waiting.
  virtual BatchSubmission submit_all(std::vector<EngineRequest> requests) = 0;

  /// The engine's accounts now.
  virtual EngineStats stats() const = 0;

  /// Blocks until `done(stats())` holds, checking after every engine step, admission and
  /// finished request, or until `timeout_us` passes; returns whether it held. For tests and
  /// tools that synchronize on what the engine did rather than on time.
  virtual bool wait_until(const std::function<bool(const EngineStats&)>& done,
                          int64_t timeout_us) const = 0;

  /// Submits `prompt` and reads its events to the end, passing text to `on_text` (return false
  /// to cancel). Errors: those of submit(). Cancellation is not an error.
  Result<GenerationResult> generate(std::span<const int32_t> prompt,
                                    const GenerationParams& params, const TextCallback& on_text);

  /// The bytes token `id` stands for (not necessarily whole UTF-8; "" for control tokens and
  /// ids outside the vocabulary): OpenAI's logprobs `bytes` and `token`.
  virtual std::string token_bytes(int32_t id) const = 0;

  /// The text of the prompt `tokens`: the text that tokenize(text, /*add_bos=*/true,
  /// /*parse_special=*/true) turns into them (Tokenizer::decode). Special tokens give their text
  /// (`<|im_start|>`), except a first token that is the BOS tokenize() prepends by itself; a
  /// SentencePiece vocabulary's space prefix is left out ("Once", not " Once"). Bytes, not
  /// necessarily whole UTF-8 (the tokens can end inside a character); ids outside the
  /// vocabulary give "".
  virtual std::string detokenize(std::span<const int32_t> tokens) const = 0;

  /// Longest sequence in tokens (prompt + generated).
  virtual int n_ctx() const = 0;
  /// Requests the engine holds at once: max_seqs running and max_waiting queued
  /// (ModelOptions). submit() answers QueueFull beyond them, so a client request that needs
  /// more engine requests than this (choices, prompts, inputs) could never be served.
  virtual int max_requests() const = 0;
  /// Whether the model computes embeddings (GGUF <arch>.pooling_type set) instead of text.
  virtual bool is_embedding_model() const = 0;
  /// Width of the hidden states: an embedding's length (<arch>.embedding_length).
  virtual int n_embd() const = 0;
  /// Bytes of the KV cache pool.
  virtual int64_t kv_cache_bytes() const = 0;
  virtual int n_vocab() const = 0;
  virtual int n_threads() const = 0;
  virtual const std::string& path() const = 0;
  /// Time spent in load(), microseconds.
  virtual int64_t load_us() const = 0;

  /// A LoRA adapter (llama.cpp's adapter GGUF: `general.type = adapter`, `adapter.type =
  /// lora`, tensors `<weight>.lora_a` / `.lora_b`) loaded against this model, as a model of its
  /// own: its effective weights are W + scale · (alpha / rank) · B·A (llama.cpp's
  /// --lora-scaled). It shares this model's weights, tokenizer, KV pool and engine: requests
  /// submitted to it run in the same batches as this model's and other adapters' requests,
  /// each token row with its own adapter's update, and its outputs are bit-identical whatever
  /// runs beside them. Prefix-cache blocks are keyed by adapter (never shared between two
  /// adapters, or with the base model). It keeps this model alive; dropping it unloads the
  /// adapter once its running requests finish. stats() and wait_until() are the shared
  /// engine's; path() and load_us() are the adapter's.
  /// Errors (naming the file and the mismatch): a missing or unreadable file, not an adapter
  /// GGUF, another architecture, a tensor the model does not have or of the wrong shape, a
  /// scale that is not finite, an adapter of an adapter ("adapters do not stack").
  virtual Result<std::shared_ptr<LoadedModel>> load_adapter(const std::string& path,
                                                            float scale) = 0;
};

}  // namespace gengyun
