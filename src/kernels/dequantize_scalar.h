// Portable scalar dequantizers, one per type, following ggml-quants.c dequantize_row_* in
// layout and in the order of every float operation (so the results are bit-identical).
// Each takes n elements (a multiple of the type's block size). Internal to kernels/: use
// type_kernels() or dequantize_row().
#pragma once

#include <cstdint>

namespace gengyun::kernels::scalar {

void dequantize_row_f32(const void* src, float* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);

void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);

void dequantize_row_q2_K(const void* src, float* dst, int64_t n);
void dequantize_row_q3_K(const void* src, float* dst, int64_t n);
void dequantize_row_q4_K(const void* src, float* dst, int64_t n);
void dequantize_row_q5_K(const void* src, float* dst, int64_t n);
void dequantize_row_q6_K(const void* src, float* dst, int64_t n);

void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);

}  // namespace gengyun::kernels::scalar
