// The per-type table of kernel function pointers. Callers that run a kernel many times look
// the entry up once and call through it; the table is filled once per process, so a faster
// variant of a kernel (SIMD chosen by CPUID) replaces the scalar one here without any caller
// changing.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"

namespace gengyun::kernels {

/// dst[0..n) = the values of the n elements encoded in src (n a multiple of the block size).
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

/// Kernels for one ggml type; a null pointer means the type lacks that kernel.
struct TypeKernels {
  DequantizeRowFn dequantize_row = nullptr;
};

/// The kernels of `type` (all null for types without kernels). Thread-safe; O(1).
const TypeKernels& type_kernels(gguf::GgmlType type);

}  // namespace gengyun::kernels
