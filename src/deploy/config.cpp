#include "deploy/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "deploy/lora_spec.h"
#include "deploy/model_id.h"
#include "deploy/units.h"
#include "deploy/yaml_scalar.h"
#include "sampling/request_ranges.h"

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

/// A key of the map `node` given twice, as an error naming it ("models.link.pin"): yaml-cpp
/// keeps both and `node[key]` reads the first, so the second would be ignored. A key that is not
/// a name (a list, a map) is an error too.
std::optional<Error> keys_given_twice(const YAML::Node& node, const std::string& where) {
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar())
      return at(where.empty() ? "the config" : where, "a key must be a name, not a list or a map");
    const std::string& key = item.first.Scalar();
    if (!seen.insert(key).second)
      return at(where.empty() ? key : where + "." + key, "is given twice");
  }
  return std::nullopt;
}

/// Whether a YAML scalar was written as a string whatever it reads: in quotes, or tagged !!str.
bool quoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

/// What the scalar `node` reads as (read_plain_scalar's rule): text when quoted or tagged !!str.
PlainScalar reading(const YAML::Node& node) {
  return quoted(node) ? PlainScalar{} : read_plain_scalar(node.Scalar());
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
  if (!node.IsScalar()) return at(where, "must be a number of seconds or a duration like 5m");
  if (reading(node).kind == PlainScalar::Kind::Conflicting)
    return conflicting_number(where, node.Scalar());
  auto us = parse(node.Scalar());
  if (!us.ok()) return at(where, us.error().message);
  return us.value();
}

Result<std::string> read_string(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar() || node.Scalar().empty()) return at(where, "must be a non-empty string");
  return node.Scalar();
}

/// `stop`: a string or a list of at most 4 strings, none empty (an empty one would match at
/// every position), as the API's read_stop. A plain scalar that YAML reads as a number, a
/// boolean or null (read_plain_scalar: YAML 1.2 or 1.1, `0x10`, `1_000`, `yes`) is refused, as
/// the API refuses `"stop": 5`: quoted, it is text.
Result<json> read_stop_default(const YAML::Node& node, const std::string& where) {
  constexpr size_t kMaxStop = 4;
  const auto one = [&](const YAML::Node& s) -> Result<std::string> {
    if (!s.IsScalar()) return at(where, "must hold only strings");
    if (reading(s).kind != PlainScalar::Kind::Text)
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
  for (const auto& s : node) {
    auto text = one(s);
    if (!text.ok()) return text.error();
    stop.push_back(std::move(text.value()));
  }
  return stop;
}

/// A number field of the request defaults in its range (sampling/request_ranges.h, as the API
/// checks it): an integer or a float by read_plain_scalar's rule, not quoted.
Result<double> read_number_default(const YAML::Node& value, const sampling::NumberRange& range,
                                   const std::string& field) {
  const std::string expected = "must be a number in " + std::string(range.shown);
  if (!value.IsScalar()) return at(field, expected);
  const PlainScalar x = reading(value);
  if (x.kind == PlainScalar::Kind::Conflicting) return conflicting_number(field, value.Scalar());
  if (!x.is_number()) return at(field, expected);
  if (!range.contains(x.number)) return at(field, expected + ", got " + value.Scalar());
  return x.number;
}

/// An integer field of the request defaults: at least `min`, or any integer of 64 bits, signed
/// or not, when `min` is null (seed): an integer by read_plain_scalar's rule, not quoted (a float
/// such as 1e3 is not one, as in the API's JSON).
Result<json> read_integer_default(const YAML::Node& value, std::optional<int64_t> min,
                                  const std::string& field) {
  const std::string expected =
      "must be an integer" + (min ? " >= " + std::to_string(*min) : std::string());
  if (!value.IsScalar()) return at(field, expected);
  const PlainScalar x = reading(value);
  if (x.kind == PlainScalar::Kind::Conflicting) return conflicting_number(field, value.Scalar());
  if (x.int64) {
    if (min && *x.int64 < *min) return at(field, expected + ", got " + value.Scalar());
    return json(*x.int64);
  }
  if (!min && x.uint64) return json(*x.uint64);
  return at(field, expected);
}

/// The request defaults of a model, each checked as the API checks the request field, so that
/// a default can never make a request fail.
Result<json> read_defaults(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) return at(where, "must be a map of request fields");
  if (auto e = keys_given_twice(node, where)) return *e;
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
  if (auto e = keys_given_twice(node, where)) return *e;
  std::vector<LoraConfig> out;
  for (const auto& item : node) {
    LoraConfig lora;
    lora.name = item.first.as<std::string>();
    if (lora.name.empty())
      return at(where, "a LoRA name is empty (\"\"), which no request can name");
    if (holds_unprintable(lora.name))
      return at(where, unprintable_name_message("the LoRA name", lora.name));
    const std::string field = where + "." + lora.name;
    if (!item.second.IsMap()) return at(field, "must be a map with adapter and scale");
    if (auto e = keys_given_twice(item.second, field)) return *e;
    if (auto e = unknown_keys(item.second, field, {"adapter", "scale"})) return *e;
    if (!item.second["adapter"])
      return at(field + ".adapter", "is missing (the adapter's GGUF file)");
    auto adapter = read_string(item.second["adapter"], field + ".adapter");
    if (!adapter.ok()) return adapter.error();
    lora.adapter_path = resolve(adapter.value(), base_dir);
    if (const YAML::Node scale = item.second["scale"]) {
      const PlainScalar value = scale.IsScalar() ? reading(scale) : PlainScalar{};
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
  if (node.IsNull()) return model;
  if (!node.IsMap()) return at(where, "must be a map");
  if (auto e = keys_given_twice(node, where)) return *e;
  if (auto e =
          unknown_keys(node, where, {"path", "aliases", "keep_alive", "pin", "defaults", "loras"}))
    return *e;
  if (const YAML::Node path = node["path"]) {
    auto text = read_string(path, where + ".path");
    if (!text.ok()) return text.error();
    model.path = resolve(text.value(), base_dir);
  }
  if (const YAML::Node aliases = node["aliases"]) {
    if (aliases.IsScalar()) {
      model.aliases.push_back(aliases.Scalar());
    } else if (aliases.IsSequence()) {
      for (const auto& a : aliases) {
        auto alias = read_string(a, where + ".aliases");
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
    const PlainScalar value = pin.IsScalar() ? reading(pin) : PlainScalar{};
    if (value.kind != PlainScalar::Kind::Boolean)
      return at(where + ".pin", "must be true or false");
    model.pin = value.boolean;
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
  if (root.IsNull()) return config;
  if (!root.IsMap()) return make_error("the config must be a map (keep_alive, models, ...)");
  if (auto e = keys_given_twice(root, "")) return *e;
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
    if (auto e = keys_given_twice(models, "models")) return *e;
    for (const auto& item : models) {
      const std::string id = item.first.as<std::string>();
      if (id.empty()) return at("models", "a model id is empty (\"\"), which no request can name");
      if (holds_unprintable(id)) return at("models", unprintable_name_message("the model id", id));
      auto model = read_model(item.second, "models." + id, base_dir);
      if (!model.ok()) return model.error();
      config.models.emplace(id, std::move(model.value()));
    }
  }
  std::map<std::string, std::string> owner;  // alias -> model id
  for (const auto& [id, model] : config.models) {
    for (const auto& alias : model.aliases) {
      if (holds_unprintable(alias))
        return at("models." + id + ".aliases", unprintable_name_message("the alias", alias));
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
    return parse_node(YAML::Load(yaml_text), base_dir);
  } catch (const YAML::Exception& e) {
    return make_error(std::string("YAML: ") + e.what());
  }
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(path + ": cannot read the config file");
  std::stringstream text;
  text << in.rdbuf();
  auto config = parse_config(text.str(), std::filesystem::path(path).parent_path().string());
  if (!config.ok()) return make_error(path + ": " + config.error().message);
  return config;
}

}  // namespace gengyun::deploy
