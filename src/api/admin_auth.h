// Who may use the admin API (/admin/...): the role and tenant scope of the calling key. Every
// admin endpoint starts with authorize_admin(); an endpoint acting on one tenant then asks
// AdminCaller::may_manage() before reading or changing anything of it, and refuse_models() /
// refuse_change() before it gives a key models or changes a key's limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/errors.h"
#include "platform/store.h"

namespace gengyun::api {

/// What an admin endpoint needs of its caller.
enum class AdminNeed {
  Deployment,  ///< the whole deployment (tenants, prices, models, the audit log): admin only
  Tenant,      ///< one tenant's keys and their limits: admin, or an owner of that tenant
};

/// An authenticated caller of the admin API.
struct AdminCaller {
  platform::KeyInfo key;

  /// True when the caller may act on tenant `tenant_id`: an admin on any, an owner on its own.
  bool may_manage(int64_t tenant_id) const;
  /// True when the caller may see and change `target`: an admin any key, an owner the keys of
  /// its tenant that are not admin keys (an admin key is the deployment's).
  bool may_manage(const platform::KeyInfo& target) const;
  /// Nothing when the caller may give a new key the model list `models` (empty: every model):
  /// an admin, and an owner whose own key has no list, any; an owner whose key has a list, only
  /// a non-empty list of names in it (an owner's keys are no wider than its own). Otherwise 403
  /// "permission_denied" on param "models" naming the models its own key may not use.
  std::optional<ApiError> refuse_models(const std::vector<std::string>& models) const;
  /// Nothing when the caller may change the limits of `target`, a key may_manage() allows: an
  /// admin any key, its own too; an owner member keys only (not its own, not another owner's:
  /// an admin sets those keys' limits) and no key that may use a model its own key may not (as
  /// refuse_models()). Otherwise 403 "permission_denied" saying which and that an admin key can.
  std::optional<ApiError> refuse_change(const platform::KeyInfo& target) const;
  /// Nothing when the caller may give a new key the expiry `expires_at_us` (microseconds since
  /// the Unix epoch; nullopt: never): an admin, and an owner whose own key never expires, any;
  /// an owner whose key expires, one no later than its own. Otherwise 403 "permission_denied"
  /// on param "expires_in_days".
  std::optional<ApiError> refuse_expiry(std::optional<int64_t> expires_at_us) const;
  /// The tenant the caller is confined to; nullopt for an admin (every tenant).
  std::optional<int64_t> tenant_scope() const;
  /// The audit log's actor: the key's id and "key:<name>".
  platform::Actor actor() const;
};

/// Authenticates `authorization` (the Authorization header's value; 401 as authenticate() in
/// auth.h) and checks the key's role against `need`. Errors: 403 "permission_denied" for a
/// member, and for an owner when `need` is Deployment; 500 when the store cannot be read.
ApiResult<AdminCaller> authorize_admin(platform::Store& store,
                                       const std::optional<std::string>& authorization,
                                       AdminNeed need);

}  // namespace gengyun::api
