#include "chat/output_parser.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

#include "chat/chat_syntax.h"

namespace gengyun::chat {
namespace {

using nlohmann::ordered_json;

constexpr std::string_view kThinkOpen = kReasoningOpen;
constexpr std::string_view kThinkClose = kReasoningClose;
const std::string_view kCallOpen = tool_call_writing(ToolCallFormat::Hermes).call_open;
const std::string_view kCallClose = tool_call_writing(ToolCallFormat::Hermes).call_close;

// The length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

// Whether `text` is a proper prefix of `tag` (more text could complete it).
bool begins(std::string_view text, std::string_view tag) {
  return text.size() < tag.size() && tag.starts_with(text);
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

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

// `text` parsed as JSON; discarded when it does not parse or nests too deep.
ordered_json parse_call_json(std::string_view text) {
  if (nesting_depth(text) > kMaxCallNesting) return ordered_json(ordered_json::value_t::discarded);
  return ordered_json::parse(text, nullptr, false);
}

// Whether `call` is {"name": string, <arguments_key>: object, ...}.
bool is_call(const ordered_json& call, const char* arguments_key) {
  return call.is_object() && call.contains("name") && call["name"].is_string() &&
         call.contains(arguments_key) && call[arguments_key].is_object();
}

// Nine letters and digits made from `seed` (FNV-1a 64, then base 62).
std::string alphanumeric_id(std::string_view seed) {
  static constexpr std::string_view kAlphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  uint64_t hash = 14695981039346656037ull;
  for (char c : seed) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  std::string id;
  for (int i = 0; i < 9; ++i) {
    id += kAlphabet[hash % kAlphabet.size()];
    hash /= kAlphabet.size();
  }
  return id;
}

}  // namespace

OutputParser::OutputParser(Options options)
    : options_(std::move(options)),
      state_(options_.reasoning && options_.starts_in_reasoning ? State::kReasoning
                                                                : State::kContent) {}

OutputDelta OutputParser::feed(std::string_view text) {
  OutputDelta out;
  held_.append(text);
  while (step(out)) {
  }
  return out;
}

bool OutputParser::json_format() const {
  return options_.tool_calls == ToolCallFormat::Llama3Json ||
         options_.tool_calls == ToolCallFormat::MistralJson;
}

bool OutputParser::step(OutputDelta& out) {
  if (state_ == State::kJsonCalls) return scan_json_calls(out);
  if (state_ == State::kToolCall) return scan_tool_call(out);
  if (state_ == State::kContent && json_format() && !answer_started_) {
    const Start start = start_of_answer(out);
    if (start == Start::kWait) return false;
    if (start == Start::kContinue) return true;
  }
  // The tags that end the current state, and where the first of them starts.
  std::string_view tags[2];
  size_t n_tags = 0;
  if (state_ == State::kReasoning) {
    tags[n_tags++] = kThinkClose;
  } else {
    if (options_.reasoning) tags[n_tags++] = kThinkOpen;
    if (options_.tool_calls == ToolCallFormat::Hermes) tags[n_tags++] = kCallOpen;
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
    return false;
  }
  route(std::string_view(held_).substr(0, at), out);
  held_.erase(0, at + found.size());
  if (found == kThinkOpen) {
    state_ = State::kReasoning;
  } else if (found == kThinkClose) {
    state_ = State::kContent;
  } else {
    state_ = State::kToolCall;
    call_text_.clear();
    in_string_ = false;
    escaped_ = false;
  }
  return true;
}

bool OutputParser::step_json_string(char c) {
  if (in_string_) {
    if (escaped_)
      escaped_ = false;
    else if (c == '\\')
      escaped_ = true;
    else if (c == '"')
      in_string_ = false;
    return true;
  }
  if (c != '"') return false;
  in_string_ = true;
  return true;
}

bool OutputParser::scan_tool_call(OutputDelta& out) {
  size_t i = 0;
  while (i < held_.size()) {
    const char c = held_[i];
    if (!step_json_string(c) && c == kCallClose.front()) {
      const std::string_view rest = std::string_view(held_).substr(i);
      if (rest.starts_with(kCallClose)) {
        call_text_.append(held_, 0, i);
        held_.erase(0, i + kCallClose.size());
        close_tool_call(out);
        state_ = State::kContent;
        return true;
      }
      if (kCallClose.starts_with(rest)) break;  // the tag may be cut here: wait for more
    }
    ++i;
  }
  call_text_.append(held_, 0, i);
  held_.erase(0, i);
  return false;
}

OutputParser::Start OutputParser::start_of_answer(OutputDelta& out) {
  const bool llama = options_.tool_calls == ToolCallFormat::Llama3Json;
  const ToolCallWriting& writing = tool_call_writing(options_.tool_calls);
  const std::string_view marker = writing.marker;
  size_t skip = 0;
  while (skip < held_.size() &&
         (is_space(held_[skip]) ||
          (llama && held_[skip] == writing.separator.front() && n_calls_ > 0)))
    ++skip;
  prefix_.append(held_, 0, skip);
  held_.erase(0, skip);
  if (held_.empty()) return Start::kWait;
  if (held_.starts_with(marker)) {
    prefix_ += marker;
    held_.erase(0, marker.size());
    return Start::kContinue;
  }
  if (begins(held_, marker) || (options_.reasoning && begins(held_, kThinkOpen)))
    return Start::kWait;
  if (held_[0] == (writing.list_open.empty() ? '{' : writing.list_open[0])) {
    state_ = State::kJsonCalls;
    call_text_.clear();
    json_depth_ = 0;
    in_string_ = false;
    escaped_ = false;
    return Start::kContinue;
  }
  // Text: reasoning, or content (what came before it is content, or goes after a call).
  if (!(options_.reasoning && held_.starts_with(kThinkOpen))) answer_started_ = true;
  if (n_calls_ == 0) add_content(prefix_, out);
  prefix_.clear();
  return Start::kText;
}

bool OutputParser::scan_json_calls(OutputDelta& out) {
  size_t i = 0;
  bool closed = false;
  while (i < held_.size() && !closed) {
    const char c = held_[i++];
    if (step_json_string(c)) continue;
    if (c == '{' || c == '[') {
      ++json_depth_;
    } else if (c == '}' || c == ']') {
      closed = --json_depth_ == 0;
    }
  }
  call_text_.append(held_, 0, i);
  held_.erase(0, i);
  if (closed) close_json_calls(out);
  return closed;
}

void OutputParser::close_json_calls(OutputDelta& out) {
  const ordered_json json = parse_call_json(call_text_);
  std::vector<std::pair<std::string, std::string>> calls;  // (name, arguments)
  if (options_.tool_calls == ToolCallFormat::Llama3Json) {
    const std::string key0(tool_call_writing(ToolCallFormat::Llama3Json).arguments_key);
    for (const char* key : {key0.c_str(), "arguments"}) {
      if (calls.empty() && is_call(json, key))
        calls.emplace_back(json["name"].get<std::string>(), json[key].dump());
    }
  } else if (json.is_array() && !json.empty() &&
             std::all_of(json.begin(), json.end(),
                         [](const ordered_json& call) { return is_call(call, "arguments"); })) {
    for (const auto& call : json)
      calls.emplace_back(call["name"].get<std::string>(), call["arguments"].dump());
  }
  state_ = State::kContent;
  if (calls.empty()) {
    answer_started_ = true;
    add_content(prefix_ + call_text_, out);
  } else {
    for (auto& [name, arguments] : calls) add_call(std::move(name), std::move(arguments), out);
  }
  prefix_.clear();
  call_text_.clear();
}

OutputDelta OutputParser::finish() {
  OutputDelta out;
  if (state_ == State::kJsonCalls) {
    add_content(prefix_ + call_text_, out);
  } else {
    if (state_ == State::kContent && n_calls_ == 0) add_content(prefix_, out);
    route(held_, out);
    if (state_ == State::kToolCall) add_content(std::string(kCallOpen) + call_text_, out);
  }
  held_.clear();
  prefix_.clear();
  call_text_.clear();
  state_ = State::kContent;
  if (n_calls_ == 0) out.content += space_;
  space_.clear();
  return out;
}

void OutputParser::route(std::string_view text, OutputDelta& out) {
  switch (state_) {
    case State::kContent:
      add_content(text, out);
      break;
    case State::kReasoning:
      out.reasoning.append(text);
      break;
    case State::kToolCall:
    case State::kJsonCalls:
      call_text_.append(text);
      break;
  }
}

void OutputParser::add_content(std::string_view text, OutputDelta& out) {
  if (options_.tool_calls == ToolCallFormat::None) return (void)out.content.append(text);
  size_t end = text.size();
  while (end > 0 && is_space(text[end - 1])) --end;
  if (end > 0) {
    size_t begin = 0;
    if (drop_space_) {
      while (is_space(text[begin])) ++begin;
    } else {
      out.content += space_;
    }
    out.content.append(text.substr(begin, end - begin));
    space_.clear();
    drop_space_ = false;
  }
  space_.append(text.substr(end));
}

void OutputParser::add_call(std::string name, std::string arguments, OutputDelta& out) {
  const std::string seed = options_.id_prefix + "_" + std::to_string(n_calls_++);
  std::string id =
      options_.tool_calls == ToolCallFormat::MistralJson ? alphanumeric_id(seed) : "call_" + seed;
  out.tool_calls.push_back({std::move(id), std::move(name), std::move(arguments)});
  space_.clear();
  drop_space_ = true;
}

void OutputParser::close_tool_call(OutputDelta& out) {
  const ordered_json json = parse_call_json(call_text_);
  if (is_call(json, "arguments")) {
    add_call(json["name"].get<std::string>(), json["arguments"].dump(), out);
  } else {
    add_content(std::string(kCallOpen) + call_text_ + std::string(kCallClose), out);
  }
  call_text_.clear();
}

}  // namespace gengyun::chat
