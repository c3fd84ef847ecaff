#include "api/admin_auth.h"

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
