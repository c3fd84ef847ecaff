// Lazy tool-call grammars (GrammarTrigger, TriggerScanner, GrammarMatcher awaiting a trigger):
// the scanner against a direct search; before the trigger every token is free but one that
// reaches it with bytes the grammar refuses; from the trigger on, the masks equal those of the
// eager grammar (the grammar's own recognizer run over the whole text, as a matcher without a
// trigger reads it), whether the trigger comes whole, split across tokens or inside a larger
// token.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "sampling/grammar_trigger.h"
#include "sampling/json_schema.h"
#include "sampling/string_enumeration.h"
#include "sampling/token_mask.h"

namespace gengyun::sampling {
namespace {

using Json = nlohmann::ordered_json;
using testing::for_each_string;

/// The longest prefix of `d` that `text` ends with, found directly.
uint32_t longest_prefix_suffix(const std::string& d, const std::string& text) {
  for (size_t n = std::min(d.size(), text.size()); n > 0; --n)
    if (text.compare(text.size() - n, n, d, 0, n) == 0) return static_cast<uint32_t>(n);
  return 0;
}

TEST(TriggerScanner, MatchStepIsTheLongestPrefixTheTextEndsWith) {
  for (const std::string d : {"aab", "abab", "aaa", "<tool_call>"}) {
    for_each_string("ab<", 7, [&](const std::string& s) {
      // Texts that do not hold d whole before their last byte, as the scanner sees them.
      if (s.empty() || s.substr(0, s.size() - 1).find(d) != std::string::npos) return;
      const uint32_t k = longest_prefix_suffix(d, s.substr(0, s.size() - 1));
      ASSERT_EQ(match_step(d, k, static_cast<uint8_t>(s.back())), longest_prefix_suffix(d, s))
          << d << " after '" << s << "'";
    });
  }
}

/// The byte of `pieces` (read one after another) at which the scanner fires, as
/// (piece, offset); (-1, -1) when it does not.
std::pair<int, int> fire_at(const GrammarTrigger& trigger, const std::vector<std::string>& pieces) {
  TriggerScanner scanner(trigger);
  for (size_t p = 0; p < pieces.size(); ++p)
    for (size_t i = 0; i < pieces[p].size(); ++i)
      if (scanner.step(static_cast<uint8_t>(pieces[p][i]))) return {p, i};
  return {-1, -1};
}

TEST(TriggerScanner, FindsTheTagWholeSplitOrInsideAPiece) {
  const GrammarTrigger tag{.word = "<tool_call>"};
  EXPECT_EQ(fire_at(tag, {"Hi ", "<tool_call>", "\n"}), std::make_pair(1, 10));
  EXPECT_EQ(fire_at(tag, {"Hi <", "tool", "_call", ">\n{"}), std::make_pair(3, 0));
  EXPECT_EQ(fire_at(tag, {"Sure.<tool_call>\n{\""}), std::make_pair(0, 15));
  EXPECT_EQ(fire_at(tag, {"<tool_<tool_", "call>"}), std::make_pair(1, 4));
  EXPECT_EQ(fire_at(tag, {"<tool_cal", "l", " >", "<tool_call"}), std::make_pair(-1, -1));
}

TEST(TriggerScanner, AtStartOnlyTheAnswersFirstByteAfterWhitespaceCounts) {
  const GrammarTrigger brace{.word = "{", .at_start = true};
  EXPECT_EQ(fire_at(brace, {"{\""}), std::make_pair(0, 0));
  EXPECT_EQ(fire_at(brace, {" \n", "\t{"}), std::make_pair(1, 1));
  EXPECT_EQ(fire_at(brace, {"Hi {", "{"}), std::make_pair(-1, -1));
  const GrammarTrigger list{.word = "[{", .at_start = true};
  EXPECT_EQ(fire_at(list, {"[", "{"}), std::make_pair(1, 0));
  EXPECT_EQ(fire_at(list, {"[", "[{"}), std::make_pair(-1, -1));
}

TEST(TriggerScanner, TheTagInsideReasoningIsNotATrigger) {
  const GrammarTrigger optional{
      .word = "<tool_call>", .skip_open = "<think>", .skip_close = "</think>"};
  EXPECT_EQ(fire_at(optional, {"<think>", "a <tool_call> b", "</thi", "nk>\n<tool_call>"}),
            std::make_pair(3, 14));
  EXPECT_EQ(fire_at(optional, {"<th", "ink><tool_call>"}), std::make_pair(-1, -1));
  // Not reasoning unless the answer begins with the whole tag.
  EXPECT_EQ(fire_at(optional, {"<thin <tool_call>"}), std::make_pair(0, 16));
  EXPECT_EQ(fire_at(optional, {" <think><tool_call>"}), std::make_pair(0, 18));
  EXPECT_EQ(fire_at(optional, {"<tool_call>"}), std::make_pair(0, 10));
  GrammarTrigger inside = optional;
  inside.starts_skipping = true;
  EXPECT_EQ(fire_at(inside, {"<tool_call></think>", "<tool_call>"}), std::make_pair(1, 10));
  const GrammarTrigger brace{
      .word = "{", .at_start = true, .skip_open = "<think>", .skip_close = "</think>"};
  EXPECT_EQ(fire_at(brace, {"<think>{</think>\n\n{"}), std::make_pair(0, 18));
  EXPECT_EQ(fire_at(brace, {"<thin {"}), std::make_pair(-1, -1));
}

const char* kWeather = R"({"type": "object", "properties": {"city": {"type": "string"},
    "unit": {"enum": ["c", "f"]}}, "required": ["city"], "additionalProperties": false})";

enum class Family { Hermes, Llama3, Mistral };

enum class Reasoning { None, Optional, Required };

ToolCallGrammarSpec spec_of(Family family, int max_calls, Reasoning reasoning = Reasoning::None) {
  ToolCallGrammarSpec spec;
  if (reasoning != Reasoning::None) {
    spec.reasoning_open = "<think>";
    spec.reasoning_close = "</think>";
    spec.reasoning_required = reasoning == Reasoning::Required;
  }
  spec.tools = {{"get_weather", Json::parse(kWeather), "tools[0].function.parameters"},
                {"get_time", Json(), "tools[1].function.parameters"}};
  spec.max_calls = max_calls;
  switch (family) {
    case Family::Hermes:
      spec.call_open = "<tool_call>";
      spec.call_close = "</tool_call>";
      spec.padding = spec.separator = "\n";
      spec.text = ToolCallGrammarSpec::Text::Before;
      break;
    case Family::Llama3:
      spec.separator = "; ";
      spec.arguments_key = "parameters";
      spec.text = ToolCallGrammarSpec::Text::Instead;
      spec.avoid_first = "{<";
      break;
    case Family::Mistral:
      spec.list_open = "[";
      spec.list_close = "]";
      spec.separator = ", ";
      spec.text = ToolCallGrammarSpec::Text::Instead;
      spec.avoid_first = "[[";
      break;
  }
  return spec;
}

/// Every byte, pieces of calls in each family, pieces that hold or split the tags, a control
/// token (id 0) and an end-of-generation token (the last).
std::shared_ptr<const VocabIndex> call_vocab() {
  std::vector<std::string> tokens = {""};
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  for (const char* piece : {"<tool_call>",
                            "<tool",
                            "_call",
                            ">\n",
                            ">\n\n",
                            ">{",
                            "Hi<tool_call>\n{\"",
                            "Hi<tool_call>{",
                            "</tool_call>",
                            "\n</tool_call>",
                            "}\n</tool_call>",
                            "{\"name\": \"",
                            "\n{\"name\": \"",
                            "get_time",
                            "get_weather",
                            "\", \"arguments\": ",
                            "\", \"parameters\": ",
                            "{}",
                            "{\"city\": \"",
                            "Paris",
                            "\"}}",
                            "}}",
                            " {",
                            "{\"",
                            "{\n",
                            "[{\"",
                            "[[",
                            "[{",
                            "; ",
                            ", ",
                            "<think>",
                            "</think>",
                            "\n\n",
                            "Sure",
                            " ok"})
    tokens.push_back(piece);
  tokens.push_back("");
  const int32_t eog = static_cast<int32_t>(tokens.size() - 1);
  return std::make_shared<const VocabIndex>(std::move(tokens), std::vector<int32_t>{eog});
}

int32_t id_of(const VocabIndex& vocab, std::string_view piece) {
  for (int32_t id = 1; id < vocab.n_vocab(); ++id)
    if (vocab.bytes(id) == piece) return id;
  ADD_FAILURE() << "no token '" << piece << "'";
  return -1;
}

/// The eager grammar's state (its recognizer from the first byte) after `bytes` from `state`;
/// no stacks when it refuses them.
GrammarState eager_read(const Grammar& g, GrammarState state, std::string_view bytes) {
  GrammarState next;
  for (const char c : bytes) {
    if (state.empty()) break;
    g.advance(state, static_cast<uint8_t>(c), next);
    std::swap(state, next);
  }
  return state;
}

/// Whether the eager grammar takes `bytes` as the beginning of a sentence.
bool eager_reads(const Grammar& g, std::string_view bytes) {
  return !eager_read(g, g.initial(), bytes).empty();
}

/// Whether the eager grammar allows token `id` in `state`: the mask a matcher without a
/// trigger would give.
bool eager_allows(const Grammar& g, const VocabIndex& vocab, const GrammarState& state,
                  int32_t id) {
  if (vocab.is_eog(id)) return Grammar::complete(state);
  return !vocab.bytes(id).empty() && !eager_read(g, state, vocab.bytes(id)).empty();
}

bool eager_allows(const Grammar& g, const VocabIndex& vocab, const std::string& text, int32_t id) {
  return eager_allows(g, vocab, eager_read(g, g.initial(), text), id);
}

/// SplitMix64: deterministic on every platform.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Feeds `pieces` to a lazy matcher, checking that it awaits the trigger until the piece that
/// reaches it; then random walks under its masks, each mask equal at every step to the eager
/// grammar's after the same text, to the end of the call.
void walk_after_trigger(Family family, int max_calls, const std::vector<std::string>& pieces,
                        uint64_t seed, Reasoning reasoning = Reasoning::None) {
  const auto g = compile_tool_calls(spec_of(family, max_calls, reasoning)).value();
  ASSERT_TRUE(g->trigger());
  const auto vocab = call_vocab();
  uint64_t rng = seed;
  for (int walk = 0; walk < 10; ++walk) {
    GrammarMatcher lazy(g, vocab);
    std::string text;
    for (size_t p = 0; p < pieces.size(); ++p) {
      ASSERT_TRUE(lazy.awaiting_trigger()) << "before '" << pieces[p] << "'";
      ASSERT_TRUE(lazy.accept(id_of(*vocab, pieces[p]))) << pieces[p];
      text += pieces[p];
    }
    ASSERT_FALSE(lazy.awaiting_trigger()) << text;
    TokenMask mask(vocab->n_vocab());
    GrammarState eager = eager_read(*g, g->initial(), text);
    for (int step = 0; step < 300; ++step) {
      lazy.fill_mask(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab->n_vocab(); ++id) {
        const bool expected = eager_allows(*g, *vocab, eager, id);
        ASSERT_EQ(mask.test(id), expected)
            << "after '" << text << "', token " << id << " '" << vocab->bytes(id) << "'";
        if (expected) allowed.push_back(id);
      }
      ASSERT_FALSE(allowed.empty()) << text;
      const int32_t id = allowed[next_random(rng) % allowed.size()];
      ASSERT_TRUE(lazy.accept(id));
      if (vocab->is_eog(id)) {
        EXPECT_TRUE(g->accepts(text)) << text;
        break;
      }
      text += vocab->bytes(id);
      eager = eager_read(*g, std::move(eager), vocab->bytes(id));
      if (lazy.finished()) break;
    }
  }
}

TEST(LazyToolCalls, AfterTheTagTheMasksAreTheEagerGrammars) {
  walk_after_trigger(Family::Hermes, 1, {"Sure", "<tool_call>"}, 1);
  walk_after_trigger(Family::Hermes, 0, {"Sure", "<tool_call>"}, 2);
  walk_after_trigger(Family::Hermes, 1, {"<tool_call>"}, 3);
  // Split across tokens, and inside a token with the bytes after it.
  walk_after_trigger(Family::Hermes, 1, {"Sure", "<tool", "_call", ">\n"}, 4);
  walk_after_trigger(Family::Hermes, 1, {"<", "t", "o", "o", "l", "_call", ">"}, 5);
  walk_after_trigger(Family::Hermes, 1, {"Hi<tool_call>\n{\""}, 6);
  walk_after_trigger(Family::Llama3, 1, {"{\""}, 7);
  walk_after_trigger(Family::Llama3, 0, {"{"}, 8);
  walk_after_trigger(Family::Mistral, 1, {"[{\""}, 9);
  walk_after_trigger(Family::Mistral, 0, {"["}, 10);
  // After reasoning, the model's or the prompt's; the tag inside it is text.
  walk_after_trigger(Family::Hermes, 1,
                     {"<think>", "<tool_call>", "</think>", "\n\n", "<tool_call>"}, 11,
                     Reasoning::Optional);
  walk_after_trigger(Family::Hermes, 1, {"<tool_call>"}, 12, Reasoning::Optional);
  walk_after_trigger(Family::Hermes, 1, {"Sure", "<tool_call>", "</think>", "Hi<tool_call>\n{\""},
                     13, Reasoning::Required);
  walk_after_trigger(Family::Llama3, 1, {"<think>", "Sure", "</think>", "\n\n", "{"}, 14,
                     Reasoning::Optional);
  walk_after_trigger(Family::Mistral, 1, {"</think>", "[{"}, 15, Reasoning::Required);
}

TEST(LazyToolCalls, TextBeforeTheTagIsFree) {
  const auto g = compile_tool_calls(spec_of(Family::Hermes, 1)).value();
  const auto vocab = call_vocab();
  GrammarMatcher lazy(g, vocab);
  // The control token, which the eager grammar never allows, and text that holds pieces of
  // the tag and a whole "</tool_call>".
  ASSERT_FALSE(eager_allows(*g, *vocab, "", 0));
  for (const std::string piece : {"", "Sure", "<tool", " ok", "</tool_call>", "_call", ">{"}) {
    ASSERT_TRUE(lazy.accept(piece.empty() ? 0 : id_of(*vocab, piece))) << piece;
    EXPECT_TRUE(lazy.awaiting_trigger());
    EXPECT_TRUE(lazy.complete());
    EXPECT_FALSE(lazy.finished());
  }
  EXPECT_TRUE(lazy.accept(vocab->eog().front()));
}

// Before the trigger the only tokens refused are those that reach it and go on with bytes the
// grammar refuses after it: the eager grammar's mask there, plus the control token.
TEST(LazyToolCalls, ATokenThatReachesTheTagWithBadBytesIsRefused) {
  const auto g = compile_tool_calls(spec_of(Family::Hermes, 1)).value();
  const auto vocab = call_vocab();
  for (const std::vector<std::string>& before :
       {std::vector<std::string>{}, {"Sure"}, {"Sure", "<tool"}, {"<tool", "_call"}}) {
    GrammarMatcher lazy(g, vocab);
    std::string text;
    for (const std::string& piece : before) {
      ASSERT_TRUE(lazy.accept(id_of(*vocab, piece)));
      text += piece;
    }
    ASSERT_TRUE(lazy.awaiting_trigger());
    TokenMask mask(vocab->n_vocab());
    lazy.fill_mask(mask);
    for (int32_t id = 0; id < vocab->n_vocab(); ++id)
      ASSERT_EQ(mask.test(id), id == 0 || eager_allows(*g, *vocab, text, id))
          << "after '" << text << "', token " << id << " '" << vocab->bytes(id) << "'";
    EXPECT_TRUE(lazy.awaiting_trigger());  // a mask reads no token
  }
  GrammarMatcher lazy(g, vocab);
  EXPECT_FALSE(lazy.accept(id_of(*vocab, "Hi<tool_call>{")));  // the padding "\n" must follow
  EXPECT_TRUE(lazy.awaiting_trigger());
  ASSERT_TRUE(lazy.accept(id_of(*vocab, "<tool")));
  ASSERT_TRUE(lazy.accept(id_of(*vocab, "_call")));
  EXPECT_FALSE(lazy.accept(id_of(*vocab, ">{")));
  EXPECT_FALSE(lazy.accept(id_of(*vocab, ">\n\n")));
  EXPECT_TRUE(lazy.awaiting_trigger());
  EXPECT_TRUE(lazy.accept(id_of(*vocab, ">\n")));
  EXPECT_FALSE(lazy.awaiting_trigger());
  EXPECT_FALSE(lazy.complete());
  EXPECT_FALSE(lazy.accept(vocab->eog().front()));
}

// The JSON families decide at the answer's first byte after whitespace: a call when it is the
// calls' first byte, else free text to the end, whitespace and '<' first included (which the
// eager grammar refuses).
TEST(LazyToolCalls, JsonFamiliesAreFreeUnlessTheAnswerBeginsAsCalls) {
  const auto vocab = call_vocab();
  const auto llama = compile_tool_calls(spec_of(Family::Llama3, 1)).value();
  for (const std::string first : {" ok", "<think>", "Sure"}) {
    GrammarMatcher lazy(llama, vocab);
    if (first != "Sure") {
      ASSERT_FALSE(eager_allows(*llama, *vocab, "", id_of(*vocab, first)));
    }
    ASSERT_TRUE(lazy.accept(id_of(*vocab, first)));
    ASSERT_TRUE(lazy.accept(id_of(*vocab, "{\"")));  // text now
    EXPECT_TRUE(lazy.awaiting_trigger()) << first;
  }
  GrammarMatcher spaced(llama, vocab);
  ASSERT_TRUE(spaced.accept(id_of(*vocab, "\n\n")));
  EXPECT_FALSE(spaced.accept(id_of(*vocab, "{\n")));
  ASSERT_TRUE(spaced.accept(id_of(*vocab, " {")));
  EXPECT_FALSE(spaced.awaiting_trigger());
  TokenMask mask(vocab->n_vocab());
  spaced.fill_mask(mask);
  for (int32_t id = 0; id < vocab->n_vocab(); ++id)
    ASSERT_EQ(mask.test(id), eager_allows(*llama, *vocab, "{", id)) << vocab->bytes(id);

  // At the start: every token but those whose first byte after whitespace is "[" and whose
  // bytes from there the grammar refuses.
  const auto mistral = compile_tool_calls(spec_of(Family::Mistral, 1)).value();
  GrammarMatcher lazy(mistral, vocab);
  lazy.fill_mask(mask);
  int refused = 0;
  for (int32_t id = 0; id < vocab->n_vocab(); ++id) {
    const std::string& bytes = vocab->bytes(id);
    const size_t first = bytes.find_first_not_of(" \t\n\r");
    const bool call = first != std::string::npos && bytes[first] == '[';
    const bool allowed = !call || eager_reads(*mistral, std::string_view(bytes).substr(first));
    ASSERT_EQ(mask.test(id), allowed) << bytes;
    refused += allowed ? 0 : 1;
  }
  EXPECT_EQ(refused, 1);  // "[["
}

}  // namespace
}  // namespace gengyun::sampling
