// The check of the integer flags that take a range (--threads, --ctx, serve's limits).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

namespace gengyun::cli {

/// CLI11 validator of an integer flag in [`min`, `max`]: decimal digits, a '-' before them
/// allowed. Its message: "VALUE is not an integer in [MIN, MAX]", after CLI11's "--threads: ",
/// as seed_check() words it (CLI::Range said "Value abc not in range 0 to 1024" of a value that
/// is no number at all).
CLI::Validator integer_in(int64_t min, int64_t max);

}  // namespace gengyun::cli
