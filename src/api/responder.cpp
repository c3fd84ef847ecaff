#include "api/responder.h"

#include <algorithm>
#include <cctype>

namespace gengyun::api {

std::optional<std::string> HttpRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers)
    if (field.size() == name.size() &&
        std::equal(field.begin(), field.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return value;
  return std::nullopt;
}

}  // namespace gengyun::api
