// `gengyun synth --shape NAME --type TYPE --vocab VOCAB.gguf [--layers N] OUT.gguf`: a
// random-weight model with the tensor shapes of a real checkpoint, for benchmarks; it ends by
// naming the tensor types written, with their counts.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/seed_flag.h"
#include "cli/tensor_type_counts.h"
#include "convert/synth_model.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "util/removed_on_signal.h"

namespace gengyun::cli {
namespace {

struct SynthOptions {
  std::string shape;
  std::string type = "F16";
  std::string vocab_path;
  std::string out_path;
  uint64_t seed = 1;
  int threads = 0;
  std::optional<int> layers;  // all of the shape's layers when absent
};

int synth(const SynthOptions& o) {
  // Ctrl-C or SIGTERM removes the temporary files (OUT.tmp) before the process ends.
  util::install_removal_on_signal();
  Result<convert::SynthShape> shape = *convert::find_synth_shape(o.shape);
  if (o.layers) shape = convert::with_layers(*shape, *o.layers);
  if (!shape) {
    std::fprintf(stderr, "error: %s\n", shape.error().message.c_str());
    return 1;
  }
  auto vocab = gguf::File::open(o.vocab_path);
  if (!vocab) {
    std::fprintf(stderr, "error: %s\n", vocab.error().message.c_str());
    return 1;
  }
  kernels::ThreadPool pool(o.threads > 0 ? o.threads : kernels::physical_core_count());
  // A terminal gets one line redrawn in place (cleared first: the stages' lines differ in
  // length); a log (a pipe, a file) one line per stage, its bytes when it ended (or when synth
  // stopped).
  const bool terminal = isatty(fileno(stderr));
  std::string last_line;
  struct Stage {
    std::string name;
    uint64_t done = 0, total = 0;
  } stage_seen;
  const auto print_stage = [](const Stage& s) {
    std::fprintf(stderr, "synth: %s: %.2f of %.2f GB\n", s.name.c_str(), s.done / 1e9,
                 s.total / 1e9);
  };
  const auto progress = [&](std::string_view stage, uint64_t done, uint64_t total) {
    if (!terminal) {
      if (!stage_seen.name.empty() && stage_seen.name != stage) print_stage(stage_seen);
      stage_seen = {std::string(stage), done, total};
      return;
    }
    char line[128];
    std::snprintf(line, sizeof line, "\r\033[Ksynth: %.*s %3.0f%% (%.2f of %.2f GB)",
                  static_cast<int>(stage.size()), stage.data(),
                  total ? 100.0 * done / total : 100.0, done / 1e9, total / 1e9);
    if (line == last_line) return;
    last_line = line;
    std::fputs(line, stderr);
  };
  Result<void> written = convert::write_synth_model(shape.value(), o.type, vocab.value(), o.seed,
                                                    o.out_path, pool, progress);
  if (terminal)
    std::fputc('\n', stderr);
  else if (!stage_seen.name.empty())
    print_stage(stage_seen);
  if (!written) {
    std::fprintf(stderr, "error: %s\n", written.error().message.c_str());
    return 1;
  }
  // The types written, as a quantization mix falls back to other types on rows that are not
  // whole blocks of its own (Qwen2.5-0.5B's 896: no Q2_K or Q3_K at all in its Q2_K file).
  auto file = gguf::File::open(o.out_path);
  if (!file) {
    std::fprintf(stderr, "error: %s\n", file.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "synth: %s: %s\n", o.out_path.c_str(), tensor_type_counts(*file).c_str());
  return 0;
}

}  // namespace

void add_synth_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<SynthOptions>();
  std::vector<std::string> shape_names;
  for (const convert::SynthShape& s : convert::synth_shapes()) shape_names.emplace_back(s.name);
  auto* cmd = app.add_subcommand("synth", "write a random-weight model with the tensor shapes of a real one");
  cmd->add_option("out", options->out_path, "GGUF file to write")->required();
  cmd->add_option("--shape", options->shape, "model whose shapes to copy")->required()->check(CLI::IsMember(shape_names));
  // An unknown type is a command line that cannot be parsed (exit 2), as quantize's TYPE is.
  cmd->add_option("--type", options->type,
                  "tensor type: F32, F16, BF16 or a quantization type of `gengyun quantize` (Q8_0, "
                  "Q4_K_M, ...); default F16")
      ->check(CLI::Validator(
          [](const std::string& value) {
            auto valid = convert::check_synth_type(value);
            return valid ? std::string() : valid.error().message;
          },
          "TYPE"));
  cmd->add_option("--vocab", options->vocab_path, "GGUF file whose tokenizer to copy")->required();
  cmd->add_option("--seed", options->seed, "random seed (same seed, same file)")
      ->check(seed_check());
  cmd->add_option("--layers", options->layers,
                  "write only the first N layers (real tensor shapes, fewer layers)");
  cmd->add_option("-t,--threads", options->threads, "threads (default: physical cores)")
      ->check(integer_in(0, kernels::kMaxThreads));
  cmd->callback([options, &exit_code] { exit_code = synth(*options); });
}

}  // namespace gengyun::cli
