// Random-weight models with the exact tensor shapes of real checkpoints, for benchmarking
// without downloading weights (`gengyun synth`).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "convert/synth_shape.h"
#include "gengyun/result.h"
#include "gguf/ggml_type.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"

namespace gengyun::convert {

/// How a synthetic tensor's values are drawn.
enum class SynthFill {
  Matrix,  ///< uniform in [-sqrt(3/n_in), sqrt(3/n_in)]: mean 0, standard deviation 1/sqrt(n_in)
  Ones,    ///< norm weights
  Zeros,   ///< biases
};

/// One tensor of a synthetic model.
struct SynthTensor {
  std::string name;         ///< llama.cpp's GGUF name, e.g. "blk.0.attn_q.weight"
  std::vector<int64_t> ne;  ///< ggml order: ne[0] is the row length (n_in for matrices)
  SynthFill fill = SynthFill::Matrix;
};

/// The tensors of `shape` in file order: token_embd.weight, then per layer attn_norm,
/// attn_q/k/v (with biases for qwen2, followed by attn_q_norm/attn_k_norm for qwen3),
/// attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down (a mixture of experts: ffn_gate_inp,
/// ffn_gate_exps, ffn_up_exps, ffn_down_exps, ne = [n_in, n_out, n_expert]); then
/// output_norm.weight and, when the output is not tied, output.weight.
std::vector<SynthTensor> synth_tensors(const SynthShape& shape);

/// Value `index` (row-major over the whole tensor) of a SynthFill::Matrix tensor `name` with
/// rows of n_in elements: a counter-based hash (SplitMix64) of (seed, name, index), so any row
/// can be produced independently and the file is the same for the same seed.
float synth_matrix_value(uint64_t seed, const std::string& name, int64_t n_in, int64_t index);

/// Called after each tensor: the stage ("random weights", then "quantize" for quantized
/// types), and bytes of F32/F16/BF16 tensor data produced (or quantized) so far and in all.
using SynthProgress = std::function<void(std::string_view stage, uint64_t done_bytes, uint64_t total_bytes)>;

/// Writes the model `shape` with every matrix (token_embd.weight included) stored as
/// `float_type` (F32, F16 or BF16; 1-D tensors are always F32, as llama.cpp stores them), the
/// tokenizer of `vocab` fitted to shape.n_vocab tokens (see copy_fitted_tokenizer), and the
/// hyper-parameters as llama.cpp's converter writes them. Tensors are generated one at a time
/// on `pool` while the file is written (memory: the largest tensor). Errors: a float_type
/// other than F32/F16/BF16, those of copy_fitted_tokenizer, I/O errors naming the path.
Result<void> write_synth_float_model(const SynthShape& shape, gguf::GgmlType float_type,
                                     const gguf::File& vocab, uint64_t seed,
                                     const std::string& path, kernels::ThreadPool& pool,
                                     const SynthProgress& progress = {});

/// Fails unless `type` names a type write_synth_model writes: F32, F16, BF16 or a quantization
/// type of quantize_type.h (case-insensitive); the message lists the known ones.
Result<void> check_synth_type(std::string_view type);

/// Writes the model `shape` in the type named `type` (case-insensitive): "F32", "F16" and
/// "BF16" as write_synth_float_model does; a quantization type of quantize_type.h ("Q8_0",
/// "Q4_K_M", ...) by writing the F32 model to `path`.f32.XXXXXX (a name of its own; 4 bytes per
/// weight of disk, removed afterwards) and quantizing it with quantize_model on the pool's thread count, so
/// the file is the one `gengyun quantize` makes of the F32 model. Errors, before any work: an
/// unknown type (the message lists the known ones), `path` the vocabulary file, empty, a folder
/// or not writable; then those of write_synth_float_model and quantize_model.
Result<void> write_synth_model(const SynthShape& shape, std::string_view type,
                               const gguf::File& vocab, uint64_t seed, const std::string& path,
                               kernels::ThreadPool& pool, const SynthProgress& progress = {});

}  // namespace gengyun::convert
