#include "platform/key_secret.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <array>

namespace gengyun::platform {

Result<std::string> random_base62(std::size_t n) {
  static constexpr std::string_view kBase62 =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  // Bytes >= 248 (= 4 * 62) are discarded so that every character is equally likely.
  static constexpr unsigned kAcceptBelow = 4 * kBase62.size();

  std::string secret;
  secret.reserve(n);
  std::array<unsigned char, 64> bytes;
  while (secret.size() < n) {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      char reason[256] = "unknown error";
      if (unsigned long code = ERR_get_error(); code != 0)
        ERR_error_string_n(code, reason, sizeof reason);
      return make_error(std::string("cannot generate an API key: OpenSSL RAND_bytes failed (") +
                        reason + ")");
    }
    for (unsigned char b : bytes) {
      if (b >= kAcceptBelow) continue;
      secret += kBase62[b % kBase62.size()];
      if (secret.size() == n) break;
    }
  }
  return secret;
}

Result<std::string> generate_key_secret() {
  auto random = random_base62(kKeySecretRandomChars);
  if (!random) return random.error();
  return std::string(kKeySecretMarker) + *random;
}

}  // namespace gengyun::platform
