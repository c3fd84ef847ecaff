// `gengyun bench` flags out of range: one line naming the flag and the range of its type.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

TEST(BenchFlags, AnEmbedCountOutOfRangeIsRefusedWithTheRangeOfAnInt) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen3-embed-tiny-f32.gguf");
  for (const std::string value : {"0", "-3", "2147483648", "abc"}) {
    const ProcessOutput r = run_process({kBinary, "bench", model, "--embed", value});
    EXPECT_NE(r.exit_code, 0) << value;
    EXPECT_EQ(r.err, "error: bench: --embed: " + value +
                         " is not an integer in [1, 2147483647]; gengyun bench --help lists its "
                         "options\n")
        << value;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

// --embed-tokens is range-checked as --embed is, naming itself (QA: `--embed 4 --embed-tokens 0`
// exited 1 saying "--embed, --embed-tokens and --repeats must be at least 1, --threads at least
// 0").
TEST(BenchFlags, AnEmbedTokenCountOutOfRangeIsRefusedNamingTheFlag) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen3-embed-tiny-f32.gguf");
  for (const std::string value : {"0", "-3", "2147483648", "abc"}) {
    const ProcessOutput r =
        run_process({kBinary, "bench", model, "--embed", "4", "--embed-tokens", value});
    EXPECT_EQ(r.exit_code, 2) << value;
    EXPECT_EQ(r.err, "error: bench: --embed-tokens: " + value +
                         " is not an integer in [1, 2147483647]; gengyun bench --help lists its "
                         "options\n")
        << value;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

// A flag value outside its range is a command line that cannot be parsed: exit 2 as for `run`
// (QA 2026-12-07: bench -t -1 and quantize's type exited 1), the reason on stderr.
TEST(BenchFlags, OutOfRangeValuesExitTwoAsRunsDo) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::vector<std::vector<std::string>> cases = {{"bench", model, "-t", "-1"},
                                                       {"bench", model, "--parallel", "-2"},
                                                       {"bench", model, "--parallel", "4097"},
                                                       {"bench", model, "-p", "0"},
                                                       {"bench", model, "-n", "0"},
                                                       {"bench", model, "-r", "0"},
                                                       {"quantize", model, "out.gguf", "Q9_9"}};
  for (std::vector<std::string> args : cases) {
    args.insert(args.begin(), kBinary);
    const ProcessOutput r = run_process(args);
    EXPECT_EQ(r.exit_code, 2) << args[3] << " " << args[4] << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  const ProcessOutput q = run_process({kBinary, "quantize", model, "out.gguf", "Q9_9"});
  EXPECT_NE(q.err.find("unknown quantization type 'Q9_9' (valid: "), std::string::npos) << q.err;
}

/// qwen2-tiny-q8_0.gguf written to `path` with the key `key` set by `set` instead of its own.
void write_patched_model(const std::string& path, const std::string& key,
                         const std::function<void(gguf::Writer&)>& set) {
  auto source = gguf::File::open(testing::testdata_path("models/qwen2-tiny-q8_0.gguf"));
  ASSERT_TRUE(source.ok()) << source.error().message;
  gguf::Writer writer;
  for (const auto& [name, value] : source->metadata())
    if (name != key) writer.set(name, value);
  set(writer);
  for (const gguf::TensorInfo& t : source->tensors())
    ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
  ASSERT_TRUE(writer.write(path).ok());
}

// A model that `run` refuses, bench refuses with run's reason (QA: an unsupported architecture
// and a context length of 0 both read "prompt + generated tokens (8) exceed the model's context
// length (0)").
TEST(BenchFlags, AModelRunRefusesIsRefusedWithRunsReason) {
  REQUIRE_TESTDATA();
  std::string dir = (std::filesystem::temp_directory_path() / "gengyun-bench-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string arch = dir + "/qwen9.gguf";
  const std::string ctx = dir + "/ctx0.gguf";
  write_patched_model(arch, "general.architecture",
                      [](gguf::Writer& w) { w.set_string("general.architecture", "qwen9"); });
  write_patched_model(ctx, "qwen2.context_length",
                      [](gguf::Writer& w) { w.set_u32("qwen2.context_length", 0); });
  const std::vector<std::pair<std::string, std::string>> cases = {
      {arch, "error: " + arch +
                 ": unsupported architecture 'qwen9' (supported: llama, qwen2, qwen3, qwen3moe)\n"},
      {ctx, "error: " + ctx + ": key 'qwen2.context_length' = 0 is out of range [1, 1073741824]\n"},
  };
  for (const auto& [model, message] : cases) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"bench", model, "-p", "4", "-n", "4", "-r", "1"},
          std::vector<std::string>{"run", model, "-p", "hi", "-n", "1"}}) {
      std::vector<std::string> argv = {kBinary};
      argv.insert(argv.end(), args.begin(), args.end());
      const ProcessOutput r = run_process(argv);
      EXPECT_EQ(r.exit_code, 1) << args[0] << " " << model;
      EXPECT_EQ(r.err, message) << args[0];
      EXPECT_EQ(r.out, "");
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gengyun::e2e
