// What the machine itself offers, for judging benchmark numbers: its CPU model and how fast
// its threads can stream memory.
#pragma once

#include <cstddef>
#include <string>

#include "gengyun/result.h"
#include "kernels/thread_pool.h"

namespace gengyun::bench {

/// The first "model name" line of /proc/cpuinfo ("AMD EPYC 9B45"); "unknown" when absent.
std::string cpu_model_name();

/// Smallest buffer measure_read_bandwidth accepts.
inline constexpr size_t kMinBandwidthBytes = size_t{1} << 20;

/// Read bandwidth of `pool`'s threads in bytes per second: each pass sums a buffer of `bytes`
/// (split into one contiguous slice per thread) with the widest vector loads the CPU has
/// (AVX-512, AVX2 or SSE2); the fastest of `passes` passes is returned. Use a buffer much
/// larger than the last-level cache (1 GiB) to measure DRAM rather than cache. Cost: about
/// passes * bytes / bandwidth plus touching the buffer once; memory: `bytes`.
/// Errors: bytes < kMinBandwidthBytes, passes < 1, the buffer cannot be allocated.
Result<double> measure_read_bandwidth(size_t bytes, int passes, kernels::ThreadPool& pool);

}  // namespace gengyun::bench
