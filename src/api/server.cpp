#include "api/server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <httplib.h>

#include "api/auth.h"
#include "api/client_connection.h"
#include "api/generation_handler.h"
#include "api/generation_slots.h"
#include "api/http_reply.h"
#include "api/openai_response.h"
#include "api/usage_entry.h"
#include "util/clock.h"

namespace gengyun::api {
namespace {

/// SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
/// server bind a port that is already in use instead of failing.
void reuse_address_only(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

/// Why host:port cannot be bound, from the operating system (httplib reports only failure).
std::string bind_failure_reason(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return gai_strerror(rc);
  std::string reason = "unknown error";
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int sock = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (sock < 0) {
      reason = std::strerror(errno);
      continue;
    }
    reuse_address_only(sock);
    const bool bound = ::bind(sock, a->ai_addr, a->ai_addrlen) == 0;
    if (!bound) reason = std::strerror(errno);
    close(sock);
    if (bound) {
      reason = "the address can be bound now; it was busy a moment ago";
      break;
    }
  }
  freeaddrinfo(found);
  return reason;
}

/// An OpenAI error object for a status httplib set on its own (no route, body too large,
/// unparsable request line), so that every error the server sends has the same shape.
ApiError error_for_status(const httplib::Request& req, int status) {
  switch (status) {
    case 404:
      return unknown_endpoint(req.method, req.path);
    case 413:
      return payload_too_large(kMaxRequestBodyBytes);
    default: {
      ApiError error;
      error.http_status = status;
      error.message = "The request could not be served (HTTP " + std::to_string(status) + ").";
      if (status >= 500) error.type = "server_error";
      return error;
    }
  }
}

/// Whether a Content-Length header value is a decimal number of bytes. httplib reads any other
/// value (e.g. "-5") with strtoull and refuses it as too large.
bool valid_content_length(const std::string& value) {
  return !value.empty() && value.size() <= 19 &&
         value.find_first_not_of("0123456789") == std::string::npos;
}

/// The request body, read through httplib's content reader so that every Content-Type is
/// accepted (httplib's own reading caps application/x-www-form-urlencoded bodies, what
/// `curl -d` sends, at 8192 bytes, a limit compiled into Debian's libcpp-httplib). Bodies over
/// the payload limit are 413, a malformed Content-Length is 400.
ApiResult<std::string> read_body(const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
  if (req.has_header("Content-Length")) {
    const std::string length = req.get_header_value("Content-Length");
    if (!valid_content_length(length))
      return invalid_request("The Content-Length header '" + length.substr(0, 40) +
                             "' is not a number of bytes.");
  }
  std::string body;
  bool too_large = false;
  const bool read = reader([&](const char* data, size_t size) {
    too_large = body.size() + size > kMaxRequestBodyBytes;
    if (!too_large) body.append(data, size);
    return !too_large;
  });
  if (read) return body;
  if (res.status == 413 || too_large) return payload_too_large(kMaxRequestBodyBytes);
  return invalid_request("The request body could not be read (connection closed or timed out).");
}

}  // namespace

struct Server::Impl {
  Impl(deploy::Registry& registry, platform::Store& store, ServerOptions options)
      : registry(registry),
        store(store),
        options(options),
        slots(options.max_waiting_per_model),
        started_s(unix_time_us() / 1000000) {}

  void install_routes();
  void list_models(const httplib::Request& req, httplib::Response& res);
  void generation_route(CompletionKind kind);

  deploy::Registry& registry;
  platform::Store& store;
  const ServerOptions options;
  GenerationSlots slots;
  const int64_t started_s;
  httplib::Server http;
  bool bound = false;
  std::atomic<bool> run_entered{false};
  std::atomic<bool> run_returned{false};
  std::atomic<bool> stop_requested{false};
};

void Server::Impl::generation_route(CompletionKind kind) {
  http.Post(endpoint_path(kind), [this, kind](const httplib::Request& req, httplib::Response& res,
                                              const httplib::ContentReader& reader) {
    auto body = read_body(req, res, reader);
    if (!body.ok()) return send_error(res, body.error());
    GenerationContext context{registry, store, slots, options.max_waiting_per_model,
                              find_client_socket(req)};
    handle_generation(kind, context, req, body.value(), res);
  });
}

void Server::Impl::install_routes() {
  const size_t threads = std::max<size_t>(options.worker_threads, 1);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_socket_options(reuse_address_only);
  http.set_payload_max_length(kMaxRequestBodyBytes);
  http.set_read_timeout(options.read_timeout_s, 0);
  http.set_write_timeout(options.write_timeout_s, 0);
  http.set_keep_alive_timeout(options.keep_alive_timeout_s);
  http.set_keep_alive_max_count(options.keep_alive_max_count);

  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"status", "ok"}});
  });
  http.Get("/v1/models",
           [this](const httplib::Request& req, httplib::Response& res) { list_models(req, res); });
  generation_route(CompletionKind::Chat);
  generation_route(CompletionKind::Text);

  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, error_for_status(req, res.status));
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, internal_error("internal error: " + what));
      });
}

void Server::Impl::list_models(const httplib::Request& req, httplib::Response& res) {
  const int64_t started_at_us = unix_time_us();
  std::optional<std::string> authorization;
  if (req.has_header("Authorization")) authorization = req.get_header_value("Authorization");
  auto key = authenticate(store, authorization);
  if (!key.ok()) return send_error(res, key.error());
  UsageEntry entry(store, key->id, "/v1/models", started_at_us);
  if (auto written = entry.finish(200, "ok"); !written.ok())
    return send_error(
        res, internal_error("the usage ledger cannot be written: " + written.error().message));
  send_json(res, model_list(registry.names(), started_s));
}

Server::Server(deploy::Registry& registry, platform::Store& store, ServerOptions options)
    : impl_(std::make_unique<Impl>(registry, store, options)) {
  impl_->install_routes();
}

Server::~Server() { stop(); }

Result<int> Server::bind(const std::string& host, int port) {
  const std::string address = host + ":" + std::to_string(port);
  if (impl_->bound) return make_error(address + ": this server is already bound");
  if (port < 0 || port > 65535) return make_error(address + ": port must be in 0..65535");
  const int bound = port == 0 ? impl_->http.bind_to_any_port(host)
                              : (impl_->http.bind_to_port(host, port) ? port : -1);
  if (bound < 0) return make_error(address + ": cannot listen: " + bind_failure_reason(host, port));
  impl_->bound = true;
  return bound;
}

void Server::run() {
  impl_->run_entered = true;
  if (impl_->bound && !impl_->stop_requested) impl_->http.listen_after_bind();
  impl_->run_returned = true;
}

void Server::stop() {
  impl_->stop_requested = true;
  // run() either sees stop_requested and returns at once, or has entered and is about to
  // listen: wait until httplib runs, as httplib's stop() does nothing before that.
  if (impl_->run_entered)
    while (!impl_->run_returned && !impl_->http.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->http.stop();
}

}  // namespace gengyun::api
