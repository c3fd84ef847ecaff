// `gengyun run` refuses sampling flags outside the ranges the API accepts, before loading the
// model (issue 10: the CLI validates as the API does).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "kernels/simd_level.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

// Usage errors exit 2 (CLI11's own codes, 105-114, were not documented anywhere), a command's
// own failure 1, --help 0.
TEST(CliExitCodes, UsageErrorsExit2AndHelp0) {
  const std::vector<std::vector<std::string>> usage_errors = {
      {"keys", "create", "--db", "/nonexistent/x.db", "--name", "k", "--bogus"},  // unknown flag
      {"keys", "create", "--name"},  // a flag without its value
      {"keys"},                      // no subcommand
      {},                            // no command
      {"frobnicate"}};
  for (const auto& args : usage_errors) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessOutput out = run_process(argv);
    EXPECT_EQ(out.exit_code, 2) << out.err;
    EXPECT_FALSE(out.err.empty());
  }
  EXPECT_NE(run_process(
                {kBinary, "keys", "create", "--db", "/nonexistent/x.db", "--name", "k", "--bogus"})
                .err.find("error: keys create: unknown option --bogus; gengyun keys create --help "
                          "lists its options"),
            std::string::npos);
  EXPECT_EQ(run_process({kBinary, "frobnicate"}).err,
            "error: unknown command 'frobnicate' (commands: run, tokenize, embed, serve, keys, "
            "usage, tenants, prices, spool, migrate, quantize, synth, synth-lora, bench, "
            "render-chat, pull; --help for more)\n");
  // The command it most likely meant (QA: `serv` and `sreve` got the list alone).
  for (const auto& [given, meant] :
       std::vector<std::pair<std::string, std::string>>{{"serv", "serve"},
                                                        {"sreve", "serve"},
                                                        {"synth-lor", "synth-lora"},
                                                        {"render", "render-chat"}}) {
    const ProcessOutput out = run_process({kBinary, given});
    EXPECT_EQ(out.exit_code, 2) << given;
    EXPECT_EQ(out.err.substr(0, out.err.find(" (commands:")),
              "error: unknown command '" + given + "', did you mean " + meant + "?");
  }
  EXPECT_EQ(run_process({kBinary, "--help"}).exit_code, 0);
  EXPECT_EQ(run_process({kBinary, "keys", "create", "--help"}).exit_code, 0);
  // A command's own failure: a missing database for a reader.
  EXPECT_EQ(run_process({kBinary, "usage", "--db", "/nonexistent/gengyun-test.db"}).exit_code, 1);
}

TEST(RunFlags, OutOfRangeSamplingFlagsAreRefused) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const Case cases[] = {
      {{"-n", "0"}, "--n-predict: 0 tokens generates nothing; give N >= 1, or < 0"},
      {{"--temp", "-1"}, "--temp: temperature must be in [0, 2], not -1"},
      {{"--temp", "2.5"}, "--temp: temperature must be in [0, 2], not 2.5"},
      {{"--temp", "warm"}, "--temp: temperature must be a number in [0, 2], not warm"},
      {{"--top-p", "0"}, "--top-p: top_p must be in (0, 1], not 0"},
      {{"--top-p", "1.5"}, "--top-p: top_p must be in (0, 1], not 1.5"},
      {{"--min-p", "-0.1"}, "--min-p: min_p must be in [0, 1], not -0.1"},
      {{"--top-k", "-1"}, "--top-k: -1 is not an integer in [0, 2147483647]"},
      // The range of an int, not of a double (300 digits).
      {{"--ctx", "abc"}, "--ctx: abc is not an integer in [0, 2147483647]"},
      {{"--ctx", "-5"}, "--ctx: -5 is not an integer in [0, 2147483647]"},
      {{"--ctx", "2147483648"}, "--ctx: 2147483648 is not an integer in [0, 2147483647]"},
      // Not "Value abc not in range 0 to 1024" (CLI::Range) of a value that is no number (QA).
      {{"--threads", "abc"}, "--threads: abc is not an integer in [0, 1024]"},
      {{"-t", "1025"}, "--threads: 1025 is not an integer in [0, 1024]"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {kBinary, "run", model, "-p", "hi"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_EQ(run.exit_code, 2) << c.message;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
  // The edges of the ranges are accepted.
  const ProcessOutput edges = run_process({kBinary, "run", model, "-p", "hi", "-n", "1", "--temp",
                                           "2", "--top-p", "1", "--min-p", "1", "--top-k", "0"});
  EXPECT_EQ(edges.exit_code, 0) << edges.err;
}

// The prompt's special tokens are parsed as a /v1/completions prompt's are (QA: `run` read
// `<|im_start|>` as text and answered otherwise than the server): expected/qwen2-tiny-f32.json,
// case 2, whose prompt holds them (every greedy margin >= 1.07).
TEST(RunOutput, SpecialTokensInThePromptAreThoseTokens) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-f32.gguf");
  const std::string prompt =
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is "
      "2+2?<|im_end|>\n<|im_start|>assistant\n";
  const ProcessOutput run =
      run_process({kBinary, "run", model, "-p", prompt, "-n", "16", "--temp", "0", "-t", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "-b-b-b-b-b-b-b-b-b-b-b-b-b-b-b-b");
}

// `run` writes the generated text alone to stdout (README): the warnings of loading, here a
// chat template that does not parse, go to stderr with the other messages.
TEST(RunOutput, StdoutHoldsTheTextAloneAndWarningsGoToStderr) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  std::string dir = (std::filesystem::temp_directory_path() / "gengyun-run-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string broken = dir + "/broken-template.gguf";
  {
    auto source = gguf::File::open(model);
    ASSERT_TRUE(source.ok());
    gguf::Writer writer;
    for (const auto& [key, value] : source->metadata())
      if (key != "tokenizer.chat_template") writer.set(key, value);
    writer.set_string("tokenizer.chat_template", "{% for %}");
    for (const gguf::TensorInfo& t : source->tensors())
      ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
    ASSERT_TRUE(writer.write(broken).ok());
  }
  const std::vector<std::string> flags = {"-p", "hello", "-n", "4", "--temp", "0"};
  std::vector<std::string> plain_argv = {kBinary, "run", model};
  std::vector<std::string> broken_argv = {kBinary, "run", broken};
  plain_argv.insert(plain_argv.end(), flags.begin(), flags.end());
  broken_argv.insert(broken_argv.end(), flags.begin(), flags.end());
  const ProcessOutput plain = run_process(plain_argv);
  const ProcessOutput warned = run_process(broken_argv);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(warned.exit_code, 0) << warned.err;
  EXPECT_FALSE(plain.out.empty());
  EXPECT_EQ(warned.out, plain.out);
  EXPECT_NE(warned.err.find("tokenizer.chat_template: "), std::string::npos) << warned.err;
}

// stdout is the generated text byte for byte; when it ends inside a line, stderr starts with a
// newline, so that the summary starts on a line of its own where both show together (QA: `2>&1`
// put "load: ..." at the end of the story's last line).
TEST(RunOutput, TheSummaryStartsOnALineOfItsOwn) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/stories260K-f32.gguf");
  const ProcessOutput run =
      run_process({kBinary, "run", model, "-p", "Once upon a time", "-n", "8", "--temp", "0"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_FALSE(run.out.empty());
  ASSERT_NE(run.out.back(), '\n') << run.out;  // the case: 8 tokens end inside a line
  EXPECT_EQ(run.err.rfind("\nload: ", 0), 0u) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 2) << run.err;
}

// A text that cannot be written to stdout (a full disk, a closed stdout) ends the run with exit
// 1 and the reason (QA: it exited 0, the text lost); one token is counted in the singular.
TEST(RunOutput, AStdoutThatCannotBeWrittenIsAnError) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/stories260K-f32.gguf");
  for (const auto& [redirect, reason] : {std::pair{"> /dev/full", "No space left on device"},
                                         std::pair{">&-", "Bad file descriptor"}}) {
    SCOPED_TRACE(redirect);
    const ProcessOutput run = run_process(
        {"/bin/sh", "-c",
         std::string("exec \"$0\" run \"$1\" -p 'Once upon a time' -n 8 --temp 0 ") + redirect,
         kBinary, model});
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_NE(run.err.find(std::string("error: the text could not be written to stdout: ") +
                           reason + "\n"),
              std::string::npos)
        << run.err;
  }
  const ProcessOutput one =
      run_process({kBinary, "run", model, "-p", "Once upon a time", "-n", "1", "--temp", "0"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.err.find(" | generation: 1 token, "), std::string::npos) << one.err;
}

// `run`'s summary line names the kernels' level, and says so where GENGYUN_KERNELS chose one
// below the CPU's (it is read by the child process; this process read its own already).
TEST(RunOutput, TheSummaryNamesTheKernelLevel) {
  REQUIRE_TESTDATA();
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::vector<std::string> argv = {kBinary, "run", model, "-p", "hi", "-n", "1"};
  const std::string cpu(kernels::simd_level_name(kernels::cpu_simd_level()));
  const char* before = std::getenv("GENGYUN_KERNELS");
  const std::optional<std::string> saved =
      before ? std::optional<std::string>(before) : std::nullopt;
  unsetenv("GENGYUN_KERNELS");
  const ProcessOutput best = run_process(argv);
  setenv("GENGYUN_KERNELS", "scalar", 1);
  const ProcessOutput scalar = run_process(argv);
  if (saved)
    setenv("GENGYUN_KERNELS", saved->c_str(), 1);
  else
    unsetenv("GENGYUN_KERNELS");
  ASSERT_EQ(best.exit_code, 0) << best.err;
  ASSERT_EQ(scalar.exit_code, 0) << scalar.err;
  EXPECT_NE(best.err.find("| kernels: " + cpu + "\n"), std::string::npos) << best.err;
  const std::string lower =
      cpu == "scalar" ? "| kernels: scalar\n" : "| kernels: scalar (the CPU has " + cpu + ")\n";
  EXPECT_NE(scalar.err.find(lower), std::string::npos) << scalar.err;
}

}  // namespace
}  // namespace gengyun::e2e
