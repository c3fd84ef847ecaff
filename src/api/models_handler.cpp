#include "api/models_handler.h"

#include "api/auth.h"
#include "api/http_reply.h"
#include "api/usage_entry.h"
#include "util/clock.h"

namespace gengyun::api {

using nlohmann::json;

json model_object(const deploy::ModelInfo& info, const std::optional<platform::Price>& price,
                  int64_t created) {
  json out = {{"id", info.id},
              {"object", "model"},
              {"created", created},
              {"owned_by", "gengyun"},
              {"state", deploy::model_state_name(info.state)},
              {"context_length", info.file.context_length},
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
  if (info.state == deploy::ModelState::Error) out["error"] = info.file.error;
  return out;
}

ApiError acquire_error(const deploy::Acquired& acquired, const std::string& name) {
  switch (acquired.status) {
    case deploy::AcquireStatus::UnknownModel:
      return model_not_found(name);
    case deploy::AcquireStatus::OutOfMemory:
      return {503, acquired.message, "server_error", "", "insufficient_memory", 1};
    default:
      return internal_error(acquired.message);
  }
}

void handle_models(deploy::Registry& registry, platform::Store& store, const HttpRequest& request,
                   const std::string& id, int64_t created, Responder& out) {
  const int64_t started_at_us = unix_time_us();
  auto key = authenticate(store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(out, key.error());
    return;
  }
  UsageEntry entry(store, key->id, "/v1/models", started_at_us);
  std::vector<deploy::ModelInfo> models;
  if (id.empty()) {
    models = registry.list();
  } else if (std::optional<deploy::ModelInfo> info = registry.find(id)) {
    models.push_back(std::move(*info));
  } else {
    const ApiError error = model_not_found(id);
    if (auto written = entry.finish(error.http_status, "error", error.message); !written.ok())
      return (void)send_error(
          out, internal_error("the usage ledger cannot be written: " + written.error().message));
    send_error(out, error);
    return;
  }
  json data = json::array();
  for (const deploy::ModelInfo& info : models) {
    auto price = store.price(info.id);
    if (!price.ok()) {
      send_error(out, internal_error("the prices cannot be read: " + price.error().message));
      return;
    }
    data.push_back(model_object(info, price.value(), created));
  }
  if (auto written = entry.finish(200, "ok"); !written.ok()) {
    send_error(out,
               internal_error("the usage ledger cannot be written: " + written.error().message));
    return;
  }
  send_json(out,
            id.empty() ? json{{"object", "list"}, {"data", std::move(data)}} : std::move(data[0]));
}

}  // namespace gengyun::api
