// SIMD variants of weight_layout.cpp's conversions (weight_layout_avx512.cpp,
// weight_layout_avx2.cpp). Internal to kernels/: call only where cpu_simd_level() reaches the
// namespace's level.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"

namespace gengyun::kernels::avx512 {

/// The 16 blocks of one full group of a WeightLayout::kBlockGroups16 row of `type` (Q8_0,
/// Q4_0, Q5_0, Q4_1, Q5_1 or IQ4_NL) written as 16 consecutive ggml blocks to dst (16 blocks'
/// bytes).
void group16_to_blocks(gguf::GgmlType type, const uint8_t* group, uint8_t* dst);

/// The inverse: 16 consecutive ggml blocks of `type` at src written as one full group.
void blocks_to_group16(gguf::GgmlType type, const uint8_t* src, uint8_t* group);

/// 16 ggml rows of `type` (Q8_0, Q4_0 or Q5_0) of nb blocks at rows, row_bytes apart, written as
/// one group of WeightLayout::kRowGroups16 to group (16 rows' bytes; must not overlap rows): each
/// field and quant word of a block's 16 rows is one 16-lane gather.
void rows_to_row_group16(gguf::GgmlType type, const uint8_t* rows, size_t row_bytes, int64_t nb,
                         uint8_t* group);

/// Two consecutive ggml Q4_K blocks at src written as one full group (2 Q4_K blocks' bytes) of
/// a Q4_K row in WeightLayout::kBlockGroups16.
void q4_K_pair_to_group(const uint8_t* src, uint8_t* group);

/// The same for two ggml Q5_K blocks (2 Q5_K blocks' bytes), with their fifth-bit fields.
void q5_K_pair_to_group(const uint8_t* src, uint8_t* group);

/// The inverse of q4_K_pair_to_group: one full group (2 Q4_K blocks' bytes) of a Q4_K row in
/// WeightLayout::kBlockGroups16 written as the two ggml Q4_K blocks to dst.
void q4_K_group_to_pair(const uint8_t* group, uint8_t* dst);

/// The inverse of q5_K_pair_to_group.
void q5_K_group_to_pair(const uint8_t* group, uint8_t* dst);

/// The inverse of avx2::q6_K_block_to_group: one group of a Q6_K row in
/// WeightLayout::kBlockGroups16 written as the ggml Q6_K block to dst.
void q6_K_group_to_block(const uint8_t* group, uint8_t* dst);

/// kernels::q8_K_row_to_block_groups16 (weight_layout.h) with vpermt2d: the same bytes.
void q8_K_row_to_block_groups16(const void* src, void* dst, int64_t n);

/// kernels::q8_K_row_to_q6_K_groups16 (weight_layout.h) with vpermt2d: the same bytes.
void q8_K_row_to_q6_K_groups16(const void* src, void* dst, int64_t n);

}  // namespace gengyun::kernels::avx512

namespace gengyun::kernels::avx2 {

/// One ggml Q3_K block at src written as one group (sizeof(BlockQ3_K) bytes) of a Q3_K row in
/// WeightLayout::kBlockGroups16.
void q3_K_block_to_group(const uint8_t* src, uint8_t* group);

/// The same for one ggml Q2_K block (sizeof(BlockQ2_K) bytes).
void q2_K_block_to_group(const uint8_t* src, uint8_t* group);

/// The same for one ggml Q6_K block (sizeof(BlockQ6_K) bytes).
void q6_K_block_to_group(const uint8_t* src, uint8_t* group);

}  // namespace gengyun::kernels::avx2
