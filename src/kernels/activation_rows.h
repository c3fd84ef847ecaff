// The layout of activation rows as the dot products take them. The values are exactly ggml's
// (Q8_0, Q8_1, Q8_K quantization of the f32 activations, or their f16 / bf16 rounding), but the
// 32-element formats are stored split so that SIMD kernels load 64 quants at once and find the
// scales as f32:
//   Q8_0: qs int8[n] | d f32[n/32] | sum int32[n/32]              (sum = sum of the block's qs)
//   Q8_1: qs int8[n] | d f32[n/32] | sum int32[n/32] | s f32[n/32] (s = ggml's f16 d * sum)
//   Q8_K: ggml's BlockQ8_K[n/256] unchanged; F16 / BF16: uint16[n]; F32: float[n].
// d (and s) hold the f32 value of ggml's f16 field. Every row starts 64-byte aligned when the
// buffer does (rows are padded to a multiple of 64 bytes). Internal to kernels/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gguf/ggml_type.h"

namespace gengyun::kernels {

/// Bytes of one activation row of n elements in format `type` (F32, F16, BF16, Q8_0, Q8_1,
/// Q8_K), padded to a multiple of 64; n a multiple of the format's block size.
size_t activation_row_bytes(gguf::GgmlType type, int64_t n);

/// Writes the activation row of the n values held by `blocks` (ggml blocks of `type`, or the
/// raw f32 / f16 / bf16 values) to dst (activation_row_bytes(type, n) bytes).
void activation_row_from_blocks(gguf::GgmlType type, const void* blocks, int64_t n, void* dst);

/// Read access to a Q8_0 / Q8_1 activation row of n elements.
struct Q8Row {
  const int8_t* qs;
  const float* d;
  const int32_t* sum;
  const float* s;  // Q8_1 only

  Q8Row(const void* row, int64_t n) {
    const auto* p = static_cast<const uint8_t*>(row);
    const int64_t nb = n / 32;
    qs = reinterpret_cast<const int8_t*>(p);
    d = reinterpret_cast<const float*>(p + n);
    sum = reinterpret_cast<const int32_t*>(p + n + 4 * nb);
    s = reinterpret_cast<const float*>(p + n + 8 * nb);
  }
};

/// Write access to the same layout.
struct Q8RowOut {
  int8_t* qs;
  float* d;
  int32_t* sum;
  float* s;

  Q8RowOut(void* row, int64_t n) {
    auto* p = static_cast<uint8_t*>(row);
    const int64_t nb = n / 32;
    qs = reinterpret_cast<int8_t*>(p);
    d = reinterpret_cast<float*>(p + n);
    sum = reinterpret_cast<int32_t*>(p + n + 4 * nb);
    s = reinterpret_cast<float*>(p + n + 8 * nb);
  }
};

}  // namespace gengyun::kernels
