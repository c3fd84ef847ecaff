// Shape and size rules shared by the GGUF reader and writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "gengyun/result.h"
#include "gguf/ggml_type.h"

namespace gengyun::gguf {

/// `value` rounded up to a multiple of `alignment` (a power of two).
constexpr uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

/// True for a nonzero power of two.
constexpr bool is_power_of_two(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

/// A shape as text for messages: "[256, 2000]".
std::string shape_string(std::span<const int64_t> ne);

/// Bytes of a tensor of `type` with shape `ne` (ggml order). Errors (message without a file
/// or tensor prefix): a type id ggml does not define, 0 or more than kMaxDims dims, a dim
/// below 1, an element count or byte size that overflows int64, ne[0] not a multiple of the
/// type's block size.
Result<size_t> tensor_n_bytes(GgmlType type, std::span<const int64_t> ne);

}  // namespace gengyun::gguf
