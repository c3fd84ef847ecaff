// AVX-512 conversions between ggml blocks and full groups of WeightLayout::kBlockGroups16 (at
// load, and back where a level lacks the layout's kernels or an embedding row is looked up),
// and the arrangement of Q8_K activation rows for the K-quant decode products, once per
// product and token.

// GCC 12's AVX-512 headers read _mm512_undefined_* values and warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels/block_groups16_x86.h"
#include "kernels/gemm_block_order.h"
#include "kernels/quant_blocks.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels::avx512 {

namespace {

// The bytes before a 32-element block's quants, as fields of `size` bytes at `offset`: the group
// holds each field of its 16 blocks side by side, at 16 offset + size l (weight_layout.h).
struct BlockFields {
  size_t bytes;  // of one block
  size_t qs;     // offset of the quants
  int n;
  size_t offset[3], size[3];
};

BlockFields block_fields(gguf::GgmlType type) {
  switch (type) {
    case gguf::GgmlType::Q8_0:
      return {sizeof(BlockQ8_0), 2, 1, {0}, {2}};
    case gguf::GgmlType::Q5_0:
      return {sizeof(BlockQ5_0), 6, 2, {0, 2}, {2, 4}};
    case gguf::GgmlType::Q4_1:
      return {sizeof(BlockQ4_1), 4, 2, {0, 2}, {2, 2}};
    case gguf::GgmlType::Q5_1:
      return {sizeof(BlockQ5_1), 8, 3, {0, 2, 4}, {2, 2, 4}};
    case gguf::GgmlType::IQ4_NL:
      return {sizeof(BlockIQ4_NL), 2, 1, {0}, {2}};
    default:  // Q4_0
      return {sizeof(BlockQ4_0), 2, 1, {0}, {2}};
  }
}

}  // namespace

void group16_to_blocks(gguf::GgmlType type, const uint8_t* group, uint8_t* dst) {
  const bool q8 = type == gguf::GgmlType::Q8_0;
  const BlockFields b = block_fields(type);
  for (int l = 0; l < 16; ++l)
    for (int f = 0; f < b.n; ++f)
      std::memcpy(dst + l * b.bytes + b.offset[f], group + 16 * b.offset[f] + b.size[f] * l,
                  b.size[f]);
  const uint8_t* words = group + 16 * b.qs;
  auto store = [&](int l, __m128i first, __m128i second) {
    uint8_t* qs = dst + l * b.bytes + b.qs;
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
  const bool q8 = type == gguf::GgmlType::Q8_0;
  const BlockFields b = block_fields(type);
  for (int l = 0; l < 16; ++l)
    for (int f = 0; f < b.n; ++f)
      std::memcpy(group + 16 * b.offset[f] + b.size[f] * l, src + l * b.bytes + b.offset[f],
                  b.size[f]);
  // Q8_0: q -> q + 128.
  blocks_to_words(src, b.bytes, b.qs, q8 ? 2 : 1,
                  _mm512_set1_epi8(static_cast<char>(q8 ? 0x80 : 0)), group + 16 * b.qs);
}

namespace {

// A pair of Q4_K or Q5_K blocks (Block) as one group (weight_layout.h): each region of the group
// at twice its field's offset in the block (Q5_K's fifth-bit fields at 2 offsetof(qh), the
// quant words at 2 offsetof(qs)).
template <typename Block>
void q45_K_pair_to_group(const uint8_t* src, uint8_t* group) {
  const auto* b = reinterpret_cast<const Block*>(src);
  for (int j = 0; j < 2; ++j) {
    std::memcpy(group + 2 * j, &b[j].d, 2);
    std::memcpy(group + 4 + 2 * j, &b[j].dmin, 2);
    std::memcpy(group + 8 + 12 * j, b[j].scales, 12);
    // Q5_K: sub-block s's 32 fifth bits (bit i: element i) are bit s of qh[0..31].
    if constexpr (std::is_same_v<Block, BlockQ5_K>) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[j].qh));
      for (int s = 0; s < 8; ++s) {
        const uint32_t field =
            _mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << s)));
        std::memcpy(group + 2 * offsetof(Block, qh) + 4 * (8 * j + s), &field, 4);
      }
    }
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
  blocks_to_words(&blocks[0][0], 16, 0, 1, _mm512_setzero_si512(), group + 2 * offsetof(Block, qs));
}

}  // namespace

void q4_K_pair_to_group(const uint8_t* src, uint8_t* group) {
  q45_K_pair_to_group<BlockQ4_K>(src, group);
}

void q5_K_pair_to_group(const uint8_t* src, uint8_t* group) {
  q45_K_pair_to_group<BlockQ5_K>(src, group);
}

namespace {

using groups16::select_bits;

// Two-source dword permutes (vpermt2d) of the activation arrangements and the conversions
// back. Each entry is the index vpermt2d takes: 0..15 a lane of the first source, 16..31 one
// of the second.
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
  // lanes_to_rows, step 1 (h = 0, 1): sources holding dword j, j + 1 of 16 rows in lane l to
  // lane 2 s + k: dword j + k of row 8 h + s.
  int32_t rows_pairs[2][16];
  // lanes_to_rows, step 2 (j = 0, 1): sources of step 1 for dwords 0, 1 and 2, 3 of rows
  // r0..r0 + 7 to lane 4 s + k: dword k of row r0 + 4 j + s.
  int32_t rows_quads[2][16];
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
      t.rows_pairs[a][lane] = lane % 2 * 16 + 8 * a + lane / 2;
      t.rows_quads[a][lane] = lane % 4 / 2 * 16 + 2 * (4 * a + lane / 4) + lane % 2;
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

// The inverse of the layouts' lane order: lanes[k], lane l: dword k of row l (16 rows of 4
// dwords) to rows[j], lane 4 s + k: dword k of row 4 j + s (rows in order, one per 16 bytes).
void lanes_to_rows(const __m512i lanes[4], __m512i rows[4]) {
  for (int h = 0; h < 2; ++h) {
    const __m512i pairs = permute_index(kPermutes.rows_pairs[h]);
    const __m512i first = _mm512_permutex2var_epi32(lanes[0], pairs, lanes[1]);
    const __m512i second = _mm512_permutex2var_epi32(lanes[2], pairs, lanes[3]);
    for (int j = 0; j < 2; ++j)
      rows[2 * h + j] =
          _mm512_permutex2var_epi32(first, permute_index(kPermutes.rows_quads[j]), second);
  }
}

}  // namespace

namespace {

template <typename Block>
void q45_K_group_to_pair(const uint8_t* group, uint8_t* dst) {
  auto* b = reinterpret_cast<Block*>(dst);
  for (int j = 0; j < 2; ++j) {
    std::memcpy(&b[j].d, group + 2 * j, 2);
    std::memcpy(&b[j].dmin, group + 4 + 2 * j, 2);
    std::memcpy(b[j].scales, group + 8 + 12 * j, 12);
    // Q5_K: bit s of qh[i] is bit i of sub-block s's fifth-bit field.
    if constexpr (std::is_same_v<Block, BlockQ5_K>) {
      __m256i qh = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) {
        uint32_t field;
        std::memcpy(&field, group + 2 * offsetof(Block, qh) + 4 * (8 * j + s), 4);
        qh = _mm256_or_si256(
            qh, _mm256_maskz_mov_epi8(field, _mm256_set1_epi8(static_cast<char>(1 << s))));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[j].qh), qh);
    }
  }
  __m512i words[4], sub_blocks[4];
  for (int k = 0; k < 4; ++k)
    words[k] = _mm512_loadu_si512(group + 2 * offsetof(Block, qs) + 64 * k);
  // sub_blocks[c], 16 bytes i: sub-block 4 c + i as a Q4_0 block's quants x.
  lanes_to_rows(words, sub_blocks);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i halves = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  for (int c = 0; c < 4; ++c) {
    // Sub-blocks 2 t, 2 t + 1 (x, y) back in chunk t of 32 bytes: x[i] & 15 | y[i] << 4, then
    // x[i] >> 4 | (y[i] & 0xF0), i < 16; y is x's next 16 bytes.
    const __m512i x = sub_blocks[c];
    const __m512i y = _mm512_shuffle_i32x4(x, x, _MM_SHUFFLE(3, 3, 1, 1));
    const __m512i low = select_bits(x, _mm512_slli_epi16(y, 4), nibble);
    const __m512i high = select_bits(_mm512_srli_epi16(x, 4), y, nibble);
    _mm512_storeu_si512(b[c / 2].qs + 64 * (c % 2), _mm512_permutex2var_epi64(low, halves, high));
  }
}

}  // namespace

void q4_K_group_to_pair(const uint8_t* group, uint8_t* dst) {
  q45_K_group_to_pair<BlockQ4_K>(group, dst);
}

void q5_K_group_to_pair(const uint8_t* group, uint8_t* dst) {
  q45_K_group_to_pair<BlockQ5_K>(group, dst);
}

void q6_K_group_to_block(const uint8_t* group, uint8_t* dst) {
  auto& b = *reinterpret_cast<BlockQ6_K*>(dst);
  __m512i u[4], q[4];
  groups16::q6_K_quants(group, u);
  // q[c], byte i: the 6-bit quant of element 64 c + i.
  lanes_to_rows(u, q);
  const __m512i nibble = _mm512_set1_epi8(0x0F), two_bits = _mm512_set1_epi8(0x03);
  for (int h = 0; h < 2; ++h) {
    // ql: elements 128 h + i (low nibble) and 128 h + 64 + i (high), i < 64; qh: the high 2
    // bits of 128 h + i, + 32 + i, + 64 + i, + 96 + i at bits 0-1, 2-3, 4-5, 6-7, i < 32.
    _mm512_storeu_si512(b.ql + 64 * h,
                        select_bits(q[2 * h], _mm512_slli_epi16(q[2 * h + 1], 4), nibble));
    const __m512i high =
        _mm512_and_si512(select_bits(_mm512_srli_epi16(q[2 * h], 4), q[2 * h + 1], two_bits),
                         _mm512_set1_epi8(0x33));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.qh + 32 * h),
                        _mm256_or_si256(_mm512_castsi512_si256(high),
                                        _mm256_slli_epi16(_mm512_extracti64x4_epi64(high, 1), 2)));
  }
  constexpr size_t kFields = offsetof(BlockQ6_K, scales);  // the scales and d, as they are
  std::memcpy(dst + kFields, group + kFields, sizeof(BlockQ6_K) - kFields);
}

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

void rows_to_row_group16(gguf::GgmlType type, const uint8_t* rows, size_t row_bytes, int64_t nb,
                         uint8_t* group) {
  const bool q8 = type == gguf::GgmlType::Q8_0, q5 = type == gguf::GgmlType::Q5_0;
  const size_t block_bytes = q8 ? sizeof(BlockQ8_0) : q5 ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0);
  const size_t qs = q5 ? offsetof(BlockQ5_0, qs) : 2;  // bytes of the fields before the quants
  const int words = q8 ? 8 : 4;
  const auto n = static_cast<size_t>(nb);
  // Row r's byte 0 of a block at lane r (every gather reads 4 bytes inside the block).
  const __m512i row_at =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(row_bytes)));
  for (int64_t j = 0; j < nb; ++j) {
    const uint8_t* block = rows + static_cast<size_t>(j) * block_bytes;
    const auto pos = static_cast<size_t>(block_position(j, nb));
    const __m512i d = _mm512_i32gather_epi32(row_at, block, 1);  // d in each lane's low half
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(group + 32 * pos), _mm512_cvtepi32_epi16(d));
    if (q5)
      _mm512_storeu_si512(group + 32 * n + 64 * pos, _mm512_i32gather_epi32(row_at, block + 2, 1));
    uint8_t* quants = group + 16 * qs * n + 64 * static_cast<size_t>(words) * pos;
    for (int k = 0; k < words; ++k)
      _mm512_storeu_si512(quants + 64 * k, _mm512_i32gather_epi32(row_at, block + qs + 4 * k, 1));
  }
}

}  // namespace gengyun::kernels::avx512
