// The accounts of a model's KV cache blocks (vLLM v1's BlockPool): reference counts, the free
// queue in eviction order, and the prefix cache's map from block hash to block.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/prefix_hash.h"

namespace gengyun::engine {

/// Blocks 0..n_blocks-1 of one KV cache. A block is in use (reference count > 0, held by one or
/// more sequences' block tables) or free; free blocks wait in a queue whose front is evicted
/// first. A free block may still hold a cached prefix (a hash): it is reused by a sequence with
/// that prefix (touch) or, when it reaches the front, by any allocation, which drops its hash.
/// Freed blocks join the back, so the least recently used cached block goes first. Not
/// thread-safe (the engine's thread owns it).
class BlockPool {
 public:
  explicit BlockPool(int n_blocks);

  int n_blocks() const { return static_cast<int>(ref_.size()); }
  /// Blocks that allocate() can hand out now (free ones, cached or not).
  int n_free() const { return n_free_; }

  /// Takes n blocks from the front of the free queue (dropping any cached hash), each with
  /// reference count 1, appended to `out`. Returns false and changes nothing when fewer than n
  /// are free.
  bool allocate(int n, std::vector<int32_t>& out);

  /// The block cached under `hash`, or nullopt. Does not change any account.
  std::optional<int32_t> find_cached(const BlockHash& hash) const;

  /// One more reference to `block` (a cached block adopted by a sequence); a free block leaves
  /// the free queue.
  void touch(int32_t block);

  /// Records that `block` (in use, full) holds the prefix whose hash is `hash`. A hash already
  /// cached under another block keeps that block; a block already cached keeps its hash.
  void cache(int32_t block, const BlockHash& hash);

  /// One reference less to each block, in the order given; a block reaching 0 joins the back
  /// of the free queue (keeping its hash).
  void release(std::span<const int32_t> blocks);

  int ref_count(int32_t block) const { return ref_[static_cast<size_t>(block)]; }
  /// The free blocks from front (evicted first) to back.
  std::vector<int32_t> free_queue() const;

 private:
  void push_back(int32_t block);
  void unlink(int32_t block);

  std::vector<int> ref_;
  std::vector<std::optional<BlockHash>> hash_;
  std::unordered_map<BlockHash, int32_t, BlockHashHasher> cached_;
  // The free queue, doubly linked through the block ids; index n_blocks is the sentinel.
  std::vector<int32_t> prev_, next_;
  int n_free_ = 0;
};

}  // namespace gengyun::engine
