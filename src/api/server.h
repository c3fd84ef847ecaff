// The OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions (whole or
// streamed as server-sent events), POST /v1/embeddings, GET /v1/models and /v1/models/{id}
// (models_handler.h), GET /v1/usage (usage_handler.h), the admin API under /admin/
// (admin_handler.h; its model endpoints /admin/models...: admin_models_handler.h), GET /health.
// Every endpoint but /health needs "Authorization: Bearer <key>"; every authenticated request
// to a model (the completions and embeddings endpoints) writes one usage-ledger row; the reads
// (GET /v1/models[/{id}]: the models the key may use, GET /v1/usage) and the admin API write
// none. A GET path answers HEAD with the GET answer's head (no body). Another method on a known
// path is 405 with Allow.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "deploy/registry.h"
#include "gengyun/result.h"
#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace gengyun::api {

/// How the server shares its threads, and its limits.
struct ServerOptions {
  /// Connections, deadlines and sizes of the HTTP layer (api/http_server.h); bodies over
  /// http.max_body_bytes (kMaxRequestBodyBytes) are 413.
  HttpOptions http;
  /// Threads for handler work that blocks: authentication and ledger writes (SQLite),
  /// tokenization. Generation holds none: the models' engines feed the answers.
  size_t handler_threads = 64;
  /// Requests waiting for a handler thread; one more is answered 503 "server_busy".
  size_t max_queued_requests = 1024;
  /// The browser origins allowed to call the API (CORS): each `*` (any) or scheme://host[:port]
  /// as browsers send it in the Origin header; none by default. With any, every answer carries
  /// Access-Control-Allow-Origin (`*` when listed, else the request's Origin when listed, else
  /// the first origin, which the browser then refuses) and OPTIONS preflights are answered 204.
  std::vector<std::string> cors_origins;
  /// The ledger writer for checkpoints and the rows after admission (platform/ledger_writer.h),
  /// owned by the caller and outliving the Server (serve: with its spool, replayed before
  /// serving); null: the Server starts one of its own, without a spool.
  platform::LedgerWriter* ledger = nullptr;
};

/// Serves the models of a Registry, metering into a Store. Both must outlive the Server. Every
/// request routed gets an access log line (api/observed_responder.h).
/// Connections are held by a few I/O threads (an idle or slow client holds no thread); /health
/// and unknown paths are answered there, everything else on options.handler_threads threads.
/// Each model's batching engine runs its requests together; beyond its waiting queue
/// (ModelOptions::max_waiting) a request is answered 503 "server_busy" with Retry-After.
class Server {
 public:
  Server(deploy::Registry& registry, platform::Store& store, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds host:port (port 0: any free port) and returns the bound port. Errors: the address
  /// cannot be bound ("127.0.0.1:8080: cannot listen: Address already in use"), a second bind.
  Result<int> bind(const std::string& host, int port);
  /// Serves on `listener`, bound before (serve binds it before it opens the store this Server
  /// needs), and returns its port. Errors: a second bind.
  Result<int> bind(Listener listener);

  /// Serves until stop() (blocking), then until the requests in flight are answered and their
  /// ledger rows written. Returns at once when not bound or already stopped.
  void run();

  /// Makes run() return; safe from any thread, before, during or after run(). In-flight
  /// requests are completed first. Destroy the Server only after run() has returned.
  void stop();

  /// Ends the generations still running (after stop(), when the grace period is over): each
  /// is cancelled at its engine's next step, billed for what it generated with a "shutdown"
  /// ledger row, and answered 503 "server_shutting_down" (a stream: its usage chunk, that error
  /// and [DONE]).
  /// Generations that start afterwards are ended at once, and requests waiting for memory
  /// (Registry::end_waits) are answered 503 server_shutting_down. Safe from any thread.
  void end_in_flight();

  /// Connections open now.
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gengyun::api
