#include "model/forward.h"

#include <cmath>

#include "model/blocks.h"

namespace gengyun::model {

void Scratch::resize(const HParams& hp, int64_t n_tokens) {
  const auto rows = [n_tokens](int64_t width) { return static_cast<size_t>(n_tokens * width); };
  x.resize(rows(hp.n_embd));
  cur.resize(rows(hp.n_embd));
  q.resize(rows(int64_t{hp.n_head} * hp.head_dim));
  k.resize(rows(int64_t{hp.n_head_kv} * hp.head_dim));
  v.resize(rows(int64_t{hp.n_head_kv} * hp.head_dim));
  attn.resize(rows(int64_t{hp.n_head} * hp.head_dim));
  gate.resize(rows(hp.n_ff));
  up.resize(rows(hp.n_ff));
}

void embed_tokens(ForwardPass& pass, const Matrix& token_embd) {
  blocks::embed(token_embd, pass.tokens, pass.s.x.data());
}

void self_attention(ForwardPass& pass, int layer) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(pass.hp.head_dim));
  pass.kv.store(layer, pass.pos0, pass.n_tokens(), pass.s.k.data(), pass.s.v.data());
  blocks::attention(pass.kv, layer, pass.s.q.data(), pass.n_tokens(), pass.pos0,
                    pass.hp.n_head, scale, pass.s.attn.data(), pass.pool);
}

void feed_forward_swiglu(ForwardPass& pass, const Matrix& gate, const Matrix& up,
                         const Matrix& down) {
  Scratch& s = pass.s;
  const int64_t n = pass.n_tokens();
  blocks::linear(gate, nullptr, s.cur.data(), s.gate.data(), n, pass.pool);
  blocks::linear(up, nullptr, s.cur.data(), s.up.data(), n, pass.pool);
  blocks::swiglu(s.gate.data(), s.up.data(), s.gate.data(), n * pass.hp.n_ff);
  blocks::linear(down, nullptr, s.gate.data(), s.cur.data(), n, pass.pool);
}

void output_logits(ForwardPass& pass, const float* output_norm, const Matrix& output) {
  const int64_t n_embd = pass.hp.n_embd;
  const int64_t first = pass.all_logits ? 0 : pass.n_tokens() - 1;
  const int64_t n_rows = pass.n_tokens() - first;
  blocks::rms_norm(pass.s.x.data() + first * n_embd, output_norm, pass.s.cur.data(), n_rows,
                   n_embd, pass.hp.rms_eps);
  pass.logits.resize(static_cast<size_t>(n_rows * output.n_out));
  blocks::linear(output, nullptr, pass.s.cur.data(), pass.logits.data(), n_rows, pass.pool);
}

}  // namespace gengyun::model
