#include "api/errors.h"

#include <spdlog/spdlog.h>

#include "util/counted.h"

namespace gengyun::api {

ApiError invalid_request(std::string message, std::string param, std::string code) {
  return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

ApiError invalid_api_key(std::string message) {
  return {401, std::move(message), "invalid_request_error", "", "invalid_api_key"};
}

ApiError model_not_found(const std::string& model) {
  return {404,
          "The model '" + model +
              "' does not exist, is not served here, or is not one this API key may use.",
          "invalid_request_error", "model", "model_not_found"};
}

ApiError unknown_endpoint(const std::string& method, const std::string& path) {
  return {404, "Unknown request URL: " + method + " " + path + ".", "invalid_request_error", "",
          "unknown_url"};
}

ApiError method_not_allowed(const std::string& method, const std::string& path,
                            const std::string& allowed) {
  return {405,
          "The method " + method + " is not allowed on " + path + " (allowed: " + allowed + ").",
          "invalid_request_error",
          "",
          "method_not_allowed",
          0,
          {{"Allow", allowed}}};
}

ApiError permission_denied(std::string message) {
  return {403, std::move(message), "invalid_request_error", "", "permission_denied"};
}

ApiError conflict(std::string message, std::string param, std::string code) {
  return {409, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

ApiError not_found(const std::string& what, const std::string& id) {
  return {404, "No " + what + " '" + id + "' exists that this API key may see.",
          "invalid_request_error", "", "not_found"};
}

ApiError payload_too_large(size_t limit_bytes) {
  return {413,
          "The request body is larger than the limit of " + std::to_string(limit_bytes) + " bytes.",
          "invalid_request_error", "", "payload_too_large"};
}

ApiError header_too_large(size_t limit_bytes) {
  return {431,
          "The request line and header fields are larger than the limit of " +
              std::to_string(limit_bytes) + " bytes.",
          "invalid_request_error", "", "header_too_large"};
}

ApiError request_timeout(const std::string& part, std::chrono::milliseconds limit) {
  return {408,
          "The request " + part + " was not received within " + std::to_string(limit.count()) +
              " ms.",
          "invalid_request_error", "", "request_timeout"};
}

ApiError server_busy(std::string message) {
  return {503, std::move(message), "server_error", "", "server_busy", 1};
}

ApiError expired_api_key() {
  return {401, "Incorrect API key provided: the key has expired.", "invalid_request_error", "",
          "invalid_api_key"};
}

ApiError insufficient_quota(std::string message) {
  return {429, std::move(message), "insufficient_quota", "", "insufficient_quota"};
}

ApiError rate_limit_exceeded(std::string message, int retry_after_s, bool over_tokens) {
  return {429, std::move(message), over_tokens ? "tokens" : "requests", "",
          "rate_limit_exceeded", retry_after_s};
}

ApiError ledger_unavailable(const std::string& detail) {
  // The detail may name the database's host and port, or the spool's path: the log's, not the
  // client's.
  spdlog::error("usage ledger unavailable: {}", detail);
  return {503, "The usage ledger is unavailable, so no request is served now; try again later.",
          "server_error", "", "ledger_unavailable", 1};
}

ApiError server_shutting_down(int completion_tokens) {
  return {503,
          "The server is shutting down and ended this request after " +
              counted(completion_tokens, "generated token") + ".",
          "server_error", "", "server_shutting_down"};
}

ApiError key_withdrawn_mid_request(bool expired, int completion_tokens) {
  return invalid_api_key(std::string("The API key ") + (expired ? "expired" : "was revoked") +
                         " while this request ran; it was ended after " +
                         counted(completion_tokens, "generated token") + ".");
}

ApiError internal_error(std::string message) {
  return {500, std::move(message), "server_error", "", ""};
}

nlohmann::json error_body(const ApiError& error) {
  const auto or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return {{"error",
           {{"message", error.message},
            {"type", error.type},
            {"param", or_null(error.param)},
            {"code", or_null(error.code)}}}};
}

}  // namespace gengyun::api
