// WeightLayout::kBlockGroups16: the bytes where weight_layout.h says, a lossless round trip,
// and matmul on rearranged rows giving the bits of matmul on ggml's rows, at every SIMD level
// the CPU has, decode and batched, 1 and 2 threads.
#include "kernels/weight_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel_reference.h"
#include "kernels/activation_rows.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd_level.h"
#include "kernels/type_kernels.h"
#include "kernels/vec_dot_simd.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

// Every type that WeightLayout::kBlockGroups16 takes.
constexpr GgmlType kBlockGroups16Types[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0,
                                            GgmlType::Q4_1, GgmlType::Q5_1, GgmlType::IQ4_NL,
                                            GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                                            GgmlType::Q5_K, GgmlType::Q6_K};

TEST(WeightLayout, SupportedForThe32ElementTypesRowsOfWholeBlocks) {
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_1,
                        GgmlType::Q5_1, GgmlType::IQ4_NL}) {
    EXPECT_TRUE(layout_supported(type, WeightLayout::kBlockGroups16, 896, 16));
    EXPECT_TRUE(layout_supported(type, WeightLayout::kBlockGroups16, 32, 16));
    EXPECT_FALSE(layout_supported(type, WeightLayout::kBlockGroups16, 0, 16));
    EXPECT_FALSE(layout_supported(type, WeightLayout::kBlockGroups16, 48, 16));
  }
  EXPECT_TRUE(layout_supported(GgmlType::Q4_K, WeightLayout::kBlockGroups16, 4864, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q4_K, WeightLayout::kBlockGroups16, 256, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q4_K, WeightLayout::kBlockGroups16, 0, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q4_K, WeightLayout::kBlockGroups16, 896, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q6_K, WeightLayout::kBlockGroups16, 4864, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q6_K, WeightLayout::kBlockGroups16, 256, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q6_K, WeightLayout::kBlockGroups16, 0, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q6_K, WeightLayout::kBlockGroups16, 896, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q5_K, WeightLayout::kBlockGroups16, 4864, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q5_K, WeightLayout::kBlockGroups16, 896, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q3_K, WeightLayout::kBlockGroups16, 4864, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q3_K, WeightLayout::kBlockGroups16, 256, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q3_K, WeightLayout::kBlockGroups16, 0, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q3_K, WeightLayout::kBlockGroups16, 896, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q2_K, WeightLayout::kBlockGroups16, 4864, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q2_K, WeightLayout::kBlockGroups16, 896, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q2_K, WeightLayout::kRowGroups16, 4864, 16));
  EXPECT_TRUE(layout_supported(GgmlType::Q4_K, WeightLayout::kGgml, 4864, 16));
}

// Block b of a row: scale 1000 + b, quant i = (b * 7 + i) % 256 - 128; so every byte names
// where it came from.
std::vector<uint8_t> labelled_row(int64_t nb) {
  std::vector<uint8_t> row(static_cast<size_t>(nb) * sizeof(BlockQ8_0));
  auto* blocks = reinterpret_cast<BlockQ8_0*>(row.data());
  for (int64_t b = 0; b < nb; ++b) {
    blocks[b].d = static_cast<uint16_t>(1000 + b);
    for (int i = 0; i < kQK; ++i) blocks[b].qs[i] = static_cast<int8_t>((b * 7 + i) % 256 - 128);
  }
  return row;
}

TEST(WeightLayout, BlockGroups16PutsScalesThenQuantWordsSideBySide) {
  const int64_t nb = 19;  // a group of 16 and one of 3
  const std::vector<uint8_t> ggml = labelled_row(nb);
  std::vector<uint8_t> row = ggml;
  to_layout(GgmlType::Q8_0, WeightLayout::kBlockGroups16, row.data(), nb * kQK, 1);
  auto scale_at = [&](size_t offset) {
    uint16_t v;
    std::memcpy(&v, row.data() + offset, 2);
    return v;
  };
  auto quant = [](int64_t b, int i) { return static_cast<uint8_t>((b * 7 + i) % 256 - 128 + 128); };
  // First group: 16 scales, then word k of block l at 32 + 64 k + 4 l.
  for (int l = 0; l < 16; ++l) EXPECT_EQ(scale_at(2 * l), 1000 + l);
  EXPECT_EQ(row[32 + 0], quant(0, 0));
  EXPECT_EQ(row[32 + 4 * 5 + 2], quant(5, 2));
  EXPECT_EQ(row[32 + 64 * 7 + 4 * 15 + 3], quant(15, 31));
  // Second group, at byte 16 * 34, of m = 3 blocks: 3 scales, then word k of block l at
  // 6 + 12 k + 4 l.
  const size_t second = 16 * sizeof(BlockQ8_0);
  for (int l = 0; l < 3; ++l) EXPECT_EQ(scale_at(second + 2 * l), 1016 + l);
  EXPECT_EQ(row[second + 6 + 12 * 0 + 4 * 0], quant(16, 0));
  EXPECT_EQ(row[second + 6 + 12 * 2 + 4 * 1 + 1], quant(17, 9));
  EXPECT_EQ(row[second + 6 + 12 * 7 + 4 * 2 + 3], quant(18, 31));

  std::vector<uint8_t> back(row.size());
  from_layout(GgmlType::Q8_0, WeightLayout::kBlockGroups16, row.data(), back.data(), nb * kQK, 1);
  EXPECT_EQ(back, ggml);
}

TEST(WeightLayout, BlockGroups16PutsQ5_0ScalesFifthBitsThenNibbleWords) {
  const int64_t nb = 19;
  std::vector<uint8_t> ggml(static_cast<size_t>(nb) * sizeof(BlockQ5_0));
  auto* blocks = reinterpret_cast<BlockQ5_0*>(ggml.data());
  for (int64_t b = 0; b < nb; ++b) {
    blocks[b].d = static_cast<uint16_t>(2000 + b);
    for (int i = 0; i < 4; ++i) blocks[b].qh[i] = static_cast<uint8_t>(b * 4 + i);
    for (int i = 0; i < 16; ++i) blocks[b].qs[i] = static_cast<uint8_t>(b * 16 + i);
  }
  std::vector<uint8_t> row = ggml;
  to_layout(GgmlType::Q5_0, WeightLayout::kBlockGroups16, row.data(), nb * kQK, 1);
  auto u16_at = [&](size_t offset) {
    uint16_t v;
    std::memcpy(&v, row.data() + offset, 2);
    return v;
  };
  // First group: 16 scales (32 bytes), 16 fifth-bit fields (64), then word k of block l at
  // 96 + 64 k + 4 l.
  EXPECT_EQ(u16_at(2 * 7), 2007);
  EXPECT_EQ(row[32 + 4 * 9 + 2], 9 * 4 + 2);
  EXPECT_EQ(row[96 + 64 * 3 + 4 * 15 + 1], static_cast<uint8_t>(15 * 16 + 13));
  // Second group (m = 3) at byte 16 * 22: 3 scales, 3 fifth-bit fields, word k of block l at
  // 18 + 12 k + 4 l.
  const size_t second = 16 * sizeof(BlockQ5_0);
  EXPECT_EQ(u16_at(second + 2 * 2), 2018);
  EXPECT_EQ(row[second + 6 + 4 * 1 + 3], 17 * 4 + 3);
  EXPECT_EQ(row[second + 18 + 12 * 2 + 4 * 0 + 0], static_cast<uint8_t>(16 * 16 + 8));
  std::vector<uint8_t> back(row.size());
  from_layout(GgmlType::Q5_0, WeightLayout::kBlockGroups16, row.data(), back.data(), nb * kQK, 1);
  EXPECT_EQ(back, ggml);
}

// The fields of a ggml Q4_1 / Q5_1 / IQ4_NL block, by ggml's formulas (dequantize_row_q4_1,
// q5_1, iq4_nl): element e (0..31) has the quant nibble e % 16 of qs (low for e < 16, high
// otherwise) and, for Q5_1, the fifth bit e of the 32-bit qh.
struct NibbleBlock {
  uint16_t d, m;  // m: 0 for IQ4_NL
  uint32_t qh;    // 0 for Q4_1 and IQ4_NL
  int quant[32];  // 0..15 (Q5_1: 0..31), before the fifth bit is added for Q5_1
};
NibbleBlock ggml_block(GgmlType type, const uint8_t* b) {
  NibbleBlock out{};
  std::memcpy(&out.d, b, 2);
  size_t qs = 2;
  if (type != GgmlType::IQ4_NL) {
    std::memcpy(&out.m, b + 2, 2);
    qs = 4;
  }
  if (type == GgmlType::Q5_1) {
    std::memcpy(&out.qh, b + 4, 4);
    qs = 8;
  }
  for (int e = 0; e < 32; ++e) out.quant[e] = (b[qs + e % 16] >> (e < 16 ? 0 : 4)) & 0x0F;
  return out;
}

// The same fields read where weight_layout.h puts block l of a group of m blocks at `group`.
NibbleBlock group_block(GgmlType type, const uint8_t* group, int m, int l) {
  NibbleBlock out{};
  std::memcpy(&out.d, group + 2 * l, 2);
  size_t words = 2 * static_cast<size_t>(m);
  if (type != GgmlType::IQ4_NL) {
    std::memcpy(&out.m, group + 2 * m + 2 * l, 2);
    words = 4 * static_cast<size_t>(m);
  }
  if (type == GgmlType::Q5_1) {
    std::memcpy(&out.qh, group + 4 * m + 4 * l, 4);
    words = 8 * static_cast<size_t>(m);
  }
  // Word k, byte b: elements 4 k + b (low nibble) and 16 + 4 k + b (high).
  for (int e = 0; e < 32; ++e)
    out.quant[e] = (group[words + 4 * (e % 16 / 4 * m + l) + e % 4] >> (e < 16 ? 0 : 4)) & 0x0F;
  return out;
}

// Random rows (2 rows of 1, 2, 3, 16, 19 and 35 blocks: AVX-512 full groups where the CPU has
// them, a last partial group in scalar) to the layout: every field and quant where
// weight_layout.h says; back: the ggml bytes. And random layout bytes from the layout and back.
TEST(WeightLayout, BlockGroups16PutsQ4_1Q5_1IQ4_NLFieldsThenNibbleWords) {
  for (GgmlType type : {GgmlType::Q4_1, GgmlType::Q5_1, GgmlType::IQ4_NL}) {
    const size_t block_bytes = gguf::ggml_row_size(type, kQK);
    for (int nb : {1, 2, 3, 16, 19, 35}) {
      std::mt19937 rng(static_cast<unsigned>(30 + nb));
      const int64_t n_in = nb * kQK, n_rows = 2;
      const size_t row_bytes = gguf::ggml_row_size(type, n_in);
      std::vector<uint8_t> ggml(row_bytes * n_rows);
      for (auto& byte : ggml) byte = static_cast<uint8_t>(rng());
      std::vector<uint8_t> arranged = ggml;
      to_layout(type, WeightLayout::kBlockGroups16, arranged.data(), n_in, n_rows);
      const std::string where =
          std::string(gguf::ggml_type_info(type).name) + " nb=" + std::to_string(nb);
      for (int64_t r = 0; r < n_rows; ++r)
        for (int g0 = 0; g0 < nb; g0 += 16) {
          const int m = std::min(16, nb - g0);
          const uint8_t* group = arranged.data() + r * row_bytes + g0 * block_bytes;
          for (int l = 0; l < m; ++l) {
            const NibbleBlock want =
                ggml_block(type, ggml.data() + r * row_bytes + (g0 + l) * block_bytes);
            const NibbleBlock got = group_block(type, group, m, l);
            EXPECT_EQ(got.d, want.d) << where << " block " << g0 + l;
            EXPECT_EQ(got.m, want.m) << where << " block " << g0 + l;
            EXPECT_EQ(got.qh, want.qh) << where << " block " << g0 + l;
            for (int e = 0; e < 32; ++e)
              EXPECT_EQ(got.quant[e], want.quant[e]) << where << " block " << g0 + l << " " << e;
          }
        }
      std::vector<uint8_t> back(ggml.size(), 0x55);
      from_layout(type, WeightLayout::kBlockGroups16, arranged.data(), back.data(), n_in, n_rows);
      EXPECT_EQ(back, ggml) << where;
      // Any layout bytes: from_layout then to_layout gives them back.
      std::vector<uint8_t> layout_bytes(ggml.size());
      for (auto& byte : layout_bytes) byte = static_cast<uint8_t>(rng());
      std::vector<uint8_t> again(ggml.size(), 0x55);
      from_layout(type, WeightLayout::kBlockGroups16, layout_bytes.data(), again.data(), n_in,
                  n_rows);
      to_layout(type, WeightLayout::kBlockGroups16, again.data(), n_in, n_rows);
      EXPECT_EQ(again, layout_bytes) << where;
    }
  }
}

TEST(WeightLayout, Q8_1ActivationRowArrangedLikeTheWeightsWithItsSums) {
  const int64_t n = 19 * kQK;
  std::mt19937 rng(4);
  const auto row = test::activation_row(GgmlType::Q8_1,
                                        test::small_activations(GgmlType::Q8_1, n, 0.25f, rng), n);
  ASSERT_EQ(row.size(), activation_row_bytes(GgmlType::Q8_1, n));
  std::vector<uint8_t> want(row.size()), got(row.size());
  q8_0_row_to_block_groups16(row.data(), want.data(), n);  // the quants, d and sum
  std::memcpy(Q8RowOut(want.data(), n).s, Q8Row(row.data(), n).s, 19 * sizeof(float));
  q8_1_row_to_block_groups16(row.data(), got.data(), n);
  const size_t used = static_cast<size_t>(n) + 19 * 3 * 4;  // qs, d, sum, s
  EXPECT_EQ(std::memcmp(got.data(), want.data(), used), 0);
}

TEST(WeightLayout, ActivationRowArrangedLikeTheWeights) {
  const int64_t n = 19 * kQK;
  std::mt19937 rng(3);
  const auto row = test::activation_row(GgmlType::Q8_0,
                                        test::small_activations(GgmlType::Q8_0, n, 0.25f, rng), n);
  ASSERT_EQ(row.size(), activation_row_bytes(GgmlType::Q8_0, n));
  std::vector<uint8_t> arranged(row.size());
  q8_0_row_to_block_groups16(row.data(), arranged.data(), n);
  const Q8Row in(row.data(), n), out(arranged.data(), n);
  // Word k of block l: at 64 k + 4 l in the first group, at 512 + 12 k + 4 l in the second.
  for (int k = 0; k < 8; ++k) {
    for (int l = 0; l < 16; ++l)
      EXPECT_EQ(std::memcmp(out.qs + 64 * k + 4 * l, in.qs + 32 * l + 4 * k, 4), 0)
          << k << " " << l;
    for (int l = 0; l < 3; ++l)
      EXPECT_EQ(std::memcmp(out.qs + 512 + 12 * k + 4 * l, in.qs + 32 * (16 + l) + 4 * k, 4), 0);
  }
  EXPECT_EQ(std::memcmp(out.d, in.d, 19 * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(out.sum, in.sum, 19 * sizeof(int32_t)), 0);
}

// The fields of the m (1 or 2) Q4_K or Q5_K blocks of a kBlockGroups16 group: the m d, the m
// dmin, then the m packed scales (weight_layout.h), as the blocks have them.
template <typename Block>
void expect_k_group_fields(const uint8_t* group, const Block* blocks, int m,
                           const std::string& where) {
  for (int j = 0; j < m; ++j) {
    EXPECT_EQ(std::memcmp(group + 2 * j, &blocks[j].d, 2), 0) << where << " block " << j;
    EXPECT_EQ(std::memcmp(group + 2 * (m + j), &blocks[j].dmin, 2), 0) << where << " block " << j;
    EXPECT_EQ(std::memcmp(group + 4 * m + 12 * j, blocks[j].scales, 12), 0)
        << where << " block " << j;
  }
}

// Quant e (0..31) of sub-block s (0..7) of a ggml Q4_K block: nibble s % 2 of qs[32 (s/2) + e].
int q4_K_quant(const BlockQ4_K& b, int s, int e) {
  return (b.qs[32 * (s / 2) + e] >> (4 * (s % 2))) & 0x0F;
}

TEST(WeightLayout, BlockGroups16PutsQ4_KFieldsThenSubBlocksAsQ4_0Words) {
  for (int nb : {1, 3, 4}) {  // a lone super-block, a pair and a lone one, two pairs
    std::mt19937 rng(static_cast<unsigned>(nb));
    std::vector<uint8_t> ggml(static_cast<size_t>(nb) * sizeof(BlockQ4_K));
    for (auto& byte : ggml) byte = static_cast<uint8_t>(rng());
    const auto* blocks = reinterpret_cast<const BlockQ4_K*>(ggml.data());
    std::vector<uint8_t> row = ggml;
    to_layout(GgmlType::Q4_K, WeightLayout::kBlockGroups16, row.data(), nb * kQK_K, 1);
    for (int g0 = 0; g0 < nb; g0 += 2) {
      const int m = std::min(2, nb - g0);
      const uint8_t* group = row.data() + g0 * sizeof(BlockQ4_K);
      expect_k_group_fields(group, blocks + g0, m, "nb=" + std::to_string(nb));
      // Byte b of word k of sub-block l: elements 4 k + b (low nibble) and 16 + 4 k + b (high).
      for (int l = 0; l < 8 * m; ++l)
        for (int k = 0; k < 4; ++k)
          for (int byte = 0; byte < 4; ++byte) {
            const BlockQ4_K& b = blocks[g0 + l / 8];
            const int e = 4 * k + byte;
            const int want = q4_K_quant(b, l % 8, e) | q4_K_quant(b, l % 8, 16 + e) << 4;
            EXPECT_EQ(group[16 * m + 4 * (8 * m * k + l) + byte], want)
                << "nb=" << nb << " group " << g0 / 2 << " sub-block " << l << " word " << k;
          }
    }
    std::vector<uint8_t> back(ggml.size());
    from_layout(GgmlType::Q4_K, WeightLayout::kBlockGroups16, row.data(), back.data(), nb * kQK_K,
                1);
    EXPECT_EQ(back, ggml) << "nb=" << nb;
  }
}

// The 5-bit quant (0..31) of element e (0..31) of sub-block s (0..7) of a ggml Q5_K block
// (ggml's dequantize_row_q5_K): the nibble as Q4_K's, plus 16 where bit s of qh[e] is set.
int q5_K_quant(const BlockQ5_K& b, int s, int e) {
  return ((b.qs[32 * (s / 2) + e] >> (4 * (s % 2))) & 0x0F) | ((b.qh[e] >> s) & 1) << 4;
}

// A Q5_K group (weight_layout.h): Q4_K's fields, then per sub-block a 4-byte field whose bit i
// is element i's fifth bit, then the nibbles as Q4_K's; from_layout gives the bytes back. Rows
// of 1, 3 and 4 super-blocks, so that the AVX-512 pairs and the scalar lone block both run.
TEST(WeightLayout, BlockGroups16PutsQ5_KFieldsFifthBitsThenSubBlocksAsQ4_0Words) {
  for (int nb : {1, 3, 4}) {
    std::mt19937 rng(static_cast<unsigned>(40 + nb));
    std::vector<uint8_t> ggml(static_cast<size_t>(nb) * sizeof(BlockQ5_K));
    for (auto& byte : ggml) byte = static_cast<uint8_t>(rng());
    const auto* blocks = reinterpret_cast<const BlockQ5_K*>(ggml.data());
    std::vector<uint8_t> row = ggml;
    to_layout(GgmlType::Q5_K, WeightLayout::kBlockGroups16, row.data(), nb * kQK_K, 1);
    for (int g0 = 0; g0 < nb; g0 += 2) {
      const int m = std::min(2, nb - g0);
      const uint8_t* group = row.data() + g0 * sizeof(BlockQ5_K);
      expect_k_group_fields(group, blocks + g0, m, "nb=" + std::to_string(nb));
      for (int l = 0; l < 8 * m; ++l) {
        const BlockQ5_K& b = blocks[g0 + l / 8];
        uint32_t field;
        std::memcpy(&field, group + 16 * m + 4 * l, 4);
        for (int e = 0; e < 32; ++e)
          EXPECT_EQ(field >> e & 1, static_cast<uint32_t>(q5_K_quant(b, l % 8, e) >> 4))
              << "nb=" << nb << " group " << g0 / 2 << " sub-block " << l << " element " << e;
        // Byte b of word k: elements 4 k + b (low nibble) and 16 + 4 k + b (high).
        for (int k = 0; k < 4; ++k)
          for (int byte = 0; byte < 4; ++byte) {
            const int e = 4 * k + byte;
            const int want = (q5_K_quant(b, l % 8, e) & 15) | (q5_K_quant(b, l % 8, 16 + e) & 15)
                                                                  << 4;
            EXPECT_EQ(group[48 * m + 4 * (8 * m * k + l) + byte], want)
                << "nb=" << nb << " group " << g0 / 2 << " sub-block " << l << " word " << k;
          }
      }
    }
    std::vector<uint8_t> back(ggml.size());
    from_layout(GgmlType::Q5_K, WeightLayout::kBlockGroups16, row.data(), back.data(), nb * kQK_K,
                1);
    EXPECT_EQ(back, ggml) << "nb=" << nb;
  }
}

// The 6-bit quant (0..63) of element e of a ggml Q6_K block (ggml's dequantize_row_q6_K):
// e = 128 h + 32 s + i takes the low (s < 2) or high nibble of ql[64 h + 32 (s % 2) + i] and
// bits 2 s, 2 s + 1 of qh[32 h + i].
int q6_K_quant(const BlockQ6_K& b, int e) {
  const int h = e / 128, s = e % 128 / 32, i = e % 32;
  const int low = (b.ql[64 * h + 32 * (s % 2) + i] >> (4 * (s / 2))) & 0x0F;
  return low | ((b.qh[32 * h + i] >> (2 * s)) & 0x03) << 4;
}

TEST(WeightLayout, BlockGroups16PutsQ6_KQuantBitsBySubBlockAndKeepsScales) {
  for (int nb : {1, 2, 3}) {
    std::mt19937 rng(static_cast<unsigned>(10 + nb));
    std::vector<uint8_t> ggml(static_cast<size_t>(nb) * sizeof(BlockQ6_K));
    for (auto& byte : ggml) byte = static_cast<uint8_t>(rng());
    const auto* blocks = reinterpret_cast<const BlockQ6_K*>(ggml.data());
    std::vector<uint8_t> row = ggml;
    to_layout(GgmlType::Q6_K, WeightLayout::kBlockGroups16, row.data(), nb * kQK_K, 1);
    for (int i = 0; i < nb; ++i) {
      const BlockQ6_K& b = blocks[i];
      const uint8_t* group = row.data() + i * sizeof(BlockQ6_K);
      EXPECT_EQ(std::memcmp(group + 192, b.scales, 16), 0);
      EXPECT_EQ(std::memcmp(group + 208, &b.d, 2), 0);
      // Sub-block l, byte b of its three words (weight_layout.h).
      for (int l = 0; l < 16; ++l)
        for (int byte = 0; byte < 4; ++byte) {
          auto u = [&](int e) { return q6_K_quant(b, 16 * l + e); };
          const int e0 = byte, e1 = 4 + byte, e2 = 8 + byte, e3 = 12 + byte;
          EXPECT_EQ(group[4 * l + byte], (u(e0) & 15) | (u(e1) & 15) << 4)
              << "nb=" << nb << " block " << i << " sub-block " << l << " byte " << byte;
          EXPECT_EQ(group[64 + 4 * l + byte], (u(e2) & 15) | (u(e3) & 15) << 4);
          EXPECT_EQ(group[128 + 4 * l + byte],
                    u(e0) >> 4 | (u(e1) >> 4) << 2 | (u(e2) >> 4) << 4 | (u(e3) >> 4) << 6);
        }
    }
    std::vector<uint8_t> back(ggml.size());
    from_layout(GgmlType::Q6_K, WeightLayout::kBlockGroups16, row.data(), back.data(), nb * kQK_K,
                1);
    EXPECT_EQ(back, ggml) << "nb=" << nb;
  }
}

// The 3-bit quant (0..7) of element e of a ggml Q3_K block (ggml's dequantize_row_q3_K, before
// its - 4): e = 128 h + 32 s + i takes bits 2 s, 2 s + 1 of qs[32 h + i] and, as bit 2, bit
// 4 h + s of hmask[i].
int q3_K_quant(const BlockQ3_K& b, int e) {
  const int h = e / 128, s = e % 128 / 32, i = e % 32;
  return ((b.qs[32 * h + i] >> (2 * s)) & 3) | ((b.hmask[i] >> (4 * h + s)) & 1) << 2;
}

// Element 16 l + 4 k + byte of a Q3_K group in kBlockGroups16 (weight_layout.h): its low bits
// at 2 k of byte 4 l + byte, its third bit at 2 k + l / 8 of byte 64 + 4 (l % 8) + byte.
int q3_K_group_quant(const uint8_t* group, int l, int k, int byte) {
  const int low = group[4 * l + byte] >> (2 * k) & 3;
  const int third = group[64 + 4 * (l % 8) + byte] >> (2 * k + l / 8) & 1;
  return low | third << 2;
}

// The 2-bit quant (0..3) of element e of a ggml Q2_K block (ggml's dequantize_row_q2_K):
// e = 128 h + 32 s + i takes bits 2 s, 2 s + 1 of qs[32 h + i].
int q2_K_quant(const BlockQ2_K& b, int e) {
  const int h = e / 128, s = e % 128 / 32, i = e % 32;
  return (b.qs[32 * h + i] >> (2 * s)) & 3;
}

// Element 16 l + 4 k + byte of a Q2_K group in kBlockGroups16 (weight_layout.h): bits 2 k of
// byte 16 + 4 l + byte.
int q2_K_group_quant(const uint8_t* group, int l, int k, int byte) {
  return group[16 + 4 * l + byte] >> (2 * k) & 3;
}

// A Q2_K or Q3_K group of kBlockGroups16 against the ggml block it came from: every quant where
// weight_layout.h puts it, every other byte (scales, mins, d, dmin) in place.
void expect_k16_group(GgmlType type, const uint8_t* block, const uint8_t* group,
                      const std::string& where) {
  const bool q3 = type == GgmlType::Q3_K;
  const size_t bytes = q3 ? sizeof(BlockQ3_K) : sizeof(BlockQ2_K);
  const size_t begin = q3 ? 0 : offsetof(BlockQ2_K, qs);
  const size_t end = q3 ? offsetof(BlockQ3_K, scales) : offsetof(BlockQ2_K, d);
  for (size_t i = 0; i < bytes; ++i) {
    if (i < begin || i >= end) {
      EXPECT_EQ(group[i], block[i]) << where << " byte " << i;
    }
  }
  for (int l = 0; l < 16; ++l)
    for (int k = 0; k < 4; ++k)
      for (int byte = 0; byte < 4; ++byte) {
        const int e = 16 * l + 4 * k + byte;
        const int want = q3 ? q3_K_quant(*reinterpret_cast<const BlockQ3_K*>(block), e)
                            : q2_K_quant(*reinterpret_cast<const BlockQ2_K*>(block), e);
        const int got =
            q3 ? q3_K_group_quant(group, l, k, byte) : q2_K_group_quant(group, l, k, byte);
        EXPECT_EQ(got, want) << where << " sub-block " << l << " word " << k << " byte " << byte;
      }
}

TEST(WeightLayout, BlockGroups16PutsQ2_KAndQ3_KQuantsBySubBlockAndKeepsTheirFields) {
  for (GgmlType type : {GgmlType::Q2_K, GgmlType::Q3_K}) {
    const size_t bytes = gguf::ggml_type_info(type).type_size;
    for (int nb : {1, 2, 3}) {
      std::mt19937 rng(static_cast<unsigned>(30 + nb));
      std::vector<uint8_t> ggml(static_cast<size_t>(nb) * bytes);
      for (auto& byte : ggml) byte = static_cast<uint8_t>(rng());
      std::vector<uint8_t> row = ggml;
      to_layout(type, WeightLayout::kBlockGroups16, row.data(), nb * kQK_K, 1);
      const std::string where =
          std::string(gguf::ggml_type_info(type).name) + " nb=" + std::to_string(nb);
      for (int i = 0; i < nb; ++i)
        expect_k16_group(type, ggml.data() + i * bytes, row.data() + i * bytes,
                         where + " block " + std::to_string(i));
      std::vector<uint8_t> back(ggml.size());
      from_layout(type, WeightLayout::kBlockGroups16, row.data(), back.data(), nb * kQK_K, 1);
      EXPECT_EQ(back, ggml) << where;
    }
  }
}

// from_layout of any layout bytes (random rows of 1, 2, 3 and 19 super-blocks; the AVX-512
// conversion where the CPU has it): every quant of the ggml rows where weight_layout.h puts it
// in the group, the other fields in place, and to_layout gives the same bytes back.
TEST(WeightLayout, FromBlockGroups16GivesEveryK_QuantQuantItsGgmlPlace) {
  for (GgmlType type :
       {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    for (int nb : {1, 2, 3, 19}) {
      std::mt19937 rng(static_cast<unsigned>(20 + nb));
      const int64_t n_in = nb * kQK_K;
      const int64_t n_rows = 2;
      const size_t row_bytes = gguf::ggml_row_size(type, n_in);
      std::vector<uint8_t> arranged(row_bytes * n_rows);
      for (auto& byte : arranged) byte = static_cast<uint8_t>(rng());
      std::vector<uint8_t> ggml(arranged.size(), 0x55);
      from_layout(type, WeightLayout::kBlockGroups16, arranged.data(), ggml.data(), n_in, n_rows);
      const std::string where =
          std::string(gguf::ggml_type_info(type).name) + " nb=" + std::to_string(nb);
      for (int64_t r = 0; r < n_rows; ++r) {
        const uint8_t* row = arranged.data() + r * row_bytes;
        if (type == GgmlType::Q4_K) {
          const auto* blocks = reinterpret_cast<const BlockQ4_K*>(ggml.data() + r * row_bytes);
          for (int g0 = 0; g0 < nb; g0 += 2) {
            const int m = std::min(2, nb - g0);
            const uint8_t* group = row + g0 * sizeof(BlockQ4_K);
            expect_k_group_fields(group, blocks + g0, m, where);
            for (int l = 0; l < 8 * m; ++l)
              for (int e = 0; e < 16; ++e) {
                const uint8_t byte = group[16 * m + 4 * (8 * m * (e / 4) + l) + e % 4];
                const BlockQ4_K& b = blocks[g0 + l / 8];
                EXPECT_EQ(q4_K_quant(b, l % 8, e), byte & 15) << where << " sub-block " << l;
                EXPECT_EQ(q4_K_quant(b, l % 8, 16 + e), byte >> 4) << where << " sub-block " << l;
              }
          }
        } else if (type == GgmlType::Q5_K) {
          const auto* blocks = reinterpret_cast<const BlockQ5_K*>(ggml.data() + r * row_bytes);
          for (int g0 = 0; g0 < nb; g0 += 2) {
            const int m = std::min(2, nb - g0);
            const uint8_t* group = row + g0 * sizeof(BlockQ5_K);
            expect_k_group_fields(group, blocks + g0, m, where);
            for (int l = 0; l < 8 * m; ++l)
              for (int e = 0; e < 16; ++e) {
                const uint8_t byte = group[48 * m + 4 * (8 * m * (e / 4) + l) + e % 4];
                auto fifth = [&](int i) { return group[16 * m + 4 * l + i / 8] >> (i % 8) & 1; };
                const BlockQ5_K& b = blocks[g0 + l / 8];
                EXPECT_EQ(q5_K_quant(b, l % 8, e), (byte & 15) | fifth(e) << 4)
                    << where << " sub-block " << l;
                EXPECT_EQ(q5_K_quant(b, l % 8, 16 + e), byte >> 4 | fifth(16 + e) << 4)
                    << where << " sub-block " << l;
              }
          }
        } else if (type == GgmlType::Q2_K || type == GgmlType::Q3_K) {
          const size_t bytes = gguf::ggml_type_info(type).type_size;
          for (int i = 0; i < nb; ++i)
            expect_k16_group(type, ggml.data() + r * row_bytes + i * bytes, row + i * bytes,
                             where + " block " + std::to_string(i));
        } else {
          const auto* blocks = reinterpret_cast<const BlockQ6_K*>(ggml.data() + r * row_bytes);
          for (int i = 0; i < nb; ++i) {
            const uint8_t* group = row + i * sizeof(BlockQ6_K);
            EXPECT_EQ(std::memcmp(blocks[i].scales, group + 192, 16), 0) << where;
            EXPECT_EQ(std::memcmp(&blocks[i].d, group + 208, 2), 0) << where;
            // Element 16 l + 4 k + byte: low bits in word k / 2 (nibble k % 2), high bits at
            // 2 k of the third word.
            for (int l = 0; l < 16; ++l)
              for (int k = 0; k < 4; ++k)
                for (int byte = 0; byte < 4; ++byte) {
                  const int low = group[64 * (k / 2) + 4 * l + byte] >> (4 * (k % 2)) & 15;
                  const int high = group[128 + 4 * l + byte] >> (2 * k) & 3;
                  EXPECT_EQ(q6_K_quant(blocks[i], 16 * l + 4 * k + byte), low | high << 4)
                      << where << " block " << i << " sub-block " << l;
                }
          }
        }
      }
      std::vector<uint8_t> again = ggml;
      to_layout(type, WeightLayout::kBlockGroups16, again.data(), n_in, n_rows);
      EXPECT_EQ(again, arranged) << where;
    }
  }
}

TEST(WeightLayout, Q8_KActivationRowArrangedForQ4_K) {
  constexpr int nb = 3;  // a pair, then a lone super-block
  std::mt19937 rng(5);
  std::vector<BlockQ8_K> blocks(nb);
  for (BlockQ8_K& b : blocks) {
    b.d = std::uniform_real_distribution<float>(0.1f, 2.0f)(rng);
    for (auto& q : b.qs) q = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += b.qs[16 * g + i];
      b.bsums[g] = static_cast<int16_t>(sum);
    }
  }
  std::vector<uint8_t> arranged(nb * sizeof(BlockQ8_K));
  q8_K_row_to_block_groups16(blocks.data(), arranged.data(), nb * kQK_K);
  for (int g0 = 0; g0 < nb; g0 += 2) {
    const int m = std::min(2, nb - g0);
    const uint8_t* group = arranged.data() + g0 * sizeof(BlockQ8_K);
    for (int l = 0; l < 8 * m; ++l) {
      const BlockQ8_K& b = blocks[g0 + l / 8];
      const int s = l % 8;
      for (int k = 0; k < 8; ++k)
        EXPECT_EQ(std::memcmp(group + 4 * (8 * m * k + l), b.qs + 32 * s + 4 * k, 4), 0)
            << g0 << " " << l << " " << k;
      int32_t sum;
      std::memcpy(&sum, group + (kQK_K + 4) * m + 4 * l, 4);
      int want = 0;
      for (int i = 0; i < 32; ++i) want += b.qs[32 * s + i];
      EXPECT_EQ(sum, want);
    }
    for (int j = 0; j < m; ++j) {
      float d;
      std::memcpy(&d, group + kQK_K * m + 4 * j, 4);
      EXPECT_EQ(d, blocks[g0 + j].d);
    }
  }
}

TEST(WeightLayout, Q8_KActivationRowArrangedForQ6_K) {
  constexpr int nb = 2;
  std::mt19937 rng(6);
  std::vector<BlockQ8_K> blocks(nb);
  for (BlockQ8_K& b : blocks) {
    b.d = std::uniform_real_distribution<float>(0.1f, 2.0f)(rng);
    for (auto& q : b.qs) q = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    for (auto& sum : b.bsums) sum = static_cast<int16_t>(rng());
  }
  std::vector<BlockQ8_K> arranged(nb);
  q8_K_row_to_q6_K_groups16(blocks.data(), arranged.data(), nb * kQK_K);
  for (int i = 0; i < nb; ++i) {
    EXPECT_EQ(arranged[i].d, blocks[i].d);
    EXPECT_EQ(std::memcmp(arranged[i].bsums, blocks[i].bsums, sizeof(blocks[i].bsums)), 0);
    // Vector k, lane l: elements 16 l + 4 k .. 16 l + 4 k + 3.
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 16; ++l)
        for (int byte = 0; byte < 4; ++byte)
          EXPECT_EQ(arranged[i].qs[64 * k + 4 * l + byte], blocks[i].qs[16 * l + 4 * k + byte])
              << i << " " << k << " " << l << " " << byte;
  }
}

// Each level's arrangement of the Q8_K activation row (type_kernels' arrange_groups16: the
// AVX-512 permutes where the level has them) against the scalar one of weight_layout.h, byte
// for byte, over rows of 1, 2, 3 and 19 super-blocks (Q4_K: a lone last super-block or none).
TEST(WeightLayout, Q8_KActivationArrangementsGiveTheScalarBytesAtEveryLevel) {
  std::mt19937 rng(7);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K}) {
    const ArrangeRowFn scalar =
        type == GgmlType::Q4_K ? q8_K_row_to_block_groups16 : q8_K_row_to_q6_K_groups16;
    for (int nb : {1, 2, 3, 19}) {
      std::vector<BlockQ8_K> blocks(static_cast<size_t>(nb));
      for (BlockQ8_K& b : blocks) {
        b.d = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
        for (auto& q : b.qs) q = static_cast<int8_t>(rng());
        for (auto& sum : b.bsums) sum = static_cast<int16_t>(rng());  // any int16 pair adds up
      }
      std::vector<uint8_t> want(blocks.size() * sizeof(BlockQ8_K), 0xAA);
      scalar(blocks.data(), want.data(), nb * kQK_K);
      for (SimdLevel level : kSimdLevels) {
        if (level > cpu_simd_level()) continue;
        const TypeKernels& kernels = type_kernels(type, level);
        ASSERT_EQ(kernels.arrange_groups16 == nullptr, kernels.vec_dot_groups16 == nullptr)
            << simd_level_name(level);
        if (kernels.arrange_groups16 == nullptr) continue;
        std::vector<uint8_t> got(want.size(), 0x55);  // every byte must be written
        kernels.arrange_groups16(blocks.data(), got.data(), nb * kQK_K);
        EXPECT_EQ(got, want) << gguf::ggml_type_info(type).name << " " << simd_level_name(level)
                             << " nb=" << nb;
      }
    }
  }
}

// matmul on the rearranged rows against matmul on the ggml rows, bit for bit.
TEST(WeightLayout, MatmulOnBlockGroups16EqualsMatmulOnGgmlRows) {
  std::mt19937 rng(11);
  const SimdLevel before = simd_level();
  struct Shape {
    int64_t n_in, n_out;
  };
  // 1, 2, 3, 16, 19, 28 and 152 blocks (a last partial group of 2, 3, 3, 12 and 8).
  const std::vector<Shape> shapes{{32, 5},   {64, 3},   {96, 17},  {512, 16},
                                  {608, 19}, {896, 40}, {4864, 33}};
  // The K-quants: 1, 2, 3 and 19 super-blocks (Q4_K, Q5_K: a last group of one, or none).
  const std::vector<Shape> k_shapes{{256, 5}, {512, 17}, {768, 16}, {4864, 33}};
  for (GgmlType type : kBlockGroups16Types) {
    const bool k_quant = gguf::ggml_type_info(type).block_size == kQK_K;
    for (Shape s : k_quant ? k_shapes : shapes) {
      const auto ggml = test::random_weights(type, s.n_in, s.n_out, rng);
      std::vector<uint8_t> arranged = ggml;
      to_layout(type, WeightLayout::kBlockGroups16, arranged.data(), s.n_in, s.n_out);
      // Around the batched kernels' min_tokens (2, 12), their last blocks of 1-3 tokens (2, 3,
      // 6, 7, 17; the K-quants' last 1 or 2 in blocks of 8 x 2: 5, 6, 10, 13, 17), Q5_K's blocks
      // of 8 tokens from 5 on and their last blocks of 1-7 (5 .. 8, 10 .. 13, 17, 31) and
      // handovers (32, 40, 48, 64), and between.
      for (int64_t n_tokens :
           {1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 16, 17, 31, 32, 33, 39, 47, 63, 64}) {
        std::vector<float> x(static_cast<size_t>(n_tokens * s.n_in));
        std::normal_distribution<float> value(0.0f, 1.0f);
        for (auto& v : x) v = value(rng);
        for (SimdLevel level : kSimdLevels) {
          if (level > cpu_simd_level()) continue;
          ASSERT_TRUE(set_simd_level(level).ok());
          for (int threads : {1, 2}) {
            ThreadPool pool(threads);
            std::vector<float> want(static_cast<size_t>(n_tokens * s.n_out));
            std::vector<float> got(want.size(), -1.0f);
            matmul(type, ggml.data(), s.n_in, s.n_out, x.data(), want.data(), n_tokens, pool);
            matmul(type, WeightLayout::kBlockGroups16, arranged.data(), s.n_in, s.n_out, x.data(),
                   got.data(), n_tokens, pool);
            EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                << gguf::ggml_type_info(type).name << " " << simd_level_name(level)
                << " n_in=" << s.n_in << " n_out=" << s.n_out << " n_tokens=" << n_tokens
                << " threads=" << threads;
          }
        }
      }
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// Every level converts to the same bytes: to_layout and from_layout run the active level's
// code (the scalar conversions, AVX2's, AVX-512's), so at each level the CPU has, both layouts
// of every type where supported, rows of partial groups and odd super-block pairs, must give
// the scalar level's arranged bytes (which the tests above check against weight_layout.h at the
// CPU's level) and the ggml rows back. The scalar conversions, which CPUs without AVX2 and
// builds for other architectures run, are otherwise not run on an x86 CPU with AVX2.
TEST(WeightLayout, EveryLevelConvertsToTheSameBytes) {
  std::mt19937 rng(23);
  const SimdLevel before = simd_level();
  struct Shape {
    int64_t n_in, n_rows;
  };
  // 1, 3, 16, 19 and 28 blocks; the K-quants 1, 2, 3 and 19 super-blocks; 16 or 32 rows (whole
  // groups of rows for kRowGroups16).
  const std::vector<Shape> shapes{{32, 16}, {96, 32}, {512, 16}, {608, 16}, {896, 32}};
  const std::vector<Shape> k_shapes{{256, 16}, {512, 32}, {768, 16}, {4864, 16}};
  for (GgmlType type : kBlockGroups16Types) {
    const bool k_quant = gguf::ggml_type_info(type).block_size == kQK_K;
    for (Shape s : k_quant ? k_shapes : shapes) {
      const auto ggml = test::random_weights(type, s.n_in, s.n_rows, rng);
      for (WeightLayout layout : {WeightLayout::kBlockGroups16, WeightLayout::kRowGroups16}) {
        if (!layout_supported(type, layout, s.n_in, s.n_rows)) continue;
        std::vector<uint8_t> scalar_bytes;
        for (SimdLevel level : kSimdLevels) {
          if (level > cpu_simd_level()) continue;
          ASSERT_TRUE(set_simd_level(level).ok());
          const std::string where = std::string(gguf::ggml_type_info(type).name) + " layout " +
                                    std::to_string(static_cast<int>(layout)) + " " +
                                    std::string(simd_level_name(level)) +
                                    " n_in=" + std::to_string(s.n_in);
          std::vector<uint8_t> arranged = ggml;
          to_layout(type, layout, arranged.data(), s.n_in, s.n_rows);
          std::vector<uint8_t> back(ggml.size(), 0x55);
          from_layout(type, layout, arranged.data(), back.data(), s.n_in, s.n_rows);
          EXPECT_EQ(back, ggml) << where;
          if (level == SimdLevel::kScalar)
            scalar_bytes = arranged;
          else
            EXPECT_EQ(arranged, scalar_bytes) << where;
        }
      }
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The same at the extremes of the integer sums: rows of all-0x00 and all-0xFF quant bytes
// (the smallest and largest quants of every format: Q5_0 / Q5_1 / Q5_K quants of 31) against
// activations that quantize to the largest magnitudes of both signs, where the kernels that
// keep sums in 16 bits (the AVX2 decode products add vpmaddubsw pairs over 2 or 4 words) would
// overflow if they kept them longer: rows of 896 (a full group and a partial one of 12 blocks)
// and 512 (the K-quants), 1, 3, 16 and 20 tokens, every level the CPU has, memcmp.
TEST(WeightLayout, MatmulOnBlockGroups16EqualsMatmulOnGgmlRowsAtTheExtremes) {
  const SimdLevel before = simd_level();
  constexpr int64_t kOut = 20, kTokens = 20;
  for (GgmlType type : kBlockGroups16Types) {
    const int64_t n_in = gguf::ggml_type_info(type).block_size == 32 ? 896 : 512;
    const size_t row_bytes = gguf::ggml_row_size(type, n_in);
    const auto low = test::uniform_weights(type, n_in, kOut, 0x00, 0.01f, 0.02f);
    const auto high = test::uniform_weights(type, n_in, kOut, 0xFF, 0.01f, 0.02f);
    std::vector<uint8_t> ggml(low.size());
    for (int64_t o = 0; o < kOut; ++o)
      std::memcpy(ggml.data() + o * row_bytes, (o % 2 ? high : low).data() + o * row_bytes,
                  row_bytes);
    std::vector<uint8_t> arranged = ggml;
    to_layout(type, WeightLayout::kBlockGroups16, arranged.data(), n_in, kOut);
    // Tokens of all -1, all +1, and alternating signs in runs of 16, 32 and 64.
    std::vector<float> x(static_cast<size_t>(kTokens * n_in));
    for (int64_t t = 0; t < kTokens; ++t)
      for (int64_t i = 0; i < n_in; ++i) {
        const int64_t run = t % 5 < 2 ? n_in : int64_t{16} << (t % 5 - 2);
        x[t * n_in + i] = (t % 2 ? 1.0f : -1.0f) * ((i / run) % 2 ? -1.0f : 1.0f);
      }
    for (SimdLevel level : kSimdLevels) {
      if (level > cpu_simd_level()) continue;
      ASSERT_TRUE(set_simd_level(level).ok());
      ThreadPool pool(2);
      for (int64_t n_tokens : {1, 3, 16, 20}) {
        std::vector<float> want(static_cast<size_t>(n_tokens * kOut));
        std::vector<float> got(want.size(), -1.0f);
        matmul(type, ggml.data(), n_in, kOut, x.data(), want.data(), n_tokens, pool);
        matmul(type, WeightLayout::kBlockGroups16, arranged.data(), n_in, kOut, x.data(),
               got.data(), n_tokens, pool);
        EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
            << gguf::ggml_type_info(type).name << " " << simd_level_name(level)
            << " n_tokens=" << n_tokens;
      }
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// A decode-product variant on WeightLayout::kBlockGroups16 rows (one that needs an instruction
// set beyond kAvx512: VBMI, GFNI) against the kAvx512 product without it on the same arranged
// rows, and both against vec_dot on the ggml rows, memcmp: rows of each length in `row_lengths`
// (37 rows); the rows in one call and split in two as matmul splits them among threads; then
// matmul on the arranged rows (the kAvx512 table's variant) against matmul on the ggml rows, 1
// and 3 tokens, 1 and 2 threads.
void expect_variant_gives_the_bits_of_the_product_without(
    GgmlType type, VecDotFn plain, VecDotFn variant, std::initializer_list<int64_t> row_lengths,
    std::mt19937& rng) {
  const std::string name(gguf::ggml_type_info(type).name);
  const TypeKernels& kernels = type_kernels(type, SimdLevel::kAvx512);
  const SimdLevel before = simd_level();
  for (int64_t n_in : row_lengths) {
    const int64_t n_out = 37, half = 18;
    const size_t row_bytes = gguf::ggml_row_size(type, n_in);
    const auto ggml = test::random_weights(type, n_in, n_out, rng);
    std::vector<uint8_t> arranged = ggml;
    to_layout(type, WeightLayout::kBlockGroups16, arranged.data(), n_in, n_out);
    const int64_t n_tokens = 3;
    std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
    std::normal_distribution<float> value(0.0f, 1.0f);
    for (auto& e : x) e = value(rng);
    std::vector<uint8_t> act(activation_row_bytes(kernels.activation_type, n_in));
    std::vector<uint8_t> act_arranged(act.size());
    kernels.quantize_activations(x.data(), act.data(), n_in);
    kernels.arrange_groups16(act.data(), act_arranged.data(), n_in);
    const auto outputs = static_cast<size_t>(n_out);
    std::vector<float> want(outputs), without(outputs, -1.0f), with(outputs, -2.0f);
    std::vector<float> split(outputs, -3.0f);
    kernels.vec_dot(n_in, ggml.data(), row_bytes, n_out, act.data(), want.data());
    plain(n_in, arranged.data(), row_bytes, n_out, act_arranged.data(), without.data());
    variant(n_in, arranged.data(), row_bytes, n_out, act_arranged.data(), with.data());
    variant(n_in, arranged.data(), row_bytes, half, act_arranged.data(), split.data());
    variant(n_in, arranged.data() + half * row_bytes, row_bytes, n_out - half, act_arranged.data(),
            split.data() + half);
    const size_t bytes = outputs * sizeof(float);
    EXPECT_EQ(std::memcmp(without.data(), want.data(), bytes), 0) << name << " n_in=" << n_in;
    EXPECT_EQ(std::memcmp(with.data(), without.data(), bytes), 0) << name << " n_in=" << n_in;
    EXPECT_EQ(std::memcmp(split.data(), without.data(), bytes), 0) << name << " n_in=" << n_in;
    ASSERT_TRUE(set_simd_level(SimdLevel::kAvx512).ok());
    for (int64_t tokens : {int64_t{1}, n_tokens})
      for (int threads : {1, 2}) {
        ThreadPool pool(threads);
        std::vector<float> reference(static_cast<size_t>(tokens) * outputs);
        std::vector<float> got(reference.size(), -4.0f);
        matmul(type, ggml.data(), n_in, n_out, x.data(), reference.data(), tokens, pool);
        matmul(type, WeightLayout::kBlockGroups16, arranged.data(), n_in, n_out, x.data(),
               got.data(), tokens, pool);
        EXPECT_EQ(std::memcmp(got.data(), reference.data(), got.size() * sizeof(float)), 0)
            << name << " n_in=" << n_in << " tokens=" << tokens << " threads=" << threads;
        EXPECT_EQ(std::memcmp(got.data(), with.data(), bytes), 0)  // token 0
            << name << " n_in=" << n_in << " tokens=" << tokens << " threads=" << threads;
      }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The AVX512-VBMI decode product of IQ4_NL (avx512_vbmi::, which the kAvx512 table takes where
// the CPU has VBMI) as expect_variant_gives_the_bits_of_the_product_without: rows of 896
// elements (a full group and a partial one of 12 blocks), 4864 (9 and 8), 512 (one full group)
// and 96 (a partial group only).
TEST(WeightLayout, VbmiDecodeProductsGiveTheBitsOfTheVariantWithout) {
  if (!cpu_has_avx512_vbmi()) {
    if (cpu_simd_level() >= SimdLevel::kAvx512) {
      EXPECT_EQ(type_kernels(GgmlType::IQ4_NL, SimdLevel::kAvx512).vec_dot_groups16,
                avx512::vec_dot_iq4_nl_groups16);
    }
    GTEST_SKIP() << "this CPU lacks AVX512-VBMI (or kAvx512), so the VBMI variants cannot run; "
                    "the variants without VBMI are tested by MatmulOnBlockGroups16EqualsMatmulOn"
                    "GgmlRows";
  }
  const VecDotFn vbmi = avx512_vbmi::vec_dot_iq4_nl_groups16;
  EXPECT_EQ(type_kernels(GgmlType::IQ4_NL, SimdLevel::kAvx512).vec_dot_groups16, vbmi);
  if (cpu_simd_level() >= SimdLevel::kAmx) {  // kAmx keeps IQ4_NL in ggml rows
    const VecDotFn amx = type_kernels(GgmlType::IQ4_NL, SimdLevel::kAmx).vec_dot_groups16;
    EXPECT_TRUE(amx == vbmi || amx == nullptr);
  }
  std::mt19937 rng(13);
  expect_variant_gives_the_bits_of_the_product_without(
      GgmlType::IQ4_NL, avx512::vec_dot_iq4_nl_groups16, vbmi, {896, 4864, 512, 96}, rng);
}

// The GFNI decode products of Q3_K and Q2_K (avx512_gfni::, which the kAvx512 and kAmx tables
// take where the CPU has GFNI) as expect_variant_gives_the_bits_of_the_product_without: rows of
// 8960 elements (35 super-blocks: pairs and a lone one), 1536 (6), 256 (a lone one) and 512
// (one pair).
TEST(WeightLayout, GfniDecodeProductsGiveTheBitsOfTheVariantWithout) {
  struct Variant {
    GgmlType type;
    VecDotFn plain, gfni;
  };
  const Variant variants[] = {
      {GgmlType::Q3_K, avx512::vec_dot_q3_K_groups16, avx512_gfni::vec_dot_q3_K_groups16},
      {GgmlType::Q2_K, avx512::vec_dot_q2_K_groups16, avx512_gfni::vec_dot_q2_K_groups16}};
  if (!cpu_has_gfni()) {
    if (cpu_simd_level() >= SimdLevel::kAvx512) {
      for (const Variant& v : variants)
        EXPECT_EQ(type_kernels(v.type, SimdLevel::kAvx512).vec_dot_groups16, v.plain);
    }
    GTEST_SKIP() << "this CPU lacks GFNI (or kAvx512), so the GFNI variants cannot run; the "
                    "variants without GFNI are tested by MatmulOnBlockGroups16EqualsMatmulOn"
                    "GgmlRows";
  }
  std::mt19937 rng(17);
  for (const Variant& v : variants) {
    EXPECT_EQ(type_kernels(v.type, SimdLevel::kAvx512).vec_dot_groups16, v.gfni);
    if (cpu_simd_level() >= SimdLevel::kAmx) {
      EXPECT_EQ(type_kernels(v.type, SimdLevel::kAmx).vec_dot_groups16, v.gfni);
    }
    expect_variant_gives_the_bits_of_the_product_without(v.type, v.plain, v.gfni,
                                                         {8960, 1536, 256, 512}, rng);
  }
}

}  // namespace
}  // namespace gengyun::kernels
