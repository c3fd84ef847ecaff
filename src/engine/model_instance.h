// The engine's implementation of the LoadedModel seam: one model, its paged KV cache and the
// engine loop that batches every request submitted to it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "chat/chat_format.h"
#include "chat/chat_syntax.h"
#include "chat/chat_template.h"
#include "engine/engine_core.h"
#include "engine/paged_model_runner.h"
#include "gengyun/engine.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {

class ModelInstance final : public LoadedModel,
                            public std::enable_shared_from_this<ModelInstance> {
 public:
  /// Errors: those of gguf::File::open, Tokenizer::load and model::Model::load; options out of
  /// range (threads, context, a KV cache too small for one block or for the asked context).
  static Result<std::shared_ptr<ModelInstance>> load(const std::string& path,
                                                     const ModelOptions& options);
  ~ModelInstance() override;

  std::vector<int32_t> tokenize(std::string_view text, bool add_bos,
                                bool parse_special) const override;
  Result<std::string> render_chat(std::span<const ChatMessage> messages,
                                  const ChatOptions& options) const override;
  Result<ChatPrompt> chat_prompt(std::span<const ChatMessage> messages,
                                 const ChatOptions& options) const override;
  std::vector<int32_t> embedding_input(std::span<const int32_t> tokens) const override;
  Submission submit(EngineRequest request) override { return engine_->submit(std::move(request)); }
  BatchSubmission submit_all(std::vector<EngineRequest> requests) override {
    return engine_->submit_all(std::move(requests));
  }
  /// submit() with a LoRA adapter loaded against this model (EngineCore::submit).
  Submission submit_with_adapter(EngineRequest request,
                                 std::shared_ptr<const model::LoraAdapter> adapter,
                                 std::string_view adapter_key) {
    return engine_->submit(std::move(request), std::move(adapter), adapter_key);
  }
  /// submit_all() with a LoRA adapter loaded against this model (EngineCore::submit_all).
  BatchSubmission submit_all_with_adapter(std::vector<EngineRequest> requests,
                                          std::shared_ptr<const model::LoraAdapter> adapter,
                                          std::string_view adapter_key) {
    return engine_->submit_all(std::move(requests), std::move(adapter), adapter_key);
  }
  EngineStats stats() const override { return engine_->stats(); }
  bool wait_until(const std::function<bool(const EngineStats&)>& done,
                  int64_t timeout_us) const override {
    return engine_->wait_until(done, timeout_us);
  }

  int n_ctx() const override { return n_ctx_; }
  int max_requests() const override { return engine_->max_requests(); }
  int n_vocab() const override { return model_->hparams().n_vocab; }
  bool is_embedding_model() const override {
    return model_->hparams().pooling != model::PoolingType::None;
  }
  int n_embd() const override { return model_->hparams().n_embd; }
  std::string token_bytes(int32_t id) const override { return tokenizer_->token_to_piece(id); }
  std::string detokenize(std::span<const int32_t> tokens) const override;
  int n_threads() const override { return pool_->size(); }
  const std::string& path() const override { return path_; }
  int64_t load_us() const override { return load_us_; }
  int64_t kv_cache_bytes() const override { return static_cast<int64_t>(kv_->memory_bytes()); }
  /// An engine::AdapterModel over this model. Errors: model::LoraAdapter::load's.
  Result<std::shared_ptr<LoadedModel>> load_adapter(const std::string& path, float scale) override;

 private:
  ModelInstance() = default;
  /// The chat prompt and which of its bytes are the messages' text.
  Result<chat::RenderedPrompt> render_prompt(std::span<const ChatMessage> messages,
                                             const ChatOptions& options) const;

  std::string path_;
  gguf::FileMemory memory_ =
      gguf::FileMemory::kAnonymous;  ///< ModelOptions::mmap, for adapters too
  std::shared_ptr<const gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<kernels::ThreadPool> pool_;
  std::unique_ptr<model::KvCache> kv_;
  std::unique_ptr<PagedModelRunner> runner_;
  std::shared_ptr<EngineCore> engine_;
  chat::ChatFormat chat_format_ = chat::ChatFormat::ChatML;  ///< when chat_template_ is empty
  std::optional<chat::ChatTemplate> chat_template_;  ///< tokenizer.chat_template, parsed at load
  ChatSyntax chat_syntax_;  ///< chat_template_'s (starts_in_reasoning unset); none without it
  int n_ctx_ = 0;
  int64_t load_us_ = 0;
};

}  // namespace gengyun::engine
