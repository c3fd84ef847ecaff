// The engine loop stepped by hand over a fake model runner (vLLM's scheduler tests' manner):
// chunked prefill, decode-first batching, preemption and resume, cancellation, the waiting
// queue's bound, prefix sharing, the context limit and stalled readers. No sleeps: every test
// calls step() itself.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine_core.h"
#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {
namespace {

/// Logits whose argmax is a function of the sequence's last token: 3 + (last + 7) % 400 (never
/// an end-of-generation token of the stories260K vocabulary, ids 0..2). Records every step.
class FakeRunner final : public ModelRunner {
 public:
  struct Chunk {
    uint64_t seq;
    int start, n_tokens;
  };

  Result<void> execute(std::span<const ScheduledChunk> chunks, std::vector<float>& logits) override {
    std::vector<Chunk>& step = steps.emplace_back();
    logits.clear();
    for (const ScheduledChunk& c : chunks) {
      step.push_back({c.seq->id, c.start, c.n_tokens});
      EXPECT_GE(static_cast<int>(c.seq->block_table.size()) * block_size, c.start + c.n_tokens);
      if (!c.samples()) continue;
      std::vector<float> row(kVocab, 0.0f);
      row[static_cast<size_t>(next_token(c.seq->tokens[c.start + c.n_tokens - 1]))] = 1.0f;
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return {};
  }
  int n_vocab() const override { return kVocab; }

  static int32_t next_token(int32_t last) { return 3 + (last + 7) % 400; }

  static constexpr int kVocab = 512;
  int block_size = 4;
  std::vector<std::vector<Chunk>> steps;
};

class EngineCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    auto file = gguf::File::open(testing::testdata_path("models/stories260K-f32.gguf"));
    ASSERT_TRUE(file.ok());
    file_ = std::make_unique<gguf::File>(std::move(file.value()));
    auto tokenizer = Tokenizer::load(*file_);
    ASSERT_TRUE(tokenizer.ok());
    tokenizer_ = std::move(tokenizer.value());
    ASSERT_EQ(tokenizer_->n_vocab(), FakeRunner::kVocab);
  }

  std::shared_ptr<EngineCore> make_engine(EngineConfig config) {
    config.block_size = runner_.block_size;
    if (config.cache_key.empty()) config.cache_key = "fake";
    return std::make_shared<EngineCore>(config, runner_, *tokenizer_, pool_);
  }

  static EngineConfig config(int n_blocks, int max_batch_tokens, int max_seqs = 8) {
    EngineConfig c;
    c.n_blocks = n_blocks;
    c.n_ctx = 256;
    c.scheduler.max_batch_tokens = max_batch_tokens;
    c.scheduler.max_seqs = max_seqs;
    return c;
  }

  static EngineRequest request(std::vector<int32_t> prompt, int max_tokens) {
    EngineRequest r;
    r.prompt = std::move(prompt);
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    return r;
  }

  static std::vector<int32_t> prompt_of(int n, int32_t first = 10) {
    std::vector<int32_t> p;
    for (int i = 0; i < n; ++i) p.push_back(first + i % 300);
    return p;
  }

  /// The tokens the fake model generates after `prompt`.
  static std::vector<int32_t> expected_tokens(const std::vector<int32_t>& prompt, int n) {
    std::vector<int32_t> out;
    int32_t last = prompt.back();
    for (int i = 0; i < n; ++i) out.push_back(last = FakeRunner::next_token(last));
    return out;
  }

  /// Reads every event available now; returns the finished one if it came.
  static std::optional<GenerationEvent> drain(RequestHandle& h, std::vector<int32_t>& tokens) {
    while (std::optional<GenerationEvent> e = h.next(0)) {
      tokens.insert(tokens.end(), e->token_ids.begin(), e->token_ids.end());
      if (e->finished) return e;
    }
    return std::nullopt;
  }

  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  kernels::ThreadPool pool_{1};
  FakeRunner runner_;
};

TEST_F(EngineCoreTest, LongPromptIsPrefilledInChunksOfTheBudget) {
  auto engine = make_engine(config(16, 8));
  Submission s = engine->submit(request(prompt_of(20), 3));
  ASSERT_TRUE(s.handle) << s.message;
  while (engine->step()) {
  }
  std::vector<int32_t> tokens;
  std::optional<GenerationEvent> end = drain(*s.handle, tokens);
  ASSERT_TRUE(end);
  EXPECT_EQ(tokens, expected_tokens(prompt_of(20), 3));
  EXPECT_EQ(end->finish_reason, FinishReason::Length);
  EXPECT_EQ(end->usage.prompt_tokens, 20);
  EXPECT_EQ(end->usage.completion_tokens, 3);
  ASSERT_EQ(runner_.steps.size(), 5u);  // 8 + 8 + 4 (first token), then 2 decode steps
  EXPECT_EQ(runner_.steps[0][0].n_tokens, 8);
  EXPECT_EQ(runner_.steps[1][0].start, 8);
  EXPECT_EQ(runner_.steps[2][0].n_tokens, 4);
  EXPECT_EQ(runner_.steps[3][0].start, 20);
  EXPECT_EQ(runner_.steps[3][0].n_tokens, 1);
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
  EXPECT_EQ(engine->stats().finished, 1);
  // After the finished event there is nothing to wait for: next() returns at once (an hour's
  // timeout would otherwise run into ctest's).
  EXPECT_FALSE(s.handle->next(3'600'000'000));
}

TEST_F(EngineCoreTest, RunningStreamsDecodeBeforeANewPromptIsPrefilled) {
  auto engine = make_engine(config(64, 8));
  Submission a = engine->submit(request(prompt_of(3), 50));
  ASSERT_TRUE(engine->step());  // a's prompt and first token
  Submission b = engine->submit(request(prompt_of(40, 100), 5));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(engine->step());
    const auto& step = runner_.steps.back();
    ASSERT_EQ(step.size(), 2u);
    EXPECT_EQ(step[0].n_tokens, 1) << "a decodes every step";
    EXPECT_EQ(step[1].n_tokens, 7) << "b's prompt gets the rest of the budget";
  }
}

TEST_F(EngineCoreTest, OutOfBlocksPreemptsTheNewestAndResumesItInvisibly) {
  // 6 blocks of 4 positions: two sequences of 5-token prompts growing to 5 + 9 = 14 positions
  // (4 blocks each) cannot both fit.
  auto engine = make_engine(config(6, 64));
  const std::vector<int32_t> pa = prompt_of(5, 10), pb = prompt_of(5, 50);
  Submission a = engine->submit(request(pa, 9));
  Submission b = engine->submit(request(pb, 9));
  std::vector<int32_t> ta, tb;
  std::optional<GenerationEvent> ea, eb;
  while (engine->step()) {
    if (!ea) ea = drain(*a.handle, ta);
    if (!eb) eb = drain(*b.handle, tb);
  }
  if (!ea) ea = drain(*a.handle, ta);
  if (!eb) eb = drain(*b.handle, tb);
  ASSERT_TRUE(ea && eb);
  EXPECT_GE(engine->stats().preemptions, 1);
  EXPECT_EQ(ta, expected_tokens(pa, 9));
  EXPECT_EQ(tb, expected_tokens(pb, 9));
  EXPECT_EQ(eb->usage.prompt_tokens, 5) << "recomputation is not billed again";
  EXPECT_EQ(eb->usage.completion_tokens, 9);
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
  // b (admitted last) was the one preempted: a ran every step until it finished.
  int a_steps = 0;
  for (const auto& step : runner_.steps)
    for (const auto& c : step) a_steps += c.seq == 0;
  EXPECT_EQ(a_steps, 9);
}

TEST_F(EngineCoreTest, CancelDuringPrefillStopsAtTheNextChunkAndFreesBlocks) {
  auto engine = make_engine(config(32, 8));
  Submission s = engine->submit(request(prompt_of(60), 5));
  ASSERT_TRUE(engine->step());
  EXPECT_GT(engine->stats().kv_blocks_used, 0);
  s.handle->cancel();
  EXPECT_FALSE(engine->step());
  std::vector<int32_t> tokens;
  std::optional<GenerationEvent> end = drain(*s.handle, tokens);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(end->usage.prompt_tokens, 8);
  EXPECT_EQ(end->usage.completion_tokens, 0);
  EXPECT_EQ(runner_.steps.size(), 1u);
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
}

TEST_F(EngineCoreTest, CancelWhileWaitingCostsNothing) {
  auto engine = make_engine(config(32, 64, /*max_seqs=*/1));
  Submission a = engine->submit(request(prompt_of(4), 20));
  Submission b = engine->submit(request(prompt_of(4, 70), 20));
  ASSERT_TRUE(engine->step());
  EXPECT_EQ(engine->stats().running, 1);
  EXPECT_EQ(engine->stats().waiting, 1);
  b.handle.reset();  // dropping the handle cancels
  ASSERT_TRUE(engine->step());
  EXPECT_EQ(engine->stats().waiting, 0);
  for (const auto& step : runner_.steps)
    for (const auto& c : step) EXPECT_EQ(c.seq, 0u) << "b never ran";
}

TEST_F(EngineCoreTest, WaitingQueueIsBoundedBeyondTheRunningPlaces) {
  EngineConfig c = config(32, 64, /*max_seqs=*/2);
  c.max_waiting = 1;
  auto engine = make_engine(c);
  // An idle engine takes max_seqs + max_waiting requests before its next step.
  Submission a = engine->submit(request(prompt_of(4), 20));
  Submission b = engine->submit(request(prompt_of(4), 20));
  Submission c1 = engine->submit(request(prompt_of(4), 20));
  Submission refused = engine->submit(request(prompt_of(4), 20));
  EXPECT_TRUE(a.handle && b.handle && c1.handle);
  EXPECT_FALSE(refused.handle);
  EXPECT_EQ(refused.status, SubmitStatus::QueueFull);
  EXPECT_EQ(refused.message,
            "this model has 0 running and 3 queued (at most 2 running and 1 more queued); retry "
            "later");
  ASSERT_TRUE(engine->step());  // a and b run, c1 waits: still full
  EXPECT_EQ(engine->stats().running, 2);
  EXPECT_EQ(engine->stats().waiting, 1);
  EXPECT_FALSE(engine->submit(request(prompt_of(4), 2)).handle);
  a.handle.reset();  // a leaves: c1 takes its place and one may wait again
  ASSERT_TRUE(engine->step());
  EXPECT_EQ(engine->stats().waiting, 0);
  EXPECT_TRUE(engine->submit(request(prompt_of(4), 2)).handle);

  // max_waiting 0 still runs max_seqs requests.
  EngineConfig none = config(32, 64, /*max_seqs=*/1);
  none.max_waiting = 0;
  auto strict = make_engine(none);
  Submission only = strict->submit(request(prompt_of(4), 2));
  EXPECT_TRUE(only.handle);
  EXPECT_FALSE(strict->submit(request(prompt_of(4), 2)).handle);
}

// submit_all queues every request or none (QA: two embeddings requests of 2048 inputs each,
// queued in turns, were both refused half-way): what fits beside the queue is taken whole, what
// does not leaves the queue as it was, and one bad request refuses them all.
TEST_F(EngineCoreTest, SubmitAllQueuesEveryRequestOrNone) {
  EngineConfig c = config(32, 64, /*max_seqs=*/2);
  c.max_waiting = 3;
  auto engine = make_engine(c);
  const auto requests = [](int n) {
    std::vector<EngineRequest> all;
    for (int i = 0; i < n; ++i) all.push_back(request(prompt_of(4, 10 + i), 2));
    return all;
  };
  BatchSubmission first = engine->submit_all(requests(2));
  ASSERT_EQ(first.status, SubmitStatus::Ok);
  EXPECT_EQ(first.handles.size(), 2u);
  BatchSubmission refused = engine->submit_all(requests(4));  // 2 + 4 > 2 + 3
  EXPECT_EQ(refused.status, SubmitStatus::QueueFull);
  EXPECT_TRUE(refused.handles.empty());
  EXPECT_EQ(refused.message,
            "4 requests at once do not fit beside the 0 running and 2 queued (at most 2 running "
            "and 3 more queued); retry later");
  EXPECT_EQ(engine->stats().waiting, 2);
  std::vector<EngineRequest> one_bad = requests(2);
  one_bad[1].prompt = {1, 512};
  BatchSubmission bad = engine->submit_all(std::move(one_bad));
  EXPECT_EQ(bad.status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(bad.message, "token id 512 is outside the vocabulary (0..511)");
  EXPECT_TRUE(bad.handles.empty());
  EXPECT_EQ(engine->stats().waiting, 2);
  BatchSubmission rest = engine->submit_all(requests(3));  // 2 + 3 = 2 + 3: fits
  ASSERT_EQ(rest.status, SubmitStatus::Ok);
  ASSERT_EQ(rest.handles.size(), 3u);
  EXPECT_EQ(engine->stats().waiting, 5);
  // Each handle is its own request's, in order.
  while (engine->step()) {
  }
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> tokens;
    ASSERT_TRUE(drain(*rest.handles[i], tokens));
    EXPECT_EQ(tokens, expected_tokens(prompt_of(4, 10 + i), 2)) << i;
  }
}

TEST_F(EngineCoreTest, BadRequestsAreRefusedWithAReason) {
  auto engine = make_engine(config(32, 64));
  EXPECT_EQ(engine->submit(request({}, 2)).status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(engine->submit(request({1, 512}, 2)).message,
            "token id 512 is outside the vocabulary (0..511)");
  EXPECT_EQ(engine->submit(request(prompt_of(256), 2)).message,
            "the prompt has 256 tokens but the context holds 256 (prompt + at least one "
            "generated token)");
  EngineRequest bad = request(prompt_of(3), 2);
  bad.params.top_p = 7;
  EXPECT_EQ(engine->submit(bad).status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(engine->stats().waiting, 0);
}

TEST_F(EngineCoreTest, EqualPrefixesShareBlocksAndReportCachedTokens) {
  auto engine = make_engine(config(32, 64));
  const std::vector<int32_t> shared = prompt_of(13);
  Submission a = engine->submit(request(shared, 1));
  while (engine->step()) {
  }
  std::vector<int32_t> extended = shared;
  extended.push_back(7);
  extended.push_back(8);
  Submission b = engine->submit(request(extended, 1));
  while (engine->step()) {
  }
  std::vector<int32_t> tokens;
  std::optional<GenerationEvent> end = drain(*b.handle, tokens);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->usage.prompt_tokens, 15);
  EXPECT_EQ(end->usage.cached_prompt_tokens, 12);  // three full blocks of 4
  EXPECT_EQ(runner_.steps.back()[0].start, 12);
  EXPECT_EQ(engine->stats().prefix_cache_hits, 12);

  EngineConfig off = config(32, 64);
  off.prefix_cache = false;
  FakeRunner& runner = runner_;
  runner.steps.clear();
  auto no_cache = make_engine(off);
  Submission c = no_cache->submit(request(shared, 1));
  while (no_cache->step()) {
  }
  Submission d = no_cache->submit(request(extended, 1));
  while (no_cache->step()) {
  }
  EXPECT_EQ(runner.steps.back()[0].start, 0);
  EXPECT_EQ(no_cache->stats().prefix_cache_hits, 0);
}

// n choices of one prompt submitted together: the first prefills (in chunks of the budget),
// the others wait for its blocks and adopt them, computing only the last partial block; a
// different prompt behind them is not held back.
TEST_F(EngineCoreTest, EqualPromptsSubmittedTogetherPrefillOnce) {
  auto engine = make_engine(config(64, 8));
  const std::vector<int32_t> prompt = prompt_of(18);  // 4 full blocks of 4 and 2 tokens
  Submission a = engine->submit(request(prompt, 2));
  Submission b = engine->submit(request(prompt, 2));
  Submission other = engine->submit(request(prompt_of(5, 100), 1));
  ASSERT_TRUE(engine->step());
  // Step 1: a's first chunk (8 tokens, the budget); b waits for it, `other` finds no budget.
  ASSERT_EQ(runner_.steps[0].size(), 1u);
  EXPECT_EQ(runner_.steps[0][0].n_tokens, 8);
  while (engine->step()) {
  }
  std::vector<int32_t> a_tokens, b_tokens;
  std::optional<GenerationEvent> a_end = drain(*a.handle, a_tokens);
  std::optional<GenerationEvent> b_end = drain(*b.handle, b_tokens);
  ASSERT_TRUE(a_end && b_end);
  EXPECT_EQ(a_tokens, expected_tokens(prompt, 2));
  EXPECT_EQ(b_tokens, a_tokens);
  EXPECT_EQ(a_end->usage.cached_prompt_tokens, 0);
  EXPECT_EQ(b_end->usage.prompt_tokens, 18);
  EXPECT_EQ(b_end->usage.cached_prompt_tokens, 16);
  // Prompt positions computed in all: a's 18, b's last 2, other's 5.
  int prompt_positions = 0;
  for (const auto& step : runner_.steps)
    for (const FakeRunner::Chunk& c : step)
      if (c.start < 18) prompt_positions += std::min(c.n_tokens, 18 - c.start);
  EXPECT_EQ(prompt_positions, 18 + 2 + 5);
}

// OpenAI's presence penalty counts generated tokens only: a prompt that holds the token the
// model prefers does not change the first token; once generated, the token is penalized.
TEST_F(EngineCoreTest, PresencePenaltyIgnoresThePrompt) {
  auto engine = make_engine(config(32, 64));
  const int32_t preferred = FakeRunner::next_token(20);  // after the prompt's last token
  EngineRequest r = request({preferred, preferred, 20}, 2);
  r.params.presence_penalty = 2.0f;  // the preferred logit 1 becomes -1, below the others' 0
  Submission s = engine->submit(std::move(r));
  while (engine->step()) {
  }
  std::vector<int32_t> tokens;
  ASSERT_TRUE(drain(*s.handle, tokens));
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0], preferred);
  EXPECT_EQ(tokens[1], FakeRunner::next_token(preferred));
}

TEST_F(EngineCoreTest, NeverRunsPastTheContext) {
  EngineConfig c = config(32, 64);
  c.n_ctx = 10;
  auto engine = make_engine(c);
  Submission s = engine->submit(request(prompt_of(6), -1));
  while (engine->step()) {
  }
  std::vector<int32_t> tokens;
  std::optional<GenerationEvent> end = drain(*s.handle, tokens);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->finish_reason, FinishReason::Length);
  EXPECT_EQ(end->usage.prompt_tokens + end->usage.completion_tokens, 10);
  // The last token is sampled but not evaluated: positions 0..8 entered the cache.
  EXPECT_EQ(runner_.steps.back()[0].start + runner_.steps.back()[0].n_tokens, 9);
}

TEST_F(EngineCoreTest, AReaderThatStopsReadingIsCancelledAndBilledForWhatWasGenerated) {
  EngineConfig c = config(32, 64);
  c.stall_timeout_us = 0;  // any event left unread when the next step starts
  auto engine = make_engine(c);
  Submission s = engine->submit(request(prompt_of(4), 50));
  ASSERT_TRUE(engine->step());  // first token, unread
  EXPECT_FALSE(engine->step());
  std::vector<int32_t> tokens;
  std::optional<GenerationEvent> end = drain(*s.handle, tokens);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->finish_reason, FinishReason::Cancelled);
  EXPECT_NE(end->error.find("read nothing"), std::string::npos);
  EXPECT_EQ(tokens.size(), 1u);
  EXPECT_EQ(end->usage.completion_tokens, 1);
}

/// Always the end-of-generation token 2 of the stories260K vocabulary.
class EosRunner final : public ModelRunner {
 public:
  Result<void> execute(std::span<const ScheduledChunk> chunks, std::vector<float>& logits) override {
    logits.clear();
    for (const ScheduledChunk& c : chunks) {
      if (!c.samples()) continue;
      std::vector<float> row(FakeRunner::kVocab, 0.0f);
      row[2] = 1.0f;
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return {};
  }
  int n_vocab() const override { return FakeRunner::kVocab; }
};

TEST_F(EngineCoreTest, EndOfGenerationStopsUnlessIgnored) {
  EosRunner eos;
  EngineConfig c = config(32, 64);
  c.block_size = 4;
  c.cache_key = "eos";
  auto engine = std::make_shared<EngineCore>(c, eos, *tokenizer_, pool_);
  Submission stops = engine->submit(request(prompt_of(4), 5));
  EngineRequest ignoring = request(prompt_of(4), 5);
  ignoring.params.ignore_eos = true;
  Submission runs = engine->submit(ignoring);
  while (engine->step()) {
  }
  std::vector<int32_t> a, b;
  std::optional<GenerationEvent> ea = drain(*stops.handle, a), eb = drain(*runs.handle, b);
  ASSERT_TRUE(ea && eb);
  EXPECT_EQ(ea->finish_reason, FinishReason::Stop);
  EXPECT_EQ(a, (std::vector<int32_t>{2}));
  EXPECT_EQ(eb->finish_reason, FinishReason::Length);
  EXPECT_EQ(b, (std::vector<int32_t>(5, 2)));
  EXPECT_EQ(eb->text, "");
}

TEST_F(EngineCoreTest, EventsOfStepsNotYetReadAreMergedIntoOne) {
  auto engine = make_engine(config(32, 64));
  Submission s = engine->submit(request(prompt_of(4), 5));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(engine->step());
  std::optional<GenerationEvent> e = s.handle->next(0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->token_ids, expected_tokens(prompt_of(4), 3));
  EXPECT_FALSE(e->finished);
  EXPECT_FALSE(s.handle->next(0));
}

}  // namespace
}  // namespace gengyun::engine
