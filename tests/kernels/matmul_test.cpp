// matmul against the exact double reference of kernel_reference.h: activations quantized by
// the scalar quantizer of the weight type's activation format (the SIMD quantizers produce the
// same bytes), each output within the derived rounding bound gamma(n_in + 3) * M of the exact
// dot product. Every type at every SIMD level the CPU has, decode (1 token) and batches of
// 3, 17 and 64 tokens, row counts that fill no tile evenly, and 1, 2 and 3 threads.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "kernel_reference.h"
#include "kernels/type_kernels.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

double gamma_n(int64_t n) { return test::gamma_n(n); }

struct Shape {
  int64_t n_in, n_out, n_tokens;
};

// Runs matmul at every level and thread count on one random problem.
void check_matmul(GgmlType type, Shape s, std::mt19937& rng) {
  const auto w = test::random_weights(type, s.n_in, s.n_out, rng);
  std::vector<float> x(static_cast<size_t>(s.n_tokens * s.n_in));
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (auto& v : x) v = value(rng);

  const size_t row_bytes = gguf::ggml_row_size(type, s.n_in);
  std::vector<test::ExactDot> exact(static_cast<size_t>(s.n_tokens * s.n_out));
  for (int64_t t = 0; t < s.n_tokens; ++t) {
    const auto a = test::activations_for(type, x.data() + t * s.n_in, s.n_in);
    for (int64_t o = 0; o < s.n_out; ++o)
      exact[t * s.n_out + o] = test::exact_dot(type, w.data() + o * row_bytes, a.data(), s.n_in);
  }

  const SimdLevel before = simd_level();
  for (SimdLevel level : kSimdLevels) {
    if (level > cpu_simd_level()) continue;
    ASSERT_TRUE(set_simd_level(level).ok());
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(std::string(gguf::ggml_type_info(type).name) + " " +
                   std::string(simd_level_name(level)) + " n_in=" + std::to_string(s.n_in) +
                   " n_out=" + std::to_string(s.n_out) + " n_tokens=" + std::to_string(s.n_tokens) +
                   " threads=" + std::to_string(threads));
      ThreadPool pool(threads);
      std::vector<float> y(static_cast<size_t>(s.n_tokens * s.n_out), NAN);
      matmul(type, w.data(), s.n_in, s.n_out, x.data(), y.data(), s.n_tokens, pool);
      for (int64_t i = 0; i < s.n_tokens * s.n_out; ++i) {
        const test::ExactDot& e = exact[i];
        ASSERT_LE(std::fabs(y[i] - e.value), gamma_n(s.n_in + 3) * e.magnitude)
            << "t=" << i / s.n_out << " o=" << i % s.n_out << " got " << y[i] << " want "
            << e.value;
      }
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

TEST(Matmul, MatchesExactReferenceForEveryTypeLevelShapeAndThreadCount) {
  std::mt19937 rng(7);
  for (GgmlType type : test::kernel_types()) {
    const int64_t block = gguf::ggml_type_info(type).block_size;
    const int64_t n_in = block == 1 ? 97 : block == 32 ? 320 : 512;
    for (int64_t n_tokens : {1, 3, 17, 64}) check_matmul(type, Shape{n_in, 37, n_tokens}, rng);
    check_matmul(type, Shape{block == 1 ? 32 : block, 1, 1}, rng);
    check_matmul(type, Shape{n_in, 130, 5}, rng);
  }
  // Long rows: the batched kernels decode the weights in several runs and go over the tokens
  // in several chunks.
  check_matmul(GgmlType::Q8_0, Shape{4096, 160, 64}, rng);
  check_matmul(GgmlType::Q4_K, Shape{4096, 160, 64}, rng);
  // f32 rows that are not a multiple of any vector width, and many tokens of tiny rows.
  check_matmul(GgmlType::F32, Shape{37, 9, 2}, rng);
  check_matmul(GgmlType::F32, Shape{3, 200, 200}, rng);
}

TEST(Matmul, ResultDoesNotDependOnThreadCount) {
  std::mt19937 rng(8);
  const Shape s{256, 100, 7};
  const auto w = test::random_weights(GgmlType::Q4_K, s.n_in, s.n_out, rng);
  std::vector<float> x(static_cast<size_t>(s.n_tokens * s.n_in));
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  std::vector<float> y1(static_cast<size_t>(s.n_tokens * s.n_out)), y4(y1.size());
  ThreadPool one(1), four(4);
  matmul(GgmlType::Q4_K, w.data(), s.n_in, s.n_out, x.data(), y1.data(), s.n_tokens, one);
  matmul(GgmlType::Q4_K, w.data(), s.n_in, s.n_out, x.data(), y4.data(), s.n_tokens, four);
  EXPECT_EQ(std::memcmp(y1.data(), y4.data(), y1.size() * sizeof(float)), 0);
  // Decode (one token) over rows enough for many pieces (ThreadPool::parallel_for_pieces).
  const Shape d{896, 2050, 1};
  const auto wd = test::random_weights(GgmlType::Q8_0, d.n_in, d.n_out, rng);
  std::vector<float> yd1(static_cast<size_t>(d.n_out)), yd2(yd1.size()), yd4(yd1.size());
  ThreadPool two(2);
  matmul(GgmlType::Q8_0, wd.data(), d.n_in, d.n_out, x.data(), yd1.data(), 1, one);
  matmul(GgmlType::Q8_0, wd.data(), d.n_in, d.n_out, x.data(), yd2.data(), 1, two);
  matmul(GgmlType::Q8_0, wd.data(), d.n_in, d.n_out, x.data(), yd4.data(), 1, four);
  EXPECT_EQ(std::memcmp(yd1.data(), yd2.data(), yd1.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(yd1.data(), yd4.data(), yd1.size() * sizeof(float)), 0);
}

// Batch invariance: runs matmul of the weights w with the first n_tokens of the activation
// rows x for each batch size given, at every level the CPU has and with 1 and 2 threads, and
// compares every token's outputs with memcmp against one-token calls. Adds one failure per
// level that differs, naming the first batch that did.
void check_batch_invariance(GgmlType type, const std::vector<uint8_t>& w,
                            const std::vector<float>& x, int64_t n_in, int64_t n_out,
                            std::initializer_list<int64_t> batches) {
  const int64_t max_tokens = std::max(batches);
  ASSERT_GE(static_cast<int64_t>(x.size()), max_tokens * n_in);
  const SimdLevel before = simd_level();
  for (SimdLevel level : kSimdLevels) {
    if (level > cpu_simd_level()) continue;
    ASSERT_TRUE(set_simd_level(level).ok());
    ThreadPool one(1), two(2);
    std::vector<float> single(static_cast<size_t>(max_tokens * n_out));
    for (int64_t t = 0; t < max_tokens; ++t)
      matmul(type, w.data(), n_in, n_out, x.data() + t * n_in, single.data() + t * n_out, 1, one);
    std::string differs;
    for (ThreadPool* pool : {&one, &two}) {
      for (int64_t n_tokens : batches) {
        std::vector<float> y(static_cast<size_t>(n_tokens * n_out), NAN);
        matmul(type, w.data(), n_in, n_out, x.data(), y.data(), n_tokens, *pool);
        for (int64_t t = 0; t < n_tokens && differs.empty(); ++t)
          if (std::memcmp(y.data() + t * n_out, single.data() + t * n_out,
                          static_cast<size_t>(n_out) * sizeof(float)) != 0)
            differs = "n_tokens=" + std::to_string(n_tokens) +
                      " threads=" + std::to_string(pool->size()) + " token " + std::to_string(t);
      }
    }
    EXPECT_EQ(differs, "") << gguf::ggml_type_info(type).name << " " << simd_level_name(level)
                           << " n_in=" << n_in << " n_out=" << n_out;
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The same with random weights and normally distributed activations.
void check_batch_invariance(GgmlType type, int64_t n_in, int64_t n_out,
                            std::initializer_list<int64_t> batches, std::mt19937& rng) {
  const auto w = test::random_weights(type, n_in, n_out, rng);
  std::vector<float> x(static_cast<size_t>(std::max(batches) * n_in));
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (auto& v : x) v = value(rng);
  check_batch_invariance(type, w, x, n_in, n_out, batches);
}

// A token's outputs are the same bits whatever else is in the batch and however many threads
// run it: every type, rows whose block count is no multiple of 16 and row counts that fill no
// group of 16 evenly, batch sizes on both sides of the batched kernels' thresholds
// (GemmKernels::min_tokens: 4, 8 or 16).
TEST(Matmul, TokenRowsAreBitIdenticalWhateverTheBatchSizeAndThreadCount) {
  std::mt19937 rng(10);
  for (GgmlType type : test::kernel_types()) {
    const int64_t block = gguf::ggml_type_info(type).block_size;
    const int64_t n_in = block == 1 ? 200 : block == 32 ? 32 * 37 : 256 * 3;
    check_batch_invariance(type, n_in, 37, {1, 2, 15, 16, 17, 40}, rng);
  }
  // Long rows and many tokens: the batched kernels decode the weights in several runs and go
  // over the tokens in several chunks.
  check_batch_invariance(GgmlType::Q8_0, 4096, 160, {16, 100}, rng);
  check_batch_invariance(GgmlType::Q4_K, 4096, 160, {16, 100}, rng);
}

// The same at the extremes of the integer sums: rows of all-0x00 and all-0xFF quant bytes
// (the smallest and largest quants, scales and mins of every format) against activations
// that quantize to the largest magnitudes of both signs (the batched kernels keep some sums
// in 16 bits where the formats bound them).
TEST(Matmul, TokenRowsAreBitIdenticalAtTheExtremesOfTheIntegerSums) {
  const int64_t n_out = 32;
  for (GgmlType type : test::kernel_types()) {
    const int64_t block = gguf::ggml_type_info(type).block_size;
    if (block == 1) continue;
    const int64_t n_in = block == 32 ? 32 * 17 : 256 * 2;
    const size_t row_bytes = gguf::ggml_row_size(type, n_in);
    const auto low = test::uniform_weights(type, n_in, n_out, 0x00, 0.01f, 0.02f);
    const auto high = test::uniform_weights(type, n_in, n_out, 0xFF, 0.01f, 0.02f);
    std::vector<uint8_t> w(low.size());
    for (int64_t o = 0; o < n_out; ++o)
      std::memcpy(w.data() + o * row_bytes, (o % 2 ? high : low).data() + o * row_bytes, row_bytes);
    // Tokens of all -1, all +1, and alternating signs in runs of 16, 32 and 64.
    constexpr int64_t kTokens = 20;
    std::vector<float> x(static_cast<size_t>(kTokens * n_in));
    for (int64_t t = 0; t < kTokens; ++t)
      for (int64_t i = 0; i < n_in; ++i) {
        const int64_t run = t % 5 < 2 ? n_in : int64_t{16} << (t % 5 - 2);
        x[t * n_in + i] = (t % 2 ? 1.0f : -1.0f) * ((i / run) % 2 ? -1.0f : 1.0f);
      }
    check_batch_invariance(type, w, x, n_in, n_out, {1, 16, 20});
  }
}

TEST(DotF32, WithinRoundingBoundForAllTailLengths) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (int64_t n = 0; n <= 70; ++n) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    double exact = 0, magnitude = 0;
    for (int64_t i = 0; i < n; ++i) {
      a[i] = value(rng);
      b[i] = value(rng);
      exact += static_cast<double>(a[i]) * b[i];
      magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    EXPECT_LE(std::fabs(dot_f32(a.data(), b.data(), n) - exact), gamma_n(n) * magnitude) << n;
  }
  const float ones[3] = {1, 1, 1}, v[3] = {1, 2, 4};
  EXPECT_EQ(dot_f32(ones, v, 3), 7.0f);
  EXPECT_EQ(dot_f32(ones, v, 0), 0.0f);
}

TEST(MatmulDeathTest, UnsupportedWeightTypeAbortsWithMessage) {
  ThreadPool pool(1);
  const uint8_t w[256] = {};
  const float x[256] = {};
  float y[1];
  EXPECT_DEATH(matmul(GgmlType::IQ2_XXS, w, 256, 1, x, y, 1, pool), "unsupported weight type 16");
}

}  // namespace
}  // namespace gengyun::kernels
