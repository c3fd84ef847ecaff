#include "api/models_handler.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "api/auth.h"
#include "api/http_reply.h"
#include "api/store_errors.h"

namespace gengyun::api {

using nlohmann::json;

json model_object(const deploy::ModelInfo& info, const std::optional<platform::Price>& price,
                  int64_t created) {
  json out = {{"id", info.id},
              {"object", "model"},
              {"created", created},
              {"owned_by", "gengyun"},
              {"state", deploy::model_state_name(info.state)},
              {"context_length", info.context_length},
              {"architecture", info.file.architecture},
              {"quantization", info.file.quantization},
              {"size_bytes", info.file.size_bytes},
              {"aliases", info.aliases},
              {"pricing", nullptr}};
  if (price)
    out["pricing"] = {{"unit", "micro_usd_per_million_tokens"},
                      {"input", price->input},
                      {"cached_input", price->cached_input},
                      {"output", price->output}};
  if (!info.parent.empty()) out["parent"] = info.parent;
  if (info.state == deploy::ModelState::Error) out["error"] = info.public_error;
  return out;
}

Result<std::optional<platform::Price>> model_price(platform::Store& store,
                                                   const deploy::ModelInfo& info) {
  auto price = store.price(info.id);
  if (price.ok() && !price.value() && !info.parent.empty()) return store.price(info.parent);
  return price;
}

ApiError acquire_error(const deploy::Acquired& acquired, const std::string& name) {
  switch (acquired.status) {
    case deploy::AcquireStatus::UnknownModel:
      return model_not_found(name);
    case deploy::AcquireStatus::OutOfMemory:
      return {503, acquired.message, "server_error", "", "insufficient_memory", 1};
    case deploy::AcquireStatus::Stopping:
      return {503,
              "The server is shutting down: this request was waiting for memory and did not "
              "start.",
              "server_error", "", "server_shutting_down"};
    case deploy::AcquireStatus::Abandoned:
      return {kClientClosedRequest, acquired.message, "invalid_request_error", "",
              "client_closed_request"};
    case deploy::AcquireStatus::Unservable:
    case deploy::AcquireStatus::LoadFailed:
      // The file, not the server, is at fault: not a 500 (the server works), and no retry
      // hint (the same file fails the same way until it is replaced).
      return {503, acquired.message, "server_error", "", "model_unavailable", 0};
    case deploy::AcquireStatus::FileChanging:
      // The file is being written or replaced: it may load once that is done.
      return {503, acquired.message, "server_error", "", "model_unavailable", 1};
    default:
      return internal_error(acquired.message);
  }
}

deploy::Acquired acquire_for(Responder& out, deploy::Registry& registry, const std::string& name,
                             std::optional<int64_t> keep_alive_us) {
  auto left = std::make_shared<std::atomic<bool>>(false);
  // Called on an I/O thread, at most once and never after the answer is complete: the
  // registry is there until then (the server's handlers end before it goes).
  out.on_client_gone([left, &registry] {
    left->store(true);
    registry.wake_waiters();
  });
  return registry.acquire(name, keep_alive_us, left.get());
}

namespace {

/// True when `key` may use `info`'s model: a key without a model list may use every model, else
/// the list names its id or one of its aliases.
bool key_may_use(const platform::KeyInfo& key, const deploy::ModelInfo& info) {
  if (key.models.empty()) return true;
  const auto allowed = [&key](const std::string& name) {
    return std::find(key.models.begin(), key.models.end(), name) != key.models.end();
  };
  return allowed(info.id) || std::any_of(info.aliases.begin(), info.aliases.end(), allowed);
}

}  // namespace

std::optional<ApiError> refuse_model(const platform::KeyInfo& key,
                                     const std::optional<deploy::ModelInfo>& info,
                                     const std::string& name) {
  if (info && key_may_use(key, *info)) return std::nullopt;
  return model_not_found(name);
}

void handle_models(deploy::Registry& registry, platform::Store& store, const HttpRequest& request,
                   const std::string& id, int64_t created, Responder& out) {
  auto key = authenticate(store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(out, key.error());
    return;
  }
  std::vector<deploy::ModelInfo> models;
  if (id.empty()) {
    for (deploy::ModelInfo& info : registry.list())
      if (key_may_use(key.value(), info)) models.push_back(std::move(info));
  } else if (std::optional<deploy::ModelInfo> info = registry.find(id);
             info && key_may_use(key.value(), *info)) {
    models.push_back(std::move(*info));
  } else {
    send_error(out, model_not_found(id));
    return;
  }
  json data = json::array();
  for (const deploy::ModelInfo& info : models) {
    auto price = model_price(store, info);
    if (!price.ok()) {
      send_error(out, store_failed("the prices cannot be read", price.error()));
      return;
    }
    json object = model_object(info, price.value(), created);
    // A key that may use a derivative but not its base learns nothing of the base (QA: it was
    // named as "parent").
    if (!info.parent.empty()) {
      const std::optional<deploy::ModelInfo> base = registry.find(info.parent);
      if (!base || !key_may_use(key.value(), *base)) object.erase("parent");
    }
    data.push_back(std::move(object));
  }
  send_json(out,
            id.empty() ? json{{"object", "list"}, {"data", std::move(data)}} : std::move(data[0]));
}

}  // namespace gengyun::api
