// Errors of a store whose database cannot be reached now (its server down or unreachable, the
// connection lost) or cannot take a statement now (locked, read-only, cancelled), told apart from the others by the start of their message, so that callers
// can answer "try again later" (the API: 503 "ledger_unavailable") without passing on the
// details, which may name the database's host and port.
#pragma once

#include <string>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::platform {

/// How the message of an error of an unreachable database starts.
inline constexpr std::string_view kDatabaseUnreachable = "the database is unavailable now: ";

/// An error of an unreachable database saying `detail`.
inline Error unreachable_error(std::string_view detail) {
  return make_error(std::string(kDatabaseUnreachable) + std::string(detail));
}

/// Whether `error` says that the database cannot be reached now: the same call may succeed
/// later.
inline bool database_unreachable(const Error& error) {
  return std::string_view(error.message).starts_with(kDatabaseUnreachable);
}

}  // namespace gengyun::platform
