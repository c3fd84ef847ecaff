// LoRA adapters through the engine seam (LoadedModel::load_adapter): llama.cpp's greedy
// continuations, requests for several adapters and the base in the same batches getting their
// solo answers bit for bit, and prefix-cache blocks never shared across adapters.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gengyun/engine.h"
#include "testdata.h"

namespace gengyun {
namespace {

using testing::testdata_path;

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprobs> logprobs;
  Usage usage;
};

Outcome read_all(RequestHandle& h) {
  Outcome o;
  while (true) {
    std::optional<GenerationEvent> e = h.next(10'000'000);
    if (!e) continue;
    o.tokens.insert(o.tokens.end(), e->token_ids.begin(), e->token_ids.end());
    o.logprobs.insert(o.logprobs.end(), e->logprobs.begin(), e->logprobs.end());
    if (e->finished) {
      EXPECT_EQ(e->error, "");
      o.usage = e->usage;
      return o;
    }
  }
}

/// Same tokens and the same log-probabilities bit for bit.
bool identical(const Outcome& a, const Outcome& b) {
  if (a.tokens != b.tokens || a.logprobs.size() != b.logprobs.size()) return false;
  for (size_t i = 0; i < a.logprobs.size(); ++i) {
    if (std::memcmp(&a.logprobs[i].logprob, &b.logprobs[i].logprob, sizeof(float)) != 0 ||
        a.logprobs[i].top.size() != b.logprobs[i].top.size())
      return false;
    for (size_t k = 0; k < a.logprobs[i].top.size(); ++k)
      if (a.logprobs[i].top[k].first != b.logprobs[i].top[k].first ||
          std::memcmp(&a.logprobs[i].top[k].second, &b.logprobs[i].top[k].second, sizeof(float)) !=
              0)
        return false;
  }
  return true;
}

std::shared_ptr<LoadedModel> load_base(const std::string& name, int max_batch_tokens = 512) {
  auto model = LoadedModel::load(testdata_path("models/" + name),
                                 {.n_threads = 2, .max_batch_tokens = max_batch_tokens});
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message);
  return model.ok() ? model.value() : nullptr;
}

std::shared_ptr<LoadedModel> load_adapter(LoadedModel& base, const std::string& name, float scale) {
  auto adapter = base.load_adapter(testdata_path("lora/" + name), scale);
  EXPECT_TRUE(adapter.ok()) << (adapter.ok() ? "" : adapter.error().message);
  return adapter.ok() ? adapter.value() : nullptr;
}

// Greedy generation under each adapter of lora/*.json reproduces llama.cpp's continuation up to
// the first step whose reference margin is below the README's threshold.
TEST(LoraEngine, GreedyContinuationsMatchLlamaCpp) {
  REQUIRE_TESTDATA();
  struct Case {
    const char* json;
    const char* base;
    const char* adapter;
    float scale;
    double min_margin;
  };
  for (const Case& c :
       {Case{"qwen2-tiny-f32+lora-a", "qwen2-tiny-f32.gguf", "qwen2-tiny-lora-a.gguf", 1.0f, 0.05},
        Case{"qwen2-tiny-f32+lora-a-scale0.5", "qwen2-tiny-f32.gguf", "qwen2-tiny-lora-a.gguf",
             0.5f, 0.05},
        Case{"qwen2-tiny-f32+lora-b", "qwen2-tiny-f32.gguf", "qwen2-tiny-lora-b.gguf", 1.0f, 0.05},
        Case{"qwen2-tiny-q8_0+lora-a", "qwen2-tiny-q8_0.gguf", "qwen2-tiny-lora-a.gguf", 1.0f,
             0.3}}) {
    auto base = load_base(c.base);
    ASSERT_TRUE(base);
    auto adapted = load_adapter(*base, c.adapter, c.scale);
    ASSERT_TRUE(adapted);
    std::ifstream in(testdata_path(std::string("lora/") + c.json + ".json"));
    const nlohmann::json expected = nlohmann::json::parse(in);
    int compared = 0;
    for (const nlohmann::json& cs : expected["cases"]) {
      const std::vector<int32_t> greedy = cs["greedy"].get<std::vector<int32_t>>();
      const std::vector<double> margins = cs["greedy_margin"].get<std::vector<double>>();
      EngineRequest r;
      r.prompt = cs["tokens"].get<std::vector<int32_t>>();
      r.params.temperature = 0;
      r.params.max_tokens = static_cast<int>(greedy.size());
      r.params.ignore_eos = true;
      const Outcome o = read_all(*adapted->submit(r).handle);
      for (size_t i = 0; i < greedy.size() && margins[i] >= c.min_margin; ++i, ++compared)
        ASSERT_EQ(o.tokens.at(i), greedy[i]) << c.json << " step " << i;
    }
    EXPECT_GT(compared, 0) << c.json;
  }
}

// Twelve requests spread over the base model and three adapters (a, b, a at scale 0.5), first
// one at a time, then all at once: each gets the same tokens and log-probabilities bit for bit,
// and at once they took fewer engine steps than one at a time (they shared batches).
TEST(LoraEngine, MixedAdaptersInOneBatchGetTheirSoloAnswers) {
  REQUIRE_TESTDATA();
  auto base = load_base("qwen2-tiny-q8_0.gguf", 64);
  ASSERT_TRUE(base);
  std::vector<std::shared_ptr<LoadedModel>> models = {
      base, load_adapter(*base, "qwen2-tiny-lora-a.gguf", 1.0f),
      load_adapter(*base, "qwen2-tiny-lora-b.gguf", 1.0f),
      load_adapter(*base, "qwen2-tiny-lora-a.gguf", 0.5f)};
  for (const auto& m : models) ASSERT_TRUE(m);
  const char* prompts[] = {"The quick brown fox", "Hello world, today", "Once upon a time there"};
  std::vector<std::pair<LoadedModel*, EngineRequest>> reqs;
  for (int i = 0; i < 12; ++i) {
    EngineRequest r;
    r.prompt = base->tokenize(prompts[i % 3], false, false);
    r.params.max_tokens = 12 + i;
    r.params.ignore_eos = true;
    r.params.top_logprobs = 3;
    if (i % 2 == 0) {
      r.params.temperature = 0;
    } else {
      r.params.temperature = 0.9f;
      r.params.seed = 100 + i;
    }
    reqs.emplace_back(models[i % 4].get(), r);
  }
  std::vector<Outcome> solo;
  const int64_t steps_before = base->stats().steps;
  for (auto& [model, r] : reqs) solo.push_back(read_all(*model->submit(r).handle));
  const int64_t solo_steps = base->stats().steps - steps_before;

  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (auto& [model, r] : reqs) {
    r.cache_salt = "together";  // no prefix-cache hits: the prompts are computed again
    Submission s = model->submit(r);
    ASSERT_TRUE(s.handle) << s.message;
    handles.push_back(std::move(s.handle));
  }
  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_TRUE(identical(read_all(*handles[i]), solo[i])) << "request " << i;
  ASSERT_TRUE(base->wait_until([](const EngineStats& s) { return s.running == 0; }, 10'000'000));
  EXPECT_LT(base->stats().steps - steps_before - solo_steps, solo_steps / 2);

  // The same greedy prompt under the base, a, b and a at 0.5: four different answers.
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j)
      EXPECT_FALSE(identical(solo[i * 3 % 12], solo[j * 3 % 12])) << i << " vs " << j;
}

// A 70-token prompt under the base, adapter a, adapter b and a second load of a: the first
// request of each computes all of it; a repeat under the same one finds its two full blocks.
TEST(LoraEngine, PrefixCacheBlocksAreKeyedByAdapter) {
  REQUIRE_TESTDATA();
  auto base = load_base("qwen2-tiny-f32.gguf");
  ASSERT_TRUE(base);
  auto a = load_adapter(*base, "qwen2-tiny-lora-a.gguf", 1.0f);
  auto b = load_adapter(*base, "qwen2-tiny-lora-b.gguf", 1.0f);
  auto a_again = load_adapter(*base, "qwen2-tiny-lora-a.gguf", 1.0f);
  ASSERT_TRUE(a && b && a_again);
  EngineRequest r;
  for (int i = 0; i < 70; ++i) r.prompt.push_back((13 * i + 5) % 200 + 3);
  r.params.temperature = 0;
  r.params.max_tokens = 4;
  for (LoadedModel* m : {base.get(), a.get(), b.get(), a_again.get()}) {
    const Outcome first = read_all(*m->submit(r).handle);
    EXPECT_EQ(first.usage.cached_prompt_tokens, 0) << m->path();
    const Outcome repeat = read_all(*m->submit(r).handle);
    EXPECT_EQ(repeat.usage.cached_prompt_tokens, 64) << m->path();
    EXPECT_EQ(repeat.tokens, first.tokens) << m->path();
  }
  EXPECT_EQ(base->stats().prefix_cache_hits, 4 * 64);
}

TEST(LoraEngine, BadAdaptersAreErrors) {
  REQUIRE_TESTDATA();
  auto base = load_base("qwen2-tiny-f32.gguf");
  ASSERT_TRUE(base);
  auto missing = base->load_adapter(testdata_path("lora/missing.gguf"), 1.0f);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing.gguf"), std::string::npos);
  auto model_file = base->load_adapter(testdata_path("models/qwen2-tiny-f16.gguf"), 1.0f);
  ASSERT_FALSE(model_file.ok());
  EXPECT_NE(model_file.error().message.find("not a LoRA adapter"), std::string::npos);
  auto llama = load_base("llama-tiny-f32.gguf");
  ASSERT_TRUE(llama);
  auto other_arch = llama->load_adapter(testdata_path("lora/qwen2-tiny-lora-a.gguf"), 1.0f);
  ASSERT_FALSE(other_arch.ok());
  EXPECT_NE(other_arch.error().message.find("for architecture 'qwen2' but the base model is "
                                            "'llama'"),
            std::string::npos)
      << other_arch.error().message;
  auto a = load_adapter(*base, "qwen2-tiny-lora-a.gguf", 1.0f);
  ASSERT_TRUE(a);
  auto stacked = a->load_adapter(testdata_path("lora/qwen2-tiny-lora-b.gguf"), 1.0f);
  ASSERT_FALSE(stacked.ok());
  EXPECT_NE(stacked.error().message.find("LoRA adapters do not stack"), std::string::npos);
}

// Dropping the adapter's model right after submitting to it (its only reference but the
// request's): the request still runs under the adapter to its end, with the tokens it gets
// while the adapter is held (the submitted sequence keeps the adapter alive).
TEST(LoraEngine, DroppingAnAdapterLetsItsRunningRequestFinish) {
  REQUIRE_TESTDATA();
  auto base = load_base("qwen2-tiny-f32.gguf");
  ASSERT_TRUE(base);
  auto a = load_adapter(*base, "qwen2-tiny-lora-a.gguf", 1.0f);
  ASSERT_TRUE(a);
  EngineRequest r;
  r.prompt = base->tokenize("Hello world", false, false);
  r.params.temperature = 0;
  r.params.max_tokens = 40;
  r.params.ignore_eos = true;
  const Outcome solo = read_all(*a->submit(r).handle);
  Submission s = a->submit(r);
  ASSERT_TRUE(s.handle);
  a.reset();
  EXPECT_EQ(read_all(*s.handle).tokens, solo.tokens);
}

// An adapter file rewritten in place while the adapter is served (QA 2026-12-07: `cp b.gguf
// a.gguf` over a served adapter) changes nothing: the adapter was read into the process's own
// memory, as the weights are without --mmap (it stayed in a mapping of the file, whose lost
// pages ended the whole server with SIGBUS at the adapter's next step).
TEST(LoraEngine, AnAdapterFileRewrittenInPlaceLeavesTheLoadedAdapterAsItWas) {
  REQUIRE_TESTDATA();
  auto base = load_base("qwen2-tiny-f32.gguf");
  ASSERT_TRUE(base);
  const std::filesystem::path copy = std::filesystem::temp_directory_path() /
                                     ("gengyun-lora-" + std::to_string(::getpid()) + ".gguf");
  std::filesystem::copy_file(testdata_path("lora/qwen2-tiny-lora-a.gguf"), copy,
                             std::filesystem::copy_options::overwrite_existing);
  auto loaded = base->load_adapter(copy.string(), 1.0f);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EngineRequest r;
  r.prompt = base->tokenize("Hello world", false, false);
  r.params.temperature = 0;
  r.params.max_tokens = 16;
  r.params.ignore_eos = true;
  const Outcome before = read_all(*loaded.value()->submit(r).handle);
  // Rewritten in place (the same inode, truncated first), as cp does.
  { std::ofstream(copy, std::ios::binary | std::ios::trunc) << "not an adapter any more"; }
  const Outcome after = read_all(*loaded.value()->submit(r).handle);
  std::filesystem::remove(copy);
  EXPECT_TRUE(identical(before, after));
  EXPECT_EQ(after.tokens.size(), 16u);
}

}  // namespace
}  // namespace gengyun
