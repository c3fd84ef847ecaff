// `gengyun render-chat (MODEL.gguf | --template FILE.jinja) --conversation FILE.json`: the
// prompt a chat template renders for a conversation, exactly (nothing added).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/openai_request.h"
#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/read_file.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/ordered_json.h"
#include "util/strict_json.h"

namespace gengyun::cli {
namespace {

struct RenderChatOptions {
  std::string model_path;
  std::string template_path;
  std::string conversation_path;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int render_chat(const RenderChatOptions& o) {
  const auto conversation_text = read_file(kConversationFile, o.conversation_path);
  if (!conversation_text) return fail(conversation_text.error().message);
  // Arrays and objects nested deeper than a request body may nest are refused before a tree
  // is built that copying and printing would recurse through; the parse is linear in the text
  // (nlohmann's ordered parse took seconds for 60 000 messages: QA 2026-12-07).
  const std::string& text = conversation_text.value();
  if (json_nesting_depth(text) > api::kMaxJsonNesting)
    return fail(o.conversation_path + ": arrays and objects nest more than " +
                std::to_string(api::kMaxJsonNesting) + " levels deep; at most " +
                std::to_string(api::kMaxJsonNesting) + " are allowed");
  const nlohmann::ordered_json conversation = parse_ordered_json(text);
  if (conversation.is_discarded())
    return fail(o.conversation_path + ": not JSON: " + parse_strict_json(text).error);
  auto vars = chat::conversation_variables(conversation);
  if (!vars.ok()) return fail(o.conversation_path + ": " + vars.error().message);

  std::string source;
  std::string origin;
  if (!o.template_path.empty()) {
    const auto text = read_file(kTemplateFile, o.template_path);
    if (!text) return fail(text.error().message);
    source = text.value();
    origin = o.template_path;
  } else {
    auto file = gguf::File::open(o.model_path);
    if (!file.ok()) return fail(file.error().message);
    const auto chat_template = file->get_string("tokenizer.chat_template");
    if (!chat_template)
      return fail(o.model_path + " has no tokenizer.chat_template; give --template");
    source = *chat_template;
    origin = o.model_path + ": tokenizer.chat_template";
    auto tokenizer = Tokenizer::load(file.value());
    if (!tokenizer.ok()) return fail(o.model_path + ": " + tokenizer.error().message);
    // The model's own BOS and EOS text, unless the conversation gives them.
    const auto special = [&](const char* name, std::optional<int32_t> id) {
      if (id && !vars->contains(name)) {
        (*vars)[name] = tokenizer.value()->token_to_piece(*id, /*render_special=*/true);
      }
    };
    special("bos_token", tokenizer.value()->bos());
    special("eos_token", tokenizer.value()->eos());
  }
  const auto tmpl = chat::ChatTemplate::parse(source);
  if (!tmpl.ok()) return fail(origin + ": " + tmpl.error().message);
  const auto prompt = tmpl->render(vars.value());
  if (!prompt.ok()) return fail(origin + ": " + prompt.error().message);
  std::fwrite(prompt->data(), 1, prompt->size(), stdout);
  return 0;
}

}  // namespace

void add_render_chat_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RenderChatOptions>();
  auto* cmd = app.add_subcommand(
      "render-chat", "print the prompt a chat template renders for a conversation, exactly");
  auto* model = cmd->add_option("model", options->model_path, "GGUF file whose template to use");
  auto* tmpl = cmd->add_option("--template", options->template_path, "a Jinja template file");
  model->excludes(tmpl);
  cmd->add_option(
         "--conversation", options->conversation_path,
         "JSON object: messages, tools, add_generation_prompt, bos_token, eos_token, extra")
      ->required();
  cmd->callback([options, model, tmpl, &exit_code] {
    if (model->count() == 0 && tmpl->count() == 0) {
      std::fputs("error: give MODEL.gguf or --template FILE.jinja\n", stderr);
      exit_code = 2;  // a missing argument: a command line that cannot be parsed
      return;
    }
    exit_code = render_chat(*options);
  });
}

}  // namespace gengyun::cli
