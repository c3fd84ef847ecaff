// Batched products for prefill: many tokens against one weight matrix. Each group of 16
// weight rows is decoded once into an interleaved layout (4 bytes of each of the 16 rows side
// by side, unsigned quants, the scales of each sub-block) that a register-blocked kernel
// multiplies with 8 tokens at a time (AVX2: two groups of 8 rows, 4 tokens at a time), so each
// weight byte is read from memory once per call and decoded once per call. Each output is
// reduced in the same order as the type's vec_dot at the same level, so a token's outputs do
// not depend on the batch. Internal to kernels/.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gengyun::kernels {

/// The operands of one batched product.
struct GemmProblem {
  int64_t n_in = 0;            ///< row length
  const uint8_t* w = nullptr;  ///< weight rows (ggml layout), w_row_bytes apart
  size_t w_row_bytes = 0;
  const uint8_t* rows = nullptr;  ///< n_tokens GEMM activation rows (GemmKernels::prepare)
  size_t row_bytes = 0;           ///< distance between them
  int64_t n_tokens = 0;
  float* y = nullptr;  ///< y[t * y_stride + o]
  int64_t y_stride = 0;
};

/// The batched kernels of one weight type at one SIMD level.
struct GemmKernels {
  /// Bytes of one GEMM activation row of n_in elements (a multiple of 64).
  size_t (*row_bytes)(int64_t n_in);
  /// Builds one token's GEMM activation row from its activation row (activation_rows.h).
  void (*prepare)(const void* activation_row, int64_t n_in, void* gemm_row);
  /// y[t, o] for weight rows o in [row_begin, row_end) and every token; row_begin a multiple
  /// of 16. Bit-identical to the type's vec_dot at the same level for every (t, o). Uses a
  /// per-thread scratch buffer for the decoded weights.
  void (*multiply)(const GemmProblem& p, int64_t row_begin, int64_t row_end);
  /// From this many tokens on, matmul uses these kernels (below, decoding the weights into the
  /// interleaved layout costs more than it saves; both paths give the same bits). AVX2: 8 or
  /// 16 (gemm_avx2.cpp). AVX-512 (the default), measured through the engine on Qwen2.5-0.5B
  /// Q4_K_M, 2 threads (Intel Xeon): a decode step of 2 sequences takes 34.5 ms tiled against
  /// 46 ms batched, 3 sequences 47 against 48, and from 4 on the batched kernels win
  /// (12 sequences: 66 ms against 138). AVX-512 on WeightLayout::kBlockGroups16 rows: 12
  /// (measured on Zen 4, gemm_avx512.cpp); kernels without a pack may start lower (AVX-512,
  /// Q8_0 in WeightLayout::kRowGroups16 and every type in kBlockGroups16: 2; AVX2, every type in
  /// kBlockGroups16: 2). matmul goes by the kernels of the weights' layout.
  int64_t min_tokens = 4;
  /// Kernels that take calls of handover_tokens(n_in) tokens or more instead, for rows of n_in
  /// elements (null: none), with GEMM activation rows of their own: a kernel without a pack
  /// leads on few tokens, the packs' on many, and on short rows from fewer
  /// (gemm_block_groups16_avx512.cpp).
  const GemmKernels* handover = nullptr;
  int64_t (*handover_tokens)(int64_t n_in) = nullptr;
};

namespace avx2 {
/// The AVX2 batched kernels of a quantized type (ggml type id), or null.
const GemmKernels* gemm_kernels(uint32_t type_id);
/// The same kernels for rows in WeightLayout::kBlockGroups16 (weight_layout.h), for the types
/// the AVX2 level decodes in that layout (the 32-element types, Q4_K, Q6_K): the same bits as
/// gemm_kernels on the rows in ggml's layout; null for the others.
const GemmKernels* gemm_kernels_groups16(uint32_t type_id);
/// Kernels that read rows in WeightLayout::kBlockGroups16 as they lie (no pack), for calls of
/// fewer than handover_tokens(n_in) tokens, handing longer ones to gemm_kernels_groups16: the
/// same bits. Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K; null for the
/// other types.
const GemmKernels* gemm_kernels_groups16_in_place(uint32_t type_id);
}  // namespace avx2

namespace avx512 {
/// The AVX-512 VNNI batched kernels of a quantized type (ggml type id), or null.
const GemmKernels* gemm_kernels(uint32_t type_id);
/// The same kernels for rows in WeightLayout::kBlockGroups16 (weight_layout.h): the same bits
/// as gemm_kernels on the rows in ggml's layout; null for types without that layout.
const GemmKernels* gemm_kernels_groups16(uint32_t type_id);
/// Kernels that read rows in WeightLayout::kBlockGroups16 as they lie (no pack), for calls of
/// fewer than handover_tokens(n_in) tokens, handing longer ones to gemm_kernels_groups16: the
/// same bits. Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K; null for
/// the other types.
const GemmKernels* gemm_kernels_groups16_in_place(uint32_t type_id);
/// The same kernels for Q8_0 rows in WeightLayout::kRowGroups16 (whole groups of 16 rows),
/// read as they lie (no pack): the same bits as gemm_kernels on the rows in ggml's layout; null
/// for other types.
const GemmKernels* gemm_kernels_row_groups16(uint32_t type_id);
}  // namespace avx512

namespace amx {
/// The AMX-INT8 batched kernels of a quantized type (ggml type id), or null. Same GEMM
/// activation rows as avx512::gemm_kernels and the same bits for every output (calls of fewer
/// than 16 tokens run those); run them only where amx_int8_usable() (amx.h) and the CPU has
/// AVX512-VBMI.
const GemmKernels* gemm_kernels(uint32_t type_id);
/// As avx512::gemm_kernels_groups16, with tiles (the 32-element types: in calls of at most
/// kMaxTokensWeightsAsB tokens the weights as the tiles' B operand, read from the layout without
/// a per-row transpose, in longer calls as the A operand; Q4_K, Q6_K: their packs in the
/// layout's order; docs/kernels.md).
const GemmKernels* gemm_kernels_groups16(uint32_t type_id);
/// Tokens of a call up to which gemm_kernels_groups16 takes the 32-element types' rows as the B
/// operand (measured: bench/RESULTS.md, "Weights as B or as A").
inline constexpr int64_t kMaxTokensWeightsAsB = 128;
/// The AMX kernels of Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K rows in WeightLayout::kRowGroups16
/// (Q8_0's blocks are B tiles as they lie, the others' are unpacked once per run of groups: no
/// transposes), null for other types. Row ranges start and end at groups of 16 rows. Any number of
/// tokens; the same bits as avx512::gemm_kernels on the rows in ggml's layout.
const GemmKernels* gemm_kernels_row_groups16(uint32_t type_id);
/// gemm_kernels_row_groups16 with every tile instruction computed by plain code (as
/// emulated_gemm_kernels_groups16): for tests on CPUs without AMX. Q8_0, Q4_0 and Q5_0 only.
const GemmKernels* emulated_gemm_kernels_row_groups16(uint32_t type_id);
/// gemm_kernels_groups16's kernels of the 32-element types with every tile instruction computed
/// by plain code instead (slow, no AMX needed; the CPU needs kAvx512 and AVX512-VBMI),
/// null for other types: for tests of those kernels' operands and f32 steps on CPUs without AMX.
const GemmKernels* emulated_gemm_kernels_groups16(uint32_t type_id);
}  // namespace amx

}  // namespace gengyun::kernels
