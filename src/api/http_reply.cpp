#include "api/http_reply.h"

namespace gengyun::api {

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
  send_json(res, error_body(error), error.http_status);
}

}  // namespace gengyun::api
