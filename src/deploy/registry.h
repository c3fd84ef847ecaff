// The model registry: which models a server offers (files of a folder, --model flags, the
// config), their metadata and state, loading each on demand, unloading idle ones after their
// keep-alive, and keeping weights plus KV pools under a memory budget (docs/deploy.md).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "deploy/config.h"
#include "deploy/lora_spec.h"
#include "deploy/model_file.h"
#include "gengyun/engine.h"
#include "gengyun/result.h"

namespace gengyun::deploy {

/// A served model: the name clients put in `model`, and its GGUF file.
struct ModelSpec {
  std::string name;
  std::string path;
};

/// Parses "NAME=PATH" (the `--model` flag). Errors: no '=', empty name or path.
Result<ModelSpec> parse_model_spec(std::string_view text);

/// Parses every `--model` flag. Errors: those of parse_model_spec, a name given twice.
Result<std::vector<ModelSpec>> parse_model_specs(const std::vector<std::string>& texts);

/// Why `serve --models` leaves out the file named `file_name` (a name ending in ".gguf", any
/// case), as the rest of "PATH is not served: ...", or nullopt: ".gguf" (an empty id), a name
/// util::holds_unprintable refuses (an id clients could not send as shown, and that would forge
/// or disguise log lines), an id that holds a util::lookalike_space or begins or ends with a
/// space (ids that look like others), and another id util::model_name_flaw refuses (a comma: no
/// key's model list could name it). Shown, the reason needs escaping
/// (tokenizer::escape_control_characters), as the file name.
std::optional<std::string> folder_file_flaw(std::string_view file_name);

/// Where a model stands. Available: listed, not loaded; Loading: a load runs; Loaded: its
/// engine runs; Error: the file cannot be served (ModelInfo::error says why).
enum class ModelState { Available, Loading, Loaded, Error };

/// "available", "loading", "loaded", "error".
std::string_view model_state_name(ModelState state);

/// A snapshot of one model for listings (GET /v1/models, GET /admin/models).
struct ModelInfo {
  std::string id;
  std::vector<std::string> aliases;
  /// Metadata; file.error is the reason of state Error, as the admin sees it (with the file's
  /// path). A LoRA derivative: its base's metadata but for path, size_bytes and error, the
  /// adapter's.
  ModelFile file;
  /// file.error without the server's file paths (what every key sees in GET /v1/models).
  std::string public_error;
  /// Tokens: the longest sequence it is served with. Loaded: the model's; else the server's
  /// context capped at file.context_length (the training context), or that without one, and
  /// at what a KV cache pool given in bytes holds (as the load will be).
  int context_length = 0;
  ModelState state = ModelState::Available;
  std::string source;  ///< "--model", "--models", "--lora" or "config"
  std::string parent;  ///< a LoRA derivative: its base model's id; "" otherwise
  bool pinned = false;
  /// Leases holding the model (ModelLease): requests, and on a base each derivative that holds it
  int running = 0;
  int waiting_for_load = 0;     ///< requests waiting for its load to end
  int64_t loading_for_us = 0;   ///< state Loading: since the load started
  /// State Loading: bytes of the file read into memory so far (0 with --mmap, which reads
  /// nothing at load, and for a LoRA derivative).
  int64_t loading_bytes_read = 0;
  int64_t cold_start_us = 0;    ///< the last successful load's duration; 0: never loaded
  std::string last_load_error;  ///< of the last failed load ("" after a success), paths kept
  /// Loaded: weights plus KV pool as loaded; Error: 0 (it holds none and never loads); else
  /// what a load would take (weights: the file's size; KV pool: ModelOptions::kv_cache_bytes or,
  /// under a budget, one whole context).
  int64_t memory_bytes = 0;
  int64_t keep_alive_us = 0;  ///< the default for its requests (kKeepForever: never)
  /// Loaded, idle and not pinned: microseconds until it unloads (kKeepForever: never); else 0.
  int64_t unloads_in_us = 0;
  int64_t last_used_us = 0;  ///< Registry clock reading of its last release (0: never used)
  nlohmann::json defaults;   ///< request defaults from the config (an object)
};

/// What happened in the registry, for the log and for tests to wait on (RegistryOptions::
/// observer). `detail`: Removed/Unloaded the reason ("idle", "evicted for 'x'", "admin",
/// "file removed"); LoadFailed the error; Warning the message (at start: a config entry whose
/// model is not there yet).
struct RegistryEvent {
  enum class Kind {
    Warning,
    Added,
    Removed,
    WaitingForLoad,
    /// A request waits for memory that running requests hold (RegistryOptions::memory_wait_us),
    /// or to use a model that is draining for such a waiter; detail: what it waits for.
    WaitingForMemory,
    LoadStarted,
    LoadProgress,
    Loaded,
    LoadFailed,
    /// A load that stopped without failing: a LoRA derivative's whose base's wait for memory
    /// ended (its client left, the server stops), or one whose file changed while it loaded
    /// (dropped, then loaded again as the new file); detail: why. Requests that waited for it
    /// load it.
    LoadStopped,
    Unloaded
  };
  Kind kind;
  std::string model;
  std::string detail;
  int64_t duration_us = 0;  ///< Loaded: the cold start
  /// LoadStarted: expected memory; LoadProgress: bytes of the file read so far (emitted at each
  /// further tenth of the file, the last at the whole file; none for a mapped or LoRA load);
  /// Loaded: actual memory
  int64_t bytes = 0;
  int64_t total_bytes = 0;  ///< LoadProgress: the file's size
  /// LoadStarted, Loaded: a LoRA derivative's base model (whose KV cache its requests use, so
  /// that `bytes` are the adapter's alone); "" for a model of its own.
  std::string base = {};
};

/// How the registry finds, loads and keeps models.
struct RegistryOptions {
  ModelOptions model;            ///< how every model loads
  std::vector<ModelSpec> specs;  ///< --model NAME=PATH (names kept as given)
  std::string models_dir;        ///< --models DIR ("" for none); ids: util::folder_model_id
  Config config;
  /// --lora derivatives (parse_lora_specs); the config's `loras:` are added to them.
  std::vector<LoraSpec> loras;
  int64_t max_memory_bytes = 0;  ///< weights plus KV pools of loaded models; 0: no budget
  /// Microseconds a request whose model does not fit waits for the models that running
  /// requests hold to become idle, so they can be unloaded (0: refused at once, OutOfMemory).
  /// While it waits, those models take no new request (they drain), so that a stream of
  /// requests for them cannot keep it waiting until its deadline.
  int64_t memory_wait_us = 0;
  /// Requests that may wait at once (for memory, or for a draining model): each holds its
  /// server's handler thread, which the requests running on the models it waits for need to
  /// end (QA 2026-12-07: 70 waiters on the 64 threads held every request for the whole wait).
  /// Past it, a request for memory is refused at once and one for a draining model takes it.
  int max_memory_waiters = 16;
  /// Reads time in microseconds (keep-alive); monotonic_us by default, a fake one in tests.
  std::function<int64_t()> clock;
  /// Called for every event, outside the registry's lock (it may call back, but slowly only
  /// at the cost of the thread it runs on: a request's or the maintenance thread).
  std::function<void(const RegistryEvent&)> observer;
};

/// The memory budget and what loaded and loading models take of it.
struct MemoryUse {
  int64_t budget_bytes = 0;  ///< RegistryOptions::max_memory_bytes (0: no budget)
  int64_t used_bytes = 0;    ///< weights plus KV pools of loaded models, estimates of loading ones
};

class Registry;

/// A model held for one request: while any lease of a model lives, the model is not unloaded.
/// Releasing it (destruction) starts the model's keep-alive, with this lease's keep_alive if
/// it has one. Move-only; the Registry must outlive it. Release never unloads on the calling
/// thread (the registry's maintenance thread does), so it may end on an engine's thread.
class ModelLease {
 public:
  ModelLease() = default;  ///< holds nothing
  ModelLease(ModelLease&& other) noexcept;
  ModelLease& operator=(ModelLease&& other) noexcept;
  ModelLease(const ModelLease&) = delete;
  ModelLease& operator=(const ModelLease&) = delete;
  ~ModelLease();

  explicit operator bool() const { return model_ != nullptr; }
  LoadedModel* operator->() const { return model_.get(); }
  LoadedModel& operator*() const { return *model_; }
  const std::string& id() const;

 private:
  friend class Registry;
  struct Entry;
  ModelLease(Registry* registry, std::shared_ptr<Entry> entry, std::shared_ptr<LoadedModel> model,
             std::optional<int64_t> keep_alive_us);
  void release();

  Registry* registry_ = nullptr;
  std::shared_ptr<Entry> entry_;
  std::shared_ptr<LoadedModel> model_;
  std::optional<int64_t> keep_alive_us_;
  /// A LoRA derivative's lease on its base (taken by its load, held while it is loaded): the
  /// derivative's id; "" for a request's lease. Only a request's release sets the model's
  /// keep-alive, so the base keeps that of its last request.
  std::string held_for_;
};

/// How many times one acquire() takes a model's file anew, its load dropped because the file
/// changed while it loaded (or its record replaced by a rescan while the call waited), before
/// it gives up with AcquireStatus::FileChanging: a file that is rewritten during every load
/// would otherwise keep the call loading it forever.
inline constexpr int kMaxAcquireAttempts = 3;

/// Why acquire() gave no lease.
/// How acquire() ended; Stopping: it waited for memory when end_waits() was called (a server
/// ending its requests); Abandoned: it waited for memory (or for a draining model) when its
/// caller set the `abandoned` flag (the client left); FileChanging: the model's file changed
/// during each of kMaxAcquireAttempts attempts (it is being written or replaced).
enum class AcquireStatus {
  Ok,
  UnknownModel,
  Unservable,
  LoadFailed,
  OutOfMemory,
  Stopping,
  Abandoned,
  FileChanging
};

/// The answer of acquire(): a lease, or the status and a message a person can act on. The
/// message never holds the server's file paths (it goes to clients): a file's reason names the
/// model instead.
struct Acquired {
  std::optional<ModelLease> lease;
  AcquireStatus status = AcquireStatus::Ok;
  std::string message;
  bool loaded = false;  ///< with a lease: this call loaded the model (it was not loaded before)
};

/// Model ids -> models, loaded on demand. Thread-safe. A maintenance thread unloads models
/// whose keep-alive ran out and rescans the folder every config.rescan_interval_us.
class Registry {
 public:
  /// Reads the metadata of every model (--model specs, DIR's *.gguf files, config paths), adds
  /// the LoRA derivatives (options.loras and the config's) and starts the maintenance thread. A
  /// derivative loads by holding a lease on its base (loading it when needed) and applying its
  /// adapter (LoadedModel::load_adapter); it shares the base's weights and engine, takes only
  /// the adapter's bytes of the memory budget, and releases the base when it unloads. Errors:
  /// DIR is not a readable folder, an alias that is a model's id (--model, a file of DIR, a
  /// derivative: at a rescan such a file is state Error instead), a derivative whose base is
  /// not a model (or is a derivative: adapters do not stack) or whose name is a model's. An
  /// error about a config entry names its key ("models.ID.aliases: ..."), after "--config PATH: "
  /// when the config was read from a file (Config::path).
  static Result<std::unique_ptr<Registry>> create(RegistryOptions options);
  /// Stops the maintenance thread, waits until every lease is released (requests still ending
  /// on their engines' threads), then unloads every model on the calling thread.
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Every model by id (aliases are in ModelInfo::aliases).
  std::vector<ModelInfo> list() const;
  /// The model `name` names (an id or an alias); nullopt when none.
  std::optional<ModelInfo> find(std::string_view name) const;

  MemoryUse memory() const;

  /// Holds model `name` (an id or alias) for a request, loading it first when needed;
  /// concurrent callers for a model that is loading wait for that one load. keep_alive_us:
  /// how long it stays loaded once idle (nullopt: the model's default; 0: unload at once;
  /// kKeepForever: never). Errors: UnknownModel; Unservable (state Error: the file's reason);
  /// LoadFailed (the load's error, given to every caller that waited for it; a later call
  /// tries again, but for a derivative whose adapter does not fit its base: that one goes to
  /// state Error with the adapter's reason, and the base, when this load loaded it and nothing
  /// else holds it, is unloaded at once); OutOfMemory (it does not fit under max_memory_bytes even
  /// after unloading every idle, unpinned model, the least recently used first, a base held only
  /// by idle derivatives counting as idle with them: the message says what holds the memory).
  /// When unloading models that running requests hold would make room, it first waits up to
  /// options.memory_wait_us for them to become idle; meanwhile new requests for those models
  /// (and for LoRA derivatives of them) wait too, and get them back once this one loaded its
  /// model or gave up (WaitingForMemory events). Such a wait ends with Abandoned once
  /// `*abandoned` is true (set by another thread, which then calls wake_waiters()). A load whose
  /// file changed while it loaded is dropped and the model acquired anew, as the new file, and so
  /// is a model whose record a rescan replaced while the call waited; after kMaxAcquireAttempts
  /// such attempts, FileChanging ("model 'ID' was not loaded: its file changed during each of 3
  /// tries to load it (it is being written or replaced); retry once it stays in place").
  Acquired acquire(std::string_view name, std::optional<int64_t> keep_alive_us = std::nullopt,
                   const std::atomic<bool>* abandoned = nullptr);

  /// Makes the acquire() calls waiting for memory look at their `abandoned` flags again: call
  /// it after setting one. Does not block for long (the registry's lock only), so an I/O
  /// thread may call it.
  void wake_waiters();

  /// Ends the waits of the acquire() calls in progress (a server ending its requests): one
  /// waiting for memory is refused at once (Stopping), one waiting for a draining model takes
  /// it. Calls that start afterwards wait as before.
  void end_waits();

  /// Unloads model `name` now. Errors: unknown, pinned ("unpin it first"), requests running,
  /// not loaded.
  Result<void> unload(std::string_view name);
  /// Pins or unpins `name`: a pinned model is never unloaded (idle or for memory). Errors:
  /// unknown name; pinning a model in state Error (the message holds its reason, no path).
  Result<void> set_pinned(std::string_view name, bool pinned);

  /// Looks at the folder again now: new files are added, removed ones dropped (a loaded one
  /// once idle), changed ones re-read when not loaded. A file that is not served because its id
  /// is taken (by a file of the same name in another case, first in name order, or by a model of
  /// --model, --lora or the config) gets one Warning event naming both, the first time it is
  /// seen so. A folder that cannot be read (moved away, removed) serves no files, with one
  /// Warning when that starts and one when it can be read again. Returns how many models were
  /// added and removed. The maintenance thread calls it every rescan interval.
  std::pair<int, int> rescan();
  /// Unloads the models whose keep-alive has run out by the clock (the maintenance thread does
  /// this when one is due; tests with a fake clock call it). Returns how many it unloaded.
  int collect_idle();

  /// Loads the pinned models (serve's start). Errors: the first failure, "models.ID.pin: a
  /// pinned model loads at start, and " + acquire()'s message ("--config PATH: " first when the
  /// config was read from a file).
  Result<void> load_pinned();

 private:
  using Entry = ModelLease::Entry;
  friend class ModelLease;
  explicit Registry(RegistryOptions options);

  std::shared_ptr<Entry> resolve(std::string_view name) const;  // mutex_ held
  std::shared_ptr<Entry> make_entry(const std::string& id, const std::string& path,
                                    const std::string& source) const;
  /// The model file at `path`, read for the model `id`: inspect_model_file()'s metadata, with
  /// the error why it cannot be served (its id an alias's, unservable_with_options()) when it
  /// can be read. Reads the file: call it without mutex_.
  ModelFile read_model_file(const std::string& id, const std::string& path) const;
  std::shared_ptr<Entry> make_derivative(const LoraSpec& spec, const std::string& source) const;
  /// An available derivative whose adapter file does not exist goes to state Error ("the
  /// adapter file does not exist"); at start and at each rescan (mutex_ held after create()).
  static void set_adapter_presence(Entry& entry);
  /// Adds the derivatives of options_.loras and the config (create()).
  Result<void> add_derivatives();
  /// How a load() went, besides its result.
  struct LoadReport {
    /// The adapter itself failed (it does not fit, or cannot be read), not the base's load; a
    /// base loaded for it alone is then unloaded.
    bool adapter_failed = false;
    AcquireStatus base_status =
        AcquireStatus::Ok;  ///< how a derivative's acquire() of its base ended
    /// A derivative loaded: its cold start, from the loads alone (LoadedModel::load_us): its
    /// adapter's and, when this load loaded it, its base's; not its wait for the base's memory.
    std::optional<int64_t> load_us;
  };
  /// Loads `entry`'s model (no lock held): its file, or for a derivative its base's lease
  /// with the adapter applied (the lease is released when the returned model is destroyed),
  /// acquired with `abandoned`, the caller's flag.
  Result<std::shared_ptr<LoadedModel>> load(const Entry& entry, const ModelOptions& options,
                                            LoadReport& report, const std::atomic<bool>* abandoned);
  /// Why an available derivative cannot be served for its base (in state error, or gone from
  /// the folder): the reason for the admin and the one for clients (no paths); nothing when it
  /// can, or `entry` is no derivative. Lock held.
  std::optional<std::pair<std::string, std::string>> base_refusal(const Entry& entry) const;
  /// `message` without the file paths of `entry` (and of a derivative's base): what clients see
  /// (mutex_ held).
  std::string public_message(const Entry& entry, std::string message) const;
  /// Unloads `id` when it is loaded, idle and not pinned, reporting `why` (no lock held).
  void unload_if_idle(const std::string& id, const std::string& why);
  ModelInfo info_of(const Entry& entry) const;  // mutex_ held
  int64_t memory_of(const Entry& entry) const;
  ModelOptions options_for(const Entry& entry) const;
  /// Tokens: the server's context (ModelOptions::n_ctx) capped at `file`'s training context, a
  /// ceiling so that one flag serves a folder of models; 0 where the server sets none.
  int context_ceiling(const ModelFile& file) const;
  /// Why `file` cannot load with the server's options though it can be read ("" when it can):
  /// a KV cache pool given in bytes that holds less than one sequence of an explicit context
  /// (ModelInstance::load would refuse it; QA 2026-12-07 found such a model listed available).
  std::string unservable_with_options(const ModelFile& file) const;
  int64_t keep_alive_of(const Entry& entry) const;
  /// Picks idle models to unload so `needed` more bytes fit (a base held only by idle
  /// derivatives goes with them, after them), marking them unloaded and moving their models into
  /// `victims` in unload order; an error message when they cannot be found (mutex_ held).
  std::optional<std::string> make_room(
      const Entry& entry, int64_t needed,
      std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>>& victims);
  /// The busy models (running requests, loading) that unloading, with the idle ones, the least
  /// recently used first, would make room for `needed` more bytes for `entry`: the ones a
  /// waiter for memory drains. Empty when no unloading can make room (pinned models and
  /// `entry`'s base stay). mutex_ held.
  std::vector<std::shared_ptr<Entry>> to_drain(const Entry& entry, int64_t needed) const;
  /// Whether `entry`, or the base of a derivative, is drained for a waiter for memory (mutex_
  /// held).
  bool draining(const Entry& entry) const;
  /// Takes a loaded entry's model out (mutex_ held); the caller destroys it unlocked.
  std::shared_ptr<LoadedModel> take_model(Entry& entry);
  /// acquire() for a request (`held_for` "") or for the load of the derivative `held_for`,
  /// whose lease on its base it is (ModelLease::held_for_): acquire_once() until it ends
  /// otherwise than FileChanging, at most kMaxAcquireAttempts times.
  Acquired acquire_lease(std::string_view name, std::optional<int64_t> keep_alive_us,
                         const std::atomic<bool>* abandoned, const std::string& held_for);
  /// One attempt of acquire_lease(): FileChanging when the model is to be acquired anew (its
  /// file changed while it loaded, or a rescan replaced its record), with the message of the
  /// last attempt.
  Acquired acquire_once(std::string_view name, std::optional<int64_t> keep_alive_us,
                        const std::atomic<bool>* abandoned, const std::string& held_for);
  /// A lease on `entry` ended: a request's (`held_for` "": `keep_alive_us` is now the entry's)
  /// or the derivative `held_for`'s.
  void release(Entry& entry, std::optional<int64_t> keep_alive_us, const std::string& held_for);
  /// Who holds `entry`'s leases (mutex_ held): how many requests, and the derivatives that hold
  /// it (by id, quoted and joined by ", "), loaded ones apart from those whose load is going on.
  struct Holders {
    int requests = 0;
    std::string loaded;
    std::string loading;
  };
  Holders holders_of(const Entry& entry) const;
  void emit(const RegistryEvent& event) const;
  void maintenance_loop();
  int64_t now() const { return options_.clock(); }

  const RegistryOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable load_done_;    ///< a load ended
  std::condition_variable maintenance_;  ///< a release, or stop
  /// A model became idle or was unloaded, a load ended, or a waiter for memory stopped
  /// draining: waiters for memory look again.
  std::condition_variable memory_freed_;
  uint64_t waits_ended_ = 0;  ///< end_waits() calls
  int memory_waiters_ = 0;    ///< acquire() calls waiting (max_memory_waiters)
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;
  std::map<std::string, std::string, std::less<>> aliases_;  ///< alias -> id
  std::set<std::string> shadowed_warned_;  ///< folder files not served, already warned of
  bool folder_unreadable_ = false;         ///< the last rescan could not read --models DIR
  std::thread thread_;
};

}  // namespace gengyun::deploy
