// Dequantization of ggml tensor rows to f32, bit-exact with ggml's to_float
// (dequantize_row_* in ggml-quants.c): every supported type yields the same f32 bits as ggml.
#pragma once

#include <cstdint>

#include "gengyun/result.h"
#include "gguf/ggml_type.h"

namespace gengyun::kernels {

/// True for the types dequantize_row handles: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
/// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL.
bool dequantize_supported(gguf::GgmlType type);

/// Ok when rows of `row_length` elements of `type` can be dequantized: the type is supported
/// and row_length is a positive multiple of its block size. The error names type and length.
Result<void> check_dequantizable(gguf::GgmlType type, int64_t row_length);

/// Writes the `n` f32 values encoded by `src` to dst[0..n). Preconditions (checked by callers
/// with check_dequantizable when the data comes from a file): the type is supported, n is a
/// multiple of its block size, src holds n / block_size blocks (ggml_row_size(type, n) bytes).
/// An unsupported type aborts with a message naming it.
void dequantize_row(gguf::GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace gengyun::kernels
