// Dequantizing every tensor of every reference model must reproduce ggml's to_float exactly:
// testdata/dequant/<model>.json holds, per tensor, the first 16 values and an FNV-1a 64 hash
// of all f32 bytes as ggml computes them.
#include "kernels/dequantize.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testdata.h"

namespace gengyun::kernels {
namespace {

uint64_t fnv1a64_f32(const std::vector<float>& values) {
  return testing::testdata_fnv1a64(values.data(), values.size() * sizeof(float));
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The shape with trailing dimensions of 1 filled up to 4 (the file may store fewer).
std::vector<int64_t> padded_ne(std::vector<int64_t> ne) {
  ne.resize(4, 1);
  return ne;
}

std::vector<float> dequantize_tensor(const gguf::TensorInfo& t) {
  const int64_t row_length = t.ne[0];
  const size_t row_bytes = gguf::ggml_row_size(t.type, row_length);
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (int64_t r = 0; r < t.n_rows(); ++r)
    dequantize_row(t.type, t.data + r * row_bytes, out.data() + r * row_length, row_length);
  return out;
}

// Calls check(tensor info, its values, its expected JSON entry) for every tensor of every
// model listed in testdata/dequant; counts the files in n_files.
template <class Check>
void for_each_reference_tensor(Check check, int& n_files) {
  n_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::testdata_path("dequant"))) {
    if (entry.path().extension() != ".json") continue;
    ++n_files;
    std::ifstream in(entry.path());
    const nlohmann::json expected = nlohmann::json::parse(in);
    const std::string model = expected.at("file").get<std::string>();
    SCOPED_TRACE(model);
    auto file = gguf::File::open(testing::testdata_path("models/" + model));
    EXPECT_TRUE(file.ok()) << file.error().message;
    if (!file.ok()) continue;

    const auto& tensors = expected.at("tensors");
    EXPECT_EQ(tensors.size(), file->tensors().size());
    for (const auto& want : tensors) {
      const std::string name = want.at("name").get<std::string>();
      SCOPED_TRACE(name);
      const gguf::TensorInfo* t = file->find_tensor(name);
      ASSERT_NE(t, nullptr);
      ASSERT_EQ(gguf::ggml_type_info(t->type).name, want.at("type").get<std::string>());
      ASSERT_EQ(padded_ne(t->ne), padded_ne(want.at("ne").get<std::vector<int64_t>>()));
      ASSERT_TRUE(check_dequantizable(t->type, t->ne[0]).ok());
      check(dequantize_tensor(*t), want);
    }
  }
}

constexpr int kReferenceFiles = 21;

TEST(DequantizeReference, First16ValuesOfEveryTensorMatchGgml) {
  REQUIRE_TESTDATA();
  int n_files = 0;
  for_each_reference_tensor([](const std::vector<float>& values, const nlohmann::json& want) {
    const auto first16 = want.at("first16").get<std::vector<double>>();
    ASSERT_LE(first16.size(), values.size());
    for (size_t i = 0; i < first16.size(); ++i)
      EXPECT_EQ(values[i], static_cast<float>(first16[i])) << "element " << i;
  }, n_files);
  EXPECT_EQ(n_files, kReferenceFiles);
}

TEST(DequantizeReference, HashOfEveryTensorMatchesGgml) {
  REQUIRE_TESTDATA();
  int n_files = 0;
  for_each_reference_tensor([](const std::vector<float>& values, const nlohmann::json& want) {
    EXPECT_EQ(hex64(fnv1a64_f32(values)), want.at("fnv1a64_f32").get<std::string>());
  }, n_files);
  EXPECT_EQ(n_files, kReferenceFiles);
}

}  // namespace
}  // namespace gengyun::kernels
