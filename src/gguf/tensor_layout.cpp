#include "gguf/tensor_layout.h"

#include <string>

#include "gguf/gguf.h"

namespace gengyun::gguf {

std::string shape_string(std::span<const int64_t> ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}

Result<size_t> tensor_n_bytes(GgmlType type, std::span<const int64_t> ne) {
  const std::optional<GgmlTypeInfo> info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) return make_error("unknown ggml type id " + std::to_string(static_cast<uint32_t>(type)));
  if (ne.empty() || ne.size() > kMaxDims)
    return make_error(std::to_string(ne.size()) + " dimensions (must be 1.." + std::to_string(kMaxDims) + ")");
  int64_t n_elements = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 1)
      return make_error("ne[" + std::to_string(i) + "] = " + std::to_string(ne[i]) + " (every dimension must be >= 1)");
    if (__builtin_mul_overflow(n_elements, ne[i], &n_elements))
      return make_error("element count overflows (shape " + shape_string(ne) + ")");
  }
  if (ne[0] % info->block_size != 0)
    return make_error("row length ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
                      std::string(info->name) + " block size " + std::to_string(info->block_size));
  int64_t n_bytes = 0;
  if (__builtin_mul_overflow(n_elements / info->block_size, static_cast<int64_t>(info->type_size), &n_bytes))
    return make_error("byte size overflows (shape " + shape_string(ne) + ", type " + std::string(info->name) + ")");
  return static_cast<size_t>(n_bytes);
}

}  // namespace gengyun::gguf
