#include "api/sse.h"

#include "api/errors.h"

namespace gengyun::api {

std::string sse_event(const nlohmann::ordered_json& data) {
  return "data: " + dump_json(data) + "\n\n";
}

bool SseStream::start(HttpHeaders headers) {
  headers.emplace(headers.begin(), "Cache-Control", "no-cache");
  connected_ = out_->start_stream(200, "text/event-stream", std::move(headers));
  started_ = connected_;
  return connected_;
}

bool SseStream::send(const nlohmann::ordered_json& data) { return write(sse_event(data)); }

bool SseStream::send_done() { return write(std::string(kSseDone)); }

void SseStream::end() {
  if (connected_) connected_ = out_->finish();
}

bool SseStream::write(std::string event) {
  if (connected_ && !out_->write(std::move(event))) connected_ = false;
  return connected_;
}

}  // namespace gengyun::api
