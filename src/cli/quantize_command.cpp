// `gengyun quantize IN.gguf OUT.gguf TYPE [--threads N] [--quiet]`: writes IN quantized to TYPE
// as llama.cpp's quantizer would (same bytes). Progress goes to stderr: a bar redrawn in place
// when stderr is a terminal, otherwise one line per tensor.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/tensor_type_counts.h"
#include "convert/quantize_model.h"
#include "gguf/ggml_type.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "util/clock.h"
#include "util/removed_on_signal.h"

namespace gengyun::cli {
namespace {

struct QuantizeOptions {
  std::string in_path;
  std::string out_path;
  std::string type;
  int threads = 0;
  bool quiet = false;
};

constexpr double kMiB = 1024.0 * 1024.0;

const char* type_name(gguf::GgmlType type) { return gguf::ggml_type_info(type).name.data(); }

void print_line(const convert::QuantizeProgress& p) {
  const int width = static_cast<int>(std::to_string(p.count).size());
  std::fprintf(stderr, "[%*zu/%zu] %-36.*s %6s -> %-6s %9.3f MiB -> %9.3f MiB\n", width,
               p.index + 1, p.count, static_cast<int>(p.name.size()), p.name.data(),
               type_name(p.from), type_name(p.to), p.bytes_in / kMiB, p.bytes_out / kMiB);
}

void print_bar(const convert::QuantizeProgress& p) {
  constexpr int kBarWidth = 30;
  const size_t done = p.index + 1;
  const int filled = static_cast<int>(done * kBarWidth / p.count);
  const std::string bar = std::string(filled, '#') + std::string(kBarWidth - filled, '.');
  std::fprintf(stderr, "\r\033[K[%s] %zu/%zu %.*s", bar.c_str(), done, p.count,
               static_cast<int>(std::min<size_t>(p.name.size(), 40)), p.name.data());
  if (done == p.count) std::fputc('\n', stderr);
  std::fflush(stderr);
}

int quantize(const QuantizeOptions& o) {
  // Ctrl-C or SIGTERM removes the temporary files (OUT.tmp) before the process ends.
  util::install_removal_on_signal();
  // The type was checked when the command line was parsed.
  const convert::QuantizeType type = convert::parse_quantize_type(o.type).value();
  const int n_threads = o.threads > 0 ? o.threads : kernels::physical_core_count();
  convert::QuantizeProgressFn progress;
  if (!o.quiet) progress = isatty(fileno(stderr)) ? print_bar : print_line;
  const int64_t start = monotonic_us();
  const Result<convert::QuantizeSummary> summary =
      convert::quantize_model(o.in_path, o.out_path, type, n_threads, progress);
  if (!summary) {
    std::fprintf(stderr, "error: %s\n", summary.error().message.c_str());
    return 1;
  }
  const double seconds = seconds_since(start);
  const convert::QuantizeSummary& s = summary.value();
  if (!o.quiet) {
    std::fprintf(
        stderr,
        "%s: %zu of %zu tensors quantized to %s, %.2f MiB -> %.2f MiB, %.2f s on %d threads\n",
        o.out_path.c_str(), s.n_quantized, s.n_tensors,
        convert::quantize_type_info(type).name.data(), s.bytes_in / kMiB, s.bytes_out / kMiB,
        seconds, n_threads);
    // The types written: a mix falls back to other types where rows are not whole blocks of
    // its own.
    auto file = gguf::File::open(o.out_path);
    if (!file) {
      std::fprintf(stderr, "error: %s\n", file.error().message.c_str());
      return 1;
    }
    std::fprintf(stderr, "%s: %s\n", o.out_path.c_str(), tensor_type_counts(*file).c_str());
  }
  return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<QuantizeOptions>();
  auto* cmd = app.add_subcommand(
      "quantize", "write a GGUF model quantized to another type (as llama.cpp does)");
  cmd->add_option("input", options->in_path,
                  "GGUF model with F32, F16 or BF16 weights (a tensor already of TYPE is copied)")
      ->required();
  cmd->add_option("output", options->out_path, "GGUF file to write (replaced if it exists)")
      ->required();
  cmd->add_option("type", options->type, "one of " + convert::quantize_type_names())
      ->required()
      ->check(CLI::Validator(
          [](const std::string& value) {
            auto type = convert::parse_quantize_type(value);
            return type ? std::string() : type.error().message;
          },
          "TYPE"));
  cmd->add_option("--threads", options->threads,
                  "threads to quantize with (default: physical cores)")
      ->check(integer_in(0, kernels::kMaxThreads));
  cmd->add_flag("--quiet", options->quiet, "print errors only");
  cmd->callback([options, &exit_code] { exit_code = quantize(*options); });
}

}  // namespace gengyun::cli
