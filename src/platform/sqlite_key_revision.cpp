#include "platform/sqlite_key_revision.h"

#include <sqlite3.h>

namespace gengyun::platform {
namespace {

constexpr int kBusyTimeoutMs = 1000;

}  // namespace

SqliteKeyRevision::~SqliteKeyRevision() { close_locked(); }

void SqliteKeyRevision::close_locked() {
  sqlite3_finalize(select_);
  sqlite3_close_v2(db_);
  select_ = nullptr;
  db_ = nullptr;
}

Result<void> SqliteKeyRevision::open_locked() {
  const std::string what = "cannot read the key revision of '" + path_ + "': ";
  int rc =
      sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    rc = sqlite3_prepare_v3(db_, "SELECT revision FROM auth_revision WHERE id = 1", -1,
                            SQLITE_PREPARE_PERSISTENT, &select_, nullptr);
  }
  if (rc == SQLITE_OK) return {};
  std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  close_locked();
  return make_error(what + reason);
}

Result<int64_t> SqliteKeyRevision::read() {
  std::lock_guard lock(mutex_);
  if (!db_)
    if (auto opened = open_locked(); !opened) return opened.error();
  const int rc = sqlite3_step(select_);
  if (rc == SQLITE_ROW) {
    const int64_t revision = sqlite3_column_int64(select_, 0);
    sqlite3_reset(select_);
    return revision;
  }
  std::string reason = rc == SQLITE_DONE ? "auth_revision has no row" : sqlite3_errmsg(db_);
  close_locked();
  return make_error("cannot read the key revision of '" + path_ + "': " + reason);
}

}  // namespace gengyun::platform
