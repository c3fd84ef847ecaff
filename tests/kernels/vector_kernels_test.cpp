// Each version of the vector kernels (portable, and AVX2 where the CPU has it) against the
// scalar f16 conversions of kernels/float16.h (bit for bit) and float64 references, with
// error bounds derived from the f32 rounding of each step; and which version each SIMD level
// (CPUID, GENGYUN_KERNELS, set_simd_level) serves.
#include "kernels/vector_kernels.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/exp_approx.h"
#include "kernels/float16.h"
#include "kernels/type_kernels.h"

namespace gengyun::kernels {

namespace {

// Unit roundoff of f32 (half an ulp of 1) and one ulp of 1.
constexpr double kUnit = 0x1.0p-24;
constexpr double kUlp1 = 0x1.0p-23;

/// gamma_n = n u / (1 - n u): the relative bound of a sum or dot product of n f32 terms in any
/// order of evaluation (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).
double gamma(int64_t n) { return n * kUnit / (1 - n * kUnit); }

/// The value of one ulp at |x| (x a normal f32).
double ulp(double x) { return std::ldexp(1.0, std::ilogb(static_cast<float>(x)) - 23); }

std::vector<float> random_vector(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

bool is_f16_nan(uint16_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0; }

// The parameter: a level's name.
class VectorKernelsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const SimdLevel level = parse_simd_level(GetParam()).value();
    if (level > cpu_simd_level()) GTEST_SKIP() << "this CPU lacks " << GetParam();
    vk_ = &vector_kernels(level);
  }
  const VectorKernels* vk_ = nullptr;
};

TEST_P(VectorKernelsTest, Fp16ToFp32IsExactForEveryValue) {
  std::vector<uint16_t> halves(65536 + 5);  // + 5: a tail after the 8-wide blocks
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i * 40503u);
  std::vector<float> out(halves.size());
  vk_->fp16_to_fp32(halves.data(), out.data(), static_cast<int64_t>(halves.size()));
  for (size_t i = 0; i < halves.size(); ++i) {
    const float expected = kernels::fp16_to_fp32(halves[i]);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(out[i])) << std::hex << halves[i];
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(expected))
          << std::hex << halves[i];
    }
  }
}

TEST_P(VectorKernelsTest, Fp32ToFp16MatchesScalarRounding) {
  std::vector<float> x = {0.0f,   -0.0f,    1.0f,      65504.0f,       65519.99f,       65520.0f,
                          -1e6f,  INFINITY, -INFINITY, 5.96e-8f,       2.98e-8f,        2.99e-8f,
                          1e-10f, 6.1e-5f,  3.0e-5f,   1.00048828125f, 1.000732421875f, NAN};
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) x.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  std::vector<uint16_t> out(x.size());
  vk_->fp32_to_fp16(x.data(), out.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(is_f16_nan(out[i])) << i;
    } else {
      ASSERT_EQ(out[i], kernels::fp32_to_fp16(x[i])) << x[i];
    }
  }
}

// exp_approx's documented bound: 3 ulp on [-87.3, 88.3]; the bound holds for the portable
// steps (exp_approx itself) and the FMA steps alike.
TEST_P(VectorKernelsTest, ExpShiftedWithinThreeUlp) {
  using exp_approx_constants::kMax;
  using exp_approx_constants::kMin;
  std::vector<float> x;
  for (double v = kMin; v <= kMax; v += 0.000731) x.push_back(static_cast<float>(v));
  x.push_back(0.0f);
  std::vector<float> e = x;
  vk_->exp_shifted(e.data(), static_cast<int64_t>(e.size()), 0.0f);
  double max_ulps = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(static_cast<double>(x[i]));
    max_ulps = std::max(max_ulps, std::abs(e[i] - ref) / ulp(ref));
  }
  EXPECT_LE(max_ulps, 3.0);

  // As softmax calls it: x - max(x) <= 0. The returned sum is that of the stored values,
  // within the rounding of an f32 sum.
  const std::vector<float> scores = random_vector(1003, 9, -30, 5);
  std::vector<float> weights = scores;
  const float sum = vk_->exp_shifted(weights.data(), 1003, 5.0f);
  double total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double ref = std::exp(static_cast<double>(scores[i] - 5.0f));
    ASSERT_NEAR(weights[i], ref, 3 * ulp(ref)) << scores[i];
    total += weights[i];
  }
  EXPECT_NEAR(sum, total, gamma(1003) * total);

  // Outside the range, the result is that of the range's end.
  std::vector<float> clamped = {10.0f - 200.0f, 10.0f + 300.0f, 10.0f};
  vk_->exp_shifted(clamped.data(), 3, 10.0f);
  EXPECT_NEAR(clamped[0], std::exp(double{kMin}), 3 * ulp(std::exp(double{kMin})));
  EXPECT_NEAR(clamped[1], std::exp(double{kMax}), 3 * ulp(std::exp(double{kMax})));
  EXPECT_EQ(clamped[2], 1.0f);
}

TEST(ExpApprox, ScalarWithinThreeUlp) {
  double max_ulps = 0;
  for (double v = -87.3; v <= 88.3; v += 0.000917) {
    const float x = static_cast<float>(v);
    const double ref = std::exp(static_cast<double>(x));
    max_ulps = std::max(max_ulps, std::abs(exp_approx(x) - ref) / ulp(ref));
  }
  EXPECT_LE(max_ulps, 3.0);
  EXPECT_EQ(exp_approx(-1000.0f), exp_approx(exp_approx_constants::kMin));
  EXPECT_EQ(exp_approx(1000.0f), exp_approx(exp_approx_constants::kMax));
}

// silu(g) * up = g * up / (1 + e^-g): e^-g within 3 ulp moves 1 / (1 + e) by at most 3 ulp
// relative; 1 + e, the division and the product round once each: 4.5 ulp in all. Where g <
// -88.3, e^-g is clamped to e^88.3 and the result (true value below 1e-36) is off by at most
// |g up| e^-88.3.
TEST_P(VectorKernelsTest, SwigluWithinDerivedBound) {
  const int64_t n = 4099;
  const std::vector<float> gate = random_vector(n, 2, -100, 100);
  const std::vector<float> up = random_vector(n, 3, -4, 4);
  std::vector<float> out(n), in_place = gate;
  vk_->swiglu(gate.data(), up.data(), out.data(), n);
  vk_->swiglu(in_place.data(), up.data(), in_place.data(), n);
  EXPECT_EQ(out, in_place);
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    const double ref = g / (1 + std::exp(-g)) * up[i];
    const double bound = 4.5 * kUlp1 * std::abs(ref) + std::abs(g * up[i]) * std::exp(-88.3);
    ASSERT_NEAR(out[i], ref, bound) << "gate " << g << " up " << up[i];
  }
}

TEST_P(VectorKernelsTest, DotRowsWithinSumBound) {
  for (int64_t dim : {6, 8, 32, 64, 128, 100}) {
    for (int64_t n_pos : {1, 3, 4, 32, 33}) {
      const int64_t n_rows = 5;
      const std::vector<float> q = random_vector(n_rows * dim, 4, -2, 2);
      const std::vector<float> k = random_vector(n_pos * dim, 5, -2, 2);
      std::vector<float> s(n_rows * n_pos);
      vk_->dot_rows(q.data(), n_rows, k.data(), n_pos, dim, s.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t j = 0; j < n_pos; ++j) {
          double ref = 0, magnitude = 0;
          for (int64_t d = 0; d < dim; ++d) {
            ref += double(q[r * dim + d]) * k[j * dim + d];
            magnitude += std::abs(double(q[r * dim + d]) * k[j * dim + d]);
          }
          ASSERT_NEAR(s[r * n_pos + j], ref, gamma(dim) * magnitude)
              << "dim " << dim << " n_pos " << n_pos << " row " << r << " pos " << j;
        }
      }
    }
  }
}

TEST_P(VectorKernelsTest, AccumulateRowsWithinSumBound) {
  for (int64_t dim : {6, 8, 32, 64, 72, 128}) {
    for (int64_t n_pos : {1, 7, 32}) {
      const int64_t n_rows = 3;
      const std::vector<float> p = random_vector(n_rows * n_pos, 6, 0, 1);
      const std::vector<float> v = random_vector(n_pos * dim, 7, -3, 3);
      const std::vector<float> acc0 = random_vector(n_rows * dim, 8, -1, 1);
      std::vector<float> acc = acc0;
      vk_->accumulate_rows(p.data(), n_rows, v.data(), n_pos, dim, acc.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t d = 0; d < dim; ++d) {
          double ref = acc0[r * dim + d], magnitude = std::abs(ref);
          for (int64_t j = 0; j < n_pos; ++j) {
            ref += double(p[r * n_pos + j]) * v[j * dim + d];
            magnitude += std::abs(double(p[r * n_pos + j]) * v[j * dim + d]);
          }
          ASSERT_NEAR(acc[r * dim + d], ref, gamma(n_pos + 1) * magnitude)
              << "dim " << dim << " n_pos " << n_pos << " row " << r << " d " << d;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, VectorKernelsTest, ::testing::Values("scalar", "avx2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(VectorKernels, FollowTheActiveLevel) {
  const SimdLevel before = simd_level();
  for (SimdLevel level : kSimdLevels) {
    if (level > cpu_simd_level()) continue;
    ASSERT_TRUE(set_simd_level(level).ok());
    EXPECT_EQ(&vector_kernels(), &vector_kernels(level)) << simd_level_name(level);
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

TEST(VectorKernels, ScalarIsPortableAndAvx512AndAmxUseAvx2) {
  if (cpu_simd_level() < SimdLevel::kAvx2) GTEST_SKIP() << "this CPU lacks avx2";
  EXPECT_NE(&vector_kernels(SimdLevel::kScalar), &vector_kernels(SimdLevel::kAvx2));
  for (SimdLevel level : {SimdLevel::kAvx512, SimdLevel::kAmx}) {
    if (level <= cpu_simd_level()) {
      EXPECT_EQ(&vector_kernels(level), &vector_kernels(SimdLevel::kAvx2));
    }
  }
}

// GENGYUN_KERNELS is read once, at a process's first kernel lookup: ctest runs this test in a
// process of its own with GENGYUN_KERNELS=scalar (kernels_env_scalar, tests/CMakeLists.txt).
TEST(KernelsEnvironment, ScalarServesThePortableKernels) {
  const char* env = std::getenv("GENGYUN_KERNELS");
  if (env == nullptr || std::string_view(env) != "scalar")
    GTEST_SKIP() << "needs GENGYUN_KERNELS=scalar; ctest runs it so as kernels_env_scalar";
  EXPECT_EQ(simd_level(), SimdLevel::kScalar);
  EXPECT_EQ(&vector_kernels(), &vector_kernels(SimdLevel::kScalar));
  EXPECT_EQ(type_kernels(gguf::GgmlType::Q4_0).vec_dot,
            type_kernels(gguf::GgmlType::Q4_0, SimdLevel::kScalar).vec_dot);
}

}  // namespace
}  // namespace gengyun::kernels
