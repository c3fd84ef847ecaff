#include "platform/store_schema.h"

#include <string>

#include "platform/sqlite_statement.h"
#include "platform/store_rules.h"

namespace gengyun::platform {
namespace {

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";

/// Migration 1: the keys and the append-only ledger of the first release.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE api_keys (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL CHECK (length(name) > 0),
  prefix        TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL UNIQUE,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at_us IS NULL;
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE TABLE usage_ledger (
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
CREATE INDEX usage_ledger_key_model ON usage_ledger(key_id, model);
CREATE TRIGGER usage_ledger_no_update BEFORE UPDATE ON usage_ledger
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only');
END;
CREATE TRIGGER usage_ledger_no_delete BEFORE DELETE ON usage_ledger
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only');
END;
)sql";

/// Migration 2: tenants, roles, prices, limits, reservations and checkpoints, audit log.
/// Existing keys join tenant 1 "default" as members; existing rows keep their counts at cost 0
/// and get request ids "legacy-<row id>".
constexpr const char* kMigration2 = R"sql(
CREATE TABLE tenants (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
  created_at_us    INTEGER NOT NULL,
  budget_micro_usd INTEGER CHECK (budget_micro_usd >= 0),
  budget_period    TEXT NOT NULL DEFAULT 'total' CHECK (budget_period IN ('day', 'month', 'total')),
  rpm              INTEGER CHECK (rpm >= 0),
  tpm              INTEGER CHECK (tpm >= 0)
);
INSERT INTO tenants(id, name, created_at_us) VALUES (1, 'default', 0);

ALTER TABLE api_keys ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1 REFERENCES tenants(id);
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
  CHECK (role IN ('admin', 'owner', 'member'));
ALTER TABLE api_keys ADD COLUMN expires_at_us INTEGER;
ALTER TABLE api_keys ADD COLUMN models TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN budget_micro_usd INTEGER CHECK (budget_micro_usd >= 0);
ALTER TABLE api_keys ADD COLUMN budget_period TEXT NOT NULL DEFAULT 'total'
  CHECK (budget_period IN ('day', 'month', 'total'));
ALTER TABLE api_keys ADD COLUMN rpm INTEGER CHECK (rpm >= 0);
ALTER TABLE api_keys ADD COLUMN tpm INTEGER CHECK (tpm >= 0);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE prices (
  model                 TEXT PRIMARY KEY CHECK (length(model) > 0),
  input_micro_usd       INTEGER NOT NULL CHECK (input_micro_usd >= 0),
  cached_input_micro_usd INTEGER NOT NULL CHECK (cached_input_micro_usd >= 0),
  output_micro_usd      INTEGER NOT NULL CHECK (output_micro_usd >= 0),
  updated_at_us         INTEGER NOT NULL
);

CREATE TABLE ledger_v2 (
  id                     INTEGER PRIMARY KEY,
  request_id             TEXT NOT NULL UNIQUE,
  key_id                 INTEGER NOT NULL REFERENCES api_keys(id),
  tenant_id              INTEGER NOT NULL REFERENCES tenants(id),
  model                  TEXT NOT NULL,
  endpoint               TEXT NOT NULL,
  status                 TEXT NOT NULL CHECK (status IN
                           ('open', 'ok', 'error', 'cancelled', 'shutdown', 'interrupted')),
  http_status            INTEGER NOT NULL,
  error                  TEXT NOT NULL,
  prompt_tokens          INTEGER NOT NULL CHECK (prompt_tokens >= 0),
  cached_prompt_tokens   INTEGER NOT NULL DEFAULT 0
                           CHECK (cached_prompt_tokens >= 0 AND
                                  cached_prompt_tokens <= prompt_tokens),
  completion_tokens      INTEGER NOT NULL CHECK (completion_tokens >= 0),
  input_micro_usd        INTEGER NOT NULL DEFAULT 0,
  cached_input_micro_usd INTEGER NOT NULL DEFAULT 0,
  output_micro_usd       INTEGER NOT NULL DEFAULT 0,
  cost_micro_usd         INTEGER NOT NULL DEFAULT 0 CHECK (cost_micro_usd >= 0),
  reserved_micro_usd     INTEGER NOT NULL DEFAULT 0,
  reserved_tokens        INTEGER NOT NULL DEFAULT 0,
  started_at_us          INTEGER NOT NULL,
  checkpoint_at_us       INTEGER,
  server_id              TEXT NOT NULL DEFAULT '',
  finished_at_us         INTEGER
);
INSERT INTO ledger_v2(id, request_id, key_id, tenant_id, model, endpoint, status, http_status,
                      error, prompt_tokens, completion_tokens, started_at_us, finished_at_us)
  SELECT id, 'legacy-' || id, key_id, 1, model, endpoint, status, http_status, error,
         prompt_tokens, completion_tokens, started_at_us, finished_at_us FROM usage_ledger;
DROP TABLE usage_ledger;
ALTER TABLE ledger_v2 RENAME TO usage_ledger;
CREATE INDEX usage_ledger_key_model ON usage_ledger(key_id, model);
CREATE INDEX usage_ledger_key_time ON usage_ledger(key_id, started_at_us);
CREATE INDEX usage_ledger_tenant_time ON usage_ledger(tenant_id, started_at_us);
CREATE INDEX usage_ledger_open ON usage_ledger(status) WHERE status = 'open';
CREATE TRIGGER usage_ledger_no_update BEFORE UPDATE ON usage_ledger WHEN OLD.status <> 'open'
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only: only open rows may change');
END;
CREATE TRIGGER usage_ledger_no_delete BEFORE DELETE ON usage_ledger
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only');
END;

CREATE TABLE rate_windows (
  scope    TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id INTEGER NOT NULL,
  minute   INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  tokens   INTEGER NOT NULL,
  PRIMARY KEY (scope, scope_id, minute)
);

CREATE TABLE audit_log (
  id           INTEGER PRIMARY KEY,
  at_us        INTEGER NOT NULL,
  actor_key_id INTEGER,
  actor        TEXT NOT NULL,
  action       TEXT NOT NULL,
  target       TEXT NOT NULL,
  detail       TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
)sql";

/// Migration 3: rate limits count in a sliding window of one-second buckets. A minute's counts
/// move to its first second, so they count until that minute's end, as before.
constexpr const char* kMigration3 = R"sql(
CREATE TABLE rate_buckets (
  scope    TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id INTEGER NOT NULL,
  second   INTEGER NOT NULL,
  requests INTEGER NOT NULL CHECK (requests >= 0),
  tokens   INTEGER NOT NULL CHECK (tokens >= 0),
  PRIMARY KEY (scope, scope_id, second)
);
INSERT INTO rate_buckets(scope, scope_id, second, requests, tokens)
  SELECT scope, scope_id, minute * 60, requests, tokens FROM rate_windows;
DROP TABLE rate_windows;
)sql";

/// Migration 4: auth_revision, a counter that every change of a key or a tenant bumps in its
/// own transaction, so that a store sees the changes other processes make to what
/// authentication reads with one read of one row (the key cache, key_cache.h). Inserts bump
/// nothing: a new key is in no cache. Written so that it can be applied again.
constexpr const char* kMigration4 = R"sql(
CREATE TABLE IF NOT EXISTS auth_revision (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
);
INSERT OR IGNORE INTO auth_revision(id, revision) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS api_keys_update_revision AFTER UPDATE ON api_keys
BEGIN
  UPDATE auth_revision SET revision = revision + 1;
END;
CREATE TRIGGER IF NOT EXISTS api_keys_delete_revision AFTER DELETE ON api_keys
BEGIN
  UPDATE auth_revision SET revision = revision + 1;
END;
CREATE TRIGGER IF NOT EXISTS tenants_update_revision AFTER UPDATE ON tenants
BEGIN
  UPDATE auth_revision SET revision = revision + 1;
END;
CREATE TRIGGER IF NOT EXISTS tenants_delete_revision AFTER DELETE ON tenants
BEGIN
  UPDATE auth_revision SET revision = revision + 1;
END;
)sql";

/// Migration 5: nothing on SQLite. Version 5 is PostgreSQL's servers table (heartbeats, for a
/// server whose lock session alone ends); a SQLite server's liveness is an flock that only the
/// end of its process releases, so it needs no heartbeat.
constexpr const char* kMigration5 = "";

/// Migration 6: nothing on SQLite. Version 6 is PostgreSQL's index on prices' model names in
/// byte order; SQLite's primary key on them is of the BINARY collation, byte order already.
constexpr const char* kMigration6 = "";

/// Migration 7: active keys' names are unique per tenant, no longer deployment-wide, so that no
/// tenant learns the names of another's keys from a refused name (docs/platform.md, "Key names
/// are a tenant's own"); keys' names get an index of their own for the reads by name alone
/// (Store::keys_named). The same on PostgreSQL. Written so that it can be applied again.
constexpr const char* kMigration7 = R"sql(
DROP INDEX IF EXISTS api_keys_active_name;
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(tenant_id, name) WHERE revoked_at_us IS NULL;
CREATE INDEX IF NOT EXISTS api_keys_name ON api_keys(name);
)sql";

/// Migration 8: what each key and tenant is billed per UTC day (docs/platform.md, "A budget's
/// spend is kept per day"), filled from the ledger and kept by its triggers: a row counts at
/// its reservation while open and at its cost once closed (what a budget counts). Rows never
/// change key, tenant or start, and are never deleted; a row's change of amount is one
/// upsert per scope, and a change of key, tenant or day (none today) moves its amount.
/// PostgreSQL keeps the same sums (its version 8).
constexpr const char* kMigration8 = R"sql(
CREATE TABLE IF NOT EXISTS spend_days (
  scope     TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id  INTEGER NOT NULL,
  day       INTEGER NOT NULL,
  micro_usd INTEGER NOT NULL,
  PRIMARY KEY (scope, scope_id, day)
) WITHOUT ROWID;
DELETE FROM spend_days;
INSERT INTO spend_days(scope, scope_id, day, micro_usd)
  SELECT 'key', key_id, started_at_us / 86400000000,
         sum(CASE WHEN status = 'open' THEN reserved_micro_usd ELSE cost_micro_usd END)
  FROM usage_ledger GROUP BY key_id, started_at_us / 86400000000;
INSERT INTO spend_days(scope, scope_id, day, micro_usd)
  SELECT 'tenant', tenant_id, started_at_us / 86400000000,
         sum(CASE WHEN status = 'open' THEN reserved_micro_usd ELSE cost_micro_usd END)
  FROM usage_ledger GROUP BY tenant_id, started_at_us / 86400000000;
DROP TRIGGER IF EXISTS usage_ledger_spend_insert;
CREATE TRIGGER usage_ledger_spend_insert AFTER INSERT ON usage_ledger
BEGIN
  INSERT INTO spend_days(scope, scope_id, day, micro_usd) VALUES
    ('key', NEW.key_id, NEW.started_at_us / 86400000000,
     CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END),
    ('tenant', NEW.tenant_id, NEW.started_at_us / 86400000000,
     CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END)
  ON CONFLICT(scope, scope_id, day) DO UPDATE SET micro_usd = micro_usd + excluded.micro_usd;
END;
DROP TRIGGER IF EXISTS usage_ledger_spend_update;
CREATE TRIGGER usage_ledger_spend_update AFTER UPDATE ON usage_ledger
WHEN (CASE WHEN OLD.status = 'open' THEN OLD.reserved_micro_usd ELSE OLD.cost_micro_usd END) <>
     (CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END)
  AND OLD.key_id = NEW.key_id AND OLD.tenant_id = NEW.tenant_id
  AND OLD.started_at_us / 86400000000 = NEW.started_at_us / 86400000000
BEGIN
  INSERT INTO spend_days(scope, scope_id, day, micro_usd) VALUES
    ('key', NEW.key_id, NEW.started_at_us / 86400000000,
     (CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END) -
     (CASE WHEN OLD.status = 'open' THEN OLD.reserved_micro_usd ELSE OLD.cost_micro_usd END)),
    ('tenant', NEW.tenant_id, NEW.started_at_us / 86400000000,
     (CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END) -
     (CASE WHEN OLD.status = 'open' THEN OLD.reserved_micro_usd ELSE OLD.cost_micro_usd END))
  ON CONFLICT(scope, scope_id, day) DO UPDATE SET micro_usd = micro_usd + excluded.micro_usd;
END;
DROP TRIGGER IF EXISTS usage_ledger_spend_move;
CREATE TRIGGER usage_ledger_spend_move AFTER UPDATE ON usage_ledger
WHEN OLD.key_id <> NEW.key_id OR OLD.tenant_id <> NEW.tenant_id
  OR OLD.started_at_us / 86400000000 <> NEW.started_at_us / 86400000000
BEGIN
  INSERT INTO spend_days(scope, scope_id, day, micro_usd) VALUES
    ('key', OLD.key_id, OLD.started_at_us / 86400000000,
     -(CASE WHEN OLD.status = 'open' THEN OLD.reserved_micro_usd ELSE OLD.cost_micro_usd END)),
    ('tenant', OLD.tenant_id, OLD.started_at_us / 86400000000,
     -(CASE WHEN OLD.status = 'open' THEN OLD.reserved_micro_usd ELSE OLD.cost_micro_usd END))
  ON CONFLICT(scope, scope_id, day) DO UPDATE SET micro_usd = micro_usd + excluded.micro_usd;
  INSERT INTO spend_days(scope, scope_id, day, micro_usd) VALUES
    ('key', NEW.key_id, NEW.started_at_us / 86400000000,
     CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END),
    ('tenant', NEW.tenant_id, NEW.started_at_us / 86400000000,
     CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd ELSE NEW.cost_micro_usd END)
  ON CONFLICT(scope, scope_id, day) DO UPDATE SET micro_usd = micro_usd + excluded.micro_usd;
END;
)sql";

/// Migration 9: a row closed as "interrupted" (its server judged gone, the row closed from its
/// last checkpoint) may still take its settlement, which a server that died with it in its
/// spool writes when it starts again: the better bill replaces the provisional one (a later
/// checkpoint raises it: docs/platform.md, "Spooled writes raise or replace an interrupted
/// closing"). Other closed rows stay as they are. The same on PostgreSQL.
constexpr const char* kMigration9 = R"sql(
DROP TRIGGER IF EXISTS usage_ledger_no_update;
CREATE TRIGGER usage_ledger_no_update BEFORE UPDATE ON usage_ledger
  WHEN OLD.status NOT IN ('open', 'interrupted')
BEGIN
  SELECT RAISE(ABORT, 'usage_ledger is append-only: only open or interrupted rows may change');
END;
)sql";

/// Migration 10: each row records its request's end user (the OpenAI field `user`; '' for
/// none, also for the rows written before), so that usage can be reported per end user. The
/// same on PostgreSQL.
constexpr const char* kMigration10 = R"sql(
ALTER TABLE usage_ledger ADD COLUMN end_user TEXT NOT NULL DEFAULT '';
)sql";

/// kMigrations[v - 1] brings a database from version v - 1 to v.
constexpr const char* kMigrations[] = {kMigration1, kMigration2, kMigration3, kMigration4,
                                       kMigration5, kMigration6, kMigration7, kMigration8,
                                       kMigration9, kMigration10};
static_assert(std::size(kMigrations) == kStoreSchemaVersion);

/// The schema version; 0 when schema_version holds no row (a new database). Errors: a version
/// below 0 or that is no integer (unknown_schema_error), SQLite errors.
Result<int64_t> read_version(sqlite3* db) {
  // A version that is no integer (text, a real: hand-edited) is named as it is stored (QA:
  // 'abc' read as 0, 1e30 as 2^63 - 1 "newer than this gengyun").
  auto odd = sqlite::Statement::prepare(
      db, "SELECT version FROM schema_version WHERE typeof(version) <> 'integer' LIMIT 1");
  if (!odd) return odd.error();
  auto odd_row = odd->step();
  if (!odd_row) return odd_row.error();
  if (*odd_row) return unknown_schema_error("'" + odd->column_text(0) + "'");
  auto select = sqlite::Statement::prepare(db, "SELECT max(version) FROM schema_version");
  if (!select) return select.error();
  auto row = select->step();
  if (!row) return row.error();
  const int64_t version = select->column_is_null(0) ? int64_t{0} : select->column_int64(0);
  if (version < 0) return unknown_schema_error(std::to_string(version));
  return version;
}

}  // namespace

Result<bool> has_schema(sqlite3* db) {
  auto select = sqlite::Statement::prepare(
      db,
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
      "('schema_version', 'api_keys', 'usage_ledger')");
  if (!select) return select.error();
  auto row = select->step();
  if (!row) return row.error();
  return select->column_int64(0) == 3;
}

Result<void> refuse_newer_schema(sqlite3* db) {
  auto version = read_version(db);
  if (!version) return version.error();
  if (*version > kStoreSchemaVersion) return newer_schema_error(*version);
  return {};
}

Result<void> refuse_foreign_tables(sqlite3* db) {
  auto foreign = sqlite::Statement::prepare(
      db,
      "SELECT group_concat(name, ', ') FROM (SELECT name FROM sqlite_master WHERE type = "
      "'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 5)");
  if (!foreign) return foreign.error();
  auto row = foreign->step();
  if (!row) return row.error();
  if (!foreign->column_is_null(0))
    return make_error(std::string(kForeignTablesError) + " (" + foreign->column_text(0) + ")");
  return {};
}

Result<int64_t> ensure_schema(sqlite3* db) {
  auto txn = sqlite::Transaction::begin(db);
  if (!txn) return txn.error();
  auto versioned = has_schema(db);
  if (!versioned) return versioned.error();
  // A file without gengyun's schema gets it only when it is empty: tables of another program
  // are never mixed with gengyun's.
  if (!*versioned)
    if (auto empty = refuse_foreign_tables(db); !empty) return empty.error();
  if (auto r = sqlite::exec(db, kCreateVersionTable); !r) return r.error();
  auto version = read_version(db);
  if (!version) return version.error();
  if (*version > kStoreSchemaVersion) return newer_schema_error(*version);
  // gengyun's tables without a version: their migrations would be run again on them.
  if (*versioned && *version == 0) return unknown_schema_error("0");
  if (*version < kStoreSchemaVersion) {
    for (int64_t v = *version + 1; v <= kStoreSchemaVersion; ++v) {
      if (auto r = sqlite::exec(db, kMigrations[v - 1]); !r)
        return make_error("migrating the schema to version " + std::to_string(v) + ": " +
                          r.error().message);
    }
    if (auto r = sqlite::exec(db, "DELETE FROM schema_version"); !r) return r.error();
    auto insert =
        sqlite::Statement::prepare(db, "INSERT INTO schema_version(version) VALUES (?1)");
    if (!insert) return insert.error();
    insert->bind(1, kStoreSchemaVersion);
    if (auto done = insert->step(); !done) return done.error();
  }
  if (auto committed = txn->commit(); !committed) return committed.error();
  return *version;
}

Result<int64_t> check_schema_is_current(sqlite3* db) {
  auto version = read_version(db);
  if (!version) return version.error();
  if (*version > kStoreSchemaVersion) return newer_schema_error(*version);
  if (*version == 0) return unknown_schema_error("0");
  if (*version < kStoreSchemaVersion) return older_schema_error(*version);
  return *version;
}

}  // namespace gengyun::platform
