// The answer to a call of the platform store that failed.
#pragma once

#include <string>

#include "api/errors.h"
#include "gengyun/result.h"

namespace gengyun::api {

/// 503 "ledger_unavailable" (errors.h) when the store's database cannot be reached now
/// (platform/database_errors.h: PostgreSQL down or unreachable, its connection lost): the
/// client gets a plain message, and `what` with the store's message, which may name the
/// database's host and port, goes to the log. Else 500 with `what` and the store's message.
ApiError store_failed(const std::string& what, const Error& error);

}  // namespace gengyun::api
