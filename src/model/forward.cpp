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
      attention(n_threads, hp.head_dim) {}

size_t Scratch::memory_bytes() const {
  const size_t floats = x.size() + cur.size() + q.size() + k.size() + v.size() + attn.size() +
                        gate.size() + up.size();
  return floats * sizeof(float) + rope.memory_bytes() + attention.memory_bytes();
}

void begin_forward(ForwardPass& pass, const Matrix& token_embd, const blocks::Rope& rope) {
  blocks::embed(token_embd, pass.tokens, pass.s.x.data());
  pass.s.rope.fill(rope, pass.pos0, pass.n_tokens());
}

void store_kv(ForwardPass& pass, int layer) {
  pass.kv.store(layer, pass.pos0 + static_cast<int>(pass.row0), pass.n_rows, pass.s.k.data(),
                pass.s.v.data());
}

bool keep_output_rows(ForwardPass& pass, int layer) {
  if (layer != pass.hp.n_layer - 1 || pass.logit_rows == LogitRows::All) return true;
  if (pass.logit_rows == LogitRows::None) return false;
  const int64_t n_embd = pass.hp.n_embd;
  const int64_t last = pass.n_rows - 1;
  std::copy_n(pass.s.x.begin() + last * n_embd, n_embd, pass.s.x.begin());
  std::copy_n(pass.s.cur.begin() + last * n_embd, n_embd, pass.s.cur.begin());
  pass.row0 += last;
  pass.n_rows = 1;
  return true;
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
  blocks::attention(pass.kv, layer, pass.s.q.data(), pass.n_rows,
                    pass.pos0 + static_cast<int>(pass.row0), pass.hp.n_head, scale,
                    pass.s.attn.data(), pass.s.attention, pass.pool);
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
