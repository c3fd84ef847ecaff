// JSON text parsed into nlohmann::ordered_json (objects keep their members in the text's
// order) in time linear in the text: nlohmann's own parse inserts each member with a linear
// search of the object's members so far, n^2 for an object of n members (QA 2026-12-07: a
// schema of 60,000 $defs, 2.3 MB, took 208 s of a request).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gengyun {

/// `text` parsed as one JSON value, objects' members in the text's order; a member given twice
/// keeps its first place and takes its last value (as nlohmann::ordered_json::parse does).
/// Returns a discarded value (is_discarded()) when the text is not JSON or not UTF-8; never
/// throws. Costs one pass over the text plus a hash of each member's name.
nlohmann::ordered_json parse_ordered_json(std::string_view text);

/// Appends the member `name`: `value` to the object `object` without ordered_json's linear
/// search of its names (n^2 for n appends): the caller knows `name` is not among them.
void append_new_member(nlohmann::ordered_json& object, std::string name,
                       nlohmann::ordered_json value);

}  // namespace gengyun
