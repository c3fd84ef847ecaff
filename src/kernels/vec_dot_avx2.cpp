#define GENGYUN_X86_NS avx2
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels/vec_dot_simd.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::avx2 {
namespace {

// Per 32-bit lane, the sums of 4 words of nibbles (word(k): 8 lanes of 4 bytes; with kFifth,
// their fifth bits from qh, fifth_bits) against the activations: word k's low nibbles against
// act(k), its high ones against act(4 + k). vpmaddubsw's int16 pair sums add up exactly over
// the 4 words for 4-bit quants (8 x 2 x 15 x 128 < 32768) and over 2 for 5-bit ones (4 x 2 x 31
// x 128), then vpmaddwd by `widen` (an int16 pair per lane: a sub-block scale in both).
template <bool kFifth, typename Word, typename Act>
inline __m256i nibble_sums(Word word, Act act, __m256i qh, __m256i widen) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  __m256i pairs = _mm256_setzero_si256(), acc = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m256i q = word(k);
    __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
    if constexpr (kFifth) {
      lo = _mm256_or_si256(lo, fifth_bits(qh, k, 0));
      hi = _mm256_or_si256(hi, fifth_bits(qh, k, 1));
    }
    pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(lo, act(k)));
    pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(hi, act(4 + k)));
    if (k == 3 || (kFifth && k == 1)) {
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, widen));
      pairs = _mm256_setzero_si256();
    }
  }
  return acc;
}

// half_sums (vec_dot_x86.h) of one row against one token.
template <typename Block, bool kMasked>
inline __m256i row_half_sums(const uint8_t* group, const int8_t* act, int m, int half,
                             __m256i lanes) {
  __m256i sums[1][1];
  half_sums<Block, kMasked>({group}, {act}, m, half, lanes, sums);
  return sums[0][0];
}

// Rows of a 32-element type in WeightLayout::kBlockGroups16 (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1,
// IQ4_NL) against an activation row arranged as its (q8_0_row_to_block_groups16, for Q4_1 / Q5_1
// q8_1_row_to_block_groups16), as kAvx512's kernels with 8-lane vectors: lanes 0-7 of a group
// (the first 32 bytes of each 64-byte word) meet its blocks 0-7, lanes 8-15 blocks 8-15, so
// each block's exact integer sum forms in its own int32 lane (half_sums), the weight offset (8,
// 16) times the activations' block sum comes off, and the f32 steps are dot_row's
// (vec_dot_x86.h, AVX2), p[0..8) and p[8..16) in two vectors: per block, fma(sum, d_w * d_a)
// and then (Q4_1, Q5_1) fma(m_w, s_a); the same bits as the type's vec_dot on the ggml row.
// A last partial group of m blocks reads its lanes' weights only; the scales (and mins) of the
// lanes past m are +0, so their fma leave p as it is whatever their (finite) sums: x * +0 is
// +-0 and p + +-0 is p, p never being -0 (dot_row's fma(+0, +0, p) gives the same p).
template <typename Block>
float dot_groups16(int64_t n, const void* w, const void* a) {
  constexpr bool kMin = requires(const Block& b) { b.m; };
  constexpr bool kFifth = requires(const Block& b) { b.qh; };
  constexpr bool kSigned = std::is_same_v<Block, BlockQ8_0> || std::is_same_v<Block, BlockIQ4_NL>;
  constexpr int kOffsetShift = kSigned || kMin ? 0 : kFifth ? 4 : 3;
  const auto* x = static_cast<const uint8_t*>(w);
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  // p + the lanes (blocks l0.. of the group of m at `group`, those in `lanes`: mc of them) of
  // `sums`, less the offset, times d_w d_a, then their m_w s_a.
  auto add = [&](__m256 p, __m256i sums, const uint8_t* group, int m, int64_t g0, int l0, int mc,
                 __m256i lanes) __attribute__((always_inline)) {
    if constexpr (kOffsetShift != 0)
      sums = _mm256_sub_epi32(
          sums, _mm256_slli_epi32(_mm256_maskload_epi32(y.sum + g0 + l0, lanes), kOffsetShift));
    const __m256 scale =
        _mm256_mul_ps(halves8(group + 2 * l0, mc), _mm256_maskload_ps(y.d + g0 + l0, lanes));
    p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, p);
    if constexpr (kMin)
      p = _mm256_fmadd_ps(halves8(group + offsetof(Block, m) * m + 2 * l0, mc),
                          _mm256_maskload_ps(y.s + g0 + l0, lanes), p);
    return p;
  };
  const __m256i all = _mm256_set1_epi32(-1);
  __m256 p0 = _mm256_setzero_ps(), p1 = _mm256_setzero_ps();  // p[0..8), p[8..16)
  int64_t g0 = 0;
  for (; g0 + 16 <= nb; g0 += 16) {
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(Block));
    const int8_t* act = y.qs + g0 * kQK;
    prefetch_ahead(group, 16 * sizeof(Block));
    p0 = add(p0, row_half_sums<Block, false>(group, act, 16, 0, all), group, 16, g0, 0, 8, all);
    p1 = add(p1, row_half_sums<Block, false>(group, act, 16, 32, all), group, 16, g0, 8, 8, all);
  }
  if (g0 < nb) {
    const int m = static_cast<int>(nb - g0);
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(Block));
    const int8_t* act = y.qs + g0 * kQK;
    const int m0 = std::min(m, 8), m1 = m - m0;  // lanes of each half
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lanes0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m0), index);
    const __m256i lanes1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m1), index);
    const __m256i sums0 = m0 == 8 ? row_half_sums<Block, false>(group, act, m, 0, all)
                                  : row_half_sums<Block, true>(group, act, m, 0, lanes0);
    p0 = add(p0, sums0, group, m, g0, 0, m0, lanes0);
    if (m1 > 0)
      p1 = add(p1, row_half_sums<Block, true>(group, act, m, 32, lanes1), group, m, g0, 8, m1,
               lanes1);
  }
  // hsum adds lanes k and k + 4, then k and k + 2, then 0 and 1 (dot_row's order).
  return hsum(_mm256_add_ps(p0, p1));
}

// Q4_K and Q5_K rows (Block) in WeightLayout::kBlockGroups16 against an activation row from
// q8_K_row_to_block_groups16. A group holds 2 super-blocks (the last 1 when their count is
// odd) as 16 sub-blocks of 32 (8 lanes per super-block: the first 32 bytes of each 64-byte word
// are super-block 0's, the second 32 super-block 1's; a group of one has 32-byte words), so one
// 8-lane vector per super-block: the unsigned quants (Q5_K: the nibbles and their fifth bits,
// fifth_bits) against the activations with vpmaddubsw, whose int16 pair sums add up exactly over
// the 4 words for Q4_K (8 x 2 x 15 x 128 < 32768) and over 2 for Q5_K (4 x 2 x 31 x 128), then
// vpmaddwd by the sub-block's scale (in both int16 halves of its lane) gives S per lane and one
// by its min (low half; the activations' sub-block sums fit int16) gives M. Their horizontal
// sums and the f32 steps are add_block's (vec_dot_x86.h), super-block by super-block: the same
// bits as vec_dot_q4_K / vec_dot_q5_K on the ggml row.
template <typename Block>
float dot_q45_K_groups16(int64_t n, const void* w, const void* a) {
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  const auto* x = static_cast<const uint8_t*>(w);
  const auto* y = static_cast<const uint8_t*>(a);
  const int64_t nb = n / kQK_K;
  __m128 acc = _mm_setzero_ps();
  // Super-block j of the group of kM at `group`, its activations' group at `act`.
  auto super_block = [&]<int kM>(const uint8_t* group, const uint8_t* act, int j)
      __attribute__((always_inline)) {
    const uint8_t* words = group + offsetof(Block, qs) * kM + 32 * j;
    const uint8_t* acts = act + 32 * j;
    const K4ScaleLanes scales = k4_scale_lanes(group + 4 * kM + 12 * j);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kFifth) qh = load256(group + offsetof(Block, qh) * kM + 32 * j);
    const __m256i s =
        nibble_sums<kFifth>([&](int k) { return load256(words + 32 * kM * k); },
                            [&](int k) { return load256(acts + 32 * kM * k); }, qh, scales.scales2);
    const __m256i mb = _mm256_madd_epi16(scales.mins, load256(act + (kQK_K + 4) * kM + 32 * j));
    uint16_t d, dmin;
    std::memcpy(&d, group + 2 * j, 2);
    std::memcpy(&dmin, group + 2 * kM + 2 * j, 2);
    float d_a;
    std::memcpy(&d_a, act + kQK_K * kM + 4 * j, 4);
    // add_block's steps: acc + S (d_w d_a), then - M (dmin_w d_a).
    const __m128 totals = hsum_to_float(s, mb);
    const __m128 scale = _mm_mul_ps(
        _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(static_cast<uint32_t>(dmin) << 16 | d))),
        _mm_set1_ps(d_a));
    acc = _mm_fmadd_ss(totals, scale, acc);
    acc = _mm_fnmadd_ss(_mm_movehdup_ps(totals), _mm_movehdup_ps(scale), acc);
  };
  int64_t g0 = 0;
  for (; g0 + 2 <= nb; g0 += 2) {
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(Block));
    const uint8_t* act = y + g0 * static_cast<int64_t>(sizeof(BlockQ8_K));
    prefetch_ahead(group, 2 * sizeof(Block));
    super_block.template operator()<2>(group, act, 0);
    super_block.template operator()<2>(group, act, 1);
  }
  if (g0 < nb)
    super_block.template operator()<1>(x + g0 * static_cast<int64_t>(sizeof(Block)),
                                       y + g0 * static_cast<int64_t>(sizeof(BlockQ8_K)), 0);
  return _mm_cvtss_f32(acc);
}

// Q6_K or Q3_K rows (Block) in WeightLayout::kBlockGroups16 against an activation row from
// q8_K_row_to_q6_K_groups16: a super-block's 16 sub-blocks of 16 are the lanes of its 64-byte
// vectors (Q6_K: low bits of words 0 and 1, low bits of words 2 and 3, the high 2 bits of all
// four; Q3_K: the low 2 bits of all four, and the third bits, 32 bytes that serve both halves),
// two 8-lane halves here. Per half, the unsigned quants u of word k (elements 4k..4k+3 of each
// lane's sub-block) come from a mask or shift of the low bits and the matching high bits
// (Q6_K: two at bit 4; Q3_K: the third at bit 2); vpmaddubsw of u with the activations gives
// int16 pair sums that add up exactly over two words for Q6_K (2 x 2 x 63 x 128 < 32768) and
// over all four for Q3_K (4 x 2 x 7 x 128), then vpmaddwd by the sub-blocks' scales (each in
// both int16 halves of its lane; Q3_K's 6-bit scales less 32). Less the offset (Q6_K 32, Q3_K 4)
// times sum_g scale_g bsum_g (vpmaddwd by the scale in the low half of the lane: the bsums fit
// int16), that is the super-block's S, whose horizontal sum and add_block's f32 step
// (vec_dot_x86.h) follow: vec_dot_q6_K's / vec_dot_q3_K's bits.
template <typename Block>
float dot_k16_groups16(int64_t n, const void* w, const void* a) {
  constexpr bool kQ6 = std::is_same_v<Block, BlockQ6_K>;
  constexpr bool kMins = std::is_same_v<Block, BlockQ2_K>;
  constexpr int kOffsetShift = kQ6 ? 5 : 2;  // log2 of the quants' offset (not Q2_K's)
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  __m128 acc = _mm_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const auto* sb = reinterpret_cast<const uint8_t*>(x + i);
    const auto* act = reinterpret_cast<const uint8_t*>(y[i].qs);
    prefetch_ahead(x + i, sizeof(Block));
    const __m128i scales8 = k16_scale_bytes<Block>(sb);
    __m256i s = _mm256_setzero_si256(), m = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const K16ScaleLanes scale = k16_scale_lanes<Block>(scales8, h);
      auto dot = [&](__m256i u, int k) {
        return _mm256_maddubs_epi16(u, load256(act + 64 * k + 32 * h));
      };
      __m256i u[4];
      k16_group_half_quants<Block>(sb, h, u);
      if constexpr (kQ6) {
        s = _mm256_add_epi32(
            s, _mm256_madd_epi16(_mm256_add_epi16(dot(u[0], 0), dot(u[1], 1)), scale.both));
        s = _mm256_add_epi32(
            s, _mm256_madd_epi16(_mm256_add_epi16(dot(u[2], 2), dot(u[3], 3)), scale.both));
      } else {
        const __m256i pairs = _mm256_add_epi16(_mm256_add_epi16(dot(u[0], 0), dot(u[1], 1)),
                                               _mm256_add_epi16(dot(u[2], 2), dot(u[3], 3)));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(pairs, scale.both));
      }
      const __m256i bsums = _mm256_cvtepi16_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums + 8 * h)));
      if constexpr (kMins) {  // M: each min (high nibble) times its bsum
        const __m128i half8 = h == 0 ? scales8 : _mm_unpackhi_epi64(scales8, scales8);
        m = _mm256_add_epi32(
            m, _mm256_madd_epi16(bsums, _mm256_srli_epi32(_mm256_cvtepu8_epi32(half8), 4)));
      } else {
        s = _mm256_sub_epi32(s,
                             _mm256_slli_epi32(_mm256_madd_epi16(bsums, scale.low), kOffsetShift));
      }
    }
    if constexpr (kMins)
      acc = add_block(acc, hsum_to_float(s, m), x[i], y[i].d);
    else
      acc = add_block(acc, hsum_to_float(s), x[i], y[i].d);
  }
  return _mm_cvtss_f32(acc);
}

}  // namespace

void vec_dot_q6_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ6_K>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q3_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ3_K>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q2_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ2_K>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q45_K_groups16<BlockQ4_K>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q45_K_groups16<BlockQ5_K>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q8_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_groups16<BlockQ8_0>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_groups16<BlockQ4_0>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_groups16<BlockQ5_0>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_groups16<BlockQ4_1>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_groups16<BlockQ5_1>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_iq4_nl_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                             const void* a, float* y) {
  rows<dot_groups16<BlockIQ4_NL>>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y) {
  rows<vec_dot_f32_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y) {
  rows<vec_dot_half_impl<false>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<vec_dot_half_impl<true>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<vec_dot_q4_0_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<vec_dot_q4_1_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<vec_dot_q5_0_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<vec_dot_q5_1_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<vec_dot_q8_0_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_iq4_nl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                    float* y) {
  rows<vec_dot_iq4_nl_impl>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q2_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  vec_dot_q2_K_impl(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q3_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  vec_dot_q3_K_impl(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  vec_dot_q4_K_impl(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  vec_dot_q5_K_impl(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q6_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  vec_dot_q6_K_impl(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::avx2
