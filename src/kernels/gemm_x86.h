// The x86 batched kernels' common ground (gemm.h), shared by gemm_avx512.cpp (AVX-512 VNNI)
// and gemm_amx.cpp (AMX tiles): the weight-type decoders of a group of 16 rows, the order of
// the 32-element blocks, and the GEMM activation rows. Both kernels take the same rows, so a
// level may hand any part of a product to the other.
//
// Include after vec_dot_x86.h (same GENGYUN_X86_NS, from a file compiled with AVX-512): like it,
// everything here has internal linkage inside gengyun::kernels::GENGYUN_X86_NS.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/activation_rows.h"
#include "kernels/block_groups16_x86.h"
#include "kernels/gemm.h"
#include "kernels/gemm_block_order.h"
#include "kernels/scratch.h"
#include "kernels/weight_layout.h"

#ifndef GENGYUN_X86_NS
#error "define GENGYUN_X86_NS and include vec_dot_x86.h before gemm_x86.h"
#endif

namespace gengyun::kernels::GENGYUN_X86_NS {
namespace {

constexpr int kRows = 16;  // weight rows per group: one per 32-bit lane

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
  using Weights = W;
  using Block = typename W::Block;
  using Fields = LegacyFields;
  static constexpr int S = 32, G = 32;
  static constexpr int kOffset = W::kSigned ? 128 : W::kOffset;
  static constexpr bool kMin = requires(const Block& b) { b.m; };
  static constexpr WeightLayout kLayout = WeightLayout::kGgml;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const Block*>(row);
    for (int64_t i = 0; i < k / 32; ++i) decode_block(x[i], i, q, f);
  }
  static void decode_block(const Block& b, int64_t i, uint8_t* q, const Fields& f) {
    __m256i v = W::unpack(b);
    if constexpr (W::kSigned) v = _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * i), v);
    f.scale[16 * i] = half_to_float(b.d);
    if constexpr (kMin) f.min[16 * i] = half_to_float(b.m);
  }
};

// The layout a type's decoder reads: kGgml unless it says otherwise.
template <typename Type>
constexpr WeightLayout kLayoutOf = [] {
  if constexpr (requires { Type::kLayout; })
    return Type::kLayout;
  else
    return WeightLayout::kGgml;
}();

// A 32-element type whose rows are in WeightLayout::kBlockGroups16: the same decoded rows.
template <typename W>
struct LegacyGroups16Type : LegacyType<W> {
  using Block = typename W::Block;
  using Fields = LegacyFields;
  static constexpr WeightLayout kLayout = WeightLayout::kBlockGroups16;
  static constexpr bool kMin = LegacyType<W>::kMin;
  // Per group of m blocks: the scales (and mins), then the quant words transposed back
  // (block_groups16_x86.h) and unpacked as W::unpack does.
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    for_each_block(row, k, [&](int64_t j, __m256i quants, float scale, float min) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * j), quants);
      f.scale[16 * j] = scale;
      if constexpr (kMin) f.min[16 * j] = min;
    });
  }
  // Calls block(j, quants, scale, min) for each block j of the row: its 32 unsigned quants in
  // element order (as decode stores them), its scale and its min (0 for types without one).
  template <typename BlockFn>
  static void for_each_block(const uint8_t* row, int64_t k, BlockFn block) {
    constexpr int kWords = static_cast<int>(sizeof(Block::qs) / 4);
    constexpr bool kFifth = requires(const Block& b) { b.qh; };
    constexpr bool kLevels = std::is_same_v<Block, BlockIQ4_NL>;
    const int64_t nb = k / 32;
    for (int64_t g0 = 0; g0 < nb; g0 += 16) {
      const int m = static_cast<int>(std::min<int64_t>(16, nb - g0));
      const uint8_t* group = row + g0 * static_cast<int64_t>(sizeof(Block));
      ::gengyun::kernels::avx512::groups16::for_each_block<kWords>(
          group + offsetof(Block, qs) * m, m, [&](int l, __m128i first, __m128i second) {
            __m256i v;
            if constexpr (kWords == 8) {
              v = _mm256_set_m128i(second, first);  // stored as q + 128, as decode gives them
            } else {
              v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(first, 4), first),
                                   _mm256_set1_epi8(0x0F));
              if constexpr (kFifth)
                v = _mm256_or_si256(
                    v, _mm256_and_si256(unpack_bits(group + offsetof(Block, qh) * m + 4 * l),
                                        _mm256_set1_epi8(0x10)));
              if constexpr (kLevels)  // the level + 128, as decode gives it
                v = _mm256_xor_si256(
                    _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(
                                            reinterpret_cast<const __m128i*>(kIQ4NLLevels))),
                                        v),
                    _mm256_set1_epi8(static_cast<char>(0x80)));
            }
            uint16_t d, min = 0;
            std::memcpy(&d, group + 2 * l, 2);
            if constexpr (kMin) std::memcpy(&min, group + offsetof(Block, m) * m + 2 * l, 2);
            block(g0 + l, v, half_to_float(d), half_to_float(min));
          });
    }
  }
};

template <bool kFifthBit, typename Block>
struct Q45KType {
  using Fields = KFields;
  using KBlock = Block;  // BlockQ4_K or BlockQ5_K
  static constexpr int S = 32, G = 256, kOffset = 0, kMaxQuant = kFifthBit ? 31 : 15;
  static constexpr bool kMin = true;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const Block*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const Block& b = x[i];
      unpack_q45_K<kFifthBit>(b, q + kQK_K * i);
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

// Q4_K and Q5_K rows (Block) in WeightLayout::kBlockGroups16: the same decoded rows and fields
// as Q45KType. The quant words of a group (word k of sub-block l at 4 (k lanes + l)) are
// transposed back, two rounds of vpermt2d / vpermt2q giving 4 sub-blocks' 16 nibble bytes per
// vector, then split into low nibbles (elements 0..15) and high ones (16..31) of each
// sub-block; Q5_K's get 16 added where their sub-block's fifth-bit field has bit i set.
template <typename Block>
struct Q45KGroups16Type : Q45KType<std::is_same_v<Block, BlockQ5_K>, Block> {
  using Fields = KFields;
  static constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  static constexpr WeightLayout kLayout = WeightLayout::kBlockGroups16;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const int64_t nb = k / kQK_K;
    const __m512i low = _mm512_set1_epi8(0x0F);
    // Dword pairs (word k of lane l, word k + 1 of lane l) for lanes 0..7, and for lanes 8..15.
    const __m512i pairs_low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22,
                                                7, 23);
    const __m512i pairs_high = _mm512_add_epi32(pairs_low, _mm512_set1_epi32(8));
    // Qword pairs of two such vectors: lanes 0..3 (words 0..3 each), and lanes 4..7.
    const __m512i quads_low = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i quads_high = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    // 128-bit pieces: low nibbles, high nibbles of sub-block 0, then of sub-block 1 (first
    // output), and of sub-blocks 2, 3 (second output).
    const __m512i halves_first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i halves_second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for (int64_t g0 = 0; g0 < nb; g0 += 2) {
      const int m = static_cast<int>(std::min<int64_t>(2, nb - g0));
      const int lanes = 8 * m;
      const uint8_t* group = row + g0 * static_cast<int64_t>(sizeof(Block));
      const auto mask = static_cast<__mmask16>((1u << lanes) - 1);
      const uint8_t* words = group + offsetof(Block, qs) * m;
      // Q5_K: sub-blocks l and l + 1 (64 bytes in element order) plus 16 where their fifth-bit
      // fields, side by side in the group, have the element's bit.
      auto fifth = [&](__m512i v, int l) {
        if constexpr (kFifth) {
          uint64_t fields;
          std::memcpy(&fields, group + offsetof(Block, qh) * m + 4 * l, 8);
          return _mm512_mask_add_epi8(v, fields, v, _mm512_set1_epi8(0x10));
        } else {
          return v;
        }
      };
      __m512i w[4];
      for (int kw = 0; kw < 4; ++kw) w[kw] = _mm512_maskz_loadu_epi32(mask, words + 4 * lanes * kw);
      for (int half = 0; half < m; ++half) {
        const __m512i pairs = half == 0 ? pairs_low : pairs_high;
        const __m512i w01 = _mm512_permutex2var_epi32(w[0], pairs, w[1]);
        const __m512i w23 = _mm512_permutex2var_epi32(w[2], pairs, w[3]);
        for (int c = 0; c < 2; ++c) {
          // Sub-blocks 8 half + 4 c .. + 3, 16 nibble bytes each.
          const __m512i nibbles =
              _mm512_permutex2var_epi64(w01, c == 0 ? quads_low : quads_high, w23);
          const __m512i lo = _mm512_and_si512(nibbles, low);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), low);
          const int l = 8 * half + 4 * c;
          uint8_t* out = q + 32 * (8 * g0 + l);
          _mm512_storeu_si512(out, fifth(_mm512_permutex2var_epi64(lo, halves_first, hi), l));
          _mm512_storeu_si512(out + 64,
                              fifth(_mm512_permutex2var_epi64(lo, halves_second, hi), l + 2));
        }
      }
      for (int j = 0; j < m; ++j) {
        const int64_t i = g0 + j;
        for (int s = 0; s < 8; ++s) {
          uint8_t sc, mn;
          scale_min_k4(s, group + 4 * m + 12 * j, sc, mn);
          const int64_t sub = 8 * i + s;
          f.scale[16 * sub] = scale_lane<Q45KGroups16Type>(sc);
          f.min[32 * (sub / 2) + sub % 2] = mn;
        }
        uint16_t d, dmin;
        std::memcpy(&d, group + 2 * j, 2);
        std::memcpy(&dmin, group + 2 * (m + j), 2);
        f.d[16 * i] = half_to_float(d);
        f.dmin[16 * i] = half_to_float(dmin);
      }
    }
  }
};

struct Q6KType {
  using Fields = KFields;
  static constexpr int S = 16, G = 256, kOffset = 32, kMaxQuant = 32;
  static constexpr bool kMin = false;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const BlockQ6_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      unpack_q6_K(x[i], q + kQK_K * i);
      decode_fields(x[i], i, f);
    }
  }
  // Super-block i's 16 scales and d.
  static void decode_fields(const BlockQ6_K& b, int64_t i, const Fields& f) {
    for (int g = 0; g < 16; ++g) f.scale[16 * (16 * i + g)] = scale_lane<Q6KType>(b.scales[g]);
    f.d[16 * i] = half_to_float(b.d);
  }
};

// The quant vectors of a Q6_K or Q3_K group of WeightLayout::kBlockGroups16 (u[k], lane l:
// elements 4 k .. 4 k + 3 of sub-block l) put back in element order at q (256 bytes), 4
// sub-blocks per 64-byte store (two vpermt2d and a blend each).
inline void k16_quants_in_element_order(const __m512i u[4], uint8_t* q) {
  // Output dword 4 i + j of vector c: lane 4 c + i of u[j] (j < 2: the first pair's index, j
  // = 2, 3 the same from the second pair, blended in).
  for (int c = 0; c < 4; ++c) {
    const __m512i index =
        _mm512_add_epi32(_mm512_setr_epi32(0, 16, 0, 16, 1, 17, 1, 17, 2, 18, 2, 18, 3, 19, 3, 19),
                         _mm512_set1_epi32(4 * c));
    _mm512_storeu_si512(
        q + 64 * c, _mm512_mask_blend_epi32(0xCCCC, _mm512_permutex2var_epi32(u[0], index, u[1]),
                                            _mm512_permutex2var_epi32(u[2], index, u[3])));
  }
}

struct Q3KType {
  using Fields = KFields;
  static constexpr int S = 16, G = 256, kOffset = 4, kMaxQuant = 4;
  static constexpr bool kMin = false;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const BlockQ3_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      unpack_q3_K(x[i], q + kQK_K * i);
      decode_fields(x[i], i, f);
    }
  }
  // Super-block i's 16 scales (less 32) and d.
  static void decode_fields(const BlockQ3_K& b, int64_t i, const Fields& f) {
    int8_t sc[16];
    unpack_q3_k_scales(b.scales, sc);
    for (int g = 0; g < 16; ++g) f.scale[16 * (16 * i + g)] = scale_lane<Q3KType>(sc[g] - 32);
    f.d[16 * i] = half_to_float(b.d);
  }
};

struct Q2KType {
  using Fields = KFields;
  static constexpr int S = 16, G = 256, kOffset = 0, kMaxQuant = 3;
  static constexpr bool kMin = true;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const Fields& f) {
    const auto* x = reinterpret_cast<const BlockQ2_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      unpack_q2_K(x[i], q + kQK_K * i);
      decode_fields(x[i], i, f);
    }
  }
  // Super-block i's 16 scales and mins, d and dmin.
  static void decode_fields(const BlockQ2_K& b, int64_t i, const Fields& f) {
    for (int g = 0; g < 16; ++g) {
      const int64_t sub = 16 * i + g;
      f.scale[16 * sub] = scale_lane<Q2KType>(b.scales[g] & 0x0F);
      f.min[32 * (sub / 2) + sub % 2] = static_cast<int16_t>(b.scales[g] >> 4);
    }
    f.d[16 * i] = half_to_float(b.d);
    f.dmin[16 * i] = half_to_float(b.dmin);
  }
};

// Q6_K, Q3_K or Q2_K rows (Base Q6KType, Q3KType, Q2KType; ggml block Block) in
// WeightLayout::kBlockGroups16: the same decoded rows and fields as Base. Per super-block, the 4
// vectors of quants (groups16::q6_K_quants / q3_K_quants / q2_K_quants: vector k, lane l =
// elements 4 k .. 4 k + 3 of sub-block l) are put back in element order
// (k16_quants_in_element_order); the other fields are where ggml has them.
template <typename Base, typename Block>
struct K16Groups16Type : Base {
  static constexpr WeightLayout kLayout = WeightLayout::kBlockGroups16;
  static void decode(const uint8_t* row, int64_t k, uint8_t* q, const typename Base::Fields& f) {
    namespace groups16 = ::gengyun::kernels::avx512::groups16;
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const uint8_t* group = row + i * static_cast<int64_t>(sizeof(Block));
      __m512i u[4];
      if constexpr (std::is_same_v<Block, BlockQ6_K>)
        groups16::q6_K_quants(group, u);
      else if constexpr (std::is_same_v<Block, BlockQ3_K>)
        groups16::q3_K_quants(group, u);
      else
        groups16::q2_K_quants(group, u);
      k16_quants_in_element_order(u, q + kQK_K * i);
      Base::decode_fields(*reinterpret_cast<const Block*>(group), i, f);
    }
  }
};
using Q6KGroups16Type = K16Groups16Type<Q6KType, BlockQ6_K>;
using Q3KGroups16Type = K16Groups16Type<Q3KType, BlockQ3_K>;
using Q2KGroups16Type = K16Groups16Type<Q2KType, BlockQ2_K>;

template <typename Type>
constexpr bool kIsK = std::is_same_v<typename Type::Fields, KFields>;

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

// Per-thread scratch: the decoded rows and fields of one group and the interleaved packs of a
// run of groups. Grown with resize_scratch (scratch.h), not std::vector::resize.
struct Scratch {
  std::vector<uint8_t> q;
  std::vector<float> scale, min, d, dmin;
  std::vector<int32_t> int_scale;
  std::vector<int16_t> int_min;
  std::vector<uint8_t> pack_storage;

  uint8_t* pack(size_t bytes) {
    if (pack_storage.size() < bytes + 64) resize_scratch(pack_storage, bytes + 64);
    const auto address = reinterpret_cast<uintptr_t>(pack_storage.data());
    return pack_storage.data() + (64 - address % 64) % 64;
  }
};

// 16 rows x 4 dwords (row r's 16 bytes at rows + r * stride) to 4 vectors, vector q holding
// dword q of every row (stored at out + q * out_stride): the 4 x 4 transpose within each
// 128-bit lane of [r | r+4 | r+8 | r+12].
inline void transpose_16x4(const uint8_t* rows, int64_t stride, uint8_t* out,
                           size_t out_stride = 64) {
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
  _mm512_store_si512(out + out_stride, _mm512_unpackhi_epi64(t0, t2));
  _mm512_store_si512(out + 2 * out_stride, _mm512_unpacklo_epi64(t1, t3));
  _mm512_store_si512(out + 3 * out_stride, _mm512_unpackhi_epi64(t1, t3));
}

// Copies the 64 bytes at from to out and advances out.
inline void put64(uint8_t*& out, const void* from) {
  std::memcpy(out, from, 64);
  out += 64;
}

// Decodes weight rows [row0, row0 + rows_in_group) of p: row r's n_in unsigned quants to
// s.q[r * n_in ...] and its fields to lane r of s's field arrays (Type::decode); the rows of the
// 16 past rows_in_group as zeros.
template <typename Type>
void decode_group(const GemmProblem& p, int64_t row0, int rows_in_group, Scratch& s) {
  const int64_t k = p.n_in;
  const int64_t n_sub = k / Type::S, n_super = k / Type::G;
  const auto lanes = [](int64_t fields) { return static_cast<size_t>(kRows * fields); };
  resize_scratch(s.q, lanes(k));
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
}

}  // namespace
}  // namespace gengyun::kernels::GENGYUN_X86_NS
