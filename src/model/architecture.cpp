#include "model/architecture.h"

#include <array>

namespace gengyun::model {
namespace {

constexpr std::array<ArchitectureEntry, 4> kArchitectures{{
    {"llama", RopeType::Normal, build_llama},
    {"qwen2", RopeType::Neox, build_qwen2},
    {"qwen3", RopeType::Neox, build_qwen3},
    {"qwen3moe", RopeType::Neox, build_qwen3moe},
}};

}  // namespace

const ArchitectureEntry* find_architecture(std::string_view name) {
  for (const ArchitectureEntry& entry : kArchitectures)
    if (entry.name == name) return &entry;
  return nullptr;
}

std::string architecture_names() {
  std::string names;
  for (const ArchitectureEntry& entry : kArchitectures)
    names += (names.empty() ? "" : ", ") + std::string(entry.name);
  return names;
}

void bind_embedding_and_output(const HParams& hp, WeightBinder& binder, Matrix& token_embd,
                               const float*& output_norm, Matrix& output) {
  token_embd = binder.matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
  output_norm = binder.vector("output_norm.weight", hp.n_embd);
  output = binder.optional_matrix("output.weight", hp.n_embd, hp.n_vocab);
  if (!output) output = token_embd;
}

}  // namespace gengyun::model
