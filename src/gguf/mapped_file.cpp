#include "gguf/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <utility>

namespace gengyun::gguf {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

/// A file mapping (kMapped) alive, for the SIGBUS handler: a read of a page its file lost
/// (truncated or rewritten under the mapping) raises SIGBUS, which ends the process; the
/// handler says which file first (QA 2026-12-07: "Bus error" and nothing else).
struct MappingSlot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};  ///< 0: a free slot
  char path[512] = {};
};
constexpr size_t kMappingSlots = 256;  // more mappings go unnamed (the process still ends)
MappingSlot mapping_slots[kMappingSlots];
std::mutex mapping_slots_mutex;  // registration and removal; the handler takes no lock
struct sigaction sigbus_before = {};

void write_all(const char* text) {
  for (size_t left = std::strlen(text); left > 0;) {
    const ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

// Async-signal-safe: atomics (lock-free), write and sigaction only. Returning re-runs the
// faulting read, which faults again under the disposition from before (by default the end of
// the process with SIGBUS, as without this handler).
void on_sigbus(int, siginfo_t* info, void*) {
  const auto at = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const MappingSlot& slot : mapping_slots) {
    const uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (end == 0 || at < slot.begin.load(std::memory_order_relaxed) || at >= end) continue;
    write_all("gengyun: the model file '");
    write_all(slot.path);
    write_all(
        "' lost bytes under its mapping (it was truncated or rewritten while mapped, --mmap); "
        "replace a file in use by renaming a new one over it, never by writing into it\n");
    break;
  }
  ::sigaction(SIGBUS, &sigbus_before, nullptr);
}

void register_mapping(const void* addr, size_t size, const std::string& path) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action = {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &sigbus_before);
  });
  std::lock_guard lock(mapping_slots_mutex);
  for (MappingSlot& slot : mapping_slots) {
    if (slot.end.load(std::memory_order_relaxed) != 0) continue;
    const size_t n = std::min(path.size(), sizeof slot.path - 1);
    std::memcpy(slot.path, path.data(), n);
    slot.path[n] = '\0';
    slot.begin.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_relaxed);
    slot.end.store(reinterpret_cast<uintptr_t>(addr) + size, std::memory_order_release);
    return;
  }
}

void unregister_mapping(const void* addr) {
  std::lock_guard lock(mapping_slots_mutex);
  for (MappingSlot& slot : mapping_slots) {
    if (slot.end.load(std::memory_order_relaxed) == 0 ||
        slot.begin.load(std::memory_order_relaxed) != reinterpret_cast<uintptr_t>(addr))
      continue;
    slot.end.store(0, std::memory_order_release);
    return;
  }
}

// Reads fd's bytes [done, until) to into + done, advancing `done` (the file is `size` bytes).
// Errors: a read error, or the file ending first (it shrank while read), naming the byte.
Result<void> read_into(int fd, uint8_t* into, size_t& done, size_t until, size_t size,
                       const std::string& path) {
  while (done < until) {
    const ssize_t n = ::pread(fd, into + done, until - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = n < 0 ? std::strerror(errno) : "the file shrank while read";
      return make_error(path + ": cannot read byte " + std::to_string(done) + " of " +
                        std::to_string(size) + ": " + reason);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

// `size` bytes of fd read into fresh anonymous memory, 2 MiB aligned and advised to use
// transparent huge pages, then made read-only. Returns the mapping's start and its length.
Result<std::pair<void*, size_t>> read_anonymous(int fd, size_t size, const std::string& path,
                                                const ReadProgress& progress) {
  const size_t length = (size + kHugePage - 1) / kHugePage * kHugePage;
  // Reserve one huge page more and trim to a 2 MiB boundary: THP needs aligned ranges.
  void* reserved = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (reserved == MAP_FAILED)
    return make_error(path + ": cannot allocate " + std::to_string(size) +
                      " bytes for the weights: " + std::strerror(errno));
  const auto base = reinterpret_cast<uintptr_t>(reserved);
  const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > base) ::munmap(reserved, aligned - base);
  if (const size_t tail = base + kHugePage - aligned; tail > 0)
    ::munmap(reinterpret_cast<void*>(aligned + length), tail);
  auto* addr = reinterpret_cast<uint8_t*>(aligned);
  ::madvise(addr, length, MADV_HUGEPAGE);  // advice only: small pages if THP is off

  constexpr size_t kChunk = size_t{64} << 20;
  for (size_t done = 0; done < size;) {
    if (Result<void> read = read_into(fd, addr, done, std::min(done + kChunk, size), size, path);
        !read) {
      ::munmap(addr, length);
      return read.error();
    }
    if (progress) progress(done, size);
  }
  ::mprotect(addr, length, PROT_READ);
  return std::pair<void*, size_t>{addr, length};
}

// The first bytes of fd (`size` in all) into fresh anonymous memory of `size` bytes, the rest
// left zero: the first MiB, then as far as `need` asks (at least twice as far as before).
// Returns the mapping's start.
Result<void*> read_prefix(int fd, size_t size, const std::string& path, const PrefixNeed& need) {
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED)
    return make_error(path + ": cannot reserve " + std::to_string(size) +
                      " bytes: " + std::strerror(errno));
  auto* bytes = static_cast<uint8_t*>(addr);
  size_t done = 0;
  size_t want = std::min(size, size_t{1} << 20);
  while (done < want) {
    if (Result<void> read = read_into(fd, bytes, done, want, size, path); !read) {
      ::munmap(addr, size);
      return read.error();
    }
    Result<uint64_t> needed = need ? need({bytes, done}) : Result<uint64_t>(done);
    if (!needed) {
      ::munmap(addr, size);
      return needed.error();
    }
    // At least twice as far when more is needed: a reader that asks for the next few bytes
    // each time (a header of many short strings) reads in O(log) rounds, not O(n).
    if (needed.value() > done)
      want = static_cast<size_t>(
          std::min<uint64_t>(size, std::max<uint64_t>(needed.value(), 2 * done)));
  }
  ::mprotect(addr, size, PROT_READ);
  return addr;
}

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path, FileMemory memory,
                                    const ReadProgress& progress, const PrefixNeed& prefix_need) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as not a
  // regular file); it changes nothing for regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return make_error(path + ": cannot open: " + std::strerror(errno));

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return make_error(path + ": cannot stat: " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return make_error(path + ": is a directory, not a file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(path + ": not a regular file");
  }

  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return MappedFile(nullptr, memory != FileMemory::kMapped, 0, 0);
  }
  if (memory == FileMemory::kPrefix) {
    Result<void*> read = read_prefix(fd, size, path, prefix_need);
    ::close(fd);
    if (!read) return read.error();
    return MappedFile(*read, true, size, size);
  }
  if (memory == FileMemory::kAnonymous) {
    Result<std::pair<void*, size_t>> read = read_anonymous(fd, size, path, progress);
    ::close(fd);
    if (!read) return read.error();
    return MappedFile(read->first, true, size, read->second);
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED)
    return make_error(path + ": cannot map " + std::to_string(size) +
                      " bytes: " + std::strerror(err));
  register_mapping(addr, size, path);
  return MappedFile(addr, false, size, size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : addr_(std::exchange(other.addr_, nullptr)),
      anonymous_(std::exchange(other.anonymous_, false)),
      size_(std::exchange(other.size_, 0)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    addr_ = std::exchange(other.addr_, nullptr);
    anonymous_ = std::exchange(other.anonymous_, false);
    size_ = std::exchange(other.size_, 0);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { unmap(); }

Result<void> MappedFile::rewrite(size_t offset, size_t n,
                                 const std::function<void(uint8_t*)>& rewrite) {
  if (!anonymous_) return make_error("the file is mapped (--mmap): its bytes cannot be rewritten");
  if (offset > size_ || n > size_ - offset)
    return make_error("rewrite of bytes " + std::to_string(offset) + ".." +
                      std::to_string(offset + n) + " past the end (" + std::to_string(size_) + ")");
  if (n == 0) return {};
  // The whole mapping changes protection, never a part: a range that splits a huge page would
  // leave it mapped with 4 KiB entries.
  if (::mprotect(addr_, mapped_bytes_, PROT_READ | PROT_WRITE) != 0)
    return make_error(std::string("cannot make the weights writable: ") + std::strerror(errno));
  rewrite(static_cast<uint8_t*>(addr_) + offset);
  ::mprotect(addr_, mapped_bytes_, PROT_READ);
  return {};
}

void MappedFile::unmap() {
  if (addr_ != nullptr && !anonymous_) unregister_mapping(addr_);
  if (addr_ != nullptr) ::munmap(addr_, mapped_bytes_);
  addr_ = nullptr;
  size_ = 0;
  mapped_bytes_ = 0;
}

}  // namespace gengyun::gguf
