// Weak symbols and instruction sets (docs/kernels.md, "Weak symbols"). Inline functions and
// template members that a translation unit does not inline are emitted there as weak symbols,
// and the linker keeps one copy for every caller in the program. A copy from a unit compiled
// with instruction-set flags (*_avx2.cpp, *_avx512.cpp, *_avx512_vbmi.cpp, *_avx512_gfni.cpp,
// *_amx.cpp) holds AVX or AVX-512 instructions, and baseline code calling it dies with SIGILL on
// a CPU without them. Checked with binutils: the objects of those units define no weak function at
// all (so the risk is caught before a linker happens to pick such a copy), and the weak functions
// the gengyun binary and this test binary kept hold no instruction beyond baseline x86-64.
#include <cxxabi.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "testdata.h"

namespace gengyun::kernels {
namespace {

// Absolute path of `tool` found on PATH, or nothing.
std::optional<std::string> find_on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + tool;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// `s` quoted for the shell.
std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Calls line(text) for every line `command` writes to stdout; false when it fails.
template <typename LineFn>
bool for_each_output_line(const std::string& command, LineFn line) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  std::string current;
  char buffer[1 << 16];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (buffer[i] != '\n') {
        current += buffer[i];
        continue;
      }
      line(current);
      current.clear();
    }
  }
  if (!current.empty()) line(current);
  return pclose(pipe) == 0;
}

// The C++ name of a mangled symbol (the symbol itself when it is not one).
std::string demangled(const std::string& symbol) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), &std::free);
  return status == 0 ? std::string(name.get()) : symbol;
}

// True when `register_name` (after %) is one baseline x86-64 lacks: ymm, zmm, tmm, xmm16-31,
// the AVX-512 masks k0-7.
bool beyond_baseline_register(const std::string& register_name) {
  const auto number = [&](size_t at) {
    return at < register_name.size() ? std::atoi(register_name.c_str() + at) : -1;
  };
  if (register_name.starts_with("ymm") || register_name.starts_with("zmm") ||
      register_name.starts_with("tmm"))
    return true;
  if (register_name.starts_with("xmm")) return number(3) >= 16;
  return register_name.size() == 2 && register_name[0] == 'k' && number(1) >= 0 && number(1) <= 7;
}

// True when the instruction (objdump's AT&T text after the address, without raw bytes) needs
// more than baseline x86-64: VEX or EVEX encodings (mnemonics v..., AVX-512 mask instructions
// k..., ymm / zmm / xmm16-31 / mask registers), AMX tile instructions, POPCNT and CRC32 (which
// the SSE4.2 that -mavx implies lets GCC use).
bool beyond_baseline(std::string text) {
  text = text.substr(0, text.find_first_of("<#"));  // symbolic targets and comments
  std::istringstream tokens(text);
  static const std::set<std::string> kPrefixes = {
      "lock",   "rep", "repz", "repnz", "repe", "repne", "notrack", "bnd",   "data16",
      "addr32", "cs",  "ds",   "es",    "fs",   "gs",    "ss",      "{vex}", "{evex}"};
  std::string mnemonic;
  while (tokens >> mnemonic && kPrefixes.count(mnemonic) != 0) {
  }
  if (mnemonic.empty()) return false;
  const bool vex = mnemonic[0] == 'v' && mnemonic != "verr" && mnemonic != "verw";
  if (vex || mnemonic[0] == 'k' || mnemonic.starts_with("tile") || mnemonic.starts_with("tdp") ||
      mnemonic.ends_with("tilecfg") || mnemonic.starts_with("popcnt") ||
      mnemonic.starts_with("crc32"))
    return true;
  for (size_t at = text.find('%'); at != std::string::npos; at = text.find('%', at + 1)) {
    const size_t end = text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789", at + 1);
    if (beyond_baseline_register(
            text.substr(at + 1, end == std::string::npos ? end : end - at - 1)))
      return true;
  }
  return false;
}

TEST(WeakSymbols, BeyondBaselineSeesVexEvexAndAmx) {
  EXPECT_TRUE(beyond_baseline("vmovd  %edi,%xmm1"));
  EXPECT_TRUE(beyond_baseline("vfmadd231ss 0x3c(%rsp),%xmm0,%xmm1"));
  EXPECT_TRUE(beyond_baseline("vpaddd %zmm1,%zmm2,%zmm3{%k1}"));
  EXPECT_TRUE(beyond_baseline("kmovw  %eax,%k1"));
  EXPECT_TRUE(beyond_baseline("{vex} vpdpbusd %ymm1,%ymm2,%ymm3"));
  EXPECT_TRUE(beyond_baseline("tileloadd (%rax,%rdx,1),%tmm0"));
  EXPECT_TRUE(beyond_baseline("ldtilecfg (%rdi)"));
  EXPECT_TRUE(beyond_baseline("tdpbusd %tmm2,%tmm1,%tmm0"));
  EXPECT_TRUE(beyond_baseline("popcnt %rdi,%rax"));
  EXPECT_TRUE(beyond_baseline("movaps %xmm16,%xmm1"));
  EXPECT_FALSE(beyond_baseline("mov    %edi,%eax"));
  EXPECT_FALSE(beyond_baseline("movd   %edi,%xmm1"));
  EXPECT_FALSE(beyond_baseline("subss  0x0(%rip),%xmm1        # 2a <f+0x2a>"));
  EXPECT_FALSE(beyond_baseline("call   33c820 <vec_dot_f16(long, void const*)>"));
  EXPECT_FALSE(beyond_baseline("rep stos %rax,%es:(%rdi)"));
  EXPECT_FALSE(beyond_baseline("verw   %ax"));
  EXPECT_FALSE(beyond_baseline("movaps %xmm15,%xmm1"));
}

#if defined(__x86_64__)
constexpr bool kX86_64 = true;
#else
constexpr bool kX86_64 = false;
#endif

// Paths of nm and objdump; skips the test where they are missing (fails it under CI=true) or
// the machine is not x86-64.
#define REQUIRE_BINUTILS(nm, objdump)                                                           \
  do {                                                                                          \
    if (!kX86_64) GTEST_SKIP() << "not x86-64: there are no instruction-set variants to check"; \
    const auto nm_path = find_on_path("nm");                                                    \
    const auto objdump_path = find_on_path("objdump");                                          \
    if (!nm_path || !objdump_path) {                                                            \
      if (::gengyun::testing::running_in_ci())                                                  \
        FAIL() << "nm or objdump not found on PATH and CI=true: install binutils";              \
      GTEST_SKIP() << "nm or objdump not found on PATH (binutils): weak symbols not checked";   \
    }                                                                                           \
    nm = *nm_path;                                                                              \
    objdump = *objdump_path;                                                                    \
  } while (0)

// An object file built with instruction-set flags, by the patterns of CMakeLists.txt.
bool instruction_set_object(const std::string& member) {
  static const std::regex kIsa(".*_(avx2|avx512|avx512_vbmi|avx512_gfni|amx)\\.cpp\\.o");
  return std::regex_match(member, kIsa);
}

TEST(WeakSymbols, InstructionSetObjectsDefineNoWeakFunction) {
  std::string nm, objdump;
  REQUIRE_BINUTILS(nm, objdump);
  std::vector<std::string> archives;
  std::stringstream list(GENGYUN_LAYER_ARCHIVES);
  for (std::string archive; std::getline(list, archive, ':');) archives.push_back(archive);
  ASSERT_FALSE(archives.empty());

  // nm -A: "archive:member:address type name" for every defined symbol.
  std::map<std::string, std::vector<std::string>> weak_in_isa;  // symbol -> its ISA objects
  std::map<std::string, std::vector<std::string>> weak_in_baseline;
  int isa_objects = 0;
  for (const std::string& archive : archives) {
    ASSERT_TRUE(std::filesystem::exists(archive)) << archive;
    std::set<std::string> isa_members;
    const bool ok = for_each_output_line(
        shell_quoted(nm) + " -A --defined-only " + shell_quoted(archive) + " 2>/dev/null",
        [&](const std::string& line) {
          const size_t member_end = line.find(':', archive.size() + 1);
          if (line.compare(0, archive.size() + 1, archive + ":") != 0 ||
              member_end == std::string::npos)
            return;
          const std::string member =
              line.substr(archive.size() + 1, member_end - archive.size() - 1);
          std::istringstream fields(line.substr(member_end + 1));
          std::string address, type, symbol;
          if (!(fields >> address >> type >> symbol)) return;
          const bool isa = instruction_set_object(member);
          if (isa) isa_members.insert(member);
          if (type == "W") (isa ? weak_in_isa : weak_in_baseline)[symbol].push_back(member);
        });
    ASSERT_TRUE(ok) << "nm failed on " << archive;
    isa_objects += static_cast<int>(isa_members.size());
  }
  EXPECT_GT(isa_objects, 0) << "no object built with instruction-set flags found";
  for (const auto& [symbol, members] : weak_in_isa) {
    std::string where;
    for (const std::string& m : members) where += " " + m;
    std::string baseline;
    if (const auto it = weak_in_baseline.find(symbol); it != weak_in_baseline.end())
      for (const std::string& m : it->second) baseline += " " + m;
    ADD_FAILURE() << "weak function " << demangled(symbol) << " defined by" << where
                  << (baseline.empty() ? " (only there)" : ", and by baseline" + baseline);
  }
}

// Checks the weak functions of `binary`; returns its count of instructions beyond baseline.
int64_t check_binary(const std::string& nm, const std::string& objdump, const std::string& binary) {
  // nm -S: "address size type name" for the defined symbols with a size.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [start, end) of weak functions
  std::map<uint64_t, std::string> names;
  bool ok =
      for_each_output_line(shell_quoted(nm) + " -S --defined-only " + shell_quoted(binary),
                           [&](const std::string& line) {
                             std::istringstream fields(line);
                             std::string address, size, type, symbol;
                             if (!(fields >> address >> size >> type >> symbol) || type != "W")
                               return;
                             const uint64_t start = std::stoull(address, nullptr, 16);
                             ranges.emplace_back(start, start + std::stoull(size, nullptr, 16));
                             names[start] = symbol;
                           });
  EXPECT_TRUE(ok) << "nm failed on " << binary;
  EXPECT_FALSE(ranges.empty()) << binary << " has no weak function: the check saw nothing";
  std::sort(ranges.begin(), ranges.end());

  int64_t beyond = 0;
  std::map<std::string, std::string> offending;  // symbol -> its first such instruction
  ok = for_each_output_line(
      shell_quoted(objdump) + " -d --no-show-raw-insn " + shell_quoted(binary),
      [&](const std::string& line) {
        // An instruction: "  address:\tinstruction".
        const size_t colon = line.find(":\t");
        const size_t digits = line.find_first_not_of(' ');
        if (colon == std::string::npos || digits >= colon ||
            line.find_first_not_of("0123456789abcdef", digits) != colon)
          return;
        const std::string instruction = line.substr(colon + 2);
        if (!beyond_baseline(instruction)) return;
        ++beyond;
        const uint64_t address = std::stoull(line.substr(digits, colon - digits), nullptr, 16);
        auto it = std::upper_bound(ranges.begin(), ranges.end(), std::pair{address, UINT64_MAX});
        if (it == ranges.begin() || address >= std::prev(it)->second) return;
        offending.emplace(names[std::prev(it)->first], instruction);
      });
  EXPECT_TRUE(ok) << "objdump failed on " << binary;
  for (const auto& [symbol, instruction] : offending)
    ADD_FAILURE() << binary << ": weak function " << demangled(symbol)
                  << " holds an instruction beyond baseline x86-64: " << instruction;
  return beyond;
}

TEST(WeakSymbols, BinariesKeepNoInstructionSetCopy) {
  std::string nm, objdump;
  REQUIRE_BINUTILS(nm, objdump);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const std::string& binary : {std::string(GENGYUN_BINARY), self}) {
    SCOPED_TRACE(binary);
    ASSERT_TRUE(std::filesystem::exists(binary));
    // The kernels' AVX code is there (outside weak symbols): the disassembly was read.
    EXPECT_GT(check_binary(nm, objdump, binary), 0);
  }
}

}  // namespace
}  // namespace gengyun::kernels
