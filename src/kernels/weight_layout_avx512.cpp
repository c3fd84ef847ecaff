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

}  // namespace gengyun::kernels::avx512
