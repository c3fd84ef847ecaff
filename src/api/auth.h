// API-key authentication: "Authorization: Bearer <secret>" checked against the platform store.
#pragma once

#include <optional>
#include <string_view>

#include "api/errors.h"
#include "platform/store.h"

namespace gengyun::api {

/// The secret of an Authorization header value "Bearer <secret>" (scheme case-insensitive,
/// surrounding spaces ignored); nullopt when the value has another form or no secret.
std::optional<std::string_view> bearer_secret(std::string_view header);

/// The active key that `authorization` (the header's value; nullopt when absent) carries.
/// Errors: 401 "invalid_api_key" for a missing or malformed header and for an unknown,
/// revoked or expired key; store_failed() (store_errors.h) when the store cannot be read.
ApiResult<platform::KeyInfo> authenticate(platform::Store& store,
                                          const std::optional<std::string>& authorization);

}  // namespace gengyun::api
