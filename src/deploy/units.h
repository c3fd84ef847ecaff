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

/// The longest keep-alive: 100 years in microseconds. Longer ones, in either form, are refused.
inline constexpr int64_t kMaxKeepAliveUs = int64_t{100} * 365 * 24 * 3600 * 1'000'000;

/// A keep-alive in microseconds from a number of seconds (Ollama's number form, api/types.go
/// Duration). One rule for both forms (this and parse_keep_alive): any negative value is
/// kKeepForever (Ollama: "never unload"), 0 unloads as soon as the model is idle, fractions
/// below a microsecond are dropped. Errors: NaN, over kMaxKeepAliveUs (+infinity included).
Result<int64_t> keep_alive_from_seconds(double seconds);

/// A keep-alive in microseconds from a string: a plain number is seconds ("300", "-1", "1.5":
/// as keep_alive_from_seconds, as Ollama's OLLAMA_KEEP_ALIVE reads one), anything else a Go
/// duration (parse_duration: "5m", "1h30m", "-1m"). The same rule as the number form: any
/// negative value is kKeepForever. Errors: those of keep_alive_from_seconds and parse_duration.
Result<int64_t> parse_keep_alive(std::string_view text);

/// A rescan interval in microseconds, read as parse_keep_alive reads a keep-alive (a negative
/// one is kKeepForever, for the caller to refuse). Errors: those of parse_keep_alive, the one of
/// a value over 100 years naming the rescan interval.
Result<int64_t> parse_rescan_interval(std::string_view text);

/// A Go duration string (time.ParseDuration's grammar: "5m", "1h30m", "1.5h", "300ms", "-1m";
/// units ns, us, µs, ms, s, m, h; "0" alone is allowed without a unit) in microseconds, any
/// negative one mapped to kKeepForever, a negative number without a unit ("-1", "-0.5") too.
/// Errors, each naming the text and what is wrong in it: empty text, whitespace anywhere, a number
/// without a unit (other than "0" and negative ones), a unit without a number, an unknown unit,
/// a sign other than the leading one, a number that is not a plain decimal ("1e3s": an exponent;
/// "0x10s", "1.5.3s", "inf", "nan"), a positive value over kMaxKeepAliveUs (100 years).
Result<int64_t> parse_duration(std::string_view text);

/// A byte size: an integer or decimal number with an optional unit: B, K/KB (1000), KiB
/// (1024), M/MB, MiB, G/GB, GiB, T/TB, TiB (case-insensitive; "8GiB", "512 MiB", "1.5G").
/// Errors: empty, not a number, an exponent ("1e9"), an unknown unit, negative, over 2^62 bytes.
Result<int64_t> parse_byte_size(std::string_view text);

/// `bytes` for people: "512 B", "1.5 KiB", "3.2 GiB" (binary units, one decimal).
std::string format_bytes(int64_t bytes);

}  // namespace gengyun::deploy
