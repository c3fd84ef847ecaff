// The 32-element block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (ggml's original quantizations).
// "type-0" blocks give d * q, "type-1" blocks d * q + m. In every block the first 16 elements
// come from the low nibbles and the last 16 from the high nibbles.
#include <cstring>

#include "kernels/dequantize_scalar.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

namespace gengyun::kernels::scalar {

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ4_0& b = blocks[i];
    const float d = fp16_to_fp32(b.d);
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = (b.qs[j] & 0x0F) - 8;
      const int x1 = (b.qs[j] >> 4) - 8;
      y[j] = x0 * d;
      y[j + kQK / 2] = x1 * d;
    }
  }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ4_1& b = blocks[i];
    const float d = fp16_to_fp32(b.d);
    const float m = fp16_to_fp32(b.m);
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = b.qs[j] & 0x0F;
      const int x1 = b.qs[j] >> 4;
      y[j] = x0 * d + m;
      y[j + kQK / 2] = x1 * d + m;
    }
  }
}

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ5_0& b = blocks[i];
    const float d = fp16_to_fp32(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof(qh));
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint32_t h0 = ((qh >> j) << 4) & 0x10;
      const uint32_t h1 = (qh >> (j + 12)) & 0x10;
      const int x0 = static_cast<int>((b.qs[j] & 0x0Fu) | h0) - 16;
      const int x1 = static_cast<int>((b.qs[j] >> 4) | h1) - 16;
      y[j] = x0 * d;
      y[j + kQK / 2] = x1 * d;
    }
  }
}

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ5_1& b = blocks[i];
    const float d = fp16_to_fp32(b.d);
    const float m = fp16_to_fp32(b.m);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof(qh));
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint32_t h0 = ((qh >> j) << 4) & 0x10;
      const uint32_t h1 = (qh >> (j + 12)) & 0x10;
      const int x0 = static_cast<int>((b.qs[j] & 0x0Fu) | h0);
      const int x1 = static_cast<int>((b.qs[j] >> 4) | h1);
      y[j] = x0 * d + m;
      y[j + kQK / 2] = x1 * d + m;
    }
  }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ8_0& b = blocks[i];
    const float d = fp16_to_fp32(b.d);
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK; ++j) y[j] = b.qs[j] * d;
  }
}

}  // namespace gengyun::kernels::scalar
