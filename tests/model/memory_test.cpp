// What a Model and a Context allocate: the KV cache exactly, scratch independent of the
// context length, no copies of weight matrices, and no large allocation once evaluation runs.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace {

// Allocations of at least this many bytes are counted: any scratch buffer of a model (a row of
// activations of qwen2-tiny is 1 KiB) but not the small function objects of a thread pool call.
constexpr size_t kLargeAllocation = 1024;
std::atomic<size_t> g_large_allocations{0};

}  // namespace

// Counting replacements of the global allocation functions for this test binary.
void* operator new(size_t n) {
  if (n >= kLargeAllocation) g_large_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace gengyun::model {
namespace {

TEST(ContextMemory, KvCacheHasTheExactSize) {
  REQUIRE_TESTDATA();
  // qwen2-tiny: 2 layers, 2 KV heads of 64; qwen3-tiny: 2 layers, 2 KV heads of 128;
  // llama-tiny: 2 KV heads of 32; stories260K: 5 layers, 4 KV heads of 8.
  struct Case {
    const char* file;
    size_t n_layer, n_head_kv, head_dim;
  };
  for (const Case& c :
       {Case{"qwen2-tiny-q8_0.gguf", 2, 2, 64}, Case{"qwen3-tiny-f32.gguf", 2, 2, 128},
        Case{"llama-tiny-f32.gguf", 2, 2, 32}, Case{"stories260K-f32.gguf", 5, 4, 8}}) {
    std::unique_ptr<Model> model = testing::load_model(c.file);
    ASSERT_NE(model, nullptr);
    ASSERT_EQ(static_cast<size_t>(model->hparams().n_layer), c.n_layer) << c.file;
    ASSERT_EQ(static_cast<size_t>(model->hparams().n_head_kv), c.n_head_kv) << c.file;
    ASSERT_EQ(static_cast<size_t>(model->hparams().head_dim), c.head_dim) << c.file;
    kernels::ThreadPool pool(1);
    // The cache holds whole blocks of 32 positions: 1 -> 32, 100 -> 128.
    for (auto [n_ctx, n_positions] : {std::pair<size_t, size_t>{1, 32}, {100, 128}, {4096, 4096}}) {
      const size_t elements = 2 * c.n_layer * n_positions * c.n_head_kv * c.head_dim;
      Context f16(*model, static_cast<int>(n_ctx), pool);
      EXPECT_EQ(f16.kv_cache_type(), KvCacheType::F16);
      EXPECT_EQ(f16.kv_cache_bytes(), elements * 2) << c.file << " n_ctx " << n_ctx;
      Context f32(*model, static_cast<int>(n_ctx), pool, KvCacheType::F32);
      EXPECT_EQ(f32.kv_cache_bytes(), elements * 4) << c.file << " n_ctx " << n_ctx;
    }
  }
  std::unique_ptr<Model> model = testing::load_model("qwen2-tiny-q8_0.gguf");
  ASSERT_NE(model, nullptr);
  kernels::ThreadPool pool(1);
  // 2 * 2 layers * 4096 positions * 2 heads * 64 * 2 bytes.
  EXPECT_EQ(Context(*model, 4096, pool).kv_cache_bytes(), 4194304u);
}

// Scratch: n_batch (or n_ctx, if smaller) rows of x, cur [n_embd]; q, attn [n_head * head_dim];
// k, v [n_head_kv * head_dim]; gate, up [n_ff]; the RoPE angles [head_dim]; and per thread the
// attention block buffers (query rows and accumulators [32, head_dim], scores [32, 32], running
// max and sum [32], a block of keys or values [32, head_dim]); per token of the batch, room
// for one attention sequence and its first work item (a pass may hold that many sequences);
// and the block table, one int32 per 32 positions. Only the block table grows with the context.
TEST(ContextMemory, ScratchIsSizedByTheBatchNotTheContext) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> model = testing::load_model("qwen2-tiny-f32.gguf");
  ASSERT_NE(model, nullptr);
  const HParams& hp = model->hparams();
  const size_t per_token =
      2 * hp.n_embd + (2 * hp.n_head + 2 * hp.n_head_kv + 1) * hp.head_dim + 2 * hp.n_ff;
  ASSERT_EQ(per_token, 2u * 256 + (8 + 4 + 1) * 64 + 2 * 768);
  const size_t per_thread = 2 * 32 * 64 + 32 * 32 + 2 * 32 + 32 * 64;
  // Per row: its attention sequence, its item offset and its LoRA adapter (the LoRA buffers
  // stay empty without an adapter).
  const size_t per_sequence =
      sizeof(blocks::AttentionSequence) + sizeof(int64_t) + sizeof(const LoraAdapter*);
  for (int threads : {1, 3}) {
    kernels::ThreadPool pool(threads);
    for (int n_ctx : {256, 4096}) {
      for (int n_batch : {1, 128}) {
        Context ctx(*model, n_ctx, pool, KvCacheType::F16, n_batch);
        EXPECT_EQ(ctx.memory_bytes() - ctx.kv_cache_bytes(),
                  (n_batch * per_token + threads * per_thread) * sizeof(float) +
                      n_batch * per_sequence + sizeof(int64_t) + n_ctx / 32 * sizeof(int32_t))
            << threads << " threads, n_ctx " << n_ctx << ", n_batch " << n_batch;
      }
    }
    // A context shorter than the batch needs scratch for n_ctx tokens only.
    Context short_ctx(*model, 16, pool);
    EXPECT_EQ(short_ctx.memory_bytes() - short_ctx.kv_cache_bytes(),
              (16 * per_token + threads * per_thread) * sizeof(float) + 16 * per_sequence +
                  sizeof(int64_t) + sizeof(int32_t));
  }
}

// Weight matrices stay in the mapped file, the tied output matrix (token_embd.weight) included:
// the model holds f32 copies of its 1-D tensors only.
TEST(ModelMemory, OnlyOneDimensionalTensorsAreCopied) {
  REQUIRE_TESTDATA();
  for (const std::string name :
       {"qwen2-tiny-f32.gguf", "qwen2-tiny-q4_k_m.gguf", "llama-tiny-q8_0.gguf"}) {
    std::shared_ptr<const gguf::File> file = testing::open_model_file(name);
    ASSERT_NE(file, nullptr);
    size_t vector_bytes = 0;
    for (const gguf::TensorInfo& t : file->tensors())
      if (t.ne.size() == 1) vector_bytes += static_cast<size_t>(t.ne[0]) * sizeof(float);
    Result<std::unique_ptr<Model>> model = Model::load(file);
    ASSERT_TRUE(model.ok()) << model.error().message;
    EXPECT_EQ(model.value()->memory_bytes(), vector_bytes) << name;
  }
  // qwen2-tiny ties its output to token_embd.weight (2000 x 256): not copied.
  std::shared_ptr<const gguf::File> qwen2 = testing::open_model_file("qwen2-tiny-f32.gguf");
  ASSERT_NE(qwen2, nullptr);
  EXPECT_EQ(qwen2->find_tensor("output.weight"), nullptr);
}

TEST(ContextMemory, EvalAllocatesNothingLargeOnceWarm) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> model = testing::load_model("qwen2-tiny-f32.gguf");
  ASSERT_NE(model, nullptr);
  kernels::ThreadPool pool(2);
  Context ctx(*model, 64, pool, KvCacheType::F16, 8);
  std::vector<float> logits;
  const std::vector<int32_t> prompt = {9, 300, 17, 1024, 5, 5, 77, 300, 1999, 42, 3, 128, 9};
  int32_t token = 11;
  ASSERT_TRUE(ctx.eval(prompt, false, logits).ok());  // sizes logits and per-thread buffers
  ASSERT_TRUE(ctx.eval({&token, 1}, false, logits).ok());

  const size_t before = g_large_allocations.load();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(ctx.eval({&token, 1}, false, logits).ok());
    token = (token * 31 + 7) % 2000;
  }
  ASSERT_TRUE(ctx.eval(prompt, false, logits).ok());  // two passes of 8 and 5 tokens
  EXPECT_EQ(g_large_allocations.load() - before, 0u);
}

}  // namespace
}  // namespace gengyun::model
