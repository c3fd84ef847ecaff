// The command-line forms of LoRA adapters: `run --lora PATH[@SCALE]` and
// `serve --lora NAME=BASE:PATH[@SCALE]`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gengyun/result.h"

namespace gengyun::deploy {

/// An adapter GGUF and the scale to apply it at (LoadedModel::load_adapter).
struct AdapterFile {
  std::string path;
  float scale = 1.0f;
};

/// `value` as a LoRA scale: a float, so finite and 0 or of a magnitude from 1.2e-38 to 3.4e38.
/// The one check of `--lora ...@SCALE` (parse_adapter_file) and the config's `scale:`. Errors,
/// each the end of a sentence about the scale: "must be a finite number", "is out of a 32-bit
/// float's range (magnitudes 1.2e-38 to 3.4e38, or 0)".
Result<float> lora_scale(double value);

/// Parses "PATH[@SCALE]": the text after the last '@' is the scale when it is a number; an '@'
/// followed by a '/' belongs to the path, and so does the last '@' when what follows it is not
/// a number and the whole text names an existing file ("my lora@2.gguf"). Errors: an empty
/// path, a scale that is not a number ("a.gguf@x", the message saying to append "@1"), out of a
/// float's range ("@1e308", "@1e-50") or infinite or NaN ("@inf").
Result<AdapterFile> parse_adapter_file(std::string_view text);

/// A LoRA derivative served as a model of its own: `name`, the adapter applied to the model
/// served as `base`.
struct LoraSpec {
  std::string name;
  std::string base;
  AdapterFile adapter;
};

/// Parses "NAME=BASE:PATH[@SCALE]". Errors: no '=' or ':', an empty part, those of
/// parse_adapter_file.
Result<LoraSpec> parse_lora_spec(std::string_view text);

/// Parses every `--lora` flag. Errors: those of parse_lora_spec, a name given twice. (Whether
/// each BASE is a served model and NAME is not is Registry::create's check: the models of
/// --models DIR are only known there.)
Result<std::vector<LoraSpec>> parse_lora_specs(const std::vector<std::string>& texts);

}  // namespace gengyun::deploy
