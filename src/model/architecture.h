// Model families: each binds its tensors and runs its layers (one file per family:
// llama.cpp, qwen2.cpp, qwen3.cpp, qwen3moe.cpp), and the registry that finds one by
// general.architecture. Adding a family is one file, its builder's declaration below and
// one line in the table of architecture.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "gengyun/result.h"
#include "model/forward.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace gengyun::model {

/// The bound weights of one model and its forward pass.
class Architecture {
 public:
  virtual ~Architecture() = default;
  /// Runs pass.tokens through the model: appends their keys and values to pass.kv and writes
  /// pass.logits.
  virtual void forward(ForwardPass& pass) const = 0;
};

/// Binds a family's weights for `hp`. Errors come from binder.finish().
using ArchitectureBuilder = Result<std::unique_ptr<Architecture>> (*)(const HParams& hp,
                                                                       WeightBinder& binder);

/// One registered family.
struct ArchitectureEntry {
  std::string_view name;  ///< general.architecture
  RopeType rope_type;     ///< llama.cpp's llama_model_rope_type() for it
  ArchitectureBuilder build;
};

/// The family named `name`, or nullptr.
const ArchitectureEntry* find_architecture(std::string_view name);

/// The names of the registered families, in the order of their registration, joined by ", "
/// ("llama, qwen2, qwen3, qwen3moe"): for messages that list what is supported.
std::string architecture_names();

/// Binds token_embd.weight, output_norm.weight and output.weight, the last falling back to
/// token_embd (tied embeddings) when the file has none. Errors go to binder.finish().
void bind_embedding_and_output(const HParams& hp, WeightBinder& binder, Matrix& token_embd,
                               const float*& output_norm, Matrix& output);

/// Builders, one per family file.
Result<std::unique_ptr<Architecture>> build_llama(const HParams& hp, WeightBinder& binder);
Result<std::unique_ptr<Architecture>> build_qwen2(const HParams& hp, WeightBinder& binder);
Result<std::unique_ptr<Architecture>> build_qwen3(const HParams& hp, WeightBinder& binder);
Result<std::unique_ptr<Architecture>> build_qwen3moe(const HParams& hp, WeightBinder& binder);

}  // namespace gengyun::model
