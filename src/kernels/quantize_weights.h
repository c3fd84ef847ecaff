// Quantization of f32 weight rows into the ggml types a model file stores, bit-exact with
// ggml_quantize_chunk without an importance matrix (llama.cpp's quantizer run with no imatrix):
// the same input gives the same bytes. Built without FMA contraction (ISO C++ mode, baseline
// x86-64), as ggml's reference quantizers are, which the bit-exactness relies on.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"

namespace gengyun::kernels {

/// True for the types quantize_row produces: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
/// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL.
bool quantize_supported(gguf::GgmlType type);

/// Encodes src[0..n) as `type` into dst (ggml_row_size(type, n) bytes). Preconditions: the type
/// is supported, n is a multiple of its block size, src holds finite values. An unsupported type
/// aborts with a message naming it. Cost: O(n), on one core some 1-15 ns per element for F16,
/// BF16 and the 32-element types, 30-300 ns for the K-quants and IQ4_NL, which try dozens of
/// candidate scales per block.
void quantize_row(gguf::GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace gengyun::kernels
