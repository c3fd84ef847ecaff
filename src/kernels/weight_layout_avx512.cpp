// AVX-512 conversion of full groups of WeightLayout::kBlockGroups16 back to ggml blocks: the
// batched kernels read ggml rows, and matmul converts each group of 16 rows as it goes, so
// this runs once per weight byte of every batched product.

// GCC 12's AVX-512 headers read _mm512_undefined_* values and warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/block_groups16_x86.h"
#include "kernels/quant_blocks.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels::avx512 {

void group16_to_blocks(gguf::GgmlType type, const uint8_t* group, uint8_t* dst) {
  const bool q8 = type == gguf::GgmlType::Q8_0, q5 = type == gguf::GgmlType::Q5_0;
  const size_t block_bytes = q8 ? sizeof(BlockQ8_0) : q5 ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0);
  const size_t qs_at = q5 ? 6 : 2;
  for (int l = 0; l < 16; ++l) {
    std::memcpy(dst + l * block_bytes, group + 2 * l, 2);
    if (q5) std::memcpy(dst + l * block_bytes + 2, group + 32 + 4 * l, 4);
  }
  const uint8_t* words = group + (q5 ? 96 : 32);
  auto store = [&](int l, __m128i first, __m128i second) {
    uint8_t* qs = dst + l * block_bytes + qs_at;
    const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));  // Q8_0: q + 128 -> q
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), q8 ? _mm_xor_si128(first, flip) : first);
    if (q8) _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm_xor_si128(second, flip));
  };
  if (q8)
    groups16::for_each_block<8>(words, 16, store);
  else
    groups16::for_each_block<4>(words, 16, store);
}

namespace {

// The quant words of 16 blocks (block l's 16 h-th bytes at src + l * block_bytes + qs_at +
// 16 h, h < halves) written as a group's words: word k of block l at words + 4 (16 k + l),
// each XORed with `flip`.
void blocks_to_words(const uint8_t* src, size_t block_bytes, size_t qs_at, int halves,
                     __m512i flip, uint8_t* words) {
  for (int h = 0; h < halves; ++h) {
    // v[i]'s chunk c: words 4 h..4 h + 3 of block 4 c + i; the 4x4 transpose per chunk makes
    // chunk c of vector k hold word 4 h + k of blocks 4 c..4 c + 3, i.e. lanes 4 c..4 c + 3.
    __m512i v[4], t[4];
    for (int i = 0; i < 4; ++i) {
      __m512i x = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        const __m128i piece = _mm_loadu_si128(
            reinterpret_cast<const __m128i*>(src + (4 * c + i) * block_bytes + qs_at + 16 * h));
        x = _mm512_mask_broadcast_i32x4(x, static_cast<__mmask16>(0xF << (4 * c)), piece);
      }
      v[i] = x;
    }
    groups16::transpose4(v, t);
    for (int k = 0; k < 4; ++k)
      _mm512_storeu_si512(words + 64 * (4 * h + k), _mm512_xor_si512(t[k], flip));
  }
}

}  // namespace

void blocks_to_group16(gguf::GgmlType type, const uint8_t* src, uint8_t* group) {
  const bool q8 = type == gguf::GgmlType::Q8_0, q5 = type == gguf::GgmlType::Q5_0;
  const size_t block_bytes = q8 ? sizeof(BlockQ8_0) : q5 ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0);
  for (int l = 0; l < 16; ++l) {
    std::memcpy(group + 2 * l, src + l * block_bytes, 2);
    if (q5) std::memcpy(group + 32 + 4 * l, src + l * block_bytes + 2, 4);
  }
  // Q8_0: q -> q + 128.
  blocks_to_words(src, block_bytes, q5 ? 6 : 2, q8 ? 2 : 1,
                  _mm512_set1_epi8(static_cast<char>(q8 ? 0x80 : 0)), group + (q5 ? 96 : 32));
}

void q4_K_pair_to_group(const uint8_t* src, uint8_t* group) {
  const auto* b = reinterpret_cast<const BlockQ4_K*>(src);
  for (int j = 0; j < 2; ++j) {
    std::memcpy(group + 2 * j, &b[j].d, 2);
    std::memcpy(group + 4 + 2 * j, &b[j].dmin, 2);
    std::memcpy(group + 8 + 12 * j, b[j].scales, 12);
  }
  // Sub-blocks 2 c and 2 c + 1 of a super-block are the low and high nibbles of its chunk c of
  // 32 bytes x: as Q4_0 blocks, (x[i] & 15) | (x[16 + i] & 15) << 4 and x[i] >> 4 |
  // (x[16 + i] & 0xF0), i < 16.
  alignas(64) uint8_t blocks[16][16];
  const __m128i low = _mm_set1_epi8(0x0F), high = _mm_set1_epi8(static_cast<char>(0xF0));
  for (int j = 0; j < 2; ++j)
    for (int c = 0; c < 4; ++c) {
      const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[j].qs + 32 * c));
      const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[j].qs + 32 * c + 16));
      _mm_store_si128(reinterpret_cast<__m128i*>(blocks[8 * j + 2 * c]),
                      _mm_or_si128(_mm_and_si128(x0, low), _mm_and_si128(_mm_slli_epi16(x1, 4), high)));
      _mm_store_si128(reinterpret_cast<__m128i*>(blocks[8 * j + 2 * c + 1]),
                      _mm_or_si128(_mm_and_si128(_mm_srli_epi16(x0, 4), low), _mm_and_si128(x1, high)));
    }
  blocks_to_words(&blocks[0][0], 16, 0, 1, _mm512_setzero_si512(), group + 32);
}

void q6_K_block_to_group(const uint8_t* src, uint8_t* group) {
  const auto& b = *reinterpret_cast<const BlockQ6_K*>(src);
  const __m512i nibble = _mm512_set1_epi8(0x0F), two_bits = _mm512_set1_epi8(0x03);
  // The 6-bit quants u in element order, as vec_dot_q6_K unpacks them: q[c]'s 128-bit chunk i
  // holds sub-block 4 c + i, dword k of it elements 4 k .. 4 k + 3.
  __m512i q[4];
  for (int h = 0; h < 2; ++h) {
    const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
    // Bits 0-1 / 2-3 of qh for elements 0..31 / 32..63, bits 4-5 / 6-7 for 64..95 / 96..127.
    const __m512i high =
        _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
    q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, nibble),
                               _mm512_slli_epi16(_mm512_and_si512(high, two_bits), 4));
    q[2 * h + 1] = _mm512_or_si512(
        _mm512_and_si512(_mm512_srli_epi16(ql, 4), nibble),
        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(high, 4), two_bits), 4));
  }
  // v[k], lane l: dword k of sub-block l (lanes 0..7 from q[0], q[1], 8..15 from q[2], q[3]).
  __m512i v[4];
  for (int k = 0; k < 4; ++k) {
    const __m512i index = _mm512_add_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
        _mm512_set1_epi32(k));
    v[k] = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(q[0], index, q[1]),
                                   _mm512_permutex2var_epi32(q[2], index, q[3]));
  }
  using groups16::select_bits;
  // Low 4 bits: elements 4 + b over b, 12 + b over 8 + b; the high 2 bits of elements b, 4 + b,
  // 8 + b, 12 + b at bits 0-1, 2-3, 4-5, 6-7 (quants are below 64: bits 6-7 of each are 0).
  const __m512i w0 = select_bits(v[0], _mm512_slli_epi16(v[1], 4), nibble);
  const __m512i w1 = select_bits(v[2], _mm512_slli_epi16(v[3], 4), nibble);
  const __m512i high01 =
      select_bits(_mm512_srli_epi16(v[0], 4), _mm512_srli_epi16(v[1], 2), two_bits);
  const __m512i high23 = select_bits(v[2], _mm512_slli_epi16(v[3], 2), _mm512_set1_epi8(0x30));
  _mm512_storeu_si512(group, w0);
  _mm512_storeu_si512(group + 64, w1);
  _mm512_storeu_si512(group + 128, select_bits(high01, high23, nibble));
  constexpr size_t kFields = offsetof(BlockQ6_K, scales);  // the scales and d, as they are
  std::memcpy(group + kFields, src + kFields, sizeof(BlockQ6_K) - kFields);
}

namespace {

// Two-source dword permutes (vpermt2d) of the activation arrangements. Each table entry is
// the index vpermt2d takes: 0..15 a lane of the first source, 16..31 one of the second.
struct PermuteTables {
  // Q4_K, step 1 (h = 0, 1): sources of sub-blocks s0..s0 + 1 and s0 + 2..s0 + 3 (8 dwords
  // each) to lane 4 k + s: dword 4 h + k of sub-block s0 + s.
  int32_t q4_K_quads[2][16];
  // Q4_K step 2 (g = 0, 1): sources of step 1 for sub-blocks s0..s0 + 3 and s0 + 4..s0 + 7
  // to lane 8 k + s: dword 2 g + k (of step 1's 4) of sub-block s0 + s.
  int32_t q4_K_pairs[2][16];
  // Both layouts' last step (k = 0, 1): sources holding dwords j, j + 1 of sub-blocks 0..7
  // and 8..15 in lanes 8 k + s to lane l: dword j + k of sub-block l.
  int32_t halves[2][16];
  // Q6_K (g = 0, 1): sources of 4 sub-blocks of 16 each (4 dwords) to lane 8 k + s: dword
  // 2 g + k of sub-block s.
  int32_t q6_K_pairs[2][16];
};

constexpr PermuteTables make_permute_tables() {
  PermuteTables t{};
  for (int a = 0; a < 2; ++a)
    for (int lane = 0; lane < 16; ++lane) {
      const int k4 = lane / 4, s4 = lane % 4, k8 = lane / 8, s8 = lane % 8;
      t.q4_K_quads[a][lane] = s4 / 2 * 16 + s4 % 2 * 8 + 4 * a + k4;
      t.q4_K_pairs[a][lane] = s8 / 4 * 16 + 4 * (2 * a + k8) + s8 % 4;
      t.halves[a][lane] = lane / 8 * 16 + 8 * a + lane % 8;
      t.q6_K_pairs[a][lane] = s8 / 4 * 16 + 4 * (s8 % 4) + 2 * a + k8;
    }
  return t;
}

constexpr PermuteTables kPermutes = make_permute_tables();

__m512i permute_index(const int32_t (&index)[16]) { return _mm512_loadu_si512(index); }

// Q4_K's 8 sub-blocks of 32 activations at qs (256 bytes) as 4 vectors: out[2 h + g], lane 8 k
// + s holds dword 4 h + 2 g + k of sub-block s.
void q8_K_block_to_dword_pairs(const int8_t* qs, __m512i out[4]) {
  __m512i a[4];
  for (int i = 0; i < 4; ++i) a[i] = _mm512_loadu_si512(qs + 64 * i);
  for (int h = 0; h < 2; ++h) {
    const __m512i quads = permute_index(kPermutes.q4_K_quads[h]);
    const __m512i low = _mm512_permutex2var_epi32(a[0], quads, a[1]);
    const __m512i high = _mm512_permutex2var_epi32(a[2], quads, a[3]);
    for (int g = 0; g < 2; ++g)
      out[2 * h + g] = _mm512_permutex2var_epi32(low, permute_index(kPermutes.q4_K_pairs[g]), high);
  }
}

}  // namespace

void q8_K_row_to_block_groups16(const void* src, void* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_K*>(src);
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK_K;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t g0 = 0; g0 < nb; g0 += 2) {
    uint8_t* group = out + static_cast<size_t>(g0) * sizeof(BlockQ8_K);
    const BlockQ8_K& b0 = blocks[g0];
    __m512i first[4];
    q8_K_block_to_dword_pairs(b0.qs, first);
    // The sums of the sub-blocks of 32: pairs of bsums (vpmaddwd by 1, exact in int32).
    const __m256i sums0 =
        _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0.bsums)), ones);
    if (g0 + 1 == nb) {  // a lone last super-block: word k of its 8 sub-blocks at 32 k
      for (int i = 0; i < 4; ++i) _mm512_storeu_si512(group + 64 * i, first[i]);
      std::memcpy(group + kQK_K, &b0.d, sizeof(float));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(group + kQK_K + 4), sums0);
      break;
    }
    const BlockQ8_K& b1 = blocks[g0 + 1];
    __m512i second[4];
    q8_K_block_to_dword_pairs(b1.qs, second);
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 2; ++k)
        _mm512_storeu_si512(
            group + 64 * (2 * i + k),
            _mm512_permutex2var_epi32(first[i], permute_index(kPermutes.halves[k]), second[i]));
    std::memcpy(group + 2 * kQK_K, &b0.d, sizeof(float));
    std::memcpy(group + 2 * kQK_K + 4, &b1.d, sizeof(float));
    const __m256i sums1 =
        _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1.bsums)), ones);
    _mm512_storeu_si512(group + 2 * kQK_K + 8,
                        _mm512_inserti64x4(_mm512_castsi256_si512(sums0), sums1, 1));
  }
}

void q8_K_row_to_q6_K_groups16(const void* src, void* dst, int64_t n) {
  const auto* in = static_cast<const BlockQ8_K*>(src);
  auto* out = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    out[i].d = in[i].d;
    std::memcpy(out[i].bsums, in[i].bsums, sizeof(in[i].bsums));
    __m512i a[4];
    for (int j = 0; j < 4; ++j) a[j] = _mm512_loadu_si512(in[i].qs + 64 * j);
    for (int g = 0; g < 2; ++g) {
      const __m512i pairs = permute_index(kPermutes.q6_K_pairs[g]);
      const __m512i low = _mm512_permutex2var_epi32(a[0], pairs, a[1]);
      const __m512i high = _mm512_permutex2var_epi32(a[2], pairs, a[3]);
      for (int k = 0; k < 2; ++k)
        _mm512_storeu_si512(
            out[i].qs + 64 * (2 * g + k),
            _mm512_permutex2var_epi32(low, permute_index(kPermutes.halves[k]), high));
    }
  }
}

}  // namespace gengyun::kernels::avx512
