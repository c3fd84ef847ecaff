// The quantization types `gengyun quantize` offers: llama.cpp's file types (llama_ftype in
// llama.h) of the same names, each a default tensor type plus, for the K-quant mixes, the rules
// that give some tensors more bits (quantize_tensor_types.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gengyun/result.h"
#include "gguf/ggml_type.h"

namespace gengyun::convert {

enum class QuantizeType {
  Q8_0,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q2_K,
  Q3_K_M,
  Q4_K_M,
  Q5_K_M,
  Q6_K,
  IQ4_NL,
  F16,
  BF16
};

/// Facts of one quantization type.
struct QuantizeTypeInfo {
  std::string_view name;        ///< as on the command line: "Q4_K_M"
  uint32_t file_type;           ///< llama_ftype value written to general.file_type
  gguf::GgmlType default_type;  ///< tensor type before the mix's rules (Q4_K for Q4_K_M)
};

const QuantizeTypeInfo& quantize_type_info(QuantizeType type);

/// The type named `name` (case-insensitive: "q4_k_m" is Q4_K_M). Error: an unknown name, with
/// the list of valid ones.
Result<QuantizeType> parse_quantize_type(std::string_view name);

/// All type names, comma-separated, in the order of the enum ("Q8_0, Q4_0, ...").
std::string quantize_type_names();

}  // namespace gengyun::convert
