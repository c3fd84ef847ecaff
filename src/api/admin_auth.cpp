#include "api/admin_auth.h"

#include <algorithm>

#include "api/auth.h"

namespace gengyun::api {

bool AdminCaller::may_manage(int64_t tenant_id) const {
  return key.role == platform::Role::Admin ||
         (key.role == platform::Role::Owner && key.tenant_id == tenant_id);
}

bool AdminCaller::may_manage(const platform::KeyInfo& target) const {
  return key.role == platform::Role::Admin ||
         (may_manage(target.tenant_id) && target.role != platform::Role::Admin);
}

namespace {

/// `names` joined by ", ".
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

/// What of the model list `models` (empty: every model) the list `own` does not allow: "" when
/// `own` is empty (every model) or holds every name of `models`; "every model" when `models` is
/// empty and `own` is not; else the names outside `own`, once each, joined by ", ".
std::string beyond(const std::vector<std::string>& own, const std::vector<std::string>& models) {
  if (own.empty()) return "";
  if (models.empty()) return "every model";
  std::vector<std::string> outside;
  for (const std::string& model : models)
    if (std::find(own.begin(), own.end(), model) == own.end() &&
        std::find(outside.begin(), outside.end(), model) == outside.end())
      outside.push_back(model);
  return joined(outside);
}

}  // namespace

std::optional<ApiError> AdminCaller::refuse_models(const std::vector<std::string>& models) const {
  if (key.role == platform::Role::Admin) return std::nullopt;
  const std::string wider = beyond(key.models, models);
  if (wider.empty()) return std::nullopt;
  ApiError error = permission_denied(
      models.empty()
          ? "models is required: this key may use only " + joined(key.models) +
                ", and the keys an owner makes may use no model its own key may not (a key "
                "without models may use every model)"
          : "models lists " + wider +
                ", which this key may not use: the keys an owner makes may use only models its "
                "own key may use (" +
                joined(key.models) + ")");
  error.param = "models";
  return error;
}

std::optional<ApiError> AdminCaller::refuse_change(const platform::KeyInfo& target) const {
  if (key.role == platform::Role::Admin) return std::nullopt;
  if (target.id == key.id)
    return permission_denied(
        "an owner cannot change its own key's limits or models; an admin key can");
  if (target.role != platform::Role::Member)
    return permission_denied("the API key " + std::to_string(target.id) +
                             " is an owner's: an owner changes the limits of member keys only "
                             "(else a second owner key would lift the first's); an admin key "
                             "can change it");
  const std::string wider = beyond(key.models, target.models);
  if (wider.empty()) return std::nullopt;
  return permission_denied("the API key " + std::to_string(target.id) + " may use " + wider +
                           ", which this key may not: an owner changes only keys that may use "
                           "no model its own key may not (" +
                           joined(key.models) + "); an admin key can change it");
}

std::optional<ApiError> AdminCaller::refuse_expiry(std::optional<int64_t> expires_at_us) const {
  if (key.role == platform::Role::Admin || !key.expires_at_us) return std::nullopt;
  if (expires_at_us && *expires_at_us <= *key.expires_at_us) return std::nullopt;
  ApiError error = permission_denied(
      "this key expires at " + std::to_string(*key.expires_at_us / 1'000'000) +
      " (Unix seconds), and the keys an owner makes expire no later than its own: give "
      "expires_in_days up to the days it has left, or leave it out for a key that expires with "
      "this one");
  error.param = "expires_in_days";
  return error;
}

std::optional<int64_t> AdminCaller::tenant_scope() const {
  if (key.role == platform::Role::Admin) return std::nullopt;
  return key.tenant_id;
}

platform::Actor AdminCaller::actor() const { return {key.id, "key:" + key.name}; }

ApiResult<AdminCaller> authorize_admin(platform::Store& store,
                                       const std::optional<std::string>& authorization,
                                       AdminNeed need) {
  auto key = authenticate(store, authorization);
  if (!key.ok()) return key.error();
  switch (key->role) {
    case platform::Role::Admin:
      return AdminCaller{std::move(key).value()};
    case platform::Role::Owner:
      if (need == AdminNeed::Tenant) return AdminCaller{std::move(key).value()};
      return permission_denied(
          "This API key has the role owner: it manages its own tenant's keys, not the whole "
          "deployment (an admin key is needed).");
    case platform::Role::Member:
      break;
  }
  return permission_denied(
      std::string("This API key has the role member: it may call the models and read its own "
                  "usage, not use the admin API (") +
      (need == AdminNeed::Tenant ? "an owner or admin key" : "an admin key") + " is needed).");
}

}  // namespace gengyun::api
