// Binding a model's tensors by name: shape and type checks, no copies of weight matrices.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "gengyun/result.h"
#include "gguf/gguf.h"
#include "kernels/weight_layout.h"

namespace gengyun::model {

/// A weight matrix of n_out rows of n_in elements (GGUF ne = [n_in, n_out]) in any type that
/// kernels::matmul and kernels::dequantize_row compute, in the layout its tensor records
/// (arrange_weights); `data` points into the file image.
struct Matrix {
  const gguf::TensorInfo* tensor = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;

  explicit operator bool() const { return tensor != nullptr; }
  gguf::GgmlType type() const { return tensor->type; }
  const void* data() const { return tensor->data; }
  kernels::WeightLayout layout() const { return static_cast<kernels::WeightLayout>(tensor->layout); }
};

/// The experts of a mixture-of-experts layer stacked in one 3-D tensor (GGUF ne = [n_in, n_out,
/// n_expert], llama.cpp's ffn_{gate,up,down}_exps): expert e is a Matrix-like block of n_out
/// rows of n_in elements at data() + e * expert_bytes(), in the layout its tensor records (the
/// rows of every expert rearranged alike; arrange_weights).
struct ExpertMatrices {
  const gguf::TensorInfo* tensor = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
  int64_t n_expert = 0;

  explicit operator bool() const { return tensor != nullptr; }
  gguf::GgmlType type() const { return tensor->type; }
  kernels::WeightLayout layout() const {
    return static_cast<kernels::WeightLayout>(tensor->layout);
  }
  /// Bytes of one expert's n_out rows.
  size_t expert_bytes() const;
  /// The rows of expert e (0 <= e < n_expert).
  const void* expert(int64_t e) const;
};

/// Rearranges, in place, every weight matrix of `file` whose decode product is faster in
/// another layout at the active SIMD level (AMX: Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K matrices
/// whose rows (per expert) come in whole groups of 16 into kernels::WeightLayout::kRowGroups16,
/// the other Q4_1, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K ones into kBlockGroups16;
/// AVX-512: on Intel's CPUs Q8_0 ones of whole groups of 16 rows into kRowGroups16, the other
/// Q8_0 and the Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K ones into
/// kBlockGroups16; AVX2: all eleven types into kBlockGroups16; none below), 2-D matrices and the
/// 3-D stacked experts of a mixture of experts alike (a group of 16 rows never holds two experts'
/// rows), and records the layout in its TensorInfo (token_embd.weight too: the output matrix of
/// tied embeddings, and blocks::embed converts the rows it looks up). Run once after
/// gguf::File::open(path, FileMemory::kAnonymous), before binding. Returns the number of tensors
/// rearranged. Errors: those of File::rewrite_tensor (a mapped file cannot be rearranged).
Result<int> arrange_weights(gguf::File& file);

/// Looks tensors up in a GGUF file for one architecture. The first failure is recorded and
/// later calls return empty values, so a family's binding code reads as a list of tensors
/// followed by one `finish()`.
class WeightBinder {
 public:
  /// `vectors` receives the f32 copies of 1-D tensors; it must outlive the bound weights.
  WeightBinder(const gguf::File& file, std::deque<std::vector<float>>& vectors);

  /// Required matrix `name` with ne = [n_in, n_out]. Errors: missing, other shape, a type
  /// that cannot be computed, a row length not a multiple of the type's block size.
  Matrix matrix(const std::string& name, int64_t n_in, int64_t n_out);
  /// Like matrix(), but an absent tensor gives an empty Matrix.
  Matrix optional_matrix(const std::string& name, int64_t n_in, int64_t n_out);
  /// Required stacked experts `name` with ne = [n_in, n_out, n_expert]; errors as matrix().
  ExpertMatrices experts(const std::string& name, int64_t n_in, int64_t n_out, int64_t n_expert);
  /// Required 1-D tensor of n elements (norm weights, biases), converted to f32.
  const float* vector(const std::string& name, int64_t n);
  /// Like vector(), but an absent tensor gives nullptr.
  const float* optional_vector(const std::string& name, int64_t n);

  /// "blk.<layer>.<suffix>", llama.cpp's per-layer tensor names.
  static std::string layer_name(int layer, const char* suffix);

  /// The first error, if any.
  Result<void> finish() const;

 private:
  const gguf::TensorInfo* lookup(const std::string& name, bool required,
                                 const std::vector<int64_t>& ne);
  void fail(std::string message);

  const gguf::File& file_;
  std::deque<std::vector<float>>& vectors_;
  std::optional<Error> error_;
};

}  // namespace gengyun::model
