// AMX-INT8 batched products (gemm.h): the kernels of SimdLevel::kAmx. The integer sums are
// tile products, 16 weight rows x 16 tokens per tile; the f32 steps after them are those of
// the AVX-512 VNNI kernels (gemm_avx512.cpp) and so of the AVX-512 vec_dot (vec_dot_x86.h),
// in the same order for every output, so every output is the same bits as at kAvx512.
//
// Tiles: A = a group of 16 weight rows at one run of K quants, decoded once per call into
// plain row-major bytes (a strided tile load, no interleaving); B = the same K quants of 16
// tokens in the VNNI layout (K/4 tile rows of 16 tokens x 4 bytes), built once per call from
// the GEMM activation rows (gemm_x86.h, the same rows as at kAvx512); C[row][token] = the
// exact int32 sum. C is stored and an AVX-512 epilogue takes it one weight row (16 token
// lanes) at a time; the outputs are transposed to y's token-major rows at the end. Q8_0, Q4_0
// and Q5_0 rows in WeightLayout::kBlockGroups16 swap the operands instead (weights as B, read
// out of the layout with one 16 x 16 dword transpose per word of 16 blocks of 16 rows; tokens
// as A; C token-major): "rows in kBlockGroups16" below; Q8_0 rows in WeightLayout::kRowGroups16
// are B tiles as they lie, Q4_0 and Q5_0 rows there are unpacked once per run of groups without
// transposes (multiply_row_groups16), Q4_K, Q5_K and Q6_K rows there to scaled int16 planes as
// B (multiply_k_row_groups16).
//  - 32-element block types: weights decoded to signed bytes (the quants less the format's
//    offset: Q4_0 8, Q5_0 16), so tdpbssd gives each block's sum I_j = sum (q - o) a directly,
//    the integer the VNNI kernels form from unsigned q and -o * (activation block sum). One
//    product per block (K = 32), then p[j % 16] = fma(float(I_j), d_w * d_a, p[j % 16]) (then
//    fma(m_w, s_a, ...) with mins) and the pairwise sum of the 16 partial sums.
//  - K-quants: each quant times its sub-block's integer scale, scale * (q - o), is an int16
//    w = lo + 256 * hi with lo = w & 0xFF (unsigned) and hi = w >> 8 (signed); tdpbusd with
//    the lo bytes and tdpbssd with the hi bytes over the super-block's G quants give
//    S = C_lo + 256 * C_hi, exactly the VNNI kernels' sum over sub-blocks of scale * sum. Then
//    acc = fma(float(S), d_w * d_a, acc), and with mins the VNNI kernels' M (vpdpwssd of the
//    same pairs) and acc = fnmadd(float(M), dmin_w * d_a, acc).
// The products d_w * d_a and m_w * s_a are those of the VNNI kernels with the operands
// swapped, which IEEE multiplication does not notice. A last tile of fewer than 16 tokens is
// padded with zero rows; a call of fewer than 16 tokens runs the VNNI kernels instead
// (kMinTileTokens), except for the K-quants whose packs are cheap (kMinTileTokensOf).
//
// Every thread that runs a multiply loads the tile configuration first (ldtilecfg) and
// releases the tiles at the end (tilerelease), so no thread keeps tile state between calls.
#define GENGYUN_X86_NS amx
#include "kernels/vec_dot_x86.h"
// vec_dot_x86.h first: it sets up the intrinsics and the block decoders used here.
#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/gemm.h"
#include "kernels/gemm_x86.h"
#include "kernels/row_groups16_x86.h"
#include "kernels/scratch.h"

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

// 32-element blocks: C in tmm0..tmm3 (four blocks in flight), A (16 weight rows x 32 quants)
// in tmm4 / tmm5, B (8 x 16 tokens x 4 quants) in tmm6 / tmm7.
alignas(64) constexpr TileConfig kLegacyConfig =
    make_config({{16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 32}, {16, 32}, {8, 64}, {8, 64}});
// K-quants: C_lo, C_hi in tmm0, tmm1 or tmm2, tmm3 (two super-blocks in flight), B (16 x 16
// tokens x 4 quants) in tmm4, A_lo and A_hi (16 weight rows x 64 quants) in tmm5, tmm6.
alignas(64) constexpr TileConfig kKConfig =
    make_config({{16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 64}, {16, 64}});

// ---- weight packs --------------------------------------------------------------------------
// A group of 16 weight rows, each tile's A contiguous (16 rows x its quants, one after the
// other) so that it is one dense tile load:
//  - 32-element block types, the blocks in block_position order (gemm_block_order.h): per
//    block, the 16 rows' 32 signed quants (512 bytes) | scales f32[n_blocks][16] | with mins
//    mins f32[n_blocks][16];
//  - K-quants: lo, per 64 quants the 16 rows' 64 uint8 (1 KiB) | hi, the same in int8 |
//    d f32[n_super][16] | with mins dmin f32[n_super][16] and the pairs of sub-block mins,
//    int16[n_sub / 2][16][2] (the decoder's int_min layout). The 64 quants of a tile row are
//    in element order, or for rows in kBlockGroups16 in the layout's order (k_tile_row).

template <typename Type>
size_t group_pack_bytes(int64_t k) {
  const auto n_sub = static_cast<size_t>(k / Type::S), n_super = static_cast<size_t>(k / Type::G);
  if constexpr (kIsK<Type>)
    return 32 * static_cast<size_t>(k) + 64 * n_super +
           (Type::kMin ? 64 * n_super + 32 * n_sub : 0);
  else
    return 16 * static_cast<size_t>(k) + 64 * n_sub * (Type::kMin ? 2 : 1);
}

// Per-thread scratch: a decoded K-quant row and the fields of its group, the packs of a run of
// groups, the activation tiles of a call and the padded rows of a last partial tile of tokens.
// Grown with resize_scratch (scratch.h), not std::vector::resize.
struct AmxScratch {
  Scratch decoded;
  std::vector<uint8_t> tile_storage, tail_storage;

  static uint8_t* aligned(std::vector<uint8_t>& storage, size_t bytes) {
    if (storage.size() < bytes + 64) resize_scratch(storage, bytes + 64);
    const auto address = reinterpret_cast<uintptr_t>(storage.data());
    return storage.data() + (64 - address % 64) % 64;
  }
};

// The signed quants of a 32-element block: its decoder's, less the offset for unsigned ones.
template <typename Type>
inline __m256i signed_quants(const typename Type::Block& b) {
  using W = typename Type::Weights;
  const __m256i q = W::unpack(b);
  if constexpr (W::kSigned || W::kOffset == 0) return q;
  return _mm256_sub_epi8(q, _mm256_set1_epi8(static_cast<char>(W::kOffset)));
}

// The K-quants whose rows are in WeightLayout::kBlockGroups16 (Q3_K, Q4_K, Q6_K; not Q2_K, whose
// 16 mins a super-block pack_k_direct has no place for) are packed in the
// layout's order of quants, not in element order (pack_k_direct); their activation tiles put
// the activation quants in the same order (build_activation_tile). The integer sum over a
// super-block does not depend on the order of its terms.
template <typename Type>
constexpr bool kLayoutOrderK = kIsK<Type> ? kLayoutOf<Type> == WeightLayout::kBlockGroups16 &&
                                                !std::is_same_v<Type, Q2KGroups16Type>
                                          : false;

// The K-quants that pack_k_direct packs: those and Q4_K / Q5_K / Q6_K in ggml's rows.
template <typename Type>
constexpr bool kPackDirectK =
    kIsK<Type> ? kLayoutOrderK<Type> || Type::S == 32 || std::is_same_v<Type, Q6KType> : false;

// For kLayoutOrderK types: the row of a super-block's four A tiles (tile c: its quants 64 c ..
// 64 c + 63 in the pack's order) that holds quant 4 c + e (e 0..3) of the 16-quant run i
// (element 16 i ..) of the super-block:
//  - Q4_K: tile c takes word c (elements 4 c .. 4 c + 3 of each half of 16) of the 8 sub-blocks
//    of 32: run i = 2 l + h (sub-block l, half h) is tile row 8 h + l;
//  - Q6_K, Q3_K: tile c takes elements 4 c .. 4 c + 3 of the 16 sub-blocks of 16: run i is row i.
template <typename Type>
constexpr int k_tile_row(int i) {
  return Type::S == 32 ? 8 * (i % 2) + i / 2 : i;
}

// The int16 w = scale * q (less scale * offset) of the 64 unsigned quants q (< 128), the 16-bit
// lanes of s_even holding each quant pair's scale in its low byte and 0 in its high byte (s_odd:
// the same shifted to the high byte), split into lo (w & 0xFF) at lo and hi (w >> 8) at hi, in
// q's order: vpmaddubsw of the even and of the odd bytes, their low and high bytes blended.
inline void k_planes(__m512i q, __m512i s_even, __m512i s_odd, __m512i scaled_offset, uint8_t* lo,
                     uint8_t* hi) {
  constexpr __mmask64 kOddBytes = 0xAAAAAAAAAAAAAAAAull;
  const __m512i even = _mm512_sub_epi16(_mm512_maddubs_epi16(q, s_even), scaled_offset);
  const __m512i odd = _mm512_sub_epi16(_mm512_maddubs_epi16(q, s_odd), scaled_offset);
  _mm512_store_si512(lo, _mm512_mask_blend_epi8(kOddBytes, even, _mm512_slli_epi16(odd, 8)));
  _mm512_store_si512(hi, _mm512_mask_blend_epi8(kOddBytes, _mm512_srli_epi16(even, 8), odd));
}

// s_even for k_planes from the 16 scales (int8 or uint8) in the low bytes of the dword lanes of
// `scales` (zero-extended).
inline __m512i scale_pairs(__m512i scales) {
  return _mm512_or_si512(scales, _mm512_slli_epi32(scales, 16));
}

// The 8 6-bit scales and 8 mins of a Q4_K / Q5_K super-block from its 12 packed bytes (ggml's
// get_scale_min_k4, 4 at a time), byte j of each for sub-block j.
inline void q45_K_scales_mins(const uint8_t* packed12, uint64_t& scales, uint64_t& mins) {
  uint32_t u[3];
  std::memcpy(u, packed12, 12);
  const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, top2 = 0x03030303;
  scales = (u[0] & low6) | uint64_t{(u[2] & low4) | (((u[0] >> 6) & top2) << 4)} << 32;
  mins = (u[1] & low6) | uint64_t{((u[2] >> 4) & low4) | (((u[1] >> 6) & top2) << 4)} << 32;
}

// Stores the 8 mins of super-block b of row r as the pack's 4 int16 pairs (sub-blocks 2 i,
// 2 i + 1) at min_pairs[16 (4 b + i) + r].
inline void store_min_pairs(uint64_t mins, int64_t b, int r, int32_t* min_pairs) {
  alignas(16) int32_t pairs[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(pairs),
                  _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mins))));
  for (int i = 0; i < 4; ++i) min_pairs[kRows * (4 * b + i) + r] = pairs[i];
}

// pack_group of Q3_K, Q4_K and Q6_K rows in kBlockGroups16 and of Q4_K, Q5_K and Q6_K rows in
// ggml's layout:
// per super-block and row, each 64-byte vector of quants the rows give is one A tile row (Q4_K in
// kBlockGroups16: a word of the 8 sub-blocks' nibbles, split into the low nibbles then the high
// ones, a sub-block per dword lane; Q6_K / Q3_K: groups16::q6_K_quants / q3_K_quants, the same;
// ggml's Q4_K / Q5_K: 32 nibble bytes, sub-blocks 2 c and 2 c + 1 in element order; ggml's Q6_K:
// two of unpack_q6_K_half's vectors, 4 sub-blocks in element order), its scales alongside; no
// transposes, and no row buffer. The rows are the inner loop, so that each super-block's tiles
// are written whole, one after another.
template <typename Type>
void pack_k_direct(const GemmProblem& p, int64_t row0, int rows_in_group, uint8_t* out) {
  const int64_t k = p.n_in, n_super = k / Type::G;
  const size_t n = static_cast<size_t>(kRows * k);
  auto* d = reinterpret_cast<float*>(out + 2 * n);
  float* dmin = d + kRows * n_super;
  auto* min_pairs = reinterpret_cast<int32_t*>(dmin + kRows * n_super);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m512i offset = _mm512_set1_epi16(Type::kOffset);
  for (int64_t b = 0; b < n_super; ++b) {
    for (int r = 0; r < kRows; ++r) {
      uint8_t* tiles = out + 4096 * b + 64 * r;  // tile c's lo plane at + 1024 c, hi at + n
      if (r >= rows_in_group) {                  // zero quants and fields
        for (int c = 0; c < 4; ++c) {
          std::memset(tiles + 1024 * c, 0, 64);
          std::memset(tiles + 1024 * c + n, 0, 64);
        }
        d[kRows * b + r] = 0.0f;
        if constexpr (Type::kMin) {
          dmin[kRows * b + r] = 0.0f;
          for (int i = 0; i < 4; ++i) min_pairs[kRows * (4 * b + i) + r] = 0;
        }
        continue;
      }
      const uint8_t* row = p.w + static_cast<size_t>(row0 + r) * p.w_row_bytes;
      uint16_t half_d, half_dmin = 0;
      uint64_t mins = 0;
      if constexpr (Type::S == 32 && kLayoutOf<Type> == WeightLayout::kGgml) {
        // Q4_K and Q5_K in ggml's rows: 32 nibble bytes give the 64 quants of sub-blocks 2 c and
        // 2 c + 1 in element order (low nibbles, then high ones; Q5_K's fifth bits from qh).
        using Block = typename Type::KBlock;
        constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
        const Block& block = reinterpret_cast<const Block*>(row)[b];
        uint64_t scales;
        q45_K_scales_mins(block.scales, scales, mins);
        // 16-bit lane j < 8: the scale of sub-block j (its high byte 0).
        const __m512i by_sub_block = _mm512_castsi128_si512(
            _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(scales))));
        __m256i fifth;
        if constexpr (kFifth)
          fifth = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qh));
        for (int c = 0; c < 4; ++c) {
          const __m256i bytes =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs + 32 * c));
          __m256i low = _mm256_and_si256(bytes, nibble);
          __m256i high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble);
          if constexpr (kFifth) {  // bit 2 c of qh[l] for element 64 c + l, 2 c + 1 for + 32
            const __m256i sixteen = _mm256_set1_epi8(16);
            low = _mm256_mask_add_epi8(
                low, _mm256_test_epi8_mask(fifth, _mm256_set1_epi8(static_cast<char>(1 << 2 * c))),
                low, sixteen);
            high = _mm256_mask_add_epi8(
                high, _mm256_test_epi8_mask(fifth, _mm256_set1_epi8(static_cast<char>(2 << 2 * c))),
                high, sixteen);
          }
          const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
          const __m512i s_even = _mm512_permutexvar_epi16(
              _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(2 * c)),
                                 _mm256_set1_epi16(static_cast<int16_t>(2 * c + 1)), 1),
              by_sub_block);
          k_planes(q, s_even, _mm512_slli_epi16(s_even, 8), _mm512_setzero_si512(),
                   tiles + 1024 * c, tiles + 1024 * c + n);
        }
        half_d = block.d;
        half_dmin = block.dmin;
      } else if constexpr (std::is_same_v<Type, Q6KType>) {
        // Q6_K in ggml's rows: unpack_q6_K_half's vectors, two of 32 quants (element order) a
        // tile row, under the scales of their 4 sub-blocks of 16.
        const BlockQ6_K& block = reinterpret_cast<const BlockQ6_K*>(row)[b];
        // 16-bit lane i of 64 quants: quant pair i, of sub-block i / 8 of the 4.
        const __m512i sub_block_of_pair = _mm512_srli_epi16(
            _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14,
                             13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            3);
        // 16-bit lane j < 16: the scale of sub-block j (its byte, high byte 0).
        const __m512i by_sub_block = _mm512_castsi256_si512(
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales))));
        for (int h = 0; h < 2; ++h) {
          __m256i q[4];
          unpack_q6_K_half(block, h, q);
          for (int t = 0; t < 2; ++t) {
            const int c = 2 * h + t;  // elements 64 c .. 64 c + 63
            const __m512i s_even = _mm512_permutexvar_epi16(
                _mm512_add_epi16(sub_block_of_pair, _mm512_set1_epi16(static_cast<int16_t>(4 * c))),
                by_sub_block);
            k_planes(_mm512_inserti64x4(_mm512_castsi256_si512(q[2 * t]), q[2 * t + 1], 1), s_even,
                     _mm512_slli_epi16(s_even, 8), _mm512_maddubs_epi16(offset, s_even),
                     tiles + 1024 * c, tiles + 1024 * c + n);
          }
        }
        half_d = block.d;
      } else if constexpr (Type::S == 32) {
        // Q4_K in kBlockGroups16: groups of 2 super-blocks (16 sub-block lanes), the last alone
        // when their count is odd; this super-block is lanes 8 j .. 8 j + 7 of its group.
        const int64_t g0 = b - b % 2;
        const int m = static_cast<int>(std::min<int64_t>(2, n_super - g0)),
                  j = static_cast<int>(b % 2);
        const uint8_t* group = row + static_cast<size_t>(g0) * sizeof(BlockQ4_K);
        uint64_t scales;
        q45_K_scales_mins(group + 4 * m + 12 * j, scales, mins);
        const __m512i s_even = scale_pairs(_mm512_cvtepu8_epi32(
            _mm_set1_epi64x(static_cast<long long>(scales))));  // lane l: sub-block l % 8
        const __m512i s_odd = _mm512_slli_epi16(s_even, 8);
        for (int c = 0; c < 4; ++c) {
          const __m256i word = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(group + 16 * m + 32 * m * c + 32 * j));
          const __m512i q =
              _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(word, nibble)),
                                 _mm256_and_si256(_mm256_srli_epi16(word, 4), nibble), 1);
          k_planes(q, s_even, s_odd, _mm512_setzero_si512(), tiles + 1024 * c,
                   tiles + 1024 * c + n);
        }
        std::memcpy(&half_d, group + 2 * j, 2);
        std::memcpy(&half_dmin, group + 2 * (m + j), 2);
      } else {  // Q6_K or Q3_K in kBlockGroups16: one super-block per group, scales and d as
                // in ggml (Q3_K's 6-bit scales less 32 as int8)
        constexpr bool kQ3 = std::is_same_v<Type, Q3KGroups16Type>;
        using Block = std::conditional_t<kQ3, BlockQ3_K, BlockQ6_K>;
        const uint8_t* group = row + static_cast<size_t>(b) * sizeof(Block);
        const auto& block = *reinterpret_cast<const Block*>(group);
        __m512i u[4];
        __m128i scales;
        if constexpr (kQ3) {
          ::gengyun::kernels::avx512::groups16::q3_K_quants(group, u);
          scales = unpack_q3_k_scales_minus_32(block.scales);
        } else {
          ::gengyun::kernels::avx512::groups16::q6_K_quants(group, u);
          scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales));
        }
        const __m512i s_even = scale_pairs(_mm512_cvtepu8_epi32(scales));
        const __m512i s_odd = _mm512_slli_epi16(s_even, 8);
        const __m512i scaled_offset = _mm512_maddubs_epi16(offset, s_even);
        for (int c = 0; c < 4; ++c)
          k_planes(u[c], s_even, s_odd, scaled_offset, tiles + 1024 * c, tiles + 1024 * c + n);
        half_d = block.d;
      }
      d[kRows * b + r] = half_to_float(half_d);
      if constexpr (Type::kMin) {
        dmin[kRows * b + r] = half_to_float(half_dmin);
        store_min_pairs(mins, b, r, min_pairs);
      }
    }
  }
}

// Packs rows [row0, row0 + rows_in_group) to `out`; the rest of the 16 rows as copies of the
// last row (32-element types) or zeros (K-quants), their fields as +0.
template <typename Type>
void pack_group(const GemmProblem& p, int64_t row0, int rows_in_group, AmxScratch& scratch,
                uint8_t* out) {
  const int64_t k = p.n_in;
  const size_t n = static_cast<size_t>(kRows * k);
  const size_t n_sub = static_cast<size_t>(k / Type::S), n_super = static_cast<size_t>(k / Type::G);
  if constexpr (!kIsK<Type>) {
    // Decoded straight into the pack, block by block (the 16 rows' blocks j, then j + 1, ...,
    // so that the pack is written in order): the quants are read once.
    auto* scale = reinterpret_cast<float*>(out + n);
    float* min = scale + kRows * n_sub;
    const uint8_t* x[kRows];
    for (int r = 0; r < kRows; ++r)
      x[r] = p.w + static_cast<size_t>(row0 + std::min(r, rows_in_group - 1)) * p.w_row_bytes;
    if constexpr (kLayoutOf<Type> != WeightLayout::kGgml) {
      // Rows in kBlockGroups16: their blocks as Type::for_each_block gives them (unsigned
      // quants in element order), packed less the offset, as signed_quants gives them.
      const __m256i offset = _mm256_set1_epi8(static_cast<char>(Type::kOffset));
      for (int r = 0; r < kRows; ++r) {
        const bool real = r < rows_in_group;
        Type::for_each_block(x[r], k, [&](int64_t j, __m256i q, float d, float m) {
          const int64_t pos = block_position(j, static_cast<int64_t>(n_sub));
          _mm256_store_si256(reinterpret_cast<__m256i*>(out + 512 * pos + 32 * r),
                             _mm256_sub_epi8(q, offset));
          scale[kRows * pos + r] = real ? d : 0.0f;
          if constexpr (Type::kMin) min[kRows * pos + r] = real ? m : 0.0f;
        });
      }
      return;
    }
    for (size_t j = 0; j < n_sub; ++j) {
      const int64_t pos = block_position(static_cast<int64_t>(j), static_cast<int64_t>(n_sub));
      for (int r = 0; r < kRows; ++r) {
        const bool real = r < rows_in_group;  // else a copy of the last row, its fields +0
        const auto& b = reinterpret_cast<const typename Type::Block*>(x[r])[j];
        _mm256_store_si256(reinterpret_cast<__m256i*>(out + 512 * pos + 32 * r),
                           signed_quants<Type>(b));
        scale[kRows * pos + r] = real ? half_to_float(b.d) : 0.0f;
        if constexpr (Type::kMin) min[kRows * pos + r] = real ? half_to_float(b.m) : 0.0f;
      }
    }
  } else if constexpr (kPackDirectK<Type>) {
    pack_k_direct<Type>(p, row0, rows_in_group, out);
  } else {
    // One row at a time, decoded into a row buffer that stays in L1, then
    // w = scale * (q - offset) per quant, as int16, split into its low and high bytes.
    Scratch& s = scratch.decoded;
    const auto lanes = [](size_t fields) { return static_cast<size_t>(kRows) * fields; };
    s.int_scale.assign(lanes(n_sub), 0);
    s.int_min.assign(lanes(n_sub), 0);
    s.d.assign(lanes(n_super), 0.0f);
    s.dmin.assign(lanes(n_super), 0.0f);
    resize_scratch(s.q, static_cast<size_t>(k));
    uint8_t* lo = out;
    uint8_t* hi = out + n;
    const __m512i offset = _mm512_set1_epi16(Type::kOffset);
    // Byte i of the 128 bytes of two vectors of int16: 2i (the low bytes), 2i + 1 (the high).
    const __m512i even_bytes = _mm512_set_epi8(
        126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96, 94, 92, 90,
        88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58, 56, 54, 52, 50, 48, 46, 44,
        42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd_bytes = _mm512_add_epi8(even_bytes, _mm512_set1_epi8(1));
    for (int r = 0; r < kRows; ++r) {
      const size_t at = static_cast<size_t>(64 * r);  // quants 64 c..64 c + 63 at + 1024 c
      if (r >= rows_in_group) {
        for (int64_t e = 0; e < k; e += 64) {
          std::memset(lo + at + 16 * e, 0, 64);
          std::memset(hi + at + 16 * e, 0, 64);
        }
        continue;
      }
      Type::decode(p.w + static_cast<size_t>(row0 + r) * p.w_row_bytes, k, s.q.data(),
                   KFields{s.int_scale.data() + r, s.int_min.data() + 2 * r, s.d.data() + r,
                           s.dmin.data() + r});
      const uint8_t* q = s.q.data();
      const int32_t* scales = s.int_scale.data() + r;
      uint8_t* row_lo = lo + at;
      uint8_t* row_hi = hi + at;
      // The int16 w of 32 quants from e: their scales (one sub-block, or two of 16) times
      // q - offset.
      const auto weights = [&](int64_t e) {
        const auto scale = [&](int64_t i) {
          return static_cast<int16_t>(scales[kRows * (i / Type::S)]);
        };
        const __m512i scale32 =
            _mm512_inserti64x4(_mm512_set1_epi16(scale(e)), _mm256_set1_epi16(scale(e + 16)), 1);
        return _mm512_mullo_epi16(_mm512_sub_epi16(_mm512_cvtepu8_epi16(load256(q + e)), offset),
                                  scale32);
      };
      for (int64_t e = 0; e < k; e += 64) {
        const __m512i w0 = weights(e), w1 = weights(e + 32);
        _mm512_store_si512(row_lo + 16 * e, _mm512_permutex2var_epi8(w0, even_bytes, w1));
        _mm512_store_si512(row_hi + 16 * e, _mm512_permutex2var_epi8(w0, odd_bytes, w1));
      }
    }
    uint8_t* fields = out + 2 * n;
    std::memcpy(fields, s.d.data(), 64 * n_super);
    if constexpr (Type::kMin) {
      std::memcpy(fields + 64 * n_super, s.dmin.data(), 64 * n_super);
      std::memcpy(fields + 128 * n_super, s.int_min.data(), 32 * n_sub);
    }
  }
}

// ---- activation tiles -----------------------------------------------------------------------
// The GEMM activation rows of 16 tokens in the B layout (tile row i: the 16 tokens' quants
// 4i..4i+3), with their per-block fields as vectors of the 16 tokens:
//  - 32-element block types, per block in block_position order (the rows' order): B (512
//    bytes) | d_a f32[16] | with mins s_a f32[16];
//  - K-quants, per super-block: per 64 quants a B tile (1 KiB) | d_a f32[16] | with mins
//    G / S / 2 vectors of the 16 tokens' pairs of sub-block sums (int16 pairs). The quants
//    are in the order of the weight pack's tile rows.

template <typename Type>
constexpr size_t tile_block_bytes() {
  if constexpr (kIsK<Type>)
    return kTokens * Type::G + 64 + (Type::kMin ? 64 * (Type::G / Type::S / 2) : 0);
  else
    return kTokens * 32 + 64 + (Type::kMin ? 64 : 0);
}

template <typename Type>
size_t activation_tile_bytes(int64_t k) {
  return static_cast<size_t>(k / Type::G) * tile_block_bytes<Type>();
}

// The 4-byte field i of the array at `at` (d, corr, minsum: RowLayout) of the 16 GEMM activation
// rows at rows, row_bytes apart, side by side at dst (64 bytes, token t at 4 t). (Copied 4 bytes
// at a time straight into build_token_tile's blocks, d_a and s_a in one loop, GCC 12 at -O2
// dropped every call of that function for Q4_1 / Q5_1, the branch taken as unreachable after its
// IPA passes, pure-const and modref: docs/kernels.md, "Q4_1 and Q5_1 at the AMX level: a GCC 12
// trap". The Amx tests of the kBlockGroups16 tiles fail if it returns.)
inline void gather_token_fields(const uint8_t* rows, size_t row_bytes, size_t at, int64_t i,
                                uint8_t* dst) {
  alignas(64) int32_t lanes[kTokens];
  for (int t = 0; t < kTokens; ++t)
    std::memcpy(&lanes[t], rows + t * row_bytes + at + 4 * static_cast<size_t>(i), 4);
  _mm512_storeu_si512(dst, _mm512_load_si512(lanes));
}

// The activation tile of the 16 GEMM activation rows at rows, row_bytes apart.
template <typename Type>
void build_activation_tile(const uint8_t* rows, size_t row_bytes, int64_t k, uint8_t* out) {
  const RowLayout<Type> layout{k};
  auto gather = [&](size_t at, int64_t i) {
    gather_token_fields(rows, row_bytes, at, i, out);
    out += 64;
  };
  for (int64_t b = 0; b < k / Type::G; ++b) {
    for (int i = 0; i < Type::G / 16; ++i) {
      const uint8_t* run = rows + Type::G * b + 16 * i;  // 4 dwords of each token
      if constexpr (kLayoutOrderK<Type>)
        transpose_16x4(run, static_cast<int64_t>(row_bytes), out + 64 * k_tile_row<Type>(i), 1024);
      else
        transpose_16x4(run, static_cast<int64_t>(row_bytes), out + 256 * i);
    }
    out += kTokens * Type::G;
    gather(layout.d_at(), b);
    if constexpr (Type::kMin) {
      if constexpr (kIsK<Type>) {
        constexpr int kPairs = Type::G / Type::S / 2;
        for (int64_t i = kPairs * b; i < kPairs * (b + 1); ++i) gather(layout.minsum_at(), i);
      } else {
        gather(layout.minsum_at(), b);
      }
    }
  }
}

// ---- the tile kernels ---------------------------------------------------------------------
// One group of 16 weight rows (its pack) against one activation tile of 16 tokens. The
// accumulators hold one weight row each, the 16 tokens in lanes; at the end they are
// transposed and the first n_valid tokens' outputs stored to y[t * y_stride + row] for the rows
// in store_mask.

// Stores acc[r][t] to y[t * y_stride + r] for t < n_valid and the rows in store_mask.
inline void store_transposed(const __m512 (&acc)[kRows], float* y, int64_t y_stride, int n_valid,
                             __mmask16 store_mask) {
  alignas(64) float by_row[kRows * kTokens];
  for (int r = 0; r < kRows; ++r) _mm512_store_ps(by_row + kTokens * r, acc[r]);
  const __m512i rows =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(kTokens));
  for (int t = 0; t < n_valid; ++t)
    _mm512_mask_storeu_ps(y + t * y_stride, store_mask, _mm512_i32gather_ps(rows, by_row + t, 4));
}

// Up to 4 blocks in flight: the products of 4 blocks go to C tiles tmm0..tmm3, their A and B
// through tmm4 / tmm5 and tmm6 / tmm7 by turns. The kernel is software-pipelined: the products
// of the next 4 blocks are issued before the epilogue of the current 4 (which reads their C
// from memory) and stored after it, so the tile unit and the vector units work side by side.

// The product of the weight block at a (its 16 rows x 32 quants) with the tokens' block at b
// into C tile kSlot.
template <int kSlot>
inline void legacy_product(const uint8_t* a, const uint8_t* b) {
  if constexpr (kSlot == 0) {
    _tile_loadd(4, a, 32);
    _tile_loadd(6, b, 64);
    _tile_zero(0);
    _tile_dpbssd(0, 4, 6);
  } else if constexpr (kSlot == 1) {
    _tile_loadd(5, a, 32);
    _tile_loadd(7, b, 64);
    _tile_zero(1);
    _tile_dpbssd(1, 5, 7);
  } else if constexpr (kSlot == 2) {
    _tile_loadd(4, a, 32);
    _tile_loadd(6, b, 64);
    _tile_zero(2);
    _tile_dpbssd(2, 4, 6);
  } else {
    _tile_loadd(5, a, 32);
    _tile_loadd(7, b, 64);
    _tile_zero(3);
    _tile_dpbssd(3, 5, 7);
  }
}

// The tile instructions of the 32-element kernels (kLegacyConfig): product<kSlot>(a, b) is
// C tile kSlot = A (16 x 32 bytes at a, 32 apart) times B (8 x 64 bytes at b) with tdpbssd,
// store<kSlot>(c) stores C tile kSlot to c (16 x 16 int32). EmulatedTiles (below) computes the
// same in memory.
struct HardwareTiles {
  static constexpr bool kHardware = true;
  template <int kSlot>
  static void product(const uint8_t* a, const uint8_t* b) {
    legacy_product<kSlot>(a, b);
  }
  // (GCC's tile intrinsics name their registers by macro: a literal each.)
  template <int kSlot>
  static void store(int32_t* c) {
    if constexpr (kSlot == 0)
      _tile_stored(0, c, 64);
    else if constexpr (kSlot == 1)
      _tile_stored(1, c, 64);
    else if constexpr (kSlot == 2)
      _tile_stored(2, c, 64);
    else
      _tile_stored(3, c, 64);
  }
};

// The products of the n (1..4) blocks from position pos (A at a_of(pos), B at b_of(pos)).
template <typename Tiles, typename AOf, typename BOf>
inline void legacy_products(int64_t pos, int n, const AOf& a_of, const BOf& b_of) {
  Tiles::template product<0>(a_of(pos), b_of(pos));
  if (n > 1) Tiles::template product<1>(a_of(pos + 1), b_of(pos + 1));
  if (n > 2) Tiles::template product<2>(a_of(pos + 2), b_of(pos + 2));
  if (n > 3) Tiles::template product<3>(a_of(pos + 3), b_of(pos + 3));
}

// C tiles 0..n-1 to c[0..n) (16 x 16 int32 each).
template <typename Tiles>
inline void store_products(int n, int32_t (*c)[kRows * kTokens]) {
  Tiles::template store<0>(c[0]);
  if (n > 1) Tiles::template store<1>(c[1]);
  if (n > 2) Tiles::template store<2>(c[2]);
  if (n > 3) Tiles::template store<3>(c[3]);
}

// The pack and the activation tile hold the blocks in block_position order (partial sum 0's
// blocks, then partial sum 1's, ...), so the kernel reads both sequentially and adds to one
// partial sum at a time in registers.
template <typename Type>
void legacy_kernel(const uint8_t* pack, int64_t k, const uint8_t* tile, float* y, int64_t y_stride,
                   int n_valid, __mmask16 store_mask) {
  memory_barrier();
  const int64_t n_blocks = k / 32;
  const auto* scale = reinterpret_cast<const float*>(pack + kRows * k);
  const float* min = scale + kRows * n_blocks;
  auto a_of = [&](int64_t pos) { return pack + 512 * pos; };
  auto b_of = [&](int64_t pos) { return tile + pos * tile_block_bytes<Type>(); };
  alignas(64) int32_t c[2][4][kRows * kTokens];
  __m512 partial[16][kRows];
  __m512 acc[kRows];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
  int part = 0;  // the partial sum of acc, whose blocks end at position part_end
  int64_t part_end = partial_blocks(0, n_blocks);
  const auto next_part = [&] {
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      partial[part][r] = acc[r];
      acc[r] = _mm512_setzero_ps();
    }
    ++part;
    if (part < 16) part_end += partial_blocks(part, n_blocks);
  };
  int n = static_cast<int>(std::min<int64_t>(4, n_blocks));
  legacy_products<HardwareTiles>(0, n, a_of, b_of);
  store_products<HardwareTiles>(n, c[0]);
  for (int64_t pos = 0, buffer = 0; pos < n_blocks; pos += 4, buffer ^= 1) {
    const int n_next = static_cast<int>(std::clamp<int64_t>(n_blocks - pos - 4, 0, 4));
    if (n_next > 0) legacy_products<HardwareTiles>(pos + 4, n_next, a_of, b_of);
    for (int i = 0; i < n; ++i) {
      const int64_t q = pos + i;
      while (q == part_end) next_part();
      const uint8_t* b = b_of(q);
      const __m512 d_a = _mm512_load_ps(b + 512);
      __m512 s_a;
      if constexpr (Type::kMin) s_a = _mm512_load_ps(b + 576);
      const int32_t* sums = c[buffer][i];
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) {
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + kTokens * r)),
                                 _mm512_mul_ps(_mm512_set1_ps(scale[kRows * q + r]), d_a), acc[r]);
        if constexpr (Type::kMin)
          acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(min[kRows * q + r]), s_a, acc[r]);
      }
    }
    if (n_next > 0) store_products<HardwareTiles>(n_next, c[buffer ^ 1]);
    n = n_next;
  }
  while (part < 16) next_part();
  for (int width = 8; width > 0; width /= 2)
    for (int i = 0; i < width; ++i)
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r)
        partial[i][r] = _mm512_add_ps(partial[i][r], partial[i + width][r]);
  store_transposed(partial[0], y, y_stride, n_valid, store_mask);
}

// The int32 sums C_lo and C_hi of one super-block of 256 quants into c[0] and c[1], through
// tile slot kSlot (kKConfig): the weights' lo and hi bytes of the 16 rows at lo and hi (1 KiB per
// 64 quants) against the tokens' tiles of the same quants, the i-th at tokens + token_step i,
// rows token_stride apart. As A (kWeightsAsB false; the tokens' B tiles, C[row][token]: tdpbusd
// of the unsigned lo, tdpbssd of the signed hi) or as B (the tokens' quants as A, C[token][row]:
// tdpbsud, tdpbssd).
template <int kSlot, bool kWeightsAsB>
inline void k_products(const uint8_t* lo, const uint8_t* hi, const uint8_t* tokens,
                       size_t token_stride, size_t token_step, int32_t (*c)[kRows * kTokens]) {
  if constexpr (kSlot == 0) {
    _tile_zero(0);
    _tile_zero(1);
  } else {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int i = 0; i < kQK_K / 64; ++i) {
    _tile_loadd(4, tokens + token_step * i, token_stride);
    _tile_loadd(5, lo + 1024 * i, 64);
    _tile_loadd(6, hi + 1024 * i, 64);
    if constexpr (kWeightsAsB && kSlot == 0) {
      _tile_dpbsud(0, 4, 5);
      _tile_dpbssd(1, 4, 6);
    } else if constexpr (kWeightsAsB) {
      _tile_dpbsud(2, 4, 5);
      _tile_dpbssd(3, 4, 6);
    } else if constexpr (kSlot == 0) {
      _tile_dpbusd(0, 5, 4);
      _tile_dpbssd(1, 6, 4);
    } else {
      _tile_dpbusd(2, 5, 4);
      _tile_dpbssd(3, 6, 4);
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
void k_kernel(const uint8_t* pack, int64_t k, const uint8_t* tile, float* y, int64_t y_stride,
              int n_valid, __mmask16 store_mask) {
  memory_barrier();
  constexpr int kPairs = Type::G / Type::S / 2;
  const int64_t n_super = k / Type::G;
  const uint8_t* lo = pack;
  const uint8_t* hi = pack + kRows * k;
  const auto* d = reinterpret_cast<const float*>(pack + 2 * kRows * k);
  const float* dmin = d + kRows * n_super;
  const auto* min_pairs = reinterpret_cast<const int32_t*>(dmin + kRows * n_super);
  alignas(64) int32_t c[2][2][kRows * kTokens];
  __m512 acc[kRows];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* b = tile + sb * tile_block_bytes<Type>();
    int32_t(*sums)[kRows * kTokens] = c[sb % 2];
    static_assert(Type::G == kQK_K);
    if (sb % 2 == 0)
      k_products<0, false>(lo + kRows * Type::G * sb, hi + kRows * Type::G * sb, b, 64, 1024, sums);
    else
      k_products<1, false>(lo + kRows * Type::G * sb, hi + kRows * Type::G * sb, b, 64, 1024, sums);
    const __m512 d_a = _mm512_load_ps(b + kTokens * Type::G);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const __m512i total =
          _mm512_add_epi32(_mm512_load_si512(sums[0] + kTokens * r),
                           _mm512_slli_epi32(_mm512_load_si512(sums[1] + kTokens * r), 8));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total),
                               _mm512_mul_ps(_mm512_set1_ps(d[kRows * sb + r]), d_a), acc[r]);
    }
    if constexpr (Type::kMin) {
      const uint8_t* pairs = b + kTokens * Type::G + 64;
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) {
        __m512i mins = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < kPairs; ++i)
          mins = _mm512_dpwssd_epi32(mins, _mm512_load_si512(pairs + 64 * i),
                                     _mm512_set1_epi32(min_pairs[kRows * (kPairs * sb + i) + r]));
        acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins),
                                  _mm512_mul_ps(_mm512_set1_ps(dmin[kRows * sb + r]), d_a), acc[r]);
      }
    }
  }
  store_transposed(acc, y, y_stride, n_valid, store_mask);
}

// ---- rows in kBlockGroups16: the weights as the B operand ----------------------------------
// Q8_0, Q4_0 and Q5_0 rows in WeightLayout::kBlockGroups16 hold, per group of 16 blocks, word
// kw (4 quant bytes) of the 16 blocks side by side, so one 64-byte load gives a row's word kw
// of 16 blocks, and a 16 x 16 dword transpose of those loads from 16 rows gives, for each of
// the 16 blocks, word kw of the 16 rows side by side: a row of that block's B tile (the VNNI
// layout, 16 weight rows x 4 quants). So here the weights are B, the 16 tokens' 32 quants of a
// block are A (bytes of the GEMM activation rows as they are) and C[token][row] is each block's
// exact int32 I_j = sum q a (signed weights: tdpbssd); the epilogue takes C one token (its 16
// weight rows in lanes) at a time and stores each token's outputs as they are. No word
// transposes per row and no transposed store, as the A-operand pack of the same rows needs.
//  - Pack of a group of 16 rows (group_pack_bytes): per block, in block_position order, its B
//    tile (8 tile rows: quants 4 kk .. 4 kk + 3 of the 16 rows, signed: the quant less the
//    offset, IQ4_NL's level, 512 bytes) | the scales f32[n_blocks][16] | Q4_1, Q5_1: the mins
//    f32[n_blocks][16].
//  - Token tile of 16 tokens: per block, in block_position order, the tokens' 32 quants (token
//    t at 32 t, 512 bytes) | d_a f32[16] | Q4_1, Q5_1: s_a f32[16] (kTokenBlockBytes).
// The f32 steps per output are legacy_kernel's: p[j % 16] = fma(float(I_j), d_w * d_a, ...)
// (then fma(m_w, s_a, ...) with mins), then the pairwise sum of the 16 partial sums.

// The tile instructions of HardwareTiles computed in memory (tdpbssd's sums, exact), so that
// the kernels below run, slowly, on CPUs without AMX: the tests check their operands there
// (amx::emulated_gemm_kernels_groups16).
struct EmulatedTiles {
  static constexpr bool kHardware = false;
  static int32_t (&tiles())[4][kTokens * kRows] {
    thread_local int32_t c[4][kTokens * kRows];
    return c;
  }
  template <int kSlot>
  static void product(const uint8_t* a, const uint8_t* b) {
    int32_t* c = tiles()[kSlot];
    for (int m = 0; m < kTokens; ++m)
      for (int n = 0; n < kRows; ++n) {
        int32_t sum = 0;
        for (int i = 0; i < 32; ++i)
          sum += static_cast<int8_t>(a[32 * m + i]) *
                 static_cast<int8_t>(b[64 * (i / 4) + 4 * n + i % 4]);
        c[kRows * m + n] = sum;
      }
  }
  template <int kSlot>
  static void store(int32_t* c) {
    std::memcpy(c, tiles()[kSlot], sizeof(tiles()[kSlot]));
  }
};

// Lane l of v[r] to lane r of v[l] (a 16 x 16 dword transpose, 64 shuffles).
inline void transpose_16x16(__m512i (&v)[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  // v[4 i + j], 128-bit chunk c: lane 4 c + j of the inputs 4 i .. 4 i + 3.
  for (int i = 0; i < 4; ++i) {
    v[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    v[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    v[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    v[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // Output 4 c + j: chunk c of v[j], v[4 + j], v[8 + j], v[12 + j].
  for (int j = 0; j < 4; ++j) {
    const __m512i a = _mm512_shuffle_i32x4(v[j], v[4 + j], 0x44);
    const __m512i b = _mm512_shuffle_i32x4(v[j], v[4 + j], 0xEE);
    const __m512i c = _mm512_shuffle_i32x4(v[8 + j], v[12 + j], 0x44);
    const __m512i d = _mm512_shuffle_i32x4(v[8 + j], v[12 + j], 0xEE);
    t[j] = _mm512_shuffle_i32x4(a, c, 0x88);
    t[4 + j] = _mm512_shuffle_i32x4(a, c, 0xDD);
    t[8 + j] = _mm512_shuffle_i32x4(b, d, 0x88);
    t[12 + j] = _mm512_shuffle_i32x4(b, d, 0xDD);
  }
  for (int i = 0; i < 16; ++i) v[i] = t[i];
}

// Q5_0's fifth bits of elements 4 kk .. 4 kk + 3 (kk 0..7) as 0x10 in bytes 0..3 of each lane,
// from each lane's 32 fifth bits (bit i: element i).
inline __m512i fifth_bits(__m512i bits, int kk) {
  // Byte kk / 2 of its dword to each byte, then bit 4 (kk % 2) + j tested in byte j.
  const __m512i from = _mm512_add_epi8(_mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0),
                                       _mm512_set1_epi8(kk / 2));
  const __mmask64 set =
      _mm512_test_epi8_mask(_mm512_shuffle_epi8(bits, from),
                            _mm512_set1_epi32(kk % 2 ? static_cast<int>(0x80402010) : 0x08040201));
  return _mm512_maskz_set1_epi8(set, 0x10);
}

// Packs rows [row0, row0 + rows_in_group) of p (kBlockGroups16) to `out` as B tiles; the rest
// of the 16 rows as copies of the last row, their scales +0. The pack reads its 16 rows side by
// side, a pattern the hardware prefetchers follow poorly: it prefetches [prefetch_begin,
// prefetch_end) (the next group's rows) into L1 as it goes, a share per round of loads.
template <typename W>
void pack_group_b(const GemmProblem& p, int64_t row0, int rows_in_group, uint8_t* out,
                  const uint8_t* prefetch_begin, const uint8_t* prefetch_end) {
  using Block = typename W::Block;
  constexpr bool kQ8 = std::is_same_v<Block, BlockQ8_0>;
  constexpr bool kFifth = requires(const Block& b) { b.qh; };
  constexpr bool kMin = requires(const Block& b) { b.m; };
  constexpr bool kLevels = std::is_same_v<Block, BlockIQ4_NL>;
  constexpr int kWords = kQ8 ? 8 : 4;  // 4-byte words of quants per block
  // Bytes per block before the words: scale (, min) (, fifth bits).
  constexpr int kHeader = static_cast<int>(offsetof(Block, qs));
  const int64_t k = p.n_in, nb = k / 32;
  auto* scale = reinterpret_cast<float*>(out + kRows * k);
  float* min = scale + kRows * nb;
  const uint8_t* x[kRows];
  for (int r = 0; r < kRows; ++r)
    x[r] = p.w + static_cast<size_t>(row0 + std::min(r, rows_in_group - 1)) * p.w_row_bytes;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(kQ8 ? 0x80 : W::kOffset));
  const __m512i levels =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLLevels)));
  const int64_t rounds = (nb + 15) / 16 * (1 + kWords);
  const int64_t lines_per_round = ((prefetch_end - prefetch_begin) / 64 + rounds - 1) / rounds;
  const uint8_t* prefetch_next = prefetch_begin;
  const auto prefetch_round = [&] {
    for (int64_t i = 0; i < lines_per_round && prefetch_next < prefetch_end; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(prefetch_next), _MM_HINT_T0);
      prefetch_next += 64;
    }
  };
  for (int64_t g0 = 0; g0 < nb; g0 += 16) {
    const int m = static_cast<int>(std::min<int64_t>(16, nb - g0));
    const auto lanes = static_cast<__mmask16>((1u << m) - 1);
    const size_t at = static_cast<size_t>(g0) * sizeof(Block);
    uint8_t* b_tile[16];
    for (int l = 0; l < m; ++l) b_tile[l] = out + 512 * block_position(g0 + l, nb);
    __m512i v[16];
    // The f16 field at `field` bytes into the group (the m blocks' scales or mins) of the 16 rows,
    // as f32[16] per block to dst (+0 for rows past rows_in_group).
    const auto fields = [&](size_t field, float* dst) {
      for (int r = 0; r < kRows; ++r)
        v[r] = r < rows_in_group ? _mm512_castps_si512(_mm512_cvtph_ps(
                                       _mm256_maskz_loadu_epi16(lanes, x[r] + at + field)))
                                 : _mm512_setzero_si512();
      transpose_16x16(v);
      for (int l = 0; l < m; ++l)
        _mm512_store_si512(dst + kRows * block_position(g0 + l, nb), v[l]);
    };
    prefetch_round();
    fields(0, scale);
    if constexpr (kMin) fields(offsetof(Block, m) * static_cast<size_t>(m), min);
    __m512i fifth[16];  // lane r of fifth[l]: row r's fifth bits of block l
    if constexpr (kFifth) {
      for (int r = 0; r < kRows; ++r)
        fifth[r] = _mm512_maskz_loadu_epi32(lanes, x[r] + at + offsetof(Block, qh) * m);
      transpose_16x16(fifth);
    }
    for (int kw = 0; kw < kWords; ++kw) {
      prefetch_round();
      for (int r = 0; r < kRows; ++r)
        v[r] = _mm512_maskz_loadu_epi32(lanes, x[r] + at + kHeader * m + 4 * m * kw);
      transpose_16x16(v);
      for (int l = 0; l < m; ++l) {
        if constexpr (kQ8) {
          // Stored as q + 128.
          _mm512_store_si512(b_tile[l] + 64 * kw, _mm512_xor_si512(v[l], offset));
        } else {
          // Byte i of word kw: element 4 kw + i (low nibble), 16 + 4 kw + i (high nibble).
          __m512i lo = _mm512_and_si512(v[l], nibble);
          __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v[l], 4), nibble);
          if constexpr (kFifth) {
            lo = _mm512_or_si512(lo, fifth_bits(fifth[l], kw));
            hi = _mm512_or_si512(hi, fifth_bits(fifth[l], 4 + kw));
          }
          if constexpr (kLevels) {  // each nibble's signed level
            lo = _mm512_shuffle_epi8(levels, lo);
            hi = _mm512_shuffle_epi8(levels, hi);
          } else {  // the quant less the offset
            lo = _mm512_sub_epi8(lo, offset);
            hi = _mm512_sub_epi8(hi, offset);
          }
          _mm512_store_si512(b_tile[l] + 64 * kw, lo);
          _mm512_store_si512(b_tile[l] + 64 * (4 + kw), hi);
        }
      }
    }
  }
}

// A block of the token tile: the 16 tokens' 32 quants, their d_a f32[16] and, for the types
// with mins, their s_a f32[16].
template <bool kMin>
constexpr size_t kTokenBlockBytes = kTokens * 32 + (kMin ? 128 : 64);

// The token tile of the 16 GEMM activation rows at rows, row_bytes apart.
template <typename Type>
void build_token_tile(const uint8_t* rows, size_t row_bytes, int64_t k, uint8_t* out) {
  const RowLayout<Type> layout{k};
  for (int64_t pos = 0; pos < k / 32; ++pos) {
    uint8_t* block = out + kTokenBlockBytes<Type::kMin> * pos;
    for (int t = 0; t < kTokens; ++t)
      std::memcpy(block + 32 * t, rows + t * row_bytes + 32 * pos, 32);
    uint8_t* d_a = block + kTokens * 32;
    gather_token_fields(rows, row_bytes, layout.d_at(), pos, d_a);
    if constexpr (Type::kMin)  // s_a after d_a's f32[16]
      gather_token_fields(rows, row_bytes, layout.minsum_at(), pos, d_a + 4 * kTokens);
  }
}

// Where the weights-as-B kernel finds a block's B tile (8 x 64 bytes), its 16 rows' scales and
// (kMin) mins: the pack of pack_group_b (scales f32 after the tiles, then mins f32) ...
template <bool kMinFields>
struct PackedB {
  static constexpr bool kMin = kMinFields;
  const uint8_t* pack;
  int64_t n_blocks;
  const uint8_t* b(int64_t pos) const { return pack + 512 * pos; }
  const float* scales() const { return reinterpret_cast<const float*>(pack + 512 * n_blocks); }
  __m512 d_w(int64_t pos) const { return _mm512_load_ps(scales() + kRows * pos); }
  // The mins after the scales' f32[n_blocks][16], as pack_group_b stores them.
  __m512 m_w(int64_t pos) const { return _mm512_load_ps(scales() + kRows * (n_blocks + pos)); }
};
// How far ahead of the B tile it loads the weights-as-B kernel asks for a Q8_0 kRowGroups16
// group's quants: 2 KiB. kernels_bench StreamedBatch16/ (Q8_0 rows in kRowGroups16, 16 tokens,
// weights from DRAM, 2 threads), three alternating rounds in us, 4864x896 / 896x4864: none
// 352-371 / 359-384, 1 KiB 312-321 / 319-325, 2 KiB 292-324 / 307-337, 3 KiB 296-307 / 306-322,
// 4 KiB 293-323 / 315-332, 8 and 16 KiB no better. (unpack_row_group reads a group straight
// through: the same prefetch there gained nothing for Q4_0 / Q5_0.)
constexpr int64_t kRowGroupPrefetchAheadBytes = 2048;

// ... or a group of rows in WeightLayout::kRowGroups16 as it is (scales f16 before the tiles).
struct RowGroupB {
  static constexpr bool kMin = false;
  const uint8_t* group;
  int64_t n_blocks;
  bool prefetch;  // the group's first pass (from DRAM; later chunks of tokens find it in L2)
  const uint8_t* b(int64_t pos) const {
    const uint8_t* tile = group + 32 * n_blocks + 512 * pos;
    if (prefetch) prefetch_ahead<kRowGroupPrefetchAheadBytes>(tile, 512);
    return tile;
  }
  __m512 d_w(int64_t pos) const {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * pos)));
  }
};

// 16 weight rows as B (a PackedB or RowGroupB: blocks in block_position order) against one token
// tile: legacy_kernel with A and B swapped (with mins: per block acc = fma(m_w, s_a, acc) after
// the scale's fma, as there).
template <typename Tiles, typename Weights>
void groups16_kernel(const Weights& w, const uint8_t* tile, float* y, int64_t y_stride, int n_valid,
                     __mmask16 store_mask) {
  memory_barrier();
  const int64_t n_blocks = w.n_blocks;
  auto a_of = [&](int64_t pos) { return tile + kTokenBlockBytes<Weights::kMin> * pos; };
  auto b_of = [&](int64_t pos) { return w.b(pos); };
  alignas(64) int32_t c[2][4][kTokens * kRows];
  __m512 partial[16][kTokens];
  __m512 acc[kTokens];
#pragma GCC unroll 16
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
  int part = 0;  // the partial sum of acc, whose blocks end at position part_end
  int64_t part_end = partial_blocks(0, n_blocks);
  const auto next_part = [&] {
#pragma GCC unroll 16
    for (int t = 0; t < kTokens; ++t) {
      partial[part][t] = acc[t];
      acc[t] = _mm512_setzero_ps();
    }
    ++part;
    if (part < 16) part_end += partial_blocks(part, n_blocks);
  };
  int n = static_cast<int>(std::min<int64_t>(4, n_blocks));
  legacy_products<Tiles>(0, n, a_of, b_of);
  store_products<Tiles>(n, c[0]);
  for (int64_t pos = 0, buffer = 0; pos < n_blocks; pos += 4, buffer ^= 1) {
    const int n_next = static_cast<int>(std::clamp<int64_t>(n_blocks - pos - 4, 0, 4));
    if (n_next > 0) legacy_products<Tiles>(pos + 4, n_next, a_of, b_of);
    for (int i = 0; i < n; ++i) {
      const int64_t q = pos + i;
      while (q == part_end) next_part();
      const auto* d_a = reinterpret_cast<const float*>(a_of(q) + kTokens * 32);
      const __m512 d_w = w.d_w(q);
      const int32_t* sums = c[buffer][i];
#pragma GCC unroll 16
      for (int t = 0; t < kTokens; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + kRows * t)),
                                 _mm512_mul_ps(d_w, _mm512_set1_ps(d_a[t])), acc[t]);
      if constexpr (Weights::kMin) {
        const float* s_a = d_a + kTokens;
        const __m512 m_w = w.m_w(q);
#pragma GCC unroll 16
        for (int t = 0; t < kTokens; ++t)
          acc[t] = _mm512_fmadd_ps(m_w, _mm512_set1_ps(s_a[t]), acc[t]);
      }
    }
    if (n_next > 0) store_products<Tiles>(n_next, c[buffer ^ 1]);
    n = n_next;
  }
  while (part < 16) next_part();
  for (int width = 8; width > 0; width /= 2)
    for (int i = 0; i < width; ++i)
#pragma GCC unroll 16
      for (int t = 0; t < kTokens; ++t)
        partial[i][t] = _mm512_add_ps(partial[i][t], partial[i + width][t]);
  for (int t = 0; t < n_valid; ++t)
    _mm512_mask_storeu_ps(y + t * y_stride, store_mask, partial[0][t]);
}

template <typename Type>
void block_kernel(const uint8_t* pack, int64_t k, const uint8_t* tile, float* y, int64_t y_stride,
                  int n_valid, __mmask16 store_mask) {
  if constexpr (kIsK<Type>)
    k_kernel<Type>(pack, k, tile, y, y_stride, n_valid, store_mask);
  else
    legacy_kernel<Type>(pack, k, tile, y, y_stride, n_valid, store_mask);
}

// Bytes of packed weights decoded before the tokens are run over them (in L2), and of activation
// tiles run over them at a time: one or two, so that they stay in L1 while every group of the
// run meets them. Measured on the AMX machine (bench/RESULTS.md, "The token tiles' budget"):
// 32 KiB against 256 KiB, 512-token prefill of Qwen2.5-0.5B +16-23% for Q8_0, Q4_0, Q4_K_M and
// Q6_K; 16 and 64 KiB slower than 32.
constexpr size_t kPackBudget = 512 * 1024;
constexpr size_t kTokenBudget = 32 * 1024;

// Below this many tokens a call runs the VNNI kernels (same rows, same bits): a tile of 16
// tokens costs about as much as 16 whatever it holds, and the weights are decoded for it all
// the same. Measured on the 4864 x 896 products of kernels_bench (Intel Xeon, AMX): at 8
// tokens the tiles are at best even with VNNI (K-quants 0.84..0.95x), at 16 they are ahead or
// even (Q8_0 1.4..1.6x, K-quants 1.0..1.06x), at 32 ahead for every type (1.1..1.7x).
constexpr int64_t kMinTileTokens = 16;

// The K-quants that pack_k_direct packs take the tiles from matmul's 4 tokens on
// (GemmKernels::min_tokens): their packs cost little enough that one padded tile beats VNNI
// at 4-15 tokens. Through the batching engine, Qwen2.5-1.5B Q4_K_M at 4, 6, 8 and 12 streams
// +23%, +31%, +40%, +40% (bench/RESULTS.md, "Session of 2026-12-04, fifth"); the A path of
// the other types (Q4_1 at 8 streams: -20%) keeps kMinTileTokens.
template <typename Type>
constexpr int64_t kMinTileTokensOf = kPackDirectK<Type> ? 4 : kMinTileTokens;

// Rows in kBlockGroups16 of a 32-element type go to the tiles as B (pack_group_b) in calls of
// at most kMaxTokensWeightsAsB tokens, as A (pack_group) in longer ones. Measured through the
// model on Qwen2.5-0.5B Q8_0 and Q4_0 (Intel Xeon, AMX, 2 threads): as B 1.1-1.3x faster at 32
// and 64 tokens, even at 128, 1.2x slower at 256 and 512 (bench/RESULTS.md).
template <typename Type>
constexpr bool kWeightsAsB = !kIsK<Type> && kLayoutOf<Type> == WeightLayout::kBlockGroups16;

// The 16 GEMM activation rows (p.row_bytes apart) of tile i of p's tokens: in place, or, for a
// last tile of fewer tokens, copied to the thread's scratch and padded with zero rows.
inline const uint8_t* tile_rows(const GemmProblem& p, int64_t i, AmxScratch& scratch) {
  const uint8_t* rows = p.rows + static_cast<size_t>(kTokens * i) * p.row_bytes;
  const int64_t n = std::min<int64_t>(kTokens, p.n_tokens - kTokens * i);
  if (n == kTokens) return rows;
  uint8_t* padded = AmxScratch::aligned(scratch.tail_storage, p.row_bytes * kTokens);
  const size_t used = p.row_bytes * static_cast<size_t>(n);
  std::memcpy(padded, rows, used);
  std::memset(padded + used, 0, p.row_bytes * kTokens - used);
  return padded;
}

// Every token's tile of tile_bytes (build(rows, tile) from the 16 GEMM activation rows at rows,
// p.row_bytes apart), the last n_tokens % 16 rows padded with zero rows, one after another in
// the thread's scratch.
template <typename BuildFn>
const uint8_t* build_tiles(const GemmProblem& p, size_t tile_bytes, AmxScratch& scratch,
                           BuildFn build) {
  const int64_t n_tiles = (p.n_tokens + kTokens - 1) / kTokens;
  uint8_t* tiles =
      AmxScratch::aligned(scratch.tile_storage, tile_bytes * static_cast<size_t>(n_tiles));
  for (int64_t i = 0; i < n_tiles; ++i)
    build(tile_rows(p, i, scratch), tiles + tile_bytes * static_cast<size_t>(i));
  return tiles;
}

template <typename Type, gguf::GgmlType kType, typename Tiles = HardwareTiles>
void multiply(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  if (p.n_tokens < kMinTileTokensOf<Type>) {
    static const GemmKernels* const vnni =
        kLayoutOf<Type> == WeightLayout::kGgml
            ? avx512::gemm_kernels(static_cast<uint32_t>(kType))
            : avx512::gemm_kernels_groups16(static_cast<uint32_t>(kType));
    return vnni->multiply(p, row_begin, row_end);
  }
  thread_local AmxScratch scratch;
  // (The emulated tiles serve the B path only: the A path's kernel runs hardware tiles.)
  const bool as_b = kWeightsAsB<Type> && (!Tiles::kHardware || p.n_tokens <= kMaxTokensWeightsAsB);
  const int64_t k = p.n_in;
  // Every token's activation tile (token tile when as_b).
  const int64_t n_tiles = (p.n_tokens + kTokens - 1) / kTokens;
  const size_t tile_bytes = as_b ? kTokenBlockBytes<Type::kMin> * static_cast<size_t>(k / 32)
                                 : activation_tile_bytes<Type>(k);
  const uint8_t* tiles =
      build_tiles(p, tile_bytes, scratch, [&](const uint8_t* rows, uint8_t* tile) {
        if (as_b)
          build_token_tile<Type>(rows, p.row_bytes, k, tile);
        else
          build_activation_tile<Type>(rows, p.row_bytes, k, tile);
      });
  const size_t group_bytes = group_pack_bytes<Type>(k);
  const int64_t groups_per_run =
      std::max<int64_t>(1, static_cast<int64_t>(kPackBudget / group_bytes));
  const int64_t tiles_per_chunk =
      std::max<int64_t>(1, static_cast<int64_t>(kTokenBudget / tile_bytes));
  const int64_t run_rows = groups_per_run * kRows;
  if constexpr (Tiles::kHardware) _tile_loadconfig(kIsK<Type> ? &kKConfig : &kLegacyConfig);
  for (int64_t run0 = row_begin; run0 < row_end; run0 += run_rows) {
    const int64_t run1 = std::min(row_end, run0 + run_rows);
    const int64_t n_groups = (run1 - run0 + kRows - 1) / kRows;
    uint8_t* packs = scratch.decoded.pack(group_bytes * static_cast<size_t>(n_groups));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t row0 = run0 + g * kRows;
      const int rows_in_group = static_cast<int>(std::min<int64_t>(kRows, run1 - row0));
      if constexpr (kWeightsAsB<Type>) {
        if (as_b) {
          // The rows of the next group of this call, so that they come from cache (at 16 tokens
          // 1.45-1.6x on Qwen2.5-0.5B's ffn_gate / ffn_up shape, weights from DRAM).
          const auto row_at = [&](int64_t row) {
            return p.w + static_cast<size_t>(row) * p.w_row_bytes;
          };
          pack_group_b<typename Type::Weights>(p, row0, rows_in_group, packs + g * group_bytes,
                                               row_at(std::min(row_end, row0 + kRows)),
                                               row_at(std::min(row_end, row0 + 2 * kRows)));
          continue;
        }
      }
      pack_group<Type>(p, row0, rows_in_group, scratch, packs + g * group_bytes);
    }
    for (int64_t c0 = 0; c0 < n_tiles; c0 += tiles_per_chunk) {
      const int64_t c1 = std::min(n_tiles, c0 + tiles_per_chunk);
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t row0 = run0 + g * kRows;
        const int rows_in_group = static_cast<int>(std::min<int64_t>(kRows, run1 - row0));
        const auto mask = static_cast<__mmask16>((1u << rows_in_group) - 1);
        for (int64_t i = c0; i < c1; ++i) {
          const int n = static_cast<int>(std::min<int64_t>(kTokens, p.n_tokens - kTokens * i));
          const uint8_t* pack = packs + g * group_bytes;
          const uint8_t* tile = tiles + tile_bytes * static_cast<size_t>(i);
          float* y = p.y + kTokens * i * p.y_stride + row0;
          if (as_b)
            groups16_kernel<Tiles>(PackedB<Type::kMin>{pack, k / 32}, tile, y, p.y_stride, n, mask);
          else
            block_kernel<Type>(pack, k, tile, y, p.y_stride, n, mask);
        }
      }
    }
  }
  if constexpr (Tiles::kHardware) _tile_release();
}

template <typename Type, gguf::GgmlType kType, typename Tiles = HardwareTiles>
constexpr GemmKernels kernels_of{row_bytes<Type>, prepare<Type>, multiply<Type, kType, Tiles>};

// A group of 16 Q4_0 or Q5_0 rows (Block) of nb blocks in WeightLayout::kRowGroups16 unpacked to
// pack_group_b's pack (the B tiles in the layout's block order, then the f32 scales): the
// nibbles of each word split to tile rows k and 4 + k, Q5_0's fifth bits added, less the offset;
// no transposes.
template <typename Block>
void unpack_row_group(const uint8_t* group, int64_t nb, uint8_t* out) {
  constexpr bool kQ5 = std::is_same_v<Block, BlockQ5_0>;
  constexpr int64_t kFields = offsetof(Block, qs);  // d (and qh) bytes of a block
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i offset = _mm512_set1_epi8(kQ5 ? 16 : 8);
  auto* scale = reinterpret_cast<float*>(out + 512 * nb);
  for (int64_t pos = 0; pos < nb; ++pos) {
    const uint8_t* quants = group + 16 * kFields * nb + 256 * pos;
    uint8_t* b_tile = out + 512 * pos;
    __m512i fifth = _mm512_setzero_si512();
    if constexpr (kQ5) fifth = _mm512_loadu_si512(group + 32 * nb + 64 * pos);
    for (int kw = 0; kw < 4; ++kw) {
      const __m512i v = _mm512_loadu_si512(quants + 64 * kw);
      __m512i lo = _mm512_and_si512(v, nibble);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
      if constexpr (kQ5) {
        lo = _mm512_or_si512(lo, fifth_bits(fifth, kw));
        hi = _mm512_or_si512(hi, fifth_bits(fifth, 4 + kw));
      }
      _mm512_store_si512(b_tile + 64 * kw, _mm512_sub_epi8(lo, offset));
      _mm512_store_si512(b_tile + 64 * (4 + kw), _mm512_sub_epi8(hi, offset));
    }
    _mm512_store_ps(
        scale + kRows * pos,
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * pos))));
  }
}

// Rows in WeightLayout::kRowGroups16: Q8_0's blocks are B tiles as they lie, so the tiles load
// the weights straight from the matrix (groups16_kernel on RowGroupB): no pack; Q4_0's and
// Q5_0's groups are unpacked (unpack_row_group) once per run of groups into packs that every
// chunk of tokens then meets. Any number of tokens (a last tile padded with zero rows). Runs of
// groups of up to kPackBudget bytes meet the token tiles a chunk of kTokenBudget at a time, as
// multiply does.
template <typename W, typename Tiles>
void multiply_row_groups16(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  using Type = LegacyType<W>;
  using Block = typename W::Block;
  constexpr bool kAsTheyLie = std::is_same_v<Block, BlockQ8_0>;
  thread_local AmxScratch scratch;
  const int64_t k = p.n_in, nb = k / 32;
  const int64_t n_tiles = (p.n_tokens + kTokens - 1) / kTokens;
  const size_t tile_bytes = kTokenBlockBytes<false> * static_cast<size_t>(nb);
  const uint8_t* tiles =
      build_tiles(p, tile_bytes, scratch, [&](const uint8_t* rows, uint8_t* tile) {
        build_token_tile<Type>(rows, p.row_bytes, k, tile);
      });
  const size_t pack_bytes = group_pack_bytes<Type>(k);  // unpack_row_group's
  const size_t group_bytes = kAsTheyLie ? kRows * p.w_row_bytes : pack_bytes;
  const int64_t groups_per_run =
      std::max<int64_t>(1, static_cast<int64_t>(kPackBudget / group_bytes));
  const int64_t tiles_per_chunk =
      std::max<int64_t>(1, static_cast<int64_t>(kTokenBudget / tile_bytes));
  if constexpr (Tiles::kHardware) _tile_loadconfig(&kLegacyConfig);
  for (int64_t run0 = row_begin; run0 < row_end; run0 += kRows * groups_per_run) {
    const int64_t run1 = std::min(row_end, run0 + kRows * groups_per_run);
    uint8_t* packs = nullptr;
    if constexpr (!kAsTheyLie) {
      packs = scratch.decoded.pack(pack_bytes * static_cast<size_t>((run1 - run0) / kRows));
      for (int64_t row0 = run0; row0 < run1; row0 += kRows)
        unpack_row_group<Block>(p.w + static_cast<size_t>(row0) * p.w_row_bytes, nb,
                                packs + pack_bytes * static_cast<size_t>((row0 - run0) / kRows));
    }
    for (int64_t c0 = 0; c0 < n_tiles; c0 += tiles_per_chunk) {
      const int64_t c1 = std::min(n_tiles, c0 + tiles_per_chunk);
      for (int64_t row0 = run0; row0 < run1; row0 += kRows) {
        for (int64_t i = c0; i < c1; ++i) {
          const int n = static_cast<int>(std::min<int64_t>(kTokens, p.n_tokens - kTokens * i));
          const uint8_t* tile = tiles + tile_bytes * static_cast<size_t>(i);
          float* y = p.y + kTokens * i * p.y_stride + row0;
          if constexpr (kAsTheyLie)
            groups16_kernel<Tiles>(
                RowGroupB{p.w + static_cast<size_t>(row0) * p.w_row_bytes, nb, i == 0}, tile, y,
                p.y_stride, n, 0xFFFF);
          else
            groups16_kernel<Tiles>(
                PackedB<false>{packs + pack_bytes * static_cast<size_t>((row0 - run0) / kRows), nb},
                tile, y, p.y_stride, n, 0xFFFF);
        }
      }
    }
  }
  if constexpr (Tiles::kHardware) _tile_release();
}

// ---- K-quant rows in kRowGroups16: weights as B, the GEMM rows as A -------------------------
// A group of 16 Q4_K, Q5_K or Q6_K rows in WeightLayout::kRowGroups16 holds, per super-block, each
// word of the 16 rows side by side (weight_layout.h): Q4_K's quant words give, nibble by nibble, B
// tile rows of 4 elements of 16 rows as they lie (Q5_K's with their fifth bits added), Q6_K's ql /
// qh words the same after row_groups16::q6_K_quants. The unpack writes them once per run of groups
// as k_planes' int16 w = scale * (q - offset) split into lo = w & 0xFF (unsigned) and hi = w >> 8,
// each row's scale in its dword lanes, so that per 64 quants tdpbsud of the tokens' quants (A: the
// GEMM rows as they are, 16 tokens x 64 signed bytes, a strided tile load) with lo and tdpbssd with
// hi give S = C_lo + 256 C_hi for the super-block, C[token][row]: k_kernel's integers with the
// operands swapped. The epilogue takes one token (its 16 rows in lanes) at a time: acc =
// fma(float(S), d_w * d_a, acc), and for Q4_K M by vpdpwssd of the rows' min pairs with the token's
// sub-block sum pairs and acc = fnmadd(float(M), dmin_w * d_a, acc): add_blocks' steps, and each
// token's outputs stored as they are.
//  - Unpacked super-block of a group (kUnpackedSuperBytes): lo B tiles of its 4 runs of 64
//    quants (1 KiB each, tile row kk: elements 64 c + 4 kk .. + 3) | the hi tiles | d f32[16] |
//    Q4_K: dmin f32[16] | min pairs int32[4][16] (pair i: mins of sub-blocks 2 i and 2 i + 1
//    as low and high int16, the GEMM rows' minsum order).
template <typename Type>
constexpr size_t kUnpackedSuperBytes = 8192 + 64 + (Type::kMin ? 64 + 256 : 0);

using Q4KRowType = Q45KType<false, BlockQ4_K>;

// k_planes' s_even for byte x (0..3) of each dword lane of the scales: (x, 0, x, 0).
inline __m512i scale_pair_of(int x) {
  return row_groups16::dword_bytes(0x80008000u | static_cast<uint32_t>(x) << 16 |
                                   static_cast<uint32_t>(x));
}

// Q4_K or Q5_K (Block): the quant words' nibbles (Q5_K: with the fifth bits of qh word k, bits
// 2 c and 2 c + 1 of its bytes, at bit 4) as tile rows k and 8 + k of run c.
template <typename Block>
void unpack_q45_K_row_group(const uint8_t* group, int64_t nb, uint8_t* out) {
  constexpr bool kFifth = std::is_same_v<Block, BlockQ5_K>;
  constexpr size_t kOut = kUnpackedSuperBytes<Q4KRowType>;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i scale_pair[4] = {scale_pair_of(0), scale_pair_of(1), scale_pair_of(2),
                                 scale_pair_of(3)};
  const __m512i min_pair[2] = {row_groups16::dword_byte_pair(0), row_groups16::dword_byte_pair(1)};
  for (int64_t sb = 0; sb < nb; ++sb) {
    const uint8_t* in = group + 16 * sizeof(Block) * static_cast<size_t>(sb);
    uint8_t* o = out + kOut * static_cast<size_t>(sb);
    const row_groups16::Q4KScalesMins f = row_groups16::q4_K_scales_mins(in);
    for (int c = 0; c < 4; ++c) {
      // Sub-blocks 2 c (low nibbles) and 2 c + 1 (high).
      const __m512i s_lo = _mm512_shuffle_epi8(f.scales[c / 2], scale_pair[2 * c % 4]);
      const __m512i s_hi = _mm512_shuffle_epi8(f.scales[c / 2], scale_pair[(2 * c + 1) % 4]);
      const __m512i s_lo_odd = _mm512_slli_epi16(s_lo, 8), s_hi_odd = _mm512_slli_epi16(s_hi, 8);
      for (int k = 0; k < 8; ++k) {
        __m512i q_lo, q_hi;
        if constexpr (kFifth) {
          row_groups16::q5_K_quants(in, c, k, q_lo, q_hi);
        } else {  // Q4_K's quant word 8 c + k after d, dmin and the scales
          const __m512i v = _mm512_loadu_si512(in + 256 + 512 * c + 64 * k);
          q_lo = _mm512_and_si512(v, low4);
          q_hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        }
        uint8_t* lo = o + 1024 * c + 64 * k;
        k_planes(q_lo, s_lo, s_lo_odd, _mm512_setzero_si512(), lo, lo + 4096);
        k_planes(q_hi, s_hi, s_hi_odd, _mm512_setzero_si512(), lo + 512, lo + 512 + 4096);
      }
    }
    _mm512_store_ps(o + 8192,
                    _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))));
    _mm512_store_ps(o + 8256,
                    _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 32))));
    for (int i = 0; i < 4; ++i)
      _mm512_store_si512(o + 8320 + 64 * i, _mm512_shuffle_epi8(f.mins[i / 2], min_pair[i % 2]));
  }
}

// How far ahead of a Q6_K super-block unpack_q6_K_row_group asks for its 52 lines, at its top:
// 256 bytes. kernels_bench StreamedBatch16/(4864x896|8960x1536|1536x8960)/q6_K_row_groups16/amx
// (2 threads, weights from DRAM), us, two alternating rounds: none 319 / 913 / -, the lines it is
// about to read 267-293 / 839-918 / 824-838, 256 bytes 277 / 844-855 / 811-833, 512 277-280 /
// 886-909 / 811-976, 1 KiB 277 / 866, 3-6.5 KiB 293 / 917-929. (The same for Q4_K's unpack,
// which reads its words one after another: no gain.)
constexpr int64_t kQ6KUnpackPrefetchAheadBytes = 256;

void unpack_q6_K_row_group(const uint8_t* group, int64_t nb, uint8_t* out) {
  constexpr size_t kOut = kUnpackedSuperBytes<Q6KType>;
  constexpr size_t kSuperBytes = 16 * offsetof(BlockQ6_K, d);
  const __m512i offset = _mm512_set1_epi16(Q6KType::kOffset);
  const __m512i scale_pair[4] = {scale_pair_of(0), scale_pair_of(1), scale_pair_of(2),
                                 scale_pair_of(3)};
  for (int64_t sb = 0; sb < nb; ++sb) {
    const uint8_t* in = group + kSuperBytes * static_cast<size_t>(sb);
    uint8_t* o = out + kOut * static_cast<size_t>(sb);
    prefetch_ahead<kQ6KUnpackPrefetchAheadBytes>(in, static_cast<int>(kSuperBytes));
    // Per sub-block s: s_even (the rows' int8 scales) and scale * offset.
    __m512i s_even[16], scaled_offset[16];
    for (int s = 0; s < 16; ++s) {
      s_even[s] =
          _mm512_shuffle_epi8(_mm512_loadu_si512(in + 64 * (48 + s / 4)), scale_pair[s % 4]);
      scaled_offset[s] = _mm512_maddubs_epi16(offset, s_even[s]);
    }
    // Unrolled: the run's index arithmetic cost a third of the unpack.
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        __m512i u[4];
        row_groups16::q6_K_quants(in, h, j, u);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
          // Elements 128 h + 32 q + 4 j .. + 3: run c = 2 h + q / 2, tile row 8 (q % 2) + j.
          const int s = 8 * h + 2 * q + j / 4;
          uint8_t* lo = o + 1024 * (2 * h + q / 2) + 64 * (8 * (q % 2) + j);
          k_planes(u[q], s_even[s], _mm512_slli_epi16(s_even[s], 8), scaled_offset[s], lo,
                   lo + 4096);
        }
      }
    _mm512_store_ps(o + 8192, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                  group + kSuperBytes * static_cast<size_t>(nb) + 32 * sb))));
  }
}

// One unpacked group against 16 tokens' GEMM rows (rows, row_bytes apart): y[t * y_stride + r]
// for the 16 rows r and the first n_valid tokens t.
template <typename Type>
void row_group_k_kernel(const uint8_t* pack, int64_t k, const uint8_t* rows, size_t row_bytes,
                        float* y, int64_t y_stride, int n_valid) {
  memory_barrier();
  const RowLayout<Type> layout{k};
  alignas(64) int32_t c[2][2][kRows * kTokens];
  __m512 acc[kTokens];
#pragma GCC unroll 16
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < k / kQK_K; ++sb) {
    const uint8_t* b = pack + kUnpackedSuperBytes<Type> * static_cast<size_t>(sb);
    int32_t(*sums)[kRows * kTokens] = c[sb % 2];
    if (sb % 2 == 0)
      k_products<0, true>(b, b + 4096, rows + kQK_K * sb, row_bytes, 64, sums);
    else
      k_products<1, true>(b, b + 4096, rows + kQK_K * sb, row_bytes, 64, sums);
    const __m512 d_w = _mm512_load_ps(b + 8192);
    const size_t d_at = layout.d_at() + 4 * static_cast<size_t>(sb);
#pragma GCC unroll 16
    for (int t = 0; t < kTokens; ++t) {
      const uint8_t* row = rows + t * row_bytes;
      float d_token;
      std::memcpy(&d_token, row + d_at, 4);
      const __m512 d_a = _mm512_set1_ps(d_token);
      const __m512i total =
          _mm512_add_epi32(_mm512_load_si512(sums[0] + kRows * t),
                           _mm512_slli_epi32(_mm512_load_si512(sums[1] + kRows * t), 8));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d_w, d_a), acc[t]);
      if constexpr (Type::kMin) {
        const __m512 dmin_w = _mm512_load_ps(b + 8256);
        const size_t minsum_at = layout.minsum_at() + 16 * static_cast<size_t>(sb);
        __m512i m = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
          int32_t pair;
          std::memcpy(&pair, row + minsum_at + 4 * i, 4);
          m = _mm512_dpwssd_epi32(m, _mm512_load_si512(b + 8320 + 64 * i), _mm512_set1_epi32(pair));
        }
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(dmin_w, d_a), acc[t]);
      }
    }
  }
  for (int t = 0; t < n_valid; ++t) _mm512_storeu_ps(y + t * y_stride, acc[t]);
}

// Q4_K, Q5_K (Type Q45KType) or Q6_K (Q6KType) rows in WeightLayout::kRowGroups16: runs of groups
// of up to kPackBudget unpacked bytes, then every tile of 16 tokens against each group of the
// run (a last tile of fewer tokens padded with zero rows). Any number of tokens.
template <typename Type>
void multiply_k_row_groups16(const GemmProblem& p, int64_t row_begin, int64_t row_end) {
  thread_local AmxScratch scratch;
  const int64_t k = p.n_in, nb = k / kQK_K;
  const int64_t n_tiles = (p.n_tokens + kTokens - 1) / kTokens;
  // (Padded once, not once per run of groups.)
  const uint8_t* last_rows = tile_rows(p, n_tiles - 1, scratch);
  const size_t pack_bytes = kUnpackedSuperBytes<Type> * static_cast<size_t>(nb);
  const int64_t groups_per_run =
      std::max<int64_t>(1, static_cast<int64_t>(kPackBudget / pack_bytes));
  _tile_loadconfig(&kKConfig);
  for (int64_t run0 = row_begin; run0 < row_end; run0 += kRows * groups_per_run) {
    const int64_t run1 = std::min(row_end, run0 + kRows * groups_per_run);
    uint8_t* packs = scratch.decoded.pack(pack_bytes * static_cast<size_t>((run1 - run0) / kRows));
    for (int64_t row0 = run0; row0 < run1; row0 += kRows) {
      const uint8_t* group = p.w + static_cast<size_t>(row0) * p.w_row_bytes;
      uint8_t* pack = packs + pack_bytes * static_cast<size_t>((row0 - run0) / kRows);
      if constexpr (Type::kMin)
        unpack_q45_K_row_group<typename Type::KBlock>(group, nb, pack);
      else
        unpack_q6_K_row_group(group, nb, pack);
    }
    for (int64_t i = 0; i < n_tiles; ++i) {
      const uint8_t* rows = i + 1 < n_tiles ? tile_rows(p, i, scratch) : last_rows;
      const int n = static_cast<int>(std::min<int64_t>(kTokens, p.n_tokens - kTokens * i));
      for (int64_t row0 = run0; row0 < run1; row0 += kRows)
        row_group_k_kernel<Type>(packs + pack_bytes * static_cast<size_t>((row0 - run0) / kRows), k,
                                 rows, p.row_bytes, p.y + kTokens * i * p.y_stride + row0,
                                 p.y_stride, n);
    }
  }
  _tile_release();
}

template <typename Type>
constexpr GemmKernels k_row_groups16_kernels_of{row_bytes<Type>, prepare<Type>,
                                                multiply_k_row_groups16<Type>};

template <typename W, typename Tiles>
constexpr GemmKernels row_groups16_kernels_of{row_bytes<LegacyType<W>>, prepare<LegacyType<W>>,
                                              multiply_row_groups16<W, Tiles>};

template <typename Tiles>
const GemmKernels* row_groups16_kernels(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &row_groups16_kernels_of<Q8_0Weights, Tiles>;
    case GgmlType::Q4_0:
      return &row_groups16_kernels_of<Q4_0Weights, Tiles>;
    case GgmlType::Q5_0:
      return &row_groups16_kernels_of<Q5_0Weights, Tiles>;
    case GgmlType::Q4_K:
      // (Hardware tiles only: no emulated products of this shape.)
      return Tiles::kHardware ? &k_row_groups16_kernels_of<Q4KRowType> : nullptr;
    case GgmlType::Q5_K:
      return Tiles::kHardware ? &k_row_groups16_kernels_of<Q45KType<true, BlockQ5_K>> : nullptr;
    case GgmlType::Q6_K:
      return Tiles::kHardware ? &k_row_groups16_kernels_of<Q6KType> : nullptr;
    default:
      return nullptr;
  }
}

}  // namespace

const GemmKernels* gemm_kernels(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &kernels_of<LegacyType<Q8_0Weights>, GgmlType::Q8_0>;
    case GgmlType::Q4_0:
      return &kernels_of<LegacyType<Q4_0Weights>, GgmlType::Q4_0>;
    case GgmlType::Q5_0:
      return &kernels_of<LegacyType<Q5_0Weights>, GgmlType::Q5_0>;
    case GgmlType::Q4_1:
      return &kernels_of<LegacyType<Q4_1Weights>, GgmlType::Q4_1>;
    case GgmlType::Q5_1:
      return &kernels_of<LegacyType<Q5_1Weights>, GgmlType::Q5_1>;
    case GgmlType::IQ4_NL:
      return &kernels_of<LegacyType<IQ4_NLWeights>, GgmlType::IQ4_NL>;
    case GgmlType::Q2_K:
      return &kernels_of<Q2KType, GgmlType::Q2_K>;
    case GgmlType::Q3_K:
      return &kernels_of<Q3KType, GgmlType::Q3_K>;
    case GgmlType::Q4_K:
      return &kernels_of<Q45KType<false, BlockQ4_K>, GgmlType::Q4_K>;
    case GgmlType::Q5_K:
      return &kernels_of<Q45KType<true, BlockQ5_K>, GgmlType::Q5_K>;
    case GgmlType::Q6_K:
      return &kernels_of<Q6KType, GgmlType::Q6_K>;
    default:
      return nullptr;
  }
}

const GemmKernels* gemm_kernels_groups16(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &kernels_of<LegacyGroups16Type<Q8_0Weights>, GgmlType::Q8_0>;
    case GgmlType::Q4_0:
      return &kernels_of<LegacyGroups16Type<Q4_0Weights>, GgmlType::Q4_0>;
    case GgmlType::Q5_0:
      return &kernels_of<LegacyGroups16Type<Q5_0Weights>, GgmlType::Q5_0>;
    case GgmlType::Q4_1:
      return &kernels_of<LegacyGroups16Type<Q4_1Weights>, GgmlType::Q4_1>;
    case GgmlType::Q5_1:
      return &kernels_of<LegacyGroups16Type<Q5_1Weights>, GgmlType::Q5_1>;
    case GgmlType::IQ4_NL:
      return &kernels_of<LegacyGroups16Type<IQ4_NLWeights>, GgmlType::IQ4_NL>;
    case GgmlType::Q4_K:
      return &kernels_of<Q45KGroups16Type<BlockQ4_K>, GgmlType::Q4_K>;
    case GgmlType::Q2_K:
      return &kernels_of<Q2KGroups16Type, GgmlType::Q2_K>;
    case GgmlType::Q3_K:
      return &kernels_of<Q3KGroups16Type, GgmlType::Q3_K>;
    case GgmlType::Q6_K:
      return &kernels_of<Q6KGroups16Type, GgmlType::Q6_K>;
    default:
      return nullptr;
  }
}

const GemmKernels* emulated_gemm_kernels_groups16(uint32_t type_id) {
  using gguf::GgmlType;
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::Q8_0:
      return &kernels_of<LegacyGroups16Type<Q8_0Weights>, GgmlType::Q8_0, EmulatedTiles>;
    case GgmlType::Q4_0:
      return &kernels_of<LegacyGroups16Type<Q4_0Weights>, GgmlType::Q4_0, EmulatedTiles>;
    case GgmlType::Q5_0:
      return &kernels_of<LegacyGroups16Type<Q5_0Weights>, GgmlType::Q5_0, EmulatedTiles>;
    case GgmlType::Q4_1:
      return &kernels_of<LegacyGroups16Type<Q4_1Weights>, GgmlType::Q4_1, EmulatedTiles>;
    case GgmlType::Q5_1:
      return &kernels_of<LegacyGroups16Type<Q5_1Weights>, GgmlType::Q5_1, EmulatedTiles>;
    case GgmlType::IQ4_NL:
      return &kernels_of<LegacyGroups16Type<IQ4_NLWeights>, GgmlType::IQ4_NL, EmulatedTiles>;
    default:
      return nullptr;
  }
}

const GemmKernels* gemm_kernels_row_groups16(uint32_t type_id) {
  return row_groups16_kernels<HardwareTiles>(type_id);
}

const GemmKernels* emulated_gemm_kernels_row_groups16(uint32_t type_id) {
  return row_groups16_kernels<EmulatedTiles>(type_id);
}

}  // namespace gengyun::kernels::amx
