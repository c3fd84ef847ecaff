// AVX2 batched products (gemm.h) for the quantized types, for machines without AVX-512. Per
// group of 8 weight rows (matmul's groups of 16 are two of them), every row is decoded to
// unsigned 8-bit quants and the scales (and mins) of its sub-blocks of S elements, the 8 rows
// are interleaved 4 bytes at a time, and vpmaddubsw multiplies one such 32-byte vector with 4
// activation bytes of a token broadcast to all 8 lanes: 8 rows x 4 elements per instruction,
// 4 tokens per pass over the group's weights (3 to 6 measured within noise of each other).
//
// Integer sums are exact. vpmaddubsw gives int16 sums of 2 products; those of kRun weight
// vectors in a row are added in int16 (kRun: as many as the bounds of the quants allow without
// overflow) and then widened with vpmaddwd, by 1 for the 32-element types and by the
// sub-block's scale for the K-quants. A type whose quants carry an offset (w = s * (q - o)) is
// computed with unsigned q and the activation side's o * (sum of the sub-block's activation
// quants) taken back. The signed types (Q8_0, IQ4_NL: |w| up to 128, so w + 128 would saturate
// vpmaddubsw) multiply |w| with the activations given w's sign, as vec_dot_x86.h does. The
// f32 steps are those of the type's AVX2 vec_dot (vec_dot_x86.h), lane by lane, so that a
// token's outputs are the same bits whatever the batch:
//  - 32-element block types: per block j, p[j % 16] = fma(float(sum_j), d_w * d_a, p[j % 16])
//    (then fma(m_w, s_a, p[j % 16]) with mins), 16 partial sums added pairwise at the end;
//  - K-quants: per super-block, the exact integers S = sum over its sub-blocks of scale * sum
//    (offset included) and M = sum of min * activation sum, then
//    acc = fma(float(S), d_w * d_a, acc) (and acc = fnmadd(float(M), dmin_w * d_a, acc)).
#define GENGYUN_X86_NS avx2
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/activation_rows.h"
#include "kernels/gemm.h"
#include "kernels/gemm_block_order.h"
#include "kernels/scratch.h"

namespace gengyun::kernels::avx2 {
namespace {

constexpr int kRows = 8;    // weight rows per group: one per 32-bit lane
constexpr int kTokens = 4;  // tokens per register block

inline int32_t load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The most weight vectors (a power of 2 dividing `vectors`) whose vpmaddubsw sums, each of 2
// products of at most max_quant * max_activation in magnitude, add up in int16. Bounds that
// would saturate vpmaddubsw itself stop the build (the result is a constant).
constexpr int run_length(int max_quant, int max_activation, int vectors) {
  if (2 * max_quant * max_activation > 32767) throw "vpmaddubsw would saturate";
  int run = 1;
  while (2 * run <= vectors && 2 * run * 2 * max_quant * max_activation <= 32767) run *= 2;
  return run;
}

// Largest activation quant magnitudes: Q8_0 / Q8_1 quants are in [-127, 127], Q8_K in
// [-128, 127].
constexpr int kMaxQ8 = 127, kMaxQ8K = 128;

// ---- weight types ---------------------------------------------------------------------------
// Each type names its sub-block size S, the activation scale block G (32: Q8_0 / Q8_1 rows,
// 256: Q8_K rows), its quant offset, whether it has a min and is signed, kRun, and decodes one
// weight row of K elements into RowOut.

// One decoded row: its quants and its fields, each array that row's own.
struct RowOut {
  uint8_t* q;          // K unsigned quants (|w| for signed types)
  int8_t* sign;        // signed types: the K weights (their signs)
  float* scale;        // 32-element types: per block
  float* min;          // 32-element types with mins: per block
  int16_t* int_scale;  // K-quants: per sub-block
  int16_t* int_min;    // K-quants with mins: per sub-block
  float* d;            // K-quants: per super-block
  float* dmin;         // K-quants with mins: per super-block
};

// A 32-element type decoded by W (vec_dot_x86.h); kMaxQuant bounds its unsigned quants (|w|
// for the signed types).
template <typename W, int kMaxQuant>
struct LegacyType {
  using Block = typename W::Block;
  static constexpr int S = 32, G = 32;
  static constexpr bool kSigned = W::kSigned, kK = false;
  static constexpr int kOffset = W::kOffset;
  static constexpr bool kMin = requires(const Block& b) { b.m; };
  static constexpr int kRun = run_length(kMaxQuant, kMaxQ8, S / 4);
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    const auto* x = reinterpret_cast<const Block*>(row);
    for (int64_t i = 0; i < k / 32; ++i) decode_block(x[i], i, o);
  }
  // Block i of the row.
  static void decode_block(const Block& b, int64_t i, const RowOut& o) {
    __m256i v = W::unpack(b);
    if constexpr (kSigned) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.sign + 32 * i), v);
      v = _mm256_sign_epi8(v, v);  // -128 becomes 0x80: 128 unsigned
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.q + 32 * i), v);
    o.scale[i] = half_to_float(b.d);
    if constexpr (kMin) o.min[i] = half_to_float(b.m);
  }
};

// Rows of a 32-element type in WeightLayout::kBlockGroups16 (weight_layout.h): each block put
// back together from its group (its scale, min and fifth bits from the group's fields, its
// quant words from the group's words; Q8_0's stored quant + 128 back to signed), then decoded
// as LegacyType does: the same decoded rows, so the same bits.
template <typename W, int kMaxQuant>
struct LegacyGroups16Type : LegacyType<W, kMaxQuant> {
  using Block = typename W::Block;
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    constexpr int kWords = static_cast<int>(sizeof(Block::qs) / 4);
    const int64_t nb = k / 32;
    for (int64_t g0 = 0; g0 < nb; g0 += 16) {
      const int m = static_cast<int>(std::min<int64_t>(16, nb - g0));
      const uint8_t* group = row + g0 * static_cast<int64_t>(sizeof(Block));
      for (int l = 0; l < m; ++l) {
        Block b;
        std::memcpy(&b.d, group + 2 * l, 2);
        if constexpr (requires { b.m; })
          std::memcpy(&b.m, group + offsetof(Block, m) * m + 2 * l, 2);
        if constexpr (requires { b.qh; })
          std::memcpy(b.qh, group + offsetof(Block, qh) * m + 4 * l, 4);
        // The words stored with one vector store, which W::unpack's load of the same bytes
        // takes straight from the store (word by word, it would wait for them in memory).
        auto word = [&](int w) {
          int32_t v;
          std::memcpy(&v, group + offsetof(Block, qs) * m + 4 * (m * w + l), 4);
          return v;
        };
        if constexpr (kWords == 8)
          _mm256_storeu_si256(
              reinterpret_cast<__m256i*>(b.qs),
              _mm256_xor_si256(_mm256_setr_epi32(word(0), word(1), word(2), word(3), word(4),
                                                 word(5), word(6), word(7)),
                               _mm256_set1_epi8(static_cast<char>(0x80))));
        else
          _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs),
                           _mm_setr_epi32(word(0), word(1), word(2), word(3)));
        LegacyType<W, kMaxQuant>::decode_block(b, g0 + l, o);
      }
    }
  }
};

template <bool kFifthBit, typename Block>
struct Q45KType {
  static constexpr int S = 32, G = 256, kOffset = 0;
  static constexpr bool kSigned = false, kK = true, kMin = true;
  static constexpr int kRun = run_length(kFifthBit ? 31 : 15, kMaxQ8K, S / 4);
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    const auto* x = reinterpret_cast<const Block*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const Block& b = x[i];
      unpack_q45_K<kFifthBit>(b, o.q + kQK_K * i);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, b.scales, sc, m);
        o.int_scale[8 * i + j] = sc;
        o.int_min[8 * i + j] = m;
      }
      o.d[i] = half_to_float(b.d);
      o.dmin[i] = half_to_float(b.dmin);
    }
  }
};

struct Q6KType {
  static constexpr int S = 16, G = 256, kOffset = 32;
  static constexpr bool kSigned = false, kK = true, kMin = false;
  static constexpr int kRun = run_length(63, kMaxQ8K, S / 4);
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    const auto* x = reinterpret_cast<const BlockQ6_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      unpack_q6_K(x[i], o.q + kQK_K * i);
      decode_fields(x[i], i, o);
    }
  }
  // Super-block i's 16 scales and d.
  static void decode_fields(const BlockQ6_K& b, int64_t i, const RowOut& o) {
    for (int g = 0; g < 16; ++g) o.int_scale[16 * i + g] = b.scales[g];
    o.d[i] = half_to_float(b.d);
  }
};

// Q4_K and Q5_K rows (Block) in WeightLayout::kBlockGroups16 (weight_layout.h), decoded from
// their groups: sub-block l's 16 nibble bytes are its 4 quant words (a word every 4 lanes bytes),
// split into elements 0..15 (low nibbles) and 16..31 (high), Q5_K's fifth bits added from its
// 4-byte field; the scales and mins as Q45KType takes them. The same decoded rows.
template <bool kFifthBit, typename Block>
struct Q45KGroups16Type : Q45KType<kFifthBit, Block> {
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    const int64_t nb = k / kQK_K;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int64_t g0 = 0; g0 < nb; g0 += 2) {
      const int m = static_cast<int>(std::min<int64_t>(2, nb - g0));
      const int lanes = 8 * m;
      const uint8_t* group = row + g0 * static_cast<int64_t>(sizeof(Block));
      const uint8_t* words = group + offsetof(Block, qs) * m;
      for (int l = 0; l < lanes; ++l) {
        const __m128i bytes =
            _mm_setr_epi32(load4(words + 4 * l), load4(words + 4 * (lanes + l)),
                           load4(words + 4 * (2 * lanes + l)), load4(words + 4 * (3 * lanes + l)));
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes), low);
        if constexpr (kFifthBit)
          q = _mm256_or_si256(q,
                              _mm256_and_si256(unpack_bits(group + offsetof(Block, qh) * m + 4 * l),
                                               _mm256_set1_epi8(0x10)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.q + 32 * (8 * g0 + l)), q);
      }
      for (int j = 0; j < m; ++j) {
        const int64_t i = g0 + j;
        for (int s = 0; s < 8; ++s) {
          uint8_t sc, mn;
          scale_min_k4(s, group + 4 * m + 12 * j, sc, mn);
          o.int_scale[8 * i + s] = sc;
          o.int_min[8 * i + s] = mn;
        }
        uint16_t d, dmin;
        std::memcpy(&d, group + 2 * j, 2);
        std::memcpy(&dmin, group + 2 * (m + j), 2);
        o.d[i] = half_to_float(d);
        o.dmin[i] = half_to_float(dmin);
      }
    }
  }
};

struct Q3KType {
  static constexpr int S = 16, G = 256, kOffset = 4;
  static constexpr bool kSigned = false, kK = true, kMin = false;
  static constexpr int kRun = run_length(7, kMaxQ8K, S / 4);
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    const auto* x = reinterpret_cast<const BlockQ3_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      unpack_q3_K(x[i], o.q + kQK_K * i);
      decode_fields(x[i], i, o);
    }
  }
  // Super-block i's 16 scales (less 32) and d.
  static void decode_fields(const BlockQ3_K& b, int64_t i, const RowOut& o) {
    int8_t sc[16];
    unpack_q3_k_scales(b.scales, sc);
    for (int g = 0; g < 16; ++g) o.int_scale[16 * i + g] = static_cast<int16_t>(sc[g] - 32);
    o.d[i] = half_to_float(b.d);
  }
};

// Q2_K, Q3_K or Q6_K rows (Base Q2KType, Q3KType, Q6KType; ggml block Block) in
// WeightLayout::kBlockGroups16 (weight_layout.h), decoded from their groups: per half (8
// sub-blocks), the 4 words of quants as the decode product builds them (k16_group_half_quants:
// word k, lane l = elements 4 k .. 4 k + 3 of sub-block 8 h + l) put back in element order by a
// 4 x 4 dword transpose in each 128-bit lane; the other fields are where ggml has them. The same
// decoded rows.
template <typename Base, typename Block>
struct K16Groups16Type : Base {
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      const uint8_t* group = row + i * static_cast<int64_t>(sizeof(Block));
      for (int h = 0; h < 2; ++h) {
        __m256i u[4];
        k16_group_half_quants<Block>(group, h, u);
        const __m256i lo01 = _mm256_unpacklo_epi32(u[0], u[1]);
        const __m256i hi01 = _mm256_unpackhi_epi32(u[0], u[1]);
        const __m256i lo23 = _mm256_unpacklo_epi32(u[2], u[3]);
        const __m256i hi23 = _mm256_unpackhi_epi32(u[2], u[3]);
        // sub[j], 128-bit lane c: sub-block 8 h + 4 c + j in element order.
        const __m256i sub[4] = {
            _mm256_unpacklo_epi64(lo01, lo23), _mm256_unpackhi_epi64(lo01, lo23),
            _mm256_unpacklo_epi64(hi01, hi23), _mm256_unpackhi_epi64(hi01, hi23)};
        uint8_t* out = o.q + kQK_K * i + 128 * h;
        for (int p = 0; p < 2; ++p) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * p),
                              _mm256_permute2x128_si256(sub[2 * p], sub[2 * p + 1], 0x20));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 + 32 * p),
                              _mm256_permute2x128_si256(sub[2 * p], sub[2 * p + 1], 0x31));
        }
      }
      Base::decode_fields(*reinterpret_cast<const Block*>(group), i, o);
    }
  }
};

struct Q2KType {
  static constexpr int S = 16, G = 256, kOffset = 0;
  static constexpr bool kSigned = false, kK = true, kMin = true;
  static constexpr int kRun = run_length(3, kMaxQ8K, S / 4);
  static void decode(const uint8_t* row, int64_t k, const RowOut& o) {
    const auto* x = reinterpret_cast<const BlockQ2_K*>(row);
    for (int64_t i = 0; i < k / kQK_K; ++i) {
      unpack_q2_K(x[i], o.q + kQK_K * i);
      decode_fields(x[i], i, o);
    }
  }
  // Super-block i's 16 scales and mins, d and dmin.
  static void decode_fields(const BlockQ2_K& b, int64_t i, const RowOut& o) {
    for (int g = 0; g < 16; ++g) {
      o.int_scale[16 * i + g] = static_cast<int16_t>(b.scales[g] & 0x0F);
      o.int_min[16 * i + g] = static_cast<int16_t>(b.scales[g] >> 4);
    }
    o.d[i] = half_to_float(b.d);
    o.dmin[i] = half_to_float(b.dmin);
  }
};

// ---- GEMM activation rows -------------------------------------------------------------------
// 32-element types: qs int8[K] | d f32[K / 32] | corr int32[K / 32] (-offset * block sum; if
// offset) | s f32[K / 32] (Q8_1's s; if min), every block at its block_position.
// K-quants: qs int8[K] | d f32[K / 256] | sums int32[K / S / 2], the activation sums of
// sub-blocks 2i and 2i + 1 as the low and high int16 (|sum| <= 32 * 128).

template <typename Type>
struct RowLayout {
  int64_t k;
  size_t d_at() const { return static_cast<size_t>(k); }
  size_t corr_at() const { return d_at() + 4 * static_cast<size_t>(k / Type::G); }
  size_t minsum_at() const {
    return corr_at() + (!Type::kK && Type::kOffset ? 4 * static_cast<size_t>(k / Type::S) : 0);
  }
  size_t bytes() const {
    const size_t extra = Type::kK     ? static_cast<size_t>(k / Type::S / 2)
                         : Type::kMin ? static_cast<size_t>(k / Type::S)
                                      : 0;
    return round64(minsum_at() + 4 * extra);
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
  if constexpr (!Type::kK) {
    auto* corr = reinterpret_cast<int32_t*>(out + layout.corr_at());
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
    auto* pairs = reinterpret_cast<uint32_t*>(out + layout.minsum_at());
    const auto* a = static_cast<const BlockQ8_K*>(activation_row);
    constexpr int kSubs = kQK_K / Type::S, kGroups = Type::S / 16;
    for (int64_t b = 0; b < k / kQK_K; ++b) {
      std::memcpy(out + kQK_K * b, a[b].qs, kQK_K);
      d[b] = a[b].d;
      for (int i = 0; i < kSubs / 2; ++i) {
        uint32_t pair = 0;
        for (int half = 0; half < 2; ++half) {
          int sum = 0;
          for (int g = 0; g < kGroups; ++g) sum += a[b].bsums[(2 * i + half) * kGroups + g];
          pair |= static_cast<uint32_t>(static_cast<uint16_t>(sum)) << (16 * half);
        }
        pairs[b * kSubs / 2 + i] = pair;
      }
    }
  }
}

// ---- the register-blocked kernels -------------------------------------------------------------
// Packed weights of a group of 8 rows. 32-element types, per block (at its block_position):
// 8 vectors of 8 rows x 4 quant bytes, then for signed types the 8 such vectors of the weights
// themselves, then the 8 f32 scales, then with mins the 8 f32 mins. K-quants, per super-block:
// per sub-block S / 4 quant vectors and the 8 scales as int16 pairs (s, s); then the 8 f32 d;
// with an offset, G / S / 2 vectors of the scales of sub-blocks 2i and 2i + 1 as int16 pairs;
// with mins, the 8 f32 dmin and G / S / 2 such vectors of the mins.

template <typename Type>
constexpr size_t pack_sub_block_bytes() {
  if constexpr (Type::kK) return 8 * Type::S + 32;
  return (Type::kSigned ? 2 : 1) * 8 * Type::S + 32 + (Type::kMin ? 32 : 0);
}

template <typename Type>
constexpr size_t pack_super_block_extra_bytes() {
  if constexpr (!Type::kK) return 0;
  constexpr size_t pair_vectors = 32 * (Type::G / Type::S / 2);
  return 32 + (Type::kOffset ? pair_vectors : 0) + (Type::kMin ? 32 + pair_vectors : 0);
}

// Adds to sums[t] the products of the S / 4 weight vectors at p (and, for signed types, the
// weight vectors after them) with the quants at a[t], per row lane: each run of kRun vectors is
// summed in int16, then widened with vpmaddwd against `widen` (int16 pairs). One token's run at
// a time (the weight vectors are loaded again per token, from L1), each sum pinned in a
// register by an empty asm: otherwise GCC reassociates the int16 sums into trees and computes
// every product of the run first, which spills most of them. Types with runs of 1 (Q8_0 and
// IQ4_NL: signed, |w| up to 128) take each weight vector (and its signs) into registers once
// and go through the tokens with it: taken per token as the longer runs are, GCC kept the
// products on the stack, and Q8_0's 512-token product ran at 43 GMAC/s a thread against 53.
template <typename Type, int T>
inline void add_products(const uint8_t* p, const uint8_t* const (&a)[T], __m256i widen,
                         __m256i (&sums)[T]) {
  constexpr int kVectors = Type::S / 4, kRun = Type::kRun;
  if constexpr (kRun == 1) {
#pragma GCC unroll 8
    for (int q = 0; q < kVectors; ++q) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32 * q));
      __m256i sign;
      if constexpr (Type::kSigned)
        sign = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32 * (kVectors + q)));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        __m256i act = _mm256_set1_epi32(load4(a[t] + 4 * q));
        if constexpr (Type::kSigned) act = _mm256_sign_epi8(act, sign);
        sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(_mm256_maddubs_epi16(w, act), widen));
        asm("" : "+x"(sums[t]));
      }
    }
    return;
  }
#pragma GCC unroll 8
  for (int r0 = 0; r0 < kVectors; r0 += kRun) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      __m256i run;
#pragma GCC unroll 8
      for (int q = r0; q < r0 + kRun; ++q) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32 * q));
        __m256i act = _mm256_set1_epi32(load4(a[t] + 4 * q));
        if constexpr (Type::kSigned)
          act = _mm256_sign_epi8(
              act, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32 * (kVectors + q))));
        const __m256i product = _mm256_maddubs_epi16(w, act);
        run = q == r0 ? product : _mm256_add_epi16(run, product);
        asm("" : "+x"(run));
      }
      sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(run, widen));
    }
  }
}

inline void store_rows(float* y, __m256 v, int n_rows) {
  if (n_rows == kRows) {
    _mm256_storeu_ps(y, v);
  } else {
    const __m256i lanes =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n_rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y, lanes, v);
  }
}

// 32-element block types: 16 partial sums per row lane and token, accumulated one after the
// other in registers over the blocks in block_position order, then added pairwise.
template <typename Type, int T>
void legacy_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                   int64_t y_stride, int n_rows) {
  const RowLayout<Type> layout{k};
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 partial[16][T];
  const uint8_t* p = pack;
  int64_t m = 0;  // position of the next block
  for (int part = 0; part < 16; ++part) {
    __m256(&acc)[T] = partial[part];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (const int64_t end = m + partial_blocks(part, k / 32); m < end; ++m) {
      const uint8_t* a[T];
      __m256i sums[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        a[t] = rows + t * row_bytes + 32 * m;
        if constexpr (Type::kOffset != 0)
          sums[t] = _mm256_set1_epi32(
              reinterpret_cast<const int32_t*>(rows + t * row_bytes + layout.corr_at())[m]);
        else
          sums[t] = _mm256_setzero_si256();
      }
      add_products<Type, T>(p, a, ones, sums);
      p += (Type::kSigned ? 2 : 1) * 8 * 32;
      const __m256 scale = _mm256_load_ps(reinterpret_cast<const float*>(p));
      p += 32;
      __m256 min;
      if constexpr (Type::kMin) {
        min = _mm256_load_ps(reinterpret_cast<const float*>(p));
        p += 32;
      }
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const uint8_t* row = rows + t * row_bytes;
        const float d = reinterpret_cast<const float*>(row + layout.d_at())[m];
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]),
                                 _mm256_mul_ps(scale, _mm256_set1_ps(d)), acc[t]);
        if constexpr (Type::kMin)
          acc[t] = _mm256_fmadd_ps(
              min, _mm256_set1_ps(reinterpret_cast<const float*>(row + layout.minsum_at())[m]),
              acc[t]);
      }
    }
  }
  for (int width = 8; width > 0; width /= 2)
    for (int i = 0; i < width; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        partial[i][t] = _mm256_add_ps(partial[i][t], partial[i + width][t]);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store_rows(y + t * y_stride, partial[0][t], n_rows);
}

// sums[t] = sum over i < n of the int16 pairs of the vectors at p times the int16 pairs
// pairs_t[i] of token t (one int32 per row lane).
template <int T>
inline void pair_products(const uint8_t* p, int n, const int32_t* const (&pairs)[T],
                          __m256i (&sums)[T]) {
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) sums[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int i = 0; i < n; ++i) {
    const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32 * i));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(v, _mm256_set1_epi32(pairs[t][i])));
  }
}

// K-quants: one exact integer sum per super-block and row lane and token, then f32.
template <typename Type, int T>
void k_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
              int64_t y_stride, int n_rows) {
  constexpr int kSubs = Type::G / Type::S;
  const RowLayout<Type> layout{k};
  __m256 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const uint8_t* p = pack;
  for (int64_t b = 0; b < k / Type::G; ++b) {
    __m256i total[T];
    const int32_t* pairs[T];
    float da[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const uint8_t* row = rows + t * row_bytes;
      total[t] = _mm256_setzero_si256();
      pairs[t] = reinterpret_cast<const int32_t*>(row + layout.minsum_at()) + b * kSubs / 2;
      da[t] = reinterpret_cast<const float*>(row + layout.d_at())[b];
    }
#pragma GCC unroll 2
    for (int js = 0; js < kSubs; ++js) {
      const uint8_t* a[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) a[t] = rows + t * row_bytes + Type::G * b + Type::S * js;
      const __m256i scale = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 8 * Type::S));
      add_products<Type, T>(p, a, scale, total);
      p += 8 * Type::S + 32;
    }
    const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(p));
    p += 32;
    if constexpr (Type::kOffset != 0) {
      static_assert(std::has_single_bit(static_cast<unsigned>(Type::kOffset)));
      constexpr int kShift = std::countr_zero(static_cast<unsigned>(Type::kOffset));
      __m256i corr[T];
      pair_products<T>(p, kSubs / 2, pairs, corr);
      p += 32 * (kSubs / 2);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        total[t] = _mm256_sub_epi32(total[t], _mm256_slli_epi32(corr[t], kShift));
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[t]),
                               _mm256_mul_ps(d, _mm256_set1_ps(da[t])), acc[t]);
    if constexpr (Type::kMin) {
      const __m256 dmin = _mm256_load_ps(reinterpret_cast<const float*>(p));
      p += 32;
      __m256i mins[T];
      pair_products<T>(p, kSubs / 2, pairs, mins);
      p += 32 * (kSubs / 2);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins[t]),
                                  _mm256_mul_ps(dmin, _mm256_set1_ps(da[t])), acc[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store_rows(y + t * y_stride, acc[t], n_rows);
}

template <typename Type, int T>
void block_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                  int64_t y_stride, int n_rows) {
  if constexpr (Type::kK)
    k_kernel<Type, T>(pack, k, rows, row_bytes, y, y_stride, n_rows);
  else
    legacy_kernel<Type, T>(pack, k, rows, row_bytes, y, y_stride, n_rows);
}

// block_kernel for n <= T tokens.
template <typename Type, int T = kTokens>
void run_tokens(int n, const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes,
                float* y, int64_t y_stride, int n_rows) {
  if constexpr (T > 1)
    if (n < T) return run_tokens<Type, T - 1>(n, pack, k, rows, row_bytes, y, y_stride, n_rows);
  block_kernel<Type, T>(pack, k, rows, row_bytes, y, y_stride, n_rows);
}

// Per-thread scratch: the decoded rows and fields of one group and the interleaved packs of a
// run of groups. Grown with resize_scratch (scratch.h), not std::vector::resize.
struct Scratch {
  std::vector<uint8_t> q;
  std::vector<int8_t> sign;
  std::vector<float> scale, min, d, dmin;
  std::vector<int16_t> int_scale, int_min;
  std::vector<uint8_t> pack_storage;

  uint8_t* pack(size_t bytes) {
    if (pack_storage.size() < bytes + 64) resize_scratch(pack_storage, bytes + 64);
    const auto address = reinterpret_cast<uintptr_t>(pack_storage.data());
    return pack_storage.data() + (64 - address % 64) % 64;
  }
};

template <typename Type>
size_t group_pack_bytes(int64_t k) {
  return static_cast<size_t>(k / Type::S) * pack_sub_block_bytes<Type>() +
         static_cast<size_t>(k / Type::G) * pack_super_block_extra_bytes<Type>();
}

// 8 rows x 4 dwords (row r's 16 bytes at rows + r * stride) to 4 vectors, vector q holding
// dword q of every row: the 4 x 4 transpose within each 128-bit lane of [r | r+4].
inline void transpose_8x4(const uint8_t* rows, int64_t stride, uint8_t*& out) {
  __m256i z[4];
  for (int k = 0; k < 4; ++k) {
    auto row = [&](int r) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + r * stride));
    };
    z[k] = _mm256_set_m128i(row(k + 4), row(k));
  }
  const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
  auto* v = reinterpret_cast<__m256i*>(out);
  _mm256_store_si256(v, _mm256_unpacklo_epi64(t0, t2));
  _mm256_store_si256(v + 1, _mm256_unpackhi_epi64(t0, t2));
  _mm256_store_si256(v + 2, _mm256_unpacklo_epi64(t1, t3));
  _mm256_store_si256(v + 3, _mm256_unpackhi_epi64(t1, t3));
  out += 128;
}

// Writes the 8 lanes lane(r) (4 bytes each) to out and advances out.
template <typename Lane>
inline void put_lanes(uint8_t*& out, Lane lane) {
  for (int r = 0; r < kRows; ++r) {
    const auto v = lane(r);
    static_assert(sizeof(v) == 4);
    std::memcpy(out + 4 * r, &v, 4);
  }
  out += 32;
}

// Two int16 values as the low and high half of an int32 lane.
inline uint32_t int16_pair(int16_t low, int16_t high) {
  return static_cast<uint32_t>(static_cast<uint16_t>(low)) |
         static_cast<uint32_t>(static_cast<uint16_t>(high)) << 16;
}

// Decodes rows [row0, row0 + rows_in_group) (the rest of the 8 as zeros) and writes their
// interleaved pack to `out`.
template <typename Type>
void pack_group(const GemmProblem& p, int64_t row0, int rows_in_group, Scratch& s, uint8_t* out) {
  const int64_t k = p.n_in;
  const int64_t n_sub = k / Type::S, n_super = k / Type::G;
  const auto lanes = [](int64_t fields) { return static_cast<size_t>(kRows * fields); };
  resize_scratch(s.q, lanes(k));
  if constexpr (Type::kSigned) resize_scratch(s.sign, lanes(k));
  if constexpr (Type::kK) {
    fill_scratch(s.int_scale, lanes(n_sub), 0);
    fill_scratch(s.int_min, lanes(n_sub), 0);
    fill_scratch(s.d, lanes(n_super), 0.0f);
    fill_scratch(s.dmin, lanes(n_super), 0.0f);
  } else {
    fill_scratch(s.scale, lanes(n_sub), 0.0f);
    fill_scratch(s.min, lanes(n_sub), 0.0f);
  }
  for (int r = rows_in_group; r < kRows; ++r) {
    std::memset(s.q.data() + r * k, 0, static_cast<size_t>(k));
    if constexpr (Type::kSigned) std::memset(s.sign.data() + r * k, 0, static_cast<size_t>(k));
  }
  for (int r = 0; r < rows_in_group; ++r) {
    RowOut o{};
    o.q = s.q.data() + r * k;
    if constexpr (Type::kSigned) o.sign = s.sign.data() + r * k;
    if constexpr (Type::kK) {
      o.int_scale = s.int_scale.data() + r * n_sub;
      o.int_min = s.int_min.data() + r * n_sub;
      o.d = s.d.data() + r * n_super;
      o.dmin = s.dmin.data() + r * n_super;
    } else {
      o.scale = s.scale.data() + r * n_sub;
      o.min = s.min.data() + r * n_sub;
    }
    Type::decode(p.w + static_cast<size_t>(row0 + r) * p.w_row_bytes, k, o);
  }
  uint8_t* const start = out;
  for (int64_t j = 0; j < n_sub; ++j) {
    if constexpr (!Type::kK) out = start + block_position(j, n_sub) * pack_sub_block_bytes<Type>();
    for (int h = 0; h < Type::S / 16; ++h) transpose_8x4(s.q.data() + j * Type::S + 16 * h, k, out);
    if constexpr (Type::kSigned)
      for (int h = 0; h < Type::S / 16; ++h)
        transpose_8x4(reinterpret_cast<const uint8_t*>(s.sign.data()) + j * Type::S + 16 * h, k,
                      out);
    if constexpr (Type::kK) {
      put_lanes(out, [&](int r) {
        const int16_t sc = s.int_scale[r * n_sub + j];
        return int16_pair(sc, sc);
      });
      constexpr int kSubs = Type::G / Type::S;
      if ((j + 1) % kSubs != 0) continue;
      const int64_t b = j / kSubs;
      put_lanes(out, [&](int r) { return s.d[r * n_super + b]; });
      // Sub-blocks 2i and 2i + 1 of super-block b as int16 pairs of `field`.
      auto pairs = [&](const std::vector<int16_t>& field) {
        for (int64_t i = b * kSubs / 2; i < (b + 1) * kSubs / 2; ++i)
          put_lanes(out, [&](int r) {
            return int16_pair(field[r * n_sub + 2 * i], field[r * n_sub + 2 * i + 1]);
          });
      };
      if constexpr (Type::kOffset != 0) pairs(s.int_scale);
      if constexpr (Type::kMin) {
        put_lanes(out, [&](int r) { return s.dmin[r * n_super + b]; });
        pairs(s.int_min);
      }
    } else {
      put_lanes(out, [&](int r) { return s.scale[r * n_sub + j]; });
      if constexpr (Type::kMin) put_lanes(out, [&](int r) { return s.min[r * n_sub + j]; });
    }
  }
}

// Bytes of packed weights decoded before the tokens are run over them, and of activation rows
// run over them at a time: together they stay in a 256 KiB L2.
constexpr size_t kPackBudget = 128 * 1024;
constexpr size_t kTokenBudget = 96 * 1024;

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
        for (int64_t t0 = c0; t0 < c1; t0 += kTokens) {
          const int n = static_cast<int>(std::min<int64_t>(kTokens, c1 - t0));
          run_tokens<Type>(n, packs + g * group_bytes, p.n_in,
                           p.rows + static_cast<size_t>(t0) * p.row_bytes, p.row_bytes,
                           p.y + t0 * p.y_stride + row0, p.y_stride, rows_in_group);
        }
      }
    }
  }
}

// From 8 tokens on (16 for the signed types, whose products cost as much here as in their
// vec_dot) the batched kernels beat tiling vec_dot: measured with 4864 x 896 matrices, one
// thread (kernels_bench, Intel Xeon at the AVX2 level), Q4_K 5 tokens 1.04 ms batched against
// 0.64 tiled, 8 tokens 0.84 against 1.08; Q4_0 8 tokens 0.80 against 1.14; Q6_K 6 tokens 1.15
// against 0.99, 8 tokens 1.12 against 1.37; Q8_0 12 tokens 1.94 against 1.72, 16 tokens 2.27
// against 2.32, 512 tokens 52 ms against 118.
template <typename Type>
constexpr GemmKernels kernels_of{row_bytes<Type>, prepare<Type>, multiply<Type>,
                                 Type::kSigned ? 16 : 8};

// The kernels of a 32-element type decoded by Legacy<W, kMaxQuant> (LegacyType on ggml rows,
// LegacyGroups16Type on kBlockGroups16), with the type's bound on its unsigned quants; null
// for the other types.
template <template <typename, int> class Legacy>
const GemmKernels* legacy_kernels(gguf::GgmlType type) {
  using gguf::GgmlType;
  switch (type) {
    case GgmlType::Q8_0:
      return &kernels_of<Legacy<Q8_0Weights, 128>>;
    case GgmlType::Q4_0:
      return &kernels_of<Legacy<Q4_0Weights, 15>>;
    case GgmlType::Q5_0:
      return &kernels_of<Legacy<Q5_0Weights, 31>>;
    case GgmlType::Q4_1:
      return &kernels_of<Legacy<Q4_1Weights, 15>>;
    case GgmlType::Q5_1:
      return &kernels_of<Legacy<Q5_1Weights, 31>>;
    case GgmlType::IQ4_NL:
      return &kernels_of<Legacy<IQ4_NLWeights, 128>>;
    default:
      return nullptr;
  }
}

}  // namespace

const GemmKernels* gemm_kernels_groups16(uint32_t type_id) {
  using gguf::GgmlType;
  const auto type = static_cast<GgmlType>(type_id);
  if (const GemmKernels* legacy = legacy_kernels<LegacyGroups16Type>(type)) return legacy;
  switch (type) {
    case GgmlType::Q4_K:
      return &kernels_of<Q45KGroups16Type<false, BlockQ4_K>>;
    case GgmlType::Q5_K:
      return &kernels_of<Q45KGroups16Type<true, BlockQ5_K>>;
    case GgmlType::Q2_K:
      return &kernels_of<K16Groups16Type<Q2KType, BlockQ2_K>>;
    case GgmlType::Q3_K:
      return &kernels_of<K16Groups16Type<Q3KType, BlockQ3_K>>;
    case GgmlType::Q6_K:
      return &kernels_of<K16Groups16Type<Q6KType, BlockQ6_K>>;
    default:
      return nullptr;
  }
}

const GemmKernels* gemm_kernels(uint32_t type_id) {
  using gguf::GgmlType;
  const auto type = static_cast<GgmlType>(type_id);
  if (const GemmKernels* legacy = legacy_kernels<LegacyType>(type)) return legacy;
  switch (type) {
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

}  // namespace gengyun::kernels::avx2
