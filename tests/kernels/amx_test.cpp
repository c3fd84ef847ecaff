// SimdLevel::kAmx: its tile products give the same bits as the AVX-512 VNNI kernels for every
// output, on ggml's rows and on rows in WeightLayout::kBlockGroups16, and kAvx512
// (set_simd_level or GENGYUN_KERNELS=avx512) turns them off. Skipped, with the reason, where
// the CPU or OS offers no AMX-INT8; the kBlockGroups16 kernels of the 32-element types also run
// with emulated tile instructions wherever the CPU has AVX-512 and AVX512-VBMI.
#include "kernels/amx.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_reference.h"
#include "kernels/activation_rows.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_layout.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

constexpr const char* kNoAmx =
    "this CPU or OS offers no AMX-INT8 (CPUID AMX-TILE/AMX-INT8, XCR0 tile state and the Linux "
    "arch_prctl permission): kAmx is not offered";

// The types with tile kernels.
std::vector<GgmlType> amx_types() {
  std::vector<GgmlType> out;
  for (GgmlType type : test::kernel_types())
    if (amx::gemm_kernels(static_cast<uint32_t>(type)) != nullptr) out.push_back(type);
  return out;
}

// y = matmul(w, x) at `level` with `threads` threads.
std::vector<float> run_matmul(SimdLevel level, GgmlType type, const std::vector<uint8_t>& w,
                              const std::vector<float>& x, int64_t n_in, int64_t n_out,
                              int64_t n_tokens, int threads) {
  EXPECT_TRUE(set_simd_level(level).ok());
  ThreadPool pool(threads);
  std::vector<float> y(static_cast<size_t>(n_tokens * n_out), NAN);
  matmul(type, w.data(), n_in, n_out, x.data(), y.data(), n_tokens, pool);
  return y;
}

TEST(Amx, TileProductsAreBitIdenticalToTheAvx512Level) {
  if (cpu_simd_level() < SimdLevel::kAmx) GTEST_SKIP() << kNoAmx;
  const std::vector<GgmlType> types = amx_types();
  for (GgmlType type :
       {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_K, GgmlType::Q6_K})
    EXPECT_NE(std::find(types.begin(), types.end(), type), types.end())
        << gguf::ggml_type_info(type).name << " has no tile kernels";
  const SimdLevel before = simd_level();
  std::mt19937 rng(11);
  std::normal_distribution<float> value(0.0f, 1.0f);
  struct Shape {
    int64_t n_out, n_tokens;
  };
  // Row counts that fill no group of 16 evenly (and one that does); token counts below one
  // tile (the VNNI kernels run them), one full tile, and several tiles with a padded tail.
  const Shape shapes[] = {{37, 4},  {16, 5},  {50, 9},  {33, 15}, {37, 16},
                          {70, 17}, {21, 23}, {37, 31}, {40, 40}};
  for (GgmlType type : types) {
    const int64_t block = gguf::ggml_type_info(type).block_size;
    // Block counts below, at and above the 16 partial sums of the 32-element types.
    const std::vector<int64_t> lengths = block == 32 ? std::vector<int64_t>{32, 32 * 16, 32 * 37}
                                                     : std::vector<int64_t>{256, 768, 1280};
    for (int64_t n_in : lengths) {
      for (const Shape& s : shapes) {
        const auto w = test::random_weights(type, n_in, s.n_out, rng);
        std::vector<float> x(static_cast<size_t>(s.n_tokens * n_in));
        for (auto& v : x) v = value(rng);
        for (int threads : {1, 2}) {
          const auto vnni =
              run_matmul(SimdLevel::kAvx512, type, w, x, n_in, s.n_out, s.n_tokens, threads);
          const auto tiles =
              run_matmul(SimdLevel::kAmx, type, w, x, n_in, s.n_out, s.n_tokens, threads);
          EXPECT_EQ(std::memcmp(vnni.data(), tiles.data(), vnni.size() * sizeof(float)), 0)
              << gguf::ggml_type_info(type).name << " n_in=" << n_in << " n_out=" << s.n_out
              << " n_tokens=" << s.n_tokens << " threads=" << threads;
        }
      }
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The kBlockGroups16 types, shapes and thread counts of the tests below: row counts that fill
// no group of 16 evenly (and one that does), rows of 1, 3, 16 and 37 blocks (a last group of 5),
// token counts of one tile and of several with a padded tail.
const GgmlType kGroups16Types[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0,
                                   GgmlType::Q4_1, GgmlType::Q5_1, GgmlType::IQ4_NL};
const int64_t kGroups16Lengths[] = {32, 96, 512, 32 * 37};
const int64_t kGroups16Rows[] = {5, 16, 37, 50};
const int64_t kGroups16Tokens[] = {16, 17, 23, 40};
// On the hardware also calls past amx::kMaxTokensWeightsAsB, whose rows go to the tiles as the A
// operand: the last call as B, and two as A (with a padded tail); and calls of 4 and 9 tokens,
// which the K-quants take to the tiles as one padded tile (the others to the VNNI kernels).
const int64_t kGroups16HardwareTokens[] = {
    4, 9, 16, 17, 23, 40, amx::kMaxTokensWeightsAsB, amx::kMaxTokensWeightsAsB + 1, 150};

// The K-quants' rows on the hardware, whose packs keep the layout's order of quants (and the
// activation tiles follow it): 1, 3 and 5 super-blocks (Q4_K's groups of 2: a last group of one).
const int64_t kKGroups16Lengths[] = {256, 768, 1280};

TEST(Amx, Groups16TileProductsAreBitIdenticalToTheAvx512Level) {
  if (cpu_simd_level() < SimdLevel::kAmx) GTEST_SKIP() << kNoAmx;
  const SimdLevel before = simd_level();
  std::mt19937 rng(12);
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_1,
                        GgmlType::Q5_1, GgmlType::IQ4_NL, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const bool k_quant = gguf::ggml_type_info(type).block_size == 256;
    for (int64_t n_in : k_quant ? std::span<const int64_t>(kKGroups16Lengths)
                                : std::span<const int64_t>(kGroups16Lengths)) {
      for (int64_t n_out : kGroups16Rows) {
        auto w = test::random_weights(type, n_in, n_out, rng);
        to_layout(type, WeightLayout::kBlockGroups16, w.data(), n_in, n_out);
        for (int64_t n_tokens : kGroups16HardwareTokens) {
          std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
          for (auto& v : x) v = value(rng);
          for (int threads : {1, 2}) {
            std::vector<float> y[2];
            for (int i = 0; i < 2; ++i) {
              ASSERT_TRUE(set_simd_level(i == 0 ? SimdLevel::kAvx512 : SimdLevel::kAmx).ok());
              ThreadPool pool(threads);
              y[i].assign(static_cast<size_t>(n_tokens * n_out), NAN);
              matmul(type, WeightLayout::kBlockGroups16, w.data(), n_in, n_out, x.data(),
                     y[i].data(), n_tokens, pool);
            }
            EXPECT_EQ(std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float)), 0)
                << gguf::ggml_type_info(type).name << " n_in=" << n_in << " n_out=" << n_out
                << " n_tokens=" << n_tokens << " threads=" << threads;
          }
        }
      }
    }
  }
  ASSERT_TRUE(set_simd_level(before).ok());
}

// The kBlockGroups16 tile kernels with each tile instruction computed by plain code: their
// operands (the B tiles transposed out of the layout, the token tiles, C token-major) and f32
// steps give the bits of the VNNI kernels and of vec_dot on the ggml rows, the rows split among
// 1 and 2 threads as matmul splits them.
TEST(Amx, EmulatedGroups16TilesGiveTheVnniBits) {
  if (cpu_simd_level() < SimdLevel::kAvx512 || !__builtin_cpu_supports("avx512vbmi"))
    GTEST_SKIP() << "the AMX kernels' vector code needs AVX-512 and AVX512-VBMI";
  std::mt19937 rng(13);
  for (GgmlType type : kGroups16Types) {
    const auto id = static_cast<uint32_t>(type);
    const GemmKernels* vnni = avx512::gemm_kernels_groups16(id);
    const GemmKernels* tiles = amx::emulated_gemm_kernels_groups16(id);
    ASSERT_NE(tiles, nullptr) << gguf::ggml_type_info(type).name;
    EXPECT_EQ(tiles->prepare, amx::gemm_kernels_groups16(id)->prepare);
    for (int64_t n_in : kGroups16Lengths) {
      for (int64_t n_out : kGroups16Rows) {
        const auto ggml = test::random_weights(type, n_in, n_out, rng);
        std::vector<uint8_t> arranged = ggml;
        to_layout(type, WeightLayout::kBlockGroups16, arranged.data(), n_in, n_out);
        for (int64_t n_tokens : kGroups16Tokens) {
          const test::GemmRows g =
              test::gemm_rows(type, SimdLevel::kAvx512, *tiles, n_in, n_tokens, rng);
          const std::vector<float> want = test::vec_dot_outputs(
              type, SimdLevel::kAvx512, ggml.data(), n_in, n_out, g, n_tokens);
          for (int threads : {1, 2}) {
            std::vector<float> y[2];
            for (int i = 0; i < 2; ++i)
              y[i] = test::gemm_outputs(type, i == 0 ? *vnni : *tiles, arranged.data(), n_in,
                                        n_out, g, n_tokens, threads);
            const std::string where =
                std::string(gguf::ggml_type_info(type).name) + " n_in=" + std::to_string(n_in) +
                " n_out=" + std::to_string(n_out) + " n_tokens=" + std::to_string(n_tokens) +
                " threads=" + std::to_string(threads);
            EXPECT_EQ(std::memcmp(want.data(), y[0].data(), want.size() * sizeof(float)), 0)
                << "VNNI against vec_dot: " << where;
            EXPECT_EQ(std::memcmp(want.data(), y[1].data(), want.size() * sizeof(float)), 0)
                << "emulated tiles against vec_dot: " << where;
          }
        }
      }
    }
  }
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K})
    EXPECT_EQ(amx::emulated_gemm_kernels_groups16(static_cast<uint32_t>(type)), nullptr);
}

TEST(Amx, LevelServesTileProductsAndAvx512TurnsThemOff) {
  if (cpu_simd_level() < SimdLevel::kAmx) GTEST_SKIP() << kNoAmx;
  EXPECT_TRUE(amx_int8_usable());
  const SimdLevel before = simd_level();
  for (GgmlType type : test::kernel_types()) {
    const auto id = static_cast<uint32_t>(type);
    const TypeKernels& vnni = type_kernels(type, SimdLevel::kAvx512);
    const TypeKernels& tiles = type_kernels(type, SimdLevel::kAmx);
    const std::string_view name = gguf::ggml_type_info(type).name;
    EXPECT_EQ(tiles.vec_dot, vnni.vec_dot) << name;
    EXPECT_EQ(tiles.quantize_activations, vnni.quantize_activations) << name;
    EXPECT_EQ(vnni.gemm, avx512::gemm_kernels(id)) << name;
    EXPECT_EQ(tiles.gemm, amx::gemm_kernels(id) != nullptr ? amx::gemm_kernels(id) : vnni.gemm)
        << name;
  }
  ASSERT_TRUE(set_simd_level(SimdLevel::kAvx512).ok());
  EXPECT_EQ(type_kernels(GgmlType::Q8_0).gemm,
            avx512::gemm_kernels(static_cast<uint32_t>(GgmlType::Q8_0)));
  ASSERT_TRUE(set_simd_level(SimdLevel::kAmx).ok());
  EXPECT_EQ(type_kernels(GgmlType::Q8_0).gemm,
            amx::gemm_kernels(static_cast<uint32_t>(GgmlType::Q8_0)));
  ASSERT_TRUE(set_simd_level(before).ok());
}

// GENGYUN_KERNELS is read once, at a process's first kernel lookup: ctest runs this test in a
// process of its own with GENGYUN_KERNELS=avx512 (kernels_env_avx512, tests/CMakeLists.txt).
TEST(KernelsEnvironment, Avx512TurnsAmxOff) {
  const char* env = std::getenv("GENGYUN_KERNELS");
  if (env == nullptr || std::string_view(env) != "avx512")
    GTEST_SKIP() << "needs GENGYUN_KERNELS=avx512; ctest runs it so as kernels_env_avx512";
  // A CPU without AVX-512 falls back to its best level (with a warning).
  const SimdLevel expected = std::min(SimdLevel::kAvx512, cpu_simd_level());
  EXPECT_EQ(simd_level(), expected);
  EXPECT_EQ(type_kernels(GgmlType::Q4_K).gemm, type_kernels(GgmlType::Q4_K, expected).gemm);
  if (cpu_simd_level() == SimdLevel::kAmx) {
    EXPECT_NE(type_kernels(GgmlType::Q4_K).gemm,
              amx::gemm_kernels(static_cast<uint32_t>(GgmlType::Q4_K)));
  }
}

}  // namespace
}  // namespace gengyun::kernels
