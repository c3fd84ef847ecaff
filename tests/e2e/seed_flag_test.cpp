// The --seed flag of run, bench, synth and synth-lora: a value outside uint64 is refused (CLI11
// alone wrapped -1 to 18446744073709551615 and saturated larger values), the largest is taken.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

TEST(SeedFlag, ValuesOutsideUint64AreRefusedByEveryCommand) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-f32.gguf");
  const std::string vocab = testing::testdata_path("tokenizer/qwen-vocab.gguf");
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("seed_flag_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  const std::vector<std::vector<std::string>> commands = {
      {kBinary, "run", model, "-p", "hi", "-n", "1", "-t", "1"},
      {kBinary, "bench", model, "-p", "4", "-n", "4", "-r", "1", "-t", "1"},
      {kBinary, "synth", "--shape", "qwen3-0.6b", "--layers", "1", "--vocab", vocab, out},
      {kBinary, "synth-lora", model, out, "--rank", "2"}};
  for (const auto& command : commands) {
    for (const std::string value : {"-1", "18446744073709551616", "1.5", "abc", ""}) {
      std::vector<std::string> argv = command;
      argv.insert(argv.end(), {"--seed", value});
      const ProcessOutput r = run_process(argv);
      EXPECT_NE(r.exit_code, 0) << command[1] << " " << value;
      EXPECT_EQ(r.err, "error: " + command[1] + ": --seed: " + value +
                           " is not an integer in [0, 18446744073709551615]; gengyun " +
                           command[1] + " --help lists its options\n")
          << command[1];
      EXPECT_TRUE(r.out.empty()) << r.out;
      EXPECT_FALSE(std::filesystem::exists(out));
    }
    std::vector<std::string> argv = command;
    argv.insert(argv.end(), {"--seed", "18446744073709551615"});
    const ProcessOutput largest = run_process(argv);
    EXPECT_EQ(largest.exit_code, 0) << command[1] << ": " << largest.err;
    std::filesystem::remove(out);
  }
}

}  // namespace
}  // namespace gengyun::e2e
