// Helpers for the quantizer tests: temporary paths, whole-file reads and small hand-made models.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"

namespace gengyun::quantize_test {

/// A fresh path under the test temp directory, unique per test and process (checkouts running
/// the same test at once do not meet); the file is not created.
inline std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test_name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : test_name) {
    if (c == '/') c = '_';
  }
  return (std::filesystem::path(::testing::TempDir()) /
          (test_name + "." + std::to_string(::getpid()) + "." + name))
      .string();
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// One f32 tensor of a hand-made model.
struct F32Tensor {
  std::string name;
  std::vector<int64_t> ne;
  std::vector<float> values;  ///< ne[0] * ne[1] * ... values; filled by make_f32 when empty
};

/// A deterministic, non-trivial tensor of shape `ne`.
inline F32Tensor make_f32(std::string name, std::vector<int64_t> ne) {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  F32Tensor t{std::move(name), std::move(ne), {}};
  t.values.resize(static_cast<size_t>(n));
  uint32_t state = 12345;
  for (float& v : t.values) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int32_t>(state >> 8) - (1 << 23)) /
        static_cast<float>(1 << 23);
  }
  return t;
}

/// Writes a "llama" model of `n_layer` blocks (4 heads, 2 KV heads) holding `tensors` to
/// `path`; `with_metadata` false leaves out every key (a GGUF that is not a model).
inline void write_model(const std::string& path, const std::vector<F32Tensor>& tensors,
                        int n_layer = 1, bool with_metadata = true) {
  gguf::Writer w;
  if (with_metadata) {
    w.set_string("general.architecture", "llama");
    w.set_u32("general.file_type", 0);
    w.set_u32("llama.block_count", static_cast<uint32_t>(n_layer));
    w.set_u32("llama.attention.head_count", 4);
    w.set_u32("llama.attention.head_count_kv", 2);
  }
  for (const F32Tensor& t : tensors) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(t.values.data());
    ASSERT_TRUE(
        w.add_tensor(t.name, gguf::GgmlType::F32, t.ne, {bytes, t.values.size() * sizeof(float)})
            .ok());
  }
  const Result<void> written = w.write(path);
  ASSERT_TRUE(written.ok()) << written.error().message;
}

}  // namespace gengyun::quantize_test
