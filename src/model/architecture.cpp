#include "model/architecture.h"

#include <array>

namespace gengyun::model {
namespace {

constexpr std::array<ArchitectureEntry, 3> kArchitectures{{
    {"llama", RopeType::Normal, build_llama},
    {"qwen2", RopeType::Neox, build_qwen2},
    {"qwen3", RopeType::Neox, build_qwen3},
}};

}  // namespace

const ArchitectureEntry* find_architecture(std::string_view name) {
  for (const ArchitectureEntry& entry : kArchitectures)
    if (entry.name == name) return &entry;
  return nullptr;
}

}  // namespace gengyun::model
