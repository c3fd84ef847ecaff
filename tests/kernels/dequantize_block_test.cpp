// Single blocks of every quantized type built from chosen quants and scales by packers that
// follow the format element by element; dequantize_row must give back d * scale * q (- min)
// for each element. Complements the bit-exact comparison with ggml in dequantize_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

std::vector<float> dequantize(GgmlType type, const void* block, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, block, out.data(), n);
  return out;
}

class BlockTest : public ::testing::Test {
 protected:
  int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::mt19937 rng_{42};
};

TEST_F(BlockTest, Q4_0) {
  BlockQ4_0 b{};
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequantize(GgmlType::Q4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f);
  }
}

TEST_F(BlockTest, Q4_1) {
  BlockQ4_1 b{};
  b.d = fp32_to_fp16(0.25f);
  b.m = fp32_to_fp16(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequantize(GgmlType::Q4_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.25f - 1.0f);
    EXPECT_EQ(y[j + 16], (15 - j) * 0.25f - 1.0f);
  }
}

TEST_F(BlockTest, Q5_0AndQ5_1) {
  int q[32];
  for (int& v : q) v = rand_int(0, 31);
  uint8_t qs[16];
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
  for (int e = 0; e < 32; ++e) qh |= static_cast<uint32_t>(q[e] >> 4) << e;

  BlockQ5_0 b0{};
  b0.d = fp32_to_fp16(0.125f);
  std::memcpy(b0.qh, &qh, 4);
  std::memcpy(b0.qs, qs, 16);
  const auto y0 = dequantize(GgmlType::Q5_0, &b0, 32);

  BlockQ5_1 b1{};
  b1.d = fp32_to_fp16(0.125f);
  b1.m = fp32_to_fp16(0.5f);
  std::memcpy(b1.qh, &qh, 4);
  std::memcpy(b1.qs, qs, 16);
  const auto y1 = dequantize(GgmlType::Q5_1, &b1, 32);
  for (int e = 0; e < 32; ++e) {
    EXPECT_EQ(y0[e], (q[e] - 16) * 0.125f) << e;
    EXPECT_EQ(y1[e], q[e] * 0.125f + 0.5f) << e;
  }
}

TEST_F(BlockTest, Q8_0TwoBlocks) {
  BlockQ8_0 b[2]{};
  b[0].d = fp32_to_fp16(0.25f);
  b[1].d = fp32_to_fp16(-2.0f);
  for (int j = 0; j < 32; ++j) {
    b[0].qs[j] = static_cast<int8_t>(j - 16);
    b[1].qs[j] = static_cast<int8_t>(j == 0 ? -128 : 127 - j);
  }
  const auto y = dequantize(GgmlType::Q8_0, b, 64);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y[j], (j - 16) * 0.25f);
    EXPECT_EQ(y[32 + j], (j == 0 ? -128 : 127 - j) * -2.0f);
  }
}

TEST_F(BlockTest, IQ4_NL) {
  static constexpr int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};
  BlockIQ4_NL b{};
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequantize(GgmlType::IQ4_NL, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * kLevels[j]);
    EXPECT_EQ(y[j + 16], 0.5f * kLevels[15 - j]);
  }
}

// Element e of a 256-element Q2_K / Q3_K super-block: which 2-bit field and which scale.
// Per half of 128 elements, 32 bytes of qs are read four times (bits 0-1, 2-3, 4-5, 6-7),
// each pass covering 32 elements split in two 16-element sub-blocks.
struct TwoBitPosition {
  int byte;   // index into qs
  int shift;  // bit offset in that byte
  int scale;  // sub-block (scale index) 0..15
  int pass;   // 0..7: half * 4 + pass within the half
  int lane;   // 0..31: position within qs's 32-byte group (hmask index for Q3_K)
};

TwoBitPosition two_bit_position(int e) {
  const int half = e / 128, r = e % 128, pass = r / 32, part = (r % 32) / 16, l = r % 16;
  return {half * 32 + part * 16 + l, 2 * pass, half * 8 + pass * 2 + part, half * 4 + pass,
          part * 16 + l};
}

TEST_F(BlockTest, Q2_K) {
  BlockQ2_K b{};
  const float d = 0.0625f, dmin = 0.03125f;
  b.d = fp32_to_fp16(d);
  b.dmin = fp32_to_fp16(dmin);
  for (auto& s : b.scales) s = static_cast<uint8_t>(rand_int(0, 255));
  int q[256];
  for (int e = 0; e < 256; ++e) {
    q[e] = rand_int(0, 3);
    const auto p = two_bit_position(e);
    b.qs[p.byte] = static_cast<uint8_t>(b.qs[p.byte] | (q[e] << p.shift));
  }
  const auto y = dequantize(GgmlType::Q2_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const uint8_t s = b.scales[two_bit_position(e).scale];
    EXPECT_EQ(y[e], d * (s & 15) * q[e] - dmin * (s >> 4)) << e;
  }
}

TEST_F(BlockTest, Q3_K) {
  BlockQ3_K b{};
  const float d = 0.25f;
  b.d = fp32_to_fp16(d);
  int scale[16];
  for (int k = 0; k < 16; ++k) {
    scale[k] = rand_int(0, 63);  // stored with an offset of 32
    // Low 4 bits: byte k % 8, low nibble for k < 8, high nibble otherwise.
    b.scales[k % 8] = static_cast<uint8_t>(b.scales[k % 8] | ((scale[k] & 15) << (k < 8 ? 0 : 4)));
    // High 2 bits: byte 8 + k % 4, bits 2 * (k / 4).
    b.scales[8 + k % 4] = static_cast<uint8_t>(b.scales[8 + k % 4] | ((scale[k] >> 4) << (2 * (k / 4))));
  }
  int q[256];
  for (int e = 0; e < 256; ++e) {
    q[e] = rand_int(-4, 3);  // low 2 bits + 4 * high bit - 4
    const int stored = q[e] + 4;
    const auto p = two_bit_position(e);
    b.qs[p.byte] = static_cast<uint8_t>(b.qs[p.byte] | ((stored & 3) << p.shift));
    if (stored & 4) b.hmask[p.lane] = static_cast<uint8_t>(b.hmask[p.lane] | (1 << p.pass));
  }
  const auto y = dequantize(GgmlType::Q3_K, &b, 256);
  for (int e = 0; e < 256; ++e)
    EXPECT_EQ(y[e], d * (scale[two_bit_position(e).scale] - 32) * q[e]) << e;
}

// Packs 8 six-bit scales and mins the way Q4_K / Q5_K store them in 12 bytes.
void pack_scales_k4(const int* scale, const int* min, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] = static_cast<uint8_t>(out[j] | scale[j]);
      out[j + 4] = static_cast<uint8_t>(out[j + 4] | min[j]);
    } else {
      out[j + 4] = static_cast<uint8_t>((scale[j] & 15) | ((min[j] & 15) << 4));
      out[j - 4] = static_cast<uint8_t>(out[j - 4] | ((scale[j] >> 4) << 6));
      out[j] = static_cast<uint8_t>(out[j] | ((min[j] >> 4) << 6));
    }
  }
}

TEST_F(BlockTest, Q4_KAndQ5_K) {
  int scale[8], min[8];
  for (int j = 0; j < 8; ++j) {
    scale[j] = rand_int(0, 63);
    min[j] = rand_int(0, 63);
  }
  scale[5] = 63;  // exercise the top bits of the packed high sub-blocks
  min[6] = 63;
  const float d = 0.015625f, dmin = 0.0078125f;
  int q[256];
  for (int& v : q) v = rand_int(0, 31);

  BlockQ4_K b4{};
  BlockQ5_K b5{};
  b4.d = b5.d = fp32_to_fp16(d);
  b4.dmin = b5.dmin = fp32_to_fp16(dmin);
  pack_scales_k4(scale, min, b4.scales);
  pack_scales_k4(scale, min, b5.scales);
  for (int e = 0; e < 256; ++e) {
    // Sub-block s = e / 32: bytes (s / 2) * 32 .. +31, low nibbles for even s.
    const int s = e / 32, l = e % 32, byte = (s / 2) * 32 + l, shift = (s % 2) * 4;
    b4.qs[byte] = static_cast<uint8_t>(b4.qs[byte] | ((q[e] & 15) << shift));
    b5.qs[byte] = static_cast<uint8_t>(b5.qs[byte] | ((q[e] & 15) << shift));
    b5.qh[l] = static_cast<uint8_t>(b5.qh[l] | ((q[e] >> 4) << s));
  }
  const auto y4 = dequantize(GgmlType::Q4_K, &b4, 256);
  const auto y5 = dequantize(GgmlType::Q5_K, &b5, 256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32;
    const float ds = d * static_cast<float>(scale[s]);
    const float ms = dmin * static_cast<float>(min[s]);
    EXPECT_EQ(y4[e], ds * (q[e] & 15) - ms) << e;
    EXPECT_EQ(y5[e], ds * q[e] - ms) << e;
  }
}

TEST_F(BlockTest, Q6_K) {
  BlockQ6_K b{};
  const float d = 0.001953125f;
  b.d = fp32_to_fp16(d);
  for (auto& s : b.scales) s = static_cast<int8_t>(rand_int(-128, 127));
  int q[256];
  for (int e = 0; e < 256; ++e) {
    q[e] = rand_int(-32, 31);
    const int stored = q[e] + 32;
    // Per half of 128: group g = r / 32 takes ql bytes l (+32 for odd g), the low nibble for
    // g < 2, and bits 2g..2g+1 of qh[l]; its scale is l / 16 + 2g.
    const int half = e / 128, r = e % 128, g = r / 32, l = r % 32;
    const int ql = half * 64 + l + (g % 2) * 32;
    b.ql[ql] = static_cast<uint8_t>(b.ql[ql] | ((stored & 15) << (g < 2 ? 0 : 4)));
    b.qh[half * 32 + l] = static_cast<uint8_t>(b.qh[half * 32 + l] | ((stored >> 4) << (2 * g)));
  }
  const auto y = dequantize(GgmlType::Q6_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, r = e % 128, g = r / 32, l = r % 32;
    const int8_t s = b.scales[half * 8 + l / 16 + 2 * g];
    EXPECT_EQ(y[e], d * s * q[e]) << e;
  }
}

TEST(Dequantize, FloatTypes) {
  const float values[4] = {1.5f, -0.0f, 65504.0f, 0x1p-24f};
  uint16_t h[4], bf[4];
  for (int i = 0; i < 4; ++i) {
    h[i] = fp32_to_fp16(values[i]);
    bf[i] = fp32_to_bf16(values[i]);
  }
  const auto f32 = dequantize(GgmlType::F32, values, 4);
  const auto f16 = dequantize(GgmlType::F16, h, 4);
  const auto b16 = dequantize(GgmlType::BF16, bf, 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(f32[i], values[i]);
    EXPECT_EQ(f16[i], values[i]);  // all exactly representable in f16
    EXPECT_EQ(b16[i], bf16_to_fp32(bf[i]));
  }
  EXPECT_EQ(b16[0], 1.5f);
}

TEST(Dequantize, SupportedTypes) {
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                     GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL})
    EXPECT_TRUE(dequantize_supported(t)) << static_cast<int>(t);
  for (GgmlType t : {GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::IQ2_XXS, GgmlType::IQ4_XS,
                     GgmlType::I32, GgmlType::F64, GgmlType::TQ2_0, static_cast<GgmlType>(4),
                     static_cast<GgmlType>(1000)})
    EXPECT_FALSE(dequantize_supported(t)) << static_cast<int>(t);
}

TEST(Dequantize, CheckDequantizableExplainsRejections) {
  EXPECT_TRUE(check_dequantizable(GgmlType::Q4_K, 512).ok());
  EXPECT_TRUE(check_dequantizable(GgmlType::F32, 7).ok());

  auto r = check_dequantizable(GgmlType::Q4_K, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("q4_K block size 256"), std::string::npos) << r.error().message;

  r = check_dequantizable(GgmlType::Q8_0, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("row length 0"), std::string::npos) << r.error().message;

  r = check_dequantizable(GgmlType::IQ2_XXS, 256);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("iq2_xxs is not supported"), std::string::npos) << r.error().message;

  r = check_dequantizable(static_cast<GgmlType>(1000), 32);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown ggml type id 1000"), std::string::npos) << r.error().message;
}

TEST(DequantizeDeathTest, UnsupportedTypeAbortsWithMessage) {
  float out[256];
  const uint8_t zeros[256] = {};
  EXPECT_DEATH(dequantize_row(GgmlType::IQ2_XXS, zeros, out, 256), "unsupported ggml type 16");
}

}  // namespace
}  // namespace gengyun::kernels
