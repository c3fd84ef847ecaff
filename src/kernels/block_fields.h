// Packed fields inside quant blocks that several kernels decode (dequantizers, dot products,
// GEMM packers): the 6-bit scales of Q3_K / Q4_K / Q5_K and IQ4_NL's level table, as
// ggml-common.h and ggml-quants.c define them. Internal to kernels/.
#pragma once

#include <cstdint>
#include <cstring>

namespace gengyun::kernels {

/// IQ4_NL's 16 non-linear levels (kvalues_iq4nl), indexed by the 4-bit quant.
inline constexpr int8_t kIQ4NLLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

/// Scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K / Q5_K: sub-blocks
/// 0..3 keep 6 bits in bytes 0..7; sub-blocks 4..7 take their low 4 bits from bytes 8..11 and
/// their top 2 bits from the spare high bits of bytes 0..7 (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

/// The 16 scales of a Q3_K block, 6 bits each stored offset by 32 (so 0..63): low 4 bits from
/// bytes 0..7 (low nibbles for scales 0..7, high nibbles for 8..15), high 2 bits from bytes
/// 8..11.
inline void unpack_q3_k_scales(const uint8_t packed[12], int8_t scales[16]) {
  constexpr uint32_t kmask1 = 0x03030303;
  constexpr uint32_t kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  std::memcpy(aux, packed, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  std::memcpy(scales, aux, 16);
}

}  // namespace gengyun::kernels
