#include "kernels/weight_layout.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/activation_rows.h"
#include "kernels/gemm_block_order.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd_level.h"
#include "kernels/weight_layout_simd.h"

namespace gengyun::kernels {
namespace {

constexpr int64_t kGroup = 16;
constexpr int kWords = kQK / 4;  // 4-byte pieces of an activation block

// Where a 32-element block type keeps its fields, for kBlockGroups16. The fields before the
// quants (d; Q4_1 / Q5_1 m; Q5_0 / Q5_1 qh) go to the group one after another, each as the m
// blocks' values side by side: a field at byte `offset` of size `size` of block l sits at
// offset * m + size * l of a group of m blocks, and quant word k of block l at
// qs * m + 4 (k m + l).
struct BlockField {
  size_t offset, size;
};
struct BlockShape {
  size_t bytes;   // of one block
  size_t qs;      // offset of the quants (the fields before them: `fields`)
  int words;      // 4-byte words of quants
  uint32_t flip;  // XORed into each quant word (Q8_0: q + 128 = q ^ 0x80)
  int n_fields;
  BlockField fields[3];
};

const BlockShape* block_shape(gguf::GgmlType type) {
  static constexpr BlockField kD{0, 2};
  static constexpr BlockShape kQ8_0{sizeof(BlockQ8_0), 2, 8, 0x80808080u, 1, {kD}};
  static constexpr BlockShape kQ4_0{sizeof(BlockQ4_0), 2, 4, 0, 1, {kD}};
  static constexpr BlockShape kQ5_0{sizeof(BlockQ5_0), 6, 4, 0, 2, {kD, {2, 4}}};
  static constexpr BlockShape kQ4_1{sizeof(BlockQ4_1), 4, 4, 0, 2, {kD, {2, 2}}};
  static constexpr BlockShape kQ5_1{sizeof(BlockQ5_1), 8, 4, 0, 3, {kD, {2, 2}, {4, 4}}};
  static constexpr BlockShape kIQ4_NL{sizeof(BlockIQ4_NL), 2, 4, 0, 1, {kD}};
  switch (type) {
    case gguf::GgmlType::Q8_0:
      return &kQ8_0;
    case gguf::GgmlType::Q4_0:
      return &kQ4_0;
    case gguf::GgmlType::Q5_0:
      return &kQ5_0;
    case gguf::GgmlType::Q4_1:
      return &kQ4_1;
    case gguf::GgmlType::Q5_1:
      return &kQ5_1;
    case gguf::GgmlType::IQ4_NL:
      return &kIQ4_NL;
    default:
      return nullptr;
  }
}

// One row of nb blocks between ggml's layout and kBlockGroups16 (rows distinct); to_groups:
// the direction.
void convert_row(const BlockShape& b, const uint8_t* src, uint8_t* dst, int64_t nb,
                 bool to_groups) {
  for (int64_t g0 = 0; g0 < nb; g0 += kGroup) {
    const auto m = static_cast<size_t>(std::min(kGroup, nb - g0));
    const size_t base = static_cast<size_t>(g0) * b.bytes;
    for (size_t l = 0; l < m; ++l) {
      const size_t block = base + l * b.bytes;
      auto move = [&](size_t ggml_at, size_t group_at, size_t n, uint32_t flip) {
        const uint8_t* from = src + (to_groups ? block + ggml_at : base + group_at);
        uint8_t* to = dst + (to_groups ? base + group_at : block + ggml_at);
        if (flip == 0) {
          std::memcpy(to, from, n);
          return;
        }
        uint32_t word;
        std::memcpy(&word, from, 4);
        word ^= flip;
        std::memcpy(to, &word, 4);
      };
      for (int f = 0; f < b.n_fields; ++f) {
        const BlockField& field = b.fields[f];
        move(field.offset, field.offset * m + field.size * l, field.size, 0);
      }
      for (size_t k = 0; k < static_cast<size_t>(b.words); ++k)
        move(b.qs + 4 * k, b.qs * m + 4 * (k * m + l), 4, b.flip);
    }
  }
}

// Q4_K and Q5_K: super-blocks in groups of kQ4KGroup (the last group has the m = nb % 2 left,
// if any). A group of m super-blocks holds the m d, the m dmin, the m packed scales (12 bytes
// each, as in the file), then (Q5_K) the 8 m sub-blocks' fifth-bit fields (4 bytes each, bit i:
// element i, as a Q5_0 block's qh), then the quants of its 8 m sub-blocks of 32 as
// kBlockGroups16 holds Q4_0's: sub-block l (super-block l / 8, sub-block l % 8) as a Q4_0
// block's 16 bytes (byte i: element i in the low nibble, element 16 + i in the high one), word k
// of each sub-block side by side. As with the 32-element types, a region starts at the block's
// offset of its field times m: the fifth-bit fields at offsetof(qh) m, the quants at
// offsetof(qs) m.
constexpr int64_t kQ4KGroup = 2;

// Element e (0..31) of sub-block s (0..7) of a ggml Q4_K or Q5_K block sits in the nibble half
// s % 2 of qs[32 (s / 2) + e]; a Q5_K element's fifth bit is bit s of qh[e].
template <typename Block>
void convert_q45_K_row(const uint8_t* src, uint8_t* dst, int64_t nb, bool to_groups) {
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  constexpr size_t kBytes = sizeof(Block);
  for (int64_t g0 = 0; g0 < nb; g0 += kQ4KGroup) {
    const int64_t m = std::min(kQ4KGroup, nb - g0);
    const size_t base = static_cast<size_t>(g0) * kBytes;
    uint8_t* group = to_groups ? dst + base : nullptr;
    const uint8_t* from_group = to_groups ? nullptr : src + base;
    const size_t words_at = offsetof(Block, qs) * static_cast<size_t>(m);
    for (int64_t j = 0; j < m; ++j) {
      const size_t block = base + static_cast<size_t>(j) * kBytes;
      const uint8_t* b = to_groups ? src + block : nullptr;
      uint8_t* out = to_groups ? nullptr : dst + block;
      const size_t d_at = 2 * j, dmin_at = 2 * (m + j), scales_at = 4 * m + 12 * j;
      if (to_groups) {
        std::memcpy(group + d_at, b + offsetof(Block, d), 2);
        std::memcpy(group + dmin_at, b + offsetof(Block, dmin), 2);
        std::memcpy(group + scales_at, b + offsetof(Block, scales), 12);
      } else {
        std::memcpy(out + offsetof(Block, d), from_group + d_at, 2);
        std::memcpy(out + offsetof(Block, dmin), from_group + dmin_at, 2);
        std::memcpy(out + offsetof(Block, scales), from_group + scales_at, 12);
      }
      const uint8_t* qs = to_groups ? b + offsetof(Block, qs) : nullptr;
      uint8_t* out_qs = to_groups ? nullptr : out + offsetof(Block, qs);
      if constexpr (kFifth) {
        for (int s = 0; s < 8; ++s) {
          const size_t field_at =
              offsetof(BlockQ5_K, qh) * static_cast<size_t>(m) + 4 * static_cast<size_t>(8 * j + s);
          for (int e = 0; e < 32; ++e) {
            if (to_groups) {
              uint8_t& byte = group[field_at + e / 8];
              if (e % 8 == 0) byte = 0;
              byte =
                  static_cast<uint8_t>(byte | ((b[offsetof(Block, qh) + e] >> s) & 1) << (e % 8));
            } else {
              uint8_t& byte = out[offsetof(Block, qh) + e];
              if (s == 0) byte = 0;
              byte =
                  static_cast<uint8_t>(byte | ((from_group[field_at + e / 8] >> (e % 8)) & 1) << s);
            }
          }
        }
      }
      for (int s = 0; s < 8; ++s) {
        const int64_t l = 8 * j + s;
        const int shift = 4 * (s % 2);
        for (int i = 0; i < 16; ++i) {
          const size_t at =
              words_at + 4 * static_cast<size_t>((i / 4) * 8 * m + l) + static_cast<size_t>(i % 4);
          const size_t e0 = 32 * static_cast<size_t>(s / 2) + static_cast<size_t>(i);
          if (to_groups) {
            group[at] = static_cast<uint8_t>(((qs[e0] >> shift) & 0x0F) |
                                             ((qs[e0 + 16] >> shift) & 0x0F) << 4);
          } else {
            const uint8_t byte = from_group[at];
            const auto keep = static_cast<uint8_t>(0xF0 >> shift);
            out_qs[e0] = static_cast<uint8_t>((out_qs[e0] & keep) | (byte & 0x0F) << shift);
            out_qs[e0 + 16] = static_cast<uint8_t>((out_qs[e0 + 16] & keep) | (byte >> 4) << shift);
          }
        }
      }
    }
  }
}

// Q2_K, Q3_K and Q6_K: one super-block per group (weight_layout.h). Where element e (0..255)
// keeps its low bits (Q2_K, Q3_K: 2, Q6_K: 4; at bit `low_shift` of byte `low`) and its high
// bits (Q2_K: none, Q3_K: the third bit, Q6_K: 2; at bit `high_shift` of byte `high`), in ggml's
// block and in the layout; the quants lie in bytes [kBegin, kEnd) of the block, the scales, d
// (and dmin) stay where they are.
struct QuantBits {
  size_t low;
  int low_shift;
  size_t high;
  int high_shift;
};
template <typename Block>
struct K16Bits;
template <>
struct K16Bits<BlockQ6_K> {
  static constexpr int kLowMask = 0x0F, kHighMask = 0x03;
  static constexpr size_t kBegin = 0, kEnd = offsetof(BlockQ6_K, scales);
  static QuantBits ggml(int e) {
    const int h = e / 128, j = e % 128;
    return {static_cast<size_t>(64 * h + j % 64), 4 * (j / 64),
            offsetof(BlockQ6_K, qh) + static_cast<size_t>(32 * h + j % 32), 2 * (j / 32)};
  }
  static QuantBits group(int e) {
    const int l = e / 16, k = e % 16 / 4, b = e % 4;
    return {static_cast<size_t>(64 * (k / 2) + 4 * l + b), 4 * (k % 2),
            static_cast<size_t>(128 + 4 * l + b), 2 * k};
  }
};
template <>
struct K16Bits<BlockQ3_K> {
  static constexpr int kLowMask = 0x03, kHighMask = 0x01;
  static constexpr size_t kBegin = 0, kEnd = offsetof(BlockQ3_K, scales);
  // ggml: element 128 h + 32 s + l at bits 2 s of qs[32 h + l], its third bit at bit 4 h + s of
  // hmask[l].
  static QuantBits ggml(int e) {
    const int h = e / 128, s = e % 128 / 32, l = e % 32;
    return {offsetof(BlockQ3_K, qs) + static_cast<size_t>(32 * h + l), 2 * s,
            offsetof(BlockQ3_K, hmask) + static_cast<size_t>(l), 4 * h + s};
  }
  static QuantBits group(int e) {
    const int l = e / 16, k = e % 16 / 4, b = e % 4;
    return {static_cast<size_t>(4 * l + b), 2 * k, static_cast<size_t>(64 + 4 * (l % 8) + b),
            2 * k + l / 8};
  }
};

template <>
struct K16Bits<BlockQ2_K> {
  static constexpr int kLowMask = 0x03, kHighMask = 0x00;  // no high bits: `high` = `low`
  static constexpr size_t kBegin = offsetof(BlockQ2_K, qs), kEnd = offsetof(BlockQ2_K, d);
  // ggml: element 128 h + 32 s + l at bits 2 s of qs[32 h + l].
  static QuantBits ggml(int e) {
    const int h = e / 128, s = e % 128 / 32, l = e % 32;
    const size_t at = offsetof(BlockQ2_K, qs) + static_cast<size_t>(32 * h + l);
    return {at, 2 * s, at, 0};
  }
  static QuantBits group(int e) {
    const int l = e / 16, k = e % 16 / 4, b = e % 4;
    const size_t at = offsetof(BlockQ2_K, qs) + static_cast<size_t>(4 * l + b);
    return {at, 2 * k, at, 0};
  }
};

// One row of nb Q2_K, Q3_K or Q6_K super-blocks (Block) between ggml's layout and
// kBlockGroups16 (rows distinct); to_groups: the direction.
template <typename Block>
void convert_k16_row(const uint8_t* src, uint8_t* dst, int64_t nb, bool to_groups) {
  using Bits = K16Bits<Block>;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* from = src + static_cast<size_t>(i) * sizeof(Block);
    uint8_t* to = dst + static_cast<size_t>(i) * sizeof(Block);
    std::memcpy(to, from, sizeof(Block));
    std::memset(to + Bits::kBegin, 0, Bits::kEnd - Bits::kBegin);
    for (int e = 0; e < kQK_K; ++e) {
      const QuantBits ggml = Bits::ggml(e), group = Bits::group(e);
      const QuantBits in = to_groups ? ggml : group, out = to_groups ? group : ggml;
      const int low = (from[in.low] >> in.low_shift) & Bits::kLowMask;
      const int high = (from[in.high] >> in.high_shift) & Bits::kHighMask;
      to[out.low] = static_cast<uint8_t>(to[out.low] | low << out.low_shift);
      to[out.high] = static_cast<uint8_t>(to[out.high] | high << out.high_shift);
    }
  }
}

// Calls piece(ggml_at, group_at, n) for the pieces of row r (0..15) of a group of 16 rows of nb
// blocks of shape b in kRowGroups16: n bytes at ggml_at in the ggml row are at group_at in the
// group. A field at byte `offset` of size `size` of the blocks goes to a region of 16 size nb
// bytes at 16 offset nb, block position pos's 16 rows side by side at 16 size pos; the quants
// to a region at 16 qs nb, 64 words bytes per block position, word k of row r at 64 k + 4 r.
template <typename PieceFn>
void for_each_row_piece(const BlockShape& b, int r, int64_t nb, PieceFn piece) {
  const auto n = static_cast<size_t>(nb);
  for (int64_t j = 0; j < nb; ++j) {
    const size_t block = static_cast<size_t>(j) * b.bytes;
    const auto pos = static_cast<size_t>(block_position(j, nb));
    for (int f = 0; f < b.n_fields; ++f) {
      const BlockField& field = b.fields[f];
      piece(block + field.offset, 16 * (field.offset * n + field.size * pos) + field.size * r,
            field.size);
    }
    const size_t quants = 16 * b.qs * n + 64 * static_cast<size_t>(b.words) * pos + 4 * r;
    for (int k = 0; k < b.words; ++k) piece(block + b.qs + 4 * k, quants + 64 * k, size_t{4});
  }
}

// The same for Q4_K and Q5_K rows (Block) of nb super-blocks (weight_layout.h): super-block j of
// the group at 16 sizeof(Block) j holds the 16 rows' d (row r at 2 r), their dmin (at 32 + 2 r),
// then the super-block's words from byte 4 (scales, Q5_K's qh, quants), word w of row r at 64 +
// 64 w + 4 r.
template <typename Block, typename PieceFn>
void for_each_q45_K_row_piece(int r, int64_t nb, PieceFn piece) {
  constexpr size_t kBytes = sizeof(Block), kWordsK = (kBytes - 4) / 4;
  for (int64_t j = 0; j < nb; ++j) {
    const size_t block = static_cast<size_t>(j) * kBytes, group = 16 * block;
    piece(block, group + 2 * r, size_t{2});
    piece(block + 2, group + 32 + 2 * r, size_t{2});
    for (size_t w = 0; w < kWordsK; ++w) piece(block + 4 + 4 * w, group + 64 * (w + 1) + 4 * r, 4);
  }
}

// The same for Q6_K rows of nb super-blocks (weight_layout.h): super-block j's 52 words (ql, qh,
// scales) at 16 208 j of the group, word w of row r at 64 w + 4 r; after them, at 16 208 nb, the
// 16 rows' d of every super-block (super-block j, row r at 32 j + 2 r).
template <typename PieceFn>
void for_each_q6_K_row_piece(int r, int64_t nb, PieceFn piece) {
  constexpr size_t kBytes = sizeof(BlockQ6_K), kWordBytes = offsetof(BlockQ6_K, d);
  const size_t d_region = 16 * kWordBytes * static_cast<size_t>(nb);
  for (int64_t j = 0; j < nb; ++j) {
    const size_t block = static_cast<size_t>(j) * kBytes;
    const size_t group = 16 * kWordBytes * static_cast<size_t>(j);
    for (size_t w = 0; w < kWordBytes / 4; ++w) piece(block + 4 * w, group + 64 * w + 4 * r, 4);
    piece(block + kWordBytes, d_region + 32 * static_cast<size_t>(j) + 2 * r, size_t{2});
  }
}

// Row r (0..15) of a group of kRowGroups16 between ggml's layout and the group; to_group: the
// direction. n_in elements of `type`.
void convert_group_row(gguf::GgmlType type, const uint8_t* src, uint8_t* dst, int r, int64_t n_in,
                       bool to_group) {
  auto move = [&](size_t ggml_at, size_t group_at, size_t n) {
    if (to_group)
      std::memcpy(dst + group_at, src + ggml_at, n);
    else
      std::memcpy(dst + ggml_at, src + group_at, n);
  };
  if (type == gguf::GgmlType::Q4_K)
    for_each_q45_K_row_piece<BlockQ4_K>(r, n_in / kQK_K, move);
  else if (type == gguf::GgmlType::Q5_K)
    for_each_q45_K_row_piece<BlockQ5_K>(r, n_in / kQK_K, move);
  else if (type == gguf::GgmlType::Q6_K)
    for_each_q6_K_row_piece(r, n_in / kQK_K, move);
  else
    for_each_row_piece(*block_shape(type), r, n_in / kQK, move);
}

// Whether the AVX-512 conversions of weight_layout_simd.h run: the active level (simd_level():
// the CPU's unless GENGYUN_KERNELS or a test chose a lower one) has AVX-512. Every level's
// conversions write the same bytes; following the active level lets the tests compare them.
bool simd_conversions() {
#if defined(__x86_64__)
  return simd_level() >= SimdLevel::kAvx512;
#else
  return false;
#endif
}

// Blocks in the full groups of a row of nb blocks that the AVX-512 conversions take (0 without
// them); the last, partial group is converted by convert_row.
int64_t full_groups(int64_t nb) { return simd_conversions() ? nb / kGroup * kGroup : 0; }

// One row of nb Q4_K or Q5_K super-blocks between ggml's layout and kBlockGroups16 (src and dst
// distinct); to_groups: the direction. Full pairs with AVX-512 where the active level has it, an
// odd last block in scalar.
template <typename Block>
void convert_q45_K_row_pairs(const uint8_t* src, uint8_t* dst, int64_t nb, bool to_groups) {
  const int64_t full = simd_conversions() ? nb / kQ4KGroup * kQ4KGroup : 0;
#if defined(__x86_64__)
  constexpr bool kQ5 = std::is_same_v<Block, BlockQ5_K>;
  void (*const pair)(const uint8_t*, uint8_t*) =
      to_groups ? (kQ5 ? avx512::q5_K_pair_to_group : avx512::q4_K_pair_to_group)
                : (kQ5 ? avx512::q5_K_group_to_pair : avx512::q4_K_group_to_pair);
  for (int64_t g0 = 0; g0 < full; g0 += kQ4KGroup) {
    const size_t at = static_cast<size_t>(g0) * sizeof(Block);
    pair(src + at, dst + at);
  }
#endif
  const size_t done = static_cast<size_t>(full) * sizeof(Block);
  convert_q45_K_row<Block>(src + done, dst + done, nb - full, to_groups);
}

// One row of nb Q2_K, Q3_K or Q6_K super-blocks (Block) between ggml's layout and kBlockGroups16
// (src and dst distinct); to_groups: the direction. A super-block at a time with the active
// level's SIMD variant where the direction has one (to the groups: AVX2; Q6_K back: AVX-512),
// else in scalar.
template <typename Block>
void convert_k16_blocks(const uint8_t* src, uint8_t* dst, int64_t nb, bool to_groups) {
  void (*one)(const uint8_t*, uint8_t*) = nullptr;
#if defined(__x86_64__)
  constexpr bool kQ6 = std::is_same_v<Block, BlockQ6_K>;
  if (to_groups && simd_level() >= SimdLevel::kAvx2)
    one = kQ6 ? avx2::q6_K_block_to_group
              : (std::is_same_v<Block, BlockQ3_K> ? avx2::q3_K_block_to_group
                                                  : avx2::q2_K_block_to_group);
  if (!to_groups && kQ6 && simd_conversions()) one = avx512::q6_K_group_to_block;
#endif
  if (one == nullptr) {
    convert_k16_row<Block>(src, dst, nb, to_groups);
    return;
  }
  for (int64_t i = 0; i < nb; ++i) {
    const size_t at = static_cast<size_t>(i) * sizeof(Block);
    one(src + at, dst + at);
  }
}

// The row conversion of a K-quant type in kBlockGroups16 (src and dst distinct, rows of nb
// super-blocks; to_groups: the direction); null for the other types.
using KRowConversion = void (*)(const uint8_t* src, uint8_t* dst, int64_t nb, bool to_groups);
KRowConversion k_row_conversion(gguf::GgmlType type) {
  switch (type) {
    case gguf::GgmlType::Q2_K:
      return convert_k16_blocks<BlockQ2_K>;
    case gguf::GgmlType::Q3_K:
      return convert_k16_blocks<BlockQ3_K>;
    case gguf::GgmlType::Q4_K:
      return convert_q45_K_row_pairs<BlockQ4_K>;
    case gguf::GgmlType::Q5_K:
      return convert_q45_K_row_pairs<BlockQ5_K>;
    case gguf::GgmlType::Q6_K:
      return convert_k16_blocks<BlockQ6_K>;
    default:
      return nullptr;
  }
}

}  // namespace

bool layout_supported(gguf::GgmlType type, WeightLayout layout, int64_t n_in, int64_t n_rows) {
  switch (layout) {
    case WeightLayout::kGgml:
      return true;
    case WeightLayout::kRowGroups16:
      if (n_rows % kGroup != 0 || n_in <= 0) return false;
      if (type == gguf::GgmlType::Q4_K || type == gguf::GgmlType::Q5_K ||
          type == gguf::GgmlType::Q6_K)
        return n_in % kQK_K == 0;
      return (type == gguf::GgmlType::Q8_0 || type == gguf::GgmlType::Q4_0 ||
              type == gguf::GgmlType::Q5_0) &&
             n_in % kQK == 0;
    case WeightLayout::kBlockGroups16:
      if (k_row_conversion(type) != nullptr) return n_in > 0 && n_in % kQK_K == 0;
      return block_shape(type) != nullptr && n_in > 0 && n_in % kQK == 0;
  }
  return false;
}

void to_layout(gguf::GgmlType type, WeightLayout layout, void* rows, int64_t n_in, int64_t n_rows) {
  if (layout == WeightLayout::kGgml) return;
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  if (layout == WeightLayout::kRowGroups16) {
    std::vector<uint8_t> copy(kGroup * row_bytes);
    for (int64_t g = 0; g < n_rows / kGroup; ++g) {
      uint8_t* group = static_cast<uint8_t*>(rows) + static_cast<size_t>(g) * copy.size();
      std::memcpy(copy.data(), group, copy.size());
      if (simd_conversions() && block_shape(type) != nullptr) {
#if defined(__x86_64__)
        avx512::rows_to_row_group16(type, copy.data(), row_bytes, n_in / kQK, group);
#endif
        continue;
      }
      for (int r = 0; r < kGroup; ++r)
        convert_group_row(type, copy.data() + r * row_bytes, group, r, n_in, true);
    }
    return;
  }
  if (const KRowConversion convert = k_row_conversion(type)) {
    std::vector<uint8_t> copy(row_bytes);
    for (int64_t r = 0; r < n_rows; ++r) {
      uint8_t* p = static_cast<uint8_t*>(rows) + static_cast<size_t>(r) * row_bytes;
      std::memcpy(copy.data(), p, row_bytes);
      convert(copy.data(), p, n_in / kQK_K, true);
    }
    return;
  }
  const BlockShape& shape = *block_shape(type);
  const int64_t nb = n_in / kQK;
  const int64_t full = full_groups(nb);
  std::vector<uint8_t> copy(std::max(static_cast<size_t>(kGroup) * shape.bytes, row_bytes));
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* p = static_cast<uint8_t*>(rows) + static_cast<size_t>(r) * row_bytes;
#if defined(__x86_64__)
    for (int64_t g0 = 0; g0 < full; g0 += kGroup) {
      std::memcpy(copy.data(), p + g0 * shape.bytes, kGroup * shape.bytes);
      avx512::blocks_to_group16(type, copy.data(), p + g0 * shape.bytes);
    }
#endif
    const size_t done = static_cast<size_t>(full) * shape.bytes;
    std::memcpy(copy.data(), p + done, row_bytes - done);
    convert_row(shape, copy.data(), p + done, nb - full, true);
  }
}

void from_layout(gguf::GgmlType type, WeightLayout layout, const void* src, void* dst, int64_t n_in,
                 int64_t n_rows) {
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  if (layout == WeightLayout::kGgml) {
    std::memcpy(dst, src, row_bytes * static_cast<size_t>(n_rows));
    return;
  }
  if (layout == WeightLayout::kRowGroups16) {
    for (int64_t o = 0; o < n_rows; ++o)
      convert_group_row(type, static_cast<const uint8_t*>(src) + o / kGroup * kGroup * row_bytes,
                        static_cast<uint8_t*>(dst) + o * row_bytes, static_cast<int>(o % kGroup),
                        n_in, false);
    return;
  }
  if (const KRowConversion convert = k_row_conversion(type)) {
    for (int64_t r = 0; r < n_rows; ++r)
      convert(static_cast<const uint8_t*>(src) + static_cast<size_t>(r) * row_bytes,
              static_cast<uint8_t*>(dst) + static_cast<size_t>(r) * row_bytes, n_in / kQK_K, false);
    return;
  }
  const BlockShape& shape = *block_shape(type);
  const int64_t nb = n_in / kQK;
  const int64_t full = full_groups(nb);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* from = static_cast<const uint8_t*>(src) + static_cast<size_t>(r) * row_bytes;
    uint8_t* to = static_cast<uint8_t*>(dst) + static_cast<size_t>(r) * row_bytes;
#if defined(__x86_64__)
    for (int64_t g0 = 0; g0 < full; g0 += kGroup)
      avx512::group16_to_blocks(type, from + g0 * shape.bytes, to + g0 * shape.bytes);
#endif
    const size_t done = static_cast<size_t>(full) * shape.bytes;
    convert_row(shape, from + done, to + done, nb - full, false);
  }
}

void row_from_layout(gguf::GgmlType type, WeightLayout layout, const void* matrix, int64_t n_in,
                     int64_t row, void* dst) {
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  const auto* base = static_cast<const uint8_t*>(matrix);
  if (layout == WeightLayout::kRowGroups16) {
    convert_group_row(type, base + row / kGroup * kGroup * row_bytes, static_cast<uint8_t*>(dst),
                      static_cast<int>(row % kGroup), n_in, false);
    return;
  }
  from_layout(type, layout, base + static_cast<size_t>(row) * row_bytes, dst, n_in, 1);
}

void q8_0_row_to_block_groups16(const void* src, void* dst, int64_t n) {
  const Q8Row in(src, n);
  const Q8RowOut out(dst, n);
  const int64_t nb = n / kQK;
  for (int64_t g0 = 0; g0 < nb; g0 += kGroup) {
    const int64_t m = std::min(kGroup, nb - g0);
    const int8_t* from = in.qs + g0 * kQK;
    int8_t* to = out.qs + g0 * kQK;
    for (int k = 0; k < kWords; ++k)
      for (int64_t l = 0; l < m; ++l) std::memcpy(to + (k * m + l) * 4, from + l * kQK + 4 * k, 4);
  }
  std::memcpy(out.d, in.d, static_cast<size_t>(nb) * sizeof(float));
  std::memcpy(out.sum, in.sum, static_cast<size_t>(nb) * sizeof(int32_t));
}

void q8_1_row_to_block_groups16(const void* src, void* dst, int64_t n) {
  q8_0_row_to_block_groups16(src, dst, n);
  std::memcpy(Q8RowOut(dst, n).s, Q8Row(src, n).s, static_cast<size_t>(n / kQK) * sizeof(float));
}

void q8_K_row_to_block_groups16(const void* src, void* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_K*>(src);
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n / kQK_K;
  for (int64_t g0 = 0; g0 < nb; g0 += kQ4KGroup) {
    const int64_t m = std::min(kQ4KGroup, nb - g0);
    const int64_t lanes = 8 * m;
    uint8_t* group = out + static_cast<size_t>(g0) * sizeof(BlockQ8_K);
    auto* d = reinterpret_cast<float*>(group + kQK_K * m);
    auto* sums = reinterpret_cast<int32_t*>(group + (kQK_K + 4) * m);
    for (int64_t l = 0; l < lanes; ++l) {
      const BlockQ8_K& b = blocks[g0 + l / 8];
      const int s = static_cast<int>(l % 8);
      for (int k = 0; k < kWords; ++k)
        std::memcpy(group + 4 * (k * lanes + l), b.qs + kQK * s + 4 * k, 4);
      sums[l] = b.bsums[2 * s] + b.bsums[2 * s + 1];
    }
    for (int64_t j = 0; j < m; ++j) d[j] = blocks[g0 + j].d;
  }
}

void q8_K_row_to_q6_K_groups16(const void* src, void* dst, int64_t n) {
  const auto* in = static_cast<const BlockQ8_K*>(src);
  auto* out = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    out[i].d = in[i].d;
    std::memcpy(out[i].bsums, in[i].bsums, sizeof(in[i].bsums));
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 16; ++l)
        std::memcpy(out[i].qs + 64 * k + 4 * l, in[i].qs + 16 * l + 4 * k, 4);
  }
}

}  // namespace gengyun::kernels
