// The AVX512-VBMI variant of kAvx512's IQ4_NL decode product on WeightLayout::kBlockGroups16
// rows (vec_dot_groups16_x86.h), chosen by type_kernels.cpp where cpu_has_avx512_vbmi().
#define GENGYUN_X86_NS avx512_vbmi

#include "kernels/vec_dot_groups16_x86.h"
#include "kernels/vec_dot_simd.h"
#include "kernels/vec_dot_x86.h"

namespace gengyun::kernels::avx512_vbmi {

void vec_dot_iq4_nl_groups16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                             const void* a, float* y) {
  dot_nibbles_groups16<BlockIQ4_NL, true>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::avx512_vbmi
