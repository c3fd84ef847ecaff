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
    EXPECT_EQ(r.err, "--embed: Value " + value + " not in range 1 to 2147483647\n" +
                         "Run with --help for more information.\n")
        << value;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace gengyun::e2e
