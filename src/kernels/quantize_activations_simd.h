// The x86 SIMD variants of the activation quantizers of quantize_activations.h (same
// signatures, bit-identical output), built from quantize_activations_x86.h once per level.
// Call only when cpu_simd_level() reaches the namespace's level. Internal to kernels/: use
// type_kernels().
#pragma once

#include <cstdint>

namespace gengyun::kernels {

namespace avx2 {
void quantize_activation_row_q8_0(const float* x, void* dst, int64_t n);
void quantize_activation_row_q8_1(const float* x, void* dst, int64_t n);
void quantize_row_q8_K(const float* x, void* dst, int64_t n);
void round_row_to_f16(const float* x, void* dst, int64_t n);
void round_row_to_bf16(const float* x, void* dst, int64_t n);
}  // namespace avx2

namespace avx512 {
void quantize_activation_row_q8_0(const float* x, void* dst, int64_t n);
void quantize_activation_row_q8_1(const float* x, void* dst, int64_t n);
void quantize_row_q8_K(const float* x, void* dst, int64_t n);
void round_row_to_f16(const float* x, void* dst, int64_t n);
void round_row_to_bf16(const float* x, void* dst, int64_t n);
}  // namespace avx512

}  // namespace gengyun::kernels
