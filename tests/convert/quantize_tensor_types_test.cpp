// The per-tensor type rules of llama.cpp's quantizer on hand-made tensor lists: which tensors
// are kept, the output / tied-embedding rule, the _M mixes' per-layer bumps, the fallbacks for
// row lengths that are not a multiple of the block size, and the processing order.
#include "convert/quantize_tensor_types.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "quantize_test_util.h"

namespace gengyun::convert {
namespace {

using gguf::GgmlType;

gguf::TensorInfo tensor(std::string name, std::vector<int64_t> ne, GgmlType type = GgmlType::F32) {
  gguf::TensorInfo t;
  t.name = std::move(name);
  t.ne = std::move(ne);
  t.type = type;
  return t;
}

/// name -> chosen type, for tensors given in processing order.
std::map<std::string, GgmlType> choose(const QuantizeModelFacts& facts, QuantizeType type,
                                       const std::vector<gguf::TensorInfo>& tensors) {
  std::vector<const gguf::TensorInfo*> ptrs;
  for (const auto& t : tensors) ptrs.push_back(&t);
  const Result<std::vector<GgmlType>> types = choose_tensor_types(facts, type, ptrs);
  EXPECT_TRUE(types.ok()) << types.error().message;
  std::map<std::string, GgmlType> out;
  if (!types.ok()) return out;
  for (size_t i = 0; i < tensors.size(); ++i) out[tensors[i].name] = types.value()[i];
  return out;
}

/// A dense model of n_layer blocks in llama.cpp's order, rows of 256.
std::vector<gguf::TensorInfo> dense_model(int n_layer, bool with_output) {
  std::vector<gguf::TensorInfo> ts;
  if (with_output) ts.push_back(tensor("output.weight", {256, 1000}));
  ts.push_back(tensor("output_norm.weight", {256}));
  ts.push_back(tensor("token_embd.weight", {256, 1000}));
  for (int i = 0; i < n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    for (const char* n : {"attn_k.weight", "attn_norm.weight", "attn_output.weight",
                          "attn_q.weight", "attn_v.weight", "ffn_down.weight", "ffn_gate.weight",
                          "ffn_norm.weight", "ffn_up.weight"}) {
      const std::string name = p + n;
      ts.push_back(name.find("norm") != std::string::npos ? tensor(name, {256})
                                                          : tensor(name, {256, 256}));
    }
  }
  return ts;
}

QuantizeModelFacts facts(int n_layer, int n_gqa = 2) {
  QuantizeModelFacts f;
  f.arch = "llama";
  f.n_layer = n_layer;
  f.n_gqa = n_gqa;
  return f;
}

std::string layer_name(int i, const char* what) { return "blk." + std::to_string(i) + "." + what; }

TEST(QuantizeTensorTypesTest, Q4_K_M_BumpsAttnVAndFfnDownOnTheUseMoreBitsLayers) {
  // llama.cpp's use_more_bits for 32 layers: the first and last 4, and 6, 9, ..., 27.
  const std::vector<int> more_bits = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  const auto types = choose(facts(32), QuantizeType::Q4_K_M, dense_model(32, false));
  for (int i = 0; i < 32; ++i) {
    const bool bumped = std::find(more_bits.begin(), more_bits.end(), i) != more_bits.end();
    EXPECT_EQ(types.at(layer_name(i, "attn_v.weight")), bumped ? GgmlType::Q6_K : GgmlType::Q4_K)
        << i;
    EXPECT_EQ(types.at(layer_name(i, "ffn_down.weight")), bumped ? GgmlType::Q6_K : GgmlType::Q4_K)
        << i;
    EXPECT_EQ(types.at(layer_name(i, "attn_q.weight")), GgmlType::Q4_K) << i;
    EXPECT_EQ(types.at(layer_name(i, "attn_norm.weight")), GgmlType::F32) << i;
  }
  EXPECT_EQ(types.at("token_embd.weight"), GgmlType::Q6_K);  // tied: treated as the output
  EXPECT_EQ(types.at("output_norm.weight"), GgmlType::F32);
}

TEST(QuantizeTensorTypesTest, Q3_K_M_Rules) {
  const auto types = choose(facts(32), QuantizeType::Q3_K_M, dense_model(32, false));
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(types.at(layer_name(i, "attn_v.weight")), i < 2 ? GgmlType::Q5_K : GgmlType::Q4_K)
        << i;
    EXPECT_EQ(types.at(layer_name(i, "ffn_down.weight")), i < 2 ? GgmlType::Q5_K : GgmlType::Q4_K)
        << i;
    EXPECT_EQ(types.at(layer_name(i, "attn_output.weight")), GgmlType::Q4_K) << i;
    EXPECT_EQ(types.at(layer_name(i, "ffn_up.weight")), GgmlType::Q3_K) << i;
  }
}

TEST(QuantizeTensorTypesTest, UntiedOutputTakesTheOutputRule) {
  const auto types = choose(facts(2), QuantizeType::Q4_0, dense_model(2, true));
  EXPECT_EQ(types.at("output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(types.at("token_embd.weight"), GgmlType::Q4_0);
  const auto q8 = choose(facts(2), QuantizeType::Q8_0, dense_model(2, true));
  EXPECT_EQ(q8.at("output.weight"), GgmlType::Q8_0);
}

TEST(QuantizeTensorTypesTest, Q2_K_AttnVDependsOnGroupedQueryRatio) {
  EXPECT_EQ(
      choose(facts(2, 2), QuantizeType::Q2_K, dense_model(2, false)).at("blk.0.attn_v.weight"),
      GgmlType::Q3_K);
  EXPECT_EQ(
      choose(facts(2, 4), QuantizeType::Q2_K, dense_model(2, false)).at("blk.0.attn_v.weight"),
      GgmlType::Q4_K);
  EXPECT_EQ(
      choose(facts(2, 4), QuantizeType::IQ4_NL, dense_model(2, false)).at("blk.0.attn_v.weight"),
      GgmlType::Q5_K);
}

TEST(QuantizeTensorTypesTest, SeventyBillionClassAndExperts) {
  QuantizeModelFacts f = facts(80);
  f.is_70b = true;
  // Layer 11 of 80 is not a use_more_bits layer: Q4_K, raised to Q5_K for the 70B class.
  EXPECT_EQ(choose(f, QuantizeType::Q4_K_M, dense_model(80, false)).at("blk.11.attn_v.weight"),
            GgmlType::Q5_K);
  EXPECT_EQ(
      choose(facts(80), QuantizeType::Q4_K_M, dense_model(80, false)).at("blk.11.attn_v.weight"),
      GgmlType::Q4_K);
  QuantizeModelFacts moe = facts(2);
  moe.n_expert = 8;
  const auto types = choose(moe, QuantizeType::Q4_K_M, dense_model(2, false));
  EXPECT_EQ(types.at("blk.0.attn_v.weight"), GgmlType::Q8_0);
  EXPECT_EQ(types.at("blk.0.attn_k.weight"), GgmlType::Q8_0);
  EXPECT_EQ(types.at("blk.0.attn_output.weight"), GgmlType::Q5_K);
}

TEST(QuantizeTensorTypesTest, ExpertTensorWithoutALayerNumberIsAnError) {
  QuantizeModelFacts moe = facts(2);
  moe.n_expert = 8;
  const gguf::TensorInfo bad = tensor("ffn_down_exps.weight", {256, 256, 8});
  const gguf::TensorInfo* ptrs[] = {&bad};
  const Result<std::vector<GgmlType>> r = choose_tensor_types(moe, QuantizeType::Q4_K_M, ptrs);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot determine the layer of tensor 'ffn_down_exps.weight'"),
            std::string::npos);
  const gguf::TensorInfo far = tensor("blk.7.ffn_up_exps.weight", {256, 256, 8});
  const gguf::TensorInfo* far_ptrs[] = {&far};
  const Result<std::vector<GgmlType>> r2 = choose_tensor_types(moe, QuantizeType::Q4_K_M, far_ptrs);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("names layer 7, outside [0, 2)"), std::string::npos)
      << r2.error().message;
}

TEST(QuantizeTensorTypesTest, KeptTensors) {
  const std::vector<gguf::TensorInfo> ts = {
      tensor("blk.0.attn_q.bias", {256}),
      tensor("blk.0.attn_q_norm.weight", {128, 1}),
      tensor("blk.0.ffn_gate_inp.weight", {256, 8}),
      tensor("position_embd.weight", {256, 512}),
      tensor("blk.0.attn_k.weight", {256, 1}),
      tensor("blk.0.attn_q.weight", {256, 256}, GgmlType::F16),
  };
  const auto types = choose(facts(1), QuantizeType::Q8_0, ts);
  EXPECT_EQ(types.at("blk.0.attn_q.bias"), GgmlType::F32);
  EXPECT_EQ(types.at("blk.0.attn_q_norm.weight"), GgmlType::F32);
  EXPECT_EQ(types.at("blk.0.ffn_gate_inp.weight"), GgmlType::F32);
  EXPECT_EQ(types.at("position_embd.weight"), GgmlType::F32);
  EXPECT_EQ(types.at("blk.0.attn_k.weight"), GgmlType::F32);  // [256, 1] counts as 1-D
  EXPECT_EQ(types.at("blk.0.attn_q.weight"), GgmlType::Q8_0);
  const auto bf16 = choose(facts(1), QuantizeType::BF16, ts);
  EXPECT_EQ(bf16.at("blk.0.attn_q.weight"), GgmlType::BF16);
  EXPECT_EQ(bf16.at("blk.0.attn_q.bias"), GgmlType::F32);
}

TEST(QuantizeTensorTypesTest, FallbacksForRowLengthsOffTheBlockSize) {
  // 96 is a multiple of 32, not of 256; 48 of neither.
  const std::vector<gguf::TensorInfo> ts = {
      tensor("token_embd.weight", {96, 100}), tensor("blk.0.attn_q.weight", {96, 64}),
      tensor("blk.0.attn_v.weight", {48, 64}), tensor("blk.0.ffn_down.weight", {96, 64})};
  const auto k4 = choose(facts(1), QuantizeType::Q4_K_M, ts);
  EXPECT_EQ(k4.at("token_embd.weight"), GgmlType::Q8_0);    // output rule: Q8_0 off the block size
  EXPECT_EQ(k4.at("blk.0.attn_q.weight"), GgmlType::Q5_0);  // Q4_K -> Q5_0
  EXPECT_EQ(k4.at("blk.0.attn_v.weight"), GgmlType::F16);   // Q6_K -> Q8_0 does not fit 48 either
  EXPECT_EQ(k4.at("blk.0.ffn_down.weight"), GgmlType::Q8_0);  // Q6_K -> Q8_0
  const auto k5 = choose(facts(1), QuantizeType::Q5_K_M, ts);
  EXPECT_EQ(k5.at("blk.0.attn_q.weight"), GgmlType::Q5_1);
  const auto k2 = choose(facts(1), QuantizeType::Q2_K, ts);
  EXPECT_EQ(k2.at("blk.0.attn_q.weight"), GgmlType::Q4_0);
  EXPECT_EQ(k2.at("blk.0.ffn_down.weight"), GgmlType::Q4_0);  // Q3_K -> Q4_0
}

TEST(QuantizeTensorTypesTest, OutputOffTheQ8_0BlockSizeIsAnError) {
  const gguf::TensorInfo t = tensor("token_embd.weight", {48, 100});
  const gguf::TensorInfo* ptrs[] = {&t};
  const Result<std::vector<GgmlType>> r = choose_tensor_types(facts(1), QuantizeType::Q6_K, ptrs);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a multiple of the q8_0 block size 32"), std::string::npos)
      << r.error().message;
}

TEST(QuantizeTensorTypesTest, ProcessingOrderIsByLayerNumberThenName) {
  const std::string path = quantize_test::temp_path("order.gguf");
  std::vector<quantize_test::F32Tensor> ts;
  for (const char* name : {"blk.10.attn_q.weight", "blk.2.ffn_up.weight", "token_embd.weight",
                           "blk.2.attn_q.weight", "output_norm.weight", "blk.0.attn_v.weight"}) {
    ts.push_back(quantize_test::make_f32(name, {32}));
  }
  quantize_test::write_model(path, ts, 11);
  Result<gguf::File> file = gguf::File::open(path);
  ASSERT_TRUE(file.ok());
  std::vector<std::string> names;
  for (const gguf::TensorInfo* t : tensors_in_quantize_order(file.value()))
    names.push_back(t->name);
  EXPECT_EQ(names, (std::vector<std::string>{"output_norm.weight", "token_embd.weight",
                                             "blk.0.attn_v.weight", "blk.2.attn_q.weight",
                                             "blk.2.ffn_up.weight", "blk.10.attn_q.weight"}));
  std::filesystem::remove(path);
}

TEST(QuantizeTensorTypesTest, ReadsModelFacts) {
  const std::string path = quantize_test::temp_path("facts.gguf");
  quantize_test::write_model(path, {quantize_test::make_f32("blk.0.attn_q.weight", {32, 2})}, 3);
  Result<gguf::File> file = gguf::File::open(path);
  ASSERT_TRUE(file.ok());
  const Result<QuantizeModelFacts> f = read_quantize_model_facts(file.value());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->arch, "llama");
  EXPECT_EQ(f->n_layer, 3);
  EXPECT_EQ(f->n_gqa, 2);
  EXPECT_EQ(f->n_expert, 0);
  EXPECT_FALSE(f->is_70b);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace gengyun::convert
