// The per-tensor type choice of llama.cpp's quantizer (src/llama-quant.cpp as of 2025:
// tensor_allows_quantization, llama_tensor_get_type_impl, tensor_type_fallback) for the types of
// quantize_type.h, with no importance matrix and no user overrides. It decides which tensors
// stay as they are (1-D tensors, norms, ...), which get more bits than the default (the output
// and tied token embedding, attn_v and ffn_down of some layers in the _M mixes) and the
// fallback when a row length is not a multiple of the chosen type's block size.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "convert/quantize_type.h"
#include "gengyun/result.h"
#include "gguf/gguf.h"

namespace gengyun::convert {

/// What the choice needs to know about the model (llama.cpp's hyper-parameters and size class).
struct QuantizeModelFacts {
  std::string arch;     ///< general.architecture
  int n_layer = 0;      ///< <arch>.block_count
  int n_gqa = 0;        ///< head_count / head_count_kv; 0 when head_count_kv is 0 or absent
  int n_expert = 0;     ///< <arch>.expert_count (0 for dense models)
  bool is_70b = false;  ///< llama.cpp's LLM_TYPE_70B: 80 blocks of qwen2, or of llama with GQA
};

/// Reads the facts from the file's metadata. Errors: no general.architecture or no positive
/// <arch>.block_count (the file is not a model, e.g. a vocabulary-only or adapter file).
Result<QuantizeModelFacts> read_quantize_model_facts(const gguf::File& file);

/// The file's tensors in the order llama.cpp's quantizer processes and writes them (its model
/// loader's weight map): tensors outside blocks first, then block 0, block 1, ... (the number
/// after "blk." compared as an integer), by name within each group.
std::vector<const gguf::TensorInfo*> tensors_in_quantize_order(const gguf::File& file);

/// The target type of each of `tensors` (given in tensors_in_quantize_order, which the
/// per-layer rules count along): a tensor that is not quantized keeps its type. Errors: a
/// tensor whose row length fits neither the chosen type nor a fallback llama.cpp defines (it
/// then refuses too), or, for a mixture-of-experts model, a per-layer tensor whose name has no
/// valid "blk.N." prefix.
Result<std::vector<gguf::GgmlType>> choose_tensor_types(
    const QuantizeModelFacts& facts, QuantizeType type,
    std::span<const gguf::TensorInfo* const> tensors);

}  // namespace gengyun::convert
