// The model layer's public API: a loaded model (hyper-parameters and bound weights) and a
// per-sequence Context that runs batched forward passes over its own KV cache.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "gengyun/result.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "model/forward.h"
#include "model/hparams.h"
#include "model/kv_cache.h"

namespace gengyun::model {

class Architecture;

/// Weights of one GGUF model of a supported architecture (architecture_names()). Immutable
/// after load; one Model serves any number of Contexts (on any threads).
class Model {
 public:
  /// Reads the hyper-parameters and binds every weight without copying it: matrices point
  /// into the mmap'd file, which the Model keeps alive (1-D tensors are copied to f32).
  /// Errors: general.architecture absent or not supported ("unsupported architecture
  /// 'gemma2'"), missing or out-of-range hyper-parameters, a tensor missing, of the wrong
  /// shape, or of a type that cannot be computed (each naming the tensor).
  static Result<std::unique_ptr<Model>> load(std::shared_ptr<const gguf::File> file);

  /// The hyper-parameters of the model `file` holds (n_vocab left 0), checked as load() checks
  /// them before it binds a weight: a caller that refuses a file for its hyper-parameters
  /// (bench: more tokens than the context length) gives load()'s reason for one that load()
  /// refuses. Errors: load()'s for general.architecture and the hyper-parameters.
  static Result<HParams> read_hparams(const gguf::File& file);

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const HParams& hparams() const { return hp_; }
  const Architecture& architecture() const { return *arch_; }
  /// The GGUF file the weights point into (LoRA adapters look their base tensors up here).
  const gguf::File& file() const { return *file_; }
  /// Bytes the model allocated beyond the mapped file: the f32 copies of its 1-D tensors.
  size_t memory_bytes() const;

 private:
  Model() = default;

  std::shared_ptr<const gguf::File> file_;
  HParams hp_;
  std::deque<std::vector<float>> vectors_;
  std::unique_ptr<Architecture> arch_;
};

/// normalize_embedding's error for a vector holding NaN or infinite values.
inline constexpr std::string_view kNonFiniteEmbedding =
    "the model's embedding holds NaN or infinite values (its weights hold them, or its "
    "activations overflowed)";

/// An embedding as OpenAI's API returns it: the first `dimensions` values (0: all of them;
/// Matryoshka-trained models such as Qwen3-Embedding keep their meaning when truncated)
/// scaled to unit L2 length (the sum of squares in double; a zero vector stays zero).
/// Errors: dimensions < 0 or above v.size(); a NaN or an infinity among all of v's values
/// (kNonFiniteEmbedding).
Result<void> normalize_embedding(std::vector<float>& v, int64_t dimensions = 0);

/// The rows of a forward pass over part of one sequence that its pooling reads (llama.cpp's
/// pooling types): every row for mean, the pass's rows when it holds the sequence's first token
/// for cls (the first is used), the last row when it holds the last token for last; None
/// otherwise (and always for PoolingType::None).
LogitRows pooled_rows(PoolingType pooling, bool first_pass, bool last_pass);

/// Pools one sequence's final-norm hidden states pass by pass, adding rows in token order, so a
/// vector does not depend on how its sequence was split into passes or batched with others
/// (Context::embed and the engine's embedding requests share it).
class EmbeddingPool {
 public:
  EmbeddingPool(PoolingType pooling, int n_embd);
  /// Takes a pass's rows as pooled_rows chose them (row-major [n_rows, n_embd]); a first pass
  /// starts over (a sequence recomputed from its start).
  void add(const float* rows, size_t n_rows, bool first_pass);
  /// The pooled vector of a sequence of n_tokens tokens, [n_embd], not normalized.
  std::vector<float> result(size_t n_tokens) const;

 private:
  PoolingType pooling_;
  std::vector<float> sum_;  ///< mean: the sum of the rows so far; cls, last: the row taken
};

/// Ok when every id is in [0, n_vocab); else an error naming the first bad id and its index.
Result<void> check_token_ids(std::span<const int32_t> tokens, int n_vocab);

/// Forward passes over batches of tokens from any number of sequences that share one paged
/// KvCache: each weight matrix is multiplied once per pass for every token of the pass. A
/// sequence's logits are bit-identical whatever else is in the pass (given batch-invariant
/// matrix products, kernels::matmul). Scratch buffers for max_tokens tokens are allocated at
/// construction; forward() allocates nothing of its own. Not thread-safe; the Model, the
/// cache and the pool must outlive it.
class BatchEvaluator {
 public:
  /// max_tokens: tokens per pass at most (values < 1 are taken as 1).
  BatchEvaluator(const Model& model, KvCache& kv, kernels::ThreadPool& pool, int max_tokens);

  /// One forward pass: seqs[i] covers rows seqs[i].row..+n_tokens of `tokens` (consecutive, in
  /// order, covering every token) at its positions; writes their keys and values into their
  /// blocks and resizes logits to [rows wanted, n_vocab] row-major, in the order of seqs (each
  /// sequence's Last row, or All of its rows). Only those rows run through the last layer and
  /// the output matrix.
  /// Errors (nothing is written): no tokens, more than max_tokens(), a token id outside
  /// [0, n_vocab), sequences that do not cover the rows in order, a block table too short for
  /// a sequence's positions or naming a block outside the cache.
  /// With hidden_states, `logits` receives the final-norm hidden states ([rows wanted, n_embd])
  /// instead (embedding models; the output matrix is not run).
  Result<void> forward(std::span<const int32_t> tokens, std::span<SequenceRows> seqs,
                       std::vector<float>& logits, bool hidden_states = false);

  int max_tokens() const { return static_cast<int>(scratch_.max_tokens); }
  /// Bytes of the scratch buffers (activations of max_tokens tokens, RoPE angles, per-thread
  /// attention blocks).
  size_t memory_bytes() const { return scratch_.memory_bytes(); }

 private:
  Result<void> check(std::span<const int32_t> tokens, std::span<const SequenceRows> seqs) const;

  const Model& model_;
  KvCache& kv_;
  kernels::ThreadPool& pool_;
  Scratch scratch_;
};

/// One sequence over a KV cache of its own (ceil(n_ctx / KvCache::kBlockSize) blocks, allocated
/// at construction) evaluated in passes of up to n_batch tokens: the single-stream path of
/// tests and tools. Not thread-safe; the Model and the pool must outlive it.
class Context {
 public:
  /// Tokens per forward pass by default: an eval of more runs in passes of this many, which
  /// bounds the scratch memory (n_batch * (2 n_embd + (2 n_head + 2 n_head_kv + 1) * head_dim
  /// + 2 n_ff) floats, 7 MB for Qwen2.5-0.5B) while each weight matrix is still read once per
  /// n_batch tokens.
  static constexpr int kDefaultBatch = 128;

  /// n_ctx: positions the sequence may hold (values < 1 make every eval fail). n_batch: tokens
  /// per forward pass (values < 1 are taken as 1).
  Context(const Model& model, int n_ctx, kernels::ThreadPool& pool,
          KvCacheType kv_type = KvCacheType::F16, int n_batch = kDefaultBatch);

  /// Runs `tokens` at positions n_past()..n_past()+n-1 in forward passes of up to n_batch
  /// tokens and appends their keys and values. logits is resized to [n_tokens, n_vocab]
  /// row-major when all_logits, else [n_vocab] for the last token.
  /// Errors (the context is unchanged): empty tokens, a token id outside [0, n_vocab),
  /// n_past() + n > n_ctx().
  Result<void> eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits);

  /// The embedding of `tokens` as one sequence (the context is cleared first and then holds
  /// it): the final-norm hidden states pooled as the model's pooling_type says (mean over the
  /// tokens, the first token's, the last token's), [n_embd], not normalized (llama.cpp's
  /// pooled output). The caller appends EOS where the tokenizer asks for it.
  /// Errors: a model without a pooling type ("not an embedding model"), and those of eval.
  Result<void> embed(std::span<const int32_t> tokens, std::vector<float>& embedding);

  /// Positions evaluated so far.
  int n_past() const { return n_past_; }
  int n_ctx() const { return n_ctx_; }
  int n_batch() const { return evaluator_.max_tokens(); }
  KvCacheType kv_cache_type() const { return kv_.type(); }
  /// Forgets every position (n_past() = 0); keeps the allocations.
  void clear() { n_past_ = 0; }
  /// Later evals apply `adapter`'s LoRA updates (nullptr: the base model alone); positions
  /// already evaluated keep what they were computed with (clear() first for a new prompt).
  /// The adapter must have been loaded against this context's model and outlive its use.
  void set_adapter(const LoraAdapter* adapter) { adapter_ = adapter; }

  /// Bytes of the KV cache: its blocks (n_ctx rounded up to whole blocks).
  size_t kv_cache_bytes() const { return kv_.memory_bytes(); }
  /// Bytes this context allocated: the KV cache, the block table and the scratch buffers. The
  /// logits vector is the caller's.
  size_t memory_bytes() const {
    return kv_.memory_bytes() + block_table_.size() * sizeof(int32_t) + evaluator_.memory_bytes();
  }

 private:
  /// Runs `tokens` from n_past() in forward passes of up to n_batch tokens (logits, or the
  /// final-norm hidden states); rows(first_pass, last_pass) picks the rows each pass outputs
  /// and take(begin, n, out) receives them for the pass of tokens [begin, begin + n) when it
  /// outputs any. Errors: the evaluator's.
  Result<void> run_passes(
      std::span<const int32_t> tokens, bool hidden_states,
      const std::function<LogitRows(bool first_pass, bool last_pass)>& rows,
      const std::function<void(size_t begin, size_t n, const std::vector<float>& out)>& take);

  const Model& model_;
  int n_ctx_;
  int n_past_ = 0;
  KvCache kv_;
  std::vector<int32_t> block_table_;  ///< 0, 1, 2, ...: the sequence owns every block
  BatchEvaluator evaluator_;
  std::vector<float> pass_logits_;
  const LoraAdapter* adapter_ = nullptr;
};

}  // namespace gengyun::model
