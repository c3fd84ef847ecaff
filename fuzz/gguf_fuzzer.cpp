// libFuzzer target for the GGUF reader (and the writer on what the reader accepts).
// Any input must parse to an Error or to a File whose tensors lie inside the input; a File must
// survive a round trip through Writer and File::parse unchanged. ASan/UBSan report the rest.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

using gengyun::gguf::File;
using gengyun::gguf::TensorInfo;
using gengyun::gguf::Writer;

namespace {

// Round trips are skipped when the rewritten file would exceed this, to keep each run fast and
// small: overlapping tensors and a large general.alignment (up to 2^31, all padding) let a
// 64 KiB input describe a far larger file.
constexpr uint64_t kMaxRoundTripBytes = uint64_t{1} << 22;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "gguf_fuzzer: %s\n", what);
  std::abort();
}

void round_trip(const File& file) {
  const uint64_t align = file.alignment();
  uint64_t total = file.data_offset();
  for (const TensorInfo& t : file.tensors()) {
    total += (t.n_bytes + align - 1) / align * align;
    if (total > kMaxRoundTripBytes) return;
  }
  if (total > kMaxRoundTripBytes) return;

  Writer w;
  for (const auto& [key, value] : file.metadata()) w.set(key, value);
  for (const TensorInfo& t : file.tensors())
    if (!w.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok())
      fail("writer rejected a tensor the reader accepted");
  gengyun::Result<std::vector<uint8_t>> bytes = w.serialize();
  if (!bytes.ok()) fail("writer rejected metadata the reader accepted");
  gengyun::Result<File> again = File::parse(bytes.value(), "rewritten");
  if (!again.ok()) fail("reader rejected the writer's output");

  if (again->metadata().size() != file.metadata().size()) fail("metadata count changed");
  for (size_t i = 0; i < file.metadata().size(); ++i) {
    if (again->metadata()[i].first != file.metadata()[i].first) fail("metadata key changed");
    if (!(again->metadata()[i].second == file.metadata()[i].second)) fail("metadata value changed");
  }
  if (again->tensors().size() != file.tensors().size()) fail("tensor count changed");
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const TensorInfo& a = file.tensors()[i];
    const TensorInfo& b = again->tensors()[i];
    if (a.name != b.name || a.type != b.type || a.ne != b.ne || a.n_bytes != b.n_bytes) fail("tensor info changed");
    if (!std::equal(a.data, a.data + a.n_bytes, b.data)) fail("tensor data changed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gengyun::Result<File> file = File::parse(std::span(data, size), "fuzz.gguf");
  if (!file.ok()) {
    if (file.error().message.empty()) fail("empty error message");
    return 0;
  }
  for (const TensorInfo& t : file->tensors()) {
    if (t.data < data || t.n_bytes > size || t.data + t.n_bytes > data + size) fail("tensor data outside the input");
    if (t.n_bytes > 0) {
      volatile uint8_t touch = t.data[0] ^ t.data[t.n_bytes - 1];
      (void)touch;
    }
  }
  round_trip(*file);
  return 0;
}
