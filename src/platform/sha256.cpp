#include "platform/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace gengyun::platform {

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &digest_len, EVP_sha256(), nullptr) != 1) {
    std::fputs("gengyun: OpenSSL EVP_Digest(SHA-256) failed; the OpenSSL installation is broken\n",
               stderr);
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest_len);
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0f];
  }
  return hex;
}

}  // namespace gengyun::platform
