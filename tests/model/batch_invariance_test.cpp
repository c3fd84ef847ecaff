// Batch invariance of the paged forward pass: a sequence's logits are bit-identical whether it
// runs alone or beside other sequences at other positions, however its prompt was chunked,
// and whatever blocks of the shared KV cache hold it.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/lora.h"
#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace gengyun::model {
namespace {

constexpr int kBlock = KvCache::kBlockSize;

/// One sequence of a test: its tokens, how many are already in the cache, its blocks.
struct TestSequence {
  std::vector<int32_t> tokens;
  std::vector<int32_t> blocks;
  const LoraAdapter* adapter = nullptr;
};

/// Evaluates `seqs` in chunks: at each pass, sequence i contributes up to chunk[i] tokens
/// (all of them together in one pass per round); returns every sequence's logits of its
/// last token after each pass it took part in (LogitRows::Last), concatenated.
std::vector<std::vector<float>> run(const Model& model, KvCache& kv, kernels::ThreadPool& pool,
                                    const std::vector<TestSequence>& seqs,
                                    const std::vector<int>& chunk) {
  BatchEvaluator evaluator(model, kv, pool, 512);
  std::vector<std::vector<float>> out(seqs.size());
  std::vector<int> done(seqs.size(), 0);
  std::vector<float> logits;
  const size_t n_vocab = static_cast<size_t>(model.hparams().n_vocab);
  while (true) {
    std::vector<int32_t> tokens;
    std::vector<SequenceRows> rows;
    std::vector<size_t> which;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const int n = std::min<int>(chunk[i], static_cast<int>(seqs[i].tokens.size()) - done[i]);
      if (n <= 0) continue;
      SequenceRows r;
      r.row = static_cast<int64_t>(tokens.size());
      r.n_tokens = n;
      r.pos0 = done[i];
      r.block_table = seqs[i].blocks;
      r.logits = LogitRows::Last;
      r.adapter = seqs[i].adapter;
      rows.push_back(r);
      which.push_back(i);
      tokens.insert(tokens.end(), seqs[i].tokens.begin() + done[i],
                    seqs[i].tokens.begin() + done[i] + n);
      done[i] += n;
    }
    if (rows.empty()) break;
    Result<void> r = evaluator.forward(tokens, rows, logits);
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok()) break;
    EXPECT_EQ(logits.size(), rows.size() * n_vocab);
    for (size_t k = 0; k < which.size(); ++k)
      out[which[k]].insert(out[which[k]].end(), logits.begin() + k * n_vocab,
                           logits.begin() + (k + 1) * n_vocab);
  }
  return out;
}

/// The logits of `seq`'s last token when it is evaluated alone in one pass.
std::vector<float> alone(const Model& model, kernels::ThreadPool& pool, const TestSequence& seq) {
  KvCache kv(model.hparams().n_layer, 16, model.hparams().n_head_kv, model.hparams().head_dim,
             KvCacheType::F16);
  TestSequence own{seq.tokens, {}, seq.adapter};
  for (int b = 0; b * kBlock < static_cast<int>(seq.tokens.size()); ++b) own.blocks.push_back(15 - b);
  return run(model, kv, pool, {own}, {static_cast<int>(seq.tokens.size())})[0];
}

std::vector<int32_t> tokens_of(int n, int32_t seed, int n_vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[i] = (seed + 37 * i + i * i) % n_vocab;
  return t;
}

bool same_bits(const std::vector<float>& a, const float* b) {
  return std::memcmp(a.data(), b, a.size() * sizeof(float)) == 0;
}

class BatchInvarianceTest : public ::testing::TestWithParam<std::string> {};

// Three sequences of different lengths in one pass each, small enough that every product runs
// the one-row kernels: each one's last logits equal its logits alone.
TEST_P(BatchInvarianceTest, SequencesInOnePassEqualEachAlone) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> model = testing::load_model(GetParam());
  ASSERT_NE(model, nullptr);
  const HParams& hp = model->hparams();
  const std::vector<TestSequence> seqs = {{tokens_of(5, 3, hp.n_vocab), {2, 0}},
                                          {tokens_of(1, 9, hp.n_vocab), {1}},
                                          {tokens_of(7, 5, hp.n_vocab), {4, 3}}};
  for (int threads : {1, 2}) {
    kernels::ThreadPool pool(threads);
    KvCache kv(hp.n_layer, 5, hp.n_head_kv, hp.head_dim, KvCacheType::F16);
    const auto together = run(*model, kv, pool, seqs, {100, 100, 100});
    for (size_t i = 0; i < seqs.size(); ++i)
      EXPECT_TRUE(same_bits(alone(*model, pool, seqs[i]), together[i].data()))
          << "sequence " << i << ", " << threads << " threads";
  }
}

// A prompt crossing block boundaries fed in chunks of 3 (one-row kernels), 20 and 70 tokens
// (batched kernels from 16 rows on) beside a decoding sequence: the last token's logits equal
// the prompt's alone in one pass, and every decode step equals that prefix alone.
TEST_P(BatchInvarianceTest, ChunkedPrefillBesideDecodeEqualsAlone) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> model = testing::load_model(GetParam());
  ASSERT_NE(model, nullptr);
  const HParams& hp = model->hparams();
  const TestSequence prompt{tokens_of(70, 11, hp.n_vocab), {6, 1, 4}};
  const TestSequence decoding{tokens_of(12, 2, hp.n_vocab), {0}};
  kernels::ThreadPool pool(2);
  const size_t n_vocab = static_cast<size_t>(hp.n_vocab);
  const std::vector<float> expected = alone(*model, pool, prompt);
  for (int chunk : {3, 20, 70}) {
    KvCache kv(hp.n_layer, 8, hp.n_head_kv, hp.head_dim, KvCacheType::F16);
    const auto out = run(*model, kv, pool, {prompt, decoding}, {chunk, 1});
    EXPECT_TRUE(same_bits(expected, out[0].data() + out[0].size() - n_vocab)) << "chunks of " << chunk;
    for (size_t t = 1; t <= decoding.tokens.size(); ++t) {
      const TestSequence prefix{std::vector<int32_t>(decoding.tokens.begin(), decoding.tokens.begin() + t), {}};
      EXPECT_TRUE(same_bits(alone(*model, pool, prefix), out[1].data() + (t - 1) * n_vocab))
          << "token " << t << ", chunks of " << chunk;
    }
  }
}

// Requests for two LoRA adapters of one base and for the base itself in the same passes (a
// 40-token prompt in chunks of 20 under adapter a, so that its rows are gathered among the
// others, beside one-token decodes under a, b and none): each sequence's logits are
// bit-identical to its logits alone, and each adapter changes them.
TEST(LoraBatchInvariance, AdaptersAndBaseMixedEqualEachAlone) {
  REQUIRE_TESTDATA();
  for (const char* name : {"qwen2-tiny-f32.gguf", "qwen2-tiny-q8_0.gguf"}) {
    std::unique_ptr<Model> model = testing::load_model(name);
    ASSERT_NE(model, nullptr);
    const HParams& hp = model->hparams();
    auto a = LoraAdapter::load(*model, ::gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), 1.0f);
    auto b = LoraAdapter::load(*model, ::gengyun::testing::testdata_path("lora/qwen2-tiny-lora-b.gguf"), 0.5f);
    ASSERT_TRUE(a.ok() && b.ok());
    const std::vector<TestSequence> seqs = {
        {tokens_of(40, 11, hp.n_vocab), {6, 1}, a.value().get()},
        {tokens_of(6, 2, hp.n_vocab), {0}, b.value().get()},
        {tokens_of(6, 2, hp.n_vocab), {2}, nullptr},
        {tokens_of(5, 7, hp.n_vocab), {3}, a.value().get()},
        {tokens_of(6, 2, hp.n_vocab), {4}, a.value().get()}};
    kernels::ThreadPool pool(2);
    KvCache kv(hp.n_layer, 8, hp.n_head_kv, hp.head_dim, KvCacheType::F16);
    const auto together = run(*model, kv, pool, seqs, {20, 1, 1, 1, 1});
    const size_t n_vocab = static_cast<size_t>(hp.n_vocab);
    EXPECT_TRUE(same_bits(alone(*model, pool, seqs[0]), together[0].data() + n_vocab)) << name;
    for (size_t i = 1; i < seqs.size(); ++i) {
      for (size_t t = 1; t <= seqs[i].tokens.size(); ++t) {
        TestSequence prefix = seqs[i];
        prefix.tokens.resize(t);
        EXPECT_TRUE(same_bits(alone(*model, pool, prefix), together[i].data() + (t - 1) * n_vocab))
            << name << " sequence " << i << " token " << t;
      }
    }
    // Same tokens under b, none and a: three different answers.
    EXPECT_FALSE(same_bits(together[1], together[2].data())) << name;
    EXPECT_FALSE(same_bits(together[2], together[4].data())) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BatchInvarianceTest,
                         ::testing::Values("qwen2-tiny-q8_0.gguf", "qwen3-tiny-q4_k_m.gguf",
                                           "llama-tiny-f32.gguf", "qwen3moe-tiny-q4_k_m.gguf"),
                         [](const auto& info) { return ::gengyun::testing::model_param_name(info.param); });

}  // namespace
}  // namespace gengyun::model
