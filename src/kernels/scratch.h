// Growing the vectors of the SIMD kernels' per-thread scratch. std::vector::resize and assign
// call out-of-line members (_M_default_append, _M_fill_assign) where GCC does not inline them,
// emitted as a weak symbol in every translation unit that instantiates them; the linker keeps
// one copy for every caller in the program. A unit compiled with instruction-set flags
// (*_avx2.cpp, *_avx512.cpp, *_amx.cpp) must not emit one, or baseline code could end up calling
// its AVX copy; so those units grow and fill their scratch through these functions, defined in
// scratch.cpp, which is built for baseline x86-64 (docs/kernels.md, "Weak symbols"). Internal to
// kernels/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gengyun::kernels {

/// v.resize(n): n elements, the first min(v.size(), n) kept and the others zero.
void resize_scratch(std::vector<uint8_t>& v, size_t n);
void resize_scratch(std::vector<int8_t>& v, size_t n);

/// v.assign(n, value): n elements, all `value`.
void fill_scratch(std::vector<float>& v, size_t n, float value);
void fill_scratch(std::vector<int16_t>& v, size_t n, int16_t value);

}  // namespace gengyun::kernels
