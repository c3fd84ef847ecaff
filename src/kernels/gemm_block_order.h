// The order in which the batched kernels (gemm_avx2.cpp, gemm_x86.h) add the 32-element blocks
// of a row: their f32 sums go to 16 partial sums, p[j % 16] for block j (vec_dot_x86.h), and
// the pack and the GEMM activation rows hold the blocks of a row of n in the order the kernel
// adds them: those of partial sum 0 (blocks 0, 16, 32, ...), then those of partial sum 1, ...,
// so that the kernel accumulates one partial sum at a time in registers and reads both
// sequentially. Internal to kernels/.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace gengyun::kernels {

/// Blocks of partial sum p in a row of n blocks: n / 16, one more for p < n % 16.
inline int64_t partial_blocks(int p, int64_t n) { return n / 16 + (p < n % 16 ? 1 : 0); }

/// The position of block j of a row of n blocks in that order.
inline int64_t block_position(int64_t j, int64_t n) {
  const int64_t p = j % 16;
  return p * (n / 16) + std::min(p, n % 16) + j / 16;
}

/// `bytes` rounded up to a multiple of 64 (rows and packs start cache-line aligned).
inline size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace gengyun::kernels
