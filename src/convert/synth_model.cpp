#include "convert/synth_model.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

#include "convert/quantize_model.h"
#include "convert/quantize_type.h"
#include "convert/synth_vocab.h"
#include "gguf/gguf_writer.h"
#include "kernels/float16.h"
#include "util/removed_on_signal.h"
#include "util/splitmix64.h"

namespace gengyun::convert {
namespace {

/// The output must not be the vocabulary file: writing it would destroy the input while it is
/// still mapped.
Result<void> check_output_is_not_vocab(const gguf::File& vocab, const std::string& path) {
  if (gguf::overwrites(vocab.name(), path))
    return make_error(path + ": is the --vocab file; write the synthetic model to another path");
  return {};
}

/// Creates an empty file named `path` + `suffix` + six random characters (mkstemp), a name no
/// other run of the same output takes. Returns that name; the error names `path`.
Result<std::string> create_file_beside(const std::string& path, const std::string& suffix) {
  std::string name = path + suffix + "XXXXXX";
  const int fd = ::mkstemp(name.data());
  if (fd < 0) return make_error(path + ": cannot be written: " + std::strerror(errno));
  ::close(fd);
  return name;
}

/// Fails before any work (minutes for a large shape) where `path` cannot be written: empty, a
/// folder or other non-regular file, in a folder that does not exist or takes no files, written by
/// another process (its OUT.tmp locked: gguf::check_not_being_written). Tries a
/// file of a name of its own beside `path` (created and removed), so as not to touch a
/// temporary that another writer of `path` holds.
Result<void> check_output_can_be_written(const std::string& path) {
  if (Result<void> r = gguf::check_output_path(path); !r) return r;
  if (Result<void> r = gguf::check_not_being_written(path); !r) return r;
  Result<std::string> probe = create_file_beside(path, ".");
  if (!probe) return probe.error();
  std::remove(probe->c_str());
  return {};
}

/// Removes the F32 files (`path`.f32.XXXXXX, and their .tmp) that a killed run writing `path`
/// left beside it: a signal removes them, SIGKILL or a crash cannot, and each is the model's
/// size in F32 (QA: gigabytes no later run removed). Called with `path` claimed
/// (gguf::OutputClaim): no other run is writing it, so no such file is in use.
void remove_orphaned_f32_files(const std::string& path) {
  const std::filesystem::path output(path);
  const std::string prefix = output.filename().string() + ".f32.";
  std::error_code ec;
  const std::filesystem::path folder =
      output.has_parent_path() ? output.parent_path() : std::filesystem::path(".");
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string_view rest = std::string_view(name).substr(prefix.size());
    if (rest.ends_with(".tmp")) rest.remove_suffix(4);
    const bool mkstemp_name = rest.size() == 6 && std::all_of(rest.begin(), rest.end(), [](char c) {
                                return std::isalnum(static_cast<unsigned char>(c)) != 0;
                              });
    if (mkstemp_name && entry.is_regular_file(ec)) std::filesystem::remove(entry.path(), ec);
  }
}

uint64_t tensor_seed(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return splitmix64(seed ^ h);
}

/// Uniform in (-1, 1) from the top 24 bits of a hash.
float unit_value(uint64_t tensor_key, int64_t index) {
  const uint64_t z = splitmix64(tensor_key + static_cast<uint64_t>(index) * kSplitMix64Gamma);
  return static_cast<float>((static_cast<double>(z >> 40) + 0.5) * 0x1.0p-23 - 1.0);
}

/// llama.cpp's general.file_type (enum llama_ftype) of an all-`type` model.
uint32_t file_type_of(gguf::GgmlType type) {
  switch (type) {
    case gguf::GgmlType::F16:
      return 1;
    case gguf::GgmlType::BF16:
      return 32;
    default:
      return 0;
  }
}

void set_hparams(const SynthShape& s, gguf::Writer& w) {
  const std::string a(s.arch);
  w.set_string("general.architecture", a);
  w.set_string("general.name", "synth-" + std::string(s.name));
  w.set_u32(a + ".context_length", s.n_ctx_train);
  w.set_u32(a + ".embedding_length", s.n_embd);
  w.set_u32(a + ".block_count", s.n_layer);
  w.set_u32(a + ".feed_forward_length", s.n_ff);
  w.set_u32(a + ".attention.head_count", s.n_head);
  w.set_u32(a + ".attention.head_count_kv", s.n_head_kv);
  if (s.head_dim * s.n_head != s.n_embd) {
    w.set_u32(a + ".attention.key_length", s.head_dim);
    w.set_u32(a + ".attention.value_length", s.head_dim);
  }
  if (s.arch == "llama") w.set_u32(a + ".rope.dimension_count", s.head_dim);
  w.set_f32(a + ".rope.freq_base", s.rope_freq_base);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  if (s.n_expert > 0) {
    w.set_u32(a + ".expert_count", s.n_expert);
    w.set_u32(a + ".expert_used_count", s.n_expert_used);
    w.set_u32(a + ".expert_feed_forward_length", s.n_ff_exp);
  }
  if (s.pooling_type > 0) w.set_u32(a + ".pooling_type", static_cast<uint32_t>(s.pooling_type));
}

/// Fills `out` (the tensor's bytes in `type`) on the pool, rows in parallel.
void fill_tensor(const SynthTensor& t, gguf::GgmlType type, uint64_t seed, std::span<uint8_t> out,
                 kernels::ThreadPool& pool) {
  const int64_t n_in = t.ne[0];
  int64_t n_rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) n_rows *= t.ne[i];
  const size_t row_bytes = gguf::ggml_row_size(type, n_in);
  const uint64_t key = tensor_seed(seed, t.name);
  const float scale = static_cast<float>(std::sqrt(3.0 / static_cast<double>(n_in)));
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end) {
    std::vector<float> row(n_in);
    std::vector<uint16_t> half(type == gguf::GgmlType::F32 ? 0 : n_in);
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t i = 0; i < n_in; ++i) {
        switch (t.fill) {
          case SynthFill::Matrix:
            row[i] = scale * unit_value(key, r * n_in + i);
            break;
          case SynthFill::Ones:
            row[i] = 1.0f;
            break;
          case SynthFill::Zeros:
            row[i] = 0.0f;
            break;
        }
      }
      uint8_t* dst = out.data() + r * row_bytes;
      if (type == gguf::GgmlType::F32) {
        std::memcpy(dst, row.data(), row_bytes);
        continue;
      }
      for (int64_t i = 0; i < n_in; ++i)
        half[i] = type == gguf::GgmlType::F16 ? kernels::fp32_to_fp16(row[i]) : kernels::fp32_to_bf16(row[i]);
      std::memcpy(dst, half.data(), row_bytes);
    }
  });
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
  });
}

/// The float type (F32, F16 or BF16) that `type` names, case-insensitive; nullopt for another.
std::optional<gguf::GgmlType> synth_float_type(std::string_view type) {
  for (gguf::GgmlType t : {gguf::GgmlType::F32, gguf::GgmlType::F16, gguf::GgmlType::BF16})
    if (equal_ignoring_case(type, gguf::ggml_type_info(t).name)) return t;
  return std::nullopt;
}

/// The error for a `type` that write_synth_model does not write, listing the known ones.
Error unknown_synth_type(std::string_view type) {
  return make_error("unknown type '" + std::string(type) + "' (known: F32, " +
                    quantize_type_names() + ")");
}

/// Bytes of `t` stored as `matrix_type` (1-D tensors are always F32).
uint64_t tensor_bytes(const SynthTensor& t, gguf::GgmlType matrix_type) {
  const gguf::GgmlType type = t.ne.size() == 1 ? gguf::GgmlType::F32 : matrix_type;
  uint64_t rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) rows *= static_cast<uint64_t>(t.ne[i]);
  return gguf::ggml_row_size(type, t.ne[0]) * rows;
}

/// Deletes a file (if any) when it goes out of scope, or when a signal ends the process
/// (util::install_removal_on_signal).
struct RemovedOnExit {
  std::string path;
  util::RemovedOnSignal on_signal{path};
  ~RemovedOnExit() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

}  // namespace

std::vector<SynthTensor> synth_tensors(const SynthShape& s) {
  const int64_t q_dim = int64_t{s.n_head} * s.head_dim;
  const int64_t kv_dim = int64_t{s.n_head_kv} * s.head_dim;
  std::vector<SynthTensor> t;
  t.push_back({"token_embd.weight", {s.n_embd, s.n_vocab}, SynthFill::Matrix});
  for (int il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    t.push_back({p + "attn_norm.weight", {s.n_embd}, SynthFill::Ones});
    t.push_back({p + "attn_q.weight", {s.n_embd, q_dim}, SynthFill::Matrix});
    if (s.qkv_bias) t.push_back({p + "attn_q.bias", {q_dim}, SynthFill::Zeros});
    t.push_back({p + "attn_k.weight", {s.n_embd, kv_dim}, SynthFill::Matrix});
    if (s.qkv_bias) t.push_back({p + "attn_k.bias", {kv_dim}, SynthFill::Zeros});
    t.push_back({p + "attn_v.weight", {s.n_embd, kv_dim}, SynthFill::Matrix});
    if (s.qkv_bias) t.push_back({p + "attn_v.bias", {kv_dim}, SynthFill::Zeros});
    if (s.qk_norm) {
      t.push_back({p + "attn_q_norm.weight", {s.head_dim}, SynthFill::Ones});
      t.push_back({p + "attn_k_norm.weight", {s.head_dim}, SynthFill::Ones});
    }
    t.push_back({p + "attn_output.weight", {q_dim, s.n_embd}, SynthFill::Matrix});
    t.push_back({p + "ffn_norm.weight", {s.n_embd}, SynthFill::Ones});
    if (s.n_expert > 0) {
      t.push_back({p + "ffn_gate_inp.weight", {s.n_embd, s.n_expert}, SynthFill::Matrix});
      t.push_back({p + "ffn_gate_exps.weight", {s.n_embd, s.n_ff_exp, s.n_expert}, SynthFill::Matrix});
      t.push_back({p + "ffn_up_exps.weight", {s.n_embd, s.n_ff_exp, s.n_expert}, SynthFill::Matrix});
      t.push_back({p + "ffn_down_exps.weight", {s.n_ff_exp, s.n_embd, s.n_expert}, SynthFill::Matrix});
      continue;
    }
    t.push_back({p + "ffn_gate.weight", {s.n_embd, s.n_ff}, SynthFill::Matrix});
    t.push_back({p + "ffn_up.weight", {s.n_embd, s.n_ff}, SynthFill::Matrix});
    t.push_back({p + "ffn_down.weight", {s.n_ff, s.n_embd}, SynthFill::Matrix});
  }
  t.push_back({"output_norm.weight", {s.n_embd}, SynthFill::Ones});
  if (!s.tied_output) t.push_back({"output.weight", {s.n_embd, s.n_vocab}, SynthFill::Matrix});
  return t;
}

float synth_matrix_value(uint64_t seed, const std::string& name, int64_t n_in, int64_t index) {
  const float scale = static_cast<float>(std::sqrt(3.0 / static_cast<double>(n_in)));
  return scale * unit_value(tensor_seed(seed, name), index);
}

Result<void> write_synth_float_model(const SynthShape& shape, gguf::GgmlType float_type,
                                     const gguf::File& vocab, uint64_t seed,
                                     const std::string& path, kernels::ThreadPool& pool,
                                     const SynthProgress& progress) {
  if (auto r = check_output_is_not_vocab(vocab, path); !r) return r;
  if (float_type != gguf::GgmlType::F32 && float_type != gguf::GgmlType::F16 &&
      float_type != gguf::GgmlType::BF16)
    return make_error("synthetic weights are written as F32, F16 or BF16, not " +
                      std::string(gguf::ggml_type_info(float_type).name));
  gguf::Writer w;
  set_hparams(shape, w);
  if (Result<void> r = copy_fitted_tokenizer(vocab, shape.n_vocab, w); !r) return r;
  if (shape.pooling_type > 0) w.set_bool("tokenizer.ggml.add_eos_token", true);
  w.set_u32("general.file_type", file_type_of(float_type));

  const std::vector<SynthTensor> tensors = synth_tensors(shape);
  uint64_t total_bytes = 0;
  for (const SynthTensor& t : tensors) total_bytes += tensor_bytes(t, float_type);
  uint64_t done_bytes = 0;
  for (const SynthTensor& t : tensors) {
    const gguf::GgmlType type = t.ne.size() == 1 ? gguf::GgmlType::F32 : float_type;
    Result<void> added = w.add_tensor(
        t.name, type, t.ne,
        [&, type](std::span<uint8_t> out) -> Result<void> {
          fill_tensor(t, type, seed, out, pool);
          done_bytes += out.size();
          if (progress) progress("random weights", done_bytes, total_bytes);
          return {};
        });
    if (!added) return added.error();
  }
  return w.write(path);
}

Result<void> check_synth_type(std::string_view type) {
  if (synth_float_type(type) || parse_quantize_type(type)) return {};
  return unknown_synth_type(type);
}

Result<void> write_synth_model(const SynthShape& shape, std::string_view type,
                               const gguf::File& vocab, uint64_t seed, const std::string& path,
                               kernels::ThreadPool& pool, const SynthProgress& progress) {
  if (auto r = check_output_is_not_vocab(vocab, path); !r) return r;
  if (auto r = check_output_can_be_written(path); !r) return r;
  if (const std::optional<gguf::GgmlType> float_type = synth_float_type(type))
    return write_synth_float_model(shape, *float_type, vocab, seed, path, pool, progress);
  auto quantize_type = parse_quantize_type(type);
  if (!quantize_type) return unknown_synth_type(type);

  // The output is claimed (OUT.tmp locked) through the random weights, which go first to a file
  // of their own: a second run writing it meanwhile is refused at its start (QA).
  Result<gguf::OutputClaim> claim = gguf::OutputClaim::take(path);
  if (!claim) return claim.error();
  remove_orphaned_f32_files(path);
  // The F32 weights go to a file of a name of its own beside the output (OUT.f32.XXXXXX), so
  // that two runs writing one output never share, or remove, each other's.
  Result<std::string> created = create_file_beside(path, ".f32.");
  if (!created) return created.error();
  const std::string& f32_path = created.value();
  const RemovedOnExit f32_file{f32_path};
  Result<void> written = write_synth_float_model(shape, gguf::GgmlType::F32, vocab, seed, f32_path, pool, progress);
  if (!written) return written;
  uint64_t total_bytes = 0;
  for (const SynthTensor& t : synth_tensors(shape)) total_bytes += tensor_bytes(t, gguf::GgmlType::F32);
  uint64_t done_bytes = 0;
  claim->release();  // the quantizer's writer locks OUT.tmp anew
  auto quantized = quantize_model(f32_path, path, quantize_type.value(), pool.size(),
                                  [&](const QuantizeProgress& p) {
                                    done_bytes += p.bytes_in;
                                    if (progress) progress("quantize", done_bytes, total_bytes);
                                  });
  if (!quantized) return quantized.error();
  return {};
}

}  // namespace gengyun::convert
