// JSON schemas and OpenAI response formats compiled to grammars for constrained decoding
// (docs/structured_output.md lists the supported subset and why).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/result.h"
#include "sampling/grammar.h"

namespace gengyun::sampling {

/// Whitespace between JSON tokens is nothing, one space, or a newline and at most this many
/// spaces or tabs, so that a schema whose values are bounded (enums, booleans) always ends.
inline constexpr int kMaxIndent = 20;
/// Digits of an integer (and of a number's integer part) at most: 16, so integers fit int64.
inline constexpr int kMaxIntegerDigits = 16;
/// Digits of a number's fraction at most; its exponent has 1 or 2 digits (|e| < 100).
inline constexpr int kMaxFractionDigits = 16;
/// minItems / maxItems above this are refused (the grammar unrolls the bounds).
inline constexpr int kMaxItemsBound = 10000;
/// Free JSON (json_object, the schema {} or true, arrays without items, objects without
/// properties) nests objects and arrays at most this deep, so that the recognizer's stacks, and
/// with them each mask's cost, stay bounded whatever the model generates.
inline constexpr int kMaxFreeDepth = 32;
/// Schemas nested deeper than this (properties, items, anyOf, $ref targets) are refused, so
/// that compiling stays within the thread's stack.
inline constexpr int kMaxSchemaDepth = 64;

/// The grammar of the compact or whitespace-separated JSON texts that validate against
/// `schema` (a JSON Schema, key order kept: objects list their properties in the schema's
/// order). Supported: type (one or a list; integer, number, string, boolean, null, object,
/// array), enum, const, anyOf, $ref to "#" or "#/$defs/..." / "#/definitions/..." (recursion
/// through objects and arrays), properties, required, additionalProperties (true or false;
/// only the listed properties are generated either way), items, minItems, maxItems, format
/// (date, time, date-time, uuid), and the annotations title, description, default, examples,
/// $schema, $id, $comment, deprecated, readOnly, writeOnly. Errors name the place in the
/// schema ("schema/properties/age") and the keyword: an unsupported keyword or format, a
/// keyword of the wrong type, a required property that is not in properties, an enum value
/// that does not match the type, minItems > maxItems, an unresolvable $ref, a reference cycle
/// that consumes no input, the schema false, nesting deeper than kMaxSchemaDepth. `where` prefixes
/// the places in errors.
Result<std::shared_ptr<const Grammar>> compile_json_schema(const nlohmann::ordered_json& schema,
                                                           std::string_view where = "schema");

/// As above, from the schema's JSON text. Errors also: text that is not JSON.
Result<std::shared_ptr<const Grammar>> compile_json_schema_text(std::string_view schema_text);

/// The grammar of any JSON object nested at most kMaxFreeDepth levels (OpenAI's response_format
/// {"type": "json_object"}).
std::shared_ptr<const Grammar> json_object_grammar();

/// OpenAI's `response_format`: {"type": "text"} gives nullptr (no constraint),
/// {"type": "json_object"} any object, {"type": "json_schema", "json_schema": {"name",
/// "schema", "strict", "description"}} the schema's grammar (an absent schema allows any JSON
/// value; strict false is enforced all the same). Errors name the field
/// ("response_format.json_schema.schema/properties/x: ...").
Result<std::shared_ptr<const Grammar>> compile_response_format(
    const nlohmann::ordered_json& response_format);

/// One tool a call may name: its name and the JSON Schema of its arguments (null or {}: any
/// object, as OpenAI reads a function without parameters).
struct ToolSchema {
  std::string name;
  nlohmann::ordered_json parameters;
  std::string where = "parameters";  ///< its place in errors, e.g. "tools[0].function.parameters"
};

/// The answers a tool_choice allows, and how the model's family writes tool calls (the chat
/// layer's chat::ToolCallWriting, as text: sampling knows no chat formats). One call is
/// `call_open padding {"name": "<name>", "<arguments_key>": <arguments>} padding call_close`;
/// the calls are `list_open call (separator call)* list_close`.
struct ToolCallGrammarSpec {
  std::vector<ToolSchema> tools;  ///< non-empty; the names a call may take
  std::string list_open, list_close;
  std::string call_open, call_close, padding, separator;
  std::string arguments_key = "arguments";
  int max_calls = 1;  ///< >= 1; 0: no bound
  /// What the answer may be instead of calls. None: calls only (tool_choice "required" or a
  /// named function). Before: text that does not hold `call_open`, then calls or nothing (a
  /// family whose calls may follow content). Instead: calls, or text that does not begin with
  /// whitespace nor with `avoid_first` (a family whose calls are the whole answer).
  enum class Text { None, Before, Instead };
  Text text = Text::None;
  std::string avoid_first;  ///< Text::Instead: bytes text may not begin with
  /// Reasoning before the rest: `reasoning_open` text up to and including `reasoning_close`,
  /// then at most 8 bytes of whitespace. Off when reasoning_close is empty; optional unless
  /// reasoning_required (the prompt ended inside reasoning: reasoning_open is then left out).
  std::string reasoning_open, reasoning_close;
  bool reasoning_required = false;
};

/// The grammar of the answers `spec` allows, each call's arguments a JSON text valid under its
/// tool's parameters (the subset of compile_json_schema). Errors: no tools, a tool's schema
/// refused (its place prefixed with the tool's `where`), Text::Before without call_open.
/// With text (Before, Instead) the grammar is lazy (Grammar::trigger): free until call_open
/// (Before) or until an answer whose first byte after whitespace is the calls' first byte
/// (Instead), outside reasoning; from there the calls as above.
Result<std::shared_ptr<const Grammar>> compile_tool_calls(const ToolCallGrammarSpec& spec);

}  // namespace gengyun::sampling
