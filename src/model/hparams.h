// Hyper-parameters of a decoder-only transformer, read from a GGUF file's `<arch>.*` keys
// (llama.cpp's key names, llama-arch.cpp).
#pragma once

#include <string>

#include "gengyun/result.h"
#include "gguf/gguf.h"

namespace gengyun::model {

/// How RoPE pairs the dimensions of a head (ggml's rope modes).
/// Normal: adjacent pairs (x[2i], x[2i+1]) (LLAMA_ROPE_TYPE_NORM).
/// Neox: halves (x[i], x[i + head_dim/2]) (LLAMA_ROPE_TYPE_NEOX).
enum class RopeType { Normal, Neox };

/// How an embedding model turns its per-token hidden states into one vector
/// (<arch>.pooling_type, llama.cpp's enum llama_pooling_type): None (0, or the key absent: a
/// generative model), Mean (1) over the sequence, Cls (2) the first token, Last (3) the last.
enum class PoolingType { None = 0, Mean = 1, Cls = 2, Last = 3 };

/// Shapes and constants of one model.
struct HParams {
  std::string arch;          ///< general.architecture: "llama", "qwen2", "qwen3"
  int n_vocab = 0;           ///< rows of token_embd.weight (its ne[1])
  int n_ctx_train = 0;       ///< <arch>.context_length
  int n_embd = 0;            ///< <arch>.embedding_length
  int n_layer = 0;           ///< <arch>.block_count
  int n_head = 0;            ///< <arch>.attention.head_count
  int n_head_kv = 0;         ///< <arch>.attention.head_count_kv (default n_head)
  int head_dim = 0;          ///< <arch>.attention.key_length (default n_embd / n_head)
  int n_ff = 0;              ///< <arch>.feed_forward_length
  float rms_eps = 0;         ///< <arch>.attention.layer_norm_rms_epsilon
  float rope_freq_base = 0;  ///< <arch>.rope.freq_base (default 10000)
  RopeType rope_type = RopeType::Normal;
  int n_expert = 0;       ///< <arch>.expert_count (0: a dense feed-forward)
  int n_expert_used = 0;  ///< <arch>.expert_used_count: experts each token runs (top k)
  int n_ff_exp = 0;       ///< <arch>.expert_feed_forward_length: width of one expert
  PoolingType pooling = PoolingType::None;  ///< <arch>.pooling_type
};

/// Reads the hyper-parameters of architecture `arch` (n_vocab is left 0: it comes from the
/// token embedding). Errors: a required key missing or of the wrong type, a value out of range
/// (non-positive sizes, n_head not a multiple of n_head_kv, attention.value_length !=
/// key_length, rope.dimension_count != head_dim, non-positive epsilon or RoPE base; with
/// expert_count, expert_used_count or expert_feed_forward_length missing or
/// expert_used_count > expert_count; a pooling_type other than 0..3).
Result<HParams> read_hparams(const gguf::File& file, const std::string& arch, RopeType rope_type);

}  // namespace gengyun::model
