// AMX-INT8 batched products (gemm.h): the kernels of SimdLevel::kAmx. The integer sums are
// tile products, 16 tokens x 16 weight rows per tile; the f32 steps after them are those of
// the AVX-512 VNNI kernels (gemm_avx512.cpp) and so of the AVX-512 vec_dot (vec_dot_x86.h),
// lane by lane in the same order, so every output is the same bits as at kAvx512.
//
// Tiles: A = 16 GEMM activation rows (gemm_x86.h, the same rows as at kAvx512) at one run of
// K quants, read in place with the rows' stride; B = the K quants of a group of 16 weight rows
// in the VNNI layout (K/4 tile rows of 16 weight rows x 4 bytes, what transpose_16x4 writes);
// C[token][row] = the exact int32 sum. C is stored and the AVX-512 epilogue takes it one token
// (16 row lanes) at a time, like the VNNI kernels' accumulators.
//  - 32-element block types: weights decoded to signed bytes (q - offset, the offset of
//    gemm_x86.h's decoders), so tdpbssd gives each block's sum I_j = sum (q - o) a directly,
//    the integer the VNNI kernels form from unsigned q and -o * (activation block sum). One
//    product per block (K = 32), then p[j % 16] = fma(float(I_j), d_w * d_a, p[j % 16]) (then
//    fma(m_w, s_a, ...) with mins) and the pairwise sum of the 16 partial sums.
//  - K-quants: each quant times its sub-block's integer scale, scale * (q - o), is an int16
//    w = lo + 256 * hi with lo = w & 0xFF (unsigned) and hi = w >> 8 (signed); tdpbsud with
//    the lo bytes and tdpbssd with the hi bytes over the super-block's 256 quants give
//    S = C_lo + 256 * C_hi, exactly the VNNI kernels' sum over sub-blocks of scale * sum. Then
//    acc = fma(float(S), d_w * d_a, acc), and with mins the VNNI kernels' M (vpdpwssd) and
//    acc = fnmadd(float(M), dmin_w * d_a, acc).
// A product of fewer than 16 tokens runs on a copy of their rows padded with zero rows.
//
// Every thread that runs a multiply loads the tile configuration first (ldtilecfg) and
// releases the tiles at the end (tilerelease), so no thread keeps tile state between calls.
#define GENGYUN_X86_NS amx
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include "kernels/gemm_x86.h"

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/gemm.h"

namespace gengyun::kernels::amx {
namespace {

constexpr int kTokens = 16;  // tokens per tile: the rows of A and C

// Keeps the compiler from moving memory accesses across this point: the tile loads
// (_tile_loadd) read memory the compiler does not know about.
inline void memory_barrier() { __asm__ volatile("" ::: "memory"); }

// ldtilecfg's 64-byte operand, palette 1.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of tile i
  uint8_t rows[16] = {};
};

constexpr TileConfig make_config(std::initializer_list<std::pair<int, int>> shapes) {
  TileConfig config;
  int i = 0;
  for (const auto& [rows, colsb] : shapes) {
    config.rows[i] = static_cast<uint8_t>(rows);
    config.colsb[i] = static_cast<uint16_t>(colsb);
    ++i;
  }
  return config;
}

// 32-element blocks: C in tmm0 / tmm1 (two blocks in flight), A (16 tokens x 32 bytes) in
// tmm2 / tmm3, B (8 x 16 rows x 4 bytes) in tmm4 / tmm5.
alignas(64) constexpr TileConfig kLegacyConfig =
    make_config({{16, 64}, {16, 64}, {16, 32}, {16, 32}, {8, 64}, {8, 64}});
// K-quants: C_lo, C_hi in tmm0, tmm1 or tmm2, tmm3 (two super-blocks in flight), A (16
// tokens x 64 bytes) in tmm4, B_lo and B_hi (16 x 16 rows x 4 bytes) in tmm5, tmm6.
alignas(64) constexpr TileConfig kKConfig =
    make_config({{16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 64}});

// ---- packs ----------------------------------------------------------------------------------
// 32-element block types, per block in block_position order: B (512 bytes of signed quants),
// the 16 f32 scales, with mins the 16 f32 mins.
// K-quants, per super-block: per 64 quants B_lo then B_hi (1 KiB each), the 16 f32 d, with
// mins the 16 f32 dmin and G / S / 2 vectors of 16 int16 pairs of sub-block mins (as the VNNI
// kernels: vpdpwssd against the activation rows' pairs of sub-block sums).

// Bytes of the pack of one block of G quants (a super-block for the K-quants).
template <typename Type>
constexpr size_t pack_super_block_bytes() {
  if constexpr (kIsK<Type>)
    return 2 * kRows * Type::G + 64 + (Type::kMin ? 64 + 64 * (Type::G / Type::S / 2) : 0);
  else
    return kRows * 32 + 64 + (Type::kMin ? 64 : 0);
}

template <typename Type>
size_t group_pack_bytes(int64_t k) {
  return static_cast<size_t>(k / Type::G) * pack_super_block_bytes<Type>();
}

// Per-thread scratch: the decoded group, the K-quants' lo and hi planes, the packs of a run of
// groups and the padded rows of a last partial tile of tokens.
struct AmxScratch {
  Scratch decoded;
  std::vector<uint8_t> lo, hi;
  std::vector<uint8_t> tail_storage;

  uint8_t* tail(size_t bytes) {
    if (tail_storage.size() < bytes + 64) tail_storage.resize(bytes + 64);
    const auto address = reinterpret_cast<uintptr_t>(tail_storage.data());
    return tail_storage.data() + (64 - address % 64) % 64;
  }
};

template <typename Type>
void pack_group(const GemmProblem& p, int64_t row0, int rows_in_group, AmxScratch& scratch,
                uint8_t* out) {
  Scratch& s = scratch.decoded;
  decode_group<Type>(p, row0, rows_in_group, s);
  const int64_t k = p.n_in;
  const size_t n = static_cast<size_t>(kRows * k);
  if constexpr (!kIsK<Type>) {
    // Signed quants: q - offset (the signed types' offset 128 undoes their decoder's xor).
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(Type::kOffset));
    for (size_t i = 0; i < n; i += 64) {
      uint8_t* q = s.q.data() + i;
      _mm512_storeu_si512(q, _mm512_sub_epi8(_mm512_loadu_si512(q), offset));
    }
    const int64_t n_blocks = k / 32;
    for (int64_t j = 0; j < n_blocks; ++j) {
      uint8_t* o = out + block_position(j, n_blocks) * pack_super_block_bytes<Type>();
      transpose_16x4(s.q.data() + 32 * j, k, o);
      transpose_16x4(s.q.data() + 32 * j + 16, k, o + 256);
      o += 512;
      put64(o, s.scale.data() + kRows * j);
      if constexpr (Type::kMin) put64(o, s.min.data() + kRows * j);
    }
  } else {
    // w = scale * (q - offset) per quant, as int16, split into its low and high bytes.
    scratch.lo.resize(n);
    scratch.hi.resize(n);
    const __m256i offset = _mm256_set1_epi16(Type::kOffset);
    for (int r = 0; r < kRows; ++r) {
      for (int64_t e = 0; e < k; e += 16) {
        const auto scale = static_cast<int16_t>(s.int_scale[kRows * (e / Type::S) + r]);
        const size_t at = static_cast<size_t>(r * k + e);
        const __m256i q = _mm256_cvtepu8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.q.data() + at)));
        const __m256i w = _mm256_mullo_epi16(_mm256_sub_epi16(q, offset), _mm256_set1_epi16(scale));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(scratch.lo.data() + at),
                         _mm256_cvtepi16_epi8(w));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(scratch.hi.data() + at),
                         _mm256_cvtepi16_epi8(_mm256_srai_epi16(w, 8)));
      }
    }
    constexpr int kSubs = Type::G / Type::S;
    for (int64_t b = 0; b < k / Type::G; ++b) {
      for (int64_t c = Type::G * b; c < Type::G * (b + 1); c += 64) {
        for (int h = 0; h < 4; ++h) transpose_16x4(scratch.lo.data() + c + 16 * h, k, out + 256 * h);
        out += 1024;
        for (int h = 0; h < 4; ++h) transpose_16x4(scratch.hi.data() + c + 16 * h, k, out + 256 * h);
        out += 1024;
      }
      put64(out, s.d.data() + kRows * b);
      if constexpr (Type::kMin) {
        put64(out, s.dmin.data() + kRows * b);
        for (int64_t i = b * kSubs / 2; i < (b + 1) * kSubs / 2; ++i)
          put64(out, s.int_min.data() + 2 * kRows * i);
      }
    }
  }
}

// ---- the tile kernels ---------------------------------------------------------------------
// One group of 16 weight rows (its pack) against 16 tokens (rows, row_bytes apart); outputs of
// the first n_valid tokens stored to y[t * y_stride + row] for the rows in store_mask.

// The int32 sums of block m (position order) into c (16 tokens x 16 rows), through tile slot
// kSlot.
template <int kSlot>
inline void legacy_product(const uint8_t* rows, size_t row_bytes, int64_t m, const uint8_t* b,
                           int32_t* c) {
  if constexpr (kSlot == 0) {
    _tile_loadd(2, rows + 32 * m, row_bytes);
    _tile_loadd(4, b, 64);
    _tile_zero(0);
    _tile_dpbssd(0, 2, 4);
    _tile_stored(0, c, 64);
  } else {
    _tile_loadd(3, rows + 32 * m, row_bytes);
    _tile_loadd(5, b, 64);
    _tile_zero(1);
    _tile_dpbssd(1, 3, 5);
    _tile_stored(1, c, 64);
  }
}

template <typename Type>
void legacy_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                   int64_t y_stride, int n_valid, __mmask16 store_mask) {
  memory_barrier();
  const RowLayout<Type> layout{k};
  const int64_t n_blocks = k / 32;
  alignas(64) int32_t c[2][kTokens * kRows];
  __m512 partial[16][kTokens];
  const uint8_t* p = pack;
  int64_t m = 0;  // position of the next block
  for (int part = 0; part < 16; ++part) {
    __m512(&acc)[kTokens] = partial[part];
#pragma GCC unroll 16
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
    for (const int64_t end = m + partial_blocks(part, n_blocks); m < end; ++m) {
      const int32_t* sums = c[m % 2];
      if (m % 2 == 0)
        legacy_product<0>(rows, row_bytes, m, p, c[0]);
      else
        legacy_product<1>(rows, row_bytes, m, p, c[1]);
      const __m512 scale = _mm512_load_ps(p + 512);
      __m512 min;
      if constexpr (Type::kMin) min = _mm512_load_ps(p + 576);
      p += pack_super_block_bytes<Type>();
#pragma GCC unroll 16
      for (int t = 0; t < kTokens; ++t) {
        const uint8_t* row = rows + t * row_bytes;
        const float d = reinterpret_cast<const float*>(row + layout.d_at())[m];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + kRows * t)),
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
#pragma GCC unroll 16
      for (int t = 0; t < kTokens; ++t)
        partial[i][t] = _mm512_add_ps(partial[i][t], partial[i + width][t]);
  for (int t = 0; t < n_valid; ++t)
    _mm512_mask_storeu_ps(y + t * y_stride, store_mask, partial[0][t]);
}

// The int32 sums C_lo and C_hi of super-block b into c[0] and c[1] (16 tokens x 16 rows each),
// through tile slot kSlot.
template <int kQuants, int kSlot>
inline void k_products(const uint8_t* rows, size_t row_bytes, int64_t b, const uint8_t* w,
                       int32_t (*c)[kTokens * kRows]) {
  if constexpr (kSlot == 0) {
    _tile_zero(0);
    _tile_zero(1);
  } else {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int i = 0; i < kQuants / 64; ++i) {
    _tile_loadd(4, rows + kQuants * b + 64 * i, row_bytes);
    _tile_loadd(5, w + 2048 * i, 64);
    _tile_loadd(6, w + 2048 * i + 1024, 64);
    if constexpr (kSlot == 0) {
      _tile_dpbsud(0, 4, 5);
      _tile_dpbssd(1, 4, 6);
    } else {
      _tile_dpbsud(2, 4, 5);
      _tile_dpbssd(3, 4, 6);
    }
  }
  if constexpr (kSlot == 0) {
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
  } else {
    _tile_stored(2, c[0], 64);
    _tile_stored(3, c[1], 64);
  }
}

template <typename Type>
void k_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
              int64_t y_stride, int n_valid, __mmask16 store_mask) {
  memory_barrier();
  constexpr int kSubs = Type::G / Type::S;
  const RowLayout<Type> layout{k};
  alignas(64) int32_t c[2][2][kTokens * kRows];
  __m512 acc[kTokens];
#pragma GCC unroll 16
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
  const uint8_t* p = pack;
  for (int64_t b = 0; b < k / Type::G; ++b) {
    int32_t(*sums)[kTokens * kRows] = c[b % 2];
    if (b % 2 == 0)
      k_products<Type::G, 0>(rows, row_bytes, b, p, sums);
    else
      k_products<Type::G, 1>(rows, row_bytes, b, p, sums);
    p += 32 * Type::G;  // B_lo and B_hi: G quants of 16 rows each
    const __m512 d = _mm512_load_ps(p);
    p += 64;
#pragma GCC unroll 16
    for (int t = 0; t < kTokens; ++t) {
      const __m512i total = _mm512_add_epi32(_mm512_load_si512(sums[0] + kRows * t),
                                             _mm512_slli_epi32(_mm512_load_si512(sums[1] + kRows * t), 8));
      const float da = reinterpret_cast<const float*>(rows + t * row_bytes + layout.d_at())[b];
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(da)),
                               acc[t]);
    }
    if constexpr (Type::kMin) {
      const __m512 dmin = _mm512_load_ps(p);
      p += 64;
#pragma GCC unroll 16
      for (int t = 0; t < kTokens; ++t) {
        const uint8_t* row = rows + t * row_bytes;
        const auto* pairs = reinterpret_cast<const int32_t*>(row + layout.minsum_at());
        __m512i mins = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < kSubs / 2; ++i)
          mins = _mm512_dpwssd_epi32(mins, _mm512_load_si512(p + 64 * i),
                                     _mm512_set1_epi32(pairs[b * kSubs / 2 + i]));
        const float da = reinterpret_cast<const float*>(row + layout.d_at())[b];
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, _mm512_set1_ps(da)),
                                  acc[t]);
      }
      p += 64 * (kSubs / 2);
    }
  }
  for (int t = 0; t < n_valid; ++t) _mm512_mask_storeu_ps(y + t * y_stride, store_mask, acc[t]);
}

template <typename Type>
void block_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes, float* y,
                  int64_t y_stride, int n_valid, __mmask16 store_mask) {
  if constexpr (kIsK<Type>)
    k_kernel<Type>(pack, k, rows, row_bytes, y, y_stride, n_valid, store_mask);
  else
    legacy_kernel<Type>(pack, k, rows, row_bytes, y, y_stride, n_valid, store_mask);
}

// Bytes of packed weights decoded before the tokens are run over them, and of activation rows
// run over them at a time: together they stay in L2.
constexpr size_t kPackBudget = 512 * 1024;
constexpr size_t kTokenBudget = 256 * 1024;

template <typename Type>
void multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  thread_local AmxScratch scratch;
  const size_t group_bytes = group_pack_bytes<Type>(p.n_in);
  const int64_t groups_per_run =
      std::max<int64_t>(1, static_cast<int64_t>(kPackBudget / group_bytes));
  const int64_t tokens_per_chunk = std::max<int64_t>(
      kTokens, static_cast<int64_t>(kTokenBudget / p.row_bytes) / kTokens * kTokens);
  const int64_t run_rows = groups_per_run * kRows;
  // The last n_tokens % 16 rows, padded with zero rows to a tile.
  const int64_t full_tokens = p.n_tokens / kTokens * kTokens;
  const uint8_t* tail = nullptr;
  if (full_tokens < p.n_tokens) {
    uint8_t* padded = scratch.tail(p.row_bytes * kTokens);
    const size_t used = p.row_bytes * static_cast<size_t>(p.n_tokens - full_tokens);
    std::memcpy(padded, p.rows + p.row_bytes * static_cast<size_t>(full_tokens), used);
    std::memset(padded + used, 0, p.row_bytes * kTokens - used);
    tail = padded;
  }
  _tile_loadconfig(kIsK<Type> ? &kKConfig : &kLegacyConfig);
  for (int64_t run0 = row_begin; run0 < row_end; run0 += run_rows) {
    const int64_t run1 = std::min(row_end, run0 + run_rows);
    const int64_t n_groups = (run1 - run0 + kRows - 1) / kRows;
    uint8_t* packs = scratch.decoded.pack(group_bytes * static_cast<size_t>(n_groups));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t row0 = run0 + g * kRows;
      pack_group<Type>(p, row0, static_cast<int>(std::min<int64_t>(kRows, run1 - row0)), scratch,
                       packs + g * group_bytes);
    }
    for (int64_t c0 = 0; c0 < p.n_tokens; c0 += tokens_per_chunk) {
      const int64_t c1 = std::min(p.n_tokens, c0 + tokens_per_chunk);
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t row0 = run0 + g * kRows;
        const int rows_in_group = static_cast<int>(std::min<int64_t>(kRows, run1 - row0));
        const auto mask = static_cast<__mmask16>((1u << rows_in_group) - 1);
        for (int64_t t0 = c0; t0 < c1; t0 += kTokens) {
          const int n = static_cast<int>(std::min<int64_t>(kTokens, c1 - t0));
          const uint8_t* rows =
              t0 < full_tokens ? p.rows + static_cast<size_t>(t0) * p.row_bytes : tail;
          block_kernel<Type>(packs + g * group_bytes, p.n_in, rows, p.row_bytes,
                             p.y + t0 * p.y_stride + row0, p.y_stride, n, mask);
        }
      }
    }
  }
  _tile_release();
}

template <typename Type>
constexpr GemmKernels kernels_of{row_bytes<Type>, prepare<Type>, multiply<Type>};

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

}  // namespace gengyun::kernels::amx
