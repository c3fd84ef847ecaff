// JSON bodies and OpenAI error objects as HTTP answers.
#pragma once

#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/responder.h"

namespace gengyun::api {

/// Status 200 (or `status`) with `body` as application/json and `headers`.
HttpResponse json_response(const nlohmann::json& body, int status = 200, HttpHeaders headers = {});

/// Answers `out` with json_response(body, status, headers); false as Responder::respond().
bool send_json(Responder& out, const nlohmann::json& body, int status = 200,
               HttpHeaders headers = {});

/// Answers `out` with error.http_status, error_body(error), Retry-After when
/// error.retry_after_s > 0 and error.headers; false as Responder::respond().
bool send_error(Responder& out, const ApiError& error);

}  // namespace gengyun::api
