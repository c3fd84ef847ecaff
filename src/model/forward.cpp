#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/matmul.h"
#include "kernels/vector_kernels.h"
#include "model/lora.h"

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
      router(static_cast<size_t>(max_tokens * hp.n_expert)),
      selected(static_cast<size_t>(max_tokens * hp.n_expert_used)),
      expert_weight(selected.size()),
      expert_rows(hp.n_expert > 0 ? static_cast<size_t>(max_tokens) : 0),
      expert_in(hp.n_expert > 0 ? x.size() : 0),
      expert_gate(static_cast<size_t>(max_tokens * hp.n_ff_exp)),
      expert_up(expert_gate.size()),
      expert_out(expert_in.size()),
      expert_outputs(static_cast<size_t>(max_tokens * hp.n_expert_used * hp.n_embd)),
      rope(max_tokens, hp.head_dim),
      attention(n_threads, hp.head_dim, max_tokens),
      attention_seqs(static_cast<size_t>(max_tokens)),
      row_adapter(static_cast<size_t>(max_tokens)) {}

size_t Scratch::memory_bytes() const {
  const size_t floats = x.size() + cur.size() + q.size() + k.size() + v.size() + attn.size() +
                        gate.size() + up.size() + router.size() + expert_weight.size() +
                        expert_in.size() + expert_gate.size() + expert_up.size() +
                        expert_out.size() + expert_outputs.size() + lora_in.size() +
                        lora_mid.size();
  return floats * sizeof(float) + selected.size() * sizeof(int32_t) +
         (expert_rows.size() + lora_rows.size()) * sizeof(int64_t) + rope.memory_bytes() +
         attention.memory_bytes() + attention_seqs.size() * sizeof(blocks::AttentionSequence) +
         row_adapter.size() * sizeof(const LoraAdapter*);
}

void begin_forward(ForwardPass& pass, const Matrix& token_embd, const blocks::Rope& rope) {
  blocks::embed(token_embd, pass.tokens, pass.s.x.data());
  pass.has_adapters = false;
  for (const SequenceRows& seq : pass.seqs) {
    pass.s.rope.fill(rope, seq.row, seq.pos0, seq.n_tokens);
    std::fill_n(pass.s.row_adapter.begin() + seq.row, seq.n_tokens, seq.adapter);
    pass.has_adapters |= seq.adapter != nullptr;
  }
}

namespace {

// y += B (scale · A x) for the rows of adapter `adapter` whose update of w is `lw`: the rank
// products of A through matmul, then each row adds rank scaled rows of B^T (one pool task per
// chunk of rows; a row's result depends only on the row).
void apply_lora(ForwardPass& pass, const LoraAdapter* adapter, const LoraWeight& lw,
                const float* x, float* y) {
  Scratch& s = pass.s;
  const int64_t n_in = lw.a.n_in, rank = lw.rank(), n_out = lw.b.n_out;
  if (s.lora_rows.empty()) s.lora_rows.resize(static_cast<size_t>(s.max_tokens));
  int64_t count = 0;
  for (int64_t r = 0; r < pass.n_rows; ++r)
    if (s.row_adapter[r] == adapter) s.lora_rows[count++] = r;
  const auto grow = [](std::vector<float>& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  };
  const bool all_rows = count == pass.n_rows;
  const float* in = x;
  if (!all_rows) {
    grow(s.lora_in, count * n_in);
    for (int64_t i = 0; i < count; ++i)
      std::copy_n(x + s.lora_rows[i] * n_in, n_in, s.lora_in.data() + i * n_in);
    in = s.lora_in.data();
  }
  grow(s.lora_mid, count * rank);
  float* mid = s.lora_mid.data();
  blocks::linear(lw.a, nullptr, in, mid, count, pass.pool);
  for (int64_t i = 0; i < count * rank; ++i) mid[i] *= lw.scale;
  const kernels::VectorKernels& vk = kernels::vector_kernels();
  pass.pool.parallel_for(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      vk.accumulate_rows(mid + i * rank, 1, lw.b_transposed.data(), rank, n_out,
                         y + s.lora_rows[i] * n_out);
  });
}

}  // namespace

void project(ForwardPass& pass, const Matrix& w, const float* bias, const float* x, float* y) {
  blocks::linear(w, bias, x, y, pass.n_rows, pass.pool);
  if (!pass.has_adapters) return;
  // Each adapter once, in the order of its first row.
  const std::vector<const LoraAdapter*>& rows = pass.s.row_adapter;
  for (int64_t r = 0; r < pass.n_rows; ++r) {
    const LoraAdapter* adapter = rows[r];
    if (adapter == nullptr || std::find(rows.begin(), rows.begin() + r, adapter) != rows.begin() + r)
      continue;
    if (const LoraWeight* lw = adapter->find(w.tensor)) apply_lora(pass, adapter, *lw, x, y);
  }
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
      s.row_adapter[kept] = s.row_adapter[r];
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
  project(pass, wo, nullptr, s.attn.data(), s.cur.data());
  blocks::add(s.x.data(), s.cur.data(), n * n_embd);
  blocks::rms_norm(s.x.data(), ffn_norm, s.cur.data(), n, n_embd, pass.hp.rms_eps);
  project(pass, gate, nullptr, s.cur.data(), s.gate.data());
  project(pass, up, nullptr, s.cur.data(), s.up.data());
  blocks::swiglu(s.gate.data(), s.up.data(), s.gate.data(), n * pass.hp.n_ff, pass.pool);
  project(pass, down, nullptr, s.gate.data(), s.cur.data());
  blocks::add(s.x.data(), s.cur.data(), n * n_embd);
}

QkNormAttention bind_qk_norm_attention(const HParams& hp, WeightBinder& b, int layer) {
  const auto name = [layer](const char* suffix) { return WeightBinder::layer_name(layer, suffix); };
  const int64_t q_dim = int64_t{hp.n_head} * hp.head_dim;
  const int64_t kv_dim = int64_t{hp.n_head_kv} * hp.head_dim;
  QkNormAttention a;
  a.attn_norm = b.vector(name("attn_norm.weight"), hp.n_embd);
  a.wq = b.matrix(name("attn_q.weight"), hp.n_embd, q_dim);
  a.wk = b.matrix(name("attn_k.weight"), hp.n_embd, kv_dim);
  a.wv = b.matrix(name("attn_v.weight"), hp.n_embd, kv_dim);
  a.q_norm = b.vector(name("attn_q_norm.weight"), hp.head_dim);
  a.k_norm = b.vector(name("attn_k_norm.weight"), hp.head_dim);
  a.wo = b.matrix(name("attn_output.weight"), q_dim, hp.n_embd);
  return a;
}

bool qk_norm_attention(ForwardPass& p, int layer, const QkNormAttention& a) {
  const HParams& hp = p.hp;
  Scratch& s = p.s;
  blocks::rms_norm(s.x.data(), a.attn_norm, s.cur.data(), p.n_rows, hp.n_embd, hp.rms_eps);
  project(p, a.wk, nullptr, s.cur.data(), s.k.data());
  project(p, a.wv, nullptr, s.cur.data(), s.v.data());
  blocks::rms_norm(s.k.data(), a.k_norm, s.k.data(), p.n_rows * hp.n_head_kv, hp.head_dim,
                   hp.rms_eps);
  blocks::rope(s.rope, s.k.data(), p.n_rows, hp.n_head_kv);
  store_kv(p, layer);
  if (!keep_output_rows(p, layer)) return false;
  project(p, a.wq, nullptr, s.cur.data(), s.q.data());
  blocks::rms_norm(s.q.data(), a.q_norm, s.q.data(), p.n_rows * hp.n_head, hp.head_dim,
                   hp.rms_eps);
  blocks::rope(s.rope, s.q.data(), p.n_rows, hp.n_head);
  attend(p, layer);
  return true;
}

namespace {

// p = softmax(logits) in place over n values, as ggml_soft_max: exp(l - max) summed in double,
// then scaled by 1 / sum.
void softmax(float* p, int64_t n) {
  const float max = *std::max_element(p, p + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    p[i] = std::exp(p[i] - max);
    sum += p[i];
  }
  const float scale = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) p[i] *= scale;
}

}  // namespace

void attention_output_and_moe(ForwardPass& pass, const Matrix& wo, const float* ffn_norm,
                              const MoeWeights& moe) {
  Scratch& s = pass.s;
  const HParams& hp = pass.hp;
  const int64_t n = pass.n_rows;
  const int64_t n_embd = hp.n_embd, n_ff = hp.n_ff_exp, n_used = hp.n_expert_used;
  project(pass, wo, nullptr, s.attn.data(), s.cur.data());
  blocks::add(s.x.data(), s.cur.data(), n * n_embd);
  blocks::rms_norm(s.x.data(), ffn_norm, s.cur.data(), n, n_embd, hp.rms_eps);

  // Routing: each row's top n_used experts and their normalized weights.
  project(pass, moe.router, nullptr, s.cur.data(), s.router.data());
  std::vector<int32_t> ids(static_cast<size_t>(hp.n_expert));
  for (int64_t t = 0; t < n; ++t) {
    float* p = s.router.data() + t * hp.n_expert;
    softmax(p, hp.n_expert);
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + n_used, ids.end(),
                      [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float sum = 0;
    for (int64_t r = 0; r < n_used; ++r) sum += p[ids[r]];
    for (int64_t r = 0; r < n_used; ++r) {
      s.selected[t * n_used + r] = ids[r];
      s.expert_weight[t * n_used + r] = p[ids[r]] / sum;
    }
  }

  // Each used expert over the rows routed to it; its outputs to expert_outputs[row, rank].
  for (int32_t e = 0; e < hp.n_expert; ++e) {
    int64_t count = 0;
    for (int64_t i = 0; i < n * n_used; ++i) {
      if (s.selected[i] != e) continue;
      s.expert_rows[count] = i;  // row i / n_used, rank i % n_used
      std::copy_n(s.cur.data() + (i / n_used) * n_embd, n_embd, s.expert_in.data() + count * n_embd);
      ++count;
    }
    if (count == 0) continue;
    kernels::matmul(moe.gate.type(), moe.gate.layout(), moe.gate.expert(e), n_embd, n_ff,
                    s.expert_in.data(), s.expert_gate.data(), count, pass.pool);
    kernels::matmul(moe.up.type(), moe.up.layout(), moe.up.expert(e), n_embd, n_ff,
                    s.expert_in.data(), s.expert_up.data(), count, pass.pool);
    blocks::swiglu(s.expert_gate.data(), s.expert_up.data(), s.expert_gate.data(), count * n_ff,
                   pass.pool);
    kernels::matmul(moe.down.type(), moe.down.layout(), moe.down.expert(e), n_ff, n_embd,
                    s.expert_gate.data(), s.expert_out.data(), count, pass.pool);
    for (int64_t c = 0; c < count; ++c)
      std::copy_n(s.expert_out.data() + c * n_embd, n_embd,
                  s.expert_outputs.data() + s.expert_rows[c] * n_embd);
  }

  // s.x += (w_0 y_0 + w_1 y_1 + ...) per row, the weighted outputs added in rank order.
  for (int64_t t = 0; t < n; ++t) {
    float* sum = s.cur.data() + t * n_embd;
    for (int64_t r = 0; r < n_used; ++r) {
      const float w = s.expert_weight[t * n_used + r];
      const float* y = s.expert_outputs.data() + (t * n_used + r) * n_embd;
      for (int64_t i = 0; i < n_embd; ++i) {
        const float weighted = w * y[i];
        sum[i] = r == 0 ? weighted : sum[i] + weighted;
      }
    }
  }
  blocks::add(s.x.data(), s.cur.data(), n * n_embd);
}

void output_logits(ForwardPass& pass, const float* output_norm, const Matrix& output) {
  if (pass.hidden_states) {
    blocks::rms_norm(pass.s.x.data(), output_norm, pass.logits, pass.n_rows, pass.hp.n_embd,
                     pass.hp.rms_eps);
    return;
  }
  blocks::rms_norm(pass.s.x.data(), output_norm, pass.s.cur.data(), pass.n_rows, pass.hp.n_embd,
                   pass.hp.rms_eps);
  project(pass, output, nullptr, pass.s.cur.data(), pass.logits);
}

}  // namespace gengyun::model
