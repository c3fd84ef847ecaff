// Weight layouts the kernels take besides ggml's. A loader that owns a writable copy of the
// weights may rearrange a matrix's rows in place, once, into a layout whose decode product
// needs no horizontal reductions (docs/kernels.md); matmul (matmul.h) is told the layout and
// gives the same bits as on the ggml rows.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"

namespace gengyun::kernels {

/// How the bytes of a weight matrix are arranged. kBlockGroups16 keeps the rows where ggml's
/// are (row o at o * ggml_row_size(type, n_in), same size) and only moves bytes inside a row;
/// kRowGroups16 keeps each group of 16 rows where ggml's 16 rows are and interleaves them.
enum class WeightLayout : uint8_t {
  kGgml = 0,  ///< ggml's blocks, as in the GGUF file
  /// Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL. The row's blocks in groups of 16 (the last group
  /// has the m = nb % 16 blocks left, if any). A group of m blocks (m blocks' bytes) holds the
  /// m f16 scales d, then (Q4_1 / Q5_1) the m f16 mins m, then (Q5_0 / Q5_1) the m 4-byte
  /// fifth-bit fields, then for each 4-byte word k of a block's quants (Q8_0: 8 words, each
  /// quant stored as the unsigned byte q + 128; the others: the 4 words of nibbles as in the
  /// file) word k of each of the m blocks side by side (4 m bytes). Lane l of a 16-lane vector
  /// then meets block l.
  /// Q4_K: the row's super-blocks in pairs (the last group has 1 if their count is odd); a
  /// group of m super-blocks holds the m f16 d, the m f16 dmin, the m 12-byte packed scales,
  /// then its 8 m sub-blocks of 32 as 8 m Q4_0 blocks' quants (16 bytes: element i in the low
  /// nibble of byte i, element 16 + i in the high one) in Q4_0's word order above. Lane l
  /// then meets sub-block l.
  /// Q5_K: as Q4_K, with the 8 m sub-blocks' fifth-bit fields between the scales and the
  /// quants: 4 bytes per sub-block, side by side, bit i the fifth bit of element i (as a Q5_0
  /// block's qh; ggml keeps it as bit s of qh[i] for sub-block s).
  /// Q6_K: each super-block (group of one) keeps its 16 int8 scales and f16 d where ggml has
  /// them (bytes 192..209) and holds in its 192 bytes of ql and qh, for its 16 sub-blocks of 16
  /// (lane l: elements 16 l .. 16 l + 15, u the 6-bit quant 0..63 of element 16 l + i):
  /// at 4 l, byte b: u(4 + b) low bits << 4 | u(b) low bits (the low 4 bits of each);
  /// at 64 + 4 l, byte b: u(12 + b) low bits << 4 | u(8 + b) low bits;
  /// at 128 + 4 l, byte b: the high 2 bits of u(b), u(4 + b), u(8 + b), u(12 + b) at bits 0-1,
  /// 2-3, 4-5, 6-7. Lane l of the three 64-byte vectors then meets sub-block l.
  /// Q3_K: each super-block (group of one) keeps its 12 bytes of packed scales and f16 d where
  /// ggml has them (bytes 96..109) and holds in its 96 bytes of hmask and qs, for its 16
  /// sub-blocks of 16 (lane l: elements 16 l .. 16 l + 15; element 16 l + 4 k + b has the 2 low
  /// bits and the third bit of its quant u = low | third << 2, 0..7):
  /// at 4 l + b, bits 2 k .. 2 k + 1: the low bits (as Q6_K's third word holds its high bits);
  /// at 64 + 4 (l % 8) + b, bit 2 k + l / 8: the third bit. Lane l of the 64-byte vector then
  /// meets sub-block l, and so does lane l % 8 of the 32 bytes of third bits, read twice.
  /// Q2_K: each super-block (group of one) keeps its 16 bytes of scales and mins and its f16 d
  /// and dmin where ggml has them and holds in its 64 bytes of qs (bytes 16..79), at 16 + 4 l +
  /// b, bits 2 k .. 2 k + 1, the 2-bit quant of element 16 l + 4 k + b (as Q3_K's low bits).
  kBlockGroups16 = 1,
  /// Q8_0, Q4_0, Q5_0. The rows in groups of 16 (n_rows a multiple of 16), each group where
  /// ggml's 16 rows are (16 ggml rows' bytes). A group of rows of nb blocks holds, for each
  /// block j in block_position order (gemm_block_order.h: blocks 0, 16, 32, ..., then 1, 17,
  /// ...), its 16 rows' f16 scales d (32 bytes, row r at 2 r); then (Q5_0), in the same order,
  /// its 16 rows' 4-byte fifth-bit fields qh (64 bytes, row r at 4 r); then, in the same order,
  /// its 16 rows' quants by 4-byte word as in the file (Q8_0: 8 words, signed; Q4_0 / Q5_0: the
  /// 4 words of nibbles), word k of rows 0..15 side by side (row r at 64 k + 4 r). A Q8_0 block's
  /// 512 bytes are its AMX B tile (8 rows of 64 bytes) as they lie. Lane r of a 16-lane vector
  /// then meets row r (docs/kernels.md, "Rows interleaved: kRowGroups16").
  /// Q4_K (rows of whole super-blocks): per super-block j, at 16 * 144 * j of the group, its 16
  /// rows' f16 d (row r at 2 r), their f16 dmin (at 32 + 2 r), then the super-block's 35 4-byte
  /// words from byte 4 as in the file (3 of packed scales, then 32 of quants), word w of rows
  /// 0..15 side by side (row r at 64 + 64 w + 4 r). Quant word 8 c + k of a row holds elements
  /// 64 c + 4 k .. + 3 in its low nibbles and 64 c + 32 + 4 k .. + 3 in its high ones, so each
  /// 64-byte vector of quants is, nibble by nibble, an AMX B tile row of 16 rows
  /// (docs/kernels.md, "Q4_K, Q5_K and Q6_K in kRowGroups16").
  /// Q5_K (rows of whole super-blocks): as Q4_K, at 16 * 176 * j, with 43 words from byte 4 (3
  /// of packed scales, 8 of qh, 32 of quants): quant word 11 + 8 c + k holds the nibbles as
  /// Q4_K's word 3 + 8 c + k, and their fifth bits are bits 2 c (low) and 2 c + 1 (high) of the
  /// bytes of qh word 3 + k.
  /// Q6_K (rows of whole super-blocks): per super-block j, at 16 * 208 * j of the group, its
  /// 52 4-byte words as in the file (32 of ql, 16 of qh, 4 of scales), word w of rows 0..15
  /// side by side (row r at 64 w + 4 r); after the nb super-blocks, at 16 * 208 * nb, the 16
  /// rows' f16 d of each (super-block j, row r at 32 j + 2 r). Per half h, ql words 16 h + j
  /// and 16 h + 8 + j and qh word 32 + 8 h + j (j = 0..7) hold elements 128 h + 32 q + 4 j .. + 3
  /// (q = 0..3) of every row.
  kRowGroups16 = 2,
};

/// True when n_rows rows of `type` and n_in elements can be rearranged into `layout`.
bool layout_supported(gguf::GgmlType type, WeightLayout layout, int64_t n_in, int64_t n_rows);

/// Rearranges n_rows rows (n_in elements of `type`, ggml layout, ggml_row_size apart) in
/// place into `layout`. Precondition: layout_supported(type, layout, n_in, n_rows). The
/// conversions here and below run the active level's SIMD code (simd_level()); every level
/// writes the same bytes.
void to_layout(gguf::GgmlType type, WeightLayout layout, void* rows, int64_t n_in, int64_t n_rows);

/// Writes n_rows rows in `layout` back in ggml's layout to dst (which must not overlap src).
/// Precondition: layout_supported(type, layout, n_in, n_rows); kRowGroups16: src at a group.
void from_layout(gguf::GgmlType type, WeightLayout layout, const void* src, void* dst, int64_t n_in,
                 int64_t n_rows);

/// Writes row `row` of the matrix at `matrix` (in `layout`, rows of n_in elements) in ggml's
/// layout to dst (ggml_row_size(type, n_in) bytes; must not overlap the matrix). Precondition:
/// layout_supported(type, layout, n_in, n) for the matrix's n rows.
void row_from_layout(gguf::GgmlType type, WeightLayout layout, const void* matrix, int64_t n_in,
                     int64_t row, void* dst);

/// The Q8_0 activation row (activation_rows.h) of n elements with its quants rearranged as
/// kBlockGroups16 arranges a weight row's (signed, without the + 128); d and sum unchanged.
/// src and dst are activation_row_bytes(Q8_0, n) bytes and must not overlap.
void q8_0_row_to_block_groups16(const void* src, void* dst, int64_t n);

/// The Q8_1 activation row (activation_rows.h) of n elements arranged as
/// q8_0_row_to_block_groups16 arranges a Q8_0 row, s unchanged too (for Q4_1 / Q5_1 rows).
void q8_1_row_to_block_groups16(const void* src, void* dst, int64_t n);

/// The Q8_K activation row (ggml's BlockQ8_K[n / 256]) of n elements arranged for Q4_K and Q5_K
/// rows in kBlockGroups16, per group of m super-blocks (m = 2, the last 1 when n / 256 is odd):
/// the 256 m quants as q8_0_row_to_block_groups16 arranges 8 m blocks of 32, then the m f32
/// d, then the 8 m int32 sums of the sub-blocks of 32 (sizeof(BlockQ8_K) bytes per super-block,
/// as the row). src and dst must not overlap.
void q8_K_row_to_block_groups16(const void* src, void* dst, int64_t n);

/// The Q8_K activation row (ggml's BlockQ8_K[n / 256]) of n elements arranged for Q6_K (and
/// Q2_K, Q3_K) rows in kBlockGroups16: each block's d and bsums unchanged, its quants as 4 vectors
/// of 64 bytes, vector k holding at 4 l the quants of elements 16 l + 4 k .. 16 l + 4 k + 3 (the
/// layout's order: lane l meets sub-block l). src and dst must not overlap.
void q8_K_row_to_q6_K_groups16(const void* src, void* dst, int64_t n);

}  // namespace gengyun::kernels
