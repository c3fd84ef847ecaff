// gguf::probe_header: a GGUF file's header read from its first bytes while the rest is still
// arriving (`gengyun pull`): "more bytes needed", "not a GGUF file: why", or where the file ends.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "gguf/gguf.h"
#include "gguf_test_util.h"

namespace gengyun::gguf {
namespace {

using test::Image;

constexpr uint32_t kF32 = 0, kUint64 = 10;

// One key and one f32 tensor of 3 elements: the header ends at byte 76, the data section starts
// at 96, the tensor's data ends at 108, and the writers pad the file to 128.
Image three_floats() {
  Image im;
  im.header(1, 1).kv_u32("a.b", 7).tensor_info("w", {3}, kF32, 0).pad_to(32).zeros(12);
  return im;
}

TEST(GgufProbe, APrefixAsksForMoreBytesUntilTheHeaderIsIn) {
  const std::vector<uint8_t> bytes = three_floats().bytes;
  ASSERT_EQ(bytes.size(), 108u);
  for (size_t n = 0; n < 76; ++n) {
    Result<HeaderProbe> probe = probe_header(std::span(bytes).first(n), "part");
    ASSERT_TRUE(probe.ok()) << n << ": " << probe.error().message;
    EXPECT_FALSE(probe->extent) << n;
    // More than it was given, never more than the header takes.
    EXPECT_GT(probe->need_bytes, n);
    EXPECT_LE(probe->need_bytes, 76u) << n;
  }
  for (size_t n : {size_t{76}, size_t{96}, size_t{100}, bytes.size()}) {
    Result<HeaderProbe> probe = probe_header(std::span(bytes).first(n), "part");
    ASSERT_TRUE(probe.ok()) << n << ": " << probe.error().message;
    ASSERT_TRUE(probe->extent) << n;
    EXPECT_EQ(probe->extent->data_end, 108u);
    EXPECT_EQ(probe->extent->padded_end, 128u);
    EXPECT_EQ(probe->need_bytes, 0u);
  }
  // The whole file, unpadded as here or padded, has the same extent.
  std::vector<uint8_t> padded = bytes;
  padded.resize(128);
  for (const std::vector<uint8_t>& file : {bytes, padded}) {
    Result<File> f = File::parse(file, "f.gguf");
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->extent().data_end, 108u);
    EXPECT_EQ(f->extent().padded_end, 128u);
  }
}

TEST(GgufProbe, AFileWithoutTensorsEndsWithItsHeader) {
  Image im;
  im.header(0, 1).kv_u32("a.b", 7);  // 43 bytes
  Result<HeaderProbe> probe = probe_header(im.bytes, "part");
  ASSERT_TRUE(probe.ok()) << probe.error().message;
  ASSERT_TRUE(probe->extent);
  EXPECT_EQ(probe->extent->data_end, 43u);
  EXPECT_EQ(probe->extent->padded_end, 64u);
}

TEST(GgufProbe, BytesThatCannotStartAGgufFileAreAnError) {
  const std::vector<uint8_t> gx = {'G', 'X'};
  EXPECT_EQ(probe_header(gx, "part").error().message,
            "part: not a GGUF file: starts with bytes 47 58, expected 'GGUF' (47 47 55 46)");
  const std::vector<uint8_t> html = {'<', 'h', 't', 'm', 'l', '>'};
  EXPECT_EQ(probe_header(html, "part").error().message,
            "part: not a GGUF file: starts with bytes 3c 68 74 6d, expected 'GGUF' (47 47 55 46)");
  // Too few bytes to judge: the magic's 4 are needed.
  for (const std::vector<uint8_t>& start :
       {std::vector<uint8_t>{}, std::vector<uint8_t>{'G', 'G', 'U'}}) {
    Result<HeaderProbe> probe = probe_header(start, "part");
    ASSERT_TRUE(probe.ok()) << probe.error().message;
    EXPECT_EQ(probe->need_bytes, 4u);
  }
  Image v1;
  v1.header(0, 0, 1);
  EXPECT_EQ(
      probe_header(v1.bytes, "part").error().message,
      "part: GGUF version 1 is not supported (an obsolete format; re-convert the model with a "
      "current llama.cpp)");
  Image dims;
  dims.header(1, 0).str("w").u32(5).zeros(32);
  EXPECT_EQ(probe_header(dims.bytes, "part").error().message,
            "part: tensor 'w': n_dims = 5 (must be 1..4)");
}

// A header that claims more bytes than a prefix holds says how many it needs, up to
// UINT64_MAX, so that a caller can refuse it without reading them.
TEST(GgufProbe, TheBytesAHeaderNeedsAreCountedFromItsClaims) {
  Image key;
  key.header(0, 1).u64(uint64_t{1} << 40).zeros(5);  // a key of 2^40 bytes, at offset 24
  EXPECT_EQ(probe_header(key.bytes, "part")->need_bytes, 32 + (uint64_t{1} << 40));
  Image array;
  array.header(0, 1).str("a").u32(9).u32(kUint64).u64(uint64_t{1} << 62);  // 2^62 u64 items
  EXPECT_EQ(probe_header(array.bytes, "part")->need_bytes, std::numeric_limits<uint64_t>::max());
  Image entries;
  entries.header(0, 1000);  // 1000 entries of 13 bytes at least, after byte 24
  EXPECT_EQ(probe_header(entries.bytes, "part")->need_bytes, 24u + 13000u);
  // Tensor data that would end past 2^64 bytes is refused: three tensors of 3 * 2^61 bytes.
  constexpr uint64_t kBytes = uint64_t{3} << 61;
  Image far;
  far.header(3, 0)
      .tensor_info("a", {kBytes / 4}, kF32, 0)
      .tensor_info("b", {kBytes / 4}, kF32, kBytes)
      .tensor_info("c", {kBytes / 4}, kF32, 2 * kBytes);
  EXPECT_EQ(probe_header(far.bytes, "part").error().message,
            "part: tensor 'c': data [offset 13835058055282163712, 6917529027641081856 bytes] from "
            "the data section at byte 128 ends past the largest size a file can have (2^64 bytes)");
}

}  // namespace
}  // namespace gengyun::gguf
