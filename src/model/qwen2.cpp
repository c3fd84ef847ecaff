// Architecture `qwen2` (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen), after llama.cpp's
// src/models/qwen2.cpp: like llama but with Q/K/V biases, NEOX RoPE, and output.weight
// tied to token_embd when absent.
#include "model/architecture.h"
#include "model/blocks.h"

namespace gengyun::model {
namespace {

class Qwen2 final : public Architecture {
 public:
  struct Layer {
    const float* attn_norm = nullptr;
    Matrix wq, wk, wv, wo;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
    const float* ffn_norm = nullptr;
    Matrix ffn_gate, ffn_up, ffn_down;
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
      project(p, l.wk, l.bk, s.cur.data(), s.k.data());
      project(p, l.wv, l.bv, s.cur.data(), s.v.data());
      blocks::rope(s.rope, s.k.data(), p.n_rows, hp.n_head_kv);
      store_kv(p, il);
      if (!keep_output_rows(p, il)) return;
      project(p, l.wq, l.bq, s.cur.data(), s.q.data());
      blocks::rope(s.rope, s.q.data(), p.n_rows, hp.n_head);
      attend(p, il);
      attention_output_and_feed_forward(p, l.wo, l.ffn_norm, l.ffn_gate, l.ffn_up, l.ffn_down);
    }
    output_logits(p, output_norm_, output_);
  }
};

}  // namespace

Result<std::unique_ptr<Architecture>> build_qwen2(const HParams& hp, WeightBinder& b) {
  auto m = std::make_unique<Qwen2>();
  const int64_t q_dim = int64_t{hp.n_head} * hp.head_dim;
  const int64_t kv_dim = int64_t{hp.n_head_kv} * hp.head_dim;

  bind_embedding_and_output(hp, b, m->token_embd_, m->output_norm_, m->output_);
  m->rope_ = {hp.rope_type, hp.head_dim, hp.rope_freq_base, nullptr};

  for (int i = 0; i < hp.n_layer && b.finish().ok(); ++i) {
    const auto name = [i](const char* suffix) { return WeightBinder::layer_name(i, suffix); };
    Qwen2::Layer& l = m->layers_.emplace_back();
    l.attn_norm = b.vector(name("attn_norm.weight"), hp.n_embd);
    l.wq = b.matrix(name("attn_q.weight"), hp.n_embd, q_dim);
    l.wk = b.matrix(name("attn_k.weight"), hp.n_embd, kv_dim);
    l.wv = b.matrix(name("attn_v.weight"), hp.n_embd, kv_dim);
    l.bq = b.vector(name("attn_q.bias"), q_dim);
    l.bk = b.vector(name("attn_k.bias"), kv_dim);
    l.bv = b.vector(name("attn_v.bias"), kv_dim);
    l.wo = b.matrix(name("attn_output.weight"), q_dim, hp.n_embd);
    l.ffn_norm = b.vector(name("ffn_norm.weight"), hp.n_embd);
    l.ffn_gate = b.matrix(name("ffn_gate.weight"), hp.n_embd, hp.n_ff);
    l.ffn_up = b.matrix(name("ffn_up.weight"), hp.n_embd, hp.n_ff);
    l.ffn_down = b.matrix(name("ffn_down.weight"), hp.n_ff, hp.n_embd);
  }
  if (Result<void> bound = b.finish(); !bound) return bound.error();
  return std::unique_ptr<Architecture>(std::move(m));
}

}  // namespace gengyun::model
