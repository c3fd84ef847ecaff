// The model layer's public API: a loaded model (hyper-parameters and bound weights) and a
// per-sequence Context that runs batched forward passes over its own KV cache.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "model/forward.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "util/result.h"

namespace gengyun::model {

class Architecture;

/// Weights of one GGUF model of a supported architecture (llama, qwen2, qwen3). Immutable
/// after load; one Model serves any number of Contexts (on any threads).
class Model {
 public:
  /// Reads the hyper-parameters and binds every weight without copying it: matrices point
  /// into the mmap'd file, which the Model keeps alive (1-D tensors are copied to f32).
  /// Errors: general.architecture absent or not supported ("unsupported architecture
  /// 'gemma2'"), missing or out-of-range hyper-parameters, a tensor missing, of the wrong
  /// shape, or of a type that cannot be computed (each naming the tensor).
  static Result<std::unique_ptr<Model>> load(std::shared_ptr<const gguf::File> file);

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const HParams& hparams() const { return hp_; }
  const Architecture& architecture() const { return *arch_; }

 private:
  Model() = default;

  std::shared_ptr<const gguf::File> file_;
  HParams hp_;
  std::deque<std::vector<float>> vectors_;
  std::unique_ptr<Architecture> arch_;
};

/// One sequence: its f32 KV cache (allocated at construction, 2 * n_layer * n_ctx *
/// n_head_kv * head_dim floats) and scratch buffers. Not thread-safe; the Model and the pool
/// must outlive it.
class Context {
 public:
  /// n_ctx: positions the KV cache holds (values < 1 make every eval fail).
  Context(const Model& model, int n_ctx, kernels::ThreadPool& pool);

  /// Runs `tokens` at positions n_past()..n_past()+n-1 as one batch (each weight matrix is
  /// multiplied once for all of them) and appends their keys and values. logits is resized to
  /// [n_tokens, n_vocab] row-major when all_logits, else [n_vocab] for the last token.
  /// Errors (the context is unchanged): empty tokens, a token id outside [0, n_vocab),
  /// n_past() + n > n_ctx().
  Result<void> eval(std::span<const int32_t> tokens, bool all_logits,
                    std::vector<float>& logits);

  /// Positions evaluated so far.
  int n_past() const { return n_past_; }
  int n_ctx() const { return n_ctx_; }
  /// Forgets every position (n_past() = 0); keeps the allocations.
  void clear() { n_past_ = 0; }

 private:
  const Model& model_;
  kernels::ThreadPool& pool_;
  int n_ctx_;
  int n_past_ = 0;
  KvCache kv_;
  Scratch scratch_;
};

}  // namespace gengyun::model
