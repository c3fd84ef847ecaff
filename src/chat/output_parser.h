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
#include <utility>
#include <vector>

#include "gengyun/chat_syntax.h"

namespace gengyun::chat {

/// A tool call, OpenAI's shape, or a piece of one. `arguments` is JSON text: the model's, with
/// the whitespace outside strings dropped (escapes, numbers and key order as written). A call's
/// first piece carries its id and name; with Options::stream_arguments later pieces (id and name
/// empty, the same `index`) carry more of its arguments, which concatenate to the whole.
struct ToolCall {
  /// "call_<id_prefix>_<n>", n counting from 0 in the answer; for MistralJson 9 letters and
  /// digits made from the same (Mistral's templates refuse other ids when the call comes back).
  std::string id;
  std::string name;
  std::string arguments;
  size_t index = 0;  ///< the call's number in the answer, from 0
};

/// What one piece of output adds to each part (any may be empty).
struct OutputDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  /// Where `reasoning`'s bytes stand in the answer's text: [begin, end) byte offsets into all
  /// the text fed so far, in order (the tags themselves are not in them).
  std::vector<std::pair<size_t, size_t>> reasoning_spans;

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
    /// The answer's calls are held to the tool-call grammar (docs/chat.md): a call whose
    /// beginning is in the form the grammar writes (`{"name": "f", "arguments": ` and the
    /// format's tags) is a call from then on: its id and name come at once and its arguments
    /// piece by piece as they are written (never cutting a UTF-8 character), and an answer that
    /// ends inside it leaves it a call with the arguments written so far. Off, a call comes
    /// whole when it closes, and as content when malformed or unclosed (unless the answer was
    /// cut there: finish()).
    bool stream_arguments = false;
  };

  explicit OutputParser(Options options);

  /// The parts `text` completes. A tool call is returned whole when it closes (or piece by
  /// piece: Options::stream_arguments); one whose JSON is not of its format's shape (name a
  /// string, arguments an object) comes back as content, tags and all (never an error).
  OutputDelta feed(std::string_view text);
  /// The end of the answer: whatever was held back. `cut`: the answer was cut short (max_tokens,
  /// the context's end, a stop string), not ended by the model. Cut inside a call (or after a
  /// prefix of its opening tag or marker: `<tool_ca`), none of the call's markup is content:
  /// the call is returned when its name is whole, with its arguments as far as written (""
  /// when not begun; a cut UTF-8 character left out), else nothing, and the whitespace before
  /// it is dropped. Ended by the model, an unclosed call is content (a streamed one stays a
  /// call, as far as it was written), as is a held prefix of a tag.
  OutputDelta finish(bool cut = false);

 private:
  enum class State { kContent, kReasoning, kToolCall, kJsonCalls };
  enum class Start { kWait, kContinue, kText };
  /// Where a streamed call region (Options::stream_arguments) is: before Mistral's `[`, in a
  /// call's beginning up to its arguments' `{`, in its arguments, in the rest of its object,
  /// between Mistral's calls, past the last call; kOff: not streamed (a call comes whole).
  enum class Phase { kList, kHead, kArguments, kTail, kBetween, kDone, kOff };

  /// Where JSON strings begin and end in text that may come in any chunk.
  struct JsonStrings {
    bool in_string = false;
    bool escaped = false;
    /// Moves over `c`: true when `c` belongs to a string (its quotes included), so callers
    /// look for structure only where it is false.
    bool step(char c);
  };
  /// JSON text without the whitespace outside its strings.
  static std::string compact_json(std::string_view text);

  bool step(OutputDelta& out);
  bool json_format() const;
  Start start_of_answer(OutputDelta& out);
  bool scan_json_calls(OutputDelta& out);
  /// Hermes: the body of the open <tool_call> up to its </tool_call>, which closes it only
  /// outside the JSON's strings (an argument may hold the tag's text).
  bool scan_tool_call(OutputDelta& out);
  void close_json_calls(OutputDelta& out);
  /// Whether the held text begins a call (a prefix of Hermes' opening tag, or a JSON family's
  /// marker or a prefix of it at the answer's start), the answer ending here.
  bool holds_call_start() const;
  /// The end, by a cut, of the call region the answer is in: the calls it holds as far as
  /// written (finish()), nothing of it as content.
  void end_cut_region(OutputDelta& out);
  void route(std::string_view text, OutputDelta& out);
  void add_content(std::string_view text, OutputDelta& out);
  void add_call(std::string name, std::string arguments, OutputDelta& out);
  void close_tool_call(OutputDelta& out);
  /// A call region (the <tool_call>'s body, a JSON call or Mistral's list) begins.
  void start_region();
  /// `text`, just appended to call_text_, through the streamed region: opens calls, gives out
  /// their arguments compacted.
  void stream_region(std::string_view text, OutputDelta& out);
  /// The pending arguments of the open streamed call, up to the last whole UTF-8 character.
  void emit_arguments(OutputDelta& out);
  /// The end of a region of which calls were streamed: what follows the last of them that
  /// closed is content, unless the region ends inside a call (then cut, it stays a call).
  void end_streamed_region(OutputDelta& out);

  Options options_;
  State state_;
  std::string held_;             // output not yet routed: it may begin a tag
  size_t fed_ = 0;               // bytes fed so far; held_ is their last held_.size()
  std::string call_text_;        // the body of the open <tool_call>, or the JSON of a JSON call
  std::string prefix_;           // JSON formats: what came before the JSON (whitespace, the marker)
  std::string space_;            // trailing whitespace of content, held (tool calls on)
  bool drop_space_ = false;      // a call came last: whitespace before the next content goes
  bool answer_started_ = false;  // JSON formats: content began, so no call can follow
  int json_depth_ = 0;           // JSON formats: open brackets of call_text_
  JsonStrings strings_;          // JSON formats and Hermes calls: the strings of call_text_
  int n_calls_ = 0;
  // The streamed region (Options::stream_arguments).
  Phase phase_ = Phase::kOff;
  std::string head_;     // the open call's text up to its arguments
  std::string pending_;  // arguments not given out yet (a cut UTF-8 character)
  JsonStrings stream_strings_;
  int stream_depth_ = 0;     // open brackets of the arguments (kArguments) or of the call (kTail)
  size_t region_calls_ = 0;  // calls of the region opened
  size_t closed_at_ = 0;     // the end in call_text_ of the region's last closed call
};

}  // namespace gengyun::chat
