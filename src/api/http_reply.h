// JSON bodies and OpenAI error objects as HTTP answers.
#pragma once

#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/responder.h"

namespace gengyun::api {

/// Status 200 (or `status`) with `body` as application/json.
HttpResponse json_response(const nlohmann::json& body, int status = 200);

/// Answers `out` with json_response(body, status); false as Responder::respond().
bool send_json(Responder& out, const nlohmann::json& body, int status = 200);

/// Answers `out` with error.http_status and error_body(error); false as Responder::respond().
bool send_error(Responder& out, const ApiError& error);

}  // namespace gengyun::api
