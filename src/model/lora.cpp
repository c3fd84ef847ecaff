#include "model/lora.h"

#include <cmath>
#include <deque>
#include <map>
#include <vector>

#include "kernels/dequantize.h"
#include "model/model.h"

namespace gengyun::model {
namespace {

constexpr std::string_view kSuffixA = ".lora_a";
constexpr std::string_view kSuffixB = ".lora_b";

std::string shape_string(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

/// b ([n_out, rank] in its own type, ggml's row layout; the binder has checked that its rows
/// can be dequantized) as f32 [rank, n_out], row-major.
std::vector<float> transposed_f32(const Matrix& b) {
  const int64_t rank = b.n_in, n_out = b.n_out;
  const size_t row_bytes = gguf::ggml_row_size(b.type(), rank);
  std::vector<float> row(static_cast<size_t>(rank));
  std::vector<float> transposed(static_cast<size_t>(rank * n_out));
  for (int64_t o = 0; o < n_out; ++o) {
    kernels::dequantize_row(b.type(), static_cast<const uint8_t*>(b.data()) + o * row_bytes,
                            row.data(), rank);
    for (int64_t r = 0; r < rank; ++r) transposed[r * n_out + o] = row[r];
  }
  return transposed;
}

/// The adapter's A and B tensors of one base tensor.
struct TensorPair {
  const gguf::TensorInfo* a = nullptr;
  const gguf::TensorInfo* b = nullptr;
};

}  // namespace

Result<std::unique_ptr<LoraAdapter>> LoraAdapter::load(const Model& base, const std::string& path,
                                                       float scale, gguf::FileMemory memory) {
  Result<gguf::File> file = gguf::File::open(path, memory);
  if (!file) return file.error();
  return load(base, std::make_shared<const gguf::File>(std::move(file).value()), scale);
}

Result<void> check_not_an_adapter(const gguf::File& file) {
  if (file.get_string("general.type") == "adapter")
    return make_error(
        "a LoRA adapter (general.type is 'adapter'), not a model; apply it to its base model with "
        "--lora");
  return {};
}

Result<std::unique_ptr<LoraAdapter>> LoraAdapter::load(const Model& base,
                                                       std::shared_ptr<const gguf::File> file,
                                                       float scale) {
  const std::string& name = file->name();
  const auto fail = [&name](const std::string& message) { return Error{name + ": " + message}; };
  if (!std::isfinite(scale)) return fail("the LoRA scale must be a finite number");
  const std::optional<std::string> type = file->get_string("general.type");
  if (type != "adapter")
    return fail("not a LoRA adapter: general.type is " +
                (type ? gguf::quoted_text(*type) : std::string("missing")) +
                ", expected 'adapter'");
  const std::optional<std::string> adapter_type = file->get_string("adapter.type");
  if (adapter_type != "lora")
    return fail("not a LoRA adapter: adapter.type is " +
                (adapter_type ? gguf::quoted_text(*adapter_type) : std::string("missing")) +
                ", expected 'lora'");
  const std::optional<std::string> arch = file->get_string("general.architecture");
  if (arch != base.hparams().arch)
    return fail("the adapter is for architecture " +
                (arch ? gguf::quoted_text(*arch) : "(missing)") + " but the base model is '" +
                base.hparams().arch + "'");
  const double alpha = file->get_float("adapter.lora.alpha").value_or(0.0);
  if (!std::isfinite(alpha)) return fail("adapter.lora.alpha is not a finite number");

  // Pair the tensors by the base tensor they adapt, in file order.
  std::map<std::string, TensorPair> pairs;
  std::vector<std::string> order;
  for (const gguf::TensorInfo& t : file->tensors()) {
    const bool is_a = t.name.ends_with(kSuffixA), is_b = t.name.ends_with(kSuffixB);
    if (!is_a && !is_b)
      return fail("tensor " + gguf::quoted_text(t.name) +
                  " is not a LoRA tensor (its name must end in " + std::string(kSuffixA) + " or " +
                  std::string(kSuffixB) + ")");
    const std::string base_name = t.name.substr(0, t.name.size() - kSuffixA.size());
    auto [it, added] = pairs.try_emplace(base_name);
    if (added) order.push_back(base_name);
    (is_a ? it->second.a : it->second.b) = &t;
  }
  if (order.empty()) return fail("the adapter holds no tensors");

  std::unique_ptr<LoraAdapter> adapter(new LoraAdapter());
  std::deque<std::vector<float>> no_vectors;
  WeightBinder binder(*file, no_vectors);
  for (const std::string& base_name : order) {
    const TensorPair& pair = pairs.at(base_name);
    if (pair.a == nullptr || pair.b == nullptr)
      return fail("tensor '" + base_name + std::string(pair.a ? kSuffixA : kSuffixB) +
                  "' has no '" + base_name + std::string(pair.a ? kSuffixB : kSuffixA) + "'");
    const gguf::TensorInfo* w = base.file().find_tensor(base_name);
    if (w == nullptr)
      return fail("tensor '" + pair.a->name + "' adapts '" + base_name +
                  "', which the base model " + base.file().name() + " does not have");
    if (base_name == "token_embd.weight" || w->ne.size() != 2)
      return fail("tensor '" + pair.a->name + "': LoRA on '" + base_name + "' (shape " +
                  shape_string(w->ne) +
                  ") is not supported, only on the 2-D weight matrices of "
                  "the layers and the output");
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    if (pair.a->ne.size() != 2 || pair.a->ne[0] != n_in)
      return fail("tensor '" + pair.a->name + "' has shape " + shape_string(pair.a->ne) +
                  ", expected [" + std::to_string(n_in) + ", rank] for '" + base_name +
                  "' of shape " + shape_string(w->ne));
    const int64_t rank = pair.a->ne[1];
    LoraWeight lw;
    lw.a = binder.matrix(pair.a->name, n_in, rank);
    lw.b = binder.matrix(pair.b->name, rank, n_out);
    if (Result<void> bound = binder.finish(); !bound) return bound.error();
    lw.b_transposed = transposed_f32(lw.b);
    lw.scale = alpha != 0 ? scale * static_cast<float>(alpha) / static_cast<float>(rank) : scale;
    adapter->weights_.emplace(w, lw);
    adapter->max_rank_ = std::max(adapter->max_rank_, rank);
  }
  adapter->file_ = std::move(file);
  adapter->scale_ = scale;
  adapter->alpha_ = static_cast<float>(alpha);
  return adapter;
}

size_t LoraAdapter::memory_bytes() const {
  size_t bytes = 0;
  for (const auto& [w, lw] : weights_)
    bytes += lw.a.tensor->n_bytes + lw.b.tensor->n_bytes + lw.b_transposed.size() * sizeof(float);
  return bytes;
}

}  // namespace gengyun::model
