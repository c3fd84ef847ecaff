// The PostgreSQL store's schema: the same tables as the SQLite schema (store_schema.h) in
// PostgreSQL's dialect, versioned the same way.
#pragma once

#include "gengyun/result.h"
#include "platform/pg_connection.h"
#include "platform/store.h"

namespace gengyun::platform {

/// Brings the database to kStoreSchemaVersion in one transaction, holding an advisory lock so
/// that servers starting together migrate once. PostgreSQL support begins at version 2: a
/// fresh database gets version 2 whole; later versions are migrations from it. `mode` as for
/// Store::open: unless OpenMode::Create, a database without the schema is refused instead of
/// set up; with OpenMode::Read, an older schema is refused instead of migrated. Returns the
/// version the database had (0: none). Errors: a newer schema version (newer_schema_error()),
/// no schema, an older one when reading (older_schema_error()), tables of another program and
/// no schema, the server's errors.
Result<int64_t> ensure_postgres_schema(pg::Connection& conn, OpenMode mode);

}  // namespace gengyun::platform
