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
  blocks::RopeTable rope;
  blocks::AttentionWorkspace attention;

  /// Bytes of all the buffers above.
  size_t memory_bytes() const;
};

/// Which rows of a forward pass get logits.
enum class LogitRows { None, Last, All };

/// The inputs and state of one forward pass over `tokens` at positions pos0.. of a sequence.
/// Row r of the scratch activations holds batch token row0 + r for r < n_rows: all tokens,
/// until the last layer drops the rows whose logits are not wanted (keep_output_rows).
struct ForwardPass {
  const HParams& hp;
  std::span<const int32_t> tokens;  ///< ids already checked against n_vocab; at most s.max_tokens
  int pos0;                         ///< position of tokens[0] (the sequence's n_past)
  LogitRows logit_rows;
  KvCache& kv;  ///< has room for pos0 + tokens.size() positions
  Scratch& s;
  kernels::ThreadPool& pool;
  float* logits;  ///< output: [1 or n_tokens, n_vocab]; unused for None
  int64_t row0 = 0;
  int64_t n_rows = static_cast<int64_t>(tokens.size());

  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

/// s.x = the embeddings of the tokens; fills s.rope for their positions with `rope`.
void begin_forward(ForwardPass& pass, const Matrix& token_embd, const blocks::Rope& rope);

/// Appends s.k and s.v (already rotated, all n_rows rows) to `layer` of the KV cache.
void store_kv(ForwardPass& pass, int layer);

/// At the last layer, keeps only the rows whose logits are wanted (moving them to the front of
/// s.x and s.cur): the attention queries, attention output and FFN of the other rows feed
/// nothing. Returns false when no row is wanted (the pass ends after the cache is written).
/// Other layers: true, nothing changes.
bool keep_output_rows(ForwardPass& pass, int layer);

/// s.attn = attention of the n_rows rows of s.q (already rotated) over `layer` of the cache,
/// with scale 1/sqrt(head_dim).
void attend(ForwardPass& pass, int layer);

/// The rest of a pre-norm layer after attention, the same in every family:
/// s.x += s.attn · wo, then s.x += down(silu(gate(h)) * up(h)) with h = rms_norm(s.x, ffn_norm).
/// Clobbers s.cur, s.gate, s.up.
void attention_output_and_feed_forward(ForwardPass& pass, const Matrix& wo, const float* ffn_norm,
                                       const Matrix& gate, const Matrix& up, const Matrix& down);

/// Final RMSNorm of the n_rows rows of s.x and the LM head, into pass.logits.
void output_logits(ForwardPass& pass, const float* output_norm, const Matrix& output);

}  // namespace gengyun::model
