// Quantization of f32 activation rows into the 8-bit blocks that the quantized dot products
// consume, bit-exact with ggml's reference quantizers (ggml-quants.c quantize_row_q8_0_ref,
// quantize_row_q8_1_ref, quantize_row_q8_K_ref). The same Q8_0 quantizer makes Q8_0 weights.
// These are the scalar references; type_kernels() holds the (bit-identical) SIMD variants.
#pragma once

#include <cstdint>

namespace gengyun::kernels {

/// Q8_0: per 32 elements d = amax / 127 (stored as binary16), q = roundf(x * (1 / d)) with
/// ties away from zero; an all-zero block gets d = 0, q = 0. n must be a multiple of 32;
/// dst receives n / 32 BlockQ8_0 (34 bytes each).
void quantize_row_q8_0(const float* x, void* dst, int64_t n);

/// Q8_1: Q8_0's d and q plus s = binary16(d * sum q). n a multiple of 32; dst receives
/// n / 32 BlockQ8_1 (36 bytes each). Pairs with Q4_1 / Q5_1 weights.
void quantize_row_q8_1(const float* x, void* dst, int64_t n);

/// Q8_K: per 256 elements, with max the element of largest magnitude (the first on ties),
/// d = 1 / (-127 / max) (f32), q = min(127, nearest-even(x * (-127 / max))) and the 16 sums of
/// 16 consecutive q; an all-zero block gets d = 0 and zero q and sums. n a multiple of 256;
/// dst receives n / 256 BlockQ8_K (292 bytes each). Pairs with the K-quant weights.
void quantize_row_q8_K(const float* x, void* dst, int64_t n);

/// Q8_0 activations as the dot products take them (activation_rows.h): the quants and d of
/// quantize_row_q8_0 stored split, plus each block's sum of quants. n a multiple of 32; dst
/// receives activation_row_bytes(Q8_0, n) bytes.
void quantize_activation_row_q8_0(const float* x, void* dst, int64_t n);

/// Q8_1 activations likewise (quantize_row_q8_1's quants, d and s, plus block sums).
void quantize_activation_row_q8_1(const float* x, void* dst, int64_t n);

/// dst[i] = binary16 bits of x[i], round to nearest even (the activations of F16 weights).
void round_row_to_f16(const float* x, void* dst, int64_t n);

/// dst[i] = bfloat16 bits of x[i], round to nearest even (the activations of BF16 weights).
void round_row_to_bf16(const float* x, void* dst, int64_t n);

}  // namespace gengyun::kernels
