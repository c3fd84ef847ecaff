// One forward pass as an architecture sees it (the batch, the sequence's KV cache, scratch
// buffers) and the steps every decoder-only family shares around its layers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/blocks.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gengyun::model {

class LoraAdapter;

/// The buffers of forward passes of up to max_tokens tokens, allocated once (a Context's):
/// activations row-major with one row per token, the RoPE table and the attention workspace.
struct Scratch {
  Scratch(const HParams& hp, int64_t max_tokens, int n_threads);

  int64_t max_tokens;
  std::vector<float> x;     ///< [max_tokens, n_embd] residual stream
  std::vector<float> cur;   ///< [max_tokens, n_embd] normed input / sub-layer output
  std::vector<float> q;     ///< [max_tokens, n_head * head_dim]
  std::vector<float> k;     ///< [max_tokens, n_head_kv * head_dim]
  std::vector<float> v;     ///< [max_tokens, n_head_kv * head_dim]
  std::vector<float> attn;  ///< [max_tokens, n_head * head_dim] attention output
  std::vector<float> gate;  ///< [max_tokens, n_ff]
  std::vector<float> up;    ///< [max_tokens, n_ff]
  // Mixture-of-experts layers only (HParams::n_expert > 0; empty otherwise):
  std::vector<float> router;           ///< [max_tokens, n_expert] router logits, then weights
  std::vector<int32_t> selected;       ///< [max_tokens, n_expert_used] experts of each token
  std::vector<float> expert_weight;    ///< [max_tokens, n_expert_used] their weights
  std::vector<int64_t> expert_rows;    ///< [max_tokens] the rows routed to one expert
  std::vector<float> expert_in;        ///< [max_tokens, n_embd] those rows' inputs
  std::vector<float> expert_gate;      ///< [max_tokens, n_ff_exp]
  std::vector<float> expert_up;        ///< [max_tokens, n_ff_exp]
  std::vector<float> expert_out;       ///< [max_tokens, n_embd]
  std::vector<float> expert_outputs;   ///< [max_tokens, n_expert_used, n_embd]
  blocks::RopeTable rope;
  blocks::AttentionWorkspace attention;
  std::vector<blocks::AttentionSequence> attention_seqs;  ///< [max_tokens]: a pass's sequences
  /// [max_tokens]: the LoRA adapter of each row (nullptr: the base model), moved with its row.
  std::vector<const LoraAdapter*> row_adapter;
  // LoRA updates (project()); empty until a pass has an adapter, then grown to its largest need:
  std::vector<int64_t> lora_rows;  ///< [max_tokens] the rows of one adapter
  std::vector<float> lora_in;      ///< [rows, n_in] those rows' inputs, gathered
  std::vector<float> lora_mid;     ///< [rows, rank] scale · A x

  /// Bytes of all the buffers above.
  size_t memory_bytes() const;
};

/// Which rows of a sequence's part of a forward pass get logits.
enum class LogitRows { None, Last, All };

/// One sequence's part of a forward pass: n_tokens consecutive batch rows from `row`, at
/// positions pos0..pos0+n_tokens-1 of the sequence whose KV blocks are `block_table` (block i
/// holds positions [i * KvCache::kBlockSize, (i + 1) * kBlockSize)).
struct SequenceRows {
  int64_t row = 0;
  int64_t n_tokens = 0;
  int pos0 = 0;
  std::span<const int32_t> block_table;
  LogitRows logits = LogitRows::Last;
  /// The LoRA adapter whose updates this sequence's rows get (nullptr: the base model alone).
  const LoraAdapter* adapter = nullptr;
  /// Rows of the sequence's queries: all of its rows, until the last layer keeps only those
  /// whose logits are wanted (keep_output_rows moves them to q_row..q_row+n_q-1, the last n_q
  /// tokens of the sequence's part).
  int64_t q_row = row;
  int64_t n_q = n_tokens;
};

/// The inputs and state of one forward pass over the tokens of one or more sequences. Row r
/// of the scratch activations holds batch token r for r < n_rows, until the last layer drops
/// the rows whose logits are not wanted (keep_output_rows); the logits rows come out in the
/// order of `seqs`.
struct ForwardPass {
  const HParams& hp;
  std::span<const int32_t> tokens;  ///< ids already checked against n_vocab; at most s.max_tokens
  std::span<SequenceRows> seqs;     ///< consecutive, covering every token in order
  KvCache& kv;                      ///< holds the blocks of every sequence's block table
  Scratch& s;
  kernels::ThreadPool& pool;
  float* logits;  ///< output: [rows wanted, n_vocab], or [rows wanted, n_embd] for hidden_states
  int64_t n_rows = static_cast<int64_t>(tokens.size());
  /// Output the final-norm hidden states of the wanted rows instead of their logits (embedding
  /// models: output_logits skips the output matrix).
  bool hidden_states = false;
  /// Some sequence has a LoRA adapter (set by begin_forward).
  bool has_adapters = false;

  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

/// s.x = the embeddings of the tokens; fills s.rope for their positions with `rope` and
/// s.row_adapter with each row's sequence's adapter.
void begin_forward(ForwardPass& pass, const Matrix& token_embd, const blocks::Rope& rope);

/// y = x · w^T (+ bias) for the pass's n_rows rows (blocks::linear), then, for each LoRA
/// adapter among the rows that adapts w, its rows (gathered when they are not all the rows)
/// get y += B (scale · A x) (llama.cpp's build_lora_mm, S-LoRA/Punica-style grouping: one
/// product with A per adapter, whatever the number of its rows, then rank scaled rows of B^T
/// added to each row). A row's result depends only on the row and its adapter, bit for bit
/// (kernels::matmul's batch invariance). Every weight product of a forward pass goes through
/// here, so an adapter applies wherever it names a matrix. x and y: [n_rows, w.n_in] and [n_rows, w.n_out], not overlapping.
void project(ForwardPass& pass, const Matrix& w, const float* bias, const float* x, float* y);

/// Writes s.k and s.v (already rotated, all rows) to `layer` of each sequence's KV blocks.
void store_kv(ForwardPass& pass, int layer);

/// At the last layer, keeps only the rows whose logits are wanted (moving them, in order, to
/// the front of s.x, s.cur and s.rope, and setting each sequence's q_row and n_q): the
/// attention queries, attention output and FFN of the other rows feed nothing. Returns false
/// when no row is wanted (the pass ends after the cache is written). Other layers: true,
/// nothing changes.
bool keep_output_rows(ForwardPass& pass, int layer);

/// s.attn = attention of each sequence's query rows of s.q (already rotated) over its blocks of
/// `layer` of the cache, with scale 1/sqrt(head_dim).
void attend(ForwardPass& pass, int layer);

/// The rest of a pre-norm layer after attention, the same in every family:
/// s.x += s.attn · wo, then s.x += down(silu(gate(h)) * up(h)) with h = rms_norm(s.x, ffn_norm).
/// Clobbers s.cur, s.gate, s.up.
void attention_output_and_feed_forward(ForwardPass& pass, const Matrix& wo, const float* ffn_norm,
                                       const Matrix& gate, const Matrix& up, const Matrix& down);

/// The attention weights of a Qwen3 layer (qwen3, qwen3moe): no biases, an RMSNorm over each
/// head of Q and K (head_dim weights) before RoPE.
struct QkNormAttention {
  const float* attn_norm = nullptr;
  Matrix wq, wk, wv, wo;
  const float *q_norm = nullptr, *k_norm = nullptr;
};

/// Binds blk.<layer>.{attn_norm, attn_q, attn_k, attn_v, attn_q_norm, attn_k_norm,
/// attn_output}.weight for `hp`; errors go to binder.finish().
QkNormAttention bind_qk_norm_attention(const HParams& hp, WeightBinder& binder, int layer);

/// The attention of a Qwen3 layer up to s.attn: h = rms_norm(s.x), K and V of h (K normed per
/// head, rotated) into the cache, then, for the rows kept (keep_output_rows), Q (normed per
/// head, rotated) and attend(). Returns false when the pass ends at this layer (no row wanted).
bool qk_norm_attention(ForwardPass& pass, int layer, const QkNormAttention& a);

/// The weights of a mixture-of-experts feed-forward (llama.cpp's build_moe_ffn for qwen3moe):
/// a router ffn_gate_inp (ne = [n_embd, n_expert]) and the stacked experts
/// ffn_{gate,up}_exps (ne = [n_embd, n_ff_exp, n_expert]) and ffn_down_exps
/// (ne = [n_ff_exp, n_embd, n_expert]).
struct MoeWeights {
  Matrix router;
  ExpertMatrices gate, up, down;
};

/// attention_output_and_feed_forward with a mixture of experts for the FFN (Qwen3-MoE,
/// llama.cpp's build_moe_ffn with softmax gating and normalized top-k weights): for each row,
/// p = softmax(router · h); the n_expert_used experts of largest p (ties: lower id first), in
/// that order, with weights w_r = p_r / sum of the kept p; then
/// s.x += sum_r w_r * down_r(silu(gate_r(h)) * up_r(h)), the products w_r * y_r added in
/// rank order. The rows routed to one expert are multiplied together (each used expert's
/// weights are read once per pass; unused experts are not touched). A row's result depends
/// only on that row (batch invariance, as kernels::matmul). Clobbers s.cur and the MoE buffers.
void attention_output_and_moe(ForwardPass& pass, const Matrix& wo, const float* ffn_norm,
                              const MoeWeights& moe);

/// Final RMSNorm of the n_rows rows of s.x and the LM head, into pass.logits (with
/// pass.hidden_states, the normed rows themselves).
void output_logits(ForwardPass& pass, const float* output_norm, const Matrix& output);

}  // namespace gengyun::model
