#include "api/http_connection.h"

#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "api/observed_responder.h"
#include "util/clock.h"

namespace gengyun::api::http_detail {
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

/// The most bytes the connection holds unparsed: a request head (HttpOptions::max_header_bytes,
/// 16 KiB by default, refused beyond by the parser's header limit), or a chunk's size line with
/// its extensions, or a chunked body's trailer section, none of which the parser limits itself
/// (QA 2026-12-07: a 600 MB chunk extension was held in memory, and a trailer field over 64 KiB
/// made Beast's fields throw out of the parser, ending the process). Under 64 KiB, so that no
/// field can reach Beast's limit.
constexpr size_t kMaxBufferedBytes = 60 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// A Beast string view (boost::string_view in Boost 1.74) as a std::string.
template <class View>
std::string text(const View& view) {
  return std::string(view.data(), view.size());
}

/// The origin form (path and query) of a request target: an absolute-form target
/// ("http://host:port/path?query", which a server must accept: RFC 9112, 3.2.2) loses its scheme
/// and authority, "/" standing for an empty path; any other target is kept as it is.
std::string origin_form(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size() || !iequals(target.substr(0, scheme.size()), scheme))
      continue;
    const std::string_view rest = target.substr(scheme.size());
    const size_t start = rest.find_first_of("/?#");
    if (start == std::string_view::npos || rest[start] == '#') return "/";
    return (rest[start] == '?' ? "/" : "") + std::string(rest.substr(start));
  }
  return std::string(target);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// The error for a Content-Length field the parser refused. The parser stops before the
/// offending field, so its line is among the unparsed bytes `raw`.
ApiError bad_content_length(std::string_view raw) {
  const size_t end = std::min(raw.find("\r\n\r\n"), raw.size());
  for (size_t pos = 0; pos < end;) {
    const size_t eol = std::min(raw.find("\r\n", pos), end);
    const std::string_view line = raw.substr(pos, eol - pos);
    pos = eol + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(trim(line.substr(0, colon)), "content-length"))
      continue;
    const std::string_view value = trim(line.substr(colon + 1));
    if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos)
      return invalid_request("The Content-Length header '" + std::string(value.substr(0, 40)) +
                             "' is not a number of bytes.");
    uint64_t bytes = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), bytes).ec != std::errc())
      return invalid_request("The Content-Length header '" + std::string(value.substr(0, 40)) +
                             "' is beyond the range of a 64-bit number of bytes.");
  }
  return invalid_request(
      "The Content-Length header is invalid: it disagrees with another Content-Length or comes "
      "with Transfer-Encoding.");
}

/// Why a request head cannot be served as sent, or nullopt: an HTTP/1.1 request without exactly
/// one Host field (RFC 9112, 3.2: 400); a Transfer-Encoding whose last coding is not chunked
/// (RFC 9112, 6.3: the body's length cannot be told, so its bytes would be read as the next
/// request's: 400) or that lists a coding besides chunked (a compressed body would be taken as
/// it is: 501). QA 2026-12-07 smuggled a request through "chunked, identity".
std::optional<ApiError> refused_head(const http::request_header<>& head) {
  if (head.version() == 11 && head.count(http::field::host) != 1)
    return invalid_request("An HTTP/1.1 request must have exactly one Host header field (it has " +
                           std::to_string(head.count(http::field::host)) + ").");
  std::vector<std::string> codings;
  bool present = false;
  const auto [first, last] = head.equal_range(http::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    present = true;
    const std::string value = text(field->value());
    for (size_t start = 0; start <= value.size();) {
      const size_t comma = std::min(value.find(',', start), value.size());
      const std::string_view coding = trim(std::string_view(value).substr(start, comma - start));
      if (!coding.empty()) codings.emplace_back(coding);
      start = comma + 1;
    }
  }
  if (!present) return std::nullopt;
  if (codings.empty() || !iequals(codings.back(), "chunked"))
    return invalid_request(
        "The request's Transfer-Encoding does not end with chunked, so its body's length cannot "
        "be told (RFC 9112, 6.3).");
  if (codings.size() > 1)
    return ApiError{501,
                    "The request's Transfer-Encoding lists '" + codings.front() +
                        "': only chunked is supported.",
                    "invalid_request_error", "", "not_implemented"};
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ServerState

void ServerState::add(const std::shared_ptr<Connection>& connection, uint64_t id) {
  ++open;
  std::lock_guard lock(mutex_);
  live_.emplace(id, connection);
}

void ServerState::remove(uint64_t id) {
  bool drained = false;
  {
    std::lock_guard lock(mutex_);
    live_.erase(id);
    drained = stopping && live_.empty();
  }
  if (drained && on_drained) on_drained();
}

std::vector<std::shared_ptr<Connection>> ServerState::live() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, weak] : live_)
    if (auto connection = weak.lock()) out.push_back(std::move(connection));
  return out;
}

std::string response_head(int status, const std::string& content_type, const HttpHeaders& headers,
                          std::optional<size_t> content_length, bool chunked, bool keep_alive,
                          unsigned http_version) {
  const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + text(reason) + "\r\n";
  if (!content_type.empty()) head += "Content-Type: " + content_type + "\r\n";
  if (content_length) head += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  if (chunked) head += "Transfer-Encoding: chunked\r\n";
  if (!keep_alive)
    head += "Connection: close\r\n";
  else if (http_version < 11)
    head += "Connection: keep-alive\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  return head;
}

std::string error_answer(const ApiError& error) {
  const std::string body = dump_json(error_body(error));
  return response_head(error.http_status, "application/json", {}, body.size(), false, false, 11) +
         body;
}

// ---------------------------------------------------------------------------------------------
// Exchange: the Responder of one request.

class Exchange final : public Responder, public std::enable_shared_from_this<Exchange> {
 public:
  /// head_only: the request is HEAD, so the answer is its head alone (RFC 9110, 9.3.2): the
  /// Content-Length a GET would get, no body.
  /// fd: the connection's socket, for unsent_bytes() (read until mark_gone(), which runs before
  /// the socket is closed).
  Exchange(std::shared_ptr<Connection> connection, int fd, bool keep_alive, unsigned http_version,
           size_t max_queued, bool head_only)
      : connection_(std::move(connection)),
        fd_(fd),
        keep_alive_(keep_alive),
        http_version_(http_version),
        max_queued_(max_queued),
        head_only_(head_only) {}

  ~Exchange() override {
    if (!done_) net::post(connection_->executor(), [c = connection_] { c->abort(); });
  }

  bool respond(HttpResponse response) override {
    std::unique_lock lock(mutex_);
    if (gone_ || state_ != State::Unanswered) return false;
    const bool keep_alive = keep_alive_now();
    queue(response_head(response.status, response.content_type, response.headers,
                        response.body.size(), false, keep_alive, http_version_) +
          (head_only_ ? std::string() : response.body));
    state_ = State::Complete;
    return true;
  }

  bool start_stream(int status, std::string content_type, HttpHeaders headers) override {
    std::unique_lock lock(mutex_);
    if (gone_ || state_ != State::Unanswered) return false;
    chunked_ = http_version_ >= 11;
    // An HTTP/1.0 body without a length ends when the connection closes.
    const bool keep_alive = chunked_ && keep_alive_now();
    queue(response_head(status, content_type, headers, std::nullopt, chunked_, keep_alive,
                        http_version_));
    state_ = State::Streaming;
    return true;
  }

  bool write(std::string chunk) override {
    std::unique_lock lock(mutex_);
    if (gone_ || state_ != State::Streaming) return false;
    if (chunk.empty() || head_only_) return true;
    if (chunked_) {
      char size[20];
      std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
      chunk.insert(0, size);
      chunk += "\r\n";
    }
    if (queued_ + chunk.size() > max_queued_) {
      gone_ = true;
      pending_.clear();
      queued_ = 0;
      net::post(connection_->executor(), [self = shared_from_this()] {
        self->connection_->abort();
      });
      return false;
    }
    queue(std::move(chunk));
    return true;
  }

  bool finish() override {
    std::unique_lock lock(mutex_);
    if (gone_ || state_ != State::Streaming) return false;
    if (chunked_ && !head_only_)
      queue("0\r\n\r\n");
    else
      schedule_pump();
    state_ = State::Complete;
    return true;
  }

  bool client_gone() const override {
    std::lock_guard lock(mutex_);
    return gone_;
  }

  void on_client_gone(std::function<void()> callback) override {
    std::unique_lock lock(mutex_);
    if (notified_) {
      lock.unlock();
      callback();
      return;
    }
    on_gone_ = std::move(callback);
  }

  size_t queued_bytes() const override {
    std::lock_guard lock(mutex_);
    return queued_;
  }

  size_t unsent_bytes() const override {
    std::lock_guard lock(mutex_);
    int in_socket = 0;
    if (socket_closed_ || ::ioctl(fd_, SIOCOUTQ, &in_socket) != 0 || in_socket < 0) in_socket = 0;
    return queued_ + static_cast<size_t>(in_socket);
  }

  /// On the strand: the connection is closed. Once the producer has completed the answer, its
  /// delivery is the connection's business and the producer is not told.
  void mark_gone() {
    std::function<void()> callback;
    {
      std::lock_guard lock(mutex_);
      socket_closed_ = true;
      pending_.clear();
      queued_ = 0;
      if (notified_ || state_ == State::Complete) return;
      gone_ = true;
      notified_ = true;
      callback = std::move(on_gone_);
    }
    if (callback) callback();
  }

 private:
  enum class State { Unanswered, Streaming, Complete };

  /// Whether this response may keep the connection open (asked when its head is written).
  bool keep_alive_now() {
    keep_alive_ = keep_alive_ && !connection_stopping();
    return keep_alive_;
  }
  bool connection_stopping() const { return connection_->server_stopping(); }

  /// Appends bytes to send; mutex_ held.
  void queue(std::string bytes) {
    queued_ += bytes.size();
    pending_.push_back(std::move(bytes));
    schedule_pump();
  }

  /// Makes sure pump() runs on the strand after the last queue(); mutex_ held.
  void schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    net::post(connection_->executor(), [self = shared_from_this()] { self->pump(); });
  }

  /// On the strand: writes everything queued, one batch at a time, then reports completion.
  void pump() {
    bool complete = false;
    bool keep_alive = false;
    {
      std::lock_guard lock(mutex_);
      pump_scheduled_ = false;
      if (gone_ || writing_) return;
      in_flight_.assign(std::make_move_iterator(pending_.begin()),
                        std::make_move_iterator(pending_.end()));
      pending_.clear();
      complete = state_ == State::Complete;
      keep_alive = keep_alive_;
    }
    if (in_flight_.empty()) {
      if (complete && !done_) {
        done_ = true;
        connection_->exchange_done(keep_alive);
      }
      return;
    }
    writing_ = true;
    std::vector<net::const_buffer> buffers;
    buffers.reserve(in_flight_.size());
    for (const auto& bytes : in_flight_) buffers.push_back(net::buffer(bytes));
    connection_->write(std::move(buffers), [self = shared_from_this()](error_code ec, size_t n) {
      self->written(ec, n);
    });
  }

  void written(error_code ec, size_t n) {
    writing_ = false;
    in_flight_.clear();
    if (ec) return connection_->abort();
    {
      std::lock_guard lock(mutex_);
      queued_ -= std::min(queued_, n);
    }
    pump();
  }

  const std::shared_ptr<Connection> connection_;
  const int fd_;
  bool keep_alive_;
  const unsigned http_version_;
  const size_t max_queued_;
  const bool head_only_;

  mutable std::mutex mutex_;
  State state_ = State::Unanswered;
  bool chunked_ = false;
  bool gone_ = false;      ///< write() and friends refuse
  bool socket_closed_ = false;  ///< mark_gone() ran: fd_ is closed, or about to be
  bool notified_ = false;  ///< on_gone_ has been taken
  bool pump_scheduled_ = false;
  size_t queued_ = 0;
  std::deque<std::string> pending_;
  std::function<void()> on_gone_;

  // Strand only.
  bool writing_ = false;
  bool done_ = false;
  std::vector<std::string> in_flight_;
};

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(tcp::socket socket, std::shared_ptr<ServerState> server, uint64_t id)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      server_(std::move(server)),
      id_(id) {
  buffer_.max_size(kMaxBufferedBytes);
}

Connection::~Connection() {
  if (counted_open_) --server_->open;
  server_->remove(id_);
}

void Connection::start() { await_request(); }

void Connection::stop() {
  if (phase_ == Phase::Idle || phase_ == Phase::Header || phase_ == Phase::Body) close();
}

void Connection::await_request() {
  phase_ = Phase::Idle;
  if (buffer_.size() > 0) return read_header();
  arm(Deadline::Idle, server_->options.idle_timeout);
  if (!read_pending_) wait_for_bytes();
}

void Connection::wait_for_bytes() {
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](error_code ec,
                                                                             size_t n) {
    self->on_bytes(ec, n);
  });
}

void Connection::on_bytes(error_code ec, size_t n) {
  read_pending_ = false;
  if (phase_ == Phase::Closing && lingering_) return continue_linger(ec);
  if (phase_ != Phase::Idle && phase_ != Phase::Answering) return;
  if (ec) {
    // Idle: the client closed its connection. Answering: it left before its answer was done
    // (or only shut down its sending side, which looks the same).
    return close();
  }
  buffer_.commit(n);
  // Idle: a request begins. Answering: the client sent (part of) its next request, so it is
  // still there; the bytes wait in buffer_ and the watch ends (no read is pending while
  // buffer_ holds bytes).
  if (phase_ == Phase::Idle) read_header();
}

void Connection::read_header() {
  phase_ = Phase::Header;
  request_started_us_ = monotonic_us();
  arm(Deadline::Header, server_->options.header_timeout);
  parser_.emplace();
  parser_->header_limit(
      static_cast<uint32_t>(std::min(server_->options.max_header_bytes, kMaxBufferedBytes / 2)));
  parser_->body_limit(server_->options.max_body_bytes);
  read_pending_ = true;
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](error_code ec, size_t) {
                            self->on_header(ec);
                          });
}

void Connection::on_header(error_code ec) {
  if (!read_completed(Phase::Header, ec)) return;
  if (ec) return request_failed(ec);
  const auto& head = parser_->get();
  header_fields_ = static_cast<size_t>(std::distance(head.begin(), head.end()));
  if (auto refused = refused_head(head)) return answer_and_close(*refused);
  ++requests_;
  phase_ = Phase::Body;
  arm(Deadline::Body, server_->options.body_timeout);
  if (!parser_->is_done() && iequals(text(parser_->get()[http::field::expect]), "100-continue")) {
    continue_pending_ = true;
    net::async_write(socket_, net::buffer(kContinue),
                     [self = shared_from_this()](error_code ec, size_t) {
                       self->continue_pending_ = false;
                       if (self->phase_ != Phase::Body) return;
                       if (ec) return self->close();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void Connection::read_body() {
  if (parser_->is_done()) return dispatch();
  read_pending_ = true;
  http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
    self->on_body(ec);
  });
}

void Connection::on_body(error_code ec) {
  if (!read_completed(Phase::Body, ec)) return;
  if (ec) return request_failed(ec);
  dispatch();
}

bool Connection::read_completed(Phase expected, error_code ec) {
  read_pending_ = false;
  if (phase_ == Phase::Closing && lingering_) {
    continue_linger(ec);
    return false;
  }
  return phase_ == expected;
}

void Connection::request_failed(error_code ec) {
  const HttpOptions& o = server_->options;
  if (ec == http::error::header_limit)
    return answer_and_close(header_too_large(o.max_header_bytes));
  if (ec == http::error::body_limit) return answer_and_close(payload_too_large(o.max_body_bytes));
  if (ec == http::error::buffer_overflow)
    return answer_and_close(invalid_request(
        "A chunk size line (with its extensions) or the trailer fields of the request are larger "
        "than " +
        std::to_string(kMaxBufferedBytes) + " bytes."));
  if (ec == http::error::bad_content_length) {
    const auto data = buffer_.data();
    return answer_and_close(
        bad_content_length({static_cast<const char*>(data.data()), data.size()}));
  }
  // The client went away (before or in the middle of a request): nobody to answer.
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec.category() != http::make_error_code(http::error::bad_method).category())
    return close();
  answer_and_close(invalid_request("The request is not valid HTTP/1.1: " + ec.message() + "."));
}

void Connection::dispatch() {
  disarm();
  phase_ = Phase::Answering;
  auto& message = parser_->get();
  HttpRequest request;
  request.method = text(message.method_string());
  request.target = origin_form(text(message.target()));
  request.path = request.target.substr(0, request.target.find('?'));
  // The head's fields only: a chunked body's trailer fields are discarded (RFC 9110, 6.5.1
  // allows it), so that none of them (an Authorization) counts as a header field that a proxy
  // in front never saw.
  size_t fields = 0;
  for (const auto& field : message)
    if (fields++ < header_fields_)
      request.headers.emplace_back(text(field.name_string()), text(field.value()));
  request.body = std::move(message.body());
  const bool keep_alive = message.keep_alive() &&
                          requests_ < server_->options.max_requests_per_connection &&
                          !server_->stopping;
  auto exchange = std::make_shared<Exchange>(
      shared_from_this(), socket_.native_handle(), keep_alive, message.version(),
      server_->options.max_queued_bytes, message.method() == http::verb::head);
  exchange_ = exchange;
  parser_.reset();
  // A read stays pending while the request is answered, so that a client that leaves is
  // noticed at once (Responder::client_gone, on_client_gone); not when the client has sent
  // bytes of its next request already.
  if (!read_pending_ && buffer_.size() == 0) wait_for_bytes();
  try {
    server_->handler(std::move(request), std::move(exchange));
  } catch (const std::exception& e) {
    spdlog::error("http handler: {}", e.what());
    close();
  }
}

void Connection::write(std::vector<net::const_buffer> buffers,
                       std::function<void(error_code, size_t)> done) {
  arm(Deadline::Write, server_->options.write_timeout);
  net::async_write(socket_, buffers,
                   [self = shared_from_this(), done = std::move(done)](error_code ec, size_t n) {
                     if (self->deadline_ == Deadline::Write) self->disarm();
                     done(ec, n);
                   });
}

void Connection::exchange_done(bool keep_alive) {
  exchange_.reset();
  if (phase_ != Phase::Answering) return;
  if (keep_alive && !server_->stopping) return await_request();
  linger();
}

void Connection::abort() {
  if (phase_ != Phase::Closed) close();
}

bool Connection::server_stopping() const { return server_->stopping; }

void Connection::answer_and_close(const ApiError& error) {
  // One access line, as api::Server's answers get: the method, path and key as far as the
  // parser read them (a request line and fields before the one refused, a head whose body is
  // over the limit or too slow), "-" for what it did not; status 0 when the answer cannot be
  // sent (below).
  std::string method = "-", path = "-", key = "-";
  if (parser_ && !parser_->get().method_string().empty() && !parser_->get().target().empty()) {
    const auto& message = parser_->get();
    method = text(message.method_string());
    const std::string target = origin_form(text(message.target()));
    path = target.substr(0, target.find('?'));
    const auto authorization = message.find(http::field::authorization);
    if (authorization != message.end()) key = key_prefix(text(authorization->value()));
  }
  log_access(method, path, continue_pending_ ? 0 : error.http_status,
             static_cast<double>(monotonic_us() - request_started_us_) / 1000.0, key, false);
  // The client has not read the 100 Continue in time: no room for another answer.
  if (continue_pending_) return close();
  phase_ = Phase::Closing;
  if (read_pending_) {
    error_code ignored;
    socket_.cancel(ignored);
  }
  answer_ = error_answer(error);
  arm(Deadline::Write, server_->options.write_timeout);
  net::async_write(socket_, net::buffer(answer_),
                   [self = shared_from_this()](error_code ec, size_t) {
                     if (self->phase_ != Phase::Closing) return;
                     if (ec) return self->close();
                     self->linger();
                   });
}

void Connection::linger() {
  // Shut down the sending side and read what the client still sends until it closes: closing
  // with unread bytes would reset the connection and could destroy the answer in flight.
  phase_ = Phase::Closing;
  lingering_ = true;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  arm(Deadline::Linger, server_->options.linger_timeout);
  if (!read_pending_) linger_read();
}

void Connection::continue_linger(error_code ec) {
  // After end of stream Asio reads again only on a new readiness event, which never comes:
  // a read that failed or hit the end is the last one.
  if (ec && ec != net::error::operation_aborted) return close();
  linger_read();
}

void Connection::linger_read() {
  if (phase_ != Phase::Closing) return;
  buffer_.clear();
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](error_code ec,
                                                                             size_t) {
    self->read_pending_ = false;
    if (self->phase_ != Phase::Closing) return;
    self->continue_linger(ec);
  });
}

void Connection::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  disarm();
  error_code ignored;
  // The exchange first: its unsent_bytes() reads the socket until then.
  if (auto exchange = exchange_.lock()) exchange->mark_gone();
  exchange_.reset();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (counted_open_) {
    counted_open_ = false;
    --server_->open;
  }
}

void Connection::arm(Deadline kind, std::chrono::milliseconds after) {
  deadline_ = kind;
  const uint64_t generation = ++timer_generation_;
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
    if (ec || generation != self->timer_generation_ || self->phase_ == Phase::Closed) return;
    self->on_deadline(self->deadline_);
  });
}

void Connection::disarm() {
  ++timer_generation_;
  timer_.cancel();
}

void Connection::on_deadline(Deadline kind) {
  switch (kind) {
    case Deadline::Header:
      return answer_and_close(request_timeout("header", server_->options.header_timeout));
    case Deadline::Body:
      return answer_and_close(request_timeout("body", server_->options.body_timeout));
    case Deadline::Idle:
    case Deadline::Write:
    case Deadline::Linger:
      return close();
  }
}

}  // namespace gengyun::api::http_detail
