// Tokenizer::load on small vocabularies written in memory: the defaults llama.cpp applies, and a
// clear error for every malformed key.
#include <gtest/gtest.h>

#include "gguf/gguf_writer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace gengyun {
namespace {

Result<std::unique_ptr<Tokenizer>> load(const gguf::Writer& w) {
  auto bytes = w.serialize();
  if (!bytes.ok()) return bytes.error();
  auto file = gguf::File::parse(bytes.value(), "vocab.gguf");
  if (!file.ok()) return file.error();
  return Tokenizer::load(file.value());
}

/// The error message of a load that must fail ("" and a test failure when it loads).
std::string load_error(const gguf::Writer& w) {
  auto t = load(w);
  EXPECT_FALSE(t.ok()) << "loaded although malformed";
  return t.ok() ? "" : t.error().message;
}

/// Byte-level BPE: the 256 bytes, then "ab" and "abc" from the merges "a b", "ab c".
gguf::Writer byte_level_vocab() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.push_back(tokenizer::byte_level_encode(std::string(1, char(b))));
  tokens.push_back("ab");
  tokens.push_back("abc");
  tokens.push_back("<|im_end|>");
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  const std::vector<std::string> merges = {"a b", "ab c"};
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "qwen2");
  w.set_strings("tokenizer.ggml.tokens", tokens);
  w.set_i32s("tokenizer.ggml.token_type", types);
  w.set_strings("tokenizer.ggml.merges", merges);
  return w;
}

/// SentencePiece: <unk> <s> </s>, "▁a", "a", "▁ab", with scores.
gguf::Writer spm_vocab() {
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "\u2581a", "a", "\u2581ab", "b"};
  const std::vector<int32_t> types = {2, 3, 3, 1, 1, 1, 1};
  const std::vector<float> scores = {0, 0, 0, -1, -2, -3, -4};
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_strings("tokenizer.ggml.tokens", tokens);
  w.set_i32s("tokenizer.ggml.token_type", types);
  w.set_f32s("tokenizer.ggml.scores", scores);
  return w;
}

TEST(Load, ByteLevelVocabularyMergesInRankOrder) {
  auto t = load(byte_level_vocab());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t.value()->encode("abc", false), (std::vector<int32_t>{257}));
  EXPECT_EQ(t.value()->encode("ab", false), (std::vector<int32_t>{256}));
  EXPECT_EQ(t.value()->encode("ba", false), (std::vector<int32_t>{'b', 'a'}));
  // llama.cpp's gpt2 defaults: BOS = EOS = 11, no BOS added.
  EXPECT_EQ(t.value()->bos(), 11);
  EXPECT_EQ(t.value()->eos(), 11);
  EXPECT_FALSE(t.value()->add_bos());
  EXPECT_TRUE(t.value()->is_eog(11));
  EXPECT_TRUE(t.value()->is_eog(258));  // <|im_end|> by its text
}

TEST(Load, Llama3PreTokenizerAddsBosByDefault) {
  auto w = byte_level_vocab();
  w.set_string("tokenizer.ggml.pre", "llama-bpe");
  auto t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t.value()->add_bos());
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(t.value()->add_bos());
}

TEST(Load, SpecialTokenIdsOutsideTheVocabularyAreIgnored) {
  auto w = byte_level_vocab();
  w.set_u32("tokenizer.ggml.bos_token_id", 4294967295u);
  w.set_u32("tokenizer.ggml.eos_token_id", 258);
  auto t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t.value()->bos(), 11);
  EXPECT_EQ(t.value()->eos(), 258);
}

TEST(Load, TinyByteLevelVocabularyHasNoBos) {
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  const std::vector<std::string> tokens = {"a", "b"};
  w.set_strings("tokenizer.ggml.tokens", tokens);
  w.set_strings("tokenizer.ggml.merges", std::vector<std::string>{"a b"});
  auto t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t.value()->bos(), std::nullopt);  // default 11 is outside 2 tokens
  EXPECT_EQ(t.value()->eos(), std::nullopt);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  EXPECT_NE(load_error(w).find("no BOS"), std::string::npos);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", true);
  EXPECT_NE(load_error(w).find("'tokenizer.ggml.add_eos_token' is true but the vocabulary has no "
                               "EOS token"),
            std::string::npos);
}

TEST(Load, AddEosTokenIsReadAndOffByDefault) {
  auto w = byte_level_vocab();
  auto t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(t.value()->add_eos());
  w.set_bool("tokenizer.ggml.add_eos_token", true);
  t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t.value()->add_eos());
  w.set_string("tokenizer.ggml.add_eos_token", "yes");
  EXPECT_NE(load_error(w).find("'tokenizer.ggml.add_eos_token' must be a bool"), std::string::npos);
}

TEST(Load, SentencePieceDefaultsAndSpacePrefix) {
  auto w = spm_vocab();
  auto t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t.value()->add_bos());
  EXPECT_EQ(t.value()->bos(), 1);
  EXPECT_EQ(t.value()->eos(), 2);
  EXPECT_EQ(t.value()->encode("ab", false), (std::vector<int32_t>{5}));
  EXPECT_EQ(t.value()->encode("a", false), (std::vector<int32_t>{3}));
  // Without byte tokens, each byte of a piece that is no token becomes the unknown token:
  // "▁z" gives the three bytes of "▁" and "z".
  EXPECT_EQ(t.value()->encode("z", false), (std::vector<int32_t>{0, 0, 0, 0}));
  w.set_bool("tokenizer.ggml.add_space_prefix", false);
  t = load(w);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t.value()->encode("a", false), (std::vector<int32_t>{4}));
  EXPECT_EQ(t.value()->encode("z", false), (std::vector<int32_t>{0}));
}

TEST(Load, Errors) {
  {
    auto w = byte_level_vocab();
    w.set_u32("tokenizer.ggml.model", 1);
    EXPECT_NE(load_error(w).find("'tokenizer.ggml.model' must be a string"), std::string::npos);
  }
  {
    gguf::Writer w;
    w.set_string("general.architecture", "qwen2");
    EXPECT_NE(load_error(w).find("missing 'tokenizer.ggml.model'"), std::string::npos);
  }
  {
    auto w = byte_level_vocab();
    w.set_string("tokenizer.ggml.model", "bert");
    EXPECT_NE(load_error(w).find("unknown tokenizer model 'bert'"), std::string::npos);
  }
  {
    auto w = byte_level_vocab();
    w.set_string("tokenizer.ggml.pre", "tekken");
    EXPECT_NE(load_error(w).find("unknown pre-tokenizer 'tekken'"), std::string::npos);
  }
  {
    gguf::Writer w;
    w.set_string("tokenizer.ggml.model", "llama");
    EXPECT_NE(load_error(w).find("missing 'tokenizer.ggml.tokens'"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_string("tokenizer.ggml.tokens", "a");
    EXPECT_NE(load_error(w).find("'tokenizer.ggml.tokens' must be an array"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_i32s("tokenizer.ggml.tokens", std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7});
    EXPECT_NE(load_error(w).find("must be an array of strings"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_strings("tokenizer.ggml.tokens", std::vector<std::string>{});
    EXPECT_NE(load_error(w).find("is empty"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_i32s("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1});
    EXPECT_NE(load_error(w).find("'tokenizer.ggml.token_type' has 2 entries but"),
              std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_f32s("tokenizer.ggml.scores", std::vector<float>{0});
    EXPECT_NE(load_error(w).find("'tokenizer.ggml.scores' has 1 entries but"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_f32s("tokenizer.ggml.token_type", std::vector<float>(7, 1.0f));
    EXPECT_NE(load_error(w).find("must be an array of integers"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_strings("tokenizer.ggml.scores", std::vector<std::string>(7, "x"));
    EXPECT_NE(load_error(w).find("must be an array of numbers"), std::string::npos);
  }
  {
    auto w = spm_vocab();
    w.set_strings("tokenizer.ggml.tokens",
                  std::vector<std::string>{"<unk>", "<s>", "</s>", "a", "b", "a", "c"});
    EXPECT_NE(load_error(w).find("duplicate token"), std::string::npos);
  }
  {
    auto w = byte_level_vocab();
    gguf::Writer without_merges;
    for (const auto& [key, value] : w.metadata())
      if (key != "tokenizer.ggml.merges") without_merges.set(key, value);
    EXPECT_NE(load_error(without_merges).find("without 'tokenizer.ggml.merges'"),
              std::string::npos);
  }
  {
    auto w = byte_level_vocab();
    w.set_strings("tokenizer.ggml.merges", std::vector<std::string>{"a b", "abc"});
    EXPECT_NE(load_error(w).find("line 1 ('abc') is not two tokens"), std::string::npos);
  }
  {
    auto w = byte_level_vocab();
    w.set_string("tokenizer.ggml.add_bos_token", "yes");
    EXPECT_NE(load_error(w).find("'tokenizer.ggml.add_bos_token' must be a bool"),
              std::string::npos);
  }
  {
    auto w = byte_level_vocab();
    w.set_string("tokenizer.ggml.eos_token_id", "2");
    EXPECT_NE(load_error(w).find("'tokenizer.ggml.eos_token_id' must be an integer"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace gengyun
