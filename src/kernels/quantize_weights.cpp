#include "kernels/quantize_weights.h"

#include <cstdio>
#include <cstdlib>

#include "kernels/quantize_activations.h"
#include "kernels/quantize_scalar.h"

namespace gengyun::kernels {
namespace {

using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

QuantizeRowFn quantize_fn(gguf::GgmlType type) {
  using gguf::GgmlType;
  switch (type) {
    case GgmlType::F16:
      return scalar::quantize_row_f16;
    case GgmlType::BF16:
      return scalar::quantize_row_bf16;
    case GgmlType::Q8_0:
      return quantize_row_q8_0;
    case GgmlType::Q4_0:
      return scalar::quantize_row_q4_0;
    case GgmlType::Q4_1:
      return scalar::quantize_row_q4_1;
    case GgmlType::Q5_0:
      return scalar::quantize_row_q5_0;
    case GgmlType::Q5_1:
      return scalar::quantize_row_q5_1;
    case GgmlType::Q2_K:
      return scalar::quantize_row_q2_K;
    case GgmlType::Q3_K:
      return scalar::quantize_row_q3_K;
    case GgmlType::Q4_K:
      return scalar::quantize_row_q4_K;
    case GgmlType::Q5_K:
      return scalar::quantize_row_q5_K;
    case GgmlType::Q6_K:
      return scalar::quantize_row_q6_K;
    case GgmlType::IQ4_NL:
      return scalar::quantize_row_iq4_nl;
    default:
      return nullptr;
  }
}

}  // namespace

bool quantize_supported(gguf::GgmlType type) { return quantize_fn(type) != nullptr; }

void quantize_row(gguf::GgmlType type, const float* src, void* dst, int64_t n) {
  const QuantizeRowFn fn = quantize_fn(type);
  if (fn == nullptr) {
    std::fprintf(stderr, "gengyun: quantize_row called for unsupported ggml type %u\n",
                 static_cast<unsigned>(type));
    std::abort();
  }
  fn(src, dst, n);
}

}  // namespace gengyun::kernels
