// The tile work and the AVX-512 epilogue of bench/amx_floor.cpp's benchmark, compiled with
// the AMX flags. Only the functions of amx_floor.h leave this unit, with C++ linkage and
// baseline types; everything else is in an anonymous namespace, and nothing from a library
// header is instantiated here (no std::string, no Google Benchmark), so that the unit defines
// no weak function a baseline caller could be linked to (docs/kernels.md, "Weak symbols").
#include "amx_floor.h"

// GCC 12's AVX-512 headers read _mm512_undefined_* values and warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

constexpr int kBlocks = 128;  // distinct A and B tiles cycled through (64 KiB each)
alignas(64) uint8_t a_tiles[kBlocks * 512];
alignas(64) uint8_t b_tiles[kBlocks * 512];
alignas(64) int32_t sums[4][256];
alignas(64) float scales[kBlocks * 16];

template <int kSlot>
inline void product(const uint8_t* a, const uint8_t* b) {
  if constexpr (kSlot % 2 == 0) {
    _tile_loadd(4, a, 32);
    _tile_loadd(6, b, 64);
  } else {
    _tile_loadd(5, a, 32);
    _tile_loadd(7, b, 64);
  }
  if constexpr (kSlot == 0) {
    _tile_zero(0);
    _tile_dpbssd(0, 4, 6);
  }
  if constexpr (kSlot == 1) {
    _tile_zero(1);
    _tile_dpbssd(1, 5, 7);
  }
  if constexpr (kSlot == 2) {
    _tile_zero(2);
    _tile_dpbssd(2, 4, 6);
  }
  if constexpr (kSlot == 3) {
    _tile_zero(3);
    _tile_dpbssd(3, 5, 7);
  }
}

template <int kSlot>
inline void store(int32_t* c) {
  if constexpr (kSlot == 0) _tile_stored(0, c, 64);
  if constexpr (kSlot == 1) _tile_stored(1, c, 64);
  if constexpr (kSlot == 2) _tile_stored(2, c, 64);
  if constexpr (kSlot == 3) _tile_stored(3, c, 64);
}

// Block q in slot q % 4: the product of block q + 2, the store of block q + 1, the epilogue of
// block q (each where `work` asks for it).
template <int kSlot>
inline void step(int work, int64_t q, __m512 (&acc)[16]) {
  const int64_t at = (q + 2) % kBlocks;
  if (work & kAmxFloorTiles) product<(kSlot + 2) % 4>(a_tiles + 512 * at, b_tiles + 512 * at);
  if (work & kAmxFloorStores) store<(kSlot + 1) % 4>(sums[(kSlot + 1) % 4]);
  if (work & kAmxFloorEpilogue) {
    const float* s = scales + 16 * (q % kBlocks);
    const __m512 d_a = _mm512_set1_ps(1.0f);
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums[kSlot] + 16 * r)),
                               _mm512_mul_ps(_mm512_set1_ps(s[r]), d_a), acc[r]);
  }
}

}  // namespace

void amx_floor_begin() {
  // Random quants and small scales: the tile unit is ~1.6x faster on all-zero tiles (4.6 against
  // 7.5 ns a block on the AMX machine, 2026-12-05), so zeros would understate the floor.
  uint32_t x = 1;
  auto next = [&x] { return x = x * 1664525u + 1013904223u; };  // Numerical Recipes' LCG
  for (int i = 0; i < kBlocks * 512; ++i) {
    a_tiles[i] = static_cast<uint8_t>(next() >> 24);
    b_tiles[i] = static_cast<uint8_t>(next() >> 24);
  }
  for (float& s : scales) s = 0.01f * static_cast<float>(next() >> 24 | 1);
  TileConfig config;
  for (int i = 0; i < 4; ++i) config.rows[i] = 16, config.colsb[i] = 64;
  for (int i = 4; i < 6; ++i) config.rows[i] = 16, config.colsb[i] = 32;
  for (int i = 6; i < 8; ++i) config.rows[i] = 8, config.colsb[i] = 64;
  // GCC's _tile_loadconfig tells the compiler it reads 8 bytes of the config: without this the
  // stores to the rest are dead to it, and the first tile load raises SIGILL.
  __asm__ volatile("" : : "m"(config) : "memory");
  _tile_loadconfig(&config);
}

void amx_floor_pass(int work, float* sums_out) {
  __m512 acc[16];
  for (int r = 0; r < 16; ++r) acc[r] = _mm512_loadu_ps(sums_out + 16 * r);
  for (int64_t q = 0; q < kAmxFloorBlocksPerPass; q += 4) {
    step<0>(work, q, acc);
    step<1>(work, q + 1, acc);
    step<2>(work, q + 2, acc);
    step<3>(work, q + 3, acc);
  }
  for (int r = 0; r < 16; ++r) _mm512_storeu_ps(sums_out + 16 * r, acc[r]);
}

void amx_floor_end() { _tile_release(); }
