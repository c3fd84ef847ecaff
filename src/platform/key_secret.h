// API-key secrets: the text a client sends as "Authorization: Bearer gy-...".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::platform {

/// Every secret starts with this marker, so leaked keys are recognisable by scanners.
inline constexpr std::string_view kKeySecretMarker = "gy-";
/// Random base62 characters after the marker: 43 * log2(62) ≈ 256 bits of entropy.
inline constexpr std::size_t kKeySecretRandomChars = 43;
/// Characters of the secret kept in clear for display (KeyInfo::prefix), marker included.
inline constexpr std::size_t kKeyPrefixChars = 8;

/// A fresh secret: kKeySecretMarker + kKeySecretRandomChars characters of [0-9A-Za-z], drawn
/// uniformly (rejection sampling over OpenSSL RAND_bytes, no modulo bias). Errors: the OpenSSL
/// random generator is not seeded or fails.
Result<std::string> generate_key_secret();

/// `n` characters of [0-9A-Za-z] drawn uniformly from OpenSSL RAND_bytes (request ids).
/// Errors: the random generator fails.
Result<std::string> random_base62(std::size_t n);

}  // namespace gengyun::platform
