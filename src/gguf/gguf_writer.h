// Writing GGUF v3 files (spec: ggml/docs/gguf.md), in the layout llama.cpp's own writer uses:
// header, metadata in insertion order, tensor infos, zero padding to the alignment, then each
// tensor's bytes in insertion order, each padded with zeros to the alignment. A file read with
// File and copied key by key and tensor by tensor comes out byte for byte the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/gguf.h"

namespace gengyun::util {
class RemovedOnSignal;
}  // namespace gengyun::util

namespace gengyun::gguf {

/// Fails where `path` cannot name an output file: empty, an existing folder (which a write would
/// otherwise discover only at its final rename, after producing every tensor), or an existing
/// file that is not a regular one (a device such as /dev/null, a FIFO, a socket; links
/// followed), which the rename would replace by the written file.
Result<void> check_output_path(const std::string& path);

/// Fails when another writer holds `path`.tmp, the temporary that Writer::write locks (flock,
/// exclusive) from its open to its rename: another process is writing `path`, and this write
/// would be refused at its open. For a command with work before its write (synth's random
/// weights), so that it refuses before that work. A temporary without a lock (left by a killed
/// run), or none, passes; the lock is only tried, not kept.
Result<void> check_not_being_written(const std::string& path);

/// A claim on writing `path`: its temporary `path`.tmp created (if missing) and locked as
/// Writer::write locks it, held by a command through work that comes before its write (synth's
/// random weights, minutes for a large shape, which it writes elsewhere first), so that a
/// second run writing `path` meanwhile is refused at its start rather than after its own work
/// (QA: check_not_being_written alone let two runs that started together both work, and one
/// fail at the end). Released (the temporary unlinked, then unlocked) before the write, which
/// takes the temporary anew; also on destruction, and a signal of install_removal_on_signal()
/// removes the temporary. Move-only.
class OutputClaim {
 public:
  /// Errors: another process is writing `path` (its temporary locked: the message of
  /// Writer::write's refusal), the temporary exists and is not a regular file, it cannot be
  /// created.
  static Result<OutputClaim> take(const std::string& path);
  OutputClaim(OutputClaim&& other) noexcept;
  OutputClaim& operator=(OutputClaim&& other) noexcept;
  OutputClaim(const OutputClaim&) = delete;
  OutputClaim& operator=(const OutputClaim&) = delete;
  ~OutputClaim();

  /// Gives the claim up: unlinks the temporary, then unlocks it. Idempotent.
  void release();

 private:
  OutputClaim() = default;
  int fd_ = -1;
  std::string temporary_;
  std::unique_ptr<util::RemovedOnSignal> removed_on_signal_;
};

/// True when writing `output` through Writer::write would destroy `input`: `output`, or its
/// temporary `output`.tmp, is the same file (also through a link) as `input`.
bool overwrites(const std::string& input, const std::string& output);

/// Collects metadata and tensors, then writes them as one GGUF v3 file. Tensor data is not
/// copied: it is read (or produced) when write() or serialize() runs.
class Writer {
 public:
  /// Fills `out` (exactly the tensor's byte size) with the tensor's data during write(); lets a
  /// caller such as a quantizer produce one tensor at a time instead of holding all in memory.
  using TensorSource = std::function<Result<void>(std::span<uint8_t> out)>;

  /// Sets `key` to `value` as-is (e.g. copied from a File): replaces an existing key in its
  /// place, otherwise appends. The value is checked when written (its data must match its
  /// type and fit the type's range; array items must all have the array's elem_type).
  void set(std::string key, Value value);
  void set_u8(std::string key, uint8_t v);
  void set_i8(std::string key, int8_t v);
  void set_u16(std::string key, uint16_t v);
  void set_i16(std::string key, int16_t v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_i64(std::string key, int64_t v);
  void set_f32(std::string key, float v);
  void set_f64(std::string key, double v);
  void set_bool(std::string key, bool v);
  void set_string(std::string key, std::string v);
  /// An array of any element type, nested arrays included.
  void set_array(std::string key, Array array);
  void set_strings(std::string key, std::span<const std::string> items);
  void set_i32s(std::string key, std::span<const int32_t> items);
  void set_f32s(std::string key, std::span<const float> items);

  /// nullptr when `key` is not set.
  const Value* find(std::string_view key) const;
  /// All key/value pairs in the order they will be written.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }

  /// Adds a tensor of `type` and shape `ne` (ggml order) whose bytes are `data`, which the
  /// caller keeps alive until the last write. Errors: duplicate name, a name longer than
  /// kMaxTensorNameBytes, a shape the reader would reject (see tensor_n_bytes), data.size()
  /// differing from the shape's byte size.
  Result<void> add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                          std::span<const uint8_t> data);
  /// Same, with the bytes produced by `source` at write time.
  Result<void> add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, TensorSource source);

  /// The whole file in memory. Errors: an empty key, an invalid metadata value (see set), a general.alignment
  /// that is not a uint32 nonzero power of two, an error from a TensorSource.
  Result<std::vector<uint8_t>> serialize() const;

  /// Writes the file to `path` through a temporary file `path`.tmp that is renamed over `path`
  /// only once complete and synced. Errors: those of check_output_path (before any tensor is
  /// produced), of serialize(), and I/O errors naming the path.
  Result<void> write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    size_t n_bytes;
    std::span<const uint8_t> data;
    TensorSource source;  ///< used when set, else `data`
  };

  Result<void> add(Tensor tensor);
  /// general.alignment when set, else kDefaultAlignment; an error when it is not a uint32
  /// nonzero power of two.
  Result<size_t> alignment() const;
  /// Header, metadata, tensor infos and the padding before the data section.
  Result<std::vector<uint8_t>> encode_header() const;
  /// Calls `sink` with each piece of the data section in file order; a TensorSource's error is
  /// returned with `source_error_prefix` and the tensor's name in front, a sink's as it is.
  Result<void> emit_data(std::string_view source_error_prefix,
                         const std::function<Result<void>(std::span<const uint8_t>)>& sink) const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace gengyun::gguf
