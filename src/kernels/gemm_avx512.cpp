// AVX-512 VNNI batched products (gemm.h) for the quantized types. Per group of 16 weight rows,
// every row is decoded to unsigned 8-bit quants and the scales (and mins) of its sub-blocks of
// S elements, the 16 rows are interleaved 4 bytes at a time, and vpdpbusd multiplies one such
// 64-byte vector with 4 activation bytes of a token broadcast to all 16 lanes: 16 rows x 4
// elements per instruction, 8 tokens per pass over the group's weights. Q8_0 rows in
// WeightLayout::kRowGroups16 already lie so (quants signed, scales f16): the kernel reads them
// without a pack (an xor makes the quants unsigned, vcvtph2ps the scales f32).
//
// Integer sums are exact: a type whose quants carry an offset (w = s * (q - o)) is computed
// with unsigned q and the activation side's -o * (sum of the sub-block's activation quants)
// as the initial value of each sum. The f32 steps are those of the type's AVX-512 vec_dot
// (vec_dot_x86.h), lane by lane, so that a token's outputs are the same bits whatever the
// batch:
//  - 32-element block types: per block j, p[j % 16] = fma(float(sum_j), d_w * d_a, p[j % 16])
//    (then fma(m_w, s_a, p[j % 16]) with mins), 16 partial sums added pairwise at the end;
//  - K-quants: per super-block, the exact integers S = sum over its sub-blocks of scale * sum
//    (and M = sum of min * activation sum), then acc = fma(float(S), d_w * d_a, acc) (and
//    acc = fnmadd(float(M), dmin_w * d_a, acc)).
#define GENGYUN_X86_NS avx512
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/gemm.h"
#include "kernels/gemm_x86.h"

namespace gengyun::kernels::avx512 {
namespace {

constexpr int kTokens = 8;  // tokens per register block

// ---- the register-blocked kernels -------------------------------------------------------------
// Packed weights of a group, per sub-block: S / 4 vectors of 16 rows x 4 bytes, then its 16
// scales (f32 for the 32-element types, int32 for the K-quants), then (32-element types with
// a min) the 16 f32 mins. The K-quants add per super-block the 16 f32 d, and with a min the
// 16 f32 dmin and G / S / 2 vectors of 16 int16 pairs of sub-block mins.

template <typename Type>
constexpr size_t pack_sub_block_bytes() {
  return 16 * Type::S + 64 + (!kIsK<Type> && Type::kMin ? 64 : 0);
}

template <typename Type>
constexpr size_t pack_super_block_extra_bytes() {
  if constexpr (!kIsK<Type>) return 0;
  return 64 + (Type::kMin ? 64 + 64 * (Type::G / Type::S / 2) : 0);
}

// Sums of the S / 4 weight vectors at p with the quants at qs + t * row_bytes (sub-block j),
// starting from the rows' corrections: exact int32 per row lane and token.
template <typename Type, int T, typename Weights>
inline void sub_block_sums(const Weights& weights, const uint8_t* rows, size_t row_bytes,
                           const RowLayout<Type>& layout, int64_t j, __m512i (&sums)[T]) {
  constexpr int S = Type::S;
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    if constexpr (Type::kOffset != 0)
      sums[t] = _mm512_set1_epi32(
          reinterpret_cast<const int32_t*>(rows + t * row_bytes + layout.corr_at())[j]);
    else
      sums[t] = _mm512_setzero_si512();
  }
#pragma GCC unroll 8
  for (int q = 0; q < S / 4; ++q) {
    const __m512i w = weights(q);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      int32_t a;
      std::memcpy(&a, rows + t * row_bytes + j * S + 4 * q, 4);
      sums[t] = _mm512_dpbusd_epi32(sums[t], w, _mm512_set1_epi32(a));
    }
  }
}

// The packed weights of a group of a 32-element block type (pack_group), block after block.
template <typename Type>
struct PackSource {
  const uint8_t* pack;
  const uint8_t* block(int64_t m) const { return pack + m * pack_sub_block_bytes<Type>(); }
  __m512i weights(int64_t m, int q) const { return _mm512_load_si512(block(m) + 64 * q); }
  __m512 scale(int64_t m) const { return _mm512_load_ps(block(m) + 16 * 32); }
  __m512 min(int64_t m) const { return _mm512_load_ps(block(m) + 16 * 32 + 64); }
};

// A group of 16 Q8_0 rows in WeightLayout::kRowGroups16, read as they lie: block m's 16 f16
// scales at 32 m, its quant words (signed; + 128 by an xor) at 32 nb + 512 m.
struct Q8_0RowGroupSource {
  const uint8_t* group;
  int64_t nb;
  __m512i weights(int64_t m, int q) const {
    return _mm512_xor_si512(_mm512_loadu_si512(group + 32 * nb + 512 * m + 64 * q),
                            _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  __m512 scale(int64_t m) const { return _mm512_cvtph_ps(load256(group + 32 * m)); }
  __m512 min(int64_t) const { return _mm512_setzero_ps(); }
};

// 32-element block types: 16 partial sums per row lane and token, accumulated one after the
// other in registers over the blocks in block_position order, then added pairwise.
template <typename Type, int T, typename Source>
void legacy_kernel(const Source& src, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                   int64_t y_stride, __mmask16 store_mask) {
  const RowLayout<Type> layout{k};
  __m512 partial[16][T];
  int64_t m = 0;  // position of the next block
  for (int part = 0; part < 16; ++part) {
    __m512(&acc)[T] = partial[part];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (const int64_t end = m + partial_blocks(part, k / 32); m < end; ++m) {
      __m512i sums[T];
      sub_block_sums<Type, T>([&](int q) { return src.weights(m, q); }, rows, row_bytes, layout, m,
                              sums);
      const __m512 scale = src.scale(m);
      __m512 min;
      if constexpr (Type::kMin) min = src.min(m);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const uint8_t* row = rows + t * row_bytes;
        const float d = reinterpret_cast<const float*>(row + layout.d_at())[m];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]),
                                 _mm512_mul_ps(scale, _mm512_set1_ps(d)), acc[t]);
        if constexpr (Type::kMin)
          acc[t] = _mm512_fmadd_ps(
              min, _mm512_set1_ps(reinterpret_cast<const float*>(row + layout.minsum_at())[m]),
              acc[t]);
      }
    }
  }
  for (int width = 8; width > 0; width /= 2)
    for (int i = 0; i < width; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        partial[i][t] = _mm512_add_ps(partial[i][t], partial[i + width][t]);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, store_mask, partial[0][t]);
}

// K-quants: one exact integer sum per super-block and row lane and token, then f32.
template <typename Type, int T>
void k_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
              int64_t y_stride, __mmask16 store_mask) {
  constexpr int kSubs = Type::G / Type::S;
  const RowLayout<Type> layout{k};
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const uint8_t* p = pack;
  for (int64_t b = 0; b < k / Type::G; ++b) {
    __m512i total[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) total[t] = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int js = 0; js < kSubs; ++js) {
      __m512i sums[T];
      sub_block_sums<Type, T>([&](int q) { return _mm512_load_si512(p + 64 * q); }, rows, row_bytes,
                              layout, b * kSubs + js, sums);
      p += 16 * Type::S;
      const __m512i scale = _mm512_load_si512(p);
      p += 64;
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        total[t] =
            _mm512_add_epi32(total[t], kNarrowSums<Type> ? _mm512_madd_epi16(sums[t], scale)
                                                         : _mm512_mullo_epi32(sums[t], scale));
    }
    const __m512 d = _mm512_load_ps(p);
    p += 64;
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const float da = reinterpret_cast<const float*>(rows + t * row_bytes + layout.d_at())[b];
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, _mm512_set1_ps(da)),
                               acc[t]);
    }
    if constexpr (Type::kMin) {
      const __m512 dmin = _mm512_load_ps(p);
      p += 64;
      __m512i mins[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) mins[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int i = 0; i < kSubs / 2; ++i) {
        const __m512i m = _mm512_load_si512(p + 64 * i);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const auto* pairs =
              reinterpret_cast<const int32_t*>(rows + t * row_bytes + layout.minsum_at());
          mins[t] = _mm512_dpwssd_epi32(mins[t], m, _mm512_set1_epi32(pairs[b * kSubs / 2 + i]));
        }
      }
      p += 64 * (kSubs / 2);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const float da = reinterpret_cast<const float*>(rows + t * row_bytes + layout.d_at())[b];
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins[t]),
                                  _mm512_mul_ps(dmin, _mm512_set1_ps(da)), acc[t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, store_mask, acc[t]);
}

template <typename Type, int T>
void block_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                  int64_t y_stride, __mmask16 store_mask) {
  if constexpr (kIsK<Type>)
    k_kernel<Type, T>(pack, k, rows, row_bytes, y, y_stride, store_mask);
  else
    legacy_kernel<Type, T>(PackSource<Type>{pack}, k, rows, row_bytes, y, y_stride, store_mask);
}

// kernel(std::integral_constant<int, n>{}) for a register block of n tokens (1..kTokens; more:
// kTokens), so that each count runs the register kernel compiled for it.
template <typename Kernel>
void with_tokens(int n, const Kernel& kernel) {
  switch (n) {
    case 1:
      return kernel(std::integral_constant<int, 1>{});
    case 2:
      return kernel(std::integral_constant<int, 2>{});
    case 3:
      return kernel(std::integral_constant<int, 3>{});
    case 4:
      return kernel(std::integral_constant<int, 4>{});
    case 5:
      return kernel(std::integral_constant<int, 5>{});
    case 6:
      return kernel(std::integral_constant<int, 6>{});
    case 7:
      return kernel(std::integral_constant<int, 7>{});
    default:
      return kernel(std::integral_constant<int, kTokens>{});
  }
}

template <typename Type>
size_t group_pack_bytes(int64_t k) {
  return static_cast<size_t>(k / Type::S) * pack_sub_block_bytes<Type>() +
         static_cast<size_t>(k / Type::G) * pack_super_block_extra_bytes<Type>();
}

// Decodes rows [row0, row0 + rows_in_group) (the rest of the 16 as zeros) and writes their
// interleaved pack to `out`.
template <typename Type>
void pack_group(const GemmProblem& p, int64_t row0, int rows_in_group, Scratch& s, uint8_t* out) {
  decode_group<Type>(p, row0, rows_in_group, s);
  const int64_t k = p.n_in;
  const int64_t n_sub = k / Type::S;
  // Sub-block j goes to position j, or block_position(j) for the 32-element types.
  uint8_t* const start = out;
  for (int64_t j = 0; j < n_sub; ++j) {
    if constexpr (!kIsK<Type>)
      out = start + block_position(j, n_sub) * pack_sub_block_bytes<Type>();
    for (int h = 0; h < Type::S / 16; ++h) {
      transpose_16x4(s.q.data() + j * Type::S + 16 * h, k, out);
      out += 256;
    }
    if constexpr (kIsK<Type>) {
      put64(out, s.int_scale.data() + kRows * j);
      if ((j + 1) % (Type::G / Type::S) != 0) continue;
      const int64_t b = j / (Type::G / Type::S);
      put64(out, s.d.data() + kRows * b);
      if constexpr (Type::kMin) {
        put64(out, s.dmin.data() + kRows * b);
        for (int64_t i = (b * Type::G / Type::S) / 2; i < ((b + 1) * Type::G / Type::S) / 2; ++i)
          put64(out, s.int_min.data() + 2 * kRows * i);
      }
    } else {
      put64(out, s.scale.data() + kRows * j);
      if constexpr (Type::kMin) put64(out, s.min.data() + kRows * j);
    }
  }
}

// Bytes of packed weights decoded before the tokens are run over them (in L2), and of activation
// rows run over them at a time (in L1 while every group of the run meets them). Measured on an
// Intel Xeon (bench/RESULTS.md, "The token tiles' budget"): 32 KiB against 256 KiB, 512-token
// prefill of Qwen2.5-0.5B +22% (Q8_0) and +13% (Q4_K_M) at this level; 16 and 64 KiB no better.
constexpr size_t kPackBudget = 512 * 1024;
constexpr size_t kTokenBudget = 32 * 1024;

// Rows [row_begin, row_end) in runs of groups of 16 rows of up to kPackBudget bytes (group_bytes
// each): ready(run0, run1) prepares a run (multiply: its packs), then the tokens meet its groups
// a chunk of kTokenBudget at a time: kernel(g, row0, mask, t0, n) for group g of the run (first
// row row0, `mask` its rows) and the register block of the n tokens from t0.
template <typename Ready, typename Kernel>
void over_runs(const GemmProblem& p, int64_t row_begin, int64_t row_end, size_t group_bytes,
               const Ready& ready, const Kernel& kernel) {
  const int64_t groups_per_run =
      std::max<int64_t>(1, static_cast<int64_t>(kPackBudget / group_bytes));
  const int64_t tokens_per_chunk = std::max<int64_t>(
      kTokens, static_cast<int64_t>(kTokenBudget / p.row_bytes) / kTokens * kTokens);
  const int64_t run_rows = groups_per_run * kRows;
  for (int64_t run0 = row_begin; run0 < row_end; run0 += run_rows) {
    const int64_t run1 = std::min(row_end, run0 + run_rows);
    const int64_t n_groups = (run1 - run0 + kRows - 1) / kRows;
    ready(run0, run1);
    for (int64_t c0 = 0; c0 < p.n_tokens; c0 += tokens_per_chunk) {
      const int64_t c1 = std::min(p.n_tokens, c0 + tokens_per_chunk);
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t row0 = run0 + g * kRows;
        const int rows_in_group = static_cast<int>(std::min<int64_t>(kRows, run1 - row0));
        const auto mask = static_cast<__mmask16>((1u << rows_in_group) - 1);
        for (int64_t t0 = c0; t0 < c1; t0 += kTokens)
          kernel(g, row0, mask, t0, static_cast<int>(std::min<int64_t>(kTokens, c1 - t0)));
      }
    }
  }
}

template <typename Type>
void multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  thread_local Scratch scratch;
  const size_t group_bytes = group_pack_bytes<Type>(p.n_in);
  uint8_t* packs = nullptr;
  over_runs(
      p, row_begin, row_end, group_bytes,
      [&](int64_t run0, int64_t run1) {
        const int64_t n_groups = (run1 - run0 + kRows - 1) / kRows;
        packs = scratch.pack(group_bytes * static_cast<size_t>(n_groups));
        for (int64_t g = 0; g < n_groups; ++g) {
          const int64_t row0 = run0 + g * kRows;
          pack_group<Type>(p, row0, static_cast<int>(std::min<int64_t>(kRows, run1 - row0)),
                           scratch, packs + g * group_bytes);
        }
      },
      [&](int64_t g, int64_t row0, __mmask16 mask, int64_t t0, int n) {
        with_tokens(n, [&](auto tokens) {
          block_kernel<Type, decltype(tokens)::value>(
              packs + g * group_bytes, p.n_in, p.rows + static_cast<size_t>(t0) * p.row_bytes,
              p.row_bytes, p.y + t0 * p.y_stride + row0, p.y_stride, mask);
        });
      });
}

// Q8_0 rows in WeightLayout::kRowGroups16: the register kernel reads each group as it lies
// (Q8_0RowGroupSource), no pack; runs of groups meet the tokens as multiply's packs do.
void multiply_q8_0_row_groups16(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  using Type = LegacyType<Q8_0Weights>;
  const int64_t k = p.n_in;
  over_runs(
      p, row_begin, row_end, kRows * p.w_row_bytes, [](int64_t, int64_t) {},
      [&](int64_t, int64_t row0, __mmask16 mask, int64_t t0, int n) {
        const Q8_0RowGroupSource src{p.w + static_cast<size_t>(row0) * p.w_row_bytes, k / 32};
        with_tokens(n, [&](auto tokens) {
          legacy_kernel<Type, decltype(tokens)::value>(
              src, k, p.rows + static_cast<size_t>(t0) * p.row_bytes, p.row_bytes,
              p.y + t0 * p.y_stride + row0, p.y_stride, mask);
        });
      });
}

// With no pack to amortize, these kernels beat the layout's decode product (matmul's tiled path)
// from 2 tokens on: kernels_bench Batch2/(4864x896|896x4864)/q8_0_row_groups16/avx512 (Zen 4, one
// thread) 126-128 / 90-105 GMAC/s against 71 / 68 tiled, 3 tokens 146-149 / 116-128 against 73 /
// 70.
constexpr GemmKernels q8_0_row_groups16_kernels{row_bytes<LegacyType<Q8_0Weights>>,
                                                prepare<LegacyType<Q8_0Weights>>,
                                                multiply_q8_0_row_groups16, 2};

template <typename Type>
constexpr GemmKernels kernels_of{row_bytes<Type>, prepare<Type>, multiply<Type>};

// From how many tokens the kBlockGroups16 kernels beat that layout's decode product (matmul's
// tiled path), for the types without kernels that skip the pack (none since Q2_K got them: matmul
// reaches these only through GemmKernels::handover, from 32 to 64 tokens on, and the value
// serves callers of gemm_kernels_groups16 itself; gemm_block_groups16_avx512.cpp). kernels_bench
// Batch(4|8|12|16)/(4864x896|896x4864)/T_groups16/avx512 against the same with the batched
// kernels off (Zen 4, one thread; bench/RESULTS.md, "Session of 2026-12-06"): at 4 tokens
// 0.42-0.54x the decode product, at 8 0.83-0.93x, at 12 1.01-1.27x (Q4_1 on rows of 896 0.69x, at
// 16 tokens 1.17x).
constexpr int64_t kGroups16MinTokens = 12;

template <typename Type>
constexpr GemmKernels groups16_kernels_of{row_bytes<Type>, prepare<Type>, multiply<Type>,
                                          kGroups16MinTokens};

}  // namespace

const GemmKernels* gemm_kernels(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &kernels_of<LegacyType<Q8_0Weights>>;
    case GgmlType::Q4_0:
      return &kernels_of<LegacyType<Q4_0Weights>>;
    case GgmlType::Q5_0:
      return &kernels_of<LegacyType<Q5_0Weights>>;
    case GgmlType::Q4_1:
      return &kernels_of<LegacyType<Q4_1Weights>>;
    case GgmlType::Q5_1:
      return &kernels_of<LegacyType<Q5_1Weights>>;
    case GgmlType::IQ4_NL:
      return &kernels_of<LegacyType<IQ4_NLWeights>>;
    case GgmlType::Q2_K:
      return &kernels_of<Q2KType>;
    case GgmlType::Q3_K:
      return &kernels_of<Q3KType>;
    case GgmlType::Q4_K:
      return &kernels_of<Q45KType<false, BlockQ4_K>>;
    case GgmlType::Q5_K:
      return &kernels_of<Q45KType<true, BlockQ5_K>>;
    case GgmlType::Q6_K:
      return &kernels_of<Q6KType>;
    default:
      return nullptr;
  }
}

const GemmKernels* gemm_kernels_groups16(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &groups16_kernels_of<LegacyGroups16Type<Q8_0Weights>>;
    case GgmlType::Q4_0:
      return &groups16_kernels_of<LegacyGroups16Type<Q4_0Weights>>;
    case GgmlType::Q5_0:
      return &groups16_kernels_of<LegacyGroups16Type<Q5_0Weights>>;
    case GgmlType::Q4_1:
      return &groups16_kernels_of<LegacyGroups16Type<Q4_1Weights>>;
    case GgmlType::Q5_1:
      return &groups16_kernels_of<LegacyGroups16Type<Q5_1Weights>>;
    case GgmlType::IQ4_NL:
      return &groups16_kernels_of<LegacyGroups16Type<IQ4_NLWeights>>;
    case GgmlType::Q4_K:
      return &groups16_kernels_of<Q45KGroups16Type<BlockQ4_K>>;
    case GgmlType::Q5_K:
      return &groups16_kernels_of<Q45KGroups16Type<BlockQ5_K>>;
    case GgmlType::Q2_K:
      return &groups16_kernels_of<Q2KGroups16Type>;
    case GgmlType::Q3_K:
      return &groups16_kernels_of<Q3KGroups16Type>;
    case GgmlType::Q6_K:
      return &groups16_kernels_of<Q6KGroups16Type>;
    default:
      return nullptr;
  }
}

const GemmKernels* gemm_kernels_row_groups16(uint32_t type_id) {
  return static_cast<gguf::GgmlType>(type_id) == gguf::GgmlType::Q8_0 ? &q8_0_row_groups16_kernels
                                                                      : nullptr;
}

}  // namespace gengyun::kernels::avx512
