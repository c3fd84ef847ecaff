#include <gtest/gtest.h>

#include <string>

#include "platform/store.h"
#include "store_reads.h"
#include "temp_dir.h"
#include "util/clock.h"

namespace gengyun::platform {
namespace {

using testing::all_keys;

using testing::RawDb;
using testing::TempDir;

std::unique_ptr<Store> open_store(const std::string& path) {
  auto store = Store::open(path);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(store).value() : nullptr;
}

std::string create(Store& store, const std::string& name) {
  auto secret = store.create_key(name);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  return secret.ok() ? *secret : std::string();
}

TEST(StoreKeys, CreateListRevokeAuthenticateRoundTrip) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);

  int64_t before = unix_time_us();
  std::string a = create(*store, "team-a");
  std::string b = create(*store, "team-b");
  int64_t after = unix_time_us();
  ASSERT_EQ(a.substr(0, 3), "gy-");
  ASSERT_GE(a.size(), 43u);
  ASSERT_NE(a, b);

  auto keys = all_keys(*store);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].name, "team-a");
  EXPECT_EQ((*keys)[0].prefix, a.substr(0, 8));
  EXPECT_EQ((*keys)[1].name, "team-b");
  EXPECT_EQ((*keys)[1].prefix, b.substr(0, 8));
  EXPECT_LT((*keys)[0].id, (*keys)[1].id);
  for (const KeyInfo& key : *keys) {
    EXPECT_GE(key.created_at_us, before);
    EXPECT_LE(key.created_at_us, after);
    EXPECT_FALSE(key.revoked_at_us.has_value());
  }

  auto who = store->authenticate(a);
  ASSERT_TRUE(who.ok()) << who.error().message;
  ASSERT_TRUE(who->has_value());
  EXPECT_EQ((*who)->id, (*keys)[0].id);
  EXPECT_EQ((*who)->name, "team-a");
  EXPECT_EQ((*who)->prefix, a.substr(0, 8));

  int64_t before_revoke = unix_time_us();
  auto revoked = store->revoke_key("team-a");
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  keys = all_keys(*store);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u);
  ASSERT_TRUE((*keys)[0].revoked_at_us.has_value());
  EXPECT_GE(*(*keys)[0].revoked_at_us, before_revoke);
  EXPECT_LE(*(*keys)[0].revoked_at_us, unix_time_us());
  EXPECT_FALSE((*keys)[1].revoked_at_us.has_value());

  auto revoked_auth = store->authenticate(a);
  ASSERT_TRUE(revoked_auth.ok()) << revoked_auth.error().message;
  EXPECT_FALSE(revoked_auth->has_value());
  auto still_active = store->authenticate(b);
  ASSERT_TRUE(still_active.ok()) << still_active.error().message;
  ASSERT_TRUE(still_active->has_value());
  EXPECT_EQ((*still_active)->name, "team-b");
}

TEST(StoreKeys, UnknownSecretsFailAuthentication) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  std::string secret = create(*store, "team-a");
  std::string altered = secret;
  altered.back() = altered.back() == 'x' ? 'y' : 'x';
  for (const std::string& candidate :
       {altered, secret.substr(0, secret.size() - 1), secret + "0", std::string(),
        secret.substr(0, 8), sha256_hex(secret)}) {
    auto who = store->authenticate(candidate);
    ASSERT_TRUE(who.ok()) << who.error().message;
    EXPECT_FALSE(who->has_value()) << "accepted '" << candidate << "'";
  }
}

TEST(StoreKeys, SecretIsNeverStoredOnlyItsHash) {
  TempDir dir;
  std::string path = dir.file("platform.db");
  std::string secret;
  {
    auto store = open_store(path);
    ASSERT_TRUE(store);
    secret = create(*store, "team-a");
    std::string open_bytes = dir.all_bytes();
    EXPECT_EQ(open_bytes.find(secret), std::string::npos);
    EXPECT_NE(open_bytes.find(sha256_hex(secret)), std::string::npos);
  }
  std::string closed_bytes = dir.all_bytes();
  EXPECT_EQ(closed_bytes.find(secret), std::string::npos);
  EXPECT_NE(closed_bytes.find(sha256_hex(secret)), std::string::npos);

  RawDb raw(path);
  auto rows = raw.query("SELECT * FROM api_keys");
  ASSERT_EQ(rows.size(), 1u);
  bool hash_found = false;
  for (const std::string& value : rows[0]) {
    EXPECT_EQ(value.find(secret), std::string::npos) << "column value '" << value << "'";
    hash_found |= value == sha256_hex(secret);
  }
  EXPECT_TRUE(hash_found);
}

TEST(StoreKeys, DuplicateActiveNameIsAnErrorUntilRevoked) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  std::string first = create(*store, "team-a");

  auto duplicate = store->create_key("team-a");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.error().message.find("already exists"), std::string::npos)
      << duplicate.error().message;
  EXPECT_EQ(all_keys(*store)->size(), 1u);

  ASSERT_TRUE(store->revoke_key("team-a").ok());
  std::string second = create(*store, "team-a");
  ASSERT_FALSE(second.empty());
  auto who = store->authenticate(second);
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((*who)->name, "team-a");
  EXPECT_FALSE(store->authenticate(first)->has_value());
}

TEST(StoreKeys, EmptyNameIsAnError) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  auto key = store->create_key("");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find("name is empty"), std::string::npos) << key.error().message;
  EXPECT_TRUE(all_keys(*store)->empty());
}

TEST(StoreKeys, SqlLookingNamesAreRefusedAndSelectorsAreData) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  const std::string sql = "x'); DROP TABLE api_keys; --\"";
  auto refused = store->create_key(sql);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("may hold only ASCII letters"), std::string::npos)
      << refused.error().message;
  std::string secret = create(*store, "k");
  // A selector that looks like SQL matches nothing and changes nothing.
  EXPECT_FALSE(store->revoke_key(sql).ok());
  auto keys = all_keys(*store);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE(store->authenticate(secret)->has_value());
}

TEST(StoreKeys, RevokeErrors) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  std::string a = create(*store, "team-a");
  int64_t id_a = store->authenticate(a).value()->id;

  for (const std::string& unknown :
       {std::string("nobody"), std::string("999"), std::string(), std::string("gy-00000"),
        std::to_string(id_a), a.substr(0, 8)}) {
    auto result = store->revoke_key(unknown);
    ASSERT_FALSE(result.ok()) << "revoked '" << unknown << "'";
    EXPECT_EQ(result.error().message, "cannot revoke API key: no key is named '" + unknown + "'");
  }
  EXPECT_TRUE(store->authenticate(a)->has_value());

  ASSERT_TRUE(store->revoke_key("team-a").ok());
  auto again = store->revoke_key("team-a");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "cannot revoke API key 'team-a': it is already revoked (id " +
                                       std::to_string(id_a) + ")");
}

}  // namespace
}  // namespace gengyun::platform
