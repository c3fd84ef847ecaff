// The --lora flags' forms, and LoRA derivatives in the registry sharing their base model.
#include "deploy/lora_spec.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

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

// An '@' in the file name, no scale: the whole text when it names a file; else "@1" sets the
// scale and keeps the '@' in the path.
TEST(AdapterFile, AnAtInAFileNameIsThePathsWhenTheFileExists) {
  std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-lora-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::string path = pattern + "/my lora@2.gguf";
  std::ofstream(path) << "x";
  auto whole = parse_adapter_file(path);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->path, path);
  EXPECT_EQ(whole->scale, 1.0f);
  auto scaled = parse_adapter_file(path + "@1");
  ASSERT_TRUE(scaled.ok());
  EXPECT_EQ(scaled->path, path);
  EXPECT_EQ(scaled->scale, 1.0f);
  std::filesystem::remove_all(pattern);
  EXPECT_EQ(parse_adapter_file(path).error().message,
            "the LoRA scale '2.gguf' in '" + path +
                "' is not a number (ADAPTER.gguf[@SCALE]; a file whose name holds an '@' takes a "
                "scale: '" +
                path + "@1')");
}

TEST(AdapterFile, RejectsBadScalesAndEmptyPaths) {
  EXPECT_EQ(parse_adapter_file("b.gguf@x").error().message,
            "the LoRA scale 'x' in 'b.gguf@x' is not a number (ADAPTER.gguf[@SCALE]; a file "
            "whose name holds an '@' takes a scale: 'b.gguf@x@1')");
  EXPECT_EQ(parse_adapter_file("b.gguf@").error().message,
            "the LoRA scale '' in 'b.gguf@' is not a number (ADAPTER.gguf[@SCALE]; a file "
            "whose name holds an '@' takes a scale: 'b.gguf@@1')");
  EXPECT_EQ(parse_adapter_file("b.gguf@1.5x").error().message,
            "the LoRA scale '1.5x' in 'b.gguf@1.5x' is not a number (ADAPTER.gguf[@SCALE]; a file "
            "whose name holds an '@' takes a scale: 'b.gguf@1.5x@1')");
  EXPECT_EQ(parse_adapter_file("b.gguf@1e308").error().message,
            "the LoRA scale '1e308' in 'b.gguf@1e308' is out of a 32-bit float's range "
            "(magnitudes 1.2e-38 to 3.4e38, or 0)");
  EXPECT_EQ(parse_adapter_file("b.gguf@-1e39").error().message,
            "the LoRA scale '-1e39' in 'b.gguf@-1e39' is out of a 32-bit float's range "
            "(magnitudes 1.2e-38 to 3.4e38, or 0)");
  EXPECT_EQ(parse_adapter_file("b.gguf@inf").error().message,
            "the LoRA scale 'inf' in 'b.gguf@inf' must be a finite number");
  EXPECT_EQ(parse_adapter_file("b.gguf@nan").error().message,
            "the LoRA scale 'nan' in 'b.gguf@nan' must be a finite number");
  EXPECT_EQ(parse_adapter_file("b.gguf@3e38")->scale, 3e38f);
  EXPECT_EQ(parse_adapter_file("b.gguf@1e-50").error().message,
            "the LoRA scale '1e-50' in 'b.gguf@1e-50' is out of a 32-bit float's range "
            "(magnitudes 1.2e-38 to 3.4e38, or 0)");
  EXPECT_EQ(parse_adapter_file("b.gguf@1e400").error().message,
            "the LoRA scale '1e400' in 'b.gguf@1e400' is out of a 32-bit float's range "
            "(magnitudes 1.2e-38 to 3.4e38, or 0)");
  EXPECT_EQ(parse_adapter_file("b.gguf@-0")->scale, 0.0f);
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
            "--lora: the LoRA scale 'x' in 'a.gguf@x' is not a number (ADAPTER.gguf[@SCALE]; a "
            "file whose name holds an '@' takes a scale: 'a.gguf@x@1')");
  EXPECT_EQ(
      parse_lora_spec("n\x1b[2J=q:a.gguf").error().message,
      "--lora: the name 'n\x1b[2J' holds control, format, invisible, private-use or unassigned "
      "characters, or bytes that are not UTF-8, which a model id may not");
  EXPECT_EQ(
      parse_lora_spec("n\u2067=q:a.gguf").error().message,
      "--lora: the name 'n\u2067' holds control, format, invisible, private-use or unassigned "
      "characters, or bytes that are not UTF-8, which a model id may not");
  // Looks like "a b" (QA: "a b" with U+00A0 and "a b" were two ids): anywhere, named.
  EXPECT_EQ(parse_lora_spec("\u00A0n=q:a.gguf").error().message,
            "--lora: the name '\u00A0n' holds the space U+00A0, which shows as U+0020 does and "
            "which a model id may not");
  EXPECT_EQ(parse_lora_spec("m\u3000n=q:a.gguf").error().message,
            "--lora: the name 'm\u3000n' holds the space U+3000, which shows as U+0020 does and "
            "which a model id may not");
  EXPECT_EQ(parse_lora_spec("n\u202F=q:a.gguf").error().message,
            "--lora: the name 'n\u202F' holds the space U+202F, which shows as U+0020 does and "
            "which a model id may not");
  EXPECT_EQ(parse_lora_spec("m\u2009n=q:a.gguf").error().message,
            "--lora: the name 'm\u2009n' holds the space U+2009, which shows as U+0020 does and "
            "which a model id may not");
  EXPECT_EQ(parse_lora_spec("m,n=q:a.gguf").error().message,
            "--lora: the name 'm,n' holds a comma, which a model id may not (a key's model list "
            "is stored comma-separated)");
  EXPECT_TRUE(parse_lora_spec("my lora=q:a.gguf").ok());
}

TEST(LoraSpec, NamesAreUnique) {
  auto fine = parse_lora_specs({"a=qwen:a.gguf", "b=qwen:b.gguf@2"});
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  ASSERT_EQ(fine->size(), 2u);
  EXPECT_EQ((*fine)[1].base, "qwen");
  EXPECT_EQ((*fine)[1].adapter.scale, 2.0f);
  EXPECT_EQ(parse_lora_specs({"a=qwen:a.gguf", "a=llama:b.gguf"}).error().message,
            "--lora: the name 'a' is given twice");
  EXPECT_EQ(parse_lora_specs({"a=qwen"}).error().message,
            "--lora expects NAME=BASE:ADAPTER.gguf[@SCALE], got 'a=qwen'");
}

// A derivative (of --lora or of the config) is listed with its base's metadata, loads its base
// on first use by holding a lease on it, and shares it: the base's engine counts the
// derivative's steps. Unloading the derivative releases the base. A bad adapter is an error of
// its own name only (state error).
TEST(Registry, LoraDerivativesShareTheirBase) {
  REQUIRE_TESTDATA();
  const std::string adapter = testing::testdata_path("lora/qwen2-tiny-lora-a.gguf");
  RegistryOptions options;
  options.model.n_threads = 1;
  options.specs = {{"qwen", testing::testdata_path("models/qwen2-tiny-q8_0.gguf")}};
  options.loras = {{"qwen-a", "qwen", {adapter, 0.5f}},
                   {"qwen-bad", "qwen", {testing::testdata_path("models/qwen2-tiny-q8_0.gguf"),
                                         1.0f}}};
  options.config.models["qwen"].loras.push_back({"qwen-c", adapter, 1.0});
  auto created = Registry::create(std::move(options));
  ASSERT_TRUE(created.ok()) << created.error().message;
  Registry& registry = *created.value();

  std::vector<std::string> ids;
  for (const ModelInfo& info : registry.list()) ids.push_back(info.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"qwen", "qwen-a", "qwen-bad", "qwen-c"}));
  const ModelInfo listed = *registry.find("qwen-a");
  EXPECT_EQ(listed.parent, "qwen");
  EXPECT_EQ(listed.source, "--lora");
  EXPECT_EQ(listed.state, ModelState::Available);
  EXPECT_EQ(listed.file.architecture, "qwen2");
  EXPECT_EQ(listed.file.path, adapter);
  EXPECT_EQ(listed.file.size_bytes, static_cast<int64_t>(std::filesystem::file_size(adapter)));
  EXPECT_EQ(listed.memory_bytes, listed.file.size_bytes);  // the base holds weights and KV
  EXPECT_EQ(registry.find("qwen-c")->source, "config");

  {
    Acquired adapted = registry.acquire("qwen-a");
    ASSERT_TRUE(adapted.lease) << adapted.message;
    EXPECT_EQ((*adapted.lease)->path(), adapter);
    EXPECT_EQ(registry.find("qwen")->state, ModelState::Loaded);
    EXPECT_EQ(registry.find("qwen")->running, 1);  // the derivative's lease
    Acquired again = registry.acquire("qwen-a");
    ASSERT_TRUE(again.lease);
    EXPECT_EQ(&**again.lease, &**adapted.lease);
    GenerationParams params;
    params.max_tokens = 3;
    ASSERT_TRUE((*adapted.lease)->generate((*adapted.lease)->tokenize("Hi", false, false), params,
                                           [](std::string_view) { return true; }));
    Acquired base = registry.acquire("qwen");
    ASSERT_TRUE(base.lease);
    EXPECT_GT((*base.lease)->stats().steps, 0);
  }
  Acquired bad = registry.acquire("qwen-bad");
  ASSERT_FALSE(bad.lease);
  EXPECT_EQ(bad.status, AcquireStatus::LoadFailed);
  EXPECT_NE(bad.message.find("not a LoRA adapter"), std::string::npos) << bad.message;
  EXPECT_EQ(registry.find("qwen-bad")->state, ModelState::Error);  // until its file changes
  EXPECT_EQ(registry.find("qwen")->state, ModelState::Loaded);     // was loaded before it

  Acquired config_derivative = registry.acquire("qwen-c");
  ASSERT_TRUE(config_derivative.lease) << config_derivative.message;
  config_derivative.lease.reset();
  ASSERT_TRUE(registry.unload("qwen-c").ok());
  ASSERT_TRUE(registry.unload("qwen-a").ok());
  EXPECT_EQ(registry.find("qwen")->running, 0);  // released with the derivatives
  EXPECT_TRUE(registry.unload("qwen").ok());
}

}  // namespace
}  // namespace gengyun::deploy
