// The decode products of the nibble types (Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL) and of Q6_K, Q3_K and
// Q2_K on rows in WeightLayout::kBlockGroups16, written once and compiled up to three times: by
// vec_dot_avx512.cpp (the kAvx512 level: F, BW, VL, DQ, VNNI), by vec_dot_avx512_vbmi.cpp (the
// same plus AVX512-VBMI, for IQ4_NL where the CPU has it) and by vec_dot_avx512_gfni.cpp (the
// same plus GFNI, for Q3_K and Q2_K where the CPU has it). All give the same bits.
//
// Include only after vec_dot_x86.h, from a file compiled with at least the kAvx512 flags (and
// -mavx512vbmi to instantiate kVbmi = true, -mgfni for kGfni = true): everything here has
// internal linkage inside gengyun::kernels::GENGYUN_X86_NS, as in vec_dot_x86.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/block_groups16_x86.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::GENGYUN_X86_NS {
namespace {

// The 64-byte vpermb table (VBMI; vpermb reads index bits 0-5): IQ4_NL's level + 128 of nibble
// i & 15 (bits 4-5 anything).
struct PermuteTable {
  alignas(64) uint8_t levels[64];
};
constexpr PermuteTable make_permute_table() {
  PermuteTable t{};
  for (int i = 0; i < 64; ++i) t.levels[i] = static_cast<uint8_t>(kIQ4NLLevels[i & 15] + 128);
  return t;
}
constexpr PermuteTable kPermuteTable = make_permute_table();

// The nibble types' rows in WeightLayout::kBlockGroups16 (Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL), as
// dot_q8_0_groups16 (vec_dot_avx512.cpp): word k of a group's quants holds, per lane, the low
// nibbles of elements 4k..4k+3 and the high nibbles of elements 16 + 4k..16 + 4k + 3, met by
// activation words k and 4 + k. n_rows rows of n elements, w_row_bytes apart, each against the
// activation row a (out[r]: row r).
// Without VBMI, Q5_0's and Q5_1's fifth bits come from each lane's 4-byte field: a byte shuffle
// puts the byte holding an element's bit under it and a bit test against a per-byte pattern
// makes the mask that adds 16; IQ4_NL's nibbles (masked to bits 0-3) pick their level + 128
// (1..241) from a 16-byte table with a byte shuffle; with VBMI (kVbmi, IQ4_NL only) it takes
// them by vpermb of the unmasked nibble bytes from a 64-byte table, the same bytes. (A VBMI
// variant of Q5_0 and Q5_1, vpmultishiftqb and a bit select joining the fifth bit, was timed
// slower and removed: docs/kernels.md.)
// The unsigned quants leave 8 (Q4_0), 16 (Q5_0) or 128 (IQ4_NL) times the activations' block
// sum to subtract; Q4_1 and Q5_1 have no offset and add fma(m_w, s_a) per block after fma(I,
// d_w d_a), as dot_row does. Q4_0 and Q4_1 take the high nibbles as they lie (q & 0xF0, 16 times
// the quant) into an accumulator of their own, whose exact sums are then divided by 16 (an
// arithmetic shift): one instruction per word instead of a shift and a mask; Q5_0 and Q5_1 (the
// fifth bit, 16 more) and IQ4_NL (the nibble is a table index) need them at bits 0-3.
template <typename Block, bool kVbmi>
void dot_nibbles_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                          const void* a, float* out) {
  constexpr bool kFifth = requires(const Block& b) { b.qh; };
  constexpr bool kMin = requires(const Block& b) { b.m; };
  constexpr bool kLevels = std::is_same_v<Block, BlockIQ4_NL>;
  constexpr bool kHighInPlace = !kFifth && !kLevels;
  static_assert(!kVbmi || kLevels, "the VBMI variant serves IQ4_NL");
  // log2 of the quant offset (8, 16, 128); 0: none.
  constexpr int kShift = kLevels ? 7 : kMin ? 0 : kFifth ? 4 : 3;
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  // The constants, made once and pinned in registers. Without VBMI: the fifth-bit tables of
  // word k, half h (kFifthBits.index[2 k + h] depends on k / 2 and h, kFifthBits.bit[2 k + h]
  // on k % 2 only) and the 16-byte level table; with VBMI: the 64-byte vpermb table.
  const __m512i low = in_register(_mm512_set1_epi8(0x0F));
  __m512i sixteen, levels, fifth_index[4], fifth_bit[2], table;
  if constexpr (!kVbmi) {
    if constexpr (kFifth) {
      sixteen = in_register(_mm512_set1_epi8(0x10));
      for (int i = 0; i < 4; ++i)
        fifth_index[i] = in_register(_mm512_broadcast_i32x4(_mm_load_si128(
            reinterpret_cast<const __m128i*>(kFifthBits.index[4 * (i / 2) + i % 2]))));
      for (int i = 0; i < 2; ++i)
        fifth_bit[i] = in_register(_mm512_broadcast_i32x4(
            _mm_load_si128(reinterpret_cast<const __m128i*>(kFifthBits.bit[2 * i]))));
    }
    if constexpr (kLevels)
      levels = in_register(_mm512_broadcast_i32x4(
          _mm_add_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLLevels)),
                       _mm_set1_epi8(static_cast<char>(0x80)))));
  } else {
    table = in_register(_mm512_load_si512(kPermuteTable.levels));
  }
  // Without VBMI: the bytes of word k, half h whose element has its fifth bit set.
  auto fifth = [&](__m512i qh, int k, int h) __attribute__((always_inline)) {
    return _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, fifth_index[2 * (k / 2) + h]),
                                 fifth_bit[k % 2]);
  };
  // A group of m blocks (lanes: its blocks): its exact integer sums, then its f32 steps. kFull
  // (m = 16) reads whole vectors; a last partial group reads its m lanes with masked loads, so
  // that both are straight code with the constants above in registers.
  auto add_group = [&]<bool kFull>(__m512 p, const uint8_t* group, int64_t g0, int m,
                                   __mmask16 lanes) __attribute__((always_inline)) {
    auto load = [&](const void* at) __attribute__((always_inline)) {
      return kFull ? load512(at) : _mm512_maskz_loadu_epi32(lanes, at);
    };
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kFifth) qh = load(group + offsetof(Block, qh) * m);
    const uint8_t* words = group + offsetof(Block, qs) * m;
    const int8_t* act = y.qs + g0 * kQK;
    __m512i acc = _mm512_setzero_si512(), acc_high = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m512i q = load(words + 4 * m * k);
      if constexpr (kHighInPlace) {
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(q, low), load(act + 4 * m * k));
        acc_high =
            _mm512_dpbusd_epi32(acc_high, _mm512_andnot_si512(low, q), load(act + 4 * m * (4 + k)));
        continue;
      }
      if constexpr (kVbmi) {
        // vpermb reads index bits 0-5 only: the table drops bits 4-5.
        acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(q, table), load(act + 4 * m * k));
        acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(_mm512_srli_epi16(q, 4), table),
                                  load(act + 4 * m * (4 + k)));
        continue;
      }
      __m512i lo = _mm512_and_si512(q, low);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
      if constexpr (kFifth) {
        lo = _mm512_mask_add_epi8(lo, fifth(qh, k, 0), lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, fifth(qh, k, 1), hi, sixteen);
      }
      if constexpr (kLevels) {
        lo = _mm512_shuffle_epi8(levels, lo);
        hi = _mm512_shuffle_epi8(levels, hi);
      }
      acc = _mm512_dpbusd_epi32(acc, lo, load(act + 4 * m * k));
      acc = _mm512_dpbusd_epi32(acc, hi, load(act + 4 * m * (4 + k)));
    }
    if constexpr (kHighInPlace) acc = _mm512_add_epi32(acc, _mm512_srai_epi32(acc_high, 4));
    if constexpr (kShift != 0)
      acc = _mm512_sub_epi32(acc, _mm512_slli_epi32(load(y.sum + g0), kShift));
    auto halves = [&](const uint8_t* at) __attribute__((always_inline)) {
      return _mm512_cvtph_ps(kFull ? load256(at) : _mm256_maskz_loadu_epi16(lanes, at));
    };
    auto floats = [&](const float* at) __attribute__((always_inline)) {
      return kFull ? _mm512_loadu_ps(at) : _mm512_maskz_loadu_ps(lanes, at);
    };
    const __m512 scale = _mm512_mul_ps(halves(group), floats(y.d + g0));
    p = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, p, lanes);
    if constexpr (kMin)
      p = _mm512_mask3_fmadd_ps(halves(group + offsetof(Block, m) * m), floats(y.s + g0), p, lanes);
    return p;
  };
  const int m_last = static_cast<int>(nb % 16);
  const auto last_lanes = static_cast<__mmask16>((1u << m_last) - 1);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* x = static_cast<const uint8_t*>(w) + r * w_row_bytes;
    __m512 p = _mm512_setzero_ps();
    int64_t g0 = 0;
    for (; g0 + 16 <= nb; g0 += 16) {
      const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(Block));
      prefetch_ahead(group, 16 * sizeof(Block));
      p = add_group.template operator()<true>(p, group, g0, 16, 0xFFFF);
    }
    if (m_last != 0)
      p = add_group.template operator()<false>(p, x + g0 * static_cast<int64_t>(sizeof(Block)), g0,
                                               m_last, last_lanes);
    out[r] = sum_partials16(p);
  }
}

// unpack_q3_k_scales_minus_32 (vec_dot_x86.h) with GFNI, the same bytes: bytes 0..7 read into
// both halves, each half's matrix taking its nibble (low for scales 0..7, high for 8..15) to bits
// 0-3; the top 2 bits shifted into each dword's bits 0-1 as there, then to bits 4-5.
inline __m128i unpack_q3_k_scales_minus_32_gfni(const uint8_t packed[12]) {
  using avx512::groups16::affine_bit;
  constexpr long long kLowNibble =
      affine_bit(0, 0) | affine_bit(1, 1) | affine_bit(2, 2) | affine_bit(3, 3);
  constexpr long long kHighNibble =
      affine_bit(4, 0) | affine_bit(5, 1) | affine_bit(6, 2) | affine_bit(7, 3);
  const __m128i low_bytes =
      _mm_castpd_si128(_mm_loaddup_pd(reinterpret_cast<const double*>(packed)));
  const __m128i low4 =
      _mm_gf2p8affine_epi64_epi8(low_bytes, _mm_set_epi64x(kHighNibble, kLowNibble), 0);
  uint32_t high_bytes;
  std::memcpy(&high_bytes, packed + 8, 4);
  const __m128i spread =
      _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(high_bytes)), _mm_setr_epi32(0, 2, 4, 6));
  const __m128i high2 =
      _mm_gf2p8affine_epi64_epi8(spread, _mm_set1_epi64x(affine_bit(0, 4) | affine_bit(1, 5)), 0);
  return _mm_sub_epi8(_mm_or_si128(low4, high2), _mm_set1_epi8(32));
}

// Q6_K, Q3_K or Q2_K rows (Block) in WeightLayout::kBlockGroups16 against an activation row
// from q8_K_row_to_q6_K_groups16, super-blocks in pairs, one row at a time (as
// dot_q45_K_groups16). Lane l of every vector meets sub-block l: bit selects build 4 vectors of its
// unsigned quants u (groups16::q6_K_quants, 6 bits; q3_K_quants, 3 bits; q2_K_quants, 2 bits), 4
// vpdpbusd from -kOffset times the activations' bsum (Q6_K 32, Q3_K 4, Q2_K 0) give its exact sum
// of (u - kOffset) a, and vpmulld by its scale (Q6_K's int8, Q3_K's 6 bits less 32, Q2_K's low
// nibble) its share of S; Q2_K's share of M is its min (high nibble) times the bsum. The 16
// lanes add up to the super-block's S (and M), and the f32 steps are add_blocks', super-block
// by super-block: the same bits as vec_dot_q6_K / q3_K / q2_K on the ggml rows. Q2_K's S and M
// of a pair go through one reduction (totals). kGfni: Q3_K's and Q2_K's quants by GFNI
// (block_groups16_x86.h), and Q3_K's scales (unpack_q3_k_scales_minus_32_gfni): the same bytes.
template <typename Block, bool kGfni>
float dot_k16_groups16(int64_t n, const void* w, const void* a) {
  namespace groups16 = ::gengyun::kernels::avx512::groups16;
  static_assert(!kGfni || !std::is_same_v<Block, BlockQ6_K>, "the GFNI variants serve Q3_K, Q2_K");
  const auto* x = static_cast<const uint8_t*>(w);
  constexpr bool kQ6 = std::is_same_v<Block, BlockQ6_K>;
  constexpr bool kMins = std::is_same_v<Block, BlockQ2_K>;
  constexpr int kOffsetShift = kQ6 ? 5 : 2;  // log2 of the quants' offset (not Q2_K's)
  constexpr int64_t kBytes = sizeof(Block);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  // Q2_K's 16 bytes of scales (low nibbles) and mins (high ones) as int32 lanes.
  auto scales_mins = [](const uint8_t* g) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
  };
  // Lane l: scale_l * sum over sub-block l of (u - offset) a, for the group at g; `bias`: lane
  // l = -offset * bsum_l of the activations.
  auto lanes = [&](const uint8_t* g, const int8_t* act, __m512i bias)
      __attribute__((always_inline)) {
    __m512i u[4];
    if constexpr (kQ6)
      groups16::q6_K_quants(g, u);
    else if constexpr (kMins)
      groups16::q2_K_quants<kGfni>(g, u);
    else
      groups16::q3_K_quants<kGfni>(g, u);
    // Two accumulators halve the chain of dependent vpdpbusd.
    __m512i s01 = _mm512_dpbusd_epi32(bias, u[0], load512(act));
    __m512i s23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[2], load512(act + 128));
    s01 = _mm512_dpbusd_epi32(s01, u[1], load512(act + 64));
    s23 = _mm512_dpbusd_epi32(s23, u[3], load512(act + 192));
    const uint8_t* packed = g + offsetof(Block, scales);
    __m512i scales;
    if constexpr (kMins)
      scales = _mm512_and_si512(scales_mins(g), _mm512_set1_epi32(0x0F));
    else if constexpr (kQ6)
      scales = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(packed)));
    else if constexpr (kGfni)
      scales = _mm512_cvtepi8_epi32(unpack_q3_k_scales_minus_32_gfni(packed));
    else
      scales = _mm512_cvtepi8_epi32(unpack_q3_k_scales_minus_32(packed));
    return _mm512_mullo_epi32(_mm512_add_epi32(s01, s23), scales);
  };
  // Vectors a step, reduced together: S of super-blocks i and i + 1, and Q2_K's M of both.
  constexpr int kVectors = kMins ? 4 : 2;
  // v (16 int32 lanes each) to their totals as f32 in lanes 0 .. kVectors - 1: per 128-bit lane
  // first (the partial sums of all side by side), then the 4 128-bit lanes added.
  auto totals = [](const __m512i(&v)[kVectors]) __attribute__((always_inline)) {
    __m512i t =
        _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
    if constexpr (kVectors == 4) {
      const __m512i cd =
          _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
      t = _mm512_add_epi32(_mm512_unpacklo_epi64(t, cd), _mm512_unpackhi_epi64(t, cd));
    } else {
      t = _mm512_add_epi32(t, _mm512_shuffle_epi32(t, _MM_PERM_BADC));
    }
    const __m256i t256 =
        _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    return _mm_cvtepi32_ps(
        _mm_add_epi32(_mm256_castsi256_si128(t256), _mm256_extracti128_si256(t256, 1)));
  };
  __m128 acc = _mm_setzero_ps();
  // Super-blocks i .. i + m - 1 (m 1 or 2).
  auto pair = [&](int64_t i, int m) __attribute__((always_inline)) {
    // Unrolled so that v stays in registers; a lone super-block (m = 1) leaves its slots zero.
    __m512i v[kVectors];
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      const BlockQ8_K& act = y[i + std::min(j, m - 1)];
      const __m512i bsums = _mm512_cvtepi16_epi32(load256(act.bsums));
      const __m512i bias =
          kMins ? _mm512_setzero_si512()
                : _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bsums, kOffsetShift));
      const uint8_t* g = x + (i + j) * kBytes;
      v[j] = j < m ? lanes(g, act.qs, bias) : _mm512_setzero_si512();
      if constexpr (kMins)
        v[2 + j] = j < m ? _mm512_mullo_epi32(_mm512_srli_epi32(scales_mins(g), 4), bsums)
                         : _mm512_setzero_si512();
    }
    // S of super-block i + j in lane j (Q2_K: M in lane 2 + j).
    const __m128 s = totals(v);
    // The f16 field at `at` of super-block i + j (j < m), as an int16.
    auto field = [&](size_t at, int j) {
      uint16_t f = 0;
      if (j < m) std::memcpy(&f, x + (i + j) * kBytes + at, 2);
      return static_cast<short>(f);
    };
    auto d_a = [&](int j) { return j < m ? y[i + j].d : 0.0f; };
    // Per lane of `s`, its field (d, or Q2_K's dmin for M) times the activations' d.
    constexpr size_t kD = offsetof(Block, d);
    __m128 d;
    if constexpr (kMins) {
      constexpr size_t kDmin = offsetof(BlockQ2_K, dmin);
      d = _mm_mul_ps(_mm_cvtph_ps(_mm_setr_epi16(field(kD, 0), field(kD, 1), field(kDmin, 0),
                                                 field(kDmin, 1), 0, 0, 0, 0)),
                     _mm_setr_ps(d_a(0), d_a(1), d_a(0), d_a(1)));
    } else {
      d = _mm_mul_ps(_mm_cvtph_ps(_mm_setr_epi16(field(kD, 0), field(kD, 1), 0, 0, 0, 0, 0, 0)),
                     _mm_setr_ps(d_a(0), d_a(1), 0.0f, 0.0f));
    }
    // Super-block i, then i + 1: acc += S d (then acc -= M dmin).
    acc = _mm_fmadd_ss(s, d, acc);
    if constexpr (kMins) acc = _mm_fnmadd_ss(_mm_movehl_ps(s, s), _mm_movehl_ps(d, d), acc);
    if (m == 2) {
      acc = _mm_fmadd_ss(_mm_movehdup_ps(s), _mm_movehdup_ps(d), acc);
      if constexpr (kMins)
        acc = _mm_fnmadd_ss(_mm_shuffle_ps(s, s, 3), _mm_shuffle_ps(d, d, 3), acc);
    }
  };
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    prefetch_ahead(x + i * kBytes, 2 * kBytes);
    pair(i, 2);
  }
  if (i < nb) pair(i, 1);
  return _mm_cvtss_f32(acc);
}

}  // namespace
}  // namespace gengyun::kernels::GENGYUN_X86_NS
