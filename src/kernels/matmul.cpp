#include "kernels/matmul.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/activation_rows.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_layout.h"

namespace gengyun::kernels {
namespace {

// Bytes of weight rows dotted with every token before moving on (a part of L1).
constexpr int64_t kTileBytes = 16 * 1024;

// Bytes of weight rows converted from another layout (weight_layout.h) per batched call.
constexpr int64_t kConvertedBytes = 4 * 1024 * 1024;

// Below this many multiply-adds a call runs on the caller alone (waking workers costs more).
constexpr int64_t kMinParallelWork = 1 << 16;

// Bytes of weight rows per piece a thread claims in a decode product (ThreadPool::
// parallel_for_pieces): threads that stream memory at different speeds end within about one
// piece of each other. Timed against equal shares and pieces of 64 and 256 KiB
// (docs/kernels.md, "Decode products in pieces").
constexpr int64_t kDecodePieceBytes = 128 * 1024;

// A 64-byte aligned view of `buffer` with at least `bytes`. The buffers are owned by the
// calling thread (one matmul's activation rows); workers read them only while it waits.
uint8_t* aligned_scratch(std::vector<uint8_t>& buffer, size_t bytes) {
  if (buffer.size() < bytes + 64) buffer.resize(bytes + 64);
  const auto address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + (64 - address % 64) % 64;
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
  constexpr int64_t kLanes = 8;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) acc[k] += a[i + k] * b[i + k];
  for (; i < n; ++i) acc[0] += a[i] * b[i];
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

void matmul(gguf::GgmlType w_type, const void* w, int64_t n_in, int64_t n_out, const float* x,
            float* y, int64_t n_tokens, ThreadPool& pool) {
  matmul(w_type, WeightLayout::kGgml, w, n_in, n_out, x, y, n_tokens, pool);
}

void matmul(gguf::GgmlType w_type, WeightLayout w_layout, const void* w, int64_t n_in,
            int64_t n_out, const float* x, float* y, int64_t n_tokens, ThreadPool& pool) {
  const TypeKernels& kernels = type_kernels(w_type);
  if (kernels.vec_dot == nullptr) {
    std::fprintf(stderr, "gengyun: matmul called with unsupported weight type %u\n",
                 static_cast<unsigned>(w_type));
    std::abort();
  }
  const bool parallel = n_out * n_in * n_tokens >= kMinParallelWork;

  // Activations in the format the dot products take, each row converted once.
  const uint8_t* a = reinterpret_cast<const uint8_t*>(x);
  size_t a_row_bytes = static_cast<size_t>(n_in) * sizeof(float);
  if (kernels.quantize_activations != nullptr) {
    a_row_bytes = activation_row_bytes(kernels.activation_type, n_in);
    thread_local std::vector<uint8_t> activation_buffer;
    uint8_t* dst = aligned_scratch(activation_buffer, a_row_bytes * static_cast<size_t>(n_tokens));
    auto quantize = [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        kernels.quantize_activations(x + t * n_in, dst + static_cast<size_t>(t) * a_row_bytes,
                                     n_in);
    };
    if (parallel && n_tokens > 1)
      pool.parallel_for(n_tokens, quantize);
    else
      quantize(0, n_tokens);
    a = dst;
  }

  const size_t w_row_bytes = gguf::ggml_row_size(w_type, n_in);
  const auto* w_bytes = static_cast<const uint8_t*>(w);
  // The batched kernels that read the rows as they are, if the level has them for the layout
  // (else `gemm` on rows converted back to ggml's layout); from their min_tokens on.
  const GemmKernels* direct = w_layout == WeightLayout::kGgml ? kernels.gemm
                              : w_layout == WeightLayout::kBlockGroups16
                                  ? kernels.gemm_groups16
                                  : kernels.gemm_row_groups16;
  if (direct != nullptr && direct->handover != nullptr && n_tokens >= direct->handover_tokens(n_in))
    direct = direct->handover;
  const GemmKernels* batched_by = direct != nullptr ? direct : kernels.gemm;
  const bool batched = batched_by != nullptr && n_tokens >= batched_by->min_tokens;
  constexpr int64_t kGroup = 16;
  // Decode and small batches: every token's activation row (acts, a_row_bytes apart) dotted
  // with the rows by `vec_dot`, a tile of rows at a time (one token: the whole range), so a
  // tile's weights stay in L1 while every token meets them. The rows go in units of `unit`
  // (1, or kRowGroups16's groups of 16), which vec_dot takes whole.
  auto tiled = [&](VecDotFn vec_dot, const uint8_t* acts, int64_t unit) {
    const int64_t n_units = n_out / unit;
    const int64_t unit_bytes = unit * static_cast<int64_t>(w_row_bytes);
    const int64_t tile_units = std::max<int64_t>(1, kTileBytes / unit_bytes);
    auto rows = [&, vec_dot, acts](int64_t begin, int64_t end) {
      const int64_t step = n_tokens == 1 ? end - begin : tile_units;
      for (int64_t u0 = begin; u0 < end; u0 += step) {
        const int64_t u1 = std::min(end, u0 + step);
        for (int64_t t = 0; t < n_tokens; ++t)
          vec_dot(n_in, w_bytes + u0 * unit_bytes, w_row_bytes, (u1 - u0) * unit,
                  acts + static_cast<size_t>(t) * a_row_bytes, y + t * n_out + u0 * unit);
      }
    };
    if (parallel && n_tokens == 1) {
      // Pieces of kDecodePieceBytes, and at least one per thread (16 rows at the least).
      const int64_t share = (n_units + pool.size() - 1) / pool.size();
      const int64_t piece_units = kDecodePieceBytes / unit_bytes;
      pool.parallel_for_pieces(
          n_units, std::max<int64_t>((16 + unit - 1) / unit, std::min(share, piece_units)), rows);
    } else if (parallel)
      pool.parallel_for(n_units, rows);
    else
      rows(0, n_units);
  };

  if (w_layout == WeightLayout::kRowGroups16 && !batched &&
      kernels.vec_dot_row_groups16 != nullptr) {
    tiled(kernels.vec_dot_row_groups16, a, kGroup);
    return;
  }
  if (w_layout == WeightLayout::kBlockGroups16 && !batched && kernels.vec_dot_groups16 != nullptr) {
    // The layout's own decode product, on activation rows arranged to match.
    thread_local std::vector<uint8_t> arranged_buffer;
    uint8_t* arranged =
        aligned_scratch(arranged_buffer, a_row_bytes * static_cast<size_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t)
      kernels.arrange_groups16(a + static_cast<size_t>(t) * a_row_bytes,
                               arranged + static_cast<size_t>(t) * a_row_bytes, n_in);
    tiled(kernels.vec_dot_groups16, arranged, 1);
    return;
  }

  // Rows in another layout reach the ggml kernels converted into a per-thread buffer of up to
  // kConvertedBytes, whole groups of 16 at a time, so that a batched kernel still
  // sees many rows per call: run(rows, o0, o1) gets rows o0..o1 in ggml's layout, `rows` at o0.
  const int64_t n_groups = (n_out + kGroup - 1) / kGroup;
  auto groups = [&](int64_t begin, int64_t end, const auto& run) {
    const int64_t per_call =
        std::max<int64_t>(1, kConvertedBytes / (static_cast<int64_t>(w_row_bytes) * kGroup));
    thread_local std::vector<uint8_t> converted_buffer;
    uint8_t* converted = aligned_scratch(
        converted_buffer,
        w_row_bytes * static_cast<size_t>(kGroup * std::min(per_call, end - begin)));
    for (int64_t g = begin; g < end; g += per_call) {
      const int64_t o0 = g * kGroup, o1 = std::min(n_out, std::min(end, g + per_call) * kGroup);
      from_layout(w_type, w_layout, w_bytes + static_cast<size_t>(o0) * w_row_bytes, converted,
                  n_in, o1 - o0);
      run(converted, o0, o1);
    }
  };

  if (batched) {
    const GemmKernels& gemm = *batched_by;
    GemmProblem problem;
    problem.n_in = n_in;
    problem.w = w_bytes;
    problem.w_row_bytes = w_row_bytes;
    problem.row_bytes = gemm.row_bytes(n_in);
    problem.n_tokens = n_tokens;
    problem.y = y;
    problem.y_stride = n_out;
    thread_local std::vector<uint8_t> gemm_buffer;
    uint8_t* rows = aligned_scratch(gemm_buffer, problem.row_bytes * static_cast<size_t>(n_tokens));
    problem.rows = rows;
    pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        gemm.prepare(a + static_cast<size_t>(t) * a_row_bytes, n_in,
                     rows + static_cast<size_t>(t) * problem.row_bytes);
    });
    pool.parallel_for(n_groups, [&](int64_t begin, int64_t end) {
      if (direct != nullptr) {
        direct->multiply(problem, begin * kGroup, std::min(end * kGroup, n_out));
        return;
      }
      groups(begin, end, [&](const uint8_t* group, int64_t o0, int64_t o1) {
        GemmProblem part = problem;
        part.w = group;
        part.y = y + o0;
        gemm.multiply(part, 0, o1 - o0);
      });
    });
    return;
  }
  const VecDotFn vec_dot = kernels.vec_dot;
  if (w_layout != WeightLayout::kGgml) {
    auto run = [&](int64_t begin, int64_t end) {
      groups(begin, end, [&](const uint8_t* group, int64_t o0, int64_t o1) {
        for (int64_t t = 0; t < n_tokens; ++t)
          vec_dot(n_in, group, w_row_bytes, o1 - o0, a + static_cast<size_t>(t) * a_row_bytes,
                  y + t * n_out + o0);
      });
    };
    if (parallel)
      pool.parallel_for(n_groups, run);
    else
      run(0, n_groups);
    return;
  }
  tiled(vec_dot, a, 1);
}

}  // namespace gengyun::kernels
