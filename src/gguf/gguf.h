// Reading GGUF files (versions 2 and 3; spec: ggml/docs/gguf.md).
//
// A File is the parsed header (metadata key/values and tensor infos) plus a read-only view of
// the tensor data, mmap'd from disk so weights are never copied. Every count, length, type,
// dimension and offset is validated against the file size before use: a truncated, corrupt or
// hostile file yields an Error naming the problem, never a crash, hang or huge allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gengyun/result.h"
#include "gguf/mapped_file.h"
#include "gguf/ggml_type.h"

namespace gengyun::gguf {

/// Alignment of tensor data when the file has no `general.alignment` key.
inline constexpr size_t kDefaultAlignment = 32;
/// Most tensor dimensions (ggml's GGML_MAX_DIMS).
inline constexpr size_t kMaxDims = 4;
/// Deepest nesting of metadata arrays accepted (an array of arrays is depth 2); deeper files
/// are rejected rather than parsed recursively without bound.
inline constexpr int kMaxArrayDepth = 8;
/// Most metadata values (entries plus array items) and most tensors one file may hold. A parsed
/// value takes ~50 bytes of memory, even for a 1-byte value on disk, so these limits bound what
/// a hostile file can make the parser allocate (~0.5 GB) while staying far above real models
/// (a 256k-token vocabulary is under 1.5M values; models have a few thousand tensors).
inline constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 23;
inline constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
/// Longest tensor name in bytes (ggml's GGML_MAX_NAME, 64, less the terminating NUL).
inline constexpr size_t kMaxTensorNameBytes = 63;

/// GGUF metadata value types (on-disk ids).
enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

/// The spec's name of a value type ("uint8", "float32", "string", "array", ...); "unknown"
/// for ids outside the enum.
std::string_view value_type_name(ValueType type);

/// How many bytes of a file's text quoted_text() and printable_text() show.
inline constexpr size_t kQuotedTextBytes = 64;

/// `text` read from a file with its bytes outside printable ASCII as \xNN, cut after
/// kQuotedTextBytes bytes with "..." (a field a file sets, shown where it could be hostile).
std::string printable_text(std::string_view text);

/// Text read from a file (a key, a tensor name, a metadata string) as an error message quotes
/// it: in single quotes, bytes outside printable ASCII as \xNN, and past kQuotedTextBytes bytes
/// cut with the text's length said ('AAA...' (3200005 bytes)), so that a hostile file cannot
/// make a message huge or unreadable (QA 2026-12-07: a 3.2 MB architecture name in every
/// /v1/models answer, a key of NUL bytes that hid the reason).
std::string quoted_text(std::string_view text);

struct Value;

/// A metadata array: all items share elem_type (nested arrays allowed by the spec).
struct Array {
  ValueType elem_type = ValueType::UINT8;
  std::vector<Value> items;
};

/// One metadata value. Integers are widened to uint64_t (unsigned types) or int64_t (signed),
/// floats to double; `type` keeps the on-disk type.
struct Value {
  ValueType type = ValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;

  /// Integer value of any integer type (nullopt for other types or out of int64 range).
  std::optional<int64_t> as_int() const;
  /// Numeric value of any integer or float type.
  std::optional<double> as_double() const;
  std::optional<bool> as_bool() const;
  /// Only for STRING values.
  const std::string* as_string() const;
  /// Only for ARRAY values.
  const Array* as_array() const;
};

/// Exact equality: same type and same data; floats compare by bit pattern (so a NaN equals
/// itself and 0.0 differs from -0.0), arrays element by element.
bool operator==(const Value& a, const Value& b);
bool operator==(const Array& a, const Array& b);

/// One tensor: name, type, shape in ggml order (ne[0] is the row length, the contiguous
/// dimension), and its bytes inside the mapped file.
struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;     ///< 1..4 dims, each >= 1
  uint64_t offset = 0;         ///< from the start of the data section, as in the file
  const uint8_t* data = nullptr;  ///< points into the mapping
  size_t n_bytes = 0;
  /// 0: the bytes as in the file. Otherwise the kernels' weight layout (kernels::WeightLayout)
  /// a loader rearranged them into with File::rewrite_tensor.
  uint8_t layout = 0;

  int64_t n_elements() const;
  /// Number of rows = product of ne[1..].
  int64_t n_rows() const;
};

/// Where a GGUF file ends, by its header: the tensors' data follow the header, each where the
/// previous one's ends rounded up to the alignment, so the last tensor's data ends the file.
struct FileExtent {
  /// Byte offset of the end of the last tensor's data (of the tensor infos when there are no
  /// tensors): the least size the file can have.
  uint64_t data_end = 0;
  /// data_end rounded up to the alignment: the size llama.cpp's and gguf-py's writers give the
  /// file (they pad after the last tensor too), and the most it can have as the file it is.
  uint64_t padded_end = 0;
};

/// The most bytes a GGUF header (magic, version, metadata, tensor infos) may take where it is
/// read alone (a download, FileMemory::kPrefix). Far above real models' headers (a 256k-token
/// vocabulary with its merges takes some tens of MB).
inline constexpr uint64_t kMaxHeaderBytes = uint64_t{256} << 20;

/// What the first bytes of a GGUF file say about it (probe_header): its extent once they hold
/// the whole header (magic, version, metadata, tensor infos), else how many are needed.
struct HeaderProbe {
  std::optional<FileExtent> extent;  ///< set when the header is complete
  /// Without extent: the header reads further once the file's first need_bytes bytes are
  /// given (more than were given; up to UINT64_MAX when the header claims that much).
  uint64_t need_bytes = 0;
};

/// Reads the header of a GGUF file from its first bytes `prefix` (any length, tensor data not
/// needed) with File::parse's checks, for a file still arriving. Errors: the bytes cannot start
/// a valid GGUF file (bad magic, also in fewer than 4 bytes; unsupported version; absurd counts,
/// unknown types, duplicate keys or names, misaligned or overlapping tensor data...), with the
/// messages File::parse gives, after `name`. Allocates at most in proportion to prefix.size().
Result<HeaderProbe> probe_header(std::span<const uint8_t> prefix, const std::string& name);

/// A parsed GGUF file. Movable, not copyable; tensor data pointers stay valid while it lives.
class File {
 public:
  /// Maps or reads `path` read-only as `memory` says (mapped_file.h) and parses it. Errors:
  /// missing/unreadable file, not GGUF (bad magic), unsupported version, truncation, absurd
  /// counts/lengths, unknown value or tensor types, empty or duplicate keys, duplicate or
  /// too long (> kMaxTensorNameBytes) tensor names, misaligned or out-of-range tensor data,
  /// overflow, and tensor data not laid out as llama.cpp's reader requires: each tensor's
  /// data starts where the previous tensor's ends, rounded up to the alignment (so no two
  /// tensors overlap and none leaves a gap). `progress`: MappedFile::open's. With
  /// FileMemory::kPrefix only the header is read (probe_header): metadata and tensor infos, each
  /// tensor's data zero.
  static Result<File> open(const std::string& path, FileMemory memory = FileMemory::kMapped,
                           const ReadProgress& progress = {});

  /// Parses an in-memory image (used by the fuzzer and tests). The bytes are not copied: the
  /// caller keeps them alive as long as the File. `name` is used in error messages.
  static Result<File> parse(std::span<const uint8_t> bytes, std::string name = "<memory>");

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::string& name() const { return name_; }

  /// All key/value pairs in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  /// nullptr when absent.
  const Value* find(std::string_view key) const;

  /// Typed getters: nullopt when the key is absent or has another type. get_int accepts
  /// every integer type (nullopt above INT64_MAX); get_float every integer or float type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  /// nullptr when absent or not an array.
  const Array* get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  /// nullptr when absent.
  const TensorInfo* find_tensor(std::string_view name) const;

  /// Rewrites the n_bytes of tensors()[index] in place with `rewrite` (which keeps their size
  /// and meaning, e.g. rearranges rows for the kernels) and records `layout` in its TensorInfo.
  /// Errors: index out of range, an image that is not a kAnonymous copy (mapped files and
  /// parsed buffers are never written).
  Result<void> rewrite_tensor(size_t index, uint8_t layout,
                              const std::function<void(uint8_t* data)>& rewrite);

  /// Total bytes of the file image.
  size_t size() const { return bytes_.size(); }
  /// Byte offset of the data section (the end of the tensor infos rounded up to alignment());
  /// tensor i's bytes start at data_offset() + tensors()[i].offset.
  size_t data_offset() const { return data_offset_; }
  /// Where the file ends by its header (size() may be larger: trailing bytes are not read).
  const FileExtent& extent() const { return extent_; }

 private:
  File() = default;
  struct Mapping;
  std::unique_ptr<Mapping> mapping_;
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  FileExtent extent_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> key_index_;     ///< key -> index in metadata_
  std::map<std::string, size_t, std::less<>> tensor_index_;  ///< name -> index in tensors_
};

}  // namespace gengyun::gguf
