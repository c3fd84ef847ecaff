#include <cstdio>

int main() {
  std::fputs("gengyun: not built yet\n", stderr);
  return 1;
}
