// Constrained decoding over real vocabularies (Qwen's 151k byte-level BPE, Llama 2's 32k
// SentencePiece): masks equal the slow reference, and random sampling under the mask from
// random logits always ends, for bounded schemas, in text that parses and validates.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/grammar_vocab.h"
#include "engine/tool_call_grammar.h"
#include "gguf/gguf.h"
#include "sampling/json_schema.h"
#include "sampling/json_validator.h"
#include "sampling/sampler.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {
namespace {

using sampling::Grammar;
using sampling::GrammarMatcher;
using sampling::GrammarState;
using sampling::TokenMask;
using sampling::VocabIndex;

std::shared_ptr<const VocabIndex> vocab_of(const std::string& relative) {
  static std::map<std::string, std::shared_ptr<const VocabIndex>> cache;
  auto& slot = cache[relative];
  if (!slot) {
    auto file = gguf::File::open(testing::testdata_path(relative));
    if (!file.ok()) {
      ADD_FAILURE() << file.error().message;
      return nullptr;
    }
    auto tokenizer = Tokenizer::load(file.value());
    if (!tokenizer.ok()) {
      ADD_FAILURE() << tokenizer.error().message;
      return nullptr;
    }
    slot = make_vocab_index(*tokenizer.value());
  }
  return slot;
}

uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The reference: token `id`'s bytes tried one by one against the grammar from `state`.
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

struct Outcome {
  int ended = 0;
  std::vector<std::string> texts;
};

/// `walks` generations of at most `max_steps` tokens sampled (temperature 1, no truncation)
/// from uniform random logits in [-8, 8) under the grammar's mask. The first `checked_steps`
/// masks of the first walk are compared with the reference over the whole vocabulary.
void generate(const std::string& schema_text, const std::shared_ptr<const VocabIndex>& vocab,
              int walks, int max_steps, int checked_steps, Outcome& out) {
  Result<std::shared_ptr<const Grammar>> compiled = sampling::compile_json_schema_text(schema_text);
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  const std::shared_ptr<const Grammar> g = compiled.value();
  const auto schema = testing::OrderedJson::parse(schema_text);
  const int32_t n = vocab->n_vocab();
  std::vector<float> logits(static_cast<size_t>(n));
  uint64_t rng = std::hash<std::string>{}(schema_text);
  for (int w = 0; w < walks; ++w) {
    sampling::SamplingParams params;
    params.temperature = 1.0f;
    params.top_k = 0;
    params.top_p = 1.0f;
    params.min_p = 0.0f;
    params.seed = next_random(rng);
    sampling::Sampler sampler(params);
    GrammarMatcher matcher(g, vocab);
    GrammarState reference = g->initial();
    TokenMask mask(n);
    std::string text;
    for (int step = 0; step < max_steps; ++step) {
      matcher.fill_mask(mask);
      ASSERT_GT(mask.count(), 0) << "no token allowed after '" << text << "'";
      if (w == 0 && step < checked_steps) {
        for (int32_t id = 0; id < n; ++id)
          ASSERT_EQ(mask.test(id), reference_allows(*g, *vocab, reference, id))
              << "after '" << text << "', token " << id << " '" << vocab->bytes(id) << "'";
      }
      for (float& x : logits)
        x = -8.0f +
            16.0f * static_cast<float>(static_cast<double>(next_random(rng) >> 11) * 0x1.0p-53);
      const int32_t id = sampler.sample(logits, {}, &mask);
      ASSERT_TRUE(mask.test(id));
      ASSERT_TRUE(matcher.accept(id)) << id;
      if (vocab->is_eog(id)) {
        EXPECT_TRUE(testing::text_validates(text, schema)) << schema_text << "\n" << text;
        ++out.ended;
        out.texts.push_back(text);
        break;
      }
      if (w == 0 && step < checked_steps) {
        for (char c : vocab->bytes(id)) {
          GrammarState next;
          g->advance(reference, static_cast<uint8_t>(c), next);
          reference = std::move(next);
        }
      }
      text += vocab->bytes(id);
    }
  }
}

class StructuredOutput : public ::testing::TestWithParam<const char*> {};

TEST_P(StructuredOutput, BoundedSchemasEndAndValidate) {
  REQUIRE_TESTDATA();
  const std::shared_ptr<const VocabIndex> vocab = vocab_of(GetParam());
  ASSERT_NE(vocab, nullptr);
  for (const char* schema : {
           R"({"type": "object", "properties": {"ok": {"type": "boolean"},
               "color": {"enum": ["red", "green", "blue \"sky\""]}, "n": {"type": "null"},
               "level": {"const": 3}}, "required": ["ok", "color"], "additionalProperties": false})",
           R"({"type": "array", "items": {"anyOf": [{"type": "boolean"}, {"enum": [1, 2]}]},
               "minItems": 1, "maxItems": 5})",
           R"({"enum": ["yes", "no", "\u00e9t\u00e9 中文"]})",
       }) {
    Outcome out;
    generate(schema, vocab, 8, 600, 6, out);
    EXPECT_EQ(out.ended, 8) << schema;
  }
}

TEST_P(StructuredOutput, UnboundedSchemasValidateWhenTheyEnd) {
  REQUIRE_TESTDATA();
  const std::shared_ptr<const VocabIndex> vocab = vocab_of(GetParam());
  ASSERT_NE(vocab, nullptr);
  for (const char* schema : {
           R"({"type": "object", "properties": {"name": {"type": "string"},
               "age": {"type": "integer"}, "score": {"type": "number"},
               "when": {"type": "string", "format": "date"},
               "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
               "required": ["name", "age"], "additionalProperties": false})",
           R"({"type": "object"})",
           R"({"type": "string", "format": "uuid"})",
       }) {
    Outcome out;
    generate(schema, vocab, 2, 400, 6, out);
  }
}

/// The work of one mask on Qwen's vocabulary, in recognizer steps (machine-independent; a step
/// is one byte from one trie node), at the positions bench/grammar_bench.cpp times. Pruning at
/// the first refused byte must keep every position far below the vocabulary's 151k tokens.
TEST(StructuredOutputCost, MaskStepsOnQwen) {
  REQUIRE_TESTDATA();
  const std::shared_ptr<const VocabIndex> vocab = vocab_of("tokenizer/qwen-vocab.gguf");
  ASSERT_NE(vocab, nullptr);
  auto file = gguf::File::open(testing::testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(file.ok());
  auto tokenizer = Tokenizer::load(file.value());
  ASSERT_TRUE(tokenizer.ok());
  const std::shared_ptr<const Grammar> schema =
      sampling::compile_json_schema_text(R"({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}}, "ok": {"type": "boolean"}},
        "required": ["name", "age", "tags", "ok"], "additionalProperties": false})")
          .value();
  const std::shared_ptr<const Grammar> object = sampling::json_object_grammar();
  // An enum of 676 two-letter words and 676 longer ones.
  std::vector<std::string> words;
  for (char a = 'a'; a <= 'z'; ++a)
    for (char b = 'a'; b <= 'z'; ++b) {
      words.push_back(std::string{a, b});
      words.push_back(std::string{a, b} + "ing");
    }
  const std::shared_ptr<const Grammar> big_enum =
      sampling::compile_json_schema_text(testing::OrderedJson{{"enum", words}}.dump()).value();
  struct Position {
    const char* name;
    std::shared_ptr<const Grammar> grammar;
    std::string prefix;
  };
  const Position positions[] = {
      {"start", schema, ""},
      {"key", schema, "{"},
      {"in_string", schema, "{\"name\": \"Ada Love"},
      {"after_value", schema, "{\"name\": \"Ada\", \"age\": 36"},
      {"array_item", schema, "{\"name\": \"Ada\", \"age\": 36, \"tags\": ["},
      {"object_key", object, "{\"a\": 1, "},
      {"object_value", object, "{\"a\": "},
      {"object_in_string", object, "{\"a\": \"hello wor"},
      {"enum_start", big_enum, ""},
      {"enum_inside", big_enum, "\"t"},
  };
  TokenMask mask(vocab->n_vocab());
  for (const Position& p : positions) {
    GrammarMatcher matcher(p.grammar, vocab);
    for (int32_t id : tokenizer.value()->encode(p.prefix, false))
      ASSERT_TRUE(matcher.accept(id)) << p.name;
    matcher.fill_mask(mask);
    std::printf("mask at %-16s %6d tokens allowed, %6lld recognizer steps\n", p.name, mask.count(),
                static_cast<long long>(matcher.last_mask_steps()));
    EXPECT_GT(mask.count(), 0) << p.name;
    EXPECT_LT(matcher.last_mask_steps(), 5000) << p.name;
  }
}

// The lazy tool-call grammar of tool_choice "auto" without parallel calls (docs/
// structured_output.md, "Lazy grammars") on Qwen's vocabulary. Before the tag the only tokens
// refused are those whose bytes complete "<tool_call>" and go on with bytes no call begins
// with; once the tag is reached (Qwen's added token, pieces that spell it, or a piece holding
// its end and a newline) each mask equals the reference of the eager grammar over the whole
// text, at every step of a random walk.
TEST(StructuredOutputLazy, ToolCallsOnQwen) {
  REQUIRE_TESTDATA();
  const std::shared_ptr<const VocabIndex> vocab = vocab_of("tokenizer/qwen-vocab.gguf");
  ASSERT_NE(vocab, nullptr);
  auto file = gguf::File::open(testing::testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(file.ok());
  auto tokenizer = Tokenizer::load(file.value());
  ASSERT_TRUE(tokenizer.ok());
  OutputFormat format;
  format.kind = OutputFormat::Kind::ToolCalls;
  format.tools_json = R"([{"type": "function", "function": {"name": "play", "parameters":
      {"type": "object", "properties": {"tracks": {"type": "array", "items": {"enum": [1, 2]}}},
      "required": ["tracks"], "additionalProperties": false}}}])";
  format.text_allowed = true;
  format.parallel_calls = false;
  format.syntax.tool_calls = ToolCallFormat::Hermes;
  const std::shared_ptr<const Grammar> g = tool_call_grammar(format).value();
  const std::string call = "<tool_call>\n{\"name\": \"play\", \"arguments\": {\"tracks\": [";
  TokenMask mask(vocab->n_vocab());
  int refused_after_partial_tag = 0;
  for (const std::string text : {"", "Let me check. <tool", "Sure<tool_call"}) {
    GrammarMatcher lazy(g, vocab);
    for (int32_t id : tokenizer.value()->encode(text, false)) ASSERT_TRUE(lazy.accept(id));
    ASSERT_TRUE(lazy.awaiting_trigger());
    lazy.fill_mask(mask);
    for (int32_t id = 0; id < vocab->n_vocab(); ++id) {
      const std::string s = text + vocab->bytes(id);
      const size_t at = s.find("<tool_call>");
      const bool allowed = vocab->is_eog(id) || at == std::string::npos ||
                           (s.size() - at <= call.size() && call.starts_with(s.substr(at)));
      ASSERT_EQ(mask.test(id), allowed)
          << "after '" << text << "': " << id << " '" << vocab->bytes(id) << "'";
      if (!allowed && !text.empty()) ++refused_after_partial_tag;
    }
  }
  EXPECT_GT(refused_after_partial_tag, 0);

  const int32_t tag = tokenizer.value()->encode("<tool_call>", true)[0];
  ASSERT_EQ(vocab->bytes(tag), "<tool_call>");
  std::vector<std::vector<int32_t>> prefixes = {
      tokenizer.value()->encode("Let me check. <tool_call>", false),
      tokenizer.value()->encode("Sure.<tool_call>\n{\"", false),
      tokenizer.value()->encode("Sure.", false)};
  prefixes.back().push_back(tag);
  uint64_t rng = 5;
  for (const std::vector<int32_t>& prefix : prefixes) {
    GrammarMatcher lazy(g, vocab);
    GrammarState eager = g->initial(), next;
    std::string text;
    for (size_t i = 0; i < prefix.size(); ++i) {
      ASSERT_EQ(lazy.awaiting_trigger(), text.find("<tool_call>") == std::string::npos) << text;
      ASSERT_TRUE(lazy.accept(prefix[i])) << text;
      text += vocab->bytes(prefix[i]);
    }
    ASSERT_FALSE(lazy.awaiting_trigger()) << text;
    for (const char c : text) {
      g->advance(eager, static_cast<uint8_t>(c), next);
      std::swap(eager, next);
    }
    for (int step = 0; step < 8 && !lazy.finished(); ++step) {
      lazy.fill_mask(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab->n_vocab(); ++id) {
        const bool expected = reference_allows(*g, *vocab, eager, id);
        ASSERT_EQ(mask.test(id), expected) << "after '" << text << "': " << id;
        if (expected) allowed.push_back(id);
      }
      ASSERT_FALSE(allowed.empty()) << text;
      const int32_t id = allowed[next_random(rng) % allowed.size()];
      ASSERT_TRUE(lazy.accept(id));
      if (vocab->is_eog(id)) break;
      for (const char c : vocab->bytes(id)) {
        g->advance(eager, static_cast<uint8_t>(c), next);
        std::swap(eager, next);
      }
      text += vocab->bytes(id);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, StructuredOutput,
                         ::testing::Values("tokenizer/qwen-vocab.gguf",
                                           "tokenizer/llama-spm-vocab.gguf"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.index == 0 ? "qwen" : "llama_spm");
                         });

}  // namespace
}  // namespace gengyun::engine
