// JSON bodies and OpenAI error objects as HTTP answers.
#pragma once

#include <nlohmann/json.hpp>
#include <utility>

#include "api/errors.h"
#include "api/responder.h"

namespace gengyun::api {

/// Status 200 (or `status`) with `body` as application/json (dump_json) and `headers`.
template <JsonValue Json = nlohmann::json>
HttpResponse json_response(const Json& body, int status = 200, HttpHeaders headers = {}) {
  return {status, "application/json", dump_json(body), std::move(headers)};
}

/// Answers `out` with json_response(body, status, headers); false as Responder::respond().
template <JsonValue Json = nlohmann::json>
bool send_json(Responder& out, const Json& body, int status = 200, HttpHeaders headers = {}) {
  return out.respond(json_response(body, status, std::move(headers)));
}

/// Answers `out` with error.http_status, error_body(error), Retry-After when
/// error.retry_after_s > 0 and error.headers; false as Responder::respond().
bool send_error(Responder& out, const ApiError& error);

}  // namespace gengyun::api
