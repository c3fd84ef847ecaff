// StreamDecoder: only complete UTF-8 leaves push(); flush() turns what is held into U+FFFD.
#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer_test_util.h"

namespace gengyun::testing {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";

class StreamDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    t_ = shared_tokenizer("tokenizer/qwen-vocab.gguf");
    ASSERT_NE(t_, nullptr);
  }

  /// The Qwen token that is exactly the single byte `b`.
  int32_t byte_token(uint8_t b) const {
    const auto id =
        t_->find_token(tokenizer::byte_level_encode(std::string(1, static_cast<char>(b))));
    EXPECT_TRUE(id.has_value()) << "no token for byte " << int(b);
    return id.value_or(0);
  }
  int32_t token(const std::string& text) const {
    const auto ids = t_->encode(text, true);
    EXPECT_EQ(ids.size(), 1u) << "'" << text << "' is not one token";
    return ids.empty() ? 0 : ids[0];
  }

  const Tokenizer* t_ = nullptr;
};

TEST_F(StreamDecoderTest, HoldsACjkCharacterUntilItsLastByte) {
  StreamDecoder d(*t_);
  EXPECT_EQ(d.push(byte_token(0xE4)), "");
  EXPECT_EQ(d.push(byte_token(0xBD)), "");
  EXPECT_EQ(d.push(byte_token(0xA0)), "你");
  EXPECT_EQ(d.flush(), "");
}

TEST_F(StreamDecoderTest, HoldsAnEmojiSplitInFourBytes) {
  StreamDecoder d(*t_);
  EXPECT_EQ(d.push(token("Hi")), "Hi");
  EXPECT_EQ(d.push(byte_token(0xF0)), "");
  EXPECT_EQ(d.push(byte_token(0x9F)), "");
  EXPECT_EQ(d.push(byte_token(0x98)), "");
  EXPECT_EQ(d.push(byte_token(0x80)), "😀");
}

// A prefix (the unfinished character a prompt ends with) is decoded with the first tokens.
TEST_F(StreamDecoderTest, APrefixIsCompletedByTheFirstTokens) {
  StreamDecoder d(*t_, "\xE4\xBD");
  EXPECT_EQ(d.push(byte_token(0xA0)), "你");
  StreamDecoder cut(*t_, "\xE4");
  EXPECT_EQ(cut.push(byte_token(0xBD)), "");
  EXPECT_EQ(cut.push(token("Hi")), std::string(kReplacement) + "Hi");
  StreamDecoder held(*t_, "\xC3");
  EXPECT_EQ(held.flush(), kReplacement);
}

TEST_F(StreamDecoderTest, ControlTokensAddNothingAndKeepWhatIsHeld) {
  StreamDecoder d(*t_);
  EXPECT_EQ(d.push(byte_token(0xE4)), "");
  EXPECT_EQ(d.push(token("<|im_end|>")), "");
  EXPECT_EQ(d.push(byte_token(0xBD)), "");
  EXPECT_EQ(d.push(byte_token(0xA0)), "你");
}

TEST_F(StreamDecoderTest, FlushTurnsAnUnfinishedCharacterIntoOneReplacement) {
  StreamDecoder d(*t_);
  EXPECT_EQ(d.push(token("ok")), "ok");
  EXPECT_EQ(d.push(byte_token(0xE4)), "");
  EXPECT_EQ(d.push(byte_token(0xBD)), "");
  EXPECT_EQ(d.flush(), kReplacement);
  EXPECT_EQ(d.flush(), "");
  EXPECT_EQ(d.push(token("ok")), "ok");  // reset after flush
}

TEST_F(StreamDecoderTest, BytesThatCannotStartACharacterAreReplacedAtOnce) {
  StreamDecoder d(*t_);
  EXPECT_EQ(d.push(byte_token(0xA0)), kReplacement);  // lone continuation byte
  EXPECT_EQ(d.push(byte_token(0xFF)), kReplacement);
  EXPECT_EQ(d.push(byte_token(0xC0)), kReplacement);  // always-overlong lead
}

TEST_F(StreamDecoderTest, AnInterruptedCharacterIsReplacedWhenTheNextByteArrives) {
  StreamDecoder d(*t_);
  EXPECT_EQ(d.push(byte_token(0xE4)), "");
  EXPECT_EQ(d.push(token("ok")), std::string(kReplacement) + "ok");
  // A surrogate (ED A0 80) is three ill-formed subparts, as Python decodes it.
  EXPECT_EQ(d.push(byte_token(0xED)), "");
  EXPECT_EQ(d.push(byte_token(0xA0)), std::string(kReplacement) + kReplacement);
  EXPECT_EQ(d.push(byte_token(0x80)), kReplacement);
}

}  // namespace
}  // namespace gengyun::testing
