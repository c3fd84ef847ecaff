// Architecture `qwen3moe` (Qwen3-MoE, e.g. Qwen3-30B-A3B), after llama.cpp's
// src/models/qwen3moe.cpp: qwen3's attention (per-head Q/K RMSNorm, NEOX RoPE, no biases) and,
// in every layer, a mixture of experts instead of the dense feed-forward (forward.h,
// attention_output_and_moe): a router ffn_gate_inp, expert_count experts stacked in
// ffn_{gate,up,down}_exps, expert_used_count of them per token with normalized weights.
#include "model/architecture.h"
#include "model/blocks.h"

namespace gengyun::model {
namespace {

class Qwen3Moe final : public Architecture {
 public:
  struct Layer {
    const float* attn_norm = nullptr;
    Matrix wq, wk, wv, wo;
    const float *q_norm = nullptr, *k_norm = nullptr;
    const float* ffn_norm = nullptr;
    MoeWeights moe;
  };

  Matrix token_embd_;
  const float* output_norm_ = nullptr;
  Matrix output_;
  blocks::Rope rope_;
  std::vector<Layer> layers_;

  void forward(ForwardPass& p) const override {
    const HParams& hp = p.hp;
    Scratch& s = p.s;
    begin_forward(p, token_embd_, rope_);
    for (int il = 0; il < hp.n_layer; ++il) {
      const Layer& l = layers_[il];
      blocks::rms_norm(s.x.data(), l.attn_norm, s.cur.data(), p.n_rows, hp.n_embd, hp.rms_eps);
      blocks::linear(l.wk, nullptr, s.cur.data(), s.k.data(), p.n_rows, p.pool);
      blocks::linear(l.wv, nullptr, s.cur.data(), s.v.data(), p.n_rows, p.pool);
      blocks::rms_norm(s.k.data(), l.k_norm, s.k.data(), p.n_rows * hp.n_head_kv, hp.head_dim,
                       hp.rms_eps);
      blocks::rope(s.rope, s.k.data(), p.n_rows, hp.n_head_kv);
      store_kv(p, il);
      if (!keep_output_rows(p, il)) return;
      blocks::linear(l.wq, nullptr, s.cur.data(), s.q.data(), p.n_rows, p.pool);
      blocks::rms_norm(s.q.data(), l.q_norm, s.q.data(), p.n_rows * hp.n_head, hp.head_dim,
                       hp.rms_eps);
      blocks::rope(s.rope, s.q.data(), p.n_rows, hp.n_head);
      attend(p, il);
      attention_output_and_moe(p, l.wo, l.ffn_norm, l.moe);
    }
    output_logits(p, output_norm_, output_);
  }
};

}  // namespace

Result<std::unique_ptr<Architecture>> build_qwen3moe(const HParams& hp, WeightBinder& b) {
  if (hp.n_expert == 0)
    return Error{
        "architecture 'qwen3moe' needs qwen3moe.expert_count, expert_used_count and "
        "expert_feed_forward_length"};
  auto m = std::make_unique<Qwen3Moe>();
  const int64_t q_dim = int64_t{hp.n_head} * hp.head_dim;
  const int64_t kv_dim = int64_t{hp.n_head_kv} * hp.head_dim;

  bind_embedding_and_output(hp, b, m->token_embd_, m->output_norm_, m->output_);
  m->rope_ = {hp.rope_type, hp.head_dim, hp.rope_freq_base, nullptr};

  for (int i = 0; i < hp.n_layer && b.finish().ok(); ++i) {
    const auto name = [i](const char* suffix) { return WeightBinder::layer_name(i, suffix); };
    Qwen3Moe::Layer& l = m->layers_.emplace_back();
    l.attn_norm = b.vector(name("attn_norm.weight"), hp.n_embd);
    l.wq = b.matrix(name("attn_q.weight"), hp.n_embd, q_dim);
    l.wk = b.matrix(name("attn_k.weight"), hp.n_embd, kv_dim);
    l.wv = b.matrix(name("attn_v.weight"), hp.n_embd, kv_dim);
    l.q_norm = b.vector(name("attn_q_norm.weight"), hp.head_dim);
    l.k_norm = b.vector(name("attn_k_norm.weight"), hp.head_dim);
    l.wo = b.matrix(name("attn_output.weight"), q_dim, hp.n_embd);
    l.ffn_norm = b.vector(name("ffn_norm.weight"), hp.n_embd);
    l.moe.router = b.matrix(name("ffn_gate_inp.weight"), hp.n_embd, hp.n_expert);
    l.moe.gate = b.experts(name("ffn_gate_exps.weight"), hp.n_embd, hp.n_ff_exp, hp.n_expert);
    l.moe.up = b.experts(name("ffn_up_exps.weight"), hp.n_embd, hp.n_ff_exp, hp.n_expert);
    l.moe.down = b.experts(name("ffn_down_exps.weight"), hp.n_ff_exp, hp.n_embd, hp.n_expert);
  }
  if (Result<void> bound = b.finish(); !bound) return bound.error();
  return std::unique_ptr<Architecture>(std::move(m));
}

}  // namespace gengyun::model
