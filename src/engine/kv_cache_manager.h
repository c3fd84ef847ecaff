// The KV-cache manager (vLLM v1's KVCacheManager): block tables of sequences, allocation from
// the block pool, and the prefix cache's lookups and insertions. It accounts; the scheduler
// decides.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/block_pool.h"
#include "engine/sequence.h"

namespace gengyun::engine {

/// A sequence's longest prefix of full blocks found in the prefix cache.
struct PrefixHit {
  std::vector<int32_t> blocks;
  int n_tokens = 0;  ///< blocks.size() * block_size
};

/// Counters of the prefix cache, in tokens.
struct PrefixCacheCounters {
  int64_t queries = 0;
  int64_t hits = 0;
};

class KvCacheManager {
 public:
  /// block_size: positions per block. prefix_caching false: no lookups, nothing cached.
  KvCacheManager(BlockPool& pool, int block_size, bool prefix_caching);

  /// The cached blocks of `seq`'s leading full blocks, for a sequence without blocks. At most
  /// n_tokens - 1 tokens are taken (the last one must be computed to give logits). Changes no
  /// account; counts the lookup in counters().
  PrefixHit find_prefix(Sequence& seq);

  /// Makes `seq`'s block table hold n_total positions: first adopts `hit` (a find_prefix()
  /// answer for this sequence, or nullptr; seq.n_computed becomes hit->n_tokens), then
  /// allocates new blocks. Returns false and changes nothing when the pool lacks blocks.
  bool allocate(Sequence& seq, int n_total, const PrefixHit* hit);

  /// Blocks allocate(seq, n_total, hit) would take from the free queue.
  int blocks_needed(const Sequence& seq, int n_total, const PrefixHit* hit) const;

  /// Records in the prefix cache the full blocks of seq's computed positions not yet recorded
  /// (seq.n_blocks_cached onwards), so each step costs only its new blocks.
  void cache_computed(Sequence& seq);

  /// Gives back seq's blocks (last block first, so that a sequence's tail is evicted before
  /// its shared head) and clears its block table, n_computed and n_blocks_cached.
  void free(Sequence& seq);

  const PrefixCacheCounters& counters() const { return counters_; }
  bool prefix_caching() const { return prefix_caching_; }
  int block_size() const { return block_size_; }

 private:
  /// Extends seq.block_hashes to every full block of its first n_tokens tokens.
  void hash_blocks(Sequence& seq, int n_tokens) const;

  BlockPool& pool_;
  int block_size_;
  bool prefix_caching_;
  PrefixCacheCounters counters_;
};

}  // namespace gengyun::engine
