#include "convert/quantize_type.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace gengyun::convert {
namespace {

using gguf::GgmlType;

// llama.h enum llama_ftype values; default types from llama-quant.cpp llama_ftype_get_default_type.
constexpr std::array<std::pair<QuantizeType, QuantizeTypeInfo>, 13> kTypes = {{
    {QuantizeType::Q8_0, {"Q8_0", 7, GgmlType::Q8_0}},
    {QuantizeType::Q4_0, {"Q4_0", 2, GgmlType::Q4_0}},
    {QuantizeType::Q4_1, {"Q4_1", 3, GgmlType::Q4_1}},
    {QuantizeType::Q5_0, {"Q5_0", 8, GgmlType::Q5_0}},
    {QuantizeType::Q5_1, {"Q5_1", 9, GgmlType::Q5_1}},
    {QuantizeType::Q2_K, {"Q2_K", 10, GgmlType::Q2_K}},
    {QuantizeType::Q3_K_M, {"Q3_K_M", 12, GgmlType::Q3_K}},
    {QuantizeType::Q4_K_M, {"Q4_K_M", 15, GgmlType::Q4_K}},
    {QuantizeType::Q5_K_M, {"Q5_K_M", 17, GgmlType::Q5_K}},
    {QuantizeType::Q6_K, {"Q6_K", 18, GgmlType::Q6_K}},
    {QuantizeType::IQ4_NL, {"IQ4_NL", 25, GgmlType::IQ4_NL}},
    {QuantizeType::F16, {"F16", 1, GgmlType::F16}},
    {QuantizeType::BF16, {"BF16", 32, GgmlType::BF16}},
}};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::toupper(static_cast<unsigned char>(x)) ==
           std::toupper(static_cast<unsigned char>(y));
  });
}

}  // namespace

const QuantizeTypeInfo& quantize_type_info(QuantizeType type) {
  return std::ranges::find(kTypes, type, &std::pair<QuantizeType, QuantizeTypeInfo>::first)->second;
}

Result<QuantizeType> parse_quantize_type(std::string_view name) {
  for (const auto& [type, info] : kTypes) {
    if (equal_ignoring_case(name, info.name)) return type;
  }
  return make_error("unknown quantization type '" + std::string(name) +
                    "' (valid: " + quantize_type_names() + ")");
}

std::string quantize_type_names() {
  std::string names;
  for (const auto& [type, info] : kTypes) {
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

}  // namespace gengyun::convert
