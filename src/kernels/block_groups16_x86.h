// AVX-512 reading of full groups of WeightLayout::kBlockGroups16 (weight_layout.h): the word
// vectors of a group transposed back to each block's quant bytes, and Q6_K's, Q3_K's and Q2_K's
// quants by lane. Shared by the conversions (weight_layout_avx512.cpp), the batched kernels'
// decoders (gemm_x86.h) and the Q6_K / Q3_K / Q2_K decode product (vec_dot_groups16_x86.h).
// Include only from files compiled with AVX-512 (F, BW), and instantiate kGfni = true only in
// files compiled with -mgfni; internal to kernels/.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace gengyun::kernels::avx512 {
namespace groups16 {

/// v[k] holds word k of 16 blocks (lane l: block l); out[i]'s 128-bit chunk c holds words
/// 0..3 of block 4 c + i.
inline void transpose4(const __m512i v[4], __m512i out[4]) {
  const __m512i lo01 = _mm512_unpacklo_epi32(v[0], v[1]), hi01 = _mm512_unpackhi_epi32(v[0], v[1]);
  const __m512i lo23 = _mm512_unpacklo_epi32(v[2], v[3]), hi23 = _mm512_unpackhi_epi32(v[2], v[3]);
  out[0] = _mm512_unpacklo_epi64(lo01, lo23);
  out[1] = _mm512_unpackhi_epi64(lo01, lo23);
  out[2] = _mm512_unpacklo_epi64(hi01, hi23);
  out[3] = _mm512_unpackhi_epi64(hi01, hi23);
}

/// Chunk c (0..3) of v.
inline __m128i chunk(__m512i v, int c) {
  switch (c) {
    case 0:
      return _mm512_castsi512_si128(v);
    case 1:
      return _mm512_extracti32x4_epi32(v, 1);
    case 2:
      return _mm512_extracti32x4_epi32(v, 2);
    default:
      return _mm512_extracti32x4_epi32(v, 3);
  }
}

/// Calls block(l, first, second) for l = 0..m-1 with the quant bytes of block l of a group of
/// m blocks (1..16) whose quant words start at `words` (word k of block l at 4 (k m + l)): for
/// 8 words (Q8_0) first = bytes 0..15, second = bytes 16..31; for 4 words (Q4_0, Q5_0) first =
/// the 16 nibble bytes, second unused. Reads no byte past the group's words.
template <int kWords, typename Block>
inline void for_each_block(const uint8_t* words, int m, Block block) {
  const auto lanes = static_cast<__mmask16>((1u << m) - 1);
  __m512i v[4], lo[4], hi[4];
  for (int k = 0; k < 4; ++k) v[k] = _mm512_maskz_loadu_epi32(lanes, words + 4 * m * k);
  transpose4(v, lo);
  if constexpr (kWords == 8) {
    for (int k = 0; k < 4; ++k) v[k] = _mm512_maskz_loadu_epi32(lanes, words + 4 * m * (4 + k));
    transpose4(v, hi);
  }
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < 4 && 4 * c + i < m; ++i)
      block(4 * c + i, chunk(lo[i], c), kWords == 8 ? chunk(hi[i], c) : _mm_setzero_si128());
}

/// (a & mask) | (b & ~mask), bit by bit (one vpternlogd).
inline __m512i select_bits(__m512i a, __m512i b, __m512i mask) {
  return _mm512_ternarylogic_epi32(a, b, mask, 0xE4);
}

/// The 6-bit quants (0..63) of a Q6_K group (one super-block) of WeightLayout::kBlockGroups16
/// at `group`: u[k], lane l holds those of elements 4 k .. 4 k + 3 of sub-block l. Each is its
/// low 4 bits from a word of nibbles under its 2 high bits, selected out of the bit-pair word
/// (bits 0-1, 2-3, 4-5, 6-7 of a byte for u[0] .. u[3]).
inline void q6_K_quants(const uint8_t* group, __m512i u[4]) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i w0 = _mm512_loadu_si512(group), w1 = _mm512_loadu_si512(group + 64);
  const __m512i high = _mm512_loadu_si512(group + 128);
  // The bit pairs of u[0] and u[2] (bits 0-1, 4-5), of u[1] and u[3] (2-3, 6-7).
  const __m512i high02 = _mm512_and_si512(high, _mm512_set1_epi8(0x33));
  const __m512i high13 = _mm512_and_si512(high, _mm512_set1_epi8(static_cast<char>(0xCC)));
  u[0] = select_bits(w0, _mm512_slli_epi16(high02, 4), nibble);
  u[1] = select_bits(_mm512_srli_epi16(w0, 4), _mm512_slli_epi16(high13, 2), nibble);
  u[2] = select_bits(w1, high02, nibble);
  u[3] = select_bits(_mm512_srli_epi16(w1, 4), _mm512_srli_epi16(high13, 2), nibble);
}

// The vgf2p8affineqb matrix (one qword, GFNI) whose output bit `to` of every byte is the byte's
// input bit `from`: output bit i reads the matrix's byte 7 - i (Intel SDM, GF2P8AFFINEQB).
constexpr long long affine_bit(int from, int to) {
  return static_cast<long long>(uint64_t{1} << from << 8 * (7 - to));
}

/// The 3-bit quants (0..7) of a Q3_K group (one super-block) of WeightLayout::kBlockGroups16 at
/// `group`: u[k], lane l holds those of elements 4 k .. 4 k + 3 of sub-block l. Each is its 2
/// low bits (bits 2 k .. 2 k + 1 of the first 64 bytes) under its third bit, brought to bit 2
/// from the 32 bytes of third bits (bit 2 k for lanes 0..7, 2 k + 1 for lanes 8..15: read into
/// both halves, the second shifted right by one). kGfni (a file compiled with -mgfni, called
/// where cpu_has_gfni()): each vector is two vgf2p8affineqb and an or, the 2 low bits moved to
/// bits 0-1 and the third to bit 2 (each half by its own matrix, no shift): the same bytes.
template <bool kGfni = false>
inline void q3_K_quants(const uint8_t* group, __m512i u[4]) {
  const __m512i low = _mm512_loadu_si512(group);
  const __m512i third_bits =
      _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 64)));
  if constexpr (kGfni) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const long long low_k = affine_bit(2 * k, 0) | affine_bit(2 * k + 1, 1);
      const long long third_lo = affine_bit(2 * k, 2), third_hi = affine_bit(2 * k + 1, 2);
      u[k] = _mm512_or_si512(
          _mm512_gf2p8affine_epi64_epi8(low, _mm512_set1_epi64(low_k), 0),
          _mm512_gf2p8affine_epi64_epi8(third_bits,
                                        _mm512_setr_epi64(third_lo, third_lo, third_lo, third_lo,
                                                          third_hi, third_hi, third_hi, third_hi),
                                        0));
    }
    return;
  }
  const __m512i third = _mm512_srlv_epi64(third_bits, _mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1));
  const __m512i two_bits = _mm512_set1_epi8(0x03), bit2 = _mm512_set1_epi8(0x04);
  // (low bits & 0x03) | third bit at bit 2: a | (b & c).
  auto quant = [&](__m512i low_bits, __m512i third_at) {
    return _mm512_ternarylogic_epi32(_mm512_and_si512(low_bits, two_bits), third_at, bit2, 0xF8);
  };
  u[0] = quant(low, _mm512_slli_epi16(third, 2));
  u[1] = quant(_mm512_srli_epi16(low, 2), third);
  u[2] = quant(_mm512_srli_epi16(low, 4), _mm512_srli_epi16(third, 2));
  u[3] = quant(_mm512_srli_epi16(low, 6), _mm512_srli_epi16(third, 4));
}

/// The 2-bit quants (0..3) of a Q2_K group (one super-block) of WeightLayout::kBlockGroups16 at
/// `group`: u[k], lane l holds those of elements 4 k .. 4 k + 3 of sub-block l (bits 2 k .. 2 k
/// + 1 of its 64 bytes of quants, at offsetof(BlockQ2_K, qs)). kGfni (as q3_K_quants): one
/// vgf2p8affineqb a vector for the shift and the mask, the same bytes.
template <bool kGfni = false>
inline void q2_K_quants(const uint8_t* group, __m512i u[4]) {
  const __m512i quants = _mm512_loadu_si512(group + 16);
  if constexpr (kGfni) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
      u[k] = _mm512_gf2p8affine_epi64_epi8(
          quants, _mm512_set1_epi64(affine_bit(2 * k, 0) | affine_bit(2 * k + 1, 1)), 0);
    return;
  }
  const __m512i two_bits = _mm512_set1_epi8(0x03);
  u[0] = _mm512_and_si512(quants, two_bits);
  u[1] = _mm512_and_si512(_mm512_srli_epi16(quants, 2), two_bits);
  u[2] = _mm512_and_si512(_mm512_srli_epi16(quants, 4), two_bits);
  u[3] = _mm512_and_si512(_mm512_srli_epi16(quants, 6), two_bits);
}

}  // namespace groups16
}  // namespace gengyun::kernels::avx512
