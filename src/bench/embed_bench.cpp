#include "bench/embed_bench.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <tuple>

#include "bench/run.h"
#include "gengyun/engine.h"
#include "kernels/simd_level.h"
#include "util/clock.h"

namespace gengyun::bench {
namespace {

/// Submits every input as an embedding request and waits for all of them. Errors: a refusal
/// or a failed input.
Result<void> embed_all(LoadedModel& model, const std::vector<std::vector<int32_t>>& inputs) {
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const std::vector<int32_t>& input : inputs) {
    EngineRequest request;
    request.prompt = input;
    request.embed = true;
    Submission s = model.submit(std::move(request));
    if (!s.handle) return make_error(s.message);
    handles.push_back(std::move(s.handle));
  }
  for (const auto& handle : handles) {
    while (true) {
      std::optional<GenerationEvent> e = handle->next(60'000'000);
      if (!e || !e->finished) continue;
      if (!e->error.empty()) return make_error(e->error);
      break;
    }
  }
  return {};
}

}  // namespace

Result<EmbedBenchResult> run_embed_bench(const std::string& path,
                                         const EmbedBenchOptions& options) {
  // The one that is wrong, by its flag (QA: the four were named together, --embed-tokens 0 too).
  for (const auto& [flag, value, min] : {std::tuple{"--embed", options.n_inputs, 1},
                                         std::tuple{"--embed-tokens", options.n_tokens, 1},
                                         std::tuple{"--repeats", options.repeats, 1},
                                         std::tuple{"--threads", options.n_threads, 0}}) {
    if (value < min)
      return make_error(std::string(flag) + " must be at least " + std::to_string(min) + ", not " +
                        std::to_string(value));
  }
  if (static_cast<int64_t>(options.n_inputs) * (options.n_tokens + 2) > 1 << 20)
    return make_error("--embed times --embed-tokens must be under 1048576 tokens");
  const int64_t start_us = monotonic_us();
  // BOS and EOS at most are added to each input.
  auto loaded =
      LoadedModel::load(path, {.n_threads = options.n_threads,
                               .n_ctx = options.n_tokens + 2,
                               .max_batch_tokens = options.n_inputs * (options.n_tokens + 2),
                               .max_seqs = options.n_inputs,
                               .mmap = options.mmap});
  if (!loaded) return loaded.error();
  LoadedModel& model = *loaded.value();
  if (!model.is_embedding_model())
    return make_error(path + ": --embed needs an embedding model (a GGUF with pooling_type)");
  EmbedBenchResult result;
  result.load_seconds = (monotonic_us() - start_us) * 1e-6;
  result.model = path;
  result.threads = model.n_threads();
  result.n_inputs = options.n_inputs;
  result.repeats = options.repeats;
  result.kernels = std::string(kernels::simd_level_name(kernels::simd_level()));
  result.kernels_description = kernels::simd_level_description();

  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int32_t> pick(0, model.n_vocab() - 1);
  std::vector<std::vector<int32_t>> inputs;
  for (int i = 0; i < options.n_inputs; ++i) {
    std::vector<int32_t> ids(static_cast<size_t>(options.n_tokens));
    for (int32_t& id : ids) id = pick(rng);
    inputs.push_back(model.embedding_input(ids));
  }
  result.n_tokens = static_cast<int>(inputs[0].size());
  if (result.n_tokens > model.n_ctx())
    return make_error("inputs of " + std::to_string(result.n_tokens) +
                      " tokens exceed the context of " + std::to_string(model.n_ctx()));

  // The engine hands out a step's vectors before it publishes the step's stats: the step count
  // is read once the stats count every request submitted so far as finished.
  int64_t submitted = model.stats().finished;
  auto published_steps = [&](int64_t finished) -> Result<int64_t> {
    if (!model.wait_until([&](const EngineStats& s) { return s.finished >= finished; },
                          60'000'000))
      return make_error("the engine did not publish its stats within 60 s");
    return model.stats().steps;
  };
  if (Result<void> warm = embed_all(model, {inputs[0]}); !warm) return warm.error();
  Result<int64_t> steps_before = published_steps(submitted += 1);
  if (!steps_before) return steps_before.error();
  for (int r = 0; r < options.repeats; ++r) {
    const int64_t run_start_us = monotonic_us();
    if (Result<void> ran = embed_all(model, inputs); !ran) return ran.error();
    const double seconds = std::max((monotonic_us() - run_start_us) * 1e-6, 1e-9);
    result.runs_inputs_per_s.push_back(options.n_inputs / seconds);
    Result<int64_t> steps = published_steps(submitted += options.n_inputs);
    if (!steps) return steps.error();
    result.steps_per_run = steps.value() - steps_before.value();
    steps_before = steps;
  }
  result.inputs_per_s = median(result.runs_inputs_per_s);
  result.tokens_per_s = result.inputs_per_s * result.n_tokens;
  return result;
}

std::string embed_bench_json(const EmbedBenchResult& r) {
  const nlohmann::json j = {{"model", r.model},
                            {"threads", r.threads},
                            {"n_inputs", r.n_inputs},
                            {"n_tokens", r.n_tokens},
                            {"repeats", r.repeats},
                            {"kernels", r.kernels},
                            {"load_seconds", r.load_seconds},
                            {"inputs_per_s", r.inputs_per_s},
                            {"tokens_per_s", r.tokens_per_s},
                            {"runs_inputs_per_s", r.runs_inputs_per_s},
                            {"steps_per_run", r.steps_per_run}};
  return j.dump() + "\n";
}

std::string embed_bench_text(const EmbedBenchResult& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "model      %s\nthreads    %d (kernels %s)\ninputs     %d of %d tokens, %lld "
                "engine steps per run\nembeddings %.1f inputs/s, %.1f tokens/s (median of %d)\n",
                r.model.c_str(), r.threads, r.kernels_description.c_str(), r.n_inputs, r.n_tokens,
                static_cast<long long>(r.steps_per_run), r.inputs_per_s, r.tokens_per_s, r.repeats);
  return buf;
}

}  // namespace gengyun::bench
