// IQ4_NL: per 32 elements one f16 scale and 4-bit indices into a fixed non-linear table of
// int8 levels. The scale is searched as ggml's quantize_iq4_nl does without an importance
// matrix (quantize_row_iq4_nl_impl with ntry = 7, weights x^2): the max fit, then the 15
// scales (itry - 127) / max, itry = -7..7, keeping the best weighted least-squares fit.
#include <cmath>

#include "kernels/float16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quantize_scalar.h"

namespace gengyun::kernels::scalar {
namespace {

/// ggml-common.h kvalues_iq4nl (sorted).
constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};
constexpr int kNTry = 7;
constexpr float kGroupMaxEps = 1e-15f;

/// Index of the level nearest to x, the upper one on a tie (ggml's best_index_int8): x reaches
/// level i at the midpoint of levels i-1 and i; comparing 2x with their sum keeps it exact.
int best_index(float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = x2 >= static_cast<float>(kIQ4NLValues[j - 1] + kIQ4NLValues[j]) ? j : idx;
  }
  return idx;
}

void quantize_block(const float* x, BlockIQ4_NL& y) {
  float weight[kQK];
  for (int j = 0; j < kQK; ++j) weight[j] = x[j] * x[j];
  float amax = 0, max = 0;
  for (int j = 0; j < kQK; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  float scale = 0;
  if (amax >= kGroupMaxEps) {
    float d = -max / kIQ4NLValues[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < kQK; ++j) {
      const float q = kIQ4NLValues[best_index(id * x[j])];
      sumqx += weight[j] * q * x[j];
      sumq2 += weight[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int itry = -kNTry; itry <= kNTry; ++itry) {
      id = static_cast<float>(itry + kIQ4NLValues[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < kQK; ++j) {
        const float q = kIQ4NLValues[best_index(id * x[j])];
        sumqx += weight[j] * q * x[j];
        sumq2 += weight[j] * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scale = d;
  }
  y.d = fp32_to_fp16(scale);
  const float id = scale != 0.0f ? 1 / scale : 0.0f;
  for (int j = 0; j < kQK / 2; ++j) {
    y.qs[j] = static_cast<uint8_t>(best_index(id * x[j]) | (best_index(id * x[j + kQK / 2]) << 4));
  }
}

}  // namespace

void quantize_row_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) quantize_block(src + i * kQK, blocks[i]);
}

}  // namespace gengyun::kernels::scalar
