// x86 SIMD activation quantizers, bit-identical to the scalar ones of quantize_activations.h
// (same amax, the same f32 divisions and products, the same rounding rule per format) and
// writing the same activation rows (activation_rows.h), written
// once and compiled by quantize_activations_avx2.cpp and quantize_activations_avx512.cpp.
// Include only from a file compiled with at least -mavx2 -mfma -mf16c, after defining
// GENGYUN_X86_NS (everything here has internal linkage inside that namespace).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/activation_rows.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

#ifndef GENGYUN_X86_NS
#error "define GENGYUN_X86_NS before including quantize_activations_x86.h"
#endif

namespace gengyun::kernels::GENGYUN_X86_NS {
namespace {

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// roundf: to nearest, ties away from zero. v - trunc(v) is exact, so comparing it with 0.5
// decides exactly as roundf does.
inline __m256 round_half_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 away = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 step = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(away, step));
}

// 32 integral floats in [-128, 127] to int8, in order.
inline void store_int8(const __m256 v[4], int8_t* dst) {
  const __m256i i01 = _mm256_packs_epi32(_mm256_cvtps_epi32(v[0]), _mm256_cvtps_epi32(v[1]));
  const __m256i i23 = _mm256_packs_epi32(_mm256_cvtps_epi32(v[2]), _mm256_cvtps_epi32(v[3]));
  const __m256i bytes = _mm256_packs_epi16(i01, i23);
  // packs interleave the 128-bit lanes: dwords come out as 0 2 4 6 1 3 5 7.
  const __m256i ordered =
      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), ordered);
}

// Q8_0 / Q8_1 quants of one block of 32; returns d.
inline float quantize_block_32(const float* x, int8_t* qs) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    amax = _mm256_max_ps(amax, abs_ps(v[k]));
  }
  const float d = hmax(amax) / 127.0f;
  const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  for (int k = 0; k < 4; ++k) v[k] = round_half_away(_mm256_mul_ps(v[k], id));
  store_int8(v, qs);
  return d;
}

inline int sum_int8_32(const int8_t* qs) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
  const __m256i pairs =
      _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// Q8_0 / Q8_1 activation rows (activation_rows.h): the quants and f16-rounded d of
// quantize_row_q8_0, the block sums and, for Q8_1, the f16-rounded s = d * sum; blocks from
// `first` on.
template <bool kQ8_1>
inline void quantize_activation_row_impl(const float* x, void* dst, int64_t n, int64_t first = 0) {
  const Q8RowOut out(dst, n);
  for (int64_t i = first; i < n / kQK; ++i) {
    const float d = quantize_block_32(x + i * kQK, out.qs + i * kQK);
    const int sum = sum_int8_32(out.qs + i * kQK);
    out.d[i] = fp16_to_fp32(fp32_to_fp16(d));
    out.sum[i] = sum;
    if constexpr (kQ8_1) out.s[i] = fp16_to_fp32(fp32_to_fp16(static_cast<float>(sum) * d));
  }
}

inline void quantize_row_q8_K_impl(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    BlockQ8_K& b = blocks[i];
    const float* xb = x + i * kQK_K;
    __m256 amax_v = _mm256_setzero_ps();
    for (int k = 0; k < kQK_K; k += 8)
      amax_v = _mm256_max_ps(amax_v, abs_ps(_mm256_loadu_ps(xb + k)));
    const float amax = hmax(amax_v);
    if (amax == 0.0f) {
      std::memset(&b, 0, sizeof(b));
      continue;
    }
    // The scalar quantizer keeps the first element of largest magnitude (its sign matters).
    int first = 0;
    for (int k = 0; k < kQK_K; k += 8) {
      const __m256 eq =
          _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(xb + k)), _mm256_set1_ps(amax), _CMP_EQ_OQ);
      const int mask = _mm256_movemask_ps(eq);
      if (mask != 0) {
        first = k + __builtin_ctz(static_cast<unsigned>(mask));
        break;
      }
    }
    const float iscale = -127.0f / xb[first];
    const __m256 scale = _mm256_set1_ps(iscale);
    const __m256i limit = _mm256_set1_epi32(127);
    for (int k = 0; k < kQK_K; k += 32) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + k + 8 * j), scale);
        q[j] = _mm256_min_epi32(
            _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
            limit);
      }
      const __m256i bytes =
          _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(b.qs + k),
          _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16 * g));
      const __m256i wide = _mm256_cvtepi8_epi16(q);
      __m128i s = _mm_add_epi16(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
      s = _mm_add_epi16(s, _mm_unpackhi_epi64(s, s));
      s = _mm_add_epi16(s, _mm_shufflelo_epi16(s, 0x4E));
      s = _mm_add_epi16(s, _mm_shufflelo_epi16(s, 0xB1));
      b.bsums[g] = static_cast<int16_t>(_mm_extract_epi16(s, 0));
    }
    b.d = 1.0f / iscale;
  }
}

// f32 -> binary16 with round to nearest even (vcvtps2ph); NaN keeps its sign and becomes
// 0x7E00 as in fp32_to_fp16.
inline void round_row_to_f16_impl(const float* x, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m128i r = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    if (_mm256_movemask_ps(nan) != 0) {
      for (int k = 0; k < 8; ++k) h[i + k] = fp32_to_fp16(x[i + k]);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), r);
  }
  for (; i < n; ++i) h[i] = fp32_to_fp16(x[i]);
}

// f32 -> bfloat16 as fp32_to_bf16: (u + 0x7FFF + lsb) >> 16, NaN truncated and made quiet.
inline void round_row_to_bf16_impl(const float* x, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)),
                                              _mm256_set1_epi32(0x7F800000));
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), packed);
  }
  for (; i < n; ++i) h[i] = fp32_to_bf16(x[i]);
}

}  // namespace
}  // namespace gengyun::kernels::GENGYUN_X86_NS
