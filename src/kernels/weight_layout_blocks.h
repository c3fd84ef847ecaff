// Reading one ggml block out of a row in WeightLayout::kBlockGroups16 (weight_layout.h), for
// kernels that take blocks one at a time (the batched kernels' decoders). Internal to kernels/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/quant_blocks.h"

namespace gengyun::kernels {

/// Block j of a row of nb blocks of type Block (BlockQ8_0, BlockQ4_0 or BlockQ5_0) in
/// kBlockGroups16, as ggml stores it.
template <typename Block>
inline Block block_from_groups16(const uint8_t* row, int64_t nb, int64_t j) {
  constexpr bool kQ8 = std::is_same_v<Block, BlockQ8_0>;
  constexpr bool kQ5 = std::is_same_v<Block, BlockQ5_0>;
  static_assert(kQ8 || kQ5 || std::is_same_v<Block, BlockQ4_0>);
  const int64_t g0 = j / 16 * 16, l = j - g0, m = std::min<int64_t>(16, nb - g0);
  const uint8_t* group = row + g0 * static_cast<int64_t>(sizeof(Block));
  Block b;
  std::memcpy(&b.d, group + 2 * l, 2);
  const uint8_t* words = group + 2 * m;
  if constexpr (kQ5) {
    std::memcpy(b.qh, group + 2 * m + 4 * l, 4);
    words += 4 * m;
  }
  constexpr int kWords = static_cast<int>(sizeof(b.qs) / 4);
  for (int k = 0; k < kWords; ++k) {
    uint32_t word;
    std::memcpy(&word, words + 4 * (k * m + l), 4);
    if constexpr (kQ8) word ^= 0x80808080u;  // stored as q + 128
    std::memcpy(reinterpret_cast<uint8_t*>(b.qs) + 4 * k, &word, 4);
  }
  return b;
}

}  // namespace gengyun::kernels
