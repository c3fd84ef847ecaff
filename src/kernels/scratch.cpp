#include "kernels/scratch.h"

namespace gengyun::kernels {

void resize_scratch(std::vector<uint8_t>& v, size_t n) { v.resize(n); }
void resize_scratch(std::vector<int8_t>& v, size_t n) { v.resize(n); }

}  // namespace gengyun::kernels
