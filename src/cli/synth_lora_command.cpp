// `gengyun synth-lora BASE.gguf OUT.gguf [--rank 16] [--alpha 32] [--seed N]`: a random LoRA
// adapter that fits BASE, for benchmarks (`bench --parallel 16 --lora ...`); it ends by naming
// what it wrote on stderr (base, rank, alpha, the tensor types with their counts).
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/seed_flag.h"
#include "cli/tensor_type_counts.h"
#include "convert/synth_lora.h"
#include "gguf/gguf.h"
#include "util/removed_on_signal.h"

namespace gengyun::cli {
namespace {

struct SynthLoraOptions {
  std::string base_path;
  std::string out_path;
  int64_t rank = 16;
  float alpha = 32.0f;
  uint64_t seed = 1;
};

int synth_lora(const SynthLoraOptions& o) {
  // Ctrl-C or SIGTERM removes the temporary files (OUT.tmp) before the process ends.
  util::install_removal_on_signal();
  auto base = gguf::File::open(o.base_path);
  Result<void> written =
      base ? convert::write_synth_lora(base.value(), o.rank, o.alpha, o.seed, o.out_path)
           : Result<void>(base.error());
  if (!written) {
    std::fprintf(stderr, "error: %s\n", written.error().message.c_str());
    return 1;
  }
  // What was written, as quantize and synth end by saying.
  auto file = gguf::File::open(o.out_path);
  if (!file) {
    std::fprintf(stderr, "error: %s\n", file.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "synth-lora: %s: an adapter of %s, rank %lld, alpha %g: %s\n",
               o.out_path.c_str(), o.base_path.c_str(), static_cast<long long>(o.rank),
               static_cast<double>(o.alpha), tensor_type_counts(*file).c_str());
  return 0;
}

}  // namespace

void add_synth_lora_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<SynthLoraOptions>();
  auto* cmd = app.add_subcommand(
      "synth-lora", "write a random LoRA adapter (llama.cpp's adapter GGUF) that fits a model");
  cmd->add_option("base", options->base_path, "GGUF model the adapter is for")->required();
  cmd->add_option("out", options->out_path, "adapter GGUF file to write")->required();
  cmd->add_option("--rank", options->rank,
                  "rank of every update, 1 to the smaller side of the adapted matrices "
                  "(default 16)")
      // (the bound of the base's matrices is checked once they are read: exit 1)
      ->check(integer_in(1, std::numeric_limits<int>::max()));
  cmd->add_option("--alpha", options->alpha, "adapter.lora.alpha, a finite number (default 32)");
  cmd->add_option("--seed", options->seed, "random seed (same seed, same file)")
      ->check(seed_check());
  cmd->callback([options, &exit_code] { exit_code = synth_lora(*options); });
}

}  // namespace gengyun::cli
