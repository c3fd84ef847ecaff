#include "platform/sqlite_statement.h"

#include <utility>

namespace gengyun::platform::sqlite {

Result<Statement> Statement::prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return make_error(std::string("SQLite cannot prepare statement: ") + sqlite3_errmsg(db));
  }
  return Statement(db, stmt);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement::~Statement() { sqlite3_finalize(stmt_); }

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
