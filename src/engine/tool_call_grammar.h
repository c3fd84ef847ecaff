// The grammar that makes a chat answer tool calls (OpenAI tool_choice "required", a named
// function, parallel_tool_calls false): the family's writing of calls from the chat layer
// (chat::tool_call_writing, the one the output parser reads) and each tool's parameters schema,
// compiled by sampling::compile_tool_calls.
#pragma once

#include <memory>

#include "gengyun/engine.h"
#include "gengyun/result.h"
#include "sampling/grammar.h"

namespace gengyun::engine {

/// The grammar of the answers `format` (Kind::ToolCalls) allows: with text_allowed, text or
/// calls (Hermes: text without "<tool_call>", then at most the calls; JSON families: calls, or
/// text that does not begin like them); else only calls. At most one call with a tool_name or
/// without parallel_calls. With text_allowed the grammar is lazy: no mask before the call's tag
/// (Hermes) or before an answer that begins as calls (JSON families), sampling/grammar_trigger.h.
/// Reasoning (`<think>` ... `</think>`) may come first where
/// format.syntax.reasoning (must, when the prompt ends inside it; not when the prompt closed it).
/// The family's marker control token ("<|python_tag|>", "[TOOL_CALLS]") is left out: it has no
/// bytes to allow. Errors: syntax without a tool-call format, tools_json not an array of tools with
/// a string name, tool_name not among them, a parameters schema outside the supported subset (its
/// place "tools[i].function.parameters/...").
Result<std::shared_ptr<const sampling::Grammar>> tool_call_grammar(const OutputFormat& format);

}  // namespace gengyun::engine
