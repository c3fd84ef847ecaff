// gengyun synth-lora: a random adapter written for a model loads against it (every attention
// and feed-forward matrix adapted, at the asked rank and alpha) and changes its logits.
#include "convert/synth_lora.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/thread_pool.h"
#include "model/lora.h"
#include "model/model.h"
#include "testdata.h"

namespace gengyun::convert {
namespace {

TEST(SynthLora, WritesAnAdapterThatFitsTheModel) {
  REQUIRE_TESTDATA();
  const std::string base_path = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  auto file = gguf::File::open(base_path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto shared = std::make_shared<const gguf::File>(std::move(file).value());
  auto model = model::Model::load(shared);
  ASSERT_TRUE(model.ok()) << model.error().message;
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("gengyun_synth_lora_test_" + std::to_string(getpid()) + ".gguf"))
                              .string();
  ASSERT_TRUE(write_synth_lora(*shared, 4, 8.0f, 7, out).ok());
  auto adapter = model::LoraAdapter::load(*model.value(), out, 1.0f);
  std::filesystem::remove(out);
  ASSERT_TRUE(adapter.ok()) << adapter.error().message;
  EXPECT_EQ(adapter.value()->size(), 2u * 7);  // two layers of q, k, v, o, gate, up, down
  EXPECT_EQ(adapter.value()->max_rank(), 4);
  EXPECT_EQ(adapter.value()->alpha(), 8.0f);
  const model::LoraWeight* w = adapter.value()->find(shared->find_tensor("blk.1.ffn_down.weight"));
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->scale, 2.0f);  // alpha / rank

  kernels::ThreadPool pool(1);
  model::Context ctx(*model.value(), 64, pool);
  std::vector<float> base_logits, adapted_logits;
  const std::vector<int32_t> tokens = {1, 2, 3};
  ASSERT_TRUE(ctx.eval(tokens, false, base_logits).ok());
  ctx.clear();
  ctx.set_adapter(adapter.value().get());
  ASSERT_TRUE(ctx.eval(tokens, false, adapted_logits).ok());
  EXPECT_NE(base_logits, adapted_logits);

  EXPECT_EQ(write_synth_lora(*shared, 0, 8.0f, 7, out).error().message,
            "the LoRA rank must be at least 1, not 0");
  EXPECT_EQ(write_synth_lora(*shared, 4, NAN, 7, out).error().message,
            "the LoRA alpha must be a finite number, not nan");
  EXPECT_EQ(write_synth_lora(*shared, 4, -INFINITY, 7, out).error().message,
            "the LoRA alpha must be a finite number, not -inf");
  // A rank above every target's smaller side: the first target in the file is named.
  const gguf::TensorInfo* first = nullptr;
  for (const gguf::TensorInfo& t : shared->tensors())
    if (first == nullptr && synth_lora_target(t)) first = &t;
  ASSERT_NE(first, nullptr);
  const int64_t side = std::min(first->ne[0], first->ne[1]);
  EXPECT_EQ(write_synth_lora(*shared, 100000, 8.0f, 7, out).error().message,
            "the LoRA rank 100000 is above the smaller side of " + first->name + " (" +
                std::to_string(first->ne[0]) + " x " + std::to_string(first->ne[1]) +
                "); at most " + std::to_string(side));
  EXPECT_FALSE(std::filesystem::exists(out));
}

// The base model as the output (by its path, a hard link to it, or its `.tmp`) is refused and
// left untouched. The base is a copy, so that a regression cannot damage the test data.
TEST(SynthLora, TheBaseModelIsNeverTheOutput) {
  REQUIRE_TESTDATA();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("gengyun_synth_lora_base_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string base_path = (dir / "base.gguf").string();
  std::filesystem::copy_file(testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), base_path);
  const std::string link = (dir / "link.gguf").string();
  std::filesystem::create_hard_link(base_path, link);
  const std::string tmp_link = (dir / "tmp.gguf").string();
  std::filesystem::create_hard_link(base_path, tmp_link + ".tmp");
  const uintmax_t size = std::filesystem::file_size(base_path);
  {
    auto base = gguf::File::open(base_path);
    ASSERT_TRUE(base.ok()) << base.error().message;
    for (const std::string& out : {base_path, link, tmp_link}) {
      const Result<void> r = write_synth_lora(base.value(), 4, 8.0f, 7, out);
      ASSERT_FALSE(r.ok()) << out;
      EXPECT_EQ(r.error().message, out + ": is the base model; write the adapter to another path");
    }
  }
  EXPECT_EQ(std::filesystem::file_size(base_path), size);
  EXPECT_TRUE(gguf::File::open(base_path).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gengyun::convert
