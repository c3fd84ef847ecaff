#include "api/responder.h"

#include <algorithm>
#include <cctype>

namespace gengyun::api {

namespace {

/// Whether the field names `field` and `name` are equal, ASCII case-insensitively (RFC 9110).
bool same_field(std::string_view field, std::string_view name) {
  return field.size() == name.size() &&
         std::equal(field.begin(), field.end(), name.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

std::optional<std::string> HttpRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers)
    if (same_field(field, name)) return value;
  return std::nullopt;
}

size_t HttpRequest::header_count(std::string_view name) const {
  size_t count = 0;
  for (const auto& field : headers) count += same_field(field.first, name);
  return count;
}

}  // namespace gengyun::api
