// `gengyun run --json-schema FILE` end to end: a bounded schema's output ends by itself and
// validates; bad schemas and unreadable files are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "process.h"
#include "sampling/json_validator.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gengyun-" + std::to_string(getpid()) + "-" + name))
                               .string();
  std::ofstream(path) << text;
  return path;
}

TEST(RunJsonSchema, BoundedSchemaEndsAndValidates) {
  REQUIRE_TESTDATA();
  const std::string schema = R"({"type": "object", "properties": {
      "city": {"enum": ["Paris", "Lima", "Oslo"]}, "sunny": {"type": "boolean"}},
      "required": ["city", "sunny"], "additionalProperties": false})";
  const std::string path = write_temp("bounded.json", schema);
  for (const char* seed : {"1", "2", "3"}) {
    const auto out = run_process({kBinary,
                                  "run",
                                  testing::testdata_path("models/qwen2-tiny-q8_0.gguf"),
                                  "-p",
                                  "Weather as JSON:",
                                  "--json-schema",
                                  path,
                                  "--seed",
                                  seed,
                                  "-n",
                                  "300",
                                  "--threads",
                                  "1",
                                  "--top-k",
                                  "0",
                                  "--top-p",
                                  "1",
                                  "--min-p",
                                  "0",
                                  "--temp",
                                  "1"});
    ASSERT_EQ(out.exit_code, 0) << out.err;
    EXPECT_TRUE(testing::text_validates(out.out, testing::OrderedJson::parse(schema)))
        << "seed " << seed << ": " << out.out;
  }
  std::filesystem::remove(path);
}

// -n stopping the output before its JSON is whole is an error (exit 1, said on stderr), not a
// success printing `{"` (QA 2026-12-07); what was generated is still printed.
TEST(RunJsonSchema, OutputCutByNBeforeItsJsonIsWholeIsAnError) {
  REQUIRE_TESTDATA();
  const std::string path = write_temp("cut.json", R"({"type": "object", "properties": {
      "city": {"enum": ["Paris", "Lima", "Oslo"]}}, "required": ["city"]})");
  const auto out = run_process(
      {kBinary, "run", testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), "-p",
       "Weather as JSON:", "--json-schema", path, "-n", "2", "--temp", "0", "--threads", "1"});
  EXPECT_EQ(out.exit_code, 1) << out.out;
  EXPECT_FALSE(out.out.empty());
  EXPECT_NE(out.err.find("error: the output reached -n 2 tokens before its JSON was complete; "
                         "give a larger -n (or < 0: up to the context)"),
            std::string::npos)
      << out.err;
  // The context, not -n, cut it: the message says so.
  const std::string long_const =
      write_temp("long.json", R"({"const": "abcdefghijklmnopqrstuvwxyz"})");
  const auto by_context =
      run_process({kBinary, "run", testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), "-p",
                   "Weather as JSON:", "--json-schema", long_const, "-c", "10", "-n", "100",
                   "--temp", "0", "--threads", "1"});
  EXPECT_EQ(by_context.exit_code, 1) << by_context.out;
  EXPECT_NE(by_context.err.find("error: the output reached the end of the context (10 tokens) "
                                "before its JSON was complete; give a larger --ctx"),
            std::string::npos)
      << by_context.err;
  std::filesystem::remove(long_const);
  std::filesystem::remove(path);
}

TEST(RunJsonSchema, BadSchemaAndMissingFileAreClearErrors) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::string path = write_temp("bad.json", R"({"type": "integer", "minimum": 0})");
  auto out = run_process({kBinary, "run", model, "-p", "x", "--json-schema", path});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.err.find("unsupported keyword minimum"), std::string::npos) << out.err;
  std::filesystem::remove(path);
  out = run_process({kBinary, "run", model, "-p", "x", "--json-schema", path});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(out.err, "error: --json-schema: cannot read " + path + ": No such file or directory\n");
  const std::string empty = write_temp("empty.json", "");
  out = run_process({kBinary, "run", model, "-p", "x", "--json-schema", empty});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(out.err, "error: the JSON schema file " + empty + " is empty\n");
  std::filesystem::remove(empty);
}

}  // namespace
}  // namespace gengyun::e2e
