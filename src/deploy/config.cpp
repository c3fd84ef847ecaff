#include "deploy/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>

#include "deploy/lora_spec.h"
#include "deploy/units.h"
#include "deploy/yaml_scalar.h"
#include "sampling/request_ranges.h"
#include "util/model_name.h"

namespace gengyun::deploy {
namespace {

using nlohmann::json;

/// A config error at `where` ("models.qwen.keep_alive").
Error at(const std::string& where, const std::string& message) {
  return make_error(where + ": " + message);
}

/// The keys of a map node outside `allowed`, as an error naming the first.
std::optional<Error> unknown_keys(const YAML::Node& node, const std::string& where,
                                  const std::set<std::string>& allowed) {
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    if (!allowed.contains(key)) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      return at(where.empty() ? key : where + "." + key, "unknown key (known: " + known + ")");
    }
  }
  return std::nullopt;
}

/// How `tag` is written in a YAML file: "!!float" for tag:yaml.org,2002:float, others as given.
std::string shown_tag(const std::string& tag) {
  constexpr std::string_view kCore = "tag:yaml.org,2002:";
  return tag.starts_with(kCore) ? "!!" + tag.substr(kCore.size()) : tag;
}

/// What the scalar `node` reads as, by its tag (docs/deploy.md): untagged and unquoted by
/// read_plain_scalar's rule (a plain null such as `~` included); quoted or tagged !!str, text;
/// tagged !!int, !!bool or !!null, that type, which its text must read as by the same rule;
/// tagged !!float, a float by read_float_scalar (decimal forms only: `!!float 5` is 5.0,
/// `!!float 010` 10.0). Errors, naming `where`: the text does not read as its tag's type
/// (`!!bool 1`; `!!float 0x10`, which says that floats are decimal), any other tag (`!custom`,
/// `!!binary`).
Result<PlainScalar> reading(const YAML::Node& node, const std::string& where) {
  using Kind = PlainScalar::Kind;
  if (node.IsNull()) return read_plain_scalar("~");
  const std::string& tag = node.Tag();
  if (tag == "?") return read_plain_scalar(node.Scalar());
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return PlainScalar{};
  const PlainScalar x = read_plain_scalar(node.Scalar());
  const auto not_a = [&](const std::string& type) -> Error {
    return at(where, shown_tag(tag) + " " + node.Scalar() + " is not " + type);
  };
  if (tag == "tag:yaml.org,2002:int") {
    if (x.kind != Kind::Integer && x.kind != Kind::Conflicting) return not_a("an integer");
    return x;
  }
  if (tag == "tag:yaml.org,2002:float") {
    const PlainScalar real = read_float_scalar(node.Scalar());
    if (real.kind == Kind::Float) return real;
    if (x.is_number())
      return at(where, "!!float " + node.Scalar() +
                           " is not a float: YAML reads floats in decimal only, not in 0x, 0o or "
                           "0b form");
    return not_a("a number");
  }
  if (tag == "tag:yaml.org,2002:bool") {
    if (x.kind != Kind::Boolean) return not_a("a boolean");
    return x;
  }
  if (tag == "tag:yaml.org,2002:null") {
    if (x.kind != Kind::Null) return not_a("null");
    return x;
  }
  return at(where, "the tag " + shown_tag(tag) +
                       " is not one the config reads (!!str, !!int, !!float, !!bool, !!null)");
}

/// A list's or a map's tag other than none and its own (!!seq, !!map), as an error naming it.
std::optional<Error> refused_collection_tag(const YAML::Node& node, const std::string& where) {
  const std::string& tag = node.Tag();
  const std::string own = node.IsMap() ? "tag:yaml.org,2002:map" : "tag:yaml.org,2002:seq";
  if (tag == "?" || tag == own) return std::nullopt;
  return at(where, "the tag " + shown_tag(tag) + " is not one the config reads on a " +
                       (node.IsMap() ? "map (!!map)" : "list (!!seq)"));
}

/// The map `node` as every map of the config is read, as an error at `where`: untagged or
/// tagged !!map; each key a name (a scalar, not null; its tag read as reading() reads it), none
/// given twice: yaml-cpp keeps both and `node[key]` reads the first, so the second would be
/// ignored ("models.link.pin: is given twice").
std::optional<Error> check_map(const YAML::Node& node, const std::string& where) {
  const std::string shown = where.empty() ? "the config" : where;
  if (auto e = refused_collection_tag(node, shown)) return e;
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (item.first.IsNull())
      return at(shown,
                "a key is null (~, null or nothing), not a name; quote it (\"~\":) for "
                "that text");
    if (!item.first.IsScalar()) return at(shown, "a key must be a name, not a list or a map");
    if (auto read = reading(item.first, shown); !read.ok()) return read.error();
    const std::string& key = item.first.Scalar();
    if (!seen.insert(key).second)
      return at(where.empty() ? key : where + "." + key, "is given twice");
  }
  return std::nullopt;
}

/// What read_plain_scalar's kind `kind` is, in words ("a number").
std::string kind_in_words(PlainScalar::Kind kind) {
  switch (kind) {
    case PlainScalar::Kind::Null:
      return "null";
    case PlainScalar::Kind::Boolean:
      return "a boolean";
    case PlainScalar::Kind::Text:
      return "text";
    default:
      return "a number";
  }
}

/// The text of the scalar `node`, a name or a path (`what`: "the model id", "the alias", "the
/// path"; `is_key`: written as a map key), which must read as text by the config's one rule:
/// quoted, tagged !!str, or plain and text to read_plain_scalar. Errors at `where`: a plain
/// `yes`, `0x10` or `1:30` (another YAML tool reads a boolean or a number there), a tag refused
/// by reading().
Result<std::string> read_text(const YAML::Node& node, const std::string& where,
                              const std::string& what, bool is_key) {
  auto x = reading(node, where);
  if (!x.ok()) return x.error();
  const std::string& text = node.Scalar();
  if (x->kind != PlainScalar::Kind::Text)
    return at(where, what + " " + text + " reads as " + kind_in_words(x->kind) +
                         " in YAML, not as text; quote it (\"" + text + "\"" + (is_key ? ":" : "") +
                         ")");
  return text;
}

/// The refusal of a number that YAML 1.1 and YAML 1.2 read as two numbers (`010`: 8 or 10).
Error conflicting_number(const std::string& where, const std::string& text) {
  return at(where, text +
                       " is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for "
                       "decimal, or write 0o for octal");
}

/// A duration in Ollama's forms: a number of seconds or a duration string, read by `parse`
/// (parse_keep_alive, parse_rescan_interval).
Result<int64_t> read_duration(const YAML::Node& node, const std::string& where,
                              Result<int64_t> (*parse)(std::string_view)) {
  const std::string expected = "must be a number of seconds or a duration like 5m";
  if (!node.IsScalar()) return at(where, expected);
  auto x = reading(node, where);
  if (!x.ok()) return x.error();
  if (x->kind == PlainScalar::Kind::Conflicting) return conflicting_number(where, node.Scalar());
  if (x->kind == PlainScalar::Kind::Null || x->kind == PlainScalar::Kind::Boolean)
    return at(where, expected);
  auto us = parse(node.Scalar());
  if (!us.ok()) return at(where, us.error().message);
  return us.value();
}

/// A path or an alias: a non-empty scalar that reads as text (read_text; `what`: "the path").
Result<std::string> read_string(const YAML::Node& node, const std::string& where,
                                const std::string& what) {
  if (!node.IsScalar() || node.Scalar().empty()) return at(where, "must be a non-empty string");
  return read_text(node, where, what, false);
}

/// `stop`: a string or a list of at most 4 strings, none empty (an empty one would match at
/// every position), as the API's read_stop. A scalar that YAML reads as a number, a boolean or
/// null (reading(): YAML 1.2 or 1.1, `0x10`, `1_000`, `yes`, `!!bool yes`) is refused, as the
/// API refuses `"stop": 5`: quoted or tagged !!str, it is text.
Result<json> read_stop_default(const YAML::Node& node, const std::string& where) {
  constexpr size_t kMaxStop = 4;
  const auto one = [&](const YAML::Node& s) -> Result<std::string> {
    if (!s.IsScalar()) return at(where, "must hold only strings");
    auto x = reading(s, where);
    if (!x.ok()) return x.error();
    if (x->kind != PlainScalar::Kind::Text)
      return at(where, "holds " + s.Scalar() +
                           ", which YAML reads as a number, a boolean or "
                           "null, not a string; quote it (\"" +
                           s.Scalar() + "\") to stop at that text");
    if (s.Scalar().empty())
      return at(where, "holds an empty string, which would match at every position");
    return s.Scalar();
  };
  json stop = json::array();
  if (node.IsScalar()) {
    auto text = one(node);
    if (!text.ok()) return text.error();
    stop.push_back(std::move(text.value()));
    return stop;
  }
  if (!node.IsSequence() || node.size() > kMaxStop)
    return at(where, "must be a string or a list of at most 4 strings");
  if (auto e = refused_collection_tag(node, where)) return *e;
  for (const auto& s : node) {
    auto text = one(s);
    if (!text.ok()) return text.error();
    stop.push_back(std::move(text.value()));
  }
  return stop;
}

/// A number field of the request defaults in its range (sampling/request_ranges.h, as the API
/// checks it): an integer or a float as reading() reads it (`!!float 5` too), not quoted.
Result<double> read_number_default(const YAML::Node& value, const sampling::NumberRange& range,
                                   const std::string& field) {
  const std::string expected = "must be a number in " + std::string(range.shown);
  if (!value.IsScalar()) return at(field, expected);
  auto read = reading(value, field);
  if (!read.ok()) return read.error();
  const PlainScalar& x = read.value();
  if (x.kind == PlainScalar::Kind::Conflicting) return conflicting_number(field, value.Scalar());
  if (!x.is_number()) return at(field, expected);
  if (!range.contains(x.number)) return at(field, expected + ", got " + value.Scalar());
  return x.number;
}

/// An integer field of the request defaults: in [`min`, 2^63 - 1], or in int64's range when
/// `min` is null (seed), as the API reads the field (a seed past 2^63 - 1 made every request of
/// the model fail: QA); an integer as reading() reads it, not quoted (a float such as 1e3 or
/// `!!float 5` is not one, as in the API's JSON).
Result<json> read_integer_default(const YAML::Node& value, std::optional<int64_t> min,
                                  const std::string& field) {
  const std::string expected =
      "must be an integer" + (min ? " >= " + std::to_string(*min) : std::string());
  if (!value.IsScalar()) return at(field, expected);
  auto read = reading(value, field);
  if (!read.ok()) return read.error();
  const PlainScalar& x = read.value();
  if (x.kind == PlainScalar::Kind::Conflicting) return conflicting_number(field, value.Scalar());
  if (x.int64) {
    if (min && *x.int64 < *min) return at(field, expected + ", got " + value.Scalar());
    return json(*x.int64);
  }
  if (x.kind == PlainScalar::Kind::Integer)
    return at(field, "must be an integer in [" +
                         std::to_string(min.value_or(std::numeric_limits<int64_t>::min())) + ", " +
                         std::to_string(std::numeric_limits<int64_t>::max()) + "], got " +
                         value.Scalar());
  return at(field, expected);
}

/// The request defaults of a model, each checked as the API checks the request field, so that
/// a default can never make a request fail.
Result<json> read_defaults(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) return at(where, "must be a map of request fields");
  if (auto e = check_map(node, where)) return *e;
  json out = json::object();
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    const std::string field = where + "." + key;
    const YAML::Node& value = item.second;
    const auto number =
        std::find_if(std::begin(sampling::kNumberRanges), std::end(sampling::kNumberRanges),
                     [&](const sampling::NumberRange& r) { return key == r.name; });
    const auto integer =
        std::find_if(std::begin(sampling::kIntegerRanges), std::end(sampling::kIntegerRanges),
                     [&](const sampling::IntegerRange& r) { return key == r.name; });
    if (key == "stop") {
      auto stop = read_stop_default(value, field);
      if (!stop.ok()) return stop.error();
      out[key] = std::move(stop.value());
    } else if (number != std::end(sampling::kNumberRanges)) {
      auto x = read_number_default(value, *number, field);
      if (!x.ok()) return x.error();
      out[key] = x.value();
    } else if (integer != std::end(sampling::kIntegerRanges) || key == "seed") {
      auto x = read_integer_default(
          value, key == "seed" ? std::nullopt : std::optional<int64_t>(integer->min), field);
      if (!x.ok()) return x.error();
      out[key] = std::move(x.value());
    } else {
      return at(field,
                "unknown request field (known: temperature, top_p, top_k, min_p, max_tokens, "
                "presence_penalty, frequency_penalty, repeat_penalty, seed, stop)");
    }
  }
  return out;
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  const std::filesystem::path p(path);
  return p.is_absolute() || base_dir.empty() ? path
                                             : (std::filesystem::path(base_dir) / p).string();
}

Result<std::vector<LoraConfig>> read_loras(const YAML::Node& node, const std::string& where,
                                           const std::string& base_dir) {
  if (!node.IsMap()) return at(where, "must be a map of NAME: {adapter: FILE, scale: X}");
  if (auto e = check_map(node, where)) return *e;
  std::vector<LoraConfig> out;
  for (const auto& item : node) {
    LoraConfig lora;
    auto name = read_text(item.first, where, "the LoRA name", true);
    if (!name.ok()) return name.error();
    lora.name = name.value();
    if (lora.name.empty())
      return at(where, "a LoRA name is empty (\"\"), which no request can name");
    if (auto refused = util::model_name_refusal("the LoRA name", lora.name))
      return at(where, *refused);
    const std::string field = where + "." + lora.name;
    if (!item.second.IsMap()) return at(field, "must be a map with adapter and scale");
    if (auto e = check_map(item.second, field)) return *e;
    if (auto e = unknown_keys(item.second, field, {"adapter", "scale"})) return *e;
    if (!item.second["adapter"])
      return at(field + ".adapter", "is missing (the adapter's GGUF file)");
    auto adapter = read_string(item.second["adapter"], field + ".adapter", "the path");
    if (!adapter.ok()) return adapter.error();
    lora.adapter_path = resolve(adapter.value(), base_dir);
    if (const YAML::Node scale = item.second["scale"]) {
      if (!scale.IsScalar()) return at(field + ".scale", "must be a number");
      auto read = reading(scale, field + ".scale");
      if (!read.ok()) return read.error();
      const PlainScalar& value = read.value();
      if (value.kind == PlainScalar::Kind::Conflicting)
        return conflicting_number(field + ".scale", scale.Scalar());
      if (!value.is_number()) return at(field + ".scale", "must be a number");
      // The check of `--lora ...@SCALE`: the adapter takes a float.
      const Result<float> checked = lora_scale(value.number);
      if (!checked) return at(field + ".scale", checked.error().message);
      lora.scale = checked.value();
    }
    out.push_back(std::move(lora));
  }
  return out;
}

Result<ModelConfig> read_model(const YAML::Node& node, const std::string& where,
                               const std::string& base_dir) {
  ModelConfig model;
  if (node.IsScalar()) {  // `!!null` is a scalar to yaml-cpp, `~` a null
    auto x = reading(node, where);
    if (!x.ok()) return x.error();
    if (x->kind == PlainScalar::Kind::Null) return model;
  }
  if (node.IsNull()) return model;
  if (!node.IsMap()) return at(where, "must be a map");
  if (auto e = check_map(node, where)) return *e;
  if (auto e =
          unknown_keys(node, where, {"path", "aliases", "keep_alive", "pin", "defaults", "loras"}))
    return *e;
  if (const YAML::Node path = node["path"]) {
    auto text = read_string(path, where + ".path", "the path");
    if (!text.ok()) return text.error();
    model.path = resolve(text.value(), base_dir);
  }
  if (const YAML::Node aliases = node["aliases"]) {
    if (aliases.IsScalar()) {
      auto alias = read_string(aliases, where + ".aliases", "the alias");
      if (!alias.ok()) return alias.error();
      model.aliases.push_back(alias.value());
    } else if (aliases.IsSequence()) {
      if (auto e = refused_collection_tag(aliases, where + ".aliases")) return *e;
      for (const auto& a : aliases) {
        auto alias = read_string(a, where + ".aliases", "the alias");
        if (!alias.ok()) return alias.error();
        model.aliases.push_back(alias.value());
      }
    } else {
      return at(where + ".aliases", "must be a name or a list of names");
    }
  }
  if (const YAML::Node keep_alive = node["keep_alive"]) {
    auto us = read_duration(keep_alive, where + ".keep_alive", parse_keep_alive);
    if (!us.ok()) return us.error();
    model.keep_alive_us = us.value();
  }
  if (const YAML::Node pin = node["pin"]) {
    if (!pin.IsScalar()) return at(where + ".pin", "must be true or false");
    auto value = reading(pin, where + ".pin");
    if (!value.ok()) return value.error();
    if (value->kind != PlainScalar::Kind::Boolean)
      return at(where + ".pin", "must be true or false");
    model.pin = value->boolean;
  }
  if (const YAML::Node defaults = node["defaults"]) {
    auto read = read_defaults(defaults, where + ".defaults");
    if (!read.ok()) return read.error();
    model.defaults = std::move(read.value());
  }
  if (const YAML::Node loras = node["loras"]) {
    auto read = read_loras(loras, where + ".loras", base_dir);
    if (!read.ok()) return read.error();
    model.loras = std::move(read.value());
  }
  return model;
}

Result<Config> parse_node(const YAML::Node& root, const std::string& base_dir) {
  Config config;
  if (root.IsScalar()) {  // a document of `!!null` alone
    auto x = reading(root, "the config");
    if (!x.ok()) return x.error();
    if (x->kind == PlainScalar::Kind::Null) return config;
  }
  if (root.IsNull()) return config;
  if (!root.IsMap()) return make_error("the config must be a map (keep_alive, models, ...)");
  if (auto e = check_map(root, "")) return *e;
  if (auto e = unknown_keys(root, "", {"keep_alive", "rescan_interval", "models"})) return *e;
  if (const YAML::Node keep_alive = root["keep_alive"]) {
    auto us = read_duration(keep_alive, "keep_alive", parse_keep_alive);
    if (!us.ok()) return us.error();
    config.keep_alive_us = us.value();
  }
  if (const YAML::Node interval = root["rescan_interval"]) {
    auto us = read_duration(interval, "rescan_interval", parse_rescan_interval);
    if (!us.ok()) return us.error();
    if (us.value() == kKeepForever) return at("rescan_interval", "must not be negative");
    config.rescan_interval_us = us.value();
  }
  if (const YAML::Node models = root["models"]) {
    if (!models.IsMap()) return at("models", "must be a map of model ids");
    if (auto e = check_map(models, "models")) return *e;
    for (const auto& item : models) {
      auto read_id = read_text(item.first, "models", "the model id", true);
      if (!read_id.ok()) return read_id.error();
      const std::string& id = read_id.value();
      if (id.empty()) return at("models", "a model id is empty (\"\"), which no request can name");
      if (auto refused = util::model_name_refusal("the model id", id))
        return at("models", *refused);
      auto model = read_model(item.second, "models." + id, base_dir);
      if (!model.ok()) return model.error();
      config.models.emplace(id, std::move(model.value()));
    }
  }
  std::map<std::string, std::string> owner;  // alias -> model id
  for (const auto& [id, model] : config.models) {
    for (const auto& alias : model.aliases) {
      if (auto refused = util::model_name_refusal("the alias", alias))
        return at("models." + id + ".aliases", *refused);
      if (alias == id)
        return at("models." + id + ".aliases", "'" + alias + "' is the model's own id");
      if (std::count(model.aliases.begin(), model.aliases.end(), alias) > 1)
        return at("models." + id + ".aliases", "'" + alias + "' is given twice");
      if (config.models.contains(alias))
        return at("models." + id + ".aliases", "'" + alias + "' is the id of another model");
      if (auto [it, fresh] = owner.emplace(alias, id); !fresh)
        return at("models." + id + ".aliases",
                  "'" + alias + "' is also an alias of '" + it->second + "'");
    }
  }
  return config;
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::string& base_dir) {
  try {
    const YAML::Node root = YAML::Load(yaml_text);  // the first document
    // Every document after the first would be ignored: refused, one that is not valid YAML too
    // (the first parsed, so what fails lies after it).
    bool one_document = false;
    try {
      one_document = YAML::LoadAll(yaml_text).size() <= 1;
    } catch (const YAML::Exception&) {
    }
    if (!one_document)
      return make_error(
          "the config must be one YAML document; a second one (after a --- line) would be "
          "ignored");
    return parse_node(root, base_dir);
  } catch (const YAML::Exception& e) {
    return make_error(std::string("YAML: ") + e.what());
  }
}

Result<Config> load_config(const std::string& path) {
  // A folder opens as a stream that reads nothing: it would be an empty config, taken silently.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return make_error(path + ": cannot read the config file: it is a folder");
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot read the config file");
  // Read up to one byte past the bound, so that /dev/zero or a huge file is refused rather
  // than read until memory runs out (QA).
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return make_error(path + ": cannot read the config file");
  if (text.size() > kMaxConfigBytes)
    return make_error(path + ": more than 1 MiB; a config file may hold at most 1 MiB");
  auto config = parse_config(text, std::filesystem::path(path).parent_path().string());
  if (!config.ok()) return make_error(path + ": " + config.error().message);
  config->path = path;
  return config;
}

}  // namespace gengyun::deploy
