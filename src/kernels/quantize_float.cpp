// F16 and BF16 targets: element-wise rounding of f32 to the 16-bit formats (ggml_quantize_chunk
// runs ggml_fp32_to_fp16_row and ggml_fp32_to_bf16_row_ref, both round to nearest even).
#include "kernels/float16.h"
#include "kernels/quantize_scalar.h"

namespace gengyun::kernels::scalar {

void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(src[i]);
}

void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(src[i]);
}

}  // namespace gengyun::kernels::scalar
