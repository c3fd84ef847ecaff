#include "convert/quantize_tensor_types.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <string_view>

namespace gengyun::convert {
namespace {

using gguf::GgmlType;

/// Broad roles of tensors, from their names (llama-quant.cpp tensor_get_category).
enum class Category {
  TokenEmbd,
  AttentionQ,
  AttentionV,
  AttentionK,
  AttentionQKV,
  AttentionKVB,
  AttentionOutput,
  FfnUp,
  FfnGate,
  FfnDown,
  Output,
  Other
};

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight")
    return Category::TokenEmbd;
  if (contains(name, "attn_qkv.weight")) return Category::AttentionQKV;
  if (contains(name, "attn_kv_b.weight")) return Category::AttentionKVB;
  if (contains(name, "attn_v.weight")) return Category::AttentionV;
  if (contains(name, "attn_k.weight")) return Category::AttentionK;
  if (contains(name, "attn_q.weight")) return Category::AttentionQ;
  if (contains(name, "attn_output.weight")) return Category::AttentionOutput;
  if (contains(name, "ffn_up")) return Category::FfnUp;
  if (contains(name, "ffn_gate")) return Category::FfnGate;
  if (contains(name, "ffn_down")) return Category::FfnDown;
  return Category::Other;
}

/// Attention-V-like tensors, the most sensitive to quantization.
bool is_attn_v(Category c) {
  return c == Category::AttentionV || c == Category::AttentionQKV || c == Category::AttentionKVB;
}

/// ggml_n_dims: dimensions up to the last one larger than 1 (at least 1).
int n_dims(const gguf::TensorInfo& t) {
  int n = 1;
  for (size_t i = 0; i < t.ne.size(); ++i) {
    if (t.ne[i] > 1) n = static_cast<int>(i) + 1;
  }
  return n;
}

/// Name parts of weights llama.cpp keeps unquantized though they are matrices (small or
/// precision-critical tensors of various architectures).
constexpr std::array<std::string_view, 35> kKeptParts = {
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
};

/// llama-quant.cpp tensor_allows_quantization with the default parameters.
bool allows_quantization(const gguf::TensorInfo& t) {
  if (n_dims(t) < 2) return false;
  const std::string_view name = t.name;
  if (!name.ends_with("weight")) return false;
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  return std::ranges::none_of(kKeptParts,
                              [name](std::string_view part) { return contains(name, part); });
}

/// The layers that get more bits in the _M mixes: the first and last eighth and every third
/// one in between.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

int block_size(GgmlType type) { return static_cast<int>(gguf::ggml_type_info(type).block_size); }

std::string type_name(GgmlType type) { return std::string(gguf::ggml_type_info(type).name); }

/// Counters of the tensors of each role seen so far (llama.cpp's quantize_state_impl).
struct ChoiceState {
  const QuantizeModelFacts& facts;
  QuantizeType ftype;
  bool tied_embeddings = true;
  int n_attention_wv = 0;
  int i_attention_wv = 0;
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
};

/// The layer a per-layer rule uses: the running count of such tensors, or for mixture-of-experts
/// models (whose expert tensors need not come in layer order) the number in the name.
Result<int> layer_of(const ChoiceState& s, int counter, const std::string& name) {
  if (s.facts.n_expert <= 1) return counter;
  int i_layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &i_layer) != 1)
    return make_error("cannot determine the layer of tensor '" + name + "'");
  if (i_layer < 0 || i_layer >= s.facts.n_layer)
    return make_error("tensor '" + name + "' names layer " + std::to_string(i_layer) +
                      ", outside [0, " + std::to_string(s.facts.n_layer) + ")");
  return i_layer;
}

/// llama_tensor_get_type_impl for the types of QuantizeType.
Result<GgmlType> mix_type(ChoiceState& s, const gguf::TensorInfo& t, GgmlType new_type) {
  const QuantizeModelFacts& f = s.facts;
  const QuantizeType ftype = s.ftype;
  const bool falcon = f.arch == "falcon";
  const int n_layer = f.n_layer;
  const Category category = category_of(t.name);

  if (category == Category::Output || (s.tied_embeddings && category == Category::TokenEmbd)) {
    if (falcon || t.ne[0] % block_size(new_type) != 0) {
      new_type = GgmlType::Q8_0;
    } else if (new_type != GgmlType::Q8_0) {
      new_type = GgmlType::Q6_K;
    }
  } else if (is_attn_v(category)) {
    if (ftype == QuantizeType::Q2_K) {
      new_type = f.n_gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
    } else if (ftype == QuantizeType::Q3_K_M) {
      new_type = s.i_attention_wv < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
    } else if (ftype == QuantizeType::IQ4_NL && f.n_gqa >= 4) {
      new_type = GgmlType::Q5_K;
    } else if ((ftype == QuantizeType::Q4_K_M || ftype == QuantizeType::Q5_K_M) &&
               use_more_bits(s.i_attention_wv, s.n_attention_wv)) {
      new_type = GgmlType::Q6_K;
    }
    if (f.is_70b && (new_type == GgmlType::Q3_K || new_type == GgmlType::Q4_K))
      new_type = GgmlType::Q5_K;
    if (f.n_expert == 8) new_type = GgmlType::Q8_0;
    ++s.i_attention_wv;
  } else if (category == Category::AttentionK) {
    if (f.n_expert == 8) new_type = GgmlType::Q8_0;
  } else if (category == Category::FfnDown) {
    const Result<int> layer = layer_of(s, s.i_ffn_down, t.name);
    if (!layer) return layer.error();
    const int i_layer = layer.value();
    if (ftype == QuantizeType::Q2_K) {
      new_type = GgmlType::Q3_K;
    } else if (ftype == QuantizeType::Q3_K_M) {
      new_type = i_layer < n_layer / 16                       ? GgmlType::Q5_K
                 : !falcon || use_more_bits(i_layer, n_layer) ? GgmlType::Q4_K
                                                              : GgmlType::Q3_K;
    } else if (ftype == QuantizeType::Q4_K_M) {
      if (falcon) {
        new_type = i_layer < n_layer / 16            ? GgmlType::Q6_K
                   : use_more_bits(i_layer, n_layer) ? GgmlType::Q5_K
                                                     : GgmlType::Q4_K;
      } else if (use_more_bits(i_layer, n_layer)) {
        new_type = GgmlType::Q6_K;
      }
    } else if (i_layer < n_layer / 8 && ftype == QuantizeType::IQ4_NL) {
      new_type = GgmlType::Q5_K;
    } else if (ftype == QuantizeType::Q5_K_M && use_more_bits(i_layer, n_layer)) {
      new_type = GgmlType::Q6_K;
    }
    ++s.i_ffn_down;
  } else if (category == Category::AttentionOutput) {
    if (!falcon) {
      if (f.n_expert == 8) {
        if (ftype == QuantizeType::Q2_K || ftype == QuantizeType::Q3_K_M ||
            ftype == QuantizeType::IQ4_NL || ftype == QuantizeType::Q4_K_M)
          new_type = GgmlType::Q5_K;
      } else if (ftype == QuantizeType::Q2_K) {
        new_type = GgmlType::Q3_K;
      } else if (ftype == QuantizeType::Q3_K_M) {
        new_type = GgmlType::Q4_K;
      }
    }
  } else if (category == Category::FfnGate || category == Category::FfnUp) {
    // No rule of these mixes changes them, but a bad layer number is still an error.
    int& counter = category == Category::FfnGate ? s.i_ffn_gate : s.i_ffn_up;
    const Result<int> layer = layer_of(s, counter, t.name);
    if (!layer) return layer.error();
    ++counter;
  }
  return new_type;
}

/// tensor_type_fallback: a type whose block size divides the row length.
Result<GgmlType> fallback_type(const gguf::TensorInfo& t, GgmlType type) {
  const int64_t ncols = t.ne[0];
  if (ncols % block_size(type) == 0) return type;
  GgmlType fallback;
  switch (type) {
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
      fallback = GgmlType::Q4_0;
      break;
    case GgmlType::Q4_K:
      fallback = GgmlType::Q5_0;
      break;
    case GgmlType::Q5_K:
      fallback = GgmlType::Q5_1;
      break;
    case GgmlType::Q6_K:
      fallback = GgmlType::Q8_0;
      break;
    default:
      return make_error("tensor '" + t.name + "' has rows of " + std::to_string(ncols) +
                        " elements, not a multiple of the " + type_name(type) + " block size " +
                        std::to_string(block_size(type)) + ", and there is no fallback type for " +
                        type_name(type) + " (choose F16, BF16 or a K-quant type)");
  }
  if (ncols % block_size(fallback) != 0) fallback = GgmlType::F16;
  return fallback;
}

int metadata_int(const gguf::File& file, const std::string& key) {
  if (const gguf::Array* array = file.get_array(key)) {
    return array->items.empty() ? 0 : static_cast<int>(array->items.front().as_int().value_or(0));
  }
  return static_cast<int>(file.get_int(key).value_or(0));
}

}  // namespace

Result<QuantizeModelFacts> read_quantize_model_facts(const gguf::File& file) {
  QuantizeModelFacts f;
  const std::optional<std::string> arch = file.get_string("general.architecture");
  if (!arch || arch->empty())
    return make_error(file.name() + ": not a model (no general.architecture)");
  f.arch = *arch;
  const std::optional<int64_t> n_layer = file.get_int(f.arch + ".block_count");
  if (!n_layer || *n_layer <= 0 || *n_layer > std::numeric_limits<int>::max())
    return make_error(file.name() + ": not a model (" + f.arch +
                      ".block_count is missing or not a positive count)");
  f.n_layer = static_cast<int>(*n_layer);
  const int n_head = metadata_int(file, f.arch + ".attention.head_count");
  const int n_head_kv = file.find(f.arch + ".attention.head_count_kv") != nullptr
                            ? metadata_int(file, f.arch + ".attention.head_count_kv")
                            : n_head;
  f.n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 0;
  f.n_expert = metadata_int(file, f.arch + ".expert_count");
  f.is_70b = f.n_layer == 80 && ((f.arch == "llama" && n_head != n_head_kv) || f.arch == "qwen2");
  return f;
}

std::vector<const gguf::TensorInfo*> tensors_in_quantize_order(const gguf::File& file) {
  std::vector<const gguf::TensorInfo*> order;
  for (const gguf::TensorInfo& t : file.tensors()) order.push_back(&t);
  const auto layer = [](const std::string& name) {
    int i_layer = -1;
    std::sscanf(name.c_str(), "blk.%d.", &i_layer);
    return i_layer;
  };
  std::ranges::stable_sort(order, [&layer](const gguf::TensorInfo* a, const gguf::TensorInfo* b) {
    const int la = layer(a->name);
    const int lb = layer(b->name);
    if (la != lb) return la < lb;
    return a->name < b->name;
  });
  return order;
}

Result<std::vector<GgmlType>> choose_tensor_types(
    const QuantizeModelFacts& facts, QuantizeType type,
    std::span<const gguf::TensorInfo* const> tensors) {
  ChoiceState state{facts, type};
  for (const gguf::TensorInfo* t : tensors) {
    const Category c = category_of(t->name);
    if (is_attn_v(c)) ++state.n_attention_wv;
    if (c == Category::Output) state.tied_embeddings = false;
  }
  const GgmlType default_type = quantize_type_info(type).default_type;
  const bool quantized_default = default_type != GgmlType::F16 && default_type != GgmlType::BF16;
  std::vector<GgmlType> types;
  types.reserve(tensors.size());
  for (const gguf::TensorInfo* t : tensors) {
    if (!allows_quantization(*t)) {
      types.push_back(t->type);
      continue;
    }
    if (!quantized_default) {
      types.push_back(default_type);
      continue;
    }
    Result<GgmlType> mixed = mix_type(state, *t, default_type);
    if (!mixed) return mixed.error();
    Result<GgmlType> fitted = fallback_type(*t, mixed.value());
    if (!fitted) return fitted.error();
    types.push_back(fitted.value());
  }
  return types;
}

}  // namespace gengyun::convert
