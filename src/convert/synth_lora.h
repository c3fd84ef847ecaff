// Random LoRA adapters that fit a given model, in llama.cpp's adapter GGUF layout: for
// benchmarking many adapters of one base without trained ones (`gengyun synth-lora`).
#pragma once

#include <cstdint>
#include <string>

#include "gengyun/result.h"
#include "gguf/gguf.h"

namespace gengyun::convert {

/// The base tensors a synthetic adapter adapts: the attention and feed-forward matrices of every
/// layer (blk.N.{attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down}.weight, those
/// the base has as 2-D tensors), as PEFT's usual target_modules (q/k/v/o, gate/up/down).
bool synth_lora_target(const gguf::TensorInfo& base_tensor);

/// Writes to `path` an adapter of `base` (general.architecture copied, general.type "adapter",
/// adapter.type "lora", adapter.lora.alpha = alpha): for each target tensor ne = [n_in, n_out],
/// `<name>.lora_a` F32 ne = [n_in, rank] and `<name>.lora_b` F32 ne = [rank, n_out], values
/// drawn as synth_matrix_value (by tensor name and seed). Errors: rank < 1 or above the smaller
/// side (min(n_in, n_out)) of a target tensor (the first such named), alpha not finite, a base
/// without
/// general.architecture or without target tensors, I/O errors naming the path.
Result<void> write_synth_lora(const gguf::File& base, int64_t rank, float alpha, uint64_t seed,
                              const std::string& path);

}  // namespace gengyun::convert
