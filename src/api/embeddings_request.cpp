#include "api/embeddings_request.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "api/openai_request.h"

namespace gengyun::api {
namespace {

using nlohmann::json;

std::optional<ApiError> read_input(const json& input, std::vector<EmbeddingInput>& out) {
  const auto text_input = [&out](const json& text, const std::string& where) {
    if (text.get_ref<const std::string&>().empty())
      return std::optional<ApiError>(
          invalid_request(where + " must not be an empty string", "input"));
    out.push_back({.is_tokens = false, .text = text.get<std::string>(), .tokens = {}});
    return std::optional<ApiError>();
  };
  if (input.is_string()) return text_input(input, "input");
  if (!input.is_array())
    return invalid_request(
        "input must be a string, an array of strings, an array of token ids or an array of "
        "arrays of token ids, got " +
            shown(input),
        "input");
  if (input.empty()) return invalid_request("input must not be an empty array", "input");
  if (input.front().is_number()) {
    auto ids = read_token_ids(input, "input", "input");
    if (!ids.ok()) return ids.error();
    out.push_back({.is_tokens = true, .text = {}, .tokens = std::move(ids.value())});
    return std::nullopt;
  }
  if (input.size() > kMaxEmbeddingInputs)
    return invalid_request("input holds " + std::to_string(input.size()) + " inputs; at most " +
                               std::to_string(kMaxEmbeddingInputs) + " are allowed",
                           "input");
  const bool strings = input.front().is_string();
  for (size_t i = 0; i < input.size(); ++i) {
    const json& item = input[i];
    const std::string where = "input[" + std::to_string(i) + "]";
    if (strings && item.is_string()) {
      if (auto error = text_input(item, where)) return error;
    } else if (!strings && item.is_array()) {
      auto ids = read_token_ids(item, where, "input");
      if (!ids.ok()) return ids.error();
      out.push_back({.is_tokens = true, .text = {}, .tokens = std::move(ids.value())});
    } else {
      // input[0] sets what the others must be; it can only be a string or token ids itself.
      const char* expected = i == 0    ? "a string, a token id or an array of token ids"
                             : strings ? "a string, as input[0]"
                                       : "an array of token ids, as input[0]";
      return invalid_request(where + " must be " + expected + ", got " + shown(item), "input");
    }
  }
  return std::nullopt;
}

}  // namespace

ApiResult<EmbeddingsRequest> parse_embeddings_request(const nlohmann::json& body) {
  static constexpr std::array<std::string_view, 6> kFields = {
      "model", "input", "encoding_format", "dimensions", "user", "keep_alive"};
  for (const auto& [name, value] : body.items())
    if (std::find(kFields.begin(), kFields.end(), name) == kFields.end())
      return invalid_request("Unrecognized request argument supplied: " + name, name);

  EmbeddingsRequest request;
  const json* model = field(body, "model");
  if (!model) return invalid_request("you must provide a model parameter", "model");
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return invalid_request("model must be a non-empty string, got " + shown(*model), "model");
  request.model = model->get<std::string>();

  const json* input = field(body, "input");
  if (!input) return invalid_request("you must provide an input parameter", "input");
  if (auto error = read_input(*input, request.inputs)) return *error;

  if (const json* format = field(body, "encoding_format")) {
    if (*format != "float" && *format != "base64")
      return invalid_request(
          "encoding_format must be \"float\" or \"base64\", got " + shown(*format),
          "encoding_format");
    request.base64 = *format == "base64";
  }
  if (const json* dimensions = field(body, "dimensions")) {
    if (auto error = integer_past_int64(*dimensions, "dimensions",
                                        "[1, " + std::string(kInt64MaxShown) + "]"))
      return *error;
    if (!dimensions->is_number_integer() || dimensions->get<int64_t>() < 1)
      return invalid_request("dimensions must be an integer >= 1, got " + shown(*dimensions),
                             "dimensions");
    request.dimensions = dimensions->get<int64_t>();
  }
  auto user = read_user(body);
  if (!user.ok()) return user.error();
  request.user = std::move(user.value());
  auto keep_alive = read_keep_alive(body);
  if (!keep_alive.ok()) return keep_alive.error();
  request.keep_alive_us = keep_alive.value();
  return request;
}

}  // namespace gengyun::api
