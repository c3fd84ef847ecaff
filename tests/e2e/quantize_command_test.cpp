// `gengyun quantize` from the command line: it ends by naming the tensor types it wrote.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gguf/gguf.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

// qwen2-tiny in Q2_K: the line names the types of the file written, which are those of
// llama.cpp's own Q2_K file in testdata (its mix puts Q3_K and Q6_K on some matrices).
TEST(QuantizeCommand, TheTypesWrittenAreNamed) {
  REQUIRE_TESTDATA();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("quantize_types_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  const ProcessOutput run = run_process(
      {kBinary, "quantize", testing::testdata_path("models/qwen2-tiny-f32.gguf"), out, "Q2_K"});
  std::filesystem::remove(out);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto reference = gguf::File::open(testing::testdata_path("models/qwen2-tiny-q2_k.gguf"));
  ASSERT_TRUE(reference.ok()) << reference.error().message;
  int f32 = 0, q2_K = 0, q3_K = 0, q6_K = 0;
  for (const gguf::TensorInfo& t : reference->tensors()) {
    f32 += t.type == gguf::GgmlType::F32;
    q2_K += t.type == gguf::GgmlType::Q2_K;
    q3_K += t.type == gguf::GgmlType::Q3_K;
    q6_K += t.type == gguf::GgmlType::Q6_K;
  }
  ASSERT_EQ(f32 + q2_K + q3_K + q6_K, static_cast<int>(reference->tensors().size()));
  const std::string want = out + ": " + std::to_string(reference->tensors().size()) +
                           " tensors: f32 " + std::to_string(f32) + ", q2_K " +
                           std::to_string(q2_K) + ", q3_K " + std::to_string(q3_K) + ", q6_K " +
                           std::to_string(q6_K) + "\n";
  ASSERT_GE(run.err.size(), want.size()) << run.err;
  EXPECT_EQ(run.err.substr(run.err.size() - want.size()), want) << run.err;
}

}  // namespace
}  // namespace gengyun::e2e
