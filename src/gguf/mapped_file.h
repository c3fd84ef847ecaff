// A whole file mapped read-only into memory (POSIX mmap), so model weights are paged in on
// demand and never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "gengyun/result.h"

namespace gengyun::gguf {

/// Owns a read-only mapping of one regular file. Movable, not copyable. The file must not be
/// truncated by another process while mapped (reading the lost pages would raise SIGBUS).
class MappedFile {
 public:
  /// Maps `path` read-only and closes the descriptor. An empty file gives an empty mapping.
  /// Errors (message starts with `path`): cannot open (with the system's reason), a directory
  /// or another non-regular file, mmap failure.
  static Result<MappedFile> open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {static_cast<const uint8_t*>(addr_), size_}; }

 private:
  MappedFile(void* addr, size_t size) : addr_(addr), size_(size) {}
  void unmap();

  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gengyun::gguf
