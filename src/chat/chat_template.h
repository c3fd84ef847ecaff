// Chat templates: the Jinja source a GGUF carries in tokenizer.chat_template, parsed once and
// rendered as Hugging Face's apply_chat_template renders it (Jinja2 with trim_blocks and
// lstrip_blocks, HF's tojson, raise_exception and strftime_now), byte for byte.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_renderer.h"
#include "gengyun/result.h"

namespace gengyun::chat {

/// The largest template source parse() accepts. Real chat templates are under 64 KiB.
inline constexpr size_t kMaxTemplateBytes = 1u << 20;

/// Bounds and clock for one rendering.
struct RenderOptions {
  jinja::RenderLimits limits;
  /// The clock behind strftime_now(); empty: the system clock.
  jinja::NowFn now;
};

/// A rendered prompt and which of its bytes are request text: [begin, end) ranges, sorted and
/// disjoint. A tokenizer must parse no control token that overlaps them.
struct RenderedPrompt {
  std::string text;
  std::vector<std::pair<size_t, size_t>> request_spans;
};

/// A parsed chat template. Parsing costs about as much as reading the source; the parsed
/// template is immutable and may be rendered from many threads at once.
class ChatTemplate {
 public:
  /// Parses `source`. Errors: a source over kMaxTemplateBytes, or a syntax error, whose
  /// message names the line and column ("TemplateSyntaxError: unexpected '}' (line 3,
  /// column 7)").
  static Result<ChatTemplate> parse(std::string_view source);

  /// Renders with `variables` (a JSON object; each member becomes a template variable, objects
  /// keeping their key order). Errors: what the template raises with raise_exception(), as
  /// "TemplateError: <its message>" exactly as Hugging Face reports it; other failures as
  /// "<Jinja2 exception name>: <message> (line L, column C)", among them templates that exceed
  /// `options.limits` (steps, depth, output size).
  Result<std::string> render(const nlohmann::ordered_json& variables,
                             const RenderOptions& options = {}) const;

  /// render(), and the byte ranges of the output that come from the strings (and object keys)
  /// of the variables named in `request_names` (message contents, tool schemas: text a client
  /// sent). Concatenations and substrings keep their ranges exactly; a string another filter or
  /// method built from request text counts as request text as a whole.
  Result<RenderedPrompt> render_marked(const nlohmann::ordered_json& variables,
                                       std::span<const std::string> request_names,
                                       const RenderOptions& options = {}) const;

 private:
  Result<jinja::Value> render_value(const nlohmann::ordered_json& variables,
                                    std::span<const std::string> request_names,
                                    const RenderOptions& options) const;

  std::shared_ptr<const jinja::Body> body_;
};

/// The template variables for a conversation object as gengyun render-chat reads it:
/// `messages` (required, an array of objects), `tools` (array, optional; none when absent, as
/// HF passes it), `add_generation_prompt` (default true), `bos_token` and `eos_token`
/// (strings, optional), `extra` (an object of more variables, e.g. enable_thinking, but none of
/// the members above) and `name` (ignored). Errors name the member that is wrong; other members
/// are refused.
Result<nlohmann::ordered_json> conversation_variables(const nlohmann::ordered_json& conversation);

}  // namespace gengyun::chat
