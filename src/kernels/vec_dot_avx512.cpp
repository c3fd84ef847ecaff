#define GENGYUN_X86_NS avx512

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels/row_groups16_x86.h"
#include "kernels/vec_dot_groups16_x86.h"
#include "kernels/vec_dot_simd.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::avx512 {

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

namespace {

// Q8_0 rows in WeightLayout::kBlockGroups16 against an activation row from
// q8_0_row_to_block_groups16: lane l of every vector meets block l of a group, so the exact
// integer sum of each block accumulates in its own lane (vpdpbusd of the quants + 128 with
// the activations, less 128 times the activations' block sum) and the f32 steps are those of
// dot_row above, lane for lane: the same bits as vec_dot_q8_0 on the ggml row.
float dot_q8_0_groups16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint8_t*>(w);
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  __m512 p = _mm512_setzero_ps();
  int64_t g0 = 0;
  for (; g0 + 16 <= nb; g0 += 16) {
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(BlockQ8_0));
    const int8_t* act = y.qs + g0 * kQK;
    prefetch_ahead(group, 16 * sizeof(BlockQ8_0));
    __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k)
      acc = _mm512_dpbusd_epi32(acc, load512(group + 32 + 64 * k), load512(act + 64 * k));
    acc = _mm512_sub_epi32(acc, _mm512_slli_epi32(load512(y.sum + g0), 7));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(load256(group)), _mm512_loadu_ps(y.d + g0));
    p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, p);
  }
  if (g0 < nb) {
    const int m = static_cast<int>(nb - g0);
    const auto lanes = static_cast<__mmask16>((1u << m) - 1);
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(BlockQ8_0));
    const int8_t* act = y.qs + g0 * kQK;
    __m512i acc = _mm512_setzero_si512();
    // Unrolled: a loop kept two register copies of acc per word.
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k)
      acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi32(lanes, group + 2 * m + 4 * m * k),
                                _mm512_maskz_loadu_epi32(lanes, act + 4 * m * k));
    acc = _mm512_sub_epi32(acc, _mm512_slli_epi32(_mm512_maskz_loadu_epi32(lanes, y.sum + g0), 7));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, group)),
                                       _mm512_maskz_loadu_ps(lanes, y.d + g0));
    p = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, p, lanes);
  }
  return sum_partials16(p);
}

// Q4_K and Q5_K rows (Block) in WeightLayout::kBlockGroups16 against an activation row from
// q8_K_row_to_block_groups16. Lane l of every vector meets sub-block l of a group (two
// super-blocks), so vpdpbusd accumulates each sub-block's exact integer sum in its own lane;
// times its scale (vpmulld) that is S per lane, and the mins times the activations' sub-block
// sums (vpmaddwd) M per lane. Lanes 0..7 add up to the first super-block's S and M, lanes 8..15
// to the second's, and the f32 steps are add_blocks', super-block by super-block: the same bits
// as vec_dot_q4_K / vec_dot_q5_K on the ggml rows. Q5_K's fifth bits come from each lane's
// 4-byte field as Q5_0's do (dot_nibbles_groups16: a byte shuffle and a bit test make the mask
// that adds 16). One row at a time: two rows at once, sharing the horizontal sums, streamed at
// half the speed on an AMD EPYC and no faster on the Intel Xeons (docs/kernels.md, "K-quant
// decode one row at a time at AVX-512").
template <typename Block>
float dot_q45_K_groups16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint8_t*>(w);
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  constexpr int64_t kGroupBytes = 2 * sizeof(Block);
  constexpr int64_t kActGroupBytes = 2 * sizeof(BlockQ8_K);
  const auto* y = static_cast<const uint8_t*>(a);
  const int64_t nb = n / kQK_K;
  const __m512i low = _mm512_set1_epi8(0x0F);
  // Q5_K: the fifth-bit tables of word k, half h (as dot_nibbles_groups16's) and 16.
  __m512i sixteen, fifth_index[4], fifth_bit[2];
  if constexpr (kFifth) {
    sixteen = in_register(_mm512_set1_epi8(0x10));
    for (int i = 0; i < 4; ++i)
      fifth_index[i] = in_register(_mm512_broadcast_i32x4(
          _mm_load_si128(reinterpret_cast<const __m128i*>(kFifthBits.index[4 * (i / 2) + i % 2]))));
    for (int i = 0; i < 2; ++i)
      fifth_bit[i] = in_register(_mm512_broadcast_i32x4(
          _mm_load_si128(reinterpret_cast<const __m128i*>(kFifthBits.bit[2 * i]))));
  }
  __m128 acc = _mm_setzero_ps();
  // One group of m (1 or 2) super-blocks, starting at byte `at` of each row.
  auto group = [&](int64_t at, const uint8_t* act, int m) __attribute__((always_inline)) {
    const int lanes = 8 * m;
    const auto mask = static_cast<__mmask16>((1u << lanes) - 1);
    auto load = [&](const void* p) {
      return m == 2 ? load512(p) : _mm512_maskz_loadu_epi32(mask, p);
    };
    const __m512i act_sums = load(act + (kQK_K + 4) * m);
    const uint8_t* g = x + at;
    // The group's first 32 bytes: d, dmin, then the packed scales of the (m) super-blocks at
    // byte 4 m (for m = 1, bytes of what follows, unused).
    const __m256i head = load256(g);
    // unpack_scales_mins_k4 on both super-blocks at once: u0, u1 of each super-block and u2
    // twice (shifted by 0 and 4), then the low 6 bits of u0, u1 (scales, mins 0..3) and the
    // high ones of 4..7, put in order: 8 scales of the first super-block, 8 of the second (for
    // m = 1, bytes that meet zero lanes).
    const __m128i u01 = _mm256_castsi256_si128(
        _mm256_permutexvar_epi32(_mm256_setr_epi32(m, m + 1, m + 3, m + 4, 0, 0, 0, 0), head));
    const __m128i u22 =
        _mm_srlv_epi32(_mm256_castsi256_si128(_mm256_permutexvar_epi32(
                           _mm256_setr_epi32(m + 2, m + 2, m + 5, m + 5, 0, 0, 0, 0), head)),
                       _mm_setr_epi32(0, 4, 0, 4));
    const __m128i low6 = _mm_and_si128(u01, _mm_set1_epi8(0x3F));
    // (u2 & 0x0F) | (u >> 2 & 0x30): bits 6-7 of u0 / u1 as bits 4-5.
    const __m128i high6 = _mm_ternarylogic_epi32(_mm_and_si128(u22, _mm_set1_epi8(0x0F)),
                                                 _mm_srli_epi32(u01, 2), _mm_set1_epi8(0x30), 0xF8);
    const __m128i first = _mm_unpacklo_epi32(low6, high6);   // scales, mins of the first
    const __m128i second = _mm_unpackhi_epi32(low6, high6);  // of the second
    const __m512i scales = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(first, second));
    const __m512i mins = _mm512_cvtepu8_epi32(_mm_unpackhi_epi64(first, second));
    const uint8_t* words = g + offsetof(Block, qs) * m;
    // Two accumulators (low and high nibbles) halve the chain of dependent vpdpbusd. Q4_K's
    // high nibbles go in as they lie (q & 0xF0, 16 times the quant: one instruction, not a
    // shift and a mask), and their exact sums are divided by 16 after.
    __m512i lo_sums = _mm512_setzero_si512(), hi_sums = _mm512_setzero_si512();
    __m512i qh;
    if constexpr (kFifth) qh = load(g + offsetof(Block, qh) * m);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m512i q = load(words + 4 * lanes * k);
      if constexpr (kFifth) {
        auto fifth = [&](int h) __attribute__((always_inline)) {
          return _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, fifth_index[2 * (k / 2) + h]),
                                       fifth_bit[k % 2]);
        };
        __m512i lo = _mm512_and_si512(q, low);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
        lo = _mm512_mask_add_epi8(lo, fifth(0), lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, fifth(1), hi, sixteen);
        lo_sums = _mm512_dpbusd_epi32(lo_sums, lo, load(act + 4 * lanes * k));
        hi_sums = _mm512_dpbusd_epi32(hi_sums, hi, load(act + 4 * lanes * (4 + k)));
      } else {
        lo_sums = _mm512_dpbusd_epi32(lo_sums, _mm512_and_si512(q, low), load(act + 4 * lanes * k));
        hi_sums = _mm512_dpbusd_epi32(hi_sums, _mm512_andnot_si512(low, q),
                                      load(act + 4 * lanes * (4 + k)));
      }
    }
    if constexpr (!kFifth) hi_sums = _mm512_srai_epi32(hi_sums, 4);
    const __m512i s = _mm512_mullo_epi32(_mm512_add_epi32(lo_sums, hi_sums), scales);
    const __m512i mb = _mm512_madd_epi16(mins, act_sums);
    // Per 128-bit lane, the partial totals S, M in lanes 0, 1; then the first super-block's
    // totals in 128-bit lane 0, the second's in lane 2.
    __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi32(s, mb), _mm512_unpackhi_epi32(s, mb));
    t = _mm512_add_epi32(t, _mm512_shuffle_epi32(t, _MM_PERM_BADC));
    t = _mm512_add_epi32(t, _mm512_shuffle_i32x4(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512 totals = _mm512_cvtepi32_ps(t);
    const auto* d_a = reinterpret_cast<const float*>(act + kQK_K * m);
    // The f16 d and dmin of super-block j (bytes 2 j and 2 (m + j)) in f32: lanes d, dmin.
    const __m128 f = _mm_cvtph_ps(_mm256_castsi256_si128(head));  // d0, d1, dmin0, dmin1
    const __m128 fields[2] = {m == 1 ? f : _mm_shuffle_ps(f, f, _MM_SHUFFLE(3, 1, 2, 0)),
                              _mm_shuffle_ps(f, f, _MM_SHUFFLE(3, 1, 3, 1))};
    for (int j = 0; j < m; ++j) {
      const __m128 scale = _mm_mul_ps(fields[j], _mm_set1_ps(d_a[j]));
      const __m128 total =
          j == 0 ? _mm512_castps512_ps128(totals) : _mm512_extractf32x4_ps(totals, 2);
      acc = _mm_fmadd_ss(total, scale, acc);
      acc = _mm_fnmadd_ss(_mm_movehdup_ps(total), _mm_movehdup_ps(scale), acc);
    }
  };
  int64_t g0 = 0;
  for (; g0 + 2 <= nb; g0 += 2) {
    const int64_t at = g0 / 2 * kGroupBytes;
    prefetch_ahead(x + at, kGroupBytes);
    group(at, y + g0 / 2 * kActGroupBytes, 2);
  }
  if (g0 < nb) group(g0 / 2 * kGroupBytes, y + g0 / 2 * kActGroupBytes, 1);
  return _mm_cvtss_f32(acc);
}

float dot_bf16_dpbf16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i),
                            (__m512bh)_mm512_loadu_si512(b + i));
    acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(a + i + 32),
                            (__m512bh)_mm512_loadu_si512(b + i + 32));
  }
  for (; i < n; i += 32) {
    const __mmask32 m = n - i >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << (n - i)) - 1);
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_maskz_loadu_epi16(m, a + i),
                            (__m512bh)_mm512_maskz_loadu_epi16(m, b + i));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace

void vec_dot_bf16_dpbf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                         const void* a, float* y) {
  rows<dot_bf16_dpbf16>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q8_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q8_0_groups16>(n, w, w_row_bytes, n_rows, a, y);
}

// How far ahead the kRowGroups16 decode products prefetch: 2 KiB. kernels_bench Streamed/ (Intel
// Xeon with AMX, 2 threads, Q8_0 rows of 896): 1, 2, 3 and 4 KiB ahead streamed at 0.94-0.96,
// 0.96-0.97, 0.93-0.95 and 0.83-0.88 of the read bandwidth (8 and 16 KiB: 0.85-0.87, none 0.87).
constexpr int64_t kRowGroupsPrefetchAheadBytes = 2048;

// Q8_0 rows in WeightLayout::kRowGroups16 against a Q8_0 activation row as it is, 16 rows at a
// time: lane r of every vector meets row r. Per block j, vpdpbusd of its 8 words of the 16 rows
// (signed in the layout, + 128 by an xor) with the activation word broadcast, less 128 times the
// activations' block sum, is each row's exact integer sum; then p[j % 16] = fma(float(I), d_w *
// d_a, p[j % 16]) lane for lane, the blocks of one partial sum after another as the layout holds
// them, and the pairwise sum of the 16 partial sums: dot_row's steps, the same bits as
// vec_dot_q8_0 on the ggml rows.
void vec_dot_q8_0_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* out) {
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t g = 0; g < n_rows; g += 16) {
    const uint8_t* group = static_cast<const uint8_t*>(w) + g * static_cast<int64_t>(w_row_bytes);
    const uint8_t* scales = group;
    const uint8_t* quants = group + 32 * nb;
    __m512 part[16];
    int64_t pos = 0;
    for (int p = 0; p < 16; ++p) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t j = p; j < nb; j += 16, ++pos) {
        const uint8_t* q = quants + 512 * pos;
        prefetch_ahead<kRowGroupsPrefetchAheadBytes>(q, 512);
        const int8_t* act = y.qs + kQK * j;
        __m512i sums = _mm512_set1_epi32(-128 * y.sum[j]);
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
          int32_t word;
          std::memcpy(&word, act + 4 * k, 4);
          sums = _mm512_dpbusd_epi32(sums, _mm512_xor_si512(load512(q + 64 * k), flip),
                                     _mm512_set1_epi32(word));
        }
        const __m512 scale =
            _mm512_mul_ps(_mm512_cvtph_ps(load256(scales + 32 * pos)), _mm512_set1_ps(y.d[j]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);
      }
      part[p] = acc;
    }
    for (int width = 8; width > 0; width /= 2)
      for (int i = 0; i < width; ++i) part[i] = _mm512_add_ps(part[i], part[i + width]);
    _mm512_storeu_ps(out + g, part[0]);
  }
}

namespace {

// Q4_0 and Q5_0 rows in WeightLayout::kRowGroups16 against a Q8_0 activation row as it is, 16
// rows at a time as vec_dot_q8_0_row_groups16: word k of a block's 16 rows holds, per lane, the
// low nibbles of elements 4k..4k+3 and the high nibbles of elements 16 + 4k..16 + 4k + 3 (Q5_0:
// 16 more where the lane's fifth-bit field says, as dot_nibbles_groups16 finds them), met by the
// activation words k and 4 + k broadcast; the unsigned quants leave 8 (Q4_0) or 16 (Q5_0) times
// the activations' block sum to subtract. Then dot_row's f32 steps per row and block: the same
// bits as vec_dot_q4_0 / vec_dot_q5_0 on the ggml rows. (The group loop is the Q8_0 kernel's;
// one template taking each kernel's block sums as a lambda streamed Q5_0 10% slower, tried.)
template <typename Block>
void dot_nibbles_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                              const void* a, float* out) {
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_0>;
  constexpr int kShift = kFifth ? 4 : 3;  // log2 of the quant offset
  constexpr int64_t kFields = offsetof(Block, qs);  // bytes of a block's fields: d (and qh)
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  const __m512i low = _mm512_set1_epi8(0x0F);
  const __m512i sixteen = _mm512_set1_epi8(0x10);
  __m512i fifth_index[4], fifth_bit[2];
  if constexpr (kFifth) {
    for (int i = 0; i < 4; ++i)
      fifth_index[i] = _mm512_broadcast_i32x4(_mm_load_si128(
          reinterpret_cast<const __m128i*>(kFifthBits.index[4 * (i / 2) + i % 2])));
    for (int i = 0; i < 2; ++i)
      fifth_bit[i] = _mm512_broadcast_i32x4(
          _mm_load_si128(reinterpret_cast<const __m128i*>(kFifthBits.bit[2 * i])));
  }
  for (int64_t g = 0; g < n_rows; g += 16) {
    const uint8_t* group = static_cast<const uint8_t*>(w) + g * static_cast<int64_t>(w_row_bytes);
    const uint8_t* fifth_fields = group + 32 * nb;
    const uint8_t* quants = group + 16 * kFields * nb;
    __m512 part[16];
    int64_t pos = 0;
    for (int p = 0; p < 16; ++p) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t j = p; j < nb; j += 16, ++pos) {
        const uint8_t* q = quants + 256 * pos;
        prefetch_ahead<kRowGroupsPrefetchAheadBytes>(q, 256);
        const int8_t* act = y.qs + kQK * j;
        __m512i qh = _mm512_setzero_si512();
        if constexpr (kFifth) qh = load512(fifth_fields + 64 * pos);
        __m512i sums = _mm512_set1_epi32(-(y.sum[j] * (1 << kShift)));
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const __m512i v = load512(q + 64 * k);
          __m512i lo = _mm512_and_si512(v, low);
          __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
          if constexpr (kFifth) {
            lo = _mm512_mask_add_epi8(
                lo,
                _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, fifth_index[2 * (k / 2)]),
                                      fifth_bit[k % 2]),
                lo, sixteen);
            hi = _mm512_mask_add_epi8(
                hi,
                _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, fifth_index[2 * (k / 2) + 1]),
                                      fifth_bit[k % 2]),
                hi, sixteen);
          }
          int32_t word_lo, word_hi;
          std::memcpy(&word_lo, act + 4 * k, 4);
          std::memcpy(&word_hi, act + 16 + 4 * k, 4);
          sums = _mm512_dpbusd_epi32(sums, lo, _mm512_set1_epi32(word_lo));
          sums = _mm512_dpbusd_epi32(sums, hi, _mm512_set1_epi32(word_hi));
        }
        const __m512 scale =
            _mm512_mul_ps(_mm512_cvtph_ps(load256(group + 32 * pos)), _mm512_set1_ps(y.d[j]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);
      }
      part[p] = acc;
    }
    for (int width = 8; width > 0; width /= 2)
      for (int i = 0; i < width; ++i) part[i] = _mm512_add_ps(part[i], part[i + width]);
    _mm512_storeu_ps(out + g, part[0]);
  }
}

}  // namespace

// How far ahead vec_dot_q4_K_row_groups16 asks for a super-block's 2304 bytes (36 lines at the
// top of each): 512 bytes. kernels_bench Streamed/(4864x896|8960x1536)/q4_K_row_groups16 (Intel
// Xeon with AMX, 2 threads), alternating, of the read bandwidth: none 0.78-0.82; the lines it is
// about to read 0.83-0.88; 256 bytes 0.86-0.90, 512 0.87-0.89, 768 0.84-0.88, 1 KiB 0.82-0.85,
// 2 KiB (the 32-element types' distance) 0.79-0.84, 4-16 KiB 0.69-0.74.
constexpr int64_t kQ4KRowGroupsPrefetchAheadBytes = 512;

namespace {

// Q4_K and Q5_K rows (Block) in WeightLayout::kRowGroups16 against a Q8_K activation row as it
// is, 16 rows at a time, lane r of every vector meeting row r. Per super-block, each 64-byte word
// vector of quant word 8 c + k holds the 16 rows' nibbles of elements 64 c + 4 k .. + 3 (low)
// and 64 c + 32 + 4 k .. + 3 (high), met by the activation words broadcast: Q4_K's high nibbles
// go in in place (16 times the quant; the sum divided by 16 after, exactly), Q5_K's nibbles
// with their fifth bits from qh word k (bits 2 c and 2 c + 1 of its bytes moved to bit 4), and
// vpdpbusd gives each row's exact integer sum I_s of sub-blocks 2 c and 2 c + 1 in its lane;
// the 16 rows' 6-bit scales and mins are unpacked side by side (row_groups16::q4_K_scales_mins),
// S = sum_s scale_s I_s (vpmulld), M = sum_s min_s bsum_s (vpdpwssd of pairs), and the f32
// steps are add_blocks', super-block by super-block, row r in lane r: the same bits as
// vec_dot_q4_K / vec_dot_q5_K on the ggml rows.
template <typename Block>
void dot_q45_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                            const void* a, float* out) {
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  constexpr int64_t kSuperBytes = 16 * sizeof(Block);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i scale_of[4] = {row_groups16::dword_byte(0), row_groups16::dword_byte(1),
                               row_groups16::dword_byte(2), row_groups16::dword_byte(3)};
  const __m512i min_pair_of[2] = {row_groups16::dword_byte_pair(0),
                                  row_groups16::dword_byte_pair(1)};
  for (int64_t g = 0; g < n_rows; g += 16) {
    const uint8_t* group = static_cast<const uint8_t*>(w) + g * static_cast<int64_t>(w_row_bytes);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      const uint8_t* sb = group + kSuperBytes * i;
      prefetch_ahead<kQ4KRowGroupsPrefetchAheadBytes>(sb, kSuperBytes);
      const int8_t* act = y[i].qs;
      __m512i sums[8];
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
          int32_t word_lo, word_hi;
          std::memcpy(&word_lo, act + 64 * c + 4 * k, 4);
          std::memcpy(&word_hi, act + 64 * c + 32 + 4 * k, 4);
          __m512i q_lo, q_hi;
          if constexpr (kFifth) {
            row_groups16::q5_K_quants(sb, c, k, q_lo, q_hi);
          } else {  // Q4_K's quant word 8 c + k after d, dmin and the scales
            const __m512i v = load512(sb + 256 + 512 * c + 64 * k);
            q_lo = _mm512_and_si512(v, low4);
            q_hi = _mm512_andnot_si512(low4, v);
          }
          lo = _mm512_dpbusd_epi32(lo, q_lo, _mm512_set1_epi32(word_lo));
          hi = _mm512_dpbusd_epi32(hi, q_hi, _mm512_set1_epi32(word_hi));
        }
        sums[2 * c] = lo;
        sums[2 * c + 1] = kFifth ? hi : _mm512_srai_epi32(hi, 4);
      }
      const row_groups16::Q4KScalesMins f = row_groups16::q4_K_scales_mins(sb);
      __m512i total = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int s = 0; s < 8; ++s)
        total = _mm512_add_epi32(
            total,
            _mm512_mullo_epi32(sums[s], _mm512_shuffle_epi8(f.scales[s / 4], scale_of[s % 4])));
      // The activations' sums of sub-blocks 2 p and 2 p + 1 as int16 pairs (|sum| <= 32 * 128):
      // pairs 0, 1 in dwords 0, 1, pairs 2, 3 in dwords 4, 5.
      alignas(32) int32_t sum_pairs[8];
      const __m256i sub_sums =
          _mm256_madd_epi16(load256(y[i].bsums), _mm256_set1_epi16(1));  // 0..3 | 4..7
      _mm256_store_si256(reinterpret_cast<__m256i*>(sum_pairs),
                         _mm256_packs_epi32(sub_sums, sub_sums));
      __m512i mins = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p)
        mins = _mm512_dpwssd_epi32(mins, _mm512_shuffle_epi8(f.mins[p / 2], min_pair_of[p % 2]),
                                   _mm512_set1_epi32(sum_pairs[4 * (p / 2) + p % 2]));
      const __m512 d_a = _mm512_set1_ps(y[i].d);
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total),
                            _mm512_mul_ps(_mm512_cvtph_ps(load256(sb)), d_a), acc);
      acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins),
                             _mm512_mul_ps(_mm512_cvtph_ps(load256(sb + 32)), d_a), acc);
    }
    _mm512_storeu_ps(out + g, acc);
  }
}

}  // namespace

void vec_dot_q4_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y) {
  dot_q45_K_row_groups16<BlockQ4_K>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y) {
  dot_q45_K_row_groups16<BlockQ5_K>(n, w, w_row_bytes, n_rows, a, y);
}

// How far ahead vec_dot_q6_K_row_groups16 asks for a super-block's 52 lines, at its top: 1 KiB.
// kernels_bench Streamed/(4864x896|8960x1536)/q6_K_row_groups16 (2 threads), of the read
// bandwidth, alternating: none 0.63-0.66, the lines it is about to read 0.77-0.82, 256 bytes
// 0.76-0.83, 512 0.79-0.84, 1 KiB 0.83-0.89, 1.5 KiB 0.82-0.87, 2 KiB 0.82-0.87, 3 KiB 0.79-0.81.
constexpr int64_t kQ6KRowGroupsPrefetchAheadBytes = 1024;

// Q6_K rows in WeightLayout::kRowGroups16 against a Q8_K activation row as it is, 16 rows at a
// time, lane r of every vector meeting row r. Per half of a super-block, each of 8 runs of a
// word of ql, ql and qh gives 4 vectors of 6-bit quants u (row_groups16::q6_K_quants), each 4
// elements of one sub-block of 16 of every row, met by the activation word broadcast: 4
// vpdpbusd per sub-block from -32 times its activation sum give each row's exact sum of (u - 32)
// a in its lane; times the row's scale (the int8 sign-extended, vpmulld) and added up, S; then
// acc = fma(float(S), d_w * d_a, acc) super-block by super-block, row r in lane r: the same bits
// as vec_dot_q6_K on the ggml rows.
void vec_dot_q6_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* out) {
  constexpr int64_t kSuperBytes = 16 * offsetof(BlockQ6_K, d);  // the 52 word vectors
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const int64_t nb = n / kQK_K;
  const __m512i scale_of[4] = {row_groups16::dword_top_byte(0), row_groups16::dword_top_byte(1),
                               row_groups16::dword_top_byte(2), row_groups16::dword_top_byte(3)};
  for (int64_t g = 0; g < n_rows; g += 16) {
    const uint8_t* group = static_cast<const uint8_t*>(w) + g * static_cast<int64_t>(w_row_bytes);
    const uint8_t* d_w = group + kSuperBytes * nb;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      const uint8_t* sb = group + kSuperBytes * i;
      prefetch_ahead<kQ6KRowGroupsPrefetchAheadBytes>(sb, kSuperBytes);
      const int8_t* act = y[i].qs;
      __m512i total = _mm512_setzero_si512();
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        // Sub-block 8 h + s: s = 2 q + j / 4.
        __m512i sums[8];
#pragma GCC unroll 8
        for (int s = 0; s < 8; ++s) sums[s] = _mm512_set1_epi32(-32 * y[i].bsums[8 * h + s]);
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          __m512i u[4];
          row_groups16::q6_K_quants(sb, h, j, u);
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q) {
            int32_t word;
            std::memcpy(&word, act + 128 * h + 32 * q + 4 * j, 4);
            sums[2 * q + j / 4] =
                _mm512_dpbusd_epi32(sums[2 * q + j / 4], u[q], _mm512_set1_epi32(word));
          }
        }
        // The scales of sub-blocks 8 h .. 8 h + 7: words 48 + 2 h and 49 + 2 h of the rows.
        const __m512i scales[2] = {load512(sb + 64 * (48 + 2 * h)),
                                   load512(sb + 64 * (49 + 2 * h))};
#pragma GCC unroll 8
        for (int s = 0; s < 8; ++s)
          total = _mm512_add_epi32(
              total, _mm512_mullo_epi32(
                         sums[s], _mm512_srai_epi32(
                                      _mm512_shuffle_epi8(scales[s / 4], scale_of[s % 4]), 24)));
      }
      acc = _mm512_fmadd_ps(
          _mm512_cvtepi32_ps(total),
          _mm512_mul_ps(_mm512_cvtph_ps(load256(d_w + 32 * i)), _mm512_set1_ps(y[i].d)), acc);
    }
    _mm512_storeu_ps(out + g, acc);
  }
}

void vec_dot_q4_0_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y) {
  dot_nibbles_row_groups16<BlockQ4_0>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_0_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y) {
  dot_nibbles_row_groups16<BlockQ5_0>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  dot_nibbles_groups16<BlockQ4_0, false>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  dot_nibbles_groups16<BlockQ5_0, false>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  dot_nibbles_groups16<BlockQ4_1, false>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  dot_nibbles_groups16<BlockQ5_1, false>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_iq4_nl_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                             const void* a, float* y) {
  dot_nibbles_groups16<BlockIQ4_NL, false>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q4_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q45_K_groups16<BlockQ4_K>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q45_K_groups16<BlockQ5_K>>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q6_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ6_K, false>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q3_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ3_K, false>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q2_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ2_K, false>>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::avx512
