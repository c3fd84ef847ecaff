// OpenAI /v1/embeddings request bodies: parsing and validation of `input`, `encoding_format`,
// `dimensions` and `user` (the OpenAI API reference, "Create embeddings").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/errors.h"

namespace gengyun::api {

/// Inputs one request may hold at most (OpenAI's limit).
inline constexpr size_t kMaxEmbeddingInputs = 2048;

/// One input: a text, or the token ids a client tokenized itself.
struct EmbeddingInput {
  bool is_tokens = false;
  std::string text;             ///< when !is_tokens; never empty
  std::vector<int32_t> tokens;  ///< when is_tokens; never empty, each id >= 0
};

/// A validated embeddings request.
struct EmbeddingsRequest {
  std::string model;
  std::vector<EmbeddingInput> inputs;  ///< in the order of `data[].index`
  bool base64 = false;                 ///< encoding_format "base64" (else "float")
  int64_t dimensions = 0;              ///< 0: the model's whole width
  /// `keep_alive` (Ollama's field, as in the completions endpoints): how long the model stays
  /// loaded once idle; nullopt: the model's default.
  std::optional<int64_t> keep_alive_us;
  std::string user;  ///< `user`, the client's end user ("" none): read_user (openai_request.h)
};

/// A /v1/embeddings body. `model`: a non-empty string. `input`: a non-empty string, an array of
/// 1..kMaxEmbeddingInputs non-empty strings, an array of token ids (integers >= 0) or an array
/// of 1..kMaxEmbeddingInputs non-empty arrays of token ids. `encoding_format`: "float"
/// (default) or "base64". `dimensions`: an integer >= 1 (its upper bound is the model's, checked
/// by the caller). `user`: as read_user (openai_request.h; the ledger records it). `keep_alive`: as
/// read_keep_alive (openai_request.h). null counts as absent. Errors
/// (400, `param` naming the field): any of these missing or of the wrong type or range, and any
/// other field (the server never accepts a field it would ignore).
ApiResult<EmbeddingsRequest> parse_embeddings_request(const nlohmann::json& body);

}  // namespace gengyun::api
