#include "api/openai_request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

#include "deploy/units.h"
#include "platform/store.h"
#include "sampling/json_schema.h"
#include "sampling/request_ranges.h"
#include "util/ordered_json.h"
#include "util/strict_json.h"

namespace gengyun::api {

using nlohmann::json;

namespace {
/// 2^63, int64's greatest value plus one, as a double.
constexpr double kTwoTo63 = 9223372036854775808.0;

/// Whether `value` is a whole double of magnitude 2^63 or more: an integer literal past int64
/// (or past uint64 when positive), which nlohmann reads as a double.
bool whole_past_int64(const json& value) {
  if (!value.is_number_float()) return false;
  const double number = value.get<double>();
  return std::isfinite(number) && std::trunc(number) == number && std::abs(number) >= kTwoTo63;
}
}  // namespace

const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string shown(const json& value) {
  // A whole double at or past int64's bounds was most likely written as an integer (one in
  // int64 or uint64 is read as an integer, so this is where nlohmann turns to doubles): shown
  // in digits, exactly, rather than as nlohmann's "1.8446744073709552e+19". Below 10^21, where
  // JavaScript's JSON.stringify writes digits too; past it, as nlohmann writes it ("1e+30").
  if (whole_past_int64(value) && std::abs(value.get<double>()) < 1e21) {
    char digits[32];
    std::snprintf(digits, sizeof digits, "%.0f", value.get<double>());
    return digits;
  }
  std::string text = dump_json(value);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

std::optional<ApiError> integer_past_int64(const json& value, const std::string& name,
                                           const std::string& range) {
  // A whole double of -2^63 comes from a literal below int64 (-9223372036854775809 rounds to
  // it); -9223372036854775808 itself is read as an integer.
  const bool past =
      value.is_number_unsigned()
          ? value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
          : whole_past_int64(value);
  if (!past) return std::nullopt;
  // -2^63 as a double is a literal below it rounded up to it: shown as -2^63, it would read as
  // a value the range holds.
  const std::string got = value.is_number_float() && value.get<double>() == -kTwoTo63
                              ? "a number below -9223372036854775808"
                              : shown(value);
  return invalid_request(
      name + " is out of range: it must be an integer in " + range + ", got " + got, name);
}

ApiResult<std::vector<int32_t>> read_token_ids(const json& array, const std::string& where,
                                               const std::string& param) {
  if (array.empty()) return invalid_request(where + " must not be an empty array", param);
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (const json& id : array) {
    // A whole double of 2^63 or more (a literal past uint64, which nlohmann reads as a double)
    // is an id past int32 too, not a non-integer.
    const bool past_uint64 = whole_past_int64(id) && id.get<double>() > 0;
    if (!past_uint64 &&
        (!id.is_number_integer() || (!id.is_number_unsigned() && id.get<int64_t>() < 0)))
      return invalid_request(where + " must hold token ids (integers >= 0), got " + shown(id),
                             param);
    // (QA: "must hold token ids (integers >= 0), got 2147483648".)
    if (past_uint64 || (id.is_number_unsigned() && id.get<uint64_t>() > INT32_MAX) ||
        (!id.is_number_unsigned() && id.get<int64_t>() > INT32_MAX))
      return invalid_request(
          where + " holds the token id " + shown(id) + ", outside the vocabulary", param);
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return ids;
}

namespace {

/// "[min, 9223372036854775807]": the range of an integer field with no greatest value.
std::string at_least(int64_t min) {
  return "[" + std::to_string(min) + ", " + std::string(kInt64MaxShown) + "]";
}

/// A number in `range`, written into `out`.
std::optional<ApiError> read_number(const json& body, const sampling::NumberRange& range,
                                    float& out) {
  const std::string name(range.name);
  const json* value = field(body, name.c_str());
  if (!value) return std::nullopt;
  if (!value->is_number())
    return invalid_request(
        name + " must be a number in " + std::string(range.shown) + ", got " + shown(*value), name);
  if (!range.contains(value->get<double>()))
    return invalid_request(
        name + " must be in " + std::string(range.shown) + ", got " + shown(*value), name);
  out = static_cast<float>(value->get<double>());
  return std::nullopt;
}

/// An integer in [`min`, 2^63 - 1], written into `out`; values past INT_MAX are clamped to it.
std::optional<ApiError> read_int(const json& body, const char* name, int64_t min, int& out) {
  const json* value = field(body, name);
  if (!value) return std::nullopt;
  if (auto error = integer_past_int64(*value, name, at_least(min))) return error;
  if (!value->is_number_integer() || value->get<int64_t>() < min)
    return invalid_request(std::string(name) + " must be an integer >= " + std::to_string(min) +
                               ", got " + shown(*value),
                           name);
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  out = static_cast<int>(std::min(value->get<int64_t>(), kMax));
  return std::nullopt;
}

/// `seed`: an integer in int64's range, its two's complement bits the sampler's seed (-1 is
/// 2^64 - 1).
std::optional<ApiError> read_seed(const json& body, GenerationParams& params) {
  const json* value = field(body, "seed");
  if (!value) return std::nullopt;
  if (auto error = integer_past_int64(
          *value, "seed", "[-9223372036854775808, " + std::string(kInt64MaxShown) + "]"))
    return error;
  if (!value->is_number_integer())
    return invalid_request("seed must be an integer, got " + shown(*value), "seed");
  params.seed = static_cast<uint64_t>(value->get<int64_t>());
  return std::nullopt;
}

std::optional<ApiError> read_stop(const json& body, GenerationParams& params) {
  constexpr size_t kMaxStop = 4;
  const json* value = field(body, "stop");
  if (!value) return std::nullopt;
  // An empty stop string would match at every position: refused rather than dropped, so that
  // no accepted value is ignored.
  const auto empty = [] {
    return invalid_request("stop holds an empty string, which would match at every position; "
                           "give non-empty strings",
                           "stop");
  };
  if (value->is_string()) {
    if (value->get_ref<const std::string&>().empty()) return empty();
    params.stop.push_back(value->get<std::string>());
    return std::nullopt;
  }
  if (!value->is_array())
    return invalid_request("stop must be a string or an array of strings, got " + shown(*value),
                           "stop");
  if (value->size() > kMaxStop)
    return invalid_request("stop holds " + std::to_string(value->size()) + " strings; at most " +
                               std::to_string(kMaxStop) + " are allowed",
                           "stop");
  for (const auto& s : *value) {
    if (!s.is_string())
      return invalid_request("stop must hold only strings, got " + shown(s), "stop");
    if (s.get_ref<const std::string&>().empty()) return empty();
    params.stop.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

/// `logit_bias`: an object mapping token ids (decimal strings) to numbers in [-100, 100]; the
/// ids are checked against the model's vocabulary later (check_logit_bias).
std::optional<ApiError> read_logit_bias(const json& body, GenerationParams& params) {
  const json* bias = field(body, "logit_bias");
  if (!bias) return std::nullopt;
  if (!bias->is_object())
    return invalid_request("logit_bias must be an object mapping token ids to numbers, got " +
                               shown(*bias),
                           "logit_bias");
  for (const auto& [key, value] : bias->items()) {
    int64_t id = 0;
    const bool digits = !key.empty() && key.size() <= 10 &&
                        std::all_of(key.begin(), key.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (digits) id = std::stoll(key);
    if (!digits || id > std::numeric_limits<int32_t>::max())
      return invalid_request("logit_bias keys must be token ids (non-negative integers as "
                             "strings), got " + shown(json(key)),
                             "logit_bias");
    if (!value.is_number() || value.get<double>() < -100.0 || value.get<double>() > 100.0)
      return invalid_request("logit_bias values must be numbers in [-100, 100], got " +
                                 shown(value) + " for token " + key,
                             "logit_bias");
    params.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
  }
  return std::nullopt;
}

/// A 400 naming `where`.`key` for the first key of `object` not in `allowed`.
std::optional<ApiError> check_keys(const json& object, const std::string& where,
                                   std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return invalid_request(where + "." + key + " is not a supported field", where + "." + key);
  return std::nullopt;
}

/// A 400 naming `where` unless `name` (a JSON string; null: none given) is a name OpenAI allows
/// for a function or a response format: ^[a-zA-Z0-9_-]{1,64}$.
std::optional<ApiError> check_openai_name(const json* name, const std::string& where) {
  const auto allowed = [](const std::string& s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    });
  };
  if (name && name->is_string() && allowed(name->get_ref<const std::string&>()))
    return std::nullopt;
  return invalid_request(where +
                             " must be 1 to 64 letters, digits, underscores or dashes "
                             "(^[a-zA-Z0-9_-]{1,64}$), got " +
                             (name ? shown(*name) : std::string("none")),
                         where);
}

/// `response_format` ({"type": "text"}, {"type": "json_object"} or {"type": "json_schema",
/// "json_schema": {"name", "description", "schema", "strict"}}) into params.format, its schema
/// compiled once here to check it (the engine compiles it again); the schema's text keeps the
/// client's key order only after read_response_format_schema.
std::optional<ApiError> read_response_format(const json& body, GenerationParams& params) {
  const json* format = field(body, "response_format");
  if (!format) return std::nullopt;
  const char* param = "response_format";
  if (!format->is_object())
    return invalid_request("response_format must be an object, got " + shown(*format), param);
  if (auto error = check_keys(*format, param, {"type", "json_schema"})) return error;
  const json* spec = field(*format, "json_schema");
  if (spec && spec->is_object()) {
    if (auto error = check_keys(*spec, "response_format.json_schema",
                                {"name", "description", "schema", "strict"}))
      return error;
    // Named before the schema is compiled, so that a name of the wrong type is refused naming
    // `.name` (QA 2026-12-07: null or 7 was refused naming response_format).
    if (const json* type = field(*format, "type"); type && *type == "json_schema")
      if (auto error = check_openai_name(field(*spec, "name"), "response_format.json_schema.name"))
        return error;
  }
  auto compiled = sampling::compile_response_format(parse_ordered_json(format->dump()));
  if (!compiled) return invalid_request(compiled.error().message, param);
  const std::string type = format->value("type", "");
  if (type != "json_schema" && field(*format, "json_schema"))
    return invalid_request(
        "response_format.json_schema is only for type \"json_schema\" (type is " +
            shown((*format)["type"]) + ")",
        "response_format.json_schema");
  if (type == "json_object") params.format.kind = OutputFormat::Kind::JsonObject;
  if (type == "json_schema") {
    params.format.kind = OutputFormat::Kind::JsonSchema;
    const json* schema = field((*format)["json_schema"], "schema");
    params.format.json_schema = schema ? schema->dump() : "{}";
  }
  return std::nullopt;
}

/// `prompt`: a string, an array of strings, an array of token ids, or an array of arrays of
/// token ids; one PromptInput per prompt. Its ids are read as the embeddings' `input` is
/// (read_token_ids), so that an id past int32 is named as outside the vocabulary.
ApiResult<std::vector<PromptInput>> read_prompts(const json& prompt) {
  const auto bad = [&] {
    return invalid_request("prompt must be a string, an array of strings, an array of token ids "
                           "or an array of arrays of token ids, got " + shown(prompt),
                           "prompt");
  };
  std::vector<PromptInput> out;
  if (prompt.is_string()) {
    out.push_back({.text = prompt.get<std::string>(), .is_tokens = false, .tokens = {}});
    return out;
  }
  if (!prompt.is_array() || prompt.empty()) return bad();
  if (prompt.front().is_number()) {
    auto ids = read_token_ids(prompt, "prompt", "prompt");
    if (!ids.ok()) return ids.error();
    out.push_back({.text = {}, .is_tokens = true, .tokens = std::move(ids.value())});
    return out;
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    const json& item = prompt[i];
    if (item.is_string()) {
      out.push_back({.text = item.get<std::string>(), .is_tokens = false, .tokens = {}});
    } else if (item.is_array()) {
      auto ids = read_token_ids(item, "prompt[" + std::to_string(i) + "]", "prompt");
      if (!ids.ok()) return ids.error();
      out.push_back({.text = {}, .is_tokens = true, .tokens = std::move(ids.value())});
    } else {
      return bad();
    }
  }
  return out;
}

/// Which endpoints read a request field.
enum FieldEndpoints : unsigned { kChat = 1, kCompletions = 2, kBoth = kChat | kCompletions };

struct RequestField {
  std::string_view name;
  unsigned endpoints;
};

/// Every top-level request field the API reads, and where: the one list to extend when a field
/// gets its reader. A field not listed (or listed for the other endpoint only) is a 400 naming
/// it, never accepted and ignored.
constexpr RequestField kRequestFields[] = {
    {"model", kBoth},
    {"messages", kChat},
    {"prompt", kCompletions},
    {"max_tokens", kBoth},
    {"max_completion_tokens", kBoth},
    {"temperature", kBoth},
    {"top_p", kBoth},
    {"top_k", kBoth},
    {"min_p", kBoth},
    {"presence_penalty", kBoth},
    {"frequency_penalty", kBoth},
    {"repeat_penalty", kBoth},
    {"seed", kBoth},
    {"stop", kBoth},
    {"n", kBoth},
    {"stream", kBoth},
    {"stream_options", kBoth},
    {"response_format", kBoth},
    {"logprobs", kBoth},
    {"top_logprobs", kChat},
    {"logit_bias", kBoth},
    {"echo", kCompletions},
    {"best_of", kCompletions},
    {"tools", kChat},
    {"tool_choice", kChat},
    {"parallel_tool_calls", kChat},
    {"chat_template_kwargs", kChat},
    {"user", kBoth},
    {"keep_alive", kBoth},  // Ollama's: how long the model stays loaded (docs/deploy.md)
    // OpenAI's service options (read_service_fields): the values that change nothing here.
    {"store", kChat},
    {"service_tier", kChat},
    {"modalities", kChat},
    {"metadata", kChat},
};

/// A field of the OpenAI API reference (chat completions, completions) that gengyun does not
/// offer, and why: refused by name and reason rather than called unrecognized, which reads as
/// a client's typo (QA).
struct UnofferedField {
  std::string_view name;
  unsigned endpoints;
  std::string_view reason;
};

/// Why the prompt-cache fields are not offered.
constexpr std::string_view kPrefixCache =
    "the prefix cache takes no options: a prompt that begins as an earlier one reuses its KV "
    "cache while it is kept (usage.prompt_tokens_details.cached_tokens)";

constexpr UnofferedField kUnofferedFields[] = {
    {"suffix", kCompletions,
     "gengyun completes a prompt at its end only (no text inserted before a suffix)"},
    {"audio", kChat, "gengyun answers text only"},
    {"functions", kChat,
     "it is OpenAI's deprecated form of tools; give tools (type \"function\") instead"},
    {"function_call", kChat,
     "it is OpenAI's deprecated form of tool_choice; give tools and tool_choice instead"},
    {"prediction", kChat, "Predicted Outputs are not offered: every token is generated"},
    {"prompt_cache_key", kChat, kPrefixCache},
    {"prompt_cache_options", kChat, kPrefixCache},
    {"prompt_cache_retention", kChat, kPrefixCache},
    {"moderation", kChat, "moderation is not offered: the answer is the model's, unchecked"},
    {"reasoning_effort", kChat,
     "a Qwen3 model's thinking is turned off with chat_template_kwargs {\"enable_thinking\": "
     "false}"},
    {"safety_identifier", kChat,
     "give the end user's id as user, which the usage ledger records with the request"},
    {"verbosity", kChat, "the answer's length is the model's (max_tokens bounds it)"},
    {"web_search_options", kChat, "web search is not offered: a model answers from its weights"},
};

/// A 400 naming the first field of `body` that `endpoint` does not read: why, for a field of
/// OpenAI's that gengyun does not offer (kUnofferedFields).
std::optional<ApiError> check_known_fields(const json& body, FieldEndpoints endpoint) {
  for (const auto& [name, value] : body.items()) {
    const auto* known = std::find_if(std::begin(kRequestFields), std::end(kRequestFields),
                                     [&](const RequestField& f) { return f.name == name; });
    const auto* unoffered = std::find_if(
        std::begin(kUnofferedFields), std::end(kUnofferedFields),
        [&](const UnofferedField& f) { return f.name == name && (f.endpoints & endpoint); });
    // null is absent, as for every field the API reads (OpenAI's SDKs send explicit nulls).
    if (unoffered != std::end(kUnofferedFields) && value.is_null()) continue;
    if (unoffered != std::end(kUnofferedFields))
      return invalid_request(name + " is not supported: " + std::string(unoffered->reason), name);
    if (known == std::end(kRequestFields))
      return invalid_request("Unrecognized request argument supplied: " + name, name);
    if (!(known->endpoints & endpoint))
      return invalid_request(name + " is not a parameter of " +
                                 (endpoint == kChat ? "/v1/chat/completions" : "/v1/completions"),
                             name);
  }
  return std::nullopt;
}

/// Fields shared by both endpoints: model, sampling, stopping, n, stream.
std::optional<ApiError> read_common(const json& body, GenerationRequest& request) {
  const json* model = field(body, "model");
  if (!model) return invalid_request("you must provide a model parameter", "model");
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return invalid_request("model must be a non-empty string, got " + shown(*model), "model");
  request.model = model->get<std::string>();

  GenerationParams& p = request.params;
  p.max_tokens = -1;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.0f;

  std::optional<ApiError> error;
  if ((error = read_int(body, "max_tokens", sampling::kMaxTokensRange.min, p.max_tokens)))
    return error;
  const int max_tokens = p.max_tokens;
  if ((error =
           read_int(body, "max_completion_tokens", sampling::kMaxTokensRange.min, p.max_tokens)))
    return error;
  // Both given (OpenAI's newer name and the older one): they must agree, or one would be ignored.
  if (field(body, "max_tokens") && field(body, "max_completion_tokens") &&
      p.max_tokens != max_tokens)
    return invalid_request(
        "max_tokens (" + shown(*field(body, "max_tokens")) + ") and max_completion_tokens (" +
            shown(*field(body, "max_completion_tokens")) + ") disagree; send one of them",
        "max_completion_tokens");
  if ((error = read_number(body, sampling::kTemperatureRange, p.temperature))) return error;
  if ((error = read_number(body, sampling::kTopPRange, p.top_p))) return error;
  if ((error = read_int(body, "top_k", sampling::kTopKRange.min, p.top_k))) return error;
  if ((error = read_number(body, sampling::kMinPRange, p.min_p))) return error;
  if ((error = read_number(body, sampling::kPresencePenaltyRange, p.presence_penalty)))
    return error;
  if ((error = read_number(body, sampling::kFrequencyPenaltyRange, p.frequency_penalty)))
    return error;
  if ((error = read_number(body, sampling::kRepeatPenaltyRange, p.repeat_penalty))) return error;
  if ((error = read_seed(body, p))) return error;
  if ((error = read_stop(body, p))) return error;

  if (const json* n = field(body, "n")) {
    if (auto past = integer_past_int64(*n, "n", "[1, " + std::to_string(kMaxChoices) + "]"))
      return past;
    if (!n->is_number_integer() || n->get<int64_t>() < 1 || n->get<int64_t>() > kMaxChoices)
      return invalid_request(
          "n must be an integer in [1, " + std::to_string(kMaxChoices) + "], got " + shown(*n),
          "n");
    request.n = n->get<int>();
  }
  if ((error = read_response_format(body, p))) return error;
  if ((error = read_logit_bias(body, p))) return error;
  auto user = read_user(body);
  if (!user.ok()) return user.error();
  request.user = std::move(user.value());
  if (const json* stream = field(body, "stream")) {
    if (!stream->is_boolean())
      return invalid_request("stream must be a boolean, got " + shown(*stream), "stream");
    request.stream = stream->get<bool>();
  }
  if (const json* options = field(body, "stream_options")) {
    if (!options->is_object())
      return invalid_request("stream_options must be an object, got " + shown(*options),
                             "stream_options");
    if (!request.stream)
      return invalid_request("stream_options is only allowed when stream is true",
                             "stream_options");
    for (const auto& [name, value] : options->items()) {
      if (name != "include_usage")
        return invalid_request("stream_options." + name + " is not a supported option",
                               "stream_options." + name);
      if (!value.is_null() && !value.is_boolean())
        return invalid_request(
            "stream_options.include_usage must be a boolean, got " + shown(value),
            "stream_options.include_usage");
      request.include_usage = value.is_boolean() && value.get<bool>();
    }
  }
  auto keep_alive = read_keep_alive(body);
  if (!keep_alive.ok()) return keep_alive.error();
  request.keep_alive_us = keep_alive.value();
  return std::nullopt;
}

/// The most alternatives a token's log-probabilities list (OpenAI's limit for top_logprobs).
constexpr int kMaxTopLogprobs = 20;

/// An integer in [0, kMaxTopLogprobs] written into `out`.
std::optional<ApiError> read_top_logprobs(const json& value, const char* name, int& out) {
  if (auto error = integer_past_int64(value, name, "[0, " + std::to_string(kMaxTopLogprobs) + "]"))
    return error;
  if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
      value.get<int64_t>() > kMaxTopLogprobs)
    return invalid_request(std::string(name) + " must be an integer in [0, " +
                               std::to_string(kMaxTopLogprobs) + "], got " + shown(value),
                           name);
  out = value.get<int>();
  return std::nullopt;
}

/// Chat: `logprobs` (boolean) and `top_logprobs` (0..20; above 0 only with logprobs true).
std::optional<ApiError> read_chat_logprobs(const json& body, GenerationParams& params) {
  const json* logprobs = field(body, "logprobs");
  if (logprobs && !logprobs->is_boolean())
    return invalid_request("logprobs must be a boolean, got " + shown(*logprobs), "logprobs");
  const bool on = logprobs && logprobs->get<bool>();
  int top = 0;
  if (const json* value = field(body, "top_logprobs")) {
    if (auto error = read_top_logprobs(*value, "top_logprobs", top)) return error;
    if (!on && top > 0)
      return invalid_request("top_logprobs requires logprobs to be true", "top_logprobs");
  }
  params.top_logprobs = on ? top : -1;
  return std::nullopt;
}

/// A 400 naming the first key of `object` not in `known` (where.key), or nullopt.
std::optional<ApiError> unknown_key(const json& object,
                                    std::initializer_list<std::string_view> known,
                                    const std::string& where) {
  for (const auto& [key, value] : object.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      return invalid_request("Unrecognized argument supplied: " + where + "." + key,
                             where + "." + key);
  return std::nullopt;
}

/// A 400 (code empty_array) for the empty array `param`, in OpenAI's words: its schema gives
/// these arrays at least one item.
ApiError empty_array(const std::string& param) {
  return invalid_request("Invalid '" + param +
                             "': empty array. Expected an array with minimum length 1, but got "
                             "an empty array instead.",
                         param, "empty_array");
}

/// The text of a message's `content`: a string, or text parts joined with "\n". An empty array
/// of parts is a 400 (empty_array), as OpenAI's schema gives every role's parts minItems 1.
ApiResult<std::string> read_content(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return invalid_request(
        param + " must be a string or an array of text parts, got " + shown(content), param);
  if (content.empty()) return empty_array(param);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string where = param + "[" + std::to_string(i) + "]";
    if (!part.is_object())
      return invalid_request(where + " must be an object, got " + shown(part), where);
    const json* type = field(part, "type");
    if (!type || !type->is_string() || *type != "text")
      return invalid_request(where + ".type must be \"text\" (only text content is supported)" +
                                 (type ? ", got " + shown(*type) : std::string()),
                             where + ".type");
    if (auto unknown = unknown_key(part, {"type", "text"}, where)) return *unknown;
    const json* part_text = field(part, "text");
    if (!part_text || !part_text->is_string())
      return invalid_request(where + ".text must be a string", where + ".text");
    if (i) text += '\n';
    text += part_text->get_ref<const std::string&>();
  }
  return text;
}

/// An assistant's tool_calls for the template: each {id, type, function {name, arguments}} in
/// that order, arguments parsed when the string holds a JSON object.
ApiResult<nlohmann::ordered_json> read_tool_calls(const json& calls, const std::string& param) {
  if (!calls.is_array())
    return invalid_request(param + " must be an array, got " + shown(calls), param);
  // OpenAI's 400 (a message that calls no tool leaves tool_calls out, or null)
  if (calls.empty()) return empty_array(param);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    const std::string where = param + "[" + std::to_string(i) + "]";
    if (!call.is_object())
      return invalid_request(where + " must be an object, got " + shown(call), where);
    if (auto unknown = unknown_key(call, {"id", "type", "function"}, where)) return *unknown;
    nlohmann::ordered_json converted = nlohmann::ordered_json::object();
    // OpenAI requires the id: the tool message that answers the call names it.
    const json* id = field(call, "id");
    if (!id || !id->is_string())
      return invalid_request(where + ".id must be a string (the call's id)", where + ".id");
    converted["id"] = id->get<std::string>();
    const json* type = field(call, "type");
    if (!type || *type != "function")
      return invalid_request(
          where + ".type must be \"function\"" + (type ? ", got " + shown(*type) : std::string()),
          where + ".type");
    converted["type"] = "function";
    const json* function = field(call, "function");
    if (!function || !function->is_object())
      return invalid_request(where + ".function must be an object", where + ".function");
    if (auto unknown = unknown_key(*function, {"name", "arguments"}, where + ".function"))
      return *unknown;
    const json* name = field(*function, "name");
    if (!name || !name->is_string())
      return invalid_request(where + ".function.name must be a string", where + ".function.name");
    const json* arguments = field(*function, "arguments");
    if (!arguments || !arguments->is_string())
      return invalid_request(where + ".function.arguments must be a string (of JSON)",
                             where + ".function.arguments");
    const std::string& text = arguments->get_ref<const std::string&>();
    // (as deep as a request body may nest, no deeper: the template walks it recursively)
    auto parsed = json_nesting_depth(text) <= kMaxJsonNesting ? parse_ordered_json(text)
                                                              : nlohmann::ordered_json();
    converted["function"] = {{"name", name->get<std::string>()}};
    converted["function"]["arguments"] =
        parsed.is_object() ? parsed : nlohmann::ordered_json(text);
    out.push_back(std::move(converted));
  }
  return out;
}

ApiResult<ChatMessage> read_message(const json& message, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "]";
  if (!message.is_object())
    return invalid_request(where + " must be an object, got " + shown(message), where);
  if (auto unknown = unknown_key(message,
                                 {"role", "content", "name", "tool_calls", "tool_call_id",
                                  "reasoning_content", "refusal"},
                                 where))
    return *unknown;
  // An assistant message's refusal: null is what the API sends back; a refusal text has no place
  // in a prompt the templates know.
  if (const json* refusal = field(message, "refusal"); refusal && !refusal->is_null())
    return invalid_request(where + ".refusal is not supported (only null)", where + ".refusal");
  const json* role = field(message, "role");
  if (!role || !role->is_string())
    return invalid_request(where + ".role must be a string", where + ".role");
  ChatMessage out;
  out.role = role->get<std::string>();
  if (out.role == "developer") out.role = "system";
  if (out.role != "system" && out.role != "user" && out.role != "assistant" && out.role != "tool")
    return invalid_request(
        where + ".role " + shown(*role) +
            " is not supported; expected system, developer, user, assistant or tool",
        where + ".role");
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  if (const json* calls = field(message, "tool_calls")) {
    if (out.role != "assistant")
      return invalid_request(where + ".tool_calls is only for assistant messages",
                             where + ".tool_calls");
    auto converted = read_tool_calls(*calls, where + ".tool_calls");
    if (!converted.ok()) return converted.error();
    extra["tool_calls"] = std::move(converted.value());
  }
  if (const json* reasoning = field(message, "reasoning_content")) {
    if (out.role != "assistant" || !reasoning->is_string())
      return invalid_request(where + ".reasoning_content must be a string, in an assistant message",
                             where + ".reasoning_content");
    extra["reasoning_content"] = reasoning->get<std::string>();
  }
  const json* call_id = field(message, "tool_call_id");
  if (out.role == "tool" && (!call_id || !call_id->is_string()))
    return invalid_request(where + ".tool_call_id must be a string in a tool message",
                           where + ".tool_call_id");
  if (call_id && out.role != "tool")
    return invalid_request(where + ".tool_call_id is only for tool messages",
                           where + ".tool_call_id");
  if (call_id && out.role == "tool") extra["tool_call_id"] = call_id->get<std::string>();
  if (const json* name = field(message, "name")) {
    if (!name->is_string())
      return invalid_request(where + ".name must be a string", where + ".name");
    extra["name"] = name->get<std::string>();
  }
  if (!extra.empty()) out.extra_json = extra.dump();
  const json* content = field(message, "content");
  if (!content) {
    // (an answer that was all reasoning came back with content null: a client sends it back;
    // tool_calls is not empty here, an empty reasoning_content says nothing)
    const json* reasoning = field(message, "reasoning_content");
    const bool reasoned = reasoning && !reasoning->get_ref<const std::string&>().empty();
    if (out.role == "assistant" && (field(message, "tool_calls") || reasoned)) return out;
    std::string why;
    if (out.role == "assistant")
      why = std::string(" (an assistant message has content, tool_calls or reasoning_content") +
            (reasoning ? "; its reasoning_content is empty)" : ")");
    return invalid_request(where + ".content is required" + why, where + ".content");
  }
  auto text = read_content(*content, where + ".content");
  if (!text.ok()) return text.error();
  out.content = std::move(text.value());
  return out;
}

/// The order of tool turns that OpenAI holds requests to (after read_message checked each
/// message's shape): an assistant message's tool_calls are answered by the tool messages right
/// after it, one per call id, before any other message; a tool message answers a call of the
/// assistant message before those. A 400 naming the message that breaks it.
std::optional<ApiError> check_tool_turns(const json& messages) {
  std::vector<std::string> open;   // ids of the calls not answered yet
  std::optional<size_t> calls_at;  // the assistant message that made them
  auto unanswered = [&](const std::string& before) {
    std::string ids;
    for (const std::string& id : open) ids += (ids.empty() ? "'" : ", '") + id + "'";
    const std::string where = "messages[" + std::to_string(*calls_at) + "]";
    return invalid_request(where + ".tool_calls: no tool message answers " + ids + " " + before +
                               " (each call is answered by a tool message right after it)",
                           where + ".tool_calls");
  };
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& message = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (message["role"] == "tool") {
      const std::string& id = message["tool_call_id"].get_ref<const std::string&>();
      const auto call = std::find(open.begin(), open.end(), id);
      if (!calls_at)
        return invalid_request(where +
                                   ": a tool message must answer a tool call of the "
                                   "assistant message before it",
                               where + ".role");
      if (call == open.end())
        return invalid_request(where + ".tool_call_id '" + id + "' answers no unanswered call of " +
                                   "messages[" + std::to_string(*calls_at) + "].tool_calls",
                               where + ".tool_call_id");
      open.erase(call);
      continue;
    }
    if (!open.empty()) return unanswered("before " + where);
    calls_at.reset();
    const json* calls = field(message, "tool_calls");
    if (message["role"] != "assistant" || !calls || calls->empty()) continue;
    calls_at = i;
    for (const json& call : *calls) {
      const std::string& id = call["id"].get_ref<const std::string&>();
      if (std::find(open.begin(), open.end(), id) != open.end())
        return invalid_request(where + ".tool_calls: two calls have the id '" + id +
                                   "' (a tool message answers a call by its id)",
                               where + ".tool_calls");
      open.push_back(id);
    }
  }
  if (!open.empty()) return unanswered("at the end of the messages");
  return std::nullopt;
}

/// chat_template_kwargs' shape: an object without the variables the server sets itself (the
/// template's own, as render_prompt sets them; the renderer's functions).
std::optional<ApiError> kwargs_error(const json& body) {
  const json* kwargs = field(body, "chat_template_kwargs");
  if (!kwargs) return std::nullopt;
  if (!kwargs->is_object())
    return invalid_request("chat_template_kwargs must be an object, got " + shown(*kwargs),
                           "chat_template_kwargs");
  for (const char* key : {"messages", "tools", "documents", "add_generation_prompt", "bos_token",
                          "eos_token", "raise_exception", "strftime_now"})
    if (kwargs->contains(key))
      return invalid_request(std::string("chat_template_kwargs.") + key +
                                 " is set by the server and cannot be passed to the template",
                             std::string("chat_template_kwargs.") + key);
  return std::nullopt;
}

/// tools, tool_choice, parallel_tool_calls and chat_template_kwargs (their shapes; their text
/// comes from read_template_fields).
std::optional<ApiError> read_tool_fields(const json& body, GenerationRequest& request) {
  if (const json* tools = field(body, "tools")) {
    if (!tools->is_array())
      return invalid_request("tools must be an array, got " + shown(*tools), "tools");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || tool.value("type", json()) != "function")
        return invalid_request(where + " must be an object of type \"function\"", where);
      if (auto unknown = unknown_key(tool, {"type", "function"}, where)) return unknown;
      const json* function = field(tool, "function");
      if (!function || !function->is_object() || !field(*function, "name") ||
          !(*function)["name"].is_string())
        return invalid_request(where + ".function must be an object with a string name",
                               where + ".function");
      if (auto unknown = unknown_key(*function, {"name", "description", "parameters", "strict"},
                                     where + ".function"))
        return unknown;
      if (const json* strict = field(*function, "strict")) {
        if (!strict->is_boolean())
          return invalid_request(
              where + ".function.strict must be a boolean, got " + shown(*strict),
              where + ".function.strict");
        if (strict->get<bool>() && request.strict_tool.empty())
          request.strict_tool = where + ".function.strict";
      }
      if (auto error = check_openai_name(&(*function)["name"], where + ".function.name"))
        return error;
      const std::string& name = (*function)["name"].get_ref<const std::string&>();
      for (size_t j = 0; j < i; ++j)
        if ((*tools)[j]["function"]["name"] == name)
          return invalid_request(where + ".function.name " + shown(json(name)) +
                                     " is also the name of tools[" + std::to_string(j) +
                                     "]: function names must be unique",
                                 where + ".function.name");
      if (const json* description = field(*function, "description");
          description && !description->is_string())
        return invalid_request(
            where + ".function.description must be a string, got " + shown(*description),
            where + ".function.description");
      const json* parameters = field(*function, "parameters");
      // OpenAI's rule: the arguments are an object ({} stands for a function without parameters).
      if (parameters && (!parameters->is_object() ||
                         (!parameters->empty() && parameters->value("type", json()) != "object")))
        return invalid_request(
            where + ".function.parameters must be a JSON Schema of type object, got " +
                shown(*parameters),
            where + ".function.parameters");
    }
  }
  const json* tools = field(body, "tools");
  const size_t n_tools = tools ? tools->size() : 0;
  const auto has_tool = [&](const std::string& name) {
    for (size_t i = 0; i < n_tools; ++i)
      if ((*tools)[i]["function"]["name"] == name) return true;
    return false;
  };
  if (const json* choice = field(body, "tool_choice")) {
    if (choice->is_string() && (*choice == "auto" || *choice == "none" || *choice == "required")) {
      request.tool_choice = choice->get<std::string>();
    } else if (choice->is_object() && choice->value("type", json()) == "function" &&
               field(*choice, "function") && (*choice)["function"].is_object() &&
               (*choice)["function"].value("name", json()).is_string()) {
      if (auto unknown = unknown_key(*choice, {"type", "function"}, "tool_choice")) return unknown;
      if (auto unknown = unknown_key((*choice)["function"], {"name"}, "tool_choice.function"))
        return unknown;
      request.tool_choice = "function";
      request.tool_name = (*choice)["function"]["name"].get<std::string>();
      if (!has_tool(request.tool_name))
        return invalid_request("tool_choice names the function " + shown(request.tool_name) +
                                   ", which is not in tools",
                               "tool_choice");
    } else {
      return invalid_request(
          "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
          "\"function\": {\"name\": ...}}, got " + shown(*choice),
          "tool_choice");
    }
  }
  if (request.tool_choice == "required" && n_tools == 0)
    return invalid_request("tool_choice \"required\" needs at least one tool in tools",
                           "tool_choice");
  // A stop sequence met inside an enforced call would cut it short into text ("<tool_call>"),
  // defeating the tool_choice: the two are refused together.
  if ((request.tool_choice == "required" || request.tool_choice == "function") &&
      !request.params.stop.empty())
    return invalid_request("stop cannot be combined with tool_choice " +
                               shown(*field(body, "tool_choice")) +
                               ": a stop sequence would cut the enforced tool call short",
                           "stop");
  const json* parallel = field(body, "parallel_tool_calls");
  if (parallel && !parallel->is_boolean())
    return invalid_request("parallel_tool_calls must be a boolean, got " + shown(*parallel),
                           "parallel_tool_calls");
  if (parallel) request.parallel_tool_calls = parallel->get<bool>();
  if (!tool_calls_constrained(request) || n_tools == 0) return kwargs_error(body);
  // The answer will be held to the tools' calls by a grammar: their schemas must compile, and
  // no other format may constrain the same answer.
  const bool serial = request.tool_choice == "auto" && !request.parallel_tool_calls;
  const std::string param = request.tool_choice != "auto" ? std::string("tool_choice")
                            : serial                      ? std::string("parallel_tool_calls")
                                                          : request.strict_tool;
  // What holds the answer to the tools' calls, as the messages name it (QA: a strict tool's
  // schema error named tool_choice, which the request did not give).
  std::string enforcing = request.strict_tool + " true";
  if (request.tool_choice == "function")
    enforcing = "tool_choice naming \"" + request.tool_name + "\"";
  else if (request.tool_choice != "auto")
    enforcing = "tool_choice " + shown(*field(body, "tool_choice"));
  else if (serial)
    enforcing = "parallel_tool_calls false";
  if (request.params.format.kind != OutputFormat::Kind::Text)
    return invalid_request(
        "response_format cannot be combined with " + enforcing + ": both constrain the answer",
        param);
  for (size_t i = 0; i < n_tools; ++i) {
    const json& function = (*tools)[i]["function"];
    if (request.tool_choice == "function" && function["name"] != request.tool_name) continue;
    const json* parameters = field(function, "parameters");
    if (!parameters) continue;
    const std::string where = "tools[" + std::to_string(i) + "].function.parameters";
    if (auto compiled =
            sampling::compile_json_schema(parse_ordered_json(parameters->dump()), where);
        !compiled)
      return invalid_request("a tool's parameters are outside the JSON Schema subset that " +
                                 enforcing + " can enforce: " + compiled.error().message,
                             where);
  }
  return kwargs_error(body);
}

/// OpenAI's fields about the service rather than the answer, honoured where their value holds
/// here and refused (400 naming them) where it does not: `store` false (no completion is kept,
/// only its usage row), `service_tier` "auto" or "default" (one tier), `modalities` ["text"];
/// `metadata` tags stored completions, which there are none of, so it is refused rather than
/// dropped. A tier given is named in the answer (`request.service_tier`).
std::optional<ApiError> read_service_fields(const json& body, GenerationRequest& request) {
  if (const json* store = field(body, "store")) {
    if (!store->is_boolean())
      return invalid_request("store must be a boolean, got " + shown(*store), "store");
    if (store->get<bool>())
      return invalid_request(
          "store: true is not offered: gengyun keeps no completions (only their usage rows); "
          "leave store out or set it to false",
          "store");
  }
  if (const json* tier = field(body, "service_tier")) {
    if (!tier->is_string())
      return invalid_request("service_tier must be a string, got " + shown(*tier), "service_tier");
    if (*tier != "auto" && *tier != "default")
      return invalid_request("service_tier " + shown(*tier) +
                                 " is not offered: every request is served in one tier "
                                 "(\"auto\" or \"default\")",
                             "service_tier");
    request.service_tier = true;
  }
  if (const json* modalities = field(body, "modalities"); modalities && *modalities != json{"text"})
    return invalid_request(
        "modalities must be [\"text\"]: gengyun answers text only, got " + shown(*modalities),
        "modalities");
  if (field(body, "metadata"))
    return invalid_request(
        "metadata tags stored completions, and gengyun stores none (store is not offered): "
        "it is refused rather than dropped",
        "metadata");
  return std::nullopt;
}

}  // namespace

ApiResult<nlohmann::json> parse_json_object(std::string_view body) {
  // nlohmann::json parses deep nesting iteratively but serializes it recursively; a bound keeps
  // every later dump (error messages, echoes) off the edge of the thread's stack.
  if (const size_t depth = json_nesting_depth(body); depth > kMaxJsonNesting)
    return invalid_request("the request body nests arrays and objects " + std::to_string(depth) +
                           " levels deep; at most " + std::to_string(kMaxJsonNesting) +
                           " are allowed");
  StrictJson parsed = parse_strict_json(body);
  if (parsed.value.is_discarded())
    return invalid_request("the request body is not valid JSON (UTF-8): " + parsed.error);
  if (!parsed.value.is_object())
    return invalid_request("the request body must be a JSON object, got " + shown(parsed.value));
  if (!parsed.duplicate.empty())
    return invalid_request("the field '" + parsed.duplicate +
                               "' is given twice in the request body (an object may give each "
                               "field once)",
                           parsed.duplicate);
  return std::move(parsed.value);
}

std::string requested_model(const nlohmann::json& body) {
  const json* model = field(body, "model");
  return model && model->is_string() ? model->get<std::string>() : std::string();
}

ApiResult<std::string> read_user(const nlohmann::json& body) {
  const json* user = field(body, "user");
  if (!user) return std::string();
  if (!user->is_string())
    return invalid_request("user must be a string, got " + shown(*user), "user");
  if (user->get_ref<const std::string&>().find('\0') != std::string::npos)
    return invalid_request("user must not contain a NUL character", "user");
  if (user->get_ref<const std::string&>().size() > platform::kMaxEndUserBytes)
    return invalid_request("user must be at most " + std::to_string(platform::kMaxEndUserBytes) +
                               " bytes, got " +
                               std::to_string(user->get_ref<const std::string&>().size()),
                           "user");
  return user->get<std::string>();
}

std::string requested_end_user(const nlohmann::json& body) {
  auto user = read_user(body);
  return user.ok() ? std::move(user.value()) : std::string();
}

ApiResult<GenerationRequest> parse_chat_request(const nlohmann::json& body) {
  GenerationRequest request;
  if (auto error = check_known_fields(body, kChat)) return *error;
  if (auto error = read_common(body, request)) return *error;
  if (auto error = read_chat_logprobs(body, request.params)) return *error;
  if (auto error = read_service_fields(body, request)) return *error;
  const json* messages = field(body, "messages");
  if (!messages) return invalid_request("you must provide a messages parameter", "messages");
  if (!messages->is_array())
    return invalid_request("messages must be an array, got " + shown(*messages), "messages");
  if (messages->empty()) return invalid_request("messages must not be empty", "messages");
  if (auto error = read_tool_fields(body, request)) return *error;
  for (size_t i = 0; i < messages->size(); ++i) {
    auto message = read_message((*messages)[i], i);
    if (!message.ok()) return message.error();
    request.messages.push_back(std::move(message.value()));
  }
  if (auto error = check_tool_turns(*messages)) return *error;
  return request;
}

bool tool_calls_constrained(const GenerationRequest& request) {
  return request.tool_choice == "required" || request.tool_choice == "function" ||
         (request.tool_choice == "auto" &&
          (!request.parallel_tool_calls || !request.strict_tool.empty()));
}

std::optional<ApiError> check_builtin_format(bool own_template, const GenerationRequest& request) {
  if (own_template) return std::nullopt;
  const std::string why =
      " cannot reach the prompt: this model has no usable chat template of its own, and its "
      "built-in chat format reads neither tools nor template variables";
  if (!request.chat.tools_json.empty()) return invalid_request("tools" + why, "tools");
  if (!request.chat.template_kwargs_json.empty() && request.chat.template_kwargs_json != "{}")
    return invalid_request("chat_template_kwargs" + why, "chat_template_kwargs");
  return std::nullopt;
}

std::optional<ApiError> apply_tool_choice(const ChatSyntax& syntax, GenerationRequest& request) {
  // Under "auto" a call is text the model writes, and a JSON response_format holds the whole
  // answer to its JSON: a call can be that JSON only where the family's calls are a bare JSON
  // answer (Llama 3.x); Hermes' <tool_call> tags and Mistral's [TOOL_CALLS] marker could never
  // be written, so the tools would be offered and never callable (QA 2026-12-07).
  if (request.tool_choice == "auto" && !request.chat.tools_json.empty() &&
      request.params.format.kind != OutputFormat::Kind::Text &&
      (syntax.tool_calls == ToolCallFormat::Hermes ||
       syntax.tool_calls == ToolCallFormat::MistralJson))
    return invalid_request(
        "response_format cannot be combined with tools under tool_choice \"auto\" on this "
        "model: its calls are written in tags its JSON leaves no room for (tool_choice "
        "\"none\" keeps the tools as the prompt's context)",
        "response_format");
  if (!tool_calls_constrained(request) || request.chat.tools_json.empty()) return std::nullopt;
  if (syntax.tool_calls == ToolCallFormat::None) {
    // "auto" without parallel calls holds already: no call is read from such an answer.
    if (request.tool_choice == "auto") return std::nullopt;
    return invalid_request(
        "tool_choice needs a model whose chat template writes tool calls in a format gengyun "
        "knows (Hermes <tool_call>, Llama 3.x JSON, Mistral [TOOL_CALLS]); this one's does not",
        "tool_choice");
  }
  OutputFormat& format = request.params.format;
  format.kind = OutputFormat::Kind::ToolCalls;
  format.tools_json = request.chat.tools_json;
  format.tool_name = request.tool_name;
  format.text_allowed = request.tool_choice == "auto";
  format.parallel_calls = request.parallel_tool_calls;
  format.syntax = syntax;
  return std::nullopt;
}

bool streams_tool_arguments(const GenerationRequest& request) {
  return request.params.format.kind == OutputFormat::Kind::ToolCalls && request.params.stop.empty();
}

void read_template_fields(std::string_view body, GenerationRequest& request) {
  const auto ordered = parse_ordered_json(body);
  if (!ordered.is_object()) return;
  // An empty array is no tools, as many clients mean it (OpenAI refuses it): left out as an
  // absent one is, since a template that tests `tools is not none` (Llama 3.x) would render its
  // tool preamble for [], and the answer would be read for tool calls.
  if (const auto tools = ordered.find("tools"); tools != ordered.end() && tools->is_array() &&
                                                !tools->empty() && request.tool_choice != "none") {
    request.chat.tools_json = tools->dump();
  }
  if (const auto kwargs = ordered.find("chat_template_kwargs");
      kwargs != ordered.end() && kwargs->is_object()) {
    request.chat.template_kwargs_json = kwargs->dump();
  }
}

void read_response_format_schema(std::string_view body, GenerationRequest& request) {
  if (request.params.format.kind != OutputFormat::Kind::JsonSchema) return;
  const auto ordered = parse_ordered_json(body);
  if (!ordered.is_object()) return;
  const auto format = ordered.find("response_format");
  if (format == ordered.end() || !format->is_object()) return;
  const auto spec = format->find("json_schema");
  if (spec == format->end() || !spec->is_object()) return;
  if (const auto schema = spec->find("schema"); schema != spec->end() && !schema->is_null())
    request.params.format.json_schema = schema->dump();
}

ApiResult<GenerationRequest> parse_completion_request(const nlohmann::json& body) {
  GenerationRequest request;
  if (auto error = check_known_fields(body, kCompletions)) return *error;
  if (auto error = read_common(body, request)) return *error;
  if (const json* logprobs = field(body, "logprobs"))
    if (auto error = read_top_logprobs(*logprobs, "logprobs", request.params.top_logprobs))
      return *error;
  if (const json* echo = field(body, "echo")) {
    if (!echo->is_boolean())
      return invalid_request("echo must be a boolean, got " + shown(*echo), "echo");
    request.echo = echo->get<bool>();
  }
  if (request.echo && request.params.top_logprobs >= 0)
    return invalid_request("echo with logprobs is not supported: gengyun does not compute the "
                           "prompt tokens' log-probabilities",
                           "logprobs");
  if (const json* best_of = field(body, "best_of")) {
    if (auto error = integer_past_int64(*best_of, "best_of", at_least(1))) return *error;
    if (!best_of->is_number_integer() || best_of->get<int64_t>() < 1)
      return invalid_request("best_of must be an integer >= 1, got " + shown(*best_of), "best_of");
    if (best_of->get<int64_t>() != request.n)
      return invalid_request("best_of other than n is not supported: gengyun does not rank "
                             "candidate completions (use n, or best_of equal to n)",
                             "best_of");
  }
  const json* prompt = field(body, "prompt");
  if (!prompt) return invalid_request("you must provide a prompt parameter", "prompt");
  auto prompts = read_prompts(*prompt);
  if (!prompts.ok()) return prompts.error();
  request.prompts = std::move(prompts.value());
  if (request.prompts.size() * static_cast<size_t>(request.n) > kMaxChoices)
    return invalid_request(std::to_string(request.prompts.size()) + " prompts with n = " +
                               std::to_string(request.n) + " make more than " +
                               std::to_string(kMaxChoices) + " choices",
                           "prompt");
  return request;
}

ApiResult<std::optional<int64_t>> read_keep_alive(const json& body) {
  const json* value = field(body, "keep_alive");
  if (!value) return std::optional<int64_t>();
  if (!value->is_number() && !value->is_string())
    return invalid_request(
        "keep_alive must be a number of seconds or a duration string like \"5m\", got " +
            shown(*value),
        "keep_alive");
  auto us = value->is_number() ? deploy::keep_alive_from_seconds(value->get<double>())
                               : deploy::parse_keep_alive(value->get_ref<const std::string&>());
  if (!us.ok()) return invalid_request("keep_alive: " + us.error().message, "keep_alive");
  return std::optional(us.value());
}

}  // namespace gengyun::api
