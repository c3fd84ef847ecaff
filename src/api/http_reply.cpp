#include "api/http_reply.h"

namespace gengyun::api {

HttpResponse json_response(const nlohmann::json& body, int status, HttpHeaders headers) {
  return {status, "application/json", dump_json(body), std::move(headers)};
}

bool send_json(Responder& out, const nlohmann::json& body, int status, HttpHeaders headers) {
  return out.respond(json_response(body, status, std::move(headers)));
}

bool send_error(Responder& out, const ApiError& error) {
  HttpResponse response = json_response(error_body(error), error.http_status, error.headers);
  if (error.retry_after_s > 0)
    response.headers.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  return out.respond(std::move(response));
}

}  // namespace gengyun::api
