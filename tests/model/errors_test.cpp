// Bad models and bad eval calls get clear errors, never a crash.
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model_test_util.h"
#include "testdata.h"

namespace gengyun::model {
namespace {

using testing::rebuild;
using testing::RebuiltFile;

/// The load error of qwen2-tiny-f32 rebuilt with `edit` applied.
std::string load_error(const std::function<void(gguf::Writer&, std::vector<gguf::TensorInfo>&)>& edit,
                       const std::string& source = "qwen2-tiny-f32.gguf") {
  std::shared_ptr<const gguf::File> original = testing::open_model_file(source);
  if (!original) return "<no source>";
  RebuiltFile rebuilt = rebuild(*original, edit);
  if (!rebuilt.file) return "<rebuild failed>";
  Result<std::unique_ptr<Model>> model = Model::load(rebuilt.file);
  if (model.ok()) return "<loaded>";
  return model.error().message;
}

void drop_tensor(std::vector<gguf::TensorInfo>& tensors, const std::string& name) {
  std::erase_if(tensors, [&](const gguf::TensorInfo& t) { return t.name == name; });
}

gguf::TensorInfo& tensor(std::vector<gguf::TensorInfo>& tensors, const std::string& name) {
  for (gguf::TensorInfo& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

TEST(ModelLoad, RebuiltCopyLoads) {
  REQUIRE_TESTDATA();
  EXPECT_EQ(load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>&) {}), "<loaded>");
}

TEST(ModelLoad, HyperParameters) {
  REQUIRE_TESTDATA();
  std::unique_ptr<Model> qwen3 = testing::load_model("qwen3-tiny-q8_0.gguf");
  ASSERT_NE(qwen3, nullptr);
  const HParams& hp = qwen3->hparams();
  EXPECT_EQ(hp.arch, "qwen3");
  EXPECT_EQ(hp.n_vocab, 2000);
  EXPECT_EQ(hp.n_ctx_train, 4096);
  EXPECT_EQ(hp.n_embd, 256);
  EXPECT_EQ(hp.n_layer, 2);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.head_dim, 128);  // attention.key_length, not n_embd / n_head
  EXPECT_EQ(hp.n_ff, 768);
  EXPECT_FLOAT_EQ(hp.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(hp.rope_freq_base, 1e6f);
  EXPECT_EQ(hp.rope_type, RopeType::Neox);

  std::unique_ptr<Model> stories = testing::load_model("stories260K-f32.gguf");
  ASSERT_NE(stories, nullptr);
  const HParams& sp = stories->hparams();
  EXPECT_EQ(sp.arch, "llama");
  EXPECT_EQ(sp.n_vocab, 512);
  EXPECT_EQ(sp.head_dim, 8);                 // n_embd / n_head: no key_length key
  EXPECT_FLOAT_EQ(sp.rope_freq_base, 1e4f);  // no rope.freq_base key
  EXPECT_EQ(sp.rope_type, RopeType::Normal);
}

TEST(ModelLoad, UnsupportedArchitecture) {
  REQUIRE_TESTDATA();
  const std::string error = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_string("general.architecture", "gemma2");
  });
  EXPECT_NE(error.find("unsupported architecture 'gemma2'"), std::string::npos) << error;
  // A hostile name is quoted cut and escaped: the message stays short (QA 2026-12-07: 3.2 MB).
  const std::string hostile = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_string("general.architecture", std::string("\x01") + std::string(100'000, 'A'));
  });
  EXPECT_NE(hostile.find("unsupported architecture '\\x01" + std::string(63, 'A') +
                         "...' (100001 bytes) (supported: llama, qwen2, qwen3, qwen3moe)"),
            std::string::npos)
      << hostile.substr(0, 300);
  EXPECT_LT(hostile.size(), 400u);
}

TEST(ModelLoad, MissingArchitectureKey) {
  REQUIRE_TESTDATA();
  std::shared_ptr<const gguf::File> original = testing::open_model_file("qwen2-tiny-f32.gguf");
  ASSERT_NE(original, nullptr);
  gguf::Writer w;
  for (const auto& [key, value] : original->metadata())
    if (key != "general.architecture") w.set(key, value);
  Result<std::vector<uint8_t>> image = w.serialize();
  ASSERT_TRUE(image.ok());
  Result<gguf::File> file = gguf::File::parse(*image, "no-arch.gguf");
  ASSERT_TRUE(file.ok()) << file.error().message;
  Result<std::unique_ptr<Model>> model =
      Model::load(std::make_shared<const gguf::File>(std::move(file).value()));
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().message.find("'general.architecture' is missing"), std::string::npos)
      << model.error().message;
}

TEST(ModelLoad, MissingTensor) {
  REQUIRE_TESTDATA();
  const std::string error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    drop_tensor(t, "blk.1.ffn_up.weight");
  });
  EXPECT_NE(error.find("tensor 'blk.1.ffn_up.weight' is missing"), std::string::npos) << error;

  const std::string bias = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    drop_tensor(t, "blk.0.attn_k.bias");
  });
  EXPECT_NE(bias.find("tensor 'blk.0.attn_k.bias' is missing"), std::string::npos) << bias;

  const std::string embd = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    drop_tensor(t, "token_embd.weight");
  });
  EXPECT_NE(embd.find("tensor 'token_embd.weight' is missing"), std::string::npos) << embd;

  const std::string q_norm = load_error(
      [](gguf::Writer&, std::vector<gguf::TensorInfo>& t) { drop_tensor(t, "blk.1.attn_q_norm.weight"); },
      "qwen3-tiny-f32.gguf");
  EXPECT_NE(q_norm.find("tensor 'blk.1.attn_q_norm.weight' is missing"), std::string::npos) << q_norm;
}

TEST(ModelLoad, WrongShape) {
  REQUIRE_TESTDATA();
  // Same bytes, transposed shape.
  const std::string error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    tensor(t, "blk.0.attn_k.weight").ne = {128, 256};
  });
  EXPECT_NE(error.find("tensor 'blk.0.attn_k.weight' has shape [128, 256], expected [256, 128]"),
            std::string::npos)
      << error;
}

TEST(ModelLoad, BadMixtureOfExperts) {
  REQUIRE_TESTDATA();
  const std::string moe = "qwen3moe-tiny-f32.gguf";
  const std::string used = load_error(
      [](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
        w.set_u32("qwen3moe.expert_used_count", 9);
      },
      moe);
  EXPECT_NE(used.find("expert_used_count (9) exceeds expert_count (8)"), std::string::npos)
      << used;

  const std::string zero = load_error(
      [](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
        w.set_u32("qwen3moe.expert_count", 0);
      },
      moe);
  EXPECT_NE(zero.find("'qwen3moe.expert_count' = 0 is out of range"), std::string::npos) << zero;

  // Same bytes, the two matrix dimensions of the stacked experts swapped.
  const std::string shape = load_error(
      [](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
        std::vector<int64_t>& ne = tensor(t, "blk.0.ffn_down_exps.weight").ne;
        std::swap(ne[0], ne[1]);
      },
      moe);
  EXPECT_NE(shape.find("tensor 'blk.0.ffn_down_exps.weight' has shape [256, 192, 8], expected "
                       "[192, 256, 8]"),
            std::string::npos)
      << shape;

  const std::string router = load_error(
      [](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
        drop_tensor(t, "blk.1.ffn_gate_inp.weight");
      },
      moe);
  EXPECT_NE(router.find("tensor 'blk.1.ffn_gate_inp.weight' is missing"), std::string::npos)
      << router;

  // A dense qwen3 file named qwen3moe: its keys renamed, no expert keys.
  const std::string dense = load_error(
      [](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
        std::vector<std::pair<std::string, gguf::Value>> renamed;
        for (const auto& [key, value] : w.metadata())
          if (key.starts_with("qwen3.")) renamed.emplace_back("qwen3moe." + key.substr(6), value);
        for (auto& [key, value] : renamed) w.set(std::move(key), std::move(value));
        w.set_string("general.architecture", "qwen3moe");
      },
      "qwen3-tiny-f32.gguf");
  EXPECT_NE(dense.find("architecture 'qwen3moe' needs qwen3moe.expert_count"), std::string::npos)
      << dense;
}

TEST(ModelLoad, MoreLayersThanTensors) {
  REQUIRE_TESTDATA();
  const std::string error = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.block_count", 3);
  });
  EXPECT_NE(error.find("tensor 'blk.2.attn_norm.weight' is missing"), std::string::npos) << error;
}

TEST(ModelLoad, UnsupportedTensorType) {
  REQUIRE_TESTDATA();
  // iq2_xxs: 66 bytes per 256 elements; zeros stand in for the data.
  static const std::vector<uint8_t> zeros(768 * 66);
  const std::string error = load_error([](gguf::Writer&, std::vector<gguf::TensorInfo>& t) {
    gguf::TensorInfo& up = tensor(t, "blk.0.ffn_up.weight");
    up.type = gguf::GgmlType::IQ2_XXS;
    up.data = zeros.data();
    up.n_bytes = zeros.size();
  });
  EXPECT_NE(error.find("blk.0.ffn_up.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("iq2_xxs"), std::string::npos) << error;
}

TEST(ModelLoad, BadHyperParameters) {
  REQUIRE_TESTDATA();
  const std::string missing = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_string("general.architecture", "llama");  // the qwen2 keys no longer apply
  });
  EXPECT_NE(missing.find("missing key 'llama.context_length'"), std::string::npos) << missing;

  const std::string gqa = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.attention.head_count_kv", 3);
  });
  EXPECT_NE(gqa.find("not a multiple of attention.head_count_kv (3)"), std::string::npos) << gqa;

  const std::string zero = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.embedding_length", 0);
  });
  EXPECT_NE(zero.find("'qwen2.embedding_length' = 0 is out of range"), std::string::npos) << zero;

  const std::string type = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_string("qwen2.block_count", "two");
  });
  EXPECT_NE(type.find("'qwen2.block_count' is not an integer"), std::string::npos) << type;

  const std::string eps = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_f32("qwen2.attention.layer_norm_rms_epsilon", -1.0f);
  });
  EXPECT_NE(eps.find("must be a positive number"), std::string::npos) << eps;

  const std::string indivisible = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.embedding_length", 250);
  });
  EXPECT_NE(indivisible.find("embedding_length (250) is not a multiple of attention.head_count (4)"),
            std::string::npos)
      << indivisible;

  const std::string odd = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.attention.key_length", 65);
  });
  EXPECT_NE(odd.find("head dimension 65 is odd"), std::string::npos) << odd;

  const std::string value_length = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.attention.value_length", 32);
  });
  EXPECT_NE(value_length.find("attention.value_length (32) differs"), std::string::npos) << value_length;

  const std::string rope_dims = load_error([](gguf::Writer& w, std::vector<gguf::TensorInfo>&) {
    w.set_u32("qwen2.rope.dimension_count", 32);
  });
  EXPECT_NE(rope_dims.find("partial RoPE is not supported"), std::string::npos) << rope_dims;
}

class EvalErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    model_ = testing::load_model("qwen2-tiny-q8_0.gguf");
    ASSERT_NE(model_, nullptr);
  }
  std::unique_ptr<Model> model_;
  kernels::ThreadPool pool_{1};
  std::vector<float> logits_;
};

TEST_F(EvalErrors, EmptyTokens) {
  Context ctx(*model_, 8, pool_);
  Result<void> r = ctx.eval({}, true, logits_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no tokens"), std::string::npos) << r.error().message;
}

TEST_F(EvalErrors, TokenOutOfRange) {
  Context ctx(*model_, 8, pool_);
  for (int32_t bad : {-1, 2000, INT32_MAX}) {
    const std::vector<int32_t> tokens = {1, 2, bad};
    Result<void> r = ctx.eval(tokens, true, logits_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("token id " + std::to_string(bad) + " at index 2 is outside"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(ctx.n_past(), 0);
  }
  const std::vector<int32_t> last = {1999};
  EXPECT_TRUE(ctx.eval(last, true, logits_).ok());
}

TEST_F(EvalErrors, BeyondContext) {
  Context ctx(*model_, 4, pool_);
  EXPECT_EQ(ctx.n_ctx(), 4);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  Result<void> r = ctx.eval(five, false, logits_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("exceed the context size of 4"), std::string::npos) << r.error().message;

  const std::vector<int32_t> three = {1, 2, 3};
  ASSERT_TRUE(ctx.eval(three, false, logits_).ok());
  const std::vector<int32_t> two = {4, 5};
  EXPECT_FALSE(ctx.eval(two, false, logits_).ok());
  EXPECT_EQ(ctx.n_past(), 3);
  const std::vector<int32_t> one = {4};
  EXPECT_TRUE(ctx.eval(one, false, logits_).ok());
  EXPECT_EQ(ctx.n_past(), 4);
  EXPECT_FALSE(ctx.eval(one, false, logits_).ok());
  ctx.clear();
  EXPECT_TRUE(ctx.eval(one, false, logits_).ok());
}

TEST_F(EvalErrors, ZeroContext) {
  Context ctx(*model_, 0, pool_);
  const std::vector<int32_t> one = {1};
  EXPECT_FALSE(ctx.eval(one, false, logits_).ok());
}

}  // namespace
}  // namespace gengyun::model
