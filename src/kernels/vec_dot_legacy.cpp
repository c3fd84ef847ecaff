// Scalar dot products of the 32-element block types with Q8_0 / Q8_1 activation rows, in the
// order of ggml's ggml_vec_dot_*_generic: an exact int sum per block, then f32 scaling.
#include <cstring>

#include "kernels/activation_rows.h"
#include "kernels/block_fields.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"
#include "kernels/vec_dot_scalar.h"

namespace gengyun::kernels::scalar {
namespace {

// The 32 nibbles of a 4-bit block: element j and j + 16 are the low and high nibble of qs[j].
inline void unpack_nibbles(const uint8_t* qs, int8_t* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = static_cast<int8_t>(qs[j] & 0x0F);
    q[j + kQK / 2] = static_cast<int8_t>(qs[j] >> 4);
  }
}

// Adds the fifth bits of a Q5 block (bit j of the little-endian qh belongs to element j) as 16.
inline void add_fifth_bits(const uint8_t qh[4], int8_t* q) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  for (int j = 0; j < kQK; ++j) q[j] = static_cast<int8_t>(q[j] | ((bits >> j) & 1) << 4);
}

inline int dot32(const int8_t* w, const int8_t* a, int offset) {
  int sum = 0;
  for (int j = 0; j < kQK; ++j) sum += (w[j] - offset) * a[j];
  return sum;
}

float dot_q4_0(int64_t n, const void* w, const Q8Row& y) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t q[kQK];
    unpack_nibbles(x[i].qs, q);
    const int sumi = dot32(q, y.qs + i * kQK, 8);
    sum += static_cast<float>(sumi) * fp16_to_fp32(x[i].d) * y.d[i];
  }
  return sum;
}

float dot_q4_1(int64_t n, const void* w, const Q8Row& y) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t q[kQK];
    unpack_nibbles(x[i].qs, q);
    const int sumi = dot32(q, y.qs + i * kQK, 0);
    sum += fp16_to_fp32(x[i].d) * y.d[i] * static_cast<float>(sumi) + fp16_to_fp32(x[i].m) * y.s[i];
  }
  return sum;
}

float dot_q5_0(int64_t n, const void* w, const Q8Row& y) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t q[kQK];
    unpack_nibbles(x[i].qs, q);
    add_fifth_bits(x[i].qh, q);
    const int sumi = dot32(q, y.qs + i * kQK, 16);
    sum += fp16_to_fp32(x[i].d) * y.d[i] * static_cast<float>(sumi);
  }
  return sum;
}

float dot_q5_1(int64_t n, const void* w, const Q8Row& y) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t q[kQK];
    unpack_nibbles(x[i].qs, q);
    add_fifth_bits(x[i].qh, q);
    const int sumi = dot32(q, y.qs + i * kQK, 0);
    sum += fp16_to_fp32(x[i].d) * y.d[i] * static_cast<float>(sumi) + fp16_to_fp32(x[i].m) * y.s[i];
  }
  return sum;
}

float dot_q8_0(int64_t n, const void* w, const Q8Row& y) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int sumi = dot32(x[i].qs, y.qs + i * kQK, 0);
    sum += static_cast<float>(sumi) * (fp16_to_fp32(x[i].d) * y.d[i]);
  }
  return sum;
}

float dot_iq4_nl(int64_t n, const void* w, const Q8Row& y) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t q[kQK];
    unpack_nibbles(x[i].qs, q);
    for (int8_t& v : q) v = kIQ4NLLevels[v];
    const int sumi = dot32(q, y.qs + i * kQK, 0);
    sum += fp16_to_fp32(x[i].d) * y.d[i] * static_cast<float>(sumi);
  }
  return sum;
}

template <float (*Dot)(int64_t, const void*, const Q8Row&)>
void rows(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a, float* y) {
  const Q8Row row(a, n);
  for (int64_t r = 0; r < n_rows; ++r)
    y[r] = Dot(n, static_cast<const uint8_t*>(w) + r * w_row_bytes, row);
}

}  // namespace

void vec_dot_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<dot_q4_0>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<dot_q4_1>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<dot_q5_0>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q5_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<dot_q5_1>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<dot_q8_0>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_iq4_nl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                    float* y) {
  rows<dot_iq4_nl>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::scalar
