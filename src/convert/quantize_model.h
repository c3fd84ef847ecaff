// Quantizing a GGUF model file (`gengyun quantize`), as llama.cpp's quantizer does it with no
// importance matrix (llama_model_quantize, src/llama-quant.cpp), so that the output is the same
// file byte for byte: the metadata copied in order with general.quantization_version (2) and
// general.file_type (the llama_ftype) moved to the end and split keys dropped; the tensors in
// llama.cpp's order (tensors_in_quantize_order), each of the type choose_tensor_types picks,
// quantized by the bit-exact kernels of kernels/quantize_weights.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "convert/quantize_type.h"
#include "gengyun/result.h"
#include "gguf/ggml_type.h"

namespace gengyun::convert {

/// One tensor written, reported in file order.
struct QuantizeProgress {
  size_t index = 0;  ///< 0-based position in the output file
  size_t count = 0;  ///< tensors in the file
  std::string_view name;
  gguf::GgmlType from = gguf::GgmlType::F32;  ///< type in the input
  gguf::GgmlType to = gguf::GgmlType::F32;    ///< type written (== from when copied unchanged)
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

/// Called on the quantizing thread after each tensor is produced.
using QuantizeProgressFn = std::function<void(const QuantizeProgress&)>;

/// Totals of one quantize_model run.
struct QuantizeSummary {
  size_t n_tensors = 0;
  size_t n_quantized = 0;  ///< tensors converted to another type
  uint64_t bytes_in = 0;   ///< tensor data in the input
  uint64_t bytes_out = 0;  ///< tensor data in the output
};

/// Writes `in_path` quantized to `type` to `out_path` (through `out_path`.tmp, renamed when
/// complete). Rows are quantized on `n_threads` threads (< 1 means 1); the result does not
/// depend on it. Memory: the input is mapped; one output tensor is held at a time.
/// Errors: `out_path` is the input file; the input is unreadable or not a model (no
/// general.architecture, block_count or tensors); a tensor that must be converted is already
/// quantized (quantize from an F32, F16 or BF16 model; llama.cpp refuses too unless
/// --allow-requantize); a row length no type fits (see choose_tensor_types); a NaN or infinite
/// value in a tensor being quantized; the output cannot be written.
Result<QuantizeSummary> quantize_model(const std::string& in_path, const std::string& out_path,
                                       QuantizeType type, int n_threads,
                                       const QuantizeProgressFn& progress = {});

}  // namespace gengyun::convert
