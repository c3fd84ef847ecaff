// What the admin API changes through the store: tenants' and keys' limits, revocation by id,
// the price list; each with its audit entry; the pages of tenants, keys, prices and the audit
// log, reads by id and by name; on every backend (backends.h).
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backends.h"
#include "platform/store.h"
#include "platform/store_rules.h"
#include "store_reads.h"
#include "util/clock.h"

namespace gengyun::platform {
namespace {

using testing::all_audit_entries;
using testing::all_keys;
using testing::all_prices;
using testing::all_tenants;

using testing::RawDb;
using testing::StoreBackendTest;

const Actor kAdmin{7, "key:root"};

TEST_P(StoreBackendTest, TenantLimitsAreReplacedAndAudited) {
  auto store = open();
  ASSERT_TRUE(store);
  auto acme = store->create_tenant("acme", Limits{1'000'000, BudgetPeriod::Day, 5, {}}, kAdmin);
  ASSERT_TRUE(acme.ok()) << acme.error().message;
  auto updated =
      store->set_tenant_limits(acme->id, Limits{{}, BudgetPeriod::Month, {}, 900}, kAdmin);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated->name, "acme");
  EXPECT_EQ(updated->limits.budget_micro_usd, std::nullopt);
  EXPECT_EQ(updated->limits.budget_period, BudgetPeriod::Month);
  EXPECT_EQ(updated->limits.rpm, std::nullopt);
  EXPECT_EQ(updated->limits.tpm, 900);
  EXPECT_EQ(all_tenants(*store)->back().limits.tpm, 900);

  auto unknown = store->set_tenant_limits(999, Limits{}, kAdmin);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("no such tenant"), std::string::npos);
  auto negative = store->set_tenant_limits(acme->id, Limits{-1}, kAdmin);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("budget must be >= 0"), std::string::npos);
  EXPECT_EQ(all_tenants(*store)->back().limits.tpm, 900);

  auto log = all_audit_entries(*store);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 2u);
  const AuditEntry& e = log->back();
  EXPECT_EQ(
      std::tie(e.actor_key_id, e.actor, e.action, e.target, e.detail),
      std::make_tuple(std::optional<int64_t>(7), std::string("key:root"),
                      std::string("tenant.limits"), std::string("acme"), std::string("tpm=900")));
}

TEST_P(StoreBackendTest, KeyLimitsAndRevocationById) {
  auto store = open();
  ASSERT_TRUE(store);
  auto secret = store->create_key(NewKey{"bot"});
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  const int64_t id = store->authenticate(*secret).value()->id;

  auto updated = store->set_key_limits(id, Limits{2'500'000, BudgetPeriod::Total, 60, {}}, kAdmin);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated->id, id);
  EXPECT_EQ(updated->limits.budget_micro_usd, 2'500'000);
  EXPECT_EQ(updated->limits.rpm, 60);
  EXPECT_EQ(store->authenticate(*secret).value()->limits.rpm, 60);

  // Every limit removed: the audit says so (QA 2026-12-03: an empty detail).
  ASSERT_TRUE(store->set_key_limits(id, Limits{}, kAdmin).ok());
  EXPECT_FALSE(store->revoke_key_id(id + 1, kAdmin).ok());
  ASSERT_TRUE(store->revoke_key_id(id, kAdmin).ok());
  EXPECT_FALSE(store->authenticate(*secret)->has_value());
  auto again = store->revoke_key_id(id, kAdmin);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already revoked"), std::string::npos);
  auto revoked = store->set_key_limits(id, Limits{}, kAdmin);
  ASSERT_FALSE(revoked.ok());
  EXPECT_NE(revoked.error().message.find("revoked"), std::string::npos);

  auto log = all_audit_entries(*store);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 4u);
  EXPECT_EQ((*log)[1].action, "key.limits");
  EXPECT_EQ((*log)[1].detail, "budget_usd=2.5 budget_period=total rpm=60");
  EXPECT_EQ((*log)[2].action, "key.limits");
  EXPECT_EQ((*log)[2].detail, "no limits");
  EXPECT_EQ((*log)[3].action, "key.revoke");
  EXPECT_EQ((*log)[3].detail, "id=" + std::to_string(id));
  EXPECT_EQ((*log)[3].actor_key_id, 7);
}

// The last active, unexpired admin key cannot be revoked, by id or by name (issue 8): the admin
// API would be locked out. Revoked and expired admin keys do not count; one expiring later does.
TEST_P(StoreBackendTest, TheLastActiveAdminKeyIsNotRevoked) {
  auto store = open();
  ASSERT_TRUE(store);
  auto root = store->create_key(NewKey{"root", "default", Role::Admin}, kAdmin);
  ASSERT_TRUE(root.ok()) << root.error().message;
  ASSERT_TRUE(store->create_key(NewKey{"old", "default", Role::Admin}, kAdmin).ok());
  ASSERT_TRUE(store->create_key(NewKey{"bot"}, kAdmin).ok());
  ASSERT_EQ(raw_exec("UPDATE api_keys SET expires_at_us = 1 WHERE name = 'old'"), "");
  auto keys = all_keys(*store);
  ASSERT_TRUE(keys.ok() && keys->size() == 3u);
  const int64_t root_id = (*keys)[0].id;
  const int64_t old_id = (*keys)[1].id;
  const std::string refusal = "cannot revoke API key 'root' (id " + std::to_string(root_id) +
                              "): it is the last active admin key; create another admin key first";

  auto by_id = store->revoke_key_id(root_id, kAdmin);
  ASSERT_FALSE(by_id.ok());
  EXPECT_EQ(by_id.error().message, refusal);
  EXPECT_TRUE(is_last_admin_key_error(by_id.error()));
  auto by_name = store->revoke_key("root", kAdmin);
  ASSERT_FALSE(by_name.ok());
  EXPECT_EQ(by_name.error().message, refusal);
  EXPECT_TRUE(store->authenticate(*root).value().has_value());
  // A member key and the expired admin key are revoked as before.
  ASSERT_TRUE(store->revoke_key("bot", kAdmin).ok());
  ASSERT_TRUE(store->revoke_key_id(old_id, kAdmin).ok());

  // With a second admin key (expiring in a day) one of the two can go, then not the other.
  NewKey second{"root2", "default", Role::Admin};
  second.expires_at_us = unix_time_us() + 86'400'000'000;
  ASSERT_TRUE(store->create_key(second, kAdmin).ok());
  const int64_t second_id = all_keys(*store)->back().id;
  ASSERT_TRUE(store->revoke_key_id(root_id, kAdmin).ok());
  EXPECT_FALSE(store->authenticate(*root).value().has_value());
  auto last = store->revoke_key("root2", kAdmin);
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().message,
            "cannot revoke API key 'root2' (id " + std::to_string(second_id) +
                "): it is the last active admin key; create another admin key first");

  auto log = all_audit_entries(*store);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> revoked;
  for (const AuditEntry& e : *log)
    if (e.action == "key.revoke") revoked.push_back(e.target);
  EXPECT_EQ(revoked, (std::vector<std::string>{"bot", "old", "root"}));
}

// revoke_key() takes a key's name and nothing else: a name that is another key's id or display
// prefix revokes the key of that name only; revoke_key_id() takes an id.
TEST_P(StoreBackendTest, RevokeByNameMatchesTheNameOnly) {
  auto store = open();
  ASSERT_TRUE(store);
  auto first = store->create_key(NewKey{"team-a"}, kAdmin);
  ASSERT_TRUE(first.ok()) << first.error().message;
  const int64_t first_id = all_keys(*store)->front().id;
  const std::string id_name = std::to_string(first_id);
  auto second = store->create_key(NewKey{id_name}, kAdmin);
  ASSERT_TRUE(second.ok()) << second.error().message;
  const int64_t second_id = all_keys(*store)->back().id;
  ASSERT_NE(first_id, second_id);

  const std::string prefix = first->substr(0, 8);
  auto by_prefix = store->revoke_key(prefix, kAdmin);
  ASSERT_FALSE(by_prefix.ok());
  EXPECT_EQ(by_prefix.error().message, "cannot revoke API key: no key is named '" + prefix + "'");

  ASSERT_TRUE(store->revoke_key(id_name, kAdmin).ok());
  EXPECT_TRUE(store->authenticate(*first)->has_value());
  EXPECT_FALSE(store->authenticate(*second)->has_value());
  auto again = store->revoke_key(id_name, kAdmin);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "cannot revoke API key '" + id_name +
                                       "': it is already revoked (id " + std::to_string(second_id) +
                                       ")");

  ASSERT_TRUE(store->revoke_key_id(first_id, kAdmin).ok());
  EXPECT_FALSE(store->authenticate(*first)->has_value());
  auto audit = all_audit_entries(*store);
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  ASSERT_EQ(audit->size(), 4u);
  EXPECT_EQ((*audit)[2].action, "key.revoke");
  EXPECT_EQ((*audit)[2].target, id_name);
  EXPECT_EQ((*audit)[3].action, "key.revoke");
  EXPECT_EQ((*audit)[3].target, "team-a");
  EXPECT_EQ((*audit)[3].detail, "id=" + std::to_string(first_id));
}

TEST_P(StoreBackendTest, PricesAreListedByModelName) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_TRUE(all_prices(*store)->empty());
  ASSERT_TRUE(store->set_price("zeta", Price{3, 2, 1}, kAdmin).ok());
  ASSERT_TRUE(store->set_price("Alpha", Price{10, 5, 20}, kAdmin).ok());
  ASSERT_TRUE(store->set_price("zeta", Price{4, 4, 4}, kAdmin).ok());
  auto prices = all_prices(*store);
  ASSERT_TRUE(prices.ok()) << prices.error().message;
  ASSERT_EQ(prices->size(), 2u);
  EXPECT_EQ((*prices)[0].model, "Alpha");
  EXPECT_EQ((*prices)[0].price.output, 20);
  EXPECT_EQ((*prices)[1].model, "zeta");
  EXPECT_EQ((*prices)[1].price.input, 4);
}

// The reads by name and the pages of prices are answered by an index of the schema: the
// plans of their conditions (as the stores write them) on each backend; on PostgreSQL with
// sequential scans off, so that a condition no index can answer shows as a Seq Scan however
// few rows the tables hold. A page of prices is read in the index's order, with no sort (a
// read by name sorts the one row it finds).
TEST_P(StoreBackendTest, ReadsByNameAndPagesOfPricesUseAnIndex) {
  ASSERT_TRUE(open());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SELECT id, name FROM tenants WHERE name = 'acme' ORDER BY id",
       GetParam() == "sqlite" ? "sqlite_autoindex_tenants_1" : "tenants_name_key"},
      {"SELECT id, name FROM api_keys WHERE tenant_id = 2 AND name = 'bot' AND revoked_at_us IS "
       "NULL ORDER BY id",
       "api_keys_active_name"},
      {"SELECT id, name FROM api_keys WHERE name = 'bot' ORDER BY id", "api_keys_name"},
      {GetParam() == "sqlite"
           ? "SELECT model, input_micro_usd FROM prices WHERE model > 'a' ORDER BY model LIMIT 3"
           : "SELECT model, input_micro_usd FROM prices WHERE model COLLATE \"C\" > 'a' "
             "ORDER BY model COLLATE \"C\" LIMIT 3",
       GetParam() == "sqlite" ? "sqlite_autoindex_prices_1" : "prices_model_bytes"},
  };
  for (const auto& [sql, index] : cases) {
    std::string plan;
    if (GetParam() == "sqlite") {
      for (const auto& row : RawDb(location_).query("EXPLAIN QUERY PLAN " + sql))
        plan += row.back() + "\n";
    } else {
      auto conn = pg::Connection::connect(location_);
      ASSERT_TRUE(conn.ok()) << conn.error().message;
      ASSERT_TRUE(conn.value()->script("SET enable_seqscan = off").ok());
      auto rows = conn.value()->query("EXPLAIN " + sql);
      ASSERT_TRUE(rows.ok()) << rows.error().message;
      for (int r = 0; r < rows->count(); ++r) plan += rows->text(r, 0) + "\n";
    }
    EXPECT_NE(plan.find(index), std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << sql << "\n" << plan;
    EXPECT_EQ(plan.find("SCAN "), std::string::npos) << sql << "\n" << plan;
    if (sql.find("prices") != std::string::npos) {
      EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << sql << "\n" << plan;
      EXPECT_EQ(plan.find("Sort"), std::string::npos) << sql << "\n" << plan;
    }
  }
}

std::vector<int64_t> tenant_ids(Result<std::vector<TenantInfo>> tenants) {
  EXPECT_TRUE(tenants.ok()) << tenants.error().message;
  std::vector<int64_t> ids;
  if (tenants.ok())
    for (const TenantInfo& t : *tenants) ids.push_back(t.id);
  return ids;
}

std::vector<std::string> key_names(Result<std::vector<KeyInfo>> keys) {
  EXPECT_TRUE(keys.ok()) << keys.error().message;
  std::vector<std::string> names;
  if (keys.ok())
    for (const KeyInfo& k : *keys) names.push_back(k.name);
  return names;
}

std::vector<std::string> tenant_names(Result<std::vector<TenantInfo>> tenants) {
  EXPECT_TRUE(tenants.ok()) << tenants.error().message;
  std::vector<std::string> names;
  if (tenants.ok())
    for (const TenantInfo& t : *tenants) names.push_back(t.name);
  return names;
}

// Names that a statement splicing them into its SQL, or matching them with LIKE, would
// misread; the reads bind them and compare bytes.
const std::vector<std::string> kSqlLookingNames = {"x' OR '1'='1",
                                                   "' OR 1=1 --",
                                                   "acme'; DROP TABLE tenants; --",
                                                   "%",
                                                   "_",
                                                   "a%",
                                                   "acm_",
                                                   "ACME",
                                                   "acme ",
                                                   " acme",
                                                   "",
                                                   "bot\n",
                                                   "b_t"};

TEST_P(StoreBackendTest, ATenantIsReadByItsName) {
  auto store = open();
  ASSERT_TRUE(store);
  auto acme = store->create_tenant("acme", Limits{1'000'000, BudgetPeriod::Day, 5, {}}, kAdmin);
  ASSERT_TRUE(acme.ok()) << acme.error().message;
  ASSERT_TRUE(store->create_tenant("acme2", {}, kAdmin).ok());

  auto found = store->find_tenant_named("acme");
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, acme->id);
  EXPECT_EQ((*found)->name, "acme");
  EXPECT_EQ((*found)->created_at_us, acme->created_at_us);
  EXPECT_EQ((*found)->limits.budget_micro_usd, 1'000'000);
  EXPECT_EQ((*found)->limits.budget_period, BudgetPeriod::Day);
  EXPECT_EQ((*found)->limits.rpm, 5);
  EXPECT_EQ((*found)->limits.tpm, std::nullopt);
  auto fallback = store->find_tenant_named(std::string(kDefaultTenant));
  ASSERT_TRUE(fallback.ok() && fallback->has_value());
  EXPECT_EQ((*fallback)->id, 1);

  auto none = store->find_tenant_named("nobody");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->has_value());
  for (const std::string& name : kSqlLookingNames) {
    auto read = store->find_tenant_named(name);
    ASSERT_TRUE(read.ok()) << name << ": " << read.error().message;
    EXPECT_FALSE(read->has_value()) << name;
  }
  EXPECT_EQ(tenant_names(all_tenants(*store)),
            (std::vector<std::string>{"default", "acme", "acme2"}));
}

TEST_P(StoreBackendTest, AnActiveKeyIsReadByItsNameAndARevokedOneIsNot) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("acme", {}, kAdmin).ok());
  ASSERT_TRUE(store->create_key(NewKey{"bot"}, kAdmin).ok());
  ASSERT_TRUE(store->revoke_key("bot", kAdmin).ok());
  // A second key of the revoked one's name: the only active "bot".
  auto secret = store->create_key(
      NewKey{"bot", "acme", Role::Owner, Limits{{}, BudgetPeriod::Total, 60, {}}, {"qwen"}},
      kAdmin);
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  ASSERT_TRUE(store->create_key(NewKey{"gone"}, kAdmin).ok());
  ASSERT_TRUE(store->revoke_key("gone", kAdmin).ok());
  ASSERT_TRUE(store->create_key(NewKey{"bot2"}, kAdmin).ok());

  auto bot = store->find_active_key_named(2, "bot");
  ASSERT_TRUE(bot.ok()) << bot.error().message;
  ASSERT_TRUE(bot->has_value());
  EXPECT_EQ((*bot)->id, 2);
  EXPECT_EQ((*bot)->name, "bot");
  EXPECT_EQ((*bot)->prefix, secret->substr(0, 8));
  EXPECT_EQ((*bot)->revoked_at_us, std::nullopt);
  EXPECT_EQ((*bot)->tenant_id, 2);
  EXPECT_EQ((*bot)->role, Role::Owner);
  EXPECT_EQ((*bot)->models, (std::vector<std::string>{"qwen"}));
  EXPECT_EQ((*bot)->limits.rpm, 60);

  // The default tenant's "bot" is revoked: no active key of that name there.
  auto in_default = store->find_active_key_named(1, "bot");
  ASSERT_TRUE(in_default.ok()) << in_default.error().message;
  EXPECT_FALSE(in_default->has_value());
  auto bot2 = store->find_active_key_named(1, "bot2");
  ASSERT_TRUE(bot2.ok() && bot2->has_value());
  EXPECT_EQ((*bot2)->id, 4);
  for (const int64_t tenant : {1, 2, 3}) {
    for (const char* name : {"gone", "nobody", "bo", "bot22"}) {
      auto read = store->find_active_key_named(tenant, name);
      ASSERT_TRUE(read.ok()) << name << ": " << read.error().message;
      EXPECT_FALSE(read->has_value()) << name;
    }
    for (const std::string& name : kSqlLookingNames) {
      auto read = store->find_active_key_named(tenant, name);
      ASSERT_TRUE(read.ok()) << name << ": " << read.error().message;
      EXPECT_FALSE(read->has_value()) << name;
    }
  }
  EXPECT_FALSE(store->find_active_key_named(3, "bot")->has_value());
  EXPECT_FALSE(store->find_active_key_named(2, "bot2")->has_value());
  // Revoking the active "bot" leaves no active key of that name.
  ASSERT_TRUE(store->revoke_key_id(2, kAdmin).ok());
  auto revoked = store->find_active_key_named(2, "bot");
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_FALSE(revoked->has_value());
  EXPECT_EQ(key_names(all_keys(*store)), (std::vector<std::string>{"bot", "bot", "gone", "bot2"}));
}

std::vector<int64_t> key_ids(Result<std::vector<KeyInfo>> keys) {
  EXPECT_TRUE(keys.ok()) << keys.error().message;
  std::vector<int64_t> ids;
  if (keys.ok())
    for (const KeyInfo& k : *keys) ids.push_back(k.id);
  return ids;
}

// Active keys' names are unique per tenant (schema 7): two tenants each have an active "bot",
// a second one in the same tenant is refused (by the store, and by the index behind its back);
// a read by name finds each tenant's own, keys_named() every tenant's, and revoking by the name
// alone, ambiguous while two tenants have it, says how many and guesses nothing.
TEST_P(StoreBackendTest, KeyNamesAreUniquePerTenant) {
  auto store = open();
  ASSERT_TRUE(store);
  auto acme = store->create_tenant("acme", {}, kAdmin);
  auto beta = store->create_tenant("beta", {}, kAdmin);
  ASSERT_TRUE(acme.ok() && beta.ok());
  auto in_acme = store->create_key(NewKey{"bot", "acme"}, kAdmin);
  ASSERT_TRUE(in_acme.ok()) << in_acme.error().message;
  auto in_beta = store->create_key(NewKey{"bot", "beta", Role::Owner}, kAdmin);
  ASSERT_TRUE(in_beta.ok()) << in_beta.error().message;
  auto again = store->create_key(NewKey{"bot", "acme"}, kAdmin);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message,
            "cannot create API key: an active key named 'bot' already exists in tenant 'acme' (id "
            "1); revoke it first or choose another name");

  auto found_acme = store->find_active_key_named(acme->id, "bot");
  auto found_beta = store->find_active_key_named(beta->id, "bot");
  ASSERT_TRUE(found_acme.ok() && found_acme->has_value());
  ASSERT_TRUE(found_beta.ok() && found_beta->has_value());
  EXPECT_EQ((*found_acme)->id, 1);
  EXPECT_EQ((*found_acme)->tenant_id, acme->id);
  EXPECT_EQ((*found_beta)->id, 2);
  EXPECT_EQ((*found_beta)->role, Role::Owner);
  EXPECT_FALSE(store->find_active_key_named(1, "bot")->has_value());
  EXPECT_EQ(store->authenticate(*in_beta)->value().tenant_id, beta->id);

  auto ambiguous = store->revoke_key("bot", kAdmin);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().message,
            "cannot revoke API key 'bot': 2 tenants have an active key of that name; give its "
            "--tenant or its --id");
  EXPECT_TRUE(store->authenticate(*in_acme)->has_value());
  EXPECT_TRUE(store->authenticate(*in_beta)->has_value());

  ASSERT_TRUE(store->revoke_key_id(1, kAdmin).ok());
  ASSERT_TRUE(store->create_key(NewKey{"bot", "acme"}, kAdmin).ok());
  ASSERT_TRUE(store->create_key(NewKey{"bot"}, kAdmin).ok());
  EXPECT_EQ(key_ids(store->keys_named("bot")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(key_ids(store->keys_named("bo")), (std::vector<int64_t>{}));
  for (const std::string& name : kSqlLookingNames)
    EXPECT_EQ(key_ids(store->keys_named(name)), (std::vector<int64_t>{})) << name;
  EXPECT_EQ(store->find_active_key_named(acme->id, "bot").value()->id, 3);
  ambiguous = store->revoke_key("bot", kAdmin);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().message,
            "cannot revoke API key 'bot': 3 tenants have an active key of that name; give its "
            "--tenant or its --id");
  // With its tenant, the name names one key.
  auto of_acme = store->revoke_key("bot", kAdmin, "acme");
  ASSERT_TRUE(of_acme.ok()) << of_acme.error().message;
  EXPECT_EQ(of_acme->id, 3);
  EXPECT_EQ(of_acme->tenant_id, acme->id);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"acme", "cannot revoke API key 'bot' in tenant 'acme': it is already revoked (id 3)"},
      {"nobody", "cannot revoke API key: no tenant is named 'nobody'"},
      {"ACME", "cannot revoke API key: no tenant is named 'ACME'"},
  };
  for (const auto& [tenant, message] : refused) {
    auto result = store->revoke_key("bot", kAdmin, tenant);
    ASSERT_FALSE(result.ok()) << tenant;
    EXPECT_EQ(result.error().message, message);
  }
  auto no_key = store->revoke_key("robot", kAdmin, "beta");
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.error().message,
            "cannot revoke API key: no key is named 'robot' in tenant 'beta'");
  ASSERT_TRUE(store->revoke_key_id(4, kAdmin).ok());
  // One tenant's key left of that name: the name alone revokes it.
  auto last = store->revoke_key("bot", kAdmin);
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_EQ(last->id, 2);
  EXPECT_FALSE(store->authenticate(*in_beta)->has_value());
  auto audit = all_audit_entries(*store);
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  ASSERT_EQ(audit->size(), 10u);  // two tenants, four keys, four revocations
  EXPECT_EQ(audit->back().action, "key.revoke");
  EXPECT_EQ(audit->back().detail, "id=2");

  // Behind the store's back: the index allows one active "bot" per tenant, revoked ones besides.
  const auto insert = [&](const std::string& secret_hash, int64_t tenant, const char* revoked) {
    return raw_exec(
        "INSERT INTO api_keys(name, prefix, secret_sha256, created_at_us, tenant_id, "
        "revoked_at_us) VALUES ('bot', 'gy-x', '" +
        secret_hash + "', 0, " + std::to_string(tenant) + ", " + revoked + ")");
  };
  EXPECT_EQ(insert("x1", acme->id, "NULL"), "");
  EXPECT_EQ(insert("x2", beta->id, "NULL"), "");
  EXPECT_EQ(insert("x3", acme->id, "5"), "");
  const std::string duplicate = insert("x4", acme->id, "NULL");
  EXPECT_NE(duplicate.find(GetParam() == "sqlite" ? "UNIQUE constraint failed: api_keys.tenant_id, "
                                                    "api_keys.name"
                                                  : "\"api_keys_active_name\""),
            std::string::npos)
      << duplicate;
}

std::vector<std::string> model_names(Result<std::vector<ModelPrice>> prices) {
  EXPECT_TRUE(prices.ok()) << prices.error().message;
  std::vector<std::string> names;
  if (prices.ok())
    for (const ModelPrice& p : *prices) names.push_back(p.model);
  return names;
}

TEST_P(StoreBackendTest, PricesArePagedByModelNameInByteOrder) {
  using Names = std::vector<std::string>;
  auto store = open();
  ASSERT_TRUE(store);
  for (const char* model : {"zeta", "b/x:1", "alpha", "Zeta-2", "b", "Alpha"})
    ASSERT_TRUE(store->set_price(model, Price{1, 1, 1}, kAdmin).ok());
  ASSERT_TRUE(store->set_price("b", Price{10, 5, 20}, kAdmin).ok());

  // Bytes: upper case before lower case, "b" before "b/x:1" (whatever the database's locale).
  const Names all = {"Alpha", "Zeta-2", "alpha", "b", "b/x:1", "zeta"};
  EXPECT_EQ(model_names(all_prices(*store)), all);
  EXPECT_EQ(model_names(store->prices_page({"", 100})), all);
  EXPECT_EQ(model_names(store->prices_page({"", 2})), (Names{"Alpha", "Zeta-2"}));
  EXPECT_EQ(model_names(store->prices_page({"Zeta-2", 2})), (Names{"alpha", "b"}));
  EXPECT_EQ(model_names(store->prices_page({"b", 2})), (Names{"b/x:1", "zeta"}));
  EXPECT_EQ(model_names(store->prices_page({"zeta", 2})), (Names{}));
  // A cursor is a position: a model without a price pages on from where it would be.
  EXPECT_EQ(model_names(store->prices_page({"B", 1})), (Names{"Zeta-2"}));
  EXPECT_EQ(model_names(store->prices_page({"a", 3})), (Names{"alpha", "b", "b/x:1"}));
  EXPECT_EQ(model_names(store->prices_page({"b/", 3})), (Names{"b/x:1", "zeta"}));
  EXPECT_EQ(model_names(store->prices_page({"zz", 3})), (Names{}));
  // Bound, never spliced: "'" sorts before every name, "~" after them.
  EXPECT_EQ(model_names(store->prices_page({"' OR 1=1 --", 1})), (Names{"Alpha"}));
  EXPECT_EQ(model_names(store->prices_page({"~'; DROP TABLE prices; --", 1})), (Names{}));

  auto b = store->prices_page({"alpha", 1});
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].model, "b");
  EXPECT_EQ((*b)[0].price.input, 10);
  EXPECT_EQ((*b)[0].price.cached_input, 5);
  EXPECT_EQ((*b)[0].price.output, 20);

  auto refused = store->prices_page({"", 0});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "cannot list prices: a page holds at least 1");
  EXPECT_EQ(model_names(all_prices(*store)), all);
}

TEST_P(StoreBackendTest, PagesOfTenantsKeysAndTheAuditLogAndReadsById) {
  using Ids = std::vector<int64_t>;
  using Names = std::vector<std::string>;
  auto store = open();
  ASSERT_TRUE(store);
  for (const char* name : {"acme", "rival", "zeta"})
    ASSERT_TRUE(store->create_tenant(name, {}, kAdmin).ok());
  for (const NewKey& key : {NewKey{"a1", "acme", Role::Owner}, NewKey{"r1", "rival"},
                            NewKey{"a2", "acme", Role::Admin}, NewKey{"a3", "acme"},
                            NewKey{"d1"}})
    ASSERT_TRUE(store->create_key(key, kAdmin).ok());
  ASSERT_TRUE(store->revoke_key("a3", kAdmin).ok());

  EXPECT_EQ(tenant_ids(store->tenants_page({0, 2})), (Ids{1, 2}));
  EXPECT_EQ(tenant_ids(store->tenants_page({2, 2})), (Ids{3, 4}));
  EXPECT_EQ(tenant_ids(store->tenants_page({3, 10})), (Ids{4}));
  EXPECT_EQ(tenant_ids(store->tenants_page({4, 10})), (Ids{}));
  EXPECT_FALSE(store->tenants_page({0, 0}).ok());

  EXPECT_EQ(key_names(store->keys_page({{0, 3}, std::nullopt})), (Names{"a1", "r1", "a2"}));
  EXPECT_EQ(key_names(store->keys_page({{3, 3}, std::nullopt})), (Names{"a3", "d1"}));
  EXPECT_EQ(key_names(store->keys_page({{0, 10}, 2})), (Names{"a1", "a2", "a3"}));
  EXPECT_EQ(key_names(store->keys_page({{0, 10}, 2, false})), (Names{"a1", "a3"}));
  EXPECT_EQ(key_names(store->keys_page({{1, 1}, 2, false})), (Names{"a3"}));
  EXPECT_EQ(key_names(store->keys_page({{0, 10}, std::nullopt, false})),
            (Names{"a1", "r1", "a3", "d1"}));
  EXPECT_EQ(key_names(store->keys_page({{0, 10}, 99})), (Names{}));
  EXPECT_FALSE(store->keys_page({{0, 0}, std::nullopt}).ok());

  auto rival = store->find_tenant(3);
  ASSERT_TRUE(rival.ok() && rival->has_value());
  EXPECT_EQ((*rival)->name, "rival");
  EXPECT_FALSE(store->find_tenant(5)->has_value());
  auto a3 = store->find_key(4);
  ASSERT_TRUE(a3.ok() && a3->has_value());
  EXPECT_EQ((*a3)->name, "a3");
  EXPECT_EQ((*a3)->tenant_id, 2);
  EXPECT_TRUE((*a3)->revoked_at_us.has_value());
  EXPECT_FALSE(store->find_key(6)->has_value());

  // 3 tenants, 5 keys, 1 revocation.
  auto all = all_audit_entries(*store);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 9u);
  for (size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].id, static_cast<int64_t>(i + 1));
  auto page = store->audit_page({7, 5});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 8);
  EXPECT_EQ((*page)[0].action, "key.create");
  EXPECT_EQ((*page)[0].target, "d1");
  EXPECT_EQ((*page)[1].id, 9);
  EXPECT_EQ((*page)[1].action, "key.revoke");
  EXPECT_EQ(store->audit_page({0, 3})->back().id, 3);
  EXPECT_TRUE(store->audit_page({9, 3})->empty());
  EXPECT_FALSE(store->audit_page({0, 0}).ok());
}

}  // namespace
}  // namespace gengyun::platform
