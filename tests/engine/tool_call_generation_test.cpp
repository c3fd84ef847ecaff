// Tool calls held to their grammar (OutputFormat::Kind::ToolCalls) through the LoadedModel seam
// on a tiny model with random weights: in each family's writing, what the model writes parses
// (chat::OutputParser, the same reader the API uses) into calls of the allowed tools whose
// arguments validate against the tools' schemas; the number of calls obeys tool_choice and
// parallel_tool_calls. Also the grammar against the parser on hand-written answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "chat/output_parser.h"
#include "engine/tool_call_grammar.h"
#include "gengyun/engine.h"
#include "sampling/json_validator.h"
#include "testdata.h"

namespace gengyun {
namespace {

using testing::OrderedJson;

// Bounded arguments (enums, booleans, small arrays), so that a random model's calls end.
const char* kTools = R"([
  {"type": "function", "function": {"name": "set_light", "parameters": {"type": "object",
    "properties": {"room": {"enum": ["kitchen", "hall"]}, "on": {"type": "boolean"}},
    "required": ["room", "on"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "play", "parameters": {"type": "object",
    "properties": {"tracks": {"type": "array", "items": {"enum": [1, 2, 3]}, "maxItems": 2},
    "loud": {"type": "boolean"}}, "required": ["tracks"], "additionalProperties": false}}}])";

std::shared_ptr<LoadedModel> tiny() {
  static std::shared_ptr<LoadedModel> model = [] {
    auto m = LoadedModel::load(testing::testdata_path("models/qwen2-tiny-q8_0.gguf"),
                               {.n_threads = 2, .n_ctx = 1024});
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return m.ok() ? m.value() : nullptr;
  }();
  return model;
}

OutputFormat tool_format(ToolCallFormat family, std::string name, bool text, bool parallel) {
  OutputFormat f;
  f.kind = OutputFormat::Kind::ToolCalls;
  f.tools_json = kTools;
  f.tool_name = std::move(name);
  f.text_allowed = text;
  f.parallel_calls = parallel;
  f.syntax.tool_calls = family;
  return f;
}

struct Answer {
  std::string text;
  FinishReason finish = FinishReason::Stop;
  chat::OutputDelta parsed;
  int completion_tokens = 0;
  int64_t masks = 0;  ///< the grammar masks the engine computed for it (on counted())
};

/// A model of its own for the tests that count the engine's masks, and the requests submitted
/// to it. A request's finished event comes before the step that ended it publishes its counts,
/// so the counts are read once as many requests as were submitted have finished.
struct CountedModel {
  std::shared_ptr<LoadedModel> model;
  int64_t submitted = 0;

  /// The masks the engine has computed for every request submitted so far.
  int64_t masks() const {
    EXPECT_TRUE(model->wait_until([&](const EngineStats& s) { return s.finished >= submitted; },
                                  60'000'000));
    return model->stats().grammar_masks;
  }
};

CountedModel& counted() {
  static CountedModel c = [] {
    auto m = LoadedModel::load(testing::testdata_path("models/qwen2-tiny-q8_0.gguf"),
                               {.n_threads = 2, .n_ctx = 1024});
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return CountedModel{m.ok() ? m.value() : nullptr};
  }();
  return c;
}

/// Seeded sampling from the whole distribution; a frequency penalty lets a token that a bias
/// made likely give way to another after a few repeats.
GenerationParams sampled_params(const OutputFormat& format, uint64_t seed, int max_tokens,
                                std::vector<std::pair<int32_t, float>> logit_bias,
                                float frequency_penalty) {
  GenerationParams p;
  p.frequency_penalty = frequency_penalty;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  p.max_tokens = max_tokens;
  p.format = format;
  p.logit_bias = std::move(logit_bias);
  return p;
}

Answer generate(LoadedModel& model, const OutputFormat& format, uint64_t seed, int max_tokens,
                std::vector<std::pair<int32_t, float>> logit_bias = {}) {
  const std::vector<int32_t> prompt = model.tokenize(
      "<|im_start|>user\nLights on, please.<|im_end|>\n<|im_start|>assistant\n", false, true);
  const GenerationParams p =
      sampled_params(format, seed, max_tokens, std::move(logit_bias), /*frequency_penalty=*/0.0f);
  Answer a;
  CountedModel* count = &model == counted().model.get() ? &counted() : nullptr;
  const int64_t before = count ? count->masks() : 0;
  if (count) ++count->submitted;
  auto result = model.generate(prompt, p, [&](std::string_view t) {
    a.text += t;
    return true;
  });
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  if (result.ok()) {
    a.finish = result->finish_reason;
    a.completion_tokens = result->completion_tokens;
  }
  if (count) a.masks = count->masks() - before;
  chat::OutputParser parser({.tool_calls = format.syntax.tool_calls, .id_prefix = "t"});
  a.parsed = parser.feed(a.text);
  chat::OutputDelta rest = parser.finish();
  a.parsed.content += rest.content;
  a.parsed.tool_calls.insert(a.parsed.tool_calls.end(), rest.tool_calls.begin(),
                             rest.tool_calls.end());
  return a;
}

/// Every call names a tool (`only` when given) and its arguments validate.
void expect_valid_calls(const Answer& a, const std::string& only = "") {
  const OrderedJson tools = OrderedJson::parse(kTools);
  for (const chat::ToolCall& call : a.parsed.tool_calls) {
    const OrderedJson* schema = nullptr;
    for (const OrderedJson& t : tools)
      if (t["function"]["name"] == call.name) schema = &t["function"]["parameters"];
    ASSERT_TRUE(schema) << "unknown tool " << call.name << " in " << a.text;
    if (!only.empty()) {
      EXPECT_EQ(call.name, only);
    }
    EXPECT_TRUE(testing::text_validates(call.arguments, *schema))
        << call.name << " " << call.arguments << " in " << a.text;
  }
}

TEST(ToolCallGeneration, RequiredCallsParseAndValidateInEveryFamily) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  for (const ToolCallFormat family :
       {ToolCallFormat::Hermes, ToolCallFormat::Llama3Json, ToolCallFormat::MistralJson}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      const Answer a = generate(*model, tool_format(family, "", false, false), seed, 300);
      ASSERT_EQ(a.finish, FinishReason::Stop) << a.text;
      ASSERT_EQ(a.parsed.tool_calls.size(), 1u) << static_cast<int>(family) << ": " << a.text;
      EXPECT_EQ(a.parsed.content, "") << a.text;
      expect_valid_calls(a);
    }
  }
}

TEST(ToolCallGeneration, ParallelCallsAreEachValid) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const Answer a =
        generate(*model, tool_format(ToolCallFormat::Hermes, "", false, true), seed, 300);
    if (a.finish != FinishReason::Stop) continue;  // a random model may call on and on
    EXPECT_GE(a.parsed.tool_calls.size(), 1u) << a.text;
    EXPECT_EQ(a.parsed.content, "") << a.text;
    expect_valid_calls(a);
  }
}

TEST(ToolCallGeneration, ANamedFunctionIsTheOneCalled) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  for (const ToolCallFormat family : {ToolCallFormat::Hermes, ToolCallFormat::MistralJson}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      const Answer a = generate(*model, tool_format(family, "play", false, true), seed, 300);
      ASSERT_EQ(a.finish, FinishReason::Stop) << a.text;
      ASSERT_EQ(a.parsed.tool_calls.size(), 1u) << a.text;
      expect_valid_calls(a, "play");
    }
  }
}

// tool_choice "auto" with parallel_tool_calls false: text, or exactly one call. The random
// model writes text (Hermes: text without "<tool_call>"); with "{" made likely, a Llama 3.x
// answer begins as a call and must be one call, then end.
TEST(ToolCallGeneration, AutoWithoutParallelCallsMakesAtMostOne) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const Answer a =
        generate(*model, tool_format(ToolCallFormat::Hermes, "", true, false), seed, 40);
    EXPECT_EQ(a.text.find("<tool_call>"), std::string::npos) << a.text;
    EXPECT_EQ(a.parsed.tool_calls.size(), 0u) << a.text;
    EXPECT_EQ(a.parsed.content, a.text);
  }
  const std::vector<int32_t> brace = model->tokenize("{", false, false);
  ASSERT_EQ(brace.size(), 1u);
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const Answer a = generate(*model, tool_format(ToolCallFormat::Llama3Json, "", true, false),
                              seed, 300, {{brace[0], 100.0f}});
    ASSERT_EQ(a.finish, FinishReason::Stop) << a.text;
    ASSERT_EQ(a.parsed.tool_calls.size(), 1u) << a.text;
    EXPECT_EQ(a.parsed.content, "") << a.text;
    expect_valid_calls(a);
  }
}

// The grammar's answers are what the parser reads as calls: both follow chat::ToolCallWriting.
TEST(ToolCallGeneration, TheGrammarsAnswersAreTheParsersCalls) {
  struct Case {
    ToolCallFormat family;
    std::string answer;
  };
  const std::vector<Case> cases = {
      {ToolCallFormat::Hermes,
       "<tool_call>\n{\"name\": \"set_light\", \"arguments\": {\"room\": \"hall\", \"on\": "
       "true}}\n</tool_call>\n<tool_call>\n{\"name\": \"play\", \"arguments\": {\"tracks\": "
       "[2]}}\n</tool_call>"},
      {ToolCallFormat::Llama3Json,
       "{\"name\": \"set_light\", \"parameters\": {\"room\": \"hall\", \"on\": true}}; "
       "{\"name\": \"play\", \"parameters\": {\"tracks\": [2]}}"},
      {ToolCallFormat::MistralJson,
       "[{\"name\": \"set_light\", \"arguments\": {\"room\": \"hall\", \"on\": true}}, "
       "{\"name\": \"play\", \"arguments\": {\"tracks\": [2]}}]"},
  };
  for (const Case& c : cases) {
    auto g = engine::tool_call_grammar(tool_format(c.family, "", false, true));
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_TRUE(g.value()->accepts(c.answer)) << c.answer;
    chat::OutputParser parser({.tool_calls = c.family, .id_prefix = "t"});
    chat::OutputDelta d = parser.feed(c.answer);
    const chat::OutputDelta rest = parser.finish();
    EXPECT_TRUE(rest.empty());
    ASSERT_EQ(d.tool_calls.size(), 2u) << c.answer;
    EXPECT_EQ(d.tool_calls[0].name, "set_light");
    EXPECT_EQ(d.tool_calls[0].arguments, R"({"room":"hall","on":true})");
    EXPECT_EQ(d.tool_calls[1].name, "play");
    EXPECT_EQ(d.tool_calls[1].arguments, R"({"tracks":[2]})");
    EXPECT_EQ(d.content, "");
  }
}

// qwen2-tiny's vocabulary has <tool_call> as an added token with text (as Qwen2.5's does; a
// normal text sequence to the parser): the grammar works on the bytes the detokenizer gives,
// so at the start of a required answer the added token is allowed beside the pieces that
// spell the tag, and the answer decodes to the same text either way.
TEST(ToolCallGeneration, TheTagsAddedTokenIsAllowedAsItsText) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  const std::vector<int32_t> tag = model->tokenize("<tool_call>", false, true);
  ASSERT_EQ(tag.size(), 1u);
  EXPECT_EQ(model->token_bytes(tag[0]), "<tool_call>");
  const std::vector<int32_t> spelled = model->tokenize("<", false, false);  // its first piece
  ASSERT_EQ(spelled.size(), 1u);
  const std::vector<int32_t> prompt = model->tokenize(
      "<|im_start|>user\nLights on, please.<|im_end|>\n<|im_start|>assistant\n", false, true);
  GenerationParams p;
  p.temperature = 0;
  p.max_tokens = 1;
  p.top_logprobs = 20;
  p.format = tool_format(ToolCallFormat::Hermes, "", false, false);
  Submission s = model->submit({.prompt = prompt, .params = p, .priority = 0, .cache_salt = {}});
  ASSERT_EQ(s.status, SubmitStatus::Ok) << s.message;
  std::vector<std::pair<int32_t, float>> top;
  while (true) {
    std::optional<GenerationEvent> e = s.handle->next(60'000'000);
    ASSERT_TRUE(e);
    if (!e->logprobs.empty()) top = e->logprobs[0].top;
    if (e->finished) break;
  }
  std::vector<int32_t> allowed;
  for (const auto& [id, logprob] : top)
    if (std::isfinite(logprob)) allowed.push_back(id);
  std::sort(allowed.begin(), allowed.end());
  // Every allowed token's text begins the tag, and both ways of writing it are among them.
  for (int32_t id : allowed)
    EXPECT_TRUE(std::string("<tool_call>").starts_with(model->token_bytes(id)))
        << id << " '" << model->token_bytes(id) << "'";
  EXPECT_TRUE(std::binary_search(allowed.begin(), allowed.end(), tag[0]));
  EXPECT_TRUE(std::binary_search(allowed.begin(), allowed.end(), spelled[0]));
}

// Reasoning before the calls follows the prompt: optional when the model may open it, required
// when the prompt opened it (QwQ), none when the template closed it (enable_thinking false).
TEST(ToolCallGeneration, ReasoningBeforeCallsFollowsThePrompt) {
  const std::string call =
      "<tool_call>\n{\"name\": \"play\", \"arguments\": {\"tracks\": []}}\n</tool_call>";
  const auto grammar = [](bool starts_in, bool closed) {
    OutputFormat f = tool_format(ToolCallFormat::Hermes, "", false, false);
    f.syntax.reasoning = true;
    f.syntax.starts_in_reasoning = starts_in;
    f.syntax.reasoning_closed = closed;
    auto g = engine::tool_call_grammar(f);
    EXPECT_TRUE(g.ok());
    return g.value();
  };
  const auto optional = grammar(false, false);
  EXPECT_TRUE(optional->accepts(call));
  EXPECT_TRUE(optional->accepts("<think>\nplay it\n</think>\n\n" + call));
  const auto required = grammar(true, false);
  EXPECT_FALSE(required->accepts(call));
  EXPECT_TRUE(required->accepts("play it\n</think>\n\n" + call));
  const auto closed = grammar(false, true);
  EXPECT_TRUE(closed->accepts(call));
  EXPECT_FALSE(closed->accepts("<think>\nplay it\n</think>\n\n" + call));
}

// tool_choice "auto" with parallel_tool_calls false leaves the text before a call free (the
// lazy grammar, docs/structured_output.md): the engine computes no mask for it, and tokens the
// eager grammar never allows are sampled: a control token (no bytes), and in a JSON family an
// answer that begins with whitespace. Under "required" every token is masked.
TEST(ToolCallGeneration, AutoLeavesTheTextBeforeACallUnmasked) {
  REQUIRE_TESTDATA();
  auto model = counted().model;
  ASSERT_TRUE(model);
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    const Answer text =
        generate(*model, tool_format(ToolCallFormat::Hermes, "", true, false), seed, 40);
    ASSERT_EQ(text.text.find("<tool_call>"), std::string::npos) << text.text;
    EXPECT_GT(text.completion_tokens, 0);
    EXPECT_EQ(text.masks, 0) << text.text;
    const Answer required =
        generate(*model, tool_format(ToolCallFormat::Hermes, "", false, false), seed, 300);
    EXPECT_EQ(required.masks, required.completion_tokens);
  }
  const std::vector<int32_t> control = model->tokenize("<|im_start|>", false, true);
  ASSERT_EQ(control.size(), 1u);
  ASSERT_EQ(model->token_bytes(control[0]), "");
  const Answer forced = generate(*model, tool_format(ToolCallFormat::Hermes, "", true, false), 1, 5,
                                 {{control[0], 100.0f}});
  EXPECT_EQ(forced.completion_tokens, 5);
  EXPECT_EQ(forced.masks, 0);
  const std::vector<int32_t> the = model->tokenize(" the", false, false);
  ASSERT_EQ(the.size(), 1u);
  const Answer spaced = generate(*model, tool_format(ToolCallFormat::Llama3Json, "", true, false),
                                 1, 3, {{the[0], 100.0f}});
  EXPECT_EQ(spaced.text, " the the the");
  EXPECT_EQ(spaced.masks, 0);
}

/// One request's tokens and text, read from its events.
struct Streamed {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::Stop;
};

Streamed read_run(RequestHandle& handle) {
  Streamed r;
  while (true) {
    std::optional<GenerationEvent> e = handle.next(60'000'000);
    EXPECT_TRUE(e);
    if (!e) return r;
    r.tokens.insert(r.tokens.end(), e->token_ids.begin(), e->token_ids.end());
    r.text += e->text;
    if (e->finished) {
      EXPECT_EQ(e->error, "");
      r.finish = e->finish_reason;
      return r;
    }
  }
}

const std::vector<int32_t>& chat_prompt_tokens(LoadedModel& model) {
  static const std::vector<int32_t> prompt = model.tokenize(
      "<|im_start|>user\nLights on, please.<|im_end|>\n<|im_start|>assistant\n", false, true);
  return prompt;
}

// Once the answer reaches "<tool_call>" (here Qwen's added token, made as likely as " the" by
// a bias on both, so it comes after some text or at once), the grammar holds the rest as the
// eager grammar did: one valid call, then the end; and the engine masks every token after the
// one that reached the tag.
TEST(ToolCallGeneration, AfterTheTagAutoHoldsTheCall) {
  REQUIRE_TESTDATA();
  auto model = counted().model;
  ASSERT_TRUE(model);
  const std::vector<int32_t> tag = model->tokenize("<tool_call>", false, true);
  ASSERT_EQ(tag.size(), 1u);
  const std::vector<int32_t> the = model->tokenize(" the", false, false);
  ASSERT_EQ(the.size(), 1u);
  int after_text = 0;
  for (const float bias : {0.0f, 100.0f}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      const int64_t before = counted().masks();
      ++counted().submitted;
      Submission s = model->submit(
          {.prompt = chat_prompt_tokens(*model),
           .params = sampled_params(tool_format(ToolCallFormat::Hermes, "", true, false), seed, 300,
                                    {{tag[0], 100.0f}, {the[0], bias}}, 2.0f),
           .priority = 0,
           .cache_salt = {}});
      ASSERT_EQ(s.status, SubmitStatus::Ok) << s.message;
      const Streamed r = read_run(*s.handle);
      const int64_t masks = counted().masks() - before;
      // The token whose bytes complete the first "<tool_call>".
      std::string bytes;
      size_t reached = 0;
      while (reached < r.tokens.size() && bytes.find("<tool_call>") == std::string::npos)
        bytes += model->token_bytes(r.tokens[reached++]);
      ASSERT_NE(bytes.find("<tool_call>"), std::string::npos) << r.text;
      ASSERT_EQ(r.finish, FinishReason::Stop) << r.text;
      EXPECT_EQ(masks, static_cast<int64_t>(r.tokens.size() - reached)) << r.text;
      chat::OutputParser parser({.tool_calls = ToolCallFormat::Hermes, .id_prefix = "t"});
      Answer a;
      a.text = r.text;
      a.parsed = parser.feed(r.text);
      const chat::OutputDelta rest = parser.finish();
      a.parsed.content += rest.content;
      a.parsed.tool_calls.insert(a.parsed.tool_calls.end(), rest.tool_calls.begin(),
                                 rest.tool_calls.end());
      ASSERT_EQ(a.parsed.tool_calls.size(), 1u) << r.text;
      expect_valid_calls(a);
      EXPECT_EQ(a.parsed.content, r.text.substr(0, r.text.find("<tool_call>"))) << r.text;
      if (reached > 1) ++after_text;
    }
  }
  EXPECT_GT(after_text, 0);  // some answers wrote text before the call
}

// A free token that reaches the trigger with bytes the grammar refuses after it is drawn again
// under the mask of that step (one mask): in Llama 3.x's family "{\n" begins an answer as a
// call that cannot go on, so with it made likely the answer's first token is another one.
TEST(ToolCallGeneration, AFreeTokenThatStartsABadCallIsDrawnAgain) {
  REQUIRE_TESTDATA();
  auto model = counted().model;
  ASSERT_TRUE(model);
  const std::vector<int32_t> bad = model->tokenize("{\n", false, false);
  ASSERT_EQ(bad.size(), 1u);
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const Answer a = generate(*model, tool_format(ToolCallFormat::Llama3Json, "", true, false),
                              seed, 4, {{bad[0], 100.0f}});
    ASSERT_FALSE(a.text.starts_with("{\n")) << a.text;
    ASSERT_FALSE(a.text.empty());
    if (a.text[0] == '{') {
      ASSERT_EQ(a.parsed.tool_calls.size(), 0u) << a.text;  // 4 tokens: the call is cut
      EXPECT_EQ(a.masks, a.completion_tokens) << a.text;
    } else {
      // Text: only the first step needed a mask; "{\n" is free from then on.
      EXPECT_EQ(a.masks, 1) << a.text;
      EXPECT_TRUE(a.text.ends_with("{\n{\n{\n")) << a.text;
    }
  }
}

// Each sequence keeps its own trigger state and sampler: a lazy request's answer is the same
// alone and batched with other constrained and free requests.
TEST(ToolCallGeneration, ALazyAnswerDoesNotDependOnTheBatch) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  const std::vector<int32_t> tag = model->tokenize("<tool_call>", false, true);
  ASSERT_EQ(tag.size(), 1u);
  const std::vector<int32_t> the = model->tokenize(" the", false, false);
  ASSERT_EQ(the.size(), 1u);
  const auto request = [&](const OutputFormat& format, uint64_t seed) {
    return EngineRequest{
        .prompt = chat_prompt_tokens(*model),
        .params = sampled_params(format, seed, 60, {{tag[0], 100.0f}, {the[0], 100.0f}}, 2.0f),
        .priority = 0,
        .cache_salt = {}};
  };
  const OutputFormat lazy = tool_format(ToolCallFormat::Hermes, "", true, false);
  Submission alone = model->submit(request(lazy, 3));
  ASSERT_EQ(alone.status, SubmitStatus::Ok) << alone.message;
  const Streamed expected = read_run(*alone.handle);
  ASSERT_NE(expected.text.find("<tool_call>"), std::string::npos) << expected.text;
  std::vector<Submission> batch;
  batch.push_back(model->submit(request(tool_format(ToolCallFormat::Hermes, "", false, false), 5)));
  batch.push_back(model->submit(request(lazy, 3)));
  batch.push_back(model->submit(request(OutputFormat{}, 7)));
  batch.push_back(model->submit(request(lazy, 11)));
  for (const Submission& b : batch) ASSERT_EQ(b.status, SubmitStatus::Ok) << b.message;
  std::vector<Streamed> runs;
  for (Submission& b : batch) runs.push_back(read_run(*b.handle));
  EXPECT_EQ(runs[1].tokens, expected.tokens);
  EXPECT_EQ(runs[1].text, expected.text);
}

TEST(ToolCallGeneration, RefusedFormatsSayWhy) {
  const auto error = [](const OutputFormat& f) {
    auto g = engine::tool_call_grammar(f);
    return g.ok() ? std::string("ok") : g.error().message;
  };
  EXPECT_EQ(error(tool_format(ToolCallFormat::None, "", false, true)),
            "the model's chat template speaks no tool-call format");
  EXPECT_EQ(error(tool_format(ToolCallFormat::Hermes, "fly", false, true)),
            "the function \"fly\" is not among the tools");
  OutputFormat f = tool_format(ToolCallFormat::Hermes, "", false, true);
  f.tools_json = "{}";
  EXPECT_EQ(error(f), "the tools are not a JSON array");
  f.tools_json = R"([{"type": "function", "function": {"name": "f", "parameters":
      {"type": "object", "properties": {"s": {"type": "string", "pattern": "a+"}}}}}])";
  EXPECT_EQ(error(f),
            "tools[0].function.parameters/properties/s: unsupported keyword pattern (supported: "
            "$ref, additionalProperties, anyOf, const, enum, format, items, maxItems, minItems, "
            "properties, required, type, and annotations)");
  // Through submit: InvalidRequest with the same message.
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  GenerationParams p;
  p.format = tool_format(ToolCallFormat::Hermes, "fly", false, true);
  Submission s = model->submit({.prompt = {1, 2}, .params = p, .priority = 0, .cache_salt = {}});
  EXPECT_EQ(s.status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(s.message, "the tool calls' grammar: the function \"fly\" is not among the tools");
}

}  // namespace
}  // namespace gengyun
