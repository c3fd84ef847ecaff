#include "model/blocks.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/matmul.h"

namespace gengyun::model::blocks {

void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t n,
              float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i]) * xr[i];
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale * weight[i];
  }
}

void linear(const Matrix& w, const float* bias, const float* x, float* y, int64_t n_tokens,
            kernels::ThreadPool& pool) {
  kernels::matmul(w.type(), w.data(), w.n_in, w.n_out, x, y, n_tokens, pool);
  if (bias == nullptr) return;
  for (int64_t t = 0; t < n_tokens; ++t) add(y + t * w.n_out, bias, w.n_out);
}

void rope(const Rope& rope, float* x, int64_t n_tokens, int n_heads, int pos0) {
  const int half = rope.head_dim / 2;
  std::vector<double> inv_freq(half);
  for (int i = 0; i < half; ++i) {
    inv_freq[i] = std::pow(static_cast<double>(rope.freq_base), -2.0 * i / rope.head_dim);
    if (rope.freq_factors) inv_freq[i] /= rope.freq_factors[i];
  }
  // Pair i of a head is (x[first * i], x[first * i + second]).
  const int first = rope.type == RopeType::Normal ? 2 : 1;
  const int second = rope.type == RopeType::Normal ? 1 : half;
  std::vector<float> cos_theta(half), sin_theta(half);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const double pos = static_cast<double>(pos0 + t);
    for (int i = 0; i < half; ++i) {
      cos_theta[i] = static_cast<float>(std::cos(pos * inv_freq[i]));
      sin_theta[i] = static_cast<float>(std::sin(pos * inv_freq[i]));
    }
    for (int h = 0; h < n_heads; ++h) {
      float* head = x + (t * n_heads + h) * rope.head_dim;
      for (int i = 0; i < half; ++i) {
        float& a = head[first * i];
        float& b = head[first * i + second];
        const float x0 = a, x1 = b;
        a = x0 * cos_theta[i] - x1 * sin_theta[i];
        b = x0 * sin_theta[i] + x1 * cos_theta[i];
      }
    }
  }
}

void attention(const KvCache& kv, int layer, const float* q, int64_t n_tokens, int pos0,
               int n_head, float scale, float* out, kernels::ThreadPool& pool) {
  const int head_dim = kv.head_dim();
  const int group = n_head / kv.n_head_kv();
  // Work item = (head, token), head-major so that one chunk reuses one KV head's rows.
  pool.parallel_for(n_head * n_tokens, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(pos0 + n_tokens));
    for (int64_t item = begin; item < end; ++item) {
      const int h = static_cast<int>(item / n_tokens);
      const int64_t t = item % n_tokens;
      const float* keys = kv.keys(layer, h / group);
      const float* values = kv.values(layer, h / group);
      const float* qh = q + (t * n_head + h) * head_dim;
      float* oh = out + (t * n_head + h) * head_dim;
      const int64_t n_kv = pos0 + t + 1;

      float max_score = -INFINITY;
      for (int64_t j = 0; j < n_kv; ++j) {
        scores[j] = kernels::dot_f32(qh, keys + j * head_dim, head_dim) * scale;
        max_score = std::max(max_score, scores[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < n_kv; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      const float inv_sum = static_cast<float>(1.0 / sum);
      std::fill_n(oh, head_dim, 0.0f);
      for (int64_t j = 0; j < n_kv; ++j) {
        const float w = scores[j] * inv_sum;
        const float* vj = values + j * head_dim;
        for (int d = 0; d < head_dim; ++d) oh[d] += w * vj[d];
      }
    }
  });
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void embed(const Matrix& token_embd, std::span<const int32_t> tokens, float* out) {
  const size_t row_bytes = gguf::ggml_row_size(token_embd.type(), token_embd.n_in);
  const auto* base = static_cast<const uint8_t*>(token_embd.data());
  for (size_t t = 0; t < tokens.size(); ++t) {
    kernels::dequantize_row(token_embd.type(), base + static_cast<size_t>(tokens[t]) * row_bytes,
                            out + t * token_embd.n_in, token_embd.n_in);
  }
}

}  // namespace gengyun::model::blocks
