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

// Arguments keep the model's text apart from whitespace outside strings: escapes, numbers
// and repeated keys as written (they are the same JSON value); of repeated "arguments" members
// the last, as a JSON parser keeps.
TEST(OutputParser, ArgumentsAreTheModelsJsonCompacted) {
  const Parsed p = parse_everywhere(
      all(),
      "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}, \"arguments\": { \"s\" : "
      "\"\\u00e9 \\/ \\\"q\\\" \" , \"n\": [ 1.50e2 , -0 ], \"k\": 1, \"k\": 2 }}\n</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"s":"\u00e9 \/ \"q\" ","n":[1.50e2,-0],"k":1,"k":2})");
}

// Streamed arguments (Options::stream_arguments): the deltas as a client assembles them.
struct Assembled {
  std::string content;
  std::vector<ToolCall> calls;
  size_t pieces = 0;  // deltas that carried arguments
};

// Whether `s` is whole UTF-8 (no sequence cut or malformed).
bool whole_utf8_text(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

void assemble(Assembled& a, const OutputDelta& d) {
  a.content += d.content;
  for (const ToolCall& piece : d.tool_calls) {
    EXPECT_TRUE(whole_utf8_text(piece.arguments)) << piece.arguments;
    if (!piece.arguments.empty()) ++a.pieces;
    if (!piece.id.empty()) {
      EXPECT_EQ(piece.index, a.calls.size()) << "a call opens with the next index";
      a.calls.push_back(piece);
    } else if (piece.index < a.calls.size()) {
      EXPECT_TRUE(piece.name.empty());
      a.calls[piece.index].arguments += piece.arguments;
    } else {
      ADD_FAILURE() << "arguments of call " << piece.index << " before it opened";
    }
  }
}

Assembled stream_chunks(const OutputParser::Options& options,
                        const std::vector<std::string>& chunks) {
  OutputParser parser(options);
  Assembled a;
  for (const std::string& c : chunks) assemble(a, parser.feed(c));
  assemble(a, parser.finish());
  return a;
}

// `text` streamed with stream_arguments, whole, cut in two at every byte, in three at every
// pair of bytes and a byte at a time: the assembled calls and content are `calls` and
// `content`, as without stream_arguments; `in_pieces`: the calls' arguments came in pieces.
void expect_streamed(OutputParser::Options options, const std::string& text,
                     const std::vector<ToolCall>& calls, bool in_pieces = true,
                     const std::string& content = "") {
  options.stream_arguments = false;
  const Parsed whole = parse_chunks(options, {text});
  EXPECT_EQ(whole.content, content);
  ASSERT_EQ(whole.calls.size(), calls.size());
  options.stream_arguments = true;
  auto same = [&](const Assembled& a, const std::string& how) {
    EXPECT_EQ(a.content, content) << how;
    ASSERT_EQ(a.calls.size(), calls.size()) << how;
    for (size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(a.calls[i].id, calls[i].id) << how;
      EXPECT_EQ(a.calls[i].name, calls[i].name) << how;
      EXPECT_EQ(a.calls[i].arguments, calls[i].arguments) << how;
      EXPECT_EQ(whole.calls[i].arguments, calls[i].arguments) << "not streamed";
    }
  };
  same(stream_chunks(options, {text}), "whole");
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    same(stream_chunks(options, {text.substr(0, cut), text.substr(cut)}),
         "cut at " + std::to_string(cut));
    for (size_t cut2 = cut; cut2 <= text.size(); ++cut2)
      same(stream_chunks(options,
                         {text.substr(0, cut), text.substr(cut, cut2 - cut), text.substr(cut2)}),
           "cut at " + std::to_string(cut) + " and " + std::to_string(cut2));
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  const Assembled by_byte = stream_chunks(options, bytes);
  same(by_byte, "byte by byte");
  if (in_pieces) {
    EXPECT_GT(by_byte.pieces, calls.size()) << text;
  } else {
    EXPECT_EQ(by_byte.pieces, calls.size()) << text;
  }
}

TEST(OutputParser, StreamedArgumentsConcatenateToTheWholeArguments) {
  // Hermes (Qwen): a multi-byte name-free argument, escapes, a closing tag inside a string.
  expect_streamed(all("x"),
                  "<think>\nok\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
                  "\"arguments\": {\"city\": \"\xE6\x9D\xAD\xE5\xB7\x9E \xF0\x9F\x8C\xA7\", "
                  "\"q\": \"a\\\"</tool_call>\\\\\", \"days\": [1, 2.5e1]}}\n</tool_call>\n"
                  "<tool_call>\n{\"name\": \"time\", \"arguments\": {}}\n</tool_call>",
                  {{"call_x_0", "get_weather",
                    "{\"city\":\"\xE6\x9D\xAD\xE5\xB7\x9E \xF0\x9F\x8C\xA7\","
                    "\"q\":\"a\\\"</tool_call>\\\\\",\"days\":[1,2.5e1]}"},
                   {"call_x_1", "time", "{}"}});
  // Llama 3.x: "parameters", two calls separated by "; ".
  expect_streamed(format(ToolCallFormat::Llama3Json),
                  "{\"name\": \"a\", \"parameters\": {\"q\": \"}{\"}}; {\"name\": \"b\", "
                  "\"arguments\": { \"n\" : 1 }}",
                  {{"call_r_0", "a", R"({"q":"}{"})"}, {"call_r_1", "b", R"({"n":1})"}});
  // Mistral: a list of calls, a member after the arguments.
  OutputParser parser(format(ToolCallFormat::MistralJson));
  const OutputDelta ids =
      parser.feed("[{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {}}]");
  ASSERT_EQ(ids.tool_calls.size(), 2u);
  expect_streamed(format(ToolCallFormat::MistralJson),
                  "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": [{\"b\": null}]}, "
                  "\"id\": \"a1b2c3d4e\"}, {\"name\": \"g\", \"arguments\": {\"c\": true}}]",
                  {{ids.tool_calls[0].id, "f", R"({"a":[{"b":null}]})"},
                   {ids.tool_calls[1].id, "g", R"({"c":true})"}});
}

// The deltas as the text comes: the name once the arguments' "{" is read, then the arguments
// as written (whitespace outside strings dropped, a cut UTF-8 character held).
TEST(OutputParser, ArgumentsStreamAsTheyAreWritten) {
  auto options = all();
  options.stream_arguments = true;
  OutputParser parser(options);
  EXPECT_TRUE(parser.feed("<tool_call>\n{\"name\": \"get_weather\", ").empty());
  EXPECT_TRUE(parser.feed("\"arguments\": ").empty());
  OutputDelta d = parser.feed("{ \"city\": \"Hang");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].id, "call_r_0");
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(d.tool_calls[0].arguments, "{\"city\":\"Hang");
  EXPECT_EQ(d.tool_calls[0].index, 0u);
  d = parser.feed("zhou \",\n \"note\": \"\xE6\x9D");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].id, "");
  EXPECT_EQ(d.tool_calls[0].name, "");
  EXPECT_EQ(d.tool_calls[0].arguments, "zhou \",\"note\":\"");
  EXPECT_EQ(d.tool_calls[0].index, 0u);
  d = parser.feed("\xAD\\u00e9\"} ");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].arguments, "\xE6\x9D\xAD\\u00e9\"}");
  EXPECT_TRUE(parser.feed("}\n</tool").empty());
  EXPECT_TRUE(parser.feed("_call>\n").empty());
  d = parser.feed("Done.");
  EXPECT_EQ(d.content, "Done.");
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_TRUE(parser.finish().empty());
}

// Under the grammar a call that began is a call: cut short (max_tokens), it stays one with the
// arguments written so far (a cut UTF-8 character left out), as OpenAI's API answers a length
// cut; without stream_arguments an unclosed call is text, as before.
TEST(OutputParser, AStreamedCallCutShortStaysACall) {
  const std::string cut = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, \"\xE6\x9D";
  auto options = all();
  options.stream_arguments = true;
  Assembled a = stream_chunks(options, {cut});
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].name, "f");
  EXPECT_EQ(a.calls[0].arguments, "{\"a\":[1,\"");
  EXPECT_EQ(a.content, "");
  // Cut inside the closing tag or after the call's object: the whole call, no text.
  for (const std::string& text :
       {std::string("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_c"),
        std::string("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}")}) {
    a = stream_chunks(options, {text});
    ASSERT_EQ(a.calls.size(), 1u) << text;
    EXPECT_EQ(a.calls[0].arguments, "{\"a\":1}");
    EXPECT_EQ(a.content, "");
  }
  const Parsed free = parse_everywhere(all(), cut);
  EXPECT_TRUE(free.calls.empty());
  EXPECT_EQ(free.content, cut);
  // Llama 3.x cut inside its second call: the first whole, the second as far as written.
  auto llama = format(ToolCallFormat::Llama3Json);
  llama.stream_arguments = true;
  a = stream_chunks(
      llama, {"{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\""});
  ASSERT_EQ(a.calls.size(), 2u);
  EXPECT_EQ(a.calls[0].arguments, "{}");
  EXPECT_EQ(a.calls[1].arguments, "{\"x\"");
}

// Cut at any byte (finish(true): max_tokens, a stop string), a call's markup is never content:
// nothing of it until its name is whole, then the call with its arguments as far as written,
// with and without stream_arguments. Text before it is content, the space before the call
// dropped once the call began.
TEST(OutputParser, ACallCutAnywhereIsNeverContent) {
  const std::string text =
      "Hi <tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": [1, \"b c\"]}}\n</tool_call>";
  const size_t named = text.find("\"add\"") + 5;
  const size_t arguments = text.find("{\"a\"");
  const size_t arguments_end = text.find("]}") + 2;
  const std::string compact = "{\"a\":[1,\"b c\"]}";
  for (const bool stream_arguments : {false, true}) {
    auto options = all();
    options.stream_arguments = stream_arguments;
    for (size_t n = 0; n <= text.size(); ++n) {
      const std::string how = text.substr(0, n) + (stream_arguments ? " (streamed)" : "");
      OutputParser parser(options);
      Assembled a;
      assemble(a, parser.feed(text.substr(0, n)));
      assemble(a, parser.finish(/*cut=*/true));
      EXPECT_EQ(a.content, n <= 3 ? text.substr(0, n) : "Hi") << how;
      if (n < named) {
        EXPECT_TRUE(a.calls.empty()) << how;
        continue;
      }
      ASSERT_EQ(a.calls.size(), 1u) << how;
      EXPECT_EQ(a.calls[0].name, "add") << how;
      // The compact arguments as far as written: whitespace outside strings is all after ':'
      // and ',' here, so the written part compacts to a prefix of the whole.
      std::string written;
      if (n > arguments) written = text.substr(arguments, std::min(n, arguments_end) - arguments);
      size_t spaces_outside = 0;
      for (size_t i = 0; i < written.size(); ++i)
        if (written[i] == ' ' && (written[i - 1] == ':' || written[i - 1] == ',')) ++spaces_outside;
      EXPECT_EQ(a.calls[0].arguments, compact.substr(0, written.size() - spaces_outside)) << how;
    }
  }
}

// A call whose beginning is not in the grammar's form is not streamed: it comes whole when it
// closes, or as text when it is not a call, as without stream_arguments.
TEST(OutputParser, CallsNotInTheGrammarsFormComeWhole) {
  auto options = all();
  options.stream_arguments = true;
  OutputParser parser(options);
  EXPECT_TRUE(parser.feed("<tool_call>{\"arguments\": {\"a\": 1}, ").empty());
  const OutputDelta d = parser.feed("\"name\": \"f\"}</tool_call>");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "f");
  EXPECT_EQ(d.tool_calls[0].arguments, "{\"a\":1}");
  expect_streamed(options,
                  "<tool_call>{\"name\": \"f\\u0031\", \"arguments\": {\"a\": 1}}</tool_call>",
                  {{"call_r_0", "f1", "{\"a\":1}"}}, /*in_pieces=*/false);
}

}  // namespace
}  // namespace gengyun::chat
