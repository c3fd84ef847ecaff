// What every answer routed by api::Server gets besides its handler's own: CORS header fields
// when a browser origin is allowed, and one access log line when it completes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/responder.h"

namespace gengyun::api {

/// The display prefix of the key in `authorization` ("Bearer gy-AbCdE..." gives "gy-AbCdE",
/// platform::kKeyPrefixChars characters), "-" when there is none or it is too short to show a
/// prefix of without giving most of it away. Never the key.
std::string key_prefix(const std::optional<std::string>& authorization);

/// Logs one access line at info level: `access: METHOD PATH STATUS LATENCYms key=PREFIX`, with
/// " client gone" appended when `client_gone` (ObservedResponder's; the HTTP layer's for the
/// requests it refuses itself, "-" for a method and path it never read).
void log_access(std::string_view method, std::string_view path, int status, double ms,
                std::string_view key_prefix, bool client_gone);

/// A Responder that forwards to `inner`. When `cors_origin` is not empty, every answer carries
/// Access-Control-Allow-Origin: cors_origin, Vary: Origin and Access-Control-Expose-Headers
/// (x-request-id, x-ratelimit-*, Retry-After). When the answer completes (respond(), or
/// finish() of a stream), or the responder is released without completing it (the client
/// left), it logs one line on spdlog's "access" logger at info level:
///   access: POST /v1/chat/completions 200 153.2ms key=gy-AbCdE
/// (status 0 when nothing was answered; " client gone" appended when the client left first).
class ObservedResponder final : public Responder {
 public:
  ObservedResponder(std::shared_ptr<Responder> inner, std::string method, std::string path,
                    std::string key_prefix, std::string cors_origin);
  ~ObservedResponder() override;

  bool respond(HttpResponse response) override;
  bool start_stream(int status, std::string content_type, HttpHeaders headers = {}) override;
  bool write(std::string chunk) override;
  bool finish() override;
  bool client_gone() const override;
  void on_client_gone(std::function<void()> callback) override;
  size_t queued_bytes() const override;
  size_t unsent_bytes() const override;

 private:
  void add_cors(HttpHeaders& headers) const;
  /// Writes the log line once.
  void log_once();

  std::shared_ptr<Responder> inner_;
  const std::string method_;
  const std::string path_;
  const std::string key_prefix_;
  const std::string cors_origin_;
  const int64_t started_us_;
  std::mutex mutex_;
  int status_ = 0;
  bool logged_ = false;
};

}  // namespace gengyun::api
