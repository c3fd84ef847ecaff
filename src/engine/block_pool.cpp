#include "engine/block_pool.h"

namespace gengyun::engine {

BlockPool::BlockPool(int n_blocks)
    : ref_(static_cast<size_t>(n_blocks), 0),
      hash_(static_cast<size_t>(n_blocks)),
      prev_(static_cast<size_t>(n_blocks) + 1),
      next_(static_cast<size_t>(n_blocks) + 1) {
  const int32_t sentinel = n_blocks;
  prev_[sentinel] = next_[sentinel] = sentinel;
  for (int32_t b = 0; b < n_blocks; ++b) push_back(b);
}

void BlockPool::push_back(int32_t block) {
  const int32_t sentinel = n_blocks();
  const int32_t last = prev_[sentinel];
  next_[last] = block;
  prev_[block] = last;
  next_[block] = sentinel;
  prev_[sentinel] = block;
  ++n_free_;
}

void BlockPool::unlink(int32_t block) {
  next_[prev_[block]] = next_[block];
  prev_[next_[block]] = prev_[block];
  --n_free_;
}

bool BlockPool::allocate(int n, std::vector<int32_t>& out) {
  if (n > n_free_) return false;
  const int32_t sentinel = n_blocks();
  for (int i = 0; i < n; ++i) {
    const int32_t block = next_[sentinel];
    unlink(block);
    if (hash_[block]) {
      cached_.erase(*hash_[block]);
      hash_[block].reset();
    }
    ref_[block] = 1;
    out.push_back(block);
  }
  return true;
}

std::optional<int32_t> BlockPool::find_cached(const BlockHash& hash) const {
  const auto it = cached_.find(hash);
  if (it == cached_.end()) return std::nullopt;
  return it->second;
}

void BlockPool::touch(int32_t block) {
  if (ref_[block]++ == 0) unlink(block);
}

void BlockPool::cache(int32_t block, const BlockHash& hash) {
  if (hash_[block] || cached_.contains(hash)) return;
  hash_[block] = hash;
  cached_.emplace(hash, block);
}

void BlockPool::release(std::span<const int32_t> blocks) {
  for (int32_t block : blocks)
    if (--ref_[block] == 0) push_back(block);
}

std::vector<int32_t> BlockPool::free_queue() const {
  std::vector<int32_t> out;
  const int32_t sentinel = n_blocks();
  for (int32_t b = next_[sentinel]; b != sentinel; b = next_[b]) out.push_back(b);
  return out;
}

}  // namespace gengyun::engine
