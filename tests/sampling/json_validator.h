// The tests' own validator of JSON values against the JSON Schema subset of
// sampling/json_schema.h, written from the JSON Schema specification and independent of the
// compiler: the oracle that accepted strings and sampled outputs are checked against.
#pragma once

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

namespace gengyun::testing {

using OrderedJson = nlohmann::ordered_json;

inline bool json_has_type(const OrderedJson& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return false;
}

/// Whether `v` validates against `schema` (`root` resolves $ref).
inline bool json_validates(const OrderedJson& v, const OrderedJson& schema,
                           const OrderedJson& root) {
  if (schema.is_boolean()) return schema.get<bool>();
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];
    return json_validates(v, root.at(OrderedJson::json_pointer(ref.substr(1))), root);
  }
  if (schema.contains("anyOf")) {
    for (const OrderedJson& alt : schema["anyOf"])
      if (json_validates(v, alt, root)) return true;
    return false;
  }
  if (schema.contains("const") && v != schema["const"]) return false;
  if (schema.contains("enum")) {
    bool found = false;
    for (const OrderedJson& e : schema["enum"]) found = found || e == v;
    if (!found) return false;
  }
  if (schema.contains("type")) {
    bool any = false;
    if (schema["type"].is_array()) {
      for (const OrderedJson& t : schema["type"]) any = any || json_has_type(v, t);
    } else {
      any = json_has_type(v, schema["type"]);
    }
    if (!any) return false;
  }
  if (v.is_object()) {
    std::set<std::string> listed;
    if (schema.contains("properties")) {
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
        listed.insert(it.key());
        if (v.contains(it.key()) && !json_validates(v[it.key()], it.value(), root)) return false;
      }
    }
    if (schema.contains("required"))
      for (const OrderedJson& name : schema["required"])
        if (!v.contains(name.get<std::string>())) return false;
    if (schema.contains("additionalProperties") && schema["additionalProperties"] == false)
      for (auto it = v.begin(); it != v.end(); ++it)
        if (!listed.contains(it.key())) return false;
  }
  if (v.is_array()) {
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<size_t>()) return false;
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<size_t>()) return false;
    if (schema.contains("items"))
      for (const OrderedJson& item : v)
        if (!json_validates(item, schema["items"], root)) return false;
  }
  if (v.is_string() && schema.contains("format")) {
    static const std::regex date(R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))");
    static const std::regex time(
        R"(([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d))");
    static const std::regex uuid(R"([0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})");
    const std::string s = v.get<std::string>();
    const std::string f = schema["format"];
    if (f == "date" && !std::regex_match(s, date)) return false;
    if (f == "time" && !std::regex_match(s, time)) return false;
    if (f == "uuid" && !std::regex_match(s, uuid)) return false;
    if (f == "date-time") {
      const size_t t = s.find('T');
      if (t == std::string::npos || !std::regex_match(s.substr(0, t), date) ||
          !std::regex_match(s.substr(t + 1), time))
        return false;
    }
  }
  return true;
}

/// Whether `text` is one JSON value that validates against `schema`.
inline bool text_validates(const std::string& text, const OrderedJson& schema) {
  if (!OrderedJson::accept(text)) return false;
  return json_validates(OrderedJson::parse(text), schema, schema);
}

}  // namespace gengyun::testing
