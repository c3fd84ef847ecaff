// `gengyun pull URL [-o DIR] [--sha256 HEX] [--token TOKEN]`: downloads a GGUF file
// (deploy/pull.h). A progress bar is redrawn on stderr when stderr is a terminal; the file's path
// is printed on stdout (escaped for a terminal). Every name it writes to stderr is escaped
// (tokenizer::escape_control_characters), and a name `serve --models` would leave out is warned
// of (deploy::folder_file_flaw). The token
// (--token, else $HF_TOKEN for huggingface.co URLs) is never printed.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "deploy/pull.h"
#include "deploy/registry.h"
#include "tokenizer/utf8.h"

namespace gengyun::cli {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// Redraws the bar when the shown figures change (every 1/1000 of the file, or every MiB
// while the size is unknown).
class ProgressBar {
 public:
  void operator()(uint64_t done, uint64_t total) {
    const uint64_t step = total > 0 ? done * 1000 / total : done >> 20;
    if (drawn_ && step == last_step_) return;
    drawn_ = true;
    last_step_ = step;
    if (total > 0) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(done * kWidth / total);
      std::fprintf(stderr, "\r\033[K[%s%s] %.1f/%.1f MiB %5.1f%%", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, '.').c_str(), done / kMiB, total / kMiB,
                   100.0 * static_cast<double>(done) / static_cast<double>(total));
    } else {
      std::fprintf(stderr, "\r\033[K%.1f MiB", done / kMiB);
    }
    std::fflush(stderr);
  }
  void finish() const {
    if (drawn_) std::fputc('\n', stderr);
  }

 private:
  bool drawn_ = false;
  uint64_t last_step_ = 0;
};

int run_pull(const deploy::PullOptions& base) {
  deploy::PullOptions options = base;
  // $HF_TOKEN is Hugging Face's credential: it goes to huggingface.co only (a mirror or any other
  // host gets a token by --token).
  const char* hf_token = std::getenv("HF_TOKEN");
  if (options.token.empty() && hf_token != nullptr && *hf_token != '\0') {
    const Result<std::string> url = deploy::expand_hf_url(options.url);
    if (url && deploy::is_hugging_face_url(url.value())) {
      options.token = hf_token;
    } else if (url) {
      std::fprintf(stderr,
                   "note: $HF_TOKEN is sent to https://huggingface.co only, not with this URL "
                   "(give --token to send a token to its host)\n");
    }
  }
  ProgressBar bar;
  if (isatty(fileno(stderr)))
    options.progress = [&bar](uint64_t done, uint64_t total) { bar(done, total); };
  const Result<deploy::PullResult> result = deploy::pull(options);
  bar.finish();
  if (!result) {
    std::fprintf(stderr, "error: %s\n",
                 tokenizer::escape_control_characters(result.error().message).c_str());
    return 1;
  }
  // The name comes from the server: shown as serve shows names, so that no byte of it drives the
  // terminal or disguises what it shows.
  const std::string shown_path = tokenizer::escape_control_characters(result->path);
  std::string note = result->sha256.empty() ? "no SHA-256 given, none checked"
                                            : "SHA-256 " + result->sha256 + " verified (from " +
                                                  result->sha256_source + ")";
  if (result->resumed_from > 0) note += "; resumed at byte " + std::to_string(result->resumed_from);
  std::fprintf(stderr, "pulled %s: %llu bytes, a valid GGUF file; %s\n", shown_path.c_str(),
               static_cast<unsigned long long>(result->size), note.c_str());
  std::string suffix = result->path.size() >= 5 ? result->path.substr(result->path.size() - 5) : "";
  for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (suffix != ".gguf")
    std::fprintf(stderr,
                 "warning: the file name does not end in .gguf: `serve "
                 "--models` lists only *.gguf files (rename it or serve it with --model)\n");
  else if (const std::optional<std::string> flaw =
               deploy::folder_file_flaw(std::filesystem::path(result->path).filename().string()))
    std::fprintf(stderr, "warning: `serve --models` will leave the file out: %s\n",
                 tokenizer::escape_control_characters(*flaw).c_str());
  // stdout is data for a script (`M=$(gengyun pull URL)`): the path as it is, escaped only
  // for a terminal (as ls shows names).
  std::printf("%s\n", isatty(STDOUT_FILENO) ? shown_path.c_str() : result->path.c_str());
  return 0;
}

}  // namespace

void add_pull_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<deploy::PullOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pull", "Download a GGUF file over HTTP(S) (Hugging Face resolve URLs or plain URLs)");
  cmd->add_option("url", options->url,
                  "http:// or https:// URL of the GGUF file, or hf://ORG/REPO[@REVISION]/FILE "
                  "(https://huggingface.co/ORG/REPO/resolve/REVISION/FILE, REVISION main by "
                  "default)")
      ->required();
  // An empty value is refused, not read as something else (QA: -o '' said "error: :
  // Invalid argument"; --token '' was taken as no token).
  const auto not_empty = [](std::string refusal) {
    return [refusal](const std::string& value) { return value.empty() ? refusal : std::string(); };
  };
  cmd->add_option("-o,--output-dir", options->dir, "Folder to put the file in (created if missing)")
      ->capture_default_str()
      ->check(CLI::Validator(
          not_empty("an empty folder name; give a folder, or leave -o out for the current one"),
          "DIR"));
  cmd->add_option(
         "--sha256", options->sha256,
         "Expected SHA-256 (64 hex digits); without it, the server's X-Linked-Etag/ETag if any")
      // Checked here, so that a value outside the declared form exits 2 as README says (QA:
      // 'xyz' exited 1); an empty one is not read as no checksum at all (QA 2026-12-07).
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            if (value.empty()) return "an empty SHA-256; give 64 hex digits or leave the flag out";
            const bool hex =
                value.size() == 64 && std::all_of(value.begin(), value.end(), [](char c) {
                  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                });
            return hex ? std::string() : value + " is not a SHA-256 (64 hex digits)";
          },
          "HEX"));
  cmd->add_option("--token", options->token,
                  "Bearer token for gated repositories (default for https://huggingface.co URLs: "
                  "$HF_TOKEN, preferred: a flag shows in the process list); sent to the URL's "
                  "host only, never to a redirect target on another host")
      ->check(CLI::Validator(not_empty("an empty token; give the token or leave the flag out"),
                             "TOKEN"));
  cmd->callback([options, &exit_code] { exit_code = run_pull(*options); });
}

}  // namespace gengyun::cli
