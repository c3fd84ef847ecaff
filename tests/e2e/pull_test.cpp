// `gengyun pull`: the real binary downloads from a loopback HTTP server, prints the file's path
// on stdout and exits 0; a checksum mismatch or a bad flag exits 1 with the reason on stderr.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "gguf/gguf_writer.h"
#include "process.h"

namespace gengyun::e2e {
namespace {

const std::string kBinary = GENGYUN_BINARY;

class PullCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-pull-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    const std::vector<float> values(256, 0.25f);
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    ASSERT_TRUE(w.add_tensor("output_norm.weight", gguf::GgmlType::F32, {256},
                             {reinterpret_cast<const uint8_t*>(values.data()), 1024})
                    .ok());
    const std::vector<uint8_t> bytes = w.serialize().value();
    gguf_.assign(bytes.begin(), bytes.end());
    server_.Get("/m/tiny.gguf", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(gguf_, "application/octet-stream");
    });
    server_.Get("/download", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Disposition", "attachment; filename=\"tiny.bin\"");
      res.set_content(gguf_, "application/octet-stream");
    });
    // Names from the response that `serve --models` would leave out.
    for (const auto& [path, disposition] :
         {std::pair<std::string, std::string>{
              "/bidi", "attachment; filename*=UTF-8''evil%E2%80%AE-txt.gguf"},
          {"/comma", "attachment; filename=\"a,b.gguf\""},
          {"/empty-id", "attachment; filename=.gguf"}})
      server_.Get(path, [this, disposition](const httplib::Request&, httplib::Response& res) {
        res.set_header("Content-Disposition", disposition);
        res.set_content(gguf_, "application/octet-stream");
      });
    server_.Get("/gated/tiny.gguf", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer " + std::string(kToken))
        return (void)(res.status = 401);
      res.set_content(gguf_, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  std::string url(const std::string& path = "/m/tiny.gguf") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  static constexpr const char* kToken = "hf_e2eToken123";

  std::filesystem::path dir_;
  std::string gguf_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(PullCommandTest, DownloadsAndPrintsThePath) {
  const std::string out_dir = (dir_ / "models").string();
  const ProcessOutput p = run_process({kBinary, "pull", url(), "-o", out_dir});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::string path = out_dir + "/tiny.gguf";
  EXPECT_EQ(p.out, path + "\n");
  EXPECT_EQ(p.err, "pulled " + path + ": " + std::to_string(gguf_.size()) +
                       " bytes, a valid GGUF file; no SHA-256 given, none checked\n");
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), gguf_);
}

// A name from the response that does not end in .gguf: pulled, with a warning that
// `serve --models` would not list it.
TEST_F(PullCommandTest, ANameWithoutGgufIsPulledWithAWarning) {
  const ProcessOutput p = run_process({kBinary, "pull", url("/download"), "-o", dir_.string()});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::string path = dir_.string() + "/tiny.bin";
  EXPECT_EQ(p.out, path + "\n");
  EXPECT_EQ(p.err, "pulled " + path + ": " + std::to_string(gguf_.size()) +
                       " bytes, a valid GGUF file; no SHA-256 given, none checked\n"
                       "warning: the file name does not end in .gguf: "
                       "`serve --models` lists only *.gguf files (rename it or serve it with "
                       "--model)\n");
}

// A name that `serve --models` would leave out: pulled (the user asked for it), with a warning
// that gives serve's reason; every name printed is escaped as serve shows names (QA: a U+202E
// from the response reached the terminal).
TEST_F(PullCommandTest, ANameServeWouldLeaveOutIsPulledWithAWarning) {
  const std::string pulled = ": " + std::to_string(gguf_.size()) +
                             " bytes, a valid GGUF file; no SHA-256 given, none checked\n";
  const struct {
    const char* url_path;
    std::string name;   // on disk
    std::string shown;  // as printed
    std::string reason;
  } cases[] = {
      {"/bidi", "evil\xE2\x80\xAE-txt.gguf", "evil\\xe2\\x80\\xae-txt.gguf",
       "its name holds control, format, invisible, private-use or unassigned characters, or bytes "
       "that are not UTF-8, which an id may not; rename the file"},
      {"/comma", "a,b.gguf", "a,b.gguf",
       "its model id (the name before .gguf) holds a comma, which a model id may not (a key's "
       "model list is stored comma-separated); rename the file"},
      {"/empty-id", ".gguf", ".gguf", "its model id (the name before .gguf) would be empty"},
  };
  for (const auto& c : cases) {
    const ProcessOutput p = run_process({kBinary, "pull", url(c.url_path), "-o", dir_.string()});
    ASSERT_EQ(p.exit_code, 0) << c.url_path << ": " << p.err;
    const std::string shown = dir_.string() + "/" + c.shown;
    EXPECT_EQ(p.out, (dir_ / c.name).string() + "\n");  // a pipe: the path as it is
    EXPECT_EQ(p.err, "pulled " + shown + pulled +
                         "warning: `serve --models` will leave the file out: " + c.reason + "\n");
    std::ifstream in(dir_ / c.name, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), gguf_) << c.url_path;
  }
}

TEST_F(PullCommandTest, AChecksumMismatchExitsOne) {
  const std::string wrong(64, 'a');
  const ProcessOutput p =
      run_process({kBinary, "pull", url(), "-o", dir_.string(), "--sha256", wrong});
  EXPECT_EQ(p.exit_code, 1);
  EXPECT_EQ(
      p.err.rfind("error: " + url() + ": SHA-256 mismatch: expected " + wrong + " (from --sha256)",
                  0),
      0u)
      << p.err;
  EXPECT_EQ(p.out, "");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tiny.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tiny.gguf.part"));
}

// Two pulls of one file into one folder: the second finds the part file locked by the first and
// stops, touching nothing (QA 2026-12-07: it resumed from the first's bytes, and the first then
// failed). A pull that fails before any byte leaves no empty part file.
TEST_F(PullCommandTest, ASecondPullOfTheSameFileIntoTheSameFolderStops) {
  const std::string part = (dir_ / "tiny.gguf.part").string();
  const int held = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::write(held, "abc", 3), 3);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  const ProcessOutput p = run_process({kBinary, "pull", url(), "-o", dir_.string()});
  ::close(held);
  EXPECT_EQ(p.exit_code, 1);
  EXPECT_EQ(p.err, "error: " + part +
                       ": another `gengyun pull` is downloading this file into the same folder; "
                       "wait for it to end\n");
  std::ifstream in(part, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "abc");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tiny.gguf"));

  // A name from the response's Content-Disposition: locked as well, once the name is known.
  const std::string named = (dir_ / "tiny.bin.part").string();
  const int named_held = ::open(named.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(named_held, 0);
  ASSERT_EQ(::flock(named_held, LOCK_EX | LOCK_NB), 0);
  const ProcessOutput by_name =
      run_process({kBinary, "pull", url("/download"), "-o", dir_.string()});
  ::close(named_held);
  EXPECT_EQ(by_name.exit_code, 1);
  EXPECT_NE(by_name.err.find(named + ": another `gengyun pull` is downloading"), std::string::npos)
      << by_name.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tiny.bin"));

  const ProcessOutput missing =
      run_process({kBinary, "pull", url("/m/none.gguf"), "-o", dir_.string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "none.gguf.part"));
}

// A gated repository: the token comes from --token ($HF_TOKEN only goes to huggingface.co: this
// loopback server never gets it, and the command says so), and the command never prints it.
TEST_F(PullCommandTest, ATokenFromTheFlagAndHfTokenForHuggingFaceOnly) {
  const std::string gated = url("/gated/tiny.gguf");
  const ProcessOutput none =
      run_process({"/usr/bin/env", "-u", "HF_TOKEN", kBinary, "pull", gated, "-o", dir_.string()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("HTTP 401"), std::string::npos) << none.err;
  EXPECT_EQ(none.err.find("HF_TOKEN"), std::string::npos) << none.err;
  const ProcessOutput env = run_process({"/usr/bin/env", "HF_TOKEN=" + std::string(kToken), kBinary,
                                         "pull", gated, "-o", (dir_ / "env").string()});
  EXPECT_EQ(env.exit_code, 1);
  EXPECT_NE(env.err.find("HTTP 401"), std::string::npos) << env.err;
  EXPECT_NE(env.err.find("note: $HF_TOKEN is sent to https://huggingface.co only, not with this "
                         "URL (give --token to send a token to its host)\n"),
            std::string::npos)
      << env.err;
  const ProcessOutput flag = run_process({"/usr/bin/env", "HF_TOKEN=wrong", kBinary, "pull", gated,
                                          "-o", (dir_ / "flag").string(), "--token", kToken});
  ASSERT_EQ(flag.exit_code, 0) << flag.err;
  const ProcessOutput wrong = run_process(
      {kBinary, "pull", gated, "-o", (dir_ / "wrong").string(), "--token", "hf_wrongToken"});
  EXPECT_EQ(wrong.exit_code, 1);
  for (const ProcessOutput* p : {&none, &env, &flag, &wrong}) {
    EXPECT_EQ(p->out.find("Token"), std::string::npos) << p->out;
    EXPECT_EQ(p->err.find("Token"), std::string::npos) << p->err;
  }
}

// A value outside the flag's declared form (TEXT:HEX) is a command line that cannot be parsed:
// exit 2, as README says (QA: 'xyz' exited 1), nothing pulled.
TEST_F(PullCommandTest, ABadSha256ExitsTwo) {
  for (const std::string& bad : {std::string("xyz"), std::string(63, 'a'), std::string(65, 'a'),
                                 std::string(63, 'a') + "g"}) {
    const ProcessOutput p =
        run_process({kBinary, "pull", url(), "-o", dir_.string(), "--sha256", bad});
    EXPECT_EQ(p.exit_code, 2) << bad;
    EXPECT_EQ(p.err, "error: pull: --sha256: " + bad +
                         " is not a SHA-256 (64 hex digits); gengyun pull --help lists its "
                         "options\n");
    EXPECT_EQ(p.out, "");
  }
  // An empty one is not "no checksum": the command line is refused (exit 2), nothing pulled.
  const ProcessOutput empty =
      run_process({kBinary, "pull", url(), "-o", dir_.string(), "--sha256", ""});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("an empty SHA-256; give 64 hex digits or leave the flag out"),
            std::string::npos)
      << empty.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tiny.gguf"));
}

// An empty -o or --token is refused, not read as something else (QA: -o '' said "error: :
// Invalid argument"; --token '' was taken as no token).
TEST_F(PullCommandTest, AnEmptyFolderOrTokenIsRefused) {
  for (const auto& [flag, message] : std::vector<std::pair<std::string, std::string>>{
           {"-o",
            "--output-dir: an empty folder name; give a folder, or leave -o out for the "
            "current one"},
           {"--token", "--token: an empty token; give the token or leave the flag out"}}) {
    std::vector<std::string> argv = {kBinary, "pull", url(), flag, ""};
    if (flag != "-o") argv.insert(argv.end(), {"-o", dir_.string()});
    const ProcessOutput p = run_process(argv);
    EXPECT_EQ(p.exit_code, 2) << flag;
    EXPECT_EQ(p.err, "error: pull: " + message + "; gengyun pull --help lists its options\n");
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

}  // namespace
}  // namespace gengyun::e2e
