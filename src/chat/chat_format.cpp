#include "chat/chat_format.h"

namespace gengyun::chat {

ChatFormat detect_chat_format(std::string_view chat_template, bool is_spm) {
  if (chat_template.find("<|im_start|>") != std::string_view::npos) return ChatFormat::ChatML;
  if (chat_template.find("<|start_header_id|>") != std::string_view::npos) return ChatFormat::Llama3;
  if (is_spm || chat_template.find("[INST]") != std::string_view::npos) return ChatFormat::Llama2;
  return ChatFormat::ChatML;
}

namespace {

using Spans = std::vector<std::pair<size_t, size_t>>;

// Appends a message's `text` to `out`, recording its byte range in `spans` when given.
void append_request(std::string& out, std::string_view text, Spans* spans) {
  if (spans != nullptr && !text.empty()) spans->emplace_back(out.size(), out.size() + text.size());
  out.append(text);
}

std::string render_chatml(std::span<const Message> messages, Spans* spans) {
  std::string out;
  for (const Message& m : messages) {
    out.append("<|im_start|>");
    append_request(out, m.role, spans);
    out.append("\n");
    append_request(out, m.content, spans);
    out.append("<|im_end|>\n");
  }
  out.append("<|im_start|>assistant\n");
  return out;
}

std::string render_llama3(std::span<const Message> messages, Spans* spans) {
  std::string out;
  for (const Message& m : messages) {
    out.append("<|start_header_id|>");
    append_request(out, m.role, spans);
    out.append("<|end_header_id|>\n\n");
    append_request(out, m.content, spans);
    out.append("<|eot_id|>");
  }
  out.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return out;
}

std::string render_llama2(std::span<const Message> messages, std::string_view bos_text,
                          std::string_view eos_text, Spans* spans) {
  std::string out = "[INST] ";
  bool inside_turn = true;
  for (const Message& m : messages) {
    if (!inside_turn) {
      out.append(bos_text).append("[INST] ");
      inside_turn = true;
    }
    if (m.role == "system") {
      out.append("<<SYS>>\n");
      append_request(out, m.content, spans);
      out.append("\n<</SYS>>\n\n");
    } else if (m.role == "user") {
      append_request(out, m.content, spans);
      out.append(" [/INST]");
    } else {
      append_request(out, m.content, spans);
      out.append(eos_text);
      inside_turn = false;
    }
  }
  return out;
}

}  // namespace

std::string render_chat(ChatFormat format, std::span<const Message> messages,
                        std::string_view bos_text, std::string_view eos_text,
                        std::vector<std::pair<size_t, size_t>>* request_spans) {
  switch (format) {
    case ChatFormat::Llama2:
      return render_llama2(messages, bos_text, eos_text, request_spans);
    case ChatFormat::Llama3:
      return render_llama3(messages, request_spans);
    case ChatFormat::ChatML:
      break;
  }
  return render_chatml(messages, request_spans);
}

}  // namespace gengyun::chat
