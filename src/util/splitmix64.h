// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014;
// Vigna's splitmix64.c): a 64-bit mixing function with every output distinct for distinct inputs.
#pragma once

#include <cstdint>

namespace gengyun {

/// The increment of SplitMix64's state per output (2^64 / the golden ratio, odd).
inline constexpr uint64_t kSplitMix64Gamma = 0x9E3779B97F4A7C15ull;

/// SplitMix64's output for the state `x`: the state advanced by kSplitMix64Gamma, then mixed.
/// splitmix64(0) is 0xe220a8397b1dcdaf, the reference generator's first output from seed 0.
inline uint64_t splitmix64(uint64_t x) {
  x += kSplitMix64Gamma;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace gengyun
