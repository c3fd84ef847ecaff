#include "kernels/quantize_activations.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "kernels/activation_rows.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

namespace gengyun::kernels {
namespace {

// Round to nearest, ties to even, for |x| <= 2^22 (ggml's nearest_int): adding 1.5 * 2^23
// leaves the integer in the low mantissa bits.
inline int nearest_int(float x) {
  const int bits = std::bit_cast<int>(x + 12582912.0f);
  return (bits & 0x007FFFFF) - 0x00400000;
}

// Fills qs with roundf(x * id) and returns d; shared by Q8_0 and Q8_1.
float quantize_block_32(const float* x, int8_t* qs) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  return d;
}

}  // namespace

void quantize_row_q8_0(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = quantize_block_32(x + i * kQK, blocks[i].qs);
    blocks[i].d = fp32_to_fp16(d);
  }
}

void quantize_row_q8_1(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    BlockQ8_1& b = blocks[i];
    const float d = quantize_block_32(x + i * kQK, b.qs);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += b.qs[j];
    b.d = fp32_to_fp16(d);
    b.s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void quantize_row_q8_K(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    BlockQ8_K& b = blocks[i];
    const float* xb = x + i * kQK_K;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&b, 0, sizeof(b));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j)
      b.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * xb[j])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += b.qs[g * 16 + j];
      b.bsums[g] = static_cast<int16_t>(sum);
    }
    b.d = 1.0f / iscale;
  }
}

void quantize_activation_row_q8_0(const float* x, void* dst, int64_t n) {
  const Q8RowOut out(dst, n);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = quantize_block_32(x + i * kQK, out.qs + i * kQK);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += out.qs[i * kQK + j];
    out.d[i] = fp16_to_fp32(fp32_to_fp16(d));
    out.sum[i] = sum;
  }
}

void quantize_activation_row_q8_1(const float* x, void* dst, int64_t n) {
  const Q8RowOut out(dst, n);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = quantize_block_32(x + i * kQK, out.qs + i * kQK);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += out.qs[i * kQK + j];
    out.d[i] = fp16_to_fp32(fp32_to_fp16(d));
    out.sum[i] = sum;
    out.s[i] = fp16_to_fp32(fp32_to_fp16(static_cast<float>(sum) * d));
  }
}

void round_row_to_f16(const float* x, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(x[i]);
}

void round_row_to_bf16(const float* x, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(x[i]);
}

}  // namespace gengyun::kernels
