// The text files the command line names (--file, --template, --conversation, --json-schema,
// --prices) are read up to a bound of their kind: a larger file, or a device without end such as
// /dev/zero, is refused naming the flag, the file and the bound (QA 2026-12-08: they were read
// whole, to std::bad_alloc and exit 134 under a memory limit, 4.2 GB without one); and memory
// that runs out all the same ends as "error: out of memory", exit 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;
constexpr size_t kMiB = size_t{1} << 20;

class InputFileBoundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gengyun-bound-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// A file of `size` zero bytes (sparse: written at once whatever its size).
  std::string zeros(const std::string& name, size_t size) {
    const std::string path = (dir_ / name).string();
    std::ofstream{path};
    std::filesystem::resize_file(path, size);
    return path;
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(InputFileBoundTest, EachFlagRefusesAFileOverItsBoundNamingFlagFileAndBound) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::string embed_model = testing::testdata_path("models/qwen3-embed-tiny-f32.gguf");
  const std::string conversation = write("c.json", R"({"messages": []})");
  const std::string db = (dir_ / "usage.db").string();
  struct Case {
    std::vector<std::string> args;  ///< before the file, which comes last
    size_t bound;
    std::string message;  ///< after "error: FLAG FILE: more than N MiB; "
  };
  const std::vector<Case> cases = {
      {{"tokenize", model, "--file"}, 16 * kMiB, "a text file may hold at most 16 MiB"},
      {{"embed", embed_model, "--file"}, 16 * kMiB, "a text file may hold at most 16 MiB"},
      {{"render-chat", "--conversation", conversation, "--template"},
       kMiB,
       "a chat template file may hold at most 1 MiB"},
      {{"render-chat", model, "--conversation"},
       16 * kMiB,
       "a conversation file may hold at most 16 MiB"},
      {{"run", model, "-p", "hi", "--json-schema"},
       4 * kMiB,
       "a JSON schema file (as a request to serve) may hold at most 4 MiB"},
      {{"serve", "--db", db, "--model", "q=" + model, "--prices"},
       kMiB,
       "a price file may hold at most 1 MiB"},
  };
  for (const Case& c : cases) {
    const std::string flag = c.args.back();
    const std::string bound = std::to_string(c.bound / kMiB) + " MiB";
    for (const std::string& file : {std::string("/dev/zero"), zeros("over", c.bound + 1)}) {
      std::vector<std::string> argv = {kBinary};
      argv.insert(argv.end(), c.args.begin(), c.args.end());
      argv.push_back(file);
      const ProcessOutput out = run_process(argv);
      EXPECT_EQ(out.exit_code, 1) << flag << " " << file;
      EXPECT_EQ(out.err,
                "error: " + flag + " " + file + ": more than " + bound + "; " + c.message + "\n");
      EXPECT_EQ(out.out, "");
    }
  }
  EXPECT_FALSE(std::filesystem::exists(db));  // serve stopped before opening its database
}

// The bound is inclusive: a template of exactly 1 MiB renders.
TEST_F(InputFileBoundTest, AFileOfExactlyTheBoundIsRead) {
  const std::string tmpl = write("t.jinja", std::string(kMiB, 'a'));
  const std::string conversation = write("c.json", R"({"messages": []})");
  const ProcessOutput out =
      run_process({kBinary, "render-chat", "--template", tmpl, "--conversation", conversation});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, std::string(kMiB, 'a'));
}

// Memory a command cannot get (here under a limit of 200 MB, where tokenizing 16 MiB of text
// takes ~480 MB) ends with a message and exit 1, not with abort() and exit 134.
TEST_F(InputFileBoundTest, RunningOutOfMemoryIsAnErrorNotACrash) {
  REQUIRE_TESTDATA();
  std::string text;
  while (text.size() + 12 <= 16 * kMiB) text += "hello world ";
  const std::string file = write("text.txt", text);
  const ProcessOutput out =
      run_process({"/bin/sh", "-c", "ulimit -v 200000 && exec \"$0\" tokenize \"$1\" --file \"$2\"",
                   kBinary, testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), file});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(out.err, "error: out of memory: tokenize needed more memory than it could allocate\n");
  EXPECT_EQ(out.out, "");
}

}  // namespace
}  // namespace gengyun::e2e
