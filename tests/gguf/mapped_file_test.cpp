// MappedFile in both memories: the same bytes, the same errors; the anonymous copy is 2 MiB
// aligned and read-only.
#include "gguf/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "testdata.h"

namespace gengyun::gguf {
namespace {

// The permissions /proc/self/maps shows for the mapping that holds `address` ("r--p"...).
std::string permissions_at(const void* address) {
  const auto at = reinterpret_cast<uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms;
    fields >> range >> perms;
    const size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (at >= begin && at < end) return perms;
  }
  return "";
}

// A mapped file truncated under its mapping: the read of a lost page ends the process with
// SIGBUS, as ever, but first stderr names the file and what to do (QA 2026-12-07: a served
// model's file truncated with --mmap killed the server with "Bus error" alone).
TEST(MappedFileDeathTest, ALostPageNamesItsFileBeforeTheProcessEnds) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gengyun-sigbus-" + std::to_string(getpid()) + ".bin"))
                               .string();
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(3 * 4096, 'w');
  }
  const auto read_lost_page = [&path] {
    Result<MappedFile> mapped = MappedFile::open(path, FileMemory::kMapped);
    if (!mapped.ok()) return;
    std::filesystem::resize_file(path, 0);
    volatile uint8_t sink = mapped->bytes()[2 * 4096];
    (void)sink;
  };
  EXPECT_EXIT(read_lost_page(), ::testing::KilledBySignal(SIGBUS),
              "gengyun: the model file '" + path +
                  "' lost bytes under its mapping \\(it was truncated or rewritten while mapped, "
                  "--mmap\\); replace a file in use by renaming a new one over it");
  std::filesystem::remove(path);
}

TEST(MappedFile, BothMemoriesHoldTheFileBytes) {
  // Past one 2 MiB page and not a multiple of the 4 KiB one.
  std::vector<uint8_t> bytes((size_t{3} << 20) + 5);
  std::mt19937 rng(7);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const std::string path = test::temp_path("bytes.bin");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));

  for (FileMemory memory : {FileMemory::kMapped, FileMemory::kAnonymous}) {
    Result<MappedFile> file = MappedFile::open(path, memory);
    ASSERT_TRUE(file.ok()) << file.error().message;
    const std::span<const uint8_t> got = file->bytes();
    ASSERT_EQ(got.size(), bytes.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), bytes.begin()));
    EXPECT_EQ(permissions_at(got.data()).substr(0, 3), "r--");
    if (memory == FileMemory::kAnonymous) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data()) % (size_t{2} << 20), 0u);
      // The last byte's page too: the mapping was rounded up, then made read-only whole.
      EXPECT_EQ(permissions_at(got.data() + got.size() - 1).substr(0, 3), "r--");
    }
    // Moving hands the mapping over; the moved-from object holds nothing.
    MappedFile moved = std::move(file.value());
    EXPECT_EQ(moved.bytes().data(), got.data());
    EXPECT_TRUE(file->bytes().empty());
  }
  std::filesystem::remove(path);
}

TEST(MappedFile, ReadingReportsEachChunkAndTheEnd) {
  // A sparse file of two 64 MiB chunks and 5 bytes more.
  constexpr uint64_t kChunk = uint64_t{64} << 20, kSize = 2 * kChunk + 5;
  const std::string path = test::temp_path("sparse.bin");
  std::ofstream(path, std::ios::binary).put('\0');
  std::filesystem::resize_file(path, kSize);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  const ReadProgress progress = [&](uint64_t read, uint64_t total) {
    calls.emplace_back(read, total);
  };
  ASSERT_TRUE(MappedFile::open(path, FileMemory::kAnonymous, progress).ok());
  EXPECT_EQ(calls, (std::vector<std::pair<uint64_t, uint64_t>>{
                       {kChunk, kSize}, {2 * kChunk, kSize}, {kSize, kSize}}));
  calls.clear();
  ASSERT_TRUE(MappedFile::open(path, FileMemory::kMapped, progress).ok());
  EXPECT_TRUE(calls.empty());  // a mapping reads nothing
  std::filesystem::remove(path);
}

TEST(MappedFile, EmptyFileGivesEmptyBytesInBothMemories) {
  const std::string path = test::temp_path("empty.bin");
  std::ofstream(path).close();
  for (FileMemory memory : {FileMemory::kMapped, FileMemory::kAnonymous}) {
    Result<MappedFile> file = MappedFile::open(path, memory);
    ASSERT_TRUE(file.ok()) << file.error().message;
    EXPECT_TRUE(file->bytes().empty());
  }
  std::filesystem::remove(path);
}

TEST(MappedFile, ErrorsAreTheSameInBothMemories) {
  const std::string dir = test::temp_path("dir");
  std::filesystem::create_directories(dir);
  const std::string fifo = test::temp_path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (FileMemory memory : {FileMemory::kMapped, FileMemory::kAnonymous}) {
    Result<MappedFile> missing = MappedFile::open("/nonexistent/model.gguf", memory);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().message,
              "/nonexistent/model.gguf: cannot open: No such file or directory");
    Result<MappedFile> directory = MappedFile::open(dir, memory);
    ASSERT_FALSE(directory.ok());
    EXPECT_EQ(directory.error().message, dir + ": is a directory, not a file");
    Result<MappedFile> from_fifo = MappedFile::open(fifo, memory);
    ASSERT_FALSE(from_fifo.ok());
    EXPECT_EQ(from_fifo.error().message, fifo + ": not a regular file");
  }
  std::filesystem::remove(dir);
  std::filesystem::remove(fifo);
}

TEST(MappedFile, RealModelParsesTheSameFromBothMemories) {
  REQUIRE_TESTDATA();
  const std::string path = ::gengyun::testing::testdata_path("models/qwen2-tiny-q4_k_m.gguf");
  Result<File> mapped = File::open(path, FileMemory::kMapped);
  Result<File> anonymous = File::open(path, FileMemory::kAnonymous);
  ASSERT_TRUE(mapped.ok()) << mapped.error().message;
  ASSERT_TRUE(anonymous.ok()) << anonymous.error().message;
  ASSERT_EQ(mapped->tensors().size(), anonymous->tensors().size());
  ASSERT_FALSE(mapped->tensors().empty());
  for (size_t i = 0; i < mapped->tensors().size(); ++i) {
    const TensorInfo& a = mapped->tensors()[i];
    const TensorInfo& b = anonymous->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    ASSERT_EQ(a.n_bytes, b.n_bytes);
    EXPECT_NE(a.data, b.data);
    EXPECT_TRUE(std::equal(a.data, a.data + a.n_bytes, b.data)) << a.name;
  }
}

// kPrefix reads the header, as far as it goes (the Qwen vocabulary's takes ~5.9 MB, past the
// first MiB read): the same metadata and tensor infos as the mapped file, the data past what was
// read zero (the model's last tensor ends 1.4 MB in), and no mapping of the file: truncated
// afterwards, every byte still reads (QA: a file rewritten while a rescan read its header through
// a mapping ended the server with SIGBUS).
TEST(MappedFile, APrefixReadHoldsTheHeaderAndZeroDataWithoutAMapping) {
  REQUIRE_TESTDATA();
  for (const char* name : {"models/qwen2-tiny-q4_k_m.gguf", "tokenizer/qwen-vocab.gguf"}) {
    SCOPED_TRACE(name);
    const std::string source = ::gengyun::testing::testdata_path(name);
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("gengyun-prefix-" + std::to_string(getpid()) + ".gguf"))
                                 .string();
    std::filesystem::copy_file(source, path, std::filesystem::copy_options::overwrite_existing);
    Result<File> mapped = File::open(source, FileMemory::kMapped);
    Result<File> prefix = File::open(path, FileMemory::kPrefix);
    ASSERT_TRUE(mapped.ok()) << mapped.error().message;
    ASSERT_TRUE(prefix.ok()) << prefix.error().message;
    std::filesystem::resize_file(path, 0);
    ASSERT_EQ(prefix->metadata().size(), mapped->metadata().size());
    for (size_t i = 0; i < mapped->metadata().size(); ++i)
      EXPECT_EQ(prefix->metadata()[i].first, mapped->metadata()[i].first);
    EXPECT_EQ(prefix->get_string("tokenizer.ggml.model"),
              mapped->get_string("tokenizer.ggml.model"));
    ASSERT_EQ(prefix->tensors().size(), mapped->tensors().size());
    const TensorInfo* last = nullptr;
    for (size_t i = 0; i < mapped->tensors().size(); ++i) {
      const TensorInfo& a = mapped->tensors()[i];
      const TensorInfo& b = prefix->tensors()[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.ne, b.ne);
      ASSERT_EQ(a.n_bytes, b.n_bytes);
      for (size_t k = 0; k < b.n_bytes; ++k) {  // each byte as read, or zero
        if (b.data[k] != a.data[k]) {
          ASSERT_EQ(b.data[k], 0) << a.name << " byte " << k;
        }
      }
      if (last == nullptr || b.offset > last->offset) last = &b;
    }
    if (last != nullptr) {
      ASSERT_GT(std::filesystem::file_size(source), size_t{1} << 20);
      const uint8_t* end = last->data + last->n_bytes;
      EXPECT_TRUE(std::all_of(end - 4096, end, [](uint8_t v) { return v == 0; })) << last->name;
    }
    std::filesystem::remove(path);
  }
}

// Without a prefix_need, kPrefix reads the first MiB alone.
TEST(MappedFile, APrefixReadWithoutANeedReadsTheFirstMiB) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gengyun-prefix-mib-" + std::to_string(getpid()) + ".bin"))
                               .string();
  const size_t mib = size_t{1} << 20;
  std::ofstream(path, std::ios::binary) << std::string(3 * mib, 'p');
  Result<MappedFile> prefix = MappedFile::open(path, FileMemory::kPrefix);
  std::filesystem::remove(path);
  ASSERT_TRUE(prefix.ok()) << prefix.error().message;
  const std::span<const uint8_t> bytes = prefix->bytes();
  ASSERT_EQ(bytes.size(), 3 * mib);
  EXPECT_TRUE(std::all_of(bytes.begin(), bytes.begin() + mib, [](uint8_t v) { return v == 'p'; }));
  EXPECT_TRUE(std::all_of(bytes.begin() + mib, bytes.end(), [](uint8_t v) { return v == 0; }));
}

// A header that claims more than kMaxHeaderBytes is refused before it is read that far.
TEST(MappedFile, APrefixReadRefusesAHeaderOverItsBound) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gengyun-prefix-bound-" + std::to_string(getpid()) + ".gguf"))
                               .string();
  {
    // GGUF v3, no tensors, one key whose name claims 1 GiB.
    std::string header("GGUF", 4);
    const auto u32 = [&header](uint32_t v) { header.append(reinterpret_cast<char*>(&v), 4); };
    const auto u64 = [&header](uint64_t v) { header.append(reinterpret_cast<char*>(&v), 8); };
    u32(3);
    u64(0);
    u64(1);
    u64(uint64_t{1} << 30);
    std::ofstream(path, std::ios::binary) << header << std::string(4096, 'k');
  }
  Result<File> file = File::open(path, FileMemory::kPrefix);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().message, path +
                                      ": its GGUF header takes at least 1073741856 bytes, more "
                                      "than the 268435456 a header may take");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace gengyun::gguf
