// The assistant's message of one chat answer, assembled from the generated text as it streams:
// reasoning_content apart from content, and tool_calls, as the model's ChatSyntax says
// (chat::OutputParser), in OpenAI's chat.completion message and chat.completion.chunk deltas.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_response.h"
#include "chat/output_parser.h"
#include "gengyun/engine.h"

namespace gengyun::api {

/// One answer's assembly. Not thread-safe (the generation job holds its lock around it).
class ChatAnswer {
 public:
  /// `syntax`: what the prompt's answer speaks (ChatPrompt::syntax); `tools`: the request gave
  /// tools the template saw (tool calls are parsed only then); `stream`: feed() and finish()
  /// return the chunks to send (none when false; message() then gives the whole); `index`: the
  /// choice's index in the chunks; `stream_arguments`: the tool-call grammar holds the answer's
  /// calls, so their arguments are given out as written (chat::OutputParser::Options).
  ChatAnswer(ResponseMeta meta, const ChatSyntax& syntax, bool tools, bool stream, int index = 0,
             bool stream_arguments = false);

  /// The chunks that generated `text` completes: a delta {"reasoning_content"}, a delta
  /// {"content"}, and for each tool call a delta {"tool_calls": [{index, id, type "function",
  /// function {name, arguments ""}}]} when it opens, then deltas {"tool_calls": [{index,
  /// function {arguments}}]} with pieces of its arguments (all of them at once when it is not
  /// streamed), which concatenate to the message's arguments.
  std::vector<nlohmann::ordered_json> feed(std::string_view text);
  /// The end of the text: the chunks of what was held back. `cut`: the text was cut short
  /// (finish_reason "length", or a stop string: GenerationEvent::stop_string), not ended by the
  /// model; then a call cut short is a call when its name is whole (its arguments as far as
  /// written), else nothing, and never content (chat::OutputParser::finish); ended by the
  /// model, an unclosed call is content.
  std::vector<nlohmann::ordered_json> finish(bool cut = false);

  /// "tool_calls" when the answer called a tool and the model stopped by itself (finish() not
  /// `cut`), else the engine's reason ("stop", "length").
  std::string_view finish_reason(FinishReason engine_reason) const;

  /// The whole message: {"role": "assistant", "content": text, or null when empty and tools
  /// were called, "reasoning_content" when the model reasoned, "tool_calls" when it called}.
  nlohmann::ordered_json message() const;

  /// Notes the answer's next generated tokens by the bytes of text each stands for (0: none, as
  /// the end-of-sequence token), in order, before the text that holds them is fed.
  void add_tokens(const std::vector<size_t>& byte_sizes);
  /// Of the tokens added, those with a byte in reasoning_content so far (one whose bytes went
  /// partly to reasoning_content and partly to content or a tag counts): usage's
  /// completion_tokens_details.reasoning_tokens.
  int reasoning_tokens() const { return reasoning_tokens_; }

 private:
  std::vector<nlohmann::ordered_json> take(const chat::OutputDelta& delta);

  ResponseMeta meta_;
  chat::OutputParser parser_;
  bool stream_;
  int index_;
  bool cut_ = false;  // finish()'s
  std::string reasoning_;
  std::string content_;
  std::vector<chat::ToolCall> calls_;
  std::vector<size_t> token_ends_;  // each added token's end, in bytes of the answer's text
  size_t next_token_ = 0;           // the first token no reasoning span has reached yet
  int reasoning_tokens_ = 0;
};

}  // namespace gengyun::api
