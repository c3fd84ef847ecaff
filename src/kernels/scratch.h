// Growing the byte vectors of the SIMD kernels' per-thread scratch. std::vector::resize calls
// an out-of-line member (_M_default_append), emitted as a weak symbol in every translation unit
// that instantiates it; the linker keeps one copy for every caller in the program. A unit
// compiled with instruction-set flags (*_avx2.cpp, *_avx512.cpp, *_amx.cpp) must not emit one,
// or baseline code could end up calling its AVX copy; so those units resize their scratch
// through these functions, defined in scratch.cpp, which is built for baseline x86-64
// (docs/kernels.md, "Weak symbols"). Internal to kernels/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gengyun::kernels {

/// v.resize(n): n elements, the first min(v.size(), n) kept and the others zero.
void resize_scratch(std::vector<uint8_t>& v, size_t n);
void resize_scratch(std::vector<int8_t>& v, size_t n);

}  // namespace gengyun::kernels
