// Server-sent events (text/event-stream) as OpenAI streams them: one `data: <json>\n\n` event
// per chunk, ended by `data: [DONE]\n\n`.
#pragma once

#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace gengyun::api {

/// "data: " + the JSON text of `data` + "\n\n".
std::string sse_event(const nlohmann::json& data);

/// The event that ends an OpenAI stream.
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

/// Writes events to an HTTP chunked response; remembers when the client has gone away.
class SseStream {
 public:
  explicit SseStream(httplib::DataSink& sink) : sink_(sink) {}

  /// Sends one event; false (now and for every later call) once a write has failed, i.e. the
  /// client disconnected or stopped reading past the server's write timeout.
  bool send(const nlohmann::json& data);
  /// Sends `data: [DONE]`; false as send().
  bool send_done();
  bool connected() const { return connected_; }

 private:
  bool write(std::string_view event);

  httplib::DataSink& sink_;
  bool connected_ = true;
};

}  // namespace gengyun::api
