#include "platform/price_file.h"

#include <nlohmann/json.hpp>

#include "platform/store_rules.h"
#include "util/strict_json.h"

namespace gengyun::platform {

Result<std::vector<ModelPrice>> parse_price_file(const std::string& text) {
  StrictJson parsed = parse_strict_json(text);
  const nlohmann::json& file = parsed.value;
  if (file.is_discarded() || !file.is_object())
    return make_error(
        "the prices file must be a JSON object {\"MODEL\": {\"input\": .., \"output\": ..}}");
  if (!parsed.duplicate.empty())
    return make_error("prices file: '" + parsed.duplicate +
                      "' is given twice (a model or a field is given once)");
  std::vector<ModelPrice> prices;
  for (const auto& [model, fields] : file.items()) {
    if (auto valid = validate_model_name(model); !valid)
      return make_error("prices file: " + valid.error().message + " ('" + model + "')");
    if (!fields.is_object())
      return make_error("prices file: model '" + model +
                        "' must map to an object with input, output and cached_input");
    for (const auto& [name, value] : fields.items())
      if (name != "input" && name != "output" && name != "cached_input")
        return make_error("prices file: model '" + model + "' has the unknown field '" + name +
                          "' (the fields are input, output, cached_input)");
    Price price;
    for (const char* name : {"input", "output", "cached_input"}) {
      const std::string field = model + "." + name;
      if (!fields.contains(name)) {
        if (std::string_view(name) == "cached_input") {
          price.cached_input = price.input;
          continue;
        }
        return make_error("prices file: " + field + " is missing (USD per million tokens)");
      }
      const nlohmann::json& value = fields[name];
      if (!value.is_string() && !value.is_number())
        return make_error("prices file: " + field + " must be an amount in USD");
      auto usd = parse_usd(value.is_string() ? value.get<std::string>() : value.dump(), field);
      if (!usd) return make_error("prices file: " + usd.error().message);
      (std::string_view(name) == "input"    ? price.input
       : std::string_view(name) == "output" ? price.output
                                            : price.cached_input) = *usd;
    }
    if (auto valid = validate_price(price); !valid)
      return make_error("prices file: model '" + model + "': " + valid.error().message);
    prices.push_back({model, price});
  }
  return prices;
}

Result<int> seed_prices(Store& store, const std::vector<ModelPrice>& prices, const Actor& actor) {
  int set = 0;
  for (const ModelPrice& p : prices) {
    auto current = store.price(p.model);
    if (!current) return current.error();
    if (*current && (*current)->input == p.price.input &&
        (*current)->cached_input == p.price.cached_input && (*current)->output == p.price.output)
      continue;
    if (auto done = store.set_price(p.model, p.price, actor); !done) return done.error();
    ++set;
  }
  return set;
}

}  // namespace gengyun::platform
