// The model runner over model/'s paged forward pass: a step's chunks become one batch of rows.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_runner.h"
#include "model/model.h"

namespace gengyun::engine {

/// Runs a step's chunks through model::BatchEvaluator over one KV cache: the logits of the
/// chunks that sample or, for an embedding model (a pooling type), the final-norm hidden states
/// of the rows model::pooled_rows names ([rows, n_embd], in the order of the chunks). The
/// model, cache and pool must outlive it.
class PagedModelRunner final : public ModelRunner {
 public:
  /// max_tokens: tokens per step at most (the scheduler's max_batch_tokens).
  PagedModelRunner(const model::Model& model, model::KvCache& kv, kernels::ThreadPool& pool,
                   int max_tokens);

  Result<void> execute(std::span<const ScheduledChunk> chunks, std::vector<float>& logits) override;
  int n_vocab() const override { return n_vocab_; }
  /// Bytes of the forward pass's scratch buffers.
  size_t memory_bytes() const { return evaluator_.memory_bytes(); }

 private:
  model::BatchEvaluator evaluator_;
  int n_vocab_;
  model::PoolingType pooling_;
  std::vector<int32_t> tokens_;
  std::vector<model::SequenceRows> rows_;
};

}  // namespace gengyun::engine
