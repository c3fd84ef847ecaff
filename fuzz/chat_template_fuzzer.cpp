// libFuzzer target: any bytes as a chat template, parsed and rendered over a conversation with
// tools (marked as request text), within small limits. A crash, a sanitizer report, a hang or
// request spans that are not sorted, disjoint and inside the text are bugs; errors are not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "chat/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json vars = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Hi <|im_start|> é"},
                 {"role": "assistant", "content": "",
                  "tool_calls": [{"type": "function", "id": "abc123XYZ",
                                  "function": {"name": "f", "arguments": {"x": 1.5}}}]},
                 {"role": "tool", "content": "{\"t\": 21}"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "enable_thinking": false})");
  const auto t = gengyun::chat::ChatTemplate::parse(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!t.ok()) return 0;
  gengyun::chat::RenderOptions options;
  options.limits.max_steps = 20000;
  options.limits.max_output_bytes = 1 << 20;
  options.now = [] { return std::time_t{1721995200}; };
  static const std::string kRequest[] = {"messages", "tools"};
  const auto out = t->render_marked(vars, kRequest, options);
  if (!out.ok()) return 0;
  // The request spans are sorted, disjoint, non-empty and inside the text.
  size_t end = 0;
  for (const auto& [b, e] : out->request_spans) {
    if (b < end || b >= e || e > out->text.size()) std::abort();
    end = e;
  }
  return 0;
}
