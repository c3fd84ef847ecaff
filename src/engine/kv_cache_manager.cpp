#include "engine/kv_cache_manager.h"

#include <algorithm>
#include <span>

namespace gengyun::engine {

KvCacheManager::KvCacheManager(BlockPool& pool, int block_size, bool prefix_caching)
    : pool_(pool), block_size_(block_size), prefix_caching_(prefix_caching) {}

void KvCacheManager::hash_blocks(Sequence& seq, int n_tokens) const {
  const size_t n_full = static_cast<size_t>(n_tokens / block_size_);
  while (seq.block_hashes.size() < n_full) {
    const size_t i = seq.block_hashes.size();
    const BlockHash* parent = i == 0 ? nullptr : &seq.block_hashes[i - 1];
    const std::span<const int32_t> tokens(seq.tokens.data() + i * block_size_,
                                          static_cast<size_t>(block_size_));
    seq.block_hashes.push_back(hash_block(parent, tokens, seq.cache_key));
  }
}

PrefixHit KvCacheManager::find_prefix(Sequence& seq) {
  PrefixHit hit;
  if (!prefix_caching_) return hit;
  const int lookable = seq.n_tokens() - 1;
  hash_blocks(seq, lookable);
  for (size_t i = 0; i < static_cast<size_t>(lookable / block_size_); ++i) {
    const std::optional<int32_t> block = pool_.find_cached(seq.block_hashes[i]);
    if (!block) break;
    hit.blocks.push_back(*block);
  }
  hit.n_tokens = static_cast<int>(hit.blocks.size()) * block_size_;
  counters_.queries += seq.n_tokens();
  counters_.hits += hit.n_tokens;
  return hit;
}

int KvCacheManager::blocks_needed(const Sequence& seq, int n_total, const PrefixHit* hit) const {
  int have = static_cast<int>(seq.block_table.size());
  int from_free = 0;
  if (hit) {
    have += static_cast<int>(hit->blocks.size());
    for (int32_t block : hit->blocks)
      if (pool_.ref_count(block) == 0) ++from_free;
  }
  const int want = (n_total + block_size_ - 1) / block_size_;
  return from_free + std::max(0, want - have);
}

bool KvCacheManager::allocate(Sequence& seq, int n_total, const PrefixHit* hit) {
  if (blocks_needed(seq, n_total, hit) > pool_.n_free()) return false;
  if (hit) {
    for (int32_t block : hit->blocks) {
      pool_.touch(block);
      seq.block_table.push_back(block);
    }
    seq.n_computed = hit->n_tokens;
  }
  const int want = (n_total + block_size_ - 1) / block_size_;
  const int missing = want - static_cast<int>(seq.block_table.size());
  if (missing > 0) pool_.allocate(missing, seq.block_table);
  return true;
}

void KvCacheManager::cache_computed(Sequence& seq) {
  if (!prefix_caching_) return;
  hash_blocks(seq, seq.n_computed);
  const int n_full = seq.n_computed / block_size_;
  for (; seq.n_blocks_cached < n_full; ++seq.n_blocks_cached) {
    const size_t i = static_cast<size_t>(seq.n_blocks_cached);
    pool_.cache(seq.block_table[i], seq.block_hashes[i]);
  }
}

void KvCacheManager::free(Sequence& seq) {
  std::vector<int32_t> reversed(seq.block_table.rbegin(), seq.block_table.rend());
  pool_.release(reversed);
  seq.block_table.clear();
  seq.n_computed = 0;
  seq.n_blocks_cached = 0;
}

}  // namespace gengyun::engine
