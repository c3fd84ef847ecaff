// A database written by the first release (schema version 1) opens in this one: its keys and
// ledger rows are kept and the new tables appear. A database of version 5 gains PostgreSQL's
// index on prices' model names (version 6), one of version 6 keys' names unique per tenant
// (version 7), one of version 7 its spend per day (version 8), on each backend.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "backends.h"
#include "platform/sha256.h"
#include "platform/store.h"
#include "platform/store_rules.h"
#include "platform/store_schema.h"
#include "store_reads.h"
#include "temp_dir.h"

namespace gengyun::platform {
namespace {

using testing::all_keys;

using testing::RawDb;
using testing::TempDir;
using Rows = std::vector<std::vector<std::string>>;

// The schema of version 1, as that release created it.
constexpr const char* kVersion1 = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (length(name) > 0), prefix TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL UNIQUE, created_at_us INTEGER NOT NULL, revoked_at_us INTEGER);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at_us IS NULL;
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE TABLE usage_ledger (
  id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL REFERENCES api_keys(id), model TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL CHECK (prompt_tokens >= 0),
  completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
  started_at_us INTEGER NOT NULL, finished_at_us INTEGER NOT NULL, endpoint TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')), error TEXT NOT NULL);
CREATE INDEX usage_ledger_key_model ON usage_ledger(key_id, model);
CREATE TRIGGER usage_ledger_no_update BEFORE UPDATE ON usage_ledger
BEGIN SELECT RAISE(ABORT, 'usage_ledger is append-only'); END;
CREATE TRIGGER usage_ledger_no_delete BEFORE DELETE ON usage_ledger
BEGIN SELECT RAISE(ABORT, 'usage_ledger is append-only'); END;
)sql";

TEST(StoreMigration, Version1DatabaseKeepsItsKeysAndRows) {
  TempDir dir;
  const std::string path = dir.file("old.db");
  const std::string secret = "gy-0123456789abcdefghijABCDEFGHIJ0123456789abc";
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(kVersion1), "");
    ASSERT_EQ(raw.exec("INSERT INTO api_keys VALUES (1, 'team-a', 'gy-01234', '" +
                       sha256_hex(secret) + "', 1700000000000000, NULL)"),
              "");
    ASSERT_EQ(raw.exec("INSERT INTO usage_ledger VALUES (1, 1, 'qwen', 17, 250, 1700000001000000, "
                       "1700000002000000, '/v1/chat/completions', 200, 'ok', '')"),
              "");
  }
  auto store = Store::open(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto key = (*store)->authenticate(secret);
  ASSERT_TRUE(key.ok() && key->has_value());
  EXPECT_EQ((*key)->name, "team-a");
  EXPECT_EQ((*key)->tenant_id, 1);
  EXPECT_EQ((*key)->role, Role::Member);

  auto rows = (*store)->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  const UsageRecord& row = rows->front();
  EXPECT_EQ(row.request_id, "legacy-1");
  EXPECT_EQ(row.model, "qwen");
  EXPECT_EQ(row.prompt_tokens, 17);
  EXPECT_EQ(row.completion_tokens, 250);
  EXPECT_EQ(row.finished_at_us, 1'700'000'002'000'000);
  EXPECT_EQ(row.cost_micro_usd, 0);
  EXPECT_EQ(row.tenant_id, 1);

  RawDb raw(path);
  EXPECT_EQ(raw.query("SELECT version FROM schema_version"),
            (Rows{{std::to_string(kStoreSchemaVersion)}}));
  EXPECT_EQ(raw.query("SELECT id, name FROM tenants"), (Rows{{"1", "default"}}));
  // The migrated row is closed: it stays as it is.
  EXPECT_NE(raw.exec("UPDATE usage_ledger SET prompt_tokens = 0").find("append-only"),
            std::string::npos);
  // New keys and rows work beside the old ones.
  ASSERT_TRUE((*store)->create_key("team-b").ok());
  EXPECT_EQ(all_keys(**store)->size(), 2u);
}

using testing::StoreBackendTest;

// A database without gengyun's schema that holds another program's tables is refused when
// opened to write (as `keys create --db` or `serve` open it), naming them, and gengyun's schema
// is not mixed into it (QA 2026-12-03: it was installed beside them).
TEST_P(StoreBackendTest, WritersRefuseADatabaseWithTablesOfAnotherProgram) {
  ASSERT_EQ(raw_exec("CREATE TABLE notes(text TEXT); INSERT INTO notes(text) VALUES ('keep me')"),
            "");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto store = Store::open(location_);
    ASSERT_FALSE(store.ok());
    EXPECT_NE(store.error().message.find(std::string(kForeignTablesError) + " (notes)"),
              std::string::npos)
        << store.error().message;
  }
  EXPECT_EQ(raw_query("SELECT text FROM notes"),
            (std::vector<std::vector<std::string>>{{"keep me"}}));
  const std::string tables =
      GetParam() == "sqlite"
          ? "SELECT count(*) FROM sqlite_master WHERE name <> 'notes'"
          : "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_name <> 'notes'";
  EXPECT_EQ(raw_query(tables), (std::vector<std::vector<std::string>>{{"0"}}));
  // Nor is the file changed (QA 2026-12-07: it was switched to WAL before being refused).
  if (GetParam() == "sqlite") {
    EXPECT_EQ(raw_query("PRAGMA journal_mode"),
              (std::vector<std::vector<std::string>>{{"delete"}}));
  }
}

// Another program's database may have a table named schema_version of its own: it is still
// another program's (gengyun's schema is schema_version with api_keys and usage_ledger), refused
// and left as it was (QA 2026-12-07: its version was read as gengyun's and migrations begun).
TEST_P(StoreBackendTest, AForeignTableNamedSchemaVersionIsNotGengyunsSchema) {
  ASSERT_EQ(raw_exec("CREATE TABLE schema_version(version INTEGER); INSERT INTO schema_version "
                     "VALUES (10); CREATE TABLE notes(text TEXT)"),
            "");
  auto writer = Store::open(location_);
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(
      writer.error().message.find(std::string(kForeignTablesError) + " (notes, schema_version)"),
      std::string::npos)
      << writer.error().message;
  auto reader = Store::open(location_, OpenMode::Read);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.error().message.find(kNoSchemaError), std::string::npos)
      << reader.error().message;
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"),
            (std::vector<std::vector<std::string>>{{"10"}}));
  if (GetParam() == "sqlite") {
    EXPECT_EQ(raw_query("PRAGMA journal_mode"),
              (std::vector<std::vector<std::string>>{{"delete"}}));
  }
}

TEST_P(StoreBackendTest, AVersion5DatabaseGainsTheIndexOfPricesInByteOrder) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    for (const char* model : {"qwen", "Llama", "b/x:1"})
      ASSERT_TRUE(store->set_price(model, Price{1, 1, 2}).ok());
  }
  // Version 5 as it was: SQLite's schema is the same, PostgreSQL's lacks the index.
  const bool sqlite = GetParam() == "sqlite";
  ASSERT_EQ(
      raw_exec(
          std::string(sqlite ? "" : "DROP INDEX prices_model_bytes; ") +
          "ALTER TABLE usage_ledger DROP COLUMN end_user; UPDATE schema_version SET version = 5"),
      "");
  const std::string index_query =
      sqlite ? "SELECT name FROM sqlite_master WHERE tbl_name = 'prices' ORDER BY name"
             : "SELECT indexdef FROM pg_indexes WHERE tablename = 'prices' ORDER BY indexname";
  const Rows before = raw_query(index_query);
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"),
            (Rows{{std::to_string(kStoreSchemaVersion)}}));
  if (sqlite)
    EXPECT_EQ(raw_query(index_query), before);
  else
    EXPECT_EQ(raw_query(index_query),
              (Rows{{"CREATE INDEX prices_model_bytes ON public.prices USING btree (model COLLATE "
                     "\"C\")"},
                    {"CREATE UNIQUE INDEX prices_pkey ON public.prices USING btree (model)"}}));
  auto page = store->prices_page({"Llama", 5});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].model, "b/x:1");
  EXPECT_EQ((*page)[1].model, "qwen");
  EXPECT_EQ((*page)[1].price.output, 2);
}

// A reader (OpenMode::Read: `gengyun usage`, `keys list`) refuses a database of an older schema
// and leaves it as it was, so that older servers sharing it keep opening it (QA of 2026-12-03,
// third); opened to write (OpenMode::Existing: `gengyun migrate`) it is migrated, and the store
// says from which version; on each backend.
TEST_P(StoreBackendTest, AReaderRefusesAnOlderSchemaThatAWriterMigrates) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->schema_version_found(), 0);
    ASSERT_TRUE(store->create_key("bot").ok());
  }
  ASSERT_EQ(
      raw_exec(
          "ALTER TABLE usage_ledger DROP COLUMN end_user; UPDATE schema_version SET version = 8"),
      "");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto reader = Store::open(location_, OpenMode::Read);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(reader.error().message.find(
                  "the database has schema version 8, older than this gengyun's (" +
                  std::to_string(kStoreSchemaVersion) +
                  "), and a command that reads does not migrate it; migrate it with `gengyun "
                  "migrate --db` (gengyun releases before this one then refuse it)"),
              std::string::npos)
        << reader.error().message;
  }
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"), (Rows{{"8"}}));
  auto writer = Store::open(location_, OpenMode::Existing);
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  EXPECT_EQ((*writer)->schema_version_found(), 8);
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"),
            (Rows{{std::to_string(kStoreSchemaVersion)}}));
  auto reader = Store::open(location_, OpenMode::Read);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ((*reader)->schema_version_found(), kStoreSchemaVersion);
  ASSERT_EQ(all_keys(**reader)->size(), 1u);
  EXPECT_EQ(all_keys(**reader)->front().name, "bot");
}

// A schema version below 1 on gengyun's tables (a hand-edited or damaged database) is refused
// by readers and writers alike, and the database left as it was (QA of 2026-12-07, ninth: -5
// ran bytes outside the migrations' table as SQL, -100000000 crashed `gengyun migrate`).
TEST_P(StoreBackendTest, ASchemaVersionBelowOneIsRefusedAndLeftAsItWas) {
  {
    auto store = open();
    ASSERT_TRUE(store);
  }
  // (PostgreSQL's column is a BIGINT: only SQLite can hold text or a real there.)
  // Each: the SQL value set, as the message shows it, as the table then holds it.
  std::vector<std::tuple<std::string, std::string, std::string>> versions = {
      {"-5", "-5", "-5"}, {"-100000000", "-100000000", "-100000000"}, {"0", "0", "0"}};
  if (GetParam() == "sqlite")
    versions.insert(versions.end(), {{"'abc'", "'abc'", "abc"}, {"1e30", "'1.0e+30'", "1.0e+30"}});
  for (const auto& [version, shown, stored] : versions) {
    SCOPED_TRACE(version);
    ASSERT_EQ(raw_exec("UPDATE schema_version SET version = " + version), "");
    for (const OpenMode mode : {OpenMode::Read, OpenMode::Existing, OpenMode::Create}) {
      auto store = Store::open(location_, mode);
      ASSERT_FALSE(store.ok());
      EXPECT_NE(store.error().message.find("the database has schema version " + shown +
                                           ", which no gengyun writes (1 to " +
                                           std::to_string(kStoreSchemaVersion) +
                                           "): it was edited or is damaged; restore it from a "
                                           "backup"),
                std::string::npos)
          << store.error().message;
    }
    EXPECT_EQ(raw_query("SELECT version FROM schema_version"), (Rows{{stored}}));
  }
}

// A database of version 6, whose active keys' names were unique deployment-wide, opens with
// them unique per tenant (version 7) on each backend: its keys are kept and another tenant's
// key may now take a name in use.
TEST_P(StoreBackendTest, AVersion6DatabaseGetsKeyNamesUniquePerTenant) {
  std::string secret;
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->create_tenant("acme", {}).ok());
    auto created = store->create_key(NewKey{"bot", "acme"});
    ASSERT_TRUE(created.ok()) << created.error().message;
    secret = *created;
    ASSERT_TRUE(store->create_key(NewKey{"gone"}).ok());
    ASSERT_TRUE(store->revoke_key_id(2).ok());
  }
  // Version 6 as it was: the unique index on the names alone, no other index on names.
  ASSERT_EQ(
      raw_exec(
          "DROP INDEX api_keys_name; DROP INDEX api_keys_active_name; CREATE UNIQUE "
          "INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at_us IS NULL; "
          "ALTER TABLE usage_ledger DROP COLUMN end_user; UPDATE schema_version SET version = 6"),
      "");
  const std::string insert_bot =
      "INSERT INTO api_keys(name, prefix, secret_sha256, created_at_us, tenant_id) VALUES "
      "('bot', 'gy-x', 'x', 0, 1)";
  ASSERT_NE(raw_exec(insert_bot), "");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"),
            (Rows{{std::to_string(kStoreSchemaVersion)}}));
  const bool sqlite = GetParam() == "sqlite";
  EXPECT_EQ(raw_query(sqlite ? "SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE "
                               "'api_keys_%name' ORDER BY name"
                             : "SELECT indexdef FROM pg_indexes WHERE indexname LIKE "
                               "'api_keys_%name' ORDER BY indexname"),
            sqlite ? (Rows{{"CREATE UNIQUE INDEX api_keys_active_name ON api_keys(tenant_id, name) "
                            "WHERE revoked_at_us IS NULL"},
                           {"CREATE INDEX api_keys_name ON api_keys(name)"}})
                   : (Rows{{"CREATE UNIQUE INDEX api_keys_active_name ON public.api_keys USING "
                            "btree (tenant_id, name) WHERE (revoked_at_us IS NULL)"},
                           {"CREATE INDEX api_keys_name ON public.api_keys USING btree (name)"}}));
  auto bot = store->authenticate(secret);
  ASSERT_TRUE(bot.ok() && bot->has_value());
  EXPECT_EQ((*bot)->id, 1);
  EXPECT_EQ((*bot)->tenant_id, 2);
  auto again = store->create_key(NewKey{"bot", "acme"});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already exists in tenant 'acme' (id 1)"), std::string::npos)
      << again.error().message;
  auto in_default = store->create_key(NewKey{"bot"});
  ASSERT_TRUE(in_default.ok()) << in_default.error().message;
  auto found = store->find_active_key_named(1, "bot");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->tenant_id, 1);
  EXPECT_EQ(store->find_active_key_named(2, "bot").value()->id, 1);
  auto named = store->keys_named("gone");
  ASSERT_TRUE(named.ok()) << named.error().message;
  ASSERT_EQ(named->size(), 1u);
  EXPECT_TRUE(named->front().revoked_at_us.has_value());
}

// A database of version 7, whose budgets summed the ledger at each admission, opens with the
// spend of each key and tenant per day filled from its ledger (version 8), on each backend, and
// the sums follow the rows written after.
TEST_P(StoreBackendTest, AVersion7DatabaseGetsItsSpendPerDayFromItsLedger) {
  constexpr int64_t kNow = 1'709'214'315'000'000;  // 2024-02-29T13:45:15Z
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->set_price("qwen", Price{150'000, 75'000, 600'000}, Actor{}).ok());
    ASSERT_TRUE(store->create_tenant("acme", {}).ok());
    ASSERT_TRUE(store->create_key(NewKey{"bot", "acme"}).ok());
    for (const auto& [id, at] : {std::pair{"r1", kNow}, std::pair{"r2", kNow - 86'400'000'000}}) {
      auto admitted =
          store->admit({id, 1, "qwen", "/v1/chat/completions", 1000, 500, at});
      ASSERT_TRUE(admitted.ok() && admitted->outcome == Admission::Outcome::Admitted);
    }
    ASSERT_TRUE(store->settle("r1", Settlement{{1000, 0, 20}, 200, "ok", "", kNow + 1}).ok());
  }
  // Version 7 as it was: no spend sums, no triggers keeping them.
  ASSERT_EQ(raw_exec(GetParam() == "sqlite"
                         ? "DROP TRIGGER usage_ledger_spend_insert; DROP TRIGGER "
                           "usage_ledger_spend_update; DROP TRIGGER usage_ledger_spend_move; "
                           "DROP TABLE spend_days; ALTER TABLE usage_ledger DROP COLUMN end_user; "
                           "UPDATE schema_version SET version = 7"
                         : "DROP TRIGGER usage_ledger_spend ON usage_ledger; DROP FUNCTION "
                           "gengyun_ledger_spend(); DROP TABLE spend_days; DROP TABLE "
                           "spend_deltas; ALTER TABLE usage_ledger DROP COLUMN end_user; UPDATE "
                           "schema_version SET version = 7"),
            "");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"),
            (Rows{{std::to_string(kStoreSchemaVersion)}}));
  // r1 settled at 1000 * 0.15 + 20 * 0.6 = 162, r2 open at its reservation 450, a day apart.
  const std::string day = std::to_string(kNow / 86'400'000'000);
  const std::string day_before = std::to_string(kNow / 86'400'000'000 - 1);
  const Rows want{{"key", "1", day_before, "450"},
                  {"key", "1", day, "162"},
                  {"tenant", "2", day_before, "450"},
                  {"tenant", "2", day, "162"}};
  EXPECT_EQ(ledger_spend(), want);
  EXPECT_EQ(kept_spend(), want);
  ASSERT_TRUE(store->settle("r2", Settlement{{1000, 0, 0}, 200, "ok", "", kNow}).ok());
  EXPECT_EQ(kept_spend(), ledger_spend());
  EXPECT_EQ(kept_spend()[0], (std::vector<std::string>{"key", "1", day_before, "150"}));
}

}  // namespace
}  // namespace gengyun::platform
