// `gengyun synth` from the command line: bad --layers values are refused before anything is
// written (the whole model is written only without --layers); progress on a pipe is one line
// per stage, then the types written; a signal removes the temporary files.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "api/eventually.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

TEST(SynthCommand, LayersOutsideTheShapeAreRefusedAndNothingIsWritten) {
  REQUIRE_TESTDATA();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("synth_layers_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  for (const std::string layers : {"0", "49", "-3"}) {
    const ProcessOutput run = run_process(
        {kBinary, "synth", "--shape", "qwen3-30b-a3b", "--layers", layers, "--type", "Q4_K_M",
         "--vocab", testing::testdata_path("tokenizer/qwen-vocab.gguf"), out});
    EXPECT_EQ(run.exit_code, 1) << layers;
    EXPECT_NE(run.err.find("error: --layers " + layers +
                           " is outside [1, 48], the layers of qwen3-30b-a3b"),
              std::string::npos)
        << run.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << layers;
  }
}

// An output that cannot be written is refused before any work, naming the path given (not a
// temporary one) and leaving nothing behind.
TEST(SynthCommand, OutputsThatCannotBeWrittenAreRefusedFirst) {
  REQUIRE_TESTDATA();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("synth_out_" + std::to_string(::getpid()));
  std::filesystem::create_directory(dir);
  const std::string missing = (dir / "no-such-folder" / "m.gguf").string();
  const std::pair<std::string, std::string> cases[] = {
      {dir.string(),
       "error: " + dir.string() + ": is a folder; give a file path\n"},
      {missing, "error: " + missing + ": cannot be written: No such file or directory\n"},
      {"", "error: no output path given\n"},
  };
  for (const auto& [out, message] : cases) {
    const ProcessOutput run = run_process(
        {kBinary, "synth", "--shape", "qwen2.5-0.5b", "--layers", "1", "--type", "Q8_0", "--vocab",
         testing::testdata_path("tokenizer/qwen-vocab.gguf"), out});
    EXPECT_EQ(run.exit_code, 1) << out;
    EXPECT_EQ(run.err, message);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

// stderr not a terminal (a pipe here, a log file in CI): no bar redrawn with carriage returns,
// one line per stage with its bytes, the same figure done and in all.
TEST(SynthCommand, ProgressOnAPipeIsOneLinePerStage) {
  REQUIRE_TESTDATA();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("synth_progress_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  const ProcessOutput run = run_process(
      {kBinary, "synth", "--shape", "qwen2.5-0.5b", "--layers", "1", "--type", "Q8_0", "--vocab",
       testing::testdata_path("tokenizer/qwen-vocab.gguf"), out});
  std::filesystem::remove(out);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err.find('\r'), std::string::npos) << run.err;
  // Then the types written: one layer's 7 matrices and token_embd.weight in Q8_0, its 2 norms,
  // 3 attention biases and output_norm.weight in F32.
  const std::regex one_line_per_stage(
      "synth: random weights: ([0-9]+\\.[0-9]{2}) of \\1 GB\n"
      "synth: quantize: ([0-9]+\\.[0-9]{2}) of \\2 GB\n"
      "synth: " +
      out + ": 14 tensors: q8_0 8, f32 6\n");
  EXPECT_TRUE(std::regex_match(run.err, one_line_per_stage)) << run.err;
}

// A mix whose own type does not fit the shape's rows is named as written: Qwen2.5-0.5B's rows
// of 896 are not whole Q2_K super-blocks, so its Q2_K file holds other types only (QA
// 2026-12-05: nothing said so).
TEST(SynthCommand, TheTypesWrittenAreNamed) {
  REQUIRE_TESTDATA();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("synth_types_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  const ProcessOutput run =
      run_process({kBinary, "synth", "--shape", "qwen2.5-0.5b", "--layers", "1", "--type", "Q2_K",
                   "--vocab", testing::testdata_path("tokenizer/qwen-vocab.gguf"), out});
  std::filesystem::remove(out);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const std::string prefix = "synth: " + out + ": 14 tensors: f32 6, ";
  const size_t at = run.err.find(prefix);
  ASSERT_NE(at, std::string::npos) << run.err;
  const std::string types = run.err.substr(at + prefix.size());
  EXPECT_EQ(types.find("q2_K"), std::string::npos) << types;
  // The 8 quantized tensors' counts add up to 8.
  int quantized = 0;
  const std::regex count("[a-z0-9_KM]+ ([0-9]+)");
  for (auto it = std::sregex_iterator(types.begin(), types.end(), count);
       it != std::sregex_iterator(); ++it)
    quantized += std::stoi((*it)[1]);
  EXPECT_EQ(quantized, 8) << types;
}

// synth-lora: a rank or alpha out of range is refused with the range, nothing written.
TEST(SynthCommand, SynthLoraRefusesRanksAndAlphasOutOfRange) {
  REQUIRE_TESTDATA();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("synth_lora_" + std::to_string(::getpid()) + ".gguf"))
                              .string();
  const std::string base = testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  // A rank below 1 is outside the flag's declared range: a command line that cannot be parsed
  // (exit 2); the rest the command refuses (exit 1).
  const std::tuple<std::vector<std::string>, int, std::string> cases[] = {
      {{"--rank", "0"},
       2,
       "error: synth-lora: --rank: 0 is not an integer in [1, 2147483647]; gengyun synth-lora "
       "--help lists its options\n"},
      {{"--rank", "-2"},
       2,
       "error: synth-lora: --rank: -2 is not an integer in [1, 2147483647]; gengyun synth-lora "
       "--help lists its options\n"},
      {{"--alpha", "nan"}, 1, "error: the LoRA alpha must be a finite number, not nan\n"},
      {{"--alpha", "inf"}, 1, "error: the LoRA alpha must be a finite number, not inf\n"},
  };
  for (const auto& [flags, exit_code, message] : cases) {
    std::vector<std::string> argv = {kBinary, "synth-lora", base, out};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const ProcessOutput run = run_process(argv);
    EXPECT_EQ(run.exit_code, exit_code) << message;
    EXPECT_EQ(run.err, message);
    EXPECT_FALSE(std::filesystem::exists(out)) << message;
  }
  const ProcessOutput huge = run_process({kBinary, "synth-lora", base, out, "--rank", "100000"});
  EXPECT_EQ(huge.exit_code, 1);
  EXPECT_NE(huge.err.find("error: the LoRA rank 100000 is above the smaller side of blk.0."),
            std::string::npos)
      << huge.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// Ctrl-C (SIGINT) while synth writes its random F32 weights (to OUT.f32.XXXXXX.tmp), or
// SIGTERM while it quantizes them (OUT.f32.XXXXXX read, OUT.tmp written): the process ends by
// the signal and leaves no file. The full 0.5B shape writes gigabytes, so each stage lasts long
// after its file appears.
TEST(SynthCommand, ASignalRemovesTheTemporaryFiles) {
  REQUIRE_TESTDATA();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("synth_signal_" + std::to_string(::getpid()));
  // Whether the folder holds a file whose name starts with `prefix` and ends with `suffix` and
  // that has bytes in it: written after the file is registered for removal (the name alone
  // shows a moment before).
  const auto holds = [&dir](const std::string& prefix, const std::string& suffix) {
    std::error_code ec;
    for (const auto& item : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = item.path().filename().string();
      if (name.starts_with(prefix) && name.ends_with(suffix) && item.file_size(ec) > 0 && !ec)
        return true;
    }
    return false;
  };
  for (const auto& [signal, prefix] : std::vector<std::pair<int, std::string>>{
           {SIGINT, "model.gguf.f32."}, {SIGTERM, "model.gguf.tmp"}}) {
    std::filesystem::create_directories(dir);
    const std::string out = (dir / "model.gguf").string();
    BackgroundProcess synth({kBinary, "synth", "--shape", "qwen2.5-0.5b", "--type", "Q8_0",
                             "--vocab", testing::testdata_path("tokenizer/qwen-vocab.gguf"), out});
    ASSERT_TRUE(api::testing::eventually(
        [&] { return holds(prefix, ".tmp") || !synth.running(); }, std::chrono::minutes(5)));
    ASSERT_TRUE(synth.running()) << "synth ended before the signal: " << synth.err();
    synth.stop(60, signal);
    EXPECT_EQ(synth.term_signal(), signal) << synth.err();
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << std::filesystem::directory_iterator(dir)->path();
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace gengyun::e2e
