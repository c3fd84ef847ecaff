#include "kernels/matmul.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/type_kernels.h"

namespace gengyun::kernels {
namespace {

// Weight rows dequantized together; each activation row is then reused from L1 across them.
constexpr int64_t kTileRows = 8;

// Below this many multiply-adds a call runs on the caller alone (waking workers costs more).
constexpr int64_t kMinParallelWork = 1 << 16;

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
  const DequantizeRowFn dequantize = type_kernels(w_type).dequantize_row;
  if (dequantize == nullptr) {
    std::fprintf(stderr, "gengyun: matmul called with unsupported weight type %u\n",
                 static_cast<unsigned>(w_type));
    std::abort();
  }
  const size_t row_bytes = gguf::ggml_row_size(w_type, n_in);
  const auto* w_bytes = static_cast<const uint8_t*>(w);
  const bool is_f32 = w_type == gguf::GgmlType::F32;

  auto rows = [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> tile_buffer;
    for (int64_t o0 = begin; o0 < end; o0 += kTileRows) {
      const int64_t n_rows = std::min(kTileRows, end - o0);
      const float* tile;
      if (is_f32) {
        tile = reinterpret_cast<const float*>(w_bytes + static_cast<size_t>(o0) * row_bytes);
      } else {
        if (tile_buffer.size() < static_cast<size_t>(n_rows * n_in))
          tile_buffer.resize(static_cast<size_t>(n_rows * n_in));
        for (int64_t r = 0; r < n_rows; ++r)
          dequantize(w_bytes + static_cast<size_t>(o0 + r) * row_bytes, tile_buffer.data() + r * n_in,
                     n_in);
        tile = tile_buffer.data();
      }
      for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xt = x + t * n_in;
        float* yt = y + t * n_out + o0;
        for (int64_t r = 0; r < n_rows; ++r) yt[r] = dot_f32(xt, tile + r * n_in, n_in);
      }
    }
  };

  if (n_out * n_in * n_tokens < kMinParallelWork)
    rows(0, n_out);
  else
    pool.parallel_for(n_out, rows);
}

}  // namespace gengyun::kernels
