#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/architecture.h"
#include "model/weights.h"

namespace gengyun::model {

Model::~Model() = default;

Result<void> check_token_ids(std::span<const int32_t> tokens, int n_vocab) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) {
      return Error{"eval: token id " + std::to_string(tokens[i]) + " at index " +
                   std::to_string(i) + " is outside the vocabulary [0, " +
                   std::to_string(n_vocab) + ")"};
    }
  }
  return {};
}

Result<HParams> Model::read_hparams(const gguf::File& file) {
  const std::optional<std::string> arch = file.get_string("general.architecture");
  if (!arch) return Error{file.name() + ": key 'general.architecture' is missing"};
  const ArchitectureEntry* entry = find_architecture(*arch);
  if (entry == nullptr) {
    return Error{file.name() + ": unsupported architecture " + gguf::quoted_text(*arch) +
                 " (supported: " + architecture_names() + ")"};
  }
  return model::read_hparams(file, *arch, entry->rope_type);
}

Result<std::unique_ptr<Model>> Model::load(std::shared_ptr<const gguf::File> file) {
  Result<HParams> hp = read_hparams(*file);
  if (!hp) return hp.error();
  const ArchitectureEntry* entry = find_architecture(hp->arch);

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

BatchEvaluator::BatchEvaluator(const Model& model, KvCache& kv, kernels::ThreadPool& pool,
                               int max_tokens)
    : model_(model),
      kv_(kv),
      pool_(pool),
      scratch_(model.hparams(), std::max(max_tokens, 1), pool.size()) {}

Result<void> BatchEvaluator::check(std::span<const int32_t> tokens,
                                   std::span<const SequenceRows> seqs) const {
  const HParams& hp = model_.hparams();
  if (tokens.empty()) return Error{"eval: no tokens to evaluate"};
  if (static_cast<int64_t>(tokens.size()) > scratch_.max_tokens)
    return Error{"eval: " + std::to_string(tokens.size()) + " tokens in one pass; at most " +
                 std::to_string(scratch_.max_tokens) + " are allowed"};
  if (Result<void> valid = check_token_ids(tokens, hp.n_vocab); !valid) return valid;
  int64_t row = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SequenceRows& seq = seqs[i];
    const std::string which = "eval: sequence " + std::to_string(i);
    if (seq.row != row || seq.n_tokens < 1 || seq.pos0 < 0)
      return Error{which + " must start at row " + std::to_string(row) +
                   " with at least one token at a position >= 0"};
    row += seq.n_tokens;
    const int64_t n_pos = seq.pos0 + seq.n_tokens;
    if (n_pos > int64_t{KvCache::kBlockSize} * static_cast<int64_t>(seq.block_table.size()))
      return Error{which + " reaches position " + std::to_string(n_pos - 1) + " but its " +
                   std::to_string(seq.block_table.size()) + " blocks hold " +
                   std::to_string(KvCache::kBlockSize * seq.block_table.size()) + " positions"};
    for (int32_t block : seq.block_table)
      if (block < 0 || block >= kv_.n_blocks())
        return Error{which + " names block " + std::to_string(block) + " of a cache of " +
                     std::to_string(kv_.n_blocks())};
  }
  if (row != static_cast<int64_t>(tokens.size()))
    return Error{"eval: the sequences cover " + std::to_string(row) + " rows of " +
                 std::to_string(tokens.size()) + " tokens"};
  return {};
}

Result<void> BatchEvaluator::forward(std::span<const int32_t> tokens, std::span<SequenceRows> seqs,
                                     std::vector<float>& logits, bool hidden_states) {
  if (Result<void> valid = check(tokens, seqs); !valid) return valid;
  const HParams& hp = model_.hparams();
  size_t n_out = 0;
  for (SequenceRows& seq : seqs) {
    seq.q_row = seq.row;
    seq.n_q = seq.n_tokens;
    n_out += seq.logits == LogitRows::All    ? static_cast<size_t>(seq.n_tokens)
             : seq.logits == LogitRows::Last ? 1
                                             : 0;
  }
  logits.resize(n_out * static_cast<size_t>(hidden_states ? hp.n_embd : hp.n_vocab));
  ForwardPass pass{hp, tokens, seqs, kv_, scratch_, pool_, logits.data()};
  pass.hidden_states = hidden_states;
  model_.architecture().forward(pass);
  return {};
}

namespace {

int blocks_for(int n_ctx) {
  return (std::max(n_ctx, 0) + KvCache::kBlockSize - 1) / KvCache::kBlockSize;
}

}  // namespace

Context::Context(const Model& model, int n_ctx, kernels::ThreadPool& pool, KvCacheType kv_type,
                 int n_batch)
    : model_(model),
      n_ctx_(std::max(n_ctx, 0)),
      kv_(model.hparams().n_layer, blocks_for(n_ctx), model.hparams().n_head_kv,
          model.hparams().head_dim, kv_type),
      block_table_(static_cast<size_t>(blocks_for(n_ctx))),
      evaluator_(model, kv_, pool, std::min(std::max(n_batch, 1), std::max(n_ctx_, 1))) {
  for (size_t i = 0; i < block_table_.size(); ++i) block_table_[i] = static_cast<int32_t>(i);
}

Result<void> Context::eval(std::span<const int32_t> tokens, bool all_logits,
                           std::vector<float>& logits) {
  if (tokens.empty()) return Error{"eval: no tokens to evaluate"};
  if (Result<void> valid = check_token_ids(tokens, model_.hparams().n_vocab); !valid) return valid;
  if (static_cast<int64_t>(tokens.size()) > n_ctx_ - n_past_) {
    return Error{"eval: " + std::to_string(tokens.size()) + " tokens after " +
                 std::to_string(n_past_) + " exceed the context size of " + std::to_string(n_ctx_) +
                 " tokens"};
  }
  const size_t n_vocab = static_cast<size_t>(model_.hparams().n_vocab);
  logits.resize(all_logits ? tokens.size() * n_vocab : n_vocab);
  return run_passes(
      tokens, false,
      [all_logits](bool, bool last_pass) {
        return all_logits ? LogitRows::All : last_pass ? LogitRows::Last : LogitRows::None;
      },
      [&](size_t begin, size_t, const std::vector<float>& out) {
        std::copy(out.begin(), out.end(),
                  logits.begin() + (all_logits ? static_cast<std::ptrdiff_t>(begin * n_vocab) : 0));
      });
}

Result<void> Context::run_passes(
    std::span<const int32_t> tokens, bool hidden_states,
    const std::function<LogitRows(bool first_pass, bool last_pass)>& rows,
    const std::function<void(size_t begin, size_t n, const std::vector<float>& out)>& take) {
  const size_t n_pass = static_cast<size_t>(evaluator_.max_tokens());
  for (size_t begin = 0; begin < tokens.size(); begin += n_pass) {
    const std::span<const int32_t> batch =
        tokens.subspan(begin, std::min(n_pass, tokens.size() - begin));
    SequenceRows seq;
    seq.n_tokens = static_cast<int64_t>(batch.size());
    seq.pos0 = n_past_;
    seq.block_table = block_table_;
    seq.logits = rows(begin == 0, begin + batch.size() == tokens.size());
    seq.adapter = adapter_;
    if (Result<void> r = evaluator_.forward(batch, std::span(&seq, 1), pass_logits_, hidden_states);
        !r)
      return r;
    n_past_ += static_cast<int>(batch.size());
    if (seq.logits != LogitRows::None) take(begin, batch.size(), pass_logits_);
  }
  return {};
}

Result<void> normalize_embedding(std::vector<float>& v, int64_t dimensions) {
  if (dimensions < 0 || dimensions > static_cast<int64_t>(v.size()))
    return Error{"dimensions must be between 1 and " + std::to_string(v.size()) + ", not " +
                 std::to_string(dimensions)};
  // A NaN or an infinity anywhere means the forward pass broke; its truncation is no answer
  // either (QA 2026-12-07: such vectors were served as [null, ...] with a 200).
  if (!std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }))
    return Error{std::string(kNonFiniteEmbedding)};
  if (dimensions > 0) v.resize(static_cast<size_t>(dimensions));
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum == 0) return {};
  const double scale = 1.0 / std::sqrt(sum);
  for (float& x : v) x = static_cast<float>(x * scale);
  return {};
}

Result<void> Context::embed(std::span<const int32_t> tokens, std::vector<float>& embedding) {
  const HParams& hp = model_.hparams();
  if (hp.pooling == PoolingType::None)
    return Error{"embed: the model has no " + hp.arch +
                 ".pooling_type: it is not an embedding model"};
  if (tokens.empty()) return Error{"embed: no tokens to evaluate"};
  if (Result<void> valid = check_token_ids(tokens, hp.n_vocab); !valid) return valid;
  if (static_cast<int64_t>(tokens.size()) > n_ctx_)
    return Error{"embed: " + std::to_string(tokens.size()) + " tokens exceed the context size of " +
                 std::to_string(n_ctx_) + " tokens"};
  clear();
  EmbeddingPool pooled(hp.pooling, hp.n_embd);
  const Result<void> ran = run_passes(
      tokens, true,
      [&hp](bool first_pass, bool last_pass) {
        return pooled_rows(hp.pooling, first_pass, last_pass);
      },
      [&](size_t begin, size_t n, const std::vector<float>& out) {
        const size_t n_rows = hp.pooling == PoolingType::Last ? 1 : n;
        pooled.add(out.data(), n_rows, begin == 0);
      });
  if (!ran) return ran;
  embedding = pooled.result(tokens.size());
  return {};
}

LogitRows pooled_rows(PoolingType pooling, bool first_pass, bool last_pass) {
  switch (pooling) {
    case PoolingType::Mean: return LogitRows::All;
    case PoolingType::Cls: return first_pass ? LogitRows::All : LogitRows::None;
    case PoolingType::Last: return last_pass ? LogitRows::Last : LogitRows::None;
    case PoolingType::None: break;
  }
  return LogitRows::None;
}

EmbeddingPool::EmbeddingPool(PoolingType pooling, int n_embd)
    : pooling_(pooling), sum_(static_cast<size_t>(n_embd), 0.0f) {}

void EmbeddingPool::add(const float* rows, size_t n_rows, bool first_pass) {
  const size_t n_embd = sum_.size();
  if (first_pass) std::fill(sum_.begin(), sum_.end(), 0.0f);
  if (n_rows == 0) return;
  if (pooling_ != PoolingType::Mean) {
    std::copy_n(rows, n_embd, sum_.begin());
    return;
  }
  for (size_t t = 0; t < n_rows; ++t)
    for (size_t i = 0; i < n_embd; ++i) sum_[i] += rows[t * n_embd + i];
}

std::vector<float> EmbeddingPool::result(size_t n_tokens) const {
  std::vector<float> out = sum_;
  if (pooling_ == PoolingType::Mean && n_tokens > 0) {
    const float inv_n = 1.0f / static_cast<float>(n_tokens);
    for (float& v : out) v *= inv_n;
  }
  return out;
}

}  // namespace gengyun::model
