// GET /v1/models and GET /v1/models/{id}: the registry's models with their metadata, state and
// prices; and the answers for a model that cannot be had (shared with the generation and admin
// endpoints).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/errors.h"
#include "api/responder.h"
#include "deploy/registry.h"
#include "platform/store.h"

namespace gengyun::api {

/// One model as GET /v1/models lists it: OpenAI's {"id", "object": "model", "created",
/// "owned_by": "gengyun"} plus "state" ("available", "loading", "loaded", "error"),
/// "context_length", "architecture", "quantization", "size_bytes", "aliases", "pricing"
/// ({"unit": "micro_usd_per_million_tokens", "input", "cached_input", "output"} or null when
/// the store has none; a LoRA derivative without its own shows its base's, which it is billed
/// at), for a LoRA derivative "parent" (its base's id) and, in state "error",
/// "error" with the reason (ModelInfo::public_error: without the server's file paths).
nlohmann::json model_object(const deploy::ModelInfo& info,
                            const std::optional<platform::Price>& price, int64_t created);

/// The prices `info`'s requests are billed at: its own, else (a LoRA derivative) its base's;
/// nullopt when the store has neither. Errors: the store's.
Result<std::optional<platform::Price>> model_price(platform::Store& store,
                                                   const deploy::ModelInfo& info);

/// The answer when Registry::acquire gave no lease: 404 "model_not_found" (UnknownModel),
/// 503 "model_unavailable" with the reason and no Retry-After (Unservable, LoadFailed; the
/// registry's message holds no file path), 503 "model_unavailable" with Retry-After: 1
/// (FileChanging: its file changed during each load), 503 "insufficient_memory" with Retry-After
/// (OutOfMemory: the message says what holds the memory), 503 "server_shutting_down"
/// (Stopping), kClientClosedRequest (Abandoned: nobody reads it; the ledger's row).
ApiError acquire_error(const deploy::Acquired& acquired, const std::string& name);

/// registry.acquire(name, keep_alive_us) for a request answered on `out`: when its client
/// leaves while it waits for memory, the wait ends (AcquireStatus::Abandoned) instead of
/// loading a model for an answer nobody reads (QA 2026-12-07).
deploy::Acquired acquire_for(Responder& out, deploy::Registry& registry, const std::string& name,
                             std::optional<int64_t> keep_alive_us);

/// Checks, before anything loads, that `key` may use the model `name` (an id or an alias)
/// names, given `info`, what Registry::find(name) gave: nullopt when it may; 404
/// "model_not_found" when there is no such model, and the same when the key has a model list
/// that names neither the model's id nor one of its aliases (the rule of GET /v1/models, so a
/// key may use exactly what it is shown, and learns nothing of the models it is not shown:
/// OpenAI's answer too; QA 2026-12-07 told served models from unknown ones by a 403).
std::optional<ApiError> refuse_model(const platform::KeyInfo& key,
                                     const std::optional<deploy::ModelInfo>& info,
                                     const std::string& name);

/// Serves GET /v1/models (`id` empty) or GET /v1/models/{id} (an id or alias): authenticates
/// (401) and answers the list {"object": "list", "data": [...]} of the models the key may use
/// (a key with a model list: those whose id or an alias is in it) or the one model object (404
/// "model_not_found" when unknown or not the key's to use; a derivative's "parent" only when
/// the key may use the base too). Writes no usage-ledger row. `created`: the server's start (Unix
/// seconds). 500 when the store fails. Blocks (the store): run it on a handler thread.
void handle_models(deploy::Registry& registry, platform::Store& store, const HttpRequest& request,
                   const std::string& id, int64_t created, Responder& out);

}  // namespace gengyun::api
