#include "api/http_reply.h"

namespace gengyun::api {

HttpResponse json_response(const nlohmann::json& body, int status) {
  return {status, "application/json", dump_json(body), {}};
}

bool send_json(Responder& out, const nlohmann::json& body, int status) {
  return out.respond(json_response(body, status));
}

bool send_error(Responder& out, const ApiError& error) {
  HttpResponse response = json_response(error_body(error), error.http_status);
  if (error.retry_after_s > 0)
    response.headers.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  return out.respond(std::move(response));
}

}  // namespace gengyun::api
