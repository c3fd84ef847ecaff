// The byte grammar and its recognizer: finish()'s refusals, right recursion in constant stack
// depth, and the JSON string lexer against nlohmann's parser over every short byte sequence.
#include "sampling/grammar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "sampling/json_schema.h"

namespace gengyun::sampling {
namespace {

TEST(Grammar, FinishRefusesBrokenGrammars) {
  {
    Grammar g;
    const uint32_t root = g.add_rule();
    g.add_rule();  // no alternative
    g.add_alternative(root, {g.byte('a')});
    Result<void> r = g.finish(root);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("rule 1 has no alternative"), std::string::npos);
  }
  {
    Grammar g;
    const uint32_t root = g.add_rule();
    g.add_alternative(root, {Grammar::rule(7)});
    Result<void> r = g.finish(root);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("refers to rule 7"), std::string::npos);
  }
  {
    Grammar g;
    EXPECT_NE(g.finish(0).error().message.find("no rule 0"), std::string::npos);
  }
  {
    // a ::= b "x" | "y"; b ::= "" | a: a reaches itself through the nullable b.
    Grammar g;
    const uint32_t a = g.add_rule(), b = g.add_rule();
    g.add_alternative(a, {Grammar::rule(b), g.byte('x')});
    g.add_alternative(a, {g.byte('y')});
    g.add_alternative(b, {});
    g.add_alternative(b, {Grammar::rule(a)});
    Result<void> r = g.finish(a);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("left-recursive"), std::string::npos);
  }
}

TEST(Grammar, RightRecursionKeepsTheStackDepthConstant) {
  const std::shared_ptr<const Grammar> g =
      compile_json_schema_text(R"({"type": "array", "items": {"type": "integer"}})").value();
  GrammarState state = g->initial(), next;
  size_t deepest = 0;
  const auto feed = [&](const std::string& text) {
    for (char c : text) {
      g->advance(state, static_cast<uint8_t>(c), next);
      ASSERT_FALSE(next.empty()) << c;
      std::swap(state, next);
      for (size_t i = 0; i < state.n_stacks(); ++i)
        deepest = std::max(deepest, state.stack(i).size());
    }
  };
  feed("[1");
  const size_t after_first = deepest;
  for (int i = 0; i < 10000; ++i) feed(",23");
  feed("]");
  EXPECT_TRUE(Grammar::complete(state));
  EXPECT_EQ(deepest, after_first);
}

/// The stacks of `state` as a sorted list (the order they were pushed in does not matter).
std::vector<std::vector<uint32_t>> stacks_of(const GrammarState& state) {
  std::vector<std::vector<uint32_t>> stacks;
  for (size_t i = 0; i < state.n_stacks(); ++i)
    stacks.emplace_back(state.stack(i).begin(), state.stack(i).end());
  std::sort(stacks.begin(), stacks.end());
  return stacks;
}

// Beyond Grammar::kIndexedStacks stacks duplicates are found by a hash index: a state holds
// each stack once, as with few. root ::= "c" d0 | ... | "c" d59 | x | x | ... (60 times), with
// x ::= "a" | "b" and dI ::= y | "e" | "f" | ... (I + 1 bytes) | y, y ::= "z". First 60 + 2
// stacks (the 60 references to x give x's two, duplicates met past the threshold); after "c",
// y's one stack (met 120 times) and the dI's bytes, 1 + 2 + ... + 60 = 1830 distinct positions;
// after "cz" or "ce" every stack that took the byte has ended: one empty stack.
TEST(Grammar, AStateHoldsEachStackOnceAlsoPastTheIndexThreshold) {
  Grammar g;
  const uint32_t root = g.add_rule(), x = g.add_rule(), y = g.add_rule();
  g.add_alternative(x, {g.byte('a')});
  g.add_alternative(x, {g.byte('b')});
  g.add_alternative(y, {g.byte('z')});
  for (int i = 0; i < 60; ++i) {
    const uint32_t d = g.add_rule();
    g.add_alternative(d, {Grammar::rule(y)});
    for (int j = 0; j <= i; ++j) g.add_alternative(d, {g.byte(static_cast<uint8_t>('e' + j % 20))});
    g.add_alternative(d, {Grammar::rule(y)});
    g.add_alternative(root, {g.byte('c'), Grammar::rule(d)});
  }
  for (int i = 0; i < 60; ++i) g.add_alternative(root, {Grammar::rule(x)});
  ASSERT_TRUE(g.finish(root).ok());
  static_assert(Grammar::kIndexedStacks < 60);
  const auto unique = [](const GrammarState& state) {
    auto stacks = stacks_of(state);
    return std::adjacent_find(stacks.begin(), stacks.end()) == stacks.end();
  };
  const GrammarState initial = g.initial();
  EXPECT_EQ(initial.n_stacks(), 62u);
  EXPECT_TRUE(unique(initial));
  GrammarState after_c, after_cz, after_ce, after_a;
  g.advance(initial, 'c', after_c);
  EXPECT_EQ(after_c.n_stacks(), 1831u);
  EXPECT_TRUE(unique(after_c));
  for (const auto& [byte, after] : {std::pair<uint8_t, GrammarState*>{'z', &after_cz},
                                    std::pair<uint8_t, GrammarState*>{'e', &after_ce}}) {
    g.advance(after_c, byte, *after);
    ASSERT_EQ(after->n_stacks(), 1u) << byte;
    EXPECT_TRUE(after->stack(0).empty()) << byte;
  }
  g.advance(initial, 'a', after_a);
  ASSERT_EQ(after_a.n_stacks(), 1u);
  EXPECT_TRUE(Grammar::complete(after_a));
}

/// Over `bodies`: the grammar of a string accepts '"' + body + '"' exactly when nlohmann's
/// parser does (bodies with a NUL byte: when RFC 8259 does). Returns the number accepted.
int compare_string_bodies(
    const std::function<void(const std::function<void(const std::string&)>&)>& bodies) {
  const std::shared_ptr<const Grammar> g =
      compile_json_schema_text(R"({"type": "string"})").value();
  int accepted = 0, mismatches = 0;
  bodies([&](const std::string& body) {
    const std::string text = "\"" + body + "\"";
    // nlohmann reads a NUL byte as the end of the input ("\"\"\0" passes); RFC 8259 refuses
    // raw control characters in strings, NUL among them.
    const bool expected = body.find('\0') == std::string::npos && nlohmann::json::accept(text);
    const bool got = g->accepts(text);
    accepted += got;
    if (got != expected && mismatches++ < 5) {
      std::string hex;
      for (unsigned char c : body) hex += " " + std::to_string(c);
      ADD_FAILURE() << "body bytes" << hex << ": grammar " << got << ", nlohmann " << expected;
    }
  });
  return accepted;
}

TEST(Grammar, StringLexerAgreesWithAStrictParserOnEveryShortSequence) {
  // Every body of one or two bytes.
  const int two = compare_string_bodies([](const auto& visit) {
    for (int a = 0; a < 256; ++a) {
      visit(std::string(1, static_cast<char>(a)));
      for (int b = 0; b < 256; ++b) visit(std::string{static_cast<char>(a), static_cast<char>(b)});
    }
  });
  // One byte: 0x20..0x7F except '"' and '\' (94). Two bytes: two such (94^2), an escape of
  // one of "\/bfnrt (8), or a two-byte character C2..DF 80..BF (30 * 64).
  EXPECT_EQ(two, 94 + 94 * 94 + 8 + 30 * 64);
  // Every three- and four-byte sequence that starts with a lead byte E0..F4 and continues with
  // bytes 80..BF: the overlong, surrogate and above-U+10FFFF ones refused.
  compare_string_bodies([](const auto& visit) {
    for (int a = 0xE0; a <= 0xF4; ++a)
      for (int b = 0x80; b <= 0xBF; ++b)
        for (int c = 0x80; c <= 0xBF; ++c) {
          visit(std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
          if (a >= 0xF0)
            for (int d = 0x80; d <= 0xBF; ++d)
              visit(std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                                static_cast<char>(d)});
        }
  });
  // \u escapes: every 4-hex-digit code below D800 and from E000 that nlohmann takes, and no
  // surrogate (nlohmann takes valid pairs; the grammar refuses all surrogate escapes).
  const std::shared_ptr<const Grammar> g =
      compile_json_schema_text(R"({"type": "string"})").value();
  for (int code = 0; code < 0x10000; code += 7) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04x", code);
    const bool surrogate = code >= 0xD800 && code < 0xE000;
    EXPECT_EQ(g->accepts(std::string("\"\\u") + hex + "\""), !surrogate) << hex;
  }
}

}  // namespace
}  // namespace gengyun::sampling
