// Reading the reference GGUF files of ../shared/testdata: concrete metadata facts, and every
// model's tensor list checked against dequant/<model>.json (names, order, types, shapes, and
// for f32 tensors the exact bytes through first16 and the FNV-1a hash).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "testdata.h"

namespace gengyun::gguf {
namespace {

using ::gengyun::testing::testdata_path;

File open_or_fail(const std::string& relative) {
  Result<File> f = File::open(testdata_path(relative));
  if (!f.ok()) throw std::runtime_error(f.error().message);
  return std::move(f).value();
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  if (!::gengyun::testing::testdata_present()) return names;
  for (const auto& e : std::filesystem::directory_iterator(testdata_path("models")))
    if (e.path().extension() == ".gguf") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(GgufTestdata, Qwen2TinyF32Facts) {
  REQUIRE_TESTDATA();
  const File f = open_or_fail("models/qwen2-tiny-f32.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset(), 61856u);
  EXPECT_EQ(f.size(), 8410528u);
  EXPECT_EQ(f.metadata().size(), 21u);
  EXPECT_EQ(f.metadata().front().first, "general.architecture");
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f.get_string("general.name"), "qwen2-tiny");
  EXPECT_EQ(f.find("qwen2.embedding_length")->type, ValueType::UINT32);
  EXPECT_EQ(f.get_int("qwen2.embedding_length"), 256);
  EXPECT_EQ(f.get_int("qwen2.block_count"), 2);
  EXPECT_EQ(f.get_int("qwen2.attention.head_count_kv"), 2);
  EXPECT_EQ(f.get_int("qwen2.feed_forward_length"), 768);
  EXPECT_EQ(f.find("qwen2.rope.freq_base")->type, ValueType::FLOAT32);
  EXPECT_EQ(f.get_float("qwen2.rope.freq_base"), 1000000.0);
  EXPECT_EQ(f.get_float("qwen2.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-6f));
  EXPECT_EQ(f.get_bool("tokenizer.ggml.add_bos_token"), false);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 1995);

  const Array* tokens = f.get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->elem_type, ValueType::STRING);
  ASSERT_EQ(tokens->items.size(), 2000u);
  EXPECT_EQ(*tokens->items.front().as_string(), "!");
  EXPECT_EQ(*tokens->items.back().as_string(), "</think>");
  const Array* types = f.get_array("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->elem_type, ValueType::INT32);
  EXPECT_EQ(types->items.back().as_int(), 4);
  EXPECT_EQ(f.get_array("tokenizer.ggml.merges")->items.size(), 1737u);
  EXPECT_EQ(*f.get_array("tokenizer.ggml.merges")->items[2].as_string(), "i n");
  const std::optional<std::string> tmpl = f.get_string("tokenizer.chat_template");
  ASSERT_TRUE(tmpl.has_value());
  EXPECT_EQ(tmpl->rfind("{%- if tools %}", 0), 0u);

  // Typed getters refuse other types; absent keys give nothing.
  EXPECT_EQ(f.get_int("general.architecture"), std::nullopt);
  EXPECT_EQ(f.get_string("qwen2.block_count"), std::nullopt);
  EXPECT_EQ(f.get_bool("qwen2.block_count"), std::nullopt);
  EXPECT_EQ(f.get_int("qwen2.rope.freq_base"), std::nullopt);
  EXPECT_EQ(f.get_float("qwen2.block_count"), 2.0);
  EXPECT_EQ(f.get_array("qwen2.block_count"), nullptr);
  EXPECT_EQ(f.find("qwen2.no_such_key"), nullptr);
  EXPECT_EQ(f.get_int("qwen2.no_such_key"), std::nullopt);

  ASSERT_EQ(f.tensors().size(), 26u);
  const TensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd, &f.tensors().front());
  EXPECT_EQ(embd->type, GgmlType::F32);
  EXPECT_EQ(embd->ne, (std::vector<int64_t>{256, 2000}));
  EXPECT_EQ(embd->n_elements(), 512000);
  EXPECT_EQ(embd->n_rows(), 2000);
  EXPECT_EQ(embd->offset, 0u);
  EXPECT_EQ(embd->n_bytes, 2048000u);
  float first;
  std::memcpy(&first, embd->data, sizeof first);
  EXPECT_EQ(first, -0.400959194f);
  const TensorInfo* norm = f.find_tensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->ne, (std::vector<int64_t>{256}));
  EXPECT_EQ(norm->n_rows(), 1);
  EXPECT_EQ(norm->offset, 2048000u);
  EXPECT_EQ(f.find_tensor("blk.9.attn_q.weight"), nullptr);
}

TEST(GgufTestdata, Stories260KFacts) {
  REQUIRE_TESTDATA();
  const File f = open_or_fail("models/stories260K-f32.gguf");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 5);
  EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f.get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 8);
  EXPECT_EQ(f.get_int("tokenizer.ggml.seperator_token_id"), 4294967295);
  const Array* scores = f.get_array("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->elem_type, ValueType::FLOAT32);
  ASSERT_EQ(scores->items.size(), 512u);
  EXPECT_EQ(scores->items.back().as_double(), -252.0);
  EXPECT_EQ(*f.get_array("tokenizer.ggml.tokens")->items[1].as_string(), "<s>");
  EXPECT_EQ(f.tensors().size(), 48u);
  EXPECT_EQ(f.find_tensor("blk.4.ffn_down.weight")->ne, (std::vector<int64_t>{172, 64}));
}

TEST(GgufTestdata, VocabOnlyFiles) {
  REQUIRE_TESTDATA();
  const File qwen = open_or_fail("tokenizer/qwen-vocab.gguf");
  EXPECT_TRUE(qwen.tensors().empty());
  EXPECT_EQ(qwen.get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(qwen.get_array("tokenizer.ggml.tokens")->items.size(), 151669u);
  EXPECT_EQ(qwen.get_array("tokenizer.ggml.token_type")->items.size(), 151669u);
  EXPECT_EQ(qwen.get_array("tokenizer.ggml.merges")->items.size(), 151387u);
  EXPECT_EQ(qwen.get_int("tokenizer.ggml.eos_token_id"), 151645);
  EXPECT_EQ(qwen.get_int("tokenizer.ggml.bos_token_id"), 151643);

  // This file ends right after its metadata, without padding to the alignment.
  const File spm = open_or_fail("tokenizer/llama-spm-vocab.gguf");
  EXPECT_TRUE(spm.tensors().empty());
  EXPECT_EQ(spm.size(), 723869u);
  EXPECT_GT(spm.data_offset(), spm.size());
  EXPECT_EQ(spm.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(spm.get_int("llama.vocab_size"), 32000);
  EXPECT_EQ(spm.get_array("tokenizer.ggml.scores")->items.size(), 32000u);
  EXPECT_EQ(spm.get_array("tokenizer.ggml.scores")->items.back().as_double(), -31740.0);
  EXPECT_EQ(spm.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(spm.get_bool("tokenizer.ggml.add_eos_token"), false);
}

TEST(GgufTestdata, LoraAdapters) {
  REQUIRE_TESTDATA();
  const File a = open_or_fail("lora/qwen2-tiny-lora-a.gguf");
  EXPECT_EQ(a.get_string("general.type"), "adapter");
  EXPECT_EQ(a.get_string("adapter.type"), "lora");
  EXPECT_EQ(a.get_float("adapter.lora.alpha"), 16.0);
  EXPECT_EQ(a.tensors().size(), 12u);
  EXPECT_EQ(a.find_tensor("blk.0.attn_q.weight.lora_a")->ne, (std::vector<int64_t>{256, 8}));
  EXPECT_EQ(a.find_tensor("blk.0.attn_q.weight.lora_b")->ne, (std::vector<int64_t>{8, 256}));
  const File b = open_or_fail("lora/qwen2-tiny-lora-b.gguf");
  EXPECT_EQ(b.get_float("adapter.lora.alpha"), 4.0);
  EXPECT_EQ(b.find_tensor("blk.0.attn_v.weight.lora_b")->ne, (std::vector<int64_t>{4, 128}));
}

TEST(GgufTestdata, EveryModelMatchesDequantReference) {
  REQUIRE_TESTDATA();
  // The dense models of issue 2 have dequant/ references; the MoE and embedding models added
  // since (moe/, embeddings/) are checked by their own references.
  std::vector<std::string> models;
  for (const std::string& name : model_names())
    if (!name.starts_with("qwen3moe-") && !name.starts_with("qwen3-embed-")) models.push_back(name);
  ASSERT_EQ(models.size(), 21u);
  for (const std::string& model : models) {
    SCOPED_TRACE(model);
    const File f = open_or_fail("models/" + model + ".gguf");
    std::ifstream in(testdata_path("dequant/" + model + ".json"));
    ASSERT_TRUE(in) << "missing dequant/" << model << ".json";
    const nlohmann::json ref = nlohmann::json::parse(in);
    const auto& ref_tensors = ref.at("tensors");
    ASSERT_EQ(f.tensors().size(), ref_tensors.size());
    size_t f32_checked = 0;
    for (size_t i = 0; i < ref_tensors.size(); ++i) {
      const auto& rt = ref_tensors[i];
      const TensorInfo& t = f.tensors()[i];
      SCOPED_TRACE(t.name);
      EXPECT_EQ(t.name, rt.at("name").get<std::string>());
      EXPECT_EQ(f.find_tensor(t.name), &t);
      EXPECT_EQ(ggml_type_info(t.type).name, rt.at("type").get<std::string>());
      // The reference lists at least 2 dims ([256, 1] for a 1-D [256]); compare padded to 4.
      std::vector<int64_t> ne = t.ne, ref_ne = rt.at("ne").get<std::vector<int64_t>>();
      ASSERT_LE(ne.size(), ref_ne.size());
      ne.resize(kMaxDims, 1);
      ref_ne.resize(kMaxDims, 1);
      EXPECT_EQ(ne, ref_ne);
      EXPECT_EQ(t.n_bytes, ggml_row_size(t.type, t.ne[0]) * static_cast<size_t>(t.n_rows()));
      EXPECT_EQ(t.data, f.tensors()[0].data - f.tensors()[0].offset + t.offset);
      EXPECT_EQ((f.data_offset() + t.offset) % f.alignment(), 0u);
      if (t.type == GgmlType::F32) {
        const auto first16 = rt.at("first16").get<std::vector<float>>();
        for (size_t k = 0; k < first16.size(); ++k) {
          float v;
          std::memcpy(&v, t.data + 4 * k, 4);
          EXPECT_EQ(v, first16[k]) << "element " << k;
        }
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(testing::testdata_fnv1a64(t.data, t.n_bytes)));
        EXPECT_EQ(std::string(hex), rt.at("fnv1a64_f32").get<std::string>());
        ++f32_checked;
      }
    }
    EXPECT_GT(f32_checked, 0u) << "every model holds f32 norm weights";
  }
}

}  // namespace
}  // namespace gengyun::gguf
