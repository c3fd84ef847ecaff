// OpenAI /v1/embeddings response bodies (the OpenAI API reference, "The embedding object").
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace gengyun::api {

/// The values as OpenAI's encoding_format "base64" sends them: the little-endian bytes of each
/// float32 in order, in standard base64 (RFC 4648 section 4, padded with '=').
std::string base64_float32(std::span<const float> values);

/// {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [floats] or
/// base64_float32 text}, ...], "model": model, "usage": {"prompt_tokens", "total_tokens"}}, one
/// entry per vector in input order.
nlohmann::json embeddings_response(const std::string& model,
                                   const std::vector<std::vector<float>>& vectors, bool base64,
                                   int prompt_tokens);

}  // namespace gengyun::api
