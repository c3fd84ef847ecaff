// Token masks against the slow obvious reference (every token's bytes tried against the
// grammar), on a small vocabulary built to hit the hard cases: tokens that open, close and
// straddle strings, split UTF-8 characters and escapes, whitespace runs, end-of-generation.
#include "sampling/token_mask.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sampling/json_schema.h"
#include "sampling/json_validator.h"

namespace gengyun::sampling {
namespace {

/// Whether the grammar allows `id` after `state`: its bytes advance the state all the way
/// (an end-of-generation token: the state is complete). The reference masks are built from it.
bool reference_allows(const Grammar& g, const VocabIndex& vocab, const GrammarState& state,
                      int32_t id) {
  if (vocab.is_eog(id)) return Grammar::complete(state);
  const std::string& text = vocab.bytes(id);
  if (text.empty()) return false;
  GrammarState current = state, next;
  for (char c : text) {
    g.advance(current, static_cast<uint8_t>(c), next);
    if (next.empty()) return false;
    std::swap(current, next);
  }
  return true;
}

/// A vocabulary of every single byte plus pieces that cross JSON's lexical boundaries.
std::shared_ptr<const VocabIndex> small_vocab() {
  std::vector<std::string> tokens;
  tokens.push_back("");  // a control token: never allowed
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  for (const char* piece : {"{\"",
                            "\":",
                            "\",",
                            "\"}",
                            "\"]",
                            " \"",
                            "\":\"",
                            "\", \"",
                            "true",
                            "false",
                            "null",
                            "tr",
                            "ue",
                            "\n  ",
                            "\n    ",
                            "\n\t",
                            "  ",
                            "\n\n",
                            "12",
                            "-0",
                            "0.",
                            "e+",
                            "1e5",
                            "\\u00",
                            "\\ud8",
                            "\\n",
                            "\\\"",
                            "\\\\\"",
                            "\xc3\xa9",
                            "\xc3",
                            "\xa9\"",
                            "\xe4\xb8",
                            "\xad\",",
                            "\xf0\x9f\x98\x80",
                            "ab",
                            "abc\"",
                            "\"abc",
                            "a\"b",
                            "x\":",
                            "[1",
                            ",1]",
                            "},{",
                            "}]",
                            "\"next\"",
                            "\"next\":",
                            "\"ok\":true}",
                            "2024-",
                            "01-",
                            "T12:",
                            "Z\"",
                            "{\"a\":0,\"b\":0}",
                            "\"\"",
                            "\"\":",
                            "}\n"})
    tokens.push_back(piece);
  tokens.push_back("");  // an end-of-generation token (control, no bytes)
  const int32_t eog = static_cast<int32_t>(tokens.size() - 1);
  return std::make_shared<const VocabIndex>(std::move(tokens), std::vector<int32_t>{eog});
}

/// SplitMix64: deterministic on every platform.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Random walks under the mask; at every step the mask equals the reference's, and a walk that
/// ends (end-of-generation chosen) has produced text that validates. `ended` counts the walks
/// that ended.
void walk_and_compare(const std::string& schema_text,
                      const std::shared_ptr<const VocabIndex>& vocab, int walks, int max_steps,
                      uint64_t seed, int& ended) {
  const std::shared_ptr<const Grammar> g = compile_json_schema_text(schema_text).value();
  const auto schema = testing::OrderedJson::parse(schema_text);
  uint64_t rng = seed;
  ended = 0;
  for (int w = 0; w < walks; ++w) {
    GrammarMatcher matcher(g, vocab);
    GrammarState reference = g->initial();
    std::string text;
    TokenMask mask(vocab->n_vocab());
    for (int step = 0; step < max_steps; ++step) {
      matcher.fill_mask(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab->n_vocab(); ++id) {
        const bool expected = reference_allows(*g, *vocab, reference, id);
        ASSERT_EQ(mask.test(id), expected) << schema_text << " after '" << text << "', token " << id
                                           << " '" << vocab->bytes(id) << "'";
        if (expected) allowed.push_back(id);
      }
      ASSERT_FALSE(allowed.empty()) << "after '" << text << "'";
      const int32_t id = allowed[next_random(rng) % allowed.size()];
      ASSERT_TRUE(matcher.accept(id));
      if (vocab->is_eog(id)) {
        EXPECT_TRUE(testing::text_validates(text, schema)) << schema_text << ": " << text;
        ++ended;
        break;
      }
      for (char c : vocab->bytes(id)) {
        GrammarState next;
        g->advance(reference, static_cast<uint8_t>(c), next);
        reference = std::move(next);
      }
      text += vocab->bytes(id);
    }
  }
}

const char* const kSchemas[] = {
    R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"const": 0}},
        "required": ["b"], "additionalProperties": false})",
    R"({"type": "object", "properties": {"ok": {"type": "boolean"},
        "when": {"type": "string", "format": "date-time"}, "tags": {"type": "array",
        "items": {"enum": ["x", "y\"z", null]}, "maxItems": 3}}, "required": ["ok", "tags"],
        "additionalProperties": false})",
    R"({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4})",
    R"({"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]})",
    R"({"$defs": {"node": {"type": "object", "properties": {"next": {"anyOf": [
        {"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["next"],
        "additionalProperties": false}}, "$ref": "#/$defs/node"})",
    R"({})",
};

TEST(TokenMask, EqualsTheReferenceOnEveryStepOfRandomWalks) {
  const std::shared_ptr<const VocabIndex> vocab = small_vocab();
  uint64_t seed = 1;
  int ended = 0;
  for (const char* schema : kSchemas) walk_and_compare(schema, vocab, 20, 60, seed++, ended);
}

TEST(TokenMask, BoundedSchemasEnd) {
  // Only enums and booleans: every walk ends by itself within the longest sentence's bytes.
  const std::shared_ptr<const VocabIndex> vocab = small_vocab();
  const std::string schema = R"({"type": "object", "properties": {"ok": {"type": "boolean"},
      "c": {"enum": ["red", "green"]}}, "required": ["ok", "c"], "additionalProperties": false})";
  int ended = 0;
  walk_and_compare(schema, vocab, 50, 400, 99, ended);
  EXPECT_EQ(ended, 50);
}

TEST(TokenMask, EndOfGenerationOnlyWhenComplete) {
  const std::shared_ptr<const VocabIndex> vocab = small_vocab();
  const int32_t eog = vocab->eog().front();
  GrammarMatcher matcher(compile_json_schema_text(R"({"type": "boolean"})").value(), vocab);
  TokenMask mask(vocab->n_vocab());
  matcher.fill_mask(mask);
  EXPECT_FALSE(mask.test(eog));
  EXPECT_FALSE(mask.test(0));  // the control token
  EXPECT_FALSE(matcher.accept(eog));
  const int32_t tr = 256 + 1 + 11, ue = tr + 1;  // "tr", "ue"
  ASSERT_EQ(vocab->bytes(tr), "tr");
  EXPECT_TRUE(matcher.accept(tr));
  EXPECT_FALSE(matcher.complete());
  EXPECT_TRUE(matcher.accept(ue));
  EXPECT_TRUE(matcher.complete());
  EXPECT_TRUE(matcher.finished());
  matcher.fill_mask(mask);
  EXPECT_EQ(mask.count(), 1);
  EXPECT_TRUE(mask.test(eog));
  EXPECT_FALSE(matcher.accept(1 + 'x'));
  EXPECT_FALSE(matcher.accept(-1));
  EXPECT_FALSE(matcher.accept(vocab->n_vocab()));
  EXPECT_TRUE(matcher.accept(eog));
}

TEST(TokenTrie, DepthFirstLayout) {
  const TokenTrie trie = TokenTrie::build({{"ab", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {"", 4}});
  // root; a [1]; ab [0, 3]; b [2]
  ASSERT_EQ(trie.nodes.size(), 4u);
  EXPECT_EQ(trie.nodes[0].end, 4u);
  EXPECT_EQ(trie.nodes[1].byte, 'a');
  EXPECT_EQ(trie.nodes[1].end, 3u);
  EXPECT_EQ(trie.nodes[2].byte, 'b');
  EXPECT_EQ(trie.nodes[3].byte, 'b');
  const auto ids = [&](size_t node) {
    return std::vector<int32_t>(trie.tokens.begin() + trie.nodes[node].tokens_begin,
                                trie.tokens.begin() + trie.nodes[node].tokens_end);
  };
  EXPECT_EQ(ids(0), std::vector<int32_t>{4});
  EXPECT_EQ(ids(1), std::vector<int32_t>{1});
  EXPECT_EQ(ids(2), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(ids(3), std::vector<int32_t>{2});
}

}  // namespace
}  // namespace gengyun::sampling
