// The shared blocks against slow, obvious float64 references.
#include "model/blocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/float16.h"
#include "kernels/thread_pool.h"
#include "model/kv_cache.h"

namespace gengyun::model {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(RmsNorm, MatchesDefinition) {
  const int64_t rows = 3, n = 37;
  const std::vector<float> x = random_vector(rows * n, 1, -3, 3);
  const std::vector<float> w = random_vector(n, 2);
  std::vector<float> y(x.size());
  blocks::rms_norm(x.data(), w.data(), y.data(), rows, n, 1e-5f);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(y[r * n + i], x[r * n + i] * inv * w[i], 1e-5) << r << "," << i;
  }
  // In place gives the same.
  std::vector<float> inplace = x;
  blocks::rms_norm(inplace.data(), w.data(), inplace.data(), rows, n, 1e-5f);
  EXPECT_EQ(inplace, y);
}

// Rotation of pair (a, b) by theta, as complex multiplication in float64.
void reference_rope(RopeType type, int head_dim, double base, const float* factors,
                    std::vector<float>& x, int64_t n_tokens, int n_heads, int pos0) {
  const int half = head_dim / 2;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      float* head = x.data() + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        double theta = (pos0 + t) * std::pow(base, -2.0 * i / head_dim);
        if (factors) theta /= factors[i];
        const int ia = type == RopeType::Normal ? 2 * i : i;
        const int ib = type == RopeType::Normal ? 2 * i + 1 : i + half;
        const double a = head[ia], b = head[ib];
        head[ia] = static_cast<float>(a * std::cos(theta) - b * std::sin(theta));
        head[ib] = static_cast<float>(a * std::sin(theta) + b * std::cos(theta));
      }
    }
  }
}

TEST(Rope, NormalNeoxAndFrequencyFactors) {
  const int head_dim = 16, n_heads = 3, pos0 = 5;
  const int64_t n_tokens = 4;
  const std::vector<float> factors = random_vector(head_dim / 2, 3, 1.0f, 8.0f);
  for (RopeType type : {RopeType::Normal, RopeType::Neox}) {
    for (const float* ff : {static_cast<const float*>(nullptr), factors.data()}) {
      std::vector<float> x = random_vector(n_tokens * n_heads * head_dim, 4);
      std::vector<float> expected = x;
      reference_rope(type, head_dim, 10000.0, ff, expected, n_tokens, n_heads, pos0);
      blocks::RopeTable table(n_tokens + 2, head_dim);
      table.fill({type, head_dim, 10000.0f, ff}, 2, pos0 - 2, n_tokens);  // rows 2.. untouched
      table.fill({type, head_dim, 10000.0f, ff}, 0, pos0, n_tokens);
      blocks::rope(table, x.data(), n_tokens, n_heads);
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], expected[i], 1e-5) << i;
    }
  }
}

TEST(Rope, PairingDiffers) {
  // Position 1, base 1 (every theta = 1 rad): the two modes rotate different pairs.
  std::vector<float> normal = {1, 0, 0, 0}, neox = {1, 0, 0, 0};
  blocks::RopeTable table(1, 4);
  table.fill({RopeType::Normal, 4, 1.0f, nullptr}, 0, 1, 1);
  blocks::rope(table, normal.data(), 1, 1);
  table.fill({RopeType::Neox, 4, 1.0f, nullptr}, 0, 1, 1);
  blocks::rope(table, neox.data(), 1, 1);
  EXPECT_NEAR(normal[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(normal[1], std::sin(1.0), 1e-6);
  EXPECT_NEAR(normal[2], 0, 1e-6);
  EXPECT_NEAR(neox[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(neox[1], 0, 1e-6);
  EXPECT_NEAR(neox[2], std::sin(1.0), 1e-6);
}

// float64 softmax(scale q k^T) v over keys/values [n_pos, n_head_kv * head_dim] (positions
// 0..pos0+t for query row t), compared with attention() within `tolerance`.
void expect_attention(const std::vector<float>& out, const std::vector<float>& q,
                      const std::vector<float>& k, const std::vector<float>& v, int64_t n_q,
                      int pos0, int n_head, int n_head_kv, int head_dim, float scale,
                      double tolerance, const std::string& what) {
  const int kv_dim = n_head_kv * head_dim;
  for (int64_t t = 0; t < n_q; ++t) {
    for (int h = 0; h < n_head; ++h) {
      const int g = h / (n_head / n_head_kv);
      const float* qh = q.data() + (t * n_head + h) * head_dim;
      std::vector<double> w(pos0 + t + 1);
      double max_s = -1e300, sum = 0;
      for (int64_t j = 0; j <= pos0 + t; ++j) {
        double s = 0;
        for (int d = 0; d < head_dim; ++d) s += double(qh[d]) * k[j * kv_dim + g * head_dim + d];
        w[j] = s * scale;
        max_s = std::max(max_s, w[j]);
      }
      for (double& x : w) sum += (x = std::exp(x - max_s));
      for (int d = 0; d < head_dim; ++d) {
        double o = 0;
        for (size_t j = 0; j < w.size(); ++j) o += w[j] / sum * v[j * kv_dim + g * head_dim + d];
        ASSERT_NEAR(out[(t * n_head + h) * head_dim + d], o, tolerance)
            << what << " token " << t << " head " << h << " dim " << d;
      }
    }
  }
}

std::vector<float> round_to_f16(std::vector<float> x) {
  for (float& e : x) e = kernels::fp16_to_fp32(kernels::fp32_to_fp16(e));
  return x;
}

struct AttentionShape {
  int n_head, n_head_kv, head_dim, pos0;
  int64_t n_q;
};

constexpr int kBlock = KvCache::kBlockSize;

// A block table for n_pos positions whose blocks are scattered over a cache of
// 3 * (n_pos / kBlock + 1) blocks (every third block, backwards), so that paging is exercised.
std::vector<int32_t> scattered_blocks(int n_pos) {
  const int n = n_pos / kBlock + 1;
  std::vector<int32_t> table;
  for (int i = 0; i < n; ++i) table.push_back(3 * (n - 1 - i) + 1);
  return table;
}

// Shapes that cross the cache's blocks of 32 positions and the workspace's 32 query rows, odd
// head sizes (tails of the 8-wide kernels), groups larger than 32 heads, and single-token
// decoding.
TEST(Attention, CausalGroupedQueryMatchesReference) {
  const std::vector<AttentionShape> shapes = {
      {6, 2, 8, 3, 5},   {14, 2, 64, 70, 1}, {14, 2, 64, 0, 40}, {4, 4, 6, 33, 3},
      {40, 1, 16, 5, 3}, {8, 2, 32, 31, 34}, {2, 1, 128, 64, 2},
  };
  const int n_layer = 2, layer = 1;
  for (const AttentionShape& sh : shapes) {
    const int n_pos = sh.pos0 + static_cast<int>(sh.n_q);
    const int kv_dim = sh.n_head_kv * sh.head_dim;
    const std::vector<float> k = random_vector(n_pos * kv_dim, 5, -2, 2);
    const std::vector<float> v = random_vector(n_pos * kv_dim, 6);
    const std::vector<float> q = random_vector(sh.n_q * sh.n_head * sh.head_dim, 7, -2, 2);
    const float scale = 1.0f / std::sqrt(static_cast<float>(sh.head_dim));
    const std::vector<int32_t> table = scattered_blocks(n_pos);
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
      KvCache kv(n_layer, 3 * static_cast<int>(table.size()), sh.n_head_kv, sh.head_dim, type);
      kv.store(layer, table, 0, sh.pos0, k.data(), v.data());  // earlier positions
      kv.store(layer, table, sh.pos0, sh.n_q, k.data() + sh.pos0 * kv_dim,
               v.data() + sh.pos0 * kv_dim);
      // The f16 cache holds exactly the rounded keys and values.
      const bool f16 = type == KvCacheType::F16;
      const std::vector<float> k_ref = f16 ? round_to_f16(k) : k;
      const std::vector<float> v_ref = f16 ? round_to_f16(v) : v;
      for (int threads : {1, 3}) {
        kernels::ThreadPool pool(threads);
        blocks::AttentionWorkspace workspace(threads, sh.head_dim, 1);
        std::vector<float> out(q.size());
        const blocks::AttentionSequence seq{0, sh.n_q, sh.pos0, table};
        blocks::attention(kv, std::span(&seq, 1), layer, q.data(), sh.n_head, scale, out.data(),
                          workspace, pool);
        const std::string what = "heads " + std::to_string(sh.n_head) + "/" +
                                 std::to_string(sh.n_head_kv) + " dim " +
                                 std::to_string(sh.head_dim) + " pos0 " + std::to_string(sh.pos0) +
                                 " n_q " + std::to_string(sh.n_q) + (f16 ? " f16" : " f32") +
                                 " threads " + std::to_string(threads);
        expect_attention(out, q, k_ref, v_ref, sh.n_q, sh.pos0, sh.n_head, sh.n_head_kv,
                         sh.head_dim, scale, 1e-5, what);
      }
    }
  }
}

TEST(Attention, SameResultOnAnyThreadCount) {
  const int n_head = 14, n_head_kv = 2, head_dim = 64, pos0 = 40;
  const int64_t n_q = 9;
  const int kv_dim = n_head_kv * head_dim;
  const int n_pos = pos0 + static_cast<int>(n_q);
  const std::vector<float> k = random_vector(n_pos * kv_dim, 8);
  const std::vector<float> v = random_vector(n_pos * kv_dim, 9);
  const std::vector<float> q = random_vector(n_q * n_head * head_dim, 10);
  const std::vector<int32_t> table = scattered_blocks(n_pos);
  KvCache kv(1, 3 * static_cast<int>(table.size()), n_head_kv, head_dim, KvCacheType::F16);
  kv.store(0, table, 0, n_pos, k.data(), v.data());
  std::vector<float> first;
  for (int threads : {1, 2, 5, 16}) {
    kernels::ThreadPool pool(threads);
    blocks::AttentionWorkspace workspace(threads, head_dim, 1);
    std::vector<float> out(q.size());
    const blocks::AttentionSequence seq{0, n_q, pos0, table};
    blocks::attention(kv, std::span(&seq, 1), 0, q.data(), n_head, 0.125f, out.data(), workspace,
                      pool);
    if (first.empty()) first = out;
    EXPECT_EQ(out, first) << threads << " threads";
  }
}

// Batch invariance: a query row's output is bit-identical whether it is attended alone (one
// decode token), as one row of a longer chunk, or beside other sequences in one call.
TEST(Attention, RowIndependentOfItsChunkAndOfOtherSequences) {
  const int n_head = 14, n_head_kv = 2, head_dim = 64;
  const int kv_dim = n_head_kv * head_dim;
  const int n_pos_a = 77, n_pos_b = 40;  // sequence a: positions 0..76; b: 0..39
  const std::vector<float> ka = random_vector(n_pos_a * kv_dim, 21), va = random_vector(n_pos_a * kv_dim, 22);
  const std::vector<float> kb = random_vector(n_pos_b * kv_dim, 23), vb = random_vector(n_pos_b * kv_dim, 24);
  const std::vector<float> qa = random_vector(int64_t{n_pos_a} * n_head * head_dim, 25);
  const std::vector<float> qb = random_vector(int64_t{n_pos_b} * n_head * head_dim, 26);
  const std::vector<int32_t> table_a = {5, 0, 3}, table_b = {4, 1};
  KvCache kv(1, 6, n_head_kv, head_dim, KvCacheType::F16);
  kv.store(0, table_a, 0, n_pos_a, ka.data(), va.data());
  kv.store(0, table_b, 0, n_pos_b, kb.data(), vb.data());
  const int64_t row_floats = int64_t{n_head} * head_dim;
  for (int threads : {1, 2}) {
    kernels::ThreadPool pool(threads);
    blocks::AttentionWorkspace workspace(threads, head_dim, 2);
    // a's last 13 rows as one chunk and b's last 20 rows beside it, in one call.
    const int64_t na = 13, nb = 20;
    std::vector<float> q(static_cast<size_t>((na + nb) * row_floats));
    std::copy_n(qa.begin() + (n_pos_a - na) * row_floats, na * row_floats, q.begin());
    std::copy_n(qb.begin() + (n_pos_b - nb) * row_floats, nb * row_floats, q.begin() + na * row_floats);
    const blocks::AttentionSequence both[2] = {{0, na, n_pos_a - static_cast<int>(na), table_a},
                                               {na, nb, n_pos_b - static_cast<int>(nb), table_b}};
    std::vector<float> out(q.size());
    blocks::attention(kv, both, 0, q.data(), n_head, 0.125f, out.data(), workspace, pool);
    // Each of those rows alone, as a decode step at its position.
    for (int64_t r = 0; r < na + nb; ++r) {
      const bool in_a = r < na;
      const int pos = in_a ? n_pos_a - static_cast<int>(na - r) : n_pos_b - static_cast<int>(nb - (r - na));
      const blocks::AttentionSequence alone{0, 1, pos, in_a ? table_a : table_b};
      std::vector<float> one(static_cast<size_t>(row_floats));
      blocks::attention(kv, std::span(&alone, 1), 0, q.data() + r * row_floats, n_head, 0.125f,
                        one.data(), workspace, pool);
      ASSERT_EQ(0, std::memcmp(one.data(), out.data() + r * row_floats, one.size() * sizeof(float)))
          << "row " << r << " threads " << threads;
    }
  }
}

TEST(SwiGlu, SiluTimesUp) {
  const std::vector<float> gate = {-3.0f, -0.5f, 0.0f, 0.5f, 4.0f};
  const std::vector<float> up = {2.0f, -1.0f, 7.0f, 3.0f, 0.25f};
  std::vector<float> out(gate.size());
  kernels::ThreadPool pool(1);
  blocks::swiglu(gate.data(), up.data(), out.data(), 5, pool);
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    EXPECT_NEAR(out[i], g / (1 + std::exp(-g)) * up[i], 1e-6) << i;
  }
}

TEST(SwiGlu, SplitOverThePoolEqualsOneThread) {
  const int64_t n = 3 * 65536 + 13;  // above the parallel threshold, not a multiple of 8
  const std::vector<float> gate = random_vector(n, 11, -20, 20);
  const std::vector<float> up = random_vector(n, 12, -3, 3);
  kernels::ThreadPool one(1), three(3);
  std::vector<float> serial(n), parallel(n);
  blocks::swiglu(gate.data(), up.data(), serial.data(), n, one);
  blocks::swiglu(gate.data(), up.data(), parallel.data(), n, three);
  EXPECT_EQ(serial, parallel);
}

}  // namespace
}  // namespace gengyun::model
