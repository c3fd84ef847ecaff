#include "chat/chat_template.h"

#include <algorithm>
#include <ctime>
#include <utility>
#include <vector>

#include "chat/jinja_parser.h"
#include "util/ordered_json.h"

namespace gengyun::chat {
namespace {

Error to_error(const jinja::JinjaError& e) {
  if (e.raised || e.line == 0) return Error{e.kind + ": " + e.message};
  return Error{e.kind + ": " + e.message + " (line " + std::to_string(e.line) + ", column " +
               std::to_string(e.column) + ")"};
}

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  if (source.size() > kMaxTemplateBytes) {
    return Error{"chat template is " + std::to_string(source.size()) + " bytes; the limit is " +
                 std::to_string(kMaxTemplateBytes)};
  }
  try {
    ChatTemplate t;
    t.body_ = std::make_shared<const jinja::Body>(jinja::parse(source));
    return t;
  } catch (const jinja::JinjaError& e) {
    return to_error(e);
  }
}

Result<jinja::Value> ChatTemplate::render_value(const nlohmann::ordered_json& variables,
                                                std::span<const std::string> request_names,
                                                const RenderOptions& options) const {
  if (!variables.is_object()) return Error{"template variables must be a JSON object"};
  jinja::NowFn now = options.now ? options.now : [] { return std::time(nullptr); };
  try {
    std::vector<std::pair<std::string, jinja::Value>> vars;
    vars.reserve(variables.size());
    for (const auto& [name, value] : variables.items()) {
      const bool request =
          std::find(request_names.begin(), request_names.end(), name) != request_names.end();
      vars.emplace_back(name, jinja::Value::from_json(value, request));
    }
    jinja::Renderer renderer(std::move(vars), options.limits, std::move(now));
    return renderer.render(*body_);
  } catch (const jinja::JinjaError& e) {
    return to_error(e);
  }
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& variables,
                                         const RenderOptions& options) const {
  auto out = render_value(variables, {}, options);
  if (!out.ok()) return out.error();
  return out->as_string();
}

Result<RenderedPrompt> ChatTemplate::render_marked(const nlohmann::ordered_json& variables,
                                                   std::span<const std::string> request_names,
                                                   const RenderOptions& options) const {
  auto out = render_value(variables, request_names, options);
  if (!out.ok()) return out.error();
  RenderedPrompt prompt{out->as_string(), {}};
  if (out->spans() != nullptr) prompt.request_spans = *out->spans();
  return prompt;
}

Result<nlohmann::ordered_json> conversation_variables(const nlohmann::ordered_json& conversation) {
  if (!conversation.is_object()) return Error{"the conversation must be a JSON object"};
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  const auto messages = conversation.find("messages");
  if (messages == conversation.end() || !messages->is_array()) {
    return Error{"the conversation needs \"messages\", an array of message objects"};
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    if (!(*messages)[i].is_object()) {
      return Error{"messages[" + std::to_string(i) + "] is not an object"};
    }
  }
  vars["messages"] = *messages;
  vars["tools"] = nullptr;
  vars["documents"] = nullptr;
  vars["add_generation_prompt"] = true;
  for (const auto& [key, value] : conversation.items()) {
    if (key == "messages" || key == "name") continue;
    if (key == "tools") {
      if (!value.is_array() && !value.is_null()) return Error{"\"tools\" must be an array"};
      vars["tools"] = value;
    } else if (key == "add_generation_prompt") {
      if (!value.is_boolean()) return Error{"\"add_generation_prompt\" must be true or false"};
      vars["add_generation_prompt"] = value;
    } else if (key == "bos_token" || key == "eos_token") {
      if (!value.is_string()) return Error{"\"" + key + "\" must be a string"};
      vars[key] = value;
    } else if (key == "extra") {
      if (!value.is_object()) return Error{"\"extra\" must be an object of template variables"};
      for (const auto& [name, v] : value.items()) {
        if (name == "messages" || name == "tools" || name == "add_generation_prompt" ||
            name == "bos_token" || name == "eos_token") {
          return Error{"\"extra\" may not set \"" + name +
                       "\", a variable of its own (give it as the conversation's member)"};
        }
        // The names of one object are unique, and none but "documents" is among those set
        // above: appended without a search of them (120 000 names took 15 s).
        if (name == "documents")
          vars[name] = v;
        else
          append_new_member(vars, name, v);
      }
    } else {
      return Error{"unknown conversation member \"" + key +
                   "\" (expected messages, tools, add_generation_prompt, bos_token, eos_token, "
                   "extra, name)"};
    }
  }
  return vars;
}

}  // namespace gengyun::chat
