// `gengyun pull` (deploy::pull) against a loopback HTTP server started by each test: whole
// downloads, resumes after dropped connections, checksums, errors.
#include "deploy/pull.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace gengyun::deploy {
namespace {

// A valid GGUF file of 64 KiB and some: one key, one f32 tensor of 16384 values.
std::string tiny_gguf() {
  std::vector<float> values(16384);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 251) * 0.5f;
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  EXPECT_TRUE(
      w.add_tensor("token_embd.weight", gguf::GgmlType::F32, {128, 128},
                   {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)})
          .ok());
  Result<std::vector<uint8_t>> bytes = w.serialize();
  EXPECT_TRUE(bytes.ok());
  return {bytes->begin(), bytes->end()};
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  std::string hex;
  for (unsigned char b : digest) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A loopback HTTP server whose handlers the test installs; it records every request's path
// and Range header, and its Authorization header. Requests are served once listen() runs, on
// its own thread.
class TestServer {
 public:
  TestServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mutex_);
      requests_.push_back(req.path + " range=" + req.get_header_value("Range"));
      authorizations_.push_back(req.path +
                                " authorization=" + req.get_header_value("Authorization"));
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  ~TestServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return server_; }
  void start() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<std::string> authorizations() {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::vector<std::string> authorizations_;
};

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("pull." + std::string(info->name()) + "." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The files in dir_, by name.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    if (std::filesystem::exists(dir_))
      for (const auto& e : std::filesystem::directory_iterator(dir_))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Serves `body` at `path` with Range support (httplib's own), optional extra headers.
  void serve(const std::string& path, const std::string& body, httplib::Headers headers = {}) {
    server_.server().Get(path, [body, headers](const httplib::Request&, httplib::Response& res) {
      for (const auto& [k, v] : headers) res.set_header(k, v);
      res.set_content(body, "application/octet-stream");
    });
  }

  // How serve_endless frames its body.
  enum class Framing {
    kNoLength,  // no Content-Length: the body ends when the server closes the connection
    kChunked,   // Transfer-Encoding: chunked
    kLength,    // Content-Length: kEndlessBytes, Range requests answered
  };
  // Bytes serve_endless sends at most: an endless body to the client, bounded so that a pull
  // that does not stop it ends (and writes no more than this) rather than filling the disk.
  static constexpr size_t kEndlessBytes = size_t{64} << 20;

  // Serves `start` followed by zero bytes at `path`, kEndlessBytes in all, framed as `framing`
  // says. The flag it returns is set once the server has sent all of them: a pull that stops
  // the body early never lets it.
  std::shared_ptr<std::atomic<bool>> serve_endless(const std::string& path, std::string start,
                                                   Framing framing) {
    auto sent_all = std::make_shared<std::atomic<bool>>(false);
    // The bytes from `offset` on, at most `length` (1 MiB) of them, into sink.
    auto send = [start, sent_all](size_t offset, size_t length, httplib::DataSink& sink) {
      const size_t n = std::min({length, size_t{1} << 20, kEndlessBytes - offset});
      std::string piece = offset < start.size() ? start.substr(offset, n) : std::string();
      piece.resize(n, '\0');
      if (!sink.write(piece.data(), piece.size())) return false;
      if (offset + n == kEndlessBytes) *sent_all = true;
      return true;
    };
    server_.server().Get(path, [framing, send](const httplib::Request&, httplib::Response& res) {
      const auto without_length = [send](size_t offset, httplib::DataSink& sink) {
        if (!send(offset, kEndlessBytes, sink)) return false;
        if (offset + std::min(kEndlessBytes - offset, size_t{1} << 20) == kEndlessBytes)
          sink.done();
        return true;
      };
      if (framing == Framing::kNoLength)
        res.set_content_provider("application/octet-stream", without_length);
      else if (framing == Framing::kChunked)
        res.set_chunked_content_provider("application/octet-stream", without_length);
      else
        res.set_content_provider(kEndlessBytes, "application/octet-stream", send);
    });
    return sent_all;
  }

  // The error of a pull of `path` whose body goes on past the end of gguf_ (its last tensor's
  // data ends the file, at a multiple of the alignment).
  std::string past_gguf_error(const std::string& path) const {
    const std::string size = std::to_string(gguf_.size());
    return server_.url(path) + ": the body goes on past the " + size +
           " bytes that its GGUF header gives the file (tensor data up to byte " + size +
           ", padded to the alignment): it is not the GGUF file it starts as, so the download "
           "was removed";
  }

  PullOptions options(const std::string& path) {
    PullOptions o;
    o.url = server_.url(path);
    o.dir = dir_.string();
    return o;
  }

  TestServer server_;
  std::filesystem::path dir_;
  const std::string gguf_ = tiny_gguf();
};

TEST_F(PullTest, DownloadsAWholeFile) {
  serve("/models/tiny.gguf", gguf_);
  server_.start();
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  PullOptions o = options("/models/tiny.gguf");
  o.progress = [&progress](uint64_t done, uint64_t total) { progress.emplace_back(done, total); };
  Result<PullResult> r = pull(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, (dir_ / "tiny.gguf").string());
  EXPECT_EQ(r->size, gguf_.size());
  EXPECT_EQ(r->resumed_from, 0u);
  EXPECT_EQ(r->sha256, "");  // neither the server nor the user gave one
  EXPECT_EQ(r->sha256_source, "");
  EXPECT_EQ(read_file(r->path), gguf_);
  EXPECT_EQ(files(), std::vector<std::string>{"tiny.gguf"});  // no .part left
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(uint64_t{gguf_.size()}, uint64_t{gguf_.size()}));
  EXPECT_EQ(server_.requests(), std::vector<std::string>{"/models/tiny.gguf range="});
}

// A body without a Content-Length (or chunked) reports the size its GGUF header gives the file
// as progress's total once the header is in (QA: the total stayed 0, no "x / total" nor
// percentage, for the whole download). The server sends 16 bytes, less than the header, and
// the rest only once the pull has reported them.
TEST_F(PullTest, TheProgressTotalIsTheSizeTheGgufHeaderGives) {
  constexpr size_t kFirst = 16;
  std::mutex mutex;
  std::condition_variable reported;
  bool first_reported = false;
  // Sends kFirst bytes, waits for the pull to report them (bounded: a pull that never does
  // fails the test instead of hanging it), then the rest.
  const auto provider = [&](size_t offset, httplib::DataSink& sink) {
    if (offset == 0) {
      if (!sink.write(gguf_.data(), kFirst)) return false;
      std::unique_lock lock(mutex);
      reported.wait_for(lock, std::chrono::seconds(30), [&] { return first_reported; });
      return true;
    }
    sink.write(gguf_.data() + offset, gguf_.size() - offset);
    sink.done();
    return true;
  };
  // A body without a length ends when the connection closes: after each response, rather than
  // at httplib's keep-alive timeout (5 s).
  server_.server().set_keep_alive_max_count(1);
  server_.server().Get("/nolength.gguf", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider("application/octet-stream", provider);
  });
  server_.server().Get("/chunked.gguf", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream", provider);
  });
  server_.start();
  for (const char* path : {"/nolength.gguf", "/chunked.gguf"}) {
    first_reported = false;
    std::vector<std::pair<uint64_t, uint64_t>> progress;
    PullOptions o = options(path);
    o.progress = [&](uint64_t done, uint64_t total) {
      progress.emplace_back(done, total);
      std::lock_guard lock(mutex);
      if (done == kFirst) first_reported = true;
      reported.notify_all();
    };
    Result<PullResult> r = pull(o);
    ASSERT_TRUE(r.ok()) << path << ": " << r.error().message;
    EXPECT_EQ(read_file(r->path), gguf_);
    ASSERT_FALSE(progress.empty()) << path;
    EXPECT_EQ(progress.front(), std::make_pair(uint64_t{kFirst}, uint64_t{0})) << path;
    EXPECT_EQ(progress.back(), std::make_pair(uint64_t{gguf_.size()}, uint64_t{gguf_.size()}))
        << path;
    // Before the header: 0; from it on: the file's size.
    for (const auto& [done, total] : progress) {
      EXPECT_EQ(total, done == kFirst ? 0 : gguf_.size()) << path << " at " << done;
      EXPECT_GE(done, kFirst) << path;
    }
  }
}

// A file that ends where its last tensor's data does, short of the alignment the header's
// size pads it to: the total is the padded size while it arrives, and the last report gives the
// size it has (the progress bar ends at 100%).
TEST_F(PullTest, AnUndeclaredFileShorterThanItsPaddedSizeEndsAtItsSize) {
  std::vector<float> values(16384 + 3, 1.0f);
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  ASSERT_TRUE(
      w.add_tensor("token_embd.weight", gguf::GgmlType::F32, {16384 + 3, 1},
                   {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)})
          .ok());
  Result<std::vector<uint8_t>> bytes = w.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  Result<gguf::HeaderProbe> probe = gguf::probe_header(*bytes, "short.gguf");
  ASSERT_TRUE(probe.ok()) << probe.error().message;
  ASSERT_TRUE(probe->extent.has_value());
  const gguf::FileExtent extent = *probe->extent;
  ASSERT_LT(extent.data_end, extent.padded_end);
  const std::string file(bytes->begin(), bytes->begin() + static_cast<ptrdiff_t>(extent.data_end));
  server_.server().Get("/short.gguf", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream",
                                     [&](size_t offset, httplib::DataSink& sink) {
                                       sink.write(file.data() + offset, file.size() - offset);
                                       sink.done();
                                       return true;
                                     });
  });
  server_.start();
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  PullOptions o = options("/short.gguf");
  o.progress = [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); };
  Result<PullResult> r = pull(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(read_file(r->path), file);
  ASSERT_GE(progress.size(), 2u);
  EXPECT_EQ(progress.back(), std::make_pair(uint64_t{file.size()}, uint64_t{file.size()}));
  for (size_t i = 0; i + 1 < progress.size(); ++i) {
    EXPECT_EQ(progress[i].second, extent.padded_end) << i;
    EXPECT_LE(progress[i].first, file.size()) << i;
  }
}

// As Hugging Face: /resolve/ answers 302 to the CDN with the SHA-256 in X-Linked-Etag; the
// CDN's ETag is something else (here an MD5-like value) and is not taken for a SHA-256.
TEST_F(PullTest, FollowsAResolveRedirectAndVerifiesXLinkedEtag) {
  const std::string sha = sha256_hex(gguf_);
  server_.server().Get("/org/repo/resolve/main/model-Q4_K_M.gguf",
                       [&](const httplib::Request&, httplib::Response& res) {
                         res.set_header("X-Linked-Etag", "\"" + sha + "\"");
                         res.set_header("ETag", "\"" + sha + "\"");
                         res.set_redirect("/cdn/blob-0123");
                       });
  serve("/cdn/blob-0123", gguf_, {{"ETag", "\"0123456789abcdef0123456789abcdef\""}});
  server_.start();
  Result<PullResult> r = pull(options("/org/repo/resolve/main/model-Q4_K_M.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, (dir_ / "model-Q4_K_M.gguf").string());
  EXPECT_EQ(r->sha256, sha);
  EXPECT_EQ(r->sha256_source, "X-Linked-Etag");
  EXPECT_EQ(read_file(r->path), gguf_);
}

TEST_F(PullTest, VerifiesAUserGivenSha256InEitherCase) {
  serve("/tiny.gguf", gguf_);
  server_.start();
  PullOptions o = options("/tiny.gguf");
  std::string upper = sha256_hex(gguf_);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  o.sha256 = upper;
  Result<PullResult> r = pull(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sha256, sha256_hex(gguf_));
  EXPECT_EQ(r->sha256_source, "--sha256");
}

TEST_F(PullTest, ChecksumMismatchRemovesTheDownload) {
  const std::string wrong = sha256_hex("something else");
  serve("/etag.gguf", gguf_, {{"ETag", "W/\"" + wrong + "\""}});
  serve("/user.gguf", gguf_);
  server_.start();
  Result<PullResult> r = pull(options("/etag.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, server_.url("/etag.gguf") + ": SHA-256 mismatch: expected " + wrong +
                                   " (from ETag), the download has " + sha256_hex(gguf_) +
                                   "; it was removed");
  EXPECT_EQ(files(), std::vector<std::string>{});

  PullOptions o = options("/user.gguf");
  o.sha256 = wrong;
  Result<PullResult> user = pull(o);
  ASSERT_FALSE(user.ok());
  EXPECT_NE(user.error().message.find("SHA-256 mismatch: expected " + wrong + " (from --sha256)"),
            std::string::npos)
      << user.error().message;
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// The server closes the connection after half the file on the first request; the same run
// resumes with a Range request for the rest.
TEST_F(PullTest, ResumesAConnectionDroppedHalfWay) {
  const size_t half = gguf_.size() / 2;
  std::atomic<int> calls = 0;
  server_.server().Get("/drop.gguf", [&](const httplib::Request&, httplib::Response& res) {
    const bool drop = calls++ == 0;
    res.set_header("X-Linked-Etag", sha256_hex(gguf_));
    res.set_content_provider(
        gguf_.size(), "application/octet-stream",
        [this, drop, half](size_t offset, size_t length, httplib::DataSink& sink) {
          if (drop) {
            sink.write(gguf_.data(), half);
            return false;  // closes the connection
          }
          sink.write(gguf_.data() + offset, length);
          return true;
        });
  });
  server_.start();
  Result<PullResult> r = pull(options("/drop.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(read_file(r->path), gguf_);
  EXPECT_EQ(r->sha256_source, "X-Linked-Etag");
  EXPECT_EQ(server_.requests(),
            (std::vector<std::string>{"/drop.gguf range=",
                                      "/drop.gguf range=bytes=" + std::to_string(half) + "-"}));
}

// A run whose every attempt is cut off keeps the part file and says so; the next run resumes
// from it.
TEST_F(PullTest, ALaterRunResumesThePartFile) {
  const size_t cut = 10000;
  std::atomic<bool> dropping = true;
  server_.server().Get("/cut.gguf", [&](const httplib::Request&, httplib::Response& res) {
    const bool drop = dropping;
    res.set_content_provider(
        gguf_.size(), "application/octet-stream",
        [this, drop, cut](size_t offset, size_t length, httplib::DataSink& sink) {
          if (drop) {
            if (offset == 0) sink.write(gguf_.data(), cut);
            return false;
          }
          sink.write(gguf_.data() + offset, length);
          return true;
        });
  });
  server_.start();
  Result<PullResult> first = pull(options("/cut.gguf"));
  ASSERT_FALSE(first.ok());
  const std::string part = (dir_ / "cut.gguf.part").string();
  EXPECT_NE(first.error().message.find("; 10000 bytes are kept in " + part +
                                       " and the same command resumes from there"),
            std::string::npos)
      << first.error().message;
  EXPECT_EQ(read_file(part), gguf_.substr(0, cut));

  dropping = false;
  Result<PullResult> second = pull(options("/cut.gguf"));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->resumed_from, cut);
  EXPECT_EQ(read_file(second->path), gguf_);
  EXPECT_EQ(files(), std::vector<std::string>{"cut.gguf"});
  const std::vector<std::string> requests = server_.requests();
  ASSERT_EQ(requests.size(), 3u);  // first run: whole file (cut), Range from the cut (nothing)
  EXPECT_EQ(requests[1], "/cut.gguf range=bytes=10000-");
  EXPECT_EQ(requests[2], "/cut.gguf range=bytes=10000-");
}

// A server that ignores Range answers 200 with the whole file: the part file starts over.
TEST_F(PullTest, AServerThatIgnoresRangeRestartsTheFile) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "norange.gguf.part", std::string(5000, 'z'));  // not even the right bytes
  server_.server().Get("/norange.gguf", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 200;  // chunked, so httplib does not apply the Range itself
    res.set_chunked_content_provider("application/octet-stream",
                                     [this](size_t offset, httplib::DataSink& sink) {
                                       sink.write(gguf_.data() + offset, gguf_.size() - offset);
                                       sink.done();
                                       return true;
                                     });
  });
  server_.start();
  Result<PullResult> r = pull(options("/norange.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->resumed_from, 0u);
  EXPECT_EQ(read_file(r->path), gguf_);
  EXPECT_EQ(server_.requests(), std::vector<std::string>{"/norange.gguf range=bytes=5000-"});
  EXPECT_EQ(files(), std::vector<std::string>{"norange.gguf"});
}

// A pull that starts its part file over keeps it locked: a second pull of the file while the
// first writes it again is refused (QA: the part file was removed and made anew, the lock left
// on the removed one, and a second pull locked and wrote the new one). The server answers the
// Range with bytes from 0 (206), calls the part longer than the file (416), or ignores it (200);
// the second pull starts at the first's first progress report after the restart.
TEST_F(PullTest, APullThatStartsOverKeepsThePartFileLocked) {
  const std::string size = std::to_string(gguf_.size());
  // The whole file, chunked, so that httplib applies no Range itself.
  const auto whole = [this](httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream",
                                     [this](size_t offset, httplib::DataSink& sink) {
                                       sink.write(gguf_.data() + offset, gguf_.size() - offset);
                                       sink.done();
                                       return true;
                                     });
  };
  server_.server().Get("/from0.gguf", [&](const httplib::Request& req, httplib::Response& res) {
    res.status = 200;
    if (req.has_header("Range")) {
      res.status = 206;
      res.set_header("Content-Range", "bytes 0-" + std::to_string(gguf_.size() - 1) + "/" + size);
    }
    whole(res);
  });
  server_.server().Get("/long.gguf", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Range")) {
      res.status = 416;
      res.set_header("Content-Range", "bytes */" + size);
      return;
    }
    res.status = 200;
    whole(res);
  });
  server_.server().Get("/norange.gguf", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    whole(res);
  });
  server_.start();
  std::filesystem::create_directories(dir_);
  const std::pair<std::string, std::string> cases[] = {
      {"from0.gguf", std::string(5000, 'z')},
      {"long.gguf", gguf_ + "junk"},
      {"norange.gguf", std::string(5000, 'z')},
  };
  for (const auto& [name, part_bytes] : cases) {
    const std::filesystem::path part = dir_ / (name + ".part");
    write_file(part, part_bytes);
    std::optional<Result<PullResult>> second;
    PullOptions o = options("/" + name);
    o.progress = [&](uint64_t done, uint64_t) {
      if (done > 0 && !second) second.emplace(pull(options("/" + name)));
    };
    Result<PullResult> first = pull(o);
    ASSERT_TRUE(second.has_value()) << name;
    ASSERT_FALSE(second->ok()) << name;
    EXPECT_EQ(second->error().message,
              part.string() +
                  ": another `gengyun pull` is downloading this file into the same folder; wait "
                  "for it to end");
    ASSERT_TRUE(first.ok()) << name << ": " << first.error().message;
    EXPECT_EQ(read_file(first->path), gguf_) << name;
    EXPECT_EQ(files(), std::vector<std::string>{name});
    std::filesystem::remove(first->path);
  }
  // The second pulls sent nothing: each first pull asked for the part's rest, then (but where
  // the server ignored the Range) for the whole file.
  EXPECT_EQ(
      server_.requests(),
      (std::vector<std::string>{"/from0.gguf range=bytes=5000-", "/from0.gguf range=",
                                "/long.gguf range=bytes=" + std::to_string(gguf_.size() + 4) + "-",
                                "/long.gguf range=", "/norange.gguf range=bytes=5000-"}));
}

// A part file that already holds the whole file: the server answers 416 to a Range past the
// end, and the part is accepted as it is.
TEST_F(PullTest, ACompletePartFileIsAccepted) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "done.gguf.part", gguf_);
  serve("/done.gguf", gguf_);
  server_.start();
  Result<PullResult> r = pull(options("/done.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->resumed_from, gguf_.size());
  EXPECT_EQ(read_file(r->path), gguf_);
}

TEST_F(PullTest, NotFoundIsAnError) {
  server_.start();
  Result<PullResult> r = pull(options("/missing.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, server_.url("/missing.gguf") + ": HTTP 404");
  // The folder it created for the file is gone again.
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

// Credentials written into the URL (http://user:password@host/...) are never shown: messages
// name the URL with them as *** (QA 2026-12-07: errors printed the password). A redirect loop
// is named as one rather than as the last redirect's status.
TEST_F(PullTest, MessagesHideTheUrlsCredentialsAndNameARedirectLoop) {
  server_.server().Get("/loop.gguf", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/loop.gguf");
  });
  serve("/dl/", gguf_, {{"Content-Disposition", "attachment; filename=\"..\""}});
  server_.start();
  PullOptions secret = options("/missing.gguf");
  secret.url = "http://ann:s3cret@" + secret.url.substr(std::string("http://").size());
  Result<PullResult> r = pull(secret);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "http://***@" + server_.url("/missing.gguf").substr(7) + ": HTTP 404");
  Result<PullResult> loop = pull(options("/loop.gguf"));
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().message,
            server_.url("/loop.gguf") + ": more than 10 redirects (a redirect loop?)");
  Result<PullResult> unnamed = pull(options("/dl/"));
  ASSERT_FALSE(unnamed.ok());
  EXPECT_EQ(unnamed.error().message,
            server_.url("/dl/") +
                ": cannot tell the file name: the URL has no file name and the response no "
                "Content-Disposition file name that is safe to use");
}

// A failed run removes the folders it created, and only those, and only while empty.
TEST_F(PullTest, AFailedRunRemovesTheFoldersItCreatedOnly) {
  server_.start();
  PullOptions nested = options("/missing.gguf");
  nested.dir = (dir_ / "a" / "b").string();
  std::filesystem::create_directories(dir_);
  ASSERT_FALSE(pull(nested).ok());
  EXPECT_TRUE(std::filesystem::exists(dir_));  // there before the run
  EXPECT_FALSE(std::filesystem::exists(dir_ / "a"));
  // A folder that held a file before the run is left as it was.
  std::filesystem::create_directories(dir_ / "a" / "b");
  std::ofstream(dir_ / "a" / "b" / "other.gguf") << "x";
  ASSERT_FALSE(pull(nested).ok());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "a" / "b" / "other.gguf"));
}

TEST_F(PullTest, ABodyThatIsNotGgufIsRemoved) {
  serve("/page.gguf", "<html>Sign in to download this model</html>");
  server_.start();
  Result<PullResult> r = pull(options("/page.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind(server_.url("/page.gguf") +
                                        ": the download is not a valid GGUF file, so it was "
                                        "removed: " +
                                        (dir_ / "page.gguf.part").string() +
                                        ": not a GGUF file: starts with "
                                        "bytes 3c 68 74 6d",
                                    0),
            0u)
      << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(PullTest, AnEmptyBodyIsNotGguf) {
  serve("/empty.gguf", "");
  server_.start();
  Result<PullResult> r = pull(options("/empty.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a valid GGUF file"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(files(), std::vector<std::string>{});
}

TEST_F(PullTest, TheNameComesFromContentDispositionWhenTheUrlHasNoGgufName) {
  serve("/download", gguf_, {{"Content-Disposition", "attachment; filename=\"from-header.gguf\""}});
  serve("/download2", gguf_,
        {{"Content-Disposition",
          "attachment; filename=\"../x.gguf\"; filename*=UTF-8''caf%C3%A9.gguf"}});
  server_.start();
  Result<PullResult> r = pull(options("/download?id=7"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->path, (dir_ / "from-header.gguf").string());
  Result<PullResult> extended = pull(options("/download2"));
  ASSERT_TRUE(extended.ok()) << extended.error().message;
  EXPECT_EQ(extended->path, (dir_ / "caf\xC3\xA9.gguf").string());
  EXPECT_EQ(files(), (std::vector<std::string>{"caf\xC3\xA9.gguf", "from-header.gguf"}));
}

// filename="..." is an RFC 9110 quoted-string: a backslash quotes the next character, and a ';'
// inside belongs to the name (QA: filename="a\"b.gguf" was saved as "b.gguf).
TEST_F(PullTest, AQuotedFileNameHonoursItsBackslashEscapes) {
  serve("/escaped", gguf_, {{"Content-Disposition", R"(attachment; filename="a\"b\c.gguf")"}});
  serve("/semicolon", gguf_,
        {{"Content-Disposition", R"(attachment;filename= "x;y.gguf" ; size=7)"}});
  server_.start();
  Result<PullResult> escaped = pull(options("/escaped"));
  ASSERT_TRUE(escaped.ok()) << escaped.error().message;
  EXPECT_EQ(escaped->path, (dir_ / "a\"bc.gguf").string());
  Result<PullResult> semicolon = pull(options("/semicolon"));
  ASSERT_TRUE(semicolon.ok()) << semicolon.error().message;
  EXPECT_EQ(semicolon->path, (dir_ / "x;y.gguf").string());
  EXPECT_EQ(files(), (std::vector<std::string>{"a\"bc.gguf", "x;y.gguf"}));
}

// A token for gated Hugging Face repositories: sent as a bearer token to the URL's host,
// followed through a redirect on that host, and left out of a redirect to another host (HF's
// CDN URLs are pre-signed); never in an error message.
TEST_F(PullTest, ATokenGoesToTheUrlsHostOnly) {
  const std::string token = "hf_test-Token_0123";
  TestServer cdn;  // another host for curl: another port
  cdn.server().Get("/cdn/model.gguf", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(gguf_, "application/octet-stream");
  });
  cdn.start();
  const auto gated = [&](const std::string& target) {
    return [&, target](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer " + token) {
        res.status = 401;
        return;
      }
      res.set_redirect(target);
    };
  };
  server_.server().Get("/org/repo/resolve/main/model.gguf", gated(cdn.url("/cdn/model.gguf")));
  server_.server().Get("/org/repo/resolve/v2/model.gguf", gated("/local/model.gguf"));
  server_.server().Get("/local/model.gguf",
                       [&](const httplib::Request& req, httplib::Response& res) {
                         if (req.get_header_value("Authorization") != "Bearer " + token)
                           return (void)(res.status = 401);
                         res.set_content(gguf_, "application/octet-stream");
                       });
  server_.start();

  PullOptions o = options("/org/repo/resolve/main/model.gguf");
  const Result<PullResult> refused = pull(o);  // no token: the gated repository answers 401
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("HTTP 401"), std::string::npos) << refused.error().message;

  o.token = token;
  const Result<PullResult> pulled = pull(o);
  ASSERT_TRUE(pulled.ok()) << pulled.error().message;
  EXPECT_EQ(read_file(pulled->path), gguf_);
  EXPECT_EQ(server_.authorizations(),
            (std::vector<std::string>{
                "/org/repo/resolve/main/model.gguf authorization=",
                "/org/repo/resolve/main/model.gguf authorization=Bearer " + token}));
  EXPECT_EQ(cdn.authorizations(),
            std::vector<std::string>{"/cdn/model.gguf authorization="});  // not across hosts

  // A redirect on the same host keeps it.
  o = options("/org/repo/resolve/v2/model.gguf");
  o.dir = (dir_ / "v2").string();
  o.token = token;
  const Result<PullResult> same_host = pull(o);
  ASSERT_TRUE(same_host.ok()) << same_host.error().message;
  EXPECT_EQ(server_.authorizations().back(), "/local/model.gguf authorization=Bearer " + token);

  o = options("/missing.gguf");
  o.token = token;
  const Result<PullResult> missing = pull(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message.find(token), std::string::npos) << missing.error().message;
}

// A body without an end (QA: no Content-Length or chunked, zeros forever, 18 GB in 60 s) stops
// where the GGUF header puts the end of the file, and its part file, which can never become
// that file, is removed.
TEST_F(PullTest, AnEndlessBodyStopsAtTheSizeItsGgufHeaderGives) {
  const auto no_length = serve_endless("/nolength.gguf", gguf_, Framing::kNoLength);
  const auto chunked = serve_endless("/chunked.gguf", gguf_, Framing::kChunked);
  server_.start();
  for (const char* path : {"/nolength.gguf", "/chunked.gguf"}) {
    Result<PullResult> r = pull(options(path));
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().message, past_gguf_error(path));
  }
  EXPECT_FALSE(*no_length);
  EXPECT_FALSE(*chunked);
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// Bytes after the GGUF file's end are not that file, also within a declared Content-Length.
TEST_F(PullTest, BytesAfterTheGgufsEndAreRefused) {
  serve("/junk.gguf", gguf_ + "junk");
  const auto sent_all = serve_endless("/declared.gguf", gguf_, Framing::kLength);
  server_.start();
  for (const char* path : {"/junk.gguf", "/declared.gguf"}) {
    Result<PullResult> r = pull(options(path));
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().message, past_gguf_error(path));
  }
  EXPECT_FALSE(*sent_all);
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// A body whose first bytes are not a GGUF header is stopped at them.
TEST_F(PullTest, ABodyThatDoesNotStartAsGgufStopsAtOnce) {
  const auto sent_all = serve_endless("/zeros.gguf", "", Framing::kNoLength);
  server_.start();
  Result<PullResult> r = pull(options("/zeros.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, server_.url("/zeros.gguf") +
                                   ": the download is not a valid GGUF file, so it was removed: " +
                                   (dir_ / "zeros.gguf.part").string() +
                                   ": not a GGUF file: starts with bytes 00 00 00 00, expected "
                                   "'GGUF' (47 47 55 46)");
  EXPECT_FALSE(*sent_all);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

// A header that would take more than pull lets a header take (here one key of 2^40 bytes) is
// refused as soon as it says so.
TEST_F(PullTest, AGgufHeaderThatNeverEndsIsRefused) {
  std::string header = "GGUF";
  const auto put = [&header](auto field) {
    header.append(reinterpret_cast<const char*>(&field), sizeof field);
  };
  put(uint32_t{3});        // version
  put(uint64_t{0});        // tensors
  put(uint64_t{1});        // metadata entries
  put(uint64_t{1} << 40);  // the first key's length
  const auto sent_all = serve_endless("/header.gguf", header, Framing::kNoLength);
  server_.start();
  Result<PullResult> r = pull(options("/header.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, server_.url("/header.gguf") +
                                   ": the download is not a valid GGUF file, so it was removed: " +
                                   (dir_ / "header.gguf.part").string() +
                                   ": its GGUF header takes at least 1099511627808 bytes, more "
                                   "than the 268435456 a header may take");
  EXPECT_FALSE(*sent_all);
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// A resumed download is held to the same bound: the part file and the rest together.
TEST_F(PullTest, AResumedBodyStopsAtTheSizeItsGgufHeaderGives) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "resumed.gguf.part", gguf_.substr(0, 10000));
  const auto sent_all = serve_endless("/resumed.gguf", gguf_, Framing::kLength);
  server_.start();
  Result<PullResult> r = pull(options("/resumed.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, past_gguf_error("/resumed.gguf"));
  EXPECT_FALSE(*sent_all);
  EXPECT_EQ(server_.requests(), std::vector<std::string>{"/resumed.gguf range=bytes=10000-"});
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// A part file that a server says is complete (HTTP 416) is held to it too.
TEST_F(PullTest, ACompletePartFileLongerThanItsGgufIsRemoved) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "long.gguf.part", gguf_ + "junk");
  serve("/long.gguf", gguf_ + "junk");
  server_.start();
  Result<PullResult> r = pull(options("/long.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, past_gguf_error("/long.gguf"));
  EXPECT_EQ(
      server_.requests(),
      std::vector<std::string>{"/long.gguf range=bytes=" + std::to_string(gguf_.size() + 4) + "-"});
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// A file larger than the free space of the folder's file system is refused before its body is
// written: by its Content-Length (here 2^62 bytes), or by its GGUF header (a tensor of 2^45
// bytes, no Content-Length). The part file of the second keeps the header for a later run.
TEST_F(PullTest, AFileLargerThanTheFreeSpaceIsRefused) {
  server_.server().Get("/huge.gguf", [](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(size_t{1} << 62, "application/octet-stream",
                             [](size_t offset, size_t, httplib::DataSink& sink) {
                               // 1 MiB at most: the connection closes after it.
                               if (offset >= (size_t{1} << 20)) return false;
                               const std::string piece(size_t{1} << 20, 'x');
                               return sink.write(piece.data(), piece.size());
                             });
  });
  // gguf_'s one tensor of 128 x 128 f32, made 128 x 2^36 (2^45 bytes).
  std::string huge = gguf_;
  const size_t name = huge.find("token_embd.weight");
  ASSERT_NE(name, std::string::npos);
  const uint64_t rows = uint64_t{1} << 36;
  std::memcpy(huge.data() + name + 17 + 4 + 8, &rows, sizeof rows);  // after n_dims and ne[0]
  huge.resize(huge.size() - 128 * 128 * 4);
  serve_endless("/tensor.gguf", huge, Framing::kNoLength);
  server_.start();

  Result<PullResult> r = pull(options("/huge.gguf"));
  ASSERT_FALSE(r.ok());
  const std::string message = r.error().message;
  const std::string start = dir_.string() +
                            ": huge.gguf needs 4611686018427387904 more bytes "
                            "(4611686018427387904 in all) but the folder's file system has ";
  EXPECT_EQ(message.substr(0, start.size()), start) << message;
  EXPECT_TRUE(message.ends_with(" bytes free; free some space and run the same command again"))
      << message;
  EXPECT_FALSE(std::filesystem::exists(dir_));

  Result<PullResult> t = pull(options("/tensor.gguf"));
  ASSERT_FALSE(t.ok());
  const std::string size = std::to_string(huge.size() + (uint64_t{1} << 45));
  EXPECT_EQ(t.error().message.rfind(dir_.string() + ": tensor.gguf needs ", 0), 0u)
      << t.error().message;
  EXPECT_NE(
      t.error().message.find(" more bytes (" + size + " in all) but the folder's file system has "),
      std::string::npos)
      << t.error().message;
  EXPECT_NE(t.error().message.find(" bytes downloaded are kept in " +
                                   (dir_ / "tensor.gguf.part").string() +
                                   "; free some space and run the same command again"),
            std::string::npos)
      << t.error().message;
  const std::string part = read_file(dir_ / "tensor.gguf.part");
  EXPECT_EQ(part.substr(0, huge.size()), huge);
}

TEST(PullUrl, ExpandsTheHuggingFaceShorthand) {
  EXPECT_EQ(expand_hf_url("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf")
                .value(),
            "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/"
            "qwen2.5-0.5b-instruct-q4_k_m.gguf");
  EXPECT_EQ(expand_hf_url("hf://org/repo@v1.0/sub/dir/m.gguf").value(),
            "https://huggingface.co/org/repo/resolve/v1.0/sub/dir/m.gguf");
  EXPECT_EQ(expand_hf_url("hf://org/repo@refs%2Fpr%2F1/m.gguf").value(),
            "https://huggingface.co/org/repo/resolve/refs%2Fpr%2F1/m.gguf");
  EXPECT_EQ(expand_hf_url("HF://org/repo/m.gguf").value(),
            "https://huggingface.co/org/repo/resolve/main/m.gguf");
  EXPECT_EQ(expand_hf_url("https://example.org/m.gguf").value(), "https://example.org/m.gguf");
  for (const char* bad : {"hf://", "hf://org", "hf://org/", "hf://org/repo", "hf://org/repo/",
                          "hf:///repo/m.gguf", "hf://org//m.gguf"}) {
    EXPECT_EQ(
        expand_hf_url(bad).error().message,
        "'" + std::string(bad) + "': expected hf://ORG/REPO/FILE or hf://ORG/REPO@REVISION/FILE")
        << bad;
  }
  for (const char* bad : {"hf://org/repo@/m.gguf", "hf://org/@v1/m.gguf"}) {
    EXPECT_EQ(expand_hf_url(bad).error().message,
              "'" + std::string(bad) +
                  "': expected hf://ORG/REPO@REVISION/FILE with a non-empty REPO and REVISION")
        << bad;
  }
  // Parts that are not Hugging Face names, or that climb out of the repo, are refused.
  const std::pair<const char*, std::string> names[] = {
      {"hf://Qwen/../../f.gguf",
       "the REPO '..' is not a Hugging Face name (letters, digits, "
       "'-', '_', '.'; not '.', no '..')"},
      {"hf://../repo/f.gguf",
       "the ORG '..' is not a Hugging Face name (letters, digits, '-', "
       "'_', '.'; not '.', no '..')"},
      {"hf://./repo/f.gguf",
       "the ORG '.' is not a Hugging Face name (letters, digits, '-', "
       "'_', '.'; not '.', no '..')"},
      {"hf://org/re po/f.gguf",
       "the REPO 're po' is not a Hugging Face name (letters, digits, "
       "'-', '_', '.'; not '.', no '..')"},
      {"hf://org/repo@../f.gguf",
       "the REVISION '..' is not a Hugging Face name (letters, "
       "digits, '-', '_', '.', '%'; not '.', no '..')"},
      {"hf://org/repo@a?b/f.gguf",
       "the REVISION 'a?b' is not a Hugging Face name (letters, "
       "digits, '-', '_', '.', '%'; not '.', no '..')"},
      {"hf://org/repo/../f.gguf", "the FILE path holds an empty, '.' or '..' folder"},
      {"hf://org/repo/a//f.gguf", "the FILE path holds an empty, '.' or '..' folder"},
      // Percent-encoded dots climb as well once a server decodes them.
      {"hf://Qwen/Repo/%2e%2e/%2E%2e/f.gguf", "the FILE path holds an empty, '.' or '..' folder"},
      {"hf://Qwen/Repo@%2e%2e/f.gguf",
       "the REVISION '%2e%2e' is not a Hugging Face name (letters, "
       "digits, '-', '_', '.', '%'; not '.', no '..')"},
  };
  for (const auto& [bad, message] : names)
    EXPECT_EQ(expand_hf_url(bad).error().message, "'" + std::string(bad) + "': " + message);
}

// $HF_TOKEN's host: https on huggingface.co or hf.co, nothing that only holds the name.
TEST(PullUrl, HuggingFaceUrlsAreHttpsOnItsOwnHost) {
  EXPECT_TRUE(is_hugging_face_url("https://huggingface.co/org/repo/resolve/main/m.gguf"));
  EXPECT_TRUE(is_hugging_face_url(expand_hf_url("hf://org/repo/m.gguf").value()));
  EXPECT_TRUE(is_hugging_face_url("HTTPS://HuggingFace.CO/org/repo/resolve/main/m.gguf"));
  EXPECT_TRUE(is_hugging_face_url("https://hf.co/org/repo/resolve/main/m.gguf"));
  for (const char* other :
       {"http://huggingface.co/org/repo/resolve/main/m.gguf",
        "https://huggingface.co.example.org/m.gguf", "https://example.org/huggingface.co/m.gguf",
        "https://huggingface.co@example.org/m.gguf", "https://cdn-lfs.huggingface.co/m.gguf",
        "https://127.0.0.1/m.gguf"}) {
    EXPECT_FALSE(is_hugging_face_url(other)) << other;
  }
}

TEST_F(PullTest, RejectsBadArguments) {
  PullOptions o = options("/x.gguf");
  o.url = "ftp://example.org/x.gguf";
  EXPECT_EQ(pull(o).error().message,
            "'ftp://example.org/x.gguf' is not an http:// or https:// URL");
  o.url = "hf://org/repo";
  EXPECT_EQ(pull(o).error().message,
            "'hf://org/repo': expected hf://ORG/REPO/FILE or hf://ORG/REPO@REVISION/FILE");
  // A token crosses the network over https only (loopback http is the tests').
  o.url = "http://example.org/x.gguf";
  o.token = "hf_abc";
  EXPECT_EQ(pull(o).error().message,
            "'http://example.org/x.gguf': a token is sent over https only (plain http would "
            "carry it in clear)");
  o.url = server_.url("/x.gguf");
  o.token = "hf_abc\r\nX-Injected: 1";
  EXPECT_EQ(pull(o).error().message,
            "the token holds characters a bearer token cannot (spaces, control characters, ...); "
            "it was not sent");
  EXPECT_TRUE(server_.requests().empty());
  o = options("/x.gguf");
  o.sha256 = "abc";
  EXPECT_EQ(pull(o).error().message, "--sha256 'abc' is not a SHA-256 (64 hex digits)");
  o.sha256 = std::string(63, 'a') + "g";
  EXPECT_FALSE(pull(o).ok());
  EXPECT_EQ(files(), std::vector<std::string>{});
}

TEST_F(PullTest, AnUnreachableServerIsAnError) {
  // A port bound by a socket that does not listen: connections to it are refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  PullOptions o = options("/x.gguf");
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/x.gguf";
  Result<PullResult> r = pull(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind(o.url + ": ", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find("onnect"), std::string::npos)
      << r.error().message;  // "Connection refused"
  ::close(fd);
}

}  // namespace
}  // namespace gengyun::deploy
