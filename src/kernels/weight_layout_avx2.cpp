// AVX2 conversions between ggml blocks and groups of WeightLayout::kBlockGroups16, at load,
// for the CPUs that have AVX2 (AVX-512 ones too): Q2_K, Q3_K and Q6_K.
#define GENGYUN_X86_NS avx2
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics.
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels/quant_blocks.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels::avx2 {
namespace {

// One ggml Q2_K, Q3_K or Q6_K block at src as one group at dst (weight_layout.h): the fields
// copied, the quants (Q2_K: 2 bits; Q3_K: 2 low bits and a third; Q6_K: 6 bits) built in element
// order in registers, transposed by sub-block in 128-bit lanes, and packed: Q2_K's and Q3_K's low
// bits 4 to a byte and Q3_K's third bits 8 to a byte; Q6_K's low 4 bits 2 to a byte and its high
// 2 bits 4 to a byte.
template <typename Block>
void k16_block_to_group(const uint8_t* src, uint8_t* group) {
  constexpr bool kThird = std::is_same_v<Block, BlockQ3_K>;
  constexpr bool kQ6 = std::is_same_v<Block, BlockQ6_K>;
  // Where the layout has Q2_K's / Q3_K's low bits (Q3_K: over hmask and qs; Q2_K: where qs is).
  constexpr size_t kLowsAt = std::is_same_v<Block, BlockQ2_K> ? offsetof(BlockQ2_K, qs) : 0;
  const auto& b = *reinterpret_cast<const Block*>(src);
  std::memcpy(group, src, sizeof(Block));
  const __m256i two_bits = _mm256_set1_epi8(0x03), bit2 = _mm256_set1_epi8(0x04);
  const __m256i one = _mm256_set1_epi8(0x01), nibble = _mm256_set1_epi8(0x0F);
  __m256i hmask = _mm256_setzero_si256(), thirds = _mm256_setzero_si256();
  if constexpr (kThird) hmask = load256(b.hmask);
  for (int h = 0; h < 2; ++h) {
    // pair[p]: the quants of elements 128 h + 32 p .. + 31 (sub-blocks 8 h + 2 p and 8 h + 2 p
    // + 1, a 128-bit lane each), as unpack_q2_K / unpack_q3_K / unpack_q6_K_half give them
    // (Q2_K, Q3_K: bits 2 p of qs[32 h + i], Q3_K's third bit from bit 4 h + p of hmask[i]).
    __m256i pair[4];
    if constexpr (kQ6) {
      unpack_q6_K_half(b, h, pair);
    } else {
      const __m256i qs = load256(b.qs + 32 * h);
      for (int p = 0; p < 4; ++p) {
        pair[p] = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * p), two_bits);
        if constexpr (kThird)
          pair[p] = _mm256_or_si256(
              pair[p],
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + p), one), 2));
      }
    }
    // sub[j], 128-bit lane c: sub-block 8 h + 4 c + j; transposed, u[k] lane l holds dword k
    // of sub-block 8 h + l (the inverse of the AVX2 batched decoders' steps).
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
    auto store = [&](size_t at, __m256i v) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(group + at + 32 * h), v);
    };
    if constexpr (kQ6) {
      // Words 0 and 1: the low 4 bits of words k = 0, 2 under those of k = 1, 3; word 2: the
      // high 2 bits of word k at bits 2 k.
      auto low4 = [&](int k) { return _mm256_and_si256(u[k], nibble); };
      store(0, _mm256_or_si256(low4(0), _mm256_slli_epi16(low4(1), 4)));
      store(64, _mm256_or_si256(low4(2), _mm256_slli_epi16(low4(3), 4)));
      __m256i high = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k)
        high = _mm256_or_si256(
            high, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(u[k], 4), two_bits), 2 * k));
      store(128, high);
      continue;
    }
    // The low bits of word k at bits 2 k; Q3_K's third bits at 2 k + h of the shared 32 bytes.
    __m256i lows = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      lows = _mm256_or_si256(lows, _mm256_slli_epi16(_mm256_and_si256(u[k], two_bits), 2 * k));
      if constexpr (kThird) {
        const int up = 2 * k + h - 2;  // bit 2 to bit 2 k + h (right where negative)
        const __m256i third = _mm256_and_si256(u[k], bit2);
        thirds = _mm256_or_si256(
            thirds, up >= 0 ? _mm256_slli_epi16(third, up) : _mm256_srli_epi16(third, -up));
      }
    }
    store(kLowsAt, lows);
  }
  if constexpr (kThird) _mm256_storeu_si256(reinterpret_cast<__m256i*>(group + 64), thirds);
}

}  // namespace

void q3_K_block_to_group(const uint8_t* src, uint8_t* group) {
  k16_block_to_group<BlockQ3_K>(src, group);
}

void q2_K_block_to_group(const uint8_t* src, uint8_t* group) {
  k16_block_to_group<BlockQ2_K>(src, group);
}

void q6_K_block_to_group(const uint8_t* src, uint8_t* group) {
  k16_block_to_group<BlockQ6_K>(src, group);
}

}  // namespace gengyun::kernels::avx2
