#include "bench/run.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <random>

#include "bench/machine.h"
#include "gengyun/engine.h"
#include "kernels/simd_level.h"
#include "kernels/thread_pool.h"
#include "model/lora.h"
#include "model/model.h"
#include "util/clock.h"

namespace gengyun::bench {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<double> inter_token_ms(const std::vector<StreamEvent>& events, int64_t first_token_us) {
  std::vector<double> out;
  int64_t last_us = 0;  // the previous event's arrival; 0 before the first
  for (const StreamEvent& e : events) {
    if (e.n_tokens == 0) continue;
    if (last_us == 0) {
      const double shared =
          first_token_us > 0 && e.n_tokens > 1
              ? static_cast<double>(std::max<int64_t>(e.at_us - first_token_us, 0)) / 1e3 /
                    static_cast<double>(e.n_tokens - 1)
              : 0.0;
      out.insert(out.end(), e.n_tokens - 1, shared);
    } else {
      out.insert(out.end(), e.n_tokens,
                 static_cast<double>(e.at_us - last_us) / 1e3 / static_cast<double>(e.n_tokens));
    }
    last_us = e.at_us;
  }
  return out;
}

namespace {

/// A duration of `us` microseconds in seconds, at least 1 ns (so that rates stay finite).
double positive_seconds(int64_t us) { return std::max(us * 1e-6, 1e-9); }

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
  if (!o.lora_paths.empty() && o.parallel < 1)
    return make_error("LoRA adapters are measured with parallel streams (--parallel N)");
  if (o.parallel < 0 || o.parallel > kMaxParallel)
    return make_error("parallel streams must be 0 to " + std::to_string(kMaxParallel) + ", not " +
                      std::to_string(o.parallel));
  if (!(o.usd_per_hour >= 0) || !std::isfinite(o.usd_per_hour))
    return make_error("the price per hour must be a finite number >= 0");
  return {};
}

/// n random token ids, uniform over [0, n_vocab).
std::vector<int32_t> random_prompt(std::mt19937_64& rng, int n, int n_vocab) {
  std::uniform_int_distribution<int32_t> token_dist(0, n_vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(n));
  for (int32_t& t : prompt) t = token_dist(rng);
  return prompt;
}

EngineRequest greedy_request(std::vector<int32_t> prompt, int max_tokens) {
  EngineRequest r;
  r.prompt = std::move(prompt);
  r.params.temperature = 0;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  return r;
}

/// The p-th percentile (nearest rank) of `v`, in the units of v; NaN when empty (no sample: a
/// stream that gave one token has no inter-token gap).
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

/// One stream of the serving measurement.
struct StreamTimes {
  std::unique_ptr<RequestHandle> handle;
  std::vector<StreamEvent> events;  ///< those with tokens, as they came
  bool done = false;
};

/// o.parallel streams, stream i submitted to models[i % models.size()] (which share one engine).
Result<ServingResult> run_serving(const std::vector<LoadedModel*>& models, const BenchOptions& o,
                                  std::mt19937_64& rng) {
  ServingResult out;
  out.parallel = o.parallel;
  std::vector<StreamTimes> streams(static_cast<size_t>(o.parallel));
  std::vector<double> ttft_ms, itl_ms;
  // Shared with the handles' callbacks, which the engine may call until the handles are gone.
  struct Signal {
    std::mutex mutex;
    std::condition_variable ready;
    bool any_ready = false;
  };
  auto signal = std::make_shared<Signal>();
  const int64_t start = monotonic_us();
  for (size_t i = 0; i < streams.size(); ++i) {
    StreamTimes& s = streams[i];
    LoadedModel& model = *models[i % models.size()];
    Submission sub = model.submit(greedy_request(random_prompt(rng, o.n_prompt, model.n_vocab()), o.n_gen));
    if (!sub.handle) return make_error(sub.message);
    s.handle = std::move(sub.handle);
    s.handle->on_ready([signal] {
      std::lock_guard lock(signal->mutex);
      signal->any_ready = true;
      signal->ready.notify_one();
    });
  }
  size_t finished = 0;
  while (finished < streams.size()) {
    {
      std::unique_lock lock(signal->mutex);
      signal->ready.wait(lock, [&] { return signal->any_ready; });
      signal->any_ready = false;
    }
    for (StreamTimes& s : streams) {
      if (s.done) continue;
      while (std::optional<GenerationEvent> e = s.handle->next(0)) {
        const int64_t now = monotonic_us();
        const size_t n = e->token_ids.size();
        if (n > 0) {
          if (s.events.empty()) ttft_ms.push_back((now - start) / 1e3);
          s.events.push_back({now, n});
        }
        if (!e->finished) continue;
        if (!e->error.empty()) return make_error("a stream failed: " + e->error);
        const std::vector<double> gaps = inter_token_ms(s.events, e->times.first_token_us);
        itl_ms.insert(itl_ms.end(), gaps.begin(), gaps.end());
        out.output_tokens += e->usage.completion_tokens;
        s.done = true;
        ++finished;
        break;
      }
    }
  }
  out.seconds = positive_seconds(monotonic_us() - start);
  out.output_tokens_per_s = static_cast<double>(out.output_tokens) / out.seconds;
  out.ttft_p50_ms = percentile(ttft_ms, 50);
  out.ttft_p99_ms = percentile(ttft_ms, 99);
  out.itl_p50_ms = percentile(itl_ms, 50);
  out.itl_p99_ms = percentile(itl_ms, 99);
  out.usd_per_hour = o.usd_per_hour;
  out.usd_per_million_output_tokens = usd_per_million_tokens(o.usd_per_hour, out.output_tokens_per_s);
  return out;
}

}  // namespace

uint64_t weight_bytes_per_token(const gguf::File& file) {
  const bool tied = file.find_tensor("output.weight") == nullptr;
  // Stacked experts (3-D tensors): a token reads expert_used_count of expert_count.
  const std::string arch = file.get_string("general.architecture").value_or("");
  const int64_t n_expert = file.get_int(arch + ".expert_count").value_or(0);
  const int64_t n_used = file.get_int(arch + ".expert_used_count").value_or(0);
  uint64_t bytes = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.ne.size() < 2) continue;
    if (t.name == "token_embd.weight" && !tied) continue;
    if (t.ne.size() == 3 && n_expert > 0 && t.ne[2] == n_expert && n_used <= n_expert)
      bytes += t.n_bytes / static_cast<uint64_t>(n_expert) * static_cast<uint64_t>(n_used);
    else
      bytes += t.n_bytes;
  }
  return bytes;
}

double usd_per_million_tokens(double usd_per_hour, double tokens_per_s) {
  return tokens_per_s > 0 ? usd_per_hour / (tokens_per_s * 3600) * 1e6 : 0;
}

ModelOptions bench_model_options(const BenchOptions& options) {
  return {.n_threads = options.n_threads,
          .kv_cache_type = options.kv_cache_type,
          .max_batch_tokens = std::max(options.n_prompt, ModelOptions{}.max_batch_tokens),
          .max_seqs = std::max(options.parallel, 1),
          .prefix_cache = false,
          .mmap = options.mmap};
}

Result<BenchResult> run_bench(const std::string& path, const BenchOptions& options,
                              const BenchProgress& progress) {
  if (Result<void> ok = check_options(options); !ok) return ok.error();
  auto opened = gguf::File::open(path);
  if (!opened) return opened.error();
  const gguf::File file = std::move(opened).value();
  if (Result<void> model = model::check_not_an_adapter(file); !model)
    return make_error(path + ": is " + model.error().message);
  // The model checked as `run` loads it first, so that an unsupported architecture or a
  // context length out of range is told as such (QA: they read "exceed the model's context
  // length (0)").
  Result<model::HParams> hparams = model::Model::read_hparams(file);
  if (!hparams) return hparams.error();
  const int64_t n_positions = int64_t{options.n_prompt} + options.n_gen;
  const int64_t n_ctx_train = hparams->n_ctx_train;
  if (n_positions + 1 > n_ctx_train)
    return make_error("prompt + generated tokens (" + std::to_string(n_positions) +
                      ") exceed the model's context length (" + std::to_string(n_ctx_train) + ")");
  const int64_t load_start = monotonic_us();
  auto loaded = LoadedModel::load(path, bench_model_options(options));
  if (!loaded) return loaded.error();
  LoadedModel& model = *loaded.value();
  if (n_positions + 1 > model.n_ctx())
    return make_error("prompt + generated tokens (" + std::to_string(n_positions) +
                      ") exceed what the KV cache holds (" + std::to_string(model.n_ctx()) + ")");
  const auto report = [&progress](const std::string& stage) {
    if (progress) progress(stage);
  };
  // The adapters first: a path that is no adapter fails before anything is measured.
  std::vector<std::shared_ptr<LoadedModel>> adapters;
  std::vector<LoadedModel*> adapter_targets;
  for (const std::string& lora : options.lora_paths) {
    auto adapter = model.load_adapter(lora, 1.0f);
    if (!adapter) return adapter.error();
    adapters.push_back(adapter.value());
    adapter_targets.push_back(adapter.value().get());
  }

  std::mt19937_64 rng(options.seed);
  const std::vector<int32_t> prompt = random_prompt(rng, options.n_prompt, model.n_vocab());
  const auto read_to_end = [](RequestHandle& handle) -> Result<GenerationEvent> {
    while (true) {
      std::optional<GenerationEvent> e = handle.next(60'000'000);
      if (e && e->finished) {
        if (!e->error.empty()) return make_error(e->error);
        return std::move(*e);
      }
    }
  };

  report("warm-up");
  {
    Submission warm = model.submit(greedy_request({prompt[0]}, 1));
    if (!warm.handle) return make_error(warm.message);
    if (auto r = read_to_end(*warm.handle); !r) return r.error();
  }

  BenchResult result;
  result.load_seconds = positive_seconds(monotonic_us() - load_start);
  result.weights_memory = options.mmap ? "mapped" : "anonymous";
  result.kernels = std::string(kernels::simd_level_name(kernels::simd_level()));
  result.kernels_description = kernels::simd_level_description();
  result.model = path;
  result.arch = hparams->arch;
  result.cpu_model = cpu_model_name();
  result.threads = model.n_threads();
  result.n_prompt = options.n_prompt;
  result.n_gen = options.n_gen;
  result.repeats = options.repeats;
  result.kv_cache_type = options.kv_cache_type == KvCacheType::F16 ? "f16" : "f32";
  result.weight_bytes_per_token = weight_bytes_per_token(file);

  for (int rep = 0; rep < options.repeats; ++rep) {
    report("prefill + decode " + std::to_string(rep + 1) + "/" + std::to_string(options.repeats));
    Submission sub = model.submit(greedy_request(prompt, options.n_gen + 1));
    if (!sub.handle) return make_error(sub.message);
    auto end = read_to_end(*sub.handle);
    if (!end) return end.error();
    // The engine's own times: when the request was submitted, when its first token was
    // sampled (the prompt's forward pass ends there), when its last one was.
    const RequestTimes& t = end->times;
    const double prefill_s = positive_seconds(t.first_token_us - t.submitted_us);
    const double decode_s = positive_seconds(t.finished_us - t.first_token_us);
    result.prefill_runs_tokens_per_s.push_back(options.n_prompt / prefill_s);
    result.decode_runs_tokens_per_s.push_back((end->usage.completion_tokens - 1) / decode_s);
  }
  result.prefill_tokens_per_s = median(result.prefill_runs_tokens_per_s);
  result.decode_tokens_per_s = median(result.decode_runs_tokens_per_s);

  if (options.parallel > 0) {
    report(std::to_string(options.parallel) + " parallel streams");
    // The LoRA run below gets the same prompts.
    std::mt19937_64 lora_rng = rng;
    auto serving = run_serving({&model}, options, rng);
    if (!serving) return serving.error();
    result.serving = serving.value();
    if (!adapter_targets.empty()) {
      report(std::to_string(options.parallel) + " parallel streams over " +
             std::to_string(adapter_targets.size()) + " LoRA adapters");
      auto lora_serving = run_serving(adapter_targets, options, lora_rng);
      if (!lora_serving) return lora_serving.error();
      result.lora_serving = lora_serving.value();
      result.n_adapters = static_cast<int>(adapter_targets.size());
    }
  }

  report("read bandwidth");
  kernels::ThreadPool pool(model.n_threads());
  auto bandwidth = measure_read_bandwidth(options.bandwidth_bytes, options.bandwidth_passes, pool);
  if (!bandwidth) return bandwidth.error();
  result.read_bandwidth_gb_per_s = bandwidth.value() / 1e9;
  result.decode_bandwidth_utilization =
      result.decode_tokens_per_s * static_cast<double>(result.weight_bytes_per_token) / bandwidth.value();
  return result;
}

}  // namespace gengyun::bench
