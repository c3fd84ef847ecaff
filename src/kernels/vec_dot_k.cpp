// Scalar dot products of the K-quants with Q8_K activations (ggml_vec_dot_<type>_q8_K).
// Each weight block is first decoded to its 256 integer quants and one scale (and min) per
// 16 elements; the block's contribution is then
//   (d_w * d_a) * sum_g scale_g * sum_{i in g} q_i a_i  -  (dmin_w * d_a) * sum_g min_g * bsum_g
// with both sums exact in int32, accumulated in f32 block by block.
#include "kernels/block_fields.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"
#include "kernels/vec_dot_scalar.h"

namespace gengyun::kernels::scalar {
namespace {

// One decoded super-block: element e is q[e]; group g = e / 16 has scale[g] and min[g].
struct DecodedBlock {
  int8_t q[kQK_K];
  int scale[kQK_K / 16];
  int min[kQK_K / 16];
};

// Q2_K and Q3_K store element e = 128 h + 32 s + 16 p + l in bits 2s..2s+1 of
// qs[32 h + 16 p + l]; Q3_K's third bit is bit (e / 32) of hmask[e % 32].
inline int two_bits(const uint8_t* qs, int e) {
  const int h = e / 128, s = (e / 32) % 4, rest = e % 32;
  return (qs[32 * h + rest] >> (2 * s)) & 3;
}

void decode(const BlockQ2_K& b, DecodedBlock& out) {
  for (int e = 0; e < kQK_K; ++e) out.q[e] = static_cast<int8_t>(two_bits(b.qs, e));
  for (int g = 0; g < 16; ++g) {
    out.scale[g] = b.scales[g] & 0x0F;
    out.min[g] = b.scales[g] >> 4;
  }
}

void decode(const BlockQ3_K& b, DecodedBlock& out) {
  for (int e = 0; e < kQK_K; ++e) {
    const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
    out.q[e] = static_cast<int8_t>(two_bits(b.qs, e) - (high ? 0 : 4));
  }
  int8_t scales[16];
  unpack_q3_k_scales(b.scales, scales);
  for (int g = 0; g < 16; ++g) {
    out.scale[g] = scales[g] - 32;
    out.min[g] = 0;
  }
}

// Q4_K and Q5_K: element e = 64 k + 32 hi + l is the low (hi = 0) or high nibble of
// qs[32 k + l]; Q5_K's fifth bit is bit (e / 32) of qh[l]. Scales and mins per 32 elements.
void decode_scales_k4(const uint8_t packed[12], DecodedBlock& out) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, packed, sc, m);
    out.scale[2 * j] = out.scale[2 * j + 1] = sc;
    out.min[2 * j] = out.min[2 * j + 1] = m;
  }
}

inline int nibble(const uint8_t* qs, int e) {
  const uint8_t byte = qs[32 * (e / 64) + e % 32];
  return (e / 32) % 2 ? byte >> 4 : byte & 0x0F;
}

void decode(const BlockQ4_K& b, DecodedBlock& out) {
  for (int e = 0; e < kQK_K; ++e) out.q[e] = static_cast<int8_t>(nibble(b.qs, e));
  decode_scales_k4(b.scales, out);
}

void decode(const BlockQ5_K& b, DecodedBlock& out) {
  for (int e = 0; e < kQK_K; ++e)
    out.q[e] = static_cast<int8_t>(nibble(b.qs, e) | ((b.qh[e % 32] >> (e / 32)) & 1) << 4);
  decode_scales_k4(b.scales, out);
}

// Q6_K: element e = 128 h + 32 s + l takes 4 low bits from ql[64 h + 32 (s % 2) + l] (low
// nibble for s < 2, high for s >= 2) and 2 high bits from bits 2s..2s+1 of qh[32 h + l].
void decode(const BlockQ6_K& b, DecodedBlock& out) {
  for (int e = 0; e < kQK_K; ++e) {
    const int h = e / 128, s = (e / 32) % 4, l = e % 32;
    const uint8_t low_byte = b.ql[64 * h + 32 * (s % 2) + l];
    const int low = s < 2 ? low_byte & 0x0F : low_byte >> 4;
    const int high = (b.qh[32 * h + l] >> (2 * s)) & 3;
    out.q[e] = static_cast<int8_t>((low | high << 4) - 32);
  }
  for (int g = 0; g < 16; ++g) {
    out.scale[g] = b.scales[g];
    out.min[g] = 0;
  }
}

// The two exact integer sums of one block against one Q8_K block.
struct BlockSums {
  int scaled = 0;  // sum_g scale_g * sum_{i in g} q_i a_i
  int mins = 0;    // sum_g min_g * bsum_g
};

BlockSums block_sums(const DecodedBlock& w, const BlockQ8_K& a) {
  BlockSums s;
  for (int g = 0; g < 16; ++g) {
    int dot = 0;
    for (int l = 0; l < 16; ++l) dot += w.q[16 * g + l] * a.qs[16 * g + l];
    s.scaled += w.scale[g] * dot;
    s.mins += w.min[g] * a.bsums[g];
  }
  return s;
}

template <typename Block>
float dot_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  DecodedBlock decoded;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    decode(x[i], decoded);
    const BlockSums s = block_sums(decoded, y[i]);
    sum += fp16_to_fp32(x[i].d) * y[i].d * static_cast<float>(s.scaled);
    if constexpr (requires { x[i].dmin; })
      sum -= fp16_to_fp32(x[i].dmin) * y[i].d * static_cast<float>(s.mins);
  }
  return sum;
}

template <typename Block>
void rows(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a, float* y) {
  for (int64_t r = 0; r < n_rows; ++r)
    y[r] = dot_k<Block>(n, static_cast<const uint8_t*>(w) + r * w_row_bytes, a);
}

}  // namespace

void vec_dot_q2_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<BlockQ2_K>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q3_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<BlockQ3_K>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q4_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<BlockQ4_K>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q5_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<BlockQ5_K>(n, w, w_row_bytes, n_rows, a, y);
}

void vec_dot_q6_K(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                  float* y) {
  rows<BlockQ6_K>(n, w, w_row_bytes, n_rows, a, y);
}

}  // namespace gengyun::kernels::scalar
