// Which instruction-set variant of the kernels runs. The best level the CPU supports is found
// once from CPUID (and, for AMX, the OS); the environment variable
// GENGYUN_KERNELS=scalar|avx2|avx512|amx (read once, at the first kernel lookup) or
// set_simd_level() forces a lower one, for tests and benchmarks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::kernels {

/// Kernel variants in increasing order of capability.
///  kScalar: portable C++ (baseline x86-64 or any other target).
///  kAvx2:   AVX2 + FMA + F16C.
///  kAvx512: AVX-512 F/BW/VL/DQ + VNNI on top of kAvx2 (BF16 dot products use AVX512-BF16
///           only where the CPU has it).
///  kAmx:    kAvx512 plus AMX-INT8 tile products for the batched steps (gemm.h) of the types
///           that have them; every other kernel, vec_dot included, is kAvx512's. Offered only
///           where amx_int8_usable() (amx.h) and the CPU has AVX512-VBMI (all AMX CPUs do);
///           GENGYUN_KERNELS=avx512 turns it off.
enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

/// Every level, in increasing order (the CPU may lack the later ones).
inline constexpr SimdLevel kSimdLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2,
                                            SimdLevel::kAvx512, SimdLevel::kAmx};

/// "scalar", "avx2", "avx512", "amx".
std::string_view simd_level_name(SimdLevel level);

/// The level named by `name` (as simd_level_name spells it); nullopt for anything else.
std::optional<SimdLevel> parse_simd_level(std::string_view name);

/// The best level this CPU (and OS) supports. Computed once; thread-safe.
SimdLevel cpu_simd_level();

/// True when the CPU has AVX512-BF16 (vdpbf16ps) and kAvx512.
bool cpu_has_avx512_bf16();

/// True when the CPU has AVX512-VBMI (vpermb, vpmultishiftqb) and kAvx512. kAvx512 does not
/// require it (Skylake-X and Cascade Lake lack it); where it holds, the kAvx512 and kAmx tables
/// take the VBMI variant of the IQ4_NL decode product on
/// WeightLayout::kBlockGroups16 rows (the same bits).
bool cpu_has_avx512_vbmi();

/// True when the CPU has GFNI (vgf2p8affineqb) and kAvx512. kAvx512 does not require it
/// (Skylake-X and Cascade Lake lack it); where it holds, the kAvx512 and kAmx tables take the
/// GFNI variants of the Q3_K and Q2_K decode products on WeightLayout::kBlockGroups16 rows (the
/// same bits).
bool cpu_has_gfni();

/// True on AMD's CPUs (CPUID vendor AuthenticAMD). Where a layout's decode product streams
/// slower on them than another's, the tables leave it out there (type_kernels.cpp).
bool cpu_is_amd();

/// The level type_kernels() and vector_kernels() currently serve: GENGYUN_KERNELS if set to a
/// supported level (a warning on stderr and cpu_simd_level() otherwise), else
/// cpu_simd_level(), unless set_simd_level changed it.
SimdLevel simd_level();

/// What the kernels run at, for logs: simd_level_name(simd_level()), followed where that is
/// below cpu_simd_level() (GENGYUN_KERNELS or set_simd_level chose it) by " (the CPU has L)",
/// e.g. "avx512 (the CPU has amx)".
std::string simd_level_description();

/// Makes type_kernels() and vector_kernels() serve `level` from now on. Error when the CPU
/// lacks it. Not synchronized with kernels running concurrently: call it between computations.
Result<void> set_simd_level(SimdLevel level);

}  // namespace gengyun::kernels
