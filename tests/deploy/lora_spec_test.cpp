// The --lora flags' forms, and LoRA derivatives in the registry sharing their base model.
#include "deploy/lora_spec.h"

#include <gtest/gtest.h>

#include "deploy/registry.h"
#include "testdata.h"

namespace gengyun::deploy {
namespace {

TEST(AdapterFile, ParsesPathAndScale) {
  auto plain = parse_adapter_file("/a/b.gguf");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->path, "/a/b.gguf");
  EXPECT_EQ(plain->scale, 1.0f);
  auto scaled = parse_adapter_file("b.gguf@0.5");
  ASSERT_TRUE(scaled.ok());
  EXPECT_EQ(scaled->path, "b.gguf");
  EXPECT_EQ(scaled->scale, 0.5f);
  auto negative = parse_adapter_file("b.gguf@-2");
  ASSERT_TRUE(negative.ok());
  EXPECT_EQ(negative->scale, -2.0f);
  // An '@' in a directory name belongs to the path.
  auto at_in_dir = parse_adapter_file("/models/v@2/b.gguf");
  ASSERT_TRUE(at_in_dir.ok());
  EXPECT_EQ(at_in_dir->path, "/models/v@2/b.gguf");
  EXPECT_EQ(at_in_dir->scale, 1.0f);
}

TEST(AdapterFile, RejectsBadScalesAndEmptyPaths) {
  EXPECT_EQ(parse_adapter_file("b.gguf@x").error().message,
            "the LoRA scale 'x' in 'b.gguf@x' is not a number (ADAPTER.gguf[@SCALE])");
  EXPECT_FALSE(parse_adapter_file("b.gguf@").ok());
  EXPECT_FALSE(parse_adapter_file("b.gguf@1.5x").ok());
  EXPECT_FALSE(parse_adapter_file("b.gguf@inf").ok());
  EXPECT_FALSE(parse_adapter_file("b.gguf@nan").ok());
  EXPECT_EQ(parse_adapter_file("@2").error().message,
            "a LoRA adapter needs a file: ADAPTER.gguf[@SCALE], got '@2'");
  EXPECT_FALSE(parse_adapter_file("").ok());
}

TEST(LoraSpec, ParsesNameBaseAndAdapter) {
  auto spec = parse_lora_spec("qwen-sql=qwen:/adapters/sql.gguf@0.75");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->name, "qwen-sql");
  EXPECT_EQ(spec->base, "qwen");
  EXPECT_EQ(spec->adapter.path, "/adapters/sql.gguf");
  EXPECT_EQ(spec->adapter.scale, 0.75f);
  for (const char* bad : {"noeq", "=q:a.gguf", "n=:a.gguf", "n=q:", "n=q"}) {
    auto refused = parse_lora_spec(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().message,
              "--lora expects NAME=BASE:ADAPTER.gguf[@SCALE], got '" + std::string(bad) + "'");
  }
  EXPECT_EQ(parse_lora_spec("n=q:a.gguf@x").error().message,
            "--lora: the LoRA scale 'x' in 'a.gguf@x' is not a number (ADAPTER.gguf[@SCALE])");
}

TEST(LoraSpec, BasesMustBeModelsAndNamesUnique) {
  const std::vector<std::string> models = {"qwen", "llama"};
  auto fine = parse_lora_specs({"a=qwen:a.gguf", "b=qwen:b.gguf@2"}, models);
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(fine->size(), 2u);
  EXPECT_EQ(parse_lora_specs({"a=mistral:a.gguf"}, models).error().message,
            "--lora a=mistral:a.gguf: the base 'mistral' is not a --model name (adapters of "
            "adapters do not stack)");
  EXPECT_EQ(parse_lora_specs({"a=qwen:a.gguf", "b=a:b.gguf"}, models).error().message,
            "--lora b=a:b.gguf: the base 'a' is not a --model name (adapters of adapters do not "
            "stack)");
  EXPECT_EQ(parse_lora_specs({"llama=qwen:a.gguf"}, models).error().message,
            "--lora llama=qwen:a.gguf: the name 'llama' is a --model's");
  EXPECT_EQ(parse_lora_specs({"a=qwen:a.gguf", "a=llama:b.gguf"}, models).error().message,
            "--lora: the name 'a' is given twice");
}

// A derivative is listed after the models, loads its base on first use, and shares it: the
// base's engine counts the derivative's steps. A bad adapter is an error of its own name only.
TEST(Registry, LoraDerivativesShareTheirBase) {
  REQUIRE_TESTDATA();
  Registry registry(
      {{"qwen", testing::testdata_path("models/qwen2-tiny-q8_0.gguf")}}, {.n_threads = 1},
      {{"qwen-a", "qwen", {testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), 0.5f}},
       {"qwen-bad", "qwen", {testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), 1.0f}}});
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"qwen", "qwen-a", "qwen-bad"}));
  EXPECT_TRUE(registry.contains("qwen-a"));
  auto adapted = registry.get("qwen-a");
  ASSERT_TRUE(adapted.ok()) << adapted.error().message;
  EXPECT_EQ(adapted.value()->path(), testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"));
  EXPECT_EQ(registry.get("qwen-a").value().get(), adapted.value().get());
  auto base = registry.get("qwen");
  ASSERT_TRUE(base.ok());
  GenerationParams params;
  params.max_tokens = 3;
  ASSERT_TRUE(adapted.value()->generate(base.value()->tokenize("Hi", false, false), params,
                                        [](std::string_view) { return true; }));
  EXPECT_GT(base.value()->stats().steps, 0);
  auto bad = registry.get("qwen-bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not a LoRA adapter"), std::string::npos);
  EXPECT_TRUE(registry.get("qwen").ok());
}

}  // namespace
}  // namespace gengyun::deploy
