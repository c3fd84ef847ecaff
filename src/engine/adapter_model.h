// A LoRA adapter of a loaded model served as a model of its own (LoadedModel::load_adapter):
// everything is the base model's except that its requests carry the adapter.
#pragma once

#include <memory>
#include <string>

#include "engine/model_instance.h"
#include "model/lora.h"

namespace gengyun::engine {

class AdapterModel final : public LoadedModel {
 public:
  /// `cache_key`: the adapter's prefix-cache key, unique among the adapters loaded in this
  /// process (no '\0').
  AdapterModel(std::shared_ptr<ModelInstance> base,
               std::shared_ptr<const model::LoraAdapter> adapter, std::string cache_key,
               int64_t load_us);

  std::vector<int32_t> tokenize(std::string_view text, bool add_bos,
                                bool parse_special) const override {
    return base_->tokenize(text, add_bos, parse_special);
  }
  Result<std::string> render_chat(std::span<const ChatMessage> messages,
                                  const ChatOptions& options) const override {
    return base_->render_chat(messages, options);
  }
  Result<ChatPrompt> chat_prompt(std::span<const ChatMessage> messages,
                                 const ChatOptions& options) const override {
    return base_->chat_prompt(messages, options);
  }
  std::vector<int32_t> embedding_input(std::span<const int32_t> tokens) const override {
    return base_->embedding_input(tokens);
  }
  Submission submit(EngineRequest request) override {
    return base_->submit_with_adapter(std::move(request), adapter_, cache_key_);
  }
  BatchSubmission submit_all(std::vector<EngineRequest> requests) override {
    return base_->submit_all_with_adapter(std::move(requests), adapter_, cache_key_);
  }
  EngineStats stats() const override { return base_->stats(); }
  bool wait_until(const std::function<bool(const EngineStats&)>& done,
                  int64_t timeout_us) const override {
    return base_->wait_until(done, timeout_us);
  }
  std::string token_bytes(int32_t id) const override { return base_->token_bytes(id); }
  std::string detokenize(std::span<const int32_t> tokens) const override {
    return base_->detokenize(tokens);
  }
  int n_ctx() const override { return base_->n_ctx(); }
  int max_requests() const override { return base_->max_requests(); }
  bool is_embedding_model() const override { return base_->is_embedding_model(); }
  int n_embd() const override { return base_->n_embd(); }
  int64_t kv_cache_bytes() const override { return base_->kv_cache_bytes(); }
  int n_vocab() const override { return base_->n_vocab(); }
  int n_threads() const override { return base_->n_threads(); }
  const std::string& path() const override { return adapter_->path(); }
  int64_t load_us() const override { return load_us_; }
  Result<std::shared_ptr<LoadedModel>> load_adapter(const std::string& path, float scale) override;

 private:
  std::shared_ptr<ModelInstance> base_;
  std::shared_ptr<const model::LoraAdapter> adapter_;
  std::string cache_key_;
  int64_t load_us_;
};

}  // namespace gengyun::engine
