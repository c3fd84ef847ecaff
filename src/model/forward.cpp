#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "kernels/vector_kernels.h"

namespace gengyun::model {

Scratch::Scratch(const HParams& hp, int64_t max_tokens, int n_threads)
    : max_tokens(max_tokens),
      x(static_cast<size_t>(max_tokens * hp.n_embd)),
      cur(x.size()),
      q(static_cast<size_t>(max_tokens * hp.n_head * hp.head_dim)),
      k(static_cast<size_t>(max_tokens * hp.n_head_kv * hp.head_dim)),
      v(k.size()),
      attn(q.size()),
      gate(static_cast<size_t>(max_tokens * hp.n_ff)),
      up(gate.size()),
      rope(max_tokens, hp.head_dim),
      attention(n_threads, hp.head_dim, max_tokens),
      attention_seqs(static_cast<size_t>(max_tokens)) {}

size_t Scratch::memory_bytes() const {
  const size_t floats = x.size() + cur.size() + q.size() + k.size() + v.size() + attn.size() +
                        gate.size() + up.size();
  return floats * sizeof(float) + rope.memory_bytes() + attention.memory_bytes() +
         attention_seqs.size() * sizeof(blocks::AttentionSequence);
}

void begin_forward(ForwardPass& pass, const Matrix& token_embd, const blocks::Rope& rope) {
  blocks::embed(token_embd, pass.tokens, pass.s.x.data());
  for (const SequenceRows& seq : pass.seqs) pass.s.rope.fill(rope, seq.row, seq.pos0, seq.n_tokens);
}

void store_kv(ForwardPass& pass, int layer) {
  const int64_t kv_dim = int64_t{pass.hp.n_head_kv} * pass.hp.head_dim;
  for (const SequenceRows& seq : pass.seqs)
    pass.kv.store(layer, seq.block_table, seq.pos0, seq.n_tokens,
                  pass.s.k.data() + seq.row * kv_dim, pass.s.v.data() + seq.row * kv_dim);
}

bool keep_output_rows(ForwardPass& pass, int layer) {
  if (layer != pass.hp.n_layer - 1) return true;
  const int64_t n_embd = pass.hp.n_embd;
  Scratch& s = pass.s;
  int64_t kept = 0;
  for (SequenceRows& seq : pass.seqs) {
    const int64_t n_keep = seq.logits == LogitRows::All    ? seq.n_tokens
                           : seq.logits == LogitRows::Last ? std::min<int64_t>(seq.n_tokens, 1)
                                                           : 0;
    seq.q_row = kept;
    seq.n_q = n_keep;
    for (int64_t r = seq.row + seq.n_tokens - n_keep; r < seq.row + seq.n_tokens; ++r, ++kept) {
      if (r == kept) continue;
      std::copy_n(s.x.begin() + r * n_embd, n_embd, s.x.begin() + kept * n_embd);
      std::copy_n(s.cur.begin() + r * n_embd, n_embd, s.cur.begin() + kept * n_embd);
      s.rope.move_row(r, kept);
    }
  }
  pass.n_rows = kept;
  return kept > 0;
}

namespace {

/// x[i] = the nearest f16 value of x[i], for i < n.
void round_to_f16(float* x, int64_t n) {
  const kernels::VectorKernels& vk = kernels::vector_kernels();
  constexpr int64_t kChunk = 256;
  uint16_t half[kChunk];
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t m = std::min(kChunk, n - i);
    vk.fp32_to_fp16(x + i, half, m);
    vk.fp16_to_fp32(half, x + i, m);
  }
}

}  // namespace

void attend(ForwardPass& pass, int layer) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(pass.hp.head_dim));
  // Attention runs at llama.cpp's precision whatever the cache stores (its CPU attention
  // takes Q in f16 and accumulates V in f16): the rows entering attn_output then round to
  // the same Q8 activation blocks as the reference's, which keeps argmax flips to near-ties.
  const int64_t n_values = pass.n_rows * pass.hp.n_head * pass.hp.head_dim;
  round_to_f16(pass.s.q.data(), n_values);
  std::vector<blocks::AttentionSequence>& seqs = pass.s.attention_seqs;
  for (size_t i = 0; i < pass.seqs.size(); ++i) {
    const SequenceRows& seq = pass.seqs[i];
    seqs[i] = {seq.q_row, seq.n_q, seq.pos0 + static_cast<int>(seq.n_tokens - seq.n_q),
               seq.block_table};
  }
  blocks::attention(pass.kv, std::span(seqs.data(), pass.seqs.size()), layer, pass.s.q.data(),
                    pass.hp.n_head, scale, pass.s.attn.data(), pass.s.attention, pass.pool);
  round_to_f16(pass.s.attn.data(), n_values);
}

void attention_output_and_feed_forward(ForwardPass& pass, const Matrix& wo, const float* ffn_norm,
                                       const Matrix& gate, const Matrix& up, const Matrix& down) {
  Scratch& s = pass.s;
  const int64_t n = pass.n_rows;
  const int64_t n_embd = pass.hp.n_embd;
  blocks::linear(wo, nullptr, s.attn.data(), s.cur.data(), n, pass.pool);
  blocks::add(s.x.data(), s.cur.data(), n * n_embd);
  blocks::rms_norm(s.x.data(), ffn_norm, s.cur.data(), n, n_embd, pass.hp.rms_eps);
  blocks::linear(gate, nullptr, s.cur.data(), s.gate.data(), n, pass.pool);
  blocks::linear(up, nullptr, s.cur.data(), s.up.data(), n, pass.pool);
  blocks::swiglu(s.gate.data(), s.up.data(), s.gate.data(), n * pass.hp.n_ff, pass.pool);
  blocks::linear(down, nullptr, s.gate.data(), s.cur.data(), n, pass.pool);
  blocks::add(s.x.data(), s.cur.data(), n * n_embd);
}

void output_logits(ForwardPass& pass, const float* output_norm, const Matrix& output) {
  blocks::rms_norm(pass.s.x.data(), output_norm, pass.s.cur.data(), pass.n_rows, pass.hp.n_embd,
                   pass.hp.rms_eps);
  blocks::linear(output, nullptr, pass.s.cur.data(), pass.logits, pass.n_rows, pass.pool);
}

}  // namespace gengyun::model
