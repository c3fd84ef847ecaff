// One forward pass as an architecture sees it (the batch, the sequence's KV cache, scratch
// buffers) and the steps every decoder-only family shares around its layers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gengyun::model {

/// Activations of one batch, row-major with one row per token; sized by resize().
struct Scratch {
  std::vector<float> x;     ///< [n_tokens, n_embd] residual stream
  std::vector<float> cur;   ///< [n_tokens, n_embd] normed input / sub-layer output
  std::vector<float> q;     ///< [n_tokens, n_head * head_dim]
  std::vector<float> k;     ///< [n_tokens, n_head_kv * head_dim]
  std::vector<float> v;     ///< [n_tokens, n_head_kv * head_dim]
  std::vector<float> attn;  ///< [n_tokens, n_head * head_dim] attention output
  std::vector<float> gate;  ///< [n_tokens, n_ff]
  std::vector<float> up;    ///< [n_tokens, n_ff]

  void resize(const HParams& hp, int64_t n_tokens);
};

/// The inputs and state of one forward pass over `tokens` at positions pos0.. of a sequence.
struct ForwardPass {
  const HParams& hp;
  std::span<const int32_t> tokens;  ///< ids already checked against n_vocab
  int pos0;                         ///< position of tokens[0] (the sequence's n_past)
  bool all_logits;                  ///< logits for every token, else for the last one only
  KvCache& kv;                      ///< has room for pos0 + tokens.size() positions
  Scratch& s;                       ///< sized for tokens.size()
  kernels::ThreadPool& pool;
  std::vector<float>& logits;       ///< output: [n_tokens, n_vocab] or [n_vocab]

  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

/// s.x = the embeddings of the tokens.
void embed_tokens(ForwardPass& pass, const Matrix& token_embd);

/// Appends s.k and s.v (already rotated) to `layer` of the KV cache and writes
/// s.attn = attention of s.q (already rotated) with scale 1/sqrt(head_dim).
void self_attention(ForwardPass& pass, int layer);

/// SwiGLU feed-forward: s.cur = down(silu(gate(s.cur)) * up(s.cur)); clobbers s.gate, s.up.
void feed_forward_swiglu(ForwardPass& pass, const Matrix& gate, const Matrix& up,
                         const Matrix& down);

/// Final RMSNorm of s.x and the LM head, for every token or only the last (pass.all_logits),
/// into pass.logits.
void output_logits(ForwardPass& pass, const float* output_norm, const Matrix& output);

}  // namespace gengyun::model
