// SHA-256 digests for API-key hashing (FIPS 180-4, computed by OpenSSL's EVP interface).
#pragma once

#include <string>
#include <string_view>

namespace gengyun::platform {

/// SHA-256 of the bytes of `text` as 64 lowercase hex characters
/// (sha256_hex("abc") == "ba7816bf...f20015ad", the FIPS 180-2 example). Aborts only if
/// OpenSSL itself cannot run SHA-256 (a broken installation, not bad input).
std::string sha256_hex(std::string_view text);

}  // namespace gengyun::platform
