#include "bench/run.h"

#include <algorithm>
#include <memory>
#include <random>

#include "bench/machine.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "util/clock.h"

namespace gengyun::bench {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double positive_seconds_since(int64_t start_us) { return std::max(seconds_since(start_us), 1e-9); }

int32_t argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Result<void> check_options(const BenchOptions& o) {
  if (o.n_prompt < 1) return make_error("prompt length must be at least 1 token, not " + std::to_string(o.n_prompt));
  if (o.n_gen < 1) return make_error("tokens to generate must be at least 1, not " + std::to_string(o.n_gen));
  if (o.repeats < 1) return make_error("repeats must be at least 1, not " + std::to_string(o.repeats));
  if (o.n_threads < 0 || o.n_threads > kernels::kMaxThreads)
    return make_error("threads must be 0 (physical cores) to " + std::to_string(kernels::kMaxThreads) + ", not " +
                      std::to_string(o.n_threads));
  if (o.bandwidth_bytes < kMinBandwidthBytes || o.bandwidth_passes < 1)
    return make_error("read bandwidth needs a buffer of at least 1 MiB and at least 1 pass, not " +
                      std::to_string(o.bandwidth_bytes) + " bytes and " + std::to_string(o.bandwidth_passes) +
                      " passes");
  return {};
}

}  // namespace

uint64_t weight_bytes_per_token(const gguf::File& file) {
  const bool tied = file.find_tensor("output.weight") == nullptr;
  uint64_t bytes = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.ne.size() < 2) continue;
    if (t.name == "token_embd.weight" && !tied) continue;
    bytes += t.n_bytes;
  }
  return bytes;
}

Result<BenchResult> run_bench(const std::string& path, const BenchOptions& options,
                              const BenchProgress& progress) {
  if (Result<void> ok = check_options(options); !ok) return ok.error();
  auto opened = gguf::File::open(path);
  if (!opened) return opened.error();
  auto file = std::make_shared<const gguf::File>(std::move(opened).value());
  auto loaded = model::Model::load(file);
  if (!loaded) return loaded.error();
  const model::Model& m = *loaded.value();
  const model::HParams& hp = m.hparams();
  const int64_t n_positions = int64_t{options.n_prompt} + options.n_gen;
  if (n_positions > hp.n_ctx_train)
    return make_error("prompt + generated tokens (" + std::to_string(n_positions) +
                      ") exceed the model's context length (" + std::to_string(hp.n_ctx_train) + ")");
  const int n_ctx = static_cast<int>(n_positions);

  kernels::ThreadPool pool(options.n_threads > 0 ? options.n_threads : kernels::physical_core_count());
  model::Context ctx(m, n_ctx, pool, options.kv_cache_type, options.n_prompt);
  const auto report = [&progress](const std::string& stage) {
    if (progress) progress(stage);
  };

  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int32_t> token_dist(0, hp.n_vocab - 1);
  std::vector<int32_t> prompt(options.n_prompt);
  for (int32_t& t : prompt) t = token_dist(rng);

  std::vector<float> logits;
  report("warm-up");
  if (Result<void> r = ctx.eval(std::span(prompt).first(1), false, logits); !r) return r.error();

  BenchResult result;
  result.model = path;
  result.arch = hp.arch;
  result.cpu_model = cpu_model_name();
  result.threads = pool.size();
  result.n_prompt = options.n_prompt;
  result.n_gen = options.n_gen;
  result.repeats = options.repeats;
  result.kv_cache_type = options.kv_cache_type == KvCacheType::F16 ? "f16" : "f32";
  result.weight_bytes_per_token = weight_bytes_per_token(*file);

  for (int rep = 0; rep < options.repeats; ++rep) {
    const std::string of = " " + std::to_string(rep + 1) + "/" + std::to_string(options.repeats);
    ctx.clear();
    report("prefill" + of);
    int64_t start = monotonic_us();
    if (Result<void> r = ctx.eval(prompt, false, logits); !r) return r.error();
    result.prefill_runs_tokens_per_s.push_back(options.n_prompt / positive_seconds_since(start));

    report("decode" + of);
    start = monotonic_us();
    for (int i = 0; i < options.n_gen; ++i) {
      const int32_t next = argmax(logits);
      if (Result<void> r = ctx.eval(std::span(&next, 1), false, logits); !r) return r.error();
    }
    result.decode_runs_tokens_per_s.push_back(options.n_gen / positive_seconds_since(start));
  }
  result.prefill_tokens_per_s = median(result.prefill_runs_tokens_per_s);
  result.decode_tokens_per_s = median(result.decode_runs_tokens_per_s);

  report("read bandwidth");
  auto bandwidth = measure_read_bandwidth(options.bandwidth_bytes, options.bandwidth_passes, pool);
  if (!bandwidth) return bandwidth.error();
  result.read_bandwidth_gb_per_s = bandwidth.value() / 1e9;
  result.decode_bandwidth_utilization =
      result.decode_tokens_per_s * static_cast<double>(result.weight_bytes_per_token) / bandwidth.value();
  return result;
}

}  // namespace gengyun::bench
