#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <utility>

#include "gguf/tensor_layout.h"
#include "util/removed_on_signal.h"

namespace gengyun::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF fields are little-endian and written with memcpy");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" as a little-endian u32
constexpr uint32_t kVersion = 3;

class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}

  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }

  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }

  // Encodes `v`; returns why it cannot be encoded, empty on success. A problem reads ": what",
  // preceded by "[i]" per array level for a problem inside an array item ("[2][0]: ...").
  std::string put_value(const Value& v, int depth) {
    switch (v.type) {
      case ValueType::UINT8: return put_int<uint8_t>(v);
      case ValueType::INT8: return put_int<int8_t>(v);
      case ValueType::UINT16: return put_int<uint16_t>(v);
      case ValueType::INT16: return put_int<int16_t>(v);
      case ValueType::UINT32: return put_int<uint32_t>(v);
      case ValueType::INT32: return put_int<int32_t>(v);
      case ValueType::UINT64: return put_int<uint64_t>(v);
      case ValueType::INT64: return put_int<int64_t>(v);
      case ValueType::FLOAT32:
      case ValueType::FLOAT64: {
        const auto* d = std::get_if<double>(&v.data);
        if (!d) return mismatch(v);
        if (v.type == ValueType::FLOAT32)
          put(static_cast<float>(*d));
        else
          put(*d);
        return {};
      }
      case ValueType::BOOL: {
        const auto* b = std::get_if<bool>(&v.data);
        if (!b) return mismatch(v);
        put<uint8_t>(*b ? 1 : 0);
        return {};
      }
      case ValueType::STRING: {
        const auto* s = std::get_if<std::string>(&v.data);
        if (!s) return mismatch(v);
        put_string(*s);
        return {};
      }
      case ValueType::ARRAY: {
        const auto* a = std::get_if<Array>(&v.data);
        if (!a) return mismatch(v);
        if (depth + 1 > kMaxArrayDepth)
          return ": arrays nested more than " + std::to_string(kMaxArrayDepth) + " levels deep";
        if (value_type_name(a->elem_type) == "unknown")
          return ": array element type " + std::to_string(static_cast<uint32_t>(a->elem_type)) + " is unknown";
        put(static_cast<uint32_t>(a->elem_type));
        put<uint64_t>(a->items.size());
        for (size_t i = 0; i < a->items.size(); ++i) {
          const Value& item = a->items[i];
          if (item.type != a->elem_type)
            return "[" + std::to_string(i) + "]: has type " + std::string(value_type_name(item.type)) +
                   ", but the array's element type is " + std::string(value_type_name(a->elem_type));
          std::string problem = put_value(item, depth + 1);
          if (!problem.empty()) return "[" + std::to_string(i) + "]" + problem;
        }
        return {};
      }
    }
    return ": unknown value type " + std::to_string(static_cast<uint32_t>(v.type));
  }

 private:
  static std::string mismatch(const Value& v) {
    static constexpr const char* kHeld[] = {"an unsigned integer", "a signed integer", "a float", "a bool",
                                            "a string", "an array"};
    return ": value of type " + std::string(value_type_name(v.type)) + " holds " + kHeld[v.data.index()];
  }

  template <class T>
  std::string put_int(const Value& v) {
    bool fits = false;
    std::string shown;
    if (const auto* u = std::get_if<uint64_t>(&v.data)) {
      fits = std::in_range<T>(*u);
      if (fits) put(static_cast<T>(*u));
      shown = std::to_string(*u);
    } else if (const auto* i = std::get_if<int64_t>(&v.data)) {
      fits = std::in_range<T>(*i);
      if (fits) put(static_cast<T>(*i));
      shown = std::to_string(*i);
    } else {
      return mismatch(v);
    }
    if (!fits) return ": value " + shown + " is out of range for " + std::string(value_type_name(v.type));
    return {};
  }

  std::vector<uint8_t>& out_;
};

Value make_value(ValueType type, decltype(Value::data) data) {
  Value v;
  v.type = type;
  v.data = std::move(data);
  return v;
}

template <class T>
Array make_array(ValueType elem_type, std::span<const T> items) {
  Array a;
  a.elem_type = elem_type;
  a.items.reserve(items.size());
  for (const T& item : items) {
    if constexpr (std::is_same_v<T, float>)
      a.items.push_back(make_value(elem_type, double{item}));
    else if constexpr (std::is_same_v<T, int32_t>)
      a.items.push_back(make_value(elem_type, int64_t{item}));
    else
      a.items.push_back(make_value(elem_type, item));
  }
  return a;
}

// What a writer of `final_path` is told when another holds the lock of its temporary.
Error being_written(const std::string& final_path) {
  return make_error(final_path + ": another process is writing it (" + final_path +
                    ".tmp is locked); wait for it or write elsewhere");
}

// Opens `final_path`.tmp for writing and locks it (flock, exclusive), not truncated: the
// descriptor, or why not ("OUT: another process is writing it ..." when another holds the lock).
// An existing temporary that is a FIFO, device, folder or symlink is refused (opening a FIFO
// would block; a link's target is none of this write's business); the open repeats the checks
// against a swap in between (O_NOFOLLOW, O_NONBLOCK, fstat).
Result<int> open_locked_temporary(const std::string& final_path) {
  const std::string path = final_path + ".tmp";
  const auto not_regular = [&] {
    return make_error(final_path + ": cannot create " + path +
                      ": it exists and is not a regular file");
  };
  struct stat st = {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return not_regular();
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0)
    return make_error(final_path + ": cannot create " + path + ": " + std::strerror(errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return not_regular();
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return being_written(final_path);
  }
  return fd;
}

// The temporary file of write(), `final_path`.tmp: removed unless committed. Its errors name
// the output the caller gave, then the temporary. It holds an exclusive flock from open to the
// rename, so that a second writer of the same output (another process, another run) is refused
// instead of truncating it; a temporary left by a killed run has no lock and is taken over.
class TempFile {
 public:
  explicit TempFile(std::string final_path)
      : final_path_(std::move(final_path)), path_(final_path_ + ".tmp") {}
  ~TempFile() {
    // Unlinked before the close releases the lock, as commit() renames before it: another
    // writer never opens this file by its name once it is unlocked.
    if (removed_on_signal_) std::remove(path_.c_str());
    if (file_) std::fclose(file_);
  }

  // Not truncated before the lock is held (open_locked_temporary).
  Result<void> open() {
    Result<int> locked = open_locked_temporary(final_path_);
    if (!locked) return locked.error();
    const int fd = locked.value();
    removed_on_signal_.emplace(path_);
    if (::ftruncate(fd, 0) != 0 || (file_ = ::fdopen(fd, "wb")) == nullptr) {
      const int error = errno;
      ::close(fd);
      errno = error;
      return failed("cannot create");
    }
    return {};
  }

  Result<void> write(std::span<const uint8_t> bytes) {
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
      return failed("cannot write");
    return {};
  }

  // Flushes and syncs the file, renames it to the final path, then closes it: the lock is held
  // until the name is gone, so no other writer can open and truncate the finished file.
  Result<void> commit() {
    if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0) return failed("cannot write");
    if (std::rename(path_.c_str(), final_path_.c_str()) != 0)
      return make_error(final_path_ + ": cannot rename " + path_ + " to it: " +
                        std::strerror(errno));
    removed_on_signal_.reset();
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0)
      return make_error(final_path_ + ": cannot close it: " + std::strerror(errno));
    return {};
  }

 private:
  // "OUT: cannot create OUT.tmp: <errno's text>".
  Error failed(const char* what) const {
    return make_error(final_path_ + ": " + what + " " + path_ + ": " + std::strerror(errno));
  }

  std::string final_path_;
  std::string path_;
  std::FILE* file_ = nullptr;
  /// Held while path_ is this writer's unfinished temporary (locked, not yet renamed): removed
  /// by a signal then, and by the destructor.
  std::optional<util::RemovedOnSignal> removed_on_signal_;
};

}  // namespace

void Writer::set(std::string key, Value value) {
  const auto it = key_index_.find(key);
  if (it != key_index_.end()) {
    metadata_[it->second].second = std::move(value);
    return;
  }
  key_index_.emplace(key, metadata_.size());
  metadata_.emplace_back(std::move(key), std::move(value));
}

void Writer::set_u8(std::string key, uint8_t v) { set(std::move(key), make_value(ValueType::UINT8, uint64_t{v})); }
void Writer::set_i8(std::string key, int8_t v) { set(std::move(key), make_value(ValueType::INT8, int64_t{v})); }
void Writer::set_u16(std::string key, uint16_t v) { set(std::move(key), make_value(ValueType::UINT16, uint64_t{v})); }
void Writer::set_i16(std::string key, int16_t v) { set(std::move(key), make_value(ValueType::INT16, int64_t{v})); }
void Writer::set_u32(std::string key, uint32_t v) { set(std::move(key), make_value(ValueType::UINT32, uint64_t{v})); }
void Writer::set_i32(std::string key, int32_t v) { set(std::move(key), make_value(ValueType::INT32, int64_t{v})); }
void Writer::set_u64(std::string key, uint64_t v) { set(std::move(key), make_value(ValueType::UINT64, v)); }
void Writer::set_i64(std::string key, int64_t v) { set(std::move(key), make_value(ValueType::INT64, v)); }
void Writer::set_f32(std::string key, float v) { set(std::move(key), make_value(ValueType::FLOAT32, double{v})); }
void Writer::set_f64(std::string key, double v) { set(std::move(key), make_value(ValueType::FLOAT64, v)); }
void Writer::set_bool(std::string key, bool v) { set(std::move(key), make_value(ValueType::BOOL, v)); }
void Writer::set_string(std::string key, std::string v) {
  set(std::move(key), make_value(ValueType::STRING, std::move(v)));
}
void Writer::set_array(std::string key, Array array) {
  set(std::move(key), make_value(ValueType::ARRAY, std::move(array)));
}
void Writer::set_strings(std::string key, std::span<const std::string> items) {
  set_array(std::move(key), make_array(ValueType::STRING, items));
}
void Writer::set_i32s(std::string key, std::span<const int32_t> items) {
  set_array(std::move(key), make_array(ValueType::INT32, items));
}
void Writer::set_f32s(std::string key, std::span<const float> items) {
  set_array(std::move(key), make_array(ValueType::FLOAT32, items));
}

const Value* Writer::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

Result<void> Writer::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                                std::span<const uint8_t> data) {
  Tensor t{std::move(name), type, std::move(ne), 0, data, nullptr};
  return add(std::move(t));
}

Result<void> Writer::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, TensorSource source) {
  if (!source) return make_error("tensor '" + name + "': no data source");
  Tensor t{std::move(name), type, std::move(ne), 0, {}, std::move(source)};
  return add(std::move(t));
}

Result<void> Writer::add(Tensor t) {
  const std::string where = "tensor '" + t.name + "': ";
  if (t.name.size() > kMaxTensorNameBytes)
    return make_error(where + "name of " + std::to_string(t.name.size()) + " bytes is longer than ggml's limit of " +
                      std::to_string(kMaxTensorNameBytes));
  Result<size_t> n_bytes = tensor_n_bytes(t.type, t.ne);
  if (!n_bytes) return make_error(where + n_bytes.error().message);
  t.n_bytes = n_bytes.value();
  if (!t.source && t.data.size() != t.n_bytes)
    return make_error(where + std::to_string(t.data.size()) + " bytes given, but shape " + shape_string(t.ne) +
                      " of " + std::string(ggml_type_info(t.type).name) + " takes " + std::to_string(t.n_bytes));
  if (!tensor_index_.emplace(t.name, tensors_.size()).second) return make_error(where + "duplicate tensor name");
  tensors_.push_back(std::move(t));
  return {};
}

Result<size_t> Writer::alignment() const {
  const Value* v = find("general.alignment");
  if (!v) return kDefaultAlignment;
  const std::optional<int64_t> a = v->as_int();
  if (v->type != ValueType::UINT32 || !a)
    return make_error("general.alignment has type " + std::string(value_type_name(v->type)) + ", expected uint32");
  if (!std::in_range<uint32_t>(*a) || !is_power_of_two(static_cast<uint64_t>(*a)))
    return make_error("general.alignment = " + std::to_string(*a) + " is not a uint32 nonzero power of two");
  return static_cast<size_t>(*a);
}

Result<std::vector<uint8_t>> Writer::encode_header() const {
  Result<size_t> align = alignment();
  if (!align) return align.error();
  std::vector<uint8_t> out;
  Encoder e(out);
  e.put(kMagic);
  e.put(kVersion);
  e.put<uint64_t>(tensors_.size());
  e.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    if (key.empty()) return make_error("an empty metadata key (every key needs a name)");
    e.put_string(key);
    e.put(static_cast<uint32_t>(value.type));
    std::string problem = e.put_value(value, 0);
    if (!problem.empty()) return make_error("metadata key '" + key + "'" + problem);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    e.put_string(t.name);
    e.put<uint32_t>(t.ne.size());
    for (int64_t d : t.ne) e.put<uint64_t>(d);
    e.put(static_cast<uint32_t>(t.type));
    e.put(offset);
    offset = align_up(offset + t.n_bytes, align.value());
  }
  out.resize(align_up(out.size(), align.value()), 0);
  return out;
}

Result<void> Writer::emit_data(std::string_view source_error_prefix,
                               const std::function<Result<void>(std::span<const uint8_t>)>& sink) const {
  Result<size_t> align = alignment();
  if (!align) return align.error();
  static constexpr uint8_t kZeros[4096] = {};
  std::vector<uint8_t> produced;
  for (const Tensor& t : tensors_) {
    std::span<const uint8_t> bytes = t.data;
    if (t.source) {
      produced.assign(t.n_bytes, 0);
      Result<void> r = t.source(produced);
      if (!r) return make_error(std::string(source_error_prefix) + "tensor '" + t.name + "': " + r.error().message);
      bytes = produced;
    }
    if (Result<void> r = sink(bytes); !r) return r;
    for (uint64_t pad = align_up(t.n_bytes, align.value()) - t.n_bytes; pad > 0;) {
      const size_t n = std::min<uint64_t>(pad, sizeof kZeros);
      if (Result<void> r = sink({kZeros, n}); !r) return r;
      pad -= n;
    }
  }
  return {};
}

Result<std::vector<uint8_t>> Writer::serialize() const {
  Result<std::vector<uint8_t>> header = encode_header();
  if (!header) return header.error();
  std::vector<uint8_t> out = std::move(header).value();
  Result<void> r = emit_data("", [&out](std::span<const uint8_t> bytes) -> Result<void> {
    out.insert(out.end(), bytes.begin(), bytes.end());
    return {};
  });
  if (!r) return r.error();
  return out;
}

Result<void> check_output_path(const std::string& path) {
  if (path.empty()) return make_error("no output path given");
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status))
    return make_error(path + ": is a folder; give a file path");
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    return make_error(path +
                      ": is not a regular file (a device, FIFO or socket); give a file path");
  return {};
}

Result<void> check_not_being_written(const std::string& path) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st = {};
  const bool locked = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                      ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  if (locked) return being_written(path);
  return {};
}

Result<OutputClaim> OutputClaim::take(const std::string& path) {
  Result<int> locked = open_locked_temporary(path);
  if (!locked) return locked.error();
  OutputClaim claim;
  claim.fd_ = locked.value();
  claim.temporary_ = path + ".tmp";
  claim.removed_on_signal_ = std::make_unique<util::RemovedOnSignal>(claim.temporary_);
  return claim;
}

OutputClaim::OutputClaim(OutputClaim&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      temporary_(std::move(other.temporary_)),
      removed_on_signal_(std::move(other.removed_on_signal_)) {}

OutputClaim& OutputClaim::operator=(OutputClaim&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    temporary_ = std::move(other.temporary_);
    removed_on_signal_ = std::move(other.removed_on_signal_);
  }
  return *this;
}

OutputClaim::~OutputClaim() { release(); }

void OutputClaim::release() {
  if (fd_ < 0) return;
  // Unlinked before the close releases the lock, as a writer leaves its temporary: no other
  // writer opens this file by its name once it is unlocked.
  std::remove(temporary_.c_str());
  removed_on_signal_.reset();
  ::close(fd_);
  fd_ = -1;
}

bool overwrites(const std::string& input, const std::string& output) {
  std::error_code ec;
  return std::filesystem::equivalent(input, output, ec) ||
         std::filesystem::equivalent(input, output + ".tmp", ec);
}

Result<void> Writer::write(const std::string& path) const {
  if (Result<void> r = check_output_path(path); !r) return r;
  Result<std::vector<uint8_t>> header = encode_header();
  if (!header) return make_error(path + ": " + header.error().message);
  TempFile file(path);
  if (Result<void> r = file.open(); !r) return r;
  if (Result<void> r = file.write(header.value()); !r) return r;
  Result<void> r = emit_data(path + ": ", [&file](std::span<const uint8_t> bytes) { return file.write(bytes); });
  if (!r) return r;
  return file.commit();
}

}  // namespace gengyun::gguf
