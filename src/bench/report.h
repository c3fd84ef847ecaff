// Printing a BenchResult: one JSON object for scripts (`gengyun bench --json`), a few lines for
// people.
#pragma once

#include <string>

#include "bench/run.h"

namespace gengyun::bench {

/// The result as one JSON object on one line with a trailing newline. Keys: model, arch,
/// cpu_model, threads, n_prompt, n_gen, repeats, kv_cache_type, prefill_tokens_per_s, decode_tokens_per_s,
/// prefill_runs_tokens_per_s, decode_runs_tokens_per_s (arrays), weight_bytes_per_token,
/// read_bandwidth_gb_per_s, decode_bandwidth_utilization.
std::string bench_result_json(const BenchResult& result);

/// The result as a few aligned lines for people.
std::string bench_result_text(const BenchResult& result);

}  // namespace gengyun::bench
