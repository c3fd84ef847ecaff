#include "api/server.h"

#include <algorithm>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/admin_handler.h"
#include "api/admin_models_handler.h"
#include "api/embeddings_handler.h"
#include "api/generation_handler.h"
#include "api/handler_pool.h"
#include "api/http_reply.h"
#include "api/models_handler.h"
#include "api/observed_responder.h"
#include "api/openai_response.h"
#include "api/percent_encoding.h"
#include "api/usage_handler.h"
#include "util/clock.h"

namespace gengyun::api {

namespace {

/// A ledger writer without a spool (LedgerWriter::start cannot fail without one).
std::unique_ptr<platform::LedgerWriter> start_private_ledger(platform::Store& store) {
  return std::move(platform::LedgerWriter::start(store, {}).value());
}

}  // namespace

struct Server::Impl {
  Impl(deploy::Registry& registry, platform::Store& store, ServerOptions options)
      : registry(registry),
        store(store),
        options(options),
        own_ledger(options.ledger ? nullptr : start_private_ledger(store)),
        ledger(options.ledger ? *options.ledger : *own_ledger),
        started_s(unix_time_us() / 1000000),
        pool(options.handler_threads, options.max_queued_requests),
        http(options.http, [this](HttpRequest request, std::shared_ptr<Responder> out) {
          route(std::move(request), std::move(out));
        }) {}

  /// On an I/O thread: answers what needs no blocking, hands the rest to the pool.
  void route(HttpRequest request, std::shared_ptr<Responder> out);
  /// On a handler thread: runs `work`, answering 500 when it throws.
  void run_handler(const std::function<void()>& work, Responder& out);

  deploy::Registry& registry;
  platform::Store& store;
  const ServerOptions options;
  /// The ledger writer when options.ledger is not given; before pool: destroyed after it, so
  /// that the requests' last writes land.
  std::unique_ptr<platform::LedgerWriter> own_ledger;
  platform::LedgerWriter& ledger;
  const int64_t started_s;
  HandlerPool pool;
  InFlight in_flight;
  HttpServer http;  // after pool: destroyed first, so no request reaches a destroyed pool
};

namespace {

constexpr std::string_view kModelsPath = "/v1/models";

/// The id of GET /v1/models/{id} ("" for other paths).
std::string model_id_of(std::string_view path) {
  if (path.size() <= kModelsPath.size() + 1 || !path.starts_with(kModelsPath) ||
      path[kModelsPath.size()] != '/')
    return "";
  return std::string(path.substr(kModelsPath.size() + 1));
}

/// The methods allowed on `path` ("GET", "GET, POST"); "" for a path the server does not offer.
std::string allowed_methods(const std::string& path) {
  if (path == "/health" || path == kModelsPath || path == "/v1/usage") return "GET";
  if (!model_id_of(path).empty()) return "GET";
  for (CompletionKind kind : {CompletionKind::Chat, CompletionKind::Text})
    if (path == endpoint_path(kind)) return "POST";
  if (path == kEmbeddingsPath) return "POST";
  if (std::string methods = admin_models_methods(path); !methods.empty()) return methods;
  return admin_methods(path);
}

/// `allowed` with HEAD after GET where it has GET ("GET" -> "GET, HEAD"): a GET path answers
/// HEAD with the GET answer's head (RFC 9110, 9.3.2).
std::string with_head(const std::string& allowed) {
  if (allowed != "GET" && !allowed.starts_with("GET, ")) return allowed;
  return "GET, HEAD" + allowed.substr(3);
}

/// True when `method` is one of `allowed` ("GET, POST").
bool allows(std::string_view allowed, std::string_view method) {
  while (!allowed.empty()) {
    const size_t comma = allowed.find(", ");
    if (allowed.substr(0, comma) == method) return true;
    allowed = comma == std::string_view::npos ? "" : allowed.substr(comma + 2);
  }
  return false;
}

/// The Access-Control-Allow-Origin of an answer to a request from `origin` (its Origin header)
/// when `allowed` lists the origins allowed (ServerOptions::cors_origins): `*` when listed, else
/// `origin` when listed, else the first one; "" when `allowed` is empty (no CORS).
std::string allow_origin(const std::vector<std::string>& allowed,
                         const std::optional<std::string>& origin) {
  if (allowed.empty()) return "";
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return "*";
  if (origin && std::find(allowed.begin(), allowed.end(), *origin) != allowed.end()) return *origin;
  return allowed.front();
}

}  // namespace

void Server::Impl::route(HttpRequest request, std::shared_ptr<Responder> out) {
  const std::string path = request.path;
  const std::string method = request.method;
  out = std::make_shared<ObservedResponder>(
      std::move(out), method, path, key_prefix(request.header("Authorization")),
      allow_origin(options.cors_origins, request.header("Origin")));
  const std::string allowed = with_head(allowed_methods(path));
  if (allowed.empty()) {
    send_error(*out, unknown_endpoint(method, path));
    return;
  }
  if (method == "OPTIONS" && !options.cors_origins.empty()) {
    // A CORS preflight: the methods the path has, the header fields the browser asks for.
    const std::string asked = request.header("Access-Control-Request-Headers")
                                  .value_or("Authorization, Content-Type");
    out->respond({204,
                  "",
                  "",
                  {{"Access-Control-Allow-Methods", allowed + ", OPTIONS"},
                   {"Access-Control-Allow-Headers", asked},
                   {"Access-Control-Max-Age", "600"}}});
    return;
  }
  if (!allows(allowed, method)) {
    send_error(*out, method_not_allowed(method, path, allowed));
    return;
  }
  // HEAD runs as GET; the connection sends the answer's head alone.
  if (method == "HEAD") request.method = "GET";
  if (path == "/health") {
    send_json(*out, {{"status", "ok"}});
    return;
  }
  // Authorization is not a list field (RFC 9110, 11.6.2): two of them are refused rather than
  // one of them taken.
  if (request.header_count("Authorization") > 1) {
    send_error(*out, invalid_request("the Authorization header is given more than once"));
    return;
  }
  std::function<void(const HttpRequest&, const std::shared_ptr<Responder>&)> handler;
  if (path == kModelsPath || !model_id_of(path).empty()) {
    // The id as the client's percent-encoding gives it (the SDKs encode it).
    const auto id = percent_decoded(model_id_of(path), /*plus_is_space=*/false);
    if (!id) {
      send_error(*out, invalid_request("the model id in the path is not valid percent-encoding"));
      return;
    }
    handler = [this, id = *id](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      handle_models(registry, store, r, id, started_s, *o);
    };
  } else if (!admin_models_methods(path).empty()) {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      handle_admin_models(registry, store, r, *o);
    };
  } else if (path == "/v1/usage") {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      handle_usage(store, r, *o);
    };
  } else if (path == kEmbeddingsPath) {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      handle_embeddings({registry, store, ledger, pool, in_flight}, r, o);
    };
  } else if (path.rfind("/admin/", 0) == 0) {
    handler = [this](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
      handle_admin(registry, store, r, *o);
    };
  } else {
    for (CompletionKind kind : {CompletionKind::Chat, CompletionKind::Text})
      if (path == endpoint_path(kind))
        handler = [this, kind](const HttpRequest& r, const std::shared_ptr<Responder>& o) {
          handle_generation(kind, {registry, store, ledger, pool, in_flight}, r, o);
        };
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

Server::Server(deploy::Registry& registry, platform::Store& store, ServerOptions options)
    : impl_(std::make_unique<Impl>(registry, store, std::move(options))) {}

Server::~Server() { stop(); }

Result<int> Server::bind(const std::string& host, int port) { return impl_->http.bind(host, port); }

Result<int> Server::bind(Listener listener) { return impl_->http.bind(std::move(listener)); }

void Server::run() {
  impl_->http.run();
  impl_->pool.wait_idle();
}

void Server::stop() { impl_->http.stop(); }

void Server::end_in_flight() {
  impl_->registry.end_waits();
  impl_->in_flight.end_all();
}

size_t Server::open_connections() const { return impl_->http.open_connections(); }

}  // namespace gengyun::api
