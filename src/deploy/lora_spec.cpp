#include "deploy/lora_spec.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>

#include "util/model_name.h"

namespace gengyun::deploy {

Result<float> lora_scale(double value) {
  if (!std::isfinite(value)) return make_error("must be a finite number");
  if (std::abs(value) > std::numeric_limits<float>::max() ||
      (value != 0 && std::abs(value) < std::numeric_limits<float>::min()))
    return make_error("is out of a 32-bit float's range (magnitudes 1.2e-38 to 3.4e38, or 0)");
  return static_cast<float>(value);
}

Result<AdapterFile> parse_adapter_file(std::string_view text) {
  AdapterFile out{std::string(text), 1.0f};
  if (const size_t at = text.rfind('@'); at != std::string_view::npos) {
    const std::string_view scale = text.substr(at + 1);
    if (scale.find('/') == std::string_view::npos) {
      double value = 0;
      const auto [end, ec] = std::from_chars(scale.data(), scale.data() + scale.size(), value);
      const std::string where =
          "the LoRA scale '" + std::string(scale) + "' in '" + std::string(text) + "'";
      if (ec == std::errc::invalid_argument || end != scale.data() + scale.size()) {
        std::error_code file_ec;
        if (std::filesystem::is_regular_file(std::string(text), file_ec)) return out;
        return make_error(where +
                          " is not a number (ADAPTER.gguf[@SCALE]; a file whose name holds an '@' "
                          "takes a scale: '" +
                          std::string(text) + "@1')");
      }
      // Out of a double's range (1e400, 1e-400) is out of a float's too.
      const Result<float> checked = lora_scale(
          ec == std::errc::result_out_of_range ? std::numeric_limits<double>::max() : value);
      if (!checked) return make_error(where + " " + checked.error().message);
      out.path = std::string(text.substr(0, at));
      out.scale = checked.value();
    }
  }
  if (out.path.empty())
    return make_error("a LoRA adapter needs a file: ADAPTER.gguf[@SCALE], got '" +
                      std::string(text) + "'");
  return out;
}

Result<LoraSpec> parse_lora_spec(std::string_view text) {
  const size_t eq = text.find('=');
  const size_t colon = eq == std::string_view::npos ? eq : text.find(':', eq + 1);
  if (colon == std::string_view::npos || eq == 0 || colon == eq + 1 || colon + 1 == text.size())
    return make_error("--lora expects NAME=BASE:ADAPTER.gguf[@SCALE], got '" + std::string(text) +
                      "'");
  if (auto refused = util::model_name_refusal("--lora: the name", text.substr(0, eq)))
    return make_error(*refused);
  auto adapter = parse_adapter_file(text.substr(colon + 1));
  if (!adapter) return make_error("--lora: " + adapter.error().message);
  return LoraSpec{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1, colon - eq - 1)),
                  std::move(adapter).value()};
}

Result<std::vector<LoraSpec>> parse_lora_specs(const std::vector<std::string>& texts) {
  std::vector<LoraSpec> specs;
  for (const std::string& text : texts) {
    auto spec = parse_lora_spec(text);
    if (!spec) return spec.error();
    for (const LoraSpec& earlier : specs)
      if (earlier.name == spec->name)
        return make_error("--lora: the name '" + spec->name + "' is given twice");
    specs.push_back(std::move(spec).value());
  }
  return specs;
}

}  // namespace gengyun::deploy
