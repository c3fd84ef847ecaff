// `gengyun bench --embed N`: embeddings of N short inputs through an embedding model's batching
// engine (all submitted at once, as one /v1/embeddings request of N inputs is), the figure
// bench/peer/embeddings.sh compares with llama.cpp's embedding context.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gengyun/result.h"

namespace gengyun::bench {

/// What to measure.
struct EmbedBenchOptions {
  int n_inputs = 64;  ///< inputs per run, submitted together
  int n_tokens = 16;  ///< random token ids per input, before the EOS the model may append
  int n_threads = 0;  ///< 0: one per physical core
  int repeats = 3;    ///< runs; the median counts
  uint64_t seed = 1;  ///< seed of the random token ids
  bool mmap = false;  ///< ModelOptions::mmap
};

/// What was measured.
struct EmbedBenchResult {
  std::string model;  ///< the path as given
  int threads = 0;
  int n_inputs = 0;
  int n_tokens = 0;  ///< per input as computed (EOS included when the model appends it)
  int repeats = 0;
  std::string kernels;      ///< kernels::simd_level_name
  std::string kernels_description;  ///< kernels::simd_level_description
  double load_seconds = 0;  ///< LoadedModel::load
  double inputs_per_s = 0;  ///< median over the runs: n_inputs / (first submit to last vector)
  double tokens_per_s = 0;  ///< inputs_per_s * n_tokens
  std::vector<double> runs_inputs_per_s;  ///< one per run, in run order
  int64_t steps_per_run = 0;              ///< engine steps (forward passes) of the last run
};

/// Loads the embedding model at `path` (steps of n_inputs * n_tokens tokens, n_inputs
/// sequences: one pass for all inputs when they fit), embeds one input to warm up, then
/// `repeats` times submits n_inputs inputs of n_tokens random ids each (uniform over the
/// vocabulary, LoadedModel::embedding_input applied) and waits for every vector. Errors: options
/// out of range (each count >= 1, n_tokens below the context), the model's load errors, a
/// model that is not an embedding model, a refused or failed input.
Result<EmbedBenchResult> run_embed_bench(const std::string& path, const EmbedBenchOptions& options);

/// One JSON object on one line (the fields of EmbedBenchResult by their names), newline-ended.
std::string embed_bench_json(const EmbedBenchResult& result);

/// A few lines for people.
std::string embed_bench_text(const EmbedBenchResult& result);

}  // namespace gengyun::bench
