// Prefix-cache keys of full KV blocks (vLLM's automatic prefix caching): a block's hash chains
// its parent block's hash, its token ids and the extra keys that must also match for two
// sequences to share it (the model, and a per-tenant cache salt; room for an adapter id).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace gengyun::engine {

/// SHA-256 of a block's key: collisions would make two different prefixes share KV blocks, so
/// a cryptographic hash, not a 64-bit one.
using BlockHash = std::array<uint8_t, 32>;

/// The hash of the block holding `tokens` after the block whose hash is `parent` (nullptr for
/// a sequence's first block): SHA-256(parent (32 bytes, or none) || length-prefixed
/// extra_keys || tokens as little-endian int32).
BlockHash hash_block(const BlockHash* parent, std::span<const int32_t> tokens,
                     std::string_view extra_keys);

/// For unordered containers: the first 8 bytes of the hash.
struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const {
    size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

}  // namespace gengyun::engine
