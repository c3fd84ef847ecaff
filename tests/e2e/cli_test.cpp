// The `gengyun` command line as a whole: --version, unknown options, the exit code of a command
// line that lacks an argument or gives a value outside a flag's range (2, as README says), what
// synth-lora says it wrote, and synth refusing at once an output that another process is writing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

/// A folder of its own under the temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-cli-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// QA: `gengyun --version` said "A subcommand is required" (exit 2).
TEST(Cli, VersionPrintsTheProjectsVersion) {
  const ProcessOutput run = run_process({kBinary, "--version"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, "gengyun 0.1.0\n");
  EXPECT_EQ(run.err, "");
}

/// Runs gengyun with each case's arguments: exit 2, the case's message alone on stderr, nothing
/// on stdout.
void expect_refused_with(
    const std::vector<std::pair<std::vector<std::string>, std::string>>& cases) {
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_EQ(run.exit_code, 2) << message;
    EXPECT_EQ(run.err, message);
    EXPECT_EQ(run.out, "");
  }
}

// An unknown option is named first, with the command's option it most likely meant (QA: "The
// following arguments were not expected: 0 --temperature"); exit 2.
TEST(Cli, AnUnknownOptionIsNamedWithTheClosestKnownOne) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"run", "m.gguf", "-p", "hi", "--temperature", "0"},
       "error: run: unknown option --temperature (did you mean --temp?); gengyun run --help "
       "lists its options\n"},
      {{"keys", "create", "--name", "k", "--budget-usd", "1", "--budget-perid", "day"},
       "error: keys create: unknown option --budget-perid (did you mean --budget-period?); "
       "gengyun keys create "
       "--help lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "--zzzzzz=1"},
       "error: run: unknown option --zzzzzz; gengyun run --help lists its options\n"},
      // Also when an argument is missing too (QA: "--prompt is required" hid the unknown one).
      {{"run", "--temperature", "1", "m.gguf"},
       "error: run: unknown option --temperature (did you mean --temp?); gengyun run --help "
       "lists its options\n"},
      {{"keys", "create", "--nme", "x"},
       "error: keys create: unknown option --nme (did you mean --name?); gengyun keys create "
       "--help lists its options\n"},
      // Two swapped letters count one edit (optimal string alignment: QA, `serve --modle` and
      // `prices set --inptu` got no suggestion); a word like no option still gets none.
      {{"serve", "--modle", "x"},
       "error: serve: unknown option --modle (did you mean --model?); gengyun serve --help "
       "lists its options\n"},
      {{"prices", "set", "m", "--inptu", "1", "--output", "2"},
       "error: prices set: unknown option --inptu (did you mean --input?); gengyun prices set "
       "--help lists its options\n"},
      {{"serve", "--banana", "x"},
       "error: serve: unknown option --banana; gengyun serve --help lists its options\n"},
      // Case aside (QA: --MODEL got no suggestion).
      {{"serve", "--MODEL", "x"},
       "error: serve: unknown option --MODEL (did you mean --model?); gengyun serve --help "
       "lists its options\n"},
      // Also when the value an unknown option left took a positional's place that excludes
      // another option (QA: "model excludes --template").
      {{"render-chat", "--template", "t.jinja", "--conv", "c.json"},
       "error: render-chat: unknown option --conv (did you mean --conversation?); gengyun "
       "render-chat --help lists its options\n"},
      // An abbreviation of one option names it, of several names them all (QA: --convo and
      // --n got no suggestion); a letter after one dash is no abbreviation (-m: another
      // program's model flag, not --mmap or --min-p).
      {{"render-chat", "--template", "t.jinja", "--convo", "c.json"},
       "error: render-chat: unknown option --convo (did you mean --conversation?); gengyun "
       "render-chat --help lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "--n", "5"},
       "error: run: unknown option --n (did you mean --n-predict?); gengyun run --help lists "
       "its options\n"},
      {{"run", "m.gguf", "-p", "hi", "--n-pred=5"},
       "error: run: unknown option --n-pred (did you mean --n-predict?); gengyun run --help "
       "lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "--top", "5"},
       "error: run: unknown option --top (did you mean --top-k or --top-p?); gengyun run --help "
       "lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "--m"},
       "error: run: unknown option --m (did you mean --min-p or --mmap?); gengyun run --help "
       "lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "-m", "x"},
       "error: run: unknown option -m; gengyun run --help lists its options\n"},
      // gengyun's own options (QA: "error: : unknown option --verison ...; gengyun  --help").
      {{"--verison"},
       "error: unknown option --verison (did you mean --version?); gengyun --help lists its "
       "options\n"},
  };
  expect_refused_with(cases);
}

// An option of one value given twice is named, with how often it was given (QA: CLI11's
// "--temp: At Most 1 required but received 2" and its --help hint).
TEST(Cli, AnOptionOfOneValueGivenTwiceIsNamed) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"run", "m.gguf", "-p", "hi", "--temp", "1", "--temp", "0"},
       "error: run: --temp is given 2 times; it takes one value\n"},
      {{"run", "m.gguf", "-p", "a", "--prompt", "b", "-p", "c"},
       "error: run: -p (--prompt) is given 3 times; it takes one value\n"},
      {{"keys", "create", "--name", "a", "--name", "b"},
       "error: keys create: --name is given 2 times; it takes one value\n"},
      // Named as typed, with its long name (QA: `-n 5 -n 6` named --n-predict alone).
      {{"run", "m.gguf", "-p", "hi", "-n", "5", "-n", "6"},
       "error: run: -n (--n-predict) is given 2 times; it takes one value\n"},
      {{"run", "m.gguf", "-t", "1", "-p", "hi", "--threads=2"},
       "error: run: -t (--threads) is given 2 times; it takes one value\n"},
      // An unknown option beside it is named first.
      {{"run", "m.gguf", "-p", "a", "-p", "b", "--bogus"},
       "error: run: unknown option --bogus; gengyun run --help lists its options\n"},
  };
  expect_refused_with(cases);
}

// An option whose value is missing, a missing option or argument, a command of commands given
// none: named in gengyun's words, exit 2 (QA: CLI11's "--temp: 1 required FLOAT:[0, 2]
// missing", "model is required" and "A subcommand is required", each with its --help hint).
TEST(Cli, AMissingValueOptionOrCommandIsNamed) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"run", "m.gguf", "-p", "hi", "--temp", "0", "--temp"},
       "error: run: --temp expects a value; gengyun run --help lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "-n"},
       "error: run: -n (--n-predict) expects a value; gengyun run --help lists its options\n"},
      {{"run", "m.gguf", "-p", "hi", "--temp="},
       "error: run: --temp expects a value; gengyun run --help lists its options\n"},
      {{"keys", "create", "--name"},
       "error: keys create: --name expects a value; gengyun keys create --help lists its "
       "options\n"},
      {{"run", "-p", "hi"},
       "error: run: model is required (GGUF model file); gengyun run --help lists its "
       "options\n"},
      {{"run", "m.gguf"},
       "error: run: --prompt is required; gengyun run --help lists its options\n"},
      {{"keys", "create"},
       "error: keys create: --name is required; gengyun keys create --help lists its options\n"},
      {{"keys"},
       "error: keys: a command is required: create, list, revoke or update; gengyun keys --help "
       "lists them\n"},
      // A word where the command goes is named, with the commands it may mean (QA: `keys revok`
      // was told a command is required).
      {{"keys", "revok"},
       "error: keys: unknown command 'revok' (did you mean revoke?); commands: create, list, "
       "revoke or update; gengyun keys --help lists them\n"},
      {{"spool", "lst"},
       "error: spool: unknown command 'lst'; commands: repair; gengyun spool --help lists them\n"},
      // gengyun's own commands as keys lists its (QA: "A subcommand is required" alone).
      {{},
       "error: a command is required: run, tokenize, embed, serve, keys, usage, tenants, prices, "
       "spool, migrate, quantize, synth, synth-lora, bench, render-chat or pull; gengyun --help "
       "lists them\n"},
  };
  expect_refused_with(cases);
}

// A missing argument is a command line that cannot be parsed, exit 2 in every command (QA:
// `tokenize M`, `embed M` and `render-chat` without a model exited 1 while `run M` without -p
// exited 2); so is an unknown --type of synth, as quantize's TYPE (QA: synth exited 1).
TEST(Cli, AMissingArgumentOrAnUnknownTypeExitsTwo) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string model = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::string vocab = testing::testdata_path("tokenizer/qwen-vocab.gguf");
  const std::string conversation = dir / "c.json";
  const std::string out = dir / "out.gguf";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"tokenize", model}, "error: give the text or --file PATH\n"},
      {{"embed", model}, "error: give the text or --file PATH\n"},
      {{"render-chat", "--conversation", conversation},
       "error: give MODEL.gguf or --template FILE.jinja\n"},
      {{"run", model}, "--prompt is required"},
      {{"synth", "--shape", "qwen2.5-0.5b", "--type", "Q4_K", "--vocab", vocab, out},
       "--type: unknown type 'Q4_K' (known: F32, "},
      {{"quantize", model, out, "Q4_K"}, "type: "},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_EQ(run.exit_code, 2) << args[0];
    EXPECT_NE(run.err.find(message), std::string::npos) << run.err;
    EXPECT_EQ(run.out, "") << args[0];
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// synth-lora ends by saying what it wrote, as quantize and synth do (QA: it printed nothing).
// An integer flag's value that is no integer of its range reads as the range errors do, for
// every integer flag (QA: CLI11's "Could not convert: --n-predict = 99999999999", no range);
// one that declares no range of its own (synth's --layers, whose range is the shape's, and
// synth-lora's --alpha) says so of the flag's range.
// Exit 2, in gengyun's words ("error: COMMAND: ...; gengyun COMMAND --help lists its options",
// not CLI11's "Run with --help for more information."), nothing run.
TEST(Cli, AValueThatIsNoIntegerOfTheFlagsRangeIsNamedWithTheRange) {
  const auto refused = [](const std::string& command, const std::string& message) {
    return "error: " + command + ": " + message + "; gengyun " + command +
           " --help lists its options\n";
  };
  expect_refused_with({
      {{"run", "m.gguf", "-p", "hi", "-n", "99999999999"},
       refused("run", "--n-predict: 99999999999 is not an integer in [-2147483648, 2147483647]")},
      {{"run", "m.gguf", "-p", "hi", "-n", "abc"},
       refused("run", "--n-predict: abc is not an integer in [-2147483648, 2147483647]")},
      {{"run", "m.gguf", "-p", "hi", "-n", "1e3"},
       refused("run", "--n-predict: 1e3 is not an integer in [-2147483648, 2147483647]")},
      {{"embed", "m.gguf", "hi", "--dimensions", "abc"},
       refused("embed", "--dimensions: abc is not an integer in [1, 2147483647]")},
      // (the model's own bound, 256 for it, stays the command's: exit 1, embed_test.cpp)
      {{"embed", "m.gguf", "hi", "--dimensions", "0"},
       refused("embed", "--dimensions: 0 is not an integer in [1, 2147483647]")},
      {{"synth-lora", "b.gguf", "o.gguf", "--rank", "abc"},
       refused("synth-lora", "--rank: abc is not an integer in [1, 2147483647]")},
      {{"synth-lora", "b.gguf", "o.gguf", "--rank", "0"},
       refused("synth-lora", "--rank: 0 is not an integer in [1, 2147483647]")},
      {{"synth", "--shape", "qwen2.5-0.5b", "--vocab", "v.gguf", "o.gguf", "--layers", "abc"},
       refused("synth", "--layers: abc is not an integer within the flag's range")},
      {{"synth", "--shape", "qwen2.5-0.5b", "--vocab", "v.gguf", "o.gguf", "--layers",
        "99999999999"},
       refused("synth", "--layers: 99999999999 is not an integer within the flag's range")},
      {{"synth-lora", "b.gguf", "o.gguf", "--alpha", "abc"},
       refused("synth-lora", "--alpha: abc is not a number within the flag's range")},
  });
}

TEST(Cli, SynthLoraSaysWhatItWrote) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string base = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  const std::string out = dir / "lora.gguf";
  const ProcessOutput run =
      run_process({kBinary, "synth-lora", base, out, "--rank", "4", "--alpha", "8"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto file = gguf::File::open(out);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const size_t n = file->tensors().size();
  for (const gguf::TensorInfo& t : file->tensors())
    ASSERT_EQ(t.type, gguf::GgmlType::F32) << t.name;
  EXPECT_EQ(run.err, "synth-lora: " + out + ": an adapter of " + base + ", rank 4, alpha 8: " +
                         std::to_string(n) + " tensors: f32 " + std::to_string(n) + "\n");
  EXPECT_EQ(run.out, "");
}

// A second synth of an output whose OUT.tmp another process holds (locked, as the GGUF writer
// takes it) is refused before any work, as quantize is (QA: it wrote its random weights first,
// then failed); a temporary left unlocked (a killed run) does not stop it.
TEST(Cli, SynthRefusesAtOnceAnOutputAnotherProcessIsWriting) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string out = dir / "model.gguf";
  const std::vector<std::string> synth = {
      kBinary,    "synth",
      "--shape",  "qwen2.5-0.5b",
      "--layers", "1",
      "--type",   "Q8_0",
      "--vocab",  testing::testdata_path("tokenizer/qwen-vocab.gguf"),
      out};
  const int fd = ::open((out + ".tmp").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const ProcessOutput refused = run_process(synth);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "error: " + out + ": another process is writing it (" + out +
                             ".tmp is locked); wait for it or write elsewhere\n");
  ::close(fd);
  std::vector<std::string> left;
  for (const auto& item : std::filesystem::directory_iterator(dir.path()))
    left.push_back(item.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"model.gguf.tmp"});
  const ProcessOutput taken_over = run_process(synth);
  EXPECT_EQ(taken_over.exit_code, 0) << taken_over.err;
  EXPECT_TRUE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

}  // namespace
}  // namespace gengyun::e2e
