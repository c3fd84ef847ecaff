// The vector arithmetic of the forward pass outside the weight matmuls: f16 rows of the KV
// cache, exp for softmax and SiLU, and the two products of blocked attention. Two versions: a
// portable one (loops in fixed chunks of 8 that GCC vectorizes for baseline x86-64), served at
// SimdLevel::kScalar, and one with AVX2, FMA and F16C, served at kAvx2 and, for want of an
// AVX-512 version, at kAvx512 and kAmx. Like type_kernels(), vector_kernels() serves the active level
// (simd_level.h: CPUID, GENGYUN_KERNELS, set_simd_level).
#pragma once

#include <cstdint>

#include "kernels/simd_level.h"

namespace gengyun::kernels {

/// One implementation of every kernel. Pointers, not virtual calls, so that a caller looks the
/// table up once.
struct VectorKernels {
  /// dst[i] = kernels::fp32_to_fp16(src[i]) for i < n (round to nearest even; bit-identical
  /// for every input but NaN, which stays a NaN).
  void (*fp32_to_fp16)(const float* src, uint16_t* dst, int64_t n);
  /// dst[i] = kernels::fp16_to_fp32(src[i]) for i < n (exact).
  void (*fp16_to_fp32)(const uint16_t* src, float* dst, int64_t n);
  /// x[i] = exp_approx(x[i] - shift) for i < n (exp_approx.h: within 3 ulp of e^x on
  /// [-87.3, 88.3], clamped outside); returns the f32 sum of the new values.
  float (*exp_shifted)(float* x, int64_t n, float shift);
  /// out[i] = silu(gate[i]) * up[i] = gate[i] / (1 + e^-gate[i]) * up[i] for i < n, with
  /// exp_approx; out may equal gate or up.
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n);
  /// s[r * n_pos + j] = sum_d q[r * dim + d] * k[j * dim + d] for r < n_rows, j < n_pos.
  void (*dot_rows)(const float* q, int64_t n_rows, const float* k, int64_t n_pos, int64_t dim,
                   float* s);
  /// acc[r * dim + d] += sum_j p[r * n_pos + j] * v[j * dim + d] for r < n_rows, d < dim;
  /// acc must not overlap p or v.
  void (*accumulate_rows)(const float* p, int64_t n_rows, const float* v, int64_t n_pos,
                          int64_t dim, float* acc);
};

/// The kernels of `level`, which must not exceed cpu_simd_level(): the portable ones at kScalar,
/// the AVX2 ones above. Thread-safe; O(1).
const VectorKernels& vector_kernels(SimdLevel level);

/// The kernels of the active level, simd_level(). Thread-safe; O(1).
const VectorKernels& vector_kernels();

}  // namespace gengyun::kernels
