// The SQLite store's source of key changes: the auth_revision counter (schema 4), which
// triggers bump with every change of a key or a tenant, read on a connection of its own.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "gengyun/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gengyun::platform {

/// Reads the auth_revision counter of the SQLite file `path`. The connection is its own, so a
/// read never waits for the store's connection (held by admissions and ledger batches), and a
/// read in WAL mode does not wait for writers. Opened at the first read; after a failed read
/// it is closed and opened again by the next. Thread-safe.
class SqliteKeyRevision {
 public:
  explicit SqliteKeyRevision(std::string path) : path_(std::move(path)) {}
  ~SqliteKeyRevision();
  SqliteKeyRevision(const SqliteKeyRevision&) = delete;
  SqliteKeyRevision& operator=(const SqliteKeyRevision&) = delete;

  /// The current revision: one read of one row. Errors: the file cannot be opened or read
  /// (locked past 1 s, I/O), a database without auth_revision.
  Result<int64_t> read();

 private:
  Result<void> open_locked();
  void close_locked();

  const std::string path_;
  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* select_ = nullptr;
};

}  // namespace gengyun::platform
