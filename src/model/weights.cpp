#include "model/weights.h"


#include "kernels/dequantize.h"
#include "kernels/type_kernels.h"

namespace gengyun::model {
namespace {

std::string shape_string(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// The layout whose decode product the active level has for a matrix of n_rows rows (per
// expert) of n_in elements: kRowGroups16 (AMX: Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K; AVX-512 on
// Intel's CPUs: Q8_0) before kBlockGroups16, else kGgml (every product would convert the rows
// back).
kernels::WeightLayout decode_layout(gguf::GgmlType type, int64_t n_in, int64_t n_rows) {
  const kernels::TypeKernels& k = kernels::type_kernels(type);
  if (k.vec_dot_row_groups16 != nullptr &&
      kernels::layout_supported(type, kernels::WeightLayout::kRowGroups16, n_in, n_rows))
    return kernels::WeightLayout::kRowGroups16;
  if (k.vec_dot_groups16 != nullptr &&
      kernels::layout_supported(type, kernels::WeightLayout::kBlockGroups16, n_in, n_rows))
    return kernels::WeightLayout::kBlockGroups16;
  return kernels::WeightLayout::kGgml;
}

}  // namespace

Result<int> arrange_weights(gguf::File& file) {
  int arranged = 0;
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const gguf::TensorInfo& t = file.tensors()[i];
    if ((t.ne.size() != 2 && t.ne.size() != 3) || t.layout != 0) continue;
    // Every row of every expert; a group of kRowGroups16 holds rows of one expert.
    const gguf::GgmlType type = t.type;
    const int64_t n_in = t.ne[0], n_out = t.ne[1] * (t.ne.size() == 3 ? t.ne[2] : 1);
    const kernels::WeightLayout layout = decode_layout(type, n_in, t.ne[1]);
    if (layout == kernels::WeightLayout::kGgml) continue;
    Result<void> ok = file.rewrite_tensor(i, static_cast<uint8_t>(layout), [&](uint8_t* data) {
      kernels::to_layout(type, layout, data, n_in, n_out);
    });
    if (!ok) return ok.error();
    ++arranged;
  }
  return arranged;
}

WeightBinder::WeightBinder(const gguf::File& file, std::deque<std::vector<float>>& vectors)
    : file_(file), vectors_(vectors) {}

std::string WeightBinder::layer_name(int layer, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

void WeightBinder::fail(std::string message) {
  if (!error_) error_ = Error{file_.name() + ": " + std::move(message)};
}

Result<void> WeightBinder::finish() const {
  if (error_) return *error_;
  return {};
}

const gguf::TensorInfo* WeightBinder::lookup(const std::string& name, bool required,
                                             const std::vector<int64_t>& ne) {
  if (error_) return nullptr;
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    if (required) fail("tensor '" + name + "' is missing");
    return nullptr;
  }
  if (t->ne != ne) {
    fail("tensor '" + name + "' has shape " + shape_string(t->ne) + ", expected " +
         shape_string(ne));
    return nullptr;
  }
  if (Result<void> computable = kernels::check_dequantizable(t->type, t->ne[0]); !computable) {
    fail("tensor '" + name + "': " + computable.error().message);
    return nullptr;
  }
  return t;
}

Matrix WeightBinder::matrix(const std::string& name, int64_t n_in, int64_t n_out) {
  const gguf::TensorInfo* t = lookup(name, true, {n_in, n_out});
  return t ? Matrix{t, n_in, n_out} : Matrix{};
}

Matrix WeightBinder::optional_matrix(const std::string& name, int64_t n_in, int64_t n_out) {
  const gguf::TensorInfo* t = lookup(name, false, {n_in, n_out});
  return t ? Matrix{t, n_in, n_out} : Matrix{};
}

ExpertMatrices WeightBinder::experts(const std::string& name, int64_t n_in, int64_t n_out,
                                     int64_t n_expert) {
  const gguf::TensorInfo* t = lookup(name, true, {n_in, n_out, n_expert});
  return t ? ExpertMatrices{t, n_in, n_out, n_expert} : ExpertMatrices{};
}

size_t ExpertMatrices::expert_bytes() const {
  return gguf::ggml_row_size(tensor->type, n_in) * static_cast<size_t>(n_out);
}

const void* ExpertMatrices::expert(int64_t e) const {
  return static_cast<const uint8_t*>(tensor->data) + static_cast<size_t>(e) * expert_bytes();
}

const float* WeightBinder::vector(const std::string& name, int64_t n) {
  const gguf::TensorInfo* t = lookup(name, true, {n});
  if (t == nullptr) return nullptr;
  std::vector<float>& v = vectors_.emplace_back(static_cast<size_t>(n));
  kernels::dequantize_row(t->type, t->data, v.data(), n);
  return v.data();
}

const float* WeightBinder::optional_vector(const std::string& name, int64_t n) {
  if (error_ || file_.find_tensor(name) == nullptr) return nullptr;
  return vector(name, n);
}

}  // namespace gengyun::model
