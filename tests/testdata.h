// Locating ../shared/testdata from tests. A test that needs reference data calls
// testdata_path() through REQUIRE_TESTDATA, which skips the test with a clear message
// when the folder is absent (never passes silently).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace gengyun::testing {

/// Absolute path of `relative` under ../shared/testdata (set at configure time).
inline std::string testdata_path(const std::string& relative) {
  return std::string(GENGYUN_TESTDATA_DIR) + "/" + relative;
}

inline bool testdata_present() { return std::filesystem::is_directory(GENGYUN_TESTDATA_DIR); }

}  // namespace gengyun::testing

/// Skips the current test when ../shared/testdata is missing.
#define REQUIRE_TESTDATA()                                                                   \
  do {                                                                                       \
    if (!::gengyun::testing::testdata_present())                                             \
      GTEST_SKIP() << "reference data not found at " GENGYUN_TESTDATA_DIR                     \
                   << " (clone the project beside ../shared)";                               \
  } while (0)
