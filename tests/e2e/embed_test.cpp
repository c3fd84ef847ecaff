// `gengyun embed` from the command line: the reference vectors of testdata/embeddings/ (EOS
// appended from the tokenizer's add_eos_token), unit length, --dimensions, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nan_model.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

std::vector<float> unit(std::vector<float> v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(sum));
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(EmbedCommand, PrintsTheUnitVectorOfTheReference) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen3-embed-tiny-f32.gguf");
  std::ifstream in(testing::testdata_path("embeddings/qwen3-embed-tiny-f32.json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  for (const nlohmann::json& cs : expected["cases"]) {
    const std::string input = cs["input"].get<std::string>();
    const ProcessOutput run = run_process({kBinary, "embed", model, input});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const std::vector<float> got = nlohmann::json::parse(run.out).get<std::vector<float>>();
    const std::vector<float> want = unit(cs["embedding"].get<std::vector<float>>());
    ASSERT_EQ(got.size(), want.size());
    EXPECT_NEAR(dot(got, got), 1.0, 1e-6) << input;
    EXPECT_GE(dot(got, want), 0.99999) << input;

    // --dimensions 64: the first 64 values, renormalized.
    const ProcessOutput cut = run_process({kBinary, "embed", model, input, "--dimensions", "64"});
    ASSERT_EQ(cut.exit_code, 0) << cut.err;
    const std::vector<float> short_got = nlohmann::json::parse(cut.out).get<std::vector<float>>();
    const std::vector<float> short_want = unit(std::vector<float>(want.begin(), want.begin() + 64));
    ASSERT_EQ(short_got.size(), 64u);
    EXPECT_NEAR(dot(short_got, short_got), 1.0, 1e-6) << input;
    EXPECT_GE(dot(short_got, short_want), 0.99999) << input;
  }
}

// A model whose vectors hold NaN (its output norm's weights NaN, as a corrupt file's could be)
// is an error, not a vector of nulls (QA 2026-12-07).
TEST(EmbedCommand, AVectorOfNaNIsAnError) {
  REQUIRE_TESTDATA();
  const std::string path = testing::write_nan_norm_copy("qwen3-embed-tiny-f32.gguf", "nan-embed");
  ASSERT_FALSE(path.empty());
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--dimensions", "4"}}) {
    std::vector<std::string> argv = {kBinary, "embed", path, "hello"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_EQ(run.err,
              "error: the model's embedding holds NaN or infinite values (its weights hold them, "
              "or its activations overflowed)\n");
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
  std::filesystem::remove(path);
}

TEST(EmbedCommand, BadInputIsRefused) {
  REQUIRE_TESTDATA();
  const std::string embed_model = testing::testdata_path("models/qwen3-embed-tiny-f32.gguf");
  const std::string chat_model = testing::testdata_path("models/qwen2-tiny-f32.gguf");
  const std::string vocab = testing::testdata_path("tokenizer/qwen-vocab.gguf");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"embed", chat_model, "hello"}, "not an embedding model (no qwen2.pooling_type)"},
      {{"embed", embed_model, "hello", "--dimensions", "257"},
       "--dimensions must be between 1 and 256, not 257"},
      {{"embed", vocab, "Hello"},
       vocab + ": the file holds a vocabulary but no weights (a vocab-only GGUF works with "
               "`gengyun tokenize`, not for embeddings)"},
      {{"run", vocab, "-p", "Hello"},
       vocab + ": the file holds a vocabulary but no weights (a vocab-only GGUF works with "
               "`gengyun tokenize`, not for generation)"},
      {{"embed", embed_model, ""}, "error: the text must not be an empty string\n"},
      {{"embed", embed_model, "--file", "/dev/null"},
       "error: the text must not be an empty string\n"},
      {{"embed", embed_model, "--file", "/nonexistent/input.txt"},
       "error: --file: cannot read /nonexistent/input.txt: No such file or directory\n"},
      {{"embed", embed_model, "--file", "/"}, "error: --file: cannot read /: it is a directory\n"},
      {{"run", embed_model, "-p", "hello", "--ctx", "64"},
       embed_model + ": an embedding model (its GGUF sets pooling_type) generates no text; use "
                     "`gengyun embed` or serve it for /v1/embeddings"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_EQ(run.exit_code, 1) << c.message;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
}

}  // namespace
}  // namespace gengyun::e2e
