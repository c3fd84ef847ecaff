// Loading LoRA adapters against a base model: llama.cpp's scale, and every way an adapter can
// fail to fit its base, each with an error naming the mismatch.
#include "model/lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace gengyun::model {
namespace {

using ::gengyun::testing::testdata_path;
using TensorEdit = std::function<void(gguf::Writer&, std::vector<gguf::TensorInfo>&)>;

std::shared_ptr<const gguf::File> open_adapter(const std::string& name) {
  Result<gguf::File> file = gguf::File::open(testdata_path("lora/" + name));
  EXPECT_TRUE(file.ok()) << (file.ok() ? "" : file.error().message);
  return file.ok() ? std::make_shared<const gguf::File>(std::move(file).value()) : nullptr;
}

gguf::TensorInfo* find(std::vector<gguf::TensorInfo>& tensors, const std::string& name) {
  for (gguf::TensorInfo& t : tensors)
    if (t.name == name) return &t;
  ADD_FAILURE() << "no tensor " << name;
  static gguf::TensorInfo none;
  return &none;
}

class LoraLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    model_ = testing::load_model("qwen2-tiny-f32.gguf");
    ASSERT_NE(model_, nullptr);
    adapter_a_ = open_adapter("qwen2-tiny-lora-a.gguf");
    ASSERT_NE(adapter_a_, nullptr);
  }

  /// The error of loading adapter a changed by `edit`; "" when it loads.
  std::string load_error(const TensorEdit& edit, float scale = 1.0f) {
    testing::RebuiltFile rebuilt = testing::rebuild(*adapter_a_, edit);
    if (!rebuilt.file) return "rebuild failed";
    bytes_ = rebuilt.bytes;
    auto adapter = LoraAdapter::load(*model_, rebuilt.file, scale);
    return adapter.ok() ? "" : adapter.error().message;
  }

  std::unique_ptr<Model> model_;
  std::shared_ptr<const gguf::File> adapter_a_;
  std::shared_ptr<std::vector<uint8_t>> bytes_;
};

// Scale = user scale * alpha / rank (llama.cpp's llama_adapter_lora_weight::get_scale), with
// rank B's ne[0]; alpha 0 leaves the user's scale.
TEST_F(LoraLoadTest, ScaleIsUserScaleTimesAlphaOverRank) {
  struct Case {
    const char* file;
    float user_scale;
    float expected;  // alpha / rank * user scale
  };
  for (const Case& c : {Case{"qwen2-tiny-lora-a.gguf", 1.0f, 2.0f},  // alpha 16, rank 8
                        Case{"qwen2-tiny-lora-a.gguf", 0.5f, 1.0f},
                        Case{"qwen2-tiny-lora-b.gguf", 1.0f, 1.0f},  // alpha 4, rank 4
                        Case{"qwen2-tiny-lora-b.gguf", 0.25f, 0.25f}}) {
    auto adapter =
        LoraAdapter::load(*model_, testdata_path(std::string("lora/") + c.file), c.user_scale);
    ASSERT_TRUE(adapter.ok()) << adapter.error().message;
    // attn_q, attn_v and ffn_up of both layers.
    EXPECT_EQ(adapter.value()->size(), 6u);
    for (const char* name : {"blk.0.attn_q.weight", "blk.1.ffn_up.weight"}) {
      const LoraWeight* w = adapter.value()->find(model_->file().find_tensor(name));
      ASSERT_NE(w, nullptr) << name;
      EXPECT_EQ(w->scale, c.expected) << c.file << " at " << c.user_scale;
    }
    EXPECT_EQ(adapter.value()->find(model_->file().find_tensor("blk.0.attn_k.weight")), nullptr);
  }
  testing::RebuiltFile rebuilt = testing::rebuild(
      *adapter_a_, [](gguf::Writer& w, auto&) { w.set_f32("adapter.lora.alpha", 0.0f); });
  auto adapter = LoraAdapter::load(*model_, rebuilt.file, 0.75f);
  ASSERT_TRUE(adapter.ok());
  EXPECT_EQ(adapter.value()->find(model_->file().find_tensor("blk.0.attn_v.weight"))->scale, 0.75f);
}

TEST_F(LoraLoadTest, MissingFileIsAnError) {
  const std::string path = testdata_path("lora/no-such-adapter.gguf");
  auto adapter = LoraAdapter::load(*model_, path, 1.0f);
  ASSERT_FALSE(adapter.ok());
  EXPECT_NE(adapter.error().message.find("no-such-adapter.gguf"), std::string::npos)
      << adapter.error().message;
}

TEST_F(LoraLoadTest, AModelIsNotAnAdapter) {
  auto adapter = LoraAdapter::load(*model_, testdata_path("models/qwen2-tiny-q8_0.gguf"), 1.0f);
  ASSERT_FALSE(adapter.ok());
  EXPECT_NE(adapter.error().message.find("not a LoRA adapter: general.type is missing"),
            std::string::npos)
      << adapter.error().message;
  EXPECT_NE(load_error([](gguf::Writer& w, auto&) {
              w.set_string("general.type", "model");
            }).find("general.type is 'model', expected 'adapter'"),
            std::string::npos);
  EXPECT_NE(load_error([](gguf::Writer& w, auto&) {
              w.set_string("adapter.type", "control_vector");
            }).find("adapter.type is 'control_vector', expected 'lora'"),
            std::string::npos);
}

TEST_F(LoraLoadTest, WrongArchitecture) {
  const std::string error =
      load_error([](gguf::Writer& w, auto&) { w.set_string("general.architecture", "llama"); });
  EXPECT_NE(error.find("the adapter is for architecture 'llama' but the base model is 'qwen2'"),
            std::string::npos)
      << error;
}

TEST_F(LoraLoadTest, WrongShapes) {
  // B of attn_v with attn_q's shape (n_out 256 where the base has 128).
  std::string error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    const gguf::TensorInfo q = *find(t, "blk.0.attn_q.weight.lora_b");
    gguf::TensorInfo* v = find(t, "blk.0.attn_v.weight.lora_b");
    v->ne = q.ne;
    v->data = q.data;
    v->n_bytes = q.n_bytes;
  });
  EXPECT_NE(error.find("tensor 'blk.0.attn_v.weight.lora_b' has shape [8, 256], expected [8, 128]"),
            std::string::npos)
      << error;
  // A whose rows are not the base's input length.
  error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    find(t, "blk.1.ffn_up.weight.lora_a")->ne = {128, 16};
  });
  EXPECT_NE(error.find("tensor 'blk.1.ffn_up.weight.lora_a' has shape [128, 16], expected [256, "
                       "rank] for 'blk.1.ffn_up.weight' of shape [256, 768]"),
            std::string::npos)
      << error;
  // A of rank 4 beside B of rank 8.
  error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    gguf::TensorInfo* a = find(t, "blk.0.attn_q.weight.lora_a");
    a->ne = {256, 4};
    a->n_bytes = 256 * 4 * sizeof(float);
  });
  EXPECT_NE(error.find("tensor 'blk.0.attn_q.weight.lora_b' has shape [8, 256], expected [4, 256]"),
            std::string::npos)
      << error;
}

TEST_F(LoraLoadTest, UnknownTensorNames) {
  const auto rename = [](const std::string& from, const std::string& to) {
    return [from, to](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
      find(t, from + ".lora_a")->name = to + ".lora_a";
      find(t, from + ".lora_b")->name = to + ".lora_b";
    };
  };
  std::string error = load_error(rename("blk.0.attn_q.weight", "blk.0.attn_x.weight"));
  EXPECT_NE(error.find("tensor 'blk.0.attn_x.weight.lora_a' adapts 'blk.0.attn_x.weight', which "
                       "the base model"),
            std::string::npos)
      << error;
  error = load_error(rename("blk.1.attn_q.weight", "blk.7.attn_q.weight"));
  EXPECT_NE(error.find("'blk.7.attn_q.weight', which the base model"), std::string::npos) << error;
  error = load_error(rename("blk.0.attn_q.weight", "token_embd.weight"));
  EXPECT_NE(error.find("LoRA on 'token_embd.weight' (shape [256, 2000]) is not supported"),
            std::string::npos)
      << error;
  error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    find(t, "blk.0.attn_q.weight.lora_b")->name = "blk.0.attn_q.weight.lora_c";
  });
  EXPECT_NE(error.find("tensor 'blk.0.attn_q.weight.lora_c' is not a LoRA tensor"),
            std::string::npos)
      << error;
}

TEST_F(LoraLoadTest, IncompleteOrEmptyAdapters) {
  std::string error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    std::erase_if(t,
                  [](const gguf::TensorInfo& x) { return x.name == "blk.1.attn_v.weight.lora_b"; });
  });
  EXPECT_NE(error.find("tensor 'blk.1.attn_v.weight.lora_a' has no 'blk.1.attn_v.weight.lora_b'"),
            std::string::npos)
      << error;
  error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) { t.clear(); });
  EXPECT_NE(error.find("the adapter holds no tensors"), std::string::npos) << error;
  error = load_error([](gguf::Writer&, auto&) {}, std::numeric_limits<float>::quiet_NaN());
  EXPECT_NE(error.find("the LoRA scale must be a finite number"), std::string::npos) << error;
}

}  // namespace
}  // namespace gengyun::model
