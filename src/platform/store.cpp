#include "platform/store.h"

#include "platform/postgres_store.h"
#include "platform/sqlite_store.h"

namespace gengyun::platform {

bool is_postgres_url(std::string_view path) {
  for (std::string_view scheme : {"postgres://", "postgresql://"})
    if (path.substr(0, scheme.size()) == scheme) return true;
  return false;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, OpenMode mode) {
  if (is_postgres_url(path)) return PostgresStore::open(path, mode);
  return SqliteStore::open(path, mode);
}

Result<Admission> Store::admit(const AdmissionRequest& request) {
  auto decided = admit_batch({request});
  if (!decided) return decided.error();
  return std::move(decided->front());
}

}  // namespace gengyun::platform
