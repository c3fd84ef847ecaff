#define GENGYUN_X86_NS avx2
#include "kernels/vec_dot_simd.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::avx2 {

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
