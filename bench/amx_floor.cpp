// The floor of the 32-element AMX tile kernels (src/kernels/gemm_amx.cpp), measured apart from
// any data: per block of 16 weight rows x 16 tokens x 32 quants (8192 multiply-adds), the
// time of its tile work (two tile loads, tilezero, tdpbssd; the C tile stored, 1 KiB), of its
// AVX-512 epilogue (16 rows: cvt, the scale product, fma, as gemm_amx.cpp's), and of both
// interleaved as the kernel interleaves them. Whether the tile unit and the vector units
// overlap decides how far the kernel can go: batch invariance fixes one f32 step per block per
// output (docs/kernels.md). Operands stay in L1/L2; the counter `per_block`
// (seconds) is the figure. Baseline code: the AMX work is bench/amx_floor_amx.cpp's.
//   build/kernels_bench --benchmark_filter=AmxFloor
#include <benchmark/benchmark.h>

#include "amx_floor.h"
#include "kernels/amx.h"

namespace {

void amx_floor(benchmark::State& state, int work) {
  if (!gengyun::kernels::amx_int8_usable()) {
    state.SkipWithError("this CPU or OS offers no AMX-INT8");
    return;
  }
  float sums[16 * 16] = {};
  amx_floor_begin();
  for (auto _ : state) {
    amx_floor_pass(work, sums);
    benchmark::DoNotOptimize(sums);
  }
  amx_floor_end();
  // Seconds per block (printed with an SI prefix: "19.5n" is 19.5 ns).
  state.counters["per_block"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kAmxFloorBlocksPerPass),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK_CAPTURE(amx_floor, tiles, kAmxFloorTiles)->Name("AmxFloor/tiles");
BENCHMARK_CAPTURE(amx_floor, tiles_stores, kAmxFloorTiles | kAmxFloorStores)
    ->Name("AmxFloor/tiles+stores");
BENCHMARK_CAPTURE(amx_floor, epilogue, kAmxFloorEpilogue)->Name("AmxFloor/epilogue");
BENCHMARK_CAPTURE(amx_floor, all, kAmxFloorTiles | kAmxFloorStores | kAmxFloorEpilogue)
    ->Name("AmxFloor/all");

}  // namespace
