#include "convert/quantize_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "convert/quantize_tensor_types.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "kernels/dequantize.h"
#include "kernels/quantize_weights.h"
#include "kernels/thread_pool.h"

namespace gengyun::convert {
namespace {

using gguf::GgmlType;

/// Keys llama.cpp's quantizer sets at the end or drops (GGML_QNT_VERSION is 2).
constexpr uint32_t kQuantizationVersion = 2;
constexpr std::string_view kDroppedKeys[] = {"general.quantization_version", "general.file_type",
                                             "split.no", "split.count", "split.tensors.count"};

bool is_float_type(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16;
}

std::string type_name(GgmlType type) { return std::string(gguf::ggml_type_info(type).name); }

/// The shape as ggml writes it: trailing dimensions of 1 dropped (ggml_n_dims), at least one.
std::vector<int64_t> written_shape(const std::vector<int64_t>& ne) {
  size_t n = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] > 1) n = i + 1;
  }
  return {ne.begin(), ne.begin() + static_cast<std::ptrdiff_t>(n)};
}

/// Converts every row of `t` (F32, F16 or BF16) to `to` in `out`, rows spread over the pool.
Result<void> convert_tensor(kernels::ThreadPool& pool, const gguf::TensorInfo& t, GgmlType to,
                            std::span<uint8_t> out) {
  const int64_t row_length = t.ne[0];
  const int64_t n_rows = t.n_rows();
  const size_t in_row_bytes = gguf::ggml_row_size(t.type, row_length);
  const size_t out_row_bytes = gguf::ggml_row_size(to, row_length);
  std::atomic<int64_t> first_bad_row{n_rows};
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(row_length));
    for (int64_t r = begin; r < end; ++r) {
      kernels::dequantize_row(t.type, t.data + r * in_row_bytes, row.data(), row_length);
      if (!std::ranges::all_of(row, [](float v) { return std::isfinite(v); })) {
        int64_t seen = first_bad_row.load();
        while (r < seen && !first_bad_row.compare_exchange_weak(seen, r)) {
        }
        return;
      }
      kernels::quantize_row(to, row.data(), out.data() + r * out_row_bytes, row_length);
    }
  });
  if (first_bad_row.load() < n_rows)
    return make_error("row " + std::to_string(first_bad_row.load()) +
                      " holds a NaN or infinite value; such a model cannot be quantized");
  return {};
}

}  // namespace

Result<QuantizeSummary> quantize_model(const std::string& in_path, const std::string& out_path,
                                       QuantizeType type, int n_threads,
                                       const QuantizeProgressFn& progress) {
  if (gguf::overwrites(in_path, out_path))
    return make_error(out_path + ": is the input file; write the quantized model to another path");
  Result<gguf::File> opened = gguf::File::open(in_path);
  if (!opened) return opened.error();
  const gguf::File& file = opened.value();
  Result<QuantizeModelFacts> facts = read_quantize_model_facts(file);
  if (!facts) return facts.error();
  if (file.tensors().empty()) return make_error(in_path + ": not a model (it holds no tensors)");

  const std::vector<const gguf::TensorInfo*> order = tensors_in_quantize_order(file);
  Result<std::vector<GgmlType>> chosen = choose_tensor_types(facts.value(), type, order);
  if (!chosen) return make_error(in_path + ": " + chosen.error().message);
  const std::vector<GgmlType>& types = chosen.value();
  for (size_t i = 0; i < order.size(); ++i) {
    const gguf::TensorInfo& t = *order[i];
    if (types[i] != t.type && !is_float_type(t.type))
      return make_error(in_path + ": tensor '" + t.name + "' is already quantized (" +
                        type_name(t.type) + "); quantize from an F32, F16 or BF16 model");
  }

  gguf::Writer writer;
  for (const auto& [key, value] : file.metadata()) {
    if (std::ranges::find(kDroppedKeys, key) == std::end(kDroppedKeys)) writer.set(key, value);
  }
  writer.set_u32("general.quantization_version", kQuantizationVersion);
  writer.set_u32("general.file_type", quantize_type_info(type).file_type);

  kernels::ThreadPool pool(n_threads);
  QuantizeSummary summary;
  summary.n_tensors = order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    const gguf::TensorInfo& t = *order[i];
    const GgmlType to = types[i];
    const uint64_t bytes_out = gguf::ggml_row_size(to, t.ne[0]) * static_cast<uint64_t>(t.n_rows());
    summary.bytes_in += t.n_bytes;
    summary.bytes_out += bytes_out;
    if (to != t.type) ++summary.n_quantized;
    const QuantizeProgress report{i, order.size(), t.name, t.type, to, t.n_bytes, bytes_out};
    Result<void> added = writer.add_tensor(
        t.name, to, written_shape(t.ne),
        [&pool, &t, to, report, &progress](std::span<uint8_t> out) -> Result<void> {
          if (to == t.type) {
            std::memcpy(out.data(), t.data, t.n_bytes);
          } else if (Result<void> r = convert_tensor(pool, t, to, out); !r) {
            return r;
          }
          if (progress) progress(report);
          return {};
        });
    if (!added) return make_error(in_path + ": " + added.error().message);
  }
  if (Result<void> r = writer.write(out_path); !r) return r.error();
  return summary;
}

}  // namespace gengyun::convert
