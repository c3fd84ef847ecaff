// What a chat template's answers speak (reasoning tags, a tool-call format), read from the
// template's source and the prompt it rendered.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "gengyun/chat_syntax.h"

namespace gengyun::chat {

/// The syntax of the answers to a template's prompts (starts_in_reasoning left false):
/// reasoning when the source holds "<think>"; tool calls Hermes when it holds "<tool_call>",
/// MistralJson when it holds "[TOOL_CALLS]", Llama3Json when it holds "<|python_tag|>" or
/// both "\"parameters\"" and "<|eot_id|>" (Llama 3.2's template names no python tag); else none.
ChatSyntax template_syntax(std::string_view source);

/// Whether `prompt` ends inside reasoning: of the "<think>" and "</think>" in it that overlap
/// no range of `request_spans` (sorted, disjoint [begin, end) byte ranges of text a client
/// wrote), the last is "<think>" (QwQ's and DeepSeek-R1's generation prompts open it).
bool ends_in_reasoning(std::string_view prompt,
                       std::span<const std::pair<size_t, size_t>> request_spans);

}  // namespace gengyun::chat
