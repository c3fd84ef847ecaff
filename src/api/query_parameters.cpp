#include "api/query_parameters.h"

#include <algorithm>
#include <optional>

#include "api/percent_encoding.h"

namespace gengyun::api {

ApiResult<std::map<std::string, std::string>> query_parameters(
    std::string_view target, std::initializer_list<std::string_view> known) {
  std::map<std::string, std::string> values;
  const size_t question = target.find('?');
  std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::optional<std::string> name = percent_decoded(pair.substr(0, eq), /*plus_is_space=*/true);
    std::optional<std::string> value = percent_decoded(
        eq == std::string_view::npos ? "" : pair.substr(eq + 1), /*plus_is_space=*/true);
    if (!name || !value) return invalid_request("the query string has a malformed %-escape");
    if (std::find(known.begin(), known.end(), *name) == known.end()) {
      std::string names;
      for (std::string_view k : known) names += (names.empty() ? "" : ", ") + std::string(k);
      return invalid_request("unknown parameter '" + *name + "' (the parameters are " + names + ")",
                             *name);
    }
    if (!values.emplace(*name, *value).second)
      return invalid_request("the parameter '" + *name + "' is given twice", *name);
  }
  return values;
}

}  // namespace gengyun::api
