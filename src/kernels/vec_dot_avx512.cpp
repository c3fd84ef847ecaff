#define GENGYUN_X86_NS avx512
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
    const __m512 scale =
        _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, group)),
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

}  // namespace gengyun::kernels::avx512
