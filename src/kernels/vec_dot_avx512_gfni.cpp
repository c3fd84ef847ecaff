// The GFNI variants of kAvx512's Q3_K and Q2_K decode products on WeightLayout::kBlockGroups16
// rows (vec_dot_groups16_x86.h), chosen by type_kernels.cpp where cpu_has_gfni().
#define GENGYUN_X86_NS avx512_gfni

#include "kernels/vec_dot_groups16_x86.h"
#include "kernels/vec_dot_simd.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::avx512_gfni {

void vec_dot_q3_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ3_K, true>>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q2_K_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                           const void* a, float* y) {
  rows<dot_k16_groups16<BlockQ2_K, true>>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::avx512_gfni
