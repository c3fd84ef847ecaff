// The check of the --seed flag of run, bench, synth and synth-lora.
#pragma once

#include <CLI/CLI.hpp>

namespace gengyun::cli {

/// CLI11 validator of a --seed value: decimal digits only, 0 to 18446744073709551615 (CLI11
/// alone wraps "-1" and saturates values beyond). Its message: "VALUE is not an integer in [0,
/// 18446744073709551615]", after CLI11's "--seed: ".
CLI::Validator seed_check();

}  // namespace gengyun::cli
