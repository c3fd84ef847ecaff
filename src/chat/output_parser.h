// Splitting a model's answer, as it streams, into reasoning (`<think>...</think>`), content and
// tool calls in the Qwen/Hermes format (`<tool_call>{"name": ..., "arguments":
// {...}}</tool_call>`), for OpenAI's `reasoning_content`, `content` and `tool_calls`. Chunks may
// end anywhere, even inside a tag: text that could be the start of a tag is held back until it is
// known.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gengyun::chat {

/// One complete tool call, OpenAI's shape: `arguments` is JSON text.
struct ToolCall {
  std::string id;  ///< "call_<id_prefix>_<n>", n counting from 0 in the answer
  std::string name;
  std::string arguments;
};

/// What one piece of output adds to each part (any may be empty).
struct OutputDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;

  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

/// Incremental parser of one answer. Not thread-safe; cheap (each byte is looked at a bounded
/// number of times, apart from a tool call's JSON, parsed once when it closes).
class OutputParser {
 public:
  struct Options {
    bool reasoning = false;            ///< split out <think>...</think>
    bool starts_in_reasoning = false;  ///< the prompt ended inside <think> (QwQ, DeepSeek-R1)
    bool tool_calls = false;           ///< parse <tool_call> blocks (the request had tools)
    std::string id_prefix;             ///< makes the calls' ids unique, e.g. the response's id
  };

  explicit OutputParser(Options options);

  /// The parts `text` completes. A tool call is returned whole when its </tool_call> arrives;
  /// one whose JSON is not {"name": string, "arguments": object} comes back as content, tags
  /// and all (never an error).
  OutputDelta feed(std::string_view text);
  /// The end of the answer: whatever was held back (an unclosed <tool_call> as content).
  OutputDelta finish();

 private:
  enum class State { kContent, kReasoning, kToolCall };

  void route(std::string_view text, OutputDelta& out);
  void close_tool_call(OutputDelta& out);

  Options options_;
  State state_;
  std::string held_;       // output not yet routed: it may begin a tag
  std::string call_text_;  // the body of the open <tool_call>
  int n_calls_ = 0;
};

}  // namespace gengyun::chat
