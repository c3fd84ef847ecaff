#include "api/http_reply.h"

namespace gengyun::api {

bool send_error(Responder& out, const ApiError& error) {
  HttpResponse response = json_response(error_body(error), error.http_status, error.headers);
  if (error.retry_after_s > 0)
    response.headers.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  return out.respond(std::move(response));
}

}  // namespace gengyun::api
