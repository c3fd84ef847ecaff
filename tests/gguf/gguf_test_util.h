// Helpers for the GGUF tests: reading files whole, temporary paths, and a raw image builder
// for hand-made (often deliberately invalid) GGUF bytes that the Writer would refuse to make.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"

namespace gengyun::gguf::test {

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A fresh path under the test temp directory, unique per test and process (checkouts running
/// the same test at once do not meet); the file is not created.
inline std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return (std::filesystem::path(::testing::TempDir()) /
          (std::string(info->test_suite_name()) + "." + info->name() + "." +
           std::to_string(::getpid()) + "." + name))
      .string();
}

/// Parses `image` as "bad.gguf", expects an error whose message starts with the name and
/// contains `needle`, and returns the message.
inline std::string expect_parse_error(const std::vector<uint8_t>& image, std::string_view needle) {
  Result<File> r = File::parse(image, "bad.gguf");
  if (r.ok()) {
    ADD_FAILURE() << "parsed without error; expected an error containing \"" << needle << "\"";
    return {};
  }
  const std::string& msg = r.error().message;
  EXPECT_EQ(msg.rfind("bad.gguf: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected to contain: " << needle;
  return msg;
}

/// Little-endian GGUF fields appended one by one.
struct Image {
  std::vector<uint8_t> bytes;

  template <class T>
  Image& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  Image& u8(uint8_t v) { return put(v); }
  Image& u32(uint32_t v) { return put(v); }
  Image& u64(uint64_t v) { return put(v); }
  Image& str(std::string_view s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  /// Magic, version and the two counts.
  Image& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes.insert(bytes.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  /// A key with a uint32 value.
  Image& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  Image& tensor_info(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Image& pad_to(size_t alignment) {
    bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  Image& zeros(size_t n) {
    bytes.resize(bytes.size() + n, 0);
    return *this;
  }
};

}  // namespace gengyun::gguf::test
