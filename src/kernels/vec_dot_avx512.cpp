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

}  // namespace gengyun::kernels::avx512
