// Dense f32 dot products and the weight-matrix multiply of the forward pass.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_layout.h"

namespace gengyun::kernels {

/// sum_i a[i] * b[i] over n elements, accumulated in f32 in 8 interleaved partial sums
/// (so the compiler vectorizes it). n >= 0.
float dot_f32(const float* a, const float* b, int64_t n);

/// y[t, o] = sum_i x[t, i] * W[o, i] for t < n_tokens, o < n_out.
/// W: n_out rows of n_in elements of w_type, row o at w + o * ggml_row_size(w_type, n_in);
/// x: [n_tokens, n_in] row-major f32; y: [n_tokens, n_out] row-major f32 (must not alias x).
/// As in ggml, each row of x is first converted to the weight type's activation format
/// (TypeKernels::activation_type: Q8_0 / Q8_1 / Q8_K blocks for quantized weights, f16 / bf16
/// for F16 / BF16, unchanged for F32) once per call. Output rows are split across `pool`.
/// One token (decode): the rows go in pieces of about 128 KiB (at least one per thread) that
/// the threads claim as they finish the last, their own contiguous share first
/// (ThreadPool::parallel_for_pieces), each streamed once through the type's vec_dot. Several
/// tokens: from GemmKernels::min_tokens on (2 to 16, by level, type and layout), types with batched
/// kernels at the active SIMD level (gemm.h) decode each group of 16 rows once and multiply
/// it with every token; otherwise a tile of rows is dotted with every token before the next
/// tile is read. Either way the weights are read from memory once per call whatever n_tokens
/// is.
/// Batch invariance: at a given SIMD level, y[t, o] depends only on row t of x and row o of W,
/// bit for bit: whatever n_tokens is, whatever the other rows of x hold and however many
/// threads `pool` has, it equals what a one-token call with x[t] returns (NaN payloads aside).
/// Each level reduces every output in one fixed order; different levels may differ in the last
/// bits.
/// Preconditions: w_type is dequantize_supported and n_in a multiple of its block size
/// (check_dequantizable); an unsupported type aborts with a message.
void matmul(gguf::GgmlType w_type, const void* w, int64_t n_in, int64_t n_out, const float* x,
            float* y, int64_t n_tokens, ThreadPool& pool);

/// matmul on rows arranged in `w_layout` (weight_layout.h; layout_supported(w_type, w_layout,
/// n_in, n_out)): the same bits as matmul on the same rows in ggml's layout. Decode (fewer
/// tokens than the batched kernels take) runs the layout's own vec_dot and batches its own
/// batched kernels where the level has them (kRowGroups16: whole groups of 16 rows per thread);
/// everything else converts each group of 16 rows back to ggml's layout in a per-thread buffer
/// as it goes.
void matmul(gguf::GgmlType w_type, WeightLayout w_layout, const void* w, int64_t n_in,
            int64_t n_out, const float* x, float* y, int64_t n_tokens, ThreadPool& pool);

}  // namespace gengyun::kernels
