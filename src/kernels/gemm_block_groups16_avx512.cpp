// AVX-512 VNNI batched products on rows in WeightLayout::kBlockGroups16 as they lie: no pack.
// The layout's decode products (vec_dot_avx512.cpp, vec_dot_groups16_x86.h) run one row against
// one token, lane l of every vector meeting block or sub-block l; here a register block of rows x
// tokens does the same for each (row, token) pair, each row's vectors decoded once for all the
// block's tokens and each token's loaded once for all its rows. The K-quants Q2_K to Q6_K (4 rows x
// 4 tokens, 8 x 2 in calls of 2 tokens, Q5_K 2 x 8 from 5 tokens) run the horizontal steps that end
// each group (the sums of its lanes, the f32 steps) once for the 16 pairs side by side, one pair
// per lane; the 32-element types Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1 and Q5_1 (2 rows x 4 tokens) keep
// each pair's 16 partial sums in a register over the row, as the decode product does. The integer
// sums are exact and the f32 steps are the decode products', in their order, so every output has
// the bits of the decode product (and of the packs' kernels, gemm_avx512.cpp, which take calls of
// more tokens: GemmKernels::handover).
#define GENGYUN_X86_NS avx512
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/activation_rows.h"
#include "kernels/block_groups16_driver_x86.h"
#include "kernels/block_groups16_x86.h"
#include "kernels/gemm.h"
#include "kernels/weight_layout.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels::avx512 {
namespace {

// From how many tokens on these kernels beat the decode products: 2, every type (Zen 4, 2
// threads, weights from DRAM; bench/RESULTS.md, "Session of 2026-12-06, third"). kernels_bench
// StreamedBatch2 GMAC/s against the decode products: Q8_0 40-45 -> 54-61, Q5_0 58-76 -> 83-91,
// Q4_K 64-80 -> 102-113, Q6_K 50-54 -> 64-85 (the K-quants' blocks of 4 tokens with 2 of them
// repeats; in blocks of 8 rows x 2 tokens, "Session of 2026-12-06, fourth": Q4_K 122-148, Q6_K
// 97-122, Q5_K 90-93, Q3_K 106-124); StreamedBatch3-7 of Q8_0 / Q5_0 46-105 -> 79-182.
constexpr int64_t kMinTokens = 2;

// From how many tokens on the packs' kernels (gemm_avx512.cpp) are as fast or faster, for rows
// of n_in elements: kShort below kLongRow elements, kLong from there. In cache, kernels_bench
// Batch(16|32|64)/(4864x896|896x4864)/T_groups16/avx512 (Zen 4, one thread), GMAC/s here against
// the packs': Q4_K 32 tokens 118-124 against 93-102, 64 tokens 124-127 against 128; Q5_K 32
// tokens 98.5 against 94.6, 64 tokens 119-120 against 121-122; Q6_K 16 tokens 102-104 against 91,
// 32 tokens 99-104 against 116-117 (Q3_K 16 tokens 99-100 against 80, the packs at 32 107);
// Q8_0, Q4_0, Q5_0, IQ4_NL 16 tokens 99-114 / 71-87 against 80-89 / 70-77, 32 tokens 99-114 /
// 65-87 against 103-113 / 89-96. From DRAM (StreamedBatch32-64, 2 threads, one process;
// bench/RESULTS.md, "Session of 2026-12-06, fourth"), the 32-element types keep their lead on
// longer rows: rows of 4864 / 8960 / 1536 elements, packs -> here, Q8_0 32 tokens 160-165 ->
// 198-210, 48 tokens 187-195 -> 204-219, 56 198-209 -> 205-220, 64 about even; Q4_0 40 tokens
// 191-203 -> 198-220, 48 even to +4%, 56 even; Q5_0 32 tokens 176-182 -> 186-200, 40 even to
// +5%, 48 packs +7%; Q4_1 32-56 tokens 162-201 -> 191-223, 64 about even; Q5_1 32-40 tokens 147-
// 178 -> 191-211, 48 even to +7%; IQ4_NL 32 tokens 179-187 -> 206-220, 40 -3% to +10% ("Session
// of 2026-12-06, fifth"). On rows of 896 (28 blocks: a second group of 12) the packs lead from 32
// (Q8_0 even, Q4_0 164 -> 149, Q5_0 155 -> 134); rows between 896 and 1536 not measured, the
// threshold at two whole groups. The K-quants' figures from DRAM agree with the in-cache ones
// (Q4_K at 64 tokens even to +12% here, Q6_K 48 tokens packs +1-18%) but for Q6_K at 32 once its
// blocks lost a stall ("Session of 2026-12-06, fifth"): 194-205 against the packs' 176-191, at 40
// even (Q3_K's packs lead at 32, Q2_K's even); and Q5_K at 32 in its blocks of 2 x 8 ("Session
// of 2026-12-06, sixth"): 182 / 185 against the packs' 166 / 178 on rows of 8960 / 1536, at 40
// 181 / 189 against 190 / 190 (in cache, rows of 896 at 32 tokens, the packs 111 against 97).
constexpr int64_t kLongRow = 2 * 16 * kQK;

template <int64_t kShort, int64_t kLong>
int64_t handover_tokens(int64_t n_in) {
  return n_in < kLongRow ? kShort : kLong;
}

// ---- lanes ------------------------------------------------------------------------------------

struct alignas(64) LaneIndex {
  int32_t v[16];
};
inline __m512i index(const LaneIndex& x) { return _mm512_load_si512(x.v); }

// The indices f(0) .. f(15).
template <typename F>
constexpr LaneIndex lanes(F f) {
  LaneIndex x{};
  for (int i = 0; i < 16; ++i) x.v[i] = f(i);
  return x;
}
// lanes(i -> f(i, j)) for j = 0 .. N - 1.
template <int N, typename F>
constexpr std::array<LaneIndex, N> lane_tables(F f) {
  std::array<LaneIndex, N> tables{};
  for (int j = 0; j < N; ++j) tables[j] = lanes([&](int i) { return f(i, j); });
  return tables;
}
// The K-quants' register blocks of R rows (2, 4 or 8) x 16 / R tokens: lane i holds row i % R and
// token i / R. Their rows come in sets of 4 (rows 0..3, 4..7; R = 2: rows 0, 1, 0, 1), what one
// vpermt2d reaches, and their tokens in fours. vpermt2d indices into two vectors of 16 dwords per
// row of a set (rows 0, 1 | 2, 3) or per token of a four (tokens 0, 1 | 2, 3; R = 2: 4, 5 | 6, 7
// too, blended in): lane i takes dword p of row i % R of its set, or of token i / R of its four.
template <int R>
constexpr auto kRowDword = lane_tables<8>([](int i, int p) { return (i % R % 4) * 8 + p; });
template <int R>
constexpr auto kTokenDword = lane_tables<8>([](int i, int p) { return (i / R % 4) * 8 + p; });
// Lanes of the second set of rows (R = 8): rows 4..7.
template <int R>
constexpr auto kSecondSet = static_cast<__mmask16>(R == 8 ? 0xF0F0 : 0);
// vpermps / vpermt2ps indices: lane i takes float f of row i % R's 4, or of token i / R's 2.
template <int R>
constexpr auto kRowFloat = lane_tables<4>([](int i, int f) { return (i % R) * 4 + f; });
template <int R>
constexpr auto kTokenFloat = lane_tables<2>([](int i, int f) { return (i / R) * 2 + f; });
// vpermps indices into one float per row or token: lane i takes float i % R, or i / R.
template <int R>
constexpr LaneIndex kRowOne = lanes([](int i) { return i % R; });
template <int R>
constexpr LaneIndex kTokenOne = lanes([](int i) { return i / R; });
// Tokens the token-side tables are built from: a block's 16 / R, at least 4 (those past the
// block's repeating its last).
template <int R>
constexpr int kMaxT = R == 2 ? 8 : 4;
// Sets of 4 rows of a block (R = 2: one, rows 0, 1, 0, 1).
template <int R>
constexpr int kRowSets = R < 4 ? 1 : R / 4;
// vpermt2d indices taking dwords d[0..3] of each of a set's 4 rows (8 dwords each): lane 4 r + j.
constexpr LaneIndex row_quads(int d0, int d1, int d2, int d3) {
  const int d[4] = {d0, d1, d2, d3};
  return lanes([&](int i) { return (i / 4) * 8 + d[i % 4]; });
}

// Lane i: dword p of row i % R, from v01 / v23 holding each set of 4 rows' 8 dwords (rows 0, 1 |
// 2, 3 of the set).
template <int R>
__attribute__((always_inline)) inline __m512i row_dwords(const __m512i (&v01)[kRowSets<R>],
                                                         const __m512i (&v23)[kRowSets<R>], int p) {
  const __m512i idx = index(kRowDword<R>[p]);
  const __m512i first = _mm512_permutex2var_epi32(v01[0], idx, v23[0]);
  if constexpr (R <= 4) return first;
  return _mm512_mask_blend_epi32(kSecondSet<R>, first,
                                 _mm512_permutex2var_epi32(v01[R / 4 - 1], idx, v23[R / 4 - 1]));
}

// ---- sums of lanes ----------------------------------------------------------------------------

// Lanes of a and b interleaved and added in pairs: per 128-bit chunk, (a0 + a2, b0 + b2, a1 + a3,
// b1 + b3).
inline __m512i pair_sums(__m512i a, __m512i b) {
  return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}
// Of pair_sums(v0, v1) and pair_sums(v2, v3): per chunk, the chunk's sum of v0 .. v3.
inline __m512i quad_sums(__m512i a, __m512i b) {
  return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}
// Of quad_sums of v0 .. v3 and of v4 .. v7: chunk 0 (1) the sums of lanes 0..7 of v0 .. v3 (of
// lanes 8..15), chunk 2 (3) the same of v4 .. v7.
inline __m512i octet_sums(__m512i a, __m512i b) {
  return _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
// u[j] = pair_sums(v[2 j], v[2 j + 1]) of 16 vectors v: lane i of `first` is the sum of lanes
// 0..7 of v[i], of `second` the sum of lanes 8..15.
inline void half_sums16(const __m512i (&u)[8], __m512i& first, __m512i& second) {
  const __m512i z0 = octet_sums(quad_sums(u[0], u[1]), quad_sums(u[2], u[3]));
  const __m512i z1 = octet_sums(quad_sums(u[4], u[5]), quad_sums(u[6], u[7]));
  first = _mm512_shuffle_i32x4(z0, z1, _MM_SHUFFLE(2, 0, 2, 0));
  second = _mm512_shuffle_i32x4(z0, z1, _MM_SHUFFLE(3, 1, 3, 1));
}

// lo, hi: the low and high nibbles of quant word k (0..3) of a Q5_0 or Q5_K group, 16 added where
// the group's fifth-bit field qh (lane l: its block's or sub-block's 4 bytes) has the element's
// bit, as dot_nibbles_groups16 and dot_q45_K_groups16 do it: a byte shuffle puts the byte holding
// each element's bit under it, a bit test makes the mask.
inline void add_fifth_bits(__m512i qh, int k, __m512i& lo, __m512i& hi) {
  auto fifth = [&](int h) {
    return _mm512_test_epi8_mask(
        _mm512_shuffle_epi8(
            qh, _mm512_broadcast_i32x4(_mm_load_si128(
                    reinterpret_cast<const __m128i*>(kFifthBits.index[4 * (k / 2) + h])))),
        _mm512_broadcast_i32x4(
            _mm_load_si128(reinterpret_cast<const __m128i*>(kFifthBits.bit[2 * (k % 2)]))));
  };
  const __m512i sixteen = _mm512_set1_epi8(0x10);
  lo = _mm512_mask_add_epi8(lo, fifth(0), lo, sixteen);
  hi = _mm512_mask_add_epi8(hi, fifth(1), hi, sixteen);
}

// over_blocks on the blocks of R rows x 16 / R tokens that kShape(p, tokens) makes ({tables,
// block}: q45_K_shape, k16_shape), the tokens' tables in Tokens kept per thread.
template <int R, typename Tokens, auto kShape>
void shaped_blocks(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  thread_local std::vector<Tokens> tokens;
  const auto [tables, block] = kShape(p, tokens);
  over_blocks<R, 16 / R>(p, row_begin, row_end, tables, block);
}

// The same, but a call's last n_tokens % (16 / R) tokens (1 or 2) in kShape8's blocks of 8 x 2,
// over the same tiles.
template <int R, typename Tokens, auto kShape, auto kShape8>
void shaped_blocks_with_tail(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  thread_local std::vector<Tokens> tokens, tokens8;
  const auto [tables, block] = kShape(p, tokens);
  const auto [tables8, block8] = kShape8(p, tokens8);
  over_blocks<R, 16 / R, 8, 2>(p, row_begin, row_end, p.n_tokens % (16 / R), tables, block, tables8,
                               block8);
}

// ---- Q4_K -------------------------------------------------------------------------------------
// Rows as dot_q45_K_groups16 (vec_dot_avx512.cpp) reads them: groups of two super-blocks (the
// last alone when their count is odd), lane l = sub-block l; activation rows from
// q8_K_row_to_block_groups16.

constexpr int64_t kQ8KGroupBytes = 2 * sizeof(BlockQ8_K);

// unpack_scales_mins_k4's dwords u0, u1 of both super-blocks and u2 of each twice, for groups
// of m = 1 and 2 (dword m + j of a group's head: its d and dmin fields come first).
constexpr LaneIndex kQ4KU01[2] = {row_quads(1, 2, 4, 5), row_quads(2, 3, 5, 6)};
constexpr LaneIndex kQ4KU22[2] = {row_quads(3, 3, 6, 6), row_quads(4, 4, 7, 7)};
// Dwords 0, 1 of the heads of a set of 4 rows (d0, d1, dmin0, dmin1; for m = 1 d, dmin, then
// unused bytes): lanes 2 r, 2 r + 1.
constexpr LaneIndex kQ4KHeads = lanes([](int i) { return i < 8 ? (i / 2) * 8 + i % 2 : 0; });

// What a group needs of a block's tokens, built once for all its rows.
struct Q4KTokens {
  __m512i sums[8];  // lane i: dword p of the int16 sub-block sums of token i / R
  __m512 d[2];      // lane i: d of the group's super-block j of token i / R
};

// out[p], lane i: dword p of v[i / R], the int16 sub-block sums of tokens 0 .. kMaxT - 1 (v[t]
// for t past a block's 16 / R tokens repeats its last; no lane reads it).
template <int R>
void by_token_dword(const __m256i (&v)[kMaxT<R>], __m512i (&out)[8]) {
  const __m512i t01 = _mm512_inserti64x4(_mm512_castsi256_si512(v[0]), v[1], 1);
  const __m512i t23 = _mm512_inserti64x4(_mm512_castsi256_si512(v[2]), v[3], 1);
  for (int p = 0; p < 8; ++p)
    out[p] = _mm512_permutex2var_epi32(t01, index(kTokenDword<R>[p]), t23);
  if constexpr (R == 2) {
    const __m512i t45 = _mm512_inserti64x4(_mm512_castsi256_si512(v[4]), v[5], 1);
    const __m512i t67 = _mm512_inserti64x4(_mm512_castsi256_si512(v[6]), v[7], 1);
    for (int p = 0; p < 8; ++p)
      out[p] = _mm512_mask_blend_epi32(
          0xFF00, out[p], _mm512_permutex2var_epi32(t45, index(kTokenDword<R>[p]), t67));
  }
}

template <int R, int m>
void q4_K_tokens(const uint8_t* const (&a)[16 / R], int64_t at, Q4KTokens& out) {
  constexpr int T = 16 / R;
  constexpr auto lanes = static_cast<__mmask16>((1u << (8 * m)) - 1);
  // Tokens 0..kMaxT - 1, those past T repeating the last (no lane reads them).
  __m256i sums16[kMaxT<R>];
  alignas(64) double d[8] = {};
  for (int t = 0; t < kMaxT<R>; ++t) {
    const uint8_t* token = a[std::min(t, T - 1)] + at;
    sums16[t] = _mm512_cvtepi32_epi16(_mm512_maskz_loadu_epi32(lanes, token + (kQK_K + 4) * m));
    std::memcpy(&d[t], token + kQK_K * m, 8);
  }
  by_token_dword<R>(sums16, out.sums);
  const __m512 d8 = _mm512_load_ps(d);
  for (int j = 0; j < 2; ++j) out.d[j] = _mm512_permutexvar_ps(index(kTokenFloat<R>[j]), d8);
}

// The 16 outputs of R rows w and 16 / R tokens a (lane i: row i % R, token i / R) over nb
// super-blocks of Block (Q4_K, or Q5_K: the same but for the fifth bits of its quants, a field
// of their own); of the tokens, the first N are the block's own (the others repeat the last:
// their products are skipped, their lanes left out of `out`'s meaning).
template <typename Block, int R, int N>
void q45_K_block(const uint8_t* const (&w)[R], const uint8_t* const (&a)[16 / R], int64_t nb,
                 const uint8_t* ahead, const Q4KTokens* tokens, float (&out)[16]) {
  constexpr int T = 16 / R, kSets = kRowSets<R>;
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  constexpr int64_t kGroupBytes = 2 * sizeof(Block);
  const __m512i low = in_register(_mm512_set1_epi8(0x0F));
  __m512 acc = _mm512_setzero_ps();
  auto group = [&]<int m>(int64_t at_w, int64_t at_a, const Q4KTokens& tk)
      __attribute__((always_inline)) {
    constexpr int lanes = 8 * m;
    constexpr auto mask = static_cast<__mmask16>((1u << lanes) - 1);
    // The next rows, as far into them as this group is into these (4 tokens from DRAM: Qwen2.5-
    // 1.5B Q4_K_M at 4 streams 70 -> 54 ms a step against 3 KiB ahead in each row).
    if (ahead != nullptr) prefetch_rows(ahead + R * at_w, R * m * sizeof(Block));
    auto load = [](const void* p) {
      return m == 2 ? load512(p) : _mm512_maskz_loadu_epi32(mask, p);
    };
    // Each sub-block's exact sum of quant times activation, per row and token.
    __m512i sums[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) sums[r][t] = _mm512_setzero_si512();
    }
    if constexpr (R == 2) {
      // 2 rows x 8 tokens: the rows' nibbles first, then token by token (8 tokens' activations
      // at once beside 16 sums spill registers).
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        __m512i lo[2], hi[2];
#pragma GCC unroll 2
        for (int r = 0; r < 2; ++r) {
          const __m512i q = load(w[r] + at_w + offsetof(Block, qs) * m + 4 * lanes * k);
          lo[r] = _mm512_and_si512(q, low);
          hi[r] = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
          if constexpr (kFifth)
            add_fifth_bits(load(w[r] + at_w + offsetof(Block, qh) * m), k, lo[r], hi[r]);
        }
#pragma GCC unroll 8
        for (int t = 0; t < N; ++t) {
          const __m512i act_lo = load(a[t] + at_a + 4 * lanes * k);
          const __m512i act_hi = load(a[t] + at_a + 4 * lanes * (4 + k));
#pragma GCC unroll 2
          for (int r = 0; r < 2; ++r) {
            sums[r][t] = _mm512_dpbusd_epi32(sums[r][t], lo[r], act_lo);
            sums[r][t] = _mm512_dpbusd_epi32(sums[r][t], hi[r], act_hi);
          }
        }
      }
    } else {
      // A set of 4 rows at a time (8 rows' vectors and sums at once spill registers).
#pragma GCC unroll 2
      for (int s = 0; s < kSets; ++s) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          __m512i act_lo[N], act_hi[N];
#pragma GCC unroll 4
          for (int t = 0; t < N; ++t) {
            act_lo[t] = load(a[t] + at_a + 4 * lanes * k);
            act_hi[t] = load(a[t] + at_a + 4 * lanes * (4 + k));
          }
#pragma GCC unroll 4
          for (int r = 4 * s; r < 4 * s + 4; ++r) {
            const __m512i q = load(w[r] + at_w + offsetof(Block, qs) * m + 4 * lanes * k);
            __m512i lo = _mm512_and_si512(q, low);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
            if constexpr (kFifth)
              add_fifth_bits(load(w[r] + at_w + offsetof(Block, qh) * m), k, lo, hi);
#pragma GCC unroll 4
            for (int t = 0; t < N; ++t) {
              sums[r][t] = _mm512_dpbusd_epi32(sums[r][t], lo, act_lo[t]);
              sums[r][t] = _mm512_dpbusd_epi32(sums[r][t], hi, act_hi[t]);
            }
          }
        }
      }
    }
    // Per set of 4 rows, their heads (d, dmin, the packed scales), rows 0, 1 and 2, 3, and their
    // scales and mins unpacked as dot_q45_K_groups16 does, a row per 128-bit chunk: 16 scale
    // bytes (8 of each super-block), 16 min bytes; mins as int16, rows 0, 1 and 2, 3; fields:
    // the rows' d0, d1, dmin0, dmin1 (lanes 4 r .. 4 r + 3).
    __m512i scales[kSets], mins01[kSets], mins23[kSets];
    __m512 fields[kSets];
#pragma GCC unroll 2
    for (int s = 0; s < kSets; ++s) {
      // Rows 4 s .. 4 s + 3 (R = 2: rows 0, 1, 0, 1).
      auto row = [&](int i) { return w[(4 * s + i) % R]; };
      const __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(load256(row(0) + at_w)),
                                             load256(row(1) + at_w), 1);
      const __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(load256(row(2) + at_w)),
                                             load256(row(3) + at_w), 1);
      const __m512i u01 = _mm512_permutex2var_epi32(z01, index(kQ4KU01[m - 1]), z23);
      const __m512i u22 =
          _mm512_srlv_epi32(_mm512_permutex2var_epi32(z01, index(kQ4KU22[m - 1]), z23),
                            _mm512_set4_epi32(4, 0, 4, 0));
      const __m512i low6 = _mm512_and_si512(u01, _mm512_set1_epi8(0x3F));
      const __m512i high6 =
          _mm512_ternarylogic_epi32(_mm512_and_si512(u22, _mm512_set1_epi8(0x0F)),
                                    _mm512_srli_epi32(u01, 2), _mm512_set1_epi8(0x30), 0xF8);
      const __m512i first = _mm512_unpacklo_epi32(low6, high6);
      const __m512i second = _mm512_unpackhi_epi32(low6, high6);
      scales[s] = _mm512_unpacklo_epi64(first, second);
      const __m512i mins = _mm512_unpackhi_epi64(first, second);
      mins01[s] = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(mins));
      mins23[s] = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(mins, 1));
      fields[s] = _mm512_cvtph_ps(
          _mm512_castsi512_si256(_mm512_permutex2var_epi32(z01, index(kQ4KHeads), z23)));
    }
    auto scale_bytes = [&](int r) {
      return _mm512_cvtepu8_epi32(groups16::chunk(scales[r / 4], r % 4));
    };
    // S: per pair (row, token), the scales times the sums, lanes 0..7 and 8..15 added.
    __m512i pairs[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const int r = (2 * j) % R, t = (2 * j) / R;
      pairs[j] = pair_sums(_mm512_mullo_epi32(sums[r][t], scale_bytes(r)),
                           _mm512_mullo_epi32(sums[r + 1][t], scale_bytes(r + 1)));
    }
    __m512i s0, s1;
    half_sums16(pairs, s0, s1);
    // M: per pair, the row's mins times the token's sub-block sums, 2 sub-blocks a vpdpwssd.
    __m512i m0 = _mm512_setzero_si512(), m1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p)
      m0 = _mm512_dpwssd_epi32(m0, row_dwords<R>(mins01, mins23, p), tk.sums[p]);
    if constexpr (m == 2)
#pragma GCC unroll 4
      for (int p = 4; p < 8; ++p)
        m1 = _mm512_dpwssd_epi32(m1, row_dwords<R>(mins01, mins23, p), tk.sums[p]);
    // The f32 steps of dot_q45_K_groups16, super-block by super-block: acc += S d d_a, then
    // acc -= M dmin d_a.
    auto field = [&](int f) {
      if constexpr (kSets == 1) return _mm512_permutexvar_ps(index(kRowFloat<R>[f]), fields[0]);
      return _mm512_permutex2var_ps(fields[0], index(kRowFloat<R>[f]), fields[kSets - 1]);
    };
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(field(0), tk.d[0]), acc);
    acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m0), _mm512_mul_ps(field(m), tk.d[0]), acc);
    if constexpr (m == 2) {
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(field(1), tk.d[1]), acc);
      acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m1), _mm512_mul_ps(field(3), tk.d[1]), acc);
    }
  };
  int64_t g = 0;
  for (; 2 * g + 2 <= nb; ++g)
    group.template operator()<2>(g * kGroupBytes, g * kQ8KGroupBytes, tokens[g]);
  if (2 * g < nb) group.template operator()<1>(g * kGroupBytes, g * kQ8KGroupBytes, tokens[g]);
  _mm512_store_ps(out, acc);
}

void q4_K_prepare(const void* activation_row, int64_t n_in, void* gemm_row) {
  q8_K_row_to_block_groups16(activation_row, gemm_row, n_in);
}

// over_blocks' tables and block for q45_K_block's blocks of R rows, their tables in tokens.
template <typename Block, int R>
auto q45_K_shape(const GemmProblem& p, std::vector<Q4KTokens>& tokens) {
  constexpr int T = 16 / R;
  const int64_t nb = p.n_in / kQK_K;
  tokens.resize(static_cast<size_t>((nb + 1) / 2));
  return std::pair{
      [&tokens, nb](const uint8_t* const(&a)[T]) {
        for (int64_t g = 0; g < nb / 2; ++g) q4_K_tokens<R, 2>(a, g * kQ8KGroupBytes, tokens[g]);
        if (nb % 2 != 0) q4_K_tokens<R, 1>(a, nb / 2 * kQ8KGroupBytes, tokens[nb / 2]);
      },
      [&tokens, nb](const uint8_t* const(&w)[R], const uint8_t* const(&a)[T], int n,
                    const uint8_t* ahead, float(&out)[16]) {
        own_tokens<T>(
            n, [&]<int N>() { q45_K_block<Block, R, N>(w, a, nb, ahead, tokens.data(), out); });
      }};
}

template <typename Block, int R>
constexpr auto q45_K_blocks = shaped_blocks<R, Q4KTokens, q45_K_shape<Block, R>>;
// Blocks of R x 16 / R, a call's last 1 or 2 tokens in blocks of 8 x 2.
template <typename Block, int R>
constexpr auto q45_K_blocks_tail =
    shaped_blocks_with_tail<R, Q4KTokens, q45_K_shape<Block, R>, q45_K_shape<Block, 8>>;

// ---- Q6_K, Q3_K, Q2_K --------------------------------------------------------------------------
// Rows as dot_k16_groups16 (vec_dot_groups16_x86.h) reads them: a group per super-block, lane l
// = sub-block l of 16 elements; activation rows from q8_K_row_to_q6_K_groups16.

struct Q6KTokens {
  __m512i bias[4];  // lane l: -offset (Q6_K 32, Q3_K 4) times token t's sum over sub-block l
  __m512 d;         // lane i: d of token i / R
};

// kShift: log2 of the offset.
template <int R, int kShift>
void k16_tokens(const uint8_t* const (&a)[16 / R], int64_t at, Q6KTokens& out) {
  constexpr int T = 16 / R;
  float d[4] = {};
  for (int t = 0; t < T; ++t) {
    const auto& act = *reinterpret_cast<const BlockQ8_K*>(a[t] + at);
    out.bias[t] =
        _mm512_sub_epi32(_mm512_setzero_si512(),
                         _mm512_slli_epi32(_mm512_cvtepi16_epi32(load256(act.bsums)), kShift));
    d[t] = act.d;
  }
  out.d = _mm512_permutexvar_ps(index(kTokenOne<R>), _mm512_castps128_ps512(_mm_loadu_ps(d)));
}

// What a Q2_K super-block needs of a block's tokens: its quants have no offset (no bias), its
// mins meet the tokens' sub-block sums.
struct Q2KTokens {
  __m512i bsums[8];  // lane i: dword p of the int16 sub-block sums of token i / R
  __m512 d;          // lane i: d of token i / R
};

template <int R>
void q2_K_tokens(const uint8_t* const (&a)[16 / R], int64_t at, Q2KTokens& out) {
  constexpr int T = 16 / R;
  // Tokens 0..3, those past T repeating the last (no lane reads them).
  __m256i bsums[4];
  float d[4];
  for (int t = 0; t < 4; ++t) {
    const auto& act = *reinterpret_cast<const BlockQ8_K*>(a[std::min(t, T - 1)] + at);
    bsums[t] = load256(act.bsums);
    d[t] = act.d;
  }
  by_token_dword<R>(bsums, out.bsums);
  out.d = _mm512_permutexvar_ps(index(kTokenOne<R>), _mm512_castps128_ps512(_mm_loadu_ps(d)));
}

// The 16 outputs of R rows w and 16 / R tokens a (lane i: row i % R, token i / R) over nb
// super-blocks of Block: Q6_K, Q3_K (Tokens: Q6KTokens), or Q2_K (Q2KTokens), whose mins add
// M per pair as Q4_K's do (vpdpwssd of the rows' mins and the tokens' sub-block sums, 2
// sub-blocks a lane), no reduction needed. Of the tokens, the first N are the block's own, as in
// q45_K_block.
template <typename Block, int R, int N, typename Tokens>
void k16_block(const uint8_t* const (&w)[R], const uint8_t* const (&a)[16 / R], int64_t nb,
               const uint8_t* ahead, const Tokens* tokens, float (&out)[16]) {
  constexpr int T = 16 / R;
  constexpr bool kQ6 = std::is_same_v<Block, BlockQ6_K>;
  constexpr bool kMins = std::is_same_v<Block, BlockQ2_K>;
  const __m512i nibble = in_register(_mm512_set1_epi8(0x0F));
  const __m512i pairs02 = in_register(_mm512_set1_epi8(0x33));
  const __m512i pairs13 = in_register(_mm512_set1_epi8(static_cast<char>(0xCC)));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t at_w = b * static_cast<int64_t>(sizeof(Block));
    const int64_t at_a = b * static_cast<int64_t>(sizeof(BlockQ8_K));
    const Tokens& tk = tokens[b];
    // The next rows, as far into them as this group is into these (4 tokens from DRAM: Qwen2.5-
    // 1.5B Q4_K_M at 4 streams 70 -> 54 ms a step against 3 KiB ahead in each row).
    if (ahead != nullptr) prefetch_rows(ahead + R * at_w, R * sizeof(Block));
    // Each sub-block's exact sum of (quant - offset) times activation, per row and token.
    __m512i sums[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        if constexpr (kMins)
          sums[r][t] = _mm512_setzero_si512();
        else
          sums[r][t] = tk.bias[t];
      }
    }
    // A set of 4 rows at a time (8 rows' vectors and sums at once spill registers).
#pragma GCC unroll 2
    for (int s = 0; s < R / 4; ++s) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        __m512i act[N];
#pragma GCC unroll 4
        for (int t = 0; t < N; ++t)
          act[t] = load512(a[t] + at_a + offsetof(BlockQ8_K, qs) + 64 * k);
#pragma GCC unroll 4
        for (int r = 4 * s; r < 4 * s + 4; ++r) {
          // groups16::q6_K_quants', q2_K_quants' or q3_K_quants' u[k] of the row.
          const uint8_t* g = w[r] + at_w;
          __m512i u;
          if constexpr (kQ6) {
            const __m512i words = load512(g + 64 * (k / 2));
            const __m512i high = load512(g + 128);
            const __m512i low4 = k % 2 == 0 ? words : _mm512_srli_epi16(words, 4);
            __m512i high2;
            if (k == 0) high2 = _mm512_slli_epi16(_mm512_and_si512(high, pairs02), 4);
            if (k == 1) high2 = _mm512_slli_epi16(_mm512_and_si512(high, pairs13), 2);
            if (k == 2) high2 = _mm512_and_si512(high, pairs02);
            if (k == 3) high2 = _mm512_srli_epi16(_mm512_and_si512(high, pairs13), 2);
            u = groups16::select_bits(low4, high2, nibble);
          } else if constexpr (kMins) {
            u = _mm512_and_si512(_mm512_srli_epi16(load512(g + offsetof(Block, qs)), 2 * k),
                                 _mm512_set1_epi8(0x03));
          } else {
            // Bits 2 k, 2 k + 1 of the first 64 bytes under the third bit at bit 2.
            const __m512i third = _mm512_srlv_epi64(_mm512_broadcast_i64x4(load256(g + 64)),
                                                    _mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1));
            __m512i third_at;
            if (k == 0) third_at = _mm512_slli_epi16(third, 2);
            if (k == 1) third_at = third;
            if (k == 2) third_at = _mm512_srli_epi16(third, 2);
            if (k == 3) third_at = _mm512_srli_epi16(third, 4);
            u = _mm512_ternarylogic_epi32(
                _mm512_and_si512(_mm512_srli_epi16(load512(g), 2 * k), _mm512_set1_epi8(0x03)),
                third_at, _mm512_set1_epi8(0x04), 0xF8);
          }
#pragma GCC unroll 4
          for (int t = 0; t < N; ++t) sums[r][t] = _mm512_dpbusd_epi32(sums[r][t], u, act[t]);
        }
      }
    }
    // S: per pair (row, token), the scales times the sums, the 16 lanes added.
    __m512i scales[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* packed = w[r] + at_w + offsetof(Block, scales);
      if constexpr (kMins)
        scales[r] = _mm512_and_si512(
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(packed))),
            _mm512_set1_epi32(0x0F));
      else
        scales[r] =
            _mm512_cvtepi8_epi32(kQ6 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed))
                                     : unpack_q3_k_scales_minus_32(packed));
    }
    __m512i pairs[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const int r = (2 * j) % R, t = (2 * j) / R;
      pairs[j] = pair_sums(_mm512_mullo_epi32(sums[r][t], scales[r]),
                           _mm512_mullo_epi32(sums[r + 1][t], scales[r + 1]));
    }
    __m512i first, second;
    half_sums16(pairs, first, second);
    // The f32 steps of dot_k16_groups16: acc += S d d_a (Q2_K: then acc -= M dmin d_a).
    // The rows' f16 fields are put together in a register: written to memory one by one and read
    // back as a vector, the read waited for the writes (no store forwarding from several stores;
    // kernels_bench Batch(4|16)/4864x896, in cache, GMAC/s: Q2_K 89-91 -> 98-100, Q3_K 88-89 ->
    // 93-98, Q6_K 94-99 -> 92-105).
    auto per_row = [&](size_t field) {
      auto f = [&](int r) {
        uint16_t h = 0;
        if (r < R) std::memcpy(&h, w[r] + at_w + field, 2);
        return static_cast<short>(h);
      };
      return _mm512_permutexvar_ps(
          index(kRowOne<R>), _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_setr_epi16(
                                 f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7)))));
    };
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(first, second)),
                          _mm512_mul_ps(per_row(offsetof(Block, d)), tk.d), acc);
    if constexpr (kMins) {
      // M: per pair, the row's mins (high nibbles of its scale bytes) times the token's
      // sub-block sums; the mins as int16 per set of 4 rows, rows 0, 1 and 2, 3.
      auto mins = [&](int r) {
        const __m128i packed = _mm_loadu_si128(
            reinterpret_cast<const __m128i*>(w[r] + at_w + offsetof(Block, scales)));
        return _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
      };
      __m512i mins01[R / 4], mins23[R / 4];
      for (int s = 0; s < R / 4; ++s) {
        mins01[s] = _mm512_inserti64x4(_mm512_castsi256_si512(mins(4 * s)), mins(4 * s + 1), 1);
        mins23[s] = _mm512_inserti64x4(_mm512_castsi256_si512(mins(4 * s + 2)), mins(4 * s + 3), 1);
      }
      __m512i m = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int p = 0; p < 8; ++p)
        m = _mm512_dpwssd_epi32(m, row_dwords<R>(mins01, mins23, p), tk.bsums[p]);
      acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m),
                             _mm512_mul_ps(per_row(offsetof(BlockQ2_K, dmin)), tk.d), acc);
    }
  }
  _mm512_store_ps(out, acc);
}

void q6_K_prepare(const void* activation_row, int64_t n_in, void* gemm_row) {
  q8_K_row_to_q6_K_groups16(activation_row, gemm_row, n_in);
}

template <typename Block>
using K16Tokens = std::conditional_t<std::is_same_v<Block, BlockQ2_K>, Q2KTokens, Q6KTokens>;

// over_blocks' tables and block for k16_block's blocks of R rows, their tables in tokens.
template <typename Block, int R>
auto k16_shape(const GemmProblem& p, std::vector<K16Tokens<Block>>& tokens) {
  constexpr int T = 16 / R;
  constexpr bool kMins = std::is_same_v<Block, BlockQ2_K>;
  const int64_t nb = p.n_in / kQK_K;
  tokens.resize(static_cast<size_t>(nb));
  return std::pair{
      [&tokens, nb](const uint8_t* const(&a)[T]) {
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t at = b * static_cast<int64_t>(sizeof(BlockQ8_K));
          if constexpr (kMins)
            q2_K_tokens<R>(a, at, tokens[b]);
          else
            k16_tokens<R, std::is_same_v<Block, BlockQ6_K> ? 5 : 2>(a, at, tokens[b]);
        }
      },
      [&tokens, nb](const uint8_t* const(&w)[R], const uint8_t* const(&a)[T], int n,
                    const uint8_t* ahead, float(&out)[16]) {
        own_tokens<T>(
            n, [&]<int N>() { k16_block<Block, R, N>(w, a, nb, ahead, tokens.data(), out); });
      }};
}

template <typename Block, int R>
constexpr auto k16_blocks = shaped_blocks<R, K16Tokens<Block>, k16_shape<Block, R>>;
// Blocks of 4 x 4, a call's last 1 or 2 tokens in blocks of 8 x 2.
template <typename Block>
constexpr auto k16_blocks_tail =
    shaped_blocks_with_tail<4, K16Tokens<Block>, k16_shape<Block, 4>, k16_shape<Block, 8>>;

// The K-quants' products: calls of 2 tokens in blocks of 8 rows x 2 tokens (kEight), the others
// in blocks of 4 x 4 (kFour), which would repeat 2 of the 2 tokens. kernels_bench
// StreamedBatch2, one process, GMAC/s 4 x 4 -> 8 x 2: Q4_K 100-116 -> 122-148, Q5_K 67-72 ->
// 90-93, Q6_K 72-84 -> 97-122, Q3_K 85-91 -> 106-124 (bench/RESULTS.md, "Session of 2026-12-06,
// fourth"; Q2_K, which had only the packs' kernels from 12 tokens and the decode product below,
// StreamedBatch2-16 87-139 -> 134-177). Calls of 4 n + 1 or 4 n + 2 tokens whose type has the
// bit 1 << (n_tokens % 4) in kTails run their last 1 or 2 tokens in blocks of 8 x 2 over the same
// tiles (kFourTail): half the 4 x 4 blocks' epilogue per row at 1 token, the 8 x 2 blocks' lead at
// 2. kernels_bench Batch (4864x896 / 896x4864, in cache) and Streamed (8960x1536 / 1536x8960,
// from DRAM), one process, GMAC/s 4 x 4 -> with the tail (bench/RESULTS.md, "Session of
// 2026-12-06, sixth"): Q6_K at 5 tokens 81 / 86 / 128 / 125 -> 86 / 95 / 143 / 143, at 6 91 / 94
// / 152 / 157 -> 102 / 113 / 176 / 175; Q3_K at 5 73 / 77 / 128 / 125 -> 79 / 82 / 147 / 143, at
// 6 84 / 84 / 157 / 142 -> 94 / 98 / 170 / 162; Q4_K at 6 112 / 91 / 210 / 200 -> 118 / 101 / 224
// / 220, at 10 +2-6%, at 5 and 9 -4% to +4% (no tail of 1); Q2_K -12% to +18% (no tail).
constexpr int kTailOf1 = 1 << 1, kTailOf2 = 1 << 2;
template <auto kFour, auto kEight, auto kFourTail, int kTails>
void k_quant_multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  if (p.n_tokens == 2) return kEight(p, row_begin, row_end);
  if (p.n_tokens > 4 && (kTails >> (p.n_tokens % 4) & 1) != 0)
    return kFourTail(p, row_begin, row_end);
  kFour(p, row_begin, row_end);
}

// Q4_K and Q5_K: k_quant_multiply's blocks (Q4_K's last 2 tokens of a call in blocks of 8 x 2),
// but Q5_K from 5 tokens on in blocks of 2 rows x 8
// tokens, each row's quants and fifth bits decoded once for 8 tokens instead of 4. kernels_bench,
// one process, GMAC/s 4 x 4 -> 2 x 8 (bench/RESULTS.md, "Session of 2026-12-06, sixth"): Q5_K in
// cache (Batch, 4864x896 / 896x4864, one thread) at 5 tokens 67.5 / 63.8 -> 81.1 / 74.7, 8 81 /
// 82 -> 92 / 97, 16 82 / 81 -> 92-93 / 98-99, 9 and 12 (a last block of 1 or 4) even to +7%; from
// DRAM (Streamed, 8960x1536 / 1536x8960, 2 threads) 5 tokens 130 / 129 -> 151 / 151, 13 135 / 152
// -> 172 / 163, 16 159 / 167 -> 182 / 187; at 3 and 4 tokens 4 x 4 leads (Batch3 83 / 76 against
// 67 / 55). Q4_K's 2 x 8 lost everywhere (Batch8 126 / 105 -> 99 / 106, Streamed8 234 -> 169-178):
// its nibbles cost less to decode than 8 tokens' activations cost to load twice as often. Q5_K's
// calls of 8 n + 1 and 8 n + 2 tokens (n >= 1) run their last tokens in blocks of 8 x 2 over the
// same tiles (as k_quant_multiply's tails): Batch / Streamed at 9 tokens 78 / 77 / 142 / 146 ->
// 81 / 81 / 149 / 148, at 10 82 / 79 / 152 / 152 -> 89 / 89 / 156 / 173, at 17 and 18 +1-8%.
template <typename Block>
void q45_K_multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  if constexpr (std::is_same_v<Block, BlockQ5_K>) {
    if (p.n_tokens > 8 && p.n_tokens % 8 != 0 && p.n_tokens % 8 <= 2)
      return q45_K_blocks_tail<Block, 2>(p, row_begin, row_end);
    if (p.n_tokens >= 5) return q45_K_blocks<Block, 2>(p, row_begin, row_end);
  }
  k_quant_multiply<q45_K_blocks<Block, 4>, q45_K_blocks<Block, 8>, q45_K_blocks_tail<Block, 4>,
                   kTailOf2>(p, row_begin, row_end);
}

// ---- Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1 -----------------------------------------------------
// Rows as dot_q8_0_groups16 (vec_dot_avx512.cpp) and dot_nibbles_groups16 (vec_dot_groups16_x86.h)
// read them: groups of 16 blocks (the last of nb % 16), lane l = block l, its f16 d first; Q8_0's
// 8 quant words + 128, the nibble types' 4 words of two nibbles (element 4 k + j low, 16 + 4 k +
// j high; Q5_0's and Q5_1's fifth bits in a field of their own, IQ4_NL's nibbles indices of
// levels + 128; Q4_1's and Q5_1's f16 m in a field of their own, their quants without offset);
// activation rows from q8_0_row_to_block_groups16 (Q4_1, Q5_1: q8_1_row_to_block_groups16, with
// the blocks' s = d times their sum). The f32 steps go lane by lane over the whole
// row (16 partial sums per row and token, added at the end), so a block of 2 rows x 4 tokens
// keeps its 8 partial sums and 8 integer sums in registers. legacy_block<Block, T> runs the
// first T of the 4 tokens a (the others repeat the last): a call's last block of tokens costs
// its own tokens, not 4 (kernels_bench StreamedBatch(3|5|6)/.*/(q8_0|q5_0), 2 threads, one
// process: 59-140 GMAC/s through blocks of 4 only, 79-170 thus; at 7 tokens even).
constexpr int kLegacyR = 2, kLegacyT = 4;

template <typename Block, int T>
void legacy_block(const uint8_t* const (&w)[kLegacyR], const uint8_t* const (&a)[kLegacyT],
                  int64_t n, const uint8_t* ahead, float (&out)[16]) {
  constexpr int R = kLegacyR;
  constexpr bool kQ8 = std::is_same_v<Block, BlockQ8_0>;
  constexpr bool kFifth = requires(const Block& b) { b.qh; };
  constexpr bool kMin = requires(const Block& b) { b.m; };
  constexpr bool kLevels = std::is_same_v<Block, BlockIQ4_NL>;
  // log2 of the offset the unsigned quants carry (128, 16, 128, 8); 0: none (Q4_1, Q5_1).
  constexpr int kShift = kMin ? 0 : kQ8 || kLevels ? 7 : kFifth ? 4 : 3;
  const int64_t nb = n / kQK;
  const Q8Row y[kLegacyT] = {Q8Row(a[0], n), Q8Row(a[1], n), Q8Row(a[2], n), Q8Row(a[3], n)};
  const __m512i low = in_register(_mm512_set1_epi8(0x0F));
  __m512 p[R][T];
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) p[r][t] = _mm512_setzero_ps();
  // The group of m blocks from block g0: lanes 0..m-1 (kFull: m = 16).
  auto group = [&]<bool kFull>(int64_t g0, int m, __mmask16 lanes) __attribute__((always_inline)) {
    auto load = [&](const void* at) {
      return kFull ? load512(at) : _mm512_maskz_loadu_epi32(lanes, at);
    };
    const int64_t at = g0 * static_cast<int64_t>(sizeof(Block));
    if (ahead != nullptr) prefetch_rows(ahead + R * at, R * m * sizeof(Block));
    // Each block's exact integer sum, from -offset times the activations' block sum.
    __m512i sums[R][T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m512i bias = kMin ? _mm512_setzero_si512()
                                : _mm512_sub_epi32(_mm512_setzero_si512(),
                                                   _mm512_slli_epi32(load(y[t].sum + g0), kShift));
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) sums[r][t] = bias;
    }
    // Weight vectors q[r] against activation word j of each token.
    auto add = [&](const __m512i(&q)[R], int j) __attribute__((always_inline)) {
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        const __m512i act = load(y[t].qs + g0 * kQK + 4 * m * j);
#pragma GCC unroll 2
        for (int r = 0; r < R; ++r) sums[r][t] = _mm512_dpbusd_epi32(sums[r][t], q[r], act);
      }
    };
    if constexpr (kQ8) {
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        __m512i q[R];
#pragma GCC unroll 2
        for (int r = 0; r < R; ++r) q[r] = load(w[r] + at + 2 * m + 4 * m * k);
        add(q, k);
      }
    } else {
      __m512i qh[R];
      if constexpr (kFifth)
#pragma GCC unroll 2
        for (int r = 0; r < R; ++r) qh[r] = load(w[r] + at + offsetof(Block, qh) * m);
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        __m512i lo[R], hi[R];
#pragma GCC unroll 2
        for (int r = 0; r < R; ++r) {
          const __m512i q = load(w[r] + at + offsetof(Block, qs) * m + 4 * m * k);
          lo[r] = _mm512_and_si512(q, low);
          hi[r] = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
          if constexpr (kFifth) add_fifth_bits(qh[r], k, lo[r], hi[r]);
          if constexpr (kLevels) {
            const __m512i levels = _mm512_broadcast_i32x4(
                _mm_add_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLLevels)),
                             _mm_set1_epi8(static_cast<char>(0x80))));
            lo[r] = _mm512_shuffle_epi8(levels, lo[r]);
            hi[r] = _mm512_shuffle_epi8(levels, hi[r]);
          }
        }
        add(lo, k);
        add(hi, 4 + k);
      }
    }
    // The decode products' f32 steps, lane by lane: p = fma(float(sum), d_w d_a, p), then for
    // Q4_1 / Q5_1 p = fma(m_w, s_a, p).
    auto halves = [&](const uint8_t* at_h) __attribute__((always_inline)) {
      return _mm512_cvtph_ps(kFull ? load256(at_h) : _mm256_maskz_loadu_epi16(lanes, at_h));
    };
    auto floats = [&](const float* at_f) __attribute__((always_inline)) {
      return kFull ? _mm512_loadu_ps(at_f) : _mm512_maskz_loadu_ps(lanes, at_f);
    };
    __m512 d_w[R], m_w[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      d_w[r] = halves(w[r] + at);
      if constexpr (kMin) m_w[r] = halves(w[r] + at + offsetof(Block, m) * m);
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m512 d_a = floats(y[t].d + g0);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r)
        p[r][t] = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(sums[r][t]), _mm512_mul_ps(d_w[r], d_a),
                                        p[r][t], lanes);
      if constexpr (kMin) {
        const __m512 s_a = floats(y[t].s + g0);
#pragma GCC unroll 2
        for (int r = 0; r < R; ++r) p[r][t] = _mm512_mask3_fmadd_ps(m_w[r], s_a, p[r][t], lanes);
      }
    }
  };
  int64_t g0 = 0;
  for (; g0 + 16 <= nb; g0 += 16) group.template operator()<true>(g0, 16, 0xFFFF);
  if (g0 < nb) {
    const int m = static_cast<int>(nb - g0);
    group.template operator()<false>(g0, m, static_cast<__mmask16>((1u << m) - 1));
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[t * R + r] = sum_partials16(p[r][t]);
}

template <typename Block>
void legacy_multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  over_blocks<kLegacyR, kLegacyT>(
      p, row_begin, row_end, [](const uint8_t* const(&)[kLegacyT]) {},
      [&](const uint8_t* const(&w)[kLegacyR], const uint8_t* const(&a)[kLegacyT], int n,
          const uint8_t* ahead, float(&out)[16]) {
        own_tokens<kLegacyT>(n, [&]<int N>() { legacy_block<Block, N>(w, a, p.n_in, ahead, out); });
      });
}

// in_place for the K-quants: Q4_K / Q5_K on q45_K_blocks (q45_K_multiply), Q6_K / Q3_K / Q2_K on
// k16_blocks in blocks of 4 x 4 or 8 x 2 (k_quant_multiply, with kTails), handing over at kShort /
// kLong tokens.
template <typename Block, int64_t kShort, int64_t kLong>
const GemmKernels* q45_K_in_place(uint32_t type_id) {
  return in_place<q8_K_gemm_row_bytes, q4_K_prepare, q45_K_multiply<Block>,
                  handover_tokens<kShort, kLong>, kMinTokens>(type_id);
}
template <typename Block, int64_t kShort, int64_t kLong, int kTails>
const GemmKernels* k16_in_place(uint32_t type_id) {
  return in_place<
      q8_K_gemm_row_bytes, q6_K_prepare,
      k_quant_multiply<k16_blocks<Block, 4>, k16_blocks<Block, 8>, k16_blocks_tail<Block>, kTails>,
      handover_tokens<kShort, kLong>, kMinTokens>(type_id);
}

}  // namespace

const GemmKernels* gemm_kernels_groups16_in_place(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return in_place<q8_0_gemm_row_bytes, q8_0_prepare, legacy_multiply<BlockQ8_0>,
                      handover_tokens<32, 64>, kMinTokens>(type_id);
    case GgmlType::Q4_0:
      return in_place<q8_0_gemm_row_bytes, q8_0_prepare, legacy_multiply<BlockQ4_0>,
                      handover_tokens<32, 48>, kMinTokens>(type_id);
    case GgmlType::Q5_0:
      return in_place<q8_0_gemm_row_bytes, q8_0_prepare, legacy_multiply<BlockQ5_0>,
                      handover_tokens<32, 40>, kMinTokens>(type_id);
    case GgmlType::IQ4_NL:
      return in_place<q8_0_gemm_row_bytes, q8_0_prepare, legacy_multiply<BlockIQ4_NL>,
                      handover_tokens<32, 40>, kMinTokens>(type_id);
    case GgmlType::Q4_1:
      return in_place<q8_1_gemm_row_bytes, q8_1_prepare, legacy_multiply<BlockQ4_1>,
                      handover_tokens<32, 64>, kMinTokens>(type_id);
    case GgmlType::Q5_1:
      return in_place<q8_1_gemm_row_bytes, q8_1_prepare, legacy_multiply<BlockQ5_1>,
                      handover_tokens<32, 48>, kMinTokens>(type_id);
    case GgmlType::Q4_K:
      return q45_K_in_place<BlockQ4_K, 64, 64>(type_id);
    case GgmlType::Q5_K:
      return q45_K_in_place<BlockQ5_K, 32, 40>(type_id);
    case GgmlType::Q6_K:
      return k16_in_place<BlockQ6_K, 32, 40, kTailOf1 | kTailOf2>(type_id);
    case GgmlType::Q3_K:
      return k16_in_place<BlockQ3_K, 32, 32, kTailOf1 | kTailOf2>(type_id);
    case GgmlType::Q2_K:
      return k16_in_place<BlockQ2_K, 32, 32, 0>(type_id);
    default:
      return nullptr;
  }
}

}  // namespace gengyun::kernels::avx512
