// Splitting a model's answer, as it streams, into reasoning (`<think>...</think>`), content and
// tool calls, for OpenAI's `reasoning_content`, `content` and `tool_calls`. Tool calls in the
// formats of gengyun::ToolCallFormat: Qwen/Hermes (`<tool_call>{"name": ..., "arguments":
// {...}}</tool_call>` anywhere in the answer), Llama 3.x (an answer that is `{"name": ...,
// "parameters": {...}}`) and Mistral (an answer that is `[TOOL_CALLS][{"name": ..., "arguments":
// {...}}]`). Chunks may end anywhere, even inside a tag: text that could be the start of a tag
// is held back until it is known.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gengyun/chat_syntax.h"

namespace gengyun::chat {

/// One complete tool call, OpenAI's shape: `arguments` is JSON text.
struct ToolCall {
  /// "call_<id_prefix>_<n>", n counting from 0 in the answer; for MistralJson 9 letters and
  /// digits made from the same (Mistral's templates refuse other ids when the call comes back).
  std::string id;
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
    /// The format of tool calls to parse (the request had tools), None for none. When not
    /// None, whitespace-only content around calls is dropped: trailing whitespace of content is
    /// held until more content follows, dropped when a call follows or ends the answer.
    ToolCallFormat tool_calls = ToolCallFormat::None;
    std::string id_prefix;  ///< makes the calls' ids unique, e.g. the response's id
  };

  explicit OutputParser(Options options);

  /// The parts `text` completes. A tool call is returned whole when it closes; one whose JSON
  /// is not of its format's shape (name a string, arguments an object) comes back as content,
  /// tags and all (never an error).
  OutputDelta feed(std::string_view text);
  /// The end of the answer: whatever was held back (an unclosed call as content).
  OutputDelta finish();

 private:
  enum class State { kContent, kReasoning, kToolCall, kJsonCalls };
  enum class Start { kWait, kContinue, kText };

  bool step(OutputDelta& out);
  bool json_format() const;
  Start start_of_answer(OutputDelta& out);
  /// Moves the state of JSON strings (in_string_, escaped_) over `c`, which may come in any
  /// chunk: true when `c` belongs to a string (its quotes included), so callers look for
  /// structure only where it is false.
  bool step_json_string(char c);
  bool scan_json_calls(OutputDelta& out);
  /// Hermes: the body of the open <tool_call> up to its </tool_call>, which closes it only
  /// outside the JSON's strings (an argument may hold the tag's text).
  bool scan_tool_call(OutputDelta& out);
  void close_json_calls(OutputDelta& out);
  void route(std::string_view text, OutputDelta& out);
  void add_content(std::string_view text, OutputDelta& out);
  void add_call(std::string name, std::string arguments, OutputDelta& out);
  void close_tool_call(OutputDelta& out);

  Options options_;
  State state_;
  std::string held_;             // output not yet routed: it may begin a tag
  std::string call_text_;        // the body of the open <tool_call>, or the JSON of a JSON call
  std::string prefix_;           // JSON formats: what came before the JSON (whitespace, the marker)
  std::string space_;            // trailing whitespace of content, held (tool calls on)
  bool drop_space_ = false;      // a call came last: whitespace before the next content goes
  bool answer_started_ = false;  // JSON formats: content began, so no call can follow
  int json_depth_ = 0;           // JSON formats: open brackets of call_text_
  bool in_string_ = false;  // JSON formats and Hermes calls: inside a JSON string
  bool escaped_ = false;
  int n_calls_ = 0;
};

}  // namespace gengyun::chat
