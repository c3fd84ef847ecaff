// Bad input to the GGUF reader: every case must give an Error naming the file and the problem,
// never a crash, hang or huge allocation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "testdata.h"

namespace gengyun::gguf {
namespace {

using test::expect_parse_error;
using test::Image;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ8_0 = 8;
constexpr uint32_t kUint8 = 0, kUint32 = 4, kBool = 7, kString = 8, kArray = 9, kUint64 = 10;

// A valid file: one key, one f32 tensor of 8 elements.
Image valid_image() {
  Image im;
  im.header(1, 1).kv_u32("a.b", 7).tensor_info("w", {8}, kF32, 0).pad_to(32).zeros(32);
  return im;
}

TEST(GgufCorrupt, ValidBaseImageParses) {
  const std::vector<uint8_t> bytes = valid_image().bytes;
  Result<File> f = File::parse(bytes, "ok.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->name(), "ok.gguf");
  EXPECT_EQ(f->get_int("a.b"), 7);
  ASSERT_EQ(f->tensors().size(), 1u);
  EXPECT_EQ(f->tensors()[0].data, bytes.data() + f->data_offset());
  EXPECT_EQ(f->data_offset(), 96u);
}

TEST(GgufCorrupt, EmptyAndTinyImages) {
  expect_parse_error({}, "empty file (0 bytes)");
  expect_parse_error({'G', 'G', 'U'}, "only 3 bytes");
  expect_parse_error({'G', 'G', 'U', 'F'}, "file truncated: version at offset 4");
  Image im;
  im.header(0, 0);
  im.bytes.resize(20);
  expect_parse_error(im.bytes, "file truncated: metadata count at offset 16 needs 8 bytes but only 4 remain");
}

TEST(GgufCorrupt, BadMagic) {
  std::vector<uint8_t> bytes = valid_image().bytes;
  bytes[0] = 'g';
  expect_parse_error(bytes, "not a GGUF file: starts with bytes 67 47 55 46");
  const std::vector<uint8_t> elf = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
  expect_parse_error(elf, "starts with bytes 7f 45 4c 46, expected 'GGUF'");
}

TEST(GgufCorrupt, Versions) {
  Image v1;
  v1.header(0, 0, 1);
  expect_parse_error(v1.bytes, "GGUF version 1 is not supported");
  Image v4;
  v4.header(0, 0, 4);
  expect_parse_error(v4.bytes, "unsupported GGUF version 4 (supported: 2, 3)");
  Image big_endian;
  big_endian.header(0, 0, 0x03000000);
  expect_parse_error(big_endian.bytes, "big-endian GGUF files are not supported");

  Image v2;
  v2.header(0, 1, 2).kv_u32("k", 1);
  Result<File> f = File::parse(v2.bytes, "v2.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->version(), 2u);
}

TEST(GgufCorrupt, HugeCounts) {
  Image kv;
  kv.header(0, 1000).zeros(100);
  expect_parse_error(kv.bytes, "metadata count 1000 cannot fit in the 100 bytes after the header");
  Image tensors;
  tensors.header(1000, 0).zeros(100);
  expect_parse_error(tensors.bytes, "tensor count 1000 cannot fit in the 100 bytes after the header");
}

// Counts above the limits that bound parsing memory fail before anything is allocated.
TEST(GgufCorrupt, CountLimits) {
  Image kv;
  kv.header(0, uint64_t{1} << 60).zeros(100);
  expect_parse_error(kv.bytes, "1152921504606846976 more values at offset 24 take the file past the limit of "
                               "8388608 metadata values");
  Image tensors;
  tensors.header(std::numeric_limits<uint64_t>::max(), 0).zeros(100);
  expect_parse_error(tensors.bytes, "tensor count 18446744073709551615 is above the limit of 1048576");
  // The limit counts metadata entries and array items together.
  Image total;
  total.header(0, 3).str("a").u32(kArray).u32(kUint8).u64(kMaxMetadataValues - 2).zeros(kMaxMetadataValues);
  expect_parse_error(total.bytes, "metadata key 'a': 8388606 more values at offset 49 take the file past the limit");
}

TEST(GgufCorrupt, HugeArrayInSmallFile) {
  Image im;
  im.header(0, 1).str("big").u32(kArray).u32(kUint8).u64(uint64_t{1} << 60).zeros(1000);
  expect_parse_error(im.bytes,
                     "metadata key 'big': array of 1152921504606846976 uint8 elements at offset 39 cannot fit in the "
                     "1000 bytes remaining");
  Image strings;
  strings.header(0, 1).str("s").u32(kArray).u32(kString).u64(200).zeros(1000);
  expect_parse_error(strings.bytes, "array of 200 string elements");
}

TEST(GgufCorrupt, StringsPastTheEnd) {
  Image value;
  value.header(0, 1).str("name").u32(kString).u64(1000).zeros(10);
  expect_parse_error(value.bytes,
                     "metadata key 'name': string of length 1000 at offset 40 runs past the end of the file (10 "
                     "bytes remain)");
  Image key;
  key.header(0, 1).u64(std::numeric_limits<uint64_t>::max()).zeros(10);
  expect_parse_error(key.bytes, "metadata entry #0: key of length 18446744073709551615");
  Image name;
  name.header(1, 0).u64(1u << 30).zeros(40);
  expect_parse_error(name.bytes, "tensor info #0: tensor name of length 1073741824");
}

TEST(GgufCorrupt, UnknownValueTypes) {
  Image scalar;
  scalar.header(0, 1).str("k").u32(13).zeros(8);
  expect_parse_error(scalar.bytes, "metadata key 'k': unknown value type 13 at offset 33 (valid: 0..12)");
  Image elem;
  elem.header(0, 1).str("k").u32(kArray).u32(0xffffffff).u64(0);
  expect_parse_error(elem.bytes, "unknown array element type 4294967295");
}

TEST(GgufCorrupt, BadBool) {
  Image im;
  im.header(0, 1).str("flag").u32(kBool).u8(2);
  expect_parse_error(im.bytes, "metadata key 'flag': bool value 2 at offset 40 is neither 0 nor 1");
}

Image nested_arrays(int depth) {
  Image im;
  im.header(0, 1).str("n").u32(kArray);
  for (int i = 1; i < depth; ++i) im.u32(kArray).u64(1);
  return im.u32(kUint8).u64(1).u8(42);
}

TEST(GgufCorrupt, ArrayNestingDepth) {
  const std::vector<uint8_t> ok_bytes = nested_arrays(kMaxArrayDepth).bytes;
  Result<File> ok = File::parse(ok_bytes, "nested.gguf");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  const Value* v = ok->find("n");
  for (int i = 1; i < kMaxArrayDepth; ++i) {
    ASSERT_EQ(v->type, ValueType::ARRAY);
    v = &v->as_array()->items.at(0);
  }
  EXPECT_EQ(v->as_array()->items.at(0).as_int(), 42);

  expect_parse_error(nested_arrays(kMaxArrayDepth + 1).bytes, "arrays nested more than 8 levels deep");
  // A hostile file nesting a million levels deep fails at the cap, without deep recursion.
  Image deep;
  deep.header(0, 1).str("n").u32(kArray);
  for (int i = 0; i < 1000000; ++i) deep.u32(kArray).u64(1);
  expect_parse_error(deep.bytes, "arrays nested more than 8 levels deep");
}

TEST(GgufCorrupt, EmptyKey) {
  Image im;
  im.header(0, 2).kv_u32("general.x", 1).kv_u32("", 2);
  expect_parse_error(im.bytes, "metadata entry #1: empty key (every metadata key needs a name)");
}

TEST(GgufCorrupt, DuplicateKey) {
  Image im;
  im.header(0, 2).kv_u32("general.x", 1).kv_u32("general.x", 2);
  expect_parse_error(im.bytes, "metadata key 'general.x': duplicate key");
}

// Names read from the file are quoted escaped and cut (gguf::quoted_text), so that the reason after
// them stays readable whatever bytes they hold (QA 2026-12-07: a key of NUL bytes printed as
// "metadata key '" and nothing more).
TEST(GgufCorrupt, NamesInMessagesAreEscapedAndCut) {
  Image keys;
  keys.header(0, 2)
      .kv_u32(std::string("\0\x01k\xff", 4), 1)
      .kv_u32(std::string("\0\x01k\xff", 4), 2);
  expect_parse_error(keys.bytes, "metadata key '\\x00\\x01k\\xff': duplicate key");
  Image tensors;
  const std::string name("t\n\0", 3);
  tensors.header(2, 0)
      .tensor_info(name, {8}, kF32, 0)
      .tensor_info(name, {8}, kF32, 32)
      .pad_to(32)
      .zeros(64);
  expect_parse_error(tensors.bytes, "tensor 't\\x0a\\x00': duplicate tensor name");
  EXPECT_EQ(quoted_text(""), "''");
  EXPECT_EQ(quoted_text(std::string(kQuotedTextBytes, 'a')),
            "'" + std::string(kQuotedTextBytes, 'a') + "'");
  EXPECT_EQ(quoted_text(std::string(kQuotedTextBytes + 1, 'a')),
            "'" + std::string(kQuotedTextBytes, 'a') + "...' (65 bytes)");
  EXPECT_EQ(quoted_text("caf\xc3\xa9 'x'"), "'caf\\xc3\\xa9 'x''");
}

TEST(GgufCorrupt, Alignment) {
  Image wrong_type;
  wrong_type.header(0, 1).str("general.alignment").u32(kUint64).u64(32);
  expect_parse_error(wrong_type.bytes, "general.alignment has type uint64, expected uint32");
  Image zero;
  zero.header(0, 1).kv_u32("general.alignment", 0);
  expect_parse_error(zero.bytes, "general.alignment = 0 is not a nonzero power of two");
  Image odd;
  odd.header(0, 1).kv_u32("general.alignment", 48);
  expect_parse_error(odd.bytes, "general.alignment = 48 is not a nonzero power of two");

  Image ok;
  ok.header(2, 1).kv_u32("general.alignment", 64);
  ok.tensor_info("a", {4}, kF32, 0).tensor_info("b", {4}, kF32, 64).pad_to(64).zeros(128);
  Result<File> f = File::parse(ok.bytes, "a64.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset(), 128u);
  EXPECT_EQ(f->find_tensor("b")->data, ok.bytes.data() + 192);

  Image misaligned;
  misaligned.header(1, 0).tensor_info("w", {8}, kF32, 16).pad_to(32).zeros(64);
  expect_parse_error(misaligned.bytes, "tensor 'w': data offset 16 is not a multiple of the alignment 32");
}

TEST(GgufCorrupt, TensorDims) {
  Image zero_dims;
  zero_dims.header(1, 0).str("w").u32(0).u32(kF32).u64(0).zeros(64);
  expect_parse_error(zero_dims.bytes, "tensor 'w': n_dims = 0 (must be 1..4)");
  Image five_dims;
  five_dims.header(1, 0).tensor_info("w", {1, 1, 1, 1, 1}, kF32, 0).zeros(64);
  expect_parse_error(five_dims.bytes, "tensor 'w': n_dims = 5 (must be 1..4)");
  Image zero_ne;
  zero_ne.header(1, 0).tensor_info("w", {8, 0}, kF32, 0).zeros(64);
  expect_parse_error(zero_ne.bytes, "tensor 'w': ne[1] = 0 (every dimension must be >= 1)");
  Image negative_ne;
  negative_ne.header(1, 0).tensor_info("w", {std::numeric_limits<uint64_t>::max()}, kF32, 0).zeros(64);
  expect_parse_error(negative_ne.bytes, "tensor 'w': ne[0] = 18446744073709551615 is out of range");
  Image overflow;
  overflow.header(1, 0).tensor_info("w", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0).zeros(64);
  expect_parse_error(overflow.bytes, "tensor 'w': element count overflows (shape [4294967296, 4294967296])");
  Image byte_overflow;
  byte_overflow.header(1, 0).tensor_info("w", {uint64_t{1} << 31, uint64_t{1} << 31}, kF32, 0).zeros(64);
  expect_parse_error(byte_overflow.bytes, "tensor 'w': byte size overflows");
}

TEST(GgufCorrupt, TensorTypes) {
  Image unknown;
  unknown.header(1, 0).tensor_info("w", {32}, 4, 0).zeros(64);  // 4 was Q4_2, removed from ggml
  expect_parse_error(unknown.bytes, "tensor 'w': unknown ggml type id 4");
  Image huge;
  huge.header(1, 0).tensor_info("w", {32}, 0xffffffff, 0).zeros(64);
  expect_parse_error(huge.bytes, "unknown ggml type id 4294967295");
  Image partial_block;
  partial_block.header(1, 0).tensor_info("w", {48, 2}, kQ8_0, 0).zeros(256);
  expect_parse_error(partial_block.bytes,
                     "tensor 'w': row length ne[0] = 48 is not a multiple of the q8_0 block size 32");
}

TEST(GgufCorrupt, TensorDataRange) {
  Image past_end;
  past_end.header(1, 0).tensor_info("blk.0.attn_q.weight", {64}, kF32, 0).pad_to(32).zeros(128);
  // header 24 + info (8+19+4+8+4+8 = 51) = 75 -> data section at 96; data at 96 .. 96+256.
  expect_parse_error(past_end.bytes,
                     "bad.gguf: tensor 'blk.0.attn_q.weight': data [offset 0, 256 bytes] from the data section at "
                     "byte 96 ends past the end of the file (224 bytes)");
  Image second_past_end;
  second_past_end.header(2, 0).tensor_info("a", {8}, kF32, 0).tensor_info("b", {16}, kF32, 32).pad_to(32).zeros(64);
  expect_parse_error(second_past_end.bytes,
                     "bad.gguf: tensor 'b': data [offset 32, 64 bytes] from the data section at byte 96 ends past "
                     "the end of the file (160 bytes)");
  Image no_data_section;
  no_data_section.header(1, 0).tensor_info("w", {8}, kF32, 0);
  expect_parse_error(no_data_section.bytes, "ends past the end of the file");

  // A tensor may end exactly at the end of the file (without the trailing padding).
  Image exact_end;
  exact_end.header(2, 0).tensor_info("a", {8}, kF32, 0).tensor_info("b", {4}, kF32, 32).pad_to(32).zeros(48);
  Result<File> f = File::parse(exact_end.bytes, "exact.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->find_tensor("b")->data, exact_end.bytes.data() + 96 + 32);
  EXPECT_EQ(f->find_tensor("b")->data + f->find_tensor("b")->n_bytes, exact_end.bytes.data() + exact_end.bytes.size());
}

// As llama.cpp's reader: tensor i's data starts at tensor i-1's end rounded up to the alignment.
TEST(GgufCorrupt, TensorDataLayout) {
  Image overlap;
  overlap.header(2, 0).tensor_info("a", {16}, kF32, 0).tensor_info("b", {8}, kF32, 0).pad_to(32).zeros(64);
  expect_parse_error(overlap.bytes,
                     "tensor 'b': data [offset 0, 32 bytes] overlaps the data of tensor 'a' [offset 0, 64 bytes]");
  Image overlap_first;  // the third tensor overlaps the first, not its predecessor
  overlap_first.header(3, 0)
      .tensor_info("a", {8}, kF32, 0)
      .tensor_info("b", {8}, kF32, 32)
      .tensor_info("c", {8}, kF32, 0)
      .pad_to(32)
      .zeros(96);
  expect_parse_error(overlap_first.bytes,
                     "tensor 'c': data [offset 0, 32 bytes] overlaps the data of tensor 'a' [offset 0, 32 bytes]");
  Image gap;
  gap.header(2, 0).tensor_info("a", {8}, kF32, 0).tensor_info("b", {8}, kF32, 64).pad_to(32).zeros(96);
  expect_parse_error(gap.bytes,
                     "tensor 'b': data offset 64 leaves a gap after the previous tensor's data: expected offset 32");
  Image first_not_at_zero;
  first_not_at_zero.header(1, 0).tensor_info("w", {8}, kF32, 32).pad_to(32).zeros(64);
  expect_parse_error(first_not_at_zero.bytes,
                     "tensor 'w': data offset 32 leaves a gap after the previous tensor's data: expected offset 0");
  Image huge_offset;
  huge_offset.header(1, 0).tensor_info("w", {8}, kF32, std::numeric_limits<uint64_t>::max() - 31).zeros(64);
  expect_parse_error(huge_offset.bytes, "tensor 'w': data offset 18446744073709551584 leaves a gap");
  // Padding after a tensor that does not fill its last alignment unit: the next starts aligned.
  Image padded;
  padded.header(2, 0).tensor_info("a", {3}, kF32, 0).tensor_info("b", {8}, kF32, 32).pad_to(32).zeros(64);
  Result<File> f = File::parse(padded.bytes, "padded.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->find_tensor("b")->data, padded.bytes.data() + 96 + 32);
}

TEST(GgufCorrupt, DuplicateTensorName) {
  Image im;
  im.header(2, 0).tensor_info("w", {8}, kF32, 0).tensor_info("w", {8}, kF32, 32).pad_to(32).zeros(64);
  expect_parse_error(im.bytes, "tensor 'w': duplicate tensor name");
}

TEST(GgufCorrupt, TensorNameLength) {
  const std::string longest(kMaxTensorNameBytes, 'n');
  Image ok;
  ok.header(1, 0).tensor_info(longest, {8}, kF32, 0).pad_to(32).zeros(32);
  Result<File> f = File::parse(ok.bytes, "ok.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_NE(f->find_tensor(longest), nullptr);
  Image too_long;
  too_long.header(1, 0).tensor_info(longest + "x", {8}, kF32, 0).pad_to(32).zeros(32);
  expect_parse_error(too_long.bytes, "tensor info #0: tensor name '" + longest + "x' of 64 bytes is longer than "
                                     "ggml's limit of 63");
}

TEST(GgufCorrupt, TruncatedInsideTensorInfo) {
  Image im;
  im.header(1, 0).str("weight_with_long_name").u32(4).u64(8).u64(8);
  expect_parse_error(im.bytes,
                     "tensor 'weight_with_long_name': file truncated: dimension at offset 73 needs 8 bytes but only 0 "
                     "remain");
}

// Truncating a real model anywhere before the end of its last tensor's data must fail; cutting
// only the trailing padding leaves a valid file.
void check_truncations(const std::string& relative, size_t every_byte_up_to, size_t samples) {
  const std::vector<uint8_t> bytes = test::read_bytes(::gengyun::testing::testdata_path(relative));
  Result<File> full = File::parse(bytes, relative);
  ASSERT_TRUE(full.ok()) << full.error().message;
  size_t needed = full->data_offset();
  for (const TensorInfo& t : full->tensors())
    needed = std::max<size_t>(needed, full->data_offset() + t.offset + t.n_bytes);
  auto check = [&](size_t cut) {
    Result<File> f = File::parse(std::span(bytes.data(), cut), relative);
    if (cut < needed) {
      EXPECT_FALSE(f.ok()) << relative << " cut at " << cut << " parsed";
      if (!f.ok()) {
        EXPECT_EQ(f.error().message.rfind(relative + ": ", 0), 0u) << f.error().message;
      }
    } else {
      EXPECT_TRUE(f.ok()) << relative << " cut at " << cut << ": " << f.error().message;
    }
  };
  for (size_t cut = 0; cut <= std::min(every_byte_up_to, bytes.size()); ++cut) check(cut);
  for (size_t i = 0; i <= samples; ++i) check(bytes.size() * i / samples);
  check(needed - 1);
  check(needed);
}

TEST(GgufCorrupt, TruncatedRealFiles) {
  REQUIRE_TESTDATA();
  // Every byte of the header region (metadata, tensor infos, padding) and into the first tensor.
  check_truncations("lora/qwen2-tiny-lora-b.gguf", 2048, 64);
  check_truncations("models/stories260K-f32.gguf", 14176 + 64, 64);
  for (const char* model : {"qwen2-tiny-q4_k_m", "qwen3-tiny-q8_0", "llama-tiny-q4_k_m", "qwen2-tiny-iq4_nl"})
    check_truncations(std::string("models/") + model + ".gguf", 0, 16);
}

// Overwriting any one header byte with 0xff must give an error or a consistent File.
TEST(GgufCorrupt, EveryHeaderByteFlipped) {
  REQUIRE_TESTDATA();
  std::vector<uint8_t> bytes = test::read_bytes(::gengyun::testing::testdata_path("lora/qwen2-tiny-lora-b.gguf"));
  ASSERT_EQ(bytes.size(), 62432u);
  size_t n_errors = 0;
  for (size_t i = 0; i < 992; ++i) {
    const uint8_t saved = bytes[i];
    bytes[i] = 0xff;
    Result<File> f = File::parse(bytes, "flipped.gguf");
    if (f.ok()) {
      for (const TensorInfo& t : f->tensors()) {
        EXPECT_GE(t.data, bytes.data());
        EXPECT_LE(t.data + t.n_bytes, bytes.data() + bytes.size());
      }
    } else {
      ++n_errors;
    }
    bytes[i] = saved;
  }
  // Flipping magic, version, counts, lengths, types and dims fails; flipping text may not.
  EXPECT_GT(n_errors, 200u);
}

TEST(GgufCorrupt, OpenErrors) {
  Result<File> missing = File::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "/nonexistent/dir/model.gguf: cannot open: No such file or directory");

  const std::string dir = test::temp_path("dir.gguf");
  std::filesystem::create_directories(dir);
  Result<File> directory = File::open(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().message, dir + ": is a directory, not a file");
  std::filesystem::remove(dir);

  // A FIFO would block a plain open() until some writer appears; it must be refused at once.
  const std::string fifo = test::temp_path("fifo.gguf");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Result<File> from_fifo = File::open(fifo);
  ASSERT_FALSE(from_fifo.ok());
  EXPECT_EQ(from_fifo.error().message, fifo + ": not a regular file");
  std::filesystem::remove(fifo);

  const std::string empty = test::temp_path("empty.gguf");
  std::ofstream(empty).close();
  Result<File> empty_file = File::open(empty);
  ASSERT_FALSE(empty_file.ok());
  EXPECT_EQ(empty_file.error().message, empty + ": empty file (0 bytes), not a GGUF file");
  std::filesystem::remove(empty);

  Result<File> device = File::open("/dev/null");
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.error().message, "/dev/null: not a regular file");
}

}  // namespace
}  // namespace gengyun::gguf
