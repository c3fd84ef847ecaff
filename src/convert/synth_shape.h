// The hyper-parameters of real checkpoints, for writing random-weight models with their exact
// tensor shapes (`gengyun synth`). Values are those of the models' Hugging Face config.json
// as llama.cpp's converter writes them into GGUF.
#pragma once

#include <span>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::convert {

/// One real model's architecture and sizes.
struct SynthShape {
  std::string_view name;  ///< e.g. "qwen2.5-0.5b"
  std::string_view arch;  ///< general.architecture: "qwen2", "qwen3", "qwen3moe" or "llama"
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  int n_ff = 0;
  int n_vocab = 0;        ///< rows of token_embd.weight
  int n_ctx_train = 0;    ///< <arch>.context_length
  float rope_freq_base = 0;
  float rms_eps = 0;
  bool qkv_bias = false;  ///< blk.N.attn_{q,k,v}.bias (qwen2)
  bool qk_norm = false;   ///< blk.N.attn_{q,k}_norm.weight (qwen3)
  bool tied_output = true;  ///< no output.weight: the output matrix is token_embd.weight
  int n_expert = 0;         ///< experts per layer (0: a dense feed-forward of n_ff)
  int n_expert_used = 0;    ///< experts each token runs
  int n_ff_exp = 0;         ///< width of one expert
  /// <arch>.pooling_type of an embedding model (3: last token, as Qwen3-Embedding; its GGUF
  /// also sets tokenizer.ggml.add_eos_token); 0: a generating model, no key written.
  int pooling_type = 0;
};

/// Every known shape: qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b, llama-3.2-1b, qwen3-30b-a3b (a
/// mixture of experts: 128 experts of width 768, 8 used), qwen3-embedding-0.6b (an embedding
/// model: last-token pooling, EOS appended). Llama 3.2's RoPE frequency scaling
/// (rope_freqs.weight) is left out: it changes no matrix shape.
std::span<const SynthShape> synth_shapes();

/// The shape called `name`, or nullptr.
const SynthShape* find_synth_shape(std::string_view name);

/// `shape` with its first n_layer layers only (`gengyun synth --layers`): every tensor keeps its
/// real shape, so per-layer speed can be measured without the whole model. Errors: n_layer
/// outside [1, shape.n_layer].
Result<SynthShape> with_layers(const SynthShape& shape, int n_layer);

}  // namespace gengyun::convert
