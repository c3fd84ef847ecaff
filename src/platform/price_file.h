// A prices file (`gengyun serve --prices FILE`): the price of each model as JSON, seeded into
// the store at start. JSON because that is what the rest of the configuration reads today; the
// YAML deployment config of issue 11 may take this over.
//
//   {"qwen2-tiny": {"input": "0.15", "cached_input": "0.075", "output": "0.6"},
//    "stories":    {"input": 0, "output": 0}}
//
// USD per million tokens, as decimal text or JSON numbers (parse_usd); cached_input defaults
// to input.
#pragma once

#include <string>
#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::platform {

/// The prices `text` (the file's contents) sets, ordered by model name. Errors (naming the
/// model and field): not JSON, not an object of objects, a model name validate_model_name()
/// refuses, an unknown or missing field, an amount parse_usd() refuses, prices
/// validate_price() refuses (a cached_input above the input).
Result<std::vector<ModelPrice>> parse_price_file(const std::string& text);

/// Sets each of `prices` in `store` whose stored price differs (so a restart with the same
/// file adds nothing to the audit log), as `actor`; returns how many were set. Errors: the
/// store's.
Result<int> seed_prices(Store& store, const std::vector<ModelPrice>& prices, const Actor& actor);

}  // namespace gengyun::platform
