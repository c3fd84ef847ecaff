#include "api/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_connection.h"

namespace gengyun::api {
using namespace http_detail;

namespace {

/// After the process ran out of descriptors (or memory) accepting, the next try waits this long.
constexpr std::chrono::milliseconds kAcceptRetry{100};

bool out_of_resources(const error_code& ec) {
  const int e = ec.value();
  return ec.category() == boost::system::system_category() &&
         (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM);
}

/// Answers 503 and closes, without waiting: a fresh socket's send buffer takes the few bytes.
void turn_away(tcp::socket& socket, size_t max_connections) {
  const std::string answer = error_answer(server_busy(
      "The server has " + std::to_string(max_connections) +
      " open connections, its limit. Retry after a short wait."));
  error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(net::buffer(answer), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpOptions options, HttpHandler handler)
      : io(static_cast<int>(std::max<size_t>(options.io_threads, 1))),
        state(std::make_shared<ServerState>(std::move(options), std::move(handler))) {
    state->on_drained = [this] { net::post(io, [this] { release_work(); }); };
  }

  void accept();
  void accepted(error_code ec, tcp::socket socket);
  void begin_shutdown();
  void release_work();

  // Declared first, destroyed last: the acceptor and timer below belong to it.
  net::io_context io;
  /// Where accepting and shutting down run, one at a time, whichever I/O thread takes them.
  net::strand<net::io_context::executor_type> strand{net::make_strand(io)};
  tcp::acceptor acceptor{strand};
  net::steady_timer accept_retry{strand};
  std::shared_ptr<ServerState> state;
  uint64_t next_id = 0;

  std::mutex mutex;  // guards the fields below
  bool bound = false;
  bool ran = false;
  bool stop_requested = false;
  /// Keeps io.run() going while connections may still be answered from handler threads.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
};

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(io),
                        [this](error_code ec, tcp::socket socket) {
                          accepted(ec, std::move(socket));
                        });
}

void HttpServer::Impl::accepted(error_code ec, tcp::socket socket) {
  if (!acceptor.is_open() || ec == net::error::operation_aborted) return;
  if (ec) {
    if (!out_of_resources(ec)) return accept();
    spdlog::warn("http: cannot accept a connection: {}", ec.message());
    accept_retry.expires_after(kAcceptRetry);
    accept_retry.async_wait([this](error_code ec) {
      if (!ec) accept();
    });
    return;
  }
  const HttpOptions& options = state->options;
  error_code ignored;
  if (state->stopping) {
    socket.close(ignored);
    return;
  }
  socket.set_option(tcp::no_delay(true), ignored);
  if (options.on_accept) options.on_accept(socket.native_handle());
  if (state->open >= options.max_connections) {
    turn_away(socket, options.max_connections);
  } else {
    auto connection = std::make_shared<Connection>(std::move(socket), state, next_id);
    state->add(connection, next_id++);
    net::post(connection->executor(), [connection] { connection->start(); });
  }
  accept();
}

void HttpServer::Impl::begin_shutdown() {
  error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  const auto live = state->live();
  for (const auto& connection : live)
    net::post(connection->executor(), [connection] { connection->stop(); });
  if (live.empty()) release_work();
}

void HttpServer::Impl::release_work() {
  std::lock_guard lock(mutex);
  work.reset();
}

HttpServer::HttpServer(HttpOptions options, HttpHandler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

std::string host_and_port(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Listener> Listener::listen(const std::string& host, int port) {
  const std::string address = host_and_port(host, port);
  if (port < 0 || port > 65535) return make_error(address + ": port must be in 0..65535");
  net::io_context io;
  error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec) return make_error(address + ": cannot listen: " + ec.message());
  std::string reason = "no address to listen on";
  tcp::acceptor acceptor(io);
  for (const auto& entry : endpoints) {
    acceptor.open(entry.endpoint().protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(entry.endpoint(), ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) {
      const int bound_port = static_cast<int>(acceptor.local_endpoint().port());
      const int family = entry.endpoint().protocol().family();
      const int fd = acceptor.release(ec);
      if (!ec) return Listener(fd, family, bound_port);
    }
    reason = ec.message();
    error_code ignored;
    acceptor.close(ignored);
  }
  return make_error(address + ": cannot listen: " + reason);
}

Listener::Listener(Listener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), family_(other.family_), port_(other.port_) {}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    family_ = other.family_;
    port_ = other.port_;
  }
  return *this;
}

Listener::~Listener() {
  if (fd_ >= 0) ::close(fd_);
}

Result<int> HttpServer::bind(const std::string& host, int port) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->bound)
      return make_error(host_and_port(host, port) + ": this server is already bound");
  }
  auto listener = Listener::listen(host, port);
  if (!listener.ok()) return listener.error();
  return bind(std::move(listener.value()));
}

Result<int> HttpServer::bind(Listener listener) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->bound) return make_error("this server is already bound");
  error_code ec;
  impl_->acceptor.assign(listener.family_ == AF_INET6 ? tcp::v6() : tcp::v4(), listener.fd_, ec);
  if (ec)
    return make_error("port " + std::to_string(listener.port()) +
                      ": cannot listen: " + ec.message());
  listener.fd_ = -1;  // the acceptor's now
  impl_->bound = true;
  return listener.port();
}

void HttpServer::run() {
  {
    std::lock_guard lock(impl_->mutex);
    const bool may_run = impl_->bound && !impl_->ran && !impl_->stop_requested;
    impl_->ran = true;
    if (!may_run) return;
    impl_->work.emplace(net::make_work_guard(impl_->io));
  }
  net::post(impl_->strand, [impl = impl_.get()] { impl->accept(); });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < impl_->state->options.io_threads; ++i)
    threads.emplace_back([impl = impl_.get()] { impl->io.run(); });
  impl_->io.run();
  for (auto& thread : threads) thread.join();
}

void HttpServer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stop_requested) return;
    impl_->stop_requested = true;
  }
  impl_->state->stopping = true;
  net::post(impl_->strand, [impl = impl_.get()] { impl->begin_shutdown(); });
}

size_t HttpServer::open_connections() const { return impl_->state->open; }

}  // namespace gengyun::api
