#include "platform/store.h"

#include <algorithm>
#include <cctype>

#include "platform/postgres_store.h"
#include "platform/sqlite_store.h"
#include "util/clock.h"

namespace gengyun::platform {

bool is_postgres_url(std::string_view path) {
  for (std::string_view scheme : {"postgres://", "postgresql://"})
    if (path.substr(0, scheme.size()) == scheme) return true;
  return false;
}

bool is_libpq_keywords(std::string_view path) {
  const size_t begin = path.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return false;
  path.remove_prefix(begin);
  for (std::string_view keyword :
       {"host", "hostaddr", "port", "dbname", "user", "password", "passfile", "sslmode",
        "service", "connect_timeout", "application_name", "options", "target_session_attrs"}) {
    // Any case: libpq would refuse "HOST=", but a file of that name would be made.
    const auto same = [](char a, char b) {
      return a == std::tolower(static_cast<unsigned char>(b));
    };
    if (path.size() < keyword.size() ||
        !std::equal(keyword.begin(), keyword.end(), path.begin(), same))
      continue;
    const size_t equals = path.find_first_not_of(" \t", keyword.size());
    if (equals != std::string_view::npos && path[equals] == '=') return true;
  }
  return false;
}

int64_t Store::now_us() const { return unix_time_us(); }

Result<std::unique_ptr<Store>> Store::open(const std::string& path, OpenMode mode) {
  if (is_postgres_url(path)) return PostgresStore::open(path, mode);
  // Not a SQLite file named after it, password and all (QA 2026-12-03, fourth); not repeated.
  if (is_libpq_keywords(path))
    return make_error(
        "cannot open the database: libpq's key=value connection strings are not taken; give a "
        "postgresql://user@host:port/dbname URL (the password in PGPASSWORD or ~/.pgpass)");
  if (path.find("://") != std::string::npos)
    return make_error(
        "cannot open the database: a URL is taken only as postgresql://... or postgres://... "
        "(in lowercase, as libpq reads it); a SQLite file's path holds no \"://\"");
  return SqliteStore::open(path, mode);
}

Result<Admission> Store::admit(const AdmissionRequest& request) {
  auto decided = admit_batch({request});
  if (!decided) return decided.error();
  return std::move(decided->front());
}

}  // namespace gengyun::platform
