// Architecture `qwen3` (Qwen3 dense), after llama.cpp's src/models/qwen3.cpp: like qwen2
// without biases, plus an RMSNorm over each head of Q and K (attn_q_norm / attn_k_norm,
// head_dim weights) before RoPE (forward.h, qk_norm_attention); head_dim
// (attention.key_length) may differ from n_embd / n_head.
#include "model/architecture.h"
#include "model/blocks.h"

namespace gengyun::model {
namespace {

class Qwen3 final : public Architecture {
 public:
  struct Layer {
    QkNormAttention attention;
    const float* ffn_norm = nullptr;
    Matrix ffn_gate, ffn_up, ffn_down;
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
      attention_output_and_feed_forward(p, l.attention.wo, l.ffn_norm, l.ffn_gate, l.ffn_up,
                                        l.ffn_down);
    }
    output_logits(p, output_norm_, output_);
  }
};

}  // namespace

Result<std::unique_ptr<Architecture>> build_qwen3(const HParams& hp, WeightBinder& b) {
  auto m = std::make_unique<Qwen3>();
  bind_embedding_and_output(hp, b, m->token_embd_, m->output_norm_, m->output_);
  m->rope_ = {hp.rope_type, hp.head_dim, hp.rope_freq_base, nullptr};

  for (int i = 0; i < hp.n_layer && b.finish().ok(); ++i) {
    const auto name = [i](const char* suffix) { return WeightBinder::layer_name(i, suffix); };
    Qwen3::Layer& l = m->layers_.emplace_back();
    l.attention = bind_qk_norm_attention(hp, b, i);
    l.ffn_norm = b.vector(name("ffn_norm.weight"), hp.n_embd);
    l.ffn_gate = b.matrix(name("ffn_gate.weight"), hp.n_embd, hp.n_ff);
    l.ffn_up = b.matrix(name("ffn_up.weight"), hp.n_embd, hp.n_ff);
    l.ffn_down = b.matrix(name("ffn_down.weight"), hp.n_ff, hp.n_embd);
  }
  if (Result<void> bound = b.finish(); !bound) return bound.error();
  return std::unique_ptr<Architecture>(std::move(m));
}

}  // namespace gengyun::model
