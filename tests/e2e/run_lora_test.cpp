// `gengyun run MODEL --lora ADAPTER.gguf[@SCALE]`: llama.cpp's greedy text with the adapter,
// and clear errors for a missing adapter, a bad scale, an adapter of another model and an
// adapter given as the model.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

TEST(RunLora, GreedyTextWithTheAdapterIsLlamaCpps) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-f32.gguf");
  const std::string adapter = testing::testdata_path("lora/qwen2-tiny-lora-b.gguf");
  const std::string prompt = "Hi";
  const std::vector<std::string> greedy = {kBinary, "run",    model, "-p", prompt, "-n",
                                           "16",    "--temp", "0",   "-t", "1"};
  // lora/qwen2-tiny-f32+lora-b.json, case 3: every step's margin is clear (>= 0.37); the base
  // model alone continues "mmmustust..." (expected/qwen2-tiny-f32.json).
  std::vector<std::string> argv = greedy;
  argv.insert(argv.end(), {"--lora", adapter});
  const ProcessOutput adapted = run_process(argv);
  ASSERT_EQ(adapted.exit_code, 0) << adapted.err;
  EXPECT_EQ(adapted.out, "grgrgrgrgrgrgrgrgrgrgrgrgrgrgrgr");
  argv.back() = adapter + "@1";
  EXPECT_EQ(run_process(argv).out, "grgrgrgrgrgrgrgrgrgrgrgrgrgrgrgr");
  const ProcessOutput base = run_process(greedy);
  ASSERT_EQ(base.exit_code, 0) << base.err;
  EXPECT_NE(base.out, adapted.out);
}

TEST(RunLora, BadAdaptersAreRefused) {
  REQUIRE_TESTDATA();
  const std::string qwen = testing::testdata_path("models/qwen2-tiny-f32.gguf");
  const std::string llama = testing::testdata_path("models/llama-tiny-f32.gguf");
  const std::string adapter = testing::testdata_path("lora/qwen2-tiny-lora-a.gguf");
  struct Case {
    std::string model;
    std::string lora;
    std::string message;
  };
  const Case cases[] = {
      {qwen, "/nonexistent/adapter.gguf", "error: --lora: /nonexistent/adapter.gguf"},
      {qwen, adapter + "@half",
       "error: --lora: the LoRA scale 'half' in '" + adapter + "@half' is not a number"},
      {qwen, adapter + "@1e308",
       "error: --lora: the LoRA scale '1e308' in '" + adapter +
           "@1e308' is out of a 32-bit float's range"},
      {qwen, qwen, "not a LoRA adapter: general.type is missing"},
      {llama, adapter, "the adapter is for architecture 'qwen2' but the base model is 'llama'"},
  };
  for (const Case& c : cases) {
    const ProcessOutput run =
        run_process({kBinary, "run", c.model, "-p", "hi", "-t", "1", "--lora", c.lora});
    EXPECT_NE(run.exit_code, 0) << c.message;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
  // One adapter per run: a second --lora is refused with the reason (not CLI11's "At Most 1").
  const ProcessOutput twice = run_process(
      {kBinary, "run", qwen, "-p", "hi", "-t", "1", "--lora", adapter, "--lora", adapter});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("error: --lora is given 2 times; `run` applies one adapter (adapters "
                           "do not stack; `serve --lora NAME=BASE:ADAPTER.gguf` serves several"),
            std::string::npos)
      << twice.err;
  // A --lora before the model path takes one value only: the same text as after it.
  const ProcessOutput before = run_process(
      {kBinary, "run", "--lora", adapter, qwen, "-p", "Hi", "-n", "4", "--temp", "0", "-t", "1"});
  EXPECT_EQ(before.exit_code, 0) << before.err;
  const ProcessOutput after = run_process(
      {kBinary, "run", qwen, "-p", "Hi", "-n", "4", "--temp", "0", "-t", "1", "--lora", adapter});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(before.out.empty());
  EXPECT_EQ(before.out, after.out);
}

// An adapter given where a model goes (run, bench, embed, tokenize) is named as an adapter, not
// reported as a model with missing keys or a context length of 0.
TEST(RunLora, AnAdapterGivenAsTheModelIsNamedAsOne) {
  REQUIRE_TESTDATA();
  const std::string adapter = testing::testdata_path("lora/qwen2-tiny-lora-a.gguf");
  const std::string expected = "error: " + adapter +
                               ": is a LoRA adapter (general.type is 'adapter'), not a model; "
                               "apply it to its base model with --lora\n";
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{kBinary, "run", adapter, "-p", "hi", "-t", "1"},
        std::vector<std::string>{kBinary, "bench", adapter, "-p", "4", "-n", "4", "-r", "1"},
        std::vector<std::string>{kBinary, "embed", adapter, "hi"},
        std::vector<std::string>{kBinary, "tokenize", adapter, "hi"}}) {
    const ProcessOutput r = run_process(argv);
    EXPECT_EQ(r.exit_code, 1) << argv[1];
    EXPECT_EQ(r.err, expected) << argv[1];
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace gengyun::e2e
