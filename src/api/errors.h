// Errors answered to HTTP clients, in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": null}}
#pragma once

#include <chrono>
#include <concepts>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace gengyun::api {

/// The ledger's http_status for a request whose client left before its answer (nginx's "client
/// closed request"); nothing is sent to the client.
constexpr int kClientClosedRequest = 499;

/// One error response: the HTTP status and the fields of OpenAI's error object. An empty
/// `param` or `code` is sent as null.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;
  std::string code;
  int retry_after_s = 0;  ///< > 0: sent as the Retry-After header (seconds)
  /// Further header fields sent with it (x-request-id, x-ratelimit-*).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

/// 400 for a request that is malformed or breaks a limit; `param` names the offending field.
ApiError invalid_request(std::string message, std::string param = {}, std::string code = {});
/// 401 with code "invalid_api_key" (missing, malformed, unknown or revoked key).
ApiError invalid_api_key(std::string message);
/// 404 with code "model_not_found": no model `model`, or none this key may use (the two are
/// not told apart).
ApiError model_not_found(const std::string& model);
/// 404 for a path or method the server does not offer.
ApiError unknown_endpoint(const std::string& method, const std::string& path);
/// 405 for a known path asked with another method; `allowed` ("GET, POST") is sent as the
/// Allow header (RFC 9110 15.5.6).
ApiError method_not_allowed(const std::string& method, const std::string& path,
                            const std::string& allowed);
/// 403 with code "permission_denied": the key's role may not do this; `message` says why.
ApiError permission_denied(std::string message);
/// 409 for a change that the current state refuses (a name in use, a busy model); `code`
/// "conflict" unless given ("model_busy").
ApiError conflict(std::string message, std::string param = {}, std::string code = "conflict");
/// 404 with code "not_found" for a `what` ("tenant", "key") that does not exist or that the
/// caller may not see (the two are answered alike, so a key learns nothing of other tenants).
ApiError not_found(const std::string& what, const std::string& id);
/// 413 for a request body over `limit_bytes`.
ApiError payload_too_large(size_t limit_bytes);
/// 431 for a request line plus header fields over `limit_bytes`.
ApiError header_too_large(size_t limit_bytes);
/// 408 for a request whose `part` ("header" or "body") was not received within `limit`.
ApiError request_timeout(const std::string& part, std::chrono::milliseconds limit);
/// 503, type "server_error", code "server_busy", Retry-After: 1: the server is at a limit of
/// its own (open connections, queued requests, a model's waiting queue); `message` says which.
/// (The OpenAI client libraries retry a 503 with back-off.)
ApiError server_busy(std::string message);
/// 401 with code "invalid_api_key" for a key past its expiry time.
ApiError expired_api_key();
/// 429, type and code "insufficient_quota" (OpenAI's): a spend budget would be exceeded;
/// `message` says which and by how much.
ApiError insufficient_quota(std::string message);
/// 429, code "rate_limit_exceeded" and type "requests" or, over a tokens-per-minute limit,
/// "tokens" (OpenAI's), Retry-After: `retry_after_s`.
ApiError rate_limit_exceeded(std::string message, int retry_after_s, bool over_tokens = false);
/// 503, type "server_error", code "ledger_unavailable", Retry-After: 1, a plain message: the
/// usage ledger cannot be used, so nothing is served; `detail` (why) goes to the log only.
ApiError ledger_unavailable(const std::string& detail);
/// 503, type "server_error", code "server_shutting_down": the server stopped and ended the
/// request after `completion_tokens` generated tokens (billed).
ApiError server_shutting_down(int completion_tokens);
/// 401, code "invalid_api_key": the request's key was revoked (`expired`: it expired) while the
/// request ran, which ended it after `completion_tokens` generated tokens (billed).
ApiError key_withdrawn_mid_request(bool expired, int completion_tokens);
/// 500, type "server_error": a failure that is not the client's fault.
ApiError internal_error(std::string message);

/// {"error": {...}} for `error`.
nlohmann::json error_body(const ApiError& error);

/// nlohmann::json, or nlohmann::ordered_json for a value whose objects keep their members'
/// order (the generation responses).
template <class T>
concept JsonValue = std::same_as<T, nlohmann::json> || std::same_as<T, nlohmann::ordered_json>;

/// JSON text for a response body; invalid UTF-8 in strings is replaced by U+FFFD, so echoing
/// client text or model output never throws.
template <JsonValue Json = nlohmann::json>
std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// Either a value or the error to answer with (the API layer's Result).
template <class T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}
  ApiResult(ApiError error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace gengyun::api
