// BlockPool and KvCacheManager accounts: reference counts, the free queue's eviction order,
// the prefix cache's chained hashes.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "engine/block_pool.h"
#include "engine/kv_cache_manager.h"
#include "engine/prefix_hash.h"

namespace gengyun::engine {
namespace {

constexpr int kBlock = 4;

Sequence make_sequence(std::vector<int32_t> tokens, std::string key = "m") {
  Sequence s;
  s.n_prompt = static_cast<int>(tokens.size());
  s.tokens = std::move(tokens);
  s.cache_key = std::move(key);
  return s;
}

std::vector<int32_t> iota(int n, int32_t first = 0) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(BlockPool, AllocatesFromTheFrontAndFreesToTheBack) {
  BlockPool pool(4);
  std::vector<int32_t> a;
  ASSERT_TRUE(pool.allocate(3, a));
  EXPECT_EQ(a, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(pool.n_free(), 1);
  std::vector<int32_t> b;
  EXPECT_FALSE(pool.allocate(2, b));  // nothing changes
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(pool.n_free(), 1);
  pool.release(std::vector<int32_t>{2, 0});
  EXPECT_EQ(pool.free_queue(), (std::vector<int32_t>{3, 2, 0}));
  EXPECT_EQ(pool.ref_count(1), 1);
  EXPECT_EQ(pool.ref_count(0), 0);
}

TEST(BlockPool, CachedBlocksAreReusedUntilEvicted) {
  BlockPool pool(3);
  std::vector<int32_t> blocks;
  ASSERT_TRUE(pool.allocate(2, blocks));
  const BlockHash h0 = hash_block(nullptr, iota(kBlock), "m");
  const BlockHash h1 = hash_block(&h0, iota(kBlock, 4), "m");
  pool.cache(0, h0);
  pool.cache(1, h1);
  pool.release(std::vector<int32_t>{1, 0});
  EXPECT_EQ(pool.free_queue(), (std::vector<int32_t>{2, 1, 0}));
  EXPECT_EQ(pool.find_cached(h0), 0);
  pool.touch(0);  // adopted by a sequence: leaves the free queue
  EXPECT_EQ(pool.n_free(), 2);
  EXPECT_EQ(pool.ref_count(0), 1);
  std::vector<int32_t> fresh;
  ASSERT_TRUE(pool.allocate(2, fresh));  // takes 2, then the least recently freed cached block
  EXPECT_EQ(fresh, (std::vector<int32_t>{2, 1}));
  EXPECT_FALSE(pool.find_cached(h1).has_value());  // evicted with its reuse
  EXPECT_EQ(pool.find_cached(h0), 0);
}

TEST(PrefixHash, ChainsParentTokensAndExtraKeys) {
  const BlockHash a = hash_block(nullptr, iota(kBlock), "m");
  EXPECT_EQ(a, hash_block(nullptr, iota(kBlock), "m"));
  EXPECT_NE(a, hash_block(nullptr, iota(kBlock), "other model"));
  EXPECT_NE(a, hash_block(nullptr, iota(kBlock, 1), "m"));
  EXPECT_NE(hash_block(&a, iota(kBlock), "m"), a);
  const BlockHash b = hash_block(nullptr, iota(kBlock, 7), "m");
  EXPECT_NE(hash_block(&a, iota(kBlock), "m"), hash_block(&b, iota(kBlock), "m"));
}

TEST(KvCacheManager, SharesFullBlocksOfAnEqualPrefix) {
  BlockPool pool(8);
  KvCacheManager kv(pool, kBlock, true);
  Sequence first = make_sequence(iota(10));
  PrefixHit miss = kv.find_prefix(first);
  EXPECT_EQ(miss.n_tokens, 0);
  ASSERT_TRUE(kv.allocate(first, 10, &miss));
  EXPECT_EQ(first.block_table.size(), 3u);
  first.n_computed = 10;
  kv.cache_computed(first);  // blocks of positions 0..3 and 4..7 are full

  Sequence second = make_sequence(iota(9));
  const PrefixHit hit = kv.find_prefix(second);
  EXPECT_EQ(hit.n_tokens, 8);
  EXPECT_EQ(hit.blocks, (std::vector<int32_t>{first.block_table[0], first.block_table[1]}));
  ASSERT_TRUE(kv.allocate(second, 9, &hit));
  EXPECT_EQ(second.n_computed, 8);
  EXPECT_EQ(pool.ref_count(first.block_table[0]), 2);
  EXPECT_EQ(kv.counters().queries, 19);
  EXPECT_EQ(kv.counters().hits, 8);

  // The last token is always computed: a prompt of exactly two blocks reuses only the first.
  Sequence exact = make_sequence(iota(8));
  EXPECT_EQ(kv.find_prefix(exact).n_tokens, 4);
  // Another salt shares nothing.
  Sequence salted = make_sequence(iota(9), "m/tenant-b");
  EXPECT_EQ(kv.find_prefix(salted).n_tokens, 0);
}

TEST(KvCacheManager, FreesTailFirstSoSharedHeadsOutliveTails) {
  BlockPool pool(4);
  KvCacheManager kv(pool, kBlock, true);
  Sequence s = make_sequence(iota(12));
  PrefixHit none;
  ASSERT_TRUE(kv.allocate(s, 12, &none));
  s.n_computed = 12;
  kv.cache_computed(s);
  const std::vector<int32_t> table = s.block_table;
  kv.free(s);
  EXPECT_TRUE(s.block_table.empty());
  EXPECT_EQ(s.n_computed, 0);
  EXPECT_EQ(pool.free_queue(), (std::vector<int32_t>{3, table[2], table[1], table[0]}));
}

TEST(KvCacheManager, RefusesWithoutChangingWhenThePoolIsShort) {
  BlockPool pool(2);
  KvCacheManager kv(pool, kBlock, false);
  Sequence s = make_sequence(iota(9));
  EXPECT_FALSE(kv.allocate(s, 9, nullptr));
  EXPECT_TRUE(s.block_table.empty());
  EXPECT_EQ(pool.n_free(), 2);
  EXPECT_EQ(kv.find_prefix(s).n_tokens, 0);  // prefix caching off: no lookups
  EXPECT_EQ(kv.counters().queries, 0);
}

}  // namespace
}  // namespace gengyun::engine
