// gengyun bench --embed: the embeddings benchmark on the tiny embedding model (every input in
// one engine step, EOS counted), its JSON report, and its errors.
#include "bench/embed_bench.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kernels/simd_level.h"
#include "testdata.h"

namespace gengyun::bench {
namespace {

using gengyun::testing::testdata_path;

TEST(EmbedBench, TinyEmbeddingModelRunsEveryInputInFewSteps) {
  REQUIRE_TESTDATA();
  const std::string path = testdata_path("models/qwen3-embed-tiny-f32.gguf");
  auto result = run_embed_bench(path, {.n_inputs = 5, .n_tokens = 7, .n_threads = 2, .repeats = 3});
  ASSERT_TRUE(result.ok()) << result.error().message;
  const EmbedBenchResult& r = result.value();
  EXPECT_EQ(r.model, path);
  EXPECT_EQ(r.threads, 2);
  EXPECT_EQ(r.n_inputs, 5);
  EXPECT_EQ(r.n_tokens, 8) << "7 ids and the EOS the model appends";
  EXPECT_EQ(r.repeats, 3);
  // 5 inputs of 8 tokens fit one step, but the engine may start a step before the last input
  // is submitted (inputs are submitted one by one while it runs): 1 step, or a few.
  EXPECT_GE(r.steps_per_run, 1);
  EXPECT_LE(r.steps_per_run, 5);
  ASSERT_EQ(r.runs_inputs_per_s.size(), 3u);
  for (double v : r.runs_inputs_per_s) EXPECT_GT(v, 0);
  EXPECT_GT(r.inputs_per_s, 0);
  EXPECT_DOUBLE_EQ(r.tokens_per_s, r.inputs_per_s * 8);
  const nlohmann::json j = nlohmann::json::parse(embed_bench_json(r));
  EXPECT_EQ(j["n_inputs"], 5);
  EXPECT_EQ(j["n_tokens"], 8);
  EXPECT_EQ(j["steps_per_run"], r.steps_per_run);
  EXPECT_EQ(j["inputs_per_s"].get<double>(), r.inputs_per_s);
  EXPECT_EQ(j["runs_inputs_per_s"].size(), 3u);
  EXPECT_NE(embed_bench_text(r).find("5 of 8 tokens"), std::string::npos);
  EXPECT_EQ(r.kernels_description, kernels::simd_level_description());
  EXPECT_NE(embed_bench_text(r).find("(kernels " + r.kernels_description + ")"), std::string::npos);
}

TEST(EmbedBench, BelowTheCPUsLevelTheTextNamesBoth) {
  REQUIRE_TESTDATA();
  const kernels::SimdLevel cpu = kernels::cpu_simd_level();
  if (cpu == kernels::SimdLevel::kScalar) GTEST_SKIP() << "the CPU has no level above scalar";
  const kernels::SimdLevel before = kernels::simd_level();
  ASSERT_TRUE(kernels::set_simd_level(kernels::SimdLevel::kScalar).ok());
  auto result = run_embed_bench(testdata_path("models/qwen3-embed-tiny-f32.gguf"),
                                {.n_inputs = 2, .n_tokens = 3, .n_threads = 2, .repeats = 1});
  ASSERT_TRUE(kernels::set_simd_level(before).ok());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const std::string expected =
      "(kernels scalar (the CPU has " + std::string(kernels::simd_level_name(cpu)) + "))";
  EXPECT_NE(embed_bench_text(result.value()).find(expected), std::string::npos)
      << embed_bench_text(result.value());
  EXPECT_EQ(nlohmann::json::parse(embed_bench_json(result.value()))["kernels"], "scalar");
}

TEST(EmbedBench, BadOptionsAndGeneratingModelsAreErrors) {
  REQUIRE_TESTDATA();
  const std::string embed = testdata_path("models/qwen3-embed-tiny-f32.gguf");
  // Each named by its flag (QA: the four were named together).
  for (const auto& [o, message] : std::vector<std::pair<EmbedBenchOptions, std::string>>{
           {{.n_inputs = 0}, "--embed must be at least 1, not 0"},
           {{.n_inputs = 4, .n_tokens = 0}, "--embed-tokens must be at least 1, not 0"},
           {{.n_inputs = 4, .repeats = 0}, "--repeats must be at least 1, not 0"},
           {{.n_inputs = 4, .n_threads = -1}, "--threads must be at least 0, not -1"}}) {
    auto r = run_embed_bench(embed, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, message);
  }
  const std::string chat = testdata_path("models/qwen2-tiny-q8_0.gguf");
  auto r = run_embed_bench(chat, {.n_inputs = 2, .n_tokens = 4, .n_threads = 1, .repeats = 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            chat + ": --embed needs an embedding model (a GGUF with pooling_type)");
}

}  // namespace
}  // namespace gengyun::bench
