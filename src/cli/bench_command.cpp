// `gengyun bench MODEL.gguf [-p 512] [-n 128] [-t N] [--json]`: prefill and decode speed,
// weight bytes per decoded token and the share of the machine's read bandwidth decode uses.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "bench/embed_bench.h"
#include "bench/report.h"
#include "bench/run.h"
#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/seed_flag.h"
#include "kernels/thread_pool.h"

namespace gengyun::cli {
namespace {

struct BenchFlags {
  std::string model_path;
  bench::BenchOptions options;
  std::string kv_type = "f16";
  bool json = false;
  bool cost = false;
  int embed_inputs = 0;  ///< --embed N: the embeddings benchmark instead
  int embed_tokens = 16;
};

int bench_embeddings(const BenchFlags& f) {
  bench::EmbedBenchOptions o;
  o.n_inputs = f.embed_inputs;
  o.n_tokens = f.embed_tokens;
  o.n_threads = f.options.n_threads;
  o.repeats = f.options.repeats;
  o.seed = f.options.seed;
  o.mmap = f.options.mmap;
  auto result = bench::run_embed_bench(f.model_path, o);
  if (!result) {
    std::fprintf(stderr, "error: %s\n", result.error().message.c_str());
    return 1;
  }
  const std::string out = f.json ? bench::embed_bench_json(result.value())
                                 : bench::embed_bench_text(result.value());
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int bench(BenchFlags f) {
  if (f.embed_inputs != 0) return bench_embeddings(f);
  f.options.kv_cache_type = f.kv_type == "f32" ? KvCacheType::F32 : KvCacheType::F16;
  if (f.cost) {
    if (!(f.options.usd_per_hour > 0)) {
      std::fprintf(stderr, "error: --cost needs the machine's price: --usd-per-hour X (> 0)\n");
      return 1;
    }
    if (f.options.parallel == 0) f.options.parallel = 16;
  } else if (f.options.usd_per_hour != 0) {
    std::fprintf(stderr, "error: --usd-per-hour is used only with --cost\n");
    return 1;
  }
  auto result = bench::run_bench(f.model_path, f.options, [](std::string_view stage) {
    std::fprintf(stderr, "bench: %.*s\n", static_cast<int>(stage.size()), stage.data());
  });
  if (!result) {
    std::fprintf(stderr, "error: %s\n", result.error().message.c_str());
    return 1;
  }
  const std::string out = f.json ? bench::bench_result_json(result.value()) : bench::bench_result_text(result.value());
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  bench::BenchOptions& o = flags->options;
  auto* cmd = app.add_subcommand("bench", "measure prefill and decode speed and memory bandwidth use");
  cmd->add_option("model", flags->model_path, "GGUF model file")->required();
  // Ranges as run_bench checks them, so that a value out of range exits 2 as for `run`.
  constexpr int kMaxInt = std::numeric_limits<int>::max();
  auto* prompt = cmd->add_option("-p,--n-prompt", o.n_prompt,
                                 "prompt tokens, evaluated as one batch (default 512)");
  prompt->check(integer_in(1, kMaxInt));
  auto* gen = cmd->add_option("-n,--n-gen", o.n_gen, "tokens to decode (default 128)");
  gen->check(integer_in(1, kMaxInt));
  cmd->add_option("-t,--threads", o.n_threads, "threads (default: physical cores)")
      ->check(integer_in(0, kernels::kMaxThreads));
  cmd->add_option("-r,--repeats", o.repeats,
                  "prefill + decode runs; medians are reported (default 3)")
      ->check(integer_in(1, kMaxInt));
  cmd->add_option("--seed", o.seed, "seed of the random prompt tokens")
      ->check(seed_check());
  cmd->add_option("--kv-type", flags->kv_type, "KV cache element type: f16 (default) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  auto* parallel = cmd->add_option("--parallel", o.parallel,
                  "also run N concurrent streams of -p + -n tokens through the batching engine "
                  "(aggregate output tokens/s, TTFT, inter-token latency)");
  parallel->check(integer_in(0, bench::kMaxParallel));
  auto* cost = cmd->add_flag("--cost", flags->cost,
                "USD per million output tokens at the aggregate throughput (needs "
                "--usd-per-hour; --parallel defaults to 16)");
  cmd->add_option("--usd-per-hour", o.usd_per_hour, "the machine's price, for --cost");
  cmd->add_flag("--mmap", o.mmap,
                "keep the weights in a mapping of the file instead of reading them into "
                "anonymous memory with huge pages");
  cmd->add_option("--lora", o.lora_paths,
                  "a LoRA adapter GGUF of the model (repeatable, with --parallel): the parallel "
                  "streams run again spread over the adapters, in one engine with the base");
  cmd->add_flag("--json", flags->json, "print one JSON object");
  auto* embed = cmd->add_option("--embed", flags->embed_inputs,
                                "embeddings of N inputs submitted together (an embedding model; "
                                "inputs/s, median of the repeats) instead of prefill and decode");
  embed->check(integer_in(1, std::numeric_limits<int>::max()));
  embed->excludes(prompt)->excludes(gen)->excludes(parallel)->excludes(cost);
  cmd->add_option("--embed-tokens", flags->embed_tokens,
                  "random token ids per --embed input (default 16; EOS appended where the model "
                  "asks)")
      ->needs(embed)
      // (QA: `--embed-tokens 0` exited 1 with a message naming four flags)
      ->check(integer_in(1, std::numeric_limits<int>::max()));
  cmd->callback([flags, &exit_code] { exit_code = bench(*flags); });
}

}  // namespace gengyun::cli
