// The LoadedModel seam end to end on real models: prompt in, text out.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "gengyun/engine.h"
#include "nan_model.h"
#include "testdata.h"

namespace gengyun {
namespace {

using testing::testdata_path;
using testing::write_nan_norm_copy;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<LoadedModel> load(const std::string& name, int n_ctx = 0, bool mmap = false) {
  auto model = LoadedModel::load(testdata_path("models/" + name),
                                 {.n_threads = 2, .n_ctx = n_ctx, .mmap = mmap});
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message);
  return model.ok() ? model.value() : nullptr;
}

GenerationParams greedy(int max_tokens) {
  GenerationParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

Result<GenerationResult> collect(LoadedModel& model, std::span<const int32_t> prompt,
                                 const GenerationParams& params, std::string& streamed) {
  return model.generate(prompt, params, [&](std::string_view text) {
    streamed += text;
    return true;
  });
}

// A model whose logits are all NaN (here its output norm's weights are NaN, as a corrupt file's
// could be) ends the generation with an error saying so, instead of answering token 0 on and on.
TEST(Generation, AllNaNLogitsEndTheGenerationWithAnError) {
  REQUIRE_TESTDATA();
  const std::string path = write_nan_norm_copy("qwen2-tiny-q8_0.gguf", "nan");
  ASSERT_FALSE(path.empty());
  auto model = LoadedModel::load(path, {.n_threads = 2});
  std::filesystem::remove(path);
  ASSERT_TRUE(model.ok()) << model.error().message;
  const auto prompt = model.value()->tokenize("Hello", /*add_bos=*/true, /*parse_special=*/false);
  std::string streamed;
  const auto result = collect(*model.value(), prompt, greedy(8), streamed);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "the model's logits are all NaN (after 0 generated tokens): its weights hold NaN or "
            "infinite values, or its activations overflowed");
  EXPECT_EQ(streamed, "");
}

// stories260K, greedy from BOS + "Once upon a time": the model's own reference program
// (llama2.c run.c, 64 steps) printed the prompt, then the text of the tokens sampled at
// positions 4..63 (60 tokens), then a newline. The same with the weights read into anonymous
// memory (the default) and left in the file mapping (--mmap).
TEST(Generation, Stories260KTellsTheReferenceStory) {
  REQUIRE_TESTDATA();
  for (bool mmap : {false, true}) {
    SCOPED_TRACE(mmap ? "mmap" : "anonymous");
    auto model = load("stories260K-f32.gguf", 0, mmap);
    ASSERT_TRUE(model);
    const std::string prompt = "Once upon a time";
    const auto tokens = model->tokenize(prompt, /*add_bos=*/true, /*parse_special=*/false);
    EXPECT_EQ(tokens, (std::vector<int32_t>{1, 403, 407, 261, 378}));
    std::string streamed;
    auto result = collect(*model, tokens, greedy(60), streamed);
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(prompt + result->text + "\n", read_file(testdata_path("stories/once_upon_a_time_greedy_64.txt")));
    EXPECT_EQ(streamed, result->text);
    EXPECT_EQ(result->completion_tokens, 60);
    EXPECT_EQ(result->prompt_tokens, 5);
    EXPECT_EQ(result->finish_reason, FinishReason::Length);
  }
}

// Greedy continuations of the f32 tiny models equal llama.cpp's (expected/*.json) for every
// prompt: the reference's greedy text is exact for f32 files (testdata README).
TEST(Generation, GreedyTextMatchesReferenceOnF32Models) {
  REQUIRE_TESTDATA();
  for (const std::string name : {"qwen2-tiny-f32", "qwen3-tiny-f32", "llama-tiny-f32"}) {
    auto model = load(name + ".gguf");
    ASSERT_TRUE(model);
    const auto expected = nlohmann::json::parse(read_file(testdata_path("expected/" + name + ".json")));
    for (const auto& c : expected["cases"]) {
      const auto tokens = c["tokens"].get<std::vector<int32_t>>();
      std::string streamed;
      auto result = collect(*model, tokens, greedy(16), streamed);
      ASSERT_TRUE(result.ok()) << result.error().message;
      // greedy_text shows the bytes of incomplete UTF-8 sequences as U+FFFD, as the stream does.
      const std::string expected_text = c["greedy_text"];
      // Generation stops early at an end-of-generation token; compare up to what was produced.
      EXPECT_EQ(result->text, expected_text.substr(0, result->text.size())) << name << ": " << c["prompt"];
    }
  }
}

TEST(Generation, SameSeedSameTextDifferentSeedDifferentText) {
  REQUIRE_TESTDATA();
  auto model = load("stories260K-f32.gguf");
  ASSERT_TRUE(model);
  const auto tokens = model->tokenize("Once upon a time", true, false);
  GenerationParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.max_tokens = 48;
  std::string a, b, c;
  p.seed = 42;
  ASSERT_TRUE(collect(*model, tokens, p, a).ok());
  ASSERT_TRUE(collect(*model, tokens, p, b).ok());
  p.seed = 43;
  ASSERT_TRUE(collect(*model, tokens, p, c).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Generation, StopStringCutsTheTextBeforeIt) {
  REQUIRE_TESTDATA();
  auto model = load("stories260K-f32.gguf");
  ASSERT_TRUE(model);
  const auto tokens = model->tokenize("Once upon a time", true, false);
  auto params = greedy(64);
  params.stop = {"Lily"};
  std::string streamed;
  auto result = collect(*model, tokens, params, streamed);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->text, ", there was a little girl named ");
  EXPECT_EQ(streamed, result->text);
  EXPECT_EQ(result->finish_reason, FinishReason::Stop);
}

// The finished event of `params` on `prompt`, read through the request's handle.
GenerationEvent finished_event(LoadedModel& model, const std::vector<int32_t>& prompt,
                               const GenerationParams& params) {
  EngineRequest request;
  request.prompt = prompt;
  request.params = params;
  Submission s = model.submit(std::move(request));
  EXPECT_TRUE(s.handle) << s.message;
  if (!s.handle) return {};
  for (;;) {
    std::optional<GenerationEvent> event = s.handle->next(1000000);
    if (event && event->finished) return std::move(*event);
  }
}

// The finished event says whether a stop string ended the text (a cut, which the chat API
// tells from the model's own end): not for max_tokens, nor for an end-of-generation token.
TEST(Generation, TheFinishedEventSaysAStopStringEndedIt) {
  REQUIRE_TESTDATA();
  auto model = load("stories260K-f32.gguf");
  ASSERT_TRUE(model);
  const auto tokens = model->tokenize("Once upon a time", true, false);
  auto params = greedy(64);
  params.stop = {"Lily"};
  GenerationEvent event = finished_event(*model, tokens, params);
  EXPECT_EQ(event.finish_reason, FinishReason::Stop);
  EXPECT_TRUE(event.stop_string);
  params.stop = {"no such text"};
  params.max_tokens = 8;
  event = finished_event(*model, tokens, params);
  EXPECT_EQ(event.finish_reason, FinishReason::Length);
  EXPECT_FALSE(event.stop_string);
  auto qwen = load("qwen2-tiny-f32.gguf");
  ASSERT_TRUE(qwen);
  GenerationParams eos;  // as EndOfGenerationTokenStops: an end-of-generation token comes
  eos.temperature = 5.0f;
  eos.top_k = 0;
  eos.top_p = 1.0f;
  eos.min_p = 0.0f;
  eos.max_tokens = 1000;
  eos.seed = 4;
  eos.stop = {"no such text"};
  event = finished_event(*qwen, qwen->tokenize("hello", true, false), eos);
  EXPECT_EQ(event.finish_reason, FinishReason::Stop);
  EXPECT_FALSE(event.stop_string);
}

TEST(Generation, CallbackReturningFalseCancels) {
  REQUIRE_TESTDATA();
  auto model = load("stories260K-f32.gguf");
  ASSERT_TRUE(model);
  const auto tokens = model->tokenize("Once upon a time", true, false);
  // The engine merges the steps a reader has not taken yet, so a fast model may hand all its
  // text to the first call: the callback stops at its first call, whatever that holds.
  int calls = 0;
  std::string delivered;
  auto result = model->generate(tokens, greedy(64), [&](std::string_view text) {
    delivered += text;
    ++calls;
    return false;
  });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(calls, 1) << "no text after the callback said stop";
  EXPECT_EQ(result->text, delivered);
  EXPECT_EQ(result->finish_reason, FinishReason::Cancelled);
  EXPECT_LE(result->completion_tokens, 64);  // the engine may have run on until it saw the cancel
}

TEST(Generation, EndOfGenerationTokenStops) {
  REQUIRE_TESTDATA();
  // qwen2-tiny has random weights: at temperature 5 its draws are near uniform over 2000 tokens,
  // so an end-of-generation token (<|endoftext|>, <|im_end|>) comes within a few hundred steps.
  auto model = load("qwen2-tiny-f32.gguf");
  ASSERT_TRUE(model);
  const auto tokens = model->tokenize("hello", true, false);
  GenerationParams p;
  p.temperature = 5.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.max_tokens = 1000;
  p.seed = 4;
  std::string streamed;
  auto result = collect(*model, tokens, p, streamed);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish_reason, FinishReason::Stop);
  EXPECT_LT(result->completion_tokens, 1000);
  EXPECT_EQ(result->text.find("<|endoftext|>"), std::string::npos);
  EXPECT_EQ(result->text.find("<|im_end|>"), std::string::npos);
}

TEST(Generation, BadPromptsAreErrors) {
  REQUIRE_TESTDATA();
  auto model = load("stories260K-f32.gguf", /*n_ctx=*/16);
  ASSERT_TRUE(model);
  std::string ignored;
  EXPECT_FALSE(collect(*model, {}, greedy(4), ignored).ok());
  const std::vector<int32_t> too_long(16, 400);
  auto r = collect(*model, too_long, greedy(4), ignored);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("context"), std::string::npos) << r.error().message;
  const std::vector<int32_t> out_of_range{1, 512};
  EXPECT_FALSE(collect(*model, out_of_range, greedy(4), ignored).ok());
  // The context ends generation with finish_reason length.
  const std::vector<int32_t> fills(14, 400);
  auto full = collect(*model, fills, greedy(100), ignored);
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full->finish_reason, FinishReason::Length);
  // 14 prompt tokens + 2 generated tokens fill the 16 positions: the second is sampled from
  // position 14's logits and never evaluated; no token is reported beyond the context.
  EXPECT_EQ(full->completion_tokens, 2);
  EXPECT_EQ(full->prompt_tokens + full->completion_tokens, 16);
}

TEST(Generation, BadSamplingParametersAreErrors) {
  REQUIRE_TESTDATA();
  auto model = load("stories260K-f32.gguf");
  ASSERT_TRUE(model);
  const auto tokens = model->tokenize("Once", true, false);
  std::string ignored;
  auto params = greedy(4);
  params.temperature = std::nanf("");
  auto nan_temperature = collect(*model, tokens, params, ignored);
  ASSERT_FALSE(nan_temperature.ok());
  EXPECT_EQ(nan_temperature.error().message, "sampling parameter temperature must be a finite number (got nan)");
  params = greedy(4);
  params.top_p = 5.0f;
  EXPECT_FALSE(collect(*model, tokens, params, ignored).ok());
  params = greedy(4);
  params.min_p = 2.0f;
  EXPECT_FALSE(collect(*model, tokens, params, ignored).ok());
}

TEST(Generation, LoadRefusesWhatCannotRun) {
  REQUIRE_TESTDATA();
  const std::string stories = testdata_path("models/stories260K-f32.gguf");
  auto threads = LoadedModel::load(stories, {.n_threads = 100000});
  ASSERT_FALSE(threads.ok());
  EXPECT_EQ(threads.error().message, "100000 threads requested; at most 1024 are allowed");
  auto context = LoadedModel::load(stories, {.n_threads = 1, .n_ctx = 2000000000});
  ASSERT_FALSE(context.ok());
  EXPECT_EQ(context.error().message,
            stories + ": a context of 2000000000 tokens is longer than the model's training context (512 tokens)");
  const std::string vocab = testdata_path("tokenizer/qwen-vocab.gguf");
  auto vocab_only = LoadedModel::load(vocab, {.n_threads = 1});
  ASSERT_FALSE(vocab_only.ok());
  EXPECT_EQ(vocab_only.error().message,
            vocab + ": the file holds a vocabulary but no weights (a vocab-only GGUF works with "
                    "`gengyun tokenize`, not for generation)");
}

TEST(Generation, KvCachePoolSizesTheContext) {
  REQUIRE_TESTDATA();
  const std::string qwen = testdata_path("models/qwen2-tiny-q8_0.gguf");
  // qwen2-tiny: 2 layers, 2 KV heads of 64; a block of 32 positions in f16 takes
  // 2 * 2 * 2 * 32 * 64 * 2 = 32768 bytes.
  auto whole = LoadedModel::load(qwen, {.n_threads = 1, .max_seqs = 2});
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole.value()->n_ctx(), 4096) << "qwen2-tiny's training context";
  auto small = LoadedModel::load(qwen, {.n_threads = 1, .kv_cache_bytes = 10 * 32768 + 100});
  ASSERT_TRUE(small.ok()) << small.error().message;
  EXPECT_EQ(small.value()->n_ctx(), 320) << "ten blocks";
  EXPECT_EQ(small.value()->kv_cache_bytes(), 10 * 32768);
  EXPECT_EQ(small.value()->stats().kv_blocks_total, 10);

  auto huge = LoadedModel::load(qwen, {.n_threads = 1, .kv_cache_bytes = int64_t{1} << 50});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find(": a KV cache of 1073741824 MiB is more than the available "
                                      "memory ("),
            std::string::npos)
      << huge.error().message;
  auto none = LoadedModel::load(qwen, {.n_threads = 1, .kv_cache_bytes = 32767});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, qwen + ": a KV cache of 32767 bytes holds no block of 32 "
                                        "positions (32768 bytes); give it more memory");
  auto short_pool = LoadedModel::load(qwen, {.n_threads = 1, .n_ctx = 4096, .kv_cache_bytes = 1 << 20});
  ASSERT_FALSE(short_pool.ok());
  EXPECT_EQ(short_pool.error().message,
            qwen + ": a KV cache of 1 MiB holds 1024 positions, fewer than one sequence of the "
                   "asked context of 4096 tokens (4 MiB); give it more memory or ask for a "
                   "shorter context");

  // A prompt the pool can never hold is refused at once, not queued forever.
  std::vector<int32_t> long_prompt(400, 17);
  Submission refused = small.value()->submit(
      {.prompt = long_prompt, .params = greedy(1), .priority = 0, .cache_salt = {}});
  EXPECT_FALSE(refused.handle);
  EXPECT_EQ(refused.status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(refused.message, "the prompt has 400 tokens but the context holds 320 (prompt + at "
                             "least one generated token)");
}

// The Q8_0 matrices are rearranged for decode (kernels::WeightLayout::kBlockGroups16) unless
// --mmap keeps the file's bytes; the kernels give the same bits either way, so greedy tokens
// match, for a prompt's decode (1 row) and for 5 sequences at once (batched kernels).
TEST(Generation, RearrangedQ8_0WeightsGiveTheTokensOfTheFileLayout) {
  REQUIRE_TESTDATA();
  std::vector<std::vector<int32_t>> texts[2];
  for (bool mmap : {false, true}) {
    auto model = LoadedModel::load(testdata_path("models/qwen2-tiny-q8_0.gguf"),
                                   {.n_threads = 2, .max_seqs = 5, .mmap = mmap});
    ASSERT_TRUE(model.ok()) << model.error().message;
    std::vector<std::unique_ptr<RequestHandle>> handles;
    for (int i = 0; i < 5; ++i) {
      EngineRequest request;
      request.prompt = {1 + i, 100 + 7 * i, 300 - i};
      request.params = greedy(24);
      request.params.ignore_eos = true;
      Submission s = model.value()->submit(std::move(request));
      ASSERT_TRUE(s.handle) << s.message;
      handles.push_back(std::move(s.handle));
    }
    for (auto& h : handles) {
      std::vector<int32_t> tokens;
      while (true) {
        std::optional<GenerationEvent> e = h->next(60'000'000);
        ASSERT_TRUE(e);
        tokens.insert(tokens.end(), e->token_ids.begin(), e->token_ids.end());
        if (e->finished) break;
      }
      EXPECT_EQ(tokens.size(), 24u);
      texts[mmap].push_back(tokens);
    }
  }
  EXPECT_EQ(texts[0], texts[1]);
}

TEST(Generation, LoadErrorsNameTheFile) {
  auto missing = LoadedModel::load("/nonexistent/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace gengyun
