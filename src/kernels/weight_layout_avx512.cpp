// AVX-512 conversion of full groups of WeightLayout::kBlockGroups16 back to ggml blocks: the
// batched kernels read ggml rows, and matmul converts each group of 16 rows as it goes, so
// this runs once per weight byte of every batched product.
// GCC 12's AVX-512 headers read _mm512_undefined_* values and warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstring>

#include "kernels/quant_blocks.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels::avx512 {
namespace {

// Words 0..3 of the 16 lanes of v[0..3] (word k of block l in lane l of v[k]) as four vectors
// whose 128-bit chunk c holds the words 0..3 of block 4 c + i (i the vector's index).
void transpose4(const __m512i v[4], __m512i out[4]) {
  const __m512i lo01 = _mm512_unpacklo_epi32(v[0], v[1]), hi01 = _mm512_unpackhi_epi32(v[0], v[1]);
  const __m512i lo23 = _mm512_unpacklo_epi32(v[2], v[3]), hi23 = _mm512_unpackhi_epi32(v[2], v[3]);
  out[0] = _mm512_unpacklo_epi64(lo01, lo23);
  out[1] = _mm512_unpackhi_epi64(lo01, lo23);
  out[2] = _mm512_unpacklo_epi64(hi01, hi23);
  out[3] = _mm512_unpackhi_epi64(hi01, hi23);
}

// Chunk c of v stored to p.
void store_chunk(__m512i v, int c, uint8_t* p) {
  __m128i chunk;
  switch (c) {
    case 0:
      chunk = _mm512_castsi512_si128(v);
      break;
    case 1:
      chunk = _mm512_extracti32x4_epi32(v, 1);
      break;
    case 2:
      chunk = _mm512_extracti32x4_epi32(v, 2);
      break;
    default:
      chunk = _mm512_extracti32x4_epi32(v, 3);
      break;
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), chunk);
}

}  // namespace

void group16_to_blocks(gguf::GgmlType type, const uint8_t* group, uint8_t* dst) {
  const bool q8 = type == gguf::GgmlType::Q8_0, q5 = type == gguf::GgmlType::Q5_0;
  const size_t block_bytes = q8 ? sizeof(BlockQ8_0) : q5 ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0);
  const size_t qs_at = q5 ? 6 : 2;
  for (int l = 0; l < 16; ++l) {
    std::memcpy(dst + l * block_bytes, group + 2 * l, 2);
    if (q5) std::memcpy(dst + l * block_bytes + 2, group + 32 + 4 * l, 4);
  }
  const uint8_t* words = group + (q5 ? 96 : 32);
  const int halves = q8 ? 2 : 1;  // 16-byte halves of a block's quants
  for (int h = 0; h < halves; ++h) {
    __m512i v[4], t[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm512_loadu_si512(words + 64 * (4 * h + k));
      if (q8) v[k] = _mm512_xor_si512(v[k], _mm512_set1_epi8(static_cast<char>(0x80)));
    }
    transpose4(v, t);
    for (int c = 0; c < 4; ++c)
      for (int i = 0; i < 4; ++i) store_chunk(t[i], c, dst + (4 * c + i) * block_bytes + qs_at + 16 * h);
  }
}

}  // namespace gengyun::kernels::avx512
