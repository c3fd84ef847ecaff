// f16/bf16 conversions against slow references built from the IEEE definitions in double.
#include "kernels/float16.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>

namespace gengyun::kernels {
namespace {

// Value of binary16 bits (non-NaN), exactly, in double.
double half_value(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  double v;
  if (exponent == 0)
    v = std::ldexp(mantissa, -24);
  else if (exponent == 31)
    v = INFINITY;
  else
    v = std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -v : v;
}

// Nearest binary16 to a finite float, ties to even, overflow to infinity.
uint16_t reference_fp32_to_fp16(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  uint32_t bits;
  if (a < 0x1p-14) {
    bits = static_cast<uint32_t>(std::nearbyint(a * 0x1p24));  // 1024 carries into the exponent
  } else {
    int e;
    std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    const double q = std::nearbyint(std::ldexp(a, 11 - e));  // 11 significant bits
    bits = static_cast<uint32_t>(((e - 1 + 15) << 10) + (static_cast<int64_t>(q) - 1024));
  }
  if (bits >= 0x7C00) bits = 0x7C00;
  return static_cast<uint16_t>(sign | bits);
}

// Nearest bfloat16 to a finite float, ties to even (values past the largest bf16 by half an
// ulp or more round to infinity).
uint16_t reference_fp32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t magnitude = u & 0x7FFFFFFF;
  const uint32_t lo = magnitude & 0xFFFF0000;
  const uint32_t hi = lo + 0x10000;
  auto value = [](uint32_t bits) {
    return bits == 0x7F800000 ? 0x1p128 : static_cast<double>(std::bit_cast<float>(bits));
  };
  const double x = std::bit_cast<float>(magnitude);
  const double below = x - value(lo), above = value(hi) - x;
  uint32_t chosen = below < above ? lo : above < below ? hi : ((lo >> 16) & 1) ? hi : lo;
  return static_cast<uint16_t>(((u & 0x80000000) | chosen) >> 16);
}

TEST(Float16, EveryHalfConvertsExactlyAndRoundTrips) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(bits);
    const bool is_nan = ((h >> 10) & 0x1F) == 31 && (h & 0x3FF) != 0;
    if (is_nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_EQ(fp32_to_fp16(f), (h & 0x8000) | 0x7E00) << h;
    } else {
      EXPECT_EQ(static_cast<double>(f), half_value(bits)) << h;
      EXPECT_EQ(fp32_to_fp16(f), bits) << h;
    }
  }
}

TEST(Float16, RoundsToNearestEvenIncludingTiesAndOverflow) {
  // Midpoints between neighbouring halves are exact in f32; they must go to the even one.
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    const double mid = (half_value(static_cast<uint16_t>(h)) + half_value(static_cast<uint16_t>(h + 1))) / 2;
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    EXPECT_EQ(fp32_to_fp16(static_cast<float>(mid)), even) << h;
    EXPECT_EQ(fp32_to_fp16(static_cast<float>(-mid)), even | 0x8000) << h;
  }
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);  // below the midpoint to 2^16
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // the midpoint rounds (to even) to infinity
  EXPECT_EQ(fp32_to_fp16(1e30f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);           // half the smallest subnormal: tie to 0
  EXPECT_EQ(fp32_to_fp16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);

  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), reference_fp32_to_fp16(f)) << std::hexfloat << f;
  }
}

TEST(BFloat16, ConvertsLikeGgml) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    EXPECT_EQ(std::bit_cast<uint32_t>(f), h << 16);
  }
  std::mt19937 rng(2);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), reference_fp32_to_bf16(f)) << std::hexfloat << f;
  }
  // Ties: exactly half a bf16 ulp above 1.0 stays at 1.0 (even), above 1.0078125 goes up.
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7F7FFFFFu)), 0x7F80);  // rounds up to infinity
  // NaN keeps sign and top payload bits and is made quiet.
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0xFF812345u)), 0xFFC1);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7FC00000u)), 0x7FC0);
}

}  // namespace
}  // namespace gengyun::kernels
