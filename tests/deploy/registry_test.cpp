#include "deploy/registry.h"

#include <gtest/gtest.h>

#include "testdata.h"

namespace gengyun::deploy {
namespace {

TEST(ModelSpec, ParsesNameEqualsPath) {
  auto spec = parse_model_spec("qwen=/models/q.gguf");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "qwen");
  EXPECT_EQ(spec->path, "/models/q.gguf");
  auto with_eq_in_path = parse_model_spec("a=/x=y.gguf");
  ASSERT_TRUE(with_eq_in_path.ok());
  EXPECT_EQ(with_eq_in_path->path, "/x=y.gguf");
}

TEST(ModelSpec, RejectsMalformedFlags) {
  EXPECT_EQ(parse_model_spec("noeq").error().message, "--model expects NAME=PATH, got 'noeq'");
  EXPECT_EQ(parse_model_spec("=x").error().message,
            "--model expects NAME=PATH with both parts non-empty, got '=x'");
  EXPECT_FALSE(parse_model_spec("s=").ok());
}

TEST(ModelSpec, RejectsANameGivenTwice) {
  auto specs = parse_model_specs({"s=a.gguf", "t=b.gguf", "s=c.gguf"});
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.error().message, "--model: the name 's' is given twice ('a.gguf' and 'c.gguf')");
  auto fine = parse_model_specs({"s=a.gguf", "t=b.gguf"});
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->size(), 2u);
}

TEST(Registry, LoadsOnFirstUseAndKeepsTheModel) {
  REQUIRE_TESTDATA();
  Registry registry({{"stories", testing::testdata_path("models/stories260K-f32.gguf")},
                     {"broken", "/nonexistent.gguf"}},
                    {.n_threads = 1});
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"stories", "broken"}));
  EXPECT_TRUE(registry.contains("stories"));
  EXPECT_FALSE(registry.contains("qwen"));
  auto first = registry.get("stories");
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = registry.get("stories");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first.value().get(), second.value().get());
  auto unknown = registry.get("qwen");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "model 'qwen' is not served here");
  auto broken = registry.get("broken");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("/nonexistent.gguf"), std::string::npos);
}

}  // namespace
}  // namespace gengyun::deploy
