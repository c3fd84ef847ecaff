#include "api/auth.h"

#include <cctype>

#include "api/store_errors.h"

namespace gengyun::api {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string_view> bearer_secret(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  header = trim(header);
  if (header.size() <= kScheme.size() ||
      (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t'))
    return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  const std::string_view secret = trim(header.substr(kScheme.size()));
  if (secret.empty() || secret.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return secret;
}

ApiResult<platform::KeyInfo> authenticate(platform::Store& store,
                                          const std::optional<std::string>& authorization) {
  if (!authorization)
    return invalid_api_key(
        "You didn't provide an API key. Send it in the header 'Authorization: Bearer <key>'.");
  const auto secret = bearer_secret(*authorization);
  if (!secret)
    return invalid_api_key("The Authorization header must have the form 'Bearer <key>'.");
  auto key = store.authenticate(*secret);
  if (!key.ok()) return store_failed("cannot check the API key", key.error());
  if (!key.value() || key.value()->revoked_at_us)
    return invalid_api_key("Incorrect API key provided: the key is unknown or has been revoked.");
  if (key.value()->expires_at_us && *key.value()->expires_at_us <= store.now_us())
    return expired_api_key();
  return *key.value();
}

}  // namespace gengyun::api
