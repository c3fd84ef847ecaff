#include "platform/postgres_schema.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "platform/store_rules.h"
#include "platform/store_schema.h"

namespace gengyun::platform {
namespace {

/// Any number that other users of the database do not lock: "gengyun" in ASCII.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(113723668526958)";

/// Version 2, the first PostgreSQL schema: as SQLite's version 2 (store_schema.h).
constexpr const char* kVersion2 = R"sql(
CREATE TABLE tenants (
  id               BIGSERIAL PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
  created_at_us    BIGINT NOT NULL,
  budget_micro_usd BIGINT CHECK (budget_micro_usd >= 0),
  budget_period    TEXT NOT NULL DEFAULT 'total' CHECK (budget_period IN ('day', 'month', 'total')),
  rpm              BIGINT CHECK (rpm >= 0),
  tpm              BIGINT CHECK (tpm >= 0)
);
INSERT INTO tenants(id, name, created_at_us) VALUES (1, 'default', 0);
SELECT setval(pg_get_serial_sequence('tenants', 'id'), 1);

CREATE TABLE api_keys (
  id               BIGSERIAL PRIMARY KEY,
  name             TEXT NOT NULL CHECK (length(name) > 0),
  prefix           TEXT NOT NULL,
  secret_sha256    TEXT NOT NULL UNIQUE,
  created_at_us    BIGINT NOT NULL,
  revoked_at_us    BIGINT,
  tenant_id        BIGINT NOT NULL DEFAULT 1 REFERENCES tenants(id),
  role             TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'owner', 'member')),
  expires_at_us    BIGINT,
  models           TEXT NOT NULL DEFAULT '',
  budget_micro_usd BIGINT CHECK (budget_micro_usd >= 0),
  budget_period    TEXT NOT NULL DEFAULT 'total' CHECK (budget_period IN ('day', 'month', 'total')),
  rpm              BIGINT CHECK (rpm >= 0),
  tpm              BIGINT CHECK (tpm >= 0)
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at_us IS NULL;
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE prices (
  model                  TEXT PRIMARY KEY CHECK (length(model) > 0),
  input_micro_usd        BIGINT NOT NULL CHECK (input_micro_usd >= 0),
  cached_input_micro_usd BIGINT NOT NULL CHECK (cached_input_micro_usd >= 0),
  output_micro_usd       BIGINT NOT NULL CHECK (output_micro_usd >= 0),
  updated_at_us          BIGINT NOT NULL
);

CREATE TABLE usage_ledger (
  id                     BIGSERIAL PRIMARY KEY,
  request_id             TEXT NOT NULL UNIQUE,
  key_id                 BIGINT NOT NULL REFERENCES api_keys(id),
  tenant_id              BIGINT NOT NULL REFERENCES tenants(id),
  model                  TEXT NOT NULL,
  endpoint               TEXT NOT NULL,
  status                 TEXT NOT NULL CHECK (status IN
                           ('open', 'ok', 'error', 'cancelled', 'shutdown', 'interrupted')),
  http_status            BIGINT NOT NULL,
  error                  TEXT NOT NULL,
  prompt_tokens          BIGINT NOT NULL CHECK (prompt_tokens >= 0),
  cached_prompt_tokens   BIGINT NOT NULL DEFAULT 0
                           CHECK (cached_prompt_tokens >= 0 AND
                                  cached_prompt_tokens <= prompt_tokens),
  completion_tokens      BIGINT NOT NULL CHECK (completion_tokens >= 0),
  input_micro_usd        BIGINT NOT NULL DEFAULT 0,
  cached_input_micro_usd BIGINT NOT NULL DEFAULT 0,
  output_micro_usd       BIGINT NOT NULL DEFAULT 0,
  cost_micro_usd         BIGINT NOT NULL DEFAULT 0 CHECK (cost_micro_usd >= 0),
  reserved_micro_usd     BIGINT NOT NULL DEFAULT 0,
  reserved_tokens        BIGINT NOT NULL DEFAULT 0,
  started_at_us          BIGINT NOT NULL,
  checkpoint_at_us       BIGINT,
  server_id              TEXT NOT NULL DEFAULT '',
  finished_at_us         BIGINT
);
CREATE INDEX usage_ledger_key_model ON usage_ledger(key_id, model);
CREATE INDEX usage_ledger_key_time ON usage_ledger(key_id, started_at_us);
CREATE INDEX usage_ledger_tenant_time ON usage_ledger(tenant_id, started_at_us);
CREATE INDEX usage_ledger_open ON usage_ledger(status) WHERE status = 'open';
CREATE FUNCTION gengyun_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'usage_ledger is append-only';
  END IF;
  IF OLD.status <> 'open' THEN
    RAISE EXCEPTION 'usage_ledger is append-only: only open rows may change';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER usage_ledger_guard BEFORE UPDATE OR DELETE ON usage_ledger
  FOR EACH ROW EXECUTE FUNCTION gengyun_ledger_guard();

CREATE TABLE rate_windows (
  scope    TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id BIGINT NOT NULL,
  minute   BIGINT NOT NULL,
  requests BIGINT NOT NULL,
  tokens   BIGINT NOT NULL,
  PRIMARY KEY (scope, scope_id, minute)
);

CREATE TABLE audit_log (
  id           BIGSERIAL PRIMARY KEY,
  at_us        BIGINT NOT NULL,
  actor_key_id BIGINT,
  actor        TEXT NOT NULL,
  action       TEXT NOT NULL,
  target       TEXT NOT NULL,
  detail       TEXT NOT NULL
);
CREATE FUNCTION gengyun_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION gengyun_append_only();
)sql";

/// Version 3: as SQLite's migration 3.
constexpr const char* kVersion3 = R"sql(
CREATE TABLE rate_buckets (
  scope    TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id BIGINT NOT NULL,
  second   BIGINT NOT NULL,
  requests BIGINT NOT NULL CHECK (requests >= 0),
  tokens   BIGINT NOT NULL CHECK (tokens >= 0),
  PRIMARY KEY (scope, scope_id, second)
);
INSERT INTO rate_buckets(scope, scope_id, second, requests, tokens)
  SELECT scope, scope_id, minute * 60, requests, tokens FROM rate_windows;
DROP TABLE rate_windows;
)sql";

/// Version 4: every UPDATE or DELETE of a key or a tenant sends, when its transaction commits,
/// the notice "key <id>" or "tenant <id>" on the channel gengyun_keys, which every server's
/// key cache listens on (pg_key_listener.h). Triggers rather than the writing code, so that
/// every writer notifies: other servers, the commands, an operator's SQL. Written so that it
/// can be applied again.
constexpr const char* kVersion4 = R"sql(
CREATE OR REPLACE FUNCTION gengyun_notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gengyun_keys',
                    CASE TG_TABLE_NAME WHEN 'api_keys' THEN 'key ' ELSE 'tenant ' END || OLD.id);
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER api_keys_notify AFTER UPDATE OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION gengyun_notify_key_change();
CREATE OR REPLACE TRIGGER tenants_notify AFTER UPDATE OR DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION gengyun_notify_key_change();
)sql";

/// Version 5: servers(id, seen_at_us), one row per live server (start_server() inserts it,
/// every close_interrupted() of that server sets seen_at_us, a store destroyed deletes it),
/// times from the database's clock. A server whose advisory lock is free is judged gone only
/// once its heartbeat is also older than kServerHeartbeatBoundUs (postgres_store.h): ending the
/// lock's session alone (pg_terminate_backend, a network cut) does not end a live server.
/// Written so that it can be applied again.
constexpr const char* kVersion5 = R"sql(
CREATE TABLE IF NOT EXISTS servers (
  id         TEXT PRIMARY KEY,
  seen_at_us BIGINT NOT NULL
);
)sql";

/// Version 6: an index on prices' model names in byte order (collation "C"), the order of
/// the pages of prices_page() (whose cursor is a model name): the
/// primary key's index has the database's collation, usable for them only where that is "C".
/// Written so that it can be applied again.
constexpr const char* kVersion6 = R"sql(
CREATE INDEX IF NOT EXISTS prices_model_bytes ON prices (model COLLATE "C");
)sql";

/// Version 7: as SQLite's migration 7 (active keys' names unique per tenant, an index on keys'
/// names). Written so that it can be applied again.
constexpr const char* kVersion7 = R"sql(
DROP INDEX IF EXISTS api_keys_active_name;
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(tenant_id, name) WHERE revoked_at_us IS NULL;
CREATE INDEX IF NOT EXISTS api_keys_name ON api_keys(name);
)sql";

/// Version 8: SQLite's spend_days (migration 8), kept otherwise: the ledger's trigger appends
/// each change of a row's billed amount to spend_deltas instead of updating a day's sum, so
/// that no two transactions wait on one another's sums (an admission and a settlement of
/// another server would otherwise lock them in no common order), and each server's
/// reconciler folds the deltas into spend_days (PostgresStore::fold_spend, one server at a
/// time). A spend is the sum over both tables. Written so that it can be applied again.
constexpr const char* kVersion8 = R"sql(
CREATE TABLE IF NOT EXISTS spend_days (
  scope     TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id  BIGINT NOT NULL,
  day       BIGINT NOT NULL,
  micro_usd BIGINT NOT NULL,
  PRIMARY KEY (scope, scope_id, day)
);
CREATE TABLE IF NOT EXISTS spend_deltas (
  id        BIGSERIAL PRIMARY KEY,
  scope     TEXT NOT NULL CHECK (scope IN ('key', 'tenant')),
  scope_id  BIGINT NOT NULL,
  day       BIGINT NOT NULL,
  micro_usd BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS spend_deltas_scope ON spend_deltas(scope, scope_id, day);
DELETE FROM spend_deltas;
DELETE FROM spend_days;
INSERT INTO spend_days(scope, scope_id, day, micro_usd)
  SELECT 'key', key_id, started_at_us / 86400000000,
         sum(CASE WHEN status = 'open' THEN reserved_micro_usd ELSE cost_micro_usd END)
  FROM usage_ledger GROUP BY key_id, started_at_us / 86400000000;
INSERT INTO spend_days(scope, scope_id, day, micro_usd)
  SELECT 'tenant', tenant_id, started_at_us / 86400000000,
         sum(CASE WHEN status = 'open' THEN reserved_micro_usd ELSE cost_micro_usd END)
  FROM usage_ledger GROUP BY tenant_id, started_at_us / 86400000000;
CREATE OR REPLACE FUNCTION gengyun_ledger_spend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_billed BIGINT := CASE WHEN NEW.status = 'open' THEN NEW.reserved_micro_usd
                            ELSE NEW.cost_micro_usd END;
  old_billed BIGINT := 0;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    old_billed := CASE WHEN OLD.status = 'open' THEN OLD.reserved_micro_usd
                       ELSE OLD.cost_micro_usd END;
    IF OLD.key_id <> NEW.key_id OR OLD.tenant_id <> NEW.tenant_id
       OR OLD.started_at_us / 86400000000 <> NEW.started_at_us / 86400000000 THEN
      INSERT INTO spend_deltas(scope, scope_id, day, micro_usd) VALUES
        ('key', OLD.key_id, OLD.started_at_us / 86400000000, -old_billed),
        ('tenant', OLD.tenant_id, OLD.started_at_us / 86400000000, -old_billed);
      old_billed := 0;
    END IF;
  END IF;
  IF new_billed <> old_billed THEN
    INSERT INTO spend_deltas(scope, scope_id, day, micro_usd) VALUES
      ('key', NEW.key_id, NEW.started_at_us / 86400000000, new_billed - old_billed),
      ('tenant', NEW.tenant_id, NEW.started_at_us / 86400000000, new_billed - old_billed);
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER usage_ledger_spend AFTER INSERT OR UPDATE ON usage_ledger
  FOR EACH ROW EXECUTE FUNCTION gengyun_ledger_spend();
)sql";

/// Version 9: as SQLite's migration 9 (a row closed as interrupted may still be settled).
/// Written so that it can be applied again.
constexpr const char* kVersion9 = R"sql(
CREATE OR REPLACE FUNCTION gengyun_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'usage_ledger is append-only';
  END IF;
  IF OLD.status NOT IN ('open', 'interrupted') THEN
    RAISE EXCEPTION 'usage_ledger is append-only: only open or interrupted rows may change';
  END IF;
  RETURN NEW;
END $$;
)sql";

/// Version 10: as SQLite's migration 10 (each row's end user). Written so that it can be
/// applied again.
constexpr const char* kVersion10 = R"sql(
ALTER TABLE usage_ledger ADD COLUMN IF NOT EXISTS end_user TEXT NOT NULL DEFAULT '';
)sql";

/// kMigrations[v - 2] brings a database to version v: from an empty one (version 0) for
/// version 2, the first PostgreSQL schema, else from version v - 1.
constexpr const char* kMigrations[] = {kVersion2, kVersion3, kVersion4, kVersion5, kVersion6,
                                       kVersion7, kVersion8, kVersion9, kVersion10};
static_assert(std::size(kMigrations) == kStoreSchemaVersion - 1,
              "add the PostgreSQL migration of the new version");

}  // namespace

Result<int64_t> ensure_postgres_schema(pg::Connection& conn, OpenMode mode) {
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return txn.error();
  if (auto locked = conn.query(kMigrationLock); !locked) return locked.error();
  // gengyun's schema: the tables every version has (another program may have a table named
  // schema_version of its own).
  auto exists = conn.query(
      "SELECT to_regclass('schema_version') IS NOT NULL AND to_regclass('api_keys') IS NOT NULL "
      "AND to_regclass('usage_ledger') IS NOT NULL");
  if (!exists) return exists.error();
  const bool has_schema = exists->text(0, 0) == "t";
  if (!has_schema && mode != OpenMode::Create) return make_error(std::string(kNoSchemaError));
  if (!has_schema) {
    // A database without gengyun's schema gets it only when it is empty: tables of another
    // program are never mixed with gengyun's.
    auto foreign = conn.query(
        "SELECT string_agg(table_name, ', ' ORDER BY table_name) FROM (SELECT table_name FROM "
        "information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name "
        "LIMIT 5) t");
    if (!foreign) return foreign.error();
    if (!foreign->is_null(0, 0))
      return make_error(std::string(kForeignTablesError) + " (" + foreign->text(0, 0) + ")");
  }
  int64_t version = 0;
  if (has_schema) {
    auto read = conn.query("SELECT max(version) FROM schema_version");
    if (!read) return read.error();
    version = read->is_null(0, 0) ? 0 : read->int64(0, 0);
  }
  if (version > kStoreSchemaVersion) return newer_schema_error(version);
  // gengyun's tables with a version below 1 (edited, damaged): no migration applies to them.
  if (has_schema && version < 1) return unknown_schema_error(std::to_string(version));
  if (version < kStoreSchemaVersion && mode == OpenMode::Read) return older_schema_error(version);
  if (version < kStoreSchemaVersion) {
    if (version == 1)
      return make_error(
          "the database has schema version 1, older than any PostgreSQL schema of "
          "gengyun (2)");
    if (!has_schema)
      if (auto r = conn.script("CREATE TABLE schema_version (version BIGINT NOT NULL)"); !r)
        return r.error();
    for (int64_t v = std::max<int64_t>(version + 1, 2); v <= kStoreSchemaVersion; ++v) {
      if (auto r = conn.script(kMigrations[v - 2]); !r)
        return make_error("migrating the schema to version " + std::to_string(v) + ": " +
                          r.error().message);
    }
    if (auto r = conn.script("DELETE FROM schema_version"); !r) return r.error();
    if (auto r = conn.query("INSERT INTO schema_version(version) VALUES ($1)",
                            {pg::param(kStoreSchemaVersion)});
        !r)
      return r.error();
  }
  if (auto committed = txn->commit(); !committed) return committed.error();
  return version;
}

}  // namespace gengyun::platform
