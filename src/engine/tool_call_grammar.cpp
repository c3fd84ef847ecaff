#include "engine/tool_call_grammar.h"

#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_syntax.h"
#include "sampling/json_schema.h"
#include "util/ordered_json.h"

namespace gengyun::engine {

Result<std::shared_ptr<const sampling::Grammar>> tool_call_grammar(const OutputFormat& format) {
  if (format.syntax.tool_calls == ToolCallFormat::None)
    return make_error("the model's chat template speaks no tool-call format");
  const chat::ToolCallWriting& writing = chat::tool_call_writing(format.syntax.tool_calls);
  const auto tools = parse_ordered_json(format.tools_json);
  if (!tools.is_array()) return make_error("the tools are not a JSON array");
  sampling::ToolCallGrammarSpec spec;
  for (size_t i = 0; i < tools.size(); ++i) {
    const nlohmann::ordered_json& tool = tools[i];
    const std::string where = "tools[" + std::to_string(i) + "].function";
    if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object() ||
        !tool["function"].contains("name") || !tool["function"]["name"].is_string())
      return make_error(where + " must be an object with a string name");
    const nlohmann::ordered_json& function = tool["function"];
    const std::string name = function["name"].get<std::string>();
    if (!format.tool_name.empty() && name != format.tool_name) continue;
    spec.tools.push_back(
        {name, function.value("parameters", nlohmann::ordered_json()), where + ".parameters"});
  }
  if (spec.tools.empty())
    return make_error(format.tool_name.empty()
                          ? "there is no tool to call"
                          : "the function \"" + format.tool_name + "\" is not among the tools");
  spec.list_open = writing.list_open;
  spec.list_close = writing.list_close;
  spec.call_open = writing.call_open;
  spec.call_close = writing.call_close;
  spec.padding = writing.padding;
  spec.separator = writing.separator;
  spec.arguments_key = writing.arguments_key;
  spec.max_calls = format.tool_name.empty() && format.parallel_calls ? 0 : 1;
  if (format.text_allowed) {
    if (writing.anywhere) {
      spec.text = sampling::ToolCallGrammarSpec::Text::Before;
    } else {
      spec.text = sampling::ToolCallGrammarSpec::Text::Instead;
      spec.avoid_first =
          std::string(writing.list_open.empty() ? "{" : writing.list_open.substr(0, 1)) +
          std::string(writing.marker.substr(0, 1));
    }
  }
  if (format.syntax.reasoning && !format.syntax.reasoning_closed) {
    spec.reasoning_open = chat::kReasoningOpen;
    spec.reasoning_close = chat::kReasoningClose;
    spec.reasoning_required = format.syntax.starts_in_reasoning;
  }
  return sampling::compile_tool_calls(spec);
}

}  // namespace gengyun::engine
