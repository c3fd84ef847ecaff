// Pre-tokenizer word boundaries, worked out by hand from llama.cpp's expressions.
#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "tokenizer/utf8.h"

namespace gengyun::tokenizer {
namespace {

using Words = std::vector<std::string>;

Words split(PreTokenizerType type, std::string_view text) {
  auto pre = PreTokenizer::create(type);
  EXPECT_TRUE(pre.ok()) << (pre.ok() ? "" : pre.error().message);
  return pre.ok() ? pre.value()->split(text) : Words{};
}

TEST(PreTokenizer, Qwen2) {
  EXPECT_EQ(split(PreTokenizerType::Qwen2, ""), Words{});
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "I'm 123abc  \n\n  x"),
            (Words{"I", "'m", " ", "1", "2", "3", "abc", "  \n\n", " ", " x"}));
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "x?!\n\ny DON'T"),
            (Words{"x", "?!\n\n", "y", " DON", "'T"}));
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "end   "), (Words{"end", "   "}));
}

TEST(PreTokenizer, Llama3GroupsDigitsByThree) {
  EXPECT_EQ(split(PreTokenizerType::Llama3, "12345 x"), (Words{"123", "45", " x"}));
}

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split(PreTokenizerType::Gpt2, "12345"), (Words{"12345"}));
  EXPECT_EQ(split(PreTokenizerType::Gpt2, "Hello  world"), (Words{"Hello", " ", " world"}));
  EXPECT_EQ(split(PreTokenizerType::Gpt2, "a\nb"), (Words{"a", "\n", "b"}));
}

TEST(PreTokenizer, DefaultAppliesItsExpressionsInTurn) {
  EXPECT_EQ(split(PreTokenizerType::Default, "a+b=3.14"),
            (Words{"a", "+", "b", "=", "3", ".", "14"}));
  EXPECT_EQ(split(PreTokenizerType::Default, "12345"), (Words{"123", "45"}));
}

// \s is Unicode White_Space as in llama.cpp's tables: U+2003 is whitespace, U+180E is not
// (PCRE2's own \s would take it).
TEST(PreTokenizer, WhitespaceIsUnicodeWhiteSpace) {
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "x\u2003\u2003y"), (Words{"x", "\u2003", "\u2003y"}));
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "x\u180E\u180Ey"), (Words{"x", "\u180E\u180E", "y"}));
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "a\u00A0b"), (Words{"a", "\u00A0b"}));
}

TEST(PreTokenizer, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(split(PreTokenizerType::Qwen2,
                  "a\xFF"
                  "b"),
            (Words{"a",
                   "\xEF\xBF\xBD"
                   "b"}));
  // A surrogate decodes (leniently, as llama.cpp) and is written back unchanged.
  EXPECT_EQ(split(PreTokenizerType::Qwen2, "x\xED\xA0\x80"), (Words{"x", "\xED\xA0\x80"}));
}

TEST(Utf8, LenientDecodingFollowsLlamaCpp) {
  EXPECT_EQ(decode_codepoints_lenient("A\xC1\x81"),
            (std::vector<uint32_t>{0x41, 0x41}));  // overlong
  EXPECT_EQ(decode_codepoints_lenient("\xE4\xBD"), (std::vector<uint32_t>{0xFFFD, 0xFFFD}));
  EXPECT_EQ(decode_codepoints_lenient("\xF8\x80"), (std::vector<uint32_t>{0xFFFD, 0xFFFD}));
  EXPECT_EQ(decode_codepoints_lenient("\xF0\x9F\x98\x80"), (std::vector<uint32_t>{0x1F600}));
}

TEST(Utf8, EveryScalarValueIsOneValidSequenceAndItsPrefixesAreIncomplete) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s;
    append_utf8(s, cp);
    const auto seq = next_utf8_sequence(s, 0);
    ASSERT_EQ(seq.kind, Utf8Sequence::Kind::Valid) << cp;
    ASSERT_EQ(seq.length, s.size()) << cp;
    for (size_t k = 1; k < s.size(); ++k) {
      const auto prefix = next_utf8_sequence(std::string_view(s).substr(0, k), 0);
      ASSERT_EQ(prefix.kind, Utf8Sequence::Kind::Incomplete) << cp;
      ASSERT_EQ(prefix.length, k) << cp;
    }
  }
}

TEST(Utf8, UnfinishedLengthIsTheIncompleteCharacterAtTheEnd) {
  EXPECT_EQ(unfinished_utf8_length(""), 0u);
  EXPECT_EQ(unfinished_utf8_length("Caf\xC3\xA9"), 0u);
  EXPECT_EQ(unfinished_utf8_length("Caf\xC3"), 1u);
  EXPECT_EQ(unfinished_utf8_length("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(unfinished_utf8_length("a\xE4\xBD"), 2u);
  EXPECT_EQ(unfinished_utf8_length("a\xBD"), 0u);      // a stray continuation byte
  EXPECT_EQ(unfinished_utf8_length("a\xE0\x80"), 0u);  // ill-formed: E0 needs A0..BF next
  EXPECT_EQ(unfinished_utf8_length("\xE4\xC3"), 1u);   // an ill-formed E4, then C3 unfinished
}

TEST(Utf8, IllFormedSubparts) {
  using Kind = Utf8Sequence::Kind;
  const auto check = [](std::string_view s, Kind kind, size_t length) {
    const auto seq = next_utf8_sequence(s, 0);
    EXPECT_EQ(seq.kind, kind) << s;
    EXPECT_EQ(seq.length, length) << s;
  };
  check("\x80", Kind::Invalid, 1);
  check("\xC0\x80", Kind::Invalid, 1);          // overlong lead
  check("\xE0\x80\x80", Kind::Invalid, 1);      // overlong: E0 needs A0..BF next
  check("\xED\xA0\x80", Kind::Invalid, 1);      // surrogate
  check("\xF4\x90\x80\x80", Kind::Invalid, 1);  // above U+10FFFF
  check("\xF5", Kind::Invalid, 1);
  check(
      "\xE4\xBD"
      "A",
      Kind::Invalid, 2);  // maximal subpart E4 BD
  check(
      "\xF0\x9F\x98"
      "A",
      Kind::Invalid, 3);
}

// A cut of at most N bytes never splits a character; the bytes written as \xNN.
TEST(Utf8, PrefixLengthAndHexEscapedBytes) {
  const std::string text =
      "ab\xe4\xbd\xa0"
      "c";  // a b 你 c
  EXPECT_EQ(utf8_prefix_length(text, 10), 6u);
  EXPECT_EQ(utf8_prefix_length(text, 6), 6u);
  EXPECT_EQ(utf8_prefix_length(text, 5), 5u);
  EXPECT_EQ(utf8_prefix_length(text, 4), 2u);
  EXPECT_EQ(utf8_prefix_length(text, 3), 2u);
  EXPECT_EQ(utf8_prefix_length(text, 2), 2u);
  EXPECT_EQ(utf8_prefix_length(text, 0), 0u);
  EXPECT_EQ(hex_escaped_bytes(std::string("\xe4"
                                          "A\0",
                                          3)),
            "\\xe4\\x41\\x00");
  EXPECT_EQ(hex_escaped_bytes(""), "");
}

// Client-sent text made safe to show: C0 controls, DEL, C1 controls (U+0080..U+009F, two bytes
// in UTF-8) and bytes that are not UTF-8 become \xNN; printable UTF-8 stays as it is.
TEST(Utf8, EscapeControlCharacters) {
  EXPECT_EQ(escape_control_characters("plain caf\xc3\xa9 \xe4\xbd\xa0"),
            "plain caf\xc3\xa9 \xe4\xbd\xa0");
  EXPECT_EQ(escape_control_characters(std::string("a\x1b[2J\x07\t\r\n\x7f", 10) + '\0' + "z"),
            "a\\x1b[2J\\x07\\x09\\x0d\\x0a\\x7f\\x00z");
  EXPECT_EQ(escape_control_characters("\xc2\x9b\xc2\xa0"), "\\xc2\\x9b\xc2\xa0");  // CSI; NBSP kept
  EXPECT_EQ(escape_control_characters("\xe4\xbd x \xff"), "\\xe4\\xbd x \\xff");
  EXPECT_EQ(escape_control_characters(""), "");
  // A backslash is doubled, so that "a\x0a" and a newline never show alike.
  EXPECT_EQ(escape_control_characters("a\\x0a"), "a\\\\x0a");
  EXPECT_EQ(escape_control_characters("a\n"), "a\\x0a");
}

// Characters that show as nothing or as something else are escaped too: U+2028 and U+2029
// end a line, the bidi controls reorder what a reader sees, format characters (Cf) are
// invisible, private-use and unassigned code points show as nothing certain.
TEST(Utf8, EscapeInvisibleAndReorderingCharacters) {
  const std::pair<const char*, const char*> escaped[] = {
      {"\u2028", "\\xe2\\x80\\xa8"},           // LINE SEPARATOR (Zl)
      {"\u2029", "\\xe2\\x80\\xa9"},           // PARAGRAPH SEPARATOR (Zp)
      {"\u202A", "\\xe2\\x80\\xaa"},           // LEFT-TO-RIGHT EMBEDDING
      {"\u202E", "\\xe2\\x80\\xae"},           // RIGHT-TO-LEFT OVERRIDE
      {"\u2066", "\\xe2\\x81\\xa6"},           // LEFT-TO-RIGHT ISOLATE
      {"\u2069", "\\xe2\\x81\\xa9"},           // POP DIRECTIONAL ISOLATE
      {"\u200E", "\\xe2\\x80\\x8e"},           // LEFT-TO-RIGHT MARK
      {"\u200F", "\\xe2\\x80\\x8f"},           // RIGHT-TO-LEFT MARK
      {"\u061C", "\\xd8\\x9c"},                // ARABIC LETTER MARK
      {"\u200B", "\\xe2\\x80\\x8b"},           // ZERO WIDTH SPACE (Cf)
      {"\u200D", "\\xe2\\x80\\x8d"},           // ZERO WIDTH JOINER (Cf)
      {"\u00AD", "\\xc2\\xad"},                // SOFT HYPHEN (Cf)
      {"\uFEFF", "\\xef\\xbb\\xbf"},           // ZERO WIDTH NO-BREAK SPACE, BOM (Cf)
      {"\U000E0001", "\\xf3\\xa0\\x80\\x81"},  // LANGUAGE TAG (Cf)
      {"\uE000", "\\xee\\x80\\x80"},           // private use (Co)
      {"\U0010FFFD", "\\xf4\\x8f\\xbf\\xbd"},  // private use, plane 16 (Co)
      {"\u0378", "\\xcd\\xb8"},                // unassigned (Cn)
      {"\uFFFF", "\\xef\\xbf\\xbf"},           // noncharacter (Cn)
      // Default_Ignorable_Code_Points of other categories (QA: "a" and "a" + U+FE0F were two
      // names that look alike).
      {"\uFE0F", "\\xef\\xb8\\x8f"},           // VARIATION SELECTOR-16 (Mn)
      {"\U000E0100", "\\xf3\\xa0\\x84\\x80"},  // VARIATION SELECTOR-17 (Mn)
      {"\u034F", "\\xcd\\x8f"},                // COMBINING GRAPHEME JOINER (Mn)
      {"\u115F", "\\xe1\\x85\\x9f"},           // HANGUL CHOSEONG FILLER (Lo)
      {"\u3164", "\\xe3\\x85\\xa4"},           // HANGUL FILLER (Lo)
      {"\uFFA0", "\\xef\\xbe\\xa0"},           // HALFWIDTH HANGUL FILLER (Lo)
  };
  for (const auto& [character, shown] : escaped)
    EXPECT_EQ(escape_control_characters(std::string("a") + character + "b"),
              std::string("a") + shown + "b")
        << shown;
  // Kept: spaces (Zs), combining marks (Mn) that show, symbols, letters of any script.
  for (const char* kept :
       {"\u00A0", "\u3000", "e\u0301", "\U0001F600", "\u05D0\u0627", "\uFFFD", "\u4E2D"})
    EXPECT_EQ(escape_control_characters(kept), kept);
}

// JSON text keeps its value with the characters escape_control_characters escapes as JSON
// escapes: past U+FFFF as a surrogate pair; other non-ASCII text and bytes that are not UTF-8 as
// they are.
TEST(Utf8, EscapeInvisibleInJson) {
  EXPECT_EQ(escape_invisible_in_json("[\"gpt\u202E4o\", \"a\u2028b\", \"x\x7f\"]"),
            "[\"gpt\\u202e4o\", \"a\\u2028b\", \"x\\u007f\"]");
  EXPECT_EQ(escape_invisible_in_json("\"\U000E0001\uFE0F\""), "\"\\udb40\\udc01\\ufe0f\"");
  for (const char* kept :
       {"\"caf\u00e9 \u6a21\u578b \U0001F600\"", "{\n\t\"a\": 1\r\n}", "\"\xff\""})
    EXPECT_EQ(escape_invisible_in_json(kept), kept);
}

// Terminal columns: ASCII and Latin letters 1, CJK ideographs and fullwidth forms 2, a
// combining mark 0, a byte that is not UTF-8 1.
TEST(Utf8, DisplayWidth) {
  EXPECT_EQ(display_width(""), 0u);
  EXPECT_EQ(display_width("qwen"), 4u);
  EXPECT_EQ(display_width("caf\xc3\xa9"), 4u);               // café: 5 bytes
  EXPECT_EQ(display_width("\xe6\xa8\xa1\xe5\x9e\x8b"), 4u);  // 模型: 6 bytes
  EXPECT_EQ(display_width("\xef\xbc\xa1"), 2u);              // Ａ (fullwidth A)
  EXPECT_EQ(display_width("cafe\xcc\x81"), 4u);              // e + combining acute
  EXPECT_EQ(display_width("a\xff\xe4\xbd"), 4u);             // a, 3 bytes not UTF-8
}

}  // namespace
}  // namespace gengyun::tokenizer
