// ggml tensor types as stored in GGUF files (ggml.h `enum ggml_type`; GGUF spec).
// Values are the on-disk type ids. Block size is in elements, type size in bytes per block;
// a row of n elements (n a multiple of the block size) takes n / block_size * type_size bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gengyun::gguf {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
};

/// Layout facts of one ggml type.
struct GgmlTypeInfo {
  std::string_view name;  ///< ggml's name: "f32", "q4_K", "iq4_nl", ...
  int64_t block_size;     ///< elements per block
  size_t type_size;       ///< bytes per block
};

/// Layout of a type id read from a file; nullopt for ids ggml does not define.
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type_id);

/// Layout of a known type.
GgmlTypeInfo ggml_type_info(GgmlType type);

/// Bytes of one row of `n_elements` elements; n_elements must be a multiple of the block size.
size_t ggml_row_size(GgmlType type, int64_t n_elements);

}  // namespace gengyun::gguf
