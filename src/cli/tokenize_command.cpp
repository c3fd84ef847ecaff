// `gengyun tokenize MODEL.gguf [--special] (TEXT | --file PATH)`: token ids on one line.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/read_file.h"
#include "gguf/gguf.h"
#include "model/lora.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string text;
  std::string file;
  bool special = false;
};

int tokenize(const TokenizeOptions& o) {
  std::string text = o.text;
  if (!o.file.empty()) {
    Result<std::string> read = read_file(kTextFile, o.file);
    if (!read) {
      std::fprintf(stderr, "error: %s\n", read.error().message.c_str());
      return 1;
    }
    text = std::move(*read);
  }
  auto file = gguf::File::open(o.model_path);
  if (!file.ok()) {
    std::fprintf(stderr, "error: %s\n", file.error().message.c_str());
    return 1;
  }
  if (Result<void> not_adapter = model::check_not_an_adapter(file.value()); !not_adapter) {
    std::fprintf(stderr, "error: %s: is %s\n", o.model_path.c_str(),
                 not_adapter.error().message.c_str());
    return 1;
  }
  auto tokenizer = Tokenizer::load(file.value());
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", o.model_path.c_str(), tokenizer.error().message.c_str());
    return 1;
  }
  const auto ids = tokenizer.value()->encode(text, o.special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text (no BOS added)");
  cmd->add_option("model", options->model_path, "GGUF file (a vocab-only file works)")->required();
  auto* text = cmd->add_option("text", options->text, "text to tokenize");
  auto* file = cmd->add_option("--file", options->file, "read the text from this file");
  text->excludes(file);
  cmd->add_flag("--special", options->special, "parse special tokens such as <|im_start|>");
  cmd->callback([options, text, file, &exit_code] {
    if (text->count() == 0 && file->count() == 0) {
      std::fputs("error: give the text or --file PATH\n", stderr);
      exit_code = 2;  // a missing argument: a command line that cannot be parsed
      return;
    }
    exit_code = tokenize(*options);
  });
}

}  // namespace gengyun::cli
