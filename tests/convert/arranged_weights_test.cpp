// Weights rearranged for decode (model::arrange_weights) give the logits of the file's layout
// bit for bit: models quantized here to each type that has a rearranged layout, a prompt of 9
// tokens (one pass: batched kernels) and three single decode steps (the layout's vec_dot), at
// every SIMD level the CPU has that decodes in the layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <vector>

#include "convert/quantize_model.h"
#include "convert/quantize_type.h"
#include "gguf/gguf.h"
#include "kernels/simd_level.h"
#include "kernels/thread_pool.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_layout.h"
#include "model/model.h"
#include "model/weights.h"
#include "quantize_test_util.h"
#include "testdata.h"

namespace gengyun::convert {
namespace {

// The logits of the prompt's every position, then of three decode steps.
std::vector<float> logits_of(const std::string& path, bool arrange, int& arranged) {
  auto file = gguf::File::open(path, gguf::FileMemory::kAnonymous);
  EXPECT_TRUE(file.ok());
  if (!file.ok()) return {};
  arranged = 0;
  if (arrange) {
    Result<int> n = model::arrange_weights(file.value());
    EXPECT_TRUE(n.ok());
    arranged = n.ok() ? n.value() : 0;
  }
  auto model = model::Model::load(std::make_shared<const gguf::File>(std::move(file).value()));
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message);
  if (!model.ok()) return {};
  kernels::ThreadPool pool(2);
  model::Context context(*model.value(), 64, pool);
  std::vector<float> all, out;
  EXPECT_TRUE(
      context.eval(std::vector<int32_t>{1, 17, 99, 250, 3, 42, 7, 128, 64}, true, out).ok());
  all = out;
  for (int32_t token : {5, 77, 300}) {
    EXPECT_TRUE(context.eval(std::vector<int32_t>{token}, false, out).ok());
    all.insert(all.end(), out.begin(), out.end());
  }
  return all;
}

// At every SIMD level the CPU has whose table decodes some type in the layout (kAvx2,
// kAvx512 and kAmx: all eleven; at kAmx Q8_0, Q4_0, Q5_0 and the K-quants, at kAvx512 Q8_0 on
// Intel's CPUs, in kRowGroups16 where the rows come in sixteens), each model's matrices of those
// types are rearranged and the logits keep their bits.
TEST(ArrangedWeights, LogitsAreTheBitsOfTheFileLayout) {
  REQUIRE_TESTDATA();
  using gguf::GgmlType;
  const GgmlType arrangeable[] = {GgmlType::Q8_0, GgmlType::Q4_0,   GgmlType::Q5_0, GgmlType::Q4_1,
                                  GgmlType::Q5_1, GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K,
                                  GgmlType::Q4_K, GgmlType::Q5_K,   GgmlType::Q6_K};
  const kernels::SimdLevel before = kernels::simd_level();
  int levels = 0;
  for (kernels::SimdLevel level : kernels::kSimdLevels) {
    if (level > kernels::cpu_simd_level()) continue;
    ASSERT_TRUE(kernels::set_simd_level(level).ok());
    auto decoded_in_layout = [](GgmlType t) {
      return kernels::type_kernels(t).vec_dot_groups16 != nullptr;
    };
    if (std::none_of(std::begin(arrangeable), std::end(arrangeable), decoded_in_layout)) continue;
    ++levels;
    for (QuantizeType type :
         {QuantizeType::Q8_0, QuantizeType::Q4_0, QuantizeType::Q5_0, QuantizeType::Q4_1,
          QuantizeType::Q5_1, QuantizeType::IQ4_NL, QuantizeType::Q2_K, QuantizeType::Q3_K_M,
          QuantizeType::Q4_K_M, QuantizeType::Q5_K_M, QuantizeType::Q6_K}) {
      const std::string path = quantize_test::temp_path("model.gguf");
      auto quantized =
          quantize_model(testing::testdata_path("models/qwen2-tiny-f32.gguf"), path, type, 2);
      ASSERT_TRUE(quantized.ok()) << quantized.error().message;
      int none = 0, arranged = 0;
      const std::vector<float> want = logits_of(path, false, none);
      const std::vector<float> got = logits_of(path, true, arranged);
      // Every matrix of the file's tensors of a type the level decodes in the layout
      // (qwen2-tiny: 14 in its 2 layers, and token_embd.weight, the output matrix too; Q2_K,
      // Q3_K_M, Q4_K_M and Q5_K_M mix Q2_K / Q3_K / Q4_K / Q5_K with others and Q6_K).
      auto file = gguf::File::open(path);
      ASSERT_TRUE(file.ok());
      int matrices = 0, expected = 0, of_type = 0;  // of_type: of the type's own default type
      const GgmlType own = quantize_type_info(type).default_type;
      for (const gguf::TensorInfo& t : file->tensors()) {
        if (t.ne.size() != 2) continue;
        of_type += t.type == own;
        const bool layout_type = std::find(std::begin(arrangeable), std::end(arrangeable),
                                           t.type) != std::end(arrangeable);
        matrices += layout_type;
        expected += layout_type && decoded_in_layout(t.type);
      }
      const std::string where = std::string(kernels::simd_level_name(level)) + " " +
                                std::to_string(static_cast<int>(type));
      EXPECT_EQ(matrices, 15) << where;
      EXPECT_GT(of_type, 0) << where;
      if (decoded_in_layout(own)) {
        EXPECT_EQ(expected, 15) << where;
      }
      EXPECT_EQ(arranged, expected) << where;
      ASSERT_EQ(want.size(), got.size());
      ASSERT_FALSE(want.empty());
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0) << where;
      std::filesystem::remove(path);
    }
  }
  ASSERT_TRUE(kernels::set_simd_level(before).ok());
  if (levels == 0)
    GTEST_SKIP() << "no SIMD level of this CPU decodes in kBlockGroups16 (AVX2 and AVX-512 do)";
}

// The stacked experts of a mixture of experts are rearranged too (every expert's rows alike):
// every matrix of the file at `path` that a layout takes is rearranged (kBlockGroups16, or
// kRowGroups16 where the level decodes the type in it and the rows come in groups of 16), the
// experts of `expert_type` among them, and the logits keep their bits.
void expect_experts_arranged(const std::string& path, gguf::GgmlType expert_type) {
  auto file = gguf::File::open(path);
  ASSERT_TRUE(file.ok());
  int expected = 0, experts = 0;
  for (const gguf::TensorInfo& t : file->tensors()) {
    const bool row_groups =
        kernels::type_kernels(t.type).vec_dot_row_groups16 != nullptr &&
        kernels::layout_supported(t.type, kernels::WeightLayout::kRowGroups16, t.ne[0], t.ne[1]);
    const bool arrangeable =
        (t.ne.size() == 2 || t.ne.size() == 3) &&
        (row_groups || kernels::layout_supported(t.type, kernels::WeightLayout::kBlockGroups16,
                                                 t.ne[0], t.ne[1]));
    expected += arrangeable;
    experts += arrangeable && t.ne.size() == 3 && t.type == expert_type;
  }
  EXPECT_GT(experts, 0) << path;
  int none = 0, arranged = 0;
  const std::vector<float> want = logits_of(path, false, none);
  const std::vector<float> got = logits_of(path, true, arranged);
  EXPECT_EQ(arranged, expected) << path;
  ASSERT_EQ(want.size(), got.size());
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0) << path;
}

// qwen3moe-tiny's Q4_K_M file as llama.cpp quantized it (Q4_K experts).
TEST(ArrangedWeights, MixtureOfExpertsLogitsAreTheBitsOfTheFileLayout) {
  REQUIRE_TESTDATA();
  if (kernels::type_kernels(gguf::GgmlType::Q4_K).vec_dot_groups16 == nullptr)
    GTEST_SKIP() << "this CPU's SIMD level has no kBlockGroups16 decode kernel (AVX-512 has)";
  expect_experts_arranged(testing::testdata_path("models/qwen3moe-tiny-q4_k_m.gguf"),
                          gguf::GgmlType::Q4_K);
}

// qwen3moe-tiny quantized here to Q6_K: Q6_K experts (ffn_gate_exps, ffn_up_exps; the rows of
// 192 of ffn_down_exps take llama.cpp's fallback type).
TEST(ArrangedWeights, Q6_KExpertsLogitsAreTheBitsOfTheFileLayout) {
  REQUIRE_TESTDATA();
  if (kernels::type_kernels(gguf::GgmlType::Q6_K).vec_dot_groups16 == nullptr)
    GTEST_SKIP() << "this CPU's SIMD level has no kBlockGroups16 decode kernel (AVX-512 has)";
  const std::string path = quantize_test::temp_path("moe.gguf");
  auto quantized = quantize_model(testing::testdata_path("models/qwen3moe-tiny-f32.gguf"), path,
                                  QuantizeType::Q6_K, 2);
  ASSERT_TRUE(quantized.ok()) << quantized.error().message;
  expect_experts_arranged(path, gguf::GgmlType::Q6_K);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace gengyun::convert
