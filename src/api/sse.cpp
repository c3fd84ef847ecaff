#include "api/sse.h"

#include "api/errors.h"

namespace gengyun::api {

std::string sse_event(const nlohmann::json& data) { return "data: " + dump_json(data) + "\n\n"; }

bool SseStream::send(const nlohmann::json& data) { return write(sse_event(data)); }

bool SseStream::send_done() { return write(kSseDone); }

bool SseStream::write(std::string_view event) {
  // is_writable() also sees a client that has closed its end (EOF pending on the socket), so
  // a departed client is noticed at the next event instead of after a failed send.
  if (connected_ && !(sink_.is_writable() && sink_.write(event.data(), event.size())))
    connected_ = false;
  return connected_;
}

}  // namespace gengyun::api
