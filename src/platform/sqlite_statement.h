// Thin RAII helpers over the SQLite C API for the platform store: prepared statements with
// bound parameters, and IMMEDIATE transactions. Callers serialise use of one connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gengyun/result.h"

namespace gengyun::platform::sqlite {

class StatementCache;

/// One prepared statement. Values enter only through bind() (never spliced into SQL text).
class Statement {
 public:
  /// Compiles one SQL statement, or takes a free one of the same text from the connection's
  /// StatementCache when it has one (reset, no bindings). Errors: SQL that SQLite rejects
  /// (message from sqlite3_errmsg).
  static Result<Statement> prepare(sqlite3* db, std::string_view sql);

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  /// Binds parameter `index` (1-based, as in "?1"). A failed bind (e.g. text over SQLite's
  /// length limit) is remembered and returned by the next step().
  void bind(int index, int64_t value);
  void bind(int index, std::string_view text);
  void bind_null(int index);

  /// Runs to the next row: true when a row is available, false when the statement is done.
  /// Errors: a failed bind, constraint violations, I/O errors, SQLITE_BUSY past the timeout.
  Result<bool> step();

  bool column_is_null(int col) const;
  int64_t column_int64(int col) const;
  /// The column's bytes as text (embedded NULs kept).
  std::string column_text(int col) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt, StatementCache* cache)
      : db_(db), stmt_(stmt), cache_(cache) {}
  void note_bind(int rc, int index);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  StatementCache* cache_;  ///< where the statement goes back when done; null: finalized
  std::string bind_error_;
};

/// The prepared statements of one connection, kept for reuse by their SQL text while the cache
/// lives: preparing a statement (parsing it, and compiling the triggers a write fires) costs
/// more than running most of the store's statements. Statement::prepare() on the connection
/// takes a free one; a Statement that is done is reset, cleared and kept (at most kMaxKept,
/// beyond which it is finalized: a bound on what one connection keeps should a caller build
/// SQL text that varies; the store's bind their values, limits included). Create it after
/// opening the connection and destroy it before closing it; no Statement of the connection
/// may outlive it. One cache per connection.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db);
  ~StatementCache();
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  static constexpr size_t kMaxKept = 256;

 private:
  friend class Statement;
  /// The cache of `db`, or null.
  static StatementCache* of(sqlite3* db);
  /// A free statement of `sql`, or null.
  sqlite3_stmt* take(std::string_view sql);
  void keep(sqlite3_stmt* stmt);

  sqlite3* db_;
  std::mutex mutex_;
  std::unordered_multimap<std::string, sqlite3_stmt*> free_;
};

/// Runs SQL text that has no parameters (schema DDL, PRAGMAs) with sqlite3_exec.
Result<void> exec(sqlite3* db, const char* sql);

/// BEGIN IMMEDIATE on construction (takes the write lock up front, so a read-then-write body
/// cannot fail with SQLITE_BUSY midway); ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  /// Errors: the database is locked by another process past the busy timeout, I/O errors, the
  /// database's file was deleted, renamed or replaced since it was opened
  /// (SQLITE_FCNTL_HAS_MOVED; an unreachable database's error, database_errors.h).
  static Result<Transaction> begin(sqlite3* db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  /// COMMIT; durable on return under the connection's synchronous setting.
  Result<void> commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  bool open_ = true;
};

}  // namespace gengyun::platform::sqlite
