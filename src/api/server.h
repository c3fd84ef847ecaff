// The OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions (whole or
// streamed as server-sent events), GET /v1/models, GET /health. Every endpoint but /health
// needs "Authorization: Bearer <key>"; every authenticated request writes one usage-ledger row.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "deploy/registry.h"
#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::api {

/// Request bodies larger than this are answered 413.
inline constexpr size_t kMaxRequestBodyBytes = 4 * 1024 * 1024;

/// How the server shares its threads and how long it waits for slow clients.
struct ServerOptions {
  /// HTTP worker threads. A request waiting for its model holds one, so this bounds waiting
  /// requests plus everything else being served at the same moment.
  size_t worker_threads = 64;
  /// Requests that may wait for a model while it generates for another; one more is answered
  /// 429 "rate_limit_exceeded" (and gets an error row in the ledger, with 0 tokens).
  size_t max_waiting_per_model = 16;
  /// Longest silence while reading a request (each read of the line, headers, body), seconds.
  int read_timeout_s = 5;
  /// Longest wait for a client to accept response bytes, seconds.
  int write_timeout_s = 5;
  /// An idle keep-alive connection is closed after this many seconds.
  int keep_alive_timeout_s = 5;
  /// Requests served on one connection before it is closed.
  size_t keep_alive_max_count = 100;
};

/// Serves the models of a Registry, metering into a Store. Both must outlive the Server.
/// Requests are handled on a pool of options.worker_threads threads; generation on one model
/// is serialized by the engine, so concurrent requests for it queue (up to
/// options.max_waiting_per_model of them).
class Server {
 public:
  Server(deploy::Registry& registry, platform::Store& store, ServerOptions options = {});
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
