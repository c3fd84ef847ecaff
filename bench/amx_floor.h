// The floor of the 32-element AMX tile kernels (src/kernels/gemm_amx.cpp), measured apart from
// any data (bench/amx_floor.cpp registers the benchmark; bench/amx_floor_amx.cpp, built with
// the AMX flags, does the work). Call only where kernels::amx_int8_usable().
#pragma once

#include <cstdint>

/// What a pass does per block: the tile products, the tile stores, the AVX-512 epilogue.
enum AmxFloorWork { kAmxFloorTiles = 1, kAmxFloorStores = 2, kAmxFloorEpilogue = 4 };

/// Blocks of 16 weight rows x 16 tokens x 32 quants per amx_floor_pass().
inline constexpr int64_t kAmxFloorBlocksPerPass = 4096;

/// Loads the tile configuration on this thread (before its first pass).
void amx_floor_begin();
/// Runs kAmxFloorBlocksPerPass blocks of `work` (AmxFloorWork bits); the epilogue adds into
/// `sums` ([16 rows][16 floats], read and written), which keeps it from being optimized away.
void amx_floor_pass(int work, float* sums);
/// Releases this thread's tiles (after its last pass).
void amx_floor_end();
