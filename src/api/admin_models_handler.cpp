#include "api/admin_models_handler.h"

#include <nlohmann/json.hpp>

#include "api/admin_auth.h"
#include "api/http_reply.h"
#include "api/models_handler.h"
#include "api/openai_request.h"
#include "api/percent_encoding.h"
#include "api/store_errors.h"
#include "deploy/units.h"

namespace gengyun::api {

nlohmann::json seconds_of(int64_t us) {
  return us == deploy::kKeepForever ? nlohmann::json(-1)
                                    : nlohmann::json(static_cast<double>(us) / 1e6);
}

namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "/admin/models";
constexpr const char* kActions[] = {"load", "unload", "pin", "unpin"};

/// The admin object of the model `info` with its price. Errors: the price cannot be read
/// (store_failed(): 503 when the database cannot be reached).
ApiResult<json> admin_object(const deploy::ModelInfo& info, platform::Store& store) {
  // (QA: a derivative billed at its base's prices showed "pricing": null.)
  auto price = model_price(store, info);
  if (!price.ok()) return store_failed("the prices cannot be read", price.error());
  json out = model_object(info, price.value(), 0);
  out.erase("created");
  out["path"] = info.file.path;
  // Admins see the reason with the file's path (to fix the file); other keys see it without.
  if (info.state == deploy::ModelState::Error) out["error"] = info.file.error;
  out["source"] = info.source;
  out["pinned"] = info.pinned;
  out["running"] = info.running;
  out["waiting_for_load"] = info.waiting_for_load;
  out["loading_for_ms"] = info.loading_for_us / 1000;
  out["loading_bytes_read"] = info.loading_bytes_read;
  out["cold_start_ms"] = info.cold_start_us / 1000;
  out["last_load_error"] = info.last_load_error;
  out["memory_bytes"] = info.memory_bytes;
  out["keep_alive_s"] = seconds_of(info.keep_alive_us);
  out["unloads_in_s"] =
      info.state == deploy::ModelState::Loaded && info.running == 0 && !info.pinned
          ? seconds_of(info.unloads_in_us)
          : json(nullptr);
  out["defaults"] = info.defaults;
  return out;
}

/// The model `id`'s admin object, or 404.
void send_model(deploy::Registry& registry, platform::Store& store, const std::string& id,
                Responder& out) {
  std::optional<deploy::ModelInfo> info = registry.find(id);
  if (!info) return (void)send_error(out, model_not_found(id));
  auto object = admin_object(*info, store);
  if (!object.ok()) return (void)send_error(out, object.error());
  send_json(out, *object);
}

/// Splits "/admin/models/{id}/{action}" into id and action; false for other paths.
bool split_action(const std::string& path, std::string& id, std::string& action) {
  if (!path.starts_with(std::string(kPrefix) + "/")) return false;
  const size_t slash = path.rfind('/');
  if (slash <= kPrefix.size() + 1) return false;
  id = path.substr(kPrefix.size() + 1, slash - kPrefix.size() - 1);
  action = path.substr(slash + 1);
  for (const char* known : kActions)
    if (action == known) return true;
  return false;
}

}  // namespace

std::string admin_models_methods(const std::string& path) {
  std::string id, action;
  if (path == kPrefix) return "GET";
  if (path == std::string(kPrefix) + "/rescan" || split_action(path, id, action)) return "POST";
  return "";
}

void handle_admin_models(deploy::Registry& registry, platform::Store& store,
                         const HttpRequest& request, Responder& out) {
  auto caller = authorize_admin(store, request.header("Authorization"), AdminNeed::Deployment);
  if (!caller.ok()) return (void)send_error(out, caller.error());

  if (request.method == "GET") {
    const deploy::MemoryUse memory = registry.memory();
    json data = json::array();
    for (const deploy::ModelInfo& info : registry.list()) {
      auto object = admin_object(info, store);
      if (!object.ok()) return (void)send_error(out, object.error());
      data.push_back(std::move(*object));
    }
    send_json(out, {{"object", "list"},
                    {"max_memory_bytes", memory.budget_bytes},
                    {"used_memory_bytes", memory.used_bytes},
                    {"data", std::move(data)}});
    return;
  }
  if (request.path == std::string(kPrefix) + "/rescan") {
    const auto [added, removed] = registry.rescan();
    send_json(out, {{"added", added}, {"removed", removed}});
    return;
  }
  std::string encoded, action;
  split_action(request.path, encoded, action);
  // The id as /v1/models/{id} reads it: percent-decoded.
  const std::optional<std::string> decoded = percent_decoded(encoded, /*plus_is_space=*/false);
  if (!decoded)
    return (void)send_error(
        out, invalid_request("the model id in the path is not valid percent-encoding"));
  const std::string& id = *decoded;
  if (!registry.find(id)) return (void)send_error(out, model_not_found(id));

  std::optional<int64_t> keep_alive_us;
  if (!request.body.empty()) {
    auto body = parse_json_object(request.body);
    if (!body.ok()) return (void)send_error(out, body.error());
    for (const auto& [field, value] : body->items())
      if (!(action == "load" && field == "keep_alive"))
        return (void)send_error(out, invalid_request("unknown field '" + field + "' for " + action +
                                                         " (load takes keep_alive)",
                                                     field));
    auto keep_alive = read_keep_alive(body.value());
    if (!keep_alive.ok()) return (void)send_error(out, keep_alive.error());
    keep_alive_us = keep_alive.value();
  }
  if (action == "load") {
    deploy::Acquired acquired = acquire_for(out, registry, id, keep_alive_us);
    if (!acquired.lease) return (void)send_error(out, acquire_error(acquired, id));
    acquired.lease.reset();
  } else if (action == "unload") {
    if (Result<void> done = registry.unload(id); !done.ok())
      return (void)send_error(out, conflict(done.error().message, "", "model_busy"));
  } else if (Result<void> done = registry.set_pinned(id, action == "pin"); !done.ok()) {
    if (!registry.find(id)) return (void)send_error(out, model_not_found(id));
    return (void)send_error(out, conflict(done.error().message, "", "model_busy"));
  }
  send_model(registry, store, id, out);
}

}  // namespace gengyun::api
