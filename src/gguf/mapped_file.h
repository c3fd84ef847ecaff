// A whole file's bytes in read-only memory: either mapped from the file (POSIX mmap: paged in
// on demand, shared with the page cache) or read once into anonymous memory backed by
// transparent huge pages (fewer TLB misses when decode streams every weight; see
// docs/kernels.md for the measurements behind the default).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "gengyun/result.h"

namespace gengyun::gguf {

/// How a file's bytes reach memory.
enum class FileMemory {
  kMapped,     ///< mmap of the file: paged in on demand, no copy
  kAnonymous,  ///< read into anonymous memory (2 MiB aligned, MADV_HUGEPAGE), then read-only
  /// Anonymous memory of the file's size, zero but for its first bytes, read as far as
  /// MappedFile::open's `prefix_need` says (a header without the data after it): no mapping of
  /// the file, so one rewritten or truncated meanwhile gives a read error, not SIGBUS.
  kPrefix,
};

/// For FileMemory::kPrefix: given the bytes read so far from the file's start, how many the
/// reader needs in all (no more than were given: enough), or an error that ends the open.
using PrefixNeed = std::function<Result<uint64_t>(std::span<const uint8_t> read)>;

/// Reports the reading of a file into anonymous memory: bytes read so far and the file's size,
/// after each chunk of 64 MiB and at the end (bytes_read == bytes_total), on the reading thread.
using ReadProgress = std::function<void(uint64_t bytes_read, uint64_t bytes_total)>;

/// Owns a read-only mapping of one regular file. Movable, not copyable. The file must not be
/// truncated by another process while mapped: reading the lost pages raises SIGBUS, which ends
/// the process (a handler installed with the first mapping first names the file on stderr, then
/// the disposition from before applies).
class MappedFile {
 public:
  /// Maps (kMapped) or reads (kAnonymous) `path` read-only and closes the descriptor. An empty
  /// file gives an empty mapping. Errors (message starts with `path`): cannot open (with the
  /// system's reason), a directory or another non-regular file, mmap failure, a read error or
  /// the file shrinking while it is read. `progress` (kAnonymous, a non-empty file) follows
  /// the read; a mapping reads nothing and does not call it.
  /// kPrefix reads the first MiB (or the whole file if smaller), then as much more as
  /// `prefix_need` asks (at least twice as much as it had; none without one), capped at the
  /// file's size; errors also: those of `prefix_need`.
  static Result<MappedFile> open(const std::string& path, FileMemory memory = FileMemory::kMapped,
                                 const ReadProgress& progress = {},
                                 const PrefixNeed& prefix_need = {});

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {static_cast<const uint8_t*>(addr_), size_}; }

  /// Calls rewrite(p) with p the bytes [offset, offset + n) of a kAnonymous copy, writable for
  /// the call (the whole copy is, then it is read-only again). Errors: a kMapped file (its pages are the file's), a range past
  /// the end, mprotect failure.
  Result<void> rewrite(size_t offset, size_t n, const std::function<void(uint8_t*)>& rewrite);

 private:
  MappedFile(void* addr, bool anonymous, size_t size, size_t mapped_bytes)
      : addr_(addr), anonymous_(anonymous), size_(size), mapped_bytes_(mapped_bytes) {}
  void unmap();

  void* addr_ = nullptr;
  bool anonymous_ = false;
  size_t size_ = 0;          // bytes of the file
  size_t mapped_bytes_ = 0;  // bytes of the mapping (kAnonymous rounds up to 2 MiB)
};

}  // namespace gengyun::gguf
