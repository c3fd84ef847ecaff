// AVX2 batched products on rows in WeightLayout::kBlockGroups16 as they lie (no pack), for
// machines without AVX-512: blocks of rows x tokens (the K-quants 4 x 2, the 32-element types
// 2 x 2), each row's quant vectors decoded once for the block's tokens and each token's activation
// vectors read from L1 for its rows, where the decode products (vec_dot_avx2.cpp) run one row
// against one token. The integer
// sums are the decode product's, exact; per super-block the 8 pairs' S (and M) go through one
// horizontal reduction, a pair per lane, and the f32 steps are the decode product's, lane for lane:
// every output has its bits. Calls of many tokens go to the packs' kernels (gemm_avx2.cpp,
// GemmKernels::handover).
#define GENGYUN_X86_NS avx2
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "gguf/ggml_type.h"
#include "kernels/activation_rows.h"
#include "kernels/block_groups16_driver_x86.h"
#include "kernels/gemm.h"
#include "kernels/weight_layout.h"

namespace gengyun::kernels::avx2 {
namespace {

// ---- Q4_K, Q5_K -------------------------------------------------------------------------------
// Rows as dot_q45_K_groups16 (vec_dot_avx2.cpp) reads them: groups of two super-blocks (the last
// alone when their count is odd), the first 32 bytes of each 64-byte word super-block 0's 8
// sub-blocks, the second 32 super-block 1's; activation rows from q8_K_row_to_block_groups16.

// Blocks of kRows rows x kTokens tokens: one lane of an 8-lane vector per pair (row, token),
// lane kTokens r + t.
constexpr int kRows = 4, kTokens = 2;

// Lanes 2 r and 2 r + 1: element e of f[r] (f: 4 floats per row), for e = 0..3.
inline void by_row(const __m128 (&f)[kRows], __m256 (&out)[4]) {
  const __m128 t0 = _mm_unpacklo_ps(f[0], f[1]), t1 = _mm_unpacklo_ps(f[2], f[3]);
  const __m128 t2 = _mm_unpackhi_ps(f[0], f[1]), t3 = _mm_unpackhi_ps(f[2], f[3]);
  const __m128 e[4] = {_mm_movelh_ps(t0, t1), _mm_movehl_ps(t1, t0), _mm_movelh_ps(t2, t3),
                       _mm_movehl_ps(t3, t2)};
  const __m256i twice = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  for (int i = 0; i < 4; ++i)
    out[i] = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(e[i]), twice);
}

// Of a pair's two vectors u, v (int32 lanes) for rows r = 0..3 (a[r] = vphaddd(u_r, v_r)): lane
// 2 r (2 r + 1) the sum of u_r's (v_r's) 8 lanes, as f32: exact integer sums, then one
// conversion (hsum_to_float's value).
inline __m256 pair_totals(const __m256i (&a)[kRows]) {
  // Per 128-bit half: the sums of that half's lanes of u_0, v_0, u_1, v_1 (b0) and of rows 2, 3.
  const __m256i b0 = _mm256_hadd_epi32(a[0], a[1]), b1 = _mm256_hadd_epi32(a[2], a[3]);
  return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20),
                                             _mm256_permute2x128_si256(b0, b1, 0x31)));
}

// out[t kRows + r] = lane 2 r + t of acc.
inline void store_pairs(__m256 acc, float (&out)[16]) {
  _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(acc, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7)));
}

// y for rows [row_begin, row_end) of p, kBlock(w, a, nb, ahead, out) for each block of kRows rows
// w and kTokens tokens a over the K-quant rows' nb super-blocks (over_blocks).
template <auto kBlock>
void k_quant_multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  const int64_t nb = p.n_in / kQK_K;
  over_blocks<kRows, kTokens>(
      p, row_begin, row_end, [](const uint8_t* const(&)[kTokens]) {},
      [nb](const uint8_t* const(&w)[kRows], const uint8_t* const(&a)[kTokens], int,
           const uint8_t* ahead, float(&out)[16]) { kBlock(w, a, nb, ahead, out); });
}

// The 8 outputs of kRows rows w and kTokens tokens a (out[t kRows + r]) over nb super-blocks of
// Block (Q4_K, or Q5_K: the fifth bits from their own field at bit 4, fifth_bits): per
// super-block and pair, the low and high nibbles against the activations with vpmaddubsw, whose
// int16 pair sums add up exactly over the 4 words (Q4_K: 8 x 2 x 15 x 128 < 32768) or 2 (Q5_K),
// then vpmaddwd by the sub-blocks' scales gives S per lane and the mins against the activations'
// sub-block sums M per lane, as dot_q45_K_groups16 does.
template <typename Block>
void q45_K_block(const uint8_t* const (&w)[kRows], const uint8_t* const (&a)[kTokens], int64_t nb,
                 const uint8_t* ahead, float (&out)[16]) {
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  const __m256i low = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  // The group of kM super-blocks at byte at_w of each row (at_a of each activation row).
  auto group = [&]<int kM>(int64_t at_w, int64_t at_a) __attribute__((always_inline)) {
    // The next rows, as far into them as this group is into these (the driver's prefetch_rows).
    if (ahead != nullptr) prefetch_rows(ahead + kRows * at_w, kRows * kM * sizeof(Block));
    // The rows' f16 d and dmin as f32 (d0, d1, dmin0, dmin1; for kM = 1 d, dmin, then bytes of
    // the scales, unused), by lane (by_row): fields[j] the d of super-block j, fields[2 + j]
    // (kM = 2) or fields[1] (kM = 1) its dmin.
    __m128 heads[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r)
      heads[r] = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w[r] + at_w)));
    __m256 fields[4];
    by_row(heads, fields);
#pragma GCC unroll 2
    for (int j = 0; j < kM; ++j) {
      const int64_t words = at_w + offsetof(Block, qs) * kM + 32 * j;
      const int64_t acts = at_a + 32 * j;
      // Q5_K: the pairs' int16 sums of words 0 and 1 (5-bit quants add up exactly over 2 words:
      // 4 x 2 x 31 x 128 < 32768), widened apart from those of words 2 and 3.
      __m256i pairs[kRows][kTokens], first[kRows][kTokens];
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 2
        for (int t = 0; t < kTokens; ++t) pairs[r][t] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
#pragma GCC unroll 4
        for (int r = 0; r < kRows; ++r) {
          const __m256i q = load256(w[r] + words + 32 * kM * k);
          __m256i lo = _mm256_and_si256(q, low);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
          if constexpr (kFifth) {
            const __m256i qh = load256(w[r] + at_w + offsetof(Block, qh) * kM + 32 * j);
            lo = _mm256_or_si256(lo, fifth_bits(qh, k, 0));
            hi = _mm256_or_si256(hi, fifth_bits(qh, k, 1));
          }
#pragma GCC unroll 2
          for (int t = 0; t < kTokens; ++t) {
            pairs[r][t] = _mm256_add_epi16(
                pairs[r][t], _mm256_maddubs_epi16(lo, load256(a[t] + acts + 32 * kM * k)));
            pairs[r][t] = _mm256_add_epi16(
                pairs[r][t], _mm256_maddubs_epi16(hi, load256(a[t] + acts + 32 * kM * (4 + k))));
            if (kFifth && k == 1) {
              first[r][t] = pairs[r][t];
              pairs[r][t] = _mm256_setzero_si256();
            }
          }
        }
      }
      // Per row, its two pairs' S (vpmaddwd by the scales) and M (the mins by vpmaddwd against
      // the tokens' sub-block sums), each pair's lanes added at once (pair_totals).
      __m256i s[kRows], m[kRows];
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        const K4ScaleLanes scales = k4_scale_lanes(w[r] + at_w + 4 * kM + 12 * j);
        auto mb = [&](int t) {
          return _mm256_madd_epi16(scales.mins, load256(a[t] + at_a + (kQK_K + 4) * kM + 32 * j));
        };
        auto sum = [&](int t) {
          const __m256i second = _mm256_madd_epi16(pairs[r][t], scales.scales2);
          if constexpr (kFifth)
            return _mm256_add_epi32(_mm256_madd_epi16(first[r][t], scales.scales2), second);
          return second;
        };
        s[r] = _mm256_hadd_epi32(sum(0), sum(1));
        m[r] = _mm256_hadd_epi32(mb(0), mb(1));
      }
      // dot_q45_K_groups16's f32 steps, lane by lane: acc + S (d_w d_a), then - M (dmin_w d_a).
      auto d_a = [&](int t) {
        return _mm_broadcast_ss(reinterpret_cast<const float*>(a[t] + at_a + kQK_K * kM + 4 * j));
      };
      const __m128 da01 = _mm_unpacklo_ps(d_a(0), d_a(1));
      const __m256 da = _mm256_set_m128(da01, da01);
      acc = _mm256_fmadd_ps(pair_totals(s), _mm256_mul_ps(fields[j], da), acc);
      acc = _mm256_fnmadd_ps(pair_totals(m), _mm256_mul_ps(fields[kM == 2 ? 2 + j : 1], da), acc);
    }
  };
  constexpr int64_t kGroupBytes = 2 * sizeof(Block);
  constexpr int64_t kActGroupBytes = 2 * sizeof(BlockQ8_K);
  int64_t g = 0;
  for (; 2 * g + 2 <= nb; ++g) group.template operator()<2>(g * kGroupBytes, g * kActGroupBytes);
  if (2 * g < nb) group.template operator()<1>(g * kGroupBytes, g * kActGroupBytes);
  store_pairs(acc, out);
}

void q4_K_prepare(const void* activation_row, int64_t n_in, void* gemm_row) {
  q8_K_row_to_block_groups16(activation_row, gemm_row, n_in);
}

// ---- Q6_K, Q3_K, Q2_K ---------------------------------------------------------------------------
// Rows as dot_k16_groups16 (vec_dot_avx2.cpp) reads them: a group per super-block, its 16
// sub-blocks of 16 in two 8-lane halves; activation rows from q8_K_row_to_q6_K_groups16.

// The 8 outputs of kRows rows w and kTokens tokens a (out[t kRows + r]) over nb super-blocks of
// Block (Q6_K, Q3_K or Q2_K): per half and row, its unsigned quants (k16_group_half_quants) once
// for both tokens, vpmaddubsw against each token's activations, int16 pair sums added over two
// words (Q6_K: 2 x 2 x 63 x 128 < 32768) or four (Q3_K, Q2_K) and widened by the sub-blocks'
// scales (vpmaddwd, the scale in both halves of its lane; Q2_K's the scale bytes' low nibbles),
// less the offset (Q6_K 32, Q3_K 4; Q2_K none) times sum scale bsum, as dot_k16_groups16 does.
// Q2_K's M, each row's mins (the high nibbles) against each token's 16 sub-block sums, is formed
// per super-block after S: one vpmaddwd a pair, whose 8 int32 lanes add up to the decode
// product's M exactly.
template <typename Block>
void k16_block(const uint8_t* const (&w)[kRows], const uint8_t* const (&a)[kTokens], int64_t nb,
               const uint8_t* ahead, float (&out)[16]) {
  constexpr bool kQ6 = std::is_same_v<Block, BlockQ6_K>;
  constexpr bool kMins = std::is_same_v<Block, BlockQ2_K>;
  constexpr int kOffsetShift = kQ6 ? 5 : 2;  // log2 of the quants' offset (not Q2_K's)
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t at_w = i * static_cast<int64_t>(sizeof(Block));
    // The next rows, as far into them as this super-block is into these (prefetch_rows).
    if (ahead != nullptr) prefetch_rows(ahead + kRows * at_w, kRows * sizeof(Block));
    const BlockQ8_K* y[kTokens];
#pragma GCC unroll 2
    for (int t = 0; t < kTokens; ++t) y[t] = reinterpret_cast<const BlockQ8_K*>(a[t]) + i;
    __m256i s[kRows][kTokens];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 2
      for (int t = 0; t < kTokens; ++t) s[r][t] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i bsums[kTokens];  // the tokens' sub-block sums, for the offset (not Q2_K's)
      if constexpr (!kMins)
#pragma GCC unroll 2
        for (int t = 0; t < kTokens; ++t)
          bsums[t] = _mm256_cvtepi16_epi32(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[t]->bsums + 8 * h)));
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        const uint8_t* sb = w[r] + at_w;
        const K16ScaleLanes scale = k16_scale_lanes<Block>(k16_scale_bytes<Block>(sb), h);
        __m256i u[4];
        k16_group_half_quants<Block>(sb, h, u);
#pragma GCC unroll 2
        for (int t = 0; t < kTokens; ++t) {
          auto dot = [&](int k) {
            return _mm256_maddubs_epi16(u[k], load256(y[t]->qs + 64 * k + 32 * h));
          };
          if constexpr (kQ6) {
            s[r][t] = _mm256_add_epi32(
                s[r][t], _mm256_madd_epi16(_mm256_add_epi16(dot(0), dot(1)), scale.both));
            s[r][t] = _mm256_add_epi32(
                s[r][t], _mm256_madd_epi16(_mm256_add_epi16(dot(2), dot(3)), scale.both));
          } else {
            const __m256i pairs = _mm256_add_epi16(_mm256_add_epi16(dot(0), dot(1)),
                                                   _mm256_add_epi16(dot(2), dot(3)));
            s[r][t] = _mm256_add_epi32(s[r][t], _mm256_madd_epi16(pairs, scale.both));
          }
          if constexpr (!kMins)
            s[r][t] = _mm256_sub_epi32(
                s[r][t], _mm256_slli_epi32(_mm256_madd_epi16(bsums[t], scale.low), kOffsetShift));
        }
      }
    }
    __m256i rows[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) rows[r] = _mm256_hadd_epi32(s[r][0], s[r][1]);
    // dot_k16_groups16's f32 steps (add_block), lane by lane: acc + S (d_w d_a), Q2_K then
    // - M (dmin_w d_a).
    auto by_lane = [&](size_t field) {
      auto f16 = [&](int r) {
        uint16_t f;
        std::memcpy(&f, w[r] + at_w + field, 2);
        return static_cast<short>(f);
      };
      const __m128 f4 = _mm_cvtph_ps(_mm_setr_epi16(f16(0), f16(1), f16(2), f16(3), 0, 0, 0, 0));
      return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(f4),
                                      _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
    };
    const __m128 da01 = _mm_unpacklo_ps(_mm_set1_ps(y[0]->d), _mm_set1_ps(y[1]->d));
    const __m256 da = _mm256_set_m128(da01, da01);
    acc = _mm256_fmadd_ps(pair_totals(rows), _mm256_mul_ps(by_lane(offsetof(Block, d)), da), acc);
    if constexpr (kMins) {
      __m256i m[kRows];
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(
            _mm_srli_epi16(k16_scale_bytes<Block>(w[r] + at_w), 4), _mm_set1_epi8(0x0F)));
        m[r] = _mm256_hadd_epi32(_mm256_madd_epi16(mins, load256(y[0]->bsums)),
                                 _mm256_madd_epi16(mins, load256(y[1]->bsums)));
      }
      acc =
          _mm256_fnmadd_ps(pair_totals(m), _mm256_mul_ps(by_lane(offsetof(Block, dmin)), da), acc);
    }
  }
  store_pairs(acc, out);
}

void q6_K_prepare(const void* activation_row, int64_t n_in, void* gemm_row) {
  q8_K_row_to_q6_K_groups16(activation_row, gemm_row, n_in);
}

// ---- Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1 -----------------------------------------------------
// Rows as dot_groups16 (vec_dot_avx2.cpp) reads them: groups of 16 blocks (the last of nb % 16),
// lanes 0-7 of a group (the first 32 bytes of each 64-byte word) its blocks 0-7, lanes 8-15 blocks
// 8-15; activation rows from q8_0_row_to_block_groups16 (Q4_1, Q5_1: q8_1_row_to_block_groups16).
// Each pair keeps the decode product's 16 f32 partial sums over the row (two 8-lane vectors), so
// blocks of 2 rows x 2 tokens: 8 accumulators.

constexpr int kLegacyRows = 2, kLegacyTokens = 2;

// The 4 outputs of kLegacyRows rows w and kLegacyTokens tokens a (out[t kLegacyRows + r]) of n
// elements: per pair, dot_groups16's f32 steps lane by lane (16 partial sums over the row in two
// vectors, per block fma(sum, d_w d_a), then Q4_1 / Q5_1 fma(m_w, s_a); added as dot_groups16 adds
// them), the same bits.
template <typename Block>
void legacy_block(const uint8_t* const (&w)[kLegacyRows], const uint8_t* const (&a)[kLegacyTokens],
                  int64_t n, const uint8_t* ahead, float (&out)[16]) {
  constexpr bool kMin = requires(const Block& b) { b.m; };
  constexpr bool kFifth = requires(const Block& b) { b.qh; };
  constexpr bool kSigned = std::is_same_v<Block, BlockQ8_0> || std::is_same_v<Block, BlockIQ4_NL>;
  constexpr int kOffsetShift = kSigned || kMin ? 0 : kFifth ? 4 : 3;
  constexpr auto kBlockBytes = static_cast<int64_t>(sizeof(Block));
  const int64_t nb = n / kQK;
  const Q8Row y[kLegacyTokens] = {Q8Row(a[0], n), Q8Row(a[1], n)};
  // p[r][t][h]: the pair's partial sums of blocks 8 h .. 8 h + 7 of each group.
  __m256 p[kLegacyRows][kLegacyTokens][2];
#pragma GCC unroll 2
  for (int r = 0; r < kLegacyRows; ++r)
#pragma GCC unroll 2
    for (int t = 0; t < kLegacyTokens; ++t) p[r][t][0] = p[r][t][1] = _mm256_setzero_ps();
  // Half h of the group of m blocks from block g0: lanes 0 .. mc - 1 (those in `lanes`).
  auto half_group = [&]<bool kMasked>(int64_t g0, int m, int h, int mc, __m256i lanes)
      __attribute__((always_inline)) {
    const int l0 = 8 * h;
    const uint8_t* g[kLegacyRows];
#pragma GCC unroll 2
    for (int r = 0; r < kLegacyRows; ++r) g[r] = w[r] + g0 * kBlockBytes;
    const int8_t* act[kLegacyTokens] = {y[0].qs + g0 * kQK, y[1].qs + g0 * kQK};
    __m256i sums[kLegacyRows][kLegacyTokens];
    half_sums<Block, kMasked>(g, act, m, 32 * h, lanes, sums);
#pragma GCC unroll 2
    for (int r = 0; r < kLegacyRows; ++r) {
      const __m256 d_w = halves8(g[r] + 2 * l0, mc);
      __m256 m_w;
      if constexpr (kMin) m_w = halves8(g[r] + offsetof(Block, m) * m + 2 * l0, mc);
#pragma GCC unroll 2
      for (int t = 0; t < kLegacyTokens; ++t) {
        __m256i s = sums[r][t];
        if constexpr (kOffsetShift != 0)
          s = _mm256_sub_epi32(
              s, _mm256_slli_epi32(_mm256_maskload_epi32(y[t].sum + g0 + l0, lanes), kOffsetShift));
        const __m256 scale = _mm256_mul_ps(d_w, _mm256_maskload_ps(y[t].d + g0 + l0, lanes));
        p[r][t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, p[r][t][h]);
        if constexpr (kMin)
          p[r][t][h] =
              _mm256_fmadd_ps(m_w, _mm256_maskload_ps(y[t].s + g0 + l0, lanes), p[r][t][h]);
      }
    }
  };
  const __m256i all = _mm256_set1_epi32(-1);
  int64_t g0 = 0;
  for (; g0 + 16 <= nb; g0 += 16) {
    // The next rows, as far into them as this group is into these (prefetch_rows).
    if (ahead != nullptr)
      prefetch_rows(ahead + kLegacyRows * g0 * kBlockBytes, kLegacyRows * 16 * kBlockBytes);
    half_group.template operator()<false>(g0, 16, 0, 8, all);
    half_group.template operator()<false>(g0, 16, 1, 8, all);
  }
  if (g0 < nb) {
    const int m = static_cast<int>(nb - g0);
    if (ahead != nullptr)
      prefetch_rows(ahead + kLegacyRows * g0 * kBlockBytes,
                    kLegacyRows * m * static_cast<int>(kBlockBytes));
    const int m0 = std::min(m, 8), m1 = m - m0;  // lanes of each half
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lanes0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m0), index);
    const __m256i lanes1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m1), index);
    if (m0 == 8)
      half_group.template operator()<false>(g0, m, 0, 8, all);
    else
      half_group.template operator()<true>(g0, m, 0, m0, lanes0);
    if (m1 > 0) half_group.template operator()<true>(g0, m, 1, m1, lanes1);
  }
#pragma GCC unroll 2
  for (int r = 0; r < kLegacyRows; ++r)
#pragma GCC unroll 2
    for (int t = 0; t < kLegacyTokens; ++t)
      out[t * kLegacyRows + r] = hsum(_mm256_add_ps(p[r][t][0], p[r][t][1]));
}

template <typename Block>
void legacy_multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  over_blocks<kLegacyRows, kLegacyTokens>(
      p, row_begin, row_end, [](const uint8_t* const(&)[kLegacyTokens]) {},
      [&p](const uint8_t* const(&w)[kLegacyRows], const uint8_t* const(&a)[kLegacyTokens], int,
           const uint8_t* ahead,
           float(&out)[16]) { legacy_block<Block>(w, a, p.n_in, ahead, out); });
}

// From 32 tokens on the packs' kernels: in cache (kernels_bench Batch, 4864x896, one thread at the
// AVX2 level, Zen 4; bench/RESULTS.md, "Session of 2026-12-06, seventh") Q4_K's blocks run at 61-64
// GMAC/s from 4 to 16 tokens, the packs at 32 tokens 67-72; Q6_K's 50-51 at 16 against the packs'
// 51-52, and from DRAM (StreamedBatch16, 2 threads) 92-99 against 82-84.
int64_t k_quant_handover(int64_t) { return 32; }

// The 32-element types from 16 tokens on: at 16 in cache (Batch16, 4864x896 / 896x4864) their
// packs lead on rows of 896 (Q4_0 55-58 against 44-48 GMAC/s, Q5_0 60 against 36, Q5_1 51-52
// against 35, IQ4_NL 40 against 34) and Q5_0's from DRAM too (StreamedBatch16 88-104 against
// 85-90); below 16 the blocks lead or tie (bench/RESULTS.md, "Session of 2026-12-06, seventh").
int64_t legacy_handover(int64_t) { return 16; }

// The 32-element types from 2 tokens on, like the K-quants: with half_sums inlined and a last
// partial group's next rows prefetched too, the blocks at 2 tokens beat the decode product run
// per token from DRAM on rows of 896 and 4864 (StreamedBatch2 Q4_0 39-65 -> 51-91 GMAC/s, Q8_0
// 25-37 -> 41-57, Q5_0 31-44 -> 45-85) and through the engine (Qwen2.5-0.5B at
// GENGYUN_KERNELS=avx2, 2 streams: Q4_0 82-91 -> 97-105 output tokens/s, Q8_0 62-70 -> 77-91;
// bench/RESULTS.md, "Session of 2026-12-06, eighth"). Q4_1 and Q5_1 (with a min) take Q8_1
// activation rows, the others Q8_0 rows.
template <typename Block>
const GemmKernels* legacy_in_place(uint32_t type_id) {
  if constexpr (requires(const Block& b) { b.m; })
    return in_place<q8_1_gemm_row_bytes, q8_1_prepare, legacy_multiply<Block>, legacy_handover>(
        type_id);
  else
    return in_place<q8_0_gemm_row_bytes, q8_0_prepare, legacy_multiply<Block>, legacy_handover>(
        type_id);
}

}  // namespace

const GemmKernels* gemm_kernels_groups16_in_place(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q4_K:
      return in_place<q8_K_gemm_row_bytes, q4_K_prepare, k_quant_multiply<q45_K_block<BlockQ4_K>>,
                      k_quant_handover>(type_id);
    case GgmlType::Q5_K:
      return in_place<q8_K_gemm_row_bytes, q4_K_prepare, k_quant_multiply<q45_K_block<BlockQ5_K>>,
                      k_quant_handover>(type_id);
    case GgmlType::Q6_K:
      return in_place<q8_K_gemm_row_bytes, q6_K_prepare, k_quant_multiply<k16_block<BlockQ6_K>>,
                      k_quant_handover>(type_id);
    case GgmlType::Q3_K:
      return in_place<q8_K_gemm_row_bytes, q6_K_prepare, k_quant_multiply<k16_block<BlockQ3_K>>,
                      k_quant_handover>(type_id);
    case GgmlType::Q2_K:
      return in_place<q8_K_gemm_row_bytes, q6_K_prepare, k_quant_multiply<k16_block<BlockQ2_K>>,
                      k_quant_handover>(type_id);
    case GgmlType::Q8_0:
      return legacy_in_place<BlockQ8_0>(type_id);
    case GgmlType::Q4_0:
      return legacy_in_place<BlockQ4_0>(type_id);
    case GgmlType::Q5_0:
      return legacy_in_place<BlockQ5_0>(type_id);
    case GgmlType::IQ4_NL:
      return legacy_in_place<BlockIQ4_NL>(type_id);
    case GgmlType::Q4_1:
      return legacy_in_place<BlockQ4_1>(type_id);
    case GgmlType::Q5_1:
      return legacy_in_place<BlockQ5_1>(type_id);
    default:
      return nullptr;
  }
}

}  // namespace gengyun::kernels::avx2
