// The prompt tokens and greedy texts of testdata/expected/*.json, which llama.cpp computed on
// the model files themselves.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace gengyun::testing {
namespace {

std::string hex_of(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

TEST(ModelPrompts, TokensAndGreedyTextOfEveryExpectedFile) {
  REQUIRE_TESTDATA();
  const auto tiny_prompts =
      split_on(read_text_file(testdata_path("expected/prompts_tiny.txt")), "\n=====\n");
  const auto stories_prompts =
      split_on(read_text_file(testdata_path("expected/prompts_stories.txt")), "\n=====\n");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testdata_path("expected"))) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    const auto expected = nlohmann::json::parse(read_text_file(entry.path().string()));
    const std::string model = expected.at("model");
    SCOPED_TRACE(model);
    const Tokenizer* t = shared_tokenizer("models/" + model);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->n_vocab(), expected.at("n_vocab").get<int32_t>());
    const auto& prompts = model.rfind("stories", 0) == 0 ? stories_prompts : tiny_prompts;
    const auto& cases = expected.at("cases");
    ASSERT_EQ(cases.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::vector<int32_t> tokens;
      if (t->add_bos()) tokens.push_back(t->bos().value());
      const auto body = t->encode(prompts[i], /*parse_special=*/true);
      tokens.insert(tokens.end(), body.begin(), body.end());
      EXPECT_EQ(ids_to_string(tokens),
                ids_to_string(cases[i].at("tokens").get<std::vector<int32_t>>()))
          << "prompt " << i << ": '" << prompts[i] << "'";

      const auto greedy = cases[i].at("greedy").get<std::vector<int32_t>>();
      EXPECT_EQ(hex_of(decode_all(*t, greedy, false)),
                cases[i].at("greedy_text_hex").get<std::string>());
      StreamDecoder decoder(*t);
      std::string streamed;
      for (int32_t id : greedy) streamed += decoder.push(id);
      streamed += decoder.flush();
      EXPECT_EQ(streamed, cases[i].at("greedy_text").get<std::string>());
    }
  }
  EXPECT_GE(files, 20);
}

TEST(ModelPrompts, StoriesBosAndPieces) {
  REQUIRE_TESTDATA();
  const Tokenizer* t = shared_tokenizer("models/stories260K-f32.gguf");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->is_spm());
  EXPECT_TRUE(t->add_bos());  // no add_bos_token key: SentencePiece default
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->eos(), 2);
  EXPECT_EQ(t->encode("Once upon a time", false), (std::vector<int32_t>{403, 407, 261, 378}));
  EXPECT_EQ(t->token_to_piece(403), " Once");
  EXPECT_EQ(t->token_to_piece(1), "");
  EXPECT_EQ(t->token_to_piece(1, true), "<s>");
  EXPECT_TRUE(t->is_eog(2));
  EXPECT_FALSE(t->is_eog(1));
}

}  // namespace
}  // namespace gengyun::testing
