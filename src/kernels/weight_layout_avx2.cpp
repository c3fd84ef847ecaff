// AVX2 conversions between ggml blocks and groups of WeightLayout::kBlockGroups16, at load,
// for the CPUs that have AVX2 (and for those with AVX-512 too where no AVX-512 variant does
// better): Q3_K.
#define GENGYUN_X86_NS avx2
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics.
#include <cstddef>
#include <cstring>

#include "kernels/quant_blocks.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels::avx2 {

void q3_K_block_to_group(const uint8_t* src, uint8_t* group) {
  const auto& b = *reinterpret_cast<const BlockQ3_K*>(src);
  const __m256i two_bits = _mm256_set1_epi8(0x03), bit2 = _mm256_set1_epi8(0x04);
  const __m256i one = _mm256_set1_epi8(0x01), hmask = load256(b.hmask);
  __m256i thirds = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    // pair[p]: the 3-bit quants of elements 128 h + 32 p .. + 31 (sub-blocks 8 h + 2 p and
    // 8 h + 2 p + 1, a 128-bit lane each), as unpack_q3_K gives them.
    const __m256i qs = load256(b.qs + 32 * h);
    __m256i pair[4];
    for (int p = 0; p < 4; ++p)
      pair[p] = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi16(qs, 2 * p), two_bits),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + p), one), 2));
    // sub[j], 128-bit lane c: sub-block 8 h + 4 c + j; transposed, u[k] lane l holds dword k
    // of sub-block 8 h + l (the inverse of the AVX2 batched decoder's steps).
    const __m256i sub[4] = {_mm256_permute2x128_si256(pair[0], pair[2], 0x20),
                            _mm256_permute2x128_si256(pair[0], pair[2], 0x31),
                            _mm256_permute2x128_si256(pair[1], pair[3], 0x20),
                            _mm256_permute2x128_si256(pair[1], pair[3], 0x31)};
    const __m256i lo01 = _mm256_unpacklo_epi32(sub[0], sub[1]);
    const __m256i hi01 = _mm256_unpackhi_epi32(sub[0], sub[1]);
    const __m256i lo23 = _mm256_unpacklo_epi32(sub[2], sub[3]);
    const __m256i hi23 = _mm256_unpackhi_epi32(sub[2], sub[3]);
    const __m256i u[4] = {_mm256_unpacklo_epi64(lo01, lo23), _mm256_unpackhi_epi64(lo01, lo23),
                          _mm256_unpacklo_epi64(hi01, hi23), _mm256_unpackhi_epi64(hi01, hi23)};
    // The low bits of word k at bits 2 k; its third bits at 2 k + h of the shared 32 bytes.
    __m256i lows = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      lows = _mm256_or_si256(lows, _mm256_slli_epi16(_mm256_and_si256(u[k], two_bits), 2 * k));
      const int up = 2 * k + h - 2;  // bit 2 to bit 2 k + h (right where negative)
      const __m256i third = _mm256_and_si256(u[k], bit2);
      thirds = _mm256_or_si256(
          thirds, up >= 0 ? _mm256_slli_epi16(third, up) : _mm256_srli_epi16(third, -up));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(group + 32 * h), lows);
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(group + 64), thirds);
  constexpr size_t kFields = offsetof(BlockQ3_K, scales);  // the scales and d, as they are
  std::memcpy(group + kFields, src + kFields, sizeof(BlockQ3_K) - kFields);
}

}  // namespace gengyun::kernels::avx2
