#include "api/chat_answer.h"

#include <utility>

namespace gengyun::api {

namespace {

using json = nlohmann::ordered_json;

chat::OutputParser::Options parser_options(const ChatSyntax& syntax, bool tools,
                                           std::string id_prefix, bool stream_arguments) {
  return {.reasoning = syntax.reasoning,
          .starts_in_reasoning = syntax.starts_in_reasoning,
          .tool_calls = tools ? syntax.tool_calls : ToolCallFormat::None,
          .id_prefix = std::move(id_prefix),
          .stream_arguments = stream_arguments};
}

}  // namespace

ChatAnswer::ChatAnswer(ResponseMeta meta, const ChatSyntax& syntax, bool tools, bool stream,
                       int index, bool stream_arguments)
    : meta_(std::move(meta)),
      // (calls of choice k > 0 get ids of their own: the response's id and "-k")
      parser_(parser_options(syntax, tools,
                             index == 0 ? meta_.id : meta_.id + "-" + std::to_string(index),
                             stream_arguments)),
      stream_(stream),
      index_(index) {}

std::vector<json> ChatAnswer::feed(std::string_view text) { return take(parser_.feed(text)); }

std::vector<json> ChatAnswer::finish(bool cut) {
  cut_ = cut;
  return take(parser_.finish(cut));
}

void ChatAnswer::add_tokens(const std::vector<size_t>& byte_sizes) {
  for (const size_t size : byte_sizes)
    token_ends_.push_back((token_ends_.empty() ? 0 : token_ends_.back()) + size);
}

std::vector<json> ChatAnswer::take(const chat::OutputDelta& delta) {
  for (const auto& [span_begin, span_end] : delta.reasoning_spans)
    for (; next_token_ < token_ends_.size(); ++next_token_) {
      const size_t begin = next_token_ ? token_ends_[next_token_ - 1] : 0;
      const size_t end = token_ends_[next_token_];
      if (begin >= span_end) break;  // past the span: a later span may reach it
      if (end > span_begin && end > begin) ++reasoning_tokens_;
    }
  reasoning_ += delta.reasoning;
  content_ += delta.content;
  std::vector<json> chunks;
  if (stream_ && !delta.reasoning.empty())
    chunks.push_back(delta_chunk(meta_, {{"reasoning_content", delta.reasoning}}, nullptr, index_));
  if (stream_ && !delta.content.empty())
    chunks.push_back(delta_chunk(meta_, {{"content", delta.content}}, nullptr, index_));
  for (const chat::ToolCall& call : delta.tool_calls) {
    const size_t index = call.index;
    const bool opens = !call.id.empty();  // a call's first piece; else more of its arguments
    if (opens) {
      calls_.push_back(call);
    } else {
      calls_.at(index).arguments += call.arguments;
    }
    if (!stream_) continue;
    if (opens)
      chunks.push_back(delta_chunk(meta_,
                                   {{"tool_calls",
                                     {{{"index", index},
                                       {"id", call.id},
                                       {"type", "function"},
                                       {"function", {{"name", call.name}, {"arguments", ""}}}}}}},
                                   nullptr, index_));
    if (!call.arguments.empty())
      chunks.push_back(delta_chunk(
          meta_,
          {{"tool_calls", {{{"index", index}, {"function", {{"arguments", call.arguments}}}}}}},
          nullptr, index_));
  }
  return chunks;
}

std::string_view ChatAnswer::finish_reason(FinishReason engine_reason) const {
  if (!calls_.empty() && engine_reason == FinishReason::Stop && !cut_) return "tool_calls";
  return finish_reason_name(engine_reason);
}

json ChatAnswer::message() const {
  json message = {{"role", "assistant"}};
  message["content"] = content_.empty() && !calls_.empty() ? json(nullptr) : json(content_);
  if (!reasoning_.empty()) message["reasoning_content"] = reasoning_;
  if (!calls_.empty()) {
    json calls = json::array();
    for (const chat::ToolCall& call : calls_)
      calls.push_back({{"id", call.id},
                       {"type", "function"},
                       {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    message["tool_calls"] = std::move(calls);
  }
  return message;
}

}  // namespace gengyun::api
