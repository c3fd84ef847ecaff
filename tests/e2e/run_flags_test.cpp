// `gengyun run` refuses sampling flags outside the ranges the API accepts, before loading the
// model (issue 10: the CLI validates as the API does).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

TEST(RunFlags, OutOfRangeSamplingFlagsAreRefused) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const Case cases[] = {
      {{"-n", "0"}, "--n-predict: 0 tokens generates nothing; give N >= 1, or < 0"},
      {{"--temp", "-1"}, "--temp: Value -1 not in range"},
      {{"--temp", "2.5"}, "--temp: Value 2.5 not in range"},
      {{"--top-p", "0"}, "--top-p: top-p must be in (0, 1], not 0"},
      {{"--top-p", "1.5"}, "--top-p: top-p must be in (0, 1], not 1.5"},
      {{"--min-p", "-0.1"}, "--min-p: Value -0.1 not in range"},
      {{"--top-k", "-1"}, "--top-k: Value -1 not in range"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {kBinary, "run", model, "-p", "hi"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_NE(run.exit_code, 0) << c.message;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
  // The edges of the ranges are accepted.
  const ProcessOutput edges = run_process({kBinary, "run", model, "-p", "hi", "-n", "1", "--temp",
                                           "2", "--top-p", "1", "--min-p", "1", "--top-k", "0"});
  EXPECT_EQ(edges.exit_code, 0) << edges.err;
}

}  // namespace
}  // namespace gengyun::e2e
