// Every type's vec_dot at every SIMD level this CPU has, against the exact double reference
// of kernel_reference.h:
//  - with power-of-two scales and small quants, every kernel's float arithmetic is exact, so
//    all levels must return exactly the reference value (any wrong element, nibble, bit,
//    scale or min shows);
//  - with realistic random scales and quantized random activations, the result must be within
//    the derived rounding bound gamma(n + 3) * M (kernel_reference.h).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernel_reference.h"
#include "kernels/dequantize.h"
#include "kernels/type_kernels.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : kSimdLevels)
    if (l <= cpu_simd_level()) out.push_back(l);
  return out;
}

int64_t block_size(GgmlType type) { return gguf::ggml_type_info(type).block_size; }

// Row lengths covering one block, several blocks and, for float types, every SIMD tail.
std::vector<int64_t> lengths(GgmlType type) {
  const int64_t b = block_size(type);
  if (b == 1) return {1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 896};
  if (b == 32) return {32, 64, 96, 224, 256, 896};
  return {256, 512, 1024};
}

std::string label(GgmlType type, SimdLevel level, int64_t n) {
  return std::string(gguf::ggml_type_info(type).name) + " " + std::string(simd_level_name(level)) +
         " n=" + std::to_string(n);
}

TEST(VecDot, EveryLevelIsExactWhenTheArithmeticIsExact) {
  std::mt19937 rng(11);
  const float d_w = 1.0f / 16, d_min = 1.0f / 32, d_a = 1.0f / 8;
  for (GgmlType type : test::kernel_types()) {
    const GgmlType act_type = type_kernels(type, SimdLevel::kScalar).activation_type;
    // Every term is an integer multiple of d_min * d_a (of 1 for integer-valued float rows).
    const double unit = block_size(type) == 1 ? 1.0 : 1.0 / 256;
    for (int64_t n : lengths(type)) {
      if (n > 512) continue;  // longer K-quant rows could leave the exact range
      const auto w = test::random_weights_exact(type, n, 1, rng, d_w, d_min);
      const auto a = test::small_activations(act_type, n, d_a, rng);
      const test::ExactDot exact = test::exact_dot(type, w.data(), a.data(), n);
      const auto row = test::activation_row(act_type, a, n);
      // Every partial sum of terms is then an integer multiple of `unit` below 2^24 units.
      ASSERT_LT(exact.magnitude / unit, 16777216.0) << label(type, SimdLevel::kScalar, n);
      for (SimdLevel level : levels()) {
        float got;
        type_kernels(type, level).vec_dot(n, w.data(), 0, 1, row.data(), &got);
        EXPECT_EQ(static_cast<double>(got), exact.value) << label(type, level, n);
      }
    }
  }
}

TEST(VecDot, EveryLevelIsWithinTheRoundingBound) {
  std::mt19937 rng(12);
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (GgmlType type : test::kernel_types()) {
    const GgmlType act_type = type_kernels(type, SimdLevel::kScalar).activation_type;
    for (int64_t n : lengths(type)) {
      for (int trial = 0; trial < 4; ++trial) {
        const auto w = test::random_weights(type, n, 1, rng);
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = value(rng) * (trial == 3 ? 1000.0f : 1.0f);
        const auto a = test::activations_for(type, x.data(), n);
        const auto row = test::activation_row(act_type, a, n);
        const test::ExactDot exact = test::exact_dot(type, w.data(), a.data(), n);
        const double bound = test::gamma_n(n + 3) * exact.magnitude;
        for (SimdLevel level : levels()) {
          float got;
          type_kernels(type, level).vec_dot(n, w.data(), 0, 1, row.data(), &got);
          EXPECT_LE(std::fabs(got - exact.value), bound)
              << label(type, level, n) << " got " << got << " want " << exact.value;
        }
      }
    }
  }
}

// The test's own decoding of the block formats agrees with the dequantizers (which match
// ggml bit for bit, dequantize_test.cpp): scaled + min, rounded to f32 once or twice.
TEST(VecDot, ReferenceDecodingMatchesTheDequantizers) {
  std::mt19937 rng(13);
  for (GgmlType type : test::kernel_types()) {
    const int64_t n = 2 * std::max<int64_t>(block_size(type), 32);
    const auto w = test::random_weights(type, n, 1, rng);
    const test::WeightParts parts = test::decode_weights(type, w.data(), n);
    std::vector<float> f(static_cast<size_t>(n));
    dequantize_row(type, w.data(), f.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = parts.scaled[i] + parts.min[i];
      const double bound =
          test::gamma_n(2) * (std::fabs(parts.scaled[i]) + std::fabs(parts.min[i]));
      ASSERT_LE(std::fabs(f[i] - want), bound) << gguf::ggml_type_info(type).name << " i=" << i;
    }
  }
}

// Several rows in one call: each output is its own row's dot product.
TEST(VecDot, ManyRowsInOneCallMatchOneRowCalls) {
  std::mt19937 rng(14);
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (GgmlType type : test::kernel_types()) {
    const int64_t n = std::max<int64_t>(block_size(type), 64) * 2;
    const int64_t n_rows = 7;
    const size_t row_bytes = gguf::ggml_row_size(type, n);
    const auto w = test::random_weights(type, n, n_rows, rng);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = value(rng);
    const GgmlType act_type = type_kernels(type, SimdLevel::kScalar).activation_type;
    const auto row = test::activation_row(act_type, test::activations_for(type, x.data(), n), n);
    for (SimdLevel level : levels()) {
      const VecDotFn vec_dot = type_kernels(type, level).vec_dot;
      std::vector<float> all(n_rows);
      vec_dot(n, w.data(), row_bytes, n_rows, row.data(), all.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        float one;
        vec_dot(n, w.data() + r * row_bytes, row_bytes, 1, row.data(), &one);
        EXPECT_EQ(all[r], one) << label(type, level, n) << " row " << r;
      }
    }
  }
}

TEST(SimdLevel, NamesRoundTripAndUnsupportedLevelsAreRefused) {
  for (SimdLevel l : kSimdLevels) EXPECT_EQ(parse_simd_level(simd_level_name(l)), l);
  EXPECT_FALSE(parse_simd_level("sse9").has_value());
  const SimdLevel before = simd_level();
  ASSERT_TRUE(set_simd_level(SimdLevel::kScalar).ok());
  EXPECT_EQ(simd_level(), SimdLevel::kScalar);
  for (SimdLevel l : kSimdLevels) {
    if (l <= cpu_simd_level()) continue;
    const Result<void> r = set_simd_level(l);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not supported by this CPU"), std::string::npos);
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

TEST(SimdLevel, DescriptionNamesTheLevelAndTheCPUsWhereLower) {
  const SimdLevel before = simd_level();
  const std::string cpu(simd_level_name(cpu_simd_level()));
  for (SimdLevel l : kSimdLevels) {
    if (l > cpu_simd_level()) continue;
    ASSERT_TRUE(set_simd_level(l).ok());
    const std::string name(simd_level_name(l));
    EXPECT_EQ(simd_level_description(),
              l == cpu_simd_level() ? name : name + " (the CPU has " + cpu + ")");
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

}  // namespace
}  // namespace gengyun::kernels
