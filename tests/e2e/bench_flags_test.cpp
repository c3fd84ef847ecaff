// `gengyun bench` flags out of range: one line naming the flag and the range of its type.
#include <gtest/gtest.h>

#include <string>
#include <vector>

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
    EXPECT_EQ(r.err, "--embed: " + value + " is not an integer in [1, 2147483647]\n" +
                         "Run with --help for more information.\n")
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

}  // namespace
}  // namespace gengyun::e2e
