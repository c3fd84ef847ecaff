// JSON text parsed with every object's field names checked: the one parse of the request
// bodies the HTTP API reads (api::parse_json_object()) and of the prices file
// (platform::parse_price_file()), so that a field given twice is refused rather than taken as
// its last value.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gengyun {

/// What parse_strict_json() read.
struct StrictJson {
  /// The value; discarded (is_discarded()) when the text is not JSON or not UTF-8.
  nlohmann::json value;
  /// The path of the first field that an object of the text holds twice, as the API's `param`
  /// names fields ("model", "messages[0].role"); "" when there is none (or the text is not
  /// JSON).
  std::string duplicate;
  /// Why the text is not JSON, as nlohmann::json words it without the bytes it last read ("parse
  /// error at line 1, column 7: syntax error while parsing value - invalid literal", "number
  /// overflow parsing '1e400'"); "" when it is JSON.
  std::string error;
};

/// `text` parsed as JSON (nlohmann::json), noting the first duplicated field; a text that is
/// not JSON is reported in the result (value discarded, error), never thrown.
/// Costs two passes over the text, each linear in its size (a parse, then a SAX pass for the
/// field names); the field names of the objects that are open at one time are held in memory
/// while the second runs.
StrictJson parse_strict_json(std::string_view text);

/// The deepest nesting of arrays and objects in JSON text (brackets inside strings skipped),
/// in one pass; the text need not be valid. Readers bound it before they parse, so that no
/// later recursion over the value (a dump, a copy) runs off the stack.
size_t json_nesting_depth(std::string_view text);

}  // namespace gengyun
