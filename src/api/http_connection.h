// Internal to the HTTP server (http_server.cpp): one accepted connection and what it shares
// with its server. A connection lives on its own strand; it reads a request, hands it to the
// handler with a Responder, writes what the Responder queues, and reads the next request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/errors.h"
#include "api/http_server.h"

namespace gengyun::api::http_detail {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

class Connection;

/// What a server and its connections share. Thread-safe.
class ServerState {
 public:
  ServerState(HttpOptions options, HttpHandler handler)
      : options(std::move(options)), handler(std::move(handler)) {}

  const HttpOptions options;
  const HttpHandler handler;
  /// Set by stop(): no keep-alive, idle connections close.
  std::atomic<bool> stopping{false};
  /// Sockets open now (a connection counts from accept to close).
  std::atomic<size_t> open{0};
  /// Called (on any thread) when stopping and the last connection object is destroyed.
  std::function<void()> on_drained;

  /// Registers a new connection (counted open).
  void add(const std::shared_ptr<Connection>& connection, uint64_t id);
  /// The connection with `id` is destroyed; may call on_drained.
  void remove(uint64_t id);
  /// Connection objects alive now (open, or closed but still referenced).
  std::vector<std::shared_ptr<Connection>> live();

 private:
  std::mutex mutex_;
  std::map<uint64_t, std::weak_ptr<Connection>> live_;
};

/// "HTTP/1.1 <status> <reason>" and the fields of a response head, ended by an empty line.
/// `content_length` nullopt: none (a streamed body); `chunked`: Transfer-Encoding: chunked;
/// `keep_alive` false: Connection: close (true for an HTTP/1.0 client: Connection: keep-alive).
std::string response_head(int status, const std::string& content_type, const HttpHeaders& headers,
                          std::optional<size_t> content_length, bool chunked, bool keep_alive,
                          unsigned http_version);

/// A complete application/json error answer that closes the connection.
std::string error_answer(const ApiError& error);

class Exchange;

/// One accepted TCP connection. Its member functions run on the connection's strand, except
/// executor() and server_stopping(), which any thread may call.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<ServerState> server, uint64_t id);
  ~Connection();

  /// The strand everything of this connection runs on.
  net::any_io_executor executor() { return socket_.get_executor(); }

  /// Starts waiting for the first request.
  void start();
  /// The server is stopping: closes unless a request is being answered.
  void stop();

  /// For Exchange: writes `buffers` (which stay alive until `done` runs) under the write deadline.
  void write(std::vector<net::const_buffer> buffers,
             std::function<void(error_code, size_t)> done);
  /// For Exchange: the response is completely written.
  void exchange_done(bool keep_alive);
  /// For Exchange: whether the server is stopping (no more keep-alive).
  bool server_stopping() const;
  /// For Exchange: the client cannot take the response (write failed, too much queued) or the
  /// Responder was released unanswered; closes at once.
  void abort();

 private:
  enum class Phase { Idle, Header, Body, Answering, Closing, Closed };
  enum class Deadline { Idle, Header, Body, Write, Linger };

  void await_request();
  void wait_for_bytes();
  void on_bytes(error_code ec, size_t n);
  void read_header();
  void on_header(error_code ec);
  void read_body();
  void on_body(error_code ec);
  void dispatch();
  void request_failed(error_code ec);
  void answer_and_close(const ApiError& error);
  void linger();
  void linger_read();
  /// After a read completed while lingering with `ec`: reads on, or closes at the end.
  void continue_linger(error_code ec);
  void close();
  /// Common start of every read completion (with its `ec`): false when the caller should stop
  /// (the phase has moved on; a pending linger goes on).
  bool read_completed(Phase expected, error_code ec);
  void arm(Deadline kind, std::chrono::milliseconds after);
  void disarm();
  void on_deadline(Deadline kind);

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<ServerState> server_;
  const uint64_t id_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Phase phase_ = Phase::Idle;
  Deadline deadline_ = Deadline::Idle;
  uint64_t timer_generation_ = 0;
  bool read_pending_ = false;
  bool lingering_ = false;
  bool continue_pending_ = false;  ///< a "100 Continue" is being written
  bool counted_open_ = true;
  size_t requests_ = 0;
  /// Fields of the current request's head; those the parser adds after them are a chunked
  /// body's trailer fields, which are discarded (dispatch()).
  size_t header_fields_ = 0;
  int64_t request_started_us_ = 0;  ///< monotonic_us() when the current request's head began
  std::weak_ptr<Exchange> exchange_;
  std::string answer_;  ///< an error answer being written
};

}  // namespace gengyun::api::http_detail
