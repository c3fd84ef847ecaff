#include "platform/sqlite_statement.h"

#include <utility>

#include "platform/database_errors.h"

namespace gengyun::platform::sqlite {

namespace {

std::mutex caches_mutex;
/// The live caches, by connection.
std::unordered_map<sqlite3*, StatementCache*>& caches() {
  static std::unordered_map<sqlite3*, StatementCache*> of_connection;
  return of_connection;
}

}  // namespace

Result<Statement> Statement::prepare(sqlite3* db, std::string_view sql) {
  StatementCache* cache = StatementCache::of(db);
  if (cache)
    if (sqlite3_stmt* kept = cache->take(sql)) return Statement(db, kept, cache);
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return make_error(std::string("SQLite cannot prepare statement: ") + sqlite3_errmsg(db));
  }
  return Statement(db, stmt, cache);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      cache_(other.cache_),
      bind_error_(std::move(other.bind_error_)) {}

Statement::~Statement() {
  if (stmt_ && cache_)
    cache_->keep(stmt_);
  else
    sqlite3_finalize(stmt_);
}

StatementCache::StatementCache(sqlite3* db) : db_(db) {
  std::lock_guard lock(caches_mutex);
  caches()[db] = this;
}

StatementCache::~StatementCache() {
  {
    std::lock_guard lock(caches_mutex);
    caches().erase(db_);
  }
  for (auto& [sql, stmt] : free_) sqlite3_finalize(stmt);
}

StatementCache* StatementCache::of(sqlite3* db) {
  std::lock_guard lock(caches_mutex);
  auto it = caches().find(db);
  return it == caches().end() ? nullptr : it->second;
}

sqlite3_stmt* StatementCache::take(std::string_view sql) {
  std::lock_guard lock(mutex_);
  auto it = free_.find(std::string(sql));
  if (it == free_.end()) return nullptr;
  sqlite3_stmt* stmt = it->second;
  free_.erase(it);
  return stmt;
}

void StatementCache::keep(sqlite3_stmt* stmt) {
  // Reset: the statement ends its read of the database (a statement left stepping holds it).
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  std::lock_guard lock(mutex_);
  if (free_.size() >= kMaxKept) {
    sqlite3_finalize(stmt);
    return;
  }
  free_.emplace(sqlite3_sql(stmt), stmt);
}

void Statement::note_bind(int rc, int index) {
  if (rc != SQLITE_OK && bind_error_.empty())
    bind_error_ = "SQLite cannot bind parameter " + std::to_string(index) + ": " +
                  sqlite3_errstr(rc);
}

void Statement::bind(int index, int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_, index, value), index);
}

void Statement::bind(int index, std::string_view text) {
  note_bind(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                SQLITE_UTF8),
            index);
}

void Statement::bind_null(int index) { note_bind(sqlite3_bind_null(stmt_, index), index); }

Result<bool> Statement::step() {
  if (!bind_error_.empty()) return make_error(bind_error_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return make_error(std::string("SQLite error: ") + sqlite3_errmsg(db_));
}

bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

int64_t Statement::column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::column_text(int col) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  int bytes = sqlite3_column_bytes(stmt_, col);
  return text ? std::string(text, static_cast<size_t>(bytes)) : std::string();
}

Result<void> exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    return make_error("SQLite error: " + text);
  }
  return {};
}

Result<Transaction> Transaction::begin(sqlite3* db) {
  // A file deleted or replaced under an open connection still takes writes, which no one will
  // ever read (QA 2026-12-07: a server whose database was removed went on answering 200 and
  // handing out keys, all lost at its restart).
  int moved = 0;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved)
    return unreachable_error(
        "the database file was deleted, renamed or replaced while open: nothing more is written "
        "to it until it is back (or the server restarts on the new file)");
  if (auto r = exec(db, "BEGIN IMMEDIATE"); !r) return r.error();
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Result<void> Transaction::commit() {
  if (auto r = exec(db_, "COMMIT"); !r) return r;
  open_ = false;
  return {};
}

}  // namespace gengyun::platform::sqlite
