// The admin API: tenants, API keys, prices, limits and the audit log over HTTP, scoped by the
// caller's role (admin_auth.h). Bodies and answers are JSON; money is USD as decimal text or a
// JSON number with at most 6 decimals in requests ("budget_usd": "2.5"), decimal text in
// answers.
//
//   GET    /admin/tenants        admin: every tenant; owner: its own
//   POST   /admin/tenants        admin: {"name", "budget_usd", "budget_period", "rpm", "tpm"}
//   GET    /admin/tenants/ID     admin; owner of that tenant
//   PATCH  /admin/tenants/ID     admin: limits (fields as above but name; null clears one)
//   GET    /admin/keys           admin: every key; owner: its tenant's keys but admin keys
//   POST   /admin/keys           admin; owner in its tenant, roles owner and member only:
//                                {"name", "tenant" (name), "role", "models": [..],
//                                "expires_in_days", limits}; 201 with the secret, shown once;
//                                an owner whose key lists models gives only those (403)
//   GET    /admin/keys/ID        as the list
//   PATCH  /admin/keys/ID        as the list: limits; an owner neither its own key nor a key
//                                that may use a model its own key may not (403)
//   DELETE /admin/keys/ID        as the list: revokes the key
//   GET    /admin/prices         admin, owner: the models' prices, by model name
//   POST   /admin/prices         admin: {"model", "input", "output", "cached_input"} (USD per
//                                million tokens; cached_input defaults to input); "model" is a
//                                model's id or a name no served model has, never an alias
//   GET    /admin/audit          admin: the audit log, oldest first
//
// The lists of tenants, keys and the audit log are paged as OpenAI's: `?limit=N` (1..100,
// default 20) objects, in id order, whose id is above `after` (a position: an id the caller
// cannot see, or none has, pages on from where it would be), answered as {"object": "list",
// "data", "first_id", "last_id" (null when data is empty), "has_more"}; ids are integers.
// Prices likewise, in byte order of their model names, after the model name `after` (a
// position too); their first_id and last_id are model names. A bad limit or after (for ids a
// whole number from 0 to 2^63-1), an unknown or repeated parameter is 400 naming it; other
// paths take no query parameters (400). A body that gives a field twice is 400 naming it
// (parse_json_object()).
//
// Every change is one store transaction that also appends its audit entry (actor "key:NAME").
// Errors: 400 for bad input (the field in `param`; nothing is written; also a key's tenant
// that does not exist or is outside the caller's scope), 401, 403
// "permission_denied", 404 "not_found" for a tenant or key that does not exist or is outside
// the caller's scope, 405 for another method on one of these paths, 409 "conflict" for a name
// in use or for revoking the last active, unexpired admin key (platform/store_rules.h's
// keeps_an_admin_key()), 500 when the store fails.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/admin_auth.h"
#include "api/errors.h"
#include "api/responder.h"
#include "deploy/registry.h"
#include "platform/store.h"

namespace gengyun::api {

/// The methods the admin API allows on `path` ("GET, POST"); "" when `path` is not one of its
/// paths (above).
std::string admin_methods(std::string_view path);

/// The longest expiry a key may be given (POST /admin/keys, `gengyun keys create`): 100 years.
inline constexpr int64_t kMaxExpiryDays = 36'500;

/// `expires_in_days` of POST /admin/keys, also `gengyun keys create --expires-in` (the flag's
/// text read as a JSON value): the key's expiry in Unix microseconds, `days` whole days after
/// `now_us`. Errors: 400 naming expires_in_days (`param`) with one message for every bad value
/// (not a whole number, below 1, above kMaxExpiryDays) that names `what` (the field, or the
/// CLI's flag): "expires_in_days must be a whole number of days from 1 to 36500".
ApiResult<int64_t> key_expiry(const nlohmann::json& days, int64_t now_us,
                              std::string_view what = "expires_in_days");

/// PATCH /admin/tenants/ID, also `gengyun tenants update`: applies `body` (JSON text, the
/// fields budget_usd, budget_period, rpm, tpm; a field left out is kept, null clears it) to the
/// limits of tenant `id` and returns the tenant as it now is, with one audit entry by `actor`.
/// `caller`: the key that must be allowed to manage the tenant; null for the deployment's
/// operator (the CLI, which holds the database). Errors: 400 naming the field (body not an
/// object, unknown field, bad value, a budget_period that would leave no budget), 404 for a tenant
/// that does not exist or is outside `caller`'s scope, 500 when the store fails; nothing is written
/// on an error.
ApiResult<platform::TenantInfo> update_tenant_limits(platform::Store& store, int64_t id,
                                                     std::string_view body,
                                                     const platform::Actor& actor,
                                                     const AdminCaller* caller);

/// PATCH /admin/keys/ID, also `gengyun keys update`: as update_tenant_limits() for the API key
/// `id`; also 403 "permission_denied" for a key `caller` may see but not change
/// (AdminCaller::refuse_change(): an owner's own key, a key wider in models than the owner's)
/// and 409 "conflict" for a revoked key.
ApiResult<platform::KeyInfo> update_key_limits(platform::Store& store, int64_t id,
                                               std::string_view body, const platform::Actor& actor,
                                               const AdminCaller* caller);

/// Serves one request to a path admin_methods() knows, with an allowed method. `registry`: the
/// served models, so that POST /admin/prices refuses an alias (400 naming the model it points
/// to: the ledger bills an alias's requests at its model's prices, so a price stored under the
/// alias would never be used). Blocks (the store): run it on a handler thread.
void handle_admin(const deploy::Registry& registry, platform::Store& store,
                  const HttpRequest& request, Responder& out);

}  // namespace gengyun::api
