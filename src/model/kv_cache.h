// The key/value cache of one sequence: keys and values of every layer and position, stored as
// f16 (the default, as llama.cpp) or f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "gengyun/kv_cache_type.h"

namespace gengyun::model {

/// Bytes of one element of a cache of `type`.
size_t kv_cache_element_bytes(KvCacheType type);

/// Keys and values per layer, laid out [n_head_kv][n_ctx][head_dim] so that one KV head's
/// positions are contiguous for attention. Memory: 2 * n_layer * n_ctx * n_head_kv * head_dim
/// elements, allocated (not touched) at construction.
class KvCache {
 public:
  KvCache(int n_layer, int n_ctx, int n_head_kv, int head_dim, KvCacheType type);

  /// Writes k and v, each [n_tokens, n_head_kv, head_dim] row-major f32, at positions
  /// pos0..pos0+n_tokens-1 of `layer`, converted to the cache's type. The caller keeps
  /// pos0 + n_tokens <= n_ctx().
  void store(int layer, int pos0, int64_t n_tokens, const float* k, const float* v);

  /// Keys of positions [pos, pos + n) of (layer, kv_head) as f32 rows [n, head_dim]: a pointer
  /// into the cache for F32, else `buffer` (n * head_dim floats) after conversion. Only
  /// positions already stored may be read.
  const float* keys(int layer, int kv_head, int pos, int n, float* buffer) const;
  /// Values of those positions, like keys().
  const float* values(int layer, int kv_head, int pos, int n, float* buffer) const;

  KvCacheType type() const { return type_; }
  int n_ctx() const { return n_ctx_; }
  int n_head_kv() const { return n_head_kv_; }
  int head_dim() const { return head_dim_; }
  /// Bytes of keys and values together.
  size_t memory_bytes() const { return 2 * n_elements_ * kv_cache_element_bytes(type_); }

 private:
  /// Element index of (layer, kv_head, pos, 0).
  size_t offset(int layer, int kv_head, int pos) const {
    return ((static_cast<size_t>(layer) * n_head_kv_ + kv_head) * n_ctx_ + pos) * head_dim_;
  }
  const float* read(const std::byte* data, int layer, int kv_head, int pos, int n,
                    float* buffer) const;
  void write(std::byte* data, size_t index, const float* src) const;

  KvCacheType type_;
  int n_ctx_;
  int n_head_kv_;
  int head_dim_;
  size_t n_elements_;  ///< of keys, and of values
  std::unique_ptr<std::byte[]> k_;
  std::unique_ptr<std::byte[]> v_;
};

}  // namespace gengyun::model
