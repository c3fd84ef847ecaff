// The model registry's admin endpoints (admin keys only): GET /admin/models, POST
// /admin/models/rescan, POST /admin/models/{id}/load|unload|pin|unpin.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "api/responder.h"
#include "deploy/registry.h"
#include "platform/store.h"

namespace gengyun::api {

/// A duration in microseconds as JSON seconds ("keep_alive_s", "unloads_in_s"): us / 10^6,
/// correctly rounded, so that 7000 us is 0.007 (not 0.007000000000000001 as us * 1e-6 gives);
/// -1 for deploy::kKeepForever.
nlohmann::json seconds_of(int64_t us);

/// The methods handle_admin_models serves on `path` ("GET" for /admin/models, "POST" for the
/// rescan and the actions on a model); "" for other paths.
std::string admin_models_methods(const std::string& path);

/// Serves an admin model endpoint. Checks the caller with authorize_admin (admin_auth.h:
/// AdminNeed::Deployment, so 401, 403 "permission_denied"); writes no usage-ledger row.
/// Answers:
/// - GET /admin/models: {"object": "list", "max_memory_bytes" (0: no budget),
///   "used_memory_bytes", "data": [model_object fields (but "error" with the file's path) plus
///   "path", "source", "pinned", "running", "waiting_for_load", "loading_for_ms",
///   "cold_start_ms", "last_load_error", "memory_bytes" (0 in state "error"), "keep_alive_s"
///   (-1: never), "unloads_in_s" (-1: never, null: not idle
///   and loaded), "defaults"]};
/// - POST /admin/models/rescan: {"added", "removed"} after looking at the folder now;
/// - POST /admin/models/{id}/load (body: nothing, {} or {"keep_alive"}): loads it (acquire
///   errors as models_handler.h's acquire_error) and answers its admin object;
/// - unload (409 "model_busy" when pinned, running requests or not loaded), pin, unpin: the
///   model's admin object afterwards. 404 "model_not_found" for an unknown id; 400 for a
///   body with other fields. Blocks (loading a model): run it on a handler thread.
void handle_admin_models(deploy::Registry& registry, platform::Store& store,
                         const HttpRequest& request, Responder& out);

}  // namespace gengyun::api
