// authorize_admin(): each role against each need, and the scope and actor it gives.
#include "api/admin_auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace gengyun::api {
namespace {

using platform::Role;

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
