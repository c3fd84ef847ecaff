#include "chat/chat_syntax.h"

#include <algorithm>
#include <optional>

namespace gengyun::chat {
namespace {

bool holds(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

// Whether [begin, end) overlaps a range of `spans` (sorted and disjoint).
bool overlaps(std::span<const std::pair<size_t, size_t>> spans, size_t begin, size_t end) {
  auto after = std::upper_bound(spans.begin(), spans.end(), begin,
                                [](size_t at, const auto& span) { return at < span.second; });
  return after != spans.end() && after->first < end;
}

}  // namespace

const ToolCallWriting& tool_call_writing(ToolCallFormat format) {
  static const ToolCallWriting kNone{};
  // marker, list_open, list_close, call_open, call_close, padding, separator, arguments_key,
  // anywhere
  static const ToolCallWriting kHermes{"",   "",   "",          "<tool_call>", "</tool_call>",
                                       "\n", "\n", "arguments", true};
  static const ToolCallWriting kLlama3{"<|python_tag|>", "",   "", "", "", "", "; ",
                                       "parameters",     false};
  static const ToolCallWriting kMistral{"[TOOL_CALLS]", "[",         "]",  "", "", "",
                                        ", ",           "arguments", false};
  switch (format) {
    case ToolCallFormat::Hermes:
      return kHermes;
    case ToolCallFormat::Llama3Json:
      return kLlama3;
    case ToolCallFormat::MistralJson:
      return kMistral;
    case ToolCallFormat::None:
      break;
  }
  return kNone;
}

ChatSyntax template_syntax(std::string_view source) {
  ChatSyntax syntax;
  syntax.reasoning = holds(source, kReasoningOpen);
  if (holds(source, tool_call_writing(ToolCallFormat::Hermes).call_open)) {
    syntax.tool_calls = ToolCallFormat::Hermes;
  } else if (holds(source, tool_call_writing(ToolCallFormat::MistralJson).marker)) {
    syntax.tool_calls = ToolCallFormat::MistralJson;
  } else if (holds(source, tool_call_writing(ToolCallFormat::Llama3Json).marker) ||
             (holds(source, "\"parameters\"") && holds(source, "<|eot_id|>"))) {
    syntax.tool_calls = ToolCallFormat::Llama3Json;
  }
  return syntax;
}

namespace {

// The last "<think>" or "</think>" of `prompt` that overlaps no range of `request_spans`:
// whether it opens, and where it ends; nullopt when there is none.
std::optional<std::pair<bool, size_t>> last_reasoning_tag(
    std::string_view prompt, std::span<const std::pair<size_t, size_t>> request_spans) {
  constexpr size_t npos = std::string_view::npos;
  // The last of each tag before the one looked at; only the one passed over is searched again
  // (the other is still the last before it), so the walk is linear: a message of 400 000
  // "<think>" took minutes when both were searched from each one.
  size_t open = prompt.rfind(kReasoningOpen);
  size_t close = prompt.rfind(kReasoningClose);
  while (open != npos || close != npos) {
    const bool is_open = close == npos || (open != npos && open > close);
    const size_t at = is_open ? open : close;
    const size_t length = is_open ? kReasoningOpen.size() : kReasoningClose.size();
    if (!overlaps(request_spans, at, at + length)) return std::pair{is_open, at + length};
    size_t& passed = is_open ? open : close;
    passed = at == 0 ? npos : prompt.rfind(is_open ? kReasoningOpen : kReasoningClose, at - 1);
  }
  return std::nullopt;
}

}  // namespace

bool ends_in_reasoning(std::string_view prompt,
                       std::span<const std::pair<size_t, size_t>> request_spans) {
  const auto tag = last_reasoning_tag(prompt, request_spans);
  return tag && tag->first;
}

bool ends_after_reasoning(std::string_view prompt,
                          std::span<const std::pair<size_t, size_t>> request_spans) {
  const auto tag = last_reasoning_tag(prompt, request_spans);
  return tag && !tag->first &&
         prompt.find_first_not_of(" \t\n\r", tag->second) == std::string_view::npos;
}

}  // namespace gengyun::chat
