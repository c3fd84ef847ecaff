// kernels::quantize_row beyond the reference models (whose bytes quantize_reference_test
// checks): the supported types, all-zero input, and one block worked by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/dequantize.h"
#include "kernels/float16.h"
#include "kernels/quantize_weights.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

constexpr GgmlType kSupported[] = {GgmlType::F16,   GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                                   GgmlType::Q4_1,  GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K,
                                   GgmlType::Q3_K,  GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                                   GgmlType::IQ4_NL};

TEST(QuantizeKernelsTest, SupportedTypes) {
  for (GgmlType t : kSupported) EXPECT_TRUE(quantize_supported(t)) << gguf::ggml_type_info(t).name;
  for (GgmlType t : {GgmlType::F32, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::IQ4_XS, GgmlType::I8})
    EXPECT_FALSE(quantize_supported(t)) << gguf::ggml_type_info(t).name;
}

TEST(QuantizeKernelsTest, ZerosStayZeros) {
  const std::vector<float> zeros(512, 0.0f);
  for (GgmlType t : kSupported) {
    SCOPED_TRACE(gguf::ggml_type_info(t).name);
    std::vector<uint8_t> q(gguf::ggml_row_size(t, 512), 0xAB);
    quantize_row(t, zeros.data(), q.data(), 512);
    std::vector<float> back(512, 1.0f);
    dequantize_row(t, q.data(), back.data(), 512);
    for (float v : back) ASSERT_EQ(v, 0.0f);
    if (t == GgmlType::IQ4_NL) {
      // ggml picks the level nearest to 0 (index 8, level 1) under a zero scale.
      for (size_t i = 0; i < q.size(); i += 18) {
        EXPECT_EQ(q[i] | q[i + 1], 0);
        for (int j = 2; j < 18; ++j) EXPECT_EQ(q[i + j], 0x88);
      }
    }
  }
}

// Q4_0 of x[j] = j - 16: the largest magnitude is x[0] = -16, so d = -16 / -8 = 2 and
// q[j] = min(15, trunc(x[j] / 2 + 8.5)) = min(15, trunc(j / 2 + 0.5)).
TEST(QuantizeKernelsTest, Q4_0WorkedBlock) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  uint8_t block[18];
  quantize_row(GgmlType::Q4_0, x, block, 32);
  uint16_t d;
  std::memcpy(&d, block, 2);
  EXPECT_EQ(d, fp32_to_fp16(2.0f));
  for (int j = 0; j < 16; ++j) {
    const int lo = std::min(15, static_cast<int>(j * 0.5 + 0.5));
    const int hi = std::min(15, static_cast<int>((j + 16) * 0.5 + 0.5));
    EXPECT_EQ(block[2 + j], lo | (hi << 4)) << j;
  }
}

}  // namespace
}  // namespace gengyun::kernels
