// `gengyun synth` from the command line: bad --layers values are refused before anything is
// written (the whole model is written only without --layers).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

TEST(SynthCommand, LayersOutsideTheShapeAreRefusedAndNothingIsWritten) {
  REQUIRE_TESTDATA();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("synth_layers_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  for (const std::string layers : {"0", "49", "-3"}) {
    const ProcessOutput run = run_process(
        {kBinary, "synth", "--shape", "qwen3-30b-a3b", "--layers", layers, "--type", "Q4_K_M",
         "--vocab", testing::testdata_path("tokenizer/qwen-vocab.gguf"), out});
    EXPECT_EQ(run.exit_code, 1) << layers;
    EXPECT_NE(run.err.find("error: --layers " + layers +
                           " is outside [1, 48], the layers of qwen3-30b-a3b"),
              std::string::npos)
        << run.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << layers;
  }
}

}  // namespace
}  // namespace gengyun::e2e
