// x86 SIMD dot products of weight rows with one activation row, for every type, written
// once and compiled twice: by vec_dot_avx2.cpp (AVX2 + FMA + F16C) and by vec_dot_avx512.cpp
// (adds AVX-512 VNNI: the u8 x s8 and s16 x s16 multiply-adds fuse into vpdpbusd / vpdpwssd;
// f32, f16 and bf16 rows use 512-bit vectors). Semantics are those of vec_dot_scalar.h; the
// integer sums of every block are the same exact values, only the f32 scaling and the order
// of the f32 accumulation differ. The quantized kernels of both levels follow the order of
// the batched kernels of the same level (gemm_avx512.cpp, gemm_avx2.cpp) exactly (batch
// invariance, matmul.h); that order is the same at both levels, so for the quantized types
// AVX2 and AVX-512 give the same bits.
//
// Include only from a file compiled with at least -mavx2 -mfma -mf16c, after defining
// GENGYUN_X86_NS as that file's namespace (avx2, avx512, or avx512_vbmi / avx512_gfni for
// vec_dot_avx512_vbmi.cpp / vec_dot_avx512_gfni.cpp, which take only vec_dot_groups16_x86.h's
// kernels from it):
// everything here then has internal linkage inside gengyun::kernels::GENGYUN_X86_NS, so the
// builds never mix.
#pragma once

// GCC 12's AVX-512 headers read _mm512_undefined_* values and warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/activation_rows.h"
#include "kernels/block_fields.h"
#include "kernels/float16.h"
#include "kernels/quant_blocks.h"

#ifndef GENGYUN_X86_NS
#error "define GENGYUN_X86_NS before including vec_dot_x86.h"
#endif

namespace gengyun::kernels::GENGYUN_X86_NS {
namespace {

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// How far ahead of the bytes it is reading a decode product asks for its weights: 3 KiB.
// Decode streams each weight row once, and two block groups ahead (0.6-1.1 KiB) is less than
// DRAM's latency at a thread's rate, which left the slower products short of the memory; too
// far ahead, it streamed slower on the machine with AMX (docs/kernels.md, "Prefetch 4 KiB ahead"
// and "Prefetch 3 KiB ahead"). kernels_bench Streamed/ at 2 threads, kBlockGroups16 products: on an
// Intel Xeon (AVX-512 VNNI) 1.4 KiB streamed at 0.71-0.76 of the read bandwidth, 2.8-11 KiB at
// 0.77-0.87; on the Intel Xeon with AMX, 4 KiB at 0.72 (AVX2) and 0.83-0.84 (AVX-512) on
// average over 13 type and shape pairs, 3 KiB 0.83 and 0.88-0.91, 2 KiB 0.84-0.88 and
// 0.90-0.93; on an AMD EPYC (Zen 4) 2, 3 and 4 KiB alike. 3 KiB is the shortest distance
// measured good on all three. Prefetching past the end of the weights is harmless (no fault).
constexpr int64_t kPrefetchAheadBytes = 3072;

// Software prefetch into L1 of the cache lines of [at + kAhead, ... + bytes), `at` being the
// bytes the caller reads now. Unrolled: after inlining `bytes` is a constant, and a loop would
// cost 4 instructions a line.
template <int64_t kAhead = kPrefetchAheadBytes>
inline void prefetch_ahead(const void* at, int bytes) {
  const char* p = static_cast<const char*>(at) + kAhead;
#pragma GCC unroll 16
  for (int line = 0; line < bytes; line += 64) _mm_prefetch(p + line, _MM_HINT_T0);
}

// acc + sum over each 4 consecutive bytes of u (unsigned) times s (signed), per int32 lane.
// Exact here: maddubs saturates a pair of products beyond 32767, and 2 * 128 * 127 is below
// that (every caller has u <= 128 against |s| <= 127, or u <= 63 against s8).
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

// acc + pairwise products of int16 lanes, per int32 lane.
inline __m256i dot_s16(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpwssd_epi32(acc, a, b);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

// Signed x signed bytes via |x| and y with x's sign (activations are never -128).
inline __m256i dot_s8s8(__m256i acc, __m256i x, __m256i y) {
  return dot_u8s8(acc, _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 32 nibbles of a 16-byte qs: low nibbles (elements 0..15) then high nibbles (16..31).
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Byte j = 0xFF where bit j of the 32 bits at p is set, else 0.
inline __m256i unpack_bits(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i others = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7FBFDFEFF7FBFDFE));
  return _mm256_cmpeq_epi8(others, _mm256_set1_epi64x(-1));
}

// Rows of Q5_0 / Q5_1 in WeightLayout::kBlockGroups16 (vec_dot_groups16_x86.h; AVX2's kernel
// in vec_dot_avx2.cpp): byte i of a 128-bit lane (block l = i / 4, byte b = i % 4 of a quant
// word) meets, in word k and nibble half h (0 low, 1 high), the element whose fifth bit is bit
// 4 (k % 2) + b of byte 2 h + k / 2 of its block's field: kFifthBits.index[2 k + h] picks that
// byte (within the lane), kFifthBits.bit[2 k + h] the bit.
struct FifthBitTables {
  alignas(16) int8_t index[8][16];
  alignas(16) int8_t bit[8][16];
};
constexpr FifthBitTables make_fifth_bit_tables() {
  FifthBitTables t{};
  for (int k = 0; k < 4; ++k)
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 16; ++i) {
        t.index[2 * k + h][i] = static_cast<int8_t>((i & ~3) + 2 * h + k / 2);
        t.bit[2 * k + h][i] = static_cast<int8_t>(1 << (4 * (k % 2) + (i & 3)));
      }
  return t;
}
constexpr FifthBitTables kFifthBits = make_fifth_bit_tables();

// ---- 32-element blocks with Q8_0 / Q8_1 activation rows -----------------------------------
// Weights are used unsigned where the format allows (Q4_0 nibbles, Q5_0 five-bit values) and
// the offset (8, 16) comes back through the activation row's block sums; IQ4_NL levels and
// Q8_0 quants are signed and use |w| against a with w's sign.

// Per-type weight decoding, one block of 32 into 32 bytes in element order.
struct Q8_0Weights {
  using Block = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static __m256i unpack(const Block& b) { return load256(b.qs); }
};
struct Q4_0Weights {
  using Block = BlockQ4_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 8;
  static __m256i unpack(const Block& b) { return unpack_nibbles(b.qs); }
};
struct Q5_0Weights {
  using Block = BlockQ5_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 16;
  static __m256i unpack(const Block& b) {
    const __m256i fifth = _mm256_and_si256(unpack_bits(b.qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles(b.qs), fifth);
  }
};
struct IQ4_NLWeights {
  using Block = BlockIQ4_NL;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static __m256i unpack(const Block& b) {
    const __m256i levels = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLLevels)));
    return _mm256_shuffle_epi8(levels, unpack_nibbles(b.qs));
  }
};
struct Q4_1Weights {
  using Block = BlockQ4_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static __m256i unpack(const Block& b) { return unpack_nibbles(b.qs); }
};
struct Q5_1Weights {
  using Block = BlockQ5_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static __m256i unpack(const Block& b) {
    const __m256i fifth = _mm256_and_si256(unpack_bits(b.qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles(b.qs), fifth);
  }
};

#if defined(__AVX512F__)
// AVX-512: the order of the batched kernels (gemm_avx512.cpp), so that a token's outputs do
// not depend on the batch it is in. Per row, the exact integer sum I_i of each block i (the
// weight offset included), then in f32, block by block,
//   p[i % 16] = fma(float(I_i), d_w[i] * d_a[i], p[i % 16])
//   p[i % 16] = fma(m_w[i], s_a[i], p[i % 16])          (Q4_1 / Q5_1 only)
// with p[0..16) starting at +0; the result is p[0] after p[k] += p[k + w] (k < w) for
// w = 8, 4, 2, 1. One vector holds p: lane k takes blocks k, 16 + k, 32 + k, ...
// The integer sums are formed two blocks per 512-bit vector (lanes 0..7: block i, 8..15:
// block i + 1), and the 8 vectors of 16 blocks are then summed down to one lane per block.

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// v, which the compiler must then hold in a register: without this GCC re-creates a constant
// from immediates inside the loops that use it (3 instructions a use, once per row or group).
inline __m512i in_register(__m512i v) {
  asm("" : "+v"(v));
  return v;
}

// Two 16-byte nibble arrays as [low(a) | high(a) | low(b) | high(b)].
inline __m512i unpack_nibbles2(const uint8_t* qs_a, const uint8_t* qs_b) {
  const __m512i aaaa =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs_a)));
  const __m512i aabb = _mm512_mask_broadcast_i32x4(
      aaaa, 0xFF00, _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs_b)));
  const __m512i shifted = _mm512_mask_srli_epi16(aabb, 0xFF00FF00u, aabb, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

// The 64 fifth bits of two blocks as a byte mask.
inline __mmask64 fifth_bits2(const uint8_t* qh_a, const uint8_t* qh_b) {
  uint32_t a, b;
  std::memcpy(&a, qh_a, 4);
  std::memcpy(&b, qh_b, 4);
  return _cvtu64_mask64(static_cast<uint64_t>(b) << 32 | a);
}

struct Q8_0Weights2 {
  using Block = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr int kOffset = 0;
  static __m512i unpack(const Block& a, const Block& b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load256(a.qs)), load256(b.qs), 1);
  }
};
struct Q4_0Weights2 {
  using Block = BlockQ4_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 8;
  static __m512i unpack(const Block& a, const Block& b) { return unpack_nibbles2(a.qs, b.qs); }
};
struct Q5_0Weights2 {
  using Block = BlockQ5_0;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 16;
  static __m512i unpack(const Block& a, const Block& b) {
    const __m512i q = unpack_nibbles2(a.qs, b.qs);
    return _mm512_or_si512(q, _mm512_maskz_set1_epi8(fifth_bits2(a.qh, b.qh), 0x10));
  }
};
struct IQ4_NLWeights2 {
  using Block = BlockIQ4_NL;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 128;  // the levels + 128, all in 1..241
  static __m512i unpack(const Block& a, const Block& b) {
    const __m128i levels =
        _mm_add_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLLevels)),
                     _mm_set1_epi8(static_cast<char>(0x80)));
    return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(levels), unpack_nibbles2(a.qs, b.qs));
  }
};
struct Q4_1Weights2 {
  using Block = BlockQ4_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static __m512i unpack(const Block& a, const Block& b) { return unpack_nibbles2(a.qs, b.qs); }
};
struct Q5_1Weights2 {
  using Block = BlockQ5_1;
  static constexpr bool kSigned = false;
  static constexpr int kOffset = 0;
  static __m512i unpack(const Block& a, const Block& b) {
    const __m512i q = unpack_nibbles2(a.qs, b.qs);
    return _mm512_or_si512(q, _mm512_maskz_set1_epi8(fifth_bits2(a.qh, b.qh), 0x10));
  }
};

// Lane j = the sum of lanes 2j and 2j + 1 of the 32 lanes a | b.
inline __m512i add_adjacent(__m512i a, __m512i b) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  return _mm512_add_epi32(_mm512_permutex2var_epi32(a, even, b),
                          _mm512_permutex2var_epi32(a, odd, b));
}

// Per int32 lane, the products of 4 weight and 4 activation bytes of blocks a and b (lanes
// 0..7: a, 8..15: b) against act, the 64 activation quants of the two blocks.
template <typename W2>
inline __m512i pair_dot(const typename W2::Block& a, const typename W2::Block& b, __m512i act) {
  const __m512i q = W2::unpack(a, b);
  if constexpr (W2::kSigned) {
    act = _mm512_mask_sub_epi8(act, _mm512_movepi8_mask(q), _mm512_setzero_si512(), act);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(q), act);
  } else {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, act);
  }
}

// Lane k = the exact integer sum of block k (k < n, else 0) of x against the quants qs,
// before the weight offset; kFull: n = 16.
template <typename W2, bool kFull>
inline __m512i block_sums16(const typename W2::Block* x, const int8_t* qs, int n) {
  __m512i pairs[8];
#pragma GCC unroll 8
  for (int p = 0; p < 8; ++p) {
    if (kFull || 2 * p + 1 < n)
      pairs[p] = pair_dot<W2>(x[2 * p], x[2 * p + 1], load512(qs + 64 * p));
    else if (2 * p < n)  // the last block alone: its activations, then zeros
      pairs[p] = pair_dot<W2>(x[2 * p], x[2 * p], _mm512_maskz_loadu_epi8(0xFFFFFFFF, qs + 64 * p));
    else
      pairs[p] = _mm512_setzero_si512();
  }
  // 8 lanes per block -> 4 -> 2 -> 1.
  const __m512i quads[4] = {add_adjacent(pairs[0], pairs[1]), add_adjacent(pairs[2], pairs[3]),
                            add_adjacent(pairs[4], pairs[5]), add_adjacent(pairs[6], pairs[7])};
  return add_adjacent(add_adjacent(quads[0], quads[1]), add_adjacent(quads[2], quads[3]));
}

// The first `bytes` bytes of [p, p + 64) (the rest zero); never reads past them.
inline __m512i load_bytes(const uint8_t* p, int64_t bytes) {
  const __mmask64 mask = bytes >= 64  ? ~__mmask64{0}
                         : bytes <= 0 ? __mmask64{0}
                                      : (__mmask64{1} << bytes) - 1;
  return _mm512_maskz_loadu_epi8(mask, p);
}

// The f16 field at byte kOffset of blocks 0..n-1 of x (lanes n..15: 0), as f32 lanes.
// Windows of 128 bytes, each holding the fields of several blocks, are loaded and the fields
// picked out with a word permute. kFull: n = 16.
template <typename Block, int kOffset, bool kFull>
inline __m512 block_field16(const Block* x, int n) {
  constexpr int kStride = sizeof(Block) / 2;                    // words per block
  constexpr int kPerWindow = (63 - kOffset / 2) / kStride + 1;  // fields in a 64-word window
  const auto* p = reinterpret_cast<const uint8_t*>(x);
  const int64_t bytes = static_cast<int64_t>(kFull ? 16 : n) * static_cast<int64_t>(sizeof(Block));
  const __m512i lane = _mm512_zextsi256_si512(
      _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  __m512i words = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int k0 = 0; k0 < 16; k0 += kPerWindow) {
    if (!kFull && k0 >= n) break;
    const int64_t base = k0 * static_cast<int64_t>(sizeof(Block));
    const __m512i low = load_bytes(p + base, bytes - base);
    const __m512i high = load_bytes(p + base + 64, bytes - base - 64);
    // Lane k (k0 <= k < k0 + kPerWindow) takes word (k - k0) * kStride + kOffset / 2.
    const __m512i index =
        _mm512_add_epi16(_mm512_mullo_epi16(lane, _mm512_set1_epi16(kStride)),
                         _mm512_set1_epi16(static_cast<short>(kOffset / 2 - k0 * kStride)));
    const auto lanes = static_cast<__mmask32>((((1u << kPerWindow) - 1) << k0) & 0xFFFF);
    words = _mm512_mask_mov_epi16(words, lanes, _mm512_permutex2var_epi16(low, index, high));
  }
  return _mm512_cvtph_ps(_mm512_castsi512_si256(words));
}

// Adds the blocks [i0, i0 + n) (n <= 16; kFull: n = 16) to the partial sums p (see above).
template <typename W2, bool kFull>
inline __m512 add_blocks16(const typename W2::Block* x, const Q8Row& y, int64_t i0, int n,
                           __m512 p) {
  using Block = typename W2::Block;
  constexpr bool kHasMin = requires(const Block& b) { b.m; };
  const __mmask16 lanes = kFull ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
  __m512i sums = block_sums16<W2, kFull>(x + i0, y.qs + i0 * kQK, n);
  if constexpr (W2::kOffset != 0)
    sums = _mm512_sub_epi32(sums, _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(lanes, y.sum + i0),
                                                     _mm512_set1_epi32(W2::kOffset)));
  const __m512 scale = _mm512_mul_ps(block_field16<Block, 0, kFull>(x + i0, n),
                                     _mm512_maskz_loadu_ps(lanes, y.d + i0));
  p = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, p, lanes);
  if constexpr (kHasMin)
    p = _mm512_mask3_fmadd_ps(block_field16<Block, 2, kFull>(x + i0, n),
                              _mm512_maskz_loadu_ps(lanes, y.s + i0), p, lanes);
  return p;
}

// p[0] after p[k] += p[k + w] (k < w) for w = 8, 4, 2, 1.
inline float sum_partials16(__m512 p) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(p), _mm512_extractf32x8_ps(p, 1));
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

template <typename W2>
inline float dot_row(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const typename W2::Block*>(w);
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  __m512 p = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= nb; i += 16) {
    prefetch_ahead(x + i, 16 * sizeof(typename W2::Block));
    p = add_blocks16<W2, true>(x, y, i, 16, p);
  }
  if (i < nb) p = add_blocks16<W2, false>(x, y, i, static_cast<int>(nb - i), p);
  return sum_partials16(p);
}
#define GENGYUN_LEGACY_DOT(W) dot_row<W##2>
#else
// AVX2: the same order as AVX-512 above, which the AVX2 batched kernels (gemm_avx2.cpp) follow
// too: per row, the exact integer sum I_i of each block i (the weight offset included), then
// in f32, block by block,
//   p[i % 16] = fma(float(I_i), d_w[i] * d_a[i], p[i % 16])
//   p[i % 16] = fma(m_w[i], s_a[i], p[i % 16])          (Q4_1 / Q5_1 only)
// with p[0..16) starting at +0; the result is p[0] after p[k] += p[k + w] (k < w) for
// w = 8, 4, 2, 1. Two vectors hold p (lane k of the first: p[k], of the second: p[8 + k]), and
// each takes 8 blocks at a time: their integer sums are formed one 8-lane vector per block and
// summed down to one lane per block. Past the row's last block a lane takes fma(+0, +0, p[k]),
// which is p[k] (p[k] is never -0: it starts at +0, and a sum rounds to -0 only when both of
// its terms are -0).

// Lane k: the exact integer sum of block k of x (k < n, else 0) against the quants at qs,
// before the weight offset; kFull: n = 8.
template <typename W, bool kFull>
inline __m256i block_sums8(const typename W::Block* x, const int8_t* qs, int n) {
  __m256i dots[8];
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    if (!kFull && k >= n) {
      dots[k] = _mm256_setzero_si256();
      continue;
    }
    const __m256i q = W::unpack(x[k]);
    const __m256i act = load256(qs + kQK * k);
    dots[k] = W::kSigned ? dot_s8s8(_mm256_setzero_si256(), q, act)
                         : dot_u8s8(_mm256_setzero_si256(), q, act);
  }
  // Per 128-bit half, lane j of low (high) is the sum of that half of dots[j] (dots[4 + j]).
  const __m256i low =
      _mm256_hadd_epi32(_mm256_hadd_epi32(dots[0], dots[1]), _mm256_hadd_epi32(dots[2], dots[3]));
  const __m256i high =
      _mm256_hadd_epi32(_mm256_hadd_epi32(dots[4], dots[5]), _mm256_hadd_epi32(dots[6], dots[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(low, high, 0x20),
                          _mm256_permute2x128_si256(low, high, 0x31));
}

// The f16 field `Field` of blocks 0..n-1 of x (lanes n..7: 0), as f32 lanes; kFull: n = 8.
template <auto Field, bool kFull, typename Block>
inline __m256 half_fields8(const Block* x, int n) {
  auto field = [&](int k) -> short { return kFull || k < n ? static_cast<short>(x[k].*Field) : 0; };
  return _mm256_cvtph_ps(_mm_setr_epi16(field(0), field(1), field(2), field(3), field(4), field(5),
                                        field(6), field(7)));
}

// Lanes k < n of the 8 values at p (the others 0, not read); kFull: n = 8.
template <bool kFull>
inline __m256 load8_ps(const float* p, __m256i lanes) {
  return kFull ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes);
}

// Adds the blocks [i0, i0 + n) (n <= 8; kFull: n = 8) to the 8 partial sums p (see above).
template <typename W, bool kFull>
inline __m256 add_blocks8(const typename W::Block* x, const Q8Row& y, int64_t i0, int n, __m256 p) {
  using Block = typename W::Block;
  constexpr bool kHasMin = requires(const Block& b) { b.m; };
  const __m256i lanes =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i sums = block_sums8<W, kFull>(x + i0, y.qs + i0 * kQK, n);
  if constexpr (W::kOffset != 0) {
    const __m256i block_sums =
        kFull ? load256(y.sum + i0) : _mm256_maskload_epi32(y.sum + i0, lanes);
    sums = _mm256_sub_epi32(sums, _mm256_mullo_epi32(block_sums, _mm256_set1_epi32(W::kOffset)));
  }
  const __m256 scale =
      _mm256_mul_ps(half_fields8<&Block::d, kFull>(x + i0, n), load8_ps<kFull>(y.d + i0, lanes));
  p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, p);
  if constexpr (kHasMin)
    p = _mm256_fmadd_ps(half_fields8<&Block::m, kFull>(x + i0, n), load8_ps<kFull>(y.s + i0, lanes),
                        p);
  return p;
}

template <typename W>
inline float dot_row(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const typename W::Block*>(w);
  const Q8Row y(a, n);
  const int64_t nb = n / kQK;
  __m256 p0 = _mm256_setzero_ps(), p1 = _mm256_setzero_ps();  // p[0..8), p[8..16)
  int64_t i = 0;
  for (; i + 16 <= nb; i += 16) {
    p0 = add_blocks8<W, true>(x, y, i, 8, p0);
    p1 = add_blocks8<W, true>(x, y, i + 8, 8, p1);
  }
  const int rest = static_cast<int>(nb - i);
  if (rest >= 8) {
    p0 = add_blocks8<W, true>(x, y, i, 8, p0);
    if (rest > 8) p1 = add_blocks8<W, false>(x, y, i + 8, rest - 8, p1);
  } else if (rest > 0) {
    p0 = add_blocks8<W, false>(x, y, i, rest, p0);
  }
  // hsum adds lanes k and k + 4, then k and k + 2, then 0 and 1.
  return hsum(_mm256_add_ps(p0, p1));
}
#define GENGYUN_LEGACY_DOT(W) dot_row<W>
#endif

inline float vec_dot_q8_0_impl(int64_t n, const void* w, const void* a) {
  return GENGYUN_LEGACY_DOT(Q8_0Weights)(n, w, a);
}
inline float vec_dot_q4_0_impl(int64_t n, const void* w, const void* a) {
  return GENGYUN_LEGACY_DOT(Q4_0Weights)(n, w, a);
}
inline float vec_dot_q5_0_impl(int64_t n, const void* w, const void* a) {
  return GENGYUN_LEGACY_DOT(Q5_0Weights)(n, w, a);
}
inline float vec_dot_iq4_nl_impl(int64_t n, const void* w, const void* a) {
  return GENGYUN_LEGACY_DOT(IQ4_NLWeights)(n, w, a);
}
inline float vec_dot_q4_1_impl(int64_t n, const void* w, const void* a) {
  return GENGYUN_LEGACY_DOT(Q4_1Weights)(n, w, a);
}
inline float vec_dot_q5_1_impl(int64_t n, const void* w, const void* a) {
  return GENGYUN_LEGACY_DOT(Q5_1Weights)(n, w, a);
}
#undef GENGYUN_LEGACY_DOT

// Quants 128 h .. 128 h + 127 of a Q6_K block as 4 vectors of 32 unsigned values (0..63):
// ql's 4 bits (low nibbles of bytes 64 h.., then high nibbles) under qh's 2 bits.
inline void unpack_q6_K_half(const BlockQ6_K& b, int h, __m256i q[4]) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(0x03);
  const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32);
  const __m256i qh = load256(b.qh + 32 * h);
  const __m256i ql[2] = {ql0, ql1};
  for (int s = 0; s < 4; ++s) {
    const __m256i low = s < 2 ? ql[s] : _mm256_srli_epi16(ql[s - 2], 4);
    const __m256i high = _mm256_srli_epi16(qh, 2 * s);
    q[s] = _mm256_or_si256(_mm256_and_si256(low, low_mask),
                           _mm256_slli_epi16(_mm256_and_si256(high, two_bits), 4));
  }
}

// The 256 quants of a Q4_K (kFifthBit false) or Q5_K super-block as unsigned bytes in element
// order (0..15, 0..31): per 64 elements, the low nibbles of 32 qs bytes then their high nibbles,
// each under its fifth bit from qh.
template <bool kFifthBit, typename Block>
inline void unpack_q45_K(const Block& b, uint8_t* out) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
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
          hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * j + 1), one), 4));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * j), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * j + 32), hi);
  }
}

// The 256 quants of a Q3_K super-block as unsigned bytes in element order (0..7: the 2 low
// bits from qs, the third from hmask).
inline void unpack_q3_K(const BlockQ3_K& b, uint8_t* out) {
  const __m256i hmask = load256(b.hmask);
  for (int h = 0; h < 2; ++h) {
    const __m256i bytes = load256(b.qs + 32 * h);
    for (int s = 0; s < 4; ++s) {
      const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * s), _mm256_set1_epi8(0x03));
      const __m256i third =
          _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + s), _mm256_set1_epi8(0x01));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 128 * h + 32 * s),
                          _mm256_or_si256(low, _mm256_slli_epi16(third, 2)));
    }
  }
}

// The unsigned quants of half h (sub-blocks 8 h .. 8 h + 7) of a Q2_K, Q3_K or Q6_K group of
// WeightLayout::kBlockGroups16 at `group` (weight_layout.h): u[k], 32-bit lane l holds those of
// elements 4 k .. 4 k + 3 of sub-block 8 h + l.
//  - Q2_K (0..3): bits 2 k of the half's 32 bytes of qs;
//  - Q3_K (0..7): those low bits from the half's 32 bytes at the group's start, under the third
//    bit at 2 k + h of the 32 bytes of third bits, brought to bit 2;
//  - Q6_K (0..63): the low 4 bits, nibble k % 2 of word k / 2, under the 2 high bits at 2 k of
//    the third word, brought to bits 4-5.
template <typename Block>
inline void k16_group_half_quants(const uint8_t* group, int h, __m256i u[4]) {
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  if constexpr (std::is_same_v<Block, BlockQ6_K>) {
    const __m256i low = _mm256_set1_epi8(0x0F), high = _mm256_set1_epi8(0x30);
    const __m256i ql0 = load256(group + 32 * h), ql1 = load256(group + 64 + 32 * h);
    const __m256i qh = load256(group + 128 + 32 * h);
    u[0] = _mm256_or_si256(_mm256_and_si256(ql0, low),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 4), high));
    u[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), high));
    u[2] = _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_and_si256(qh, high));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), high));
    return;
  }
  constexpr bool kThird = std::is_same_v<Block, BlockQ3_K>;
  const __m256i lows = load256(group + (kThird ? 0 : offsetof(BlockQ2_K, qs)) + 32 * h);
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    u[k] = _mm256_and_si256(_mm256_srli_epi16(lows, 2 * k), two_bits);
    if constexpr (kThird) {
      const __m256i third = load256(group + 64);
      const int up = 2 - 2 * k - h;  // the third bit's shift to bit 2 (right where negative)
      const __m256i third_at_2 =
          up >= 0 ? _mm256_slli_epi16(third, up) : _mm256_srli_epi16(third, -up);
      u[k] = _mm256_or_si256(u[k], _mm256_and_si256(third_at_2, _mm256_set1_epi8(0x04)));
    }
  }
}

// The 256 quants of a Q2_K super-block as unsigned bytes in element order (0..3).
inline void unpack_q2_K(const BlockQ2_K& b, uint8_t* out) {
  for (int h = 0; h < 2; ++h) {
    const __m256i bytes = load256(b.qs + 32 * h);
    for (int s = 0; s < 4; ++s)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 128 * h + 32 * s),
                          _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * s), _mm256_set1_epi8(0x03)));
  }
}

// The 256 quants of a Q6_K super-block as unsigned bytes in element order (0..63).
inline void unpack_q6_K(const BlockQ6_K& b, uint8_t* out) {
  for (int h = 0; h < 2; ++h) {
    __m256i v[4];
    unpack_q6_K_half(b, h, v);
    for (int s = 0; s < 4; ++s)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 128 * h + 32 * s), v[s]);
  }
}

// ---- K-quants with Q8_K activations -------------------------------------------------------
// The integer sums of each block are formed in vectors of int32 lanes that add up to the
// block's exact totals S = sum_g scale_g * sum_{i in g} q_i a_i (offsets included) and, with
// mins, M = sum_g min_g * bsum_g. add_blocks then applies the f32 steps, at both levels in the
// order of the batched kernels (gemm_avx512.cpp, gemm_avx2.cpp), so that a token's outputs do
// not depend on the batch it is in: block by block from acc = +0,
//   acc = fma(float(S), d_w * d_a, acc);   acc = fnmadd(float(M), dmin_w * d_a, acc);
// (the integer sums being exact, AVX2 and AVX-512 give the same bits).

// Lane 0: the sum of the 8 int32 lanes of a, as f32.
inline __m128 hsum_to_float(__m256i a) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtepi32_ps(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

// Lanes 0, 1: the sums of the 8 int32 lanes of a and of b, as f32.
inline __m128 hsum_to_float(__m256i a, __m256i b) {
  // Per 128-bit half: a0 + a2, b0 + b2, a1 + a3, b1 + b3.
  const __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
  return _mm_cvtepi32_ps(_mm_add_epi32(u, _mm_unpackhi_epi64(u, u)));
}

// Lanes 0..3: the sums of the 8 int32 lanes of a, b, c and d, as f32.
inline __m128 hsum_to_float(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  // Per 128-bit half: the sums of a, b, c and d over that half.
  const __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  return _mm_cvtepi32_ps(_mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1)));
}

// ---- kBlockGroups16 in 8-lane halves (the AVX2 decode products and batched kernels) ------------

// int16 lane i of the 16 bytes at kHalfLanes + 8 - m: all ones for i < m (0 <= m <= 8), else 0.
alignas(16) constexpr int16_t kHalfLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};

// The f16 values at p, lanes i < m (0 <= m <= 8) as f32, the others +0. Reads 16 bytes.
inline __m256 halves8(const uint8_t* p, int m) {
  const __m128i keep = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kHalfLanes + 8 - m));
  return _mm256_cvtph_ps(_mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), keep));
}

// Loads of one half (8 lanes of 4 bytes) of a group's vectors: kMasked, of `lanes` only (the
// others 0), else whole.
template <bool kMasked>
inline __m256i load_half(const void* at, __m256i lanes) {
  return kMasked ? _mm256_maskload_epi32(static_cast<const int*>(at), lanes) : load256(at);
}

// Byte 0x10 where word k, nibble half h of 8 lanes of nibble words has its element's fifth bit,
// qh holding each lane's 4-byte fifth-bit field (a Q5_0 block's qh; kFifthBits).
inline __m256i fifth_bits(__m256i qh, int k, int h) {
  const auto table = [](const int8_t* bytes) {
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(bytes)));
  };
  const __m256i bit = table(kFifthBits.bit[2 * k + h]);
  const __m256i set = _mm256_cmpeq_epi8(
      _mm256_and_si256(_mm256_shuffle_epi8(qh, table(kFifthBits.index[2 * k + h])), bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// sums[r][t]: the exact integer sums, before the weight offset, of the 8 lanes (blocks) of one
// half (byte `half`, 0 or 32, of each word) of the group of m blocks at g[r] in
// WeightLayout::kBlockGroups16 against the arranged activations of the group at act[t], for R rows
// x T tokens, each row's quant vectors decoded once for all T tokens (the AVX2 decode products
// take 1 x 1, the batched blocks 2 x 2: the same sums). kMasked: of the lanes in `lanes`, the
// others' weights not read (they may lie past the matrix) and their sums any finite value, which
// the caller's zero scales for those lanes discard. Activations are read whole in the second half
// (m > 8: at most 28 bytes past the row's quants, inside the row's scales and sums that follow
// them), masked in the first. Q8_0: each stored quant + 128 back to signed by an xor, then
// dot_s8s8 per word. IQ4_NL: each nibble's signed level (a byte shuffle), then dot_s8s8 (its
// levels + 128 would saturate vpmaddubsw). The others: the low nibbles against activation word
// k, the high ones against word 4 + k (Q5_0, Q5_1: the fifth bit at bit 4, fifth_bits), unsigned
// against signed with vpmaddubsw, whose int16 pair sums (at most 2 * 15 * 127 for 4 bits, 2 * 31
// * 127 for 5) add up exactly in int16 over 4 words (4 bits) or 2 (5 bits) before vpmaddwd
// widens them.
template <typename Block, bool kMasked, int R, int T>
__attribute__((always_inline)) inline void half_sums(const uint8_t* const (&g)[R],
                                                     const int8_t* const (&act)[T], int m, int half,
                                                     __m256i lanes, __m256i (&sums)[R][T]) {
  constexpr bool kFifth = requires(const Block& b) { b.qh; };
  auto weights = [&](const uint8_t* at) __attribute__((always_inline)) {
    return load_half<kMasked>(at, lanes);
  };
  auto acts = [&](int t, int word) __attribute__((always_inline)) {
    const int8_t* at = act[t] + half + 4 * m * word;
    return kMasked && half == 0 ? load_half<true>(at, lanes) : load256(at);
  };
  auto word_of = [&](int r, int word) __attribute__((always_inline)) {
    return weights(g[r] + offsetof(Block, qs) * m + half + 4 * m * word);
  };
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int t = 0; t < T; ++t) sums[r][t] = _mm256_setzero_si256();
  if constexpr (std::is_same_v<Block, BlockQ8_0>) {
    const __m256i sign_bit = _mm256_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k)
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const __m256i w = _mm256_xor_si256(word_of(r, k), sign_bit);
#pragma GCC unroll 2
        for (int t = 0; t < T; ++t) sums[r][t] = dot_s8s8(sums[r][t], w, acts(t, k));
      }
  } else if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i levels = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLLevels)));
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const __m256i q = word_of(r, k);
        const __m256i lo = _mm256_shuffle_epi8(levels, _mm256_and_si256(q, low));
        const __m256i hi =
            _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(q, 4), low));
#pragma GCC unroll 2
        for (int t = 0; t < T; ++t) {
          sums[r][t] = dot_s8s8(sums[r][t], lo, acts(t, k));
          sums[r][t] = dot_s8s8(sums[r][t], hi, acts(t, 4 + k));
        }
      }
  } else {
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256i qh[R], pairs[R][T];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      if constexpr (kFifth) qh[r] = weights(g[r] + offsetof(Block, qh) * m + half);
#pragma GCC unroll 2
      for (int t = 0; t < T; ++t) pairs[r][t] = _mm256_setzero_si256();
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const __m256i q = word_of(r, k);
        __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
        if constexpr (kFifth) {
          lo = _mm256_or_si256(lo, fifth_bits(qh[r], k, 0));
          hi = _mm256_or_si256(hi, fifth_bits(qh[r], k, 1));
        }
#pragma GCC unroll 2
        for (int t = 0; t < T; ++t) {
          pairs[r][t] = _mm256_add_epi16(pairs[r][t], _mm256_maddubs_epi16(lo, acts(t, k)));
          pairs[r][t] = _mm256_add_epi16(pairs[r][t], _mm256_maddubs_epi16(hi, acts(t, 4 + k)));
          if (k == 3 || (kFifth && k == 1)) {
            sums[r][t] = _mm256_add_epi32(sums[r][t], _mm256_madd_epi16(pairs[r][t], ones));
            pairs[r][t] = _mm256_setzero_si256();
          }
        }
      }
    }
  }
}

// The f32 steps of one block: acc + float(S) * (d_w * d_a) with S in lane 0 of totals, then,
// for a block with mins, - float(M) * (dmin_w * d_a) with M in lane 1; lane 0 of acc.
template <typename Block>
inline __m128 add_block(__m128 acc, __m128 totals, const Block& b, const float& d_a) {
  if constexpr (requires { b.dmin; }) {
    const uint32_t d_dmin = static_cast<uint32_t>(b.dmin) << 16 | b.d;
    const __m128 scales =
        _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d_dmin))), _mm_set1_ps(d_a));
    acc = _mm_fmadd_ss(totals, scales, acc);
    return _mm_fnmadd_ss(_mm_movehdup_ps(totals), _mm_movehdup_ps(scales), acc);
  } else {
    const __m128 scale = _mm_mul_ss(_mm_cvtph_ps(_mm_cvtsi32_si128(b.d)), _mm_load_ss(&d_a));
    return _mm_fmadd_ss(totals, scale, acc);
  }
}

// The f32 steps over the nb blocks of one row x (see above). block_sums(b, a) gives the
// integer sums of weight block b against activation block a: 8 int32 lanes that add up to S,
// or, for a type with mins, a pair of such lanes for S and M.
template <typename Block, typename BlockSums>
__attribute__((always_inline)) inline float add_blocks(const Block* x, const BlockQ8_K* y,
                                                       int64_t nb, BlockSums block_sums) {
  constexpr bool kMins = requires(const Block& b) { b.dmin; };
  __m128 acc = _mm_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    if constexpr (kMins) {
      const auto [s, m] = block_sums(x[i], y[i]);
      acc = add_block(acc, hsum_to_float(s, m), x[i], y[i].d);
    } else {
      acc = add_block(acc, hsum_to_float(block_sums(x[i], y[i])), x[i], y[i].d);
    }
  }
  return _mm_cvtss_f32(acc);
}

// The same for two rows x0 and x1 at once, lanes 0 and 1 of every f32 vector: one horizontal
// sum and one fused multiply-add serve both, and each lane takes the steps of add_blocks.
template <typename Block, typename BlockSums>
__attribute__((always_inline)) inline __m128 add_blocks(const Block* x0, const Block* x1,
                                                        const BlockQ8_K* y, int64_t nb,
                                                        BlockSums block_sums) {
  // Two f16 fields as int16 lanes 0 and 1.
  auto fields = [](uint16_t f0, uint16_t f1) {
    return _mm_cvtsi32_si128(static_cast<int>(static_cast<uint32_t>(f1) << 16 | f0));
  };
  __m128 acc = _mm_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    prefetch_ahead(x0 + i, sizeof(Block));
    prefetch_ahead(x1 + i, sizeof(Block));
    const __m128 d_a = _mm_set1_ps(y[i].d);
    if constexpr (requires(const Block& b) { b.dmin; }) {
      const auto [s0, m0] = block_sums(x0[i], y[i]);
      const auto [s1, m1] = block_sums(x1[i], y[i]);
      // Lanes S0, S1, M0, M1 and d_w0, d_w1, dmin_w0, dmin_w1 (times d_a).
      const __m128 totals = hsum_to_float(s0, s1, m0, m1);
      const __m128 scales =
          _mm_mul_ps(_mm_cvtph_ps(_mm_unpacklo_epi32(fields(x0[i].d, x1[i].d),
                                                     fields(x0[i].dmin, x1[i].dmin))),
                     d_a);
      acc = _mm_fmadd_ps(totals, scales, acc);
      acc = _mm_fnmadd_ps(_mm_movehl_ps(totals, totals), _mm_movehl_ps(scales, scales), acc);
    } else {
      const __m128 totals = hsum_to_float(block_sums(x0[i], y[i]), block_sums(x1[i], y[i]));
      acc = _mm_fmadd_ps(totals, _mm_mul_ps(_mm_cvtph_ps(fields(x0[i].d, x1[i].d)), d_a), acc);
    }
  }
  return acc;
}

// VecDotFn for a K-quant type: add_blocks over each row (two rows at a time with AVX-512; with
// AVX2 the two rows' integer sums would not fit in its 16 vector registers).
template <typename Block, typename BlockSums>
__attribute__((always_inline)) inline void k_rows(int64_t n, const void* w, size_t w_row_bytes,
                                                  int64_t n_rows, const void* a, float* out,
                                                  BlockSums block_sums) {
  const auto* y = static_cast<const BlockQ8_K*>(a);
  auto row = [&](int64_t r) {
    return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + r * w_row_bytes);
  };
  int64_t r = 0;
#if defined(__AVX512F__)
  for (; r + 2 <= n_rows; r += 2) {
    const __m128 acc = add_blocks(row(r), row(r + 1), y, n / kQK_K, block_sums);
    out[r] = _mm_cvtss_f32(acc);
    out[r + 1] = _mm_cvtss_f32(_mm_movehdup_ps(acc));
  }
#endif
  for (; r < n_rows; ++r) out[r] = add_blocks(row(r), y, n / kQK_K, block_sums);
}

// int16 lanes [s[2c] x 8 | s[2c+1] x 8] from 16 int16 scales held as `low` = s[0..7] and
// `high` = s[8..15] in both 128-bit halves: the scales of 16-element groups 2c and 2c+1.
inline __m256i group_scales(__m256i low, __m256i high, int c) {
  const int k = c % 4;
  const __m256i pick =
      _mm256_set_m128i(_mm_set1_epi16(static_cast<short>((4 * k + 3) << 8 | (4 * k + 2))),
                       _mm_set1_epi16(static_cast<short>((4 * k + 1) << 8 | (4 * k))));
  return _mm256_shuffle_epi8(c < 4 ? low : high, pick);
}

// int16 lanes all = s[j] from 8 int16 scales held in both 128-bit halves of `scales`.
inline __m256i broadcast_scale(__m256i scales, int j) {
  return _mm256_shuffle_epi8(scales,
                             _mm256_set1_epi16(static_cast<short>((2 * j + 1) << 8 | (2 * j))));
}

inline int hsum(__m128i v) {
  v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 1));
  return _mm_cvtsi128_si32(v);
}

// Lanes of sum_g scale16[g] * bsums[g] over the 16 groups of a Q8_K block.
inline __m256i scaled_bsums(__m256i scale16, const BlockQ8_K& y) {
  return _mm256_madd_epi16(scale16, load256(y.bsums));
}

// Q4_K / Q5_K: the 8 6-bit scales and mins of the sub-blocks of 32 (scale_min_k4 for all j at
// once), one byte each.
struct ScalesMins {
  uint64_t scales, mins;
};
inline ScalesMins unpack_scales_mins_k4(const uint8_t packed[12]) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t scales_low = u[0] & 0x3F3F3F3F;
  const uint32_t mins_low = u[1] & 0x3F3F3F3F;
  const uint32_t scales_high = (u[2] & 0x0F0F0F0F) | ((u[0] >> 6) & 0x03030303) << 4;
  const uint32_t mins_high = ((u[2] >> 4) & 0x0F0F0F0F) | ((u[1] >> 6) & 0x03030303) << 4;
  return {static_cast<uint64_t>(scales_high) << 32 | scales_low,
          static_cast<uint64_t>(mins_high) << 32 | mins_low};
}

// Sum over the 8 sub-blocks of mins[j] * (bsums[2j] + bsums[2j+1]).
// Lanes j of mins[j] * (bsums[2j] + bsums[2j+1]) for the 8 sub-blocks.
inline __m256i mins_times_bsums(uint64_t mins, const BlockQ8_K& y) {
  const __m128i m = _mm_cvtsi64_si128(static_cast<long long>(mins));
  const __m256i twice = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
  return _mm256_madd_epi16(twice, load256(y.bsums));
}

inline __m128i scales_as_int16(uint64_t scales) {
  return _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(scales)));
}

// Q4_K and Q5_K: 4 chunks of 64 elements, each the low then the high nibbles of 32 bytes of
// qs (Q5_K: plus bit 2j / 2j+1 of qh as the fifth bit).
template <bool kFifthBit, typename Block>
inline void vec_dot_q45_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                          const void* a, float* y) {
  k_rows<Block>(
      n, w, w_row_bytes, n_rows, a,
      y, [&](const Block& b, const BlockQ8_K& a_block) __attribute__((always_inline)) {
        const ScalesMins sm = unpack_scales_mins_k4(b.scales);
        const int8_t* q8 = a_block.qs;
#if defined(__AVX512F__)
        const __m512i scales = _mm512_broadcast_i32x4(scales_as_int16(sm.scales));
        __m512i high_bits;
        if constexpr (kFifthBit) high_bits = _mm512_broadcast_i64x4(load256(b.qh));
        __m512i sums = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          const __m256i bytes = load256(b.qs + 32 * j);
          __m512i q =
              _mm512_inserti64x4(_mm512_castsi256_si512(bytes), _mm256_srli_epi16(bytes, 4), 1);
          q = _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
          if constexpr (kFifthBit) {
            const __mmask64 fifth = _mm512_test_epi8_mask(
                high_bits,
                _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * j))),
                                   _mm256_set1_epi8(static_cast<char>(2 << (2 * j))), 1));
            q = _mm512_or_si512(q, _mm512_maskz_set1_epi8(fifth, 0x10));
          }
          const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(q8 + 64 * j));
          const __m512i scale = _mm512_permutexvar_epi16(
              _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(2 * j)),
                                 _mm256_set1_epi16(static_cast<short>(2 * j + 1)), 1),
              scales);
          sums = _mm512_dpwssd_epi32(sums, p, scale);
        }
        const __m256i scaled =
            _mm256_add_epi32(_mm512_castsi512_si256(sums), _mm512_extracti64x4_epi64(sums, 1));
#else
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i scales = _mm256_broadcastsi128_si256(scales_as_int16(sm.scales));
    __m256i high_bits;
    if constexpr (kFifthBit) high_bits = load256(b.qh);
    __m256i sums = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m256i bytes = load256(b.qs + 32 * j);
      __m256i q_low = _mm256_and_si256(bytes, low_mask);
      __m256i q_high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low_mask);
      if constexpr (kFifthBit) {
        const __m256i one = _mm256_set1_epi8(1);
        const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * j), one);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * j + 1), one);
        q_low = _mm256_or_si256(q_low, _mm256_slli_epi16(h0, 4));
        q_high = _mm256_or_si256(q_high, _mm256_slli_epi16(h1, 4));
      }
      const __m256i p_low = _mm256_maddubs_epi16(q_low, load256(q8 + 64 * j));
      const __m256i p_high = _mm256_maddubs_epi16(q_high, load256(q8 + 64 * j + 32));
      sums = dot_s16(sums, p_low, broadcast_scale(scales, 2 * j));
      sums = dot_s16(sums, p_high, broadcast_scale(scales, 2 * j + 1));
    }
    const __m256i scaled = sums;
#endif
        return std::pair{scaled, mins_times_bsums(sm.mins, a_block)};
      });
}

inline void vec_dot_q4_K_impl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                              const void* a, float* y) {
  vec_dot_q45_k<false, BlockQ4_K>(n, w, w_row_bytes, n_rows, a, y);
}

inline void vec_dot_q5_K_impl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                              const void* a, float* y) {
  vec_dot_q45_k<true, BlockQ5_K>(n, w, w_row_bytes, n_rows, a, y);
}

// Q6_K: per half of 128 elements, 64 bytes of ql (low nibbles: elements 0..63, high nibbles:
// 64..127) and 32 bytes of qh (2 bits per 32-element chunk). The quants are used unsigned
// (0..63); the offset 32 comes back as 32 * sum_g scale_g * bsum_g.
inline void vec_dot_q6_K_impl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                              const void* a, float* y) {
  k_rows<BlockQ6_K>(
      n, w, w_row_bytes, n_rows, a,
      y, [&](const BlockQ6_K& b, const BlockQ8_K& a_block) __attribute__((always_inline)) {
        const __m256i scale16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
        const int8_t* q8 = a_block.qs;
#if defined(__AVX512F__)
        const __m512i scales = _mm512_castsi256_si512(scale16);
        const __m512i low_mask = _mm512_set1_epi8(0x0F);
        const __m512i two_bits = _mm512_set1_epi8(0x03);
        __m512i sums = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
          const __m256i qh = load256(b.qh + 32 * h);
          // Bits 0-1 / 2-3 of qh for elements 0..31 / 32..63, bits 4-5 / 6-7 for 64..95 / 96..127.
          const __m512i high =
              _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
          const __m512i q0 =
              _mm512_or_si512(_mm512_and_si512(ql, low_mask),
                              _mm512_slli_epi16(_mm512_and_si512(high, two_bits), 4));
          const __m512i q1 = _mm512_or_si512(
              _mm512_and_si512(_mm512_srli_epi16(ql, 4), low_mask),
              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(high, 4), two_bits), 4));
          const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(q8 + 128 * h));
          const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(q8 + 128 * h + 64));
          // Groups of 16: 8 h .. 8 h + 3 for p0, 8 h + 4 .. 8 h + 7 for p1, 8 int16 lanes each.
          const int g = 8 * h;
          const __m512i index0 =
              _mm512_setr_epi64(0x0001000100010001LL * g, 0x0001000100010001LL * g,
                                0x0001000100010001LL * (g + 1), 0x0001000100010001LL * (g + 1),
                                0x0001000100010001LL * (g + 2), 0x0001000100010001LL * (g + 2),
                                0x0001000100010001LL * (g + 3), 0x0001000100010001LL * (g + 3));
          const __m512i index1 = _mm512_add_epi16(index0, _mm512_set1_epi16(4));
          sums = _mm512_dpwssd_epi32(sums, p0, _mm512_permutexvar_epi16(index0, scales));
          sums = _mm512_dpwssd_epi32(sums, p1, _mm512_permutexvar_epi16(index1, scales));
        }
        const __m256i dots =
            _mm256_add_epi32(_mm512_castsi512_si256(sums), _mm512_extracti64x4_epi64(sums, 1));
#else
    const __m256i low = _mm256_permute2x128_si256(scale16, scale16, 0x00);
    const __m256i high = _mm256_permute2x128_si256(scale16, scale16, 0x11);
    __m256i sums = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      unpack_q6_K_half(b, h, q);
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) {
        const __m256i p = _mm256_maddubs_epi16(q[s], load256(q8 + 128 * h + 32 * s));
        sums = dot_s16(sums, p, group_scales(low, high, 4 * h + s));
      }
    }
    const __m256i dots = sums;
#endif
        const __m256i scaled =
            _mm256_sub_epi32(dots, _mm256_slli_epi32(scaled_bsums(scale16, a_block), 5));
        return scaled;
      });
}

// unpack_q3_k_scales minus 32, as 16 int8 lanes, without a round trip through memory.
inline __m128i unpack_q3_k_scales_minus_32(const uint8_t packed[12]) {
  uint64_t low_bytes;
  uint32_t high_bytes;
  std::memcpy(&low_bytes, packed, 8);
  std::memcpy(&high_bytes, packed + 8, 4);
  const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(low_bytes));
  const __m128i mask4 = _mm_set1_epi8(0x0F);
  // Scales 0..7: low nibbles of bytes 0..7; 8..15: their high nibbles.
  const __m128i low4 =
      _mm_unpacklo_epi64(_mm_and_si128(v, mask4), _mm_and_si128(_mm_srli_epi16(v, 4), mask4));
  // Top 2 bits of scale j: bits 2 (j / 4) .. 2 (j / 4) + 1 of byte 8 + j % 4.
  const __m128i spread =
      _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(high_bytes)), _mm_setr_epi32(0, 2, 4, 6));
  const __m128i high2 = _mm_slli_epi16(_mm_and_si128(spread, _mm_set1_epi8(0x03)), 4);
  return _mm_sub_epi8(_mm_or_si128(low4, high2), _mm_set1_epi8(32));
}

// ---- Per-row scales of the kBlockGroups16 K-quant products at AVX2 width ----------------------
// Shared by the decode products (vec_dot_avx2.cpp) and the batched blocks
// (gemm_block_groups16_avx2.cpp), which must form the same integer sums.

// A Q4_K / Q5_K super-block's 8 sub-block scales and mins (the 12 bytes at `packed`,
// unpack_scales_mins_k4) as int32 lanes for vpmaddwd: scales2 each scale in both int16 halves of
// its lane (against vpmaddubsw's int16 pair sums), mins each min in the low half (against the
// activations' sub-block sums, which fit int16). Always inlined: left to GCC, the AVX2 Q4_K / Q5_K
// decode products stopped being inlined into their loop over rows.
struct K4ScaleLanes {
  __m256i scales2, mins;
};
__attribute__((always_inline)) inline K4ScaleLanes k4_scale_lanes(const uint8_t* packed) {
  const ScalesMins sm = unpack_scales_mins_k4(packed);
  const __m256i scales = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(sm.scales)));
  return {_mm256_or_si256(scales, _mm256_slli_epi32(scales, 16)),
          _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(sm.mins)))};
}

// The 16 scale bytes of a Q6_K (int8), Q3_K (6 bits less 32, unpack_q3_k_scales_minus_32) or
// Q2_K (the scale in the low nibble, the min in the high) super-block at sb.
template <typename Block>
inline __m128i k16_scale_bytes(const uint8_t* sb) {
  if constexpr (std::is_same_v<Block, BlockQ3_K>)
    return unpack_q3_k_scales_minus_32(sb + offsetof(Block, scales));
  else
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + offsetof(Block, scales)));
}

// Half h's 8 scales (sub-blocks 8 h .. 8 h + 7 of scales8, k16_scale_bytes) as int32 lanes for
// vpmaddwd: both, the scale in both int16 halves (against int16 pair sums); low, in the low half
// (against the activations' sub-block sums, for the offset).
struct K16ScaleLanes {
  __m256i low, both;
};
template <typename Block>
inline K16ScaleLanes k16_scale_lanes(__m128i scales8, int h) {
  const __m128i half8 = h == 0 ? scales8 : _mm_unpackhi_epi64(scales8, scales8);
  __m256i scale;
  if constexpr (std::is_same_v<Block, BlockQ2_K>)
    scale = _mm256_and_si256(_mm256_cvtepu8_epi32(half8), _mm256_set1_epi32(0x0F));
  else
    scale = _mm256_cvtepi8_epi32(half8);
  const __m256i low = _mm256_and_si256(scale, _mm256_set1_epi32(0xFFFF));
  return {low, _mm256_or_si256(low, _mm256_slli_epi32(scale, 16))};
}

// Q3_K: element 128 h + 32 s + l has low bits (qs[32 h + l] >> 2s) & 3 and third bit
// (hmask[l] >> (4 h + s)) & 1; the quant is low | third << 2 minus 4, used unsigned with the
// offset taken back as 4 * sum_g scale_g * bsum_g.
inline void vec_dot_q3_K_impl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                              const void* a, float* y) {
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  const __m256i one = _mm256_set1_epi8(0x01);
  k_rows<BlockQ3_K>(
      n, w, w_row_bytes, n_rows, a,
      y, [&](const BlockQ3_K& b, const BlockQ8_K& a_block) __attribute__((always_inline)) {
        const __m256i scale16 = _mm256_cvtepi8_epi16(unpack_q3_k_scales_minus_32(b.scales));
        const __m256i low = _mm256_permute2x128_si256(scale16, scale16, 0x00);
        const __m256i high = _mm256_permute2x128_si256(scale16, scale16, 0x11);
        const __m256i hmask = load256(b.hmask);
        const int8_t* q8 = a_block.qs;
        __m256i sums = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          const __m256i bytes = load256(b.qs + 32 * h);
#pragma GCC unroll 4
          for (int s = 0; s < 4; ++s) {
            const __m256i low_bits = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * s), two_bits);
            const __m256i third = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + s), one);
            const __m256i q = _mm256_or_si256(low_bits, _mm256_slli_epi16(third, 2));
            const __m256i p = _mm256_maddubs_epi16(q, load256(q8 + 128 * h + 32 * s));
            sums = dot_s16(sums, p, group_scales(low, high, 4 * h + s));
          }
        }
        return _mm256_sub_epi32(sums, _mm256_slli_epi32(scaled_bsums(scale16, a_block), 2));
      });
}

// Q2_K: element 128 h + 32 s + l is (qs[32 h + l] >> 2s) & 3; 16 scales (low nibble) and
// mins (high nibble) per 16 elements.
inline void vec_dot_q2_K_impl(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                              const void* a, float* y) {
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  k_rows<BlockQ2_K>(
      n, w, w_row_bytes, n_rows, a,
      y, [&](const BlockQ2_K& b, const BlockQ8_K& a_block) __attribute__((always_inline)) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
        const __m256i scale16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F)));
        const __m256i min16 =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
        const __m256i low = _mm256_permute2x128_si256(scale16, scale16, 0x00);
        const __m256i high = _mm256_permute2x128_si256(scale16, scale16, 0x11);
        const int8_t* q8 = a_block.qs;
        __m256i sums = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          const __m256i bytes = load256(b.qs + 32 * h);
#pragma GCC unroll 4
          for (int s = 0; s < 4; ++s) {
            const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * s), two_bits);
            const __m256i p = _mm256_maddubs_epi16(q, load256(q8 + 128 * h + 32 * s));
            sums = dot_s16(sums, p, group_scales(low, high, 4 * h + s));
          }
        }
        return std::pair{sums, scaled_bsums(min16, a_block)};
      });
}

// ---- F32, F16, BF16 ------------------------------------------------------------------------
// Products of two f16 or two bf16 values are exact in f32, so fused multiply-adds give the
// scalar path's products; the sums run in 4 vector accumulators.

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p, bool is_bf16) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (is_bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

#if defined(__AVX512F__)
inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(const uint16_t* p, __mmask16 m, bool is_bf16) {
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  if (is_bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

template <typename LoadFn>
inline float dot_lanes(int64_t n, LoadFn load) {
  const __mmask16 all = 0xFFFF;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const auto [a0, b0] = load(i, all);
    const auto [a1, b1] = load(i + 16, all);
    const auto [a2, b2] = load(i + 32, all);
    const auto [a3, b3] = load(i + 48, all);
    acc0 = _mm512_fmadd_ps(a0, b0, acc0);
    acc1 = _mm512_fmadd_ps(a1, b1, acc1);
    acc2 = _mm512_fmadd_ps(a2, b2, acc2);
    acc3 = _mm512_fmadd_ps(a3, b3, acc3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? all : static_cast<__mmask16>((1u << (n - i)) - 1);
    const auto [a, b] = load(i, m);
    acc0 = _mm512_fmadd_ps(a, b, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

inline float vec_dot_f32_impl(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  return dot_lanes(n, [&](int64_t i, __mmask16 m) {
    return std::pair{load16(a + i, m), load16(b + i, m)};
  });
}

template <bool kBf16>
inline float vec_dot_half_impl(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  return dot_lanes(n, [&](int64_t i, __mmask16 m) {
    return std::pair{load16(a + i, m, kBf16), load16(b + i, m, kBf16)};
  });
}
#else
template <typename LoadFn, typename TailFn>
inline float dot_lanes(int64_t n, LoadFn load, TailFn tail) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const auto [a0, b0] = load(i);
    const auto [a1, b1] = load(i + 8);
    const auto [a2, b2] = load(i + 16);
    const auto [a3, b3] = load(i + 24);
    acc0 = _mm256_fmadd_ps(a0, b0, acc0);
    acc1 = _mm256_fmadd_ps(a1, b1, acc1);
    acc2 = _mm256_fmadd_ps(a2, b2, acc2);
    acc3 = _mm256_fmadd_ps(a3, b3, acc3);
  }
  for (; i + 8 <= n; i += 8) {
    const auto [a, b] = load(i);
    acc0 = _mm256_fmadd_ps(a, b, acc0);
  }
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += tail(i);
  return sum;
}

inline float vec_dot_f32_impl(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  return dot_lanes(
      n,
      [&](int64_t i) {
        return std::pair{load8(a + i), load8(b + i)};
      },
      [&](int64_t i) { return a[i] * b[i]; });
}

// float16.h's conversions with internal linkage, for the tail below, which takes them by
// address: a pointer to the header's inline functions would emit those here out of line, as
// weak symbols compiled with AVX (docs/kernels.md, "Weak symbols").
inline float fp16_to_fp32_here(uint16_t h) { return fp16_to_fp32(h); }
inline float bf16_to_fp32_here(uint16_t h) { return bf16_to_fp32(h); }

template <bool kBf16>
inline float vec_dot_half_impl(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  const auto to_float = kBf16 ? bf16_to_fp32_here : fp16_to_fp32_here;
  return dot_lanes(
      n,
      [&](int64_t i) {
        return std::pair{load8(a + i, kBf16), load8(b + i, kBf16)};
      },
      [&](int64_t i) { return to_float(a[i]) * to_float(b[i]); });
}
#endif

// VecDotFn over n_rows rows from a one-row kernel.
template <float (*Dot)(int64_t, const void*, const void*)>
inline void rows(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* a,
                 float* y) {
  for (int64_t r = 0; r < n_rows; ++r)
    y[r] = Dot(n, static_cast<const uint8_t*>(w) + r * w_row_bytes, a);
}

}  // namespace
}  // namespace gengyun::kernels::GENGYUN_X86_NS
