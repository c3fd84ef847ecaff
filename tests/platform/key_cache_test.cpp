// The key cache (key_cache.h): its rules on their own, then on each backend: a warm key is
// answered without the database, a change through the store shows at the next call, a change by
// another connection (a second store, SQL behind the store's back) reaches it (SQLite: at the
// next call; PostgreSQL: by NOTIFY, waited for as the cache's event), a lost LISTEN connection
// empties it, and unknown secrets do not grow it.
#include "platform/key_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "backends.h"
#include "platform/pg_key_listener.h"

namespace gengyun::platform {
namespace {

using namespace std::chrono_literals;
using Clock = KeyCache::Clock;
using testing::StoreBackendTest;

/// Generous: an event that is due within a second on an idle machine.
constexpr auto kEventTimeout = 30s;

KeyInfo key_info(int64_t id, int64_t tenant_id) {
  KeyInfo key{id, "k" + std::to_string(id), "gy-abcde", 1, std::nullopt};
  key.tenant_id = tenant_id;
  return key;
}

TEST(KeyCache, AnswersOnlyWhileConfirmed) {
  KeyCache cache;
  EXPECT_FALSE(cache.stats().fresh);
  cache.insert("h1", key_info(1, 1), cache.generation());
  EXPECT_EQ(cache.stats().entries, 0u);  // not confirmed yet: nothing is kept

  cache.confirm(Clock::now());
  cache.insert("h1", key_info(1, 1), cache.generation());
  auto hit = cache.find("h1");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->id, 1);
  EXPECT_FALSE(cache.find("h2"));
  EXPECT_EQ(cache.stats().hits, 1u);

  // Confirmed as of more than max_staleness ago: lookups miss, the entry stays.
  KeyCache stale(16, 1s);
  stale.confirm(Clock::now());
  stale.insert("h1", key_info(1, 1), stale.generation());
  ASSERT_TRUE(stale.find("h1"));
  stale.confirm(Clock::now() - 10s);  // an older confirmation changes nothing
  ASSERT_TRUE(stale.find("h1"));
  KeyCache old(16, 1s);
  old.confirm(Clock::now() - 2s);
  EXPECT_FALSE(old.stats().fresh);
  old.insert("h1", key_info(1, 1), old.generation());
  EXPECT_EQ(old.stats().entries, 0u);
}

TEST(KeyCache, AReadRacingAChangeIsNotInserted) {
  KeyCache cache;
  cache.confirm(Clock::now());
  const uint64_t before = cache.generation();
  cache.evict_key(7);  // the key was revoked while its read was under way
  cache.insert("h7", key_info(7, 1), before);
  EXPECT_EQ(cache.stats().entries, 0u);
  cache.insert("h7", key_info(7, 1), cache.generation());
  EXPECT_EQ(cache.stats().entries, 1u);
}

TEST(KeyCache, EvictsByKeyTenantAndNotice) {
  KeyCache cache;
  cache.confirm(Clock::now());
  cache.insert("a", key_info(1, 10), cache.generation());
  cache.insert("b", key_info(2, 10), cache.generation());
  cache.insert("c", key_info(3, 20), cache.generation());
  cache.insert("d", key_info(4, 30), cache.generation());
  cache.evict_key(1);
  EXPECT_FALSE(cache.find("a"));
  EXPECT_TRUE(cache.find("b"));
  cache.apply_notice("tenant 10");
  EXPECT_FALSE(cache.find("b"));
  EXPECT_TRUE(cache.find("c"));
  cache.apply_notice("key 3");
  EXPECT_FALSE(cache.find("c"));
  EXPECT_EQ(cache.stats().entries, 1u);
  cache.apply_notice("key 4x");  // not understood: everything goes
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().invalidations, 4u);
}

TEST(KeyCache, ANewRevisionEmptiesIt) {
  KeyCache cache;
  cache.observe_revision(5, Clock::now());
  cache.insert("a", key_info(1, 1), cache.generation());
  cache.observe_revision(5, Clock::now());
  EXPECT_TRUE(cache.find("a"));
  EXPECT_EQ(cache.stats().invalidations, 0u);
  cache.observe_revision(6, Clock::now());
  EXPECT_FALSE(cache.find("a"));
  EXPECT_EQ(cache.stats().invalidations, 1u);
}

TEST(KeyCache, ALostSourceEmptiesAndBypassesItUntilConfirmed) {
  KeyCache cache;
  cache.confirm(Clock::now());
  cache.insert("a", key_info(1, 1), cache.generation());
  const uint64_t read_began = cache.generation();
  cache.lose();
  KeyCacheStats stats = cache.stats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.losses, 1u);
  EXPECT_FALSE(stats.fresh);
  cache.insert("a", key_info(1, 1), cache.generation());
  EXPECT_EQ(cache.stats().entries, 0u);
  cache.confirm(Clock::now());
  cache.insert("a", key_info(1, 1), read_began);  // begun before the loss: refused
  EXPECT_EQ(cache.stats().entries, 0u);
  cache.insert("a", key_info(1, 1), cache.generation());
  EXPECT_TRUE(cache.find("a"));
}

TEST(KeyCache, AFullCacheStartsOver) {
  KeyCache cache(2);
  cache.confirm(Clock::now());
  cache.insert("a", key_info(1, 1), cache.generation());
  cache.insert("b", key_info(2, 1), cache.generation());
  cache.insert("c", key_info(3, 1), cache.generation());
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_TRUE(cache.find("c"));
}

// --- In the stores ---

/// Creates key `name` in `tenant` and returns its secret (empty after a failure).
std::string new_secret(Store& store, const std::string& name,
                       const std::string& tenant = std::string(kDefaultTenant)) {
  auto secret = store.create_key(NewKey{name, tenant});
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  return secret.ok() ? *secret : "";
}

/// The key `secret` authenticates as; nullopt for none (a store error fails the test).
std::optional<KeyInfo> who(Store& store, const std::string& secret) {
  auto key = store.authenticate(secret);
  EXPECT_TRUE(key.ok()) << key.error().message;
  return key.ok() ? *key : std::nullopt;
}

// An in-memory database has no other connection: the store's own evictions are all there is.
TEST(KeyCacheInMemory, TheStoresChangesEvictAtOnce) {
  auto opened = Store::open(":memory:");
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  Store& store = **opened;
  ASSERT_TRUE(store.create_tenant("acme", {}, Actor{}).ok());
  const std::string a = new_secret(store, "a", "acme");
  const std::string b = new_secret(store, "b");
  const int64_t a_id = who(store, a)->id;
  const int64_t tenant = who(store, a)->tenant_id;
  const int64_t b_id = who(store, b)->id;
  EXPECT_EQ(store.key_cache().stats().hits, 1u);
  EXPECT_EQ(store.key_cache().stats().entries, 2u);

  ASSERT_TRUE(store.set_key_limits(a_id, Limits{{}, BudgetPeriod::Total, 7}, Actor{}).ok());
  EXPECT_EQ(store.key_cache().stats().entries, 1u);
  EXPECT_EQ(who(store, a)->limits.rpm, 7);
  EXPECT_EQ(store.key_cache().stats().entries, 2u);
  ASSERT_TRUE(store.set_tenant_limits(tenant, Limits{{}, BudgetPeriod::Total, 3}, Actor{}).ok());
  EXPECT_EQ(store.key_cache().stats().entries, 1u);
  ASSERT_TRUE(store.revoke_key_id(b_id, Actor{}).ok());
  EXPECT_EQ(store.key_cache().stats().entries, 0u);
  EXPECT_FALSE(who(store, b));
  EXPECT_TRUE(who(store, a));
  ASSERT_TRUE(store.revoke_key("a", Actor{}).ok());
  EXPECT_FALSE(who(store, a));
  EXPECT_EQ(store.key_cache().stats().entries, 0u);
}

// --- On each backend ---

/// Waits until the store's cache answers lookups (PostgreSQL: its listener is up); true at once
/// on SQLite, which confirms on every call.
bool wait_fresh(Store& store) {
  return store.key_cache().wait_until([](const KeyCacheStats& s) { return s.fresh; },
                                      kEventTimeout);
}

/// Authenticates `secret` until the cache holds it (the first call may come before the
/// PostgreSQL listener is up); whether it does.
bool warm(Store& store, const std::string& secret) {
  if (!who(store, secret) || !wait_fresh(store)) return false;
  const uint64_t hits = store.key_cache().stats().hits;
  if (!who(store, secret)) return false;
  if (store.key_cache().stats().hits > hits) return true;
  // Filled after the listener's first confirmation: the next call hits.
  return who(store, secret) && store.key_cache().stats().hits > hits;
}

TEST_P(StoreBackendTest, KeyCacheAnswersAWarmKeyWithoutTheDatabase) {
  auto store = open();
  ASSERT_TRUE(store);
  auto secret =
      store->create_key(NewKey{"a", "default", Role::Owner, {}, {"qwen"}, 4'000'000'000'000'000});
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  ASSERT_TRUE(warm(*store, *secret));
  const uint64_t hits = store->key_cache().stats().hits;
  auto key = who(*store, *secret);
  ASSERT_TRUE(key);
  EXPECT_EQ(store->key_cache().stats().hits, hits + 1);
  EXPECT_EQ(key->name, "a");
  EXPECT_EQ(key->role, Role::Owner);
  EXPECT_EQ(key->models, std::vector<std::string>{"qwen"});
  EXPECT_EQ(key->expires_at_us, 4'000'000'000'000'000);  // checked by the caller per request
  EXPECT_EQ(store->key_cache().stats().entries, 1u);
}

TEST_P(StoreBackendTest, KeyCacheShowsChangesThroughTheStoreAtTheNextCall) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string a = new_secret(*store, "a");
  const std::string b = new_secret(*store, "b");
  ASSERT_TRUE(warm(*store, a));
  ASSERT_TRUE(warm(*store, b));
  const int64_t a_id = who(*store, a)->id;
  const int64_t b_id = who(*store, b)->id;

  auto limited = store->set_key_limits(b_id, Limits{{}, BudgetPeriod::Total, 7}, Actor{});
  ASSERT_TRUE(limited.ok()) << limited.error().message;
  EXPECT_EQ(who(*store, b)->limits.rpm, 7);

  ASSERT_TRUE(store->revoke_key_id(a_id, Actor{}).ok());
  EXPECT_FALSE(who(*store, a));
  ASSERT_TRUE(warm(*store, b));
  ASSERT_TRUE(store->revoke_key("b", Actor{}).ok());
  EXPECT_FALSE(who(*store, b));
}

TEST_P(StoreBackendTest, KeyCacheShowsChangesOfOtherConnections) {
  auto server = open();
  auto other = open();  // a second server on the same database
  ASSERT_TRUE(server && other);
  ASSERT_TRUE(server->create_tenant("acme", {}, Actor{}).ok());
  const std::string a = new_secret(*server, "a");
  const std::string b = new_secret(*server, "b", "acme");
  const std::string c = new_secret(*server, "c");
  ASSERT_TRUE(warm(*server, a));
  ASSERT_TRUE(warm(*server, b));
  ASSERT_TRUE(warm(*server, c));
  const KeyInfo a_key = *who(*server, a);
  const KeyInfo b_key = *who(*server, b);

  // Each change is awaited as the invalidation it causes: at once on PostgreSQL (the NOTIFY),
  // at the next call on SQLite (the revision read).
  const auto changed = [&](uint64_t before) {
    if (GetParam() == "sqlite") (void)who(*server, c);
    return server->key_cache().wait_until(
        [&](const KeyCacheStats& s) { return s.invalidations > before; }, kEventTimeout);
  };

  uint64_t before = server->key_cache().stats().invalidations;
  ASSERT_TRUE(other->revoke_key_id(a_key.id, Actor{}).ok());
  ASSERT_TRUE(changed(before));
  EXPECT_FALSE(who(*server, a));

  // A tenant's change evicts its keys.
  before = server->key_cache().stats().invalidations;
  ASSERT_TRUE(
      other->set_tenant_limits(b_key.tenant_id, Limits{{}, BudgetPeriod::Total, 3}, Actor{}).ok());
  ASSERT_TRUE(changed(before));
  if (GetParam() == "postgres") {
    EXPECT_EQ(server->key_cache().stats().entries, 1u);  // c
  }

  // An operator's SQL behind every store's back.
  ASSERT_TRUE(warm(*server, c));
  before = server->key_cache().stats().invalidations;
  ASSERT_EQ(raw_exec("UPDATE api_keys SET revoked_at_us = 1 WHERE name = 'c'"), "");
  ASSERT_TRUE(changed(before));
  EXPECT_FALSE(who(*server, c));
  EXPECT_TRUE(who(*server, b));
}

TEST_P(StoreBackendTest, KeyCacheIsNotGrownByUnknownKeys) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string a = new_secret(*store, "a");
  ASSERT_TRUE(warm(*store, a));
  std::mt19937_64 random(8);
  const std::string alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (int i = 0; i < 500; ++i) {
    std::string secret = "gy-";
    for (int c = 0; c < 43; ++c) secret += alphabet[random() % alphabet.size()];
    EXPECT_FALSE(who(*store, secret));
  }
  EXPECT_EQ(store->key_cache().stats().entries, 1u);
  EXPECT_TRUE(who(*store, a));
}

TEST_P(StoreBackendTest, KeyCacheIsBypassedWithoutItsSourceOfChanges) {
  auto server = open();
  auto other = open();
  ASSERT_TRUE(server && other);
  const std::string a = new_secret(*server, "a");
  const std::string b = new_secret(*server, "b");
  ASSERT_TRUE(warm(*server, a));
  const int64_t b_id = who(*server, b)->id;
  ASSERT_EQ(server->key_cache().stats().entries, 2u);
  const uint64_t losses = server->key_cache().stats().losses;

  if (GetParam() == "postgres") {
    // Its listening connection dies.
    auto killed = raw_query(std::string("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = current_database() AND "
                                        "application_name = '") +
                            kKeyListenerApplicationName + "'");
    ASSERT_EQ(killed, (std::vector<std::vector<std::string>>{{"t"}}));
    ASSERT_TRUE(server->key_cache().wait_until(
        [&](const KeyCacheStats& s) { return s.losses > losses; }, kEventTimeout));
    EXPECT_EQ(server->key_cache().stats().entries, 0u);
    // Revoked while no one listens, or just after: never answered from the cache.
    ASSERT_TRUE(other->revoke_key_id(b_id, Actor{}).ok());
    EXPECT_FALSE(who(*server, b));
    // The listener comes back and the cache with it.
    ASSERT_TRUE(warm(*server, a));
  } else {
    // The revision cannot be read: every call reads the key from the database.
    ASSERT_EQ(raw_exec("DROP TRIGGER api_keys_update_revision; "
                       "DROP TRIGGER api_keys_delete_revision; "
                       "DROP TRIGGER tenants_update_revision; "
                       "DROP TRIGGER tenants_delete_revision; DROP TABLE auth_revision"),
              "");
    EXPECT_TRUE(who(*server, a));
    KeyCacheStats stats = server->key_cache().stats();
    EXPECT_EQ(stats.losses, losses + 1);
    EXPECT_EQ(stats.entries, 0u);
    const uint64_t hits = stats.hits;
    ASSERT_TRUE(other->revoke_key_id(b_id, Actor{}).ok());
    EXPECT_FALSE(who(*server, b));
    EXPECT_TRUE(who(*server, a));
    EXPECT_EQ(server->key_cache().stats().hits, hits);
    EXPECT_EQ(server->key_cache().stats().entries, 0u);
  }
}

}  // namespace
}  // namespace gengyun::platform
