// The x86 SIMD variants of vec_dot_scalar.h (same signatures and semantics), built from
// vec_dot_x86.h once per instruction-set level. Call only when cpu_simd_level() reaches the
// namespace's level. Internal to kernels/: use type_kernels().
#pragma once

#include <cstddef>
#include <cstdint>

namespace gengyun::kernels {

namespace avx2 {
void vec_dot_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y);
void vec_dot_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y);
void vec_dot_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_iq4_nl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                    float* y);
void vec_dot_q2_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q3_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q6_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
/// Q8_0 / Q4_0 / Q5_0 / IQ4_NL rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_0_row_to_block_groups16, Q4_1 / Q5_1 rows with one from q8_1_row_to_block_groups16; the
/// same bits as vec_dot_q8_0 / q4_0 / q5_0 / iq4_nl / q4_1 / q5_1 on the ggml rows.
void vec_dot_q8_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q4_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q5_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q4_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q5_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_iq4_nl_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                             const void* a, float* y);
/// Q4_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_block_groups16; the same bits as vec_dot_q4_K on the ggml rows.
void vec_dot_q4_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q5_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_block_groups16; the same bits as vec_dot_q5_K on the ggml rows.
void vec_dot_q5_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q6_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_q6_K_groups16; the same bits as vec_dot_q6_K on the ggml rows.
void vec_dot_q6_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q3_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_q6_K_groups16; the same bits as vec_dot_q3_K on the ggml rows.
void vec_dot_q3_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q2_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_q6_K_groups16; the same bits as vec_dot_q2_K on the ggml rows.
void vec_dot_q2_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
}  // namespace avx2

namespace avx512 {
void vec_dot_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y);
void vec_dot_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y);
void vec_dot_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
/// Q8_0 / Q4_0 / Q5_0 rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_0_row_to_block_groups16; the same bits as vec_dot_q8_0 / q4_0 / q5_0 on the ggml rows.
void vec_dot_q8_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q4_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q5_0_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q8_0 / Q4_0 / Q5_0 rows in WeightLayout::kRowGroups16 (w at a group, n_rows a multiple of
/// 16) with a Q8_0 activation row as quantize_activations gives it; the same bits as
/// vec_dot_q8_0 / q4_0 / q5_0 on the ggml rows.
void vec_dot_q8_0_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y);
void vec_dot_q4_0_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y);
void vec_dot_q5_0_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y);
/// Q4_K rows in WeightLayout::kRowGroups16 (w at a group, n_rows a multiple of 16) with a Q8_K
/// activation row (BlockQ8_K[n / 256]) as quantize_activations gives it; the same bits as
/// vec_dot_q4_K on the ggml rows.
void vec_dot_q4_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y);
/// Q5_K and Q6_K rows in WeightLayout::kRowGroups16, as vec_dot_q4_K_row_groups16; the same
/// bits as vec_dot_q5_K / vec_dot_q6_K on the ggml rows.
void vec_dot_q5_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y);
void vec_dot_q6_K_row_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                               const void* a, float* y);
/// Q4_1 / Q5_1 rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_1_row_to_block_groups16, IQ4_NL rows with one from q8_0_row_to_block_groups16; the same
/// bits as vec_dot_q4_1 / q5_1 / iq4_nl on the ggml rows.
void vec_dot_q4_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q5_1_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_iq4_nl_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                             const void* a, float* y);
/// Q4_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_block_groups16; the same bits as vec_dot_q4_K on the ggml rows.
void vec_dot_q4_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q5_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_block_groups16; the same bits as vec_dot_q5_K on the ggml rows.
void vec_dot_q5_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q6_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_q6_K_groups16; the same bits as vec_dot_q6_K on the ggml rows.
void vec_dot_q6_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q3_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_q6_K_groups16; the same bits as vec_dot_q3_K on the ggml rows.
void vec_dot_q3_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// Q2_K rows in WeightLayout::kBlockGroups16 with an activation row from
/// q8_K_row_to_q6_K_groups16; the same bits as vec_dot_q2_K on the ggml rows.
void vec_dot_q2_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
/// vdpbf16ps; only where cpu_has_avx512_bf16().
void vec_dot_bf16_dpbf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                         const void* a, float* y);
void vec_dot_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_iq4_nl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                    float* y);
void vec_dot_q2_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q3_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q4_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q5_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
void vec_dot_q6_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y);
}  // namespace avx512

/// kAvx512 with AVX512-VBMI (vpermb): avx512's vec_dot_iq4_nl_groups16 with fewer instructions
/// a group, the same bits. Call only where cpu_has_avx512_vbmi() (simd_level.h).
namespace avx512_vbmi {
void vec_dot_iq4_nl_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                             const void* a, float* y);
}  // namespace avx512_vbmi

/// kAvx512 with GFNI (vgf2p8affineqb): avx512's vec_dot_q3_K_groups16 and vec_dot_q2_K_groups16
/// with fewer instructions a super-block, the same bits. Call only where cpu_has_gfni()
/// (simd_level.h).
namespace avx512_gfni {
void vec_dot_q3_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
void vec_dot_q2_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y);
}  // namespace avx512_gfni

}  // namespace gengyun::kernels
