// The store backends the platform suite runs against: every TEST_P over StoreBackendTest runs
// once per backend (SQLite now; PostgreSQL joins here, docs/platform.md).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "platform/store.h"
#include "temp_dir.h"

namespace gengyun::platform::testing {

/// A fresh, empty store of the backend named by the test parameter, reopenable (a restart).
class StoreBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  /// Opens (first call: creates) this test's database; fails the test and returns null on error.
  std::unique_ptr<Store> open() {
    auto store = Store::open(dir_.file("platform.db"));
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }
  /// The SQLite file (for checks behind the store's back).
  std::string sqlite_path() const { return dir_.file("platform.db"); }

  TempDir dir_;
};

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace gengyun::platform::testing
