// Embedding models: Context::embed against llama.cpp's pooled vectors in
// testdata/embeddings/, the other pooling types against a direct computation, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace gengyun::model {
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

/// The tokens of a case with the model's EOS appended (tokenizer.ggml.add_eos_token is true
/// for this file, as Qwen3-Embedding is used).
std::vector<int32_t> tokens_with_eos(const nlohmann::json& cs, const gguf::File& file) {
  std::vector<int32_t> tokens = cs["tokens"].get<std::vector<int32_t>>();
  tokens.push_back(static_cast<int32_t>(file.get_int("tokenizer.ggml.eos_token_id").value()));
  return tokens;
}

TEST(Embedding, LastTokenPoolingMatchesLlamaCpp) {
  REQUIRE_TESTDATA();
  std::ifstream in(testdata_path("embeddings/qwen3-embed-tiny-f32.json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  std::shared_ptr<const gguf::File> file = testing::open_model_file("qwen3-embed-tiny-f32.gguf");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(file->get_bool("tokenizer.ggml.add_eos_token"), true);
  Result<std::unique_ptr<Model>> model = Model::load(file);
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ(model.value()->hparams().pooling, PoolingType::Last);
  ASSERT_EQ(model.value()->hparams().n_embd, expected["n_embd"].get<int>());
  kernels::ThreadPool pool(2);
  // A batch of 8 tokens: longer inputs run in several passes.
  Context ctx(*model.value(), 256, pool, KvCacheType::F16, 8);
  std::vector<float> embedding;
  for (const nlohmann::json& cs : expected["cases"]) {
    const std::vector<float> want = cs["embedding"].get<std::vector<float>>();
    ASSERT_TRUE(ctx.embed(tokens_with_eos(cs, *file), embedding).ok());
    ASSERT_EQ(embedding.size(), want.size());
    EXPECT_GE(cosine(embedding, want), 0.99999) << cs["input"];
    // Without EOS the vector is another one: the EOS is what the model was trained to read.
    std::vector<float> without;
    ASSERT_TRUE(ctx.embed(cs["tokens"].get<std::vector<int32_t>>(), without).ok());
    EXPECT_LT(cosine(without, want), 0.99) << cs["input"];
  }
}

TEST(Embedding, MeanAndClsPoolingOfTheHiddenStates) {
  REQUIRE_TESTDATA();
  std::shared_ptr<const gguf::File> source = testing::open_model_file("qwen3-embed-tiny-f32.gguf");
  ASSERT_NE(source, nullptr);
  const std::vector<int32_t> tokens = {
      34,
      75,
      283,
      67,
      469,
      628,
      287,
      326,
      363,
      388,
      static_cast<int32_t>(source->get_int("tokenizer.ggml.eos_token_id").value())};
  // The hidden states of every token, from the Last-pooling model one prefix at a time.
  Result<std::unique_ptr<Model>> last = Model::load(source);
  ASSERT_TRUE(last.ok());
  kernels::ThreadPool pool(1);
  std::vector<std::vector<float>> states;
  {
    Context ctx(*last.value(), 64, pool);
    for (size_t n = 1; n <= tokens.size(); ++n) {
      std::vector<float> state;
      const Result<void> r = ctx.embed(std::span(tokens.data(), n), state);
      ASSERT_TRUE(r.ok()) << r.error().message;
      states.push_back(state);
    }
  }
  const size_t n_embd = states[0].size();
  for (const int pooling : {1, 2}) {
    testing::RebuiltFile rebuilt =
        testing::rebuild(*source, [pooling](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
          w.set_u32("qwen3.pooling_type", static_cast<uint32_t>(pooling));
        });
    ASSERT_NE(rebuilt.file, nullptr);
    Result<std::unique_ptr<Model>> model = Model::load(rebuilt.file);
    ASSERT_TRUE(model.ok()) << model.error().message;
    // Batches of 4 tokens: the mean runs over several passes.
    Context ctx(*model.value(), 64, pool, KvCacheType::F16, 4);
    std::vector<float> got;
    ASSERT_TRUE(ctx.embed(tokens, got).ok());
    ASSERT_EQ(got.size(), n_embd);
    for (size_t i = 0; i < n_embd; ++i) {
      if (pooling == 2) {
        EXPECT_EQ(got[i], states[0][i]) << "cls " << i;
        continue;
      }
      float sum = 0;
      for (const auto& s : states) sum += s[i];
      EXPECT_NEAR(got[i], sum / static_cast<float>(tokens.size()), 1e-5f) << "mean " << i;
    }
  }
}

TEST(Embedding, NormalizeTruncatesThenScalesToUnitLength) {
  std::vector<float> v = {3.0f, 4.0f, 12.0f};
  ASSERT_TRUE(normalize_embedding(v).ok());
  EXPECT_EQ(v, (std::vector<float>{3.0f / 13, 4.0f / 13, 12.0f / 13}));
  v = {3.0f, 4.0f, 12.0f};
  ASSERT_TRUE(normalize_embedding(v, 2).ok());
  EXPECT_EQ(v, (std::vector<float>{0.6f, 0.8f}));
  v = {0.0f, 0.0f};
  ASSERT_TRUE(normalize_embedding(v).ok());
  EXPECT_EQ(v, (std::vector<float>{0.0f, 0.0f}));
  // A NaN or an infinity anywhere is an error, also when the values kept are finite.
  for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    for (const int64_t dimensions : {0, 1}) {
      v = {1.0f, bad};
      Result<void> r = normalize_embedding(v, dimensions);
      ASSERT_FALSE(r.ok()) << bad << " " << dimensions;
      EXPECT_EQ(r.error().message, kNonFiniteEmbedding);
    }
  }
  for (int64_t bad : {-1, 3}) {
    v = {1.0f, 2.0f};
    Result<void> r = normalize_embedding(v, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "dimensions must be between 1 and 2, not " + std::to_string(bad));
  }
}

TEST(Embedding, Errors) {
  REQUIRE_TESTDATA();
  kernels::ThreadPool pool(1);
  std::unique_ptr<Model> generative = testing::load_model("qwen2-tiny-f32.gguf");
  ASSERT_NE(generative, nullptr);
  Context ctx(*generative, 64, pool);
  std::vector<float> embedding;
  Result<void> r = ctx.embed(std::vector<int32_t>{1, 2, 3}, embedding);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "embed: the model has no qwen2.pooling_type: it is not an embedding model");

  std::unique_ptr<Model> embed = testing::load_model("qwen3-embed-tiny-f32.gguf");
  ASSERT_NE(embed, nullptr);
  Context small(*embed, 4, pool);
  r = small.embed(std::vector<int32_t>{1, 2, 3, 4, 5}, embedding);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "embed: 5 tokens exceed the context size of 4 tokens");
  r = small.embed(std::vector<int32_t>{}, embedding);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "embed: no tokens to evaluate");

  std::shared_ptr<const gguf::File> source = testing::open_model_file("qwen3-embed-tiny-f32.gguf");
  ASSERT_NE(source, nullptr);
  testing::RebuiltFile rank =
      testing::rebuild(*source, [](gguf::Writer& w, auto&) { w.set_u32("qwen3.pooling_type", 4); });
  ASSERT_NE(rank.file, nullptr);
  Result<std::unique_ptr<Model>> loaded = Model::load(rank.file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find(
                "pooling_type must be 0 (none), 1 (mean), 2 (cls) or 3 (last), not 4"),
            std::string::npos)
      << loaded.error().message;
}

}  // namespace
}  // namespace gengyun::model
