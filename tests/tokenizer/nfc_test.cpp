// Qwen's tokenizer puts text in NFC before splitting it, as Hugging Face's does (Qwen2's
// tokenizer.json declares an NFC normalizer; llama.cpp skips it): a decomposed string gives the
// tokens of its composed form. The expected side of each pair is written precomposed by hand,
// so the test does not depend on the normalizer it checks.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/normalize.h"
#include "tokenizer_test_util.h"

namespace gengyun::testing {
namespace {

constexpr const char* kQwenVocab = "tokenizer/qwen-vocab.gguf";

struct Pair {
  const char* decomposed;
  const char* composed;
};

// Combining marks after their base, in canonical and in non-canonical order, singletons that
// NFC replaces, Hangul jamo and Japanese voiced marks.
constexpr Pair kPairs[] = {
    {"e\u0301", "\u00e9"},                         // e + acute
    {"Cafe\u0301 au lait", "Caf\u00e9 au lait"},   // inside a word
    {"A\u030A", "\u00C5"},                         // A + ring above
    {"\u212B", "\u00C5"},                          // ANGSTROM SIGN (singleton)
    {"\u2126", "\u03A9"},                          // OHM SIGN (singleton)
    {"e\u0323\u0302", "\u1EC7"},                   // e + dot below + circumflex
    {"e\u0302\u0323", "\u1EC7"},                   // the marks in the other order
    {"Vie\u0323\u0302t Nam", "Vi\u1EC7t Nam"},     //
    {"\u1100\u1161\u11A8", "\uAC01"},              // Hangul jamo
    {"\u304B\u3099\u304D\u3099", "\u304C\u304E"},  // hiragana + voiced mark
    {"n\u0303o\u0308", "\u00F1\u00F6"},            //
    {"\u0041\u0308\u0304", "\u01DE"},              // A + diaeresis + macron
    {"  spaces e\u0301\n", "  spaces \u00e9\n"},   // the pre-tokenizer's splits unchanged
};

TEST(Nfc, DecomposedTextGivesTheTokensOfItsComposedForm) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kQwenVocab);
  ASSERT_NE(t, nullptr);
  // The case the issue measured: Hugging Face gives 963, llama.cpp 68 53839.
  EXPECT_EQ(t->encode("e\u0301", false), std::vector<int32_t>{963});
  for (const Pair& p : kPairs) {
    EXPECT_NE(std::string(p.decomposed), std::string(p.composed));
    EXPECT_EQ(ids_to_string(t->encode(p.decomposed, false)),
              ids_to_string(t->encode(p.composed, false)))
        << p.decomposed;
  }
  // NFC is not NFKC: compatibility characters stay themselves.
  EXPECT_NE(t->encode("\uFB01", false), t->encode("fi", false));
  EXPECT_NE(t->encode("\u00B2", false), t->encode("2", false));
}

TEST(Nfc, BetweenSpecialTokensAndInLiteralRanges) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer(kQwenVocab);
  ASSERT_NE(t, nullptr);
  const std::string decomposed = "<|im_start|>user\nCafe\u0301<|im_end|>";
  const std::string composed = "<|im_start|>user\nCaf\u00e9<|im_end|>";
  EXPECT_EQ(t->encode(decomposed, true), t->encode(composed, true));
  // A client's text (a literal range) is normalized the same way.
  const std::vector<std::pair<size_t, size_t>> literal = {{17, decomposed.size() - 10}};
  const std::vector<std::pair<size_t, size_t>> literal_composed = {{17, composed.size() - 10}};
  EXPECT_EQ(t->encode(decomposed, true, literal), t->encode(composed, true, literal_composed));
}

// Only tokenizer.ggml.pre "qwen2" normalizes: the same vocabulary marked "deepseek-r1-qwen"
// (whose tokenizer.json we have not seen declare NFC) tokenizes as llama.cpp does.
TEST(Nfc, OnlyTheQwen2PreTokenizerNormalizes) {
  REQUIRE_TESTDATA();
  auto source = gguf::File::open(testdata_path(kQwenVocab));
  ASSERT_TRUE(source.ok());
  gguf::Writer writer;
  for (const auto& [key, value] : source->metadata()) {
    if (key != "tokenizer.ggml.pre") writer.set(key, value);
  }
  writer.set_string("tokenizer.ggml.pre", "deepseek-r1-qwen");
  auto bytes = writer.serialize();
  ASSERT_TRUE(bytes.ok());
  auto file = gguf::File::parse(bytes.value(), "vocab.gguf");
  ASSERT_TRUE(file.ok());
  auto t = Tokenizer::load(file.value());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value()->encode("e\u0301", false), (std::vector<int32_t>{68, 53839}));
}

TEST(Nfc, InvalidUtf8AndAsciiPassThrough) {
  EXPECT_EQ(tokenizer::nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(tokenizer::nfc("e\u0301"), "\u00e9");
  const std::string invalid = "e\xCC\x81\xFF";
  EXPECT_EQ(tokenizer::nfc(invalid), invalid);
  EXPECT_EQ(tokenizer::nfc(""), "");
}

}  // namespace
}  // namespace gengyun::testing
