// Scalar conversions between f32 and the 16-bit float formats stored in GGUF files, bit-exact
// with ggml (ggml-impl.h): IEEE binary16 with round-to-nearest-even, and bfloat16 as
// ggml_compute_fp32_to_bf16 rounds it (nearest-even, NaN kept quiet).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace gengyun::kernels {

/// IEEE binary16 bits to f32 (exact; subnormals, infinities and NaN preserved).
inline float fp16_to_fp32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  // Normal numbers: move exponent and mantissa into place, rebias by scaling with 2^-112.
  const float normalized = std::bit_cast<float>((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  // Subnormals: place the mantissa under the implicit bit of 0.5 and subtract 0.5.
  const float denormalized = std::bit_cast<float>((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t bits = two_w < (1u << 27) ? std::bit_cast<uint32_t>(denormalized)
                                           : std::bit_cast<uint32_t>(normalized);
  return std::bit_cast<float>(sign | bits);
}

/// f32 to IEEE binary16 bits, round to nearest even; overflow gives infinity, NaN gives 0x7E00
/// with the sign kept (ggml_compute_fp32_to_fp16).
inline uint16_t fp32_to_fp16(float f) {
  // Scaling by 2^112 then 2^-110 makes the FPU do the rounding to 11 significant bits.
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = std::bit_cast<uint32_t>(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = std::bit_cast<float>((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = std::bit_cast<uint32_t>(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

/// bfloat16 bits to f32 (exact).
inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

/// f32 to bfloat16 bits, round to nearest even; NaN is truncated and forced quiet
/// (ggml_compute_fp32_to_bf16).
inline uint16_t fp32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 64u);
  return static_cast<uint16_t>((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

}  // namespace gengyun::kernels
