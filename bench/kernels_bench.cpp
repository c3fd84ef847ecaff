// Micro-benchmarks of the tensor kernels (Google Benchmark):
//  - Decode/: matrix-vector products per weight type and SIMD level, reported as weight bytes
//    streamed per second (every benchmark names the level it ran at in its label). The weights
//    are a few MiB, so these are the kernels' own throughput, mostly from cache.
//  - Streamed/: the same products at the active level (GENGYUN_KERNELS's, named in the label)
//    on every physical core, cycling through copies of the matrix that fill 1 GiB of anonymous
//    memory with huge pages (as the model's weights are loaded), so every byte comes from
//    DRAM; `of_read_bandwidth` is the share of the read bandwidth the same threads reach
//    summing a plain array (bench/machine.h), measured once at start. Issue 7's target: >= 0.9
//    for every type and shape.
//  - Prefill512/ and Batch2/ .. Batch128/: products of several tokens (512; one step of 2, 4, 8
//    or 16 batched streams; 32, 64, 128 around the kernels' handovers), reported as multiply-adds
//    per second; the types with AMX tile kernels at kAvx2, kAvx512 and kAmx side by side. One
//    thread, weights from cache.
//  - StreamedBatch2/, StreamedBatch4/, StreamedBatch16/: one step of 2, 4 or 16 batched streams
//    as Streamed/ runs decode (weights from DRAM, every physical core), at kAvx2, kAvx512 and
//    kAmx: what the batching engine's step sees; Qwen2.5-0.5B's ffn_down and ffn_gate / ffn_up
//    shapes, and Qwen2.5-1.5B's (rows of 8960 and 1536: whole K-quant super-blocks).
//   build/kernels_bench --benchmark_filter=Streamed
//   build/kernels_bench --benchmark_filter='Prefill512/.*/avx2'
//   build/kernels_bench --benchmark_filter='Prefill512|Batch16'
//   build/kernels_bench --benchmark_filter='StreamedBatch(2|4|16)'
//  - ArrangeActivations/: the rearrangement of one Q8_K activation row for the decode products
//    of Q4_K / Q6_K rows in kBlockGroups16 (matmul does it once per product and token), the
//    scalar version of weight_layout.h and kAvx512's (type_kernels' arrange_groups16);
//    rows of 2048 (a Qwen3-30B-A3B expert's ffn_gate / ffn_up) and 4864 elements.
//   build/kernels_bench --benchmark_filter=ArrangeActivations
//  - AmxFloor/ (bench/amx_floor.cpp): the tile work and the epilogue of one block of the
//    AMX kernels of the 32-element types, apart and together.
//   build/kernels_bench --benchmark_filter=AmxFloor
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/machine.h"
#include "gguf/ggml_type.h"
#include "kernels/float16.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/simd_level.h"
#include "kernels/thread_pool.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_layout.h"

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
  kernels::WeightLayout layout = kernels::WeightLayout::kGgml;
};

// Random weights of m in m.layout.
std::vector<uint8_t> random_weights(const Matmul& m) {
  std::vector<uint8_t> w = random_weights(m.type, m.n_in, m.n_out);
  kernels::to_layout(m.type, m.layout, w.data(), m.n_in, m.n_out);
  return w;
}

void run(benchmark::State& state, Matmul m, kernels::SimdLevel level, int threads) {
  const kernels::SimdLevel before = kernels::simd_level();
  if (!kernels::set_simd_level(level).ok()) {
    state.SkipWithError("SIMD level not supported by this CPU");
    return;
  }
  const std::vector<uint8_t> w = random_weights(m);
  std::vector<float> x(static_cast<size_t>(m.n_in * m.n_tokens), 0.5f);
  std::vector<float> y(static_cast<size_t>(m.n_out * m.n_tokens));
  kernels::ThreadPool pool(threads);
  for (auto _ : state) {
    kernels::matmul(m.type, m.layout, w.data(), m.n_in, m.n_out, x.data(), y.data(), m.n_tokens,
                    pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(w.size()));
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(m.n_in * m.n_out * m.n_tokens) *
                                                    static_cast<double>(state.iterations()) / 1e9,
                                                benchmark::Counter::kIsRate);
  state.SetLabel(std::string(kernels::simd_level_name(level)));
  (void)kernels::set_simd_level(before);
}

// Read bandwidth of `threads` threads on a plain 1 GiB array, bytes per second; measured once.
double plain_read_bandwidth(int threads) {
  static std::map<int, double> measured;
  auto it = measured.find(threads);
  if (it != measured.end()) return it->second;
  kernels::ThreadPool pool(threads);
  const auto bandwidth = gengyun::bench::measure_read_bandwidth(size_t{1} << 30, 5, pool);
  return measured[threads] = bandwidth.ok() ? bandwidth.value() : 0;
}

// Weights of `bytes` in anonymous memory advised to use huge pages, as the model loads them.
class HugePageBuffer {
 public:
  explicit HugePageBuffer(size_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    madvise(p, bytes, MADV_HUGEPAGE);
    data_ = static_cast<uint8_t*>(p);
  }
  ~HugePageBuffer() {
    if (data_ != nullptr) munmap(data_, bytes_);
  }
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  uint8_t* data() const { return data_; }

 private:
  size_t bytes_;
  uint8_t* data_ = nullptr;
};

// m at `level` (kAvx512 and kAmx for the batched ones) with m.n_tokens tokens.
void run_streamed(benchmark::State& state, Matmul m, kernels::SimdLevel level, int threads) {
  const kernels::SimdLevel before = kernels::simd_level();
  if (!kernels::set_simd_level(level).ok()) {
    state.SkipWithError("SIMD level not supported by this CPU");
    return;
  }
  const double plain = plain_read_bandwidth(threads);
  const std::vector<uint8_t> w = random_weights(m);
  const size_t copies = std::max<size_t>(2, (size_t{1} << 30) / w.size());
  HugePageBuffer buffer(copies * w.size());
  if (buffer.data() == nullptr || plain <= 0) {
    state.SkipWithError("cannot allocate the weights or measure the read bandwidth");
    return;
  }
  for (size_t c = 0; c < copies; ++c) std::memcpy(buffer.data() + c * w.size(), w.data(), w.size());
  std::vector<float> x(static_cast<size_t>(m.n_in * m.n_tokens), 0.5f);
  std::vector<float> y(static_cast<size_t>(m.n_out * m.n_tokens));
  kernels::ThreadPool pool(threads);
  size_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    kernels::matmul(m.type, m.layout, buffer.data() + next * w.size(), m.n_in, m.n_out, x.data(),
                    y.data(), m.n_tokens, pool);
    benchmark::DoNotOptimize(y.data());
    next = next + 1 == copies ? 0 : next + 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double bytes = static_cast<double>(state.iterations()) * static_cast<double>(w.size());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  // A plain ratio (no unit): bytes per second of the product over those of the plain array.
  state.counters["of_read_bandwidth"] = bytes / seconds / plain;
  state.counters["GMAC/s"] = static_cast<double>(m.n_in * m.n_out * m.n_tokens) *
                             static_cast<double>(state.iterations()) / seconds / 1e9;
  state.SetLabel(std::string(kernels::simd_level_name(level)));
  (void)kernels::set_simd_level(before);
}

// One Q8_K activation row of n elements (random bytes: the rearrangement only moves them)
// rearranged by `arrange`, reported as row bytes per second.
void run_arrange(benchmark::State& state, kernels::ArrangeRowFn arrange, int64_t n) {
  std::mt19937 rng(2);
  std::vector<uint8_t> row(gengyun::gguf::ggml_row_size(GgmlType::Q8_K, n));
  for (auto& b : row) b = static_cast<uint8_t>(rng());
  std::vector<uint8_t> arranged(row.size());
  for (auto _ : state) {
    arrange(row.data(), arranged.data(), n);
    benchmark::DoNotOptimize(arranged.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * row.size()));
}

void register_all() {
  // The level Streamed/ and the one-level benchmarks run at: GENGYUN_KERNELS's where it is set
  // (kernels::simd_level()), the CPU's best otherwise.
  const kernels::SimdLevel active = kernels::simd_level();
  const GgmlType types[] = {GgmlType::F32,  GgmlType::F16,   GgmlType::BF16, GgmlType::Q8_0,
                            GgmlType::Q4_0, GgmlType::Q4_1,  GgmlType::Q5_0, GgmlType::Q5_1,
                            GgmlType::Q2_K, GgmlType::Q3_K,  GgmlType::Q4_K, GgmlType::Q5_K,
                            GgmlType::Q6_K, GgmlType::IQ4_NL};
  // kAmx decodes with kAvx512's vec_dot: no decode figures of its own.
  const kernels::SimdLevel decode_levels[] = {
      kernels::SimdLevel::kScalar, kernels::SimdLevel::kAvx2, kernels::SimdLevel::kAvx512};
  for (GgmlType type : types) {
    for (kernels::WeightLayout layout :
         {kernels::WeightLayout::kGgml, kernels::WeightLayout::kBlockGroups16,
          kernels::WeightLayout::kRowGroups16}) {
      if (!kernels::layout_supported(type, layout, 4864, 896)) continue;
      // kRowGroups16 at the levels with products of their own for it (below them matmul converts
      // rows back): its decode product (Q8_0 from kAvx512 on, but not on AMD; the others at kAmx),
      // its figures at the lowest such level; its batched kernels (Q8_0 from kAvx512 on, the
      // others at kAmx).
      const bool row_groups = layout == kernels::WeightLayout::kRowGroups16;
      auto row_groups_at = [&](kernels::SimdLevel level, bool batched) {
        if (level > kernels::cpu_simd_level()) return false;
        const kernels::TypeKernels& k = kernels::type_kernels(type, level);
        return batched ? k.gemm_row_groups16 != nullptr : k.vec_dot_row_groups16 != nullptr;
      };
      std::vector<kernels::SimdLevel> levels(std::begin(decode_levels), std::end(decode_levels));
      if (row_groups) {
        levels.clear();
        for (kernels::SimdLevel level : {kernels::SimdLevel::kAvx512, kernels::SimdLevel::kAmx})
          if (levels.empty() && row_groups_at(level, false)) levels.push_back(level);
        if (levels.empty() && !row_groups_at(kernels::SimdLevel::kAvx512, true) &&
            !row_groups_at(kernels::SimdLevel::kAmx, true))
          continue;
      }
      // Shapes whose rows hold whole blocks of the type (the K-quants: whole super-blocks) and
      // that the layout takes.
      auto fits = [&](int64_t n_in) {
        return n_in % gengyun::gguf::ggml_type_info(type).block_size == 0 &&
               kernels::layout_supported(type, layout, n_in, 896);
      };
      const std::string name = std::string(gengyun::gguf::ggml_type_info(type).name) +
                               (layout == kernels::WeightLayout::kGgml ? ""
                                : row_groups                           ? "_row_groups16"
                                                                       : "_groups16");
      for (kernels::SimdLevel level : levels) {
        const std::string suffix = name + "/" + std::string(kernels::simd_level_name(level));
        // Qwen2.5-0.5B's ffn_down: 4864 inputs (a multiple of every block size), 896 outputs;
        // its attn_q, whose 0.5-1 MiB stay in L2: the kernel's own speed.
        benchmark::RegisterBenchmark(("Decode/4864x896/" + suffix).c_str(), run,
                                     Matmul{type, 4864, 896, 1, layout}, level, 1);
        if (fits(896))
          benchmark::RegisterBenchmark(("Decode/896x896/" + suffix).c_str(), run,
                                       Matmul{type, 896, 896, 1, layout}, level, 1);
      }
      // Qwen2.5-0.5B's matrices (n_in x n_out): attn_q / attn_output, ffn_gate / ffn_up,
      // ffn_down and the output matrix; Qwen2.5-1.5B's ffn_down, ffn_gate / ffn_up and attn_q /
      // attn_output. kRowGroups16 where the active level has its decode product (above).
      const int threads = gengyun::kernels::physical_core_count();
      for (auto [n_in, n_out] : {std::pair<int64_t, int64_t>{896, 896},
                                 {896, 4864},
                                 {4864, 896},
                                 {896, 151936},
                                 {8960, 1536},
                                 {1536, 8960},
                                 {1536, 1536}})
        if (fits(n_in) && (!row_groups || row_groups_at(active, false)))
          benchmark::RegisterBenchmark(
              ("Streamed/" + std::to_string(n_in) + "x" + std::to_string(n_out) + "/" + name +
               "/threads:" + std::to_string(threads))
                  .c_str(),
              run_streamed, Matmul{type, n_in, n_out, 1, layout}, active, threads)
              ->UseRealTime();
      if (kernels::amx::gemm_kernels(static_cast<uint32_t>(type)) == nullptr) {
        benchmark::RegisterBenchmark(("Prefill512/4864x896/" + name).c_str(), run,
                                     Matmul{type, 4864, 896, 512, layout}, active, 1)
            ->Unit(benchmark::kMillisecond);
      } else {
        for (kernels::SimdLevel level :
             {kernels::SimdLevel::kAvx2, kernels::SimdLevel::kAvx512, kernels::SimdLevel::kAmx}) {
          if (row_groups && !row_groups_at(level, true)) continue;
          const std::string suffix = name + "/" + std::string(kernels::simd_level_name(level));
          benchmark::RegisterBenchmark(("Prefill512/4864x896/" + suffix).c_str(), run,
                                       Matmul{type, 4864, 896, 512, layout}, level, 1)
              ->Unit(benchmark::kMillisecond);
          // ffn_gate / ffn_up: rows of 896 (28 blocks), most of a layer's multiply-adds.
          if (fits(896))
            benchmark::RegisterBenchmark(("Prefill512/896x4864/" + suffix).c_str(), run,
                                         Matmul{type, 896, 4864, 512, layout}, level, 1)
                ->Unit(benchmark::kMillisecond);
          // Steps of 2, 4, 8 and 16 batched streams (where matmul's choice between the decode
          // product and the batched kernels lies, and the batching engine at 16), and 32, 64 and
          // 128 tokens (where kernels without a pack hand over to the packs'); rows of 896: a
          // last group of 12 in kBlockGroups16.
          for (int64_t n_tokens : {2, 4, 8, 16, 32, 64, 128})
            for (auto [n_in, n_out] : {std::pair<int64_t, int64_t>{4864, 896}, {896, 4864}})
              if (fits(n_in))
                benchmark::RegisterBenchmark(
                    ("Batch" + std::to_string(n_tokens) + "/" + std::to_string(n_in) + "x" +
                     std::to_string(n_out) + "/" + suffix)
                        .c_str(),
                    run, Matmul{type, n_in, n_out, n_tokens, layout}, level, 1)
                    ->Unit(benchmark::kMicrosecond);
          // One step of 2, 4 and 16 streams as the engine runs it: weights from DRAM, every core.
          for (int64_t n_tokens : {2, 4, 16})
            for (auto [n_in, n_out] :
                 {std::pair<int64_t, int64_t>{4864, 896}, {896, 4864}, {8960, 1536}, {1536, 8960}})
              if (fits(n_in))
                benchmark::RegisterBenchmark(
                    ("StreamedBatch" + std::to_string(n_tokens) + "/" + std::to_string(n_in) + "x" +
                     std::to_string(n_out) + "/" + suffix + "/threads:" + std::to_string(threads))
                        .c_str(),
                    run_streamed, Matmul{type, n_in, n_out, n_tokens, layout}, level, threads)
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
        }
      }
      // The same at the AVX2 level (machines without AVX-512), whatever the CPU has above it
      // (the types with batched kernels at every level: in the loop above).
      if (!row_groups && kernels::amx::gemm_kernels(static_cast<uint32_t>(type)) == nullptr)
        benchmark::RegisterBenchmark(("Prefill512/4864x896/" + name + "/avx2").c_str(), run,
                                     Matmul{type, 4864, 896, 512, layout},
                                     kernels::SimdLevel::kAvx2, 1)
            ->Unit(benchmark::kMillisecond);
    }
  }
  for (int threads : {1, 2})
    benchmark::RegisterBenchmark(
        ("Decode/896x4864/q8_0/threads:" + std::to_string(threads)).c_str(), run,
        Matmul{GgmlType::Q8_0, 896, 4864, 1}, active, threads);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K}) {
    const kernels::ArrangeRowFn scalar = type == GgmlType::Q4_K
                                             ? kernels::q8_K_row_to_block_groups16
                                             : kernels::q8_K_row_to_q6_K_groups16;
    // kAmx arranges with kAvx512's function.
    const bool avx512 = kernels::cpu_simd_level() >= kernels::SimdLevel::kAvx512;
    const std::string name = std::string(gengyun::gguf::ggml_type_info(type).name) + "_groups16";
    for (int64_t n : {2048, 4864}) {
      const std::string prefix = "ArrangeActivations/" + std::to_string(n) + "/" + name + "/";
      benchmark::RegisterBenchmark((prefix + "scalar").c_str(), run_arrange, scalar, n);
      if (avx512)
        benchmark::RegisterBenchmark(
            (prefix + "avx512").c_str(), run_arrange,
            kernels::type_kernels(type, kernels::SimdLevel::kAvx512).arrange_groups16, n);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
