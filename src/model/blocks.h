// The arithmetic a decoder layer is built from, shared by every architecture: RMSNorm, linear
// layers, RoPE, grouped-query causal attention over the KV cache, SwiGLU, token embedding.
// Activations are f32 and row-major, one row per token. Semantics follow ggml's CPU ops
// (ggml_rms_norm, ggml_rope_ext, ggml_soft_max_ext, ggml_silu).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gengyun::model::blocks {

/// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight for each of n_rows rows of n elements
/// (weight has n elements). y may equal x.
void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t n, float eps);

/// y = x * W^T (+ bias): x [n_tokens, w.n_in], y [n_tokens, w.n_out], bias [w.n_out] or
/// nullptr. y must not overlap x. Multiplies the weight once for the whole batch; n_tokens = 0
/// does nothing.
void linear(const Matrix& w, const float* bias, const float* x, float* y, int64_t n_tokens,
            kernels::ThreadPool& pool);

/// How RoPE rotates a head: pairing, head size, base, and optional per-pair frequency
/// divisors (llama.cpp's rope_freqs.weight, head_dim/2 values; nullptr when absent).
struct Rope {
  RopeType type = RopeType::Normal;
  int head_dim = 0;
  float freq_base = 10000.0f;
  const float* freq_factors = nullptr;
};

/// cos and sin of RoPE's angles for the rows of a forward pass: computed once per pass,
/// shared by every layer and by Q and K.
class RopeTable {
 public:
  /// Room for max_tokens rows of heads of head_dim (allocated here, head_dim floats per row).
  RopeTable(int64_t max_tokens, int head_dim);

  /// Angles of rows first_row..first_row+n_tokens-1 at positions pos0..pos0+n_tokens-1
  /// (first_row + n_tokens <= max_tokens, rope.head_dim the table's): pair i of position p
  /// turns by p * freq_base^(-2i/head_dim) / freq_factors[i], evaluated in double. Every row
  /// of a position gets the same values whatever the other rows are.
  void fill(const Rope& rope, int64_t first_row, int pos0, int64_t n_tokens);

  /// Copies row `from` to row `to` (the last layer keeping only the rows it needs).
  void move_row(int64_t from, int64_t to);

  RopeType type() const { return type_; }
  int head_dim() const { return head_dim_; }
  /// cos, then sin, of the head_dim/2 angles of row `row`.
  const float* cos_sin(int64_t row) const { return values_.data() + row * head_dim_; }
  size_t memory_bytes() const { return values_.size() * sizeof(float); }

 private:
  RopeType type_ = RopeType::Normal;
  int head_dim_;
  std::vector<float> values_;  ///< [max_tokens][cos of head_dim/2 pairs, sin of them]
};

/// Rotates every head of x [n_rows, n_heads, head_dim] in place; row r takes the angles of
/// table row r.
void rope(const RopeTable& table, float* x, int64_t n_rows, int n_heads);

/// One sequence's queries in attention(): rows q_row..q_row+n_q-1 of q at positions
/// q_pos0..q_pos0+n_q-1, over the KV blocks of block_table.
struct AttentionSequence {
  int64_t q_row = 0;
  int64_t n_q = 0;
  int q_pos0 = 0;
  std::span<const int32_t> block_table;
};

/// Per-thread buffers of attention(), allocated once: query rows, running softmax state,
/// scores and one block of keys or values converted to f32; and the split of a call's work
/// over its sequences.
class AttentionWorkspace {
 public:
  /// Key/value positions handled together: one KV cache block.
  static constexpr int kBlock = KvCache::kBlockSize;
  /// Query rows (tokens x heads sharing a KV head) handled together.
  static constexpr int kMaxRows = 32;

  /// Buffers for `n_threads` concurrent work items over heads of head_dim, and the work split
  /// of up to max_seqs sequences per call.
  AttentionWorkspace(int n_threads, int head_dim, int64_t max_seqs);

  int n_threads() const { return n_threads_; }
  /// The buffer of thread slot i: slot_floats() floats.
  float* slot(int i) { return data_.data() + static_cast<size_t>(i) * slot_floats(); }
  size_t slot_floats() const;
  /// max_seqs + 1 entries: the first work item of each sequence of a call, then the total.
  std::vector<int64_t>& item_offsets() { return item_offsets_; }
  size_t memory_bytes() const {
    return data_.size() * sizeof(float) + item_offsets_.size() * sizeof(int64_t);
  }

 private:
  int n_threads_;
  int head_dim_;
  std::vector<float> data_;
  std::vector<int64_t> item_offsets_;
};

/// Causal grouped-query attention of each sequence's query rows of q [*, n_head, head_dim]
/// over its keys and values of `layer` in `kv`, which must already hold its positions
/// 0..q_pos0+n_q-1. Query head h reads KV head h / (n_head / n_head_kv).
/// out rows = softmax(scale * q k^T) v, with an online softmax over the sequence's KV blocks
/// in position order (flash-attention style; no [n_q, n_kv] scores). A row's result depends
/// only on its query, its position and its sequence's keys and values, never on the other
/// rows or sequences of the call. Work items are (sequence, KV head, tile of query rows, share
/// of the group's heads), spread over min(pool, workspace) threads; f16 keys and values are
/// converted once per block for all the heads of an item. At most workspace's max_seqs
/// sequences.
void attention(const KvCache& kv, std::span<const AttentionSequence> seqs, int layer,
               const float* q, int n_head, float scale, float* out, AttentionWorkspace& workspace,
               kernels::ThreadPool& pool);

/// out = silu(gate) * up element-wise over n elements; out may equal gate or up. Large n is
/// split over the pool.
void swiglu(const float* gate, const float* up, float* out, int64_t n, kernels::ThreadPool& pool);

/// x += y over n elements.
void add(float* x, const float* y, int64_t n);

/// out [tokens.size(), token_embd.n_in] = the rows of token_embd for `tokens`, dequantized
/// one row at a time. Token ids must be in [0, token_embd.n_out).
void embed(const Matrix& token_embd, std::span<const int32_t> tokens, float* out);

}  // namespace gengyun::model::blocks
