// The GGUF writer: exact round trips through the reader, byte-identical rewrites of the
// reference files, and its refusals of values and tensors a reader would reject.
#include "gguf/gguf_writer.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "testdata.h"

namespace gengyun::gguf {
namespace {

Value val(ValueType type, decltype(Value::data) data) {
  Value v;
  v.type = type;
  v.data = std::move(data);
  return v;
}

Array arr(ValueType elem_type, std::vector<Value> items) {
  Array a;
  a.elem_type = elem_type;
  a.items = std::move(items);
  return a;
}

// Bytes that differ at every position, so a misplaced tensor cannot go unnoticed.
std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// Every value type at its edges, nested arrays included.
void add_every_value_type(Writer& w) {
  using L8 = std::numeric_limits<int8_t>;
  using L16 = std::numeric_limits<int16_t>;
  using L32 = std::numeric_limits<int32_t>;
  using L64 = std::numeric_limits<int64_t>;
  w.set_u8("t.u8", 255);
  w.set_i8("t.i8", L8::min());
  w.set_u16("t.u16", 65535);
  w.set_i16("t.i16", L16::min());
  w.set_u32("t.u32", 4294967295u);
  w.set_i32("t.i32", L32::min());
  w.set_u64("t.u64", std::numeric_limits<uint64_t>::max());
  w.set_i64("t.i64", L64::min());
  w.set_f32("t.f32", -1.5e-7f);
  w.set_f64("t.f64", 3.141592653589793);
  w.set_f32("t.f32_nan", std::bit_cast<float>(0x7fc00123u));
  w.set_f32("t.f32_neg_zero", -0.0f);
  w.set_f64("t.f64_inf", -std::numeric_limits<double>::infinity());
  w.set_bool("t.true", true);
  w.set_bool("t.false", false);
  w.set_string("t.string", "h\xc3\xa9llo, \xe4\xb8\x96\xe7\x95\x8c");
  w.set_string("t.empty_string", "");
  w.set_string("t.nul_inside", std::string("a\0b", 3));
  const std::vector<std::string> strings = {"<|im_start|>", "", "\xc4\xa0the"};
  w.set_strings("t.strings", strings);
  const std::vector<int32_t> ints = {L32::min(), -1, 0, 1, L32::max()};
  w.set_i32s("t.i32s", ints);
  const std::vector<float> floats = {0.0f, -252.0f, 1e30f};
  w.set_f32s("t.f32s", floats);
  w.set_array("t.empty_array", arr(ValueType::UINT64, {}));
  w.set_array("t.bools", arr(ValueType::BOOL, {val(ValueType::BOOL, true), val(ValueType::BOOL, false)}));
  w.set_array("t.u8s",
              arr(ValueType::UINT8, {val(ValueType::UINT8, uint64_t{0}), val(ValueType::UINT8, uint64_t{255})}));
  w.set_array("t.i8s", arr(ValueType::INT8, {val(ValueType::INT8, int64_t{-128})}));
  w.set_array("t.u16s", arr(ValueType::UINT16, {val(ValueType::UINT16, uint64_t{65535})}));
  w.set_array("t.i16s", arr(ValueType::INT16, {val(ValueType::INT16, int64_t{-32768})}));
  w.set_array("t.u32s", arr(ValueType::UINT32, {val(ValueType::UINT32, uint64_t{7})}));
  w.set_array("t.u64s", arr(ValueType::UINT64, {val(ValueType::UINT64, ~uint64_t{0})}));
  w.set_array("t.i64s", arr(ValueType::INT64, {val(ValueType::INT64, L64::max())}));
  w.set_array("t.f64s", arr(ValueType::FLOAT64, {val(ValueType::FLOAT64, 1e-300)}));
  // [[1, 2], [], [3]] of int32, and an array of arrays of strings.
  w.set_array("t.nested",
              arr(ValueType::ARRAY,
                  {val(ValueType::ARRAY, arr(ValueType::INT32, {val(ValueType::INT32, int64_t{1}),
                                                                 val(ValueType::INT32, int64_t{2})})),
                   val(ValueType::ARRAY, arr(ValueType::INT32, {})),
                   val(ValueType::ARRAY, arr(ValueType::INT32, {val(ValueType::INT32, int64_t{3})}))}));
  w.set_array("t.nested_strings",
              arr(ValueType::ARRAY, {val(ValueType::ARRAY, arr(ValueType::STRING,
                                                                {val(ValueType::STRING, std::string("x"))}))}));
}

struct TestTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> bytes;
};

std::vector<TestTensor> test_tensors() {
  std::vector<TestTensor> ts = {
      {"token_embd.weight", GgmlType::Q4_K, {256, 3}, {}},
      {"blk.0.attn_norm.weight", GgmlType::F32, {5}, {}},
      {"blk.0.attn_q.weight", GgmlType::Q8_0, {64, 2, 1}, {}},
      {"blk.0.ffn_up.weight", GgmlType::BF16, {3, 1, 2, 2}, {}},
      {"blk.0.attn_k.weight", GgmlType::IQ4_NL, {32}, {}},
      {"i8", GgmlType::I8, {1}, {}},
  };
  uint32_t seed = 1;
  for (auto& t : ts) {
    size_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
    t.bytes = pattern(ggml_row_size(t.type, t.ne[0]) * rows, seed++);
  }
  return ts;
}

void expect_same_tensors(const File& f, const std::vector<TestTensor>& expected, size_t alignment) {
  ASSERT_EQ(f.tensors().size(), expected.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    SCOPED_TRACE(expected[i].name);
    EXPECT_EQ(t.name, expected[i].name);
    EXPECT_EQ(t.type, expected[i].type);
    EXPECT_EQ(t.ne, expected[i].ne);
    EXPECT_EQ(t.offset, offset);
    ASSERT_EQ(t.n_bytes, expected[i].bytes.size());
    EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.n_bytes), expected[i].bytes);
    offset = (offset + t.n_bytes + alignment - 1) / alignment * alignment;
  }
  EXPECT_EQ(f.size(), f.data_offset() + offset);
}

TEST(GgufWriter, RoundTripEveryValueTypeAndTensors) {
  Writer w;
  add_every_value_type(w);
  const std::vector<TestTensor> tensors = test_tensors();
  for (const auto& t : tensors) ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne, t.bytes).ok());

  Result<std::vector<uint8_t>> bytes = w.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  Result<File> f = File::parse(bytes.value(), "roundtrip.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  ASSERT_EQ(f->metadata().size(), w.metadata().size());
  for (size_t i = 0; i < w.metadata().size(); ++i) {
    SCOPED_TRACE(w.metadata()[i].first);
    EXPECT_EQ(f->metadata()[i].first, w.metadata()[i].first);
    EXPECT_TRUE(f->metadata()[i].second == w.metadata()[i].second);
  }
  expect_same_tensors(*f, tensors, 32);

  // Spot checks of decoded values, independent of operator==.
  EXPECT_EQ(f->get_int("t.u8"), 255);
  EXPECT_EQ(f->get_int("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->find("t.u64")->data, decltype(Value::data)(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(f->get_int("t.u64"), std::nullopt);
  EXPECT_EQ(f->get_float("t.f32"), static_cast<double>(-1.5e-7f));
  EXPECT_EQ(std::bit_cast<uint32_t>(static_cast<float>(*f->get_float("t.f32_nan"))), 0x7fc00123u);
  EXPECT_TRUE(std::signbit(*f->get_float("t.f32_neg_zero")));
  EXPECT_EQ(f->get_bool("t.true"), true);
  EXPECT_EQ(f->get_string("t.nul_inside"), std::string("a\0b", 3));
  EXPECT_EQ(*f->get_array("t.strings")->items[2].as_string(), "\xc4\xa0the");
  EXPECT_EQ(f->get_array("t.i32s")->items[0].as_int(), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(f->get_array("t.nested")->items[2].as_array()->items[0].as_int(), 3);
  EXPECT_TRUE(f->get_array("t.nested")->items[1].as_array()->items.empty());
}

TEST(GgufWriter, ValueEqualityIsExact) {
  EXPECT_TRUE(val(ValueType::FLOAT32, std::nan("")) == val(ValueType::FLOAT32, std::nan("")));
  EXPECT_FALSE(val(ValueType::FLOAT32, 0.0) == val(ValueType::FLOAT32, -0.0));
  EXPECT_FALSE(val(ValueType::UINT8, uint64_t{1}) == val(ValueType::UINT16, uint64_t{1}));
  EXPECT_FALSE(val(ValueType::INT32, int64_t{1}) == val(ValueType::INT32, int64_t{2}));
  EXPECT_FALSE(arr(ValueType::INT32, {}) == arr(ValueType::UINT32, {}));
  EXPECT_TRUE(arr(ValueType::STRING, {val(ValueType::STRING, std::string("a"))}) ==
              arr(ValueType::STRING, {val(ValueType::STRING, std::string("a"))}));
}

TEST(GgufWriter, HonoursGeneralAlignment) {
  Writer w;
  w.set_string("general.architecture", "test");
  w.set_u32("general.alignment", 256);
  const std::vector<TestTensor> tensors = test_tensors();
  for (const auto& t : tensors) ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne, t.bytes).ok());
  Result<std::vector<uint8_t>> bytes = w.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  Result<File> f = File::parse(bytes.value(), "a256.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(f->data_offset(), 512u);
  expect_same_tensors(*f, tensors, 256);
}

TEST(GgufWriter, SetReplacesInPlace) {
  Writer w;
  w.set_u32("a", 1);
  w.set_string("b", "x");
  w.set_f32("a", 2.5f);
  ASSERT_EQ(w.metadata().size(), 2u);
  EXPECT_EQ(w.metadata()[0].first, "a");
  EXPECT_EQ(w.metadata()[0].second.type, ValueType::FLOAT32);
  EXPECT_EQ(w.find("a")->as_double(), 2.5);
  EXPECT_EQ(w.find("c"), nullptr);
}

TEST(GgufWriter, TensorSourceProducesData) {
  Writer w;
  const std::vector<uint8_t> expected = pattern(34 * 4, 9);
  ASSERT_TRUE(w.add_tensor("q", GgmlType::Q8_0, {64, 2}, [&](std::span<uint8_t> out) -> Result<void> {
                 if (out.size() != expected.size()) return make_error("wrong size");
                 std::copy(expected.begin(), expected.end(), out.begin());
                 return {};
               }).ok());
  Result<std::vector<uint8_t>> bytes = w.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  Result<File> f = File::parse(bytes.value(), "src.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  expect_same_tensors(*f, {{"q", GgmlType::Q8_0, {64, 2}, expected}}, 32);

  Writer failing;
  ASSERT_TRUE(failing.add_tensor("bad", GgmlType::F32, {4}, [](std::span<uint8_t>) -> Result<void> {
                       return make_error("quantization failed");
                     }).ok());
  Result<std::vector<uint8_t>> r = failing.serialize();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "tensor 'bad': quantization failed");
  EXPECT_FALSE(failing.add_tensor("null", GgmlType::F32, {4}, Writer::TensorSource{}).ok());
}

TEST(GgufWriter, RejectsBadTensors) {
  Writer w;
  const std::vector<uint8_t> data(64);
  ASSERT_TRUE(w.add_tensor("w", GgmlType::F32, {16}, data).ok());
  Result<void> dup = w.add_tensor("w", GgmlType::F32, {16}, data);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "tensor 'w': duplicate tensor name");
  Result<void> size = w.add_tensor("x", GgmlType::F32, {8}, data);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.error().message, "tensor 'x': 64 bytes given, but shape [8] of f32 takes 32");
  Result<void> block = w.add_tensor("y", GgmlType::Q4_K, {128}, data);
  ASSERT_FALSE(block.ok());
  EXPECT_EQ(block.error().message, "tensor 'y': row length ne[0] = 128 is not a multiple of the q4_K block size 256");
  Result<void> dims = w.add_tensor("z", GgmlType::F32, {1, 1, 1, 1, 16}, data);
  ASSERT_FALSE(dims.ok());
  EXPECT_EQ(dims.error().message, "tensor 'z': 5 dimensions (must be 1..4)");
  Result<void> zero = w.add_tensor("z", GgmlType::F32, {16, 0}, data);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message, "tensor 'z': ne[1] = 0 (every dimension must be >= 1)");
  Result<void> type = w.add_tensor("t", static_cast<GgmlType>(5), {16}, data);
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.error().message, "tensor 't': unknown ggml type id 5");
  Result<void> long_name = w.add_tensor(std::string(64, 'n'), GgmlType::F32, {16}, data);
  ASSERT_FALSE(long_name.ok());
  EXPECT_EQ(long_name.error().message,
            "tensor '" + std::string(64, 'n') + "': name of 64 bytes is longer than ggml's limit of 63");
  ASSERT_TRUE(w.add_tensor(std::string(63, 'n'), GgmlType::F32, {16}, data).ok());
  EXPECT_EQ(w.serialize().value().size(), 160u + 64 + 64);  // infos 24 + 33 + 95, padded to 160
}

std::string serialize_error(const Writer& w) {
  Result<std::vector<uint8_t>> r = w.serialize();
  return r.ok() ? "(no error)" : r.error().message;
}

TEST(GgufWriter, RejectsBadValues) {
  {
    Writer w;
    w.set("k", val(ValueType::UINT8, uint64_t{300}));
    EXPECT_EQ(serialize_error(w), "metadata key 'k': value 300 is out of range for uint8");
  }
  {
    Writer w;
    w.set("k", val(ValueType::UINT32, int64_t{-1}));
    EXPECT_EQ(serialize_error(w), "metadata key 'k': value -1 is out of range for uint32");
  }
  {
    Writer w;
    w.set("k", val(ValueType::INT16, std::string("x")));
    EXPECT_EQ(serialize_error(w), "metadata key 'k': value of type int16 holds a string");
  }
  {
    Writer w;
    w.set("k", val(ValueType::STRING, 1.0));
    EXPECT_EQ(serialize_error(w), "metadata key 'k': value of type string holds a float");
  }
  {
    Writer w;
    w.set_array("k", arr(ValueType::INT32, {val(ValueType::INT32, int64_t{1}), val(ValueType::UINT32, uint64_t{2})}));
    EXPECT_EQ(serialize_error(w), "metadata key 'k'[1]: has type uint32, but the array's element type is int32");
  }
  {
    Writer w;
    w.set("k", val(static_cast<ValueType>(13), uint64_t{1}));
    EXPECT_EQ(serialize_error(w), "metadata key 'k': unknown value type 13");
  }
  {
    Value v = val(ValueType::UINT8, uint64_t{1});
    for (int i = 0; i < kMaxArrayDepth; ++i) v = val(ValueType::ARRAY, arr(v.type, {v}));
    Writer ok;
    ok.set("k", v);
    EXPECT_EQ(serialize_error(ok).substr(0, 10), std::string("(no error)"));
    Writer deep;
    deep.set("k", val(ValueType::ARRAY, arr(ValueType::ARRAY, {v})));
    EXPECT_EQ(serialize_error(deep), "metadata key 'k'[0][0][0][0][0][0][0][0]: arrays nested more than 8 levels deep");
  }
  {
    Writer w;
    w.set_u32("", 1);
    EXPECT_EQ(serialize_error(w), "an empty metadata key (every key needs a name)");
  }
  {
    Writer w;
    w.set_u64("general.alignment", 32);
    EXPECT_EQ(serialize_error(w), "general.alignment has type uint64, expected uint32");
    w.set_u32("general.alignment", 48);
    EXPECT_EQ(serialize_error(w), "general.alignment = 48 is not a uint32 nonzero power of two");
    w.set_u32("general.alignment", 0);
    EXPECT_EQ(serialize_error(w), "general.alignment = 0 is not a uint32 nonzero power of two");
  }
}

TEST(GgufWriter, WritesFileAtomically) {
  Writer w;
  add_every_value_type(w);
  const std::vector<TestTensor> tensors = test_tensors();
  for (const auto& t : tensors) ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne, t.bytes).ok());
  const std::string path = test::temp_path("out.gguf");
  Result<void> written = w.write(path);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(test::read_bytes(path), w.serialize().value());
  Result<File> f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  expect_same_tensors(*f, tensors, 32);
  std::filesystem::remove(path);

  Result<void> no_dir = w.write("/nonexistent/dir/out.gguf");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.error().message,
            "/nonexistent/dir/out.gguf: cannot create /nonexistent/dir/out.gguf.tmp: No such file "
            "or directory");

  Writer failing;
  ASSERT_TRUE(failing.add_tensor("bad", GgmlType::F32, {4}, [](std::span<uint8_t>) -> Result<void> {
                       return make_error("out of memory");
                     }).ok());
  const std::string failed_path = test::temp_path("failed.gguf");
  Result<void> failed = failing.write(failed_path);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, failed_path + ": tensor 'bad': out of memory");
  EXPECT_FALSE(std::filesystem::exists(failed_path));
  EXPECT_FALSE(std::filesystem::exists(failed_path + ".tmp"));
}

// A writer of one F32 tensor whose source counts the times its bytes are asked for.
struct CountingWriter {
  Writer writer;
  int produced = 0;
  CountingWriter() {
    auto count = [this](std::span<uint8_t>) -> Result<void> {
      ++produced;
      return {};
    };
    EXPECT_TRUE(writer.add_tensor("t", GgmlType::F32, {4}, count).ok());
  }
};

// A folder or an empty path is refused before any tensor is produced, and nothing is created.
TEST(GgufWriter, RefusesAFolderOrNoPathBeforeProducingTensors) {
  CountingWriter counting;
  const Writer& w = counting.writer;
  const int& produced = counting.produced;
  const std::string dir = test::temp_path("folder");
  std::filesystem::create_directory(dir);
  Result<void> to_folder = w.write(dir);
  ASSERT_FALSE(to_folder.ok());
  EXPECT_EQ(to_folder.error().message, dir + ": is a folder; give a file path");
  EXPECT_FALSE(std::filesystem::exists(dir + ".tmp"));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  Result<void> no_path = w.write("");
  ASSERT_FALSE(no_path.ok());
  EXPECT_EQ(no_path.error().message, "no output path given");
  EXPECT_FALSE(std::filesystem::exists(".tmp"));
  EXPECT_EQ(produced, 0);
  std::filesystem::remove(dir);
}

// An existing output that is not a regular file (here a FIFO, and a symlink to it; a device
// such as /dev/null alike) is refused before any tensor is produced: the rename would replace it.
TEST(GgufWriter, RefusesAnOutputThatIsNotARegularFile) {
  CountingWriter counting;
  const Writer& w = counting.writer;
  const int& produced = counting.produced;
  const std::string fifo = test::temp_path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string link = test::temp_path("link-to-fifo");
  std::filesystem::create_symlink(fifo, link);
  for (const std::string& out : {fifo, link}) {
    Result<void> r = w.write(out);
    ASSERT_FALSE(r.ok()) << out;
    EXPECT_EQ(r.error().message,
              out + ": is not a regular file (a device, FIFO or socket); give a file path");
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  }
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(produced, 0);
  std::filesystem::remove(link);
  std::filesystem::remove(fifo);
}

// A second writer of the same output, while the first holds OUT.tmp (locked), is refused and
// leaves the first's bytes alone; a temporary nobody holds (left by a killed run) is taken over.
// A temporary that is a FIFO (opening it would block) or a symlink is refused.
TEST(GgufWriter, ASecondWriterOfTheSameOutputIsRefused) {
  CountingWriter counting;
  const std::string out = test::temp_path("shared.gguf");
  const std::string tmp = out + ".tmp";
  std::ofstream(tmp) << "the first writer's bytes";
  const int held = ::open(tmp.c_str(), O_WRONLY);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);
  Result<void> second = counting.writer.write(out);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, out + ": another process is writing it (" + tmp +
                                        " is locked); wait for it or write elsewhere");
  EXPECT_EQ(test::read_bytes(tmp).size(), std::string("the first writer's bytes").size());
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(counting.produced, 0);
  ::close(held);
  ASSERT_TRUE(counting.writer.write(out).ok());
  EXPECT_EQ(counting.produced, 1);
  EXPECT_FALSE(std::filesystem::exists(tmp));
  std::filesystem::remove(out);

  ASSERT_EQ(::mkfifo(tmp.c_str(), 0600), 0);
  Result<void> fifo = counting.writer.write(out);
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.error().message,
            out + ": cannot create " + tmp + ": it exists and is not a regular file");
  std::filesystem::remove(tmp);
  const std::string elsewhere = test::temp_path("elsewhere");
  std::ofstream(elsewhere) << "not to be truncated";
  std::filesystem::create_symlink(elsewhere, tmp);
  Result<void> link = counting.writer.write(out);
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.error().message,
            out + ": cannot create " + tmp + ": it exists and is not a regular file");
  EXPECT_EQ(test::read_bytes(elsewhere).size(), std::string("not to be truncated").size());
  EXPECT_EQ(counting.produced, 1);
  for (const std::string& p : {tmp, elsewhere}) std::filesystem::remove(p);
}

// overwrites: the same file by path, through a hard link or a symlink, or as the temporary.
TEST(GgufWriter, OverwritesTellsWhenAWriteWouldDestroyAnInput) {
  const std::string input = test::temp_path("input.gguf");
  std::ofstream(input) << "x";
  const std::string hard = test::temp_path("hard.gguf"), soft = test::temp_path("soft.gguf");
  std::filesystem::create_hard_link(input, hard);
  std::filesystem::create_symlink(input, soft);
  const std::string as_tmp = test::temp_path("as-tmp.gguf");
  std::filesystem::create_hard_link(input, as_tmp + ".tmp");
  EXPECT_TRUE(overwrites(input, input));
  EXPECT_TRUE(overwrites(input, hard));
  EXPECT_TRUE(overwrites(input, soft));
  EXPECT_TRUE(overwrites(input, as_tmp));
  EXPECT_FALSE(overwrites(input, test::temp_path("other.gguf")));
  EXPECT_FALSE(overwrites(test::temp_path("missing.gguf"), test::temp_path("missing.gguf")));
  for (const std::string& p : {input, hard, soft, as_tmp + ".tmp"}) std::filesystem::remove(p);
}

// Copying a reference file key by key and tensor by tensor reproduces it byte for byte. The
// one exception is a file without tensors that its writer left unpadded after the metadata
// (llama-spm-vocab.gguf): ours pads the data section like llama.cpp's C writer does.
TEST(GgufWriter, RewritesEveryReferenceFileByteForByte) {
  REQUIRE_TESTDATA();
  std::vector<std::string> files;
  for (const char* dir : {"models", "tokenizer", "lora"})
    for (const auto& e : std::filesystem::directory_iterator(::gengyun::testing::testdata_path(dir)))
      if (e.path().extension() == ".gguf") files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 29u);  // 25 models, 2 vocabularies, 2 LoRA adapters
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    Result<File> in = File::open(path);
    ASSERT_TRUE(in.ok()) << in.error().message;
    Writer w;
    for (const auto& [key, value] : in->metadata()) w.set(key, value);
    for (const TensorInfo& t : in->tensors())
      ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
    Result<std::vector<uint8_t>> out = w.serialize();
    ASSERT_TRUE(out.ok()) << out.error().message;
    const std::vector<uint8_t> original = test::read_bytes(path);
    if (in->tensors().empty() && original.size() < in->data_offset()) {
      ASSERT_EQ(out->size(), in->data_offset());
      EXPECT_TRUE(std::equal(original.begin(), original.end(), out->begin()));
      EXPECT_TRUE(std::all_of(out->begin() + original.size(), out->end(), [](uint8_t b) { return b == 0; }));
    } else {
      EXPECT_TRUE(out.value() == original) << "rewrite differs (" << out->size() << " vs " << original.size()
                                           << " bytes)";
    }
  }
}

}  // namespace
}  // namespace gengyun::gguf
