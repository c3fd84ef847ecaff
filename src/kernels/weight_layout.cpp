#include "kernels/weight_layout.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/activation_rows.h"
#include "kernels/quant_blocks.h"

namespace gengyun::kernels {
namespace {

constexpr int64_t kGroup = 16;
constexpr int kWords = kQK / 4;  // 4-byte pieces of a block's quants

// One row of nb Q8_0 blocks into kBlockGroups16 (src and dst distinct).
void q8_0_row_to_groups(const BlockQ8_0* src, uint8_t* dst, int64_t nb) {
  for (int64_t g0 = 0; g0 < nb; g0 += kGroup) {
    const int64_t m = std::min(kGroup, nb - g0);
    uint8_t* group = dst + g0 * static_cast<int64_t>(sizeof(BlockQ8_0));
    for (int64_t l = 0; l < m; ++l) std::memcpy(group + 2 * l, &src[g0 + l].d, 2);
    uint8_t* quants = group + 2 * m;
    for (int k = 0; k < kWords; ++k)
      for (int64_t l = 0; l < m; ++l)
        for (int b = 0; b < 4; ++b)
          quants[(k * m + l) * 4 + b] = static_cast<uint8_t>(src[g0 + l].qs[4 * k + b] + 128);
  }
}

// The inverse, a 4-byte word at a time (q + 128 and q differ in the top bit of each byte only):
// matmul runs it on every group of 16 rows of a batched product whose kernels read ggml rows.
void q8_0_row_from_groups(const uint8_t* src, BlockQ8_0* dst, int64_t nb) {
  constexpr uint32_t kTopBits = 0x80808080u;
  for (int64_t g0 = 0; g0 < nb; g0 += kGroup) {
    const int64_t m = std::min(kGroup, nb - g0);
    const uint8_t* group = src + g0 * static_cast<int64_t>(sizeof(BlockQ8_0));
    for (int64_t l = 0; l < m; ++l) std::memcpy(&dst[g0 + l].d, group + 2 * l, 2);
    const uint8_t* quants = group + 2 * m;
    for (int k = 0; k < kWords; ++k)
      for (int64_t l = 0; l < m; ++l) {
        uint32_t word;
        std::memcpy(&word, quants + (k * m + l) * 4, 4);
        word ^= kTopBits;
        std::memcpy(dst[g0 + l].qs + 4 * k, &word, 4);
      }
  }
}

}  // namespace

bool layout_supported(gguf::GgmlType type, WeightLayout layout, int64_t n_in) {
  switch (layout) {
    case WeightLayout::kGgml:
      return true;
    case WeightLayout::kBlockGroups16:
      return type == gguf::GgmlType::Q8_0 && n_in > 0 && n_in % kQK == 0;
  }
  return false;
}

void to_layout(gguf::GgmlType type, WeightLayout layout, void* rows, int64_t n_in, int64_t n_rows) {
  if (layout == WeightLayout::kGgml) return;
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  std::vector<BlockQ8_0> row(static_cast<size_t>(n_in / kQK));
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* p = static_cast<uint8_t*>(rows) + static_cast<size_t>(r) * row_bytes;
    std::memcpy(row.data(), p, row_bytes);
    q8_0_row_to_groups(row.data(), p, n_in / kQK);
  }
}

void from_layout(gguf::GgmlType type, WeightLayout layout, const void* src, void* dst,
                 int64_t n_in, int64_t n_rows) {
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  if (layout == WeightLayout::kGgml) {
    std::memcpy(dst, src, row_bytes * static_cast<size_t>(n_rows));
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r)
    q8_0_row_from_groups(static_cast<const uint8_t*>(src) + static_cast<size_t>(r) * row_bytes,
                         reinterpret_cast<BlockQ8_0*>(static_cast<uint8_t*>(dst) +
                                                      static_cast<size_t>(r) * row_bytes),
                         n_in / kQK);
}

void q8_0_row_to_block_groups16(const void* src, void* dst, int64_t n) {
  const Q8Row in(src, n);
  const Q8RowOut out(dst, n);
  const int64_t nb = n / kQK;
  for (int64_t g0 = 0; g0 < nb; g0 += kGroup) {
    const int64_t m = std::min(kGroup, nb - g0);
    const int8_t* from = in.qs + g0 * kQK;
    int8_t* to = out.qs + g0 * kQK;
    for (int k = 0; k < kWords; ++k)
      for (int64_t l = 0; l < m; ++l) std::memcpy(to + (k * m + l) * 4, from + l * kQK + 4 * k, 4);
  }
  std::memcpy(out.d, in.d, static_cast<size_t>(nb) * sizeof(float));
  std::memcpy(out.sum, in.sum, static_cast<size_t>(nb) * sizeof(int32_t));
}

}  // namespace gengyun::kernels
