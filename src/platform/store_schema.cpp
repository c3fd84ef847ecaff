#include "platform/store_schema.h"

#include <string>

#include "platform/sqlite_statement.h"

namespace gengyun::platform {
namespace {

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";

constexpr const char* kCreateTables = R"sql(
CREATE TABLE IF NOT EXISTS api_keys (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL CHECK (length(name) > 0),
  prefix        TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL UNIQUE,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name
  ON api_keys(name) WHERE revoked_at_us IS NULL;
CREATE INDEX IF NOT EXISTS api_keys_prefix ON api_keys(prefix);
CREATE TABLE IF NOT EXISTS usage_ledger (
  id                INTEGER PRIMARY KEY,
  key_id            INTEGER NOT NULL REFERENCES api_keys(id),
  model             TEXT NOT NULL,
  prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
  completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
  started_at_us     INTEGER NOT NULL,
  finished_at_us    INTEGER NOT NULL,
  endpoint          TEXT NOT NULL,
  http_status       INTEGER NOT NULL,
  status            TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
  error             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_ledger_key_model ON usage_ledger(key_id, model);
CREATE TRIGGER IF NOT EXISTS usage_ledger_no_update BEFORE UPDATE ON usage_ledger
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only');
END;
CREATE TRIGGER IF NOT EXISTS usage_ledger_no_delete BEFORE DELETE ON usage_ledger
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only');
END;
)sql";

Result<int64_t> read_version(sqlite3* db) {
  auto select = sqlite::Statement::prepare(db, "SELECT max(version) FROM schema_version");
  if (!select) return select.error();
  auto row = select->step();
  if (!row) return row.error();
  return select->column_is_null(0) ? int64_t{0} : select->column_int64(0);
}

}  // namespace

Result<void> ensure_schema(sqlite3* db) {
  auto txn = sqlite::Transaction::begin(db);
  if (!txn) return txn.error();
  if (auto r = sqlite::exec(db, kCreateVersionTable); !r) return r;
  auto version = read_version(db);
  if (!version) return version.error();
  if (*version > kStoreSchemaVersion) {
    return make_error("the database has schema version " + std::to_string(*version) +
                      ", newer than this gengyun understands (" +
                      std::to_string(kStoreSchemaVersion) +
                      "); run a gengyun release at least as new as the one that wrote it");
  }
  if (auto r = sqlite::exec(db, kCreateTables); !r) return r;
  if (*version == 0) {
    auto insert = sqlite::Statement::prepare(db, "INSERT INTO schema_version(version) VALUES (?1)");
    if (!insert) return insert.error();
    insert->bind(1, kStoreSchemaVersion);
    if (auto done = insert->step(); !done) return done.error();
  }
  return txn->commit();
}

}  // namespace gengyun::platform
