// Server-sent events (text/event-stream) as OpenAI streams them: one `data: <json>\n\n` event
// per chunk, ended by `data: [DONE]\n\n`.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/responder.h"

namespace gengyun::api {

/// "data: " + the JSON text of `data` + "\n\n".
std::string sse_event(const nlohmann::ordered_json& data);

/// The event that ends an OpenAI stream.
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

/// Writes events to a streamed response (one HTTP chunk per event); remembers when the client
/// has gone away. Used from one thread at a time.
class SseStream {
 public:
  explicit SseStream(std::shared_ptr<Responder> out) : out_(std::move(out)) {}

  /// Starts the response: 200, text/event-stream, Cache-Control: no-cache and `headers`.
  /// False when the client is gone already.
  bool start(HttpHeaders headers = {});
  /// Queues one event; false (now and for every later call) once the client is gone or
  /// stopped reading (Responder::write).
  bool send(const nlohmann::ordered_json& data);
  /// Queues `data: [DONE]`; false as send().
  bool send_done();
  /// Ends the response once everything queued is sent.
  void end();
  bool connected() const { return connected_; }
  /// Whether start() sent the response's head (200): a client gone before then got no answer.
  bool started() const { return started_; }

 private:
  bool write(std::string event);

  std::shared_ptr<Responder> out_;
  bool connected_ = true;
  bool started_ = false;
};

}  // namespace gengyun::api
