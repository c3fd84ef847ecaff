#include "chat/output_parser.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <utility>

#include "chat/chat_syntax.h"
#include "util/ordered_json.h"
#include "util/strict_json.h"

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

// Tool call JSON deeper than this is taken as malformed (printing it back would recurse).
constexpr size_t kMaxCallNesting = 64;

// `text` parsed as JSON; discarded when it does not parse or nests too deep.
ordered_json parse_call_json(std::string_view text) {
  if (json_nesting_depth(text) > kMaxCallNesting)
    return ordered_json(ordered_json::value_t::discarded);
  return parse_ordered_json(text);
}

// Whether `call` is {"name": string, <arguments_key>: object, ...}.
bool is_call(const ordered_json& call, const char* arguments_key) {
  return call.is_object() && call.contains("name") && call["name"].is_string() &&
         call.contains(arguments_key) && call[arguments_key].is_object();
}

// The end of the JSON value that starts at text[i] (`text` is valid JSON): one past it.
size_t value_end(std::string_view text, size_t i) {
  size_t depth = 0;
  bool in_string = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (depth == 0 && (c == '}' || c == ']' || c == ',' || is_space(c))) {
      return i;  // the end of a number or literal
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return i;
}

size_t skip_space(std::string_view text, size_t i) {
  while (i < text.size() && is_space(text[i])) ++i;
  return i;
}

// The text of each item of the JSON array, or of each member's value of the JSON object, in
// `text` (valid JSON, whitespace around it allowed), with the members' keys as parsed.
std::vector<std::pair<std::string, std::string_view>> json_items(std::string_view text) {
  std::vector<std::pair<std::string, std::string_view>> items;
  size_t i = skip_space(text, 0);
  const bool object = i < text.size() && text[i] == '{';
  i = skip_space(text, i + 1);
  while (i < text.size() && text[i] != '}' && text[i] != ']') {
    std::string key;
    if (object) {
      const size_t key_end = value_end(text, i);
      const std::string_view quoted = text.substr(i, key_end - i);
      key = quoted.find('\\') == std::string_view::npos
                ? std::string(quoted.substr(1, quoted.size() - 2))
                : ordered_json::parse(quoted).get<std::string>();
      i = skip_space(text, skip_space(text, key_end) + 1);  // past the ':'
    }
    const size_t end = value_end(text, i);
    items.emplace_back(std::move(key), text.substr(i, end - i));
    i = skip_space(text, end);
    if (i < text.size() && text[i] == ',') i = skip_space(text, i + 1);
  }
  return items;
}

// The text of the last member `key` of the JSON object in `text` (valid JSON holding one; the
// last, as nlohmann's parser keeps the last of equal keys).
std::string_view member_text(std::string_view text, std::string_view key) {
  std::string_view found;
  for (const auto& [k, value] : json_items(text))
    if (k == key) found = value;
  return found;
}


// How far a streamed call's beginning matches the form the tool-call grammar writes,
// `{"name": "<name>", "<key>": {` with JSON whitespace between the tokens and one of `keys`.
enum class Head { kMore, kNo, kYes };

// Heads longer than this are not streamed (a function name has at most 64 bytes).
constexpr size_t kMaxHeadBytes = 1024;

// `text` against that form: kYes once it ends with the arguments' `{`. `name` is set as soon as
// the name's closing quote is read (also with kMore: a cut call's name).
Head match_head(std::string_view text, std::span<const std::string_view> keys,
                std::optional<std::string>& name) {
  size_t i = 0;
  // Matches `token` at i after whitespace.
  auto token = [&](std::string_view t) {
    i = skip_space(text, i);
    const std::string_view rest = text.substr(i, t.size());
    if (!t.starts_with(rest)) return Head::kNo;
    if (rest.size() < t.size()) return Head::kMore;
    i += t.size();
    return Head::kYes;
  };
  for (const std::string_view t : {"{", "\"name\"", ":", "\""}) {
    if (const Head h = token(t); h != Head::kYes) return h;
  }
  size_t end = i;
  while (end < text.size() && text[end] != '"') {
    if (text[end] == '\\' || static_cast<unsigned char>(text[end]) < 0x20) return Head::kNo;
    ++end;
  }
  if (end == text.size()) return Head::kMore;
  name = std::string(text.substr(i, end - i));
  i = end + 1;
  if (const Head h = token(","); h != Head::kYes) return h;
  Head best = Head::kNo;
  for (const std::string_view key : keys) {
    const size_t at = i;
    const Head h = token("\"" + std::string(key) + "\"");
    if (h == Head::kYes) {
      best = h;
      break;
    }
    if (h == Head::kMore) best = h;
    i = at;
  }
  if (best != Head::kYes) return best;
  for (const std::string_view t : {":", "{"}) {
    if (const Head h = token(t); h != Head::kYes) return h;
  }
  return Head::kYes;
}

// `head` against the form the grammar writes for `format`'s calls (kNo past kMaxHeadBytes).
Head match_format_head(ToolCallFormat format, std::string_view head,
                       std::optional<std::string>& name) {
  if (head.size() > kMaxHeadBytes) return Head::kNo;
  const std::string_view key = tool_call_writing(format).arguments_key;
  const std::string_view keys[] = {key, "arguments"};
  return match_head(head, std::span(keys, key == "arguments" ? 1 : 2), name);
}

// The length of the part of `text` that ends on a whole UTF-8 character (a lead byte whose
// sequence is cut at the end is left out, with what follows it).
size_t whole_utf8(std::string_view text) {
  for (size_t back = 1; back <= std::min<size_t>(3, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;
    const size_t length = (c & 0xE0) == 0xC0   ? 2
                          : (c & 0xF0) == 0xE0 ? 3
                          : (c & 0xF8) == 0xF0 ? 4
                                               : 1;
    return length > back ? text.size() - back : text.size();
  }
  return text.size();
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
  fed_ += text.size();
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
    start_region();
  }
  return true;
}

bool OutputParser::JsonStrings::step(char c) {
  if (in_string) {
    if (escaped)
      escaped = false;
    else if (c == '\\')
      escaped = true;
    else if (c == '"')
      in_string = false;
    return true;
  }
  if (c != '"') return false;
  in_string = true;
  return true;
}

std::string OutputParser::compact_json(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  JsonStrings strings;
  for (const char c : text)
    if (strings.step(c) || !is_space(c)) out += c;
  return out;
}

bool OutputParser::scan_tool_call(OutputDelta& out) {
  size_t i = 0;
  while (i < held_.size()) {
    const char c = held_[i];
    if (!strings_.step(c) && c == kCallClose.front()) {
      const std::string_view rest = std::string_view(held_).substr(i);
      if (rest.starts_with(kCallClose)) {
        call_text_.append(held_, 0, i);
        stream_region(std::string_view(held_).substr(0, i), out);
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
  stream_region(std::string_view(held_).substr(0, i), out);
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
    json_depth_ = 0;
    start_region();
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
    if (strings_.step(c)) continue;
    if (c == '{' || c == '[') {
      ++json_depth_;
    } else if (c == '}' || c == ']') {
      closed = --json_depth_ == 0;
    }
  }
  call_text_.append(held_, 0, i);
  stream_region(std::string_view(held_).substr(0, i), out);
  held_.erase(0, i);
  if (closed) close_json_calls(out);
  return closed;
}

void OutputParser::close_json_calls(OutputDelta& out) {
  if (region_calls_ > 0) {
    end_streamed_region(out);
    state_ = State::kContent;
    prefix_.clear();
    call_text_.clear();
    return;
  }
  const ordered_json json = parse_call_json(call_text_);
  std::vector<std::pair<std::string, std::string>> calls;  // (name, arguments)
  if (options_.tool_calls == ToolCallFormat::Llama3Json) {
    const std::string key0(tool_call_writing(ToolCallFormat::Llama3Json).arguments_key);
    for (const char* key : {key0.c_str(), "arguments"}) {
      if (calls.empty() && is_call(json, key))
        calls.emplace_back(json["name"].get<std::string>(),
                           compact_json(member_text(call_text_, key)));
    }
  } else if (json.is_array() && !json.empty() &&
             std::all_of(json.begin(), json.end(),
                         [](const ordered_json& call) { return is_call(call, "arguments"); })) {
    const auto items = json_items(call_text_);
    for (size_t i = 0; i < items.size(); ++i)
      calls.emplace_back(json[i]["name"].get<std::string>(),
                         compact_json(member_text(items[i].second, "arguments")));
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

OutputDelta OutputParser::finish(bool cut) {
  OutputDelta out;
  const bool in_call = state_ == State::kJsonCalls || state_ == State::kToolCall;
  if (cut && (in_call || holds_call_start())) {
    // The call's markup is never content, nor the whitespace before it (as before a whole call).
    if (in_call) end_cut_region(out);
    space_.clear();
    held_.clear();
    prefix_.clear();
    call_text_.clear();
    state_ = State::kContent;
    return out;
  }
  if (region_calls_ > 0 && in_call) {
    end_streamed_region(out);
  } else if (state_ == State::kJsonCalls) {
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

bool OutputParser::holds_call_start() const {
  if (state_ != State::kContent) return false;
  const bool held = !held_.empty();
  if (options_.tool_calls == ToolCallFormat::Hermes) return held && begins(held_, kCallOpen);
  if (!json_format() || answer_started_) return false;
  const std::string_view marker = tool_call_writing(options_.tool_calls).marker;
  return !marker.empty() &&
         ((held && begins(held_, marker)) || prefix_.find(marker) != std::string::npos);
}

void OutputParser::end_cut_region(OutputDelta& out) {
  if (!options_.stream_arguments) {
    // Nothing of the region was given out: read it now as it would have been streamed.
    phase_ = options_.tool_calls == ToolCallFormat::MistralJson ? Phase::kList : Phase::kHead;
    stream_region(call_text_, out);
  }
  std::optional<std::string> name;
  if (phase_ == Phase::kHead &&
      match_format_head(options_.tool_calls, head_, name) == Head::kMore && name) {
    // Cut in a call's head after its name: a call whose arguments were not begun.
    add_call(std::move(*name), "", out);
  }
  // A cut UTF-8 character cannot be sent: the call ends before it.
  pending_.clear();
  head_.clear();
  phase_ = Phase::kOff;
  region_calls_ = 0;
}

void OutputParser::route(std::string_view text, OutputDelta& out) {
  switch (state_) {
    case State::kContent:
      add_content(text, out);
      break;
    case State::kReasoning:  // (text is held_'s first bytes: where it stands follows)
      if (!text.empty())
        out.reasoning_spans.emplace_back(fed_ - held_.size(), fed_ - held_.size() + text.size());
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
  out.tool_calls.push_back(
      {std::move(id), std::move(name), std::move(arguments), static_cast<size_t>(n_calls_ - 1)});
  space_.clear();
  drop_space_ = true;
}

void OutputParser::close_tool_call(OutputDelta& out) {
  if (region_calls_ > 0) {
    end_streamed_region(out);
    call_text_.clear();
    return;
  }
  const ordered_json json = parse_call_json(call_text_);
  if (is_call(json, "arguments")) {
    add_call(json["name"].get<std::string>(), compact_json(member_text(call_text_, "arguments")),
             out);
  } else {
    add_content(std::string(kCallOpen) + call_text_ + std::string(kCallClose), out);
  }
  call_text_.clear();
}

void OutputParser::start_region() {
  call_text_.clear();
  strings_ = {};
  phase_ = !options_.stream_arguments                           ? Phase::kOff
           : options_.tool_calls == ToolCallFormat::MistralJson ? Phase::kList
                                                                : Phase::kHead;
  head_.clear();
  pending_.clear();
  region_calls_ = 0;
  closed_at_ = 0;
}

void OutputParser::stream_region(std::string_view text, OutputDelta& out) {
  const size_t base = call_text_.size() - text.size();
  for (size_t i = 0; i < text.size() && phase_ != Phase::kOff && phase_ != Phase::kDone; ++i) {
    const char c = text[i];
    switch (phase_) {
      case Phase::kList:
        if (c == '[') {
          phase_ = Phase::kHead;
        } else if (!is_space(c)) {
          phase_ = Phase::kOff;
        }
        break;
      case Phase::kHead: {
        head_ += c;
        std::optional<std::string> name;
        const Head head = match_format_head(options_.tool_calls, head_, name);
        if (head == Head::kNo) phase_ = Phase::kOff;
        if (head != Head::kYes) break;
        add_call(std::move(*name), "", out);
        ++region_calls_;
        head_.clear();
        pending_ = "{";
        stream_strings_ = {};
        stream_depth_ = 1;
        phase_ = Phase::kArguments;
        break;
      }
      case Phase::kArguments:
        if (stream_strings_.step(c)) {
          pending_ += c;
        } else if (!is_space(c)) {
          pending_ += c;
          if (c == '{' || c == '[') {
            ++stream_depth_;
          } else if ((c == '}' || c == ']') && --stream_depth_ == 0) {
            emit_arguments(out);
            stream_depth_ = 1;  // inside the call's object
            phase_ = Phase::kTail;
          }
        }
        break;
      case Phase::kTail:
        if (stream_strings_.step(c)) break;
        if (c == '{' || c == '[') {
          ++stream_depth_;
        } else if ((c == '}' || c == ']') && --stream_depth_ == 0) {
          closed_at_ = base + i + 1;
          phase_ =
              options_.tool_calls == ToolCallFormat::MistralJson ? Phase::kBetween : Phase::kDone;
        }
        break;
      case Phase::kBetween:
        if (c == ',') {
          phase_ = Phase::kHead;
        } else if (c == ']') {
          closed_at_ = base + i + 1;
          phase_ = Phase::kDone;
        } else if (!is_space(c)) {
          phase_ = Phase::kOff;
        }
        break;
      case Phase::kDone:
      case Phase::kOff:
        break;
    }
  }
  if (phase_ == Phase::kArguments) emit_arguments(out);
}

void OutputParser::emit_arguments(OutputDelta& out) {
  const size_t n = whole_utf8(pending_);
  if (n == 0) return;
  const size_t index = static_cast<size_t>(n_calls_ - 1);
  if (out.tool_calls.empty() || out.tool_calls.back().index != index)
    out.tool_calls.push_back({"", "", "", index});
  out.tool_calls.back().arguments.append(pending_, 0, n);
  pending_.erase(0, n);
}

void OutputParser::end_streamed_region(OutputDelta& out) {
  // A cut UTF-8 character cannot be sent: the call ends before it.
  pending_.clear();
  if (phase_ != Phase::kArguments && phase_ != Phase::kTail && phase_ != Phase::kDone) {
    add_content(std::string_view(call_text_).substr(closed_at_), out);
  }
  phase_ = Phase::kOff;
  region_calls_ = 0;
}

}  // namespace gengyun::chat
