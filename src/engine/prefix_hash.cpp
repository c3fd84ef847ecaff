#include "engine/prefix_hash.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace gengyun::engine {

BlockHash hash_block(const BlockHash* parent, std::span<const int32_t> tokens,
                     std::string_view extra_keys) {
  thread_local std::vector<uint8_t> key;
  key.clear();
  const auto append = [](const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    key.insert(key.end(), p, p + n);
  };
  const uint8_t has_parent = parent != nullptr;
  append(&has_parent, 1);
  if (parent) append(parent->data(), parent->size());
  const uint64_t extra_size = extra_keys.size();
  append(&extra_size, sizeof extra_size);
  append(extra_keys.data(), extra_keys.size());
  append(tokens.data(), tokens.size_bytes());
  BlockHash out;
  unsigned int n = 0;
  if (EVP_Digest(key.data(), key.size(), out.data(), &n, EVP_sha256(), nullptr) != 1) {
    std::fputs("gengyun: OpenSSL EVP_Digest(SHA-256) failed; the OpenSSL installation is broken\n",
               stderr);
    std::abort();
  }
  return out;
}

}  // namespace gengyun::engine
