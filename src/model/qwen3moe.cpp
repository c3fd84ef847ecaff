// Architecture `qwen3moe` (Qwen3-MoE, e.g. Qwen3-30B-A3B), after llama.cpp's
// src/models/qwen3moe.cpp: qwen3's attention (forward.h, qk_norm_attention) and, in every
// layer, a mixture of experts instead of the dense feed-forward (attention_output_and_moe):
// a router ffn_gate_inp, expert_count experts stacked in ffn_{gate,up,down}_exps,
// expert_used_count of them per token with normalized weights.
#include "model/architecture.h"
#include "model/blocks.h"

namespace gengyun::model {
namespace {

class Qwen3Moe final : public Architecture {
 public:
  struct Layer {
    QkNormAttention attention;
    const float* ffn_norm = nullptr;
    MoeWeights moe;
  };

  Matrix token_embd_;
  const float* output_norm_ = nullptr;
  Matrix output_;
  blocks::Rope rope_;
  std::vector<Layer> layers_;

  void forward(ForwardPass& p) const override {
    begin_forward(p, token_embd_, rope_);
    for (int il = 0; il < p.hp.n_layer; ++il) {
      const Layer& l = layers_[il];
      if (!qk_norm_attention(p, il, l.attention)) return;
      attention_output_and_moe(p, l.attention.wo, l.ffn_norm, l.moe);
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
  bind_embedding_and_output(hp, b, m->token_embd_, m->output_norm_, m->output_);
  m->rope_ = {hp.rope_type, hp.head_dim, hp.rope_freq_base, nullptr};

  for (int i = 0; i < hp.n_layer && b.finish().ok(); ++i) {
    const auto name = [i](const char* suffix) { return WeightBinder::layer_name(i, suffix); };
    Qwen3Moe::Layer& l = m->layers_.emplace_back();
    l.attention = bind_qk_norm_attention(hp, b, i);
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
