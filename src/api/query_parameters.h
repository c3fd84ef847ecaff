// The parameters of a request-target's query string, checked against the names an endpoint
// takes: the one reading of queries for GET /v1/usage and the admin API's paged lists.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "api/errors.h"

namespace gengyun::api {

/// The parameters of `target`'s query ("limit=2&after=7"), percent-decoded with '+' a space
/// (form encoding), by name. Empty pairs ("a=1&&b=2", a trailing '&') are skipped; a name
/// without '=' has the value "". Errors (400): a name not among `known` (`param` names it, the
/// message lists `known`), a name given twice (`param` names it), a malformed %-escape.
ApiResult<std::map<std::string, std::string>> query_parameters(
    std::string_view target, std::initializer_list<std::string_view> known);

}  // namespace gengyun::api
