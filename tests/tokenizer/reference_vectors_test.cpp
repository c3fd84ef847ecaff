// llama.cpp's tokenizer test vectors (test-tokenizer-0 format: no BOS added) must come out
// token for token.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace gengyun::testing {
namespace {

constexpr const char* kQwenVocab = "tokenizer/qwen-vocab.gguf";
constexpr const char* kSpmVocab = "tokenizer/llama-spm-vocab.gguf";

std::vector<std::string> read_inputs(const std::string& relative_path) {
  return split_on(read_text_file(testdata_path(relative_path)), "\n__ggml_vocab_test__\n");
}

void expect_vectors(const Tokenizer& t, const std::string& inp, const std::string& out,
                    bool parse_special) {
  const auto inputs = read_inputs(inp);
  const auto expected = read_token_lines(testdata_path(out));
  ASSERT_EQ(inputs.size(), expected.size()) << inp << " vs " << out;
  ASSERT_GT(inputs.size(), 10u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(ids_to_string(t.encode(inputs[i], parse_special)), ids_to_string(expected[i]))
        << out << " line " << i + 1 << ", input '" << inputs[i] << "'";
  }
}

TEST(ReferenceVectors, Qwen2) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kQwenVocab);
  ASSERT_NE(t, nullptr);
  expect_vectors(*t, "tokenizer/qwen2-reference.inp", "tokenizer/qwen2-reference.out", false);
}

TEST(ReferenceVectors, QwenExtra) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kQwenVocab);
  ASSERT_NE(t, nullptr);
  expect_vectors(*t, "tokenizer/qwen-extra.inp", "tokenizer/qwen-extra.out", false);
}

TEST(ReferenceVectors, QwenExtraParsingSpecialTokens) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kQwenVocab);
  ASSERT_NE(t, nullptr);
  expect_vectors(*t, "tokenizer/qwen-extra.inp", "tokenizer/qwen-extra.special.out", true);
}

TEST(ReferenceVectors, LlamaSentencePiece) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kSpmVocab);
  ASSERT_NE(t, nullptr);
  expect_vectors(*t, "tokenizer/llama-spm-reference.inp", "tokenizer/llama-spm-reference.out",
                 false);
}

// Byte-level BPE loses nothing: the pieces of the tokens of a valid UTF-8 text are the text.
TEST(ReferenceVectors, QwenDecodeRoundTrip) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kQwenVocab);
  ASSERT_NE(t, nullptr);
  for (const char* inp : {"tokenizer/qwen2-reference.inp", "tokenizer/qwen-extra.inp"}) {
    for (const std::string& text : read_inputs(inp)) {
      EXPECT_EQ(decode_all(*t, t->encode(text, false), false), text) << inp;
      EXPECT_EQ(decode_all(*t, t->encode(text, true), true), text) << inp;
    }
  }
}

// SentencePiece adds one leading space and otherwise loses nothing.
TEST(ReferenceVectors, SpmDecodeRoundTrip) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kSpmVocab);
  ASSERT_NE(t, nullptr);
  for (const std::string& text : read_inputs("tokenizer/llama-spm-reference.inp")) {
    if (text.empty()) continue;
    EXPECT_EQ(decode_all(*t, t->encode(text, false), false), " " + text);
  }
}

}  // namespace
}  // namespace gengyun::testing
