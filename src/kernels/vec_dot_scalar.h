// Portable scalar dot products of weight rows with one activation row, the reference that
// every SIMD variant is tested against (VecDotFn of type_kernels.h: y[r] = dot(row r, a) for
// r < n_rows). Semantics are ggml's ggml_vec_dot_<w>_<a>: weights in their ggml block layout,
// activations quantized to the type's activation format (Q8_0 for Q4_0, Q5_0, Q8_0, IQ4_NL;
// Q8_1 for Q4_1, Q5_1; Q8_K for the K-quants; f16 / bf16 for F16 / BF16 weights; f32 for F32)
// and laid out as activation_rows.h describes. Per block, the integer sums are exact; they are
// then scaled and accumulated in f32 in block order. n is the row length (a multiple of the
// block size). Internal to kernels/: use type_kernels().
#pragma once

#include <cstddef>
#include <cstdint>

namespace gengyun::kernels::scalar {

void vec_dot_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y);
void vec_dot_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y);
void vec_dot_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);

void vec_dot_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_iq4_nl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                    float* y);

void vec_dot_q2_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q3_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q6_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);

}  // namespace gengyun::kernels::scalar
