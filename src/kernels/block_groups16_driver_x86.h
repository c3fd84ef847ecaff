// The drivers of the batched kernels that read rows in WeightLayout::kBlockGroups16 as they lie
// (no pack), shared by the levels' files (gemm_block_groups16_avx512.cpp,
// gemm_block_groups16_avx2.cpp): tiles of rows read from memory once a call, blocks of R rows x T
// tokens over each tile, the next rows prefetched into L2 as a tile's first block of tokens goes.
// The constants were measured with the AVX-512 kernels (Zen 4).
//
// Include after vec_dot_x86.h (GENGYUN_X86_NS defined): everything here has internal linkage
// inside gengyun::kernels::GENGYUN_X86_NS, as in vec_dot_x86.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "gguf/ggml_type.h"
#include "kernels/activation_rows.h"
#include "kernels/gemm.h"
#include "kernels/quant_blocks.h"
#include "kernels/weight_layout.h"

#ifndef GENGYUN_X86_NS
#error "define GENGYUN_X86_NS and include vec_dot_x86.h before block_groups16_driver_x86.h"
#endif

namespace gengyun::kernels::GENGYUN_X86_NS {
namespace {

// A block prefetches the next block of rows (they lie right after its own) as it goes, as far
// into them as it is into its own, into L2, and the lines kL2AheadBytes further as well.
// Prefetching into L1 alone, a block of rows x 4 tokens from DRAM barely overlapped the loads
// with its products (it streamed at what the memory's and its own time added up to: 4 tokens
// of Q8_0 ~19 GB/s against ~35 for the decode product and ~42 from L3). kernels_bench
// StreamedBatch(4|16) (Zen 4, 2 threads, one process; bench/RESULTS.md, "Session of 2026-12-06,
// third"), GMAC/s without the further lines and with them: Q8_0 4 tokens 69-85 -> 113-117, 16
// tokens on rows of 1536 / 8960 134-152 -> 162-196 (of 896 128 -> 116); Q6_K 4 tokens 86-105 ->
// 139-149, 16 tokens 143-173 -> 174-189; Q4_K 4 tokens 111-127 -> 176-200, 16 tokens 189-223 ->
// 219-244 (6.5 and 25.5 KiB measured alike). The next block's lines went into L1 until blocks
// of 8 rows came (2 tokens of the K-quants): a block of 8 rows is 7-59 KiB, more than L1 holds
// beside the activations, and Q6_K's streamed at 55-62 GMAC/s against 85-102 into L2; the other
// types and token counts stream as fast or faster into L2 (StreamedBatch(2|4|16), one process;
// "Session of 2026-12-06, fourth": Q8_0 2 tokens on rows of 8960 60 -> 90, Q4_K 4 tokens on
// rows of 8960 203 -> 226).
constexpr int kL2AheadBytes = 12 * 1024;

// Prefetches the lines of [at, at + bytes) and those kL2AheadBytes further into L2.
__attribute__((always_inline)) inline void prefetch_rows(const uint8_t* at, int bytes) {
  const char* near = reinterpret_cast<const char*>(at);
  const char* far = near + kL2AheadBytes;
#pragma GCC unroll 16
  for (int line = 0; line < bytes; line += 64) {
    _mm_prefetch(near + line, _MM_HINT_T1);
    _mm_prefetch(far + line, _MM_HINT_T1);
  }
}

// Bytes of weight rows a block of tokens meets before the next (re-read from L2 per block).
constexpr size_t kTileBytes = 256 * 1024;

// over_blocks' work on the rows [tile0, tile1) of a tile and the tokens [t_begin, t_end).
template <int R, int T, typename Tables, typename Block>
void token_blocks(const GemmProblem& p, int64_t tile0, int64_t tile1, int64_t t_begin,
                  int64_t t_end, const Tables& tables, const Block& block) {
  for (int64_t t0 = t_begin; t0 < t_end; t0 += T) {
    const uint8_t* a[T];
    for (int t = 0; t < T; ++t)
      a[t] = p.rows + static_cast<size_t>(std::min<int64_t>(t0 + t, t_end - 1)) * p.row_bytes;
    tables(a);
    for (int64_t r0 = tile0; r0 < tile1; r0 += R) {
      const uint8_t* w[R];
      for (int r = 0; r < R; ++r)
        w[r] = p.w + static_cast<size_t>(std::min<int64_t>(r0 + r, tile1 - 1)) * p.w_row_bytes;
      alignas(64) float out[16];
      block(w, a, static_cast<int>(std::min<int64_t>(T, t_end - t0)),
            t0 == 0 ? p.w + static_cast<size_t>(r0 + R) * p.w_row_bytes : nullptr, out);
      for (int t = 0; t < T && t0 + t < t_end; ++t)
        for (int r = 0; r < R && r0 + r < tile1; ++r)
          p.y[(t0 + t) * p.y_stride + r0 + r] = out[t * R + r];
    }
  }
}

// Rows of a tile: kTileBytes of them, a multiple of R.
template <int R>
int64_t tile_rows(const GemmProblem& p) {
  return std::max<int64_t>(R, static_cast<int64_t>(kTileBytes / p.w_row_bytes) / R * R);
}

// y for rows [row_begin, row_end) of p and every token: per tile of kTileBytes of rows, per
// block of T tokens (the last repeating its last token), `tables(a)` once for the block's
// activation rows a, then `block(w, a, n, ahead, out)` for each R rows w of the tile (the last
// block repeating its last row), n being how many of a are the block's own (1 to T; the rest
// repeat the last), out[t R + r] row r's output for token t (R T <= 16). In
// a tile's first block of tokens, which reads the rows from memory, `ahead` is where the next R
// rows start, for the block to prefetch them as it goes (prefetch_rows; rows lie one after
// another, and a row is shorter than the decode products' prefetch distance of 3 KiB in most
// matrices: from a row of 4864 elements, 3 KiB ahead is the next row, which the block is
// reading already); else null.
template <int R, int T, typename Tables, typename Block>
void over_blocks(const GemmProblem& p, int64_t row_begin, int64_t row_end, const Tables& tables,
                 const Block& block) {
  const int64_t rows = tile_rows<R>(p);
  for (int64_t tile0 = row_begin; tile0 < row_end; tile0 += rows)
    token_blocks<R, T>(p, tile0, std::min(row_end, tile0 + rows), 0, p.n_tokens, tables, block);
}

// over_blocks, but each tile's last n_tail tokens in blocks of R2 rows x T2 tokens (tables2,
// block2) after the others in blocks of R x T.
template <int R, int T, int R2, int T2, typename Tables, typename Block, typename Tables2,
          typename Block2>
void over_blocks(const GemmProblem& p, int64_t row_begin, int64_t row_end, int64_t n_tail,
                 const Tables& tables, const Block& block, const Tables2& tables2,
                 const Block2& block2) {
  const int64_t rows = tile_rows<(R > R2 ? R : R2)>(p);
  for (int64_t tile0 = row_begin; tile0 < row_end; tile0 += rows) {
    const int64_t tile1 = std::min(row_end, tile0 + rows);
    token_blocks<R, T>(p, tile0, tile1, 0, p.n_tokens - n_tail, tables, block);
    token_blocks<R2, T2>(p, tile0, tile1, p.n_tokens - n_tail, p.n_tokens, tables2, block2);
  }
}

// f.template operator()<N>() with N = n, a block's own tokens (1 .. T), for blocks of 4 or 8
// tokens; T for the others (the blocks of 8 rows x 2 tokens run calls of exactly 2).
template <int T, int N = 1, typename F>
__attribute__((always_inline)) inline void own_tokens(int n, const F& f) {
  if constexpr (T == 2 || N == T) {
    f.template operator()<T>();
  } else {
    if (n == N) return f.template operator()<N>();
    own_tokens<T, N + 1>(n, f);
  }
}

// The kernels (gemm.h) of one type without a pack from kMinTokens tokens on, handing over to the
// packs' (the level's gemm_kernels_groups16, set at first use) from kHandover(n_in) on.
template <auto kRowBytes, auto kPrepare, auto kMultiply, auto kHandover, int64_t kMinTokens = 2>
const GemmKernels* in_place(uint32_t type_id) {
  static const GemmKernels kernels{
      kRowBytes, kPrepare, kMultiply, kMinTokens, gemm_kernels_groups16(type_id), kHandover};
  return &kernels;
}

// GEMM activation rows of the K-quants: a Q8_K row arranged as the decode product takes it.
inline size_t q8_K_gemm_row_bytes(int64_t n_in) {
  return (static_cast<size_t>(n_in / kQK_K) * sizeof(BlockQ8_K) + 63) / 64 * 64;
}

// GEMM activation rows of the 32-element types: the Q8_0 (Q4_1, Q5_1: Q8_1) row arranged as the
// decode product takes it.
inline size_t q8_0_gemm_row_bytes(int64_t n_in) {
  return (activation_row_bytes(gguf::GgmlType::Q8_0, n_in) + 63) / 64 * 64;
}

inline void q8_0_prepare(const void* activation_row, int64_t n_in, void* gemm_row) {
  q8_0_row_to_block_groups16(activation_row, gemm_row, n_in);
}

inline size_t q8_1_gemm_row_bytes(int64_t n_in) {
  return (activation_row_bytes(gguf::GgmlType::Q8_1, n_in) + 63) / 64 * 64;
}

inline void q8_1_prepare(const void* activation_row, int64_t n_in, void* gemm_row) {
  q8_1_row_to_block_groups16(activation_row, gemm_row, n_in);
}

}  // namespace
}  // namespace gengyun::kernels::GENGYUN_X86_NS
