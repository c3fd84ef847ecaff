#include "api/openai_response.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <random>

#include "tokenizer/utf8.h"

namespace gengyun::api {
namespace {

using json = nlohmann::ordered_json;

std::string_view object_name(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "chat.completion" : "text_completion";
}

std::string_view chunk_object_name(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "chat.completion.chunk" : "text_completion";
}

json envelope(const ResponseMeta& meta, std::string_view object, json choices) {
  json body = {{"id", meta.id},
               {"object", object},
               {"created", meta.created},
               {"model", meta.model},
               {"choices", std::move(choices)}};
  if (!meta.system_fingerprint.empty()) body["system_fingerprint"] = meta.system_fingerprint;
  if (!meta.service_tier.empty()) body["service_tier"] = meta.service_tier;
  return body;
}

json finish_value(std::optional<std::string_view> reason) {
  return reason ? json(*reason) : json(nullptr);
}

/// A streamed chunk of one choice; "usage": null when the usage comes in a chunk of its own.
json chunk_envelope(const ResponseMeta& meta, json choice) {
  json body = envelope(meta, chunk_object_name(meta.kind), json::array({std::move(choice)}));
  if (meta.usage_chunk) body["usage"] = nullptr;
  return body;
}

json chunk(const ResponseMeta& meta, std::string_view text,
           std::optional<std::string_view> finish_reason, json logprobs, int index,
           json delta = json()) {
  json choice = {{"index", index}};
  if (meta.kind == CompletionKind::Chat) {
    if (delta.is_null()) delta = finish_reason ? json::object() : json{{"content", text}};
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = finish_value(finish_reason);
  return chunk_envelope(meta, std::move(choice));
}

/// A logprob as sent: -infinity (a forbidden token) as -9999.
double shown_logprob(float logprob) { return std::isinf(logprob) ? -9999.0 : logprob; }

json byte_values(const std::string& bytes) {
  json out = json::array();
  for (const char c : bytes) out.push_back(static_cast<unsigned char>(c));
  return out;
}

/// A legacy completions token as text: its bytes when they are well-formed UTF-8, else
/// "bytes:" and each byte as \xNN (OpenAI's form for a piece of a character), so that two such
/// tokens never show alike (as U+FFFD both, the keys of a top_logprobs object would collide).
std::string legacy_token(const std::string& bytes) {
  for (size_t pos = 0; pos < bytes.size();) {
    const tokenizer::Utf8Sequence seq = tokenizer::next_utf8_sequence(bytes, pos);
    if (seq.kind != tokenizer::Utf8Sequence::Kind::Valid)
      return "bytes:" + tokenizer::hex_escaped_bytes(bytes);
    pos += seq.length;
  }
  return bytes;
}

}  // namespace

json chat_logprobs(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const TokenLogprob& t : tokens) {
    json top = json::array();
    for (const auto& [bytes, logprob] : t.top)
      top.push_back(
          {{"token", bytes}, {"logprob", shown_logprob(logprob)}, {"bytes", byte_values(bytes)}});
    content.push_back({{"token", t.bytes},
                       {"logprob", shown_logprob(t.logprob)},
                       {"bytes", byte_values(t.bytes)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

json completion_logprobs(const std::vector<TokenLogprob>& tokens, TextOffset& offset) {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const TokenLogprob& t : tokens) {
    const std::string token = legacy_token(t.bytes);
    out["tokens"].push_back(token);
    out["token_logprobs"].push_back(shown_logprob(t.logprob));
    json top = json::object();
    for (const auto& [bytes, logprob] : t.top)
      top.emplace(legacy_token(bytes), shown_logprob(logprob));  // the first (likeliest) stays
    top.emplace(token, shown_logprob(t.logprob));
    out["top_logprobs"].push_back(std::move(top));
    // The characters the bytes make now; the one that holds the token's first byte is its
    // offset (an unfinished one at the end stays pending, the next bytes decide it).
    const std::string bytes = offset.pending + t.bytes;
    const size_t start = offset.pending.size();
    std::optional<int64_t> at;
    size_t pos = 0;
    while (pos < bytes.size()) {
      const tokenizer::Utf8Sequence seq = tokenizer::next_utf8_sequence(bytes, pos);
      if (seq.kind == tokenizer::Utf8Sequence::Kind::Incomplete) break;
      if (!at && pos + seq.length > start) at = offset.chars;
      ++offset.chars;
      pos += seq.length;
    }
    out["text_offset"].push_back(at.value_or(offset.chars));
    offset.pending = bytes.substr(pos);
  }
  return out;
}

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

std::string system_fingerprint(std::string_view model_path, int n_ctx) {
  // FNV-1a (64 bits) over the model's path and its context length.
  uint64_t hash = 14695981039346656037ull;
  for (std::string_view part : {model_path, std::string_view(std::to_string(n_ctx))})
    for (const char c : part) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return "fp_" + std::string(hex, 12);
}

json usage_json(const TokenUsage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}, {"audio_tokens", 0}}},
          {"completion_tokens_details",
           {{"reasoning_tokens", usage.reasoning_tokens},
            {"audio_tokens", 0},
            {"accepted_prediction_tokens", 0},
            {"rejected_prediction_tokens", 0}}}};
}

json completion_response(const ResponseMeta& meta, const std::vector<ResponseChoice>& choices,
                         const TokenUsage& usage) {
  json array = json::array();
  for (const ResponseChoice& c : choices) {
    json choice = {{"index", array.size()}};
    if (meta.kind == CompletionKind::Chat && c.message.is_object()) {
      choice["message"] = c.message;
      choice["message"]["refusal"] = nullptr;
    } else if (meta.kind == CompletionKind::Chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = c.logprobs;
    choice["finish_reason"] = c.finish_reason;
    array.push_back(std::move(choice));
  }
  json body = envelope(meta, object_name(meta.kind), std::move(array));
  body["usage"] = usage_json(usage);
  return body;
}

std::optional<json> opening_chunk(const ResponseMeta& meta, int index) {
  if (meta.kind != CompletionKind::Chat) return std::nullopt;
  json choice = {{"index", index},
                 {"delta", {{"role", "assistant"}, {"content", ""}}},
                 {"logprobs", nullptr},
                 {"finish_reason", nullptr}};
  return chunk_envelope(meta, std::move(choice));
}

json text_chunk(const ResponseMeta& meta, std::string_view text, json logprobs, int index) {
  return chunk(meta, text, std::nullopt, std::move(logprobs), index);
}

json delta_chunk(const ResponseMeta& meta, json delta, json logprobs, int index) {
  return chunk(meta, "", std::nullopt, std::move(logprobs), index, std::move(delta));
}

json finish_chunk(const ResponseMeta& meta, std::string_view finish_reason,
                  const TokenUsage* usage, int index) {
  json body = chunk(meta, "", finish_reason, nullptr, index);
  if (usage) body["usage"] = usage_json(*usage);
  return body;
}

json usage_chunk(const ResponseMeta& meta, const TokenUsage& usage) {
  json body = envelope(meta, chunk_object_name(meta.kind), json::array());
  body["usage"] = usage_json(usage);
  return body;
}

}  // namespace gengyun::api
