// The paged key/value cache of a model: one pool of fixed-size blocks of positions that any
// number of sequences share through their block tables (vLLM's PagedAttention layout), stored
// as f16 (the default, as llama.cpp) or f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "gengyun/kv_cache_type.h"

namespace gengyun::model {

/// Bytes of one element of a cache of `type`.
size_t kv_cache_element_bytes(KvCacheType type);

/// Keys and values of n_blocks blocks of kBlockSize positions each. A sequence's position p
/// lives in block block_table[p / kBlockSize] at slot p % kBlockSize. Per layer and block the
/// layout is [n_head_kv][kBlockSize][head_dim], so that one KV head's positions of a block are
/// contiguous for attention. Memory: 2 * n_layer * n_blocks * kBlockSize * n_head_kv *
/// head_dim elements, allocated (not touched) at construction. Which blocks belong to which
/// sequence is the caller's bookkeeping (engine/); the cache only stores.
class KvCache {
 public:
  /// Positions per block. Equal to the block of keys attention walks at a time, so that a
  /// sequence's attention reads the same blocks in the same order however it was batched.
  static constexpr int kBlockSize = 32;

  /// Bytes one block takes over all layers, keys and values together.
  static size_t block_bytes(int n_layer, int n_head_kv, int head_dim, KvCacheType type);

  KvCache(int n_layer, int n_blocks, int n_head_kv, int head_dim, KvCacheType type);

  /// Writes k and v, each [n_tokens, n_head_kv, head_dim] row-major f32, at positions
  /// pos0..pos0+n_tokens-1 of the sequence whose blocks are `block_table`, converted to the
  /// cache's type. The caller keeps block_table long enough and its ids < n_blocks().
  void store(int layer, std::span<const int32_t> block_table, int pos0, int64_t n_tokens,
             const float* k, const float* v);

  /// Keys of the first n positions of `block` for (layer, kv_head) as f32 rows [n, head_dim]:
  /// a pointer into the cache for F32, else `buffer` (n * head_dim floats) after conversion.
  /// Only positions already stored may be read.
  const float* keys(int layer, int kv_head, int block, int n, float* buffer) const;
  /// Values of those positions, like keys().
  const float* values(int layer, int kv_head, int block, int n, float* buffer) const;

  KvCacheType type() const { return type_; }
  int n_blocks() const { return n_blocks_; }
  int n_head_kv() const { return n_head_kv_; }
  int head_dim() const { return head_dim_; }
  /// Bytes of keys and values together.
  size_t memory_bytes() const { return 2 * n_elements_ * kv_cache_element_bytes(type_); }

 private:
  /// Element index of (layer, block, kv_head, slot, 0).
  size_t offset(int layer, int block, int kv_head, int slot) const {
    return (((static_cast<size_t>(layer) * n_blocks_ + block) * n_head_kv_ + kv_head) *
                kBlockSize +
            slot) *
           head_dim_;
  }
  const float* read(const std::byte* data, int layer, int kv_head, int block, int n,
                    float* buffer) const;
  void write(std::byte* data, size_t index, const float* src) const;

  KvCacheType type_;
  int n_blocks_;
  int n_head_kv_;
  int head_dim_;
  size_t n_elements_;  ///< of keys, and of values
  std::unique_ptr<std::byte[]> k_;
  std::unique_ptr<std::byte[]> v_;
};

}  // namespace gengyun::model
