// The registry over a folder of the test models: listing with metadata and reasons, rescans,
// on-demand loading (one load for concurrent callers, failures that do not stick), keep-alive
// on an injected clock, and the memory budget. Concurrency is synchronized on the registry's
// events (RegistryOptions::observer), never on sleeps.
#include "deploy/registry.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "deploy/units.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "testdata.h"

namespace gengyun::deploy {
namespace {

namespace fs = std::filesystem;
using Kind = RegistryEvent::Kind;

/// A fresh folder removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gengyun-registry-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// The events a registry reported, for tests to wait on. `gate`, when set, runs on the
/// reporting thread before the event is recorded (a test holds a load there).
class EventLog {
 public:
  void record(const RegistryEvent& e) {
    if (gate) gate(e);
    std::lock_guard lock(mutex_);
    events_.push_back(e);
    changed_.notify_all();
  }
  /// Waits (up to 60 s, then fails) until `count` events of `kind` for `model` were reported.
  void wait_for(Kind kind, const std::string& model, size_t count = 1) {
    std::unique_lock lock(mutex_);
    const bool seen = changed_.wait_for(lock, std::chrono::seconds(60),
                                        [&] { return count_locked(kind, model) >= count; });
    EXPECT_TRUE(seen) << "waited in vain for event " << static_cast<int>(kind) << " of " << model;
  }
  size_t count(Kind kind, const std::string& model) {
    std::lock_guard lock(mutex_);
    return count_locked(kind, model);
  }
  std::vector<RegistryEvent> of(Kind kind) {
    std::lock_guard lock(mutex_);
    std::vector<RegistryEvent> out;
    for (const auto& e : events_)
      if (e.kind == kind) out.push_back(e);
    return out;
  }
  std::function<void(const RegistryEvent&)> gate;

 private:
  size_t count_locked(Kind kind, const std::string& model) const {
    return std::count_if(events_.begin(), events_.end(), [&](const RegistryEvent& e) {
      return e.kind == kind && e.model == model;
    });
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<RegistryEvent> events_;
};

std::string model_path(const std::string& name) {
  return gengyun::testing::testdata_path("models/" + name);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

/// A copy of `from` with its first `n` bytes only.
void write_prefix(const std::string& from, const std::string& to, size_t n) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  write_text(to, bytes);
}

/// A copy of the GGUF `from` without tensor `dropped`: its metadata passes the registry's
/// checks, its load fails.
void write_without_tensor(const std::string& from, const std::string& to,
                          const std::string& dropped) {
  auto file = gguf::File::open(from);
  ASSERT_TRUE(file.ok());
  gguf::Writer writer;
  for (const auto& [key, value] : file->metadata()) writer.set(key, value);
  for (const auto& t : file->tensors()) {
    if (t.name != dropped) {
      ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
    }
  }
  ASSERT_TRUE(writer.write(to).ok());
}

struct Fixture {
  EventLog events;
  std::atomic<int64_t> clock_us{1'000'000};
  RegistryOptions options(RegistryOptions o = {}) {
    o.model.n_threads = 1;
    o.model.n_ctx = o.model.n_ctx ? o.model.n_ctx : 64;
    o.config.rescan_interval_us = 0;
    o.clock = [this] { return clock_us.load(); };
    o.observer = [this](const RegistryEvent& e) { events.record(e); };
    return o;
  }
};

std::unique_ptr<Registry> create(RegistryOptions options) {
  auto registry = Registry::create(std::move(options));
  EXPECT_TRUE(registry.ok()) << registry.error().message;
  return registry.ok() ? std::move(registry.value()) : nullptr;
}

TEST(ModelSpec, ParsesNameEqualsPath) {
  auto spec = parse_model_spec("qwen=/models/q.gguf");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "qwen");
  EXPECT_EQ(spec->path, "/models/q.gguf");
  auto with_eq_in_path = parse_model_spec("a=/x=y.gguf");
  ASSERT_TRUE(with_eq_in_path.ok());
  EXPECT_EQ(with_eq_in_path->path, "/x=y.gguf");
}

TEST(ModelSpec, RejectsMalformedFlags) {
  EXPECT_EQ(parse_model_spec("noeq").error().message, "--model expects NAME=PATH, got 'noeq'");
  EXPECT_EQ(parse_model_spec("=x").error().message,
            "--model expects NAME=PATH with both parts non-empty, got '=x'");
  EXPECT_FALSE(parse_model_spec("s=").ok());
  // An id a client could not send as written, and that would forge log lines.
  EXPECT_EQ(parse_model_spec("q\nINFO fake=x.gguf").error().message,
            "--model: the name 'q\nINFO fake' holds control, format, invisible, private-use or "
            "unassigned "
            "characters, or bytes that are not UTF-8, which a model id may not");
  EXPECT_EQ(
      parse_model_spec("q\u2029wen=x.gguf").error().message,
      "--model: the name 'q\u2029wen' holds control, format, invisible, private-use or unassigned "
      "characters, or bytes that are not UTF-8, which a model id may not");
  EXPECT_EQ(
      parse_model_spec("\u061Cq=x.gguf").error().message,
      "--model: the name '\u061Cq' holds control, format, invisible, private-use or unassigned "
      "characters, or bytes that are not UTF-8, which a model id may not");
  EXPECT_FALSE(parse_model_spec("q\xff=x.gguf").ok());
  // Looks like "q" (QA: "a " and "a" were two ids).
  EXPECT_EQ(parse_model_spec("q =x.gguf").error().message,
            "--model: the name 'q ' begins or ends with a space, which a model id may not");
  EXPECT_EQ(parse_model_spec(" q=x.gguf").error().message,
            "--model: the name ' q' begins or ends with a space, which a model id may not");
  EXPECT_TRUE(parse_model_spec("my model=x.gguf").ok());
  // A key's model list (stored comma-separated) could not name it.
  EXPECT_EQ(parse_model_spec("q,r=x.gguf").error().message,
            "--model: the name 'q,r' holds a comma, which a model id may not (a key's model list "
            "is stored comma-separated)");
  // Looks like "a b" (QA: "a b" with U+00A0 and "a b" were two ids): anywhere, named.
  for (const auto& [space, code] : std::vector<std::pair<std::string, std::string>>{
           {"\u00A0", "U+00A0"}, {"\u3000", "U+3000"}, {"\u2009", "U+2009"}, {"\u202F", "U+202F"}})
    for (const std::string& name : {space + "ab", "a" + space + "b", "ab" + space})
      EXPECT_EQ(parse_model_spec(name + "=x.gguf").error().message,
                "--model: the name '" + name + "' holds the space " + code +
                    ", which shows as U+0020 does and which a model id may not");
  // Looks like "a" (QA: "a" and "a" + VARIATION SELECTOR-16 were served as two ids).
  EXPECT_EQ(parse_model_spec("a\uFE0F=x.gguf").error().message,
            "--model: the name 'a\uFE0F' holds control, format, invisible, private-use "
            "or unassigned characters, or bytes that are not UTF-8, which a model id may not");
  EXPECT_TRUE(parse_model_spec("qwen-\xe6\xa8\xa1\\x=x.gguf").ok());  // UTF-8 and a backslash
}

TEST(ModelSpec, RejectsANameGivenTwice) {
  auto specs = parse_model_specs({"s=a.gguf", "t=b.gguf", "s=c.gguf"});
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.error().message, "--model: the name 's' is given twice ('a.gguf' and 'c.gguf')");
  auto fine = parse_model_specs({"s=a.gguf", "t=b.gguf"});
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->size(), 2u);
}

TEST(FileTypeName, NamesLlamaFileTypes) {
  EXPECT_EQ(file_type_name(15), "Q4_K_M");
  EXPECT_EQ(file_type_name(7), "Q8_0");
  EXPECT_EQ(file_type_name(1), "F16");
  EXPECT_EQ(file_type_name(4), "");
}

TEST(Registry, ListsAFolderWithEachFilesMetadataOrReason) {
  REQUIRE_TESTDATA();
  TempDir dir;
  fs::copy_file(model_path("qwen2-tiny-q8_0.gguf"), dir.file("Qwen2-Tiny.GGUF"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("stories.gguf"));
  fs::create_symlink(gengyun::testing::testdata_path("tokenizer/qwen-vocab.gguf"),
                     dir.file("vocab.gguf"));
  fs::create_symlink(model_path("qwen3-embed-tiny-f32.gguf"), dir.file("embed.gguf"));
  fs::create_symlink(gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"),
                     dir.file("adapter.gguf"));
  fs::create_symlink(dir.file("missing-target"), dir.file("dangling.gguf"));
  write_prefix(model_path("qwen2-tiny-q8_0.gguf"), dir.file("corrupt.gguf"), 4096);
  write_text(dir.file("notes.gguf"), "these are notes, not a model\n");
  ASSERT_TRUE(gguf::Writer().write(dir.file("empty.gguf")).ok());
  write_text(dir.file("readme.txt"), "not listed: no .gguf suffix");
  fs::create_directory(dir.file("folder.gguf"));

  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.specs = {{"Tiny-Llama", model_path("llama-tiny-q4_k_m.gguf")}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  std::map<std::string, ModelInfo> by_id;
  for (auto& info : registry->list()) by_id.emplace(info.id, std::move(info));
  std::vector<std::string> ids;
  for (const auto& [id, info] : by_id) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<std::string>{"Tiny-Llama", "adapter", "corrupt", "dangling", "embed",
                                           "empty", "notes", "qwen2-tiny", "stories", "vocab"}));

  // Servable files: their metadata, read independently here.
  const auto expect_servable = [&](const std::string& id, const std::string& file,
                                   const std::string& quantization, const std::string& source) {
    SCOPED_TRACE(id);
    auto gguf = gguf::File::open(file);
    ASSERT_TRUE(gguf.ok());
    const std::string arch = *gguf->get_string("general.architecture");
    const ModelInfo& info = by_id.at(id);
    EXPECT_EQ(info.state, ModelState::Available);
    EXPECT_EQ(info.file.error, "");
    EXPECT_EQ(info.file.architecture, arch);
    EXPECT_EQ(info.file.context_length, *gguf->get_int(arch + ".context_length"));
    // Served with the fixture's context of 64 tokens, or the training one where shorter.
    EXPECT_EQ(info.context_length, std::min<int64_t>(64, info.file.context_length));
    EXPECT_EQ(info.file.quantization, quantization);
    EXPECT_EQ(info.file.size_bytes, static_cast<int64_t>(fs::file_size(file)));
    EXPECT_EQ(info.source, source);
  };
  expect_servable("qwen2-tiny", model_path("qwen2-tiny-q8_0.gguf"), "Q8_0", "--models");
  expect_servable("stories", model_path("stories260K-f32.gguf"), "F32", "--models");
  expect_servable("Tiny-Llama", model_path("llama-tiny-q4_k_m.gguf"), "Q4_K_M", "--model");
  // An embedding model is servable (for /v1/embeddings) and says what it is.
  expect_servable("embed", model_path("qwen3-embed-tiny-f32.gguf"), "F32", "--models");
  EXPECT_TRUE(by_id.at("embed").file.embedding);
  EXPECT_FALSE(by_id.at("qwen2-tiny").file.embedding);

  const auto reason = [&](const std::string& id) {
    EXPECT_EQ(by_id.at(id).state, ModelState::Error) << id;
    return by_id.at(id).file.error;
  };
  EXPECT_EQ(reason("vocab"), "a vocab-only GGUF (it holds a tokenizer but no weights)");
  EXPECT_EQ(reason("empty"), "a GGUF without tensors or a tokenizer: no model");
  EXPECT_EQ(reason("adapter"),
            "a LoRA adapter (general.type is 'adapter'), not a model; apply it to its base model "
            "with --lora");
  EXPECT_EQ(reason("notes"), gguf::File::open(dir.file("notes.gguf")).error().message);
  EXPECT_EQ(reason("corrupt"), gguf::File::open(dir.file("corrupt.gguf")).error().message);
  EXPECT_EQ(reason("dangling"), gguf::File::open(dir.file("dangling.gguf")).error().message);
  EXPECT_NE(reason("notes").find("not a GGUF file"), std::string::npos) << reason("notes");

  Acquired refused = registry->acquire("vocab");
  EXPECT_FALSE(refused.lease);
  EXPECT_EQ(refused.status, AcquireStatus::Unservable);
  EXPECT_EQ(refused.message,
            "model 'vocab' cannot be served: a vocab-only GGUF (it holds a tokenizer but no "
            "weights)");
  Acquired unknown = registry->acquire("Qwen2-Tiny");
  EXPECT_EQ(unknown.status, AcquireStatus::UnknownModel);
  EXPECT_EQ(unknown.message, "model 'Qwen2-Tiny' is not served here");
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "vocab"), 0u);
}

// A file of the folder whose id is taken, by a file of the same name in another case (the first
// in name order is served) or by --model, is not served and is warned of once, naming both.
// An unsupported architecture's name is shown escaped and cut, in the listing's field and in
// its error (QA 2026-12-07: a 3 MB name went whole into every /v1/models answer).
TEST(ModelFile, AHostileArchitectureNameIsShownCut) {
  REQUIRE_TESTDATA();
  TempDir dir;
  auto source = gguf::File::open(testing::testdata_path("models/stories260K-f32.gguf"));
  ASSERT_TRUE(source.ok()) << source.error().message;
  gguf::Writer writer;
  for (const auto& [key, value] : source->metadata()) writer.set(key, value);
  writer.set_string("general.architecture", "\x01" + std::string(100'000, 'A'));
  for (const gguf::TensorInfo& t : source->tensors())
    ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
  const std::string path = dir.file("hostile.gguf");
  ASSERT_TRUE(writer.write(path).ok());
  const ModelFile file = inspect_model_file(path);
  EXPECT_EQ(file.architecture, "\\x01" + std::string(63, 'A') + "...");
  EXPECT_EQ(file.error,
            "unsupported architecture '\\x01" + std::string(63, 'A') + "...' (100001 bytes)");
}

TEST(Registry, FilesWhoseIdIsTakenAreWarnedOfOnce) {
  REQUIRE_TESTDATA();
  TempDir dir;
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("Stories.gguf"));
  fs::create_symlink(model_path("qwen2-tiny-q8_0.gguf"), dir.file("stories.gguf"));
  fs::create_symlink(model_path("llama-tiny-q4_k_m.gguf"), dir.file("tiny.gguf"));
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.specs = {{"tiny", model_path("qwen2-tiny-q8_0.gguf")}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  std::vector<std::string> warnings;
  for (const RegistryEvent& e : f.events.of(Kind::Warning)) warnings.push_back(e.detail);
  const std::vector<std::string> expected = {
      "--models: " + dir.file("stories.gguf") + " is not served: its model id is also that of " +
          dir.file("Stories.gguf") +
          " (a file's id is its name in Unicode NFC, lower-cased; the first in name order is "
          "served)",
      "--models: " + dir.file("tiny.gguf") + " is not served: its model id 'tiny' is taken by " +
          "--model (" + model_path("qwen2-tiny-q8_0.gguf") + ")"};
  EXPECT_EQ(warnings, expected);
  std::map<std::string, ModelInfo> by_id;
  for (auto& info : registry->list()) by_id.emplace(info.id, std::move(info));
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id.at("stories").file.path, dir.file("Stories.gguf"));
  EXPECT_EQ(by_id.at("tiny").source, "--model");
  registry->rescan();
  EXPECT_EQ(f.events.of(Kind::Warning).size(), 2u);
}

// A file named ".gguf" (an empty id) and one whose name holds a control or bidi character are
// left out, each with one warning (README: serve warns once of each file left out).
TEST(Registry, FilesWithAnEmptyIdOrControlCharactersAreLeftOutWithAWarning) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string forged = "a\ngengyun: model 'evil': available\nb.gguf";
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file(".gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file(forged));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("bell\x07.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("rtl\u202Egguf.exe.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("back\\slash.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("spaced .gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("\u00A0nbsp.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("thin\u2009space.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("wide\u3000.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("narrow\u202F.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("my model.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("a,b.gguf"));
  const std::string long_name = std::string(201, 'x') + ".gguf";  // (QA: served, never priced)
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file(long_name));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file(std::string(200, 'y') + ".gguf"));
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  std::vector<std::string> warnings;
  for (const RegistryEvent& e : f.events.of(Kind::Warning)) warnings.push_back(e.detail);
  const std::string unprintable =
      " is not served: its name holds control, format, invisible, private-use or unassigned "
      "characters, or "
      "bytes that are not UTF-8, which an id may not; rename the file";
  const auto lookalike = [](const std::string& code) {
    return " is not served: its model id (the name before .gguf) holds the space " + code +
           ", which shows as U+0020 does and which an id may not; rename the file";
  };
  const std::vector<std::string> expected = {
      "--models: " + dir.file(".gguf") +
          " is not served: its model id (the name before .gguf) would be empty",
      "--models: " + dir.file(forged) + unprintable,
      "--models: " + dir.file("a,b.gguf") +
          " is not served: its model id (the name before .gguf) holds a comma, which a model id "
          "may not (a key's model list is stored comma-separated); rename the file",
      "--models: " + dir.file("bell\x07.gguf") + unprintable,
      "--models: " + dir.file("narrow\u202F.gguf") + lookalike("U+202F"),
      "--models: " + dir.file("rtl\u202Egguf.exe.gguf") + unprintable,
      "--models: " + dir.file("spaced .gguf") +
          " is not served: its model id (the name before .gguf) begins or ends with a space, "
          "which an id may not; rename the file",
      "--models: " + dir.file("thin\u2009space.gguf") + lookalike("U+2009"),
      "--models: " + dir.file("wide\u3000.gguf") + lookalike("U+3000"),
      "--models: " + dir.file(long_name) +
          " is not served: its model id (the name before .gguf) is longer than 200 bytes, "
          "which a model id may not (no price or key could name it); rename the file",
      "--models: " + dir.file("\u00A0nbsp.gguf") + lookalike("U+00A0")};
  EXPECT_EQ(warnings, expected);
  std::vector<std::string> ids;
  for (const ModelInfo& info : registry->list()) ids.push_back(info.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"back\\slash", "my model", std::string(200, 'y')}));
  registry->rescan();
  EXPECT_EQ(f.events.of(Kind::Warning).size(), 11u);
}

TEST(Registry, RescanAddsAndDropsFiles) {
  REQUIRE_TESTDATA();
  TempDir dir;
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  EXPECT_TRUE(registry->list().empty());

  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("a.gguf"));
  fs::copy_file(model_path("stories260K-f32.gguf"), dir.file("b.gguf"));
  EXPECT_EQ(registry->rescan(), (std::pair{2, 0}));
  EXPECT_EQ(f.events.count(Kind::Added, "a"), 1u);
  EXPECT_EQ(registry->list().size(), 2u);
  EXPECT_EQ(registry->rescan(), (std::pair{0, 0}));

  // A loaded model whose file goes stays while a request holds it, then is dropped.
  Acquired held = registry->acquire("b");
  ASSERT_TRUE(held.lease) << held.message;
  fs::remove(dir.file("a.gguf"));
  fs::remove(dir.file("b.gguf"));
  EXPECT_EQ(registry->rescan(), (std::pair{0, 1}));
  EXPECT_EQ(f.events.count(Kind::Removed, "a"), 1u);
  ASSERT_TRUE(registry->find("b"));
  held.lease.reset();
  EXPECT_EQ(registry->rescan(), (std::pair{0, 1}));
  EXPECT_FALSE(registry->find("b"));
  EXPECT_EQ(f.events.count(Kind::Unloaded, "b"), 1u);
  EXPECT_EQ(registry->acquire("b").status, AcquireStatus::UnknownModel);
}

/// Copies `from` to `to` through a temporary file renamed over it (as `mv` puts a new file in
/// place), with the modification time `mtime` (as `cp -p` keeps one).
void put_in_place(const std::string& from, const std::string& to, fs::file_time_type mtime) {
  const std::string temporary = to + ".tmp";
  fs::copy_file(from, temporary, fs::copy_options::overwrite_existing);
  fs::permissions(temporary, fs::perms::owner_write, fs::perm_options::add);
  fs::last_write_time(temporary, mtime);
  fs::rename(temporary, to);
}

// A file changed or put back with the size and modification time it had is read again (QA:
// `cp -p` of a good copy over a broken file left the model in error until a restart; an IQ4_NL
// file of a Q4_0 one's size was listed as Q4_0).
TEST(Registry, AFileChangedWithItsSizeAndTimeKeptIsReadAgain) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string q4_0 = model_path("qwen2-tiny-q4_0.gguf");
  const std::string iq4_nl = model_path("qwen2-tiny-iq4_nl.gguf");
  ASSERT_EQ(fs::file_size(q4_0), fs::file_size(iq4_nl));
  const std::string k = dir.file("k.gguf");
  const fs::file_time_type mtime = fs::last_write_time(q4_0);
  put_in_place(q4_0, k, mtime);
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_EQ(registry->find("k")->state, ModelState::Available);
  {
    std::fstream file(k, std::ios::in | std::ios::out | std::ios::binary);
    file.write("XXXX", 4);
  }
  fs::last_write_time(k, mtime);
  registry->rescan();
  EXPECT_EQ(registry->find("k")->state, ModelState::Error);
  put_in_place(q4_0, k, mtime);
  registry->rescan();
  EXPECT_EQ(registry->find("k")->state, ModelState::Available);
  EXPECT_EQ(registry->find("k")->file.quantization, "Q4_0");
  put_in_place(iq4_nl, k, mtime);
  registry->rescan();
  EXPECT_EQ(registry->find("k")->file.quantization, "IQ4_NL");
}

/// Options serving `dir`, where m.gguf is put, the Q4_0 model, under a --max-memory of exactly
/// its figure (`bytes`, as the registry estimates it).
RegistryOptions q4_0_model_at_its_budget(Fixture& f, const TempDir& dir, int64_t& bytes) {
  put_in_place(model_path("qwen2-tiny-q4_0.gguf"), dir.file("m.gguf"),
               fs::file_time_type::clock::now());
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.max_memory_bytes = int64_t{1} << 40;
  bytes = create(o)->find("m")->memory_bytes;
  o.max_memory_bytes = bytes;
  return o;
}

// A file replaced after the last rescan is read again when it loads: the memory it is loaded
// under and its listing are the new file's (QA: an F32 file put in place of a Q4_0 one loaded
// past --max-memory under the Q4_0 estimate, listed as Q4_0).
TEST(Registry, AFileReplacedBeforeARescanLoadsAsTheNewFile) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string m = dir.file("m.gguf");
  Fixture f;
  int64_t q4_0_bytes = 0;
  RegistryOptions o = q4_0_model_at_its_budget(f, dir, q4_0_bytes);
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  put_in_place(model_path("qwen2-tiny-f32.gguf"), m, fs::file_time_type::clock::now());
  Acquired refused = registry->acquire("m");
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  const ModelInfo info = *registry->find("m");
  EXPECT_EQ(info.file.quantization, "F32");
  EXPECT_EQ(info.file.size_bytes, static_cast<int64_t>(fs::file_size(m)));
  EXPECT_EQ(refused.message, "model 'm' needs " + format_bytes(info.memory_bytes) +
                                 " (weights and KV cache), more than --max-memory " +
                                 format_bytes(q4_0_bytes));
  EXPECT_EQ(registry->memory().used_bytes, 0);
  // Put back: loaded, under the Q4_0 file's figure.
  put_in_place(model_path("qwen2-tiny-q4_0.gguf"), m, fs::file_time_type::clock::now());
  Acquired loaded = registry->acquire("m");
  ASSERT_TRUE(loaded.lease) << loaded.message;
  EXPECT_EQ(registry->find("m")->file.quantization, "Q4_0");
  EXPECT_EQ(registry->memory().used_bytes, q4_0_bytes);
}

// A file replaced while it loads (after the read that reserved its memory): the load is dropped
// and the model acquired anew, as the new file (QA: an F32 file swapped in then loaded past
// --max-memory under the Q4_0 file's figure).
TEST(Registry, AFileReplacedWhileItLoadsIsLoadedAgainAsTheNewFile) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string m = dir.file("m.gguf");
  Fixture f;
  int64_t q4_0_bytes = 0;
  RegistryOptions o = q4_0_model_at_its_budget(f, dir, q4_0_bytes);
  bool swapped = false;
  f.events.gate = [&](const RegistryEvent& e) {
    if (e.kind != Kind::LoadStarted || swapped) return;
    swapped = true;  // (the first load only)
    put_in_place(model_path("qwen2-tiny-f32.gguf"), m, fs::file_time_type::clock::now());
  };
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  Acquired refused = registry->acquire("m");
  EXPECT_TRUE(swapped);
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory) << refused.message;
  EXPECT_EQ(registry->find("m")->file.quantization, "F32");
  EXPECT_EQ(registry->memory().used_bytes, 0);
  ASSERT_EQ(f.events.of(Kind::LoadStopped).size(), 1u);
  EXPECT_EQ(f.events.of(Kind::LoadStopped)[0].detail, "the file changed while it loaded");
  EXPECT_EQ(f.events.count(Kind::Loaded, "m"), 0u);
}

// A file replaced during every load: the request gives up after kMaxAcquireAttempts loads with
// FileChanging (acquire_lease called itself again after each, without end); once the file
// stays in place, the next request loads it.
TEST(Registry, AFileReplacedDuringEveryLoadIsGivenUpAfterTheAttempts) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string m = dir.file("m.gguf");
  const std::string files[] = {model_path("qwen2-tiny-q4_0.gguf"),
                               model_path("qwen2-tiny-q8_0.gguf")};
  put_in_place(files[0], m, fs::file_time_type::clock::now());
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  int replaced = 0;
  bool replacing = true;
  f.events.gate = [&](const RegistryEvent& e) {
    // (At most two more times than the registry tries: a registry that tries on ends too.)
    if (e.kind != Kind::LoadStarted || !replacing || replaced == kMaxAcquireAttempts + 2) return;
    ++replaced;
    put_in_place(files[replaced % 2], m, fs::file_time_type::clock::now());
  };
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  Acquired refused = registry->acquire("m");
  EXPECT_FALSE(refused.lease);
  EXPECT_EQ(refused.status, AcquireStatus::FileChanging);
  EXPECT_EQ(refused.message,
            "model 'm' was not loaded: its file changed during each of 3 tries to load it (it is "
            "being written or replaced); retry once it stays in place");
  EXPECT_EQ(replaced, kMaxAcquireAttempts);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "m"), 3u);
  EXPECT_EQ(f.events.count(Kind::LoadStopped, "m"), 3u);
  EXPECT_EQ(f.events.count(Kind::Loaded, "m"), 0u);
  EXPECT_EQ(registry->find("m")->state, ModelState::Available);
  EXPECT_EQ(registry->memory().used_bytes, 0);
  replacing = false;
  Acquired loaded = registry->acquire("m");
  ASSERT_TRUE(loaded.lease) << loaded.message;
  EXPECT_EQ(registry->find("m")->file.quantization, "Q8_0");
}

// The whole folder moved away: one warning that it cannot be read (its models go), one when it
// is back (QA: only "file removed" per file).
TEST(Registry, AFolderMovedAwayAndBackIsWarnedOf) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string models = dir.file("models");
  const std::string moved = dir.file("moved");
  fs::create_directory(models);
  fs::create_symlink(model_path("stories260K-f32.gguf"), models + "/a.gguf");
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = models;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  fs::rename(models, moved);
  EXPECT_EQ(registry->rescan(), (std::pair{0, 1}));
  EXPECT_EQ(registry->rescan(), (std::pair{0, 0}));
  fs::rename(moved, models);
  EXPECT_EQ(registry->rescan(), (std::pair{1, 0}));
  std::vector<std::string> warnings;
  for (const RegistryEvent& e : f.events.of(Kind::Warning)) warnings.push_back(e.detail);
  const std::vector<std::string> expected = {
      "--models: cannot read the folder " + models +
          " (No such file or directory): its models are removed until it can be read again",
      "--models: the folder " + models + " can be read again"};
  EXPECT_EQ(warnings, expected);
  EXPECT_EQ(f.events.count(Kind::Removed, "a"), 1u);
  EXPECT_EQ(f.events.count(Kind::Added, "a"), 2u);
}

// A folder there but unreadable (a network filesystem's blip; here a symbolic link to itself,
// ELOOP, which root cannot read past either) keeps its models as last listed: a loaded model
// would otherwise be unloaded mid-service.
TEST(Registry, AFolderThatCannotBeReadForAWhileKeepsItsModels) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string models = dir.file("models");
  const std::string moved = dir.file("moved");
  fs::create_directory(models);
  fs::create_symlink(model_path("stories260K-f32.gguf"), models + "/a.gguf");
  fs::create_symlink(model_path("stories260K-f32.gguf"), models + "/b.gguf");
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = models;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("a").lease);
  fs::rename(models, moved);
  fs::create_symlink(models, models);
  EXPECT_EQ(registry->rescan(), (std::pair{0, 0}));
  const Acquired again = registry->acquire("a");
  ASSERT_TRUE(again.lease) << again.message;
  EXPECT_FALSE(again.loaded);  // it stayed loaded
  // One not loaded stays available: its file is not read through the folder meanwhile.
  EXPECT_EQ(registry->find("b")->state, ModelState::Available);
  fs::remove(models);
  fs::rename(moved, models);
  EXPECT_EQ(registry->rescan(), (std::pair{0, 0}));
  std::vector<std::string> warnings;
  for (const RegistryEvent& e : f.events.of(Kind::Warning)) warnings.push_back(e.detail);
  const std::vector<std::string> expected = {
      "--models: cannot read the folder " + models +
          " (Too many levels of symbolic links): its models are kept as last listed until it can "
          "be read again",
      "--models: the folder " + models + " can be read again"};
  EXPECT_EQ(warnings, expected);
  EXPECT_EQ(f.events.count(Kind::Removed, "a"), 0u);
  EXPECT_EQ(f.events.count(Kind::Unloaded, "a"), 0u);
}

// A folder replaced by a file is not there any more (ENOTDIR, as ENOENT): its models go.
TEST(Registry, AFolderReplacedByAFileRemovesItsModels) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string models = dir.file("models");
  fs::create_directory(models);
  fs::create_symlink(model_path("stories260K-f32.gguf"), models + "/a.gguf");
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = models;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  fs::rename(models, dir.file("moved"));
  std::ofstream(models) << "not a folder";
  EXPECT_EQ(registry->rescan(), (std::pair{0, 1}));
  EXPECT_FALSE(registry->find("a"));
  EXPECT_EQ(f.events.of(Kind::Warning).back().detail,
            "--models: cannot read the folder " + models +
                " (Not a directory): its models are removed until it can be read again");
}

TEST(Registry, TheMaintenanceThreadSeesNewFiles) {
  REQUIRE_TESTDATA();
  TempDir dir;
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.config.rescan_interval_us = 1000;
  auto registry = Registry::create(std::move(o));
  ASSERT_TRUE(registry.ok());
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("new.gguf"));
  f.events.wait_for(Kind::Added, "new");
  EXPECT_TRUE(registry.value()->find("new"));
}

TEST(Registry, AliasesAndConfigPathsResolve) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.config.models["stories"].path = model_path("stories260K-f32.gguf");
  o.config.models["stories"].aliases = {"tiny"};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  auto info = registry->find("tiny");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->id, "stories");
  EXPECT_EQ(info->source, "config");
  EXPECT_EQ(info->aliases, (std::vector<std::string>{"tiny"}));
  Acquired lease = registry->acquire("tiny");
  ASSERT_TRUE(lease.lease) << lease.message;
  EXPECT_EQ(lease.lease->id(), "stories");
}

// The server's --ctx is a ceiling: a model trained on a shorter context loads with its own,
// one trained on a longer context with the server's (stories260K: 512 tokens, qwen2-tiny 4096),
// and GET /v1/models's context_length (ModelInfo::context_length) says which.
TEST(Registry, ModelsTrainedOnLessThanTheServersContextServeTheirOwn) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o;
  o.model.n_ctx = 2048;
  o = f.options(std::move(o));
  o.config.models["stories"].path = model_path("stories260K-f32.gguf");
  o.config.models["qwen2"].path = model_path("qwen2-tiny-q8_0.gguf");
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  // Listed with the context they are served with, before their load and after.
  EXPECT_EQ(registry->find("stories")->context_length, 512);
  EXPECT_EQ(registry->find("qwen2")->context_length, 2048);
  Acquired stories = registry->acquire("stories");
  ASSERT_TRUE(stories.lease) << stories.message;
  EXPECT_EQ((*stories.lease)->n_ctx(), 512);
  Acquired qwen2 = registry->acquire("qwen2");
  ASSERT_TRUE(qwen2.lease) << qwen2.message;
  EXPECT_EQ((*qwen2.lease)->n_ctx(), 2048);
  EXPECT_EQ(registry->find("stories")->context_length, 512);
  EXPECT_EQ(registry->find("qwen2")->context_length, 2048);
}

/// qwen2-tiny (trained on 4096 tokens) served with a KV cache pool of 1 MiB (1024 positions of
/// its F16 cache) and the context `n_ctx` (0: the model's own; Fixture's is 64 tokens).
std::unique_ptr<Registry> qwen2_with_a_1_mib_pool(int n_ctx) {
  RegistryOptions o;
  o.model.n_threads = 1;
  o.model.n_ctx = n_ctx;
  o.model.kv_cache_bytes = 1 << 20;
  o.config.rescan_interval_us = 0;
  o.config.models["qwen2"].path = model_path("qwen2-tiny-q8_0.gguf");
  return create(std::move(o));
}

// A KV cache pool given in bytes that holds less than the model's context shortens it at load
// (model_instance); the listing says so before the load already (QA: 4096 listed, 1024
// served).
TEST(Registry, APoolShorterThanTheContextIsListedBeforeTheLoad) {
  REQUIRE_TESTDATA();
  auto registry = qwen2_with_a_1_mib_pool(0);
  ASSERT_TRUE(registry);
  EXPECT_EQ(registry->find("qwen2")->file.context_length, 4096);
  EXPECT_EQ(registry->find("qwen2")->context_length, 1024);
  Acquired qwen2 = registry->acquire("qwen2");
  ASSERT_TRUE(qwen2.lease) << qwen2.message;
  EXPECT_EQ((*qwen2.lease)->n_ctx(), 1024);
  EXPECT_EQ(registry->find("qwen2")->context_length, 1024);
}

// An explicit context that the pool given in bytes cannot hold once: the load would refuse it,
// so the model is listed in state error with the reason from the start (QA 2026-12-07: listed
// available, every request a 503).
TEST(Registry, APoolThatCannotHoldTheAskedContextIsListedAsAnError) {
  REQUIRE_TESTDATA();
  auto registry = qwen2_with_a_1_mib_pool(2048);
  ASSERT_TRUE(registry);
  const auto info = registry->find("qwen2");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, ModelState::Error);
  EXPECT_EQ(info->public_error,
            "a KV cache of 1 MiB holds 1024 positions, fewer than one sequence of the asked "
            "context of 2048 tokens; give it more memory (--kv-cache-mb) or ask for a shorter "
            "context (--ctx)");
  EXPECT_FALSE(registry->acquire("qwen2").lease);
}

TEST(Registry, RefusesLorasWithoutABaseOrWithATakenName) {
  REQUIRE_TESTDATA();
  RegistryOptions o;
  o.config.models["base"].loras.push_back({"chat", "a.gguf", 1.0});
  auto registry = Registry::create(std::move(o));
  ASSERT_FALSE(registry.ok());
  EXPECT_EQ(registry.error().message, "models.base.loras.chat: there is no model 'base'");
  const std::vector<std::pair<std::vector<LoraSpec>, std::string>> cases = {
      {{{"a", "qwen", {"a.gguf", 1.0f}}, {"b", "a", {"b.gguf", 1.0f}}},
       "--lora b: the base 'a' is itself a LoRA derivative (adapters of adapters do not "
       "stack)"},
      {{{"x", "nosuch", {"a.gguf", 1.0f}}}, "--lora x: there is no model 'nosuch'"},
      {{{"qwen", "qwen", {"a.gguf", 1.0f}}},
       "--lora qwen: the name 'qwen' is a served model's already"},
      {{{"q", "qwen", {"a.gguf", 1.0f}}}, "--lora q: the name 'q' is an alias of 'qwen'"},
  };
  for (const auto& [loras, message] : cases) {
    RegistryOptions with_base;
    with_base.specs = {{"qwen", model_path("qwen2-tiny-q8_0.gguf")}};
    with_base.config.models["qwen"].aliases = {"q"};
    with_base.loras = loras;
    auto refused = Registry::create(std::move(with_base));
    ASSERT_FALSE(refused.ok()) << message;
    EXPECT_EQ(refused.error().message, message);
  }
  RegistryOptions no_dir;
  no_dir.models_dir = "/nonexistent-folder";
  EXPECT_EQ(Registry::create(std::move(no_dir)).error().message,
            "--models: '/nonexistent-folder' is not a folder");
}

TEST(Registry, AnAliasThatIsAnotherModelsIdIsAnErrorAtStartAndAtARescan) {
  REQUIRE_TESTDATA();
  const std::string model = model_path("stories260K-f32.gguf");
  {
    TempDir dir;
    fs::create_symlink(model, dir.file("embed.gguf"));
    RegistryOptions o;
    o.models_dir = dir.path().string();
    o.specs = {{"moe", model}};
    o.config.models["moe"].aliases = {"embed"};
    auto refused = Registry::create(std::move(o));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message,
              "models.moe.aliases: 'embed' is also the id of the model of "
              "--models " +
                  dir.file("embed.gguf"));
  }
  {
    RegistryOptions o;
    o.specs = {{"moe", model}, {"embed", model}};
    o.config.models["moe"].aliases = {"embed"};
    auto refused = Registry::create(std::move(o));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(
        refused.error().message,
        "models.moe.aliases: 'embed' is also the id of the model given by --model embed=" + model);
  }
  // At a rescan: the new file is listed in state error, the alias keeps naming its model.
  TempDir dir;
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.specs = {{"moe", model}};
  o.config.models["moe"].aliases = {"embed"};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  fs::create_symlink(model, dir.file("embed.gguf"));
  EXPECT_EQ(registry->rescan(), (std::pair{1, 0}));
  const std::vector<ModelInfo> listed = registry->list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, "embed");
  EXPECT_EQ(listed[0].state, ModelState::Error);
  EXPECT_EQ(listed[0].file.error, "its id is an alias of 'moe'");
  EXPECT_EQ(registry->find("embed")->id, "moe");
  Acquired lease = registry->acquire("embed");
  ASSERT_TRUE(lease.lease) << lease.message;
  EXPECT_EQ(lease.lease->id(), "moe");
}

TEST(Registry, AConfigEntryWithoutAModelWarnsWithAFolderAndIsAnErrorWithout) {
  REQUIRE_TESTDATA();
  {
    RegistryOptions o;
    o.config.models["nosuch"].keep_alive_us = 60'000'000;
    auto refused = Registry::create(std::move(o));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message,
              "models.nosuch: there is no model 'nosuch' (no --model, --lora or path gives it, "
              "and no --models folder is served)");
  }
  TempDir dir;
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.config.models["nosuch"].keep_alive_us = 60'000'000;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  const std::vector<RegistryEvent> warnings = f.events.of(Kind::Warning);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].model, "nosuch");
  EXPECT_EQ(warnings[0].detail,
            "models.nosuch: there is no model 'nosuch' yet; the entry applies "
            "when a file nosuch.gguf appears in " +
                dir.path().string());
  // The entry applies to the file that appears.
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("nosuch.gguf"));
  EXPECT_EQ(registry->rescan(), (std::pair{1, 0}));
  auto info = registry->find("nosuch");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->keep_alive_us, 60'000'000);
}

// A folder file's id is its name in Unicode NFC, lower-cased beyond ASCII, so that the name a
// price or key is written with (NFC, as typed) matches it (QA: "Modèle É.gguf" was served as
// "modèle É" and a file named in NFD, as macOS stores names, as NFD "café": both served free).
// An NFC and an NFD name of the same letters are one id, the first file in name order's.
TEST(Registry, FolderIdsAreNfcAndLowerCasedBeyondAscii) {
  REQUIRE_TESTDATA();
  TempDir dir;
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("Mod\u00e8le \u00c9.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("cafe\u0301.gguf"));
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("Caf\u00e9.gguf"));
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  std::map<std::string, std::string> paths;
  for (const ModelInfo& info : registry->list()) paths.emplace(info.id, info.file.path);
  const std::map<std::string, std::string> expected = {
      {"mod\u00e8le \u00e9", dir.file("Mod\u00e8le \u00c9.gguf")},
      {"caf\u00e9", dir.file("Caf\u00e9.gguf")}};
  EXPECT_EQ(paths, expected);
  std::vector<std::string> warnings;
  for (const RegistryEvent& e : f.events.of(Kind::Warning)) warnings.push_back(e.detail);
  EXPECT_EQ(warnings,
            std::vector<std::string>{
                "--models: " + dir.file("cafe\u0301.gguf") +
                " (decomposed: not in Unicode NFC) is not served: its model id is also that of " +
                dir.file("Caf\u00e9.gguf") +
                " (a file's id is its name in Unicode NFC, lower-cased; the first in name order is "
                "served)"});
}

// The ids of a folder's files are their names lower-cased, and requests name ids exactly: an
// entry keyed by a file's upper-case name could never apply, so it is refused at start, naming
// the key to write (QA: Qwen-Small.gguf served as qwen-small, its entry's alias and pin lost).
TEST(Registry, AConfigEntryKeyedByAFilesUpperCaseNameIsRefused) {
  REQUIRE_TESTDATA();
  TempDir dir;
  fs::create_symlink(model_path("stories260K-f32.gguf"), dir.file("Qwen-Small.gguf"));
  {
    RegistryOptions o;
    o.models_dir = dir.path().string();
    o.config.models["Qwen-Small"].aliases = {"small"};
    o.config.models["Qwen-Small"].pin = true;
    auto refused = Registry::create(std::move(o));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message,
              "models.Qwen-Small: there is no model 'Qwen-Small'; the file " +
                  dir.file("Qwen-Small.gguf") +
                  " is served as 'qwen-small' (the id of a file of --models is its name "
                  "lower-cased, and requests name ids exactly): key the entry 'qwen-small'");
  }
  {
    RegistryOptions o;
    o.models_dir = dir.path().string();
    o.config.models["Later"].keep_alive_us = 0;
    auto refused = Registry::create(std::move(o));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message,
              "models.Later: there is no model 'Later' (the id of a file of --models is its name "
              "lower-cased, and requests name ids exactly): key the entry 'later'");
  }
  // Keyed by the id, the entry applies; a --model name keeps its case, and so does its entry.
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.specs = {{"Stories", model_path("stories260K-f32.gguf")}};
  o.config.models["qwen-small"].aliases = {"small"};
  o.config.models["Stories"].aliases = {"tale"};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  EXPECT_EQ(registry->find("small")->id, "qwen-small");
  EXPECT_EQ(registry->find("tale")->id, "Stories");
  EXPECT_FALSE(registry->find("Qwen-Small"));
  EXPECT_TRUE(f.events.of(Kind::Warning).empty());
}

/// Acquires `id` on `n` threads at once, the first load held until the other n - 1 callers
/// wait for it; returns what each got.
std::vector<Acquired> acquire_concurrently(Registry& registry, EventLog& events,
                                           const std::string& id, size_t n) {
  events.gate = [&](const RegistryEvent& e) {
    if (e.kind == Kind::LoadStarted) events.wait_for(Kind::WaitingForLoad, id, n - 1);
  };
  std::vector<std::future<Acquired>> futures;
  for (size_t i = 0; i < n; ++i)
    futures.push_back(std::async(std::launch::async, [&] { return registry.acquire(id); }));
  std::vector<Acquired> out;
  for (auto& fut : futures) out.push_back(fut.get());
  events.gate = nullptr;
  return out;
}

TEST(Registry, ConcurrentFirstRequestsShareOneLoad) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  std::vector<Acquired> got = acquire_concurrently(*registry, f.events, "stories", 4);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "stories"), 1u);
  EXPECT_EQ(f.events.count(Kind::Loaded, "stories"), 1u);
  for (const Acquired& a : got) {
    ASSERT_TRUE(a.lease) << a.message;
    EXPECT_EQ(&**a.lease, &**got[0].lease);
  }
  const ModelInfo info = *registry->find("stories");
  EXPECT_EQ(info.state, ModelState::Loaded);
  EXPECT_EQ(info.running, 4);
  EXPECT_GT(info.cold_start_us, 0);
  EXPECT_EQ(info.cold_start_us, f.events.of(Kind::Loaded)[0].duration_us);
}

TEST(Registry, ALoadShowsTheBytesReadInTheListingAndTheLog) {
  REQUIRE_TESTDATA();
  const std::string path = model_path("stories260K-f32.gguf");
  const auto size = static_cast<int64_t>(fs::file_size(path));
  Fixture f;
  // The load is held at its progress event, while the model is still loading.
  std::promise<void> reached, release;
  std::shared_future<void> released = release.get_future().share();
  f.events.gate = [&](const RegistryEvent& e) {
    if (e.kind != Kind::LoadProgress) return;
    reached.set_value();
    released.wait();
  };
  RegistryOptions o = f.options();
  o.specs = {{"stories", path}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  std::thread loader([&] {
    Acquired a = registry->acquire("stories");
    EXPECT_TRUE(a.lease) << a.message;
  });
  reached.get_future().wait();
  const ModelInfo loading = *registry->find("stories");
  EXPECT_EQ(loading.state, ModelState::Loading);
  EXPECT_EQ(loading.loading_bytes_read, size);  // under 64 MiB: read in one chunk
  release.set_value();
  loader.join();
  // One event (the file is one chunk, ten tenths at once): the whole file read.
  const std::vector<RegistryEvent> progress = f.events.of(Kind::LoadProgress);
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].bytes, size);
  EXPECT_EQ(progress[0].total_bytes, size);
  EXPECT_EQ(registry->find("stories")->loading_bytes_read, 0);  // loaded: no longer loading

  // A mapped file reads nothing at load: no progress.
  Fixture mapped;
  RegistryOptions m = mapped.options();
  m.model.mmap = true;
  m.specs = {{"stories", path}};
  auto mapped_registry = create(std::move(m));
  ASSERT_TRUE(mapped_registry);
  EXPECT_TRUE(mapped_registry->acquire("stories").lease);
  EXPECT_EQ(mapped.events.count(Kind::Loaded, "stories"), 1u);
  EXPECT_EQ(mapped.events.count(Kind::LoadProgress, "stories"), 0u);
}

TEST(Registry, AFailedLoadFailsItsWaitersAndIsTriedAgain) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  write_without_tensor(model_path("stories260K-f32.gguf"), path, "output_norm.weight");
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"m", path}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_EQ(registry->find("m")->state, ModelState::Available);

  std::vector<Acquired> got = acquire_concurrently(*registry, f.events, "m", 3);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "m"), 1u);
  const std::string load_error = f.events.of(Kind::LoadFailed).at(0).detail;
  EXPECT_NE(load_error.find("output_norm.weight"), std::string::npos) << load_error;
  // Clients get the reason without the server's path (the log and the admin keep it).
  ASSERT_TRUE(load_error.starts_with(path + ": ")) << load_error;
  for (const Acquired& a : got) {
    EXPECT_FALSE(a.lease);
    EXPECT_EQ(a.status, AcquireStatus::LoadFailed);
    EXPECT_EQ(a.message, "model 'm' cannot be loaded: " + load_error.substr(path.size() + 2));
  }
  EXPECT_EQ(registry->find("m")->state, ModelState::Available);
  EXPECT_EQ(registry->find("m")->last_load_error, load_error);

  // Not poisoned: the next request loads again, and with the file repaired it succeeds.
  fs::remove(path);
  fs::copy_file(model_path("stories260K-f32.gguf"), path);
  Acquired again = registry->acquire("m");
  ASSERT_TRUE(again.lease) << again.message;
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "m"), 2u);
  EXPECT_EQ(registry->find("m")->last_load_error, "");
}

TEST(Registry, IdleModelsUnloadWhenTheirKeepAliveRunsOut) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")}};
  o.config.keep_alive_us = 10'000'000;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("stories").lease);  // released at once: idle from now
  EXPECT_EQ(registry->find("stories")->unloads_in_us, 10'000'000);
  f.clock_us += 9'999'999;
  EXPECT_EQ(registry->collect_idle(), 0);
  EXPECT_EQ(registry->find("stories")->state, ModelState::Loaded);
  EXPECT_EQ(registry->find("stories")->unloads_in_us, 1);
  f.clock_us += 1;
  registry->collect_idle();
  EXPECT_EQ(registry->find("stories")->state, ModelState::Available);
  EXPECT_EQ(f.events.count(Kind::Unloaded, "stories"), 1u);
  EXPECT_EQ(f.events.of(Kind::Unloaded)[0].detail, "idle");
}

TEST(Registry, KeepAliveOfTheRequestWinsAndMinusOneIsForever) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("stories", kKeepForever).lease);
  f.clock_us += int64_t{50} * 365 * 24 * 3600 * 1'000'000;
  EXPECT_EQ(registry->collect_idle(), 0);
  EXPECT_EQ(registry->find("stories")->unloads_in_us, kKeepForever);
  ASSERT_TRUE(registry->acquire("stories", 60'000'000).lease);
  f.clock_us += 60'000'000;
  registry->collect_idle();
  EXPECT_EQ(registry->find("stories")->state, ModelState::Available);
}

TEST(Registry, KeepAliveZeroUnloadsAfterTheRequest) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  Acquired first = registry->acquire("stories", 0);
  Acquired second = registry->acquire("stories", 0);
  ASSERT_TRUE(first.lease && second.lease);
  first.lease.reset();
  // Never under a running request: the second still holds it.
  EXPECT_EQ(registry->collect_idle(), 0);
  EXPECT_EQ(registry->unload("stories").error().message,
            "model 'stories' has 1 request(s) running; it is never unloaded under a request");
  EXPECT_EQ(registry->find("stories")->state, ModelState::Loaded);
  second.lease.reset();
  f.events.wait_for(Kind::Unloaded, "stories");  // by the maintenance thread, on release
  EXPECT_EQ(registry->find("stories")->state, ModelState::Available);
}

// A server's stop destroys the registry while requests may still be ending: the last lease is
// then released on the model's own engine thread, from the request's event callback. The
// registry waits for it and destroys the model on its own thread (before, it returned at once,
// the lease then called into the freed registry and the engine thread had to join itself:
// "Resource deadlock avoided"). The callback holds the finished event until the test says so.
TEST(Registry, DestructionWaitsForALeaseEndingOnTheEnginesThread) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  Acquired acquired = registry->acquire("stories");
  ASSERT_TRUE(acquired.lease) << acquired.message;
  auto lease = std::make_shared<std::optional<ModelLease>>(std::move(acquired.lease));
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  const std::thread::id test_thread = std::this_thread::get_id();
  // A request whose finished event will come on the engine's thread: one that ended before
  // its callback was set gave it on this thread, at on_ready, and is tried again.
  std::unique_ptr<RequestHandle> handle;
  std::atomic<bool> held_on_engine_thread{false};
  for (int attempt = 0; attempt < 20 && !handle; ++attempt) {
    EngineRequest request;
    request.prompt = {1, 2, 3};
    request.params.max_tokens = -1;
    request.params.ignore_eos = true;
    Submission s = (**lease)->submit(std::move(request));
    ASSERT_TRUE(s.handle) << s.message;
    auto finished_here = std::make_shared<bool>(false);
    RequestHandle* h = s.handle.get();
    h->on_ready([h, lease, opened, test_thread, finished_here, &held_on_engine_thread] {
      while (std::optional<GenerationEvent> e = h->next(0)) {
        if (!e->finished) continue;
        if (std::this_thread::get_id() == test_thread) {
          *finished_here = true;
          continue;
        }
        held_on_engine_thread = true;
        opened.wait();
        lease->reset();
      }
    });
    if (!*finished_here) handle = std::move(s.handle);
  }
  ASSERT_TRUE(handle) << "every request ended before its callback was set";
  auto destroyed = std::async(std::launch::async, [&registry] { registry.reset(); });
  EXPECT_EQ(destroyed.wait_for(std::chrono::seconds(1)), std::future_status::timeout)
      << "the registry was destroyed under a lease";
  gate.set_value();
  destroyed.get();
  EXPECT_TRUE(held_on_engine_thread);
  EXPECT_FALSE(lease->has_value());
  handle.reset();
}

/// Three copies of one model in a folder, under a budget that holds two of them.
struct BudgetFixture : Fixture {
  TempDir dir;
  std::unique_ptr<Registry> registry;
  int64_t each = 0;
  void start(int64_t memory_wait_us = 0, int max_memory_waiters = 16) {
    for (const char* id : {"a", "b", "c"})
      fs::copy_file(model_path("stories260K-f32.gguf"), dir.file(std::string(id) + ".gguf"));
    RegistryOptions o = options();
    o.models_dir = dir.path().string();
    o.max_memory_bytes = int64_t{1} << 40;  // a budget: the KV pool is one whole context
    {
      auto probe = create(o);
      ASSERT_TRUE(probe);
      each = probe->find("a")->memory_bytes;
    }
    o.max_memory_bytes = 2 * each + each / 2;
    o.memory_wait_us = memory_wait_us;
    o.max_memory_waiters = max_memory_waiters;
    registry = create(std::move(o));
  }
  void use(const std::string& id) {
    clock_us += 1000;
    Acquired a = registry->acquire(id);
    ASSERT_TRUE(a.lease) << a.message;
  }
};

TEST(Registry, MemoryBudgetEvictsTheLeastRecentlyUsedIdleModel) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start();
  ASSERT_TRUE(f.registry);
  // The estimate: the file plus one whole context (64 positions) of f16 keys and values of
  // stories260K's 5 layers, 4 KV heads of 8 dimensions.
  EXPECT_EQ(f.each, static_cast<int64_t>(fs::file_size(model_path("stories260K-f32.gguf"))) +
                        2 * 5 * 4 * 8 * 64 * 2);
  f.use("a");
  // What the load took is what was estimated.
  EXPECT_EQ(f.registry->find("a")->memory_bytes, f.each);
  f.use("b");
  f.use("a");  // b is now the least recently used
  f.use("c");
  EXPECT_EQ(f.registry->find("b")->state, ModelState::Available);
  EXPECT_EQ(f.registry->find("a")->state, ModelState::Loaded);
  EXPECT_EQ(f.registry->find("c")->state, ModelState::Loaded);
  ASSERT_EQ(f.events.of(Kind::Unloaded).size(), 1u);
  EXPECT_EQ(f.events.of(Kind::Unloaded)[0].model, "b");
  EXPECT_EQ(f.events.of(Kind::Unloaded)[0].detail, "evicted to load 'c'");
  EXPECT_EQ(f.registry->memory().used_bytes, 2 * f.each);
  f.use("b");  // a is now the least recently used
  EXPECT_EQ(f.events.of(Kind::Unloaded).back().model, "a");
}

// A request whose model needs memory that running requests hold waits for them (memory_wait_us)
// instead of 503; the model it waits for takes no new request meanwhile (it drains), the others
// do. Room for two of the three models: a and b run, c waits for a (the least recently used).
TEST(Registry, ARequestWaitsForMemoryThatRunningRequestsHold) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(60'000'000);
  ASSERT_TRUE(f.registry);
  f.clock_us += 1000;
  std::optional<Acquired> a(f.registry->acquire("a"));
  f.clock_us += 1000;
  std::optional<Acquired> b(f.registry->acquire("b"));
  ASSERT_TRUE((*a).lease && (*b).lease);
  std::promise<void> c_may_end;
  std::thread c_thread([&] {
    Acquired c = f.registry->acquire("c");
    EXPECT_TRUE(c.lease) << c.message;
    EXPECT_TRUE(c.loaded);
    c_may_end.get_future().wait();
  });
  f.events.wait_for(Kind::WaitingForMemory, "c");
  // a drains: a new request for it waits too; b takes new requests.
  std::thread a_thread([&] {
    Acquired again = f.registry->acquire("a");
    EXPECT_TRUE(again.lease) << again.message;
    EXPECT_TRUE(again.loaded);  // loaded again, after c
  });
  f.events.wait_for(Kind::WaitingForMemory, "a");
  {
    Acquired b_again = f.registry->acquire("b");
    EXPECT_TRUE(b_again.lease);
  }
  EXPECT_EQ(f.events.count(Kind::Unloaded, "a"), 0u);
  f.clock_us += 1000;  // c, once loaded, is used after b
  a.reset();           // a's running request ends: c loads in its place
  f.events.wait_for(Kind::Loaded, "c");
  ASSERT_EQ(f.events.of(Kind::Unloaded).size(), 1u);
  EXPECT_EQ(f.events.of(Kind::Unloaded)[0].model, "a");
  EXPECT_EQ(f.events.of(Kind::Unloaded)[0].detail, "evicted to load 'c'");
  const std::string each = format_bytes(f.each);
  EXPECT_EQ(f.events.of(Kind::WaitingForMemory)[0].detail,
            "model 'c' needs " + each + " but only " + format_bytes(f.each / 2) +
                " of --max-memory " + format_bytes(2 * f.each + f.each / 2) +
                " is free and no idle model can be unloaded; held by 'a' (1 request(s) running, " +
                each + "), 'b' (1 request(s) running, " + each + ")");
  EXPECT_EQ(f.events.of(Kind::WaitingForMemory)[1].detail,
            "model 'a' is draining to make room for another model");
  // The request for a now waits for b (running, and the least recently used of b and c).
  b.reset();
  f.events.wait_for(Kind::Loaded, "a", 2);
  EXPECT_EQ(f.events.of(Kind::Unloaded).back().model, "b");
  a_thread.join();
  c_may_end.set_value();
  c_thread.join();
}

// A request waiting for memory whose model's file is removed ends when a rescan drops the model,
// while the memory is still held: not served here any more, and nothing is evicted for it (QA:
// it evicted another model, then failed to load the missing file; it waited for memory first).
TEST(Registry, AWaiterForMemoryWhoseFileIsRemovedEnds) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(int64_t{3600} * 1'000'000);  // (past the test's timeout: only the rescan ends the wait)
  ASSERT_TRUE(f.registry);
  std::optional<Acquired> a(f.registry->acquire("a"));
  std::optional<Acquired> b(f.registry->acquire("b"));
  ASSERT_TRUE((*a).lease && (*b).lease);
  Acquired c;
  std::thread c_thread([&] { c = f.registry->acquire("c"); });
  f.events.wait_for(Kind::WaitingForMemory, "c");
  fs::remove(f.dir.file("c.gguf"));
  EXPECT_EQ(f.registry->rescan(), (std::pair{0, 1}));  // the waiter ends: a and b still run
  c_thread.join();
  a.reset();
  EXPECT_EQ(c.status, AcquireStatus::UnknownModel);
  EXPECT_EQ(c.message, "model 'c' is not served here any more (its file was removed)");
  EXPECT_FALSE(c.lease);
  EXPECT_EQ(f.events.count(Kind::Unloaded, "a"), 0u);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "c"), 0u);
}

// Past its wait the request is refused as at once, and the model it drained takes requests
// again; where no unloading could make room it does not wait at all.
TEST(Registry, AWaitForMemoryEndsAtItsDeadlineOrIsNotTakenWhenItCannotHelp) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(1000);
  ASSERT_TRUE(f.registry);
  f.use("a");
  Acquired a = f.registry->acquire("a");
  Acquired b = f.registry->acquire("b");
  ASSERT_TRUE(a.lease && b.lease);
  Acquired refused = f.registry->acquire("c");
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  // (the time it waited is a few milliseconds here, as the machine allows)
  EXPECT_NE(refused.message.find("; waited "), std::string::npos) << refused.message;
  EXPECT_TRUE(refused.message.ends_with(" s for the requests holding it to end"))
      << refused.message;
  EXPECT_EQ(f.events.count(Kind::WaitingForMemory, "c"), 1u);
  Acquired a_again = f.registry->acquire("a");
  EXPECT_TRUE(a_again.lease);
  EXPECT_FALSE(a_again.loaded);

  BudgetFixture pinned;
  pinned.start(60'000'000);
  ASSERT_TRUE(pinned.registry);
  ASSERT_TRUE(pinned.registry->set_pinned("a", true).ok());
  ASSERT_TRUE(pinned.registry->set_pinned("b", true).ok());
  pinned.use("a");
  pinned.use("b");
  Acquired none = pinned.registry->acquire("c");
  EXPECT_EQ(none.status, AcquireStatus::OutOfMemory);
  EXPECT_EQ(pinned.events.count(Kind::WaitingForMemory, "c"), 0u);
}

// A server ending its requests ends the waits too (Server::end_in_flight): the waiter for
// memory is refused at once, the one for the model it drained takes it.
TEST(Registry, EndWaitsEndsTheWaitsForMemoryInProgress) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(60'000'000);
  ASSERT_TRUE(f.registry);
  f.clock_us += 1000;
  Acquired a = f.registry->acquire("a");
  f.clock_us += 1000;
  Acquired b = f.registry->acquire("b");
  ASSERT_TRUE(a.lease && b.lease);
  std::thread c_thread([&] {
    const Acquired c = f.registry->acquire("c");
    EXPECT_EQ(c.status, AcquireStatus::Stopping);
    EXPECT_EQ(c.message, "model 'c' was not loaded: the server is stopping");
  });
  f.events.wait_for(Kind::WaitingForMemory, "c");
  std::thread a_thread([&] {
    const Acquired again = f.registry->acquire("a");
    EXPECT_TRUE(again.lease);
    EXPECT_FALSE(again.loaded);
  });
  f.events.wait_for(Kind::WaitingForMemory, "a");
  f.registry->end_waits();
  c_thread.join();
  a_thread.join();
  EXPECT_EQ(f.events.count(Kind::Unloaded, "a"), 0u);
  // Later calls wait as before.
  std::thread later([&] {
    const Acquired c = f.registry->acquire("c");
    EXPECT_TRUE(c.lease) << c.message;
  });
  f.events.wait_for(Kind::WaitingForMemory, "c", 2);
  a = {};
  later.join();
}

// A waiter whose client left (its `abandoned` flag set, then wake_waiters()) stops waiting:
// Abandoned, nothing unloaded or loaded for it, and the model it drained takes requests again;
// a request for a draining model whose client left ends the same way. Flags of requests that
// do not wait change nothing.
TEST(Registry, AWaiterWhoseClientLeftStopsWaiting) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(600'000'000);
  ASSERT_TRUE(f.registry);
  f.clock_us += 1000;
  std::atomic<bool> gone{true};
  Acquired a = f.registry->acquire("a", std::nullopt, &gone);  // no wait: the flag is not read
  ASSERT_TRUE(a.lease) << a.message;
  f.clock_us += 1000;
  Acquired b = f.registry->acquire("b");
  ASSERT_TRUE(b.lease);
  std::atomic<bool> c_left{false};
  std::thread c_thread([&] {
    const Acquired c = f.registry->acquire("c", std::nullopt, &c_left);
    EXPECT_EQ(c.status, AcquireStatus::Abandoned);
    EXPECT_EQ(c.message,
              "the request for model 'c' ended: its client left while it waited for memory");
  });
  f.events.wait_for(Kind::WaitingForMemory, "c");
  std::atomic<bool> a_left{false};
  std::thread a_thread([&] {
    const Acquired again = f.registry->acquire("a", std::nullopt, &a_left);
    EXPECT_EQ(again.status, AcquireStatus::Abandoned);
    EXPECT_EQ(again.message,
              "the request for model 'a' ended: its client left while it waited for memory");
  });
  f.events.wait_for(Kind::WaitingForMemory, "a");
  a_left = true;
  f.registry->wake_waiters();
  a_thread.join();
  c_left = true;
  f.registry->wake_waiters();
  c_thread.join();
  EXPECT_EQ(f.events.count(Kind::Unloaded, "a"), 0u);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "c"), 0u);
  // a drains no more: a new request takes it at once.
  const Acquired again = f.registry->acquire("a");
  EXPECT_TRUE(again.lease);
  EXPECT_EQ(f.events.count(Kind::WaitingForMemory, "a"), 1u);
  // A request that finds no room and whose client has left ends without waiting.
  const Acquired late = f.registry->acquire("c", std::nullopt, &gone);
  EXPECT_EQ(late.status, AcquireStatus::Abandoned);
  EXPECT_EQ(f.events.count(Kind::WaitingForMemory, "c"), 1u);
}

// The model a waiter needs is let go while the waiter reports that it waits (its lock let go
// for the report; here the release runs in the report itself): the waiter looks again before
// it waits, and loads at once (it missed the release and slept to its deadline).
TEST(Registry, AReleaseWhileAWaiterReportsItIsNotMissed) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(600'000'000);
  ASSERT_TRUE(f.registry);
  f.clock_us += 1000;
  std::optional<Acquired> a(f.registry->acquire("a"));
  f.clock_us += 1000;
  Acquired b = f.registry->acquire("b");
  ASSERT_TRUE((*a).lease && b.lease);
  f.events.gate = [&](const RegistryEvent& e) {
    if (e.kind == Kind::WaitingForMemory && e.model == "c") a.reset();
  };
  std::thread c_thread([&] {
    const Acquired c = f.registry->acquire("c");
    EXPECT_TRUE(c.lease) << c.message;
  });
  f.events.wait_for(Kind::Loaded, "c");
  c_thread.join();
  f.events.gate = nullptr;
}

// Waiters are bounded (each holds a handler thread the running requests need): past the bound
// a request for memory is refused at once, one for a draining model takes it.
TEST(Registry, WaitersForMemoryAreBounded) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start(60'000'000, 1);
  ASSERT_TRUE(f.registry);
  f.clock_us += 1000;
  std::optional<Acquired> a(f.registry->acquire("a"));
  f.clock_us += 1000;
  Acquired b = f.registry->acquire("b");
  ASSERT_TRUE((*a).lease && b.lease);
  std::thread c_thread([&] {
    const Acquired c = f.registry->acquire("c");
    EXPECT_TRUE(c.lease) << c.message;
  });
  f.events.wait_for(Kind::WaitingForMemory, "c");
  const Acquired second = f.registry->acquire("c");
  EXPECT_EQ(second.status, AcquireStatus::OutOfMemory);
  EXPECT_TRUE(second.message.ends_with("; 1 request(s) already wait for memory, the most that may"))
      << second.message;
  std::optional<Acquired> drained(f.registry->acquire("a"));
  EXPECT_TRUE((*drained).lease);
  EXPECT_EQ(f.events.count(Kind::WaitingForMemory, "a"), 0u);
  drained.reset();
  a.reset();
  c_thread.join();
}

TEST(Registry, MemoryBudgetRefusesWhenNothingCanBeEvicted) {
  REQUIRE_TESTDATA();
  BudgetFixture f;
  f.start();
  ASSERT_TRUE(f.registry);
  ASSERT_TRUE(f.registry->set_pinned("a", true).ok());
  f.use("a");
  Acquired running = f.registry->acquire("b");
  ASSERT_TRUE(running.lease);
  Acquired refused = f.registry->acquire("c");
  EXPECT_FALSE(refused.lease);
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  const std::string each = format_bytes(f.each);
  EXPECT_EQ(refused.message,
            "model 'c' needs " + each + " but only " + format_bytes(f.each / 2) +
                " of --max-memory " + format_bytes(2 * f.each + f.each / 2) +
                " is free and no idle model can be unloaded; held by 'a' (pinned, " + each +
                "), 'b' (1 request(s) running, " + each + ")");
  EXPECT_EQ(f.registry->find("c")->state, ModelState::Available);
  EXPECT_EQ(f.registry->unload("a").error().message, "model 'a' is pinned; unpin it first");
  f.clock_us += int64_t{3600} * 1'000'000;
  EXPECT_EQ(f.registry->collect_idle(), 0);  // pinned: never idle-unloaded

  // Once b's request ends, b is idle and c's load evicts it.
  running.lease.reset();
  f.use("c");
  EXPECT_EQ(f.events.of(Kind::Unloaded).back().model, "b");
  EXPECT_EQ(f.registry->find("a")->state, ModelState::Loaded);
}

// A refusal that idle models could not prevent names them apart from the models that hold
// memory (QA 2026-12-07: it said "no idle model can be unloaded" with an idle model loaded).
TEST(Registry, ARefusalNamesTheIdleModelsTooSmallToMakeRoom) {
  REQUIRE_TESTDATA();
  TempDir dir;
  for (const char* id : {"a", "b"})
    fs::copy_file(model_path("stories260K-f32.gguf"), dir.file(std::string(id) + ".gguf"));
  fs::copy_file(model_path("qwen2-tiny-f32.gguf"), dir.file("big.gguf"));
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.max_memory_bytes = int64_t{1} << 40;  // a budget: the KV pool is one whole context
  int64_t each = 0;
  int64_t big = 0;
  {
    auto probe = create(o);
    ASSERT_TRUE(probe);
    each = probe->find("a")->memory_bytes;
    big = probe->find("big")->memory_bytes;
  }
  ASSERT_GT(big, 2 * each);
  // Room for big and half of a: a and b fit, big fits only once both are gone.
  o.max_memory_bytes = big + each / 2;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("a").lease);
  Acquired running = registry->acquire("b");
  ASSERT_TRUE(running.lease);
  Acquired refused = registry->acquire("big");
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  EXPECT_EQ(refused.message, "model 'big' needs " + format_bytes(big) + " but only " +
                                 format_bytes(big + each / 2 - 2 * each) + " of --max-memory " +
                                 format_bytes(big + each / 2) +
                                 " is free, and unloading the idle models 'a' (" +
                                 format_bytes(each) + ") would free too little; held by 'b' (1 " +
                                 "request(s) running, " + format_bytes(each) + ")");
  EXPECT_EQ(registry->find("a")->state, ModelState::Loaded);
}

TEST(Registry, AModelLargerThanTheBudgetIsRefused) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")}};
  o.max_memory_bytes = 1000;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  Acquired refused = registry->acquire("stories");
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  EXPECT_EQ(refused.message, "model 'stories' needs " +
                                 format_bytes(registry->find("stories")->memory_bytes) +
                                 " (weights and KV cache), more than --max-memory 1000 B");
}

// A pinned model that cannot be served fails the start naming its pin (QA: the message did not
// say why the model was loaded at start).
TEST(Registry, APinnedModelThatCannotBeServedNamesItsPin) {
  REQUIRE_TESTDATA();
  TempDir dir;
  write_text(dir.file("bad.gguf"), "not gguf");
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"bad", dir.file("bad.gguf")}};
  o.config.models["bad"].pin = true;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  const Result<void> pinned = registry->load_pinned();
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.error().message,
            "models.bad.pin: a pinned model loads at start, and model 'bad' cannot be served: "
            "not a GGUF file: starts with bytes 6e 6f 74 20, expected 'GGUF' (47 47 55 46)");
}

// The errors about an entry of a config read from a file name the file before the entry's key,
// as the config's own errors do (Config::path; serve added the file where a message began with
// "models."); a config not read from a file gives the key alone (the tests above).
TEST(Registry, ErrorsAboutAnEntryOfAConfigFileNameTheFile) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string model = model_path("stories260K-f32.gguf");
  const std::string bad = dir.file("bad.gguf");
  write_text(bad, "not gguf");
  const std::string file = dir.file("gengyun.yaml");
  const auto options_of = [&](const std::string& yaml) {
    write_text(file, yaml);
    auto config = load_config(file);
    EXPECT_TRUE(config.ok()) << yaml;
    RegistryOptions o;
    o.specs = {{"q", model}, {"bad", bad}};
    if (config.ok()) o.config = std::move(config.value());
    return o;
  };
  const std::pair<std::string, std::string> refusals[] = {
      {"models:\n  a:\n    aliases: [q]\n",
       "models.a.aliases: 'q' is also the id of the model given by --model q=" + model},
      {"models:\n  q:\n    path: x.gguf\n", "models.q.path: the id 'q' is given by --model too"},
      {"models:\n  none:\n    keep_alive: 1m\n",
       "models.none: there is no model 'none' (no --model, --lora or path gives it, and no "
       "--models folder is served)"},
      {"models:\n  q:\n    loras:\n      bad: {adapter: a.gguf}\n",
       "models.q.loras.bad: the name 'bad' is a served model's already"},
  };
  for (const auto& [yaml, message] : refusals) {
    auto refused = Registry::create(options_of(yaml));
    ASSERT_FALSE(refused.ok()) << yaml;
    EXPECT_EQ(refused.error().message, "--config " + file + ": " + message);
  }
  auto registry = Registry::create(options_of("models:\n  bad:\n    pin: true\n"));
  ASSERT_TRUE(registry.ok()) << registry.error().message;
  const Result<void> pinned = registry.value()->load_pinned();
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.error().message,
            "--config " + file +
                ": models.bad.pin: a pinned model loads at start, and model 'bad' cannot be "
                "served: not a GGUF file: starts with bytes 6e 6f 74 20, expected 'GGUF' (47 47 "
                "55 46)");
}

TEST(Registry, AdminUnloadAndPinnedModelsLoadedAtStart) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"stories", model_path("stories260K-f32.gguf")},
             {"llama", model_path("llama-tiny-q8_0.gguf")}};
  o.config.models["llama"].pin = true;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  EXPECT_EQ(registry->unload("stories").error().message,
            "model 'stories' is not loaded (it is available)");
  ASSERT_TRUE(registry->load_pinned().ok());
  EXPECT_EQ(registry->find("llama")->state, ModelState::Loaded);
  EXPECT_TRUE(registry->find("llama")->pinned);
  EXPECT_EQ(registry->find("stories")->state, ModelState::Available);
  ASSERT_TRUE(registry->set_pinned("llama", false).ok());
  ASSERT_TRUE(registry->unload("llama").ok());
  EXPECT_EQ(registry->find("llama")->state, ModelState::Available);
  EXPECT_EQ(f.events.of(Kind::Unloaded).back().detail, "admin");
  EXPECT_EQ(registry->set_pinned("nope", true).error().message, "model 'nope' is not served here");
}

// A file that cannot be served: the admin's reason holds its path, the reason every key sees
// (ModelInfo::public_error, acquire's message) does not; it takes no memory (issue 11 QA).
TEST(Registry, ReasonsForClientsHoldNoPath) {
  REQUIRE_TESTDATA();
  TempDir dir;
  write_text(dir.file("notes.gguf"), "these are notes, not a model\n");
  fs::create_symlink(dir.file("missing-target"), dir.file("dangling.gguf"));
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.max_memory_bytes = int64_t{1} << 30;
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  for (const std::string id : {"notes", "dangling"}) {
    SCOPED_TRACE(id);
    const std::string path = dir.file(id + ".gguf");
    const ModelInfo info = *registry->find(id);
    ASSERT_EQ(info.state, ModelState::Error);
    const std::string full = gguf::File::open(path).error().message;
    EXPECT_EQ(info.file.error, full);
    ASSERT_TRUE(full.starts_with(path + ": ")) << full;
    EXPECT_EQ(info.public_error, full.substr(path.size() + 2));
    EXPECT_EQ(info.public_error.find(dir.path().string()), std::string::npos);
    EXPECT_EQ(info.memory_bytes, 0);
    const Acquired refused = registry->acquire(id);
    EXPECT_EQ(refused.status, AcquireStatus::Unservable);
    EXPECT_EQ(refused.message, "model '" + id + "' cannot be served: " + info.public_error);
  }
  EXPECT_TRUE(registry->find("notes")->public_error.starts_with("not a GGUF file: starts with"))
      << registry->find("notes")->public_error;
  EXPECT_EQ(registry->memory().used_bytes, 0);
}

/// A registry serving qwen2-tiny-f32 as "base" and `adapter` as its derivative "chat".
std::unique_ptr<Registry> with_derivative(Fixture& f, const std::string& base_path,
                                          const std::string& adapter) {
  RegistryOptions o = f.options();
  o.specs = {{"base", base_path}};
  o.loras = {{"chat", "base", {adapter, 1.0f}}};
  return create(std::move(o));
}

// An adapter that does not fit its base (another architecture): the failed load leaves the
// derivative in state error with the reason naming the mismatch, no path for clients, and the
// base it loaded for nothing unloaded at once; later requests do not load the base again.
TEST(Registry, AnAdapterThatDoesNotFitIsAnErrorAndDoesNotKeepItsBase) {
  REQUIRE_TESTDATA();
  Fixture f;
  const std::string base_path = model_path("stories260K-f32.gguf");
  const std::string adapter = gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf");
  auto registry = with_derivative(f, base_path, adapter);
  ASSERT_TRUE(registry);
  ASSERT_EQ(registry->find("chat")->state, ModelState::Available);

  const Acquired failed = registry->acquire("chat");
  EXPECT_FALSE(failed.lease);
  EXPECT_EQ(failed.status, AcquireStatus::LoadFailed);
  const std::string mismatch =
      "the adapter is for architecture 'qwen2' but the base model is 'llama'";
  EXPECT_EQ(failed.message, "model 'chat' cannot be loaded: " + mismatch);
  const ModelInfo chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Error);
  EXPECT_EQ(chat.file.error, adapter + ": " + mismatch);
  EXPECT_EQ(chat.public_error, mismatch);
  EXPECT_EQ(chat.last_load_error, adapter + ": " + mismatch);
  EXPECT_EQ(chat.memory_bytes, 0);
  // The base was loaded for this adapter only: unloaded, not kept for its keep-alive.
  EXPECT_EQ(f.events.count(Kind::Loaded, "base"), 1u);
  ASSERT_EQ(f.events.count(Kind::Unloaded, "base"), 1u);
  EXPECT_EQ(f.events.of(Kind::Unloaded).at(0).detail, "its derivative 'chat' failed to load");
  EXPECT_EQ(registry->find("base")->state, ModelState::Available);
  EXPECT_EQ(registry->memory().used_bytes, 0);

  const Acquired again = registry->acquire("chat");
  EXPECT_EQ(again.status, AcquireStatus::Unservable);
  EXPECT_EQ(again.message, "model 'chat' cannot be served: " + mismatch);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "base"), 1u);
}

// A derivative whose adapter file does not exist is state error from the start, available
// once the file appears (rescan), and error again when it goes.
TEST(Registry, AMissingAdapterIsAnErrorUntilItsFileAppears) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string adapter = dir.file("chat.gguf");
  Fixture f;
  auto registry = with_derivative(f, model_path("qwen2-tiny-f32.gguf"), adapter);
  ASSERT_TRUE(registry);
  ModelInfo chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Error);
  EXPECT_EQ(chat.file.error, adapter + ": the adapter file does not exist");
  EXPECT_EQ(chat.public_error, "the adapter file does not exist");
  // The start-up event (the log's line) carries the reason, not "available".
  ASSERT_EQ(f.events.count(Kind::Added, "chat"), 1u);
  for (const RegistryEvent& e : f.events.of(Kind::Added))
    if (e.model == "chat") {
      EXPECT_EQ(e.detail, chat.file.error);
    }
  const Acquired refused = registry->acquire("chat");
  EXPECT_EQ(refused.status, AcquireStatus::Unservable);
  EXPECT_EQ(refused.message, "model 'chat' cannot be served: the adapter file does not exist");
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "base"), 0u);

  fs::copy_file(gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), adapter);
  registry->rescan();
  EXPECT_EQ(registry->find("chat")->state, ModelState::Available);
  fs::remove(adapter);
  registry->rescan();
  chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Error);
  EXPECT_EQ(chat.public_error, "the adapter file does not exist");
}

// A derivative of a base that cannot be served is listed in state error with the base's
// reason (no path), holds no memory, and its requests fail without a load.
TEST(Registry, ADerivativeOfABaseThatCannotBeServedIsAnError) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string base_path = dir.file("base.gguf");
  write_text(base_path, "not a model");
  Fixture f;
  auto registry = with_derivative(f, base_path,
                                  gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"));
  ASSERT_TRUE(registry);
  const ModelInfo base = *registry->find("base");
  ASSERT_EQ(base.state, ModelState::Error);
  const ModelInfo chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Error);
  EXPECT_EQ(chat.public_error, "its base 'base' cannot be served: " + base.public_error);
  EXPECT_EQ(chat.public_error.find(base_path), std::string::npos);
  EXPECT_EQ(chat.memory_bytes, 0);
  const Acquired refused = registry->acquire("chat");
  EXPECT_FALSE(refused.lease);
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "chat"), 0u);
}

// Unloading a base that its idle loaded derivative holds names the derivative, not requests.
TEST(Registry, UnloadingABaseHeldByItsDerivativeNamesIt) {
  REQUIRE_TESTDATA();
  Fixture f;
  auto registry = with_derivative(f, model_path("qwen2-tiny-f32.gguf"),
                                  gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("chat").lease);
  EXPECT_EQ(registry->unload("base").error().message,
            "model 'base' is held by its loaded derivative(s) 'chat' (unload those first)");
  Acquired request = registry->acquire("base");
  ASSERT_TRUE(request.lease);
  EXPECT_EQ(registry->unload("base").error().message,
            "model 'base' has 1 request(s) running; it is never unloaded under a request; it is "
            "held by its loaded derivative(s) 'chat' (unload those first)");
  request.lease.reset();
  ASSERT_TRUE(registry->unload("chat").ok());
  EXPECT_TRUE(registry->unload("base").ok());
}

// A base's keep-alive is its last request's, also when the derivative that held it unloads
// later (QA 2026-12-07: the derivative's own hold on its base, released last, reset the base's
// keep-alive to the default, so a request's keep_alive "10s" on the base was lost).
TEST(Registry, ADerivativesHoldOnItsBaseLeavesTheBasesKeepAlive) {
  REQUIRE_TESTDATA();
  Fixture f;
  auto registry = with_derivative(f, model_path("qwen2-tiny-f32.gguf"),
                                  gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("chat", 2'000'000).lease);
  ASSERT_TRUE(registry->acquire("base", 10'000'000).lease);
  f.clock_us += 1'000'000;
  ASSERT_TRUE(registry->unload("chat").ok());
  const ModelInfo base = *registry->find("base");
  ASSERT_EQ(base.state, ModelState::Loaded);
  EXPECT_EQ(base.running, 0);
  EXPECT_EQ(base.unloads_in_us, 10'000'000);
}

// A derivative whose adapter did not fit its base is tried again once the base's file changes
// (QA 2026-12-07: a llama file put in the base's place and then the qwen2 file back left the
// derivative in error for good, with the llama reason).
TEST(Registry, ADerivativeThatDidNotFitItsBaseIsTriedAgainOnceTheBaseChanges) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string base_path = dir.file("base.gguf");
  fs::copy_file(model_path("stories260K-f32.gguf"), base_path);
  Fixture f;
  auto registry =
      with_derivative(f, base_path, gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"));
  ASSERT_TRUE(registry);
  EXPECT_EQ(registry->acquire("chat").status, AcquireStatus::LoadFailed);
  EXPECT_EQ(registry->find("chat")->state, ModelState::Error);
  registry->rescan();
  EXPECT_EQ(registry->find("chat")->state, ModelState::Error);  // nothing changed
  fs::copy_file(model_path("qwen2-tiny-f32.gguf"), base_path, fs::copy_options::overwrite_existing);
  registry->rescan();
  const ModelInfo chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Available);
  EXPECT_EQ(chat.file.error, "");
  const Acquired loaded = registry->acquire("chat");
  EXPECT_TRUE(loaded.lease) << loaded.message;
}

// A derivative whose base's file left the folder is listed in state error saying so, and
// refused without a load (QA 2026-12-07: listed available, every request 503 at its load).
TEST(Registry, ADerivativeWhoseBaseFileIsGoneIsAnError) {
  REQUIRE_TESTDATA();
  TempDir dir;
  fs::copy_file(model_path("qwen2-tiny-f32.gguf"), dir.file("base.gguf"));
  Fixture f;
  RegistryOptions o = f.options();
  o.models_dir = dir.path().string();
  o.loras = {
      {"chat", "base", {gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), 1.0f}}};
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  ASSERT_EQ(registry->find("chat")->state, ModelState::Available);
  fs::remove(dir.file("base.gguf"));
  registry->rescan();
  ASSERT_FALSE(registry->find("base"));
  const ModelInfo chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Error);
  EXPECT_EQ(chat.public_error, "its base 'base' is not served here (its file is gone)");
  EXPECT_EQ(chat.memory_bytes, 0);
  const Acquired refused = registry->acquire("chat");
  EXPECT_EQ(refused.status, AcquireStatus::Unservable);
  EXPECT_EQ(refused.message,
            "model 'chat' cannot be served: its base 'base' is not served here (its file is gone)");
  EXPECT_EQ(f.events.count(Kind::LoadStarted, "chat"), 0u);
}

// A derivative whose base does not fit the memory budget lacks memory itself: acquire() says
// OutOfMemory (503 insufficient_memory), as for the base (QA 2026-12-07: it said LoadFailed).
TEST(Registry, ADerivativeWhoseBaseDoesNotFitTheBudgetIsOutOfMemory) {
  REQUIRE_TESTDATA();
  Fixture f;
  RegistryOptions o = f.options();
  o.specs = {{"base", model_path("qwen2-tiny-f32.gguf")}};
  o.loras = {
      {"chat", "base", {gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), 1.0f}}};
  o.max_memory_bytes = 1 << 20;  // the adapter fits, the base does not
  auto registry = create(std::move(o));
  ASSERT_TRUE(registry);
  EXPECT_EQ(registry->acquire("base").status, AcquireStatus::OutOfMemory);
  const Acquired refused = registry->acquire("chat");
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  EXPECT_TRUE(
      refused.message.starts_with("model 'chat' cannot be loaded: its base: model 'base' "
                                  "needs "))
      << refused.message;
  EXPECT_EQ(registry->find("chat")->state, ModelState::Available);
}

/// base (qwen2-tiny), other (stories260K) and chat (base with LoRA adapter a) under `budget`,
/// requests waiting up to `memory_wait_us` for memory.
RegistryOptions base_other_chat(Fixture& f, int64_t budget, int64_t memory_wait_us = 0) {
  RegistryOptions o = f.options();
  o.specs = {{"base", model_path("qwen2-tiny-f32.gguf")},
             {"other", model_path("stories260K-f32.gguf")}};
  o.loras = {
      {"chat", "base", {gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), 1.0f}}};
  o.max_memory_bytes = budget;
  o.memory_wait_us = memory_wait_us;
  return o;
}

/// What base_other_chat()'s models take of a budget (their estimates), by id.
std::map<std::string, int64_t> base_other_chat_bytes() {
  Fixture probe;
  auto registry = create(base_other_chat(probe, int64_t{1} << 40));
  std::map<std::string, int64_t> bytes;
  if (registry)
    for (const ModelInfo& m : registry->list()) bytes[m.id] = m.memory_bytes;
  return bytes;
}

// A derivative's load waits for its base's memory with its request's `abandoned` flag: when that
// client leaves, the load ends Abandoned without counting as a failure, and a request that
// waited for that load loads the derivative itself (it got the first one's LoadFailed).
TEST(Registry, ADerivativesWaitForItsBaseEndsWithItsClient) {
  REQUIRE_TESTDATA();
  std::map<std::string, int64_t> bytes = base_other_chat_bytes();
  ASSERT_EQ(bytes.size(), 3u);
  // Room for the base and its derivative, not for the base besides `other`.
  Fixture f;
  auto registry = create(base_other_chat(f, bytes["base"] + bytes["chat"], 600'000'000));
  ASSERT_TRUE(registry);
  std::optional<Acquired> other(registry->acquire("other"));
  ASSERT_TRUE((*other).lease);
  std::atomic<bool> first_left{false};
  std::thread first([&] {
    const Acquired chat = registry->acquire("chat", std::nullopt, &first_left);
    EXPECT_EQ(chat.status, AcquireStatus::Abandoned);
    EXPECT_EQ(chat.message,
              "model 'chat' cannot be loaded: its base: the request for model 'base' ended: its "
              "client left while it waited for memory");
  });
  f.events.wait_for(Kind::WaitingForMemory, "base");
  std::thread second([&] {
    const Acquired chat = registry->acquire("chat");
    EXPECT_TRUE(chat.lease) << chat.message;
    EXPECT_TRUE(chat.loaded);
  });
  f.events.wait_for(Kind::WaitingForLoad, "chat");
  first_left = true;
  registry->wake_waiters();
  first.join();
  f.events.wait_for(Kind::WaitingForMemory, "base", 2);  // the second loads it itself
  EXPECT_EQ(registry->find("chat")->last_load_error, "");
  EXPECT_EQ(f.events.count(Kind::LoadFailed, "chat"), 0u);
  const std::vector<RegistryEvent> stopped = f.events.of(Kind::LoadStopped);
  EXPECT_EQ(stopped.size(), 1u);
  for (const RegistryEvent& e : stopped)
    EXPECT_EQ(e.detail,
              "its base: the request for model 'base' ended: its client left while it waited for "
              "memory");
  other.reset();
  second.join();
  EXPECT_EQ(registry->find("chat")->state, ModelState::Loaded);
}

// A derivative's cold start is its load's, without the time its base waited for memory (it
// took that wait in: a derivative loaded after a 5-minute wait had a 5-minute cold start): its
// adapter's load and the load of the base it loaded (LoadedModel::load_us), to the microsecond.
TEST(Registry, ADerivativesColdStartLeavesOutItsBasesWaitForMemory) {
  REQUIRE_TESTDATA();
  std::map<std::string, int64_t> bytes = base_other_chat_bytes();
  ASSERT_EQ(bytes.size(), 3u);
  Fixture f;
  auto registry = create(base_other_chat(f, bytes["base"] + bytes["chat"], 600'000'000));
  ASSERT_TRUE(registry);
  std::optional<Acquired> other(registry->acquire("other"));
  ASSERT_TRUE((*other).lease);
  std::optional<Acquired> chat;
  std::thread loading([&] { chat.emplace(registry->acquire("chat")); });
  f.events.wait_for(Kind::WaitingForMemory, "base");
  other.reset();
  loading.join();
  ASSERT_TRUE((*chat).lease) << (*chat).message;
  const Acquired base = registry->acquire("base");
  ASSERT_TRUE(base.lease);
  EXPECT_FALSE(base.loaded);
  const int64_t cold_start_us = registry->find("chat")->cold_start_us;
  EXPECT_GT(cold_start_us, 0);
  EXPECT_EQ(cold_start_us, (**(*chat).lease).load_us() + (**base.lease).load_us());
  EXPECT_EQ(f.events.of(Kind::Loaded).back().model, "chat");
  EXPECT_EQ(f.events.of(Kind::Loaded).back().duration_us, cold_start_us);
}

// A base that was loaded already (a request holds it) stays loaded when its adapter fails.
TEST(Registry, AFailedAdapterLeavesABaseInUseLoaded) {
  REQUIRE_TESTDATA();
  Fixture f;
  const std::string adapter = gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf");
  auto registry = with_derivative(f, model_path("stories260K-f32.gguf"), adapter);
  ASSERT_TRUE(registry);
  Acquired base = registry->acquire("base");
  ASSERT_TRUE(base.lease);
  EXPECT_TRUE(base.loaded);
  EXPECT_EQ(registry->acquire("chat").status, AcquireStatus::LoadFailed);
  EXPECT_EQ(registry->find("base")->state, ModelState::Loaded);
  EXPECT_EQ(f.events.count(Kind::Unloaded, "base"), 0u);
  base.lease.reset();
  EXPECT_EQ(registry->find("base")->state, ModelState::Loaded);  // its keep-alive runs
}

// A derivative in state error because of its adapter file is tried again once the file
// changes (rescan), and then loads.
TEST(Registry, AFixedAdapterIsTriedAgainAfterARescan) {
  REQUIRE_TESTDATA();
  TempDir dir;
  const std::string adapter = dir.file("chat.gguf");
  write_text(adapter, "not an adapter");
  Fixture f;
  auto registry = with_derivative(f, model_path("qwen2-tiny-f32.gguf"), adapter);
  ASSERT_TRUE(registry);
  const Acquired failed = registry->acquire("chat");
  EXPECT_EQ(failed.status, AcquireStatus::LoadFailed);
  const std::string reason = gguf::File::open(adapter).error().message;
  ASSERT_TRUE(reason.starts_with(adapter + ": ")) << reason;
  EXPECT_EQ(failed.message, "model 'chat' cannot be loaded: the adapter file: " +
                                reason.substr(adapter.size() + 2));
  EXPECT_EQ(registry->find("chat")->state, ModelState::Error);
  registry->rescan();
  EXPECT_EQ(registry->find("chat")->state, ModelState::Error);  // unchanged file

  fs::remove(adapter);
  fs::copy_file(gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), adapter);
  registry->rescan();
  const ModelInfo chat = *registry->find("chat");
  EXPECT_EQ(chat.state, ModelState::Available);
  EXPECT_EQ(chat.file.error, "");
  EXPECT_EQ(chat.file.size_bytes, static_cast<int64_t>(fs::file_size(adapter)));
  const Acquired loaded = registry->acquire("chat");
  ASSERT_TRUE(loaded.lease) << loaded.message;
  EXPECT_EQ(registry->find("chat")->last_load_error, "");
}

// Evicting for memory sees that unloading an idle derivative makes its base idle too: the base
// (held only by its idle derivatives) and they are evicted together, least recently used first,
// derivatives before their base, in one attempt.
TEST(Registry, EvictingAnIdleDerivativeFreesItsBaseToo) {
  REQUIRE_TESTDATA();
  // The estimates (what the loads take: see MemoryBudgetEvictsTheLeastRecentlyUsedIdleModel).
  std::map<std::string, int64_t> bytes = base_other_chat_bytes();
  ASSERT_EQ(bytes.size(), 3u);
  const int64_t base_bytes = bytes["base"], chat_bytes = bytes["chat"],
                other_bytes = bytes["other"];
  EXPECT_EQ(chat_bytes, static_cast<int64_t>(fs::file_size(
                            gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"))));
  ASSERT_LT(chat_bytes, other_bytes);  // unloading the derivative alone is not enough
  ASSERT_LE(other_bytes, base_bytes);

  // Room for the base and its derivative, not for `other` besides the base.
  Fixture f;
  auto registry = create(base_other_chat(f, base_bytes + chat_bytes));
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->acquire("chat").lease);  // released at once: chat idle, base held by it
  EXPECT_EQ(registry->find("base")->running, 1);
  EXPECT_EQ(registry->memory().used_bytes, base_bytes + chat_bytes);
  f.clock_us += 1'000'000;

  Acquired other = registry->acquire("other");
  ASSERT_TRUE(other.lease) << other.message;
  const std::vector<RegistryEvent> unloaded = f.events.of(Kind::Unloaded);
  ASSERT_EQ(unloaded.size(), 2u);
  EXPECT_EQ(unloaded[0].model, "chat");
  EXPECT_EQ(unloaded[0].detail, "evicted to load 'other'");
  EXPECT_EQ(unloaded[1].model, "base");
  EXPECT_EQ(unloaded[1].detail, "evicted to load 'other'");
  EXPECT_EQ(registry->find("chat")->state, ModelState::Available);
  EXPECT_EQ(registry->find("base")->state, ModelState::Available);
  EXPECT_EQ(registry->find("base")->running, 0);
  EXPECT_EQ(registry->memory().used_bytes, other_bytes);
  other.lease.reset();

  // A base whose derivative runs a request is not evicted with it: the refusal names it.
  f.clock_us += 1'000'000;
  Acquired chat = registry->acquire("chat");  // evicts `other` (idle) to load base and chat
  ASSERT_TRUE(chat.lease) << chat.message;
  EXPECT_EQ(f.events.of(Kind::Unloaded).back().model, "other");
  const Acquired refused = registry->acquire("other");
  EXPECT_EQ(refused.status, AcquireStatus::OutOfMemory);
  EXPECT_NE(refused.message.find("held by 'base' (held by its loaded derivative(s) 'chat', "),
            std::string::npos)
      << refused.message;
  EXPECT_NE(refused.message.find("'chat' (1 request(s) running"), std::string::npos)
      << refused.message;
}

// A base that its derivative's load loaded is held by that load, not by a request (QA: while
// the derivative applied its adapter, a refusal for memory said "'base' (1 request(s) running"
// and unload "has 1 request(s) running", with no request on either): a refusal says the base is
// loading for the derivative, unload that the loading derivative holds it; once the derivative
// is loaded, that it holds its base, and only requests on the base itself count as running.
TEST(Registry, ABaseHeldByItsDerivativesLoadIsLoadingForItNotRunningARequest) {
  REQUIRE_TESTDATA();
  std::map<std::string, int64_t> bytes = base_other_chat_bytes();
  ASSERT_EQ(bytes.size(), 3u);
  Fixture f;
  const int64_t budget = bytes["base"] + bytes["chat"];  // no room for `other` besides them
  auto registry = create(base_other_chat(f, budget));
  ASSERT_TRUE(registry);
  const auto refusal = [&](const std::string& held_by) {
    const int64_t used = registry->memory().used_bytes;
    return "model 'other' needs " + format_bytes(bytes["other"]) + " but only " +
           format_bytes(budget - used) + " of --max-memory " + format_bytes(budget) +
           " is free and no idle model can be unloaded; held by " + held_by;
  };
  const auto memory_of = [&](const std::string& id) {
    return format_bytes(registry->find(id)->memory_bytes);
  };
  // The base is loaded, its derivative not yet (the Loaded event of the base comes on the
  // derivative's loading thread, before its adapter is applied).
  std::string refused_while_loading, expected_while_loading, unload_while_loading;
  std::optional<ModelInfo> base_while_loading, chat_while_loading;
  f.events.gate = [&](const RegistryEvent& e) {
    if (e.kind != Kind::Loaded || e.model != "base") return;
    base_while_loading = registry->find("base");
    chat_while_loading = registry->find("chat");
    expected_while_loading =
        refusal("'base' (loading for its derivative(s) 'chat', " + memory_of("base") +
                "), 'chat' (loading, " + memory_of("chat") + ")");
    refused_while_loading = registry->acquire("other").message;
    unload_while_loading = registry->unload("base").error().message;
  };
  Acquired chat = registry->acquire("chat");
  f.events.gate = nullptr;
  ASSERT_TRUE(chat.lease) << chat.message;
  ASSERT_TRUE(base_while_loading && chat_while_loading);
  EXPECT_EQ(base_while_loading->state, ModelState::Loaded);
  EXPECT_EQ(base_while_loading->running, 1);  // the derivative's lease, as once it is loaded
  EXPECT_EQ(chat_while_loading->state, ModelState::Loading);
  EXPECT_EQ(refused_while_loading, expected_while_loading);
  EXPECT_EQ(unload_while_loading, "model 'base' is held by its loading derivative(s) 'chat'");

  // Loaded, one request on the derivative: the base is held by it, runs no request.
  EXPECT_EQ(registry->acquire("other").message,
            refusal("'base' (held by its loaded derivative(s) 'chat', " + memory_of("base") +
                    "), 'chat' (1 request(s) running, " + memory_of("chat") + ")"));
  // And one request on the base.
  Acquired base = registry->acquire("base");
  ASSERT_TRUE(base.lease);
  EXPECT_EQ(
      registry->acquire("other").message,
      refusal("'base' (1 request(s) running and held by its loaded derivative(s) 'chat', " +
              memory_of("base") + "), 'chat' (1 request(s) running, " + memory_of("chat") + ")"));
  EXPECT_EQ(registry->find("base")->running, 2);
  EXPECT_EQ(registry->unload("base").error().message,
            "model 'base' has 1 request(s) running; it is never unloaded under a request; it is "
            "held by its loaded derivative(s) 'chat' (unload those first)");
}

}  // namespace
}  // namespace gengyun::deploy
