// The key/value cache of one sequence: f32 keys and values of every layer and position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gengyun::model {

/// Keys and values per layer, laid out [n_head_kv][n_ctx][head_dim] so that one KV head's
/// positions are contiguous for attention. Memory: 2 * n_layer * n_ctx * n_head_kv * head_dim
/// floats, allocated at construction.
class KvCache {
 public:
  KvCache(int n_layer, int n_ctx, int n_head_kv, int head_dim);

  /// Writes k and v, each [n_tokens, n_head_kv, head_dim] row-major, at positions
  /// pos0..pos0+n_tokens-1 of `layer`. The caller keeps pos0 + n_tokens <= n_ctx().
  void store(int layer, int pos0, int64_t n_tokens, const float* k, const float* v);

  /// Keys of (layer, kv_head): [n_ctx, head_dim], valid for the positions stored.
  const float* keys(int layer, int kv_head) const { return k_.data() + offset(layer, kv_head); }
  /// Values of (layer, kv_head): [n_ctx, head_dim].
  const float* values(int layer, int kv_head) const { return v_.data() + offset(layer, kv_head); }

  int n_ctx() const { return n_ctx_; }
  int n_head_kv() const { return n_head_kv_; }
  int head_dim() const { return head_dim_; }

 private:
  size_t offset(int layer, int kv_head) const {
    return (static_cast<size_t>(layer) * n_head_kv_ + kv_head) * n_ctx_ * head_dim_;
  }

  int n_ctx_;
  int n_head_kv_;
  int head_dim_;
  std::vector<float> k_;
  std::vector<float> v_;
};

}  // namespace gengyun::model
