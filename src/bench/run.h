// `gengyun bench`: prefill and decode speed of one model on this machine, and how much of the
// machine's read bandwidth single-stream decode uses (decode streams every weight matrix once
// per token, so bytes per token times tokens per second cannot exceed the bandwidth).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/kv_cache_type.h"
#include "gengyun/result.h"
#include "gguf/gguf.h"

namespace gengyun::bench {

/// What to measure.
struct BenchOptions {
  int n_prompt = 512;   ///< prompt tokens, evaluated as one batch
  int n_gen = 128;      ///< tokens decoded one at a time after the prompt
  int n_threads = 0;    ///< 0: one per physical core
  int repeats = 3;      ///< fresh prefill + decode runs; medians are reported
  KvCacheType kv_cache_type = KvCacheType::F16;  ///< KV cache element type
  uint64_t seed = 1;    ///< seed of the random prompt token ids
  size_t bandwidth_bytes = size_t{1} << 30;  ///< buffer of the read bandwidth measurement
  int bandwidth_passes = 5;                  ///< its passes (the fastest counts)
};

/// What was measured. Speeds are medians over the repeats.
struct BenchResult {
  std::string model;        ///< the model path as given
  std::string arch;         ///< general.architecture
  std::string cpu_model;    ///< /proc/cpuinfo "model name"
  int threads = 0;
  int n_prompt = 0;
  int n_gen = 0;
  int repeats = 0;
  std::string kv_cache_type;  ///< "f16" or "f32"
  double prefill_tokens_per_s = 0;
  double decode_tokens_per_s = 0;
  std::vector<double> prefill_runs_tokens_per_s;  ///< one per repeat, in run order
  std::vector<double> decode_runs_tokens_per_s;
  uint64_t weight_bytes_per_token = 0;  ///< see weight_bytes_per_token()
  double read_bandwidth_gb_per_s = 0;   ///< 1e9 bytes per second (measure_read_bandwidth)
  /// decode_tokens_per_s * weight_bytes_per_token / read bandwidth: 1 means decode streams
  /// weights as fast as the machine reads memory.
  double decode_bandwidth_utilization = 0;
};

/// Bytes of weights one decoded token reads: every tensor of two or more dimensions (the
/// weight matrices of every layer and the output matrix) except token_embd.weight, whose one
/// row per token is negligible, unless the model has no output.weight and multiplies by
/// token_embd.weight instead (tied embeddings). 1-D tensors (norms, biases) are left out.
uint64_t weight_bytes_per_token(const gguf::File& file);

/// Human-readable progress ("prefill 2/3"), may be empty.
using BenchProgress = std::function<void(std::string_view stage)>;

/// Loads the model at `path`, warms it up (one token, so its pages are in memory), then runs
/// `repeats` times: a cleared context, one prefill of n_prompt random token ids (fixed seed,
/// uniform over the vocabulary) timed as one forward pass (the context's batch is n_prompt
/// tokens), then n_gen decode steps timed together, each feeding back the argmax of the previous logits. Then measures
/// the read bandwidth with the same threads. Errors: n_prompt, n_gen or repeats < 1,
/// n_threads outside [0, kernels::kMaxThreads], bandwidth options that measure_read_bandwidth
/// refuses, n_prompt + n_gen beyond the model's context length, those of gguf::File::open,
/// model::Model::load and measure_read_bandwidth. Memory: the model's KV cache for
/// n_prompt + n_gen positions, activations of n_prompt tokens, bandwidth_bytes.
Result<BenchResult> run_bench(const std::string& path, const BenchOptions& options,
                              const BenchProgress& progress = {});

}  // namespace gengyun::bench
