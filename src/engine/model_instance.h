// The engine's implementation of the LoadedModel seam: one model, one KV cache, requests
// served one at a time (a later issue brings continuous batching across requests).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "chat/chat_format.h"
#include "gengyun/engine.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {

class ModelInstance final : public LoadedModel {
 public:
  /// Errors: those of gguf::File::open, Tokenizer::load and model::Model::load.
  static Result<std::shared_ptr<ModelInstance>> load(const std::string& path,
                                                     const ModelOptions& options);

  std::vector<int32_t> tokenize(std::string_view text, bool add_bos,
                                bool parse_special) const override;
  std::string render_chat(std::span<const ChatMessage> messages) const override;
  Result<GenerationResult> generate(std::span<const int32_t> prompt,
                                    const GenerationParams& params,
                                    const TextCallback& on_text) override;

  int n_ctx() const override { return context_->n_ctx(); }
  int n_vocab() const override { return model_->hparams().n_vocab; }
  int n_threads() const override { return pool_->size(); }
  const std::string& path() const override { return path_; }
  int64_t load_us() const override { return load_us_; }

 private:
  ModelInstance() = default;

  std::string path_;
  std::shared_ptr<const gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<kernels::ThreadPool> pool_;
  std::unique_ptr<model::Context> context_;
  chat::ChatFormat chat_format_ = chat::ChatFormat::ChatML;
  int64_t load_us_ = 0;
  std::mutex generate_mutex_;
};

}  // namespace gengyun::engine
