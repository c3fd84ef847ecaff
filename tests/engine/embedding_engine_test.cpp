// Embedding requests in the batching engine, stepped by hand over the real paged forward pass
// of qwen3-embed-tiny (and of copies with mean and cls pooling): many inputs share one pass,
// and every vector is bit-identical to model::Context::embed of its input alone, whatever the
// batch and however its tokens are split into passes (batch invariance). Also the seam: an
// embedding model loads, embeds through LoadedModel::submit and refuses generation; a
// generating model refuses embeddings.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine_core.h"
#include "engine/paged_model_runner.h"
#include "gengyun/engine.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model/model_test_util.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {
namespace {

using ::gengyun::testing::testdata_path;

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

/// The reference cases' tokens with EOS appended (the file's add_eos_token), then inputs of
/// 1, 37 and 70 tokens: longer than a small step, so they are split into passes.
std::vector<std::vector<int32_t>> test_inputs(const nlohmann::json& expected, int32_t eos) {
  std::vector<std::vector<int32_t>> inputs;
  for (const nlohmann::json& cs : expected["cases"]) {
    inputs.push_back(cs["tokens"].get<std::vector<int32_t>>());
    inputs.back().push_back(eos);
  }
  for (int n : {1, 37, 70}) {
    std::vector<int32_t>& input = inputs.emplace_back();
    for (int i = 0; i < n; ++i) input.push_back((i * 131 + n) % 1900);
  }
  return inputs;
}

struct EngineRun {
  std::vector<std::vector<float>> vectors;
  int64_t steps = 0;
  std::vector<int> prompt_tokens;
};

/// Submits every input to a fresh engine of `model` (steps of max_batch_tokens) and steps it by
/// hand until all have finished.
EngineRun run_engine(const model::Model& model, const Tokenizer& tokenizer,
                     kernels::ThreadPool& pool, const std::vector<std::vector<int32_t>>& inputs,
                     int max_batch_tokens) {
  const model::HParams& hp = model.hparams();
  constexpr int kBlocks = 64;
  model::KvCache kv(hp.n_layer, kBlocks, hp.n_head_kv, hp.head_dim, KvCacheType::F16);
  PagedModelRunner runner(model, kv, pool, max_batch_tokens);
  EngineConfig config;
  config.scheduler.max_batch_tokens = max_batch_tokens;
  config.n_ctx = 256;
  config.n_blocks = kBlocks;
  config.block_size = model::KvCache::kBlockSize;
  config.prefix_cache = false;
  config.pooling = hp.pooling;
  config.n_embd = hp.n_embd;
  auto engine = std::make_shared<EngineCore>(config, runner, tokenizer, pool);
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const std::vector<int32_t>& input : inputs) {
    EngineRequest request;
    request.prompt = input;
    request.embed = true;
    Submission s = engine->submit(std::move(request));
    EXPECT_TRUE(s.handle) << s.message;
    if (!s.handle) return {};
    handles.push_back(std::move(s.handle));
  }
  EngineRun run;
  run.vectors.resize(inputs.size());
  run.prompt_tokens.resize(inputs.size());
  size_t finished = 0;
  while (finished < inputs.size()) {
    if (!engine->step()) {
      ADD_FAILURE() << "the engine stopped with " << inputs.size() - finished << " inputs left";
      return run;
    }
    ++run.steps;
    for (size_t i = 0; i < handles.size(); ++i) {
      std::optional<GenerationEvent> event = handles[i]->next(0);
      if (!event) continue;
      EXPECT_TRUE(event->finished);
      EXPECT_EQ(event->finish_reason, FinishReason::Stop) << event->error;
      EXPECT_TRUE(event->token_ids.empty());
      EXPECT_EQ(event->usage.completion_tokens, 0);
      run.prompt_tokens[i] = event->usage.prompt_tokens;
      run.vectors[i] = std::move(event->embedding);
      ++finished;
    }
  }
  return run;
}

class EmbeddingEngineTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    source_ = model::testing::open_model_file("qwen3-embed-tiny-f32.gguf");
    ASSERT_NE(source_, nullptr);
    rebuilt_ = model::testing::rebuild(*source_, [](gguf::Writer& w, auto&) {
      w.set_u32("qwen3.pooling_type", static_cast<uint32_t>(GetParam()));
    });
    ASSERT_NE(rebuilt_.file, nullptr);
    auto model = model::Model::load(rebuilt_.file);
    ASSERT_TRUE(model.ok()) << model.error().message;
    model_ = std::move(model.value());
    auto tokenizer = Tokenizer::load(*rebuilt_.file);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
    tokenizer_ = std::move(tokenizer.value());
    std::ifstream in(testdata_path("embeddings/qwen3-embed-tiny-f32.json"));
    expected_ = nlohmann::json::parse(in);
    inputs_ = test_inputs(expected_, *tokenizer_->eos());
  }

  std::shared_ptr<const gguf::File> source_;
  model::testing::RebuiltFile rebuilt_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  nlohmann::json expected_;
  std::vector<std::vector<int32_t>> inputs_;
};

TEST_P(EmbeddingEngineTest, BatchedInputsShareAPassAndEqualEachAloneBitForBit) {
  kernels::ThreadPool pool(2);
  std::vector<std::vector<float>> alone;
  {
    model::Context ctx(*model_, 256, pool);
    for (const std::vector<int32_t>& input : inputs_) {
      ASSERT_TRUE(ctx.embed(input, alone.emplace_back()).ok());
    }
  }
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const EngineRun single = run_engine(*model_, *tokenizer_, pool, {inputs_[i]}, 512);
    ASSERT_EQ(single.vectors.size(), 1u);
    EXPECT_EQ(single.vectors[0], alone[i]) << "input " << i << " alone";
    EXPECT_EQ(single.prompt_tokens[0], static_cast<int>(inputs_[i].size()));
  }
  // All inputs in one step of 512 tokens: one forward pass for every one of them.
  const EngineRun together = run_engine(*model_, *tokenizer_, pool, inputs_, 512);
  EXPECT_EQ(together.steps, 1);
  // Steps of 16 tokens: inputs are split into chunks that share passes with other inputs'.
  const EngineRun chunked = run_engine(*model_, *tokenizer_, pool, inputs_, 16);
  size_t n_tokens = 0;
  for (const auto& input : inputs_) n_tokens += input.size();
  EXPECT_EQ(chunked.steps, static_cast<int64_t>((n_tokens + 15) / 16));
  for (size_t i = 0; i < inputs_.size(); ++i) {
    EXPECT_EQ(together.vectors[i], alone[i]) << "input " << i << " in one pass";
    EXPECT_EQ(chunked.vectors[i], alone[i]) << "input " << i << " in chunks";
    EXPECT_EQ(chunked.prompt_tokens[i], static_cast<int>(inputs_[i].size()));
  }
  if (GetParam() != 3) return;
  // Last-token pooling is the file's own: llama.cpp's vectors.
  for (size_t i = 0; i < expected_["cases"].size(); ++i)
    EXPECT_GE(
        cosine(together.vectors[i], expected_["cases"][i]["embedding"].get<std::vector<float>>()),
        0.99999)
        << expected_["cases"][i]["input"];
}

INSTANTIATE_TEST_SUITE_P(Pooling, EmbeddingEngineTest, ::testing::Values(1, 2, 3),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == 1   ? "mean"
                                              : info.param == 2 ? "cls"
                                                                : "last");
                         });

TEST(EmbeddingModel, LoadsEmbedsThroughTheSeamAndRefusesGeneration) {
  REQUIRE_TESTDATA();
  const std::string path = testdata_path("models/qwen3-embed-tiny-f32.gguf");
  auto loaded = LoadedModel::load(path, {.n_threads = 2, .n_ctx = 64});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  LoadedModel& m = *loaded.value();
  EXPECT_TRUE(m.is_embedding_model());
  EXPECT_EQ(m.n_embd(), 256);
  std::ifstream in(testdata_path("embeddings/qwen3-embed-tiny-f32.json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  const nlohmann::json& first = expected["cases"][0];
  const std::vector<int32_t> text_tokens =
      m.tokenize(first["input"].get<std::string>(), false, false);
  EXPECT_EQ(text_tokens, first["tokens"].get<std::vector<int32_t>>());
  std::vector<int32_t> want_input = text_tokens;
  want_input.push_back(1993);  // <|endoftext|>: add_eos_token; add_bos_token is false
  const std::vector<int32_t> input = m.embedding_input(text_tokens);
  EXPECT_EQ(input, want_input);

  EngineRequest request;
  request.prompt = input;
  request.embed = true;
  Submission s = m.submit(request);
  ASSERT_TRUE(s.handle) << s.message;
  std::optional<GenerationEvent> event;
  while (!(event = s.handle->next(60'000'000)) || !event->finished) {
  }
  EXPECT_EQ(event->finish_reason, FinishReason::Stop) << event->error;
  EXPECT_EQ(event->usage.prompt_tokens, static_cast<int>(input.size()));
  EXPECT_GE(cosine(event->embedding, first["embedding"].get<std::vector<float>>()), 0.99999);

  request.embed = false;
  Submission generation = m.submit(request);
  EXPECT_FALSE(generation.handle);
  EXPECT_EQ(generation.status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(generation.message, "this is an embedding model: it computes embeddings, not text");
  request.embed = true;
  request.prompt.assign(65, 34);
  Submission too_long = m.submit(request);
  EXPECT_EQ(too_long.status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(too_long.message, "the input has 65 tokens but the context holds 64");

  auto chat = LoadedModel::load(testdata_path("models/qwen2-tiny-q8_0.gguf"), {.n_threads = 1});
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_FALSE(chat.value()->is_embedding_model());
  request.prompt = {34, 75};
  Submission embedding = chat.value()->submit(request);
  EXPECT_EQ(embedding.status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(embedding.message,
            "this model generates text: it has no pooling type to compute embeddings");
}

}  // namespace
}  // namespace gengyun::engine
