// How a model's chat answers mark reasoning and tool calls, shared by the embedding seam
// (ChatPrompt) and the chat layer (chat::OutputParser), which splits an answer into OpenAI's
// reasoning_content, content and tool_calls. Includes nothing, so that any layer may include it.
#pragma once

namespace gengyun {

/// How a model writes a tool call (read from its chat template).
enum class ToolCallFormat {
  None,    ///< the template speaks no tool calls
  Hermes,  ///< <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Qwen 2.5 / 3, QwQ)
  /// An answer that is {"name": ..., "parameters": {...}} (calls separated by ";"), after an
  /// optional <|python_tag|> (Llama 3.1 - 3.3)
  Llama3Json,
  /// An answer that is [TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}, ...]
  /// (Mistral; [TOOL_CALLS] is a control token, so its text may be absent)
  MistralJson,
};

/// What the answer to one chat prompt speaks.
struct ChatSyntax {
  bool reasoning = false;            ///< the template speaks <think>...</think>
  bool starts_in_reasoning = false;  ///< the prompt ends inside <think> (QwQ, DeepSeek-R1)
  /// The prompt ends after a <think></think> its template closed (Qwen3 with enable_thinking
  /// false): the answer is not to reason (a tool-call grammar then allows no reasoning).
  bool reasoning_closed = false;
  ToolCallFormat tool_calls = ToolCallFormat::None;
};

}  // namespace gengyun
