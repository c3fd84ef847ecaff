#define GENGYUN_X86_NS avx2
#include "kernels/quantize_activations_simd.h"
#include "kernels/quantize_activations_x86.h"

namespace gengyun::kernels::avx2 {

void quantize_activation_row_q8_0(const float* x, void* dst, int64_t n) {
  quantize_activation_row_impl<false>(x, dst, n);
}
void quantize_activation_row_q8_1(const float* x, void* dst, int64_t n) {
  quantize_activation_row_impl<true>(x, dst, n);
}
void quantize_row_q8_K(const float* x, void* dst, int64_t n) { quantize_row_q8_K_impl(x, dst, n); }
void round_row_to_f16(const float* x, void* dst, int64_t n) { round_row_to_f16_impl(x, dst, n); }
void round_row_to_bf16(const float* x, void* dst, int64_t n) { round_row_to_bf16_impl(x, dst, n); }

}  // namespace gengyun::kernels::avx2
