#define GENGYUN_X86_NS avx2
#include <algorithm>

#include "kernels/vec_dot_simd.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::avx2 {
namespace {

// int16 lane i of the 16 bytes at kHalfLanes + 8 - m: all ones for i < m (0 <= m <= 8), else 0.
alignas(16) constexpr int16_t kHalfLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};

// The f16 values at p, lanes i < m (0 <= m <= 8) as f32, the others +0. Reads 16 bytes.
inline __m256 halves8(const uint8_t* p, int m) {
  const __m128i keep = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kHalfLanes + 8 - m));
  return _mm256_cvtph_ps(_mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), keep));
}

// Q8_0 rows in WeightLayout::kBlockGroups16 against an activation row from
// q8_0_row_to_block_groups16, as avx512's dot_q8_0_groups16 with 8-lane vectors: lane l of the
// first (second) half of every 64-byte word meets block l (8 + l) of a group, so the exact
// integer sum of each block accumulates in its own int32 lane (the stored quant + 128, back to
// signed by an xor, against the activations through dot_s8s8), and the f32 steps are those of
// dot_row (vec_dot_x86.h), with p[0..8) and p[8..16) in two vectors: the same bits as
// vec_dot_q8_0 on the ggml row. A last partial group of m blocks reads its lanes only (masked
// loads, scales of the lanes past m taken as +0, so that their fma leaves p as it is).
float dot_q8_0_groups16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint8_t*>(w);
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  const __m256i sign_bit = _mm256_set1_epi8(static_cast<char>(0x80));
  // The exact integer sums of the 8 lanes of one half (byte `half`, 0 or 32, of each word) of
  // the group of m blocks at `group`, its activations at `act`; kMasked: of `lanes` only, the
  // others' quants loaded as 0 and left 0 (not made -128), so that the activation bytes they
  // meet count for nothing. Those are read whole in the second half (m > 8: the at most 28
  // bytes past the row's quants lie in its 8 nb bytes of scales and sums), masked in the first.
  auto half_sums = [&]<bool kMasked>(const uint8_t* group, const int8_t* act, int m, int half,
                                     __m256i lanes) __attribute__((always_inline)) {
    const __m256i flip = kMasked ? _mm256_and_si256(sign_bit, lanes) : sign_bit;
    const uint8_t* quants = group + 2 * m;
    __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const uint8_t* at = quants + 4 * m * k + half;
      const __m256i q = kMasked ? _mm256_maskload_epi32(reinterpret_cast<const int*>(at), lanes)
                                : load256(at);
      const int8_t* a = act + 4 * m * k + half;
      const __m256i s = kMasked && half == 0
                            ? _mm256_maskload_epi32(reinterpret_cast<const int*>(a), lanes)
                            : load256(a);
      acc = dot_s8s8(acc, _mm256_xor_si256(q, flip), s);
    }
    return acc;
  };
  // p + the sums times d_w (the f16 scales at `halves`, lanes < m) times d_a (lanes of `lanes`).
  auto add = [&](__m256 p, __m256i sums, const uint8_t* halves, int m, const float* d,
                 __m256i lanes) __attribute__((always_inline)) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums),
                           _mm256_mul_ps(halves8(halves, m), _mm256_maskload_ps(d, lanes)), p);
  };
  const __m256i all = _mm256_set1_epi32(-1);
  __m256 p0 = _mm256_setzero_ps(), p1 = _mm256_setzero_ps();  // p[0..8), p[8..16)
  int64_t g0 = 0;
  for (; g0 + 16 <= nb; g0 += 16) {
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(BlockQ8_0));
    const int8_t* act = y.qs + g0 * kQK;
    prefetch(group + 2 * 16 * sizeof(BlockQ8_0), 16 * sizeof(BlockQ8_0));
    p0 = add(p0, half_sums.template operator()<false>(group, act, 16, 0, all), group, 8,
             y.d + g0, all);
    p1 = add(p1, half_sums.template operator()<false>(group, act, 16, 32, all), group + 16, 8,
             y.d + g0 + 8, all);
  }
  if (g0 < nb) {
    const int m = static_cast<int>(nb - g0);
    const uint8_t* group = x + g0 * static_cast<int64_t>(sizeof(BlockQ8_0));
    const int8_t* act = y.qs + g0 * kQK;
    const int m0 = std::min(m, 8), m1 = m - m0;  // lanes of each half
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lanes0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m0), index);
    const __m256i lanes1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m1), index);
    const __m256i sums0 = m0 == 8 ? half_sums.template operator()<false>(group, act, m, 0, all)
                                  : half_sums.template operator()<true>(group, act, m, 0, lanes0);
    p0 = add(p0, sums0, group, m0, y.d + g0, lanes0);
    if (m1 > 0)
      p1 = add(p1, half_sums.template operator()<true>(group, act, m, 32, lanes1), group + 16, m1,
               y.d + g0 + 8, lanes1);
  }
  // hsum adds lanes k and k + 4, then k and k + 2, then 0 and 1 (dot_row's order).
  return hsum(_mm256_add_ps(p0, p1));
}

}  // namespace

void vec_dot_q8_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_q8_0_groups16>(n, w, w_row_bytes, n_rows, a, y);
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
