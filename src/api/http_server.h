// An asynchronous HTTP/1.1 server (Boost.Beast on Asio): a few I/O threads hold every
// connection, idle, slow or streaming, without a thread per connection. Handlers are called on
// an I/O thread with the whole request and a Responder (api/responder.h); a handler that would
// block hands the work to another thread (api::Server uses a HandlerPool).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "api/responder.h"
#include "gengyun/result.h"

namespace gengyun::api {

/// Request bodies larger than this are answered 413 (the default of HttpOptions::max_body_bytes).
inline constexpr size_t kMaxRequestBodyBytes = 4 * 1024 * 1024;

/// Limits and deadlines of the HTTP layer. Every deadline is a total time for its phase (a
/// client that trickles bytes gains nothing), measured on the steady clock.
struct HttpOptions {
  /// Threads that run the sockets (and handlers, which must not block).
  size_t io_threads = 2;
  /// Open connections at most; one more is answered 503 and closed at once.
  size_t max_connections = 4096;
  /// From a request's first byte to the end of its header; past it the client gets 408 and the
  /// connection is closed.
  std::chrono::milliseconds header_timeout{10'000};
  /// From the end of the header to the end of the body; past it 408 and close.
  std::chrono::milliseconds body_timeout{60'000};
  /// How long a connection may wait for the first byte of a request (a new connection, or
  /// a kept-alive one after its last response); then it is closed without an answer.
  std::chrono::milliseconds idle_timeout{5'000};
  /// Longest wait for the client to accept one batch of response bytes; past it the
  /// connection is closed and the client counts as gone.
  std::chrono::milliseconds write_timeout{10'000};
  /// After an error answer (400, 408, 413, 431, 503), how long the client's unread bytes are
  /// still read and dropped, so that it can finish sending and read the answer.
  std::chrono::milliseconds linger_timeout{2'000};
  /// Request line plus header fields, bytes; more is answered 431. At most 30 KiB (the
  /// connection holds at most 60 KiB unparsed: kMaxBufferedBytes, http_connection.cpp).
  size_t max_header_bytes = 16 * 1024;
  /// Request body, bytes (after chunked decoding); more is answered 413.
  size_t max_body_bytes = kMaxRequestBodyBytes;
  /// Requests served on one connection; the last response says "Connection: close".
  size_t max_requests_per_connection = 1000;
  /// Response bytes queued unsent on one connection; a Responder::write() past it closes the
  /// connection (the client stopped reading).
  size_t max_queued_bytes = 4 * 1024 * 1024;
  /// Called on an I/O thread with each accepted connection's socket descriptor, after its
  /// socket options (TCP_NODELAY) are set; for diagnostics and tests. Must not block or close it.
  std::function<void(int fd)> on_accept;
};

/// Called on an I/O thread for every complete request; must answer through the Responder
/// (now or later, from any thread) and must not block.
using HttpHandler = std::function<void(HttpRequest request, std::shared_ptr<Responder> responder)>;

/// `host` and `port` as an address is written: "127.0.0.1:8080", "[::1]:8080" (RFC 3986's
/// brackets around an IPv6 address, without which its last group reads as the port).
std::string host_and_port(const std::string& host, int port);

/// A TCP socket bound and listening, on which nothing accepts yet: made before the server that
/// will accept on it (HttpServer::bind(Listener)), so that a busy port is found out before
/// anything else is set up (serve binds --listen before it opens, and so may create, its
/// database). Connections that arrive meanwhile wait in the socket's backlog. Move-only; closes
/// the socket when destroyed, unless a server took it.
class Listener {
 public:
  /// Listens on host:port (port 0: any free port; SO_REUSEADDR but not SO_REUSEPORT, so a busy
  /// port fails). Errors: "HOST:PORT: cannot listen: <reason>" (reason from the resolver or the
  /// system, e.g. "Address already in use"), a port outside 0..65535.
  static Result<Listener> listen(const std::string& host, int port);
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  /// The port it listens on (the one picked for port 0).
  int port() const { return port_; }

 private:
  friend class HttpServer;
  Listener(int fd, int family, int port) : fd_(fd), family_(family), port_(port) {}

  int fd_ = -1;     ///< the socket's descriptor; -1 once closed or taken
  int family_ = 0;  ///< AF_INET or AF_INET6
  int port_ = 0;
};

/// The server: bind(), then run() on one thread until stop() from any thread.
class HttpServer {
 public:
  HttpServer(HttpOptions options, HttpHandler handler);
  /// Stops; destroy only after run() has returned.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Listens on host:port (port 0: any free port; SO_REUSEADDR but not SO_REUSEPORT, so a busy
  /// port fails) and returns the port. Errors: "HOST:PORT: cannot listen: <reason>" (reason from
  /// the resolver or the system, e.g. "Address already in use"), a port outside 0..65535, a
  /// second bind.
  Result<int> bind(const std::string& host, int port);
  /// Accepts on `listener`'s socket (from run() on) and returns its port. Errors: a second bind
  /// (the listener is then closed), the system's refusal to take the socket.
  Result<int> bind(Listener listener);

  /// Serves on options.io_threads threads (the caller's included) until stop(), then until every
  /// response in flight is complete and every Responder released. Returns at once when not
  /// bound, already run, or stopped before.
  void run();

  /// Stops accepting, closes connections that are not answering a request, and closes the
  /// others once their response is complete. Safe from any thread, before, during or after run().
  void stop();

  /// Connections open now (accepted and not yet closed).
  size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gengyun::api
