// OutputParser over recorded answers: the same reasoning, content and tool calls whether the
// text arrives whole, split at any byte, or a byte at a time.
#include "chat/output_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gengyun::chat {
namespace {

struct Parsed {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> calls;
};

void add(Parsed& p, const OutputDelta& d) {
  p.reasoning += d.reasoning;
  p.content += d.content;
  p.calls.insert(p.calls.end(), d.tool_calls.begin(), d.tool_calls.end());
}

Parsed parse_chunks(const OutputParser::Options& options, const std::vector<std::string>& chunks) {
  OutputParser parser(options);
  Parsed p;
  for (const std::string& c : chunks) add(p, parser.feed(c));
  add(p, parser.finish());
  return p;
}

// `text` parsed whole, split in two at every byte, and a byte at a time: all must agree.
Parsed parse_everywhere(const OutputParser::Options& options, const std::string& text) {
  const Parsed whole = parse_chunks(options, {text});
  auto same = [&](const Parsed& p, const std::string& how) {
    EXPECT_EQ(p.reasoning, whole.reasoning) << how;
    EXPECT_EQ(p.content, whole.content) << how;
    ASSERT_EQ(p.calls.size(), whole.calls.size()) << how;
    for (size_t i = 0; i < p.calls.size(); ++i) {
      EXPECT_EQ(p.calls[i].id, whole.calls[i].id) << how;
      EXPECT_EQ(p.calls[i].name, whole.calls[i].name) << how;
      EXPECT_EQ(p.calls[i].arguments, whole.calls[i].arguments) << how;
    }
  };
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    same(parse_chunks(options, {text.substr(0, cut), text.substr(cut)}),
         "split at " + std::to_string(cut));
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  same(parse_chunks(options, bytes), "byte by byte");
  return whole;
}

OutputParser::Options all(std::string id = "r") {
  return {.reasoning = true, .starts_in_reasoning = false, .tool_calls = true, .id_prefix = id};
}

TEST(OutputParser, ReasoningApartFromContent) {
  Parsed p = parse_everywhere(all(), "<think>\nplan it\n</think>\n\nThe answer.");
  EXPECT_EQ(p.reasoning, "\nplan it\n");
  EXPECT_EQ(p.content, "\n\nThe answer.");
  EXPECT_TRUE(p.calls.empty());
  auto opened = all();
  opened.starts_in_reasoning = true;  // the prompt ended with "<think>\n"
  p = parse_everywhere(opened, "plan</think>Answer");
  EXPECT_EQ(p.reasoning, "plan");
  EXPECT_EQ(p.content, "Answer");
}

TEST(OutputParser, ToolCallsInQwenFormat) {
  const Parsed p = parse_everywhere(
      all("chatcmpl-1"),
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Hangzhou\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"time\", "
      "\"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(p.content, "Let me check.\n\n");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].id, "call_chatcmpl-1_0");
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"city":"Hangzhou","unit":"celsius"})");
  EXPECT_EQ(p.calls[1].id, "call_chatcmpl-1_1");
  EXPECT_EQ(p.calls[1].name, "time");
  EXPECT_EQ(p.calls[1].arguments, "{}");
}

TEST(OutputParser, MalformedToolCallsComeBackAsText) {
  for (const std::string& text : std::vector<std::string>{
           "<tool_call>{\"name\": 1, \"arguments\": {}}</tool_call>",
           "<tool_call>{\"name\": \"f\", \"arguments\": \"x\"}</tool_call>",
           "<tool_call>not json</tool_call>", "a <tool_call>{\"name\": \"f\"",
           "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": " + std::string(100, '[') +
               std::string(100, ']') + "}}</tool_call>"}) {
    const Parsed p = parse_everywhere(all(), text);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty()) << text;
  }
}

TEST(OutputParser, TagsThatAreNotAskedForOrNotTagsStayContent) {
  EXPECT_EQ(parse_everywhere({}, "<think>x</think><tool_call>{}</tool_call>").content,
            "<think>x</think><tool_call>{}</tool_call>");
  EXPECT_EQ(parse_everywhere(all(), "a <thin").content, "a <thin");
  EXPECT_EQ(parse_everywhere(all(), "1 < 2 and <tool> </think").content,
            "1 < 2 and <tool> </think");
  // Text is held back only while it could still be a tag.
  OutputParser parser(all());
  EXPECT_EQ(parser.feed("a<").content, "a");
  EXPECT_EQ(parser.feed("b").content, "<b");
  EXPECT_EQ(parser.feed("<think").content, "");
  EXPECT_EQ(parser.feed(">r").reasoning, "r");
  EXPECT_TRUE(parser.finish().empty());
}

}  // namespace
}  // namespace gengyun::chat
