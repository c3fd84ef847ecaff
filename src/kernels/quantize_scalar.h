// Portable scalar quantizers of weight rows, one per type, following ggml-quants.c without an
// importance matrix (what ggml_quantize_chunk runs for llama.cpp's quantizer): the *_ref
// functions for Q4_0 .. Q6_K and quantize_iq4_nl for IQ4_NL, with every float operation in
// ggml's order so that the bytes are identical. Each takes n elements (a multiple of the
// type's block size) and writes n / block_size blocks. Internal to kernels/: use
// quantize_row(). Q8_0 is quantize_row_q8_0 of quantize_activations.h.
#pragma once

#include <cstdint>

namespace gengyun::kernels::scalar {

void quantize_row_f16(const float* src, void* dst, int64_t n);
void quantize_row_bf16(const float* src, void* dst, int64_t n);

void quantize_row_q4_0(const float* src, void* dst, int64_t n);
void quantize_row_q4_1(const float* src, void* dst, int64_t n);
void quantize_row_q5_0(const float* src, void* dst, int64_t n);
void quantize_row_q5_1(const float* src, void* dst, int64_t n);

void quantize_row_q2_K(const float* src, void* dst, int64_t n);
void quantize_row_q3_K(const float* src, void* dst, int64_t n);
void quantize_row_q4_K(const float* src, void* dst, int64_t n);
void quantize_row_q5_K(const float* src, void* dst, int64_t n);
void quantize_row_q6_K(const float* src, void* dst, int64_t n);

void quantize_row_iq4_nl(const float* src, void* dst, int64_t n);

}  // namespace gengyun::kernels::scalar
