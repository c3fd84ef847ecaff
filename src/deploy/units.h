// Quantities the deployment layer reads from flags, the config file and requests: durations
// (keep_alive) and byte sizes (--max-memory).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::deploy {

/// A keep-alive that never expires (Ollama: any negative keep_alive).
inline constexpr int64_t kKeepForever = -1;

/// A keep-alive in microseconds from Ollama's forms (ollama api/types.go Duration): a number of
/// seconds (`seconds`), or a Go duration string ("5m", "1h30m", "1.5h", "300ms", "-1m"; units
/// ns, us, µs, ms, s, m, h; "0" alone is allowed without a unit) parsed with parse_duration.
/// Any negative value is kKeepForever; 0 unloads as soon as the model is idle.
int64_t keep_alive_from_seconds(double seconds);

/// A Go duration string (time.ParseDuration's grammar) in microseconds, negative ones mapped to
/// kKeepForever. Errors: empty text, a number without a unit (other than "0"), an unknown unit,
/// a value over 100 years.
Result<int64_t> parse_duration(std::string_view text);

/// A byte size: an integer or decimal number with an optional unit: B, K/KB (1000), KiB
/// (1024), M/MB, MiB, G/GB, GiB, T/TB, TiB (case-insensitive; "8GiB", "512 MiB", "1.5G").
/// Errors: empty, not a number, an unknown unit, negative, over 2^62 bytes.
Result<int64_t> parse_byte_size(std::string_view text);

/// `bytes` for people: "512 B", "1.5 KiB", "3.2 GiB" (binary units, one decimal).
std::string format_bytes(int64_t bytes);

}  // namespace gengyun::deploy
