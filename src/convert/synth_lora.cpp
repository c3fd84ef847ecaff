#include "convert/synth_lora.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "convert/synth_model.h"
#include "gguf/gguf_writer.h"

namespace gengyun::convert {

bool synth_lora_target(const gguf::TensorInfo& t) {
  if (t.ne.size() != 2 || !t.name.starts_with("blk.")) return false;
  for (const char* suffix :
       {".attn_q.weight", ".attn_k.weight", ".attn_v.weight", ".attn_output.weight",
        ".ffn_gate.weight", ".ffn_up.weight", ".ffn_down.weight"})
    if (t.name.ends_with(suffix)) return true;
  return false;
}

Result<void> write_synth_lora(const gguf::File& base, int64_t rank, float alpha, uint64_t seed,
                              const std::string& path) {
  if (gguf::overwrites(base.name(), path))
    return make_error(path + ": is the base model; write the adapter to another path");
  if (rank < 1) return make_error("the LoRA rank must be at least 1, not " + std::to_string(rank));
  if (!std::isfinite(alpha))
    return make_error("the LoRA alpha must be a finite number, not " + std::to_string(alpha));
  // A rank above a matrix's smaller side adds nothing a full-rank update has not.
  for (const gguf::TensorInfo& t : base.tensors())
    if (synth_lora_target(t) && rank > std::min(t.ne[0], t.ne[1]))
      return make_error("the LoRA rank " + std::to_string(rank) + " is above the smaller side of " +
                        t.name + " (" + std::to_string(t.ne[0]) + " x " + std::to_string(t.ne[1]) +
                        "); at most " + std::to_string(std::min(t.ne[0], t.ne[1])));
  const std::optional<std::string> arch = base.get_string("general.architecture");
  if (!arch) return make_error(base.name() + ": key 'general.architecture' is missing");
  gguf::Writer writer;
  writer.set_string("general.architecture", *arch);
  writer.set_string("general.type", "adapter");
  writer.set_string("adapter.type", "lora");
  writer.set_f32("adapter.lora.alpha", alpha);
  int n_targets = 0;
  for (const gguf::TensorInfo& t : base.tensors()) {
    if (!synth_lora_target(t)) continue;
    ++n_targets;
    const int64_t n_in = t.ne[0], n_out = t.ne[1];
    for (const bool is_a : {true, false}) {
      const std::string name = t.name + (is_a ? ".lora_a" : ".lora_b");
      const int64_t row = is_a ? n_in : rank;
      std::vector<int64_t> ne =
          is_a ? std::vector<int64_t>{n_in, rank} : std::vector<int64_t>{rank, n_out};
      Result<void> added =
          writer.add_tensor(name, gguf::GgmlType::F32, std::move(ne),
                            [seed, name, row](std::span<uint8_t> out) -> Result<void> {
                              const int64_t n = static_cast<int64_t>(out.size() / sizeof(float));
                              for (int64_t i = 0; i < n; ++i) {
                                const float v = synth_matrix_value(seed, name, row, i);
                                std::memcpy(out.data() + i * sizeof(float), &v, sizeof v);
                              }
                              return {};
                            });
      if (!added) return added.error();
    }
  }
  if (n_targets == 0)
    return make_error(base.name() + ": no attention or feed-forward matrices to adapt");
  return writer.write(path);
}

}  // namespace gengyun::convert
