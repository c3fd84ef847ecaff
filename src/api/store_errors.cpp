#include "api/store_errors.h"

#include "platform/database_errors.h"

namespace gengyun::api {

ApiError store_failed(const std::string& what, const Error& error) {
  if (platform::database_unreachable(error)) return ledger_unavailable(what + ": " + error.message);
  return internal_error(what + ": " + error.message);
}

}  // namespace gengyun::api
