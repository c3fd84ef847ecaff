// Request parsing and validation: every rejected field gets its 400 with the right `param`.
#include "api/openai_request.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>

namespace gengyun::api {
namespace {

using nlohmann::json;

json chat_body(json extra = json::object()) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(extra);
  return body;
}

json completion_body(json extra = json::object()) {
  json body = {{"model", "m"}, {"prompt", "hi"}};
  body.update(extra);
  return body;
}

struct BadCase {
  const char* name;
  json body;
  const char* param;  // expected `param`; "" for null
};

void expect_rejected(const BadCase& c, bool chat) {
  auto r = chat ? parse_chat_request(c.body) : parse_completion_request(c.body);
  ASSERT_FALSE(r.ok()) << c.name;
  EXPECT_EQ(r.error().http_status, 400) << c.name;
  EXPECT_EQ(r.error().type, "invalid_request_error") << c.name;
  EXPECT_EQ(r.error().param, c.param) << c.name << ": " << r.error().message;
  EXPECT_FALSE(r.error().message.empty()) << c.name;
}

TEST(ParseJsonObject, RejectsNonJsonAndNonObjects) {
  for (const char* text : {"", "{", "not json", "{\"a\":}", "\xff\xfe"}) {
    auto r = parse_json_object(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_NE(r.error().message.find("not valid JSON"), std::string::npos);
  }
  // The parser's reason, without the bytes it last read (which need not be UTF-8).
  EXPECT_EQ(parse_json_object("{\"temperature\": 1e400}").error().message,
            "the request body is not valid JSON (UTF-8): number overflow parsing '1e400'");
  EXPECT_EQ(parse_json_object("{\"a\": \"\xff\"}").error().message,
            "the request body is not valid JSON (UTF-8): parse error at line 1, column 8: syntax "
            "error while parsing value - invalid string: ill-formed UTF-8 byte");
  EXPECT_EQ(parse_json_object("{\"a\":}").error().message,
            "the request body is not valid JSON (UTF-8): parse error at line 1, column 6: syntax "
            "error while parsing value - unexpected '}'; expected '[', '{', or a literal");
  for (const char* text : {"[1,2]", "\"model\"", "42", "null"}) {
    auto r = parse_json_object(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find("must be a JSON object"), std::string::npos) << text;
  }
  // Invalid UTF-8 inside a string is rejected at parse time, so it never reaches the engine.
  EXPECT_FALSE(parse_json_object("{\"prompt\":\"\xc3\x28\"}").ok());
  EXPECT_TRUE(parse_json_object("{\"prompt\":\"caf\xc3\xa9\"}").ok());
}

TEST(ParseJsonObject, BoundsNesting) {
  const auto nested = [](size_t depth) {
    return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(parse_json_object(nested(kMaxJsonNesting)).ok());
  for (size_t depth : {kMaxJsonNesting + 1, size_t{1000000}}) {
    auto r = parse_json_object(nested(depth));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_EQ(r.error().message, "the request body nests arrays and objects " +
                                     std::to_string(depth) +
                                     " levels deep; at most 64 are allowed");
  }
  // Brackets inside strings (escaped quotes included) are text, not nesting.
  const std::string brackets(1000, '[');
  auto r = parse_json_object("{\"prompt\":\"\\\"" + brackets + "\"}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value()["prompt"], "\"" + brackets);
}

TEST(ParseJsonObject, RefusesAFieldGivenTwiceAtAnyDepthNamingIt) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"model":"a","model":"b"})", "model"},
      {R"({"model":"a","messages":[{"role":"user","content":"hi","role":"system"}]})",
       "messages[0].role"},
      // Array positions count primitives and containers alike.
      {R"({"a":[1,"x",null,{"b":{"c":1,"d":[],"c":2}}]})", "a[3].b.c"},
      {R"({"a":[[],[{"k":1}],[{"k":1},{"k":1,"k":2}]]})", "a[2][1].k"},
      // The first duplicate is named, whatever follows.
      {R"({"x":{"y":1,"y":2},"x":3})", "x.y"},
  };
  for (const auto& [text, path] : cases) {
    auto r = parse_json_object(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().http_status, 400) << text;
    EXPECT_EQ(r.error().type, "invalid_request_error") << text;
    EXPECT_EQ(r.error().param, path) << text;
    EXPECT_EQ(r.error().message,
              "the field '" + std::string(path) +
                  "' is given twice in the request body (an object may give each field once)")
        << text;
  }
  // The same name in different objects is no duplicate.
  auto r = parse_json_object(R"({"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}],"k":5})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value()["c"][1]["k"], 4);
  // Text that is not JSON is that error, duplicates or not.
  auto bad = parse_json_object(R"({"a":1,"a":2,)");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "");
  EXPECT_NE(bad.error().message.find("not valid JSON"), std::string::npos);
}

TEST(RequestedModel, OnlyStrings) {
  EXPECT_EQ(requested_model(json{{"model", "qwen"}}), "qwen");
  EXPECT_EQ(requested_model(json{{"model", 3}}), "");
  EXPECT_EQ(requested_model(json::object()), "");
}

TEST(ParseChatRequest, DefaultsAreOpenAIs) {
  auto r = parse_chat_request(chat_body());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const GenerationParams& p = r->params;
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].role, "user");
  EXPECT_EQ(r->messages[0].content, "hi");
  EXPECT_EQ(p.max_tokens, -1);
  EXPECT_EQ(p.temperature, 1.0f);
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_EQ(p.min_p, 0.0f);
  EXPECT_EQ(p.repeat_penalty, 1.0f);
  EXPECT_EQ(p.presence_penalty, 0.0f);
  EXPECT_EQ(p.frequency_penalty, 0.0f);
  EXPECT_FALSE(p.seed.has_value());
  EXPECT_TRUE(p.stop.empty());
  EXPECT_FALSE(r->stream);
}

TEST(ParseChatRequest, MapsEveryField) {
  auto r = parse_chat_request(chat_body({{"max_tokens", 7},
                                         {"temperature", 0},
                                         {"top_p", 0.5},
                                         {"top_k", 12},
                                         {"min_p", 0.1},
                                         {"presence_penalty", -1.5},
                                         {"frequency_penalty", 2},
                                         {"repeat_penalty", 1.3},
                                         {"seed", 42},
                                         {"stop", {"a", "bc"}},
                                         {"n", 1},
                                         {"stream", true},
                                         {"stream_options", {{"include_usage", true}}},
                                         {"logit_bias", {{"3", -1}}},
                                         {"logprobs", true},
                                         {"top_logprobs", 4},
                                         {"response_format", {{"type", "json_object"}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const GenerationParams& p = r->params;
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_EQ(p.temperature, 0.0f);
  EXPECT_EQ(p.top_p, 0.5f);
  EXPECT_EQ(p.top_k, 12);
  EXPECT_EQ(p.min_p, 0.1f);
  EXPECT_EQ(p.presence_penalty, -1.5f);
  EXPECT_EQ(p.frequency_penalty, 2.0f);
  EXPECT_EQ(p.repeat_penalty, 1.3f);
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(p.logit_bias, (std::vector<std::pair<int32_t, float>>{{3, -1.0f}}));
  EXPECT_EQ(p.top_logprobs, 4);
  EXPECT_EQ(p.format.kind, OutputFormat::Kind::JsonObject);
  EXPECT_EQ(r->n, 1);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
}

TEST(ParseRequests, SamplingFieldsTakeTheSharedRanges) {
  // The ranges of sampling/request_ranges.h, which config defaults and `run`'s flags share.
  const std::tuple<const char*, json, const char*> refused[] = {
      {"temperature", 2.5, "temperature must be in [0, 2], got 2.5"},
      {"temperature", "1", "temperature must be a number in [0, 2], got \"1\""},
      {"top_p", 0, "top_p must be in (0, 1], got 0"},
      {"min_p", -0.5, "min_p must be in [0, 1], got -0.5"},
      {"presence_penalty", 2.5, "presence_penalty must be in [-2, 2], got 2.5"},
      {"frequency_penalty", -3, "frequency_penalty must be in [-2, 2], got -3"},
      {"repeat_penalty", 0, "repeat_penalty must be in (0, 3.4e38], got 0"},
      // Past a float's largest value it would be taken as infinity.
      {"repeat_penalty", 1e39, "repeat_penalty must be in (0, 3.4e38], got 1e+39"},
  };
  for (const auto& [name, value, message] : refused) {
    auto r = parse_completion_request(completion_body({{name, value}}));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().message, message);
    EXPECT_EQ(r.error().param, name);
  }
  auto r = parse_completion_request(completion_body({{"temperature", 2},
                                                     {"top_p", 1},
                                                     {"min_p", 0},
                                                     {"presence_penalty", -2},
                                                     {"frequency_penalty", 2},
                                                     {"repeat_penalty", 3e38}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->params.temperature, 2.0f);
  EXPECT_EQ(r->params.frequency_penalty, 2.0f);
  EXPECT_EQ(r->params.repeat_penalty, 3e38f);
}

TEST(ParseChatRequest, MaxCompletionTokensNegativeSeedAndNulls) {
  auto r = parse_chat_request(chat_body({{"max_completion_tokens", 9}, {"seed", -1}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->params.max_tokens, 9);
  EXPECT_EQ(r->params.seed, UINT64_MAX);

  // Explicit nulls (as OpenAI's SDKs send them) count as absent.
  r = parse_chat_request(chat_body({{"max_tokens", nullptr},
                                    {"temperature", nullptr},
                                    {"stop", nullptr},
                                    {"seed", nullptr},
                                    {"stream", nullptr},
                                    {"n", nullptr}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->params.max_tokens, -1);
  EXPECT_EQ(r->params.temperature, 1.0f);

  // Past INT_MAX: clamped (it means "until the context is full" in practice).
  r = parse_chat_request(chat_body({{"max_tokens", 99999999999ull}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.max_tokens, 2147483647);
  r = parse_chat_request(chat_body({{"stop", "###"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.stop, std::vector<std::string>{"###"});
  // An empty array is no stop sequence; an empty string is refused, alone or in an array.
  r = parse_chat_request(chat_body({{"stop", json::array()}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->params.stop.empty());
  for (const json& stop : {json(""), json({"a", ""})}) {
    r = parse_chat_request(chat_body({{"stop", stop}}));
    ASSERT_FALSE(r.ok()) << stop;
    EXPECT_EQ(r.error().message,
              "stop holds an empty string, which would match at every position; give non-empty "
              "strings");
    EXPECT_EQ(r.error().param, "stop");
  }
}

// An integer outside int64 is refused as out of range, naming the field's range: taken as int64,
// seed 2^64 - 1 was seed -1 and 2^63 was -2^63, and a literal past 2^64 - 1 (read as a double)
// was "not an integer" (QA); it is shown in digits, as written, not as the double nlohmann
// holds (QA: "got 1.8446744073709552e+19"). The bounds themselves are taken.
TEST(ParseRequests, IntegersOutsideInt64AreOutOfRange) {
  const std::string kSeedRange = "[-9223372036854775808, 9223372036854775807]";
  const std::tuple<const char*, json, const char*, std::string> refused[] = {
      {"seed", 18446744073709551615ull, "18446744073709551615", kSeedRange},
      {"seed", 9223372036854775808ull, "9223372036854775808", kSeedRange},
      {"seed", json::parse("18446744073709551616"), "18446744073709551616", kSeedRange},
      {"seed", json::parse("-9223372036854775809"), "a number below -9223372036854775808",
       kSeedRange},
      {"seed", json::parse("-9223372036854777856"), "-9223372036854777856", kSeedRange},
      {"seed", 1e30, "1e+30", kSeedRange},
      {"max_tokens", 18446744073709551615ull, "18446744073709551615", "[1, 9223372036854775807]"},
      {"max_tokens", json::parse("18446744073709551616"), "18446744073709551616",
       "[1, 9223372036854775807]"},
      {"max_completion_tokens", json::parse("100000000000000000000"), "100000000000000000000",
       "[1, 9223372036854775807]"},
      {"top_k", -1e20, "-100000000000000000000", "[0, 9223372036854775807]"},
      {"n", 9223372036854775808ull, "9223372036854775808", "[1, 128]"},
      {"n", json::parse("18446744073709551616"), "18446744073709551616", "[1, 128]"},
      {"logprobs", 18446744073709551615ull, "18446744073709551615", "[0, 20]"},
      {"best_of", 1e19, "10000000000000000000", "[1, 9223372036854775807]"},
      {"best_of", 1e21, "1e+21", "[1, 9223372036854775807]"},
  };
  for (const auto& [name, value, shown_value, range] : refused) {
    auto r = parse_completion_request(completion_body({{name, value}}));
    ASSERT_FALSE(r.ok()) << name << " " << value;
    EXPECT_EQ(r.error().message, std::string(name) + " is out of range: it must be an integer in " +
                                     range + ", got " + shown_value);
    EXPECT_EQ(r.error().param, name);
  }
  auto chat = parse_chat_request(
      chat_body({{"logprobs", true}, {"top_logprobs", json::parse("-100000000000000000000")}}));
  ASSERT_FALSE(chat.ok());
  EXPECT_EQ(chat.error().message,
            "top_logprobs is out of range: it must be an integer in [0, 20], got "
            "-100000000000000000000");
  // A number field shows such a literal as written too; a fraction past int64 is a double's.
  chat = parse_chat_request(chat_body({{"temperature", json::parse("100000000000000000000")}}));
  ASSERT_FALSE(chat.ok());
  EXPECT_EQ(chat.error().message, "temperature must be in [0, 2], got 100000000000000000000");
  chat = parse_chat_request(chat_body({{"temperature", json::parse("1e19")}}));
  ASSERT_FALSE(chat.ok());
  EXPECT_EQ(chat.error().message, "temperature must be in [0, 2], got 10000000000000000000");
  chat = parse_chat_request(chat_body({{"logit_bias", {{"5", json::parse("-1e300")}}}}));
  ASSERT_FALSE(chat.ok());
  EXPECT_EQ(chat.error().message,
            "logit_bias values must be numbers in [-100, 100], got -1e+300 for token 5");
  // A fraction, or a whole number written as a double within int64, is not an integer.
  for (const json& value : {json(1.5), json(5.0), json::parse("1e3")}) {
    chat = parse_chat_request(chat_body({{"seed", value}}));
    ASSERT_FALSE(chat.ok());
    EXPECT_EQ(chat.error().message, "seed must be an integer, got " + value.dump());
  }
  chat = parse_chat_request(chat_body({{"seed", json::parse("-9223372036854775808")}}));
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_EQ(chat->params.seed, 9223372036854775808ull);
  chat = parse_chat_request(
      chat_body({{"seed", 9223372036854775807ll}, {"max_tokens", 9223372036854775807ll}}));
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_EQ(chat->params.seed, 9223372036854775807ull);
  EXPECT_EQ(chat->params.max_tokens, 2147483647);
}

TEST(ParseChatRequest, MessagesRolesAndContentParts) {
  auto r = parse_chat_request(chat_body(
      {{"messages",
        {{{"role", "developer"}, {"content", "be brief"}},
         {{"role", "user"},
          {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}},
         {{"role", "assistant"}, {"content", ""}},
         {{"role", "user"}, {"content", ""}}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[0].content, "be brief");
  EXPECT_EQ(r->messages[1].content, "a\nb");
  EXPECT_EQ(r->messages[2].role, "assistant");
  EXPECT_EQ(r->messages[2].content, "");
  EXPECT_EQ(r->messages[3].content, "");
}

TEST(ParseChatRequest, ToolsToolCallsAndTemplateFields) {
  const std::string body = R"({"model": "m",
    "messages": [
      {"role": "user", "content": "Weather in Hangzhou?"},
      {"role": "assistant", "content": null, "reasoning_content": "think",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\": \"Hangzhou\", \"a\": 1}"}},
                      {"id": "call_2", "type": "function",
                       "function": {"name": "f", "arguments": "not json"}}]},
      {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "21"},
      {"role": "tool", "tool_call_id": "call_2", "content": "ok"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "tool_choice": "auto", "parallel_tool_calls": true,
    "chat_template_kwargs": {"enable_thinking": false, "b": 1, "a": 2}})";
  auto parsed = parse_json_object(body);
  ASSERT_TRUE(parsed.ok());
  auto r = parse_chat_request(parsed.value());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].extra_json, "");
  EXPECT_EQ(r->messages[1].content, "");
  EXPECT_EQ(r->messages[1].extra_json,
            R"({"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather",)"
            R"("arguments":{"city":"Hangzhou","a":1}}},{"id":"call_2","type":"function",)"
            R"("function":{"name":"f",)"
            R"("arguments":"not json"}}],"reasoning_content":"think"})");
  EXPECT_EQ(r->messages[2].role, "tool");
  EXPECT_EQ(r->messages[2].extra_json, R"({"tool_call_id":"call_1","name":"get_weather"})");
  EXPECT_EQ(r->tool_choice, "auto");
  read_template_fields(body, r.value());
  // the client's key order, which nlohmann::json would have sorted
  EXPECT_EQ(
      r->chat.tools_json,
      R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])");
  EXPECT_EQ(r->chat.template_kwargs_json, R"({"enable_thinking":false,"b":1,"a":2})");

  // tool_choice "none" leaves the tools out of the prompt
  auto none = parse_chat_request(
      chat_body({{"tools", json::parse(R"([{"type": "function", "function": {"name": "f"}}])")},
                 {"tool_choice", "none"}}));
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->tool_choice, "none");
  read_template_fields(R"({"tools": [{"type": "function", "function": {"name": "f"}}]})",
                       none.value());
  EXPECT_EQ(none->chat.tools_json, "");
  // An empty tools array is as none (QA: it reached the template as [], where Llama 3.x's
  // `tools is not none` renders the tool preamble, and the answer was read for tool calls):
  // the request is the one without it, whatever tool_choice allows with no tools.
  for (const std::string choice : {"", "auto", "none"}) {
    json with_empty = chat_body({{"tools", json::array()}});
    json without = chat_body();
    if (!choice.empty()) with_empty["tool_choice"] = without["tool_choice"] = choice;
    auto empty = parse_chat_request(with_empty);
    auto absent = parse_chat_request(without);
    ASSERT_TRUE(empty.ok()) << empty.error().message;
    ASSERT_TRUE(absent.ok()) << absent.error().message;
    read_template_fields(with_empty.dump(), empty.value());
    read_template_fields(without.dump(), absent.value());
    EXPECT_EQ(empty->chat.tools_json, "") << choice;
    EXPECT_EQ(empty->tool_choice, absent->tool_choice) << choice;
    EXPECT_FALSE(tool_calls_constrained(empty.value())) << choice;
    EXPECT_FALSE(check_builtin_format(false, empty.value()).has_value()) << choice;
  }
  // arguments nested deeper than a body may be are passed on as the string they are
  const std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  auto deep_call = parse_chat_request(
      chat_body({{"messages",
                  {{{"role", "assistant"},
                    {"tool_calls",
                     {{{"id", "call_1"},
                       {"type", "function"},
                       {"function", {{"name", "f"}, {"arguments", deep}}}}}}},
                   {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "done"}}}}}));
  ASSERT_TRUE(deep_call.ok()) << deep_call.error().message;
  EXPECT_EQ(nlohmann::ordered_json::parse(
                deep_call->messages[0].extra_json)["tool_calls"][0]["function"]["arguments"],
            deep);
}

// Tool turns in OpenAI's order: an assistant's calls are answered right after it, one tool
// message per id; a tool message answers a call of the assistant message before it.
TEST(ParseChatRequest, ToolTurnsFollowOpenAIsOrder) {
  const json user = {{"role", "user"}, {"content", "Hi"}};
  auto calls = [](std::vector<std::string> ids) {
    json out = json::array();
    for (const std::string& id : ids)
      out.push_back(
          {{"id", id}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}});
    return json{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", out}};
  };
  auto answer = [](const std::string& id) {
    return json{{"role", "tool"}, {"tool_call_id", id}, {"content", "42"}};
  };
  // Answered in any order, then the conversation goes on; an assistant without calls is free
  // (calls({}), an empty tool_calls, is a 400: AssistantToolCallsAndToolCallIdsAreChecked).
  for (const json& messages : {json{user,
                                    calls({"a", "b"}),
                                    answer("b"),
                                    answer("a"),
                                    {{"role", "assistant"}, {"content", "x"}},
                                    user},
                               json{user, calls({"a"}), answer("a"), calls({"c"}), answer("c")}})
    EXPECT_TRUE(parse_chat_request(chat_body({{"messages", messages}})).ok()) << messages;
  const std::tuple<json, std::string, std::string> refused[] = {
      {json{user, answer("a")}, "messages[1].role",
       "messages[1]: a tool message must answer a tool call of the assistant message before it"},
      {json{user, calls({"a"}), answer("a"), user, answer("a")}, "messages[4].role",
       "messages[4]: a tool message must answer a tool call of the assistant message before it"},
      {json{user, calls({"a"}), answer("z")}, "messages[2].tool_call_id",
       "messages[2].tool_call_id 'z' answers no unanswered call of messages[1].tool_calls"},
      {json{user, calls({"a"}), answer("a"), answer("a")}, "messages[3].tool_call_id",
       "messages[3].tool_call_id 'a' answers no unanswered call of messages[1].tool_calls"},
      {json{user, calls({"a", "b"}), answer("a"), user}, "messages[1].tool_calls",
       "messages[1].tool_calls: no tool message answers 'b' before messages[3] (each call is "
       "answered by a tool message right after it)"},
      {json{user, calls({"a", "a"}), answer("a"), answer("a")}, "messages[1].tool_calls",
       "messages[1].tool_calls: two calls have the id 'a' (a tool message answers a call by its "
       "id)"},
      {json{user, calls({"a", "b"})}, "messages[1].tool_calls",
       "messages[1].tool_calls: no tool message answers 'a', 'b' at the end of the messages (each "
       "call is answered by a tool message right after it)"}};
  for (const auto& [messages, param, message] : refused) {
    auto r = parse_chat_request(chat_body({{"messages", messages}}));
    ASSERT_FALSE(r.ok()) << messages;
    EXPECT_EQ(r.error().param, param);
    EXPECT_EQ(r.error().message, message);
  }
}

const json kTwoTools = json::parse(R"([
  {"type": "function", "function": {"name": "f", "parameters": {"type": "object",
    "properties": {"x": {"type": "integer"}}, "required": ["x"]}}},
  {"type": "function", "function": {"name": "g"}}])");

// An assistant message's tool_calls hold what OpenAI's do and nothing else (QA 2026-12-07: unknown
// fields in a call or its function, a call without type and type null were taken and ignored),
// tool_call_id belongs to tool messages, and an assistant message says something (its content,
// calls or reasoning: an answer that was all reasoning is sent back with content null).
TEST(ParseChatRequest, AssistantToolCallsAndToolCallIdsAreChecked) {
  const json user = {{"role", "user"}, {"content", "Hi"}};
  const json call = {
      {"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}};
  auto with_call = [&](const json& c) {
    return json{user,
                {{"role", "assistant"}, {"tool_calls", {c}}},
                {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "42"}}};
  };
  ASSERT_TRUE(parse_chat_request(chat_body({{"messages", with_call(call)}})).ok());
  const json all_reasoning = {
      user, {{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "r"}}, user};
  EXPECT_TRUE(parse_chat_request(chat_body({{"messages", all_reasoning}})).ok());
  // An empty string is content (OpenAI takes it), beside an empty reasoning_content too; calls
  // say something beside an empty reasoning_content.
  for (const json& said : {json{{"role", "assistant"}, {"content", ""}},
                           json{{"role", "assistant"}, {"content", ""}, {"reasoning_content", ""}},
                           json{{"role", "assistant"},
                                {"content", nullptr},
                                {"reasoning_content", ""},
                                {"tool_calls", {call}}}}) {
    json messages = with_call(call);
    messages[1] = said;
    if (!said.contains("tool_calls")) messages[2] = user;
    EXPECT_TRUE(parse_chat_request(chat_body({{"messages", messages}})).ok()) << said;
  }
  json unknown = call;
  unknown["x"] = 1;
  json unknown_in_function = call;
  unknown_in_function["function"]["strict"] = true;
  json untyped = call;
  untyped.erase("type");
  json null_type = call;
  null_type["type"] = nullptr;
  const std::tuple<json, std::string, std::string> refused[] = {
      {with_call(unknown), "messages[1].tool_calls[0].x",
       "Unrecognized argument supplied: messages[1].tool_calls[0].x"},
      {with_call(unknown_in_function), "messages[1].tool_calls[0].function.strict",
       "Unrecognized argument supplied: messages[1].tool_calls[0].function.strict"},
      {with_call(untyped), "messages[1].tool_calls[0].type",
       "messages[1].tool_calls[0].type must be \"function\""},
      {with_call(null_type), "messages[1].tool_calls[0].type",
       "messages[1].tool_calls[0].type must be \"function\""},
      {json{{{"role", "user"}, {"content", "Hi"}, {"tool_call_id", "c1"}}},
       "messages[0].tool_call_id", "messages[0].tool_call_id is only for tool messages"},
      {json{user, {{"role", "assistant"}}}, "messages[1].content",
       "messages[1].content is required (an assistant message has content, tool_calls or "
       "reasoning_content)"},
      {json{user, {{"role", "assistant"}, {"content", nullptr}}, user}, "messages[1].content",
       "messages[1].content is required (an assistant message has content, tool_calls or "
       "reasoning_content)"},
      // QA: an empty tool_calls array and an empty reasoning_content alone were taken (a turn
      // that says nothing); OpenAI refuses the empty array
      {json{user,
            {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array()}},
            user},
       "messages[1].tool_calls",
       "Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum length 1, "
       "but got an empty array instead."},
      {json{user, {{"role", "assistant"}, {"content", "Hi"}, {"tool_calls", json::array()}}, user},
       "messages[1].tool_calls",
       "Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum length 1, "
       "but got an empty array instead."},
      {json{user, {{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", ""}}, user},
       "messages[1].content",
       "messages[1].content is required (an assistant message has content, tool_calls or "
       "reasoning_content; its reasoning_content is empty)"},
      {json{user, {{"role", "assistant"}, {"reasoning_content", ""}}, user}, "messages[1].content",
       "messages[1].content is required (an assistant message has content, tool_calls or "
       "reasoning_content; its reasoning_content is empty)"},
      // An empty content array, for every role (OpenAI's schema: minItems 1 for each); it was
      // taken as ""
      {json{{{"role", "system"}, {"content", json::array()}}, user}, "messages[0].content",
       "Invalid 'messages[0].content': empty array. Expected an array with minimum length 1, but "
       "got an empty array instead."},
      {json{{{"role", "developer"}, {"content", json::array()}}, user}, "messages[0].content",
       "Invalid 'messages[0].content': empty array. Expected an array with minimum length 1, but "
       "got an empty array instead."},
      {json{{{"role", "user"}, {"content", json::array()}}}, "messages[0].content",
       "Invalid 'messages[0].content': empty array. Expected an array with minimum length 1, but "
       "got an empty array instead."},
      {json{user, {{"role", "assistant"}, {"content", json::array()}}, user}, "messages[1].content",
       "Invalid 'messages[1].content': empty array. Expected an array with minimum length 1, but "
       "got an empty array instead."},
      {json{user,
            {{"role", "assistant"},
             {"content", nullptr},
             {"tool_calls",
              {{{"id", "c1"},
                {"type", "function"},
                {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}},
            {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", json::array()}}},
       "messages[2].content",
       "Invalid 'messages[2].content': empty array. Expected an array with minimum length 1, but "
       "got an empty array instead."}};
  for (const auto& [messages, param, message] : refused) {
    auto r = parse_chat_request(chat_body({{"messages", messages}}));
    ASSERT_FALSE(r.ok()) << messages;
    EXPECT_EQ(r.error().param, param);
    EXPECT_EQ(r.error().message, message);
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_EQ(r.error().code, message.starts_with("Invalid") ? "empty_array" : "");
  }
}

TEST(ParseChatRequest, ToolChoiceRequiredNamedAndSerialAreHeldToAGrammar) {
  const ChatSyntax hermes{
      .reasoning = false, .starts_in_reasoning = false, .tool_calls = ToolCallFormat::Hermes};
  const auto parse = [](const json& extra) {
    auto r = parse_chat_request(chat_body(extra));
    if (r.ok()) read_template_fields(chat_body(extra).dump(), r.value());
    return r;
  };
  auto required = parse({{"tools", kTwoTools}, {"tool_choice", "required"}});
  ASSERT_TRUE(required.ok()) << required.error().message;
  EXPECT_TRUE(tool_calls_constrained(required.value()));
  ASSERT_FALSE(apply_tool_choice(hermes, required.value()));
  const OutputFormat& f = required->params.format;
  EXPECT_EQ(f.kind, OutputFormat::Kind::ToolCalls);
  EXPECT_EQ(f.tools_json, required->chat.tools_json);
  EXPECT_EQ(f.tool_name, "");
  EXPECT_FALSE(f.text_allowed);
  EXPECT_TRUE(f.parallel_calls);
  EXPECT_EQ(f.syntax.tool_calls, ToolCallFormat::Hermes);

  auto named = parse({{"tools", kTwoTools},
                      {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}},
                      {"parallel_tool_calls", false}});
  ASSERT_TRUE(named.ok()) << named.error().message;
  ASSERT_FALSE(apply_tool_choice(hermes, named.value()));
  EXPECT_EQ(named->tool_choice, "function");
  EXPECT_EQ(named->params.format.tool_name, "g");
  EXPECT_FALSE(named->params.format.parallel_calls);

  auto serial = parse({{"tools", kTwoTools}, {"parallel_tool_calls", false}});
  ASSERT_TRUE(serial.ok()) << serial.error().message;
  ASSERT_FALSE(apply_tool_choice(hermes, serial.value()));
  EXPECT_TRUE(serial->params.format.text_allowed);
  EXPECT_FALSE(serial->params.format.parallel_calls);

  // A strict tool under "auto": text, then any number of calls, each valid under its schema.
  json strict_tools = kTwoTools;
  strict_tools[1]["function"]["strict"] = true;
  auto strict = parse({{"tools", strict_tools}});
  ASSERT_TRUE(strict.ok()) << strict.error().message;
  EXPECT_EQ(strict->strict_tool, "tools[1].function.strict");
  ASSERT_FALSE(apply_tool_choice(hermes, strict.value()));
  EXPECT_EQ(strict->params.format.kind, OutputFormat::Kind::ToolCalls);
  EXPECT_TRUE(strict->params.format.text_allowed);
  EXPECT_TRUE(strict->params.format.parallel_calls);
  auto with_format = parse_chat_request(
      chat_body({{"tools", strict_tools}, {"response_format", {{"type", "json_object"}}}}));
  ASSERT_FALSE(with_format.ok());
  EXPECT_EQ(with_format.error().param, "tools[1].function.strict");
  EXPECT_EQ(with_format.error().message,
            "response_format cannot be combined with tools[1].function.strict true: both "
            "constrain the answer");
  strict_tools[1]["function"]["strict"] = false;
  auto loose = parse({{"tools", strict_tools}});
  ASSERT_TRUE(loose.ok());
  EXPECT_FALSE(tool_calls_constrained(loose.value()));

  // Nothing to hold: no tools (at most one call holds), tool_choice "none", plain "auto".
  for (const json& extra :
       {json{{"parallel_tool_calls", false}},
        json{{"tools", kTwoTools}, {"tool_choice", "none"}, {"parallel_tool_calls", false}},
        json{{"tools", kTwoTools}}}) {
    auto r = parse(extra);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_FALSE(apply_tool_choice(hermes, r.value()));
    EXPECT_EQ(r->params.format.kind, OutputFormat::Kind::Text) << extra.dump();
  }

  // A template that writes no known tool-call format cannot be held to one.
  auto again = parse({{"tools", kTwoTools}, {"tool_choice", "required"}});
  ASSERT_TRUE(again.ok());
  auto refused = apply_tool_choice(ChatSyntax{}, again.value());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->param, "tool_choice");
  EXPECT_EQ(
      refused->message,
      "tool_choice needs a model whose chat template writes tool calls in a format gengyun "
      "knows (Hermes <tool_call>, Llama 3.x JSON, Mistral [TOOL_CALLS]); this one's does not");
  // "auto" without parallel calls holds already: no call is read from such a model's answers.
  auto plain = parse({{"tools", kTwoTools}, {"parallel_tool_calls", false}});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(apply_tool_choice(ChatSyntax{}, plain.value()));
  EXPECT_EQ(plain->params.format.kind, OutputFormat::Kind::Text);

  // Tools under "auto" beside a JSON response_format: a Llama 3.x call is a JSON answer (the
  // format can make the model write one); Hermes' tags and Mistral's marker never fit in it.
  for (const json& format : {json{{"type", "json_object"}},
                             json{{"type", "json_schema"},
                                  {"json_schema", {{"name", "x"}, {"schema", json::object()}}}}}) {
    for (const ToolCallFormat calls :
         {ToolCallFormat::Hermes, ToolCallFormat::MistralJson, ToolCallFormat::Llama3Json}) {
      auto r = parse({{"tools", kTwoTools}, {"response_format", format}});
      ASSERT_TRUE(r.ok()) << r.error().message;
      auto error = apply_tool_choice(ChatSyntax{.tool_calls = calls}, r.value());
      if (calls == ToolCallFormat::Llama3Json) {
        EXPECT_FALSE(error) << error->message;
        continue;
      }
      ASSERT_TRUE(error) << format.dump();
      EXPECT_EQ(error->param, "response_format");
      EXPECT_EQ(error->message,
                "response_format cannot be combined with tools under tool_choice \"auto\" on "
                "this model: its calls are written in tags its JSON leaves no room for "
                "(tool_choice \"none\" keeps the tools as the prompt's context)");
    }
    auto none = parse({{"tools", kTwoTools}, {"tool_choice", "none"}, {"response_format", format}});
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(apply_tool_choice(hermes, none.value()));
  }
}

TEST(ParseChatRequest, BadToolChoicesNameTheField) {
  struct Case {
    json extra;
    std::string message;
    std::string param;
  };
  const json bad_schema = json::parse(R"([{"type": "function", "function": {"name": "f",
      "parameters": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}])");
  const json strict_bad_schema = json::parse(R"([{"type": "function", "function": {"name": "f",
      "strict": true, "parameters": {"type": "object", "properties": {"n": {"type": "integer",
      "minimum": 1}}}}}])");
  const std::vector<Case> cases = {
      {{{"tools", kTwoTools},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "h"}}}}}},
       "tool_choice names the function \"h\", which is not in tools",
       "tool_choice"},
      {{{"tool_choice", {{"type", "function"}, {"function", {{"name", "f"}}}}}},
       "tool_choice names the function \"f\", which is not in tools",
       "tool_choice"},
      {{{"tool_choice", "required"}},
       "tool_choice \"required\" needs at least one tool in tools",
       "tool_choice"},
      {{{"tools", json::array()}, {"tool_choice", "required"}},
       "tool_choice \"required\" needs at least one tool in tools",
       "tool_choice"},
      {{{"tools", json::array()},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "f"}}}}}},
       "tool_choice names the function \"f\", which is not in tools",
       "tool_choice"},
      {{{"tools", kTwoTools}, {"tool_choice", 7}},
       "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
       "\"function\": {\"name\": ...}}, got 7",
       "tool_choice"},
      {{{"tools", kTwoTools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", 3}}}}}},
       "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
       "\"function\": {\"name\": ...}}, got {\"function\":{\"name\":3},\"type\":\"functi...",
       "tool_choice"},
      {{{"tools", kTwoTools},
        {"tool_choice", "required"},
        {"response_format", {{"type", "json_object"}}}},
       "response_format cannot be combined with tool_choice \"required\": both constrain the "
       "answer",
       "tool_choice"},
      {{{"tools", kTwoTools},
        {"parallel_tool_calls", false},
        {"response_format", {{"type", "json_object"}}}},
       "response_format cannot be combined with parallel_tool_calls false: both constrain the "
       "answer",
       "parallel_tool_calls"},
      {{{"tools", bad_schema}, {"tool_choice", "required"}},
       "a tool's parameters are outside the JSON Schema subset that tool_choice \"required\" can "
       "enforce: tools[0].function.parameters/properties/n: unsupported keyword minimum "
       "(supported: $ref, additionalProperties, anyOf, const, enum, format, items, maxItems, "
       "minItems, properties, required, type, and annotations)",
       "tools[0].function.parameters"},
      // What enforces the schema is named, not tool_choice, which these do not give (QA).
      {{{"tools", bad_schema}, {"parallel_tool_calls", false}},
       "a tool's parameters are outside the JSON Schema subset that parallel_tool_calls false can "
       "enforce: tools[0].function.parameters/properties/n: unsupported keyword minimum "
       "(supported: $ref, additionalProperties, anyOf, const, enum, format, items, maxItems, "
       "minItems, properties, required, type, and annotations)",
       "tools[0].function.parameters"},
      {{{"tools", bad_schema},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "f"}}}}}},
       "a tool's parameters are outside the JSON Schema subset that tool_choice naming \"f\" can "
       "enforce: tools[0].function.parameters/properties/n: unsupported keyword minimum "
       "(supported: $ref, additionalProperties, anyOf, const, enum, format, items, maxItems, "
       "minItems, properties, required, type, and annotations)",
       "tools[0].function.parameters"},
      {{{"tools", kTwoTools},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}},
        {"response_format", {{"type", "json_object"}}}},
       "response_format cannot be combined with tool_choice naming \"g\": both constrain the "
       "answer",
       "tool_choice"},
      {{{"tools", strict_bad_schema}},
       "a tool's parameters are outside the JSON Schema subset that tools[0].function.strict true "
       "can enforce: tools[0].function.parameters/properties/n: unsupported keyword minimum "
       "(supported: $ref, additionalProperties, anyOf, const, enum, format, items, maxItems, "
       "minItems, properties, required, type, and annotations)",
       "tools[0].function.parameters"},
      {{{"tools", kTwoTools}, {"tool_choice", "required"}, {"stop", {"\n"}}},
       "stop cannot be combined with tool_choice \"required\": a stop sequence would cut the "
       "enforced tool call short",
       "stop"},
      {{{"tools", kTwoTools},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}},
        {"stop", "</tool_call>"}},
       "stop cannot be combined with tool_choice "
       "{\"function\":{\"name\":\"g\"},\"type\":\"func...: a stop sequence would cut the "
       "enforced tool call short",
       "stop"},
  };
  for (const Case& c : cases) {
    auto r = parse_chat_request(chat_body(c.extra));
    ASSERT_FALSE(r.ok()) << c.extra.dump();
    EXPECT_EQ(r.error().message, c.message) << c.extra.dump();
    EXPECT_EQ(r.error().param, c.param) << c.extra.dump();
    EXPECT_EQ(r.error().http_status, 400);
  }
  // Stop sequences apply to "auto" answers (a call they cut comes back as text); an empty stop
  // array is no stop sequence.
  EXPECT_TRUE(parse_chat_request(chat_body({{"tools", kTwoTools}, {"stop", {"\n"}}})).ok());
  EXPECT_TRUE(parse_chat_request(chat_body({{"tools", kTwoTools},
                                            {"tool_choice", "required"},
                                            {"stop", json::array()}}))
                  .ok());
  // With "auto" the schema only reaches the template: it is not compiled.
  EXPECT_TRUE(parse_chat_request(chat_body({{"tools", bad_schema}})).ok());
}

// A tool's definition is checked whatever tool_choice is: OpenAI's rules, and no field accepted
// and ignored.
TEST(ParseChatRequest, ToolDefinitionsAreChecked) {
  const auto tool = [](json function) {
    return json::array({{{"type", "function"}, {"function", function}}});
  };
  for (const json& choice : {json("auto"), json("required")}) {
    const auto body = [&](json tools) {
      return chat_body({{"tools", tools}, {"tool_choice", choice}});
    };
    const BadCase cases[] = {
        {"array parameters",
         body(tool(
             {{"name", "f"}, {"parameters", {{"type", "array"}, {"items", json::object()}}}})),
         "tools[0].function.parameters"},
        {"string parameters",
         body(tool({{"name", "f"}, {"parameters", {{"type", "string"}, {"enum", {"x"}}}}})),
         "tools[0].function.parameters"},
        {"untyped parameters",
         body(tool({{"name", "f"}, {"parameters", {{"properties", json::object()}}}})),
         "tools[0].function.parameters"},
        {"parameters not an object", body(tool({{"name", "f"}, {"parameters", 7}})),
         "tools[0].function.parameters"},
    };
    for (const auto& c : cases) expect_rejected(c, /*chat=*/true);
    const BadCase names[] = {
        {"empty name", body(tool({{"name", ""}})), "tools[0].function.name"},
        {"space in name", body(tool({{"name", "get weather"}})), "tools[0].function.name"},
        {"dot in name", body(tool({{"name", "a.b"}})), "tools[0].function.name"},
        {"65 characters", body(tool({{"name", std::string(65, 'a')}})), "tools[0].function.name"},
        {"duplicate",
         body(json::array({{{"type", "function"}, {"function", {{"name", "f"}}}},
                           {{"type", "function"}, {"function", {{"name", "g"}}}},
                           {{"type", "function"}, {"function", {{"name", "f"}}}}})),
         "tools[2].function.name"},
        {"description not a string", body(tool({{"name", "f"}, {"description", 1}})),
         "tools[0].function.description"},
    };
    for (const auto& c : names) expect_rejected(c, /*chat=*/true);
    const BadCase unknown[] = {
        {"unknown tool field",
         body(json::array({{{"type", "function"}, {"function", {{"name", "f"}}}, {"x", 1}}})),
         "tools[0].x"},
        {"unknown function field", body(tool({{"name", "f"}, {"examples", json::array()}})),
         "tools[0].function.examples"},
        {"strict not a boolean", body(tool({{"name", "f"}, {"strict", "yes"}})),
         "tools[0].function.strict"},
    };
    for (const auto& c : unknown) expect_rejected(c, /*chat=*/true);
    auto dup = parse_chat_request(names[4].body);
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().message,
              "tools[2].function.name \"f\" is also the name of tools[0]: function names must be "
              "unique");
    auto longest = parse_chat_request(
        body(tool({{"name", "a-Z_09" + std::string(58, 'x')}, {"description", "d"}})));
    EXPECT_TRUE(longest.ok()) << longest.error().message;
    auto r = parse_chat_request(cases[0].body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "tools[0].function.parameters must be a JSON Schema of type object, got "
              "{\"items\":{},\"type\":\"array\"}");
    // {} is a function without parameters.
    auto empty = parse_chat_request(body(tool({{"name", "f"}, {"parameters", json::object()}})));
    EXPECT_TRUE(empty.ok()) << empty.error().message;
  }
  const BadCase choices[] = {
      {"unknown tool_choice field",
       chat_body({{"tools", kTwoTools},
                  {"tool_choice",
                   {{"type", "function"}, {"function", {{"name", "f"}}}, {"strict", true}}}}),
       "tool_choice.strict"},
      {"unknown tool_choice.function field",
       chat_body({{"tools", kTwoTools},
                  {"tool_choice",
                   {{"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}),
       "tool_choice.function.arguments"},
  };
  for (const auto& c : choices) expect_rejected(c, /*chat=*/true);
  // The variables the server sets cannot come from chat_template_kwargs.
  for (const char* key : {"messages", "tools", "documents", "add_generation_prompt", "bos_token",
                          "eos_token", "raise_exception", "strftime_now"}) {
    const json body = chat_body({{"chat_template_kwargs", {{"enable_thinking", false}, {key, 1}}}});
    auto r = parse_chat_request(body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_EQ(r.error().param, std::string("chat_template_kwargs.") + key);
    EXPECT_EQ(r.error().message, std::string("chat_template_kwargs.") + key +
                                     " is set by the server and cannot be passed to the template");
  }
  // An assistant's call needs its id: the tool message answering it names it.
  const json call = {{"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}};
  for (const json& id : {json(), json(7)}) {
    json with_id = call;
    if (!id.is_null()) with_id["id"] = id;
    expect_rejected({"call without a string id",
                     chat_body({{"messages",
                                 {{{"role", "user"}, {"content", "hi"}},
                                  {{"role", "assistant"}, {"tool_calls", {with_id}}}}}}),
                     "messages[1].tool_calls[0].id"},
                    /*chat=*/true);
  }
}

// A built-in chat format reads neither tools nor template variables: sending them is a 400.
TEST(ParseChatRequest, ToolsAndKwargsNeedTheModelsOwnTemplate) {
  const auto parse = [](const json& extra) {
    auto r = parse_chat_request(chat_body(extra));
    EXPECT_TRUE(r.ok()) << r.error().message;
    read_template_fields(chat_body(extra).dump(), r.value());
    return r.value();
  };
  const std::string why =
      " cannot reach the prompt: this model has no usable chat template of its own, and its "
      "built-in chat format reads neither tools nor template variables";
  for (const json& extra : {json{{"tools", kTwoTools}},
                            json{{"tools", kTwoTools}, {"tool_choice", "required"}},
                            json{{"tools", kTwoTools}, {"chat_template_kwargs", {{"a", 1}}}}}) {
    const GenerationRequest r = parse(extra);
    EXPECT_FALSE(check_builtin_format(/*own_template=*/true, r));
    auto error = check_builtin_format(/*own_template=*/false, r);
    ASSERT_TRUE(error) << extra.dump();
    EXPECT_EQ(error->param, "tools");
    EXPECT_EQ(error->message, "tools" + why);
  }
  auto error = check_builtin_format(false, parse({{"chat_template_kwargs", {{"a", 1}}}}));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->param, "chat_template_kwargs");
  EXPECT_EQ(error->message, "chat_template_kwargs" + why);
  // Nothing that would be lost: no tools, tools left out by tool_choice "none", empty ones.
  for (const json& extra :
       {json::object(), json{{"tools", kTwoTools}, {"tool_choice", "none"}},
        json{{"tools", json::array()}, {"chat_template_kwargs", json::object()}}})
    EXPECT_FALSE(check_builtin_format(false, parse(extra))) << extra.dump();
}

TEST(ParseRequests, ResponseFormat) {
  for (const bool chat : {true, false}) {
    const auto parse = [chat](const json& format) {
      return chat ? parse_chat_request(chat_body({{"response_format", format}}))
                  : parse_completion_request(completion_body({{"response_format", format}}));
    };
    auto r = parse({{"type", "text"}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->params.format.kind, OutputFormat::Kind::Text);
    r = parse({{"type", "json_object"}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->params.format.kind, OutputFormat::Kind::JsonObject);
    const json schema = {{"type", "object"},
                         {"properties", {{"ok", {{"type", "boolean"}}}}},
                         {"required", {"ok"}},
                         {"additionalProperties", false}};
    r = parse({{"type", "json_schema"},
               {"json_schema", {{"name", "answer"}, {"strict", true}, {"schema", schema}}}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->params.format.kind, OutputFormat::Kind::JsonSchema);
    EXPECT_EQ(json::parse(r->params.format.json_schema), schema);
  }
  const BadCase cases[] = {
      {"not an object", chat_body({{"response_format", "json"}}), "response_format"},
      {"xml", chat_body({{"response_format", {{"type", "xml"}}}}), "response_format"},
      {"no type", chat_body({{"response_format", json::object()}}), "response_format"},
      {"unknown key", chat_body({{"response_format", {{"type", "text"}, {"strict", true}}}}),
       "response_format.strict"},
      {"unknown json_schema key",
       chat_body({{"response_format",
                   {{"type", "json_schema"},
                    {"json_schema", {{"name", "x"}, {"schemas", json::object()}}}}}}),
       "response_format.json_schema.schemas"},
      {"json_schema missing", chat_body({{"response_format", {{"type", "json_schema"}}}}),
       "response_format"},
      {"json_schema without a name",
       chat_body({{"response_format",
                   {{"type", "json_schema"}, {"json_schema", {{"schema", json::object()}}}}}}),
       "response_format.json_schema.name"},
      {"json_schema name with a space",
       chat_body({{"response_format",
                   {{"type", "json_schema"},
                    {"json_schema", {{"name", "bad name"}, {"schema", json::object()}}}}}}),
       "response_format.json_schema.name"},
      {"json_schema name null",
       chat_body({{"response_format",
                   {{"type", "json_schema"},
                    {"json_schema", {{"name", nullptr}, {"schema", json::object()}}}}}}),
       "response_format.json_schema.name"},
      {"json_schema name a number",
       chat_body({{"response_format",
                   {{"type", "json_schema"},
                    {"json_schema", {{"name", 7}, {"schema", json::object()}}}}}}),
       "response_format.json_schema.name"},
      {"json_schema name of 65 letters",
       chat_body(
           {{"response_format",
             {{"type", "json_schema"},
              {"json_schema", {{"name", std::string(65, 'a')}, {"schema", json::object()}}}}}}),
       "response_format.json_schema.name"},
      {"json_schema beside type json_object",
       chat_body({{"response_format",
                   {{"type", "json_object"},
                    {"json_schema", {{"name", "x"}, {"schema", {{"type", "string"}}}}}}}}),
       "response_format.json_schema"},
      {"unsupported keyword",
       chat_body({{"response_format",
                   {{"type", "json_schema"},
                    {"json_schema",
                     {{"name", "x"}, {"schema", {{"type", "string"}, {"pattern", "^a$"}}}}}}}}),
       "response_format"},
  };
  for (const auto& c : cases) expect_rejected(c, /*chat=*/true);
  auto r = parse_chat_request(cases[12].body);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pattern"), std::string::npos) << r.error().message;
}

// The schema's text keeps the client's key order (properties are generated in that order).
TEST(ParseRequests, ResponseFormatSchemaKeepsKeyOrder) {
  const std::string body =
      R"({"model": "m", "prompt": "p", "response_format": {"type": "json_schema", "json_schema":)"
      R"( {"name": "x", "schema": {"type": "object", "properties": {"zeta": {"type": "integer"},)"
      R"( "alpha": {"type": "boolean"}}, "required": ["zeta", "alpha"]}}}})";
  auto r = parse_completion_request(json::parse(body));
  ASSERT_TRUE(r.ok()) << r.error().message;
  read_response_format_schema(body, r.value());
  EXPECT_EQ(r->params.format.json_schema,
            R"({"type":"object","properties":{"zeta":{"type":"integer"},"alpha":)"
            R"({"type":"boolean"}},"required":["zeta","alpha"]})");
}

TEST(ParseRequests, LogitBias) {
  auto r = parse_completion_request(completion_body({{"logit_bias", {{"7", -100}, {"12", 2.5}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  // (nlohmann::json orders the keys as strings)
  EXPECT_EQ(r->params.logit_bias,
            (std::vector<std::pair<int32_t, float>>{{12, 2.5f}, {7, -100.0f}}));
  r = parse_completion_request(completion_body({{"logit_bias", json::object()}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->params.logit_bias.empty());
  const BadCase cases[] = {
      {"an array", chat_body({{"logit_bias", {1, 2}}}), "logit_bias"},
      {"a word key", chat_body({{"logit_bias", {{"hello", 1}}}}), "logit_bias"},
      {"a negative key", chat_body({{"logit_bias", {{"-1", 1}}}}), "logit_bias"},
      {"a key past int32", chat_body({{"logit_bias", {{"2147483648", 1}}}}), "logit_bias"},
      {"an empty key", chat_body({{"logit_bias", {{"", 1}}}}), "logit_bias"},
      {"a value of 101", chat_body({{"logit_bias", {{"1", 101}}}}), "logit_bias"},
      {"a string value", chat_body({{"logit_bias", {{"1", "5"}}}}), "logit_bias"},
  };
  for (const auto& c : cases) expect_rejected(c, /*chat=*/true);
}

TEST(ParseRequests, Logprobs) {
  auto r = parse_chat_request(chat_body());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.top_logprobs, -1);
  r = parse_chat_request(chat_body({{"logprobs", true}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.top_logprobs, 0);
  r = parse_chat_request(chat_body({{"logprobs", true}, {"top_logprobs", 20}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.top_logprobs, 20);
  r = parse_chat_request(chat_body({{"logprobs", false}, {"top_logprobs", nullptr}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->params.top_logprobs, -1);
  auto text = parse_completion_request(completion_body({{"logprobs", 5}}));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->params.top_logprobs, 5);
  text = parse_completion_request(completion_body({{"logprobs", 0}}));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->params.top_logprobs, 0);
  text = parse_completion_request(completion_body({{"logprobs", nullptr}}));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->params.top_logprobs, -1);

  const BadCase chat_cases[] = {
      {"logprobs a number", chat_body({{"logprobs", 1}}), "logprobs"},
      {"top_logprobs without logprobs", chat_body({{"top_logprobs", 2}}), "top_logprobs"},
      {"top_logprobs 21", chat_body({{"logprobs", true}, {"top_logprobs", 21}}), "top_logprobs"},
      {"top_logprobs -1", chat_body({{"logprobs", true}, {"top_logprobs", -1}}), "top_logprobs"},
      {"top_logprobs 1.5", chat_body({{"logprobs", true}, {"top_logprobs", 1.5}}), "top_logprobs"},
  };
  for (const auto& c : chat_cases) expect_rejected(c, /*chat=*/true);
  const BadCase text_cases[] = {
      {"logprobs true", completion_body({{"logprobs", true}}), "logprobs"},
      {"logprobs 21", completion_body({{"logprobs", 21}}), "logprobs"},
      {"logprobs -1", completion_body({{"logprobs", -1}}), "logprobs"},
  };
  for (const auto& c : text_cases) expect_rejected(c, /*chat=*/false);
}

// `user` (an end-user id, as on /v1/embeddings) is accepted on both endpoints when a string.
TEST(ParseRequests, UserIsAStringOnBothEndpoints) {
  EXPECT_TRUE(parse_chat_request(chat_body({{"user", "u-42"}})).ok());
  EXPECT_TRUE(parse_completion_request(completion_body({{"user", "u-42"}})).ok());
  EXPECT_TRUE(parse_chat_request(chat_body({{"user", nullptr}})).ok());
  for (const bool chat : {true, false}) {
    auto r = chat ? parse_chat_request(chat_body({{"user", 42}}))
                  : parse_completion_request(completion_body({{"user", 42}}));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().param, "user");
    EXPECT_EQ(r.error().message, "user must be a string, got 42");
  }
}

// A field of OpenAI's API reference that gengyun does not offer is refused by name with the
// reason, null included (QA: "Unrecognized request argument" read as a client's typo).
TEST(ParseRequests, OpenAIFieldsNotOfferedAreRefusedWithTheirReason) {
  const std::pair<const char*, const char*> chat_fields[] = {
      {"audio", "gengyun answers text only"},
      {"functions",
       "it is OpenAI's deprecated form of tools; give tools (type \"function\") instead"},
      {"function_call",
       "it is OpenAI's deprecated form of tool_choice; give tools and tool_choice instead"},
      {"prediction", "Predicted Outputs are not offered: every token is generated"},
      {"prompt_cache_key",
       "the prefix cache takes no options: a prompt that begins as an earlier one reuses its KV "
       "cache while it is kept (usage.prompt_tokens_details.cached_tokens)"},
      {"reasoning_effort",
       "a Qwen3 model's thinking is turned off with chat_template_kwargs {\"enable_thinking\": "
       "false}"},
      {"safety_identifier",
       "give the end user's id as user, which the usage ledger records with the request"},
      {"verbosity", "the answer's length is the model's (max_tokens bounds it)"},
      {"web_search_options", "web search is not offered: a model answers from its weights"},
      {"moderation", "moderation is not offered: the answer is the model's, unchecked"},
  };
  for (const auto& [name, reason] : chat_fields) {
    auto chat = parse_chat_request(chat_body({{name, "x"}}));
    ASSERT_FALSE(chat.ok()) << name;
    EXPECT_EQ(chat.error().message, std::string(name) + " is not supported: " + reason);
    EXPECT_EQ(chat.error().param, name);
    // null is absent, as for the fields the API reads (OpenAI's SDKs send explicit nulls).
    EXPECT_TRUE(parse_chat_request(chat_body({{name, nullptr}})).ok()) << name;
  }
  EXPECT_TRUE(parse_completion_request(completion_body({{"suffix", nullptr}})).ok());
  auto suffix = parse_completion_request(completion_body({{"suffix", "x"}}));
  ASSERT_FALSE(suffix.ok());
  EXPECT_EQ(suffix.error().message,
            "suffix is not supported: gengyun completes a prompt at its end only (no text "
            "inserted before a suffix)");
  EXPECT_EQ(suffix.error().param, "suffix");
  // Each on its own endpoint: suffix is no chat field, reasoning_effort no completions one.
  EXPECT_EQ(parse_chat_request(chat_body({{"suffix", "x"}})).error().message,
            "Unrecognized request argument supplied: suffix");
  EXPECT_EQ(
      parse_completion_request(completion_body({{"reasoning_effort", "low"}})).error().message,
      "Unrecognized request argument supplied: reasoning_effort");
}

// A field neither endpoint reads, or one of the other endpoint, is a 400 naming it.
TEST(ParseRequests, UnknownFieldsAreRefusedByName) {
  for (const char* name : {"sufix", "Model", "predictions"}) {
    auto chat = parse_chat_request(chat_body({{name, "x"}}));
    ASSERT_FALSE(chat.ok()) << name;
    EXPECT_EQ(chat.error().message, std::string("Unrecognized request argument supplied: ") + name);
    EXPECT_EQ(chat.error().param, name);
    auto text = parse_completion_request(completion_body({{name, "x"}}));
    ASSERT_FALSE(text.ok()) << name;
    EXPECT_EQ(text.error().param, name);
  }
  // (null is refused too: an unknown field is a client's mistake whatever its value)
  EXPECT_FALSE(parse_chat_request(chat_body({{"sufix", nullptr}})).ok());
  for (const char* name : {"prompt", "echo", "best_of"}) {
    auto chat = parse_chat_request(chat_body({{name, nullptr}}));
    ASSERT_FALSE(chat.ok()) << name;
    EXPECT_EQ(chat.error().message,
              std::string(name) + " is not a parameter of /v1/chat/completions");
    EXPECT_EQ(chat.error().param, name);
  }
  for (const char* name :
       {"messages", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
        "chat_template_kwargs", "store", "service_tier", "modalities", "metadata"}) {
    auto text = parse_completion_request(completion_body({{name, nullptr}}));
    ASSERT_FALSE(text.ok()) << name;
    EXPECT_EQ(text.error().message, std::string(name) + " is not a parameter of /v1/completions");
    EXPECT_EQ(text.error().param, name);
  }
}

// OpenAI's service fields: the values that hold here are taken, the others refused naming them.
TEST(ParseRequests, ServiceFieldsAreTakenWhereTheirValueHolds) {
  for (const json& fields :
       {json{{"store", false}}, json{{"service_tier", "auto"}}, json{{"service_tier", "default"}},
        json{{"modalities", {"text"}}}, json{{"store", nullptr}}, json{{"metadata", nullptr}}})
    EXPECT_TRUE(parse_chat_request(chat_body(fields)).ok()) << fields;
  // A tier given is named in the answer; none given, none named.
  for (const char* tier : {"auto", "default"})
    EXPECT_TRUE(parse_chat_request(chat_body({{"service_tier", tier}}))->service_tier) << tier;
  EXPECT_FALSE(parse_chat_request(chat_body({{"service_tier", nullptr}}))->service_tier);
  EXPECT_FALSE(parse_chat_request(chat_body(json::object()))->service_tier);
  const std::pair<json, std::string> refused[] = {
      {{{"store", true}},
       "store: true is not offered: gengyun keeps no completions (only their usage rows); leave "
       "store out or set it to false"},
      {{{"store", "no"}}, "store must be a boolean, got \"no\""},
      {{{"service_tier", "flex"}},
       "service_tier \"flex\" is not offered: every request is served in one tier (\"auto\" or "
       "\"default\")"},
      {{{"service_tier", 1}}, "service_tier must be a string, got 1"},
      {{{"modalities", {"text", "audio"}}},
       "modalities must be [\"text\"]: gengyun answers text only, got [\"text\",\"audio\"]"},
      {{{"modalities", "text"}},
       "modalities must be [\"text\"]: gengyun answers text only, got \"text\""},
      {{{"metadata", {{"a", "b"}}}},
       "metadata tags stored completions, and gengyun stores none (store is not offered): it is "
       "refused rather than dropped"}};
  for (const auto& [fields, message] : refused) {
    auto r = parse_chat_request(chat_body(fields));
    ASSERT_FALSE(r.ok()) << fields;
    EXPECT_EQ(r.error().message, message);
    EXPECT_EQ(r.error().param, fields.begin().key());
    EXPECT_EQ(r.error().http_status, 400);
  }
}

// `user` is kept for the ledger (read_user): a string of at most 256 bytes, on both endpoints.
TEST(ParseRequests, UserIsKeptAndBounded) {
  EXPECT_EQ(parse_chat_request(chat_body({{"user", "alice"}}))->user, "alice");
  EXPECT_EQ(parse_completion_request(completion_body({{"user", "bob"}}))->user, "bob");
  EXPECT_EQ(parse_chat_request(chat_body({{"user", nullptr}}))->user, "");
  EXPECT_EQ(parse_chat_request(chat_body({{"user", std::string(256, 'u')}}))->user.size(), 256u);
  auto long_user = parse_chat_request(chat_body({{"user", std::string(257, 'u')}}));
  ASSERT_FALSE(long_user.ok());
  EXPECT_EQ(long_user.error().message, "user must be at most 256 bytes, got 257");
  EXPECT_EQ(long_user.error().param, "user");
  auto nul = parse_chat_request(chat_body({{"user", std::string("a\0b", 3)}}));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().message, "user must not contain a NUL character");
  auto number = parse_completion_request(completion_body({{"user", 7}}));
  ASSERT_FALSE(number.ok());
  EXPECT_EQ(number.error().message, "user must be a string, got 7");
  EXPECT_EQ(requested_end_user({{"user", "alice"}}), "alice");
  EXPECT_EQ(requested_end_user({{"user", 7}}), "");
  EXPECT_EQ(requested_end_user({{"user", std::string(257, 'u')}}), "");
}

// max_tokens and max_completion_tokens together must agree (else one would be ignored).
TEST(ParseRequests, MaxTokensAndMaxCompletionTokensMustAgree) {
  auto both = parse_chat_request(chat_body({{"max_tokens", 3}, {"max_completion_tokens", 2}}));
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().param, "max_completion_tokens");
  EXPECT_EQ(both.error().message,
            "max_tokens (3) and max_completion_tokens (2) disagree; send one of them");
  // The values as sent, not as clamped to an int.
  auto huge = parse_chat_request(
      chat_body({{"max_tokens", 5}, {"max_completion_tokens", int64_t{1000000000000}}}));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().message,
            "max_tokens (5) and max_completion_tokens (1000000000000) disagree; send one of them");
  auto same = parse_chat_request(chat_body({{"max_tokens", 2}, {"max_completion_tokens", 2}}));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->params.max_tokens, 2);
  auto newer = parse_chat_request(chat_body({{"max_completion_tokens", 5}}));
  ASSERT_TRUE(newer.ok());
  EXPECT_EQ(newer->params.max_tokens, 5);
}

// Inside messages and content parts too: a key the server would not use is a 400 naming it.
TEST(ParseRequests, UnknownMessageKeysAreRefusedByName) {
  struct Case {
    json message;
    std::string param;
  };
  const Case cases[] = {
      {{{"role", "user"}, {"content", "hi"}, {"cache_control", "x"}}, "messages[0].cache_control"},
      {{{"role", "assistant"}, {"content", "hi"}, {"audio", nullptr}}, "messages[0].audio"},
      {{{"role", "assistant"}, {"function_call", {{"name", "f"}}}}, "messages[0].function_call"},
      {{{"role", "assistant"}, {"content", "hi"}, {"refusal", "no"}}, "messages[0].refusal"},
      {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}, {"cache", 1}}}}},
       "messages[0].content[0].cache"},
  };
  for (const Case& c : cases) {
    auto r = parse_chat_request(chat_body({{"messages", {c.message}}}));
    ASSERT_FALSE(r.ok()) << c.message.dump();
    EXPECT_EQ(r.error().param, c.param) << r.error().message;
  }
  // The keys the API reads, and a null refusal (as the API sends it back), pass.
  EXPECT_TRUE(parse_chat_request(
                  chat_body({{"messages",
                              {{{"role", "user"}, {"content", "hi"}, {"name", "ann"}},
                               {{"role", "assistant"}, {"content", "yo"}, {"refusal", nullptr}}}}}))
                  .ok());
}

TEST(ParseChatRequest, RejectsBadFields) {
  const json user = {{"role", "user"}, {"content", "hi"}};
  const BadCase cases[] = {
      {"no model", json{{"messages", {user}}}, "model"},
      {"model not a string", chat_body({{"model", 3}}), "model"},
      {"empty model", chat_body({{"model", ""}}), "model"},
      {"no messages", json{{"model", "m"}}, "messages"},
      {"messages not an array", chat_body({{"messages", "hi"}}), "messages"},
      {"empty messages", chat_body({{"messages", json::array()}}), "messages"},
      {"message not an object", chat_body({{"messages", {"hi"}}}), "messages[0]"},
      {"no role", chat_body({{"messages", {{{"content", "hi"}}}}}), "messages[0].role"},
      {"bad role", chat_body({{"messages", {user, {{"role", "robot"}, {"content", "x"}}}}}),
       "messages[1].role"},
      {"tool message without tool_call_id",
       chat_body({{"messages", {{{"role", "tool"}, {"content", "x"}}}}}),
       "messages[0].tool_call_id"},
      {"tool_call_id a number",
       chat_body({{"messages", {{{"role", "tool"}, {"content", "x"}, {"tool_call_id", 1}}}}}),
       "messages[0].tool_call_id"},
      {"tool_calls on a user message",
       chat_body(
           {{"messages", {{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array()}}}}}),
       "messages[0].tool_calls"},
      {"tool_calls not an array",
       chat_body({{"messages", {{{"role", "assistant"}, {"tool_calls", "f()"}}}}}),
       "messages[0].tool_calls"},
      {"tool call without function",
       chat_body(
           {{"messages",
             {{{"role", "assistant"}, {"tool_calls", {{{"id", "c"}, {"type", "function"}}}}}}}}),
       "messages[0].tool_calls[0].function"},
      {"tool call arguments an object",
       chat_body({{"messages",
                   {{{"role", "assistant"},
                     {"tool_calls",
                      {{{"id", "c"},
                        {"type", "function"},
                        {"function", {{"name", "f"}, {"arguments", {{"a", 1}}}}}}}}}}}}),
       "messages[0].tool_calls[0].function.arguments"},
      {"tool call of another type",
       chat_body({{"messages",
                   {{{"role", "assistant"},
                     {"tool_calls",
                      {{{"id", "c"}, {"type", "web"}, {"function", {{"name", "f"}}}}}}}}}}),
       "messages[0].tool_calls[0].type"},
      {"reasoning_content on a user message",
       chat_body(
           {{"messages", {{{"role", "user"}, {"content", "x"}, {"reasoning_content", "r"}}}}}),
       "messages[0].reasoning_content"},
      {"name a number",
       chat_body({{"messages", {{{"role", "user"}, {"content", "x"}, {"name", 2}}}}}),
       "messages[0].name"},
      {"tools not an array", chat_body({{"tools", {{"type", "function"}}}}), "tools"},
      {"tool not a function", chat_body({{"tools", {{{"type", "code"}}}}}), "tools[0]"},
      {"tool function without a name",
       chat_body({{"tools", {{{"type", "function"}, {"function", {{"description", "d"}}}}}}}),
       "tools[0].function"},
      {"tool parameters not an object",
       chat_body({{"tools",
                   {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "x"}}}}}}}),
       "tools[0].function.parameters"},
      {"tool_choice unknown", chat_body({{"tool_choice", "always"}}), "tool_choice"},
      {"tool_choice object without a name",
       chat_body({{"tool_choice", {{"type", "function"}, {"function", json::object()}}}}),
       "tool_choice"},
      {"parallel_tool_calls a string", chat_body({{"parallel_tool_calls", "yes"}}),
       "parallel_tool_calls"},
      {"chat_template_kwargs an array", chat_body({{"chat_template_kwargs", json::array()}}),
       "chat_template_kwargs"},
      {"role not a string", chat_body({{"messages", {{{"role", 1}, {"content", "x"}}}}}),
       "messages[0].role"},
      {"user without content", chat_body({{"messages", {{{"role", "user"}}}}}),
       "messages[0].content"},
      {"content a number", chat_body({{"messages", {{{"role", "user"}, {"content", 5}}}}}),
       "messages[0].content"},
      {"image part",
       chat_body({{"messages",
                   {{{"role", "user"},
                     {"content", {{{"type", "image_url"}, {"image_url", {{"url", "x"}}}}}}}}}}),
       "messages[0].content[0].type"},
      {"part without text",
       chat_body({{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}}}}}}}}),
       "messages[0].content[0].text"},
      {"part not an object", chat_body({{"messages", {{{"role", "user"}, {"content", {"x"}}}}}}),
       "messages[0].content[0]"},
      {"temperature > 2", chat_body({{"temperature", 2.5}}), "temperature"},
      {"temperature < 0", chat_body({{"temperature", -0.1}}), "temperature"},
      {"temperature a string", chat_body({{"temperature", "0.5"}}), "temperature"},
      {"top_p 0", chat_body({{"top_p", 0}}), "top_p"},
      {"top_p > 1", chat_body({{"top_p", 1.01}}), "top_p"},
      {"max_tokens 0", chat_body({{"max_tokens", 0}}), "max_tokens"},
      {"max_tokens negative", chat_body({{"max_tokens", -5}}), "max_tokens"},
      {"max_tokens float", chat_body({{"max_tokens", 5.5}}), "max_tokens"},
      {"max_tokens 5.0", chat_body({{"max_tokens", 5.0}}), "max_tokens"},
      {"max_tokens a string", chat_body({{"max_tokens", "5"}}), "max_tokens"},
      {"max_completion_tokens 0", chat_body({{"max_completion_tokens", 0}}),
       "max_completion_tokens"},
      {"top_k negative", chat_body({{"top_k", -1}}), "top_k"},
      {"top_k float", chat_body({{"top_k", 1.5}}), "top_k"},
      {"min_p > 1", chat_body({{"min_p", 1.5}}), "min_p"},
      {"presence_penalty > 2", chat_body({{"presence_penalty", 3}}), "presence_penalty"},
      {"frequency_penalty < -2", chat_body({{"frequency_penalty", -2.5}}), "frequency_penalty"},
      {"repeat_penalty 0", chat_body({{"repeat_penalty", 0}}), "repeat_penalty"},
      {"seed float", chat_body({{"seed", 1.5}}), "seed"},
      {"seed a string", chat_body({{"seed", "1"}}), "seed"},
      {"5 stop strings", chat_body({{"stop", {"a", "b", "c", "d", "e"}}}), "stop"},
      {"stop not strings", chat_body({{"stop", {"a", 1}}}), "stop"},
      {"stop a number", chat_body({{"stop", 1}}), "stop"},
      {"n 0", chat_body({{"n", 0}}), "n"},
      {"n a string", chat_body({{"n", "1"}}), "n"},
      {"stream a string", chat_body({{"stream", "yes"}}), "stream"},
      {"stream_options a bool", chat_body({{"stream", true}, {"stream_options", true}}),
       "stream_options"},
      {"stream_options without stream", chat_body({{"stream_options", {{"include_usage", true}}}}),
       "stream_options"},
      {"stream_options unknown option",
       chat_body({{"stream", true}, {"stream_options", {{"include_obfuscation", true}}}}),
       "stream_options.include_obfuscation"},
      {"include_usage a string",
       chat_body({{"stream", true}, {"stream_options", {{"include_usage", "yes"}}}}),
       "stream_options.include_usage"},
  };
  for (const auto& c : cases) expect_rejected(c, /*chat=*/true);
}

TEST(ParseRequests, IncludeUsage) {
  for (const bool chat : {true, false}) {
    const auto parse = [chat](const json& extra) {
      return chat ? parse_chat_request(chat_body(extra))
                  : parse_completion_request(completion_body(extra));
    };
    auto r = parse({{"stream", true}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->include_usage);
    r = parse({{"stream", true}, {"stream_options", {{"include_usage", true}}}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->include_usage);
    r = parse({{"stream", true}, {"stream_options", {{"include_usage", false}}}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->include_usage);
    r = parse({{"stream", false}, {"stream_options", nullptr}});
    ASSERT_TRUE(r.ok());
  }
}

TEST(ParseCompletionRequest, PromptForms) {
  const auto prompts = [](const json& prompt) {
    auto r = parse_completion_request(completion_body({{"prompt", prompt}}));
    EXPECT_TRUE(r.ok()) << prompt << ": " << (r.ok() ? "" : r.error().message);
    std::vector<std::string> out;
    if (r.ok())
      for (const PromptInput& p : r->prompts) {
        std::string shown = p.is_tokens ? "ids:" : p.text;
        for (int32_t id : p.tokens) shown += std::to_string(id) + ",";
        out.push_back(shown);
      }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(prompts("hi"), V{"hi"});
  EXPECT_EQ(prompts(""), V{""});
  EXPECT_EQ(prompts({"one"}), V{"one"});
  EXPECT_EQ(prompts({"one", "two"}), (V{"one", "two"}));
  EXPECT_EQ(prompts({1, 2, 3}), V{"ids:1,2,3,"});
  EXPECT_EQ(prompts({{1, 2}, {3}}), (V{"ids:1,2,", "ids:3,"}));
  EXPECT_EQ(prompts({json({7}), "x"}), (V{"ids:7,", "x"}));
}

TEST(ParseCompletionRequest, NEchoAndBestOf) {
  auto r = parse_completion_request(completion_body({{"n", 3}, {"best_of", 3}, {"echo", true}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n, 3);
  EXPECT_TRUE(r->echo);
  r = parse_completion_request(completion_body({{"best_of", 1}, {"echo", false}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n, 1);
  EXPECT_FALSE(r->echo);
  auto chat = parse_chat_request(chat_body({{"n", 128}}));
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat->n, 128);
  const BadCase cases[] = {
      {"best_of above n", completion_body({{"best_of", 2}}), "best_of"},
      {"best_of below n", completion_body({{"n", 3}, {"best_of", 2}}), "best_of"},
      {"best_of 0", completion_body({{"best_of", 0}}), "best_of"},
      {"best_of a string", completion_body({{"best_of", "2"}}), "best_of"},
      {"echo a number", completion_body({{"echo", 1}}), "echo"},
      {"echo with logprobs", completion_body({{"echo", true}, {"logprobs", 1}}), "logprobs"},
      {"n 0", completion_body({{"n", 0}}), "n"},
      {"n 129", completion_body({{"n", 129}}), "n"},
      {"129 choices", completion_body({{"n", 43}, {"prompt", {"a", "b", "c"}}}), "prompt"},
  };
  for (const auto& c : cases) expect_rejected(c, /*chat=*/false);
}

TEST(ParseCompletionRequest, RejectsBadPrompts) {
  const BadCase cases[] = {
      {"no prompt", json{{"model", "m"}}, "prompt"},
      {"prompt a number", completion_body({{"prompt", 3}}), "prompt"},
      {"empty array", completion_body({{"prompt", json::array()}}), "prompt"},
      {"negative id", completion_body({{"prompt", {1, -2}}}), "prompt"},
      {"id past int32", completion_body({{"prompt", {int64_t{1} << 31}}}), "prompt"},
      {"float id", completion_body({{"prompt", {1.5}}}), "prompt"},
      {"empty id array", completion_body({{"prompt", {json::array()}}}), "prompt"},
      {"number beside a string", completion_body({{"prompt", {"a", 1}}}), "prompt"},
      {"nested too deep", completion_body({{"prompt", {{{1}}}}}), "prompt"},
      {"no model", json{{"prompt", "x"}}, "model"},
      {"temperature > 2", completion_body({{"temperature", 3}}), "temperature"},
  };
  for (const auto& c : cases) expect_rejected(c, /*chat=*/false);
}

// A prompt of token ids is read as the embeddings' input is (read_token_ids): an id past int32
// is named, with its prompt's index, as outside the vocabulary (QA: it got the prompt's generic
// message, where /v1/embeddings named the id).
TEST(ParseCompletionRequest, TokenIdsAreNamedAsTheEmbeddingsInputNamesThem) {
  const std::pair<json, std::string> refused[] = {
      {json::parse("[1, 4294967296]"),
       "prompt holds the token id 4294967296, outside the vocabulary"},
      {json::parse("[[1], [2, 18446744073709551616]]"),
       "prompt[1] holds the token id 18446744073709551616, outside the vocabulary"},
      {json::parse(R"(["a", [2147483648]])"),
       "prompt[1] holds the token id 2147483648, outside the vocabulary"},
      {json::parse("[1, -2]"), "prompt must hold token ids (integers >= 0), got -2"},
      {json::parse("[[1.5]]"), "prompt[0] must hold token ids (integers >= 0), got 1.5"},
      {json::parse(R"([1, "a"])"), "prompt must hold token ids (integers >= 0), got \"a\""},
      {json::parse("[[1], []]"), "prompt[1] must not be an empty array"},
  };
  for (const auto& [prompt, message] : refused) {
    auto r = parse_completion_request(completion_body({{"prompt", prompt}}));
    ASSERT_FALSE(r.ok()) << prompt;
    EXPECT_EQ(r.error().message, message);
    EXPECT_EQ(r.error().param, "prompt");
  }
  auto r = parse_completion_request(completion_body({{"prompt", {2147483647}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->prompts[0].tokens, std::vector<int32_t>{2147483647});
}

TEST(ReadKeepAlive, SecondsDurationStringsAndErrors) {
  EXPECT_EQ(read_keep_alive(json::object()).value(), std::nullopt);
  EXPECT_EQ(read_keep_alive({{"keep_alive", nullptr}}).value(), std::nullopt);
  EXPECT_EQ(read_keep_alive({{"keep_alive", 30}}).value(), 30'000'000);
  EXPECT_EQ(read_keep_alive({{"keep_alive", 0}}).value(), 0);
  EXPECT_EQ(read_keep_alive({{"keep_alive", -1}}).value(), -1);
  EXPECT_EQ(read_keep_alive({{"keep_alive", "1h30m"}}).value(), 5'400'000'000);
  const auto bad = read_keep_alive({{"keep_alive", "5 minutes"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "keep_alive");
  EXPECT_EQ(
      bad.error().message,
      "keep_alive: invalid duration '5 minutes': it holds whitespace; write each number and its "
      "unit together, e.g. \"5s\" or \"1h30m\"");
  auto request = parse_completion_request({{"model", "m"}, {"prompt", "p"}, {"keep_alive", "5m"}});
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->keep_alive_us, 300'000'000);
}

}  // namespace
}  // namespace gengyun::api
