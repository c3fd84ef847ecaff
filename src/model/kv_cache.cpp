#include "model/kv_cache.h"

#include <algorithm>

#include "kernels/vector_kernels.h"

namespace gengyun::model {

size_t kv_cache_element_bytes(KvCacheType type) {
  return type == KvCacheType::F16 ? sizeof(uint16_t) : sizeof(float);
}

size_t KvCache::block_bytes(int n_layer, int n_head_kv, int head_dim, KvCacheType type) {
  return 2 * static_cast<size_t>(n_layer) * n_head_kv * kBlockSize * head_dim *
         kv_cache_element_bytes(type);
}

KvCache::KvCache(int n_layer, int n_blocks, int n_head_kv, int head_dim, KvCacheType type)
    : type_(type),
      n_blocks_(n_blocks),
      n_head_kv_(n_head_kv),
      head_dim_(head_dim),
      n_elements_(static_cast<size_t>(n_layer) * n_blocks * n_head_kv * kBlockSize * head_dim),
      k_(std::make_unique_for_overwrite<std::byte[]>(n_elements_ * kv_cache_element_bytes(type))),
      v_(std::make_unique_for_overwrite<std::byte[]>(n_elements_ * kv_cache_element_bytes(type))) {}

void KvCache::write(std::byte* data, size_t index, const float* src) const {
  if (type_ == KvCacheType::F32) {
    std::copy_n(src, head_dim_, reinterpret_cast<float*>(data) + index);
  } else {
    kernels::vector_kernels().fp32_to_fp16(src, reinterpret_cast<uint16_t*>(data) + index,
                                           head_dim_);
  }
}

void KvCache::store(int layer, std::span<const int32_t> block_table, int pos0, int64_t n_tokens,
                    const float* k, const float* v) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int pos = pos0 + static_cast<int>(t);
    const int block = block_table[pos / kBlockSize];
    for (int h = 0; h < n_head_kv_; ++h) {
      const size_t src = (static_cast<size_t>(t) * n_head_kv_ + h) * head_dim_;
      const size_t dst = offset(layer, block, h, pos % kBlockSize);
      write(k_.get(), dst, k + src);
      write(v_.get(), dst, v + src);
    }
  }
}

const float* KvCache::read(const std::byte* data, int layer, int kv_head, int block, int n,
                           float* buffer) const {
  const size_t index = offset(layer, block, kv_head, 0);
  if (type_ == KvCacheType::F32) return reinterpret_cast<const float*>(data) + index;
  kernels::vector_kernels().fp16_to_fp32(reinterpret_cast<const uint16_t*>(data) + index, buffer,
                                         static_cast<int64_t>(n) * head_dim_);
  return buffer;
}

const float* KvCache::keys(int layer, int kv_head, int block, int n, float* buffer) const {
  return read(k_.get(), layer, kv_head, block, n, buffer);
}

const float* KvCache::values(int layer, int kv_head, int block, int n, float* buffer) const {
  return read(v_.get(), layer, kv_head, block, n, buffer);
}

}  // namespace gengyun::model
