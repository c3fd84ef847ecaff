// The floor of the 32-element AMX tile kernels (src/kernels/gemm_amx.cpp), measured apart from
// any data: per block of 16 weight rows x 16 tokens x 32 quants (8192 multiply-adds), the
// time of its tile work (two tile loads, tilezero, tdpbssd; the C tile stored, 1 KiB), of its
// AVX-512 epilogue (16 rows: cvt, the scale product, fma, as gemm_amx.cpp's), and of both
// interleaved as the kernel interleaves them. Whether the tile unit and the vector units
// overlap decides how far the kernel can go: batch invariance fixes one f32 step per block per
// output (docs/kernels.md). Operands stay in L1/L2; the counter `per_block`
// (seconds) is the figure.
//   build/kernels_bench --benchmark_filter=AmxFloor
#include <benchmark/benchmark.h>
// GCC 12's AVX-512 headers read _mm512_undefined_* values and warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "kernels/amx.h"

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

enum Work { kTiles = 1, kStores = 2, kEpilogue = 4 };

// Block q in slot q % 4: the product of block q + 2, the store of block q + 1, the epilogue of
// block q (each where `work` asks for it).
template <int kSlot>
inline void step(int work, int64_t q, __m512 (&acc)[16]) {
  const int64_t at = (q + 2) % kBlocks;
  if (work & kTiles) product<(kSlot + 2) % 4>(a_tiles + 512 * at, b_tiles + 512 * at);
  if (work & kStores) store<(kSlot + 1) % 4>(sums[(kSlot + 1) % 4]);
  if (work & kEpilogue) {
    const float* s = scales + 16 * (q % kBlocks);
    const __m512 d_a = _mm512_set1_ps(1.0f);
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums[kSlot] + 16 * r)),
                               _mm512_mul_ps(_mm512_set1_ps(s[r]), d_a), acc[r]);
  }
}

void amx_floor(benchmark::State& state, int work) {
  if (!gengyun::kernels::amx_int8_usable()) {
    state.SkipWithError("this CPU or OS offers no AMX-INT8");
    return;
  }
  TileConfig config;
  for (int i = 0; i < 4; ++i) config.rows[i] = 16, config.colsb[i] = 64;
  for (int i = 4; i < 6; ++i) config.rows[i] = 16, config.colsb[i] = 32;
  for (int i = 6; i < 8; ++i) config.rows[i] = 8, config.colsb[i] = 64;
  _tile_loadconfig(&config);
  __m512 acc[16];
  for (auto& v : acc) v = _mm512_setzero_ps();
  constexpr int64_t kSteps = 4096;
  for (auto _ : state) {
    for (int64_t q = 0; q < kSteps; q += 4) {
      step<0>(work, q, acc);
      step<1>(work, q + 1, acc);
      step<2>(work, q + 2, acc);
      step<3>(work, q + 3, acc);
    }
    benchmark::DoNotOptimize(acc);
  }
  _tile_release();
  // Seconds per block (printed with an SI prefix: "19.5n" is 19.5 ns).
  state.counters["per_block"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kSteps),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK_CAPTURE(amx_floor, tiles, kTiles)->Name("AmxFloor/tiles");
BENCHMARK_CAPTURE(amx_floor, tiles_stores, kTiles | kStores)->Name("AmxFloor/tiles+stores");
BENCHMARK_CAPTURE(amx_floor, epilogue, kEpilogue)->Name("AmxFloor/epilogue");
BENCHMARK_CAPTURE(amx_floor, all, kTiles | kStores | kEpilogue)->Name("AmxFloor/all");

}  // namespace
