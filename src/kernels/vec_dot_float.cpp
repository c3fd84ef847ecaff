// Scalar dot products of F32, F16 and BF16 weight rows with activations of the same type
// (ggml rounds activations to f16 / bf16 before dotting them with such weights). Products of
// two f16 or two bf16 values are exact in f32; they are summed in f32 in 8 interleaved
// partial sums.
#include "kernels/float16.h"
#include "kernels/vec_dot_scalar.h"

namespace gengyun::kernels::scalar {
namespace {

template <typename Element, typename ToFloat>
float dot(int64_t n, const void* w, const void* x, ToFloat to_float) {
  const auto* a = static_cast<const Element*>(w);
  const auto* b = static_cast<const Element*>(x);
  constexpr int64_t kLanes = 8;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) acc[k] += to_float(a[i + k]) * to_float(b[i + k]);
  for (; i < n; ++i) acc[0] += to_float(a[i]) * to_float(b[i]);
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

float dot_f32(int64_t n, const void* w, const void* x) {
  return dot<float>(n, w, x, [](float v) { return v; });
}

float dot_f16(int64_t n, const void* w, const void* x) {
  return dot<uint16_t>(n, w, x, fp16_to_fp32);
}

float dot_bf16(int64_t n, const void* w, const void* x) {
  return dot<uint16_t>(n, w, x, bf16_to_fp32);
}

template <float (*Dot)(int64_t, const void*, const void*)>
void rows(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a, float* y) {
  for (int64_t r = 0; r < n_rows; ++r)
    y[r] = Dot(n, static_cast<const uint8_t*>(w) + r * w_row_bytes, a);
}

}  // namespace

void vec_dot_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y) {
  rows<dot_f32>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y) {
  rows<dot_f16>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<dot_bf16>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::scalar
