// Writing JSON bodies and OpenAI error objects into httplib responses.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/errors.h"

namespace gengyun::api {

/// Status 200 (or `status`) with `body` as application/json.
void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);

/// error.http_status with error_body(error).
void send_error(httplib::Response& res, const ApiError& error);

}  // namespace gengyun::api
