// Percent-decoding of request-targets (RFC 3986 section 2.1).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gengyun::api {

/// `text` with each %XX decoded and, when `plus_is_space` (a query's form encoding), each '+'
/// taken as a space; nullopt for a malformed escape.
std::optional<std::string> percent_decoded(std::string_view text, bool plus_is_space);

}  // namespace gengyun::api
