// The batched (prefill) kernels of gemm.h called directly, at every SIMD level the CPU has:
// every output is bit-identical to the level's vec_dot for that token and row, for row counts
// and token counts that fill no register block evenly and rows of several lengths, and with
// the rows split into several multiply calls as matmul's threads split them.
#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel_reference.h"
#include "kernels/activation_rows.h"
#include "kernels/type_kernels.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

// The quantized types every x86 level from AVX2 on has batched kernels for.
const GgmlType kBatchedTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0,   GgmlType::Q4_1, GgmlType::Q5_0,
                                  GgmlType::Q5_1, GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K,
                                  GgmlType::Q4_K, GgmlType::Q5_K,   GgmlType::Q6_K};

// Runs the batched kernels of `type` at `level` over n_tokens random activation rows and
// compares every output with the vec_dot of the same level (memcmp); returns "" or where the
// first difference was.
std::string compare_with_vec_dot(GgmlType type, SimdLevel level, int64_t n_in, int64_t n_out,
                                 int64_t n_tokens, std::mt19937& rng) {
  const TypeKernels& k = type_kernels(type, level);
  const GemmKernels& gemm = *k.gemm;
  const auto w = test::random_weights(type, n_in, n_out, rng);
  const size_t w_row_bytes = gguf::ggml_row_size(type, n_in);
  const size_t a_row_bytes = activation_row_bytes(k.activation_type, n_in);
  const size_t g_row_bytes = gemm.row_bytes(n_in);
  // 64-byte aligned activation and GEMM rows, as matmul hands them over.
  std::vector<uint8_t> a_buffer(a_row_bytes * n_tokens + 64), g_buffer(g_row_bytes * n_tokens + 64);
  auto aligned = [](std::vector<uint8_t>& b) {
    return b.data() + (64 - reinterpret_cast<uintptr_t>(b.data()) % 64) % 64;
  };
  uint8_t* a = aligned(a_buffer);
  uint8_t* rows = aligned(g_buffer);
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_in));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (auto& v : x) v = value(rng);
    k.quantize_activations(x.data(), a + t * a_row_bytes, n_in);
    gemm.prepare(a + t * a_row_bytes, n_in, rows + t * g_row_bytes);
  }
  GemmProblem p;
  p.n_in = n_in;
  p.w = w.data();
  p.w_row_bytes = w_row_bytes;
  p.rows = rows;
  p.row_bytes = g_row_bytes;
  p.n_tokens = n_tokens;
  std::vector<float> y(static_cast<size_t>(n_tokens * n_out), NAN);
  p.y = y.data();
  p.y_stride = n_out;
  // Rows [0, 16) and [16, n_out) in two calls.
  const int64_t split = std::min<int64_t>(16, n_out);
  gemm.multiply(p, 0, split);
  if (split < n_out) gemm.multiply(p, split, n_out);
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::vector<float> want(static_cast<size_t>(n_out));
    k.vec_dot(n_in, w.data(), w_row_bytes, n_out, a + t * a_row_bytes, want.data());
    for (int64_t o = 0; o < n_out; ++o)
      if (std::memcmp(&want[o], &y[t * n_out + o], sizeof(float)) != 0)
        return "t=" + std::to_string(t) + " o=" + std::to_string(o) + " got " +
               std::to_string(y[t * n_out + o]) + " want " + std::to_string(want[o]);
  }
  return "";
}

TEST(Gemm, AvxTwoLevelHasBatchedKernelsForTheQuantizedTypes) {
  if (cpu_simd_level() < SimdLevel::kAvx2) GTEST_SKIP() << "no AVX2";
  for (GgmlType type : kBatchedTypes)
    EXPECT_NE(type_kernels(type, SimdLevel::kAvx2).gemm, nullptr)
        << gguf::ggml_type_info(type).name;
}

TEST(Gemm, EveryOutputIsBitIdenticalToTheLevelsVecDot) {
  std::mt19937 rng(11);
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > cpu_simd_level()) continue;
    for (GgmlType type : kBatchedTypes) {
      if (type_kernels(type, level).gemm == nullptr) continue;
      const bool k_quant = gguf::ggml_type_info(type).block_size == 256;
      const std::vector<int64_t> lengths = k_quant
                                               ? std::vector<int64_t>{256, 512, 256 * 5}
                                               : std::vector<int64_t>{32, 32 * 8, 32 * 17, 32 * 33};
      for (int64_t n_in : lengths)
        for (int64_t n_out : {1, 9, 37})
          for (int64_t n_tokens : {1, 4, 7, 13})
            EXPECT_EQ(compare_with_vec_dot(type, level, n_in, n_out, n_tokens, rng), "")
                << gguf::ggml_type_info(type).name << " " << simd_level_name(level)
                << " n_in=" << n_in << " n_out=" << n_out << " n_tokens=" << n_tokens;
    }
  }
}

}  // namespace
}  // namespace gengyun::kernels
