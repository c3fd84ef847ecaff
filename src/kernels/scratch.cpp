#include "kernels/scratch.h"

namespace gengyun::kernels {

void resize_scratch(std::vector<uint8_t>& v, size_t n) { v.resize(n); }
void resize_scratch(std::vector<int8_t>& v, size_t n) { v.resize(n); }
void fill_scratch(std::vector<float>& v, size_t n, float value) { v.assign(n, value); }
void fill_scratch(std::vector<int16_t>& v, size_t n, int16_t value) { v.assign(n, value); }

}  // namespace gengyun::kernels
