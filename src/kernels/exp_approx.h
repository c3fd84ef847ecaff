// e^x in f32 without a library call, so that loops over arrays vectorize: Cephes' expf
// (range reduction x = n ln2 + r with ln2 split in two, a degree-6 polynomial for e^r,
// 2^n put into the exponent bits). The AVX2 kernels compute the same steps with FMA.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace gengyun::kernels::exp_approx_constants {

/// Inputs are clamped to [kMin, kMax], where n = round(x / ln2) stays in [-126, 127] so that
/// 2^n is a normal float: e^kMin ≈ 1.3e-38, e^kMax ≈ 2.2e38.
inline constexpr float kMin = -87.3f;
inline constexpr float kMax = 88.3f;
inline constexpr float kLog2e = 1.44269504088896341f;
/// ln2 = kLn2Hi + kLn2Lo; kLn2Hi has few mantissa bits so that n * kLn2Hi is exact.
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
/// e^r ≈ 1 + r + r^2 (kP0 + kP1 r + ... + kP5 r^5) on |r| <= ln2 / 2.
inline constexpr float kP0 = 5.0000001201e-1f;
inline constexpr float kP1 = 1.6666665459e-1f;
inline constexpr float kP2 = 4.1665795894e-2f;
inline constexpr float kP3 = 8.3334519073e-3f;
inline constexpr float kP4 = 1.3981999507e-3f;
inline constexpr float kP5 = 1.9875691500e-4f;
/// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer
/// (round to nearest even, the default rounding mode).
inline constexpr float kRoundMagic = 12582912.0f;

}  // namespace gengyun::kernels::exp_approx_constants

namespace gengyun::kernels {

/// e^x for x in [-87.3, 88.3] within 3 ulp; x outside is clamped to that range. No branches.
inline float exp_approx(float x) {
  using namespace exp_approx_constants;
  x = std::min(std::max(x, kMin), kMax);
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = kP5;
  p = p * r + kP4;
  p = p * r + kP3;
  p = p * r + kP2;
  p = p * r + kP1;
  p = p * r + kP0;
  p = p * (r * r) + r + 1.0f;
  const float two_n =
      std::bit_cast<float>(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  return p * two_n;
}

}  // namespace gengyun::kernels
