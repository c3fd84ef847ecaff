// Unicode normalization of the text a tokenizer splits, as Hugging Face's tokenizers apply a
// tokenizer.json `normalizer` (only NFC is needed: Qwen2's tokenizer.json declares it).
#pragma once

#include <string>
#include <string_view>

namespace gengyun::tokenizer {

/// `text` in Normalization Form C (Unicode Standard Annex #15), by utf8proc. Text that is not
/// valid UTF-8 is returned unchanged (the byte-level BPE then treats it as it always has);
/// ASCII text is returned without calling utf8proc.
std::string nfc(std::string_view text);

}  // namespace gengyun::tokenizer
