// `gengyun embed MODEL.gguf (TEXT | --file PATH) [--dimensions N]`: the embedding of a text as
// a JSON array on one line, unit length (as /v1/embeddings returns it).
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/read_file.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "model/lora.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::cli {
namespace {

struct EmbedOptions {
  std::string model_path;
  std::string text;
  std::string file;
  std::optional<int64_t> dimensions;  // all of the model's when absent
  int threads = 0;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int embed(const EmbedOptions& o) {
  std::string text = o.text;
  if (!o.file.empty()) {
    Result<std::string> read = read_file(kTextFile, o.file);
    if (!read) return fail(read.error().message);
    text = std::move(*read);
  }
  // As /v1/embeddings refuses input "" (400 naming input).
  if (text.empty()) return fail("the text must not be an empty string");
  Result<gguf::File> opened = gguf::File::open(o.model_path);
  if (!opened) return fail(opened.error().message);
  auto file = std::make_shared<const gguf::File>(std::move(opened).value());
  if (Result<void> not_adapter = model::check_not_an_adapter(*file); !not_adapter)
    return fail(o.model_path + ": is " + not_adapter.error().message);
  Result<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::load(*file);
  if (!tokenizer) return fail(o.model_path + ": " + tokenizer.error().message);
  // As LoadedModel::load says it for run and serve.
  if (file->tensors().empty())
    return fail(o.model_path +
                ": the file holds a vocabulary but no weights (a vocab-only GGUF works with "
                "`gengyun tokenize`, not for embeddings)");
  Result<std::unique_ptr<model::Model>> model = model::Model::load(file);
  if (!model) return fail(model.error().message);
  const model::HParams& hp = model.value()->hparams();
  if (hp.pooling == model::PoolingType::None)
    return fail(o.model_path + ": not an embedding model (no " + hp.arch +
                ".pooling_type); use `gengyun run` for text generation");

  std::vector<int32_t> tokens;
  if (tokenizer.value()->add_bos() && tokenizer.value()->bos())
    tokens.push_back(*tokenizer.value()->bos());
  const std::vector<int32_t> text_tokens = tokenizer.value()->encode(text, false);
  tokens.insert(tokens.end(), text_tokens.begin(), text_tokens.end());
  if (tokenizer.value()->add_eos() && tokenizer.value()->eos())
    tokens.push_back(*tokenizer.value()->eos());
  if (tokens.empty()) return fail("the text gives no tokens");
  if (static_cast<int64_t>(tokens.size()) > hp.n_ctx_train)
    return fail(std::to_string(tokens.size()) + " tokens exceed the model's context of " +
                std::to_string(hp.n_ctx_train));

  kernels::ThreadPool pool(o.threads > 0 ? o.threads : kernels::physical_core_count());
  model::Context ctx(*model.value(), static_cast<int>(tokens.size()), pool);
  std::vector<float> embedding;
  if (Result<void> r = ctx.embed(tokens, embedding); !r) return fail(r.error().message);
  if (o.dimensions && (*o.dimensions < 1 || *o.dimensions > std::ssize(embedding)))
    return fail("--dimensions must be between 1 and " + std::to_string(embedding.size()) +
                ", not " + std::to_string(*o.dimensions));
  if (Result<void> r = model::normalize_embedding(embedding, o.dimensions.value_or(0)); !r)
    return fail(r.error().message);
  std::printf("%s\n", nlohmann::json(embedding).dump().c_str());
  return 0;
}

}  // namespace

void add_embed_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<EmbedOptions>();
  auto* cmd = app.add_subcommand(
      "embed",
      "print the embedding of a text as a JSON array (unit length) with an embedding model");
  cmd->add_option("model", options->model_path, "GGUF file of an embedding model")->required();
  auto* text = cmd->add_option("text", options->text, "text to embed");
  auto* file = cmd->add_option("--file", options->file, "read the text from this file");
  text->excludes(file);
  cmd->add_option("--dimensions", options->dimensions,
                  "keep the first N values, then normalize (default: all)")
      // (the model's own bound, its embedding length, is checked once it is read: exit 1)
      ->check(integer_in(1, std::numeric_limits<int>::max()));
  cmd->add_option("-t,--threads", options->threads, "threads (default: physical cores)")
      ->check(integer_in(0, kernels::kMaxThreads));
  cmd->callback([options, text, file, &exit_code] {
    if (text->count() == 0 && file->count() == 0) {
      std::fputs("error: give the text or --file PATH\n", stderr);
      exit_code = 2;  // a missing argument: a command line that cannot be parsed
      return;
    }
    exit_code = embed(*options);
  });
}

}  // namespace gengyun::cli
