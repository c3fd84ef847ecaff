#include "api/http_reply.h"

namespace gengyun::api {

HttpResponse json_response(const nlohmann::json& body, int status) {
  return {status, "application/json", dump_json(body), {}};
}

bool send_json(Responder& out, const nlohmann::json& body, int status) {
  return out.respond(json_response(body, status));
}

bool send_error(Responder& out, const ApiError& error) {
  return send_json(out, error_body(error), error.http_status);
}

}  // namespace gengyun::api
