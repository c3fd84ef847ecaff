#include "deploy/registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <system_error>

#include "deploy/units.h"
#include "util/clock.h"
#include "util/model_name.h"

namespace gengyun::deploy {

namespace fs = std::filesystem;

Result<ModelSpec> parse_model_spec(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos)
    return make_error("--model expects NAME=PATH, got '" + std::string(text) + "'");
  ModelSpec spec{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (spec.name.empty() || spec.path.empty())
    return make_error("--model expects NAME=PATH with both parts non-empty, got '" +
                      std::string(text) + "'");
  if (auto refused = util::model_name_refusal("--model: the name", spec.name))
    return make_error(*refused);
  return spec;
}

Result<std::vector<ModelSpec>> parse_model_specs(const std::vector<std::string>& texts) {
  std::vector<ModelSpec> specs;
  for (const auto& text : texts) {
    auto spec = parse_model_spec(text);
    if (!spec.ok()) return spec.error();
    for (const auto& earlier : specs)
      if (earlier.name == spec->name)
        return make_error("--model: the name '" + spec->name + "' is given twice ('" +
                          earlier.path + "' and '" + spec->path + "')");
    specs.push_back(std::move(spec.value()));
  }
  return specs;
}

std::string_view model_state_name(ModelState state) {
  switch (state) {
    case ModelState::Available:
      return "available";
    case ModelState::Loading:
      return "loading";
    case ModelState::Loaded:
      return "loaded";
    case ModelState::Error:
      return "error";
  }
  return "error";
}

namespace {

/// What stat(2) says of a file, to tell that it changed or was replaced: its size, modification
/// and status-change times (ns), device and inode (QA: a file put back with `cp -p`, the same
/// size and mtime, was never read again). Size -1: it cannot be read.
struct FileStamp {
  int64_t size = -1;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileStamp&) const = default;
};

}  // namespace

/// One model's record. Guarded by Registry::mutex_ (but for the constant fields).
struct ModelLease::Entry {
  std::string id;
  std::string path;
  std::string source;
  ModelConfig config;
  ModelFile file;              ///< a derivative: path and size_bytes of its adapter only
  std::string base;            ///< a LoRA derivative: its base model (id or alias); "" otherwise
  float adapter_scale = 1.0f;  ///< a derivative's scale; its `path` is the adapter
  FileStamp stamp;             ///< the file's when `file` was read
  ModelState state = ModelState::Available;
  std::shared_ptr<LoadedModel> model;  ///< state Loaded
  int refs = 0;
  /// Of refs: the leases LoRA derivatives hold (ModelLease::held_for_), their ids.
  std::vector<std::string> held_for;
  int waiters = 0;
  uint64_t load_attempt = 0;    ///< loads started
  uint64_t failed_attempt = 0;  ///< the last load_attempt that failed
  int64_t load_started_us = 0;  ///< monotonic_us()
  /// Loading: bytes of the file read into memory so far (written by the loading thread).
  std::atomic<int64_t> load_bytes_read{0};
  int64_t cold_start_us = 0;
  std::string last_load_error;
  int64_t reserved_bytes = 0;            ///< Loading: its estimate; Loaded: weights plus KV pool
  int64_t last_used_us = 0;              ///< Registry clock
  std::optional<int64_t> keep_alive_us;  ///< of the last lease released, when it had one
  bool pinned = false;
  /// A derivative in state Error because its adapter did not fit: the base entry it did not fit
  /// (a rescan tries it again once the base's file, and so its entry, changed).
  std::weak_ptr<const Entry> failed_on_base;
  bool failed_to_fit = false;  ///< failed_on_base is set
  /// Requests waiting for memory that asked this model to drain (Registry::to_drain): while
  /// any does, it takes no new request.
  int drain_requests = 0;
};

namespace {

/// stat(2) of the file at `path` (symlinks followed); size -1 when it cannot be read.
FileStamp stamp_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  const auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return {static_cast<int64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim),
          static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// The *.gguf files of a folder by model id, and those left out.
struct FolderListing {
  std::map<std::string, std::string> by_id;  ///< id -> path
  /// A file not served, and the file that has its id.
  std::vector<std::pair<std::string, std::string>> clashes;
  /// A file not served for its name ("PATH is not served: ...").
  std::vector<std::string> unnamed;
  std::string error;  ///< why the folder could not be read ("" when it could)
  /// The folder is not there (ENOENT, ENOTDIR): its models go. Another error (EIO, ESTALE,
  /// ELOOP: a network filesystem's blip) keeps them as last listed.
  bool missing = false;
};

}  // namespace

std::optional<std::string> folder_file_flaw(std::string_view file_name) {
  const std::string_view stem = file_name.substr(0, file_name.size() - 5);
  if (stem.empty()) return "its model id (the name before .gguf) would be empty";
  if (util::holds_unprintable(file_name))
    return "its name holds " + std::string(util::kUnprintableCharacters) +
           ", which an id may not; rename the file";
  if (const std::optional<std::string> space = util::lookalike_space(file_name))
    return "its model id (the name before .gguf) holds the space " + *space +
           ", which shows as U+0020 does and which an id may not; rename the file";
  if (util::begins_or_ends_with_space(stem))
    return "its model id (the name before .gguf) begins or ends with a space, which an id may "
           "not; rename the file";
  if (const auto flaw = util::model_name_flaw(util::folder_model_id(stem)))
    return "its model id (the name before .gguf) " + *flaw + "; rename the file";
  return std::nullopt;
}

namespace {

/// The *.gguf files of `dir` (case-insensitive suffix; symlinks followed, folders skipped) by
/// model id (util::folder_model_id: the name in NFC, lower-cased), the first in name order
/// winning a clash of ids; those folder_file_flaw refuses are left out. A folder that cannot be
/// read, even in part, lists no file: its error says why.
FolderListing list_folder(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  FolderListing out;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    const std::string name = item.path().filename().string();
    if (name.size() < 5 || lower(name.substr(name.size() - 5)) != ".gguf") continue;
    std::error_code status_ec;
    if (fs::is_directory(item.path(), status_ec)) continue;
    files.push_back(item.path());
  }
  if (ec) {
    out.error = ec.message();
    out.missing = ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
    return out;
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    if (const std::optional<std::string> flaw = folder_file_flaw(name)) {
      out.unnamed.push_back(path.string() + " is not served: " + *flaw);
      continue;
    }
    const auto [it, added] =
        out.by_id.emplace(util::folder_model_id(name.substr(0, name.size() - 5)), path.string());
    if (!added) out.clashes.emplace_back(path.string(), it->second);
  }
  return out;
}

/// `message` without `path`: a leading "PATH: " (the GGUF reader's and the engine's form) is
/// dropped, any other occurrence becomes `label`.
std::string without_path(std::string message, const std::string& path, std::string_view label) {
  if (path.empty()) return message;
  if (message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
  for (size_t at = message.find(path); at != std::string::npos;
       at = message.find(path, at + label.size()))
    message.replace(at, path.size(), label);
  return message;
}

}  // namespace

ModelLease::ModelLease(Registry* registry, std::shared_ptr<Entry> entry,
                       std::shared_ptr<LoadedModel> model, std::optional<int64_t> keep_alive_us)
    : registry_(registry),
      entry_(std::move(entry)),
      model_(std::move(model)),
      keep_alive_us_(keep_alive_us) {}

ModelLease::ModelLease(ModelLease&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      entry_(std::move(other.entry_)),
      model_(std::move(other.model_)),
      keep_alive_us_(other.keep_alive_us_),
      held_for_(std::move(other.held_for_)) {}

ModelLease& ModelLease::operator=(ModelLease&& other) noexcept {
  if (this != &other) {
    release();
    registry_ = std::exchange(other.registry_, nullptr);
    entry_ = std::move(other.entry_);
    model_ = std::move(other.model_);
    keep_alive_us_ = other.keep_alive_us_;
    held_for_ = std::move(other.held_for_);
  }
  return *this;
}

ModelLease::~ModelLease() { release(); }

const std::string& ModelLease::id() const { return entry_->id; }

void ModelLease::release() {
  if (registry_ == nullptr) return;
  model_.reset();  // before the count drops: the registry's reference is then the last
  registry_->release(*entry_, keep_alive_us_, held_for_);
  registry_ = nullptr;
  entry_.reset();
}

Registry::Registry(RegistryOptions options) : options_(std::move(options)) {}

namespace {

/// `key`, a place in `config` ("models.ID.aliases"), as the registry's errors name it: after
/// "--config PATH: " when the config was read from a file, as the config's own errors are.
std::string config_key(const Config& config, const std::string& key) {
  return config.path.empty() ? key : "--config " + config.path + ": " + key;
}

}  // namespace

Result<std::unique_ptr<Registry>> Registry::create(RegistryOptions options) {
  if (!options.clock) options.clock = monotonic_us;
  if (!options.models_dir.empty() && !fs::is_directory(options.models_dir))
    return make_error("--models: '" + options.models_dir + "' is not a folder");
  std::unique_ptr<Registry> registry(new Registry(std::move(options)));
  const RegistryOptions& o = registry->options_;
  for (const auto& [id, model] : o.config.models)
    for (const auto& alias : model.aliases) registry->aliases_.emplace(alias, id);
  for (const auto& spec : o.specs) {
    if (auto alias = registry->aliases_.find(spec.name); alias != registry->aliases_.end())
      return make_error(config_key(o.config, "models." + alias->second + ".aliases") + ": '" +
                        spec.name + "' is also the id of the model given by --model " + spec.name +
                        "=" + spec.path);
    registry->entries_.emplace(spec.name, registry->make_entry(spec.name, spec.path, "--model"));
  }
  for (const auto& [id, model] : o.config.models) {
    if (model.path.empty()) continue;
    if (registry->entries_.contains(id))
      return make_error(config_key(o.config, "models." + id + ".path") + ": the id '" + id +
                        "' is given by --model too");
    registry->entries_.emplace(id, registry->make_entry(id, model.path, "config"));
  }
  for (const auto& [id, entry] : registry->entries_)
    registry->emit({RegistryEvent::Kind::Added, id, entry->file.error});
  registry->rescan();
  // A file of the folder named as an alias: at start an error (at a rescan: state error).
  for (const auto& [alias, id] : registry->aliases_)
    if (auto it = registry->entries_.find(alias); it != registry->entries_.end())
      return make_error(config_key(o.config, "models." + id + ".aliases") + ": '" + alias +
                        "' is also the id of the model of --models " + it->second->path);
  if (Result<void> added = registry->add_derivatives(); !added.ok()) return added.error();
  // A config entry without a model: with a folder its file may appear later.
  for (const auto& [id, model] : o.config.models) {
    if (registry->entries_.contains(id)) continue;
    if (o.models_dir.empty())
      return make_error(
          config_key(o.config, "models." + id) + ": there is no model '" + id +
          "' (no --model, --lora or path gives it, and no --models folder is served)");
    // The ids of the folder's files are their names lower-cased (util::folder_model_id), and
    // requests match ids exactly: an entry keyed otherwise would never apply.
    if (const std::string file_id = util::folder_model_id(id); file_id != id) {
      const auto file = registry->entries_.find(file_id);
      return make_error(
          config_key(o.config, "models." + id) + ": there is no model '" + id + "'" +
          (file != registry->entries_.end() && file->second->source == "--models"
               ? "; the file " + file->second->path + " is served as '" + file_id + "'"
               : "") +
          " (the id of a file of --models is its name lower-cased, and requests name ids "
          "exactly): key the entry '" +
          file_id + "'");
    }
    registry->emit({RegistryEvent::Kind::Warning, id,
                    "models." + id + ": there is no model '" + id + "' yet; the entry applies " +
                        "when a file " + id + ".gguf appears in " + o.models_dir});
  }
  registry->thread_ = std::thread([r = registry.get()] { r->maintenance_loop(); });
  return registry;
}

Registry::~Registry() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  maintenance_.notify_all();
  if (thread_.joinable()) thread_.join();
  // A lease that outlived the registry would call into it, and would hold the last reference
  // to its model, which then went on the thread that ended the request: at a server's stop
  // that is often the model's own engine thread, which cannot join itself. So the leases of
  // requests still ending are waited for (release notifies maintenance_, which no thread but
  // this one waits on now); derivatives unload once idle, releasing their leases on their
  // bases; every model is destroyed here, outside the lock.
  std::unique_lock lock(mutex_);
  for (;;) {
    std::vector<std::shared_ptr<LoadedModel>> idle_derivatives;
    bool held = false;
    for (auto& [id, entry] : entries_) {
      if (entry->refs > 0)
        held = true;
      else if (entry->model && !entry->base.empty())
        idle_derivatives.push_back(take_model(*entry));
    }
    if (!idle_derivatives.empty()) {
      lock.unlock();
      idle_derivatives.clear();
      lock.lock();
    } else if (held) {
      maintenance_.wait(lock);
    } else {
      break;
    }
  }
  std::vector<std::shared_ptr<LoadedModel>> models;
  for (auto& [id, entry] : entries_)
    if (entry->model) models.push_back(take_model(*entry));
  lock.unlock();
}

std::shared_ptr<ModelLease::Entry> Registry::make_entry(const std::string& id,
                                                        const std::string& path,
                                                        const std::string& source) const {
  auto entry = std::make_shared<Entry>();
  entry->id = id;
  entry->path = path;
  entry->source = source;
  if (auto it = options_.config.models.find(id); it != options_.config.models.end())
    entry->config = it->second;
  entry->pinned = entry->config.pin;
  entry->stamp = stamp_of(path);
  entry->file = read_model_file(id, path);
  entry->state = entry->file.error.empty() ? ModelState::Available : ModelState::Error;
  return entry;
}

ModelFile Registry::read_model_file(const std::string& id, const std::string& path) const {
  ModelFile file = inspect_model_file(path);
  if (auto alias = aliases_.find(id); alias != aliases_.end())
    file.error = "its id is an alias of '" + alias->second + "'";
  if (file.error.empty()) file.error = unservable_with_options(file);
  return file;
}

void Registry::set_adapter_presence(Entry& entry) {
  std::error_code ec;
  const bool missing = !fs::exists(entry.path, ec);
  if (missing && entry.state == ModelState::Available) {
    entry.file.error = entry.path + ": the adapter file does not exist";
    entry.state = ModelState::Error;
  }
}

std::shared_ptr<ModelLease::Entry> Registry::make_derivative(const LoraSpec& spec,
                                                             const std::string& source) const {
  auto entry = std::make_shared<Entry>();
  entry->id = spec.name;
  entry->path = spec.adapter.path;
  entry->source = source;
  entry->base = spec.base;
  entry->adapter_scale = spec.adapter.scale;
  if (auto it = options_.config.models.find(spec.name); it != options_.config.models.end())
    entry->config = it->second;
  entry->pinned = entry->config.pin;
  entry->stamp = stamp_of(spec.adapter.path);
  entry->file.path = spec.adapter.path;
  entry->file.size_bytes = std::max<int64_t>(0, entry->stamp.size);
  set_adapter_presence(*entry);
  return entry;
}

Result<void> Registry::add_derivatives() {
  std::vector<std::pair<LoraSpec, std::string>> all;  // with the source, and its flag or key
  for (const LoraSpec& spec : options_.loras) all.push_back({spec, "--lora"});
  for (const auto& [id, model] : options_.config.models)
    for (const LoraConfig& lora : model.loras)
      all.push_back({{lora.name, id, {lora.adapter_path, lora.scale}}, "config"});
  std::lock_guard lock(mutex_);
  for (const auto& [spec, source] : all) {
    const std::string where =
        source == "--lora"
            ? "--lora " + spec.name
            : config_key(options_.config, "models." + spec.base + ".loras." + spec.name);
    const std::shared_ptr<Entry> base = resolve(spec.base);
    if (!base) return make_error(where + ": there is no model '" + spec.base + "'");
    if (!base->base.empty())
      return make_error(where + ": the base '" + spec.base +
                        "' is itself a LoRA derivative (adapters of adapters do not stack)");
    if (auto alias = aliases_.find(spec.name); alias != aliases_.end())
      return make_error(where + ": the name '" + spec.name + "' is an alias of '" + alias->second +
                        "'");
    if (resolve(spec.name))
      return make_error(where + ": the name '" + spec.name + "' is a served model's already");
    entries_.emplace(spec.name, make_derivative(spec, source));
  }
  for (const auto& [spec, source] : all)
    emit({RegistryEvent::Kind::Added, spec.name, entries_.at(spec.name)->file.error});
  return {};
}

Result<std::shared_ptr<LoadedModel>> Registry::load(const Entry& entry, const ModelOptions& options,
                                                    LoadReport& report,
                                                    const std::atomic<bool>* abandoned) {
  if (entry.base.empty()) return LoadedModel::load(entry.path, options);
  // (held while the derivative is loaded: the base's keep-alive stays its last request's)
  Acquired base = acquire_lease(entry.base, std::nullopt, abandoned, entry.id);
  report.base_status = base.status;
  if (!base.lease) return make_error("its base: " + base.message);
  auto adapted = (*base.lease)->load_adapter(entry.path, entry.adapter_scale);
  if (!adapted.ok()) {
    report.adapter_failed = true;
    // The GGUF reader's errors ("cannot open", "not a GGUF file") do not say which file.
    Error error = adapted.error();
    std::string& message = error.message;
    if (message.find("adapter") == std::string::npos) {
      const size_t at = message.starts_with(entry.path + ": ") ? entry.path.size() + 2 : 0;
      message.insert(at, "the adapter file: ");
    }
    if (base.loaded) {
      // Loaded for this adapter alone: not left in memory for its keep-alive.
      const std::string base_id = base.lease->id();
      base.lease.reset();
      unload_if_idle(base_id, "its derivative '" + entry.id + "' failed to load");
    }
    return error;
  }
  report.load_us = adapted.value()->load_us() + (base.loaded ? (*base.lease)->load_us() : 0);
  // The derivative's model holds the base's lease: destroying it (an unload, always outside
  // the registry's lock) releases the base.
  struct Held {
    ModelLease base;
    std::shared_ptr<LoadedModel> adapted;
  };
  auto held = std::make_shared<Held>(Held{std::move(*base.lease), std::move(adapted).value()});
  return std::shared_ptr<LoadedModel>(held, held->adapted.get());
}

std::shared_ptr<ModelLease::Entry> Registry::resolve(std::string_view name) const {
  // An alias first: a file that appeared later under an alias's name (state error) hides no
  // model.
  if (auto alias = aliases_.find(name); alias != aliases_.end())
    if (auto it = entries_.find(alias->second); it != entries_.end()) return it->second;
  if (auto it = entries_.find(name); it != entries_.end()) return it->second;
  return nullptr;
}

int Registry::context_ceiling(const ModelFile& file) const {
  const int ctx = options_.model.n_ctx;
  return ctx > 0 && file.context_length > 0 ? std::min(ctx, file.context_length) : ctx;
}

std::string Registry::unservable_with_options(const ModelFile& file) const {
  const ModelOptions& model = options_.model;
  if (model.kv_cache_bytes <= 0 || model.n_ctx <= 0) return "";
  const int ctx = context_ceiling(file);
  const int64_t held = kv_cache_positions_for(file, model.kv_cache_bytes, model.kv_cache_type);
  if (held >= ctx) return "";
  return "a KV cache of " + std::to_string(model.kv_cache_bytes >> 20) + " MiB holds " +
         std::to_string(held) + " positions, fewer than one sequence of the asked context of " +
         std::to_string(ctx) +
         " tokens; give it more memory (--kv-cache-mb) or ask for a "
         "shorter context (--ctx)";
}

ModelOptions Registry::options_for(const Entry& entry) const {
  ModelOptions options = options_.model;
  // ModelInstance::load refuses a context beyond the training one.
  options.n_ctx = context_ceiling(entry.file);
  if (options_.max_memory_bytes > 0 && options.kv_cache_bytes == 0) {
    const int ctx = options.n_ctx > 0 ? options.n_ctx : entry.file.context_length;
    options.kv_cache_bytes = kv_cache_bytes_for(entry.file, ctx, options.kv_cache_type);
  }
  return options;
}

int64_t Registry::memory_of(const Entry& entry) const {
  if (entry.state == ModelState::Error) return 0;
  if (entry.state == ModelState::Loaded || entry.state == ModelState::Loading)
    return entry.reserved_bytes;
  if (!entry.base.empty()) return entry.file.size_bytes;  // the base holds weights and KV cache
  return entry.file.size_bytes + options_for(entry).kv_cache_bytes;
}

int64_t Registry::keep_alive_of(const Entry& entry) const {
  return entry.config.keep_alive_us.value_or(options_.config.keep_alive_us);
}

ModelInfo Registry::info_of(const Entry& entry) const {
  ModelInfo info;
  info.id = entry.id;
  for (const auto& [alias, id] : aliases_)
    if (id == entry.id) info.aliases.push_back(alias);
  info.file = entry.file;
  if (!entry.base.empty()) {
    if (const std::shared_ptr<Entry> base = resolve(entry.base)) {
      info.parent = base->id;
      info.file = base->file;
      info.file.error = entry.file.error;
      info.file.path = entry.file.path;
      info.file.size_bytes = entry.file.size_bytes;
    } else {
      info.parent = entry.base;
    }
  }
  info.state = entry.state;
  if (entry.state == ModelState::Loaded && entry.model) {
    info.context_length = entry.model->n_ctx();
  } else {
    const int ceiling = context_ceiling(info.file);
    info.context_length = ceiling > 0 ? ceiling : info.file.context_length;
    // A pool given in bytes (--kv-cache-mb) shorter than that context is what the load serves.
    const ModelOptions& model = options_.model;
    if (const int64_t held =
            kv_cache_positions_for(info.file, model.kv_cache_bytes, model.kv_cache_type);
        model.kv_cache_bytes > 0 && held > 0)
      info.context_length = static_cast<int>(std::min<int64_t>(info.context_length, held));
  }
  info.public_error = public_message(entry, info.file.error);
  if (auto refusal = base_refusal(entry)) {
    // A derivative cannot be served while its base cannot: listed so, with the base's reason.
    info.state = ModelState::Error;
    std::tie(info.file.error, info.public_error) = std::move(*refusal);
  }
  info.source = entry.source;
  info.pinned = entry.pinned;
  info.running = entry.refs;
  info.waiting_for_load = entry.waiters;
  if (entry.state == ModelState::Loading) {
    info.loading_for_us = monotonic_us() - entry.load_started_us;
    info.loading_bytes_read = entry.load_bytes_read;
  }
  info.cold_start_us = entry.cold_start_us;
  info.last_load_error = entry.last_load_error;
  info.memory_bytes = info.state == ModelState::Error ? 0 : memory_of(entry);
  info.keep_alive_us = keep_alive_of(entry);
  if (entry.state == ModelState::Loaded && entry.refs == 0 && !entry.pinned) {
    const int64_t keep = entry.keep_alive_us.value_or(info.keep_alive_us);
    info.unloads_in_us = keep == kKeepForever
                             ? kKeepForever
                             : std::max<int64_t>(0, entry.last_used_us + keep - now());
  }
  info.last_used_us = entry.last_used_us;
  info.defaults = entry.config.defaults;
  return info;
}

std::vector<ModelInfo> Registry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<ModelInfo> out;
  for (const auto& [id, entry] : entries_) out.push_back(info_of(*entry));
  return out;
}

std::optional<ModelInfo> Registry::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  const std::shared_ptr<Entry> entry = resolve(name);
  if (!entry) return std::nullopt;
  return info_of(*entry);
}

MemoryUse Registry::memory() const {
  std::lock_guard lock(mutex_);
  MemoryUse use{options_.max_memory_bytes, 0};
  for (const auto& [id, entry] : entries_)
    if (entry->state == ModelState::Loaded || entry->state == ModelState::Loading)
      use.used_bytes += entry->reserved_bytes;
  return use;
}

std::string Registry::public_message(const Entry& entry, std::string message) const {
  if (!entry.base.empty()) {
    if (const std::shared_ptr<Entry> base = resolve(entry.base))
      message = without_path(std::move(message), base->path, "'" + base->id + "'");
  }
  return without_path(std::move(message), entry.path,
                      entry.base.empty() ? "the model's file" : "the adapter's file");
}

void Registry::unload_if_idle(const std::string& id, const std::string& why) {
  std::shared_ptr<LoadedModel> model;
  {
    std::lock_guard lock(mutex_);
    const std::shared_ptr<Entry> entry = resolve(id);
    if (!entry || entry->state != ModelState::Loaded || entry->refs > 0 || entry->pinned) return;
    model = take_model(*entry);
  }
  model.reset();
  emit({RegistryEvent::Kind::Unloaded, id, why});
}

void Registry::emit(const RegistryEvent& event) const {
  if (options_.observer) options_.observer(event);
}

std::shared_ptr<LoadedModel> Registry::take_model(Entry& entry) {
  entry.state = ModelState::Available;
  entry.reserved_bytes = 0;
  memory_freed_.notify_all();
  return std::move(entry.model);
}

Registry::Holders Registry::holders_of(const Entry& entry) const {
  Holders out;
  out.requests = entry.refs - static_cast<int>(entry.held_for.size());
  for (const std::string& id :
       std::set<std::string>(entry.held_for.begin(), entry.held_for.end())) {
    const auto it = entries_.find(id);
    const bool loading = it != entries_.end() && it->second->state == ModelState::Loading;
    std::string& names = loading ? out.loading : out.loaded;
    names += (names.empty() ? "'" : ", '") + id + "'";
  }
  return out;
}

std::optional<std::string> Registry::make_room(
    const Entry& entry, int64_t needed,
    std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>>& victims) {
  const int64_t budget = options_.max_memory_bytes;
  if (budget <= 0) return std::nullopt;
  if (needed > budget)
    return "model '" + entry.id + "' needs " + format_bytes(needed) + " (weights and KV cache), " +
           "more than --max-memory " + format_bytes(budget);
  // A derivative about to load its base does not unload that base to make room for itself.
  const Entry* own_base = entry.base.empty() ? nullptr : resolve(entry.base).get();
  const auto unloadable = [&](const Entry& e) {
    return e.state == ModelState::Loaded && !e.pinned && &e != own_base;
  };
  // Each loaded derivative holds one lease on its base. A base whose leases are all held by
  // idle derivatives is freed with them: it and they are one candidate.
  std::map<const Entry*, int> loaded_derivatives;
  std::map<const Entry*, std::vector<Entry*>> idle_derivatives;
  for (const auto& [id, other] : entries_) {
    if (other->base.empty() || other->state != ModelState::Loaded) continue;
    const Entry* base = resolve(other->base).get();
    ++loaded_derivatives[base];
    if (other->refs == 0 && unloadable(*other)) idle_derivatives[base].push_back(other.get());
  }
  const auto freed_with_derivatives = [&](const Entry& e) {
    const auto loaded = loaded_derivatives.find(&e);
    const auto idle = idle_derivatives.find(&e);
    return unloadable(e) && e.refs > 0 && loaded != loaded_derivatives.end() &&
           idle != idle_derivatives.end() && e.refs == loaded->second &&
           static_cast<int>(idle->second.size()) == loaded->second;
  };
  struct Candidate {
    std::vector<Entry*> entries;  ///< unloaded in this order (derivatives before their base)
    int64_t bytes = 0;
    int64_t last_used_us = 0;  ///< the most recent use of any of them
  };
  // What holds a loaded model that is not idle, besides a pin: requests, and derivatives (a
  // base that a derivative's load holds is loading for it: no request runs on it).
  const auto held_by = [this](const Entry& e) {
    const Holders held = holders_of(e);
    std::string why;
    const auto add = [&why](const std::string& part) {
      why += (why.empty() ? "" : " and ") + part;
    };
    if (held.requests > 0) add(std::to_string(held.requests) + " request(s) running");
    if (!held.loading.empty()) add("loading for its derivative(s) " + held.loading);
    if (!held.loaded.empty()) add("held by its loaded derivative(s) " + held.loaded);
    return why;
  };
  std::vector<Candidate> candidates;
  int64_t used = 0;
  std::string holders;
  for (const auto& [id, other] : entries_) {
    if (other->state != ModelState::Loaded && other->state != ModelState::Loading) continue;
    used += other->reserved_bytes;
    if (freed_with_derivatives(*other)) {
      Candidate group;
      for (Entry* derivative : idle_derivatives.at(other.get()))
        group.entries.push_back(derivative);
      group.entries.push_back(other.get());
      for (const Entry* e : group.entries) {
        group.bytes += e->reserved_bytes;
        group.last_used_us = std::max(group.last_used_us, e->last_used_us);
      }
      candidates.push_back(std::move(group));
      continue;
    }
    if (other->refs == 0 && unloadable(*other)) {
      const Entry* base = other->base.empty() ? nullptr : resolve(other->base).get();
      if (base == nullptr || !freed_with_derivatives(*base))  // else in its base's candidate
        candidates.push_back({{other.get()}, other->reserved_bytes, other->last_used_us});
      continue;
    }
    const std::string why = other->state == ModelState::Loading ? "loading"
                            : other->pinned                     ? "pinned"
                            : other.get() == own_base           ? "its base"
                                                                : held_by(*other);
    holders += std::string(holders.empty() ? "" : ", ") + "'" + other->id + "' (" + why + ", " +
               format_bytes(other->reserved_bytes) + ")";
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.last_used_us < b.last_used_us; });
  size_t n_victims = 0;
  int64_t freed = 0;
  while (used - freed + needed > budget && n_victims < candidates.size())
    freed += candidates[n_victims++].bytes;
  if (used - freed + needed > budget) {
    // The idle ones are named too (QA 2026-12-07: "no idle model can be unloaded" was said also
    // of idle models too small to make room).
    std::string idle;
    for (const Candidate& c : candidates)
      for (const Entry* e : c.entries)
        idle += std::string(idle.empty() ? "" : ", ") + "'" + e->id + "' (" +
                format_bytes(e->reserved_bytes) + ")";
    return "model '" + entry.id + "' needs " + format_bytes(needed) + " but only " +
           format_bytes(budget - used) + " of --max-memory " + format_bytes(budget) + " is free" +
           (idle.empty() ? " and no idle model can be unloaded"
                         : ", and unloading the idle models " + idle + " would free too little") +
           (holders.empty() ? "" : "; held by " + holders);
  }
  for (size_t i = 0; i < n_victims; ++i)
    for (Entry* e : candidates[i].entries) victims.emplace_back(e->id, take_model(*e));
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> Registry::base_refusal(
    const Entry& entry) const {
  if (entry.base.empty() || entry.state != ModelState::Available) return std::nullopt;
  const std::shared_ptr<Entry> base = resolve(entry.base);
  if (!base) {
    const std::string gone = "its base '" + entry.base + "' is not served here (its file is gone)";
    return std::pair{gone, gone};
  }
  if (base->state != ModelState::Error) return std::nullopt;
  const std::string cannot = "its base '" + base->id + "' cannot be served: ";
  return std::pair{cannot + base->file.error, cannot + public_message(*base, base->file.error)};
}

std::vector<std::shared_ptr<Registry::Entry>> Registry::to_drain(const Entry& entry,
                                                                 int64_t needed) const {
  const int64_t budget = options_.max_memory_bytes;
  const Entry* own_base = entry.base.empty() ? nullptr : resolve(entry.base).get();
  int64_t used = 0;
  int64_t kept = 0;  // pinned, and entry's base: never unloaded for it
  std::vector<std::shared_ptr<Entry>> movable;
  for (const auto& [id, other] : entries_) {
    if (other->state != ModelState::Loaded && other->state != ModelState::Loading) continue;
    used += other->reserved_bytes;
    if (other->pinned || other.get() == own_base)
      kept += other->reserved_bytes;
    else
      movable.push_back(other);
  }
  if (budget <= 0 || kept + needed > budget) return {};
  // A loading model is about to be used: the most recent.
  const auto used_at = [](const std::shared_ptr<Entry>& e) {
    return e->state == ModelState::Loading ? std::numeric_limits<int64_t>::max() : e->last_used_us;
  };
  std::sort(movable.begin(), movable.end(),
            [&](const auto& a, const auto& b) { return used_at(a) < used_at(b); });
  std::vector<std::shared_ptr<Entry>> drain;
  int64_t freed = 0;
  for (const std::shared_ptr<Entry>& e : movable) {
    if (used - freed + needed <= budget) break;
    freed += e->reserved_bytes;
    if (e->refs > 0 || e->state == ModelState::Loading) drain.push_back(e);
  }
  return drain;
}

bool Registry::draining(const Entry& entry) const {
  if (entry.drain_requests > 0) return true;
  if (entry.base.empty()) return false;
  const std::shared_ptr<Entry> base = resolve(entry.base);
  return base && base->drain_requests > 0;
}

Acquired Registry::acquire(std::string_view name, std::optional<int64_t> keep_alive_us,
                           const std::atomic<bool>* abandoned) {
  return acquire_lease(name, keep_alive_us, abandoned, "");
}

Acquired Registry::acquire_lease(std::string_view name, std::optional<int64_t> keep_alive_us,
                                 const std::atomic<bool>* abandoned, const std::string& held_for) {
  // Bounded: a file rewritten during each load would otherwise keep the request loading it for
  // as long as that goes on. (A derivative's base has the same bound, in its own attempts: a
  // base that gave up fails the derivative's load, which is not tried again here.)
  for (int attempt = 1;; ++attempt) {
    Acquired acquired = acquire_once(name, keep_alive_us, abandoned, held_for);
    if (acquired.status != AcquireStatus::FileChanging || attempt == kMaxAcquireAttempts)
      return acquired;
  }
}

Acquired Registry::acquire_once(std::string_view name, std::optional<int64_t> keep_alive_us,
                                const std::atomic<bool>* abandoned, const std::string& held_for) {
  std::unique_lock lock(mutex_);
  const std::shared_ptr<Entry> entry = resolve(name);
  if (!entry)
    return {std::nullopt, AcquireStatus::UnknownModel,
            "model '" + std::string(name) + "' is not served here"};
  if (auto refusal = base_refusal(*entry))
    return {std::nullopt, AcquireStatus::Unservable,
            "model '" + entry->id + "' cannot be served: " + refusal->second};
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::microseconds(options_.memory_wait_us);
  const uint64_t waits_ended = waits_ended_;
  const auto left = [&] { return abandoned && abandoned->load(); };
  const auto may_wait = [&] {
    return std::chrono::steady_clock::now() < deadline && waits_ended_ == waits_ended && !left();
  };
  // A lease on the loaded `e` for this caller.
  const auto lease_on = [&](const std::shared_ptr<Entry>& e) {
    ++e->refs;
    e->last_used_us = now();
    ModelLease lease(this, e, e->model, keep_alive_us);
    if (!held_for.empty()) e->held_for.push_back(lease.held_for_ = held_for);
    return lease;
  };
  // To be acquired anew: the message is the one of the last attempt.
  const auto file_changing = [&] {
    return Acquired{std::nullopt, AcquireStatus::FileChanging,
                    "model '" + entry->id + "' was not loaded: its file changed during each of " +
                        std::to_string(kMaxAcquireAttempts) +
                        " tries to load it (it is being written or replaced); retry once it " +
                        "stays in place"};
  };
  const auto abandoned_wait = [&] {
    return Acquired{std::nullopt, AcquireStatus::Abandoned,
                    "the request for model '" + entry->id +
                        "' ended: its client left while it waited for memory"};
  };
  // The models this request drains while it waits for memory, held (a rescan may drop one
  // from the registry meanwhile); undrained when it stops waiting.
  std::vector<std::shared_ptr<Entry>> drained;
  const auto drain_only = [&](std::vector<std::shared_ptr<Entry>> now) {
    for (const auto& e : now) ++e->drain_requests;
    bool given_back = false;
    for (const auto& e : drained) given_back |= --e->drain_requests == 0;
    drained = std::move(now);
    if (given_back) memory_freed_.notify_all();
  };
  bool counted = false;  // this request is one of memory_waiters_
  bool told_waiting = false;
  const auto stop_waiting = [&] {
    drain_only({});
    if (counted) --memory_waiters_;
    counted = false;
  };
  // Whether this request may wait: it counts among the waiters until it stops.
  const auto join_waiters = [&] {
    if (counted) return true;
    if (memory_waiters_ >= options_.max_memory_waiters) return false;
    ++memory_waiters_;
    counted = true;
    return true;
  };
  // Waits for a change, or first tells that it waits: the lock is let go for that, so the
  // caller looks again before waiting (a release meanwhile would have been missed).
  const auto wait_for_memory = [&](const std::string& why) {
    if (!told_waiting) {
      told_waiting = true;
      lock.unlock();
      emit({RegistryEvent::Kind::WaitingForMemory, entry->id, why});
      lock.lock();
      return;
    }
    memory_freed_.wait_until(lock, deadline);
  };
  std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> victims;
  int64_t needed = 0;
  for (;;) {
    // A rescan removed the model, or replaced its record with the new file's, while this
    // request waited (QA: a request waiting for memory outlived its file's removal, evicted
    // another model and failed to load): not served any more, or acquired anew.
    if (const auto current = entries_.find(entry->id);
        current == entries_.end() || current->second != entry) {
      stop_waiting();
      if (current == entries_.end())
        return {std::nullopt, AcquireStatus::UnknownModel,
                "model '" + entry->id + "' is not served here any more (its file was removed)"};
      return file_changing();
    }
    while (entry->state != ModelState::Available) {
      if (entry->state == ModelState::Error) {
        stop_waiting();
        return {std::nullopt, AcquireStatus::Unservable,
                "model '" + entry->id +
                    "' cannot be served: " + public_message(*entry, entry->file.error)};
      }
      if (entry->state == ModelState::Loaded) {
        // A model drained for a waiter for memory is given back once that one is done, or
        // at this request's own deadline.
        if (draining(*entry) && may_wait() && join_waiters()) {
          wait_for_memory("model '" + entry->id + "' is draining to make room for another model");
          continue;
        }
        stop_waiting();
        if (left() && draining(*entry)) return abandoned_wait();
        return {lease_on(entry), AcquireStatus::Ok, "", false};
      }
      const uint64_t attempt = entry->load_attempt;
      ++entry->waiters;
      lock.unlock();
      emit({RegistryEvent::Kind::WaitingForLoad, entry->id, ""});
      lock.lock();
      load_done_.wait(lock, [&] {
        return entry->load_attempt != attempt || entry->state != ModelState::Loading;
      });
      --entry->waiters;
      if (entry->failed_attempt == attempt) {
        stop_waiting();
        return {std::nullopt, AcquireStatus::LoadFailed,
                "model '" + entry->id +
                    "' cannot be loaded: " + public_message(*entry, entry->last_load_error)};
      }
    }
    // A file replaced since it was read (mv new.gguf m.gguf, before a rescan saw it) is read
    // again, so that the memory it is loaded under and its listing are the new file's (QA: a
    // larger file loaded under the old one's estimate, past --max-memory).
    if (entry->base.empty() && stamp_of(entry->path) != entry->stamp) {
      lock.unlock();
      const FileStamp stamp = stamp_of(entry->path);
      ModelFile file = read_model_file(entry->id, entry->path);
      lock.lock();
      if (entry->state == ModelState::Available) {
        entry->stamp = stamp;
        entry->file = std::move(file);
        if (!entry->file.error.empty()) entry->state = ModelState::Error;
      }
      continue;
    }
    needed = memory_of(*entry);
    std::optional<std::string> refusal = make_room(*entry, needed, victims);
    if (!refusal) break;
    std::vector<std::shared_ptr<Entry>> drain = to_drain(*entry, needed);
    if (drain.empty() || !may_wait()) {
      stop_waiting();
      if (waits_ended_ != waits_ended)
        return {std::nullopt, AcquireStatus::Stopping,
                "model '" + entry->id + "' was not loaded: the server is stopping"};
      if (left()) return abandoned_wait();
      if (told_waiting) {
        char waited[32];
        std::snprintf(
            waited, sizeof waited, "%.1f",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        *refusal += "; waited " + std::string(waited) + " s for the requests holding it to end";
      }
      return {std::nullopt, AcquireStatus::OutOfMemory, *refusal};
    }
    if (!join_waiters()) {
      stop_waiting();
      return {std::nullopt, AcquireStatus::OutOfMemory,
              *refusal + "; " + std::to_string(options_.max_memory_waiters) +
                  " request(s) already wait for memory, the most that may"};
    }
    drain_only(std::move(drain));
    wait_for_memory(*refusal);
  }
  stop_waiting();
  entry->state = ModelState::Loading;
  entry->reserved_bytes = needed;
  entry->load_started_us = monotonic_us();
  const uint64_t attempt = ++entry->load_attempt;
  entry->load_bytes_read = 0;
  ModelOptions options = options_for(*entry);
  // Progress in the admin listing at every chunk, in the log at every tenth of the file.
  options.load_progress = [this, entry, logged = int64_t{0}](int64_t read, int64_t total) mutable {
    entry->load_bytes_read = read;
    const int64_t tenths = total > 0 ? read * 10 / total : 10;
    if (tenths <= logged) return;
    logged = tenths;
    emit({RegistryEvent::Kind::LoadProgress, entry->id, "", 0, read, total});
  };
  lock.unlock();

  for (auto& [id, model] : victims) {
    model.reset();
    emit({RegistryEvent::Kind::Unloaded, id, "evicted to load '" + entry->id + "'"});
  }
  emit({RegistryEvent::Kind::LoadStarted, entry->id, entry->path, 0, needed, 0, entry->base});
  LoadReport report;
  auto model = load(*entry, options, report, abandoned);
  const int64_t took_us = report.load_us.value_or(monotonic_us() - entry->load_started_us);
  const AcquireStatus base_status = report.base_status;

  lock.lock();
  if (model.ok() && entry->base.empty() && stamp_of(entry->path) != entry->stamp) {
    // The file changed between its read and the end of its load: what loaded may be another
    // file than the one its memory was reserved for (QA: a larger file swapped in then loaded
    // past --max-memory under the old one's figure). Dropped; the request acquires the model
    // anew (acquire_lease), which reads the file again.
    entry->state = ModelState::Available;
    entry->reserved_bytes = 0;
    lock.unlock();
    model.value().reset();
    load_done_.notify_all();
    memory_freed_.notify_all();
    emit(
        {RegistryEvent::Kind::LoadStopped, entry->id, "the file changed while it loaded", took_us});
    return file_changing();
  }
  if (!model.ok()) {
    // A model file may load next time (memory, a replaced file: tried again); an adapter that
    // does not fit its base will not until the file changes (rescan() makes it available).
    entry->state = report.adapter_failed ? ModelState::Error : ModelState::Available;
    if (report.adapter_failed) {
      entry->file.error = model.error().message;
      entry->failed_on_base = resolve(entry->base);
      entry->failed_to_fit = true;
    }
    entry->reserved_bytes = 0;
    // A derivative whose wait for its base's memory ended (its client left, the server stops)
    // did not fail to load: the requests that waited for this load try it themselves.
    const bool wait_ended =
        base_status == AcquireStatus::Abandoned || base_status == AcquireStatus::Stopping;
    if (!wait_ended) {
      entry->last_load_error = model.error().message;
      entry->failed_attempt = attempt;
    }
    const std::string message = "model '" + entry->id + "' cannot be loaded: " +
                                public_message(*entry, model.error().message);
    lock.unlock();
    load_done_.notify_all();
    memory_freed_.notify_all();
    emit({wait_ended ? RegistryEvent::Kind::LoadStopped : RegistryEvent::Kind::LoadFailed,
          entry->id, model.error().message, took_us});
    // A base that does not fit the memory budget is the derivative's lack of memory too; a
    // wait for it that ended is this request's.
    const bool base_reason = wait_ended || base_status == AcquireStatus::OutOfMemory;
    return {std::nullopt, base_reason ? base_status : AcquireStatus::LoadFailed, message};
  }
  entry->model = model.value();
  entry->state = ModelState::Loaded;
  entry->reserved_bytes =
      entry->file.size_bytes + (entry->base.empty() ? entry->model->kv_cache_bytes() : 0);
  entry->cold_start_us = took_us;
  entry->last_load_error.clear();
  Acquired out{lease_on(entry), AcquireStatus::Ok, "", true};
  const int64_t bytes = entry->reserved_bytes;
  lock.unlock();
  load_done_.notify_all();
  memory_freed_.notify_all();
  emit({RegistryEvent::Kind::Loaded, entry->id, "", took_us, bytes, 0, entry->base});
  return out;
}

void Registry::wake_waiters() {
  // Taken so that a waiter between its look at the flag and its wait is waiting when notified.
  { std::lock_guard lock(mutex_); }
  memory_freed_.notify_all();
}

void Registry::end_waits() {
  {
    std::lock_guard lock(mutex_);
    ++waits_ended_;
  }
  memory_freed_.notify_all();
}

void Registry::release(Entry& entry, std::optional<int64_t> keep_alive_us,
                       const std::string& held_for) {
  {
    std::lock_guard lock(mutex_);
    --entry.refs;
    entry.last_used_us = now();
    if (held_for.empty())
      entry.keep_alive_us = keep_alive_us;
    else
      entry.held_for.erase(std::find(entry.held_for.begin(), entry.held_for.end(), held_for));
  }
  maintenance_.notify_all();
  memory_freed_.notify_all();
}

Result<void> Registry::unload(std::string_view name) {
  std::shared_ptr<LoadedModel> model;
  std::string id;
  {
    std::lock_guard lock(mutex_);
    const std::shared_ptr<Entry> entry = resolve(name);
    if (!entry) return make_error("model '" + std::string(name) + "' is not served here");
    id = entry->id;
    if (entry->state != ModelState::Loaded)
      return make_error("model '" + id + "' is not loaded (it is " +
                        std::string(model_state_name(entry->state)) + ")");
    if (entry->pinned) return make_error("model '" + id + "' is pinned; unpin it first");
    if (entry->refs > 0) {
      const Holders held = holders_of(*entry);
      std::string why;
      if (held.requests > 0)
        why = "has " + std::to_string(held.requests) +
              " request(s) running; it is never unloaded under a request";
      if (!held.loading.empty())
        why += (why.empty() ? "" : "; it ") + std::string("is held by its loading derivative(s) ") +
               held.loading;
      if (!held.loaded.empty())
        why += (why.empty() ? "" : "; it ") + std::string("is held by its loaded derivative(s) ") +
               held.loaded + " (unload those first)";
      return make_error("model '" + id + "' " + why);
    }
    model = take_model(*entry);
  }
  model.reset();
  emit({RegistryEvent::Kind::Unloaded, id, "admin"});
  return {};
}

Result<void> Registry::set_pinned(std::string_view name, bool pinned) {
  {
    std::lock_guard lock(mutex_);
    const std::shared_ptr<Entry> entry = resolve(name);
    if (!entry) return make_error("model '" + std::string(name) + "' is not served here");
    if (pinned && entry->state == ModelState::Error)
      return make_error("model '" + entry->id + "' cannot be pinned: it cannot be served: " +
                        public_message(*entry, entry->file.error));
    entry->pinned = pinned;
  }
  maintenance_.notify_all();
  return {};
}

int Registry::collect_idle() {
  std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> unloaded;
  {
    std::lock_guard lock(mutex_);
    const int64_t t = now();
    for (auto& [id, entry] : entries_) {
      if (entry->state != ModelState::Loaded || entry->refs > 0 || entry->pinned) continue;
      const int64_t keep = entry->keep_alive_us.value_or(keep_alive_of(*entry));
      if (keep != kKeepForever && t - entry->last_used_us >= keep)
        unloaded.emplace_back(id, take_model(*entry));
    }
  }
  for (auto& [id, model] : unloaded) {
    model.reset();
    emit({RegistryEvent::Kind::Unloaded, id, "idle"});
  }
  return static_cast<int>(unloaded.size());
}

std::pair<int, int> Registry::rescan() {
  const FolderListing folder =
      options_.models_dir.empty() ? FolderListing{} : list_folder(options_.models_dir);
  const std::map<std::string, std::string>& listed = folder.by_id;
  struct Pending {
    std::string id, path, source;
  };
  // Under the lock: what to drop and what to read; the files are read without it.
  std::vector<std::string> to_drop;
  std::vector<Pending> to_read;
  std::vector<RegistryEvent> warnings;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) {
      if (!entry->base.empty() && entry->state == ModelState::Error &&
          stamp_of(entry->path) != entry->stamp) {
        // An adapter that failed to load was changed: its next request tries it again.
        entry->stamp = stamp_of(entry->path);
        entry->file.size_bytes = std::max<int64_t>(0, entry->stamp.size);
        entry->file.error.clear();
        entry->failed_to_fit = false;
        entry->state = ModelState::Available;
      }
      if (!entry->base.empty()) set_adapter_presence(*entry);
      // A folder there but unreadable keeps its models as last listed, files unread (they
      // cannot be read through it either).
      const bool as_listed =
          entry->source == "--models" && !folder.error.empty() && !folder.missing;
      if (as_listed) continue;
      const auto file = listed.find(id);
      const bool gone =
          entry->source == "--models" && (file == listed.end() || file->second != entry->path);
      if (entry->state == ModelState::Loading || entry->refs > 0 || !entry->base.empty()) continue;
      if (gone) {
        to_drop.push_back(id);
      } else if (entry->state != ModelState::Loaded && stamp_of(entry->path) != entry->stamp) {
        to_read.push_back({id, entry->path, entry->source});
      }
    }
    // Files of the folder not served, each with the reason.
    // The folder itself gone (or unreadable) and back: once each way.
    if (!options_.models_dir.empty() && folder_unreadable_ != !folder.error.empty()) {
      folder_unreadable_ = !folder.error.empty();
      warnings.push_back(
          {RegistryEvent::Kind::Warning, "",
           folder_unreadable_
               ? "--models: cannot read the folder " + options_.models_dir + " (" + folder.error +
                     (folder.missing ? "): its models are removed until it can be read again"
                                     : "): its models are kept as last listed until it can be "
                                       "read again")
               : "--models: the folder " + options_.models_dir + " can be read again"});
    }
    std::vector<std::string> shadowed = folder.unnamed;
    // A name that is not NFC is said so: two names of one id may then look alike (QA).
    const auto shown = [](const std::string& path) {
      return util::is_nfc(path) ? path : path + " (decomposed: not in Unicode NFC)";
    };
    for (const auto& [path, first] : folder.clashes)
      shadowed.push_back(shown(path) + " is not served: its model id is also that of " +
                         shown(first) +
                         " (a file's id is its name in Unicode NFC, lower-cased; the first in "
                         "name order is served)");
    for (const auto& [id, path] : listed) {
      const auto it = entries_.find(id);
      const bool dropped = std::find(to_drop.begin(), to_drop.end(), id) != to_drop.end();
      if (it == entries_.end() || dropped)
        to_read.push_back({id, path, "--models"});
      else if (it->second->source != "--models")
        shadowed.push_back(path + " is not served: its model id '" + id + "' is taken by " +
                           it->second->source + " (" + it->second->path + ")");
    }
    for (const std::string& reason : shadowed)
      if (shadowed_warned_.insert(reason).second)
        warnings.push_back({RegistryEvent::Kind::Warning, "", "--models: " + reason});
  }
  for (const auto& warning : warnings) emit(warning);
  std::vector<std::shared_ptr<Entry>> read;
  for (const Pending& p : to_read) read.push_back(make_entry(p.id, p.path, p.source));

  int added = 0;
  int removed = 0;
  std::vector<std::shared_ptr<LoadedModel>> models;  // destroyed after the lock
  std::vector<RegistryEvent> events;
  {
    std::lock_guard lock(mutex_);
    for (const auto& id : to_drop) {
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second->refs > 0 || it->second->state == ModelState::Loading)
        continue;
      if (it->second->model) {
        models.push_back(take_model(*it->second));
        events.push_back({RegistryEvent::Kind::Unloaded, id, "file removed"});
      }
      entries_.erase(it);
      ++removed;
      events.push_back({RegistryEvent::Kind::Removed, id, "file removed"});
    }
    for (auto& entry : read) {
      auto it = entries_.find(entry->id);
      if (it == entries_.end()) {
        events.push_back({RegistryEvent::Kind::Added, entry->id, entry->file.error});
        entries_.emplace(entry->id, std::move(entry));
        ++added;
      } else if (it->second->state == ModelState::Available ||
                 it->second->state == ModelState::Error) {
        entry->pinned = it->second->pinned;
        entry->cold_start_us = it->second->cold_start_us;
        it->second = std::move(entry);
      }
    }
    // A derivative whose adapter did not fit its base is tried again once the base is another
    // file (QA 2026-12-07: a llama file put in place of a qwen2 base and then taken back left
    // the derivative in error until a restart).
    for (auto& [id, entry] : entries_)
      if (entry->state == ModelState::Error && entry->failed_to_fit &&
          resolve(entry->base) != entry->failed_on_base.lock()) {
        entry->failed_to_fit = false;
        entry->file.error.clear();
        entry->state = ModelState::Available;
      }
  }
  models.clear();
  // A request waiting for memory for a model removed here ends now, not when memory frees (QA).
  if (removed > 0) memory_freed_.notify_all();
  for (const auto& event : events) emit(event);
  return {added, removed};
}

Result<void> Registry::load_pinned() {
  std::vector<std::string> pinned;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_)
      if (entry->pinned) pinned.push_back(id);
  }
  for (const auto& id : pinned) {
    Acquired acquired = acquire(id);
    // (QA: the message did not say that the model was to load at start for its pin.)
    if (!acquired.lease)
      return make_error(config_key(options_.config, "models." + id + ".pin") +
                        ": a pinned model loads at start, and " + acquired.message);
  }
  return {};
}

void Registry::maintenance_loop() {
  const int64_t interval_us = options_.config.rescan_interval_us;
  int64_t next_rescan_us = monotonic_us() + interval_us;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // The nearest keep-alive expiry by the registry's clock, and the next rescan.
    int64_t wait_us = interval_us > 0 ? std::max<int64_t>(0, next_rescan_us - monotonic_us())
                                      : int64_t{60'000'000};
    const int64_t t = now();
    for (const auto& [id, entry] : entries_) {
      if (entry->state != ModelState::Loaded || entry->refs > 0 || entry->pinned) continue;
      const int64_t keep = entry->keep_alive_us.value_or(keep_alive_of(*entry));
      if (keep != kKeepForever)
        wait_us = std::min(wait_us, std::max<int64_t>(0, entry->last_used_us + keep - t));
    }
    if (wait_us > 0) maintenance_.wait_for(lock, std::chrono::microseconds(wait_us));
    if (stopping_) break;
    lock.unlock();
    collect_idle();
    if (interval_us > 0 && monotonic_us() >= next_rescan_us) {
      rescan();
      next_rescan_us = monotonic_us() + interval_us;
    }
    lock.lock();
  }
}

}  // namespace gengyun::deploy
