// OpenAI response bodies: chat.completion / text_completion objects, their streamed chunks
// (chat.completion.chunk / text_completion), and the usage object. Their objects keep their
// members in the order written (nlohmann::ordered_json), as OpenAI sends them: a legacy
// completion's top_logprobs object lists its tokens most likely first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace gengyun::api {

/// Which of the two generation endpoints a response belongs to.
enum class CompletionKind {
  Chat,  ///< /v1/chat/completions: ids "chatcmpl-...", `message` / `delta`
  Text,  ///< /v1/completions: ids "cmpl-...", `text`
};

/// What every body and chunk of one response repeats.
struct ResponseMeta {
  CompletionKind kind = CompletionKind::Chat;
  std::string id;       ///< new_response_id(kind)
  int64_t created = 0;  ///< Unix time, seconds
  std::string model;    ///< the model name as requested
  /// OpenAI's system_fingerprint (the backend configuration that answered); "" leaves it out.
  std::string system_fingerprint = "";
  /// OpenAI's service_tier, the tier that served the request ("default"); "" leaves it out.
  std::string service_tier = "";
  /// stream_options.include_usage: the usage comes in a last chunk of its own, and every other
  /// chunk says "usage": null (OpenAI's).
  bool usage_chunk = false;
};

/// A response's token counts (OpenAI `usage`).
struct TokenUsage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  ///< of the prompt tokens, those found in the prefix cache
  int reasoning_tokens = 0;  ///< of the completion tokens, those of reasoning
};

/// `prefix` followed by 24 random base62 characters.
std::string random_id(std::string_view prefix);

/// One generated token's log-probabilities as the API reports them (natural logs; -infinity,
/// for a token the output format forbids, is reported as -9999, as OpenAI does).
struct TokenLogprob {
  std::string bytes;  ///< what the token stands for (not necessarily whole UTF-8)
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;  ///< (bytes, logprob), most likely first
};

/// Chat `choices[].logprobs`: {"content": [{"token", "logprob", "bytes": [ints],
/// "top_logprobs": [{"token", "logprob", "bytes"}]}], "refusal": null}; `token` is the bytes as
/// text (invalid UTF-8 replaced by U+FFFD when sent).
nlohmann::ordered_json chat_logprobs(const std::vector<TokenLogprob>& tokens);

/// Where a choice's tokens stand in its text, carried from one completion_logprobs call to the
/// next.
struct TextOffset {
  int64_t chars = 0;    ///< characters of the text that the bytes so far make, tail excluded
  std::string pending;  ///< the bytes of an unfinished character at the end (the tail)
};

/// Legacy completions `choices[].logprobs`: {"tokens", "token_logprobs", "top_logprobs": [{token:
/// logprob}], "text_offset"}; each token's top_logprobs holds the sampled token too (OpenAI's
/// "up to logprobs+1 elements"); a token whose bytes are not well-formed UTF-8 (a piece of a
/// character) is written "bytes:\\xNN...", as OpenAI writes it. A token's text_offset is the index,
/// in characters of the choice's text, of the character holding its first byte: the text as the
/// stream decoder makes it, each well-formed character one, each maximal ill-formed subpart one
/// U+FFFD (so byte tokens that make no character count one each, as the text shows them). `offset`
/// carries the count across calls and is advanced past the tokens.
nlohmann::ordered_json completion_logprobs(const std::vector<TokenLogprob>& tokens,
                                           TextOffset& offset);

/// "chatcmpl-" or "cmpl-" followed by 24 random base62 characters.
std::string new_response_id(CompletionKind kind);

/// "fp_" and 12 hex digits of a hash of the model's file path and context length: what decides
/// its answers besides the request (equal for equal configurations).
std::string system_fingerprint(std::string_view model_path, int n_ctx);

/// {"prompt_tokens", "completion_tokens", "total_tokens",
///  "prompt_tokens_details": {"cached_tokens", "audio_tokens": 0},
///  "completion_tokens_details": {"reasoning_tokens", "audio_tokens": 0,
///  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}} (the OpenAI fields).
nlohmann::ordered_json usage_json(const TokenUsage& usage);

/// One choice of a non-streamed answer.
struct ResponseChoice {
  std::string text;
  std::string finish_reason;          ///< "stop", "length" or "tool_calls"
  nlohmann::ordered_json logprobs = nullptr;  ///< chat_logprobs / completion_logprobs, or null
  /// chat: the whole message (ChatAnswer::message()), sent with refusal null; when null,
  /// {role "assistant", content text, refusal null}.
  nlohmann::ordered_json message = nullptr;
};

/// The non-streamed body: object "chat.completion" with choices[i].message {role "assistant",
/// content, refusal null}, or "text_completion" with choices[i].text; choices[i].index is i;
/// system_fingerprint when meta has one.
nlohmann::ordered_json completion_response(const ResponseMeta& meta,
                                           const std::vector<ResponseChoice>& choices,
                                           const TokenUsage& usage);

/// The first chunk of choice `index`'s stream: for chat, delta {role "assistant", content ""};
/// none for text.
std::optional<nlohmann::ordered_json> opening_chunk(const ResponseMeta& meta, int index = 0);
/// A chunk carrying generated text of choice `index` (delta.content / text) and its tokens'
/// `logprobs` (null when not asked for), finish_reason null.
nlohmann::ordered_json text_chunk(const ResponseMeta& meta, std::string_view text,
                                  nlohmann::ordered_json logprobs = nullptr, int index = 0);
/// A chat chunk of choice `index` carrying `delta` (e.g. {"reasoning_content": ...} or
/// {"tool_calls": [...]}) and `logprobs` (null when not asked for), finish_reason null.
nlohmann::ordered_json delta_chunk(const ResponseMeta& meta, nlohmann::ordered_json delta,
                                   nlohmann::ordered_json logprobs = nullptr, int index = 0);
/// The chunk that ends choice `index`: empty delta / text, the finish_reason and, when given,
/// `usage` (the last choice's carries it when the request asks for no usage chunk, so that
/// every client learns its usage; with the usage chunk it would be counted twice).
nlohmann::ordered_json finish_chunk(const ResponseMeta& meta, std::string_view finish_reason,
                                    const TokenUsage* usage = nullptr, int index = 0);
/// The last chunk before [DONE] when stream_options.include_usage is true: choices [] and
/// usage (OpenAI's).
nlohmann::ordered_json usage_chunk(const ResponseMeta& meta, const TokenUsage& usage);

}  // namespace gengyun::api
