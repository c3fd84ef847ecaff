// `gengyun run MODEL.gguf -p TEXT`: one-shot generation streamed to stdout; timings to stderr.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/read_file.h"
#include "cli/seed_flag.h"
#include "deploy/lora_spec.h"
#include "gengyun/engine.h"
#include "kernels/simd_level.h"
#include "kernels/thread_pool.h"
#include "sampling/request_ranges.h"
#include "util/counted.h"

namespace gengyun::cli {
namespace {

struct RunOptions {
  std::string model_path;
  std::string prompt;
  int n_predict = 256;
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  std::optional<uint64_t> seed;
  int threads = 0;
  int ctx = 0;
  std::string kv_type = "f16";
  bool mmap = false;
  std::string json_schema_path;
  std::vector<std::string> loras;  ///< --lora: one at most (checked in run, to say why)
};

double per_second(int count, int64_t us) { return us > 0 ? count * 1e6 / us : 0.0; }

/// A number in [lo, hi], refused as CLI::Range words it but with the bounds as written ("not in
/// range 0 to 2", where CLI::Range prints doubles as 0.000000 and 2.000000).
/// A flag whose value must lie in `range` (the API's field of that name, so that run and serve
/// agree).
CLI::Validator in_range(const sampling::NumberRange& range) {
  return CLI::Validator(
      [range](const std::string& value) {
        double x = 0;
        if (!CLI::detail::lexical_cast(value, x))
          return std::string(range.name) + " must be a number in " + std::string(range.shown) +
                 ", not " + value;
        return range.contains(x) ? std::string()
                                 : std::string(range.name) + " must be in " +
                                       std::string(range.shown) + ", not " + value;
      },
      std::string(range.shown));
}

int run(const RunOptions& o) {
  if (o.loras.size() > 1) {
    std::fprintf(stderr,
                 "error: --lora is given %zu times; `run` applies one adapter (adapters do not "
                 "stack; `serve --lora NAME=BASE:ADAPTER.gguf` serves several, each a model of "
                 "its own)\n",
                 o.loras.size());
    return 1;
  }
  std::optional<deploy::AdapterFile> adapter;
  if (!o.loras.empty()) {
    auto parsed = deploy::parse_adapter_file(o.loras[0]);
    if (!parsed.ok()) {
      std::fprintf(stderr, "error: --lora: %s\n", parsed.error().message.c_str());
      return 1;
    }
    adapter = std::move(parsed).value();
  }
  GenerationParams params;
  if (!o.json_schema_path.empty()) {
    Result<std::string> text = read_file(kJsonSchemaFile, o.json_schema_path);
    if (!text) {
      std::fprintf(stderr, "error: %s\n", text.error().message.c_str());
      return 1;
    }
    if (text->empty()) {
      std::fprintf(stderr, "error: the JSON schema file %s is empty\n", o.json_schema_path.c_str());
      return 1;
    }
    params.format.kind = OutputFormat::Kind::JsonSchema;
    params.format.json_schema = std::move(*text);
  }
  auto model = LoadedModel::load(
      o.model_path, {.n_threads = o.threads,
                     .n_ctx = o.ctx,
                     .kv_cache_type = o.kv_type == "f32" ? KvCacheType::F32 : KvCacheType::F16,
                     .max_seqs = 1,
                     .mmap = o.mmap});
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", model.error().message.c_str());
    return 1;
  }
  if (model.value()->is_embedding_model()) {
    std::fprintf(stderr,
                 "error: %s: an embedding model (its GGUF sets pooling_type) generates no text; "
                 "use `gengyun embed` or serve it for /v1/embeddings\n",
                 o.model_path.c_str());
    return 1;
  }
  int64_t load_us = model.value()->load_us();
  if (adapter) {
    model = model.value()->load_adapter(adapter->path, adapter->scale);
    if (!model.ok()) {
      std::fprintf(stderr, "error: --lora: %s\n", model.error().message.c_str());
      return 1;
    }
    load_us += model.value()->load_us();
  }
  // Special tokens' text is those tokens, as in a /v1/completions prompt and llama.cpp's CLI
  // (QA: `run` read `<|im_start|>` as text, so it answered otherwise than the server).
  const auto prompt = model.value()->tokenize(o.prompt, /*add_bos=*/true, /*parse_special=*/true);
  params.max_tokens = o.n_predict;
  params.temperature = o.temperature;
  params.top_k = o.top_k;
  params.top_p = o.top_p;
  params.min_p = o.min_p;
  params.seed = o.seed;
  bool line_open = false;  // stdout's text so far does not end with a newline
  int write_errno = 0;     // a write to stdout failed (a full disk, a closed stdout): it ends
  auto result =
      model.value()->generate(prompt, params, [&line_open, &write_errno](std::string_view text) {
        if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
            std::fflush(stdout) != 0) {
          write_errno = errno;
          return false;
        }
        if (!text.empty()) line_open = text.back() != '\n';
        return true;
      });
  // Only the generated text goes to stdout; a terminal gets a final newline for the shell prompt.
  // Else, when the text ends inside a line, stderr gets one first, so that what follows there
  // (the summary, an error) starts on a line of its own where both show together (`2>&1`, a
  // pipe to tee): stdout stays the text, byte for byte.
  if (isatty(STDOUT_FILENO))
    std::fputc('\n', stdout);
  else if (line_open)
    std::fputc('\n', stderr);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", result.error().message.c_str());
    return 1;
  }
  if (write_errno != 0) {
    std::fprintf(stderr, "error: the text could not be written to stdout: %s\n",
                 std::strerror(write_errno));
    return 1;
  }
  const auto& r = result.value();
  // The schema holds the output to JSON, but -n can stop it before the JSON is whole.
  const bool json_cut = params.format.kind == OutputFormat::Kind::JsonSchema &&
                        r.finish_reason == FinishReason::Length && !nlohmann::json::accept(r.text);
  if (json_cut && o.n_predict > 0 && r.completion_tokens >= o.n_predict)
    std::fprintf(stderr,
                 "error: the output reached -n %d tokens before its JSON was complete; give a "
                 "larger -n (or < 0: up to the context)\n",
                 o.n_predict);
  else if (json_cut)
    std::fprintf(stderr,
                 "error: the output reached the end of the context (%d tokens) before its JSON was "
                 "complete; give a larger --ctx\n",
                 model.value()->n_ctx());
  std::fprintf(stderr,
               "load: %.1f ms | prompt: %s, %.1f tokens/s | generation: %s, "
               "%.1f tokens/s | threads: %d | kernels: %s\n",
               load_us / 1e3, counted(r.prompt_tokens, "token").c_str(),
               per_second(r.prompt_tokens, r.prefill_us),
               counted(r.completion_tokens, "token").c_str(),
               per_second(r.completion_tokens, r.decode_us), model.value()->n_threads(),
               kernels::simd_level_description().c_str());
  return json_cut ? 1 : 0;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "generate text from a prompt, streamed to stdout");
  cmd->add_option("model", options->model_path, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", options->prompt, "prompt text")->required();
  // The ranges of the API's fields (sampling/request_ranges.h), so that run and serve agree.
  cmd->add_option("-n,--n-predict", options->n_predict,
                  "tokens to generate at most (< 0: until the context is full)")
      ->check(integer_in(std::numeric_limits<int>::min(), std::numeric_limits<int>::max()))
      ->check(CLI::Validator(
          [](const std::string& value) {
            return value == "0" ? std::string("0 tokens generates nothing; give N >= 1, or < 0")
                                : std::string();
          },
          "NOT 0"));
  cmd->add_option("--temp", options->temperature, "temperature in [0, 2]; 0 is greedy")
      ->check(in_range(sampling::kTemperatureRange));
  cmd->add_option("--top-k", options->top_k, "top-k (0: off)")
      ->check(integer_in(sampling::kTopKRange.min, int64_t{std::numeric_limits<int>::max()}));
  cmd->add_option("--top-p", options->top_p, "top-p in (0, 1] (1: off)")
      ->check(in_range(sampling::kTopPRange));
  cmd->add_option("--min-p", options->min_p, "min-p in [0, 1] (0: off)")
      ->check(in_range(sampling::kMinPRange));
  cmd->add_option("--seed", options->seed, "random seed (same seed, same output)")
      ->check(seed_check());
  cmd->add_option("-t,--threads", options->threads, "threads (default: physical cores)")
      ->check(integer_in(0, kernels::kMaxThreads));
  cmd->add_option("-c,--ctx", options->ctx,
                  "longest sequence in tokens (default: the model's training context)")
      ->check(integer_in(0, std::numeric_limits<int>::max()));
  cmd->add_flag("--mmap", options->mmap,
                "keep the weights in a mapping of the file instead of reading them into anonymous "
                "memory with huge pages");
  cmd->add_option("--json-schema", options->json_schema_path,
                  "the output must be JSON that validates against the JSON Schema in this file "
                  "(constrained decoding; docs/structured_output.md)");
  cmd->add_option("--lora", options->loras,
                  "ADAPTER.gguf[@SCALE]: apply a LoRA adapter (llama.cpp's adapter GGUF) at SCALE "
                  "(default 1; effective weights W + SCALE * alpha / rank * B A)")
      ->allow_extra_args(false);  // one value per --lora; a second --lora is refused in run()
  cmd->add_option("--kv-type", options->kv_type,
                  "KV cache element type (f32: unrounded, for debugging)")
      ->check(CLI::IsMember({"f16", "f32"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->callback([options, &exit_code] { exit_code = run(*options); });
}

}  // namespace gengyun::cli
