#include "gguf/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "gguf/mapped_file.h"
#include "gguf/tensor_layout.h"

namespace gengyun::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF fields are little-endian and read with memcpy");

struct File::Mapping {
  MappedFile file;
};

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kLastValueType = static_cast<uint32_t>(ValueType::FLOAT64);
// Smallest encodings, used to reject counts that cannot fit in the bytes that remain before
// anything is allocated for them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

uint64_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
    case ValueType::STRING:  // the u64 length
      return 8;
    case ValueType::ARRAY:  // element type u32 + count u64
      return 12;
  }
  return 1;
}

std::string str(std::string_view s) { return std::string(s); }
std::string str(uint64_t v) { return std::to_string(v); }

// Raised inside the parser only; File::parse turns it into an Error.
struct ParseError {
  std::string message;
};

// Raised by a Parser reading a prefix of a file (probe_header) where the file's bytes past the
// prefix are needed: the first `bytes` bytes of the file take the parse further.
struct NeedMore {
  uint64_t bytes;
};

// a + b * c, saturated at UINT64_MAX.
uint64_t saturated(uint64_t a, uint64_t b, uint64_t c = 1) {
  uint64_t product = 0, sum = 0;
  if (__builtin_mul_overflow(b, c, &product) || __builtin_add_overflow(a, product, &sum))
    return std::numeric_limits<uint64_t>::max();
  return sum;
}

// Reads little-endian fields from an untrusted image. Every read checks the bytes remaining
// first; every failure names what was being read and where. A parser of a prefix (`prefix`)
// raises NeedMore where a whole file would be truncated.
class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, bool prefix) : bytes_(bytes), prefix_(prefix) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  bool prefix() const { return prefix_; }

  /// Reading a prefix: raises NeedMore for the bytes up to `count` items of `unit` bytes past
  /// pos(). Reading a whole file: returns (the caller fails as the file is truncated).
  void more(uint64_t count, uint64_t unit = 1) const {
    if (prefix_) throw NeedMore{saturated(pos_, count, unit)};
  }

  /// Prefix of later error messages ("metadata key 'x'", "tensor 'y'").
  void set_context(std::string context) { context_ = std::move(context); }

  [[noreturn]] void fail(const std::string& problem) const {
    throw ParseError{context_.empty() ? problem : context_ + ": " + problem};
  }

  template <class T>
  T read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    const size_t at = pos_;
    need(sizeof(uint64_t), what, " length");
    uint64_t len;
    std::memcpy(&len, bytes_.data() + pos_, sizeof len);
    pos_ += sizeof len;
    if (len > remaining()) {
      more(len);
      fail(str(what) + " of length " + str(len) + " at offset " + str(at) +
           " runs past the end of the file (" + str(remaining()) + " bytes remain)");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  ValueType read_value_type(std::string_view what) {
    const size_t at = pos_;
    const uint32_t id = read<uint32_t>(what);
    if (id > kLastValueType)
      fail("unknown " + str(what) + " " + str(id) + " at offset " + str(at) + " (valid: 0.." +
           str(kLastValueType) + ")");
    return static_cast<ValueType>(id);
  }

  /// Charges `n` values (metadata entries or array items) against kMaxMetadataValues.
  void count_values(uint64_t n) {
    if (n > values_left_)
      fail(str(n) + " more values at offset " + str(pos_) + " take the file past the limit of " +
           str(kMaxMetadataValues) + " metadata values");
    values_left_ -= n;
  }

  /// One value of `type`; `depth` counts the arrays it is nested in.
  Value read_value(ValueType type, int depth) {
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::UINT8: v.data = uint64_t{read<uint8_t>("uint8 value")}; break;
      case ValueType::INT8: v.data = int64_t{read<int8_t>("int8 value")}; break;
      case ValueType::UINT16: v.data = uint64_t{read<uint16_t>("uint16 value")}; break;
      case ValueType::INT16: v.data = int64_t{read<int16_t>("int16 value")}; break;
      case ValueType::UINT32: v.data = uint64_t{read<uint32_t>("uint32 value")}; break;
      case ValueType::INT32: v.data = int64_t{read<int32_t>("int32 value")}; break;
      case ValueType::UINT64: v.data = uint64_t{read<uint64_t>("uint64 value")}; break;
      case ValueType::INT64: v.data = int64_t{read<int64_t>("int64 value")}; break;
      case ValueType::FLOAT32: v.data = double{read<float>("float32 value")}; break;
      case ValueType::FLOAT64: v.data = read<double>("float64 value"); break;
      case ValueType::BOOL: {
        const size_t at = pos_;
        const uint8_t b = read<uint8_t>("bool value");
        if (b > 1) fail("bool value " + str(b) + " at offset " + str(at) + " is neither 0 nor 1");
        v.data = b == 1;
        break;
      }
      case ValueType::STRING: v.data = read_string("string"); break;
      case ValueType::ARRAY: v.data = read_array(depth + 1); break;
    }
    return v;
  }

 private:
  Array read_array(int depth) {
    const size_t at = pos_;
    if (depth > kMaxArrayDepth)
      fail("arrays nested more than " + str(kMaxArrayDepth) + " levels deep at offset " + str(at));
    Array a;
    a.elem_type = read_value_type("array element type");
    const uint64_t n = read<uint64_t>("array length");
    if (n > remaining() / min_encoded_size(a.elem_type)) {
      more(n, min_encoded_size(a.elem_type));
      fail("array of " + str(n) + " " + str(value_type_name(a.elem_type)) + " elements at offset " +
           str(at) + " cannot fit in the " + str(remaining()) + " bytes remaining");
    }
    count_values(n);
    a.items.reserve(n);
    for (uint64_t i = 0; i < n; ++i) a.items.push_back(read_value(a.elem_type, depth));
    return a;
  }

  // Fails unless `n` bytes remain for the field named what + what_suffix.
  void need(size_t n, std::string_view what, std::string_view what_suffix = {}) const {
    if (remaining() < n) {
      more(n);
      fail("file truncated: " + str(what) + str(what_suffix) + " at offset " + str(pos_) + " needs " + str(n) +
           " bytes but only " + str(remaining()) + " remain");
    }
  }

  std::span<const uint8_t> bytes_;
  bool prefix_ = false;
  size_t pos_ = 0;
  std::string context_;
  uint64_t values_left_ = kMaxMetadataValues;
};

struct Header {
  uint32_t version = 0;
  size_t alignment = kDefaultAlignment;
  size_t data_offset = 0;
  FileExtent extent;
  std::vector<std::pair<std::string, Value>> metadata;
  std::map<std::string, size_t, std::less<>> key_index;
  std::vector<TensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;
};

void check_magic_and_version(std::span<const uint8_t> bytes, Parser& p, Header& h) {
  if (bytes.empty() && !p.prefix()) p.fail("empty file (0 bytes), not a GGUF file");
  if (bytes.size() < 4 && !p.prefix())
    p.fail("not a GGUF file: only " + str(bytes.size()) + " bytes (a GGUF file starts with the magic 'GGUF')");
  // A prefix shorter than the magic is judged by the bytes it has.
  const size_t n = std::min<size_t>(bytes.size(), 4);
  if (n == 0 || std::memcmp(bytes.data(), "GGUF", n) == 0) {
    static_assert(kMagic == ('G' | 'G' << 8 | 'U' << 16 | 'F' << 24));
    p.read<uint32_t>("magic");
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) hex += ' ';
      hex += kHex[bytes[i] >> 4];
      hex += kHex[bytes[i] & 15];
    }
    p.fail("not a GGUF file: starts with bytes " + hex + ", expected 'GGUF' (47 47 55 46)");
  }
  h.version = p.read<uint32_t>("version");
  if (h.version == 1)
    p.fail("GGUF version 1 is not supported (an obsolete format; re-convert the model with a current llama.cpp)");
  if (h.version == 0x02000000 || h.version == 0x03000000)
    p.fail("big-endian GGUF files are not supported");
  if (h.version != 2 && h.version != 3)
    p.fail("unsupported GGUF version " + str(h.version) + " (supported: 2, 3)");
}

void read_metadata(Parser& p, uint64_t n_kv, Header& h) {
  h.metadata.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    p.set_context("metadata entry #" + str(i));
    std::string key = p.read_string("key");
    if (key.empty()) p.fail("empty key (every metadata key needs a name)");
    p.set_context("metadata key " + quoted_text(key));
    const ValueType type = p.read_value_type("value type");
    Value value = p.read_value(type, 0);
    if (!h.key_index.emplace(key, h.metadata.size()).second) p.fail("duplicate key");
    h.metadata.emplace_back(std::move(key), std::move(value));
  }
  p.set_context("");

  const auto it = h.key_index.find("general.alignment");
  if (it == h.key_index.end()) return;
  const Value& v = h.metadata[it->second].second;
  if (v.type != ValueType::UINT32)
    p.fail("general.alignment has type " + str(value_type_name(v.type)) + ", expected uint32");
  const uint64_t alignment = std::get<uint64_t>(v.data);
  if (!is_power_of_two(alignment))
    p.fail("general.alignment = " + str(alignment) + " is not a nonzero power of two");
  h.alignment = alignment;
}

TensorInfo read_tensor_info(Parser& p) {
  TensorInfo t;
  t.name = p.read_string("tensor name");
  if (t.name.size() > kMaxTensorNameBytes)
    p.fail("tensor name " + quoted_text(t.name) + " of " + str(t.name.size()) +
           " bytes is longer than ggml's limit of " + str(kMaxTensorNameBytes));
  p.set_context("tensor " + quoted_text(t.name));
  const uint32_t n_dims = p.read<uint32_t>("n_dims");
  if (n_dims < 1 || n_dims > kMaxDims)
    p.fail("n_dims = " + str(n_dims) + " (must be 1.." + str(kMaxDims) + ")");
  t.ne.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne = p.read<uint64_t>("dimension");
    if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      p.fail("ne[" + str(d) + "] = " + str(ne) + " is out of range");
    t.ne[d] = static_cast<int64_t>(ne);
  }
  const size_t type_at = p.pos();
  const uint32_t type_id = p.read<uint32_t>("type");
  if (!ggml_type_info(type_id))
    p.fail("unknown ggml type id " + str(type_id) + " at offset " + str(type_at));
  t.type = static_cast<GgmlType>(type_id);
  t.offset = p.read<uint64_t>("data offset");
  Result<size_t> n_bytes = tensor_n_bytes(t.type, t.ne);
  if (!n_bytes) p.fail(n_bytes.error().message);
  t.n_bytes = n_bytes.value();
  return t;
}

void read_tensor_infos(Parser& p, uint64_t n_tensors, Header& h) {
  h.tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    p.set_context("tensor info #" + str(i));
    TensorInfo t = read_tensor_info(p);
    if (t.offset % h.alignment != 0)
      p.fail("data offset " + str(t.offset) + " is not a multiple of the alignment " + str(h.alignment));
    if (!h.tensor_index.emplace(t.name, h.tensors.size()).second) p.fail("duplicate tensor name");
    h.tensors.push_back(std::move(t));
  }
  p.set_context("");
}

// Checks that the tensors' data follow one another in file order, each starting where the
// previous one ends rounded up to the alignment (llama.cpp's gguf reader requires exactly this
// layout, which excludes overlapping data and gaps), points every tensor at its bytes (not when
// `bytes` is a prefix) and sets h.extent.
void locate_tensor_data(std::span<const uint8_t> bytes, Parser& p, Header& h) {
  h.data_offset = align_up(p.pos(), h.alignment);
  h.extent = {p.pos(), h.data_offset};
  uint64_t expected = 0;  // offset of the end of the previous tensor's data, aligned
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    TensorInfo& t = h.tensors[i];
    p.set_context("tensor " + quoted_text(t.name));
    if (t.offset < expected) {
      for (size_t j = 0; j < i; ++j) {
        const TensorInfo& earlier = h.tensors[j];
        if (t.offset < earlier.offset + earlier.n_bytes && earlier.offset < t.offset + t.n_bytes)
          p.fail("data [offset " + str(t.offset) + ", " + str(t.n_bytes) +
                 " bytes] overlaps the data of tensor " + quoted_text(earlier.name) + " [offset " +
                 str(earlier.offset) + ", " + str(earlier.n_bytes) + " bytes]");
      }
      p.fail("data offset " + str(t.offset) + " lies before the end of the previous tensor's data (offset " +
             str(expected) + ")");
    }
    if (t.offset > expected)
      p.fail("data offset " + str(t.offset) + " leaves a gap after the previous tensor's data: expected offset " +
             str(expected) + " (each tensor's data starts where the previous one's ends, rounded up to the alignment)");
    uint64_t start = 0, end = 0;
    if (__builtin_add_overflow(uint64_t{h.data_offset}, t.offset, &start) ||
        __builtin_add_overflow(start, uint64_t{t.n_bytes}, &end) ||
        end > std::numeric_limits<uint64_t>::max() - h.alignment ||
        (end > bytes.size() && !p.prefix())) {
      p.fail("data [offset " + str(t.offset) + ", " + str(t.n_bytes) +
             " bytes] from the data section at byte " + str(h.data_offset) + " ends past " +
             (p.prefix() ? std::string("the largest size a file can have (2^64 bytes)")
                         : "the end of the file (" + str(bytes.size()) + " bytes)"));
    }
    if (!p.prefix()) t.data = bytes.data() + start;
    expected = align_up(t.offset + t.n_bytes, h.alignment);
    h.extent = {end, align_up(end, h.alignment)};
  }
  p.set_context("");
}

Header parse_header(std::span<const uint8_t> bytes, bool prefix) {
  Parser p(bytes, prefix);
  Header h;
  check_magic_and_version(bytes, p, h);
  const uint64_t n_tensors = p.read<uint64_t>("tensor count");
  const uint64_t n_kv = p.read<uint64_t>("metadata count");
  if (n_tensors > kMaxTensors)
    p.fail("tensor count " + str(n_tensors) + " is above the limit of " + str(kMaxTensors));
  p.count_values(n_kv);
  if (n_kv > p.remaining() / kMinKvBytes) {
    p.more(n_kv, kMinKvBytes);
    p.fail("metadata count " + str(n_kv) + " cannot fit in the " + str(p.remaining()) +
           " bytes after the header (each entry takes at least " + str(kMinKvBytes) + ")");
  }
  if (n_tensors > p.remaining() / kMinTensorInfoBytes) {
    p.more(n_tensors, kMinTensorInfoBytes);
    p.fail("tensor count " + str(n_tensors) + " cannot fit in the " + str(p.remaining()) +
           " bytes after the header (each tensor info takes at least " + str(kMinTensorInfoBytes) + ")");
  }
  read_metadata(p, n_kv, h);
  read_tensor_infos(p, n_tensors, h);
  locate_tensor_data(bytes, p, h);
  return h;
}

template <class T>
bool bits_equal(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, double>) {
    return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
  } else {
    return a == b;
  }
}

}  // namespace

std::string printable_text(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text.substr(0, kQuotedTextBytes)) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) {
      out += c;
      continue;
    }
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  if (text.size() > kQuotedTextBytes) out += "...";
  return out;
}

std::string quoted_text(std::string_view text) {
  std::string out = "'" + printable_text(text) + "'";
  if (text.size() > kQuotedTextBytes) out += " (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

std::optional<int64_t> Value::as_int() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&data)) return *i;
  return std::nullopt;
}

std::optional<double> Value::as_double() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&data)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&data)) return *d;
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&data)) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const { return std::get_if<std::string>(&data); }

const Array* Value::as_array() const { return std::get_if<Array>(&data); }

bool operator==(const Value& a, const Value& b) {
  if (a.type != b.type || a.data.index() != b.data.index()) return false;
  return std::visit(
      [&b](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return bits_equal(x, std::get<T>(b.data));
      },
      a.data);
}

bool operator==(const Array& a, const Array& b) { return a.elem_type == b.elem_type && a.items == b.items; }

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

int64_t TensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
  return n;
}

Result<File> File::open(const std::string& path, FileMemory memory,
                        const ReadProgress& progress) {
  // kPrefix: the header, read as far as it goes (probe_header), the tensors' data left zero.
  const PrefixNeed header_need = [&path](std::span<const uint8_t> read) -> Result<uint64_t> {
    Result<HeaderProbe> probe = probe_header(read, path);
    if (!probe) return probe.error();
    if (!probe->extent && probe->need_bytes > kMaxHeaderBytes)
      return make_error(path + ": its GGUF header takes at least " +
                        std::to_string(probe->need_bytes) + " bytes, more than the " +
                        std::to_string(kMaxHeaderBytes) + " a header may take");
    return probe->extent ? read.size() : probe->need_bytes;
  };
  Result<MappedFile> mapped = MappedFile::open(path, memory, progress, header_need);
  if (!mapped) return mapped.error();
  auto mapping = std::make_unique<Mapping>(Mapping{std::move(mapped).value()});
  Result<File> file = parse(mapping->file.bytes(), path);
  if (!file) return file.error();
  file->mapping_ = std::move(mapping);
  return file;
}

Result<void> File::rewrite_tensor(size_t index, uint8_t layout,
                                  const std::function<void(uint8_t* data)>& rewrite) {
  if (index >= tensors_.size())
    return make_error(name_ + ": no tensor " + std::to_string(index));
  if (!mapping_) return make_error(name_ + ": a parsed buffer is never rewritten");
  TensorInfo& tensor = tensors_[index];
  const auto offset = static_cast<size_t>(tensor.data - mapping_->file.bytes().data());
  if (Result<void> ok = mapping_->file.rewrite(offset, tensor.n_bytes, rewrite); !ok)
    return make_error(name_ + ": " + tensor.name + ": " + ok.error().message);
  tensor.layout = layout;
  return {};
}

Result<File> File::parse(std::span<const uint8_t> bytes, std::string name) {
  Header h;
  try {
    h = parse_header(bytes, false);
  } catch (const ParseError& e) {
    return make_error(name + ": " + e.message);
  }
  File f;
  f.bytes_ = bytes;
  f.name_ = std::move(name);
  f.version_ = h.version;
  f.alignment_ = h.alignment;
  f.data_offset_ = h.data_offset;
  f.extent_ = h.extent;
  f.metadata_ = std::move(h.metadata);
  f.key_index_ = std::move(h.key_index);
  f.tensors_ = std::move(h.tensors);
  f.tensor_index_ = std::move(h.tensor_index);
  return f;
}

Result<HeaderProbe> probe_header(std::span<const uint8_t> prefix, const std::string& name) {
  try {
    return HeaderProbe{parse_header(prefix, true).extent, 0};
  } catch (const ParseError& e) {
    return make_error(name + ": " + e.message);
  } catch (const NeedMore& more) {
    return HeaderProbe{std::nullopt, more.bytes};
  }
}

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

const Value* File::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_double() : std::nullopt;
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_bool() : std::nullopt;
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  const std::string* s = v ? v->as_string() : nullptr;
  return s ? std::optional<std::string>(*s) : std::nullopt;
}

const Array* File::get_array(std::string_view key) const {
  const Value* v = find(key);
  return v ? v->as_array() : nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace gengyun::gguf
