// Output formats, logit_bias and log-probabilities through the LoadedModel seam on a tiny
// model with random weights and Qwen's real vocabulary (its first 2000 tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gengyun/engine.h"
#include "sampling/json_validator.h"
#include "testdata.h"

namespace gengyun {
namespace {

std::shared_ptr<LoadedModel> tiny() {
  static std::shared_ptr<LoadedModel> model = [] {
    auto m = LoadedModel::load(testing::testdata_path("models/qwen2-tiny-q8_0.gguf"),
                               {.n_threads = 2, .n_ctx = 1024});
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return m.ok() ? m.value() : nullptr;
  }();
  return model;
}

struct Collected {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprobs> logprobs;
  std::string text;
  GenerationEvent last;
};

/// Submits and reads every event; the submission's status when it is refused.
SubmitStatus run(LoadedModel& model, const GenerationParams& params, Collected& out,
                 std::string* message = nullptr) {
  const std::vector<int32_t> prompt = model.tokenize(
      "<|im_start|>user\nGive me JSON.<|im_end|>\n<|im_start|>assistant\n", false, true);
  Submission s =
      model.submit({.prompt = prompt, .params = params, .priority = 0, .cache_salt = {}});
  if (message) *message = s.message;
  if (s.status != SubmitStatus::Ok) return s.status;
  while (true) {
    std::optional<GenerationEvent> e = s.handle->next(60'000'000);
    if (!e) {
      ADD_FAILURE() << "no event within 60 s";
      break;
    }
    out.tokens.insert(out.tokens.end(), e->token_ids.begin(), e->token_ids.end());
    out.logprobs.insert(out.logprobs.end(), e->logprobs.begin(), e->logprobs.end());
    out.text += e->text;
    if (e->finished) {
      out.last = *e;
      break;
    }
  }
  return SubmitStatus::Ok;
}

GenerationParams sampled(uint64_t seed, int max_tokens) {
  GenerationParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  p.max_tokens = max_tokens;
  return p;
}

TEST(StructuredGeneration, BoundedSchemaEndsByItselfAndValidates) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  const std::string schema = R"({"type": "object", "properties": {
      "answer": {"enum": ["yes", "no", "maybe"]}, "sure": {"type": "boolean"},
      "votes": {"type": "array", "items": {"enum": [1, 2, 3]}, "maxItems": 3}},
      "required": ["answer", "sure"], "additionalProperties": false})";
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    GenerationParams p = sampled(seed, 400);
    p.format.kind = OutputFormat::Kind::JsonSchema;
    p.format.json_schema = schema;
    Collected c;
    ASSERT_EQ(run(*model, p, c), SubmitStatus::Ok);
    EXPECT_EQ(c.last.finish_reason, FinishReason::Stop) << c.text;
    EXPECT_TRUE(c.last.error.empty()) << c.last.error;
    EXPECT_TRUE(testing::text_validates(c.text, testing::OrderedJson::parse(schema)))
        << "seed " << seed << ": " << c.text;
  }
}

TEST(StructuredGeneration, JsonObjectOutputsAreObjectsWhenTheyEnd) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  GenerationParams p = sampled(3, 200);
  p.format.kind = OutputFormat::Kind::JsonObject;
  Collected c;
  ASSERT_EQ(run(*model, p, c), SubmitStatus::Ok);
  ASSERT_FALSE(c.text.empty());
  EXPECT_EQ(c.text[0], '{');
  if (c.last.finish_reason == FinishReason::Stop) {
    EXPECT_TRUE(testing::OrderedJson::accept(c.text) &&
                testing::OrderedJson::parse(c.text).is_object())
        << c.text;
  }
}

TEST(StructuredGeneration, GreedyLogprobsPerToken) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  GenerationParams p;
  p.temperature = 0.0f;
  p.max_tokens = 8;
  p.top_logprobs = 3;
  p.ignore_eos = true;
  Collected c;
  ASSERT_EQ(run(*model, p, c), SubmitStatus::Ok);
  ASSERT_EQ(c.tokens.size(), 8u);
  ASSERT_EQ(c.logprobs.size(), 8u);
  for (size_t i = 0; i < c.tokens.size(); ++i) {
    const TokenLogprobs& lp = c.logprobs[i];
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, c.tokens[i]);  // greedy takes the most likely
    EXPECT_EQ(lp.top[0].second, lp.logprob);
    EXPECT_LE(lp.logprob, 0.0f);
    EXPECT_GE(lp.top[0].second, lp.top[1].second);
    EXPECT_GE(lp.top[1].second, lp.top[2].second);
  }
  Collected none;
  p.top_logprobs = -1;
  ASSERT_EQ(run(*model, p, none), SubmitStatus::Ok);
  EXPECT_EQ(none.tokens, c.tokens);
  EXPECT_TRUE(none.logprobs.empty());
}

TEST(StructuredGeneration, LogitBiasForcesAToken) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  GenerationParams p = sampled(5, 6);
  const int32_t forced = model->tokenize("hello", false, false).front();
  p.logit_bias = {{forced, 100.0f}};
  Collected c;
  ASSERT_EQ(run(*model, p, c), SubmitStatus::Ok);
  EXPECT_EQ(c.tokens, std::vector<int32_t>(6, forced));
  std::string six;
  for (int i = 0; i < 6; ++i) six += model->token_bytes(forced);
  EXPECT_EQ(c.text, six);
}

// A request's text_prefix (the unfinished character its prompt's text ends with) is decoded
// with the generated bytes: completed by them, or one U+FFFD at the end when an end-of-generation
// token comes first.
TEST(StructuredGeneration, ATextPrefixIsDecodedWithTheFirstTokens) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  int32_t a9 = -1;  // the byte-level token of the byte 0xA9
  for (int32_t id = 0; id < model->n_vocab() && a9 < 0; ++id)
    if (model->token_bytes(id) == "\xA9") a9 = id;
  ASSERT_GE(a9, 0);
  const int32_t im_end = model->tokenize("<|im_end|>", false, true).front();
  const auto text_of = [&](int32_t forced) {
    EngineRequest request;
    request.prompt = model->tokenize("Caf", false, false);
    request.params = sampled(5, 1);
    request.params.logit_bias = {{forced, 100.0f}};
    request.text_prefix = "\xC3";
    Submission s = model->submit(std::move(request));
    EXPECT_EQ(s.status, SubmitStatus::Ok) << s.message;
    std::string text;
    for (bool finished = !s.handle; !finished;) {
      std::optional<GenerationEvent> e = s.handle->next(60'000'000);
      if (!e) {
        ADD_FAILURE() << "no event within 60 s";
        break;
      }
      text += e->text;
      finished = e->finished;
    }
    return text;
  };
  EXPECT_EQ(text_of(a9), "\xC3\xA9");
  EXPECT_EQ(text_of(im_end), "\xEF\xBF\xBD");
}

TEST(StructuredGeneration, BadFormatsAndBiasesAreRefused) {
  REQUIRE_TESTDATA();
  auto model = tiny();
  ASSERT_TRUE(model);
  const auto refused = [&](const GenerationParams& p, const std::string& part) {
    Collected c;
    std::string message;
    EXPECT_EQ(run(*model, p, c, &message), SubmitStatus::InvalidRequest) << part;
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  GenerationParams p;
  p.format.kind = OutputFormat::Kind::JsonSchema;
  p.format.json_schema = R"({"type": "string", "pattern": "a+"})";
  refused(p, "unsupported keyword pattern");
  p.format.json_schema = "{not json";
  refused(p, "not valid JSON");
  p.format = {};
  p.logit_bias = {{model->n_vocab(), 1.0f}};
  refused(p, "logit_bias: token id " + std::to_string(model->n_vocab()));
  p.logit_bias = {{0, -101.0f}};
  refused(p, "between -100 and 100");
  p.logit_bias = {};
  p.top_logprobs = 21;
  refused(p, "top_logprobs");
}

}  // namespace
}  // namespace gengyun
