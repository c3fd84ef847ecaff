#include "util/model_name.h"

#include <gtest/gtest.h>

#include <string>

namespace gengyun::util {
namespace {

// The characters that show as nothing or as something else (those that
// tokenizer::escape_control_characters escapes); letters, marks, symbols and spaces show.
TEST(ModelName, InvisibleCharacters) {
  for (const char32_t cp : {0x00, 0x1B, 0x7F, 0x9B, 0x202E, 0x2066, 0x200B, 0xFEFF, 0x2028, 0x2029,
                            0xE000, 0x0378, 0xFE0F, 0x034F, 0x3164, 0xE0100})
    EXPECT_TRUE(invisible_character(cp)) << std::hex << static_cast<uint32_t>(cp);
  for (const char32_t cp : {0x20, 0x41, 0xA0, 0x3000, 0x0301, 0x6A21, 0x1F600, 0xFFFD})
    EXPECT_FALSE(invisible_character(cp)) << std::hex << static_cast<uint32_t>(cp);
}

// Bytes that are not UTF-8 by Table 3-7 (a lone continuation byte, an overlong form, a
// surrogate, past U+10FFFF, a character cut short) or an invisible character anywhere.
TEST(ModelName, HoldsUnprintable) {
  for (const char* unprintable :
       {"a\x01", "\x7f", "gpt\u202E4o", "a\u200Bb", "a\uFE0F", "\x80", "\xc0\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xe6\xa8", "a\xff"})
    EXPECT_TRUE(holds_unprintable(unprintable)) << unprintable;
  for (const char* shown : {"", "qwen tiny+v2", "\u6a21\u578b", "e\u0301", "a\u00A0b", "\U0001F600",
                            "org/model:tag", "a\\b"})
    EXPECT_FALSE(holds_unprintable(shown)) << shown;
}

// Spaces of category Zs at either end (a name "a " shows as "a"); inside, other characters and
// bytes that are not UTF-8 at the ends are not spaces.
TEST(ModelName, BeginsOrEndsWithSpace) {
  for (const char* spaced : {" a", "a ", "\u00A0a", "a\u3000", "\u2003", " "})
    EXPECT_TRUE(begins_or_ends_with_space(spaced)) << spaced;
  for (const char* unspaced :
       {"", "a", "a b", "\tab", "ab\n", "\u6a21\u578b", "a\xe3\x80", "\x80 a"})
    EXPECT_FALSE(begins_or_ends_with_space(unspaced)) << unspaced;
}

// The first space of category Zs other than U+0020, anywhere; U+0020, other whitespace (tab,
// U+2028: Zl) and bytes that are not UTF-8 are none.
TEST(ModelName, LookalikeSpace) {
  EXPECT_EQ(lookalike_space("a\u00A0b"), "U+00A0");
  EXPECT_EQ(lookalike_space("\u3000ab"), "U+3000");
  EXPECT_EQ(lookalike_space("ab\u202F"), "U+202F");
  EXPECT_EQ(lookalike_space("a b\u2009c\u00A0"), "U+2009");
  EXPECT_EQ(lookalike_space("\u1680"), "U+1680");
  EXPECT_EQ(lookalike_space("\xff\xe3\x80\x80"), "U+3000");
  for (const char* none : {"", "a b", " ", "\ta\n", "a\u2028b", "\u6a21\u578b", "a\xc2", "\xa0"})
    EXPECT_EQ(lookalike_space(none), std::nullopt) << none;
}

// Letters of every script, U+0020 inside, punctuation and symbols make model names (served ids
// can be priced and named in a key's models); each flaw is named, the first one found.
TEST(ModelName, FlawsAreNamedAndOtherNamesAreModelNames) {
  for (const char* name : {"qwen2-tiny", "Qwen/Qwen2.5-0.5B:q8_0", "qwen tiny+v2", "\u6a21\u578b",
                           "caf\u00e9 \u00e0 la carte", "=x", "x' OR '1'='1"})
    EXPECT_EQ(model_name_flaw(name), std::nullopt) << name;
  const std::pair<std::string, std::string> flaws[] = {
      {"a\nb",
       "holds control, format, invisible, private-use or unassigned characters, or bytes that are "
       "not UTF-8, which a model id may not"},
      {"a\u00A0b",
       "holds the space U+00A0, which shows as U+0020 does and which a model id may not"},
      {"a ", "begins or ends with a space, which a model id may not"},
      {"a,b",
       "holds a comma, which a model id may not (a key's model list is stored comma-separated)"},
      {",\u3000\x01",
       "holds control, format, invisible, private-use or unassigned characters, "
       "or bytes that are not UTF-8, which a model id may not"},
  };
  for (const auto& [name, flaw] : flaws) EXPECT_EQ(model_name_flaw(name), flaw) << name;
  EXPECT_EQ(model_name_refusal("the alias", "q,r"),
            "the alias 'q,r' holds a comma, which a model id may not (a key's model list is stored "
            "comma-separated)");
  EXPECT_EQ(model_name_refusal("the alias", "q r"), std::nullopt);
}

// NFC is composed: "café" with U+00E9 is, "cafe" and U+0301 (macOS' file names) is not, nor are
// bytes that are not UTF-8; a model name not in NFC is refused (QA: the NFD and NFC "café" were
// two ids that look alike, the price of one never billing the other).
TEST(ModelName, NamesNotInNfcAreRefused) {
  for (const char* name : {"", "cafe", "caf\u00e9", "\ud55c", "\u00c5"})
    EXPECT_TRUE(is_nfc(name)) << name;
  for (const char* name : {"cafe\u0301", "\u1112\u1161\u11ab", "A\u030a", "\u212b", "\xff"})
    EXPECT_FALSE(is_nfc(name)) << name;
  const std::string flaw =
      "is not in Unicode NFC form, which a model id may not; write it composed, e.g. the 'é' of "
      "'café' as U+00E9, not 'e' and U+0301";
  EXPECT_EQ(model_name_flaw("cafe\u0301"), flaw);
  EXPECT_EQ(model_name_refusal("the alias", "cafe\u0301"), "the alias 'cafe\u0301' " + flaw);
  EXPECT_EQ(model_name_flaw("caf\u00e9"), std::nullopt);
}

// A folder file's id is its name in NFC, lower-cased per code point (Unicode's simple
// lower-casing), in NFC again (QA: "Modèle É.gguf" was served as "modèle É", only ASCII
// lower-cased, and the NFD café file as NFD "café").
TEST(ModelName, FolderModelIdsAreNfcAndLowerCased) {
  EXPECT_EQ(folder_model_id("Mod\u00e8le \u00c9"), "mod\u00e8le \u00e9");
  EXPECT_EQ(folder_model_id("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(folder_model_id("CAFE\u0301"), "caf\u00e9");
  EXPECT_EQ(folder_model_id("Qwen-Small"), "qwen-small");
  EXPECT_EQ(folder_model_id("\u0391\u0392\u0393 \u0416"), "\u03b1\u03b2\u03b3 \u0436");
  // Lower-cased after NFC: "I" and U+0307 compose to U+0130, whose simple lower case is "i".
  EXPECT_EQ(folder_model_id("\u0130"), "i");
  EXPECT_EQ(folder_model_id("I\u0307"), "i");
  EXPECT_EQ(folder_model_id("\u212b"), "\u00e5");  // the Angstrom sign's NFC is U+00C5
  EXPECT_EQ(folder_model_id("\xff"
                            "A"),
            "\xff"
            "A");
}

}  // namespace
}  // namespace gengyun::util
