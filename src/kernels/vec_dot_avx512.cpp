#define GENGYUN_X86_NS avx512
#include <type_traits>

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
    prefetch(group + 2 * 16 * sizeof(BlockQ8_0), 16 * sizeof(BlockQ8_0));
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

// Q4_0 (kFifth false) and Q5_0 rows in WeightLayout::kBlockGroups16, as dot_q8_0_groups16:
// word k of a group's quants holds, per lane, the low nibbles of elements 4k..4k+3 and the high
// nibbles of elements 16 + 4k..16 + 4k + 3, met by activation words k and 4 + k. Q5_0's fifth
// bits come from each lane's 4-byte field: a byte shuffle puts the byte holding an element's
// bit under it and a bit test against a per-byte pattern makes the mask that adds 16. The
// unsigned quants (0..15, 0..31) leave 8 (16) times the activations' block sum to subtract.
// Byte i of a 128-bit lane (block l = i / 4, byte b = i % 4 of a quant word) meets, in word k
// and nibble half h (0 low, 1 high), the element whose fifth bit is bit 4 (k % 2) + b of byte
// 2 h + k / 2 of its block's field: kFifthIndex[2 k + h] picks that byte (within the lane),
// kFifthBit[2 k + h] the bit.
struct FifthBitTables {
  alignas(16) int8_t index[8][16];
  alignas(16) int8_t bit[8][16];
};
constexpr FifthBitTables make_fifth_bit_tables() {
  FifthBitTables t{};
  for (int k = 0; k < 4; ++k)
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 16; ++i) {
        t.index[2 * k + h][i] = static_cast<int8_t>((i & ~3) + 2 * h + k / 2);
        t.bit[2 * k + h][i] = static_cast<int8_t>(1 << (4 * (k % 2) + (i & 3)));
      }
  return t;
}
constexpr FifthBitTables kFifthBits = make_fifth_bit_tables();

template <bool kFifth>
float dot_q4_5_0_groups16(int64_t n, const void* w, const void* a) {
  using Block = std::conditional_t<kFifth, BlockQ5_0, BlockQ4_0>;
  constexpr int kShift = kFifth ? 4 : 3;  // offset 16 or 8
  const auto* x = static_cast<const uint8_t*>(w);
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  const __m512i low = _mm512_set1_epi8(0x0F);
  auto fifth = [](__m512i qh, int k, int h) {
    const auto* index = reinterpret_cast<const __m128i*>(kFifthBits.index[2 * k + h]);
    const auto* bit = reinterpret_cast<const __m128i*>(kFifthBits.bit[2 * k + h]);
    return _mm512_test_epi8_mask(
        _mm512_shuffle_epi8(qh, _mm512_broadcast_i32x4(_mm_load_si128(index))),
        _mm512_broadcast_i32x4(_mm_load_si128(bit)));
  };
  auto group_sums = [&](const uint8_t* group, const int8_t* act, int m, __mmask16 lanes) {
    const bool full = m == 16;
    auto load = [&](const void* p) {
      return full ? load512(p) : _mm512_maskz_loadu_epi32(lanes, p);
    };
    const __m512i qh = kFifth ? load(group + 2 * m) : _mm512_setzero_si512();
    const uint8_t* words = group + (kFifth ? 6 : 2) * m;
    __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m512i q = load(words + 4 * m * k);
      __m512i lo = _mm512_and_si512(q, low);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
      if constexpr (kFifth) {
        lo = _mm512_mask_add_epi8(lo, fifth(qh, k, 0), lo, _mm512_set1_epi8(0x10));
        hi = _mm512_mask_add_epi8(hi, fifth(qh, k, 1), hi, _mm512_set1_epi8(0x10));
      }
      acc = _mm512_dpbusd_epi32(acc, lo, load(act + 4 * m * k));
      acc = _mm512_dpbusd_epi32(acc, hi, load(act + 4 * m * (4 + k)));
    }
    return acc;
  };
  __m512 p = _mm512_setzero_ps();
  int64_t g0 = 0;
  for (; g0 + 16 <= nb; g0 += 16) {
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(Block));
    prefetch(group + 2 * 16 * sizeof(Block), 16 * sizeof(Block));
    __m512i acc = group_sums(group, y.qs + g0 * kQK, 16, 0xFFFF);
    acc = _mm512_sub_epi32(acc, _mm512_slli_epi32(load512(y.sum + g0), kShift));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(load256(group)), _mm512_loadu_ps(y.d + g0));
    p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, p);
  }
  if (g0 < nb) {
    const int m = static_cast<int>(nb - g0);
    const auto lanes = static_cast<__mmask16>((1u << m) - 1);
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(Block));
    __m512i acc = group_sums(group, y.qs + g0 * kQK, m, lanes);
    acc = _mm512_sub_epi32(acc,
                           _mm512_slli_epi32(_mm512_maskz_loadu_epi32(lanes, y.sum + g0), kShift));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, group)),
                                       _mm512_maskz_loadu_ps(lanes, y.d + g0));
    p = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, p, lanes);
  }
  return sum_partials16(p);
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
void vec_dot_q4_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q4_5_0_groups16<false>>(n, w, w_row_bytes, n_rows, a, y);
}
void vec_dot_q5_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q4_5_0_groups16<true>>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::avx512
