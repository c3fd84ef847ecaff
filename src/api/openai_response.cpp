#include "api/openai_response.h"

#include <random>

namespace gengyun::api {
namespace {

using nlohmann::json;

std::string_view object_name(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "chat.completion" : "text_completion";
}

std::string_view chunk_object_name(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "chat.completion.chunk" : "text_completion";
}

json envelope(const ResponseMeta& meta, std::string_view object, json choices) {
  return {{"id", meta.id},
          {"object", object},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", std::move(choices)}};
}

json finish_value(std::optional<std::string_view> reason) {
  return reason ? json(*reason) : json(nullptr);
}

json chunk(const ResponseMeta& meta, std::string_view text,
           std::optional<std::string_view> finish_reason, json delta = json()) {
  json choice = {{"index", 0}};
  if (meta.kind == CompletionKind::Chat) {
    if (delta.is_null()) delta = finish_reason ? json::object() : json{{"content", text}};
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_value(finish_reason);
  return envelope(meta, chunk_object_name(meta.kind), json::array({choice}));
}

}  // namespace

std::string random_id(std::string_view prefix) {
  static constexpr std::string_view kAlphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

std::string new_response_id(CompletionKind kind) {
  return random_id(kind == CompletionKind::Chat ? "chatcmpl-" : "cmpl-");
}

json usage_json(const TokenUsage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

json completion_response(const ResponseMeta& meta, std::string_view text,
                         std::string_view finish_reason, const TokenUsage& usage) {
  json choice = {{"index", 0}};
  if (meta.kind == CompletionKind::Chat)
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  else
    choice["text"] = text;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  json body = envelope(meta, object_name(meta.kind), json::array({choice}));
  body["usage"] = usage_json(usage);
  return body;
}

std::optional<json> opening_chunk(const ResponseMeta& meta) {
  if (meta.kind != CompletionKind::Chat) return std::nullopt;
  json choice = {{"index", 0},
                 {"delta", {{"role", "assistant"}, {"content", ""}}},
                 {"logprobs", nullptr},
                 {"finish_reason", nullptr}};
  return envelope(meta, chunk_object_name(meta.kind), json::array({choice}));
}

json text_chunk(const ResponseMeta& meta, std::string_view text) {
  return chunk(meta, text, std::nullopt);
}

json delta_chunk(const ResponseMeta& meta, json delta) {
  return chunk(meta, "", std::nullopt, std::move(delta));
}

json finish_chunk(const ResponseMeta& meta, std::string_view finish_reason) {
  return chunk(meta, "", finish_reason);
}

json usage_chunk(const ResponseMeta& meta, const TokenUsage& usage) {
  json body = envelope(meta, chunk_object_name(meta.kind), json::array());
  body["usage"] = usage_json(usage);
  return body;
}

}  // namespace gengyun::api
