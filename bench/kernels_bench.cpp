// Micro-benchmarks of the tensor kernels (Google Benchmark): decode-shaped matrix-vector
// products per weight type and SIMD level, reported as weight bytes streamed per second, and
// prefill-shaped batched products, reported as multiply-adds per second. The weights of one
// benchmark are a few MiB, so the figures are the kernels' own throughput, mostly from cache;
// compare the decode figures with the machine's memory read bandwidth. The batched products of
// the types with AMX tile kernels also run at kAvx512 and kAmx side by side, prefill-shaped
// (512 tokens) and as one step of 16 batched streams (16 tokens).
//   build-x/kernels_bench --benchmark_filter=Decode
//   build-x/kernels_bench --benchmark_filter='Prefill512|Batch16'
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/float16.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/simd_level.h"
#include "kernels/thread_pool.h"

namespace {

using gengyun::gguf::GgmlType;
namespace kernels = gengyun::kernels;

// Random quants with small finite f16 scales (offsets of the d / dmin fields per type).
std::vector<uint8_t> random_weights(GgmlType type, int64_t n_in, int64_t n_out) {
  std::mt19937 rng(1);
  std::vector<uint8_t> w(gengyun::gguf::ggml_row_size(type, n_in) * static_cast<size_t>(n_out));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const auto info = gengyun::gguf::ggml_type_info(type);
  std::vector<size_t> fields;
  switch (type) {
    case GgmlType::Q2_K:
      fields = {80, 82};
      break;
    case GgmlType::Q3_K:
      fields = {108};
      break;
    case GgmlType::Q6_K:
      fields = {208};
      break;
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      fields = {0, 2};
      break;
    default:
      fields = {0};
      break;
  }
  const uint16_t scale = type == GgmlType::F32 ? 0 : kernels::fp32_to_fp16(0.01f);
  if (info.block_size == 1) {
    for (size_t i = 0; i + info.type_size <= w.size(); i += info.type_size) {
      if (type == GgmlType::F32) {
        const float v = 0.01f;
        std::memcpy(w.data() + i, &v, 4);
      } else {
        std::memcpy(w.data() + i, &scale, 2);
      }
    }
    return w;
  }
  for (size_t b = 0; b < w.size() / info.type_size; ++b)
    for (size_t f : fields) std::memcpy(w.data() + b * info.type_size + f, &scale, 2);
  return w;
}

struct Matmul {
  GgmlType type;
  int64_t n_in, n_out, n_tokens;
};

void run(benchmark::State& state, Matmul m, kernels::SimdLevel level, int threads) {
  if (!kernels::set_simd_level(level).ok()) {
    state.SkipWithError("SIMD level not supported by this CPU");
    return;
  }
  const std::vector<uint8_t> w = random_weights(m.type, m.n_in, m.n_out);
  std::vector<float> x(static_cast<size_t>(m.n_in * m.n_tokens), 0.5f);
  std::vector<float> y(static_cast<size_t>(m.n_out * m.n_tokens));
  kernels::ThreadPool pool(threads);
  for (auto _ : state) {
    kernels::matmul(m.type, w.data(), m.n_in, m.n_out, x.data(), y.data(), m.n_tokens, pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(w.size()));
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(m.n_in * m.n_out * m.n_tokens) *
                                                    static_cast<double>(state.iterations()) / 1e9,
                                                benchmark::Counter::kIsRate);
  (void)kernels::set_simd_level(kernels::cpu_simd_level());
}

void register_all() {
  const GgmlType types[] = {GgmlType::F32,  GgmlType::F16,   GgmlType::BF16, GgmlType::Q8_0,
                            GgmlType::Q4_0, GgmlType::Q4_1,  GgmlType::Q5_0, GgmlType::Q5_1,
                            GgmlType::Q2_K, GgmlType::Q3_K,  GgmlType::Q4_K, GgmlType::Q5_K,
                            GgmlType::Q6_K, GgmlType::IQ4_NL};
  // kAmx decodes with kAvx512's vec_dot: no decode figures of its own.
  const kernels::SimdLevel decode_levels[] = {
      kernels::SimdLevel::kScalar, kernels::SimdLevel::kAvx2, kernels::SimdLevel::kAvx512};
  for (GgmlType type : types) {
    const std::string name(gengyun::gguf::ggml_type_info(type).name);
    for (kernels::SimdLevel level : decode_levels) {
      const std::string suffix = name + "/" + std::string(kernels::simd_level_name(level));
      // Qwen2.5-0.5B's ffn_down: 4864 inputs (a multiple of every block size), 896 outputs.
      benchmark::RegisterBenchmark(("Decode/4864x896/" + suffix).c_str(), run,
                                   Matmul{type, 4864, 896, 1}, level, 1);
    }
    if (kernels::amx::gemm_kernels(static_cast<uint32_t>(type)) == nullptr) {
      benchmark::RegisterBenchmark(("Prefill512/4864x896/" + name).c_str(), run,
                                   Matmul{type, 4864, 896, 512}, kernels::cpu_simd_level(), 1)
          ->Unit(benchmark::kMillisecond);
      continue;
    }
    for (kernels::SimdLevel level : {kernels::SimdLevel::kAvx512, kernels::SimdLevel::kAmx}) {
      const std::string suffix = name + "/" + std::string(kernels::simd_level_name(level));
      benchmark::RegisterBenchmark(("Prefill512/4864x896/" + suffix).c_str(), run,
                                   Matmul{type, 4864, 896, 512}, level, 1)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("Batch16/4864x896/" + suffix).c_str(), run,
                                   Matmul{type, 4864, 896, 16}, level, 1)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (int threads : {1, 2})
    benchmark::RegisterBenchmark(
        ("Decode/896x4864/q8_0/threads:" + std::to_string(threads)).c_str(), run,
        Matmul{GgmlType::Q8_0, 896, 4864, 1}, kernels::cpu_simd_level(), threads);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
