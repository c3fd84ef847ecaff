// gengyun serve through the official openai npm SDK: every tests/sdk/*.test.mjs runs as its own
// test (`node --test FILE`) against one server started for the suite (tests/sdk/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;
const std::filesystem::path kSdkDir = std::filesystem::path(GENGYUN_SOURCE_DIR) / "tests/sdk";

/// The SDK test files, sorted by name.
std::vector<std::string> sdk_test_files() {
  std::vector<std::string> files;
  if (std::filesystem::is_directory(kSdkDir))
    for (const auto& entry : std::filesystem::directory_iterator(kSdkDir)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 9 && name.ends_with(".test.mjs")) files.push_back(name);
    }
  std::sort(files.begin(), files.end());
  return files;
}

/// Why the SDK cannot run here (no node, SDK not installed), or empty when it can.
std::string sdk_missing() {
  if (run_process({"/usr/bin/env", "node", "--version"}).exit_code != 0)
    return "node is not installed (scripts/setup.sh installs it)";
  if (!std::filesystem::exists(kSdkDir / "node_modules/openai/package.json"))
    return "the openai SDK is not installed in tests/sdk/node_modules (scripts/setup.sh runs "
           "npm ci there)";
  return "";
}

class SdkTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!testing::testdata_present() || !sdk_missing().empty()) return;
    std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-sdk-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    const std::string db = (dir_ / "gengyun.db").string();
    const auto key = run_process({kBinary, "keys", "create", "--db", db, "--name", "sdk"});
    ASSERT_EQ(key.exit_code, 0) << key.err;
    key_ = key.out.substr(0, key.out.find('\n'));
    port_ = free_port();
    ASSERT_GT(port_, 0);
    server_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{
        kBinary, "serve", "--model",
        "qwen2-tiny=" + testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), "--model",
        "qwen3-embed-tiny=" + testing::testdata_path("models/qwen3-embed-tiny-f32.gguf"),
        "--listen",
        "127.0.0.1:" + std::to_string(port_), "--db", db, "--threads", "1"});
    ASSERT_TRUE(wait_for_health(*server_, port_))
        << "gengyun serve did not start: " << server_->err();
  }
  static void TearDownTestSuite() {
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static std::filesystem::path dir_;
  static std::string key_;
  static int port_;
  static std::unique_ptr<BackgroundProcess> server_;
};

std::filesystem::path SdkTest::dir_;
std::string SdkTest::key_;
int SdkTest::port_ = 0;
std::unique_ptr<BackgroundProcess> SdkTest::server_;

TEST_P(SdkTest, PassesThroughTheOpenaiSdk) {
  REQUIRE_TESTDATA();
  if (const std::string missing = sdk_missing(); !missing.empty()) {
    if (testing::running_in_ci()) FAIL() << missing;
    GTEST_SKIP() << missing;
  }
  ASSERT_TRUE(server_ && server_->running()) << "gengyun serve is not running";
  const auto out = run_process({"/usr/bin/env",
                                "OPENAI_BASE_URL=http://127.0.0.1:" + std::to_string(port_) + "/v1",
                                "OPENAI_API_KEY=" + key_, "GENGYUN_MODEL=qwen2-tiny",
                                "GENGYUN_EMBEDDING_MODEL=qwen3-embed-tiny",
                                "GENGYUN_EMBEDDING_REFERENCE=" +
                                    testing::testdata_path("embeddings/qwen3-embed-tiny-f32.json"),
                                "node",
                                "--test", (kSdkDir / GetParam()).string()});
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err << "\nserver log:\n" << server_->err();
}

INSTANTIATE_TEST_SUITE_P(Files, SdkTest, ::testing::ValuesIn(sdk_test_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id = info.param.substr(0, info.param.size() - 9);
                           for (char& c : id)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return id;
                         });

}  // namespace
}  // namespace gengyun::e2e
