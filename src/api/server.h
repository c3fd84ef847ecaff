// The OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions (whole or
// streamed as server-sent events), GET /v1/models, GET /health. Every endpoint but /health
// needs "Authorization: Bearer <key>"; every authenticated request writes one usage-ledger row.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "deploy/registry.h"
#include "platform/store.h"
#include "util/result.h"

namespace gengyun::api {

/// Request bodies larger than this are answered 413.
inline constexpr size_t kMaxRequestBodyBytes = 4 * 1024 * 1024;

/// Serves the models of a Registry, metering into a Store. Both must outlive the Server.
/// Requests are handled on a pool of threads; generation on one model is serialized by the
/// engine, so concurrent requests queue.
class Server {
 public:
  Server(deploy::Registry& registry, platform::Store& store);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds host:port (port 0: any free port) and returns the bound port. Errors: the address
  /// cannot be bound ("127.0.0.1:8080: cannot listen: Address already in use"), a second bind.
  Result<int> bind(const std::string& host, int port);

  /// Serves until stop() (blocking). Returns at once when not bound or already stopped.
  void run();

  /// Makes run() return; safe from any thread, before, during or after run(). In-flight
  /// requests are completed first. Destroy the Server only after run() has returned.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gengyun::api
