// The PostgreSQL store's schema: the same tables as the SQLite schema (store_schema.h) in
// PostgreSQL's dialect, versioned the same way.
#pragma once

#include "gengyun/result.h"
#include "platform/pg_connection.h"

namespace gengyun::platform {

/// Brings the database to kStoreSchemaVersion in one transaction, holding an advisory lock so
/// that servers starting together migrate once. PostgreSQL support begins at version 2: a
/// fresh database gets version 2 whole; later versions are migrations from it. With
/// `must_exist`, a database without the schema is refused instead of set up. Errors: a newer
/// schema version, `must_exist` and no schema, the server's errors.
Result<void> ensure_postgres_schema(pg::Connection& conn, bool must_exist);

}  // namespace gengyun::platform
