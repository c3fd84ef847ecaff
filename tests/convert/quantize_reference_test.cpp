// quantize_model against llama.cpp's quantizer: quantizing the f32 reference models must give,
// tensor by tensor, llama.cpp's type choices and bytes, and the same whole file (metadata
// included: there are no intended differences).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "convert/quantize_model.h"
#include "gguf/gguf.h"
#include "kernels/float16.h"
#include "quantize_test_util.h"
#include "testdata.h"

namespace gengyun::convert {
namespace {

using quantize_test::read_bytes;
using quantize_test::temp_path;
using testing::testdata_path;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Expects `actual` to equal the reference file, reporting the first difference: a metadata
/// key, a tensor's name, type, shape or first differing byte, then the whole image.
void expect_same_file(const std::string& actual_path, const std::string& reference_path) {
  Result<gguf::File> actual = gguf::File::open(actual_path);
  Result<gguf::File> reference = gguf::File::open(reference_path);
  ASSERT_TRUE(actual.ok()) << actual.error().message;
  ASSERT_TRUE(reference.ok()) << reference.error().message;

  const auto& got_kv = actual->metadata();
  const auto& want_kv = reference->metadata();
  ASSERT_EQ(got_kv.size(), want_kv.size());
  for (size_t i = 0; i < want_kv.size(); ++i) {
    ASSERT_EQ(got_kv[i].first, want_kv[i].first) << "metadata key #" << i;
    EXPECT_TRUE(got_kv[i].second == want_kv[i].second) << "value of " << want_kv[i].first;
  }

  const auto& got = actual->tensors();
  const auto& want = reference->tensors();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].name, want[i].name) << "tensor #" << i;
    ASSERT_EQ(gguf::ggml_type_info(got[i].type).name, gguf::ggml_type_info(want[i].type).name)
        << want[i].name;
    ASSERT_EQ(got[i].ne, want[i].ne) << want[i].name;
    ASSERT_EQ(got[i].n_bytes, want[i].n_bytes) << want[i].name;
    const auto mismatch = std::mismatch(got[i].data, got[i].data + got[i].n_bytes, want[i].data);
    EXPECT_EQ(mismatch.first, got[i].data + got[i].n_bytes)
        << want[i].name << ": first differing byte " << (mismatch.first - got[i].data) << " of "
        << want[i].n_bytes;
  }
  EXPECT_TRUE(read_bytes(actual_path) == read_bytes(reference_path)) << "whole file differs";
}

class QuantizeQwen2Test : public ::testing::TestWithParam<QuantizeType> {};

TEST_P(QuantizeQwen2Test, MatchesLlamaCppByteForByte) {
  REQUIRE_TESTDATA();
  const QuantizeType type = GetParam();
  const std::string name(quantize_type_info(type).name);
  const std::string out = temp_path(name + ".gguf");
  const Result<QuantizeSummary> r =
      quantize_model(testdata_path("models/qwen2-tiny-f32.gguf"), out, type, /*n_threads=*/2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_tensors, 26u);
  EXPECT_EQ(r->n_quantized, 15u);  // all 2-D weights; norms and biases stay f32
  expect_same_file(out, testdata_path("models/qwen2-tiny-" + lower(name) + ".gguf"));
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, QuantizeQwen2Test,
    ::testing::Values(QuantizeType::Q8_0, QuantizeType::Q4_0, QuantizeType::Q4_1,
                      QuantizeType::Q5_0, QuantizeType::Q5_1, QuantizeType::Q2_K,
                      QuantizeType::Q3_K_M, QuantizeType::Q4_K_M, QuantizeType::Q5_K_M,
                      QuantizeType::Q6_K, QuantizeType::IQ4_NL, QuantizeType::F16,
                      QuantizeType::BF16),
    [](const auto& info) { return std::string(quantize_type_info(info.param).name); });

// llama-tiny has a separate output.weight (untied embeddings), qwen3-tiny per-head norms,
// qwen3moe-tiny 3-D expert tensors and a router.
TEST(QuantizeModelTest, OtherArchitecturesMatchLlamaCpp) {
  REQUIRE_TESTDATA();
  for (const std::string model : {"llama-tiny", "qwen3-tiny", "qwen3moe-tiny"}) {
    for (const QuantizeType type : {QuantizeType::Q8_0, QuantizeType::Q4_K_M}) {
      const std::string name(quantize_type_info(type).name);
      SCOPED_TRACE(model + " " + name);
      const std::string out = temp_path(model + "-" + name + ".gguf");
      const Result<QuantizeSummary> r = quantize_model(
          testdata_path("models/" + model + "-f32.gguf"), out, type, /*n_threads=*/2);
      ASSERT_TRUE(r.ok()) << r.error().message;
      expect_same_file(out, testdata_path("models/" + model + "-" + lower(name) + ".gguf"));
      std::filesystem::remove(out);
    }
  }
}

TEST(QuantizeModelTest, ResultDoesNotDependOnThreadCount) {
  REQUIRE_TESTDATA();
  const std::string in = testdata_path("models/qwen2-tiny-f32.gguf");
  const std::string one = temp_path("1.gguf");
  const std::string three = temp_path("3.gguf");
  ASSERT_TRUE(quantize_model(in, one, QuantizeType::Q5_K_M, 1).ok());
  ASSERT_TRUE(quantize_model(in, three, QuantizeType::Q5_K_M, 3).ok());
  EXPECT_TRUE(read_bytes(one) == read_bytes(three));
  std::filesystem::remove(one);
  std::filesystem::remove(three);
}

// From an F16 model: weights are widened to f32 first, so F16 -> Q8_0 equals f32 -> F16 -> Q8_0,
// and F16 -> F16 copies every tensor unchanged (the file is rewritten identically).
TEST(QuantizeModelTest, QuantizesFromF16Models) {
  REQUIRE_TESTDATA();
  const std::string f16 = testdata_path("models/qwen2-tiny-f16.gguf");
  const std::string copied = temp_path("f16.gguf");
  ASSERT_TRUE(quantize_model(f16, copied, QuantizeType::F16, 2).ok());
  EXPECT_TRUE(read_bytes(copied) == read_bytes(f16));

  const std::string from_f16 = temp_path("from-f16-q8_0.gguf");
  const Result<QuantizeSummary> r = quantize_model(f16, from_f16, QuantizeType::Q8_0, 2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Result<gguf::File> q = gguf::File::open(from_f16);
  Result<gguf::File> h = gguf::File::open(f16);
  ASSERT_TRUE(q.ok() && h.ok());
  const gguf::TensorInfo* qt = q->find_tensor("blk.0.ffn_down.weight");
  const gguf::TensorInfo* ht = h->find_tensor("blk.0.ffn_down.weight");
  ASSERT_TRUE(qt && ht);
  ASSERT_EQ(qt->type, gguf::GgmlType::Q8_0);
  // Slow reference: each 32-element block of the f16 values, quantized by Q8_0's definition.
  const auto* halves = reinterpret_cast<const uint16_t*>(ht->data);
  for (int64_t b = 0; b < ht->n_elements() / 32; ++b) {
    float x[32];
    float amax = 0;
    for (int j = 0; j < 32; ++j) {
      x[j] = kernels::fp16_to_fp32(halves[b * 32 + j]);
      amax = std::max(amax, std::fabs(x[j]));
    }
    const uint8_t* block = qt->data + b * 34;
    const float d = amax / 127;
    uint16_t stored_d;
    std::memcpy(&stored_d, block, 2);
    ASSERT_EQ(stored_d, kernels::fp32_to_fp16(d)) << "block " << b;
    for (int j = 0; j < 32; ++j) {
      ASSERT_EQ(static_cast<int8_t>(block[2 + j]), static_cast<int8_t>(std::round(x[j] * (1 / d))))
          << "block " << b << " element " << j;
    }
  }
  std::filesystem::remove(copied);
  std::filesystem::remove(from_f16);
}

// Like llama.cpp, a tensor already of the target type is copied, not requantized.
TEST(QuantizeModelTest, RequantizingToTheSameTypeCopies) {
  REQUIRE_TESTDATA();
  const std::string q8 = testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::string out = temp_path("q8_0.gguf");
  const Result<QuantizeSummary> r = quantize_model(q8, out, QuantizeType::Q8_0, 2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_quantized, 0u);
  EXPECT_TRUE(read_bytes(out) == read_bytes(q8));
  std::filesystem::remove(out);
}

TEST(QuantizeModelTest, ReportsEveryTensorInFileOrder) {
  REQUIRE_TESTDATA();
  const std::string out = temp_path("q4_k_m.gguf");
  std::vector<QuantizeProgress> reports;
  std::vector<std::string> names;
  const Result<QuantizeSummary> r =
      quantize_model(testdata_path("models/qwen2-tiny-f32.gguf"), out, QuantizeType::Q4_K_M, 2,
                     [&](const QuantizeProgress& p) {
                       reports.push_back(p);
                       names.emplace_back(p.name);
                     });
  ASSERT_TRUE(r.ok()) << r.error().message;
  Result<gguf::File> written = gguf::File::open(out);
  ASSERT_TRUE(written.ok());
  ASSERT_EQ(reports.size(), written->tensors().size());
  uint64_t bytes_out = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    const gguf::TensorInfo& t = written->tensors()[i];
    EXPECT_EQ(reports[i].index, i);
    EXPECT_EQ(reports[i].count, reports.size());
    EXPECT_EQ(names[i], t.name);
    EXPECT_EQ(reports[i].from, gguf::GgmlType::F32);
    EXPECT_EQ(reports[i].to, t.type);
    EXPECT_EQ(reports[i].bytes_out, t.n_bytes);
    EXPECT_EQ(reports[i].bytes_in, static_cast<uint64_t>(t.n_elements()) * 4);
    bytes_out += t.n_bytes;
  }
  EXPECT_EQ(r->bytes_out, bytes_out);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace gengyun::convert
