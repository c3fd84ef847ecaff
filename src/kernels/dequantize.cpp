#include "kernels/dequantize.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/type_kernels.h"

namespace gengyun::kernels {

bool dequantize_supported(gguf::GgmlType type) {
  return type_kernels(type).dequantize_row != nullptr;
}

Result<void> check_dequantizable(gguf::GgmlType type, int64_t row_length) {
  const auto info = gguf::ggml_type_info(static_cast<uint32_t>(type));
  if (!info)
    return make_error("unknown ggml type id " + std::to_string(static_cast<uint32_t>(type)));
  if (!dequantize_supported(type))
    return make_error("tensor type " + std::string(info->name) + " is not supported");
  if (row_length <= 0 || row_length % info->block_size != 0)
    return make_error("row length " + std::to_string(row_length) + " is not a positive multiple of the " +
                      std::string(info->name) + " block size " + std::to_string(info->block_size));
  return {};
}

void dequantize_row(gguf::GgmlType type, const void* src, float* dst, int64_t n) {
  const DequantizeRowFn fn = type_kernels(type).dequantize_row;
  if (fn == nullptr) {
    std::fprintf(stderr, "gengyun: dequantize_row called for unsupported ggml type %u\n",
                 static_cast<unsigned>(type));
    std::abort();
  }
  fn(src, dst, n);
}

}  // namespace gengyun::kernels
