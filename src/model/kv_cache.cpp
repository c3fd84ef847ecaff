#include "model/kv_cache.h"

#include <algorithm>

namespace gengyun::model {

KvCache::KvCache(int n_layer, int n_ctx, int n_head_kv, int head_dim)
    : n_ctx_(n_ctx),
      n_head_kv_(n_head_kv),
      head_dim_(head_dim),
      k_(static_cast<size_t>(n_layer) * n_head_kv * n_ctx * head_dim),
      v_(k_.size()) {}

void KvCache::store(int layer, int pos0, int64_t n_tokens, const float* k, const float* v) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < n_head_kv_; ++h) {
      const size_t src = (static_cast<size_t>(t) * n_head_kv_ + h) * head_dim_;
      const size_t dst = offset(layer, h) + static_cast<size_t>(pos0 + t) * head_dim_;
      std::copy_n(k + src, head_dim_, k_.data() + dst);
      std::copy_n(v + src, head_dim_, v_.data() + dst);
    }
  }
}

}  // namespace gengyun::model
