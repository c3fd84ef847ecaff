#include "chat/chat_format.h"

namespace gengyun::chat {

ChatFormat detect_chat_format(std::string_view chat_template, bool is_spm) {
  if (chat_template.find("<|im_start|>") != std::string_view::npos) return ChatFormat::ChatML;
  if (chat_template.find("<|start_header_id|>") != std::string_view::npos) return ChatFormat::Llama3;
  if (is_spm || chat_template.find("[INST]") != std::string_view::npos) return ChatFormat::Llama2;
  return ChatFormat::ChatML;
}

namespace {

std::string render_chatml(std::span<const Message> messages) {
  std::string out;
  for (const Message& m : messages) {
    out.append("<|im_start|>").append(m.role).append("\n").append(m.content).append("<|im_end|>\n");
  }
  out.append("<|im_start|>assistant\n");
  return out;
}

std::string render_llama3(std::span<const Message> messages) {
  std::string out;
  for (const Message& m : messages) {
    out.append("<|start_header_id|>").append(m.role).append("<|end_header_id|>\n\n");
    out.append(m.content).append("<|eot_id|>");
  }
  out.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return out;
}

std::string render_llama2(std::span<const Message> messages, std::string_view bos_text,
                          std::string_view eos_text) {
  std::string out = "[INST] ";
  bool inside_turn = true;
  for (const Message& m : messages) {
    if (!inside_turn) {
      out.append(bos_text).append("[INST] ");
      inside_turn = true;
    }
    if (m.role == "system") {
      out.append("<<SYS>>\n").append(m.content).append("\n<</SYS>>\n\n");
    } else if (m.role == "user") {
      out.append(m.content).append(" [/INST]");
    } else {
      out.append(m.content).append(eos_text);
      inside_turn = false;
    }
  }
  return out;
}

}  // namespace

std::string render_chat(ChatFormat format, std::span<const Message> messages,
                        std::string_view bos_text, std::string_view eos_text) {
  switch (format) {
    case ChatFormat::Llama2:
      return render_llama2(messages, bos_text, eos_text);
    case ChatFormat::Llama3:
      return render_llama3(messages);
    case ChatFormat::ChatML:
      break;
  }
  return render_chatml(messages);
}

}  // namespace gengyun::chat
