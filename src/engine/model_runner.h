// What the engine loop needs from a model: one forward pass over a step's chunks, giving the
// logits of the chunks that sample. The real runner is the paged forward pass of model/; tests
// use a fake one.
#pragma once

#include <span>
#include <vector>

#include "engine/scheduler.h"
#include "gengyun/result.h"

namespace gengyun::engine {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  /// Runs the chunks of one step (their tokens at their positions, written into their
  /// sequences' KV blocks) and resizes logits to [chunks that sample, n_vocab()] in the order
  /// of `chunks`; for an engine of an embedding model (EngineConfig::pooling), to the
  /// final-norm hidden states [rows model::pooled_rows names, n_embd] instead. Errors: the
  /// model's (e.g. a pass larger than the runner allows).
  virtual Result<void> execute(std::span<const ScheduledChunk> chunks,
                               std::vector<float>& logits) = 0;
  virtual int n_vocab() const = 0;
};

}  // namespace gengyun::engine
