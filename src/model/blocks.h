// The arithmetic a decoder layer is built from, shared by every architecture: RMSNorm, linear
// layers, RoPE, grouped-query causal attention over the KV cache, SwiGLU, token embedding.
// Activations are f32 and row-major, one row per token. Semantics follow ggml's CPU ops
// (ggml_rms_norm, ggml_rope_ext, ggml_soft_max_ext, ggml_silu).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/thread_pool.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gengyun::model::blocks {

/// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight for each of n_rows rows of n elements
/// (weight has n elements). y may equal x.
void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t n,
              float eps);

/// y = x * W^T (+ bias): x [n_tokens, w.n_in], y [n_tokens, w.n_out], bias [w.n_out] or
/// nullptr. y must not overlap x. Multiplies the weight once for the whole batch.
void linear(const Matrix& w, const float* bias, const float* x, float* y, int64_t n_tokens,
            kernels::ThreadPool& pool);

/// How RoPE rotates a head: pairing, head size, base, and optional per-pair frequency
/// divisors (llama.cpp's rope_freqs.weight, head_dim/2 values; nullptr when absent).
struct Rope {
  RopeType type = RopeType::Normal;
  int head_dim = 0;
  float freq_base = 10000.0f;
  const float* freq_factors = nullptr;
};

/// Rotates every head of x [n_tokens, n_heads, head_dim] in place; token t is at position
/// pos0 + t. Pair i turns by theta = pos * freq_base^(-2i/head_dim) / freq_factors[i].
void rope(const Rope& rope, float* x, int64_t n_tokens, int n_heads, int pos0);

/// Causal grouped-query attention of q [n_tokens, n_head, head_dim] (token t at position
/// pos0 + t) over the keys and values of `layer` in `kv`, which must already hold positions
/// 0..pos0+n_tokens-1. Query head h reads KV head h / (n_head / n_head_kv).
/// out [n_tokens, n_head, head_dim] = softmax(scale * q k^T) v. Parallel over heads and
/// tokens.
void attention(const KvCache& kv, int layer, const float* q, int64_t n_tokens, int pos0,
               int n_head, float scale, float* out, kernels::ThreadPool& pool);

/// out = silu(gate) * up element-wise over n elements; out may equal gate or up.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

/// x += y over n elements.
void add(float* x, const float* y, int64_t n);

/// out [tokens.size(), token_embd.n_in] = the rows of token_embd for `tokens`, dequantized
/// one row at a time. Token ids must be in [0, token_embd.n_out).
void embed(const Matrix& token_embd, std::span<const int32_t> tokens, float* out);

}  // namespace gengyun::model::blocks
