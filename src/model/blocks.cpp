#include "model/blocks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/dequantize.h"
#include "kernels/matmul.h"
#include "kernels/vector_kernels.h"
#include "kernels/weight_layout.h"

namespace gengyun::model::blocks {
namespace {

constexpr int64_t kLanes = 8;

// Below this many multiply-adds, a parallel step runs on the caller alone: waking the pool's
// workers costs more.
constexpr int64_t kMinParallelWork = 1 << 16;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// dst[i] = src[i] * factor for i < n; dst may equal src. In chunks of kLanes through a local
// array (loads before stores), which GCC vectorizes at -O2.
void scale_row(const float* src, float factor, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    float out[kLanes];
    for (int64_t k = 0; k < kLanes; ++k) out[k] = src[i + k] * factor;
    for (int64_t k = 0; k < kLanes; ++k) dst[i + k] = out[k];
  }
  for (; i < n; ++i) dst[i] = src[i] * factor;
}

// max(x[0..n)), n >= 1.
float max_of(const float* x, int64_t n) {
  float lanes[kLanes];
  for (int64_t k = 0; k < kLanes; ++k) lanes[k] = x[0];
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) lanes[k] = std::max(lanes[k], x[i + k]);
  for (; i < n; ++i) lanes[0] = std::max(lanes[0], x[i]);
  float m = lanes[0];
  for (int64_t k = 1; k < kLanes; ++k) m = std::max(m, lanes[k]);
  return m;
}

}  // namespace

void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t n, float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float sum = kernels::dot_f32(xr, xr, n);
    const float scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      float out[kLanes];
      for (int64_t k = 0; k < kLanes; ++k) out[k] = xr[i + k] * scale * weight[i + k];
      for (int64_t k = 0; k < kLanes; ++k) yr[i + k] = out[k];
    }
    for (; i < n; ++i) yr[i] = xr[i] * scale * weight[i];
  }
}

void linear(const Matrix& w, const float* bias, const float* x, float* y, int64_t n_tokens,
            kernels::ThreadPool& pool) {
  if (n_tokens == 0) return;
  kernels::matmul(w.type(), w.layout(), w.data(), w.n_in, w.n_out, x, y, n_tokens, pool);
  if (bias == nullptr) return;
  for (int64_t t = 0; t < n_tokens; ++t) add(y + t * w.n_out, bias, w.n_out);
}

RopeTable::RopeTable(int64_t max_tokens, int head_dim)
    : head_dim_(head_dim), values_(static_cast<size_t>(max_tokens * head_dim)) {}

void RopeTable::fill(const Rope& rope, int64_t first_row, int pos0, int64_t n_tokens) {
  type_ = rope.type;
  const int half = head_dim_ / 2;
  for (int i = 0; i < half; ++i) {
    double inv_freq = std::pow(static_cast<double>(rope.freq_base), -2.0 * i / head_dim_);
    if (rope.freq_factors) inv_freq /= rope.freq_factors[i];
    for (int64_t t = 0; t < n_tokens; ++t) {
      const double theta = static_cast<double>(pos0 + t) * inv_freq;
      float* row = values_.data() + (first_row + t) * head_dim_;
      row[i] = static_cast<float>(std::cos(theta));
      row[half + i] = static_cast<float>(std::sin(theta));
    }
  }
}

void RopeTable::move_row(int64_t from, int64_t to) {
  if (from != to)
    std::copy_n(values_.begin() + from * head_dim_, head_dim_, values_.begin() + to * head_dim_);
}

void rope(const RopeTable& table, float* x, int64_t n_rows, int n_heads) {
  const int head_dim = table.head_dim();
  const int half = head_dim / 2;
  // Pair i of a head is (x[first * i], x[first * i + second]).
  const int first = table.type() == RopeType::Normal ? 2 : 1;
  const int second = table.type() == RopeType::Normal ? 1 : half;
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* cos_theta = table.cos_sin(r);
    const float* sin_theta = cos_theta + half;
    for (int h = 0; h < n_heads; ++h) {
      float* head = x + (r * n_heads + h) * head_dim;
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

AttentionWorkspace::AttentionWorkspace(int n_threads, int head_dim, int64_t max_seqs)
    : n_threads_(std::max(n_threads, 1)), head_dim_(head_dim) {
  data_.resize(static_cast<size_t>(n_threads_) * slot_floats());
  item_offsets_.resize(static_cast<size_t>(std::max<int64_t>(max_seqs, 1)) + 1);
}

size_t AttentionWorkspace::slot_floats() const {
  // Query rows and accumulators [kMaxRows, head_dim], scores [kMaxRows, kBlock], running max
  // and sum [kMaxRows] each, one block of keys, then of values [kBlock, head_dim] (about
  // 28 KB for head_dim 64: it stays in L1).
  return 2 * static_cast<size_t>(kMaxRows) * head_dim_ + kMaxRows * kBlock + 2 * kMaxRows +
         static_cast<size_t>(kBlock) * head_dim_;
}

namespace {

// One call of attention(): the split of the work and the loop over work items.
class AttentionJob {
 public:
  AttentionJob(const KvCache& kv, std::span<const AttentionSequence> seqs, int layer,
               const float* q, int n_head, float scale, float* out, AttentionWorkspace& ws,
               int n_threads)
      : kv_(kv),
        seqs_(seqs),
        layer_(layer),
        q_(q),
        n_head_(n_head),
        scale_(scale),
        out_(out),
        ws_(ws),
        vk_(kernels::vector_kernels()),
        head_dim_(kv.head_dim()),
        group_(n_head / kv.n_head_kv()),
        offsets_(ws.item_offsets()) {
    constexpr int kMaxRows = AttentionWorkspace::kMaxRows;
    int64_t n_q = 0;
    // Multiply-adds: two per key/value element and query head, about half the positions of the
    // causal triangle of each sequence's rows plus all earlier ones.
    int64_t work = 0;
    for (const AttentionSequence& seq : seqs) {
      n_q += seq.n_q;
      work += 2 * seq.n_q * n_head * (seq.q_pos0 + (seq.n_q + 1) / 2) * head_dim_;
    }
    // A KV head's whole group of query heads shares each converted block, unless that leaves
    // threads idle (few tokens, few KV heads) or makes more rows than the workspace holds.
    int64_t n_split = 1;
    const int64_t per_split = int64_t{kv.n_head_kv()} * n_q;
    if (per_split < n_threads) n_split = std::min<int64_t>(group_, ceil_div(n_threads, per_split));
    n_split = std::max(n_split, ceil_div(group_, kMaxRows));
    heads_per_item_ = static_cast<int>(ceil_div(group_, n_split));
    n_split_ = ceil_div(group_, heads_per_item_);
    tile_ = std::max<int64_t>(1, kMaxRows / heads_per_item_);
    offsets_[0] = 0;
    for (size_t i = 0; i < seqs.size(); ++i)
      offsets_[i + 1] = offsets_[i] + kv.n_head_kv() * ceil_div(seqs[i].n_q, tile_) * n_split_;
    n_items_ = offsets_[seqs.size()];
    n_chunks_ = work < kMinParallelWork ? 1 : std::min<int64_t>(n_threads, n_items_);
  }

  int64_t n_chunks() const { return n_chunks_; }

  /// Items c, c + n_chunks, ... (strided, so that the cheap early tokens and the expensive
  /// late ones of the causal triangle mix) on workspace slot c, for c in [begin, end).
  void run(int64_t begin, int64_t end) const {
    for (int64_t c = begin; c < end; ++c)
      for (int64_t item = c; item < n_items_; item += n_chunks_)
        run_item(item, ws_.slot(static_cast<int>(c)));
  }

 private:
  void run_item(int64_t item, float* slot) const {
    constexpr int kBlock = AttentionWorkspace::kBlock;
    constexpr int kMaxRows = AttentionWorkspace::kMaxRows;
    const size_t si = static_cast<size_t>(
        std::upper_bound(offsets_.begin(), offsets_.begin() + seqs_.size() + 1, item) -
        offsets_.begin() - 1);
    const AttentionSequence& seq = seqs_[si];
    item -= offsets_[si];
    const int64_t n_tiles = ceil_div(seq.n_q, tile_);
    const int64_t per_head = n_tiles * n_split_;
    const int g = static_cast<int>(item / per_head);
    const int64_t tile = item % per_head / n_split_;
    const int split = static_cast<int>(item % n_split_);
    const int h0 = g * group_ + split * heads_per_item_;
    const int n_heads = std::min(heads_per_item_, (g + 1) * group_ - h0);
    const int64_t t0 = seq.q_row + tile * tile_;
    const int64_t n_tokens = std::min(tile_, seq.n_q - tile * tile_);
    const int pos_t0 = seq.q_pos0 + static_cast<int>(tile * tile_);
    const int64_t n_rows = n_tokens * n_heads;  // row = token-major, head-minor

    float* qs = slot;
    float* acc = qs + kMaxRows * head_dim_;
    float* scores = acc + kMaxRows * head_dim_;
    float* row_max = scores + kMaxRows * kBlock;
    float* row_sum = row_max + kMaxRows;
    float* kv_block = row_sum + kMaxRows;  // keys, then values: the keys are done with first

    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int h = 0; h < n_heads; ++h) {
        const int64_t row = t * n_heads + h;
        scale_row(q_ + ((t0 + t) * n_head_ + h0 + h) * head_dim_, scale_, qs + row * head_dim_,
                  head_dim_);
        std::fill_n(acc + row * head_dim_, head_dim_, 0.0f);
        row_max[row] = -std::numeric_limits<float>::infinity();
        row_sum[row] = 0;
      }
    }

    const int last_pos = pos_t0 + static_cast<int>(n_tokens) - 1;
    for (int j0 = 0; j0 <= last_pos; j0 += kBlock) {
      const int n_pos = std::min(kBlock, last_pos + 1 - j0);
      const int block = seq.block_table[j0 / kBlock];
      const float* keys = kv_.keys(layer_, g, block, n_pos, kv_block);
      vk_.dot_rows(qs, n_rows, keys, n_pos, head_dim_, scores);
      for (int64_t row = 0; row < n_rows; ++row) {
        float* s = scores + row * n_pos;
        const int pos = pos_t0 + static_cast<int>(row / n_heads);
        const int n_valid = std::clamp(pos - j0 + 1, 0, n_pos);
        if (n_valid > 0) {
          const float block_max = max_of(s, n_valid);
          const float old_max = row_max[row];
          const float new_max = std::max(old_max, block_max);
          const float block_sum = vk_.exp_shifted(s, n_valid, new_max);
          if (new_max != old_max) {
            const float rescale = old_max == -std::numeric_limits<float>::infinity()
                                      ? 0.0f
                                      : std::exp(old_max - new_max);
            scale_row(acc + row * head_dim_, rescale, acc + row * head_dim_, head_dim_);
            row_sum[row] *= rescale;
            row_max[row] = new_max;
          }
          row_sum[row] += block_sum;
        }
        std::fill(s + n_valid, s + n_pos, 0.0f);
      }
      const float* values = kv_.values(layer_, g, block, n_pos, kv_block);
      vk_.accumulate_rows(scores, n_rows, values, n_pos, head_dim_, acc);
    }

    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int h = 0; h < n_heads; ++h) {
        const int64_t row = t * n_heads + h;
        scale_row(acc + row * head_dim_, 1.0f / row_sum[row],
                  out_ + ((t0 + t) * n_head_ + h0 + h) * head_dim_, head_dim_);
      }
    }
  }

  const KvCache& kv_;
  std::span<const AttentionSequence> seqs_;
  int layer_;
  const float* q_;
  int n_head_;
  float scale_;
  float* out_;
  AttentionWorkspace& ws_;
  const kernels::VectorKernels& vk_;
  int head_dim_;
  int group_;
  std::vector<int64_t>& offsets_;
  int heads_per_item_ = 1;
  int64_t n_split_ = 1;
  int64_t tile_ = 1;
  int64_t n_items_ = 0;
  int64_t n_chunks_ = 1;
};

}  // namespace

void attention(const KvCache& kv, std::span<const AttentionSequence> seqs, int layer,
               const float* q, int n_head, float scale, float* out, AttentionWorkspace& workspace,
               kernels::ThreadPool& pool) {
  if (seqs.empty()) return;
  const AttentionJob job(kv, seqs, layer, q, n_head, scale, out, workspace,
                         std::min(pool.size(), workspace.n_threads()));
  if (job.n_chunks() == 1) {
    job.run(0, 1);
  } else {
    // One captured reference: std::function keeps it without allocating.
    pool.parallel_for(job.n_chunks(), [&job](int64_t begin, int64_t end) { job.run(begin, end); });
  }
}

void swiglu(const float* gate, const float* up, float* out, int64_t n, kernels::ThreadPool& pool) {
  const kernels::VectorKernels& vk = kernels::vector_kernels();
  if (n < kMinParallelWork || pool.size() == 1) {
    vk.swiglu(gate, up, out, n);
    return;
  }
  const int64_t chunk = ceil_div(ceil_div(n, pool.size()), kLanes) * kLanes;
  const int64_t n_chunks = ceil_div(n, chunk);
  const auto run = [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t i = c * chunk;
      vk.swiglu(gate + i, up + i, out + i, std::min(chunk, n - i));
    }
  };
  pool.parallel_for(n_chunks, run);
}

void add(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    float sum[kLanes];
    for (int64_t k = 0; k < kLanes; ++k) sum[k] = x[i + k] + y[i + k];
    for (int64_t k = 0; k < kLanes; ++k) x[i + k] = sum[k];
  }
  for (; i < n; ++i) x[i] += y[i];
}

void embed(const Matrix& token_embd, std::span<const int32_t> tokens, float* out) {
  const size_t row_bytes = gguf::ggml_row_size(token_embd.type(), token_embd.n_in);
  const auto* base = static_cast<const uint8_t*>(token_embd.data());
  thread_local std::vector<uint8_t> ggml_row;  // a row converted from another layout
  for (size_t t = 0; t < tokens.size(); ++t) {
    const uint8_t* row = base + static_cast<size_t>(tokens[t]) * row_bytes;
    if (token_embd.layout() != kernels::WeightLayout::kGgml) {
      ggml_row.resize(row_bytes);
      kernels::row_from_layout(token_embd.type(), token_embd.layout(), base, token_embd.n_in,
                               tokens[t], ggml_row.data());
      row = ggml_row.data();
    }
    kernels::dequantize_row(token_embd.type(), row, out + t * token_embd.n_in, token_embd.n_in);
  }
}

}  // namespace gengyun::model::blocks
