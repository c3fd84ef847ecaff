// AVX-512 reading of full groups of WeightLayout::kBlockGroups16 (weight_layout.h): the word
// vectors of a group transposed back to each block's quant bytes. Shared by the conversion to
// ggml blocks (weight_layout_avx512.cpp) and the batched kernels' decoders (gemm_x86.h).
// Include only from files compiled with AVX-512 (F, BW); internal to kernels/.
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

}  // namespace groups16
}  // namespace gengyun::kernels::avx512
