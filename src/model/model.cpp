#include "model/model.h"

#include <algorithm>
#include <string>

#include "model/architecture.h"
#include "model/weights.h"

namespace gengyun::model {

Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::load(std::shared_ptr<const gguf::File> file) {
  const std::optional<std::string> arch = file->get_string("general.architecture");
  if (!arch) return Error{file->name() + ": key 'general.architecture' is missing"};
  const ArchitectureEntry* entry = find_architecture(*arch);
  if (entry == nullptr) {
    return Error{file->name() + ": unsupported architecture '" + *arch +
                 "' (supported: llama, qwen2, qwen3)"};
  }
  Result<HParams> hp = read_hparams(*file, *arch, entry->rope_type);
  if (!hp) return hp.error();

  const gguf::TensorInfo* token_embd = file->find_tensor("token_embd.weight");
  if (token_embd == nullptr) return Error{file->name() + ": tensor 'token_embd.weight' is missing"};
  if (token_embd->ne.size() != 2 || token_embd->ne[1] > INT32_MAX) {
    return Error{file->name() + ": tensor 'token_embd.weight' must be 2-D [n_embd, n_vocab]"};
  }
  hp->n_vocab = static_cast<int>(token_embd->ne[1]);

  std::unique_ptr<Model> model(new Model());
  model->file_ = std::move(file);
  model->hp_ = std::move(hp.value());
  WeightBinder binder(*model->file_, model->vectors_);
  Result<std::unique_ptr<Architecture>> arch_weights = entry->build(model->hp_, binder);
  if (!arch_weights) return arch_weights.error();
  model->arch_ = std::move(arch_weights.value());
  return model;
}

size_t Model::memory_bytes() const {
  size_t bytes = 0;
  for (const std::vector<float>& v : vectors_) bytes += v.size() * sizeof(float);
  return bytes;
}

Context::Context(const Model& model, int n_ctx, kernels::ThreadPool& pool, KvCacheType kv_type,
                 int n_batch)
    : model_(model),
      pool_(pool),
      n_ctx_(std::max(n_ctx, 0)),
      n_batch_(std::max(n_batch, 1)),
      kv_(model.hparams().n_layer, n_ctx_, model.hparams().n_head_kv, model.hparams().head_dim,
          kv_type),
      scratch_(model.hparams(), std::min(n_batch_, std::max(n_ctx_, 1)), pool.size()) {}

Result<void> Context::eval(std::span<const int32_t> tokens, bool all_logits,
                           std::vector<float>& logits) {
  const HParams& hp = model_.hparams();
  if (tokens.empty()) return Error{"eval: no tokens to evaluate"};
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= hp.n_vocab) {
      return Error{"eval: token id " + std::to_string(tokens[i]) + " at index " +
                   std::to_string(i) + " is outside the vocabulary [0, " +
                   std::to_string(hp.n_vocab) + ")"};
    }
  }
  if (static_cast<int64_t>(tokens.size()) > n_ctx_ - n_past_) {
    return Error{"eval: " + std::to_string(tokens.size()) + " tokens after " +
                 std::to_string(n_past_) + " exceed the context size of " + std::to_string(n_ctx_) +
                 " tokens"};
  }
  const size_t n_vocab = static_cast<size_t>(hp.n_vocab);
  logits.resize(all_logits ? tokens.size() * n_vocab : n_vocab);
  const size_t n_pass = static_cast<size_t>(scratch_.max_tokens);
  for (size_t begin = 0; begin < tokens.size(); begin += n_pass) {
    const std::span<const int32_t> batch =
        tokens.subspan(begin, std::min(n_pass, tokens.size() - begin));
    const bool last_pass = begin + batch.size() == tokens.size();
    const LogitRows rows = all_logits  ? LogitRows::All
                           : last_pass ? LogitRows::Last
                                       : LogitRows::None;
    float* out = logits.data() + (all_logits ? begin * n_vocab : 0);
    ForwardPass pass{hp, batch, n_past_, rows, kv_, scratch_, pool_, out};
    model_.architecture().forward(pass);
    n_past_ += static_cast<int>(batch.size());
  }
  return {};
}

}  // namespace gengyun::model
