// The SQLite store's schema: versioned migrations applied in order when a database is opened.
#pragma once

#include <sqlite3.h>

#include <cstdint>

#include "gengyun/result.h"

namespace gengyun::platform {

/// Schema version written by this build; each version is one migration in store_schema.cpp.
inline constexpr int64_t kStoreSchemaVersion = 10;

/// Brings the database to kStoreSchemaVersion in one IMMEDIATE transaction: creates it on a
/// fresh file, applies the missing migrations to an older one, leaves a current one alone.
/// Run it before enabling foreign keys (migration 2 rebuilds referenced tables).
///   1  api_keys(id, name, prefix, secret_sha256, created_at_us, revoked_at_us)
///      usage_ledger(id, key_id, model, prompt_tokens, completion_tokens, started_at_us,
///                   finished_at_us, endpoint, http_status, status, error), append-only
///   2  tenants(id, name, created_at_us, budget_micro_usd, budget_period, rpm, tpm), tenant 1
///      "default"; api_keys gains tenant_id, role, expires_at_us, models and limits;
///      usage_ledger gains request_id (unique), tenant_id, cached_prompt_tokens, the prices
///      and cost, the reservation, checkpoint_at_us, server_id (the server serving an open
///      row), and status "open" (the only rows that may change); prices(model, input,
///      cached_input, output, updated_at_us); rate_windows(scope, scope_id, minute, requests,
///      tokens); audit_log
///   3  rate_buckets(scope, scope_id, second, requests, tokens) replaces rate_windows
///   4  auth_revision(id 1, revision), bumped by triggers on every UPDATE or DELETE of
///      api_keys and tenants (the key cache's change counter)
///   5  nothing on SQLite (PostgreSQL's servers table of heartbeats, postgres_schema.h)
///   6  nothing on SQLite (PostgreSQL's index on prices' model names in byte order)
///   7  api_keys_active_name on (tenant_id, name): active keys' names are unique per tenant;
///      api_keys_name on (name)
///   8  spend_days(scope, scope_id, day, micro_usd): what each key and tenant is billed per
///      UTC day (open rows at their reservation, closed ones at their cost), kept by triggers
///      on usage_ledger, so that a budget's spend is read without summing the ledger
///   9  rows closed as "interrupted" may still change (their settlement replaces the closing)
///  10  usage_ledger gains end_user (the request's OpenAI `user`, '' for none)
/// Returns the version the database had (0: none). Errors: the file's schema version is newer
/// than kStoreSchemaVersion (newer_schema_error()), tables of another program and no schema
/// (kForeignTablesError), SQLite errors.
Result<int64_t> ensure_schema(sqlite3* db);

/// The version of a database that has gengyun's schema (has_schema()), read without writing
/// anything. Errors: a version other than kStoreSchemaVersion (newer_schema_error(),
/// older_schema_error(): store_rules.h), SQLite errors.
Result<int64_t> check_schema_is_current(sqlite3* db);

/// Refuses a database without gengyun's schema that holds tables (another program's): error
/// kForeignTablesError naming up to 5 of them. Reads only. Errors: SQLite errors.
Result<void> refuse_foreign_tables(sqlite3* db);

/// Refuses a database with gengyun's schema (has_schema()) of a version newer than
/// kStoreSchemaVersion: newer_schema_error(). Reads only. Errors: SQLite errors.
Result<void> refuse_newer_schema(sqlite3* db);

/// True when the database has gengyun's schema (its tables schema_version, api_keys and
/// usage_ledger, which every version has), of any version; false for an empty database or
/// another program's (which may have a table named schema_version of its own). Reads only.
/// Errors: SQLite errors (SQLITE_NOTADB for a file that is not a database).
Result<bool> has_schema(sqlite3* db);

}  // namespace gengyun::platform
