// Locating ../shared/testdata from tests. A test that needs reference data calls
// testdata_path() through REQUIRE_TESTDATA, which skips the test with a clear message
// when the folder is absent (never passes silently).
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace gengyun::testing {

/// Absolute path of `relative` under ../shared/testdata (set at configure time).
inline std::string testdata_path(const std::string& relative) {
  return std::string(GENGYUN_TESTDATA_DIR) + "/" + relative;
}

inline bool testdata_present() { return std::filesystem::is_directory(GENGYUN_TESTDATA_DIR); }

/// FNV-1a 64 as the generator of testdata/dequant/*.json computed `fnv1a64_f32`: prime
/// 0x100000001b3, but offset basis 1469598103934665603 (0x14650fb0739d0383), the standard
/// 14695981039346656037 (0xcbf29ce484222325) with its last decimal digit dropped, not the value
/// testdata/README.md states. With this basis every tensor of every file matches.
inline uint64_t testdata_fnv1a64(const void* data, size_t n_bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n_bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/// A GoogleTest parameter name for a model file name: "qwen2-tiny-q8_0.gguf" -> "qwen2_tiny_q8_0".
inline std::string model_param_name(const std::string& file) {
  std::string id = file.substr(0, file.size() - 5);
  for (char& c : id)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return id;
}

/// True under CI (the environment variable CI is "true"), where missing reference data is a
/// failure, not a reason to skip.
inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace gengyun::testing

/// Skips the current test when ../shared/testdata is missing; fails it instead under CI=true,
/// so that a CI run without the data cannot pass by skipping.
#define REQUIRE_TESTDATA()                                                                   \
  do {                                                                                       \
    if (!::gengyun::testing::testdata_present()) {                                           \
      if (::gengyun::testing::running_in_ci())                                               \
        FAIL() << "reference data not found at " GENGYUN_TESTDATA_DIR                         \
               << " and CI=true: CI must run with ../shared beside the clone";               \
      GTEST_SKIP() << "reference data not found at " GENGYUN_TESTDATA_DIR                     \
                   << " (clone the project beside ../shared)";                               \
    }                                                                                        \
  } while (0)
