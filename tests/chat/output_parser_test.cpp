// OutputParser over recorded answers: the same reasoning, content and tool calls whether the
// text arrives whole, split at any byte, or a byte at a time.
#include "chat/output_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
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
  return {.reasoning = true,
          .starts_in_reasoning = false,
          .tool_calls = ToolCallFormat::Hermes,
          .id_prefix = id};
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
  EXPECT_EQ(p.content, "Let me check.");  // the whitespace around the calls dropped
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

OutputParser::Options format(ToolCallFormat f, bool reasoning = false) {
  return {.reasoning = reasoning, .starts_in_reasoning = false, .tool_calls = f, .id_prefix = "r"};
}

// Whether `id` is 9 letters and digits (what Mistral's templates accept back).
bool mistral_id(const std::string& id) {
  return id.size() == 9 &&
         std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(c) != 0; });
}

TEST(OutputParser, QwenThinksThenCalls) {
  // Qwen3 with tools: reasoning, then a call, then the end of the turn.
  const Parsed p = parse_everywhere(
      all("x"),
      "<think>\nThe user wants the weather; call get_weather.\n</think>\n\n<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"\u676d\u5dde\"}}\n"
      "</tool_call>\n");
  EXPECT_EQ(p.reasoning, "\nThe user wants the weather; call get_weather.\n");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{\"location\":\"\u676d\u5dde\"}");
  // Content after a call keeps its text, not the whitespace that separated it from the call.
  const Parsed after = parse_everywhere(
      all(), "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n\nDone. \n");
  EXPECT_EQ(after.content, "Done.");
  // Without calls nothing is dropped.
  EXPECT_EQ(parse_everywhere(all(), "\n Plain answer.\n\n").content, "\n Plain answer.\n\n");
}

TEST(OutputParser, Llama3JsonCalls) {
  const auto llama = format(ToolCallFormat::Llama3Json);
  Parsed p = parse_everywhere(
      llama, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].id, "call_r_0");
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"city":"Paris","days":2})");
  // The python tag's text (when a vocabulary renders it), "arguments" and calls separated by
  // ";" (Llama 3.2).
  p = parse_everywhere(llama,
                       "<|python_tag|>{\"name\": \"a\", \"arguments\": {\"q\": \"}{\\\"\"}}; "
                       "{\"name\": \"b\", \"parameters\": {}}\n");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].arguments, R"({"q":"}{\""})");
  EXPECT_EQ(p.calls[1].id, "call_r_1");
  EXPECT_EQ(p.calls[1].name, "b");
  // Answers that are not calls stay content, whole.
  for (const std::string& text : std::vector<std::string>{
           "The answer is {\"name\": \"f\", \"parameters\": {}}", "{\"answer\": 42}",
           "  {\"name\": \"f\", \"parameters\": [1]} and more", "{\"name\": \"f\", \"parame",
           "{not json}", "<|python_tag|>brave_search.call(query=\"x\")", "<|pyth", " <b>bold</b>"}) {
    p = parse_everywhere(llama, text);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty()) << text;
  }
  // Text after a call is content.
  p = parse_everywhere(llama, "{\"name\": \"f\", \"parameters\": {}}\nThat is all.");
  EXPECT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.content, "That is all.");
}

TEST(OutputParser, MistralCalls) {
  const auto mistral = format(ToolCallFormat::MistralJson);
  // [TOOL_CALLS] is a control token: its text is usually absent from the answer.
  for (const std::string marker : {"[TOOL_CALLS]", ""}) {
    const Parsed p = parse_everywhere(
        mistral, marker +
                     "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, "
                     "\"id\": \"a1b2c3d4e\"}, {\"name\": \"time\", \"arguments\": {}}]");
    EXPECT_EQ(p.content, "");
    ASSERT_EQ(p.calls.size(), 2u) << marker;
    EXPECT_EQ(p.calls[0].name, "get_weather");
    EXPECT_EQ(p.calls[0].arguments, R"({"city":"Paris"})");
    EXPECT_EQ(p.calls[1].name, "time");
    EXPECT_TRUE(mistral_id(p.calls[0].id)) << p.calls[0].id;
    EXPECT_TRUE(mistral_id(p.calls[1].id)) << p.calls[1].id;
    EXPECT_NE(p.calls[0].id, p.calls[1].id);
  }
  for (const std::string& text : std::vector<std::string>{
           "[1, 2, 3] are numbers", "[TOOL_CALLS][{\"name\": \"f\"}]", "[]", "[TOOL_CALLS]",
           "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, 7]", "[TOOL", "Hi [{\"x\": 1}]"}) {
    const Parsed p = parse_everywhere(mistral, text);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty()) << text;
  }
}

TEST(OutputParser, JsonFormatsAfterReasoning) {
  const Parsed p = parse_everywhere(format(ToolCallFormat::Llama3Json, /*reasoning=*/true),
                                    "<think>hmm</think>\n{\"name\": \"f\", \"parameters\": {}}");
  EXPECT_EQ(p.reasoning, "hmm");
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(p.calls.size(), 1u);
}

}  // namespace
}  // namespace gengyun::chat
