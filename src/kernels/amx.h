// Intel AMX (Advanced Matrix Extensions) availability. The tile registers are usable only when
// the CPU has them (CPUID: AMX-TILE and AMX-INT8), the OS saves their state (XCR0 bits 17 and
// 18) and, on Linux, the process has asked the kernel for the tile data state
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); anywhere else AMX is never used.
#pragma once

namespace gengyun::kernels {

/// True when this process may run AMX-INT8 tile instructions: CPU support, OS support and the
/// Linux permission, which the first call requests (process-wide, for every thread). Computed
/// once; thread-safe. False on other systems and CPUs.
bool amx_int8_usable();

}  // namespace gengyun::kernels
