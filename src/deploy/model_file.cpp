#include "deploy/model_file.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "gguf/gguf.h"
#include "model/architecture.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/lora.h"

namespace gengyun::deploy {

std::string file_type_name(int64_t file_type) {
  // llama_ftype values (llama.h); 4-6 and 33-35 are retired.
  static const std::map<int64_t, std::string> kNames = {
      {0, "F32"},      {1, "F16"},      {2, "Q4_0"},      {3, "Q4_1"},    {7, "Q8_0"},
      {8, "Q5_0"},     {9, "Q5_1"},     {10, "Q2_K"},     {11, "Q3_K_S"}, {12, "Q3_K_M"},
      {13, "Q3_K_L"},  {14, "Q4_K_S"},  {15, "Q4_K_M"},   {16, "Q5_K_S"}, {17, "Q5_K_M"},
      {18, "Q6_K"},    {19, "IQ2_XXS"}, {20, "IQ2_XS"},   {21, "Q2_K_S"}, {22, "IQ3_XS"},
      {23, "IQ3_XXS"}, {24, "IQ1_S"},   {25, "IQ4_NL"},   {26, "IQ3_S"},  {27, "IQ3_M"},
      {28, "IQ2_S"},   {29, "IQ2_M"},   {30, "IQ4_XS"},   {31, "IQ1_M"},  {32, "BF16"},
      {36, "TQ1_0"},   {37, "TQ2_0"},   {38, "MXFP4_MOE"}};
  const auto it = kNames.find(file_type);
  return it == kNames.end() ? std::string() : it->second;
}

namespace {

/// The ggml type holding the most bytes of 2-D tensors, upper-cased ("Q4_K"): the
/// quantization of a file without general.file_type.
std::string dominant_type(const gguf::File& file) {
  std::map<std::string, size_t> bytes;
  for (const gguf::TensorInfo& t : file.tensors())
    if (t.ne.size() >= 2) bytes[std::string(gguf::ggml_type_info(t.type).name)] += t.n_bytes;
  if (bytes.empty()) return "";
  std::string name = std::max_element(bytes.begin(), bytes.end(), [](const auto& a, const auto& b) {
                       return a.second < b.second;
                     })->first;
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

ModelFile inspect_model_file(const std::string& path) {
  ModelFile out;
  out.path = path;
  // The header alone, read rather than mapped: a file rewritten while a rescan reads it gives
  // an error, not SIGBUS (QA: `cp -p` over a served file during rescans ended the server).
  auto file = gguf::File::open(path, gguf::FileMemory::kPrefix);
  if (!file.ok()) {
    out.error = file.error().message;
    return out;
  }
  out.size_bytes = static_cast<int64_t>(file->size());
  out.architecture = file->get_string("general.architecture").value_or("");
  const std::optional<int64_t> file_type = file->get_int("general.file_type");
  out.quantization = file_type ? file_type_name(*file_type) : "";
  if (out.quantization.empty()) out.quantization = dominant_type(file.value());
  if (file->tensors().empty()) {
    // (QA: a GGUF of no keys at all was said to hold a tokenizer.)
    out.error = file->get_string("tokenizer.ggml.model")
                    ? "a vocab-only GGUF (it holds a tokenizer but no weights)"
                    : "a GGUF without tensors or a tokenizer: no model";
    return out;
  }
  if (Result<void> model = model::check_not_an_adapter(file.value()); !model) {
    out.error = model.error().message;
    return out;
  }
  if (out.architecture.empty()) {
    out.error = "key 'general.architecture' is missing";
    return out;
  }
  const model::ArchitectureEntry* entry = model::find_architecture(out.architecture);
  if (entry == nullptr) {
    out.error = "unsupported architecture " + gguf::quoted_text(out.architecture);
    // (a hostile file's name would go whole into every /v1/models answer; QA 2026-12-07, 3 MB)
    out.architecture = gguf::printable_text(out.architecture);
    return out;
  }
  auto hp = model::read_hparams(file.value(), out.architecture, entry->rope_type);
  if (!hp.ok()) {
    out.error = hp.error().message;
    return out;
  }
  out.context_length = hp->n_ctx_train;
  out.n_layer = hp->n_layer;
  out.n_head_kv = hp->n_head_kv;
  out.head_dim = hp->head_dim;
  out.embedding = hp->pooling != model::PoolingType::None;
  return out;
}

int64_t kv_cache_bytes_for(const ModelFile& file, int64_t n_tokens, KvCacheType type) {
  constexpr int64_t kBlock = model::KvCache::kBlockSize;
  const int64_t blocks = (n_tokens + kBlock - 1) / kBlock;
  return blocks * static_cast<int64_t>(model::KvCache::block_bytes(file.n_layer, file.n_head_kv,
                                                                   file.head_dim, type));
}

int64_t kv_cache_positions_for(const ModelFile& file, int64_t bytes, KvCacheType type) {
  const auto block_bytes = static_cast<int64_t>(
      model::KvCache::block_bytes(file.n_layer, file.n_head_kv, file.head_dim, type));
  return block_bytes > 0 ? bytes / block_bytes * model::KvCache::kBlockSize : 0;
}

}  // namespace gengyun::deploy
