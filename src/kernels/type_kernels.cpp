#include "kernels/type_kernels.h"

#include <array>

#include "kernels/dequantize_scalar.h"

namespace gengyun::kernels {
namespace {

using gguf::GgmlType;

constexpr size_t kMaxTypeId = 40;  // above every ggml type id (ggml_type.h)

std::array<TypeKernels, kMaxTypeId> build_table() {
  std::array<TypeKernels, kMaxTypeId> table{};
  auto set = [&table](GgmlType type, DequantizeRowFn dequantize) {
    table[static_cast<size_t>(type)].dequantize_row = dequantize;
  };
  set(GgmlType::F32, scalar::dequantize_row_f32);
  set(GgmlType::F16, scalar::dequantize_row_f16);
  set(GgmlType::BF16, scalar::dequantize_row_bf16);
  set(GgmlType::Q4_0, scalar::dequantize_row_q4_0);
  set(GgmlType::Q4_1, scalar::dequantize_row_q4_1);
  set(GgmlType::Q5_0, scalar::dequantize_row_q5_0);
  set(GgmlType::Q5_1, scalar::dequantize_row_q5_1);
  set(GgmlType::Q8_0, scalar::dequantize_row_q8_0);
  set(GgmlType::Q2_K, scalar::dequantize_row_q2_K);
  set(GgmlType::Q3_K, scalar::dequantize_row_q3_K);
  set(GgmlType::Q4_K, scalar::dequantize_row_q4_K);
  set(GgmlType::Q5_K, scalar::dequantize_row_q5_K);
  set(GgmlType::Q6_K, scalar::dequantize_row_q6_K);
  set(GgmlType::IQ4_NL, scalar::dequantize_row_iq4_nl);
  return table;
}

}  // namespace

const TypeKernels& type_kernels(GgmlType type) {
  static const std::array<TypeKernels, kMaxTypeId> table = build_table();
  static const TypeKernels none{};
  const auto id = static_cast<size_t>(type);
  return id < table.size() ? table[id] : none;
}

}  // namespace gengyun::kernels
