// The shared blocks against slow, obvious float64 references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/blocks.h"
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
      blocks::rope({type, head_dim, 10000.0f, ff}, x.data(), n_tokens, n_heads, pos0);
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], expected[i], 1e-5) << i;
    }
  }
}

TEST(Rope, PairingDiffers) {
  // Position 1, base 1 (every theta = 1 rad): the two modes rotate different pairs.
  std::vector<float> normal = {1, 0, 0, 0}, neox = {1, 0, 0, 0};
  blocks::rope({RopeType::Normal, 4, 1.0f, nullptr}, normal.data(), 1, 1, 1);
  blocks::rope({RopeType::Neox, 4, 1.0f, nullptr}, neox.data(), 1, 1, 1);
  EXPECT_NEAR(normal[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(normal[1], std::sin(1.0), 1e-6);
  EXPECT_NEAR(normal[2], 0, 1e-6);
  EXPECT_NEAR(neox[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(neox[1], 0, 1e-6);
  EXPECT_NEAR(neox[2], std::sin(1.0), 1e-6);
}

TEST(Attention, CausalGroupedQueryMatchesReference) {
  const int n_layer = 2, n_ctx = 16, n_head = 6, n_head_kv = 2, head_dim = 8, layer = 1;
  const int pos0 = 3;
  const int64_t n_tokens = 5;
  const int n_pos = pos0 + static_cast<int>(n_tokens);
  const int kv_dim = n_head_kv * head_dim;
  const std::vector<float> k = random_vector(n_pos * kv_dim, 5, -2, 2);
  const std::vector<float> v = random_vector(n_pos * kv_dim, 6);
  const std::vector<float> q = random_vector(n_tokens * n_head * head_dim, 7, -2, 2);

  KvCache kv(n_layer, n_ctx, n_head_kv, head_dim);
  kv.store(layer, 0, pos0, k.data(), v.data());  // earlier positions
  kv.store(layer, pos0, n_tokens, k.data() + pos0 * kv_dim, v.data() + pos0 * kv_dim);
  const float scale = 0.3f;
  for (int threads : {1, 3}) {
    kernels::ThreadPool pool(threads);
    std::vector<float> out(q.size());
    blocks::attention(kv, layer, q.data(), n_tokens, pos0, n_head, scale, out.data(), pool);
    for (int64_t t = 0; t < n_tokens; ++t) {
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
          EXPECT_NEAR(out[(t * n_head + h) * head_dim + d], o, 1e-5)
              << "threads " << threads << " token " << t << " head " << h << " dim " << d;
        }
      }
    }
  }
}

TEST(SwiGlu, SiluTimesUp) {
  const std::vector<float> gate = {-3.0f, -0.5f, 0.0f, 0.5f, 4.0f};
  const std::vector<float> up = {2.0f, -1.0f, 7.0f, 3.0f, 0.25f};
  std::vector<float> out(gate.size());
  blocks::swiglu(gate.data(), up.data(), out.data(), 5);
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    EXPECT_NEAR(out[i], g / (1 + std::exp(-g)) * up[i], 1e-6) << i;
  }
}

}  // namespace
}  // namespace gengyun::model
