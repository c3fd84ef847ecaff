// quantize_model and parse_quantize_type on bad input: every case a clear error, no output
// file left behind, the input untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "convert/quantize_model.h"
#include "quantize_test_util.h"
#include "testdata.h"

namespace gengyun::convert {
namespace {

using quantize_test::make_f32;
using quantize_test::read_bytes;
using quantize_test::temp_path;
using quantize_test::write_model;
using testing::testdata_path;

/// Runs quantize_model, expects an error containing `needle` and no file at `out`.
void expect_error(const std::string& in, const std::string& out, QuantizeType type,
                  const std::string& needle) {
  const Result<QuantizeSummary> r = quantize_model(in, out, type, 2);
  ASSERT_FALSE(r.ok()) << "quantized without error; expected: " << needle;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST(QuantizeTypeTest, ParsesNamesIgnoringCase) {
  Result<QuantizeType> t = parse_quantize_type("q4_k_m");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value(), QuantizeType::Q4_K_M);
  t = parse_quantize_type("IQ4_NL");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value(), QuantizeType::IQ4_NL);
  EXPECT_EQ(quantize_type_info(QuantizeType::BF16).file_type, 32u);
  EXPECT_EQ(quantize_type_info(QuantizeType::Q4_K_M).default_type, gguf::GgmlType::Q4_K);
}

TEST(QuantizeTypeTest, UnknownNameListsTheValidOnes) {
  for (const char* bad : {"Q4_K", "Q4_K_S", "q8", "", "Q4_0 "}) {
    const Result<QuantizeType> t = parse_quantize_type(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.error().message.find("unknown quantization type '" + std::string(bad) + "'"),
              std::string::npos);
    EXPECT_NE(t.error().message.find(
                  "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, IQ4_NL, "
                  "F16, BF16"),
              std::string::npos)
        << t.error().message;
  }
}

TEST(QuantizeErrorsTest, OutputIsTheInput) {
  const std::string in = temp_path("model.gguf");
  write_model(in, {make_f32("blk.0.attn_q.weight", {32, 4})});
  const std::vector<uint8_t> before = read_bytes(in);
  const std::string same_file_spellings[] = {
      in, (std::filesystem::path(in).parent_path() / "." / std::filesystem::path(in).filename())
              .string()};
  for (const std::string& out : same_file_spellings) {
    const Result<QuantizeSummary> r = quantize_model(in, out, QuantizeType::Q8_0, 1);
    ASSERT_FALSE(r.ok()) << out;
    EXPECT_NE(r.error().message.find("is the input file"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(read_bytes(in) == before);
  std::filesystem::remove(in);
}

TEST(QuantizeErrorsTest, MissingOrNonGgufInput) {
  const std::string out = temp_path("out.gguf");
  expect_error(temp_path("absent.gguf"), out, QuantizeType::Q8_0, "absent.gguf");
  const std::string text = temp_path("notes.txt");
  std::ofstream(text) << "not a model at all, just some text\n";
  expect_error(text, out, QuantizeType::Q8_0, "notes.txt");
  EXPECT_FALSE(std::filesystem::exists(out));
  std::filesystem::remove(text);
}

TEST(QuantizeErrorsTest, GgufThatIsNotAModel) {
  const std::string out = temp_path("out.gguf");
  const std::string bare = temp_path("bare.gguf");
  write_model(bare, {make_f32("blk.0.attn_q.weight", {32, 4})}, 1, /*with_metadata=*/false);
  expect_error(bare, out, QuantizeType::Q8_0, "not a model (no general.architecture)");

  gguf::Writer no_blocks;
  no_blocks.set_string("general.architecture", "llama");
  const std::string no_blocks_path = temp_path("no-blocks.gguf");
  ASSERT_TRUE(no_blocks.write(no_blocks_path).ok());
  expect_error(no_blocks_path, out, QuantizeType::Q8_0, "llama.block_count is missing");

  const std::string empty = temp_path("empty.gguf");
  write_model(empty, {});
  expect_error(empty, out, QuantizeType::Q8_0, "not a model (it holds no tensors)");
  EXPECT_FALSE(std::filesystem::exists(out));
  for (const auto& p : {bare, no_blocks_path, empty}) std::filesystem::remove(p);
}

TEST(QuantizeErrorsTest, AlreadyQuantizedInput) {
  REQUIRE_TESTDATA();
  const std::string out = temp_path("out.gguf");
  expect_error(testdata_path("models/qwen2-tiny-q4_0.gguf"), out, QuantizeType::Q8_0,
               "tensor 'token_embd.weight' is already quantized (q6_K); quantize from an F32, F16 "
               "or BF16 model");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(QuantizeErrorsTest, UnwritableOutput) {
  const std::string in = temp_path("model.gguf");
  write_model(in, {make_f32("blk.0.attn_q.weight", {32, 4})});
  const std::string out = temp_path("no-such-dir") + "/out.gguf";
  expect_error(in, out, QuantizeType::Q8_0, "cannot create");
  std::filesystem::remove(in);
}

// A folder as the output is refused before any tensor is converted (it used to be found only at
// the final rename, after all the work).
TEST(QuantizeErrorsTest, OutputIsAFolder) {
  const std::string in = temp_path("model.gguf");
  write_model(in, {make_f32("blk.0.attn_q.weight", {32, 4})});
  const std::string dir = temp_path("out-folder");
  std::filesystem::create_directory(dir);
  int converted = 0;
  const Result<QuantizeSummary> r =
      quantize_model(in, dir, QuantizeType::Q8_0, 2, [&](const QuantizeProgress&) { ++converted; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, dir + ": is a folder; give a file path");
  EXPECT_EQ(converted, 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  EXPECT_FALSE(std::filesystem::exists(dir + ".tmp"));
  std::filesystem::remove(dir);
  std::filesystem::remove(in);
}

TEST(QuantizeErrorsTest, NonFiniteWeights) {
  const std::string in = temp_path("model.gguf");
  quantize_test::F32Tensor bad = make_f32("blk.0.ffn_up.weight", {64, 8});
  bad.values[5 * 64 + 3] = std::numeric_limits<float>::quiet_NaN();
  write_model(in, {make_f32("blk.0.attn_q.weight", {64, 8}), bad});
  const std::string out = temp_path("out.gguf");
  expect_error(in, out, QuantizeType::Q4_0,
               "tensor 'blk.0.ffn_up.weight': row 5 holds a NaN or infinite value");
  bad.values[5 * 64 + 3] = std::numeric_limits<float>::infinity();
  write_model(in, {bad});
  expect_error(in, out, QuantizeType::F16, "row 5 holds a NaN or infinite value");
  EXPECT_FALSE(std::filesystem::exists(out));
  std::filesystem::remove(in);
}

TEST(QuantizeErrorsTest, RowLengthNoTypeFits) {
  const std::string in = temp_path("model.gguf");
  write_model(in, {make_f32("blk.0.attn_q.weight", {48, 4})});
  const std::string out = temp_path("out.gguf");
  expect_error(in, out, QuantizeType::Q4_0,
               "tensor 'blk.0.attn_q.weight' has rows of 48 elements, not a multiple of the q4_0 "
               "block size 32");
  EXPECT_FALSE(std::filesystem::exists(out));
  std::filesystem::remove(in);
}

}  // namespace
}  // namespace gengyun::convert
