// arrange_weights: which tensors it rearranges (every matrix of a type with a rearranged layout)
// and into which layout (kRowGroups16 where the level decodes it and the rows come in groups of
// 16, else kBlockGroups16), that their bytes are then those of kernels::to_layout, and that a
// mapped file is refused.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/type_kernels.h"
#include "kernels/weight_layout.h"
#include "model/weights.h"
#include "testdata.h"

namespace gengyun::model {
namespace {

using gguf::FileMemory;
using gguf::GgmlType;

TEST(ArrangeWeights, RearrangesEveryQ8_0Matrix) {
  REQUIRE_TESTDATA();
  const std::string path = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  auto mapped = gguf::File::open(path, FileMemory::kMapped);
  auto copy = gguf::File::open(path, FileMemory::kAnonymous);
  ASSERT_TRUE(mapped.ok() && copy.ok());
  // The ones to rearrange, counted independently: the 2-D Q8_0 tensors, token_embd included.
  if (kernels::type_kernels(GgmlType::Q8_0).vec_dot_groups16 == nullptr)
    GTEST_SKIP() << "this CPU's SIMD level has no kBlockGroups16 decode kernel (AVX-512 has)";
  int expected = 0;
  for (const gguf::TensorInfo& t : mapped->tensors())
    expected += t.ne.size() == 2 && t.type == GgmlType::Q8_0;
  ASSERT_GT(expected, 10);

  Result<int> arranged = arrange_weights(copy.value());
  ASSERT_TRUE(arranged.ok()) << arranged.error().message;
  EXPECT_EQ(arranged.value(), expected);
  // AMX and AVX-512: the matrices of whole groups of 16 rows interleaved (every one of this
  // model's).
  const bool row_groups = kernels::type_kernels(GgmlType::Q8_0).vec_dot_row_groups16 != nullptr;
  int interleaved = 0;
  for (size_t i = 0; i < copy->tensors().size(); ++i) {
    const gguf::TensorInfo& before = mapped->tensors()[i];
    const gguf::TensorInfo& after = copy->tensors()[i];
    const bool rearranged = before.ne.size() == 2 && before.type == GgmlType::Q8_0;
    std::vector<uint8_t> want(before.data, before.data + before.n_bytes);
    if (rearranged) {
      const auto layout = row_groups && before.ne[1] % 16 == 0
                              ? kernels::WeightLayout::kRowGroups16
                              : kernels::WeightLayout::kBlockGroups16;
      interleaved += layout == kernels::WeightLayout::kRowGroups16;
      EXPECT_EQ(after.layout, static_cast<uint8_t>(layout)) << after.name;
      kernels::to_layout(before.type, layout, want.data(), before.ne[0], before.ne[1]);
    } else {
      EXPECT_EQ(after.layout, 0) << after.name;
    }
    EXPECT_EQ(std::memcmp(after.data, want.data(), want.size()), 0) << after.name;
  }
  EXPECT_EQ(interleaved, row_groups ? expected : 0);
  // Twice is once: rearranged tensors are left alone.
  Result<int> again = arrange_weights(copy.value());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), 0);
}

TEST(ArrangeWeights, MappedFilesAndParsedBuffersAreNeverWritten) {
  REQUIRE_TESTDATA();
  const std::string path = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  auto mapped = gguf::File::open(path, FileMemory::kMapped);
  ASSERT_TRUE(mapped.ok());
  Result<int> refused = arrange_weights(mapped.value());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("cannot be rewritten"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(refused.error().message.rfind(path, 0), 0u) << refused.error().message;

  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()};
  auto parsed = gguf::File::parse(bytes, "buffer.gguf");
  ASSERT_TRUE(parsed.ok());
  Result<int> not_ours = arrange_weights(parsed.value());
  ASSERT_FALSE(not_ours.ok());
  EXPECT_EQ(not_ours.error().message, "buffer.gguf: a parsed buffer is never rewritten");

  auto copy = gguf::File::open(path, FileMemory::kAnonymous);
  ASSERT_TRUE(copy.ok());
  Result<void> past = copy->rewrite_tensor(copy->tensors().size(), 1, [](uint8_t*) {});
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().message, path + ": no tensor " + std::to_string(copy->tensors().size()));
}

}  // namespace
}  // namespace gengyun::model
