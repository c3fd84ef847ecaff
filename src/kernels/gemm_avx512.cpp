// AVX-512 VNNI batched products (gemm.h) for the quantized types. Per group of 16 weight rows,
// every row is decoded to unsigned 8-bit quants and the scales (and mins) of its sub-blocks of
// S elements, the 16 rows are interleaved 4 bytes at a time, and vpdpbusd multiplies one such
// 64-byte vector with 4 activation bytes of a token broadcast to all 16 lanes: 16 rows x 4
// elements per instruction, 8 tokens per pass over the group's weights.
//
// Integer sums are exact: a type whose quants carry an offset (w = s * (q - o)) is computed
// with unsigned q and the activation side's -o * (sum of the sub-block's activation quants)
// as the initial value of each sum. The f32 steps are those of the type's AVX-512 vec_dot
// (vec_dot_x86.h), lane by lane, so that a token's outputs are the same bits whatever the
// batch:
//  - 32-element block types: per block j, p[j % 16] = fma(float(sum_j), d_w * d_a, p[j % 16])
//    (then fma(m_w, s_a, p[j % 16]) with mins), 16 partial sums added pairwise at the end;
//  - K-quants: per super-block, the exact integers S = sum over its sub-blocks of scale * sum
//    (and M = sum of min * activation sum), then acc = fma(float(S), d_w * d_a, acc) (and
//    acc = fnmadd(float(M), dmin_w * d_a, acc)).
#define GENGYUN_X86_NS avx512
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/activation_rows.h"
#include "kernels/gemm.h"

namespace gengyun::kernels::avx512 {
namespace {

constexpr int kRows = 16;   // weight rows per group: one per 32-bit lane
constexpr int kTokens = 8;  // tokens per register block

inline size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

// ---- weight types ---------------------------------------------------------------------------
// Each type names its sub-block size S, the activation scale block G (32: Q8_0 / Q8_1 rows,
// 256: Q8_K rows), its quant offset and whether it has a min, and decodes one weight row of K
// elements into q[K] (unsigned) and its per-block fields. The field arrays hold the 16 rows of
// a group side by side (decode gets them at its row's lane), so 64 bytes are one field of all
// 16 rows.

// The 32-element block types: an f16 scale (and min) per block of 32, used as f32.
struct LegacyFields {
  float* scale;  // block j: scale[16 j]
  float* min;    // block j: min[16 j]
};

// The K-quants: an integer scale (and min) per sub-block, an f16 d (and dmin) per super-block.
struct KFields {
  int32_t* scale;  // sub-block j: scale[16 j] (scale_lane)
  int16_t* min;    // sub-block j: min[32 (j / 2) + j % 2] (two per 32-bit lane, for vpdpwssd)
  float* d;        // super-block b: d[16 b]
  float* dmin;     // super-block b: dmin[16 b]
};

// A K-quant type's sub-block sums (with Q8_K activations in [-128, 127]) fit in int16 when
// S * 128 * kMaxQuant does, kMaxQuant the largest |quant - offset|: its scales are then applied
// with vpmaddwd, one instruction, instead of vpmulld, two.
template <typename Type>
constexpr bool kNarrowSums = Type::S * 128 * Type::kMaxQuant <= 32767;

// A sub-block scale as its int32 lane: the scale itself for vpmulld, or, with narrow sums, the
// int16 scale in the low half and 0 in the high half, so that vpmaddwd multiplies the sum's low
// half (the whole sum) by it and its high half (the sign) by 0.
template <typename Type>
int32_t scale_lane(int scale) {
  return kNarrowSums<Type> ? static_cast<uint16_t>(scale) : scale;
}

template <typename W>
struct LegacyType {
  using Block = typename W::Block;
  using Fields = LegacyFields;
  static constexpr int S = 32, G = 32;
  static constexpr int kOffset = W::kSigned ? 128 : W::kOffset;
  static constexpr bool kMin = requires(const Block& b) { b.m; };
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const Block*>(row);
    for (int64_t i = 0; i < k / 32; ++i) {
      __m256i v = W::unpack(x[i]);
      if constexpr (W::kSigned) v = _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * i), v);
      f.scale[16 * i] = half_to_float(x[i].d);
      if constexpr (kMin) f.min[16 * i] = half_to_float(x[i].m);
    }
  }
};

template <bool kFifthBit, typename Block>
struct Q45KType {
  using Fields = KFields;
  static constexpr int S = 32, G = 256, kOffset = 0, kMaxQuant = kFifthBit ? 31 : 15;
  static constexpr bool kMin = true;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const Block*>(row);
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const Block& b = x[i];
      uint8_t* out = q + kQK_K * i;
      __m256i high_bits;
      if constexpr (kFifthBit) high_bits = load256(b.qh);
      for (int j = 0; j < 4; ++j) {
        const __m256i bytes = load256(b.qs + 32 * j);
        __m256i lo = _mm256_and_si256(bytes, low_mask);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_mask);
        if constexpr (kFifthBit) {
          const __m256i one = _mm256_set1_epi8(1);
          lo = _mm256_or_si256(
              lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * j), one), 4));
          hi = _mm256_or_si256(
              hi,
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * j + 1), one), 4));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * j), lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * j + 32), hi);
      }
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, b.scales, sc, m);
        const int64_t sub = 8 * i + j;
        f.scale[16 * sub] = scale_lane<Q45KType>(sc);
        f.min[32 * (sub / 2) + sub % 2] = m;
      }
      f.d[16 * i] = half_to_float(b.d);
      f.dmin[16 * i] = half_to_float(b.dmin);
    }
  }
};

struct Q6KType {
  using Fields = KFields;
  static constexpr int S = 16, G = 256, kOffset = 32, kMaxQuant = 32;
  static constexpr bool kMin = false;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const BlockQ6_K*>(row);
    const __m256i low_mask = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(0x03);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const BlockQ6_K& b = x[i];
      for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32);
        const __m256i qh = load256(b.qh + 32 * h);
        const __m256i v[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                            _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4)),
            _mm256_or_si256(
                _mm256_and_si256(ql1, low_mask),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4)),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4)),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4)),
        };
        for (int s = 0; s < 4; ++s)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + kQK_K * i + 128 * h + 32 * s), v[s]);
      }
      for (int g = 0; g < 16; ++g) f.scale[16 * (16 * i + g)] = scale_lane<Q6KType>(b.scales[g]);
      f.d[16 * i] = half_to_float(b.d);
    }
  }
};

struct Q3KType {
  using Fields = KFields;
  static constexpr int S = 16, G = 256, kOffset = 4, kMaxQuant = 4;
  static constexpr bool kMin = false;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const BlockQ3_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const BlockQ3_K& b = x[i];
      const __m256i hmask = load256(b.hmask);
      for (int h = 0; h < 2; ++h) {
        const __m256i bytes = load256(b.qs + 32 * h);
        for (int s = 0; s < 4; ++s) {
          const __m256i low =
              _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * s), _mm256_set1_epi8(0x03));
          const __m256i third =
              _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + s), _mm256_set1_epi8(0x01));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + kQK_K * i + 128 * h + 32 * s),
                              _mm256_or_si256(low, _mm256_slli_epi16(third, 2)));
        }
      }
      int8_t sc[16];
      unpack_q3_k_scales(b.scales, sc);
      for (int g = 0; g < 16; ++g) f.scale[16 * (16 * i + g)] = scale_lane<Q3KType>(sc[g] - 32);
      f.d[16 * i] = half_to_float(b.d);
    }
  }
};

struct Q2KType {
  using Fields = KFields;
  static constexpr int S = 16, G = 256, kOffset = 0, kMaxQuant = 3;
  static constexpr bool kMin = true;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const BlockQ2_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const BlockQ2_K& b = x[i];
      for (int h = 0; h < 2; ++h) {
        const __m256i bytes = load256(b.qs + 32 * h);
        for (int s = 0; s < 4; ++s)
          _mm256_storeu_si256(
              reinterpret_cast<__m256i*>(q + kQK_K * i + 128 * h + 32 * s),
              _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * s), _mm256_set1_epi8(0x03)));
      }
      for (int g = 0; g < 16; ++g) {
        const int64_t sub = 16 * i + g;
        f.scale[16 * sub] = scale_lane<Q2KType>(b.scales[g] & 0x0F);
        f.min[32 * (sub / 2) + sub % 2] = static_cast<int16_t>(b.scales[g] >> 4);
      }
      f.d[16 * i] = half_to_float(b.d);
      f.dmin[16 * i] = half_to_float(b.dmin);
    }
  }
};

template <typename Type>
constexpr bool kIsK = std::is_same_v<typename Type::Fields, KFields>;

// ---- the order of the 32-element blocks ------------------------------------------------------
// Their f32 sums go to 16 partial sums, p[j % 16] for block j (vec_dot_x86.h). The pack and the
// GEMM activation rows hold the blocks of a row of n in the order the kernel adds them: those
// of partial sum 0 (blocks 0, 16, 32, ...), then those of partial sum 1, ..., so that the
// kernel accumulates one partial sum at a time in registers and reads both sequentially.

// Blocks of partial sum p: n / 16, one more for p < n % 16.
inline int64_t partial_blocks(int p, int64_t n) { return n / 16 + (p < n % 16 ? 1 : 0); }

// The position of block j in that order.
inline int64_t block_position(int64_t j, int64_t n) {
  const int64_t p = j % 16;
  return p * (n / 16) + std::min(p, n % 16) + j / 16;
}

// ---- GEMM activation rows -------------------------------------------------------------------
// qs int8[K] | d f32[K / G] | corr int32[K / S] (-offset * sub-block sum; if offset) | then, if
// min: 32-element types s f32[K / S] (Q8_1's s); K-quants int32[K / S / 2], the sums of
// sub-blocks 2i and 2i + 1 as the low and high int16. The 32-element types hold their blocks
// at block_position.

template <typename Type>
struct RowLayout {
  int64_t k;
  size_t d_at() const { return static_cast<size_t>(k); }
  size_t corr_at() const { return d_at() + 4 * static_cast<size_t>(k / Type::G); }
  size_t minsum_at() const {
    return corr_at() + (Type::kOffset ? 4 * static_cast<size_t>(k / Type::S) : 0);
  }
  size_t bytes() const {
    const size_t minsums = static_cast<size_t>(kIsK<Type> ? k / Type::S / 2 : k / Type::S);
    return round64(minsum_at() + (Type::kMin ? 4 * minsums : 0));
  }
};

template <typename Type>
size_t row_bytes(int64_t k) {
  return RowLayout<Type>{k}.bytes();
}

template <typename Type>
void prepare(const void* activation_row, int64_t k, void* gemm_row) {
  const RowLayout<Type> layout{k};
  auto* out = static_cast<uint8_t*>(gemm_row);
  auto* d = reinterpret_cast<float*>(out + layout.d_at());
  auto* corr = reinterpret_cast<int32_t*>(out + layout.corr_at());
  if constexpr (!kIsK<Type>) {
    auto* minsum = reinterpret_cast<float*>(out + layout.minsum_at());
    const Q8Row a(activation_row, k);
    for (int64_t j = 0; j < k / 32; ++j) {
      const int64_t m = block_position(j, k / 32);
      std::memcpy(out + 32 * m, a.qs + 32 * j, 32);
      d[m] = a.d[j];
      if constexpr (Type::kOffset != 0) corr[m] = -Type::kOffset * a.sum[j];
      if constexpr (Type::kMin) minsum[m] = a.s[j];
    }
  } else {
    auto* minsum = reinterpret_cast<uint32_t*>(out + layout.minsum_at());
    const auto* a = static_cast<const BlockQ8_K*>(activation_row);
    for (int64_t b = 0; b < k / kQK_K; ++b) {
      std::memcpy(out + kQK_K * b, a[b].qs, kQK_K);
      d[b] = a[b].d;
      constexpr int kSubs = kQK_K / Type::S;
      for (int j = 0; j < kSubs; ++j) {
        int sum = 0;
        for (int g = j * Type::S / 16; g < (j + 1) * Type::S / 16; ++g) sum += a[b].bsums[g];
        const int64_t sub = b * kSubs + j;
        if constexpr (Type::kOffset != 0) corr[sub] = -Type::kOffset * sum;
        // |sum| <= 32 * 128: an int16.
        if constexpr (Type::kMin)
          minsum[sub / 2] = (sub % 2 ? minsum[sub / 2] : 0) |
                            static_cast<uint32_t>(static_cast<uint16_t>(sum)) << (16 * (sub % 2));
      }
    }
  }
}

// ---- the register-blocked kernels -------------------------------------------------------------
// Packed weights of a group, per sub-block: S / 4 vectors of 16 rows x 4 bytes, then its 16
// scales (f32 for the 32-element types, int32 for the K-quants), then (32-element types with
// a min) the 16 f32 mins. The K-quants add per super-block the 16 f32 d, and with a min the
// 16 f32 dmin and G / S / 2 vectors of 16 int16 pairs of sub-block mins.

template <typename Type>
constexpr size_t pack_sub_block_bytes() {
  return 16 * Type::S + 64 + (!kIsK<Type> && Type::kMin ? 64 : 0);
}

template <typename Type>
constexpr size_t pack_super_block_extra_bytes() {
  if constexpr (!kIsK<Type>) return 0;
  return 64 + (Type::kMin ? 64 + 64 * (Type::G / Type::S / 2) : 0);
}

// Sums of the S / 4 weight vectors at p with the quants at qs + t * row_bytes (sub-block j),
// starting from the rows' corrections: exact int32 per row lane and token.
template <typename Type, int T>
inline void sub_block_sums(const uint8_t* p, const uint8_t* rows, size_t row_bytes,
                           const RowLayout<Type>& layout, int64_t j, __m512i (&sums)[T]) {
  constexpr int S = Type::S;
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (Type::kOffset != 0)
      sums[t] = _mm512_set1_epi32(
          reinterpret_cast<const int32_t*>(rows + t * row_bytes + layout.corr_at())[j]);
    else
      sums[t] = _mm512_setzero_si512();
  }
#pragma GCC unroll 8
  for (int q = 0; q < S / 4; ++q) {
    const __m512i w = _mm512_load_si512(p + 64 * q);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      int32_t a;
      std::memcpy(&a, rows + t * row_bytes + j * S + 4 * q, 4);
      sums[t] = _mm512_dpbusd_epi32(sums[t], w, _mm512_set1_epi32(a));
    }
  }
}

// 32-element block types: 16 partial sums per row lane and token, accumulated one after the
// other in registers over the blocks in block_position order, then added pairwise.
template <typename Type, int T>
void legacy_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                   int64_t y_stride, __mmask16 store_mask) {
  const RowLayout<Type> layout{k};
  __m512 partial[16][T];
  const uint8_t* p = pack;
  int64_t m = 0;  // position of the next block
  for (int part = 0; part < 16; ++part) {
    __m512(&acc)[T] = partial[part];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (const int64_t end = m + partial_blocks(part, k / 32); m < end; ++m) {
      __m512i sums[T];
      sub_block_sums<Type, T>(p, rows, row_bytes, layout, m, sums);
      p += 16 * 32;
      const __m512 scale = _mm512_load_ps(p);
      p += 64;
      __m512 min;
      if constexpr (Type::kMin) {
        min = _mm512_load_ps(p);
        p += 64;
      }
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const uint8_t* row = rows + t * row_bytes;
        const float d = reinterpret_cast<const float*>(row + layout.d_at())[m];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]),
                                 _mm512_mul_ps(scale, _mm512_set1_ps(d)), acc[t]);
        if constexpr (Type::kMin)
          acc[t] = _mm512_fmadd_ps(
              min, _mm512_set1_ps(reinterpret_cast<const float*>(row + layout.minsum_at())[m]),
              acc[t]);
      }
    }
  }
  for (int width = 8; width > 0; width /= 2)
    for (int i = 0; i < width; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        partial[i][t] = _mm512_add_ps(partial[i][t], partial[i + width][t]);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, store_mask, partial[0][t]);
}

// K-quants: one exact integer sum per super-block and row lane and token, then f32.
template <typename Type, int T>
void k_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
              int64_t y_stride, __mmask16 store_mask) {
  constexpr int kSubs = Type::G / Type::S;
  const RowLayout<Type> layout{k};
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const uint8_t* p = pack;
  for (int64_t b = 0; b < k / Type::G; ++b) {
    __m512i total[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) total[t] = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int js = 0; js < kSubs; ++js) {
      __m512i sums[T];
      sub_block_sums<Type, T>(p, rows, row_bytes, layout, b * kSubs + js, sums);
      p += 16 * Type::S;
      const __m512i scale = _mm512_load_si512(p);
      p += 64;
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        total[t] =
            _mm512_add_epi32(total[t], kNarrowSums<Type> ? _mm512_madd_epi16(sums[t], scale)
                                                         : _mm512_mullo_epi32(sums[t], scale));
    }
    const __m512 d = _mm512_load_ps(p);
    p += 64;
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const float da = reinterpret_cast<const float*>(rows + t * row_bytes + layout.d_at())[b];
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, _mm512_set1_ps(da)),
                               acc[t]);
    }
    if constexpr (Type::kMin) {
      const __m512 dmin = _mm512_load_ps(p);
      p += 64;
      __m512i mins[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) mins[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int i = 0; i < kSubs / 2; ++i) {
        const __m512i m = _mm512_load_si512(p + 64 * i);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const auto* pairs =
              reinterpret_cast<const int32_t*>(rows + t * row_bytes + layout.minsum_at());
          mins[t] = _mm512_dpwssd_epi32(mins[t], m, _mm512_set1_epi32(pairs[b * kSubs / 2 + i]));
        }
      }
      p += 64 * (kSubs / 2);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const float da = reinterpret_cast<const float*>(rows + t * row_bytes + layout.d_at())[b];
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins[t]),
                                  _mm512_mul_ps(dmin, _mm512_set1_ps(da)), acc[t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, store_mask, acc[t]);
}

template <typename Type, int T>
void block_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                  int64_t y_stride, __mmask16 store_mask) {
  if constexpr (kIsK<Type>)
    k_kernel<Type, T>(pack, k, rows, row_bytes, y, y_stride, store_mask);
  else
    legacy_kernel<Type, T>(pack, k, rows, row_bytes, y, y_stride, store_mask);
}

template <typename Type>
void run_tokens(int n, const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes,
                float* y, int64_t y_stride, __mmask16 mask) {
  switch (n) {
    case 1:
      return block_kernel<Type, 1>(pack, k, rows, row_bytes, y, y_stride, mask);
    case 2:
      return block_kernel<Type, 2>(pack, k, rows, row_bytes, y, y_stride, mask);
    case 3:
      return block_kernel<Type, 3>(pack, k, rows, row_bytes, y, y_stride, mask);
    case 4:
      return block_kernel<Type, 4>(pack, k, rows, row_bytes, y, y_stride, mask);
    case 5:
      return block_kernel<Type, 5>(pack, k, rows, row_bytes, y, y_stride, mask);
    case 6:
      return block_kernel<Type, 6>(pack, k, rows, row_bytes, y, y_stride, mask);
    case 7:
      return block_kernel<Type, 7>(pack, k, rows, row_bytes, y, y_stride, mask);
    default:
      return block_kernel<Type, 8>(pack, k, rows, row_bytes, y, y_stride, mask);
  }
}

// Per-thread scratch: the decoded rows and fields of one group and the interleaved packs of a
// run of groups.
struct Scratch {
  std::vector<uint8_t> q;
  std::vector<float> scale, min, d, dmin;
  std::vector<int32_t> int_scale;
  std::vector<int16_t> int_min;
  std::vector<uint8_t> pack_storage;

  uint8_t* pack(size_t bytes) {
    if (pack_storage.size() < bytes + 64) pack_storage.resize(bytes + 64);
    const auto address = reinterpret_cast<uintptr_t>(pack_storage.data());
    return pack_storage.data() + (64 - address % 64) % 64;
  }
};

template <typename Type>
size_t group_pack_bytes(int64_t k) {
  return static_cast<size_t>(k / Type::S) * pack_sub_block_bytes<Type>() +
         static_cast<size_t>(k / Type::G) * pack_super_block_extra_bytes<Type>();
}

// 16 rows x 4 dwords (row r's 16 bytes at rows + r * stride) to 4 vectors, vector q holding
// dword q of every row: the 4 x 4 transpose within each 128-bit lane of [r | r+4 | r+8 | r+12].
inline void transpose_16x4(const uint8_t* rows, int64_t stride, uint8_t* out) {
  __m512i z[4];
  for (int k = 0; k < 4; ++k) {
    auto row = [&](int r) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + r * stride));
    };
    __m512i v = _mm512_castsi128_si512(row(k));
    v = _mm512_inserti32x4(v, row(k + 4), 1);
    v = _mm512_inserti32x4(v, row(k + 8), 2);
    z[k] = _mm512_inserti32x4(v, row(k + 12), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  _mm512_store_si512(out, _mm512_unpacklo_epi64(t0, t2));
  _mm512_store_si512(out + 64, _mm512_unpackhi_epi64(t0, t2));
  _mm512_store_si512(out + 128, _mm512_unpacklo_epi64(t1, t3));
  _mm512_store_si512(out + 192, _mm512_unpackhi_epi64(t1, t3));
}

// Copies the 64 bytes at from to out and advances out.
inline void put64(uint8_t*& out, const void* from) {
  std::memcpy(out, from, 64);
  out += 64;
}

// Decodes rows [row0, row0 + rows_in_group) (the rest of the 16 as zeros) and writes their
// interleaved pack to `out`.
template <typename Type>
void pack_group(const GemmProblem& p, int64_t row0, int rows_in_group, Scratch& s, uint8_t* out) {
  const int64_t k = p.n_in;
  const int64_t n_sub = k / Type::S, n_super = k / Type::G;
  const auto lanes = [](int64_t fields) { return static_cast<size_t>(kRows * fields); };
  s.q.resize(lanes(k));
  if constexpr (kIsK<Type>) {
    s.int_scale.assign(lanes(n_sub), 0);
    s.int_min.assign(lanes(n_sub), 0);
    s.d.assign(lanes(n_super), 0.0f);
    s.dmin.assign(lanes(n_super), 0.0f);
  } else {
    s.scale.assign(lanes(n_sub), 0.0f);
    s.min.assign(lanes(n_sub), 0.0f);
  }
  for (int r = 0; r < kRows; ++r) {
    uint8_t* q = s.q.data() + r * k;
    if (r >= rows_in_group) {
      std::memset(q, 0, static_cast<size_t>(k));
      continue;
    }
    const uint8_t* row = p.w + static_cast<size_t>(row0 + r) * p.w_row_bytes;
    if constexpr (kIsK<Type>)
      Type::decode(row, k, q,
                   KFields{s.int_scale.data() + r, s.int_min.data() + 2 * r, s.d.data() + r,
                           s.dmin.data() + r});
    else
      Type::decode(row, k, q, LegacyFields{s.scale.data() + r, s.min.data() + r});
  }
  // Sub-block j goes to position j, or block_position(j) for the 32-element types.
  uint8_t* const start = out;
  for (int64_t j = 0; j < n_sub; ++j) {
    if constexpr (!kIsK<Type>)
      out = start + block_position(j, n_sub) * pack_sub_block_bytes<Type>();
    for (int h = 0; h < Type::S / 16; ++h) {
      transpose_16x4(s.q.data() + j * Type::S + 16 * h, k, out);
      out += 256;
    }
    if constexpr (kIsK<Type>) {
      put64(out, s.int_scale.data() + kRows * j);
      if ((j + 1) % (Type::G / Type::S) != 0) continue;
      const int64_t b = j / (Type::G / Type::S);
      put64(out, s.d.data() + kRows * b);
      if constexpr (Type::kMin) {
        put64(out, s.dmin.data() + kRows * b);
        for (int64_t i = (b * Type::G / Type::S) / 2; i < ((b + 1) * Type::G / Type::S) / 2; ++i)
          put64(out, s.int_min.data() + 2 * kRows * i);
      }
    } else {
      put64(out, s.scale.data() + kRows * j);
      if constexpr (Type::kMin) put64(out, s.min.data() + kRows * j);
    }
  }
}

// Bytes of packed weights decoded before the tokens are run over them, and of activation rows
// run over them at a time: together they stay in L2.
constexpr size_t kPackBudget = 512 * 1024;
constexpr size_t kTokenBudget = 256 * 1024;

template <typename Type>
void multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  thread_local Scratch scratch;
  const size_t group_bytes = group_pack_bytes<Type>(p.n_in);
  const int64_t groups_per_run =
      std::max<int64_t>(1, static_cast<int64_t>(kPackBudget / group_bytes));
  const int64_t tokens_per_chunk = std::max<int64_t>(
      kTokens, static_cast<int64_t>(kTokenBudget / p.row_bytes) / kTokens * kTokens);
  const int64_t run_rows = groups_per_run * kRows;
  for (int64_t run0 = row_begin; run0 < row_end; run0 += run_rows) {
    const int64_t run1 = std::min(row_end, run0 + run_rows);
    const int64_t n_groups = (run1 - run0 + kRows - 1) / kRows;
    uint8_t* packs = scratch.pack(group_bytes * static_cast<size_t>(n_groups));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t row0 = run0 + g * kRows;
      pack_group<Type>(p, row0, static_cast<int>(std::min<int64_t>(kRows, run1 - row0)), scratch,
                       packs + g * group_bytes);
    }
    for (int64_t c0 = 0; c0 < p.n_tokens; c0 += tokens_per_chunk) {
      const int64_t c1 = std::min(p.n_tokens, c0 + tokens_per_chunk);
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t row0 = run0 + g * kRows;
        const int rows_in_group = static_cast<int>(std::min<int64_t>(kRows, run1 - row0));
        const auto mask = static_cast<__mmask16>((1u << rows_in_group) - 1);
        for (int64_t t0 = c0; t0 < c1; t0 += kTokens) {
          const int n = static_cast<int>(std::min<int64_t>(kTokens, c1 - t0));
          run_tokens<Type>(n, packs + g * group_bytes, p.n_in,
                           p.rows + static_cast<size_t>(t0) * p.row_bytes, p.row_bytes,
                           p.y + t0 * p.y_stride + row0, p.y_stride, mask);
        }
      }
    }
  }
}

template <typename Type>
constexpr GemmKernels kernels_of{row_bytes<Type>, prepare<Type>, multiply<Type>};

}  // namespace

const GemmKernels* gemm_kernels(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &kernels_of<LegacyType<Q8_0Weights>>;
    case GgmlType::Q4_0:
      return &kernels_of<LegacyType<Q4_0Weights>>;
    case GgmlType::Q5_0:
      return &kernels_of<LegacyType<Q5_0Weights>>;
    case GgmlType::Q4_1:
      return &kernels_of<LegacyType<Q4_1Weights>>;
    case GgmlType::Q5_1:
      return &kernels_of<LegacyType<Q5_1Weights>>;
    case GgmlType::IQ4_NL:
      return &kernels_of<LegacyType<IQ4_NLWeights>>;
    case GgmlType::Q2_K:
      return &kernels_of<Q2KType>;
    case GgmlType::Q3_K:
      return &kernels_of<Q3KType>;
    case GgmlType::Q4_K:
      return &kernels_of<Q45KType<false, BlockQ4_K>>;
    case GgmlType::Q5_K:
      return &kernels_of<Q45KType<true, BlockQ5_K>>;
    case GgmlType::Q6_K:
      return &kernels_of<Q6KType>;
    default:
      return nullptr;
  }
}

}  // namespace gengyun::kernels::avx512
