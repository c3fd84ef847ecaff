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

// A pool of 6 blocks (192 positions) for ten requests of up to ~100 positions each: sequences
// are preempted and recomputed, and nobody can tell.
TEST_P(ConcurrencyTest, PreemptionIsInvisible) {
  REQUIRE_TESTDATA();
  const std::string path = testing::testdata_path("models/" + GetParam());
  auto roomy = LoadedModel::load(path, {.n_threads = 1, .max_batch_tokens = 64});
  ASSERT_TRUE(roomy.ok()) << roomy.error().message;
  const std::vector<EngineRequest> reqs = requests(*roomy.value());
  std::vector<Outcome> solo;
  for (const EngineRequest& r : reqs) solo.push_back(read_all(*roomy.value()->submit(r).handle));

  auto probe = LoadedModel::load(path, {.n_threads = 1, .n_ctx = 64, .kv_cache_bytes = 1 << 20});
  ASSERT_TRUE(probe.ok()) << probe.error().message;
  const int64_t block_bytes = probe.value()->kv_cache_bytes() / probe.value()->stats().kv_blocks_total;
  auto tight = LoadedModel::load(
      path, {.n_threads = 1, .n_ctx = 128, .kv_cache_bytes = 6 * block_bytes, .max_batch_tokens = 64});
  ASSERT_TRUE(tight.ok()) << tight.error().message;
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const EngineRequest& r : reqs) handles.push_back(tight.value()->submit(r).handle);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(handles[i]);
    const Outcome o = read_all(*handles[i]);
    EXPECT_EQ(o.tokens, solo[i].tokens) << "request " << i;
    EXPECT_EQ(o.usage.prompt_tokens, solo[i].usage.prompt_tokens) << "request " << i;
  }
  EXPECT_GT(tight.value()->stats().preemptions, 0);
}

// A 70-token prompt answered from scratch, then with its first two blocks (64 tokens) from the
// prefix cache, then with a different cache salt, then with prompt chunks of 16 tokens: the
// same tokens every time, and the usage says what came from the cache.
TEST_P(ConcurrencyTest, PrefixCacheHitsAndChunkSizesChangeNothing) {
  REQUIRE_TESTDATA();
  const std::string path = testing::testdata_path("models/" + GetParam());
  auto loaded = LoadedModel::load(path, {.n_threads = 2});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  LoadedModel& model = *loaded.value();
  EngineRequest r;
  for (int i = 0; i < 70; ++i) r.prompt.push_back((13 * i + 5) % 200 + 3);
  r.params.temperature = 0;
  r.params.max_tokens = 12;
  const Outcome first = read_all(*model.submit(r).handle);
  EXPECT_EQ(first.usage.cached_prompt_tokens, 0);
  const Outcome hit = read_all(*model.submit(r).handle);
  EXPECT_EQ(hit.usage.cached_prompt_tokens, 64);
  EXPECT_EQ(hit.usage.prompt_tokens, 70);
  EXPECT_EQ(hit.tokens, first.tokens);
  r.cache_salt = "another tenant";
  const Outcome salted = read_all(*model.submit(r).handle);
  EXPECT_EQ(salted.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(salted.tokens, first.tokens);
  EXPECT_EQ(model.stats().prefix_cache_hits, 64);

  auto chunked = LoadedModel::load(path, {.n_threads = 2, .max_batch_tokens = 16});
  ASSERT_TRUE(chunked.ok()) << chunked.error().message;
  EXPECT_EQ(read_all(*chunked.value()->submit(r).handle).tokens, first.tokens);
}

INSTANTIATE_TEST_SUITE_P(Models, ConcurrencyTest,
                         ::testing::Values("qwen2-tiny-q8_0.gguf", "llama-tiny-f32.gguf",
                                           "stories260K-f32.gguf"),
                         [](const auto& info) { return ::gengyun::testing::model_param_name(info.param); });

}  // namespace
}  // namespace gengyun
