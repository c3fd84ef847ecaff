// OpenAI response bodies: chat.completion / text_completion objects, their streamed chunks
// (chat.completion.chunk / text_completion), and the usage object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
};

/// A response's token counts (OpenAI `usage`).
struct TokenUsage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  ///< of the prompt tokens, those found in the prefix cache
};

/// `prefix` followed by 24 random base62 characters.
std::string random_id(std::string_view prefix);

/// "chatcmpl-" or "cmpl-" followed by 24 random base62 characters.
std::string new_response_id(CompletionKind kind);

/// {"prompt_tokens", "completion_tokens", "total_tokens",
///  "prompt_tokens_details": {"cached_tokens"}} (the OpenAI fields).
nlohmann::json usage_json(const TokenUsage& usage);

/// The non-streamed body: object "chat.completion" with choices[0].message {role "assistant",
/// content}, or "text_completion" with choices[0].text; finish_reason "stop" or "length".
nlohmann::json completion_response(const ResponseMeta& meta, std::string_view text,
                                   std::string_view finish_reason, const TokenUsage& usage);

/// The first chunk of a stream: for chat, delta {role "assistant", content ""}; none for text.
std::optional<nlohmann::json> opening_chunk(const ResponseMeta& meta);
/// A chunk carrying generated text (delta.content / text), finish_reason null.
nlohmann::json text_chunk(const ResponseMeta& meta, std::string_view text);
/// A chat chunk carrying `delta` (e.g. {"reasoning_content": ...} or {"tool_calls": [...]}),
/// finish_reason null.
nlohmann::json delta_chunk(const ResponseMeta& meta, nlohmann::json delta);
/// The chunk that ends the choice: empty delta / text and the finish_reason.
nlohmann::json finish_chunk(const ResponseMeta& meta, std::string_view finish_reason);
/// The last chunk before [DONE]: choices [] and usage (OpenAI's stream_options.include_usage).
nlohmann::json usage_chunk(const ResponseMeta& meta, const TokenUsage& usage);

}  // namespace gengyun::api
