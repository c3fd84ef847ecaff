// Activation quantizers on hand-made rows whose results follow from the definitions:
// amax chosen so d is exact, ties placed exactly on .5 to pin the rounding rule (Q8_0 / Q8_1:
// roundf, ties away from zero; Q8_K: nearest-even), and random rows checked element by
// element against the formula evaluated in the test.
#include "kernels/quantize_activations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/activation_rows.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"
#include "kernels/type_kernels.h"

namespace gengyun::kernels {
namespace {

TEST(QuantizeActivations, Q8_0TiesRoundAwayFromZero) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // amax 127: d = 1, id = 1
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.5f;
  x[4] = -126.5f;
  x[5] = 3.49f;
  BlockQ8_0 b;
  quantize_row_q8_0(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);
  EXPECT_EQ(b.qs[2], -3);
  EXPECT_EQ(b.qs[3], 1);
  EXPECT_EQ(b.qs[4], -127);
  EXPECT_EQ(b.qs[5], 3);
  for (int j = 6; j < 32; ++j) EXPECT_EQ(b.qs[j], 0);
}

TEST(QuantizeActivations, Q8_0ZeroBlockAndSecondBlock) {
  std::vector<float> x(64, 0.0f);
  for (int j = 0; j < 32; ++j) x[32 + j] = -0.5f * j;  // amax 15.5 at the last element
  BlockQ8_0 b[2];
  quantize_row_q8_0(x.data(), b, 64);
  EXPECT_EQ(b[0].d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b[0].qs[j], 0);
  const float d = 15.5f / 127.0f;
  EXPECT_EQ(b[1].d, fp32_to_fp16(d));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b[1].qs[j], std::roundf(x[32 + j] * (1.0f / d)));
  EXPECT_EQ(b[1].qs[31], -127);
}

TEST(QuantizeActivations, Q8_1CarriesScaledSum) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = (j % 2 ? 1.0f : -0.25f) * j;  // amax 31 at j = 31
  BlockQ8_1 b;
  quantize_row_q8_1(x.data(), &b, 32);
  const float d = 31.0f / 127.0f;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(b.qs[j], std::roundf(x[j] * (1.0f / d))) << j;
    sum += b.qs[j];
  }
  EXPECT_EQ(b.d, fp32_to_fp16(d));
  EXPECT_EQ(b.s, fp32_to_fp16(sum * d));
  BlockQ8_0 q8_0;
  quantize_row_q8_0(x.data(), &q8_0, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q8_0.qs[j], b.qs[j]);
}

TEST(QuantizeActivations, Q8_KTiesToEvenAndSignOfMax) {
  std::vector<float> x(256, 0.0f);
  x[7] = -127.0f;  // max = -127: iscale = 1, d = 1
  x[8] = 127.0f;   // same magnitude later: the first one stays max
  x[0] = 2.5f;
  x[1] = 3.5f;
  x[2] = -2.5f;
  x[3] = 0.5f;
  x[17] = 1.5f;
  BlockQ8_K b;
  quantize_row_q8_K(x.data(), &b, 256);
  EXPECT_EQ(b.d, 1.0f);
  EXPECT_EQ(b.qs[0], 2);
  EXPECT_EQ(b.qs[1], 4);
  EXPECT_EQ(b.qs[2], -2);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(b.qs[7], -127);
  EXPECT_EQ(b.qs[8], 127);
  EXPECT_EQ(b.qs[17], 2);
  EXPECT_EQ(b.bsums[0], 2 + 4 - 2 - 127 + 127);
  EXPECT_EQ(b.bsums[1], 2);
  for (int g = 2; g < 16; ++g) EXPECT_EQ(b.bsums[g], 0);
}

TEST(QuantizeActivations, Q8_KPositiveMaxFlipsScaleSign) {
  std::vector<float> x(256, 0.0f);
  x[100] = 254.0f;  // iscale = -0.5, d = -2
  x[5] = 3.0f;      // -1.5 -> -2 (even)
  x[6] = -5.0f;     // 2.5 -> 2
  BlockQ8_K b;
  quantize_row_q8_K(x.data(), &b, 256);
  EXPECT_EQ(b.d, -2.0f);
  EXPECT_EQ(b.qs[100], -127);
  EXPECT_EQ(b.qs[5], -2);
  EXPECT_EQ(b.qs[6], 2);
  EXPECT_EQ(b.bsums[0], 0);
  EXPECT_EQ(b.bsums[6], -127);
}

TEST(QuantizeActivations, Q8_KZeroBlock) {
  std::vector<float> x(512, 0.0f);
  x[300] = 1.0f;
  BlockQ8_K b[2];
  std::memset(b, 0x55, sizeof(b));
  quantize_row_q8_K(x.data(), b, 512);
  EXPECT_EQ(b[0].d, 0.0f);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(b[0].qs[j], 0);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(b[0].bsums[g], 0);
  EXPECT_EQ(b[1].qs[300 - 256], -127);
}

TEST(QuantizeActivations, RandomRowsFollowTheFormulas) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> x(1024);
  for (float& v : x) v = dist(rng);
  std::vector<BlockQ8_0> q0(32);
  std::vector<BlockQ8_K> qk(4);
  quantize_row_q8_0(x.data(), q0.data(), 1024);
  quantize_row_q8_K(x.data(), qk.data(), 1024);
  for (int b = 0; b < 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127;
    EXPECT_EQ(q0[b].d, fp32_to_fp16(d));
    for (int j = 0; j < 32; ++j) EXPECT_EQ(q0[b].qs[j], std::roundf(x[b * 32 + j] * (1 / d)));
  }
  for (int b = 0; b < 4; ++b) {
    const float* xb = x.data() + b * 256;
    int arg = 0;
    for (int j = 1; j < 256; ++j)
      if (std::fabs(xb[j]) > std::fabs(xb[arg])) arg = j;
    const float iscale = -127.0f / xb[arg];
    EXPECT_EQ(qk[b].d, 1 / iscale);
    for (int j = 0; j < 256; ++j) {
      const float v = iscale * xb[j];
      EXPECT_EQ(qk[b].qs[j], std::min(127.0f, std::nearbyint(v))) << j;
    }
  }
}

// The activation rows of every level must hold exactly the values of ggml's reference
// quantizers (quantize_row_q8_0 / q8_1 / q8_K, f16 / bf16 rounding), on
// rows with zero blocks, exact ties, tiny and huge values, repeated maxima of both signs
// (Q8_K keeps the first) and, for f16 / bf16, infinities, NaN and subnormals.
TEST(QuantizeActivations, EveryLevelWritesTheScalarBytes) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 2048;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) {
    const int e = static_cast<int>(i % 32);
    switch (i / 256) {  // one kind of data per Q8_K block (and its 8 Q8_0 blocks)
      case 0:
        x[i] = normal(rng);
        break;
      case 1:
        x[i] = 0.0f;
        break;
      // amax 127 makes the scale exactly 1 (Q8_0) and -1 (Q8_K): every other value is a tie.
      case 2:
        x[i] = e == 0 ? 127.0f : static_cast<float>(e - 16) + 0.5f;
        break;
      case 3:
        x[i] = normal(rng) * 1e-30f;
        break;
      case 4:
        x[i] = normal(rng) * 1e6f;
        break;
      case 5:
        x[i] = (i % 2 ? -3.0f : 3.0f);
        break;  // equal magnitudes, both signs
      case 6:
        x[i] = (i % 256 == 5 ? -100.0f : i % 256 == 9 ? 100.0f : normal(rng));
        break;
      default:
        x[i] = std::ldexp(normal(rng), static_cast<int>(i % 40) - 20);
        break;
    }
  }
  std::vector<float> special = x;
  special[3] = INFINITY;
  special[4] = -INFINITY;
  special[5] = NAN;
  special[6] = -NAN;
  special[7] = 1e-41f;     // f32 subnormal
  special[8] = 3e-6f;      // f16 subnormal
  special[9] = 70000.0f;   // beyond f16
  special[10] = 65519.0f;  // rounds to f16 max
  special[11] = 65520.0f;  // rounds to f16 infinity
  // The same without the infinities and NaNs, whose int8 quants ggml leaves to the platform.
  std::vector<float> finite = special;
  std::copy(x.begin() + 3, x.begin() + 7, finite.begin() + 3);

  using gguf::GgmlType;
  struct Case {
    GgmlType weight;  // a weight type whose activation format is the one under test
    const std::vector<float>* input;
  };
  for (const Case c : {Case{GgmlType::Q8_0, &x}, Case{GgmlType::Q4_1, &x}, Case{GgmlType::Q4_K, &x},
                       Case{GgmlType::Q8_0, &finite}, Case{GgmlType::Q4_1, &finite},
                       Case{GgmlType::F16, &special}, Case{GgmlType::BF16, &special}}) {
    const TypeKernels& scalar = type_kernels(c.weight, SimdLevel::kScalar);
    // The scalar quantizer's activation row of the first len values.
    const auto expected = [&](int64_t len) {
      std::vector<uint8_t> blocks(gguf::ggml_row_size(scalar.activation_type, len));
      switch (scalar.activation_type) {
        case GgmlType::Q8_0:
          quantize_row_q8_0(c.input->data(), blocks.data(), len);
          break;
        case GgmlType::Q8_1:
          quantize_row_q8_1(c.input->data(), blocks.data(), len);
          break;
        case GgmlType::Q8_K:
          quantize_row_q8_K(c.input->data(), blocks.data(), len);
          break;
        case GgmlType::F16:
          round_row_to_f16(c.input->data(), blocks.data(), len);
          break;
        default:
          round_row_to_bf16(c.input->data(), blocks.data(), len);
          break;
      }
      std::vector<uint8_t> want(activation_row_bytes(scalar.activation_type, len), 0xAA);
      activation_row_from_blocks(scalar.activation_type, blocks.data(), len, want.data());
      return want;
    };
    // Odd lengths exercise the tails of the element-wise f16 / bf16 conversions; 59 blocks
    // those of the Q8_0 / Q8_1 quantizers that take 16 blocks at a time.
    const bool element_wise =
        scalar.activation_type == GgmlType::F16 || scalar.activation_type == GgmlType::BF16;
    const bool blocks_of_32 =
        scalar.activation_type == GgmlType::Q8_0 || scalar.activation_type == GgmlType::Q8_1;
    for (int64_t len : {n, element_wise ? n - 3 : blocks_of_32 ? int64_t{32 * 59} : n}) {
      const std::vector<uint8_t> want = expected(len);
      // The f16 / bf16 rows of odd lengths: the values only (the padding is not written).
      const size_t used =
          element_wise ? gguf::ggml_row_size(scalar.activation_type, len) : want.size();
      for (SimdLevel level : kSimdLevels) {
        if (level > cpu_simd_level()) continue;
        const TypeKernels& k = type_kernels(c.weight, level);
        ASSERT_EQ(k.activation_type, scalar.activation_type);
        std::vector<uint8_t> got(want.size(), 0xAA);
        k.quantize_activations(c.input->data(), got.data(), len);
        EXPECT_EQ(std::memcmp(got.data(), want.data(), used), 0)
            << gguf::ggml_type_info(scalar.activation_type).name << " " << simd_level_name(level)
            << " len=" << len << (c.input == &x ? "" : " (special values)");
      }
    }
  }
}

}  // namespace
}  // namespace gengyun::kernels
