// matmul against a slow double-precision reference on the dequantized weights.
//
// Tolerance: for a dot product of n terms computed in f32 in any summation order, the rounding
// error is at most gamma_n * sum_i |x_i * w_i| with gamma_n = n*u / (1 - n*u) and u = 2^-24
// the unit roundoff (Higham, "Accuracy and Stability of Numerical Algorithms", eq. 3.5); the
// weights themselves are exact f32 values after dequantization. The reference computes the
// exact sum and sum |x_i * w_i| in double, whose own error is negligible at this scale. A
// wrong row, token, type decoding or missed block would break this bound by orders of
// magnitude, while any correct f32 accumulation order stays within it.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/float16.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

double gamma_n(int64_t n) {
  const double u = FLT_EPSILON / 2;
  return n * u / (1 - n * u);
}

// Offsets of the f16 scale fields inside one block, so random blocks get finite, moderate
// scales (random bytes elsewhere are valid quants).
std::vector<size_t> scale_offsets(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL:
      return {0};
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      return {0, 2};
    case GgmlType::Q2_K:
      return {80, 82};
    case GgmlType::Q3_K:
      return {108};
    case GgmlType::Q6_K:
      return {208};
    default:
      return {};
  }
}

// n_out rows of n_in random weights of `type`.
std::vector<uint8_t> random_weights(GgmlType type, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_out));
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  if (type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16) {
    for (int64_t i = 0; i < n_in * n_out; ++i) {
      const float v = value(rng);
      if (type == GgmlType::F32) {
        std::memcpy(w.data() + 4 * i, &v, 4);
      } else {
        const uint16_t h = type == GgmlType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
        std::memcpy(w.data() + 2 * i, &h, 2);
      }
    }
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const auto info = gguf::ggml_type_info(type);
  for (size_t block = 0; block < w.size() / info.type_size; ++block)
    for (size_t off : scale_offsets(type)) {
      const uint16_t h = fp32_to_fp16(scale(rng));
      std::memcpy(w.data() + block * info.type_size + off, &h, 2);
    }
  return w;
}

struct Shape {
  int64_t n_in, n_out, n_tokens;
};

void check_matmul(GgmlType type, Shape s, ThreadPool& pool, std::mt19937& rng) {
  SCOPED_TRACE(std::string(gguf::ggml_type_info(type).name) + " n_in=" + std::to_string(s.n_in) +
               " n_out=" + std::to_string(s.n_out) + " n_tokens=" + std::to_string(s.n_tokens) +
               " threads=" + std::to_string(pool.size()));
  const auto w = random_weights(type, s.n_in, s.n_out, rng);
  std::vector<float> x(static_cast<size_t>(s.n_tokens * s.n_in));
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  for (auto& v : x) v = value(rng);

  std::vector<float> y(static_cast<size_t>(s.n_tokens * s.n_out), NAN);
  matmul(type, w.data(), s.n_in, s.n_out, x.data(), y.data(), s.n_tokens, pool);

  const size_t row_bytes = gguf::ggml_row_size(type, s.n_in);
  std::vector<float> row(static_cast<size_t>(s.n_in));
  for (int64_t o = 0; o < s.n_out; ++o) {
    dequantize_row(type, w.data() + o * row_bytes, row.data(), s.n_in);
    for (int64_t t = 0; t < s.n_tokens; ++t) {
      double exact = 0, magnitude = 0;
      for (int64_t i = 0; i < s.n_in; ++i) {
        const double p = static_cast<double>(x[t * s.n_in + i]) * row[i];
        exact += p;
        magnitude += std::fabs(p);
      }
      const double got = y[t * s.n_out + o];
      ASSERT_LE(std::fabs(got - exact), gamma_n(s.n_in) * magnitude)
          << "t=" << t << " o=" << o << " got " << got << " want " << exact;
    }
  }
}

TEST(Matmul, MatchesDoubleReferenceForEveryTypeAndShape) {
  std::mt19937 rng(7);
  ThreadPool single(1), multi(3);
  const GgmlType types[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                            GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                            GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                            GgmlType::Q6_K, GgmlType::IQ4_NL};
  for (GgmlType type : types) {
    const int64_t block = gguf::ggml_type_info(type).block_size == 1 ? 32 : gguf::ggml_type_info(type).block_size;
    // Decode (1 token), small batches, rows not a multiple of the 8-row tile, and a shape
    // big enough to be split across the pool.
    for (Shape s : {Shape{block, 1, 1}, Shape{block * 2, 13, 1}, Shape{block * 2, 13, 3},
                    Shape{512, 67, 5}}) {
      check_matmul(type, s, single, rng);
      check_matmul(type, s, multi, rng);
    }
  }
  // f32 rows that are not a multiple of the 8 accumulators.
  check_matmul(GgmlType::F32, Shape{37, 9, 2}, multi, rng);
  check_matmul(GgmlType::F32, Shape{3, 200, 200}, multi, rng);
}

TEST(Matmul, ResultDoesNotDependOnThreadCount) {
  std::mt19937 rng(8);
  const Shape s{256, 100, 7};
  const auto w = random_weights(GgmlType::Q4_K, s.n_in, s.n_out, rng);
  std::vector<float> x(static_cast<size_t>(s.n_tokens * s.n_in));
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  std::vector<float> y1(static_cast<size_t>(s.n_tokens * s.n_out)), y4(y1.size());
  ThreadPool one(1), four(4);
  matmul(GgmlType::Q4_K, w.data(), s.n_in, s.n_out, x.data(), y1.data(), s.n_tokens, one);
  matmul(GgmlType::Q4_K, w.data(), s.n_in, s.n_out, x.data(), y4.data(), s.n_tokens, four);
  EXPECT_EQ(std::memcmp(y1.data(), y4.data(), y1.size() * sizeof(float)), 0);
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
