// The same sequence evaluated in different ways gives the same logits: one batch, one token at
// a time, uneven chunks, after clear(), and on several threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace gengyun::model {
namespace {

// A prompt with repeats (so attention sees equal keys at different positions).
const std::vector<int32_t> kPrompt = {9, 300, 17, 1024, 5, 5, 77, 300, 1999, 42, 3, 128, 9};

std::vector<float> eval_chunks(const Model& model, kernels::ThreadPool& pool,
                               const std::vector<int32_t>& tokens,
                               const std::vector<size_t>& chunk_sizes) {
  Context ctx(model, 64, pool);
  std::vector<float> all, logits;
  size_t begin = 0;
  for (size_t size : chunk_sizes) {
    Result<void> r = ctx.eval(std::span(tokens).subspan(begin, size), true, logits);
    EXPECT_TRUE(r.ok()) << r.error().message;
    all.insert(all.end(), logits.begin(), logits.end());
    begin += size;
  }
  EXPECT_EQ(begin, tokens.size());
  EXPECT_EQ(ctx.n_past(), static_cast<int>(tokens.size()));
  return all;
}

void expect_close_rows(const std::vector<float>& a, const std::vector<float>& b, int64_t n_vocab,
                       double rel, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t row = 0; row * n_vocab < a.size(); ++row) {
    double scale = 0;
    for (int64_t i = 0; i < n_vocab; ++i) scale = std::max(scale, std::abs(double(a[row * n_vocab + i])));
    for (int64_t i = 0; i < n_vocab; ++i) {
      ASSERT_NEAR(a[row * n_vocab + i], b[row * n_vocab + i], rel * scale)
          << what << " row " << row << " token " << i;
    }
  }
}

class ConsistencyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConsistencyTest, BatchEqualsTokenByTokenAndChunks) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> model = testing::load_model(GetParam());
  ASSERT_NE(model, nullptr);
  const int64_t n_vocab = model->hparams().n_vocab;
  std::vector<int32_t> tokens = kPrompt;
  for (int32_t& t : tokens) t %= static_cast<int32_t>(n_vocab);

  kernels::ThreadPool pool(1);
  const std::vector<float> batch = eval_chunks(*model, pool, tokens, {tokens.size()});
  ASSERT_EQ(batch.size(), tokens.size() * n_vocab);
  const std::vector<float> single =
      eval_chunks(*model, pool, tokens, std::vector<size_t>(tokens.size(), 1));
  expect_close_rows(batch, single, n_vocab, 1e-4, "one token at a time");
  const std::vector<float> chunks = eval_chunks(*model, pool, tokens, {4, 1, 6, 2});
  expect_close_rows(batch, chunks, n_vocab, 1e-4, "chunks 4+1+6+2");
}

TEST_P(ConsistencyTest, LastLogitsAndClearAndThreads) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> model = testing::load_model(GetParam());
  ASSERT_NE(model, nullptr);
  const int64_t n_vocab = model->hparams().n_vocab;
  std::vector<int32_t> tokens = kPrompt;
  for (int32_t& t : tokens) t %= static_cast<int32_t>(n_vocab);

  kernels::ThreadPool pool(1);
  Context ctx(*model, 32, pool);
  std::vector<float> all, last;
  ASSERT_TRUE(ctx.eval(tokens, true, all).ok());
  ctx.clear();
  EXPECT_EQ(ctx.n_past(), 0);
  ASSERT_TRUE(ctx.eval(tokens, false, last).ok());
  ASSERT_EQ(static_cast<int64_t>(last.size()), n_vocab);
  expect_close_rows(last, std::vector<float>(all.end() - n_vocab, all.end()), n_vocab, 1e-6,
                    "last-token logits");

  kernels::ThreadPool pool3(3);
  Context ctx3(*model, 32, pool3);
  std::vector<float> all3;
  ASSERT_TRUE(ctx3.eval(tokens, true, all3).ok());
  expect_close_rows(all3, all, n_vocab, 1e-6, "three threads");
}

INSTANTIATE_TEST_SUITE_P(F32Models, ConsistencyTest,
                         ::testing::Values("llama-tiny-f32.gguf", "qwen2-tiny-f32.gguf",
                                           "qwen3-tiny-f32.gguf", "stories260K-f32.gguf",
                                           "qwen2-tiny-q4_k_m.gguf"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id = info.param.substr(0, info.param.size() - 5);
                           std::replace_if(id.begin(), id.end(), [](char ch) { return !std::isalnum(ch); }, '_');
                           return id;
                         });

}  // namespace
}  // namespace gengyun::model
