#include "kernels/simd_level.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/amx.h"

namespace gengyun::kernels {
namespace {

SimdLevel detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (!avx2) return SimdLevel::kScalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni");
  if (!avx512) return SimdLevel::kAvx2;
  // Every CPU with AMX has AVX512-VBMI, which the tile kernels' packing uses.
  const bool amx = __builtin_cpu_supports("avx512vbmi") && amx_int8_usable();
  return amx ? SimdLevel::kAmx : SimdLevel::kAvx512;
#else
  return SimdLevel::kScalar;
#endif
}

SimdLevel initial_level() {
  const SimdLevel cpu = cpu_simd_level();
  const char* env = std::getenv("GENGYUN_KERNELS");
  if (env == nullptr || *env == '\0') return cpu;
  const std::optional<SimdLevel> wanted = parse_simd_level(env);
  if (!wanted) {
    std::fprintf(stderr,
                 "gengyun: ignoring GENGYUN_KERNELS=\"%s\" (expected scalar, avx2, avx512 or amx, "
                 "lower case)\n",
                 env);
    return cpu;
  }
  if (*wanted > cpu) {
    std::fprintf(stderr, "gengyun: GENGYUN_KERNELS=\"%s\" is not supported by this CPU; using %s\n",
                 env, std::string(simd_level_name(cpu)).c_str());
    return cpu;
  }
  return *wanted;
}

std::atomic<int>& active_level() {
  static std::atomic<int> level{static_cast<int>(initial_level())};
  return level;
}

}  // namespace

std::string_view simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
    case SimdLevel::kAmx:
      return "amx";
  }
  return "unknown";
}

std::optional<SimdLevel> parse_simd_level(std::string_view name) {
  for (SimdLevel level : kSimdLevels)
    if (name == simd_level_name(level)) return level;
  return std::nullopt;
}

SimdLevel cpu_simd_level() {
  static const SimdLevel level = detect();
  return level;
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has =
      cpu_simd_level() >= SimdLevel::kAvx512 && __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512_vbmi() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has =
      cpu_simd_level() >= SimdLevel::kAvx512 && __builtin_cpu_supports("avx512vbmi");
  return has;
#else
  return false;
#endif
}

bool cpu_has_gfni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = cpu_simd_level() >= SimdLevel::kAvx512 && __builtin_cpu_supports("gfni");
  return has;
#else
  return false;
#endif
}

bool cpu_is_amd() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool amd = __builtin_cpu_is("amd");
  return amd;
#else
  return false;
#endif
}

SimdLevel simd_level() {
  return static_cast<SimdLevel>(active_level().load(std::memory_order_relaxed));
}

std::string simd_level_description() {
  const SimdLevel level = simd_level();
  std::string text(simd_level_name(level));
  if (level < cpu_simd_level())
    text += " (the CPU has " + std::string(simd_level_name(cpu_simd_level())) + ")";
  return text;
}

Result<void> set_simd_level(SimdLevel level) {
  if (level > cpu_simd_level())
    return make_error("kernel level " + std::string(simd_level_name(level)) +
                      " is not supported by this CPU (best: " +
                      std::string(simd_level_name(cpu_simd_level())) + ")");
  active_level().store(static_cast<int>(level), std::memory_order_relaxed);
  return {};
}

}  // namespace gengyun::kernels
