// WeightLayout::kRowGroups16 (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K: 16 rows interleaved by word): the
// bytes where weight_layout.h says, a lossless round trip and single rows given back, and matmul on
// the interleaved rows giving the bits of matmul on ggml's rows at every SIMD level the CPU has
// (kAmx: the decode product on the layout and the tiles loading it as B; below it: rows
// converted back), decode and batched, 1 and 2 threads; and the tile kernels with emulated tile
// instructions against vec_dot where the CPU has no AMX.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel_reference.h"
#include "kernels/activation_rows.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd_level.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_layout.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

constexpr auto kLayout = WeightLayout::kRowGroups16;
// The 32-element types in kRowGroups16 (the emulated tile kernels take these).
constexpr GgmlType kTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0};

TEST(RowGroups16, TakesQ8_0Q4_0Q5_0Q4_KQ5_KQ6_KRowsInWholeGroupsOf16) {
  for (GgmlType type : kTypes) {
    EXPECT_TRUE(layout_supported(type, kLayout, 896, 4864));
    EXPECT_TRUE(layout_supported(type, kLayout, 32, 16));
    EXPECT_FALSE(layout_supported(type, kLayout, 896, 20));
    EXPECT_FALSE(layout_supported(type, kLayout, 48, 16));
    EXPECT_FALSE(layout_supported(type, kLayout, 0, 16));
  }
  EXPECT_FALSE(layout_supported(GgmlType::Q4_1, kLayout, 896, 16));
  EXPECT_FALSE(layout_supported(GgmlType::Q3_K, kLayout, 4864, 16));
  // Q4_K, Q5_K and Q6_K: rows of whole super-blocks.
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    EXPECT_TRUE(layout_supported(type, kLayout, 4864, 896));
    EXPECT_TRUE(layout_supported(type, kLayout, 256, 16));
    EXPECT_FALSE(layout_supported(type, kLayout, 896, 16));
    EXPECT_FALSE(layout_supported(type, kLayout, 4864, 24));
  }
}

// Q4_K and Q5_K: per super-block the 16 rows' d, their dmin, then each of the block's words from
// byte 4 (35 / 43: scales, Q5_K's qh, quants) of the 16 rows side by side (weight_layout.h), bytes
// labelled by row, super-block and place.
TEST(RowGroups16, PutsQ4_KAndQ5_KDThenDminThenEachWordOf16RowsSideBySide) {
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K}) {
    const int64_t nb = 3, n_rows = 32;
    const size_t bytes = gguf::ggml_type_info(type).type_size, words = (bytes - 4) / 4;
    std::vector<uint8_t> ggml(static_cast<size_t>(n_rows * nb) * bytes);
    for (size_t i = 0; i < ggml.size(); ++i) {
      const size_t r = i / (nb * bytes), j = i / bytes % nb, at = i % bytes;
      ggml[i] = static_cast<uint8_t>(r * 7 + j * 61 + at * 3);
    }
    std::vector<uint8_t> arranged = ggml;
    to_layout(type, kLayout, arranged.data(), kQK_K * nb, n_rows);
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t j = 0; j < nb; ++j) {
        const uint8_t* block = ggml.data() + (r * nb + j) * bytes;
        const uint8_t* super_block = arranged.data() + (r / 16 * 16 * nb + 16 * j) * bytes;
        const int64_t lane = r % 16;
        const std::string where = std::string(gguf::ggml_type_info(type).name) + " row " +
                                  std::to_string(r) + " super-block " + std::to_string(j);
        EXPECT_EQ(std::memcmp(super_block + 2 * lane, block, 2), 0) << "d, " << where;
        EXPECT_EQ(std::memcmp(super_block + 32 + 2 * lane, block + 2, 2), 0) << "dmin, " << where;
        for (size_t w = 0; w < words; ++w)
          EXPECT_EQ(std::memcmp(super_block + 64 * (w + 1) + 4 * lane, block + 4 + 4 * w, 4), 0)
              << "word " << w << ", " << where;
      }
  }
}

// Row r, block b: scale 1000 * r + b, quant i = (r * 31 + b * 7 + i) % 256 - 128.
std::vector<uint8_t> labelled_rows(int64_t n_rows, int64_t nb) {
  std::vector<uint8_t> rows(static_cast<size_t>(n_rows * nb) * sizeof(BlockQ8_0));
  auto* blocks = reinterpret_cast<BlockQ8_0*>(rows.data());
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ8_0& block = blocks[r * nb + b];
      block.d = static_cast<uint16_t>(1000 * r + b);
      for (int i = 0; i < kQK; ++i)
        block.qs[i] = static_cast<int8_t>((r * 31 + b * 7 + i) % 256 - 128);
    }
  return rows;
}

TEST(RowGroups16, PutsScalesThenEachBlocksWordsOf16RowsSideBySideByPartialSum) {
  const int64_t nb = 19, n_rows = 32;  // partial sums 0..2 hold two blocks, 3..15 one
  const std::vector<uint8_t> ggml = labelled_rows(n_rows, nb);
  std::vector<uint8_t> arranged = ggml;
  to_layout(GgmlType::Q8_0, kLayout, arranged.data(), 32 * nb, n_rows);
  const size_t group_bytes = 16 * nb * sizeof(BlockQ8_0);
  // The blocks in the order the partial sums take them: 0, 16, 1, 17, 2, 18, 3, 4, ..., 15.
  std::vector<int64_t> order;
  for (int64_t p = 0; p < 16; ++p)
    for (int64_t j = p; j < nb; j += 16) order.push_back(j);
  ASSERT_EQ(order.size(), static_cast<size_t>(nb));
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* group = arranged.data() + g * group_bytes;
    for (size_t pos = 0; pos < order.size(); ++pos) {
      const int64_t j = order[pos];
      for (int r = 0; r < 16; ++r) {
        const int64_t row = 16 * g + r;
        uint16_t d;
        std::memcpy(&d, group + 32 * pos + 2 * r, 2);
        EXPECT_EQ(d, 1000 * row + j) << "row " << row << " block " << j;
        const uint8_t* quants = group + 32 * nb + 512 * pos;
        for (int i = 0; i < kQK; ++i)
          EXPECT_EQ(static_cast<int8_t>(quants[64 * (i / 4) + 4 * r + i % 4]),
                    static_cast<int8_t>((row * 31 + j * 7 + i) % 256 - 128))
              << "row " << row << " block " << j << " quant " << i;
      }
    }
  }
}

// Q5_0 (fields d and qh before the nibbles): every byte of row r, block j at the place the
// header gives, from random bytes.
TEST(RowGroups16, PutsQ5_0ScalesThenFifthBitsThenNibbleWords) {
  std::mt19937 rng(23);
  const int64_t nb = 19, n_rows = 16;
  std::vector<uint8_t> ggml(static_cast<size_t>(n_rows * nb) * sizeof(BlockQ5_0));
  for (auto& byte : ggml) byte = static_cast<uint8_t>(rng());
  std::vector<uint8_t> arranged = ggml;
  to_layout(GgmlType::Q5_0, kLayout, arranged.data(), 32 * nb, n_rows);
  int64_t pos = 0;
  for (int64_t p = 0; p < 16; ++p)
    for (int64_t j = p; j < nb; j += 16, ++pos)
      for (int r = 0; r < 16; ++r) {
        const auto& block = reinterpret_cast<const BlockQ5_0*>(ggml.data())[r * nb + j];
        const std::string at = "row " + std::to_string(r) + " block " + std::to_string(j);
        EXPECT_EQ(std::memcmp(arranged.data() + 32 * pos + 2 * r, &block.d, 2), 0) << at;
        EXPECT_EQ(std::memcmp(arranged.data() + 32 * nb + 64 * pos + 4 * r, block.qh, 4), 0) << at;
        for (int k = 0; k < 4; ++k)
          EXPECT_EQ(std::memcmp(arranged.data() + 96 * nb + 256 * pos + 64 * k + 4 * r,
                                block.qs + 4 * k, 4),
                    0)
              << at << " word " << k;
      }
}

// Row lengths (n_in) of each type the tests take: 32-element types 1, 16, 28 and 37 blocks;
// K-quants 1, 2, 3 and 19 super-blocks.
std::vector<int64_t> row_lengths(GgmlType type) {
  if (gguf::ggml_type_info(type).block_size == kQK_K) return {256, 512, 768, 4864};
  return {32, 512, 896, 1184};
}

// The types in kRowGroups16.
constexpr GgmlType kAllTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0,
                                  GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// Q6_K: per super-block each of its 52 words (ql, qh, scales) of the 16 rows side by side, then
// after the super-blocks their 16 rows' d (weight_layout.h), bytes labelled as above.
TEST(RowGroups16, PutsQ6_KWordsOf16RowsSideBySideThenTheirD) {
  const int64_t nb = 3, n_rows = 32;
  constexpr size_t kBytes = sizeof(BlockQ6_K), kWordBytes = offsetof(BlockQ6_K, d);
  std::vector<uint8_t> ggml(static_cast<size_t>(n_rows * nb) * kBytes);
  for (size_t i = 0; i < ggml.size(); ++i) {
    const size_t r = i / (nb * kBytes), j = i / kBytes % nb, at = i % kBytes;
    ggml[i] = static_cast<uint8_t>(r * 7 + j * 61 + at * 3);
  }
  std::vector<uint8_t> arranged = ggml;
  to_layout(GgmlType::Q6_K, kLayout, arranged.data(), kQK_K * nb, n_rows);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t j = 0; j < nb; ++j) {
      const uint8_t* block = ggml.data() + (r * nb + j) * kBytes;
      const uint8_t* group = arranged.data() + r / 16 * 16 * nb * kBytes;
      const int64_t lane = r % 16;
      const std::string where = "row " + std::to_string(r) + " super-block " + std::to_string(j);
      for (size_t w = 0; w < kWordBytes / 4; ++w)
        EXPECT_EQ(std::memcmp(group + 16 * kWordBytes * j + 64 * w + 4 * lane, block + 4 * w, 4), 0)
            << "word " << w << ", " << where;
      EXPECT_EQ(
          std::memcmp(group + 16 * kWordBytes * nb + 32 * j + 2 * lane, block + kWordBytes, 2), 0)
          << "d, " << where;
    }
}

TEST(RowGroups16, RoundTripsAndGivesBackAnyRow) {
  std::mt19937 rng(29);
  for (GgmlType type : kAllTypes)
    for (int64_t n_in : row_lengths(type)) {
      const int64_t n_rows = 48;
      const size_t row_bytes = gguf::ggml_row_size(type, n_in);
      const std::vector<uint8_t> ggml = test::random_weights(type, n_in, n_rows, rng);
      const std::string what =
          std::string(gguf::ggml_type_info(type).name) + ", " + std::to_string(n_in) + " elements";
      std::vector<uint8_t> arranged = ggml;
      to_layout(type, kLayout, arranged.data(), n_in, n_rows);
      EXPECT_NE(arranged, ggml);
      std::vector<uint8_t> back(ggml.size());
      from_layout(type, kLayout, arranged.data(), back.data(), n_in, n_rows);
      EXPECT_EQ(back, ggml) << what;
      // From the second group on, as matmul converts a thread's groups.
      std::vector<uint8_t> tail(row_bytes * 32);
      from_layout(type, kLayout, arranged.data() + 16 * row_bytes, tail.data(), n_in, 32);
      EXPECT_TRUE(std::equal(tail.begin(), tail.end(), ggml.begin() + 16 * row_bytes)) << what;
      std::vector<uint8_t> row(row_bytes);
      for (int64_t o = 0; o < n_rows; ++o) {
        row_from_layout(type, kLayout, arranged.data(), n_in, o, row.data());
        EXPECT_TRUE(std::equal(row.begin(), row.end(), ggml.begin() + o * row_bytes))
            << "row " << o << ", " << what;
      }
    }
}

// matmul on the interleaved rows against matmul on the same rows in ggml's layout, memcmp.
void expect_matmul_equal(GgmlType type, const std::vector<uint8_t>& ggml, int64_t n_in,
                         int64_t n_out, const std::vector<float>& x, int64_t n_tokens,
                         const std::string& what) {
  std::vector<uint8_t> arranged = ggml;
  to_layout(type, kLayout, arranged.data(), n_in, n_out);
  for (SimdLevel level : kSimdLevels) {
    if (level > cpu_simd_level()) continue;
    ASSERT_TRUE(set_simd_level(level).ok());
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      std::vector<float> want(static_cast<size_t>(n_tokens * n_out));
      std::vector<float> got(want.size(), -1.0f);
      matmul(type, ggml.data(), n_in, n_out, x.data(), want.data(), n_tokens, pool);
      matmul(type, kLayout, arranged.data(), n_in, n_out, x.data(), got.data(), n_tokens, pool);
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
          << gguf::ggml_type_info(type).name << " " << what << " " << simd_level_name(level)
          << " n_in=" << n_in << " n_out=" << n_out << " n_tokens=" << n_tokens
          << " threads=" << threads;
    }
  }
}

TEST(RowGroups16, MatmulEqualsMatmulOnGgmlRows) {
  std::mt19937 rng(17);
  std::normal_distribution<float> value(0.0f, 1.0f);
  const SimdLevel before = simd_level();
  for (GgmlType type : kAllTypes)
    // 32-element types: 1, 3, 16, 19, 28 and 37 blocks: fewer blocks than partial sums, exactly
    // 16, and more. K-quants: 1, 2, 3 and 19 super-blocks.
    for (int64_t n_in : gguf::ggml_type_info(type).block_size == kQK_K
                            ? std::vector<int64_t>{256, 512, 768, 4864}
                            : std::vector<int64_t>{32, 96, 512, 608, 896, 1184})
      for (int64_t n_out : {16, 48}) {
        const auto ggml = test::random_weights(type, n_in, n_out, rng);
        // Decode, the decode product per token (2, 3; batched at kAvx512 for Q8_0), tiles padded
        // (4, 5, 17, 23), whole tiles.
        for (int64_t n_tokens : {1, 2, 3, 4, 5, 16, 17, 23, 40}) {
          std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
          for (auto& v : x) v = value(rng);
          expect_matmul_equal(type, ggml, n_in, n_out, x, n_tokens, "random");
        }
      }
  // Rows enough for several runs of groups a thread (the tile kernels' kPackBudget of 512 KiB:
  // 24 groups of 37 blocks, K-quants 6 of 10 super-blocks) and tokens for several chunks.
  for (GgmlType type : kAllTypes) {
    const bool k = gguf::ggml_type_info(type).block_size == kQK_K;
    const int64_t n_in = k ? 2560 : 1184, n_out = k ? 512 : 1024, n_tokens = 40;
    const auto ggml = test::random_weights(type, n_in, n_out, rng);
    std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
    for (auto& v : x) v = value(rng);
    expect_matmul_equal(type, ggml, n_in, n_out, x, n_tokens, "runs");
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The largest integer sums of both signs: the smallest and largest quants (Q8_0 -128 and 127,
// Q4_0 / Q5_0 the bytes 0x00 and 0xFF) against activations that quantize to +-127 in runs of
// 16, 32 and 64, one run in three negative (so that the blocks' sums do not cancel): the decode
// products' offsets times the activation sum, and the tiles' signed products, at their extremes.
TEST(RowGroups16, MatmulEqualsMatmulOnGgmlRowsAtTheExtremes) {
  const SimdLevel before = simd_level();
  for (GgmlType type : kAllTypes) {
    // (Q4_K / Q5_K: the bytes 0x00 and 0xFF are also the smallest and largest scales and mins.)
    const int64_t n_in = gguf::ggml_type_info(type).block_size == kQK_K ? 1024 : 896, n_out = 32;
    const bool q8 = type == GgmlType::Q8_0;
    const size_t row_bytes = gguf::ggml_row_size(type, n_in);
    const auto low = test::uniform_weights(type, n_in, n_out, q8 ? 0x80 : 0x00, 0.01f, 0.02f);
    const auto high = test::uniform_weights(type, n_in, n_out, q8 ? 0x7F : 0xFF, 0.01f, 0.02f);
    std::vector<uint8_t> ggml(low.size());
    for (int64_t o = 0; o < n_out; ++o)
      std::memcpy(ggml.data() + o * row_bytes, (o % 3 ? high : low).data() + o * row_bytes,
                  row_bytes);
    for (int64_t n_tokens : {1, 3, 16, 20}) {
      std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t i = 0; i < n_in; ++i)
          x[t * n_in + i] = (t % 2 ? 1.0f : -1.0f) * ((i / (16 << (t % 3))) % 3 ? 1.0f : -1.0f);
      expect_matmul_equal(type, ggml, n_in, n_out, x, n_tokens, "extremes");
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The kRowGroups16 tile kernels with each tile instruction computed by plain code: their
// operands (B tiles read from the layout as they lie or unpacked a block at a time, the token
// tiles) and f32 steps give the bits of vec_dot on the ggml rows, the groups split among 1 and 2
// threads.
TEST(RowGroups16, EmulatedTilesGiveTheBitsOfVecDot) {
  if (cpu_simd_level() < SimdLevel::kAvx512 || !__builtin_cpu_supports("avx512vbmi"))
    GTEST_SKIP() << "the AMX kernels' vector code needs AVX-512 and AVX512-VBMI";
  std::mt19937 rng(19);
  EXPECT_EQ(amx::emulated_gemm_kernels_row_groups16(static_cast<uint32_t>(GgmlType::Q4_1)),
            nullptr);
  for (GgmlType type : kTypes) {
    const GemmKernels* tiles = amx::emulated_gemm_kernels_row_groups16(static_cast<uint32_t>(type));
    ASSERT_NE(tiles, nullptr) << gguf::ggml_type_info(type).name;
    for (int64_t n_in : {32, 512, 1184}) {
      for (int64_t n_out : {16, 48}) {
        const auto ggml = test::random_weights(type, n_in, n_out, rng);
        std::vector<uint8_t> arranged = ggml;
        to_layout(type, kLayout, arranged.data(), n_in, n_out);
        for (int64_t n_tokens : {1, 5, 16, 23}) {
          const test::GemmRows g =
              test::gemm_rows(type, SimdLevel::kAvx512, *tiles, n_in, n_tokens, rng);
          const std::vector<float> want = test::vec_dot_outputs(
              type, SimdLevel::kAvx512, ggml.data(), n_in, n_out, g, n_tokens);
          for (int threads : {1, 2}) {
            const std::vector<float> got = test::gemm_outputs(type, *tiles, arranged.data(), n_in,
                                                              n_out, g, n_tokens, threads);
            EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                << gguf::ggml_type_info(type).name << " n_in=" << n_in << " n_out=" << n_out
                << " n_tokens=" << n_tokens << " threads=" << threads;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace gengyun::kernels
