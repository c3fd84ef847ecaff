// Schemas compiled to grammars: every string over small alphabets is accepted exactly when the
// tests' own validator (json_validator.h) says it validates; whitespace and bounds; each bad
// schema's error.
#include "sampling/json_schema.h"

#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "sampling/json_validator.h"
#include "sampling/string_enumeration.h"

namespace gengyun::sampling {
namespace {

using testing::for_each_string;
using testing::OrderedJson;

std::shared_ptr<const Grammar> compile(const std::string& schema) {
  Result<std::shared_ptr<const Grammar>> g = compile_json_schema_text(schema);
  EXPECT_TRUE(g.ok()) << schema << ": " << (g.ok() ? "" : g.error().message);
  return g.ok() ? g.value() : nullptr;
}

/// Over every string of up to max_len pieces: the grammar accepts it iff the validator does
/// (and `extra`, a bound the grammar documents, holds). Returns the number accepted.
int expect_exhaustive(const std::string& schema_text, const std::vector<std::string>& pieces,
                      int max_len, const std::function<bool(const std::string&)>& extra = nullptr) {
  const std::shared_ptr<const Grammar> g = compile(schema_text);
  if (!g) return -1;
  const OrderedJson schema = OrderedJson::parse(schema_text);
  int accepted = 0, mismatches = 0;
  for_each_string(pieces, max_len, [&](const std::string& s) {
    const bool expected = testing::text_validates(s, schema) && (!extra || extra(s));
    const bool got = g->accepts(s);
    accepted += got;
    if (got != expected && mismatches++ < 5)
      ADD_FAILURE() << schema_text << " on '" << s << "': grammar " << got << ", validator "
                    << expected;
  });
  return accepted;
}

TEST(JsonSchema, EnumAcceptsExactlyItsValues) {
  EXPECT_EQ(expect_exhaustive(R"({"enum": ["a", 1, null, [0]]})",
                              {"\"", "a", "1", "n", "u", "l", "[", "]", "0"}, 5),
            4);
  EXPECT_EQ(expect_exhaustive(R"({"const": "ab"})", {"\"", "a", "b"}, 6), 1);
}

TEST(JsonSchema, LargeEnumsShareTheirPrefixes) {
  // 26 * 26 * 2 words "xy" and "xyz..." plus prefixes of one another; all strings, so the
  // recognizer starts with one stack (not one per value).
  std::vector<std::string> words;
  for (char a = 'a'; a <= 'z'; ++a)
    for (char b = 'a'; b <= 'z'; ++b) {
      words.push_back(std::string{a, b});
      words.push_back(std::string{a, b} + "zz");
    }
  words.push_back("a");
  OrderedJson schema = {{"enum", words}};
  const std::shared_ptr<const Grammar> g = compile(schema.dump());
  ASSERT_TRUE(g);
  EXPECT_EQ(g->initial().n_stacks(), 1u);
  for (const std::string& w : words) EXPECT_TRUE(g->accepts("\"" + w + "\"")) << w;
  for (const char* no : {"\"\"", "\"b\"", "\"abz\"", "\"abzzz\"", "\"a", "a"})
    EXPECT_FALSE(g->accepts(no)) << no;
  EXPECT_EQ(
      expect_exhaustive(R"({"enum": ["ab", "a", "abc", "b", "ab"]})", {"\"", "a", "b", "c"}, 6), 4);
}

TEST(JsonSchema, BooleanAndNullTypes) {
  EXPECT_EQ(expect_exhaustive(R"({"type": ["boolean", "null"]})",
                              {"t", "r", "u", "e", "f", "a", "l", "s", "n"}, 5),
            3);
}

TEST(JsonSchema, IntegersExhaustively) {
  const int n = expect_exhaustive(R"({"type": "integer"})", {"0", "1", "9", "-", ".", "e"}, 5);
  // Over the digits {0, 1, 9}: 3 of length 1, then 2 * 3^(L-1) of length L (no leading zero):
  // 3 + 6 + 18 + 54 + 162 unsigned ones of up to 5 symbols, and "-" before those of up to 4.
  EXPECT_EQ(n, (3 + 6 + 18 + 54 + 162) + (3 + 6 + 18 + 54));
}

TEST(JsonSchema, NumbersExhaustivelyWithinTheDocumentedDigits) {
  static const std::regex bounded(R"(-?(0|[1-9]\d{0,15})(\.\d{1,16})?([eE][+-]?\d{1,2})?)");
  expect_exhaustive(R"({"type": "number"})", {"0", "1", "-", ".", "e", "E", "+"}, 6,
                    [](const std::string& s) { return std::regex_match(s, bounded); });
  const std::shared_ptr<const Grammar> g = compile(R"({"type": "number"})");
  EXPECT_TRUE(g->accepts("1234567890123456.5e-12"));
  EXPECT_FALSE(g->accepts("12345678901234567"));  // 17 integer digits
  EXPECT_FALSE(g->accepts("1e100"));
  EXPECT_FALSE(g->accepts("1.00000000000000000"));  // 17 fraction digits
}

TEST(JsonSchema, StringsExhaustively) {
  // Escapes, \u, a control byte, a two-byte character and its bytes apart.
  expect_exhaustive(R"({"type": "string"})",
                    {"\"", "\\", "n", "u", "0", "a", "\x01", "\xc3", "\xa9"}, 6);
  const std::shared_ptr<const Grammar> g = compile(R"({"type": "string"})");
  EXPECT_TRUE(g->accepts(R"("\u00e9\"\\\/\b\f\n\r\t")"));
  EXPECT_TRUE(g->accepts("\"\xe4\xb8\xad\xf0\x9f\x98\x80\""));  // 中 and U+1F600 raw
  EXPECT_FALSE(g->accepts(R"("\ud83d\ude00")"));                // surrogate escapes are refused
  EXPECT_FALSE(g->accepts("\"\xed\xa0\x80\""));                 // an encoded surrogate
  EXPECT_FALSE(g->accepts("\"\xc0\xaf\""));                     // an overlong encoding
  EXPECT_FALSE(g->accepts("\"\xf4\x90\x80\x80\""));             // above U+10FFFF
  EXPECT_FALSE(g->accepts("\"a\nb\""));                         // a raw control character
}

TEST(JsonSchema, ArraysWithBoundsExhaustively) {
  const int n = expect_exhaustive(
      R"({"type": "array", "items": {"enum": [0, 1]}, "minItems": 1, "maxItems": 2})",
      {"[", "]", ",", "0", "1"}, 7);
  EXPECT_EQ(n, 2 + 4);
  EXPECT_EQ(expect_exhaustive(R"({"type": "array", "maxItems": 0})", {"[", "]", "0"}, 4), 1);
  EXPECT_EQ(expect_exhaustive(R"({"type": "array", "items": {"const": 0}, "minItems": 3})",
                              {"[", "]", ",", "0"}, 9),
            2);  // [0,0,0] and [0,0,0,0]
}

TEST(JsonSchema, ObjectsExhaustivelyOverPieces) {
  // Properties in the schema's order, the optional one present or not, the required one always.
  const std::string schema = R"({"type": "object", "properties": {"a": {"type": "integer"},
      "b": {"const": 0}}, "required": ["b"], "additionalProperties": false})";
  const std::shared_ptr<const Grammar> g = compile(schema);
  int accepted = 0;
  for_each_string({"{", "}", "\"a\"", "\"b\"", ":", ",", "0"}, 6, [&](const std::string& s) {
    // The validator, plus the schema's property order (a before b).
    const bool valid = testing::text_validates(s, OrderedJson::parse(schema)) &&
                       !(s.find("\"b\"") < s.find("\"a\"") && s.find("\"a\"") != std::string::npos);
    EXPECT_EQ(g->accepts(s), valid) << s;
    accepted += valid;
  });
  EXPECT_EQ(accepted, 1);  // {"b":0}; {"a":0,"b":0} takes 9 pieces
  EXPECT_TRUE(g->accepts(R"({"a":0,"b":0})"));
  EXPECT_TRUE(g->accepts(R"({"a":-12,"b":0})"));
  EXPECT_FALSE(g->accepts(R"({"b":0,"a":0})"));
  EXPECT_FALSE(g->accepts(R"({"a":0})"));
  EXPECT_FALSE(g->accepts(R"({"b":0,"c":0})"));
  EXPECT_FALSE(g->accepts(R"({"b":0,"b":0})"));
  EXPECT_FALSE(g->accepts(R"({"a":0,,"b":0})"));
}

TEST(JsonSchema, WhitespaceIsBounded) {
  const std::shared_ptr<const Grammar> g =
      compile(R"({"type": "object", "properties": {"k": {"type": "array"}}, "required": ["k"]})");
  EXPECT_TRUE(g->accepts(R"({"k":[]})"));
  EXPECT_TRUE(g->accepts(R"({ "k" : [ 1 , 2 ] })"));
  EXPECT_TRUE(g->accepts("{\n  \"k\": [\n\t\t1\n  ]\n}"));
  EXPECT_TRUE(g->accepts("{\n" + std::string(20, ' ') + "\"k\":[]}"));
  EXPECT_FALSE(g->accepts("{\n" + std::string(21, ' ') + "\"k\":[]}"));
  EXPECT_FALSE(g->accepts("{  \"k\":[]}"));    // two spaces
  EXPECT_FALSE(g->accepts("{\n\n\"k\":[]}"));  // two newlines
  EXPECT_FALSE(g->accepts(" {\"k\":[]}"));     // before the value
  EXPECT_FALSE(g->accepts("{\"k\":[]} "));     // after it
  EXPECT_FALSE(g->accepts("{\r\n\"k\":[]}"));
}

TEST(JsonSchema, AnyOfNestedObjectsFormatsAndRecursion) {
  const std::shared_ptr<const Grammar> g = compile(R"({
    "$defs": {"node": {"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time"},
        "id": {"type": "string", "format": "uuid"},
        "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
      "required": ["next"], "additionalProperties": false}},
    "$ref": "#/$defs/node"})");
  EXPECT_TRUE(g->accepts(R"({"next":null})"));
  EXPECT_FALSE(g->accepts(R"({"when":"2024-02-29T23:59:60Z","next":{"next":null}})"));
  EXPECT_TRUE(g->accepts(R"({"when":"2024-02-29T23:59:59.5+05:30","next":{"next":null}})"));
  EXPECT_TRUE(g->accepts(R"({"id":"123e4567-e89b-12d3-a456-426614174000","next":null})"));
  EXPECT_FALSE(g->accepts(R"({"id":"123e4567-e89b-12d3-a456-42661417400","next":null})"));
  EXPECT_FALSE(g->accepts(R"({"when":"2024-13-01T00:00:00Z","next":null})"));
  EXPECT_FALSE(g->accepts(R"({"next":{}})"));

  const std::shared_ptr<const Grammar> dates = compile(R"({"type": "string", "format": "date"})");
  EXPECT_TRUE(dates->accepts(R"("2026-12-31")"));
  EXPECT_FALSE(dates->accepts(R"("2026-12-32")"));
  EXPECT_FALSE(dates->accepts(R"("2026-00-10")"));
  const std::shared_ptr<const Grammar> times = compile(R"({"type": "string", "format": "time"})");
  EXPECT_TRUE(times->accepts(R"("00:00:00Z")"));
  EXPECT_FALSE(times->accepts(R"("24:00:00Z")"));
  EXPECT_FALSE(times->accepts(R"("12:00:00")"));
}

TEST(JsonSchema, JsonObjectAndEmptySchema) {
  const std::shared_ptr<const Grammar> object = json_object_grammar();
  EXPECT_TRUE(object->accepts(R"({})"));
  EXPECT_TRUE(object->accepts(R"({"a":[1,{"b":null}],"c":"d","a":-1.5e3})"));
  EXPECT_FALSE(object->accepts(R"([])"));
  EXPECT_FALSE(object->accepts(R"("x")"));
  EXPECT_FALSE(object->accepts(R"({"a"})"));
  const std::shared_ptr<const Grammar> any = compile("{}");
  for (const char* ok : {"1", "[]", "\"s\"", "null", "true", "{\"x\":{}}"})
    EXPECT_TRUE(any->accepts(ok)) << ok;
  EXPECT_FALSE(any->accepts(""));
  EXPECT_FALSE(any->accepts("[1,]"));
  // Free JSON nests at most kMaxFreeDepth (32) levels of objects and arrays.
  const auto arrays = [](int levels) {
    return std::string(static_cast<size_t>(levels), '[') +
           std::string(static_cast<size_t>(levels), ']');
  };
  const auto objects = [](int levels) {
    std::string s;
    for (int i = 0; i < levels; ++i) s += "{\"a\":";
    return s + "1" + std::string(static_cast<size_t>(levels), '}');
  };
  EXPECT_TRUE(any->accepts(arrays(32)));
  EXPECT_FALSE(any->accepts(arrays(33)));
  EXPECT_TRUE(object->accepts(objects(32)));
  EXPECT_FALSE(object->accepts(objects(33)));
  EXPECT_TRUE(object->accepts("{\"a\":" + arrays(31) + "}"));
  EXPECT_FALSE(object->accepts("{\"a\":" + arrays(32) + "}"));
}

TEST(JsonSchema, ResponseFormats) {
  Result<std::shared_ptr<const Grammar>> text = compile_response_format({{"type", "text"}});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text.value(), nullptr);
  Result<std::shared_ptr<const Grammar>> object =
      compile_response_format({{"type", "json_object"}});
  ASSERT_TRUE(object.ok());
  EXPECT_TRUE(object.value()->accepts("{}"));
  const OrderedJson format = OrderedJson::parse(R"({"type": "json_schema", "json_schema": {
      "name": "answer", "strict": true, "schema": {"type": "object",
      "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false}}})");
  Result<std::shared_ptr<const Grammar>> schema = compile_response_format(format);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  EXPECT_TRUE(schema.value()->accepts(R"({"ok":false})"));
  EXPECT_FALSE(schema.value()->accepts(R"({})"));
}

/// The schema is refused with an error that contains each of `parts`.
void expect_refused(const std::string& schema, const std::vector<std::string>& parts) {
  Result<std::shared_ptr<const Grammar>> g = compile_json_schema_text(schema);
  ASSERT_FALSE(g.ok()) << schema;
  for (const std::string& part : parts)
    EXPECT_NE(g.error().message.find(part), std::string::npos)
        << schema << " -> " << g.error().message << " (wanted " << part << ")";
}

TEST(JsonSchema, BadSchemasAreClearErrors) {
  expect_refused(R"({"type": "string", "minLength": 3})",
                 {"schema:", "unsupported keyword minLength"});
  expect_refused(R"({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}})",
                 {"schema/properties/n", "minimum"});
  expect_refused(R"({"oneOf": [{}], "pattern": "x"})", {"unsupported keywords oneOf, pattern"});
  expect_refused(R"({"allOf": [{}]})", {"allOf"});
  expect_refused(R"({"type": "string", "format": "email"})", {"unsupported format \"email\""});
  expect_refused(R"({"type": "text"})", {"unknown type \"text\""});
  expect_refused(R"({"type": []})", {"type is an empty list"});
  expect_refused(R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})",
                 {"required property \"b\" is not in properties"});
  expect_refused(R"({"type": "object", "required": "a"})", {"required must be an array"});
  expect_refused(R"({"type": "object", "properties": []})", {"properties must be an object"});
  expect_refused(R"({"type": "integer", "enum": [1, "a"]})", {"the value \"a\" does not match"});
  expect_refused(R"({"enum": []})", {"enum must be a non-empty array"});
  expect_refused(R"({"type": "array", "minItems": 3, "maxItems": 2})",
                 {"minItems 3 is above maxItems 2"});
  expect_refused(R"({"type": "array", "minItems": -1})",
                 {"minItems must be a non-negative integer"});
  expect_refused(R"({"type": "array", "maxItems": 1.5})",
                 {"maxItems must be a non-negative integer"});
  expect_refused(R"({"type": "array", "maxItems": 100000})", {"above the supported 10000"});
  expect_refused(R"({"type": "array", "items": [{}, {}]})", {"items as an array"});
  expect_refused(R"({"type": "array", "items": false, "minItems": 1})", {"items false"});
  expect_refused(R"({"type": "object", "additionalProperties": {"type": "string"}})",
                 {"additionalProperties as a schema"});
  expect_refused(R"({"$ref": "#/$defs/missing"})", {"does not resolve"});
  expect_refused(R"({"$ref": "other.json#/x"})", {"is not supported"});
  expect_refused(R"({"$ref": 3})", {"$ref must be a string"});
  expect_refused(R"({"$ref": "#"})", {"left-recursive"});
  expect_refused(R"({"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}},
                     "$ref": "#/$defs/a"})",
                 {"left-recursive"});
  expect_refused(R"({"type": "object", "properties": {"x": false}})",
                 {"schema/properties/x", "the schema false allows no value"});
  expect_refused(R"({"items": 3})", {"schema/items", "must be an object or a boolean"});
  expect_refused(R"({"anyOf": []})", {"anyOf must be a non-empty array"});
  expect_refused(R"({"anyOf": [{}], "type": "string"})", {"anyOf beside other keywords"});
  expect_refused(R"(3)", {"must be an object or a boolean"});
  // 64 levels compile, 65 do not, nor 100,000 (which would overflow a recursive compiler).
  const auto nested = [](int levels) {
    std::string s;
    for (int i = 1; i < levels; ++i) s += R"({"type": "array", "items": )";
    return s + "{}" + std::string(static_cast<size_t>(levels - 1), '}');
  };
  EXPECT_TRUE(compile_json_schema_text(nested(64)).ok());
  expect_refused(nested(65), {"nests deeper than 64 levels"});
  expect_refused(nested(100000), {"nests deeper than 64 levels"});
  expect_refused(R"({"type": )", {"not valid JSON"});
}

TEST(JsonSchema, BadResponseFormatsNameTheField) {
  const auto refused = [](const std::string& text, const std::string& part) {
    Result<std::shared_ptr<const Grammar>> g = compile_response_format(OrderedJson::parse(text));
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_NE(g.error().message.find(part), std::string::npos) << g.error().message;
  };
  refused(R"({"type": "xml"})", "response_format.type must be");
  refused(R"("json")", "response_format must be an object");
  refused(R"({"type": "json_schema"})", "response_format.json_schema must be an object");
  refused(R"({"type": "json_schema", "json_schema": {"name": 1, "schema": {}}})",
          "response_format.json_schema.name must be a string");
  refused(R"({"type": "json_schema", "json_schema": {"strict": "yes", "schema": {}}})",
          "response_format.json_schema.strict must be a boolean");
  refused(
      R"({"type": "json_schema", "json_schema": {"schema": {"type": "string", "maxLength": 3}}})",
      "response_format.json_schema.schema: unsupported keyword maxLength");
}

}  // namespace
}  // namespace gengyun::sampling
