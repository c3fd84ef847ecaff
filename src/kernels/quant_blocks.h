// Block layouts of the quantized ggml types, field for field as ggml-common.h declares them.
// Each block holds `block_size` consecutive elements of a row; scales are IEEE binary16 bits.
// Internal to kernels/.
#pragma once

#include <cstdint>

namespace gengyun::kernels {

inline constexpr int kQK = 32;    ///< elements per block of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL
inline constexpr int kQK_K = 256;  ///< elements per super-block of the K-quants

struct BlockQ4_0 {
  uint16_t d;           // scale
  uint8_t qs[kQK / 2];  // element j in the low nibble of qs[j], element j+16 in the high nibble
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
  uint16_t d;  // scale
  uint16_t m;  // minimum
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // fifth bits: bit j of the little-endian u32 belongs to element j
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];  // 4-bit indices into the non-linear value table
};
static_assert(sizeof(BlockIQ4_NL) == 18);

struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // per 16 elements: scale in the low nibble, min in the high
  uint8_t qs[kQK_K / 4];       // 2-bit quants
  uint16_t d;                  // super-block scale of the scales
  uint16_t dmin;               // super-block scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84);

struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];  // high (third) bits
  uint8_t qs[kQK_K / 4];     // low 2 bits
  uint8_t scales[12];        // 16 scales of 6 bits
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];  // 8 scales and 8 mins of 6 bits
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];  // fifth bits
  uint8_t qs[kQK_K / 2];  // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit scales, one per 16 elements
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Activation blocks: the on-the-fly quantization of f32 activations that the dot products
// pair with weight blocks (ggml's block_q8_1 and block_q8_K).

struct BlockQ8_1 {
  uint16_t d;  // scale
  uint16_t s;  // d * sum of qs, as binary16
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_1) == 36);

struct BlockQ8_K {
  float d;                     // scale (f32, unlike every other block)
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];  // sum of each 16 consecutive qs
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace gengyun::kernels
