#include "engine/paged_model_runner.h"

namespace gengyun::engine {

PagedModelRunner::PagedModelRunner(const model::Model& model, model::KvCache& kv,
                                   kernels::ThreadPool& pool, int max_tokens)
    : evaluator_(model, kv, pool, max_tokens), n_vocab_(model.hparams().n_vocab),
      pooling_(model.hparams().pooling) {}

Result<void> PagedModelRunner::execute(std::span<const ScheduledChunk> chunks,
                                       std::vector<float>& logits) {
  tokens_.clear();
  rows_.clear();
  for (const ScheduledChunk& c : chunks) {
    model::SequenceRows seq;
    seq.row = static_cast<int64_t>(tokens_.size());
    seq.n_tokens = c.n_tokens;
    seq.pos0 = c.start;
    seq.block_table = c.seq->block_table;
    seq.logits = pooling_ != model::PoolingType::None
                     ? model::pooled_rows(pooling_, c.start == 0, c.samples())
                 : c.samples() ? model::LogitRows::Last
                               : model::LogitRows::None;
    seq.adapter = c.seq->adapter.get();
    rows_.push_back(seq);
    tokens_.insert(tokens_.end(), c.seq->tokens.begin() + c.start,
                   c.seq->tokens.begin() + c.start + c.n_tokens);
  }
  return evaluator_.forward(tokens_, rows_, logits, pooling_ != model::PoolingType::None);
}

}  // namespace gengyun::engine
