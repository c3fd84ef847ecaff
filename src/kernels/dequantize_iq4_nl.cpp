// IQ4_NL: 32-element blocks of 4-bit indices into a fixed non-linear table of int8 levels
// (kvalues_iq4nl in ggml-common.h), scaled by d.
#include "kernels/block_fields.h"
#include "kernels/dequantize_scalar.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

namespace gengyun::kernels::scalar {
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockIQ4_NL& b = blocks[i];
    const float d = fp16_to_fp32(b.d);
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * kIQ4NLLevels[b.qs[j] & 0x0F];
      y[j + kQK / 2] = d * kIQ4NLLevels[b.qs[j] >> 4];
    }
  }
}

}  // namespace gengyun::kernels::scalar
