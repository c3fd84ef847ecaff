#include "api/server.h"

#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "api/auth.h"
#include "api/generation_handler.h"
#include "api/handler_pool.h"
#include "api/http_reply.h"
#include "api/observed_responder.h"
#include "api/openai_response.h"
#include "api/percent_encoding.h"
#include "api/usage_entry.h"
#include "api/usage_handler.h"
#include "util/clock.h"

namespace gengyun::api {

namespace {

/// The path of GET /v1/models/{id} up to the id.
constexpr std::string_view kModelsPrefix = "/v1/models/";

}  // namespace

struct Server::Impl {
  Impl(deploy::Registry& registry, platform::Store& store, ServerOptions options)
      : registry(registry),
        store(store),
        options(options),
        started_s(unix_time_us() / 1000000),
        pool(options.handler_threads, options.max_queued_requests),
        http(options.http, [this](HttpRequest request, std::shared_ptr<Responder> out) {
          route(std::move(request), std::move(out));
        }) {}

  /// On an I/O thread: answers what needs no blocking, hands the rest to the pool.
  void route(HttpRequest request, std::shared_ptr<Responder> out);
  /// On a handler thread: runs `work`, answering 500 when it throws.
  void run_handler(const std::function<void()>& work, Responder& out);
  void list_models(const HttpRequest& request, Responder& out);
  /// GET /v1/models/{id}: the model object, 404 model_not_found for one not served here.
  void retrieve_model(const HttpRequest& request, Responder& out);

  deploy::Registry& registry;
  platform::Store& store;
  const ServerOptions options;
  const int64_t started_s;
  HandlerPool pool;
  InFlight in_flight;
  HttpServer http;  // after pool: destroyed first, so no request reaches a destroyed pool
};

void Server::Impl::route(HttpRequest request, std::shared_ptr<Responder> out) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  out = std::make_shared<ObservedResponder>(std::move(out), method, path,
                                            key_prefix(request.header("Authorization")),
                                            options.cors_origin);
  if (method == "OPTIONS" && !options.cors_origin.empty()) {
    // A CORS preflight: the methods this API has, the header fields the browser asks for.
    const std::string asked = request.header("Access-Control-Request-Headers")
                                  .value_or("Authorization, Content-Type");
    out->respond({204,
                  "",
                  "",
                  {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                   {"Access-Control-Allow-Headers", asked},
                   {"Access-Control-Max-Age", "600"}}});
    return;
  }
  if (method == "GET" && path == "/health") {
    send_json(*out, {{"status", "ok"}});
    return;
  }
  std::function<void(const HttpRequest&, const std::shared_ptr<Responder>&)> handler;
  if (method == "GET" && path == "/v1/models") {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      list_models(r, *o);
    };
  } else if (method == "GET" && path.starts_with(kModelsPrefix) &&
             path.size() > kModelsPrefix.size()) {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      retrieve_model(r, *o);
    };
  } else if (method == "GET" && path == "/v1/usage") {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      handle_usage(store, r, *o);
    };
  } else {
    for (CompletionKind kind : {CompletionKind::Chat, CompletionKind::Text})
      if (method == "POST" && path == endpoint_path(kind))
        handler = [this, kind](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
          handle_generation(kind, {registry, store, pool, in_flight}, r, o);
        };
  }
  if (!handler) {
    send_error(*out, unknown_endpoint(method, path));
    return;
  }
  auto shared = std::make_shared<HttpRequest>(std::move(request));
  const bool queued = pool.try_post([this, handler, shared, out] {
    run_handler([&] { handler(*shared, out); }, *out);
  });
  if (!queued)
    send_error(*out, server_busy("The server has " + std::to_string(options.max_queued_requests) +
                                 " requests waiting already. Retry after a short wait."));
}

void Server::Impl::run_handler(const std::function<void()>& work, Responder& out) {
  try {
    work();
  } catch (const std::exception& e) {
    send_error(out, internal_error(std::string("internal error: ") + e.what()));
  } catch (...) {
    send_error(out, internal_error("internal error: unknown exception"));
  }
}

void Server::Impl::list_models(const HttpRequest& request, Responder& out) {
  const int64_t started_at_us = unix_time_us();
  auto key = authenticate(store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(out, key.error());
    return;
  }
  UsageEntry entry(store, key->id, "/v1/models", started_at_us);
  if (auto written = entry.finish(200, "ok"); !written.ok()) {
    send_error(out,
               internal_error("the usage ledger cannot be written: " + written.error().message));
    return;
  }
  send_json(out, model_list(registry.names(), started_s));
}

void Server::Impl::retrieve_model(const HttpRequest& request, Responder& out) {
  const int64_t started_at_us = unix_time_us();
  auto key = authenticate(store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(out, key.error());
    return;
  }
  UsageEntry entry(store, key->id, "/v1/models", started_at_us);
  const auto name = percent_decoded(std::string_view(request.path).substr(kModelsPrefix.size()),
                                    /*plus_is_space=*/false);
  const ApiError error = !name ? invalid_request("the model id in the path is not valid "
                                                 "percent-encoding")
                               : model_not_found(*name);
  const bool found = name && registry.contains(*name);
  if (name) entry.set_model(*name);
  if (auto written = found ? entry.finish(200, "ok")
                           : entry.finish(error.http_status, "error", error.message);
      !written.ok()) {
    send_error(out,
               internal_error("the usage ledger cannot be written: " + written.error().message));
    return;
  }
  if (!found) {
    send_error(out, error);
    return;
  }
  send_json(out, model_object(*name, started_s));
}

Server::Server(deploy::Registry& registry, platform::Store& store, ServerOptions options)
    : impl_(std::make_unique<Impl>(registry, store, std::move(options))) {}

Server::~Server() { stop(); }

Result<int> Server::bind(const std::string& host, int port) { return impl_->http.bind(host, port); }

void Server::run() {
  impl_->http.run();
  impl_->pool.wait_idle();
}

void Server::stop() { impl_->http.stop(); }

void Server::end_in_flight() { impl_->in_flight.end_all(); }

size_t Server::open_connections() const { return impl_->http.open_connections(); }

}  // namespace gengyun::api
