// LoRA adapters in llama.cpp's adapter GGUF layout, checked against the base model they adapt.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gengyun/result.h"
#include "gguf/gguf.h"
#include "model/weights.h"

namespace gengyun::model {

class Model;

/// The low-rank update of one base matrix W (ne = [n_in, n_out]): y += scale * B (A x), with
/// A = `a` (GGUF `<name>.lora_a`, ne = [n_in, rank]: rank rows of n_in) and B = `b`
/// (`<name>.lora_b`, ne = [rank, n_out]: n_out rows of rank).
struct LoraWeight {
  Matrix a;
  Matrix b;
  /// B transposed to f32 at load, [rank, n_out] row-major: the update of a row is then rank
  /// scaled rows of n_out added to it (kernels::VectorKernels::accumulate_rows) instead of n_out
  /// dot products of length rank.
  std::vector<float> b_transposed;
  float scale = 0.0f;  ///< llama.cpp's get_scale: user scale * alpha / rank (alpha 0: user scale)
  int64_t rank() const { return a.n_out; }
};

/// Fails when `file` is a LoRA adapter (general.type = "adapter"), not a model: "a LoRA adapter
/// (...), not a model; ...", for the loaders of models (run, serve, bench) to say before they
/// read hyperparameters an adapter does not have.
Result<void> check_not_an_adapter(const gguf::File& file);

/// A LoRA adapter bound to the base model it was loaded against: for each adapted matrix of
/// the base, its LoraWeight. Immutable after load; any number of forward passes and threads
/// may use it at once. The base Model must outlive it.
class LoraAdapter {
 public:
  /// Reads `path` (an adapter GGUF: general.type = "adapter", adapter.type = "lora",
  /// adapter.lora.alpha (absent: 0), tensors `<base tensor>.lora_a` / `.lora_b`, as llama.cpp's
  /// convert_lora_to_gguf.py writes them) and binds it to `base` with the user's `scale`.
  /// Errors, each naming the file and the mismatch: a missing or unreadable file, not a GGUF,
  /// general.type not "adapter", adapter.type not "lora", general.architecture other than the
  /// base's, a tensor whose name does not end in .lora_a / .lora_b, an A without its B or the
  /// reverse, a base tensor that does not exist or is not a matrix LoRA can adapt here
  /// (token_embd.weight, stacked experts), shapes that do not fit the base matrix or each other,
  /// a tensor type that cannot be computed, no tensors at all, a scale that is not finite.
  /// `memory`: the file mapped, or read into anonymous memory (a file rewritten in place then
  /// does not take the process down with SIGBUS).
  static Result<std::unique_ptr<LoraAdapter>> load(
      const Model& base, const std::string& path, float scale,
      gguf::FileMemory memory = gguf::FileMemory::kAnonymous);
  /// load() from a parsed file (tests build bad adapters in memory).
  static Result<std::unique_ptr<LoraAdapter>> load(const Model& base,
                                                   std::shared_ptr<const gguf::File> file,
                                                   float scale);

  /// The update of the base matrix whose tensor is `base_weight`, or nullptr when the adapter
  /// leaves it alone.
  const LoraWeight* find(const gguf::TensorInfo* base_weight) const {
    const auto it = weights_.find(base_weight);
    return it == weights_.end() ? nullptr : &it->second;
  }

  /// Base matrices adapted.
  size_t size() const { return weights_.size(); }
  /// The largest rank of its updates.
  int64_t max_rank() const { return max_rank_; }
  /// The user's scale (before alpha / rank).
  float scale() const { return scale_; }
  float alpha() const { return alpha_; }
  const std::string& path() const { return file_->name(); }
  /// Bytes of its tensors (mapped from the file) and of the transposed copies of B.
  size_t memory_bytes() const;

 private:
  LoraAdapter() = default;

  std::shared_ptr<const gguf::File> file_;
  std::unordered_map<const gguf::TensorInfo*, LoraWeight> weights_;
  float scale_ = 1.0f;
  float alpha_ = 0.0f;
  int64_t max_rank_ = 0;
};

}  // namespace gengyun::model
