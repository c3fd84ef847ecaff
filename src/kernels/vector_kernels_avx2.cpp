// The AVX2+FMA+F16C versions of vector_kernels.h (compiled with -mavx2 -mfma -mf16c; served
// only at SimdLevel::kAvx2 and above, which the CPU has). No inline function of a shared
// header is called here: the linker could keep this file's AVX2 copy of it for every caller.
#include <immintrin.h>

#include "kernels/exp_approx.h"
#include "kernels/vector_kernels.h"

namespace gengyun::kernels {
namespace {

// The steps of exp_approx on 8 lanes, with FMA for the range reduction and the polynomial.
__m256 exp8(__m256 x) {
  using namespace exp_approx_constants;
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kMin)), _mm256_set1_ps(kMax));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP5);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP0));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
}

// The first n < 8 floats of p as a vector, the other lanes zero.
__m256 load_tail(const float* p, int64_t n) {
  alignas(32) float lanes[8] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i] = p[i];
  return _mm256_load_ps(lanes);
}

void store_tail(float* p, __m256 v, int64_t n) {
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  for (int64_t i = 0; i < n; ++i) p[i] = lanes[i];
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void fp32_to_fp16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

void fp16_to_fp32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

float exp_shifted(float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 sums = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    sums = _mm256_add_ps(sums, e);
  }
  if (i < n) {
    const int64_t rest = n - i;
    const __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
        _mm256_set1_epi32(static_cast<int>(rest)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(load_tail(x + i, rest), s)), mask);
    store_tail(x + i, e, rest);
    sums = _mm256_add_ps(sums, e);
  }
  return hsum(sums);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  const auto silu_mul = [](__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, silu_mul(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n)
    store_tail(out + i, silu_mul(load_tail(gate + i, n - i), load_tail(up + i, n - i)), n - i);
}

// The tiles below keep arrays of vectors in registers: their loops over rows, positions and
// vectors are unrolled (GCC at -O2 would keep them rolled, and the arrays in memory).

// The four sums of a0..a3 (8 lanes each), in order.
__m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// s for rows [r, r + R) and positions [j, j + 4): R x 4 sums in registers, so that each load
// of q serves four positions and each load of k serves R rows.
template <int R>
void dot_tile(const float* q, const float* k, int64_t n_pos, int64_t dim, float* s) {
  const int64_t dim8 = dim - dim % 8;
  __m256 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int i = 0; i < 4; ++i) acc[r][i] = _mm256_setzero_ps();
  for (int64_t d = 0; d < dim8; d += 8) {
    __m256 kv[4];
#pragma GCC unroll 8
    for (int i = 0; i < 4; ++i) kv[i] = _mm256_loadu_ps(k + i * dim + d);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 qv = _mm256_loadu_ps(q + r * dim + d);
#pragma GCC unroll 8
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm256_fmadd_ps(qv, kv[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    alignas(16) float sums[4];
    _mm_store_ps(sums, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    for (int64_t d = dim8; d < dim; ++d)
#pragma GCC unroll 8
      for (int i = 0; i < 4; ++i) sums[i] += q[r * dim + d] * k[i * dim + d];
#pragma GCC unroll 8
    for (int i = 0; i < 4; ++i) s[r * n_pos + i] = sums[i];
  }
}

// s for rows [r, r + R) and one position.
template <int R>
void dot_column(const float* q, const float* k, int64_t n_pos, int64_t dim, float* s) {
  const int64_t dim8 = dim - dim % 8;
  __m256 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t d = 0; d < dim8; d += 8) {
    const __m256 kv = _mm256_loadu_ps(k + d);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(q + r * dim + d), kv, acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    // dot_tile's order of the lanes, so that a score does not depend on whether its position
    // fell in a tile of four or in the tail (which depends on how many positions the block has).
    const __m256 zero = _mm256_setzero_ps();
    float sum = _mm_cvtss_f32(hsum4(acc[r], zero, zero, zero));
    for (int64_t d = dim8; d < dim; ++d) sum += q[r * dim + d] * k[d];
    s[r * n_pos] = sum;
  }
}

template <int R>
void dot_row_group(const float* q, const float* k, int64_t n_pos, int64_t dim, float* s) {
  int64_t j = 0;
  for (; j + 4 <= n_pos; j += 4) dot_tile<R>(q, k + j * dim, n_pos, dim, s + j);
  for (; j < n_pos; ++j) dot_column<R>(q, k + j * dim, n_pos, dim, s + j);
}

void dot_rows(const float* q, int64_t n_rows, const float* k, int64_t n_pos, int64_t dim,
              float* s) {
  int64_t r = 0;
  for (; r + 2 <= n_rows; r += 2) dot_row_group<2>(q + r * dim, k, n_pos, dim, s + r * n_pos);
  if (r < n_rows) dot_row_group<1>(q + r * dim, k, n_pos, dim, s + r * n_pos);
}

// acc for rows [r, r + R), W vectors of 8 dimensions from d: R x W sums in registers across
// all positions, so that each load of v serves R rows.
template <int R, int W>
void accumulate_tile(const float* p, int64_t n_pos, const float* v, int64_t dim, int64_t d,
                     float* acc) {
  __m256 a[R][W];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int w = 0; w < W; ++w) a[r][w] = _mm256_loadu_ps(acc + r * dim + d + 8 * w);
  for (int64_t j = 0; j < n_pos; ++j) {
    __m256 vv[W];
#pragma GCC unroll 8
    for (int w = 0; w < W; ++w) vv[w] = _mm256_loadu_ps(v + j * dim + d + 8 * w);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 pr = _mm256_broadcast_ss(p + r * n_pos + j);
#pragma GCC unroll 8
      for (int w = 0; w < W; ++w) a[r][w] = _mm256_fmadd_ps(pr, vv[w], a[r][w]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int w = 0; w < W; ++w) _mm256_storeu_ps(acc + r * dim + d + 8 * w, a[r][w]);
}

template <int R>
void accumulate_row_group(const float* p, int64_t n_pos, const float* v, int64_t dim, float* acc) {
  int64_t d = 0;
  for (; d + 32 <= dim; d += 32) accumulate_tile<R, 4>(p, n_pos, v, dim, d, acc);
  for (; d + 8 <= dim; d += 8) accumulate_tile<R, 1>(p, n_pos, v, dim, d, acc);
  for (; d < dim; ++d)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      for (int64_t j = 0; j < n_pos; ++j) acc[r * dim + d] += p[r * n_pos + j] * v[j * dim + d];
}

void accumulate_rows(const float* p, int64_t n_rows, const float* v, int64_t n_pos, int64_t dim,
                     float* acc) {
  int64_t r = 0;
  for (; r + 2 <= n_rows; r += 2)
    accumulate_row_group<2>(p + r * n_pos, n_pos, v, dim, acc + r * dim);
  if (r < n_rows) accumulate_row_group<1>(p + r * n_pos, n_pos, v, dim, acc + r * dim);
}

constexpr VectorKernels kAvx2{fp32_to_fp16, fp16_to_fp32, exp_shifted,
                              swiglu,       dot_rows,     accumulate_rows};

}  // namespace

namespace avx2 {
const VectorKernels& vector_kernel_table() { return kAvx2; }
}  // namespace avx2

}  // namespace gengyun::kernels
