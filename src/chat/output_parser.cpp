#include "chat/output_parser.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

namespace gengyun::chat {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kCallOpen = "<tool_call>";
constexpr std::string_view kCallClose = "</tool_call>";

// The length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

// The deepest nesting of arrays and objects in JSON text (brackets inside strings skipped).
size_t nesting_depth(std::string_view text) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Tool call JSON deeper than this is taken as malformed (printing it back would recurse).
constexpr size_t kMaxCallNesting = 64;

}  // namespace

OutputParser::OutputParser(Options options)
    : options_(std::move(options)),
      state_(options_.reasoning && options_.starts_in_reasoning ? State::kReasoning
                                                                : State::kContent) {}

OutputDelta OutputParser::feed(std::string_view text) {
  OutputDelta out;
  held_.append(text);
  while (true) {
    // The tags that end the current state, and where the first of them starts.
    std::string_view tags[2];
    size_t n_tags = 0;
    if (state_ == State::kReasoning) {
      tags[n_tags++] = kThinkClose;
    } else if (state_ == State::kToolCall) {
      tags[n_tags++] = kCallClose;
    } else {
      if (options_.reasoning) tags[n_tags++] = kThinkOpen;
      if (options_.tool_calls) tags[n_tags++] = kCallOpen;
    }
    size_t at = std::string::npos;
    std::string_view found;
    for (size_t i = 0; i < n_tags; ++i) {
      const size_t p = held_.find(tags[i]);
      if (p < at) {
        at = p;
        found = tags[i];
      }
    }
    if (at == std::string::npos) {
      size_t keep = 0;
      for (size_t i = 0; i < n_tags; ++i) keep = std::max(keep, partial_tag(held_, tags[i]));
      route(std::string_view(held_).substr(0, held_.size() - keep), out);
      held_.erase(0, held_.size() - keep);
      return out;
    }
    route(std::string_view(held_).substr(0, at), out);
    held_.erase(0, at + found.size());
    if (found == kThinkOpen) {
      state_ = State::kReasoning;
    } else if (found == kThinkClose) {
      state_ = State::kContent;
    } else if (found == kCallOpen) {
      state_ = State::kToolCall;
      call_text_.clear();
    } else {
      close_tool_call(out);
      state_ = State::kContent;
    }
  }
}

OutputDelta OutputParser::finish() {
  OutputDelta out;
  route(held_, out);
  held_.clear();
  if (state_ == State::kToolCall) {
    out.content += std::string(kCallOpen) + call_text_;
    call_text_.clear();
    state_ = State::kContent;
  }
  return out;
}

void OutputParser::route(std::string_view text, OutputDelta& out) {
  switch (state_) {
    case State::kContent:
      out.content.append(text);
      break;
    case State::kReasoning:
      out.reasoning.append(text);
      break;
    case State::kToolCall:
      call_text_.append(text);
      break;
  }
}

void OutputParser::close_tool_call(OutputDelta& out) {
  const auto json = nesting_depth(call_text_) <= kMaxCallNesting
                        ? nlohmann::ordered_json::parse(call_text_, nullptr, false)
                        : nlohmann::ordered_json();
  const bool valid = json.is_object() && json.contains("name") && json["name"].is_string() &&
                     json.contains("arguments") && json["arguments"].is_object();
  if (!valid) {
    out.content += std::string(kCallOpen) + call_text_ + std::string(kCallClose);
  } else {
    out.tool_calls.push_back({"call_" + options_.id_prefix + "_" + std::to_string(n_calls_++),
                              json["name"].get<std::string>(), json["arguments"].dump()});
  }
  call_text_.clear();
}

}  // namespace gengyun::chat
