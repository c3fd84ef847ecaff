#include "convert/synth_shape.h"

#include <algorithm>
#include <array>
#include <string>

namespace gengyun::convert {
namespace {

constexpr std::array kShapes = {
    SynthShape{.name = "qwen2.5-0.5b", .arch = "qwen2", .n_embd = 896, .n_layer = 24,
               .n_head = 14, .n_head_kv = 2, .head_dim = 64, .n_ff = 4864, .n_vocab = 151936,
               .n_ctx_train = 32768, .rope_freq_base = 1e6f, .rms_eps = 1e-6f,
               .qkv_bias = true},
    SynthShape{.name = "qwen2.5-1.5b", .arch = "qwen2", .n_embd = 1536, .n_layer = 28,
               .n_head = 12, .n_head_kv = 2, .head_dim = 128, .n_ff = 8960, .n_vocab = 151936,
               .n_ctx_train = 32768, .rope_freq_base = 1e6f, .rms_eps = 1e-6f,
               .qkv_bias = true},
    SynthShape{.name = "qwen3-0.6b", .arch = "qwen3", .n_embd = 1024, .n_layer = 28,
               .n_head = 16, .n_head_kv = 8, .head_dim = 128, .n_ff = 3072, .n_vocab = 151936,
               .n_ctx_train = 40960, .rope_freq_base = 1e6f, .rms_eps = 1e-6f,
               .qk_norm = true},
    SynthShape{.name = "llama-3.2-1b", .arch = "llama", .n_embd = 2048, .n_layer = 16,
               .n_head = 32, .n_head_kv = 8, .head_dim = 64, .n_ff = 8192, .n_vocab = 128256,
               .n_ctx_train = 131072, .rope_freq_base = 5e5f, .rms_eps = 1e-5f},
    SynthShape{.name = "qwen3-30b-a3b", .arch = "qwen3moe", .n_embd = 2048, .n_layer = 48,
               .n_head = 32, .n_head_kv = 4, .head_dim = 128, .n_ff = 6144, .n_vocab = 151936,
               .n_ctx_train = 40960, .rope_freq_base = 1e6f, .rms_eps = 1e-6f, .qk_norm = true,
               .tied_output = false, .n_expert = 128, .n_expert_used = 8, .n_ff_exp = 768},
    SynthShape{.name = "qwen3-embedding-0.6b", .arch = "qwen3", .n_embd = 1024, .n_layer = 28,
               .n_head = 16, .n_head_kv = 8, .head_dim = 128, .n_ff = 3072, .n_vocab = 151669,
               .n_ctx_train = 32768, .rope_freq_base = 1e6f, .rms_eps = 1e-6f,
               .qk_norm = true, .pooling_type = 3},
};

}  // namespace

std::span<const SynthShape> synth_shapes() { return kShapes; }

const SynthShape* find_synth_shape(std::string_view name) {
  const auto it = std::find_if(kShapes.begin(), kShapes.end(),
                               [name](const SynthShape& s) { return s.name == name; });
  return it == kShapes.end() ? nullptr : &*it;
}

Result<SynthShape> with_layers(const SynthShape& shape, int n_layer) {
  if (n_layer < 1 || n_layer > shape.n_layer)
    return Error{"--layers " + std::to_string(n_layer) + " is outside [1, " +
                 std::to_string(shape.n_layer) + "], the layers of " + std::string(shape.name)};
  SynthShape out = shape;
  out.n_layer = n_layer;
  return out;
}

}  // namespace gengyun::convert
