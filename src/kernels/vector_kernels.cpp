#include "kernels/vector_kernels.h"

#include "kernels/exp_approx.h"
#include "kernels/float16.h"
#include "kernels/matmul.h"

namespace gengyun::kernels {

namespace avx2 {
/// Defined in vector_kernels_avx2.cpp; call only on a CPU with AVX2, FMA and F16C.
const VectorKernels& vector_kernel_table();
}  // namespace avx2

namespace {

// Each loop body works on kLanes elements through a local array: all loads come before the
// stores, so GCC's SLP vectorizer turns a body into vector instructions even at -O2 and when
// the output may alias an input.
constexpr int64_t kLanes = 8;

void fp32_to_fp16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = kernels::fp32_to_fp16(src[i]);
}

void fp16_to_fp32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = kernels::fp16_to_fp32(src[i]);
}

float exp_shifted(float* x, int64_t n, float shift) {
  float sums[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    float e[kLanes];
    for (int64_t k = 0; k < kLanes; ++k) e[k] = exp_approx(x[i + k] - shift);
    for (int64_t k = 0; k < kLanes; ++k) {
      x[i + k] = e[k];
      sums[k] += e[k];
    }
  }
  for (; i < n; ++i) {
    x[i] = exp_approx(x[i] - shift);
    sums[0] += x[i];
  }
  float sum = 0;
  for (float s : sums) sum += s;
  return sum;
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    float y[kLanes];
    for (int64_t k = 0; k < kLanes; ++k) {
      const float g = gate[i + k];
      y[k] = g / (1.0f + exp_approx(-g)) * up[i + k];
    }
    for (int64_t k = 0; k < kLanes; ++k) out[i + k] = y[k];
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + exp_approx(-gate[i])) * up[i];
}

void dot_rows(const float* q, int64_t n_rows, const float* k, int64_t n_pos, int64_t dim,
              float* s) {
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t j = 0; j < n_pos; ++j)
      s[r * n_pos + j] = kernels::dot_f32(q + r * dim, k + j * dim, dim);
}

void accumulate_rows(const float* p, int64_t n_rows, const float* v, int64_t n_pos, int64_t dim,
                     float* acc) {
  for (int64_t r = 0; r < n_rows; ++r) {
    float* out = acc + r * dim;
    for (int64_t j = 0; j < n_pos; ++j) {
      const float w = p[r * n_pos + j];
      const float* vj = v + j * dim;
      int64_t d = 0;
      for (; d + kLanes <= dim; d += kLanes) {
        float y[kLanes];
        for (int64_t k = 0; k < kLanes; ++k) y[k] = out[d + k] + w * vj[d + k];
        for (int64_t k = 0; k < kLanes; ++k) out[d + k] = y[k];
      }
      for (; d < dim; ++d) out[d] += w * vj[d];
    }
  }
}

constexpr VectorKernels kPortable{fp32_to_fp16, fp16_to_fp32, exp_shifted,
                                  swiglu,       dot_rows,     accumulate_rows};

}  // namespace

const VectorKernels& vector_kernels(SimdLevel level) {
  return level >= SimdLevel::kAvx2 ? avx2::vector_kernel_table() : kPortable;
}

const VectorKernels& vector_kernels() { return vector_kernels(simd_level()); }

}  // namespace gengyun::kernels
