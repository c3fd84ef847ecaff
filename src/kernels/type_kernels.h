// The per-type table of kernel function pointers. Callers that run a kernel many times look
// the entry up once and call through it. One table per SimdLevel is filled once per process
// (the SIMD variants replace scalar entries where the level has them); type_kernels(type)
// serves the active level (simd_level.h), so a faster variant reaches every caller without
// any of them changing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gguf/ggml_type.h"
#include "kernels/gemm.h"
#include "kernels/simd_level.h"

namespace gengyun::kernels {

/// dst[0..n) = the values of the n elements encoded in src (n a multiple of the block size).
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

/// Converts n f32 activations (n a multiple of the activation block size) to an activation
/// row of a weight type's activation format, writing activation_row_bytes(activation_type, n)
/// bytes to dst (activation_rows.h).
using QuantizeRowFn = void (*)(const float* x, void* dst, int64_t n);

/// Rearranges an activation row of n elements (activation_row_bytes of the activation type)
/// from src into dst, the same number of bytes; src and dst must not overlap.
using ArrangeRowFn = void (*)(const void* src, void* dst, int64_t n);

/// y[r] = dot product of weight row r (n elements of the weight type in ggml's layout, at
/// w + r * w_row_bytes) with the activation row a, for r < n_rows.
using VecDotFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                          const void* a, float* y);

/// Kernels for one ggml type; a null pointer means the type lacks that kernel.
struct TypeKernels {
  DequantizeRowFn dequantize_row = nullptr;
  /// Format vec_dot takes activations in: F32 (the f32 rows as they are), F16, BF16, Q8_0,
  /// Q8_1 or Q8_K, as ggml pairs them (type_traits_cpu vec_dot_type).
  gguf::GgmlType activation_type = gguf::GgmlType::F32;
  /// f32 -> activation row of activation_type; null when activation_type is F32.
  QuantizeRowFn quantize_activations = nullptr;
  VecDotFn vec_dot = nullptr;
  /// Batched (prefill) kernels for many tokens at once (gemm.h); null where the level has
  /// none for the type (matmul then tiles vec_dot).
  const GemmKernels* gemm = nullptr;
  /// vec_dot over rows in WeightLayout::kBlockGroups16 (weight_layout.h) with an activation
  /// row from arrange_groups16, the same bits as vec_dot on the ggml rows; null where the
  /// level has none (matmul then converts rows back to ggml's layout as it goes).
  VecDotFn vec_dot_groups16 = nullptr;
  /// `gemm` for rows in WeightLayout::kBlockGroups16, the same bits; null where the level has
  /// none (matmul then converts rows back to ggml's layout for `gemm`).
  const GemmKernels* gemm_groups16 = nullptr;
  /// The activation row arranged for vec_dot_groups16 (weight_layout.h: Q8_0 / Q4_0 / Q5_0 /
  /// IQ4_NL q8_0_row_to_block_groups16, Q4_1 / Q5_1 q8_1_row_to_block_groups16, Q4_K / Q5_K
  /// q8_K_row_to_block_groups16, Q2_K / Q3_K / Q6_K q8_K_row_to_q6_K_groups16, or the level's
  /// variant giving the same bytes); set exactly where vec_dot_groups16 is.
  ArrangeRowFn arrange_groups16 = nullptr;
  /// vec_dot over rows in WeightLayout::kRowGroups16 (whole groups of 16 rows) with the
  /// activation row as quantize_activations gives it, the same bits as vec_dot on the ggml rows;
  /// null where the level has none or it streams slower there than vec_dot_groups16 (matmul then
  /// converts rows back to ggml's layout). The loader puts a type's matrices in kRowGroups16
  /// exactly where this is set (model/weights.h).
  VecDotFn vec_dot_row_groups16 = nullptr;
  /// `gemm` for rows in WeightLayout::kRowGroups16 (row ranges at groups of 16), the same bits;
  /// null where the level has none.
  const GemmKernels* gemm_row_groups16 = nullptr;
};

/// The kernels of `type` at the active level (all null for types without kernels).
/// Thread-safe; O(1).
const TypeKernels& type_kernels(gguf::GgmlType type);

/// The kernels of `type` at `level`, which must not exceed cpu_simd_level() (tests compare the
/// levels with this). Thread-safe; O(1).
const TypeKernels& type_kernels(gguf::GgmlType type, SimdLevel level);

}  // namespace gengyun::kernels
