// The grammar of tool calls (compile_tool_calls): which answers each tool_choice allows, for
// the three ways families write calls; the text automata (text without a tag, text up to a tag)
// against a direct check over every short string; schema errors with their place.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "sampling/json_schema.h"
#include "sampling/string_enumeration.h"

namespace gengyun::sampling {
namespace {

using testing::for_each_string;

using Json = nlohmann::ordered_json;

const char* kWeather = R"({"type": "object", "properties": {"city": {"type": "string"},
    "unit": {"enum": ["c", "f"]}}, "required": ["city"], "additionalProperties": false})";

ToolCallGrammarSpec hermes(int max_calls) {
  ToolCallGrammarSpec spec;
  spec.tools = {{"get_weather", Json::parse(kWeather), "tools[0].function.parameters"},
                {"get_time", Json(), "tools[1].function.parameters"}};
  spec.call_open = "<tool_call>";
  spec.call_close = "</tool_call>";
  spec.padding = "\n";
  spec.separator = "\n";
  spec.max_calls = max_calls;
  return spec;
}

std::shared_ptr<const Grammar> compile(const ToolCallGrammarSpec& spec) {
  Result<std::shared_ptr<const Grammar>> g = compile_tool_calls(spec);
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.error().message);
  return g.ok() ? g.value() : nullptr;
}

const std::string kParis =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
const std::string kTime = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";

TEST(ToolCallGrammar, RequiredAllowsOnlyCallsOfTheTools) {
  const auto g = compile(hermes(0));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->accepts(kParis));
  EXPECT_TRUE(g->accepts(kTime));
  EXPECT_TRUE(g->accepts(kParis + "\n" + kTime + "\n" + kParis));
  EXPECT_TRUE(g->accepts(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": "
      "\"c\"}}\n</tool_call>"));
  // get_time's parameters are absent: any object.
  EXPECT_TRUE(g->accepts(
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": [1, {\"a\": null}]}}\n"
      "</tool_call>"));
  EXPECT_FALSE(g->accepts(""));
  EXPECT_FALSE(g->accepts("<tool_call>\n{\"name\": \"get_time\", \"arguments\": 5}\n</tool_call>"));
  EXPECT_FALSE(g->accepts("Sure. " + kParis));
  EXPECT_FALSE(g->accepts(kParis + " Done."));
  EXPECT_FALSE(g->accepts(
      "<tool_call>\n{\"name\": \"get_wind\", \"arguments\": {}}\n</tool_call>"));  // no such tool
  EXPECT_FALSE(g->accepts(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));  // required
  EXPECT_FALSE(g->accepts(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": 7}}\n</tool_call>"));
  EXPECT_FALSE(g->accepts(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"a\", \"unit\": "
      "\"k\"}}\n</tool_call>"));
  EXPECT_FALSE(g->accepts(kParis.substr(0, kParis.size() - 1)));  // unclosed
}

// Parameters {} are a function without parameters, as OpenAI reads them: any object, not any
// value (a schema {} alone allows any value).
TEST(ToolCallGrammar, EmptyParametersAllowAnyObject) {
  ToolCallGrammarSpec spec = hermes(1);
  spec.tools[1].parameters = Json::object();
  const auto g = compile(spec);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->accepts(kTime));
  EXPECT_TRUE(g->accepts(
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": 1}}\n</tool_call>"));
  for (const char* arguments : {"5", "[]", "\"x\"", "null"})
    EXPECT_FALSE(g->accepts("<tool_call>\n{\"name\": \"get_time\", \"arguments\": " +
                            std::string(arguments) + "}\n</tool_call>"))
        << arguments;
}

TEST(ToolCallGrammar, MaxCallsBoundsTheCalls) {
  const auto one = compile(hermes(1));
  const auto two = compile(hermes(2));
  ASSERT_TRUE(one && two);
  EXPECT_TRUE(one->accepts(kParis));
  EXPECT_FALSE(one->accepts(kParis + "\n" + kTime));
  EXPECT_TRUE(two->accepts(kParis + "\n" + kTime));
  EXPECT_FALSE(two->accepts(kParis + "\n" + kTime + "\n" + kTime));
}

TEST(ToolCallGrammar, TextBeforeAllowsTextWithoutTheTagThenCalls) {
  ToolCallGrammarSpec spec = hermes(1);
  spec.text = ToolCallGrammarSpec::Text::Before;
  const auto g = compile(spec);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->accepts(""));
  EXPECT_TRUE(g->accepts("It is sunny. <tool_call and <tool_cal> are text"));
  EXPECT_TRUE(g->accepts(kParis));
  EXPECT_TRUE(g->accepts("Let me look. " + kParis));
  EXPECT_TRUE(g->accepts("<tool_cal" + kParis));
  EXPECT_FALSE(g->accepts(kParis + "\n" + kTime));  // one call at most
  EXPECT_FALSE(g->accepts(kParis + " more text"));
  EXPECT_FALSE(g->accepts("<tool_call> is not a call"));
}

// The text automaton against a direct search, with a tag whose prefixes overlap its suffixes
// ("aab": after "aa", another "a" keeps "aa" matched).
TEST(ToolCallGrammar, TextWithoutATagIsExactlyTheStringsThatDoNotHoldIt) {
  for (const std::string tag : {"aab", "abab", "aaa"}) {
    ToolCallGrammarSpec spec = hermes(1);
    spec.call_open = tag;
    spec.text = ToolCallGrammarSpec::Text::Before;
    const auto g = compile(spec);
    ASSERT_TRUE(g);
    int mismatches = 0;
    for_each_string("abc", 8, [&](const std::string& s) {
      const bool expected = s.find(tag) == std::string::npos;
      if (g->accepts(s) != expected && mismatches++ < 5)
        ADD_FAILURE() << tag << " on " << s << ": expected " << expected;
    });
  }
}

TEST(ToolCallGrammar, ReasoningEndsAtTheFirstClosingTag) {
  for (const std::string tag : {"aab", "abab"}) {
    ToolCallGrammarSpec spec = hermes(1);
    spec.reasoning_open = "<think>";
    spec.reasoning_close = tag;
    spec.reasoning_required = true;
    const auto g = compile(spec);
    ASSERT_TRUE(g);
    int mismatches = 0;
    for_each_string("abc", 8, [&](const std::string& s) {
      const size_t at = s.find(tag);
      const bool expected = at != std::string::npos && at + tag.size() == s.size();
      if (g->accepts(s + "\n\n" + kTime) != expected && mismatches++ < 5)
        ADD_FAILURE() << tag << " on " << s << ": expected " << expected;
      if (g->accepts(s)) ADD_FAILURE() << "reasoning alone: " << s;
    });
  }
}

TEST(ToolCallGrammar, OptionalReasoningOpensWithItsTag) {
  ToolCallGrammarSpec spec = hermes(1);
  spec.reasoning_open = "<think>";
  spec.reasoning_close = "</think>";
  const auto g = compile(spec);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->accepts(kTime));
  EXPECT_TRUE(g->accepts("<think>\nThe user wants <the time>.\n</think>\n\n" + kTime));
  EXPECT_TRUE(g->accepts("<think></think>" + kTime));
  EXPECT_FALSE(g->accepts("<think>no close " + kTime));
  EXPECT_FALSE(g->accepts("</think>" + kTime));
  EXPECT_FALSE(g->accepts("<think>a</think>b</think>" + kTime));
  EXPECT_FALSE(g->accepts("<think>a</think>\n\n"));  // the call must follow
}

ToolCallGrammarSpec llama(int max_calls) {
  ToolCallGrammarSpec spec = hermes(max_calls);
  spec.call_open = spec.call_close = spec.padding = "";
  spec.separator = "; ";
  spec.arguments_key = "parameters";
  return spec;
}

TEST(ToolCallGrammar, JsonCallsAreTheWholeAnswer) {
  const std::string paris = R"({"name": "get_weather", "parameters": {"city": "Paris"}})";
  const std::string time = R"({"name": "get_time", "parameters": {}})";
  const auto g = compile(llama(0));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->accepts(paris));
  EXPECT_TRUE(g->accepts(paris + "; " + time));
  EXPECT_FALSE(g->accepts(R"({"name": "get_weather", "arguments": {"city": "Paris"}})"));
  EXPECT_FALSE(g->accepts("Hello"));

  ToolCallGrammarSpec instead = llama(1);
  instead.text = ToolCallGrammarSpec::Text::Instead;
  instead.avoid_first = "{<";
  const auto t = compile(instead);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->accepts(""));
  EXPECT_TRUE(t->accepts("Hello {\"name\": 1}"));
  EXPECT_TRUE(t->accepts(paris));
  EXPECT_FALSE(t->accepts(paris + "; " + time));
  EXPECT_FALSE(t->accepts(" Hello"));      // would be held as a possible call
  EXPECT_FALSE(t->accepts("{\"a\": 1}"));  // begins as a call, is not one
  EXPECT_FALSE(t->accepts("<|python_tag|>x"));

  ToolCallGrammarSpec mistral = hermes(0);
  mistral.call_open = mistral.call_close = mistral.padding = "";
  mistral.list_open = "[";
  mistral.list_close = "]";
  mistral.separator = ", ";
  const auto m = compile(mistral);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->accepts(R"([{"name": "get_time", "arguments": {}}])"));
  EXPECT_TRUE(m->accepts(
      R"([{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"city": ""}}])"));
  EXPECT_FALSE(m->accepts(R"([])"));
  EXPECT_FALSE(m->accepts(R"({"name": "get_time", "arguments": {}})"));
}

// Each tool's $refs resolve in its own parameters: two tools with a $defs entry of the same
// name get their own.
TEST(ToolCallGrammar, RefsResolveInTheirOwnTool) {
  ToolCallGrammarSpec spec = llama(1);
  spec.tools = {{"a", Json::parse(R"({"type": "object", "properties": {"x": {"$ref": "#/$defs/v"}},
                    "required": ["x"], "$defs": {"v": {"type": "integer"}}})")},
                {"b", Json::parse(R"({"type": "object", "properties": {"x": {"$ref": "#/$defs/v"}},
                    "required": ["x"], "$defs": {"v": {"type": "boolean"}}})")}};
  const auto g = compile(spec);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->accepts(R"({"name": "a", "parameters": {"x": 12}})"));
  EXPECT_TRUE(g->accepts(R"({"name": "b", "parameters": {"x": true}})"));
  EXPECT_FALSE(g->accepts(R"({"name": "a", "parameters": {"x": true}})"));
  EXPECT_FALSE(g->accepts(R"({"name": "b", "parameters": {"x": 12}})"));
}

TEST(ToolCallGrammar, ErrorsNameTheToolsPlace) {
  ToolCallGrammarSpec spec = hermes(1);
  spec.tools[1].parameters =
      Json::parse(R"({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}})");
  auto g = compile_tool_calls(spec);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message,
            "tools[1].function.parameters/properties/n: unsupported keyword minimum (supported: "
            "$ref, additionalProperties, anyOf, const, enum, format, items, maxItems, minItems, "
            "properties, required, type, and annotations)");
  spec.tools.clear();
  g = compile_tool_calls(spec);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message, "tools: no tool to call");
  spec = llama(1);
  spec.text = ToolCallGrammarSpec::Text::Before;
  g = compile_tool_calls(spec);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message, "tools: text before calls needs a call_open tag");
}

}  // namespace
}  // namespace gengyun::sampling
