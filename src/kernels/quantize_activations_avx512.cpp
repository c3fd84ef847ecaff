#define GENGYUN_X86_NS avx512
#include "kernels/quantize_activations_simd.h"
#include "kernels/quantize_activations_x86.h"

// GCC 12's avx512fintrin.h passes _mm512_undefined_* vectors as the unused source of the masked
// forms behind _mm512_abs_ps, _mm512_cvtps_epi32 and others; inlined into the loops below, each
// gave a false -Wmaybe-uninitialized ("'__Y' may be used uninitialized", 53 of them; a known false
// positive of GCC 12.0-12.2, Debian 12's compiler). Nothing here reads an uninitialized value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gengyun::kernels::avx512 {
namespace {

// The 16 lanes of the result: lane j = op over the 16 lanes of v[order(j)], order(j) =
// 4 (j % 4) + j / 4 (the tree below ends in that 4 x 4 transpose, so a caller that puts block
// order(j) in v[j] gets block j in lane j). op: an associative and commutative lane-wise
// operation (f32 max, int32 add) on the bits of two vectors.
template <typename Op>
inline __m512 reduce16(const __m512 (&v)[16], Op op) {
  __m512 r[8], s[4], u[2];
  for (int i = 0; i < 8; ++i)
    r[i] = op(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
              _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)
    s[i] = op(_mm512_shuffle_f32x4(r[2 * i], r[2 * i + 1], 0x88),
              _mm512_shuffle_f32x4(r[2 * i], r[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i)
    u[i] = op(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44),
              _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0xEE));
  return op(_mm512_shuffle_ps(u[0], u[1], 0x88), _mm512_shuffle_ps(u[0], u[1], 0xDD));
}

constexpr int order(int j) { return 4 * (j % 4) + j / 4; }

// int32 lanes clamped to [-128, 127].
inline __m512i saturate_int8(__m512i v) {
  return _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128));
}

// roundf of each lane: to nearest, ties away from zero (v - trunc(v) is exact).
inline __m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 away =
      _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 step = _mm512_or_ps(_mm512_and_ps(v, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));
  return _mm512_mask_add_ps(t, away, t, step);
}

// 16 blocks of 32 at a time: the amax and the block sums of 16 blocks reduced together
// (reduce16), d and 1 / d as vectors, the f16 rounding by vcvtps2ph (round to nearest even, as
// fp32_to_fp16). The same bytes as quantize_activation_row_impl, which takes the last
// n / 32 % 16 blocks.
template <bool kQ8_1>
void quantize_q8_row(const float* x, void* dst, int64_t n) {
  const Q8RowOut out(dst, n);
  const int64_t n_blocks = n / kQK;
  int64_t i = 0;
  for (; i + 16 <= n_blocks; i += 16) {
    const float* xb = x + i * kQK;
    __m512 amax[16];
    for (int j = 0; j < 16; ++j) {
      const float* b = xb + kQK * order(j);
      amax[j] =
          _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(b)), _mm512_abs_ps(_mm512_loadu_ps(b + 16)));
    }
    const __m512 d =
        _mm512_div_ps(reduce16(amax, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); }),
                      _mm512_set1_ps(127.0f));
    alignas(64) float id[16];  // d != 0 ? 1 / d : 0
    _mm512_store_ps(id, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ),
                                            _mm512_set1_ps(1.0f), d));
    _mm512_storeu_ps(out.d + i, _mm512_cvtph_ps(_mm512_cvtps_ph(
                                    d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    __m512 sums[16];
    for (int j = 0; j < 16; ++j) {
      const int block = order(j);
      const float* b = xb + kQK * block;
      const __m512 scale = _mm512_set1_ps(id[block]);
      const __m512 q0 = round_half_away(_mm512_mul_ps(_mm512_loadu_ps(b), scale));
      const __m512 q1 = round_half_away(_mm512_mul_ps(_mm512_loadu_ps(b + 16), scale));
      // The int8 quants as store_int8 gives them (saturated), and their sum.
      const __m512i i0 = saturate_int8(_mm512_cvtps_epi32(q0));
      const __m512i i1 = saturate_int8(_mm512_cvtps_epi32(q1));
      int8_t* qs = out.qs + (i + block) * kQK;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(i0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(i1));
      sums[j] = _mm512_castsi512_ps(_mm512_add_epi32(i0, i1));
    }
    const __m512i sum = _mm512_castps_si512(reduce16(sums, [](__m512 a, __m512 b) {
      return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
    }));
    _mm512_storeu_si512(out.sum + i, sum);
    if constexpr (kQ8_1)
      _mm512_storeu_ps(out.s + i, _mm512_cvtph_ps(_mm512_cvtps_ph(
                                      _mm512_mul_ps(_mm512_cvtepi32_ps(sum), d),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  }
  quantize_activation_row_impl<kQ8_1>(x, dst, n, i);
}

}  // namespace

void quantize_activation_row_q8_0(const float* x, void* dst, int64_t n) {
  quantize_q8_row<false>(x, dst, n);
}
void quantize_activation_row_q8_1(const float* x, void* dst, int64_t n) {
  quantize_q8_row<true>(x, dst, n);
}
void quantize_row_q8_K(const float* x, void* dst, int64_t n) { quantize_row_q8_K_impl(x, dst, n); }
void round_row_to_f16(const float* x, void* dst, int64_t n) { round_row_to_f16_impl(x, dst, n); }
void round_row_to_bf16(const float* x, void* dst, int64_t n) { round_row_to_bf16_impl(x, dst, n); }

}  // namespace gengyun::kernels::avx512
