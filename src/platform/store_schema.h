// The platform store's SQLite schema and its version check.
#pragma once

#include <sqlite3.h>

#include <cstdint>

#include "gengyun/result.h"

namespace gengyun::platform {

/// Schema version written by this build. A later build that changes the schema bumps it and
/// migrates older databases forward in ensure_schema().
inline constexpr int64_t kStoreSchemaVersion = 1;

/// Creates the tables on a fresh database and checks the version of an existing one, in one
/// IMMEDIATE transaction.
///   schema_version(version)             one row: the schema version of this file
///   api_keys(id, name, prefix, secret_sha256, created_at_us, revoked_at_us)
///                                       at most one active (unrevoked) key per name
///   usage_ledger(id, key_id -> api_keys.id, model, prompt_tokens, completion_tokens,
///                started_at_us, finished_at_us, endpoint, http_status, status, error)
///                                       append-only: triggers abort any UPDATE or DELETE
/// Errors: the file's schema version is newer than kStoreSchemaVersion, SQLite errors.
Result<void> ensure_schema(sqlite3* db);

}  // namespace gengyun::platform
