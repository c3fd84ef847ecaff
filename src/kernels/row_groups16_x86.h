// AVX-512 reading of WeightLayout::kRowGroups16's K-quant super-blocks (weight_layout.h): Q4_K's
// 6-bit scales and mins and Q6_K's 6-bit quants of 16 rows side by side. Shared by the decode
// product (vec_dot_avx512.cpp) and the AMX unpack (gemm_amx.cpp). Include only from files compiled
// with AVX-512 (F, BW); internal to kernels/. (Internal linkage: no weak copy for another unit's
// callers.)
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace gengyun::kernels::row_groups16 {
namespace {

/// A vpshufb control that gives byte b of each dword lane the byte (pattern >> 8 b) & 0xFF of
/// the same lane (0x80: zero).
inline __m512i dword_bytes(uint32_t pattern) {
  auto lane = [&](uint32_t d) {
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) {
      const uint32_t x = pattern >> 8 * b & 0xFF;
      v |= (x & 0x80 ? 0x80 : x + 4 * d) << 8 * b;
    }
    return static_cast<int>(v);
  };
  return _mm512_set4_epi32(lane(3), lane(2), lane(1), lane(0));
}

/// vpshufb control: byte x (0..3) of each dword lane, zero-extended to the lane.
inline __m512i dword_byte(int x) { return dword_bytes(0x80808000u | static_cast<uint32_t>(x)); }

/// vpshufb control: bytes 2 i and 2 i + 1 (i = 0, 1) of each dword lane as the lane's low and
/// high int16.
inline __m512i dword_byte_pair(int i) {
  return dword_bytes(0x80008000u | static_cast<uint32_t>(2 * i + 1) << 16 |
                     static_cast<uint32_t>(2 * i));
}

/// The 16 rows' 6-bit scales and mins of a Q4_K super-block in kRowGroups16 (get_scale_min_k4,
/// 4 at a time): byte x of dword lane r of scales[h] (mins[h]) is row r's scale (min) of
/// sub-block 4 h + x.
struct Q4KScalesMins {
  __m512i scales[2], mins[2];
};

/// super_block: the super-block's 16 * 144 bytes in the group.
inline Q4KScalesMins q4_K_scales_mins(const uint8_t* super_block) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), low6 = _mm512_set1_epi8(0x3F);
  const __m512i top2 = _mm512_set1_epi8(0x30);
  // Words u0, u1, u2 of the packed scales of the 16 rows.
  const __m512i u0 = _mm512_loadu_si512(super_block + 64);
  const __m512i u1 = _mm512_loadu_si512(super_block + 128);
  const __m512i u2 = _mm512_loadu_si512(super_block + 192);
  Q4KScalesMins f;
  f.scales[0] = _mm512_and_si512(u0, low6);
  f.mins[0] = _mm512_and_si512(u1, low6);
  // (u2 & 0x0F) | (u >> 2 & 0x30): bits 6-7 of u0 / u1 as bits 4-5.
  f.scales[1] =
      _mm512_ternarylogic_epi32(_mm512_and_si512(u2, low4), _mm512_srli_epi32(u0, 2), top2, 0xF8);
  f.mins[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(u2, 4), low4),
                                        _mm512_srli_epi32(u1, 2), top2, 0xF8);
  return f;
}

/// vpshufb control: byte x (0..3) of each dword lane in the lane's top byte (the rest zero), so
/// that an arithmetic shift right by 24 sign-extends it.
inline __m512i dword_top_byte(int x) {
  return dword_bytes(0x00808080u | static_cast<uint32_t>(x) << 24);
}

/// The 5-bit quants of 16 Q5_K rows in kRowGroups16 at quant word 8 c + k of a super-block (its
/// 16 * 176 bytes at super_block): lo holds elements 64 c + 4 k .. + 3 of every row (the word's
/// low nibbles), hi elements 64 c + 32 + 4 k .. + 3 (its high nibbles), each with its fifth bit
/// from qh word k (bits 2 c and 2 c + 1 of its bytes) at bit 4.
inline void q5_K_quants(const uint8_t* super_block, int c, int k, __m512i& lo, __m512i& hi) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), fifth_bit = _mm512_set1_epi8(0x10);
  const __m512i v = _mm512_loadu_si512(super_block + 768 + 512 * c + 64 * k);
  const __m512i qh = _mm512_loadu_si512(super_block + 256 + 64 * k);
  // Bit b of each byte of qh at bit 4 (the bits the shift brings in beside it are masked).
  auto bit_to_4 = [&](int b) {
    return _mm512_and_si512(b <= 4 ? _mm512_slli_epi16(qh, 4 - b) : _mm512_srli_epi16(qh, b - 4),
                            fifth_bit);
  };
  // fifth bit | (nibble & 0x0F)
  lo = _mm512_ternarylogic_epi32(bit_to_4(2 * c), v, low4, 0xF8);
  hi = _mm512_ternarylogic_epi32(bit_to_4(2 * c + 1), _mm512_srli_epi16(v, 4), low4, 0xF8);
}

/// The 6-bit quants u (0..63) of 16 Q6_K rows in kRowGroups16 at half h, word j (0..7) of a
/// super-block (its 52 word vectors at super_block): u[q] holds elements 128 h + 32 q + 4 j ..
/// + 3 of every row (byte b of dword lane r: row r's element 128 h + 32 q + 4 j + b), ggml's
/// ql nibble with the qh bit pair above it.
inline void q6_K_quants(const uint8_t* super_block, int h, int j, __m512i (&u)[4]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), pair = _mm512_set1_epi8(0x30);
  const __m512i ql_a = _mm512_loadu_si512(super_block + 64 * (16 * h + j));
  const __m512i ql_b = _mm512_loadu_si512(super_block + 64 * (16 * h + 8 + j));
  const __m512i qh = _mm512_loadu_si512(super_block + 64 * (32 + 8 * h + j));
  // x | (ql & 0x0F), x the qh bit pair moved to bits 4-5 (the shifts cross bytes only in bits
  // the masks drop).
  auto join = [&](__m512i pair_bits, __m512i ql) {
    return _mm512_ternarylogic_epi32(_mm512_and_si512(pair_bits, pair), ql, low4, 0xF8);
  };
  u[0] = join(_mm512_slli_epi16(qh, 4), ql_a);
  u[1] = join(_mm512_slli_epi16(qh, 2), ql_b);
  u[2] = join(qh, _mm512_srli_epi16(ql_a, 4));
  u[3] = join(_mm512_srli_epi16(qh, 2), _mm512_srli_epi16(ql_b, 4));
}

}  // namespace
}  // namespace gengyun::kernels::row_groups16
