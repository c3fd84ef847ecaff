// Many requests through one real model's engine at once: each gets exactly the tokens it gets
// alone (greedy and seeded), with its own usage. Synchronized on engine stats, never on time.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gengyun/engine.h"
#include "testdata.h"

namespace gengyun {
namespace {

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  Usage usage;
  FinishReason reason = FinishReason::Stop;
};

Outcome read_all(RequestHandle& h) {
  Outcome o;
  while (true) {
    std::optional<GenerationEvent> e = h.next(10'000'000);
    if (!e) continue;
    o.tokens.insert(o.tokens.end(), e->token_ids.begin(), e->token_ids.end());
    o.text += e->text;
    if (e->finished) {
      o.usage = e->usage;
      o.reason = e->finish_reason;
      return o;
    }
  }
}

std::vector<EngineRequest> requests(LoadedModel& model) {
  const char* prompts[] = {"The quick brown fox", "Hello world, today", "Once upon a time there",
                           "A", "Numbers: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"};
  std::vector<EngineRequest> out;
  for (int i = 0; i < 10; ++i) {
    EngineRequest r;
    r.prompt = model.tokenize(prompts[i % 5], true, false);
    r.params.max_tokens = 20 + 3 * i;
    if (i % 2 == 0) {
      r.params.temperature = 0;
    } else {
      r.params.temperature = 0.9f;
      r.params.seed = 1000 + i;
    }
    out.push_back(r);
  }
  return out;
}

class ConcurrencyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConcurrencyTest, ConcurrentRequestsGetTheirSoloAnswers) {
  REQUIRE_TESTDATA();
  auto loaded = LoadedModel::load(testing::testdata_path("models/" + GetParam()),
                                  {.n_threads = 1, .max_batch_tokens = 64});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  LoadedModel& model = *loaded.value();
  const std::vector<EngineRequest> reqs = requests(model);
  std::vector<Outcome> solo;
  for (const EngineRequest& r : reqs) {
    Submission s = model.submit(r);
    ASSERT_TRUE(s.handle) << s.message;
    solo.push_back(read_all(*s.handle));
  }
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const EngineRequest& r : reqs) handles.push_back(model.submit(r).handle);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Outcome together = read_all(*handles[i]);
    EXPECT_EQ(together.tokens, solo[i].tokens) << "request " << i;
    EXPECT_EQ(together.text, solo[i].text) << "request " << i;
    EXPECT_EQ(together.usage.completion_tokens, solo[i].usage.completion_tokens);
    EXPECT_EQ(together.usage.prompt_tokens, static_cast<int>(reqs[i].prompt.size()));
  }
  ASSERT_TRUE(model.wait_until([](const EngineStats& s) { return s.running == 0; }, 10'000'000));
  EXPECT_EQ(model.stats().kv_blocks_used, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, ConcurrencyTest,
                         ::testing::Values("qwen2-tiny-q8_0.gguf", "llama-tiny-f32.gguf",
                                           "stories260K-f32.gguf"),
                         [](const auto& info) {
                           std::string id = info.param.substr(0, info.param.size() - 5);
                           for (char& c : id)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return id;
                         });

}  // namespace
}  // namespace gengyun
