// authorize_admin(): each role against each need, and the scope and actor it gives.
#include "api/admin_auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace gengyun::api {
namespace {

using platform::Role;

/// The message of `refusal`; "" when there is none.
std::string message(const std::optional<ApiError>& refusal) {
  return refusal ? refusal->message : "";
}

class AdminAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = platform::Store::open(":memory:");
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    auto tenant = store_->create_tenant("acme", {});
    ASSERT_TRUE(tenant.ok()) << tenant.error().message;
    acme_ = tenant->id;
  }

  std::string key(const std::string& name, Role role) {
    auto secret = store_->create_key(platform::NewKey{name, "acme", role});
    EXPECT_TRUE(secret.ok()) << secret.error().message;
    return "Bearer " + secret.value();
  }

  std::unique_ptr<platform::Store> store_;
  int64_t acme_ = 0;
};

TEST_F(AdminAuthTest, AdminMayDoEverything) {
  const std::string admin = key("root", Role::Admin);
  for (AdminNeed need : {AdminNeed::Deployment, AdminNeed::Tenant}) {
    auto caller = authorize_admin(*store_, admin, need);
    ASSERT_TRUE(caller.ok()) << caller.error().message;
    EXPECT_TRUE(caller->may_manage(acme_));
    EXPECT_TRUE(caller->may_manage(1));
    EXPECT_EQ(caller->tenant_scope(), std::nullopt);
    EXPECT_EQ(caller->actor().name, "key:root");
    EXPECT_EQ(caller->actor().key_id, caller->key.id);
  }
}

TEST_F(AdminAuthTest, OwnerManagesOnlyItsTenant) {
  const std::string owner = key("boss", Role::Owner);
  auto deployment = authorize_admin(*store_, owner, AdminNeed::Deployment);
  ASSERT_FALSE(deployment.ok());
  EXPECT_EQ(deployment.error().http_status, 403);
  EXPECT_EQ(deployment.error().code, "permission_denied");

  auto caller = authorize_admin(*store_, owner, AdminNeed::Tenant);
  ASSERT_TRUE(caller.ok()) << caller.error().message;
  EXPECT_TRUE(caller->may_manage(acme_));
  EXPECT_FALSE(caller->may_manage(1));
  EXPECT_EQ(caller->tenant_scope(), acme_);

  platform::KeyInfo target{7, "k", "gy-abcde", 0, std::nullopt};
  target.tenant_id = acme_;
  EXPECT_TRUE(caller->may_manage(target));
  target.role = Role::Admin;
  EXPECT_FALSE(caller->may_manage(target));
  target.role = Role::Owner;
  target.tenant_id = 1;
  EXPECT_FALSE(caller->may_manage(target));
}

TEST_F(AdminAuthTest, AnOwnersKeysAreNoWiderThanItsOwnAndItsOwnKeyIsTheAdmins) {
  auto secret = store_->create_key(platform::NewKey{"lead", "acme", Role::Owner, {}, {"a", "b"}});
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  auto owner = authorize_admin(*store_, "Bearer " + *secret, AdminNeed::Tenant);
  ASSERT_TRUE(owner.ok()) << owner.error().message;
  EXPECT_EQ(message(owner->refuse_models({"a"})), "");
  EXPECT_EQ(message(owner->refuse_models({"b", "a", "a"})), "");
  for (const std::vector<std::string>& models :
       {std::vector<std::string>{}, {"c"}, {"a", "c"}, {"A"}}) {
    auto refused = owner->refuse_models(models);
    ASSERT_TRUE(refused) << models.size();
    EXPECT_EQ(refused->http_status, 403);
    EXPECT_EQ(refused->code, "permission_denied");
    EXPECT_EQ(refused->param, "models");
  }
  EXPECT_EQ(owner->refuse_models({"c", "a", "d", "c"})->message,
            "models lists c, d, which this key may not use: the keys an owner makes may use only "
            "models its own key may use (a, b)");

  platform::KeyInfo target{1000, "k", "gy-abcde", 0, std::nullopt};  // no one's own key
  target.tenant_id = acme_;
  target.models = {"b"};
  EXPECT_EQ(message(owner->refuse_change(target)), "");
  target.models = {"b", "z"};
  ASSERT_TRUE(owner->refuse_change(target));
  EXPECT_EQ(owner->refuse_change(target)->http_status, 403);
  target.models = {};
  ASSERT_TRUE(owner->refuse_change(target));
  auto own = owner->refuse_change(owner->key);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->http_status, 403);
  EXPECT_EQ(own->code, "permission_denied");
  EXPECT_EQ(own->message,
            "an owner cannot change its own key's limits or models; an admin key can");

  // An owner without a model list gives any; its own key is still the admin's.
  auto open_owner = authorize_admin(*store_, key("boss", Role::Owner), AdminNeed::Tenant);
  ASSERT_TRUE(open_owner.ok()) << open_owner.error().message;
  EXPECT_EQ(message(open_owner->refuse_models({})), "");
  EXPECT_EQ(message(open_owner->refuse_models({"z"})), "");
  EXPECT_EQ(message(open_owner->refuse_change(target)), "");
  EXPECT_TRUE(open_owner->refuse_change(open_owner->key));

  // An admin, also one whose key lists models, gives and changes anything, its own key too.
  auto limited = store_->create_key(platform::NewKey{"ops", "acme", Role::Admin, {}, {"a"}});
  ASSERT_TRUE(limited.ok()) << limited.error().message;
  auto admin = authorize_admin(*store_, "Bearer " + *limited, AdminNeed::Tenant);
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  EXPECT_EQ(message(admin->refuse_models({})), "");
  EXPECT_EQ(message(admin->refuse_models({"z"})), "");
  EXPECT_EQ(message(admin->refuse_change(target)), "");
  EXPECT_EQ(message(admin->refuse_change(admin->key)), "");
}

TEST_F(AdminAuthTest, MemberIsRefused) {
  const std::string member = key("bot", Role::Member);
  for (AdminNeed need : {AdminNeed::Deployment, AdminNeed::Tenant}) {
    auto caller = authorize_admin(*store_, member, need);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.error().http_status, 403);
    EXPECT_EQ(caller.error().code, "permission_denied");
  }
}

TEST_F(AdminAuthTest, UnknownOrMissingKeyIs401) {
  for (const std::optional<std::string>& header :
       {std::optional<std::string>(), std::optional<std::string>("Bearer gy-nope")}) {
    auto caller = authorize_admin(*store_, header, AdminNeed::Tenant);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.error().http_status, 401);
  }
}

}  // namespace
}  // namespace gengyun::api
