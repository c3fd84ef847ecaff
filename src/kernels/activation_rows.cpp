#include "kernels/activation_rows.h"

#include <cstring>

#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

namespace gengyun::kernels {

size_t activation_row_bytes(gguf::GgmlType type, int64_t n) {
  size_t bytes = 0;
  switch (type) {
    case gguf::GgmlType::Q8_0:
      bytes = static_cast<size_t>(n) + 8 * static_cast<size_t>(n / kQK);
      break;
    case gguf::GgmlType::Q8_1:
      bytes = static_cast<size_t>(n) + 12 * static_cast<size_t>(n / kQK);
      break;
    default:
      bytes = gguf::ggml_row_size(type, n);
      break;
  }
  return (bytes + 63) / 64 * 64;
}

void activation_row_from_blocks(gguf::GgmlType type, const void* blocks, int64_t n, void* dst) {
  if (type != gguf::GgmlType::Q8_0 && type != gguf::GgmlType::Q8_1) {
    std::memcpy(dst, blocks, gguf::ggml_row_size(type, n));
    return;
  }
  const Q8RowOut out(dst, n);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int8_t* qs;
    if (type == gguf::GgmlType::Q8_0) {
      const BlockQ8_0& b = static_cast<const BlockQ8_0*>(blocks)[i];
      qs = b.qs;
      out.d[i] = fp16_to_fp32(b.d);
    } else {
      const BlockQ8_1& b = static_cast<const BlockQ8_1*>(blocks)[i];
      qs = b.qs;
      out.d[i] = fp16_to_fp32(b.d);
      out.s[i] = fp16_to_fp32(b.s);
    }
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += qs[j];
    std::memcpy(out.qs + i * kQK, qs, kQK);
    out.sum[i] = sum;
  }
}

}  // namespace gengyun::kernels
