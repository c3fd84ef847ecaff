// Reasoning through the real server: a model whose template ends its prompt inside <think>
// (qwen2-tiny with QwQ's template) answers in reasoning_content, apart from content, streamed
// and not, and chat_template_kwargs {"enable_thinking": false} reaches the template and closes
// the reasoning in the prompt, so the same model answers in content. The tiny model has random
// weights and writes no </think>: its whole greedy answer is reasoning in the first case.
// The same server also serves qwen2-tiny with Llama 3.1's template (llama-tools-tiny), whose
// answers speak Llama 3.x JSON tool calls: a response_format schema of a call makes it write one.
// With Qwen2.5's template (hermes-tools-tiny, Hermes <tool_call> tags), tool_choice "required"
// or a named function makes it write calls by constrained decoding.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "sampling/json_validator.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ReasoningServerTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // qwen2-tiny with QwQ's chat template (and with Llama 3.1's), served by a second server on
    // the same ledger.
    std::vector<deploy::ModelSpec> specs;
    for (const auto& [name, chat_template] :
         {std::pair{"qwq-tiny", "Qwen-QwQ-32B.jinja"},
          std::pair{"llama-tools-tiny", "meta-llama-Llama-3.1-8B-Instruct.jinja"},
          std::pair{"hermes-tools-tiny", "Qwen-Qwen2.5-7B-Instruct.jinja"}}) {
      auto source =
          gguf::File::open(gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf"));
      ASSERT_TRUE(source.ok());
      gguf::Writer writer;
      for (const auto& [key, value] : source->metadata()) {
        if (key != "tokenizer.chat_template") writer.set(key, value);
      }
      writer.set_string("tokenizer.chat_template",
                        read_text(gengyun::testing::testdata_path(std::string("chat/templates/") +
                                                                  chat_template)));
      for (const gguf::TensorInfo& t : source->tensors())
        ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
      const std::string path = (dir_ / (std::string(name) + ".gguf")).string();
      ASSERT_TRUE(writer.write(path).ok());
      specs.push_back({name, path});
    }
    start_own(qwq_, std::move(specs), {.n_threads = 1, .n_ctx = 512});
  }
  void TearDown() override {
    qwq_.stop();
    qwq_.server.reset();
    qwq_.registry.reset();
    ServerTest::TearDown();
  }

  httplib::Result post_qwq(const json& body) {
    httplib::Client client("127.0.0.1", qwq_.port);
    client.set_read_timeout(60, 0);
    return client.Post("/v1/chat/completions", {{"Authorization", "Bearer " + key_}}, body.dump(),
                       "application/json");
  }

  OwnServer qwq_;
};

TEST_F(ReasoningServerTest, AnswersInsideThinkAreReasoningContent) {
  deploy::Acquired qwq = qwq_.registry->acquire("qwq-tiny");
  ASSERT_TRUE(qwq.lease) << qwq.message;
  const std::vector<ChatMessage> messages = {{"user", "Why is the sky blue?"}};
  for (const bool thinking : {true, false}) {
    const std::string kwargs =
        thinking ? R"({"enable_thinking":true})" : R"({"enable_thinking":false})";
    const auto prompt = (*qwq.lease)->chat_prompt(messages, {"", kwargs});
    ASSERT_TRUE(prompt.ok()) << prompt.error().message;
    ASSERT_EQ(prompt->syntax.starts_in_reasoning, thinking);
    GenerationParams params;
    params.max_tokens = 12;
    params.temperature = 0;
    const auto expected =
        (*qwq.lease)->generate(prompt->tokens, params, [](std::string_view) { return true; });
    ASSERT_TRUE(expected.ok()) << expected.error().message;
    ASSERT_FALSE(expected->text.empty());
    ASSERT_EQ(expected->text.find("think>"), std::string::npos) << "pick a prompt without tags";

    json request = {{"model", "qwq-tiny"},
                    {"messages", {{{"role", "user"}, {"content", "Why is the sky blue?"}}}},
                    {"max_tokens", 12},
                    {"temperature", 0},
                    {"chat_template_kwargs", json::parse(kwargs)}};
    auto r = post_qwq(request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json whole = json::parse(r->body);
    const json& message = whole["choices"][0]["message"];
    if (thinking) {
      EXPECT_EQ(message["reasoning_content"], expected->text);
      EXPECT_EQ(message["content"], "");
    } else {
      EXPECT_FALSE(message.contains("reasoning_content"));
      EXPECT_EQ(message["content"], expected->text);
    }
    EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(whole["usage"]["prompt_tokens"], prompt->tokens.size());
    EXPECT_EQ(whole["usage"]["completion_tokens"], expected->completion_tokens);
    EXPECT_EQ(whole["usage"]["completion_tokens_details"]["reasoning_tokens"],
              thinking ? expected->completion_tokens : 0);

    request["stream"] = true;
    r = post_qwq(request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const SseBody sse = parse_sse(r->body);
    EXPECT_TRUE(sse.done);
    std::string reasoning;
    for (const json& e : sse.events) {
      if (!e["choices"].empty() && e["choices"][0]["delta"].contains("reasoning_content"))
        reasoning += e["choices"][0]["delta"]["reasoning_content"].get<std::string>();
    }
    EXPECT_EQ(reasoning, thinking ? expected->text : "");
    EXPECT_EQ(streamed_text(sse), thinking ? "" : expected->text);
    EXPECT_EQ(sse.events.back()["usage"], whole["usage"]);
  }
}

/// The bytes of chat logprobs' tokens, concatenated.
std::string logprob_bytes(const json& logprobs) {
  std::string out;
  for (const json& token : logprobs["content"])
    for (const json& byte : token["bytes"]) out += static_cast<char>(byte.get<int>());
  return out;
}

// n choices each get their own answer (their index on every delta), with the logprobs of the
// tokens whose text went to reasoning_content; greedy, both choices are the same answer.
// reasoning_tokens counts the tokens whose text went to reasoning_content, not those of the
// content before it (QA: qwen2-tiny-f32 at temperature 1, seed 1 writes 45 tokens of content,
// then <think> and 14 tokens of reasoning, each "<think>" again; usage said 60), streamed and
// not.
TEST_F(ServerTest, ReasoningTokensLeaveOutTheContentBeforeThink) {
  OwnServer f32;
  start_own(f32, {{"qwen2-tiny", gengyun::testing::testdata_path("models/qwen2-tiny-f32.gguf")}},
            {.n_threads = 1, .n_ctx = 512});
  json request = {{"model", "qwen2-tiny"},
                  {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                  {"max_tokens", 60},
                  {"temperature", 1},
                  {"seed", 1}};
  std::string content;
  for (int i = 0; i < 30; ++i) content += "st";
  for (int i = 0; i < 15; ++i) content += "am";
  std::string reasoning;
  for (int i = 0; i < 14; ++i) reasoning += "<think>";
  auto r = post_to(f32.port, "/v1/chat/completions", request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json whole = json::parse(r->body);
  EXPECT_EQ(whole["choices"][0]["message"]["content"], content);
  EXPECT_EQ(whole["choices"][0]["message"]["reasoning_content"], reasoning);
  EXPECT_EQ(whole["usage"]["completion_tokens"], 60);
  EXPECT_EQ(whole["usage"]["completion_tokens_details"]["reasoning_tokens"], 14);

  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  r = post_to(f32.port, "/v1/chat/completions", request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const SseBody sse = parse_sse(r->body);
  ASSERT_TRUE(sse.done);
  std::string streamed_reasoning;
  for (const json& e : sse.events)
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("reasoning_content"))
      streamed_reasoning += e["choices"][0]["delta"]["reasoning_content"].get<std::string>();
  EXPECT_EQ(streamed_reasoning, reasoning);
  EXPECT_EQ(streamed_text(sse), content);
  EXPECT_EQ(sse.events.back()["usage"]["completion_tokens"], 60);
  EXPECT_EQ(sse.events.back()["usage"]["completion_tokens_details"]["reasoning_tokens"], 14);
}

TEST_F(ReasoningServerTest, EachChoiceHasItsOwnReasoningAndLogprobs) {
  json request = {{"model", "qwq-tiny"},
                  {"messages", {{{"role", "user"}, {"content", "Why is the sky blue?"}}}},
                  {"max_tokens", 6},
                  {"temperature", 0},
                  {"n", 2},
                  {"logprobs", true},
                  {"top_logprobs", 1},
                  {"chat_template_kwargs", {{"enable_thinking", true}}}};
  auto r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json whole = json::parse(r->body);
  ASSERT_EQ(whole["choices"].size(), 2u);
  const json& first = whole["choices"][0]["message"];
  ASSERT_TRUE(first.contains("reasoning_content")) << r->body;
  ASSERT_TRUE(first["reasoning_content"].is_string());
  ASSERT_FALSE(first["reasoning_content"].get<std::string>().empty());
  for (int i = 0; i < 2; ++i) {
    const json& choice = whole["choices"][i];
    EXPECT_EQ(choice["index"], i);
    EXPECT_EQ(choice["message"]["reasoning_content"], first["reasoning_content"]);
    EXPECT_TRUE(choice["message"]["refusal"].is_null());
    EXPECT_EQ(choice["finish_reason"], "length");
    EXPECT_EQ(choice["logprobs"]["content"].size(), 6u);
    EXPECT_EQ(logprob_bytes(choice["logprobs"]), first["reasoning_content"]);
  }
  EXPECT_EQ(whole["usage"]["completion_tokens"], 12);
  EXPECT_EQ(whole["usage"]["completion_tokens_details"]["reasoning_tokens"], 12);

  request["stream"] = true;
  r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const SseBody sse = parse_sse(r->body);
  ASSERT_TRUE(sse.done);
  std::string reasoning[2], bytes[2], finish[2];
  for (const json& e : sse.events) {
    if (e["choices"].empty()) continue;
    const json& choice = e["choices"][0];
    const int i = choice["index"].get<int>();
    ASSERT_TRUE(i == 0 || i == 1) << e.dump();
    if (choice["delta"].contains("reasoning_content"))
      reasoning[i] += choice["delta"]["reasoning_content"].get<std::string>();
    if (!choice["logprobs"].is_null()) bytes[i] += logprob_bytes(choice["logprobs"]);
    if (!choice["finish_reason"].is_null()) finish[i] = choice["finish_reason"];
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(reasoning[i], first["reasoning_content"]) << i;
    EXPECT_EQ(bytes[i], first["reasoning_content"]) << i;
    EXPECT_EQ(finish[i], "length") << i;
  }
  EXPECT_EQ(sse.events.back()["usage"], whole["usage"]);
}

// A JSON response_format holds the answer to its grammar from the first byte, so the answer is
// all content even where the prompt ends inside <think>, and a <think> token the model writes
// inside a JSON string is text of the answer (QA 2026-12-07: it split the answer, the JSON's
// end going to reasoning_content with finish_reason "stop").
TEST_F(ReasoningServerTest, AJsonResponseFormatIsAllContentThinkTokensIncluded) {
  deploy::Acquired qwq = qwq_.registry->acquire("qwq-tiny");
  ASSERT_TRUE(qwq.lease) << qwq.message;
  const std::vector<int32_t> think = (*qwq.lease)->tokenize("<think>", false, true);
  ASSERT_EQ(think.size(), 1u);
  const std::vector<ChatMessage> messages = {{"user", "hi"}};
  const auto prompt = (*qwq.lease)->chat_prompt(messages, {"", R"({"enable_thinking":true})"});
  ASSERT_TRUE(prompt.ok()) << prompt.error().message;
  ASSERT_TRUE(prompt->syntax.starts_in_reasoning);
  GenerationParams params;
  params.max_tokens = 6;
  params.temperature = 0;
  params.logit_bias = {{think[0], 30.0f}};
  params.format.kind = OutputFormat::Kind::JsonSchema;
  params.format.json_schema = R"({"type":"string"})";
  const auto expected =
      (*qwq.lease)->generate(prompt->tokens, params, [](std::string_view) { return true; });
  ASSERT_TRUE(expected.ok()) << expected.error().message;
  ASSERT_NE(expected->text.find("<think>"), std::string::npos) << expected->text;

  json request = {{"model", "qwq-tiny"},
                  {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                  {"max_tokens", 6},
                  {"temperature", 0},
                  {"logit_bias", {{std::to_string(think[0]), 30}}},
                  {"chat_template_kwargs", {{"enable_thinking", true}}},
                  {"response_format",
                   {{"type", "json_schema"},
                    {"json_schema", {{"name", "s"}, {"schema", {{"type", "string"}}}}}}}};
  auto r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json whole = json::parse(r->body);
  const json& message = whole["choices"][0]["message"];
  EXPECT_FALSE(message.contains("reasoning_content")) << r->body;
  EXPECT_EQ(message["content"], expected->text);
  EXPECT_EQ(whole["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);

  request["stream"] = true;
  r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const SseBody sse = parse_sse(r->body);
  ASSERT_TRUE(sse.done);
  for (const json& e : sse.events) {
    if (e["choices"].empty()) continue;
    EXPECT_FALSE(e["choices"][0]["delta"].contains("reasoning_content")) << e.dump();
  }
  EXPECT_EQ(streamed_text(sse), expected->text);
}

// A tool call through HTTP: with tools, llama-tools-tiny's answers speak Llama 3.x JSON calls,
// and a response_format schema of a call ({"name": const, "parameters": {}}) makes the model
// write one by constrained decoding; the answer is that call, finish_reason "tool_calls".
TEST_F(ReasoningServerTest, ASchemaOfACallMakesTheModelCallATool) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "get_time",
      "description": "The current time", "parameters": {"type": "object", "properties": {}}}}])");
  const json schema = json::parse(R"({"type": "object", "properties": {
      "name": {"const": "get_time"},
      "parameters": {"type": "object", "properties": {}, "additionalProperties": false}},
      "required": ["name", "parameters"], "additionalProperties": false})");
  json request = {
      {"model", "llama-tools-tiny"},
      {"messages", {{{"role", "user"}, {"content", "What time is it?"}}}},
      {"tools", tools},
      {"max_tokens", 64},
      {"temperature", 0},
      {"response_format",
       {{"type", "json_schema"}, {"json_schema", {{"name", "call"}, {"schema", schema}}}}}};
  auto r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json whole = json::parse(r->body);
  const json& message = whole["choices"][0]["message"];
  ASSERT_EQ(message["tool_calls"].size(), 1u) << r->body;
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_time");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_TRUE(message["content"].is_null());
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "tool_calls");

  request["stream"] = true;
  r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const SseBody sse = parse_sse(r->body);
  ASSERT_TRUE(sse.done);
  std::string name, arguments, finish;
  for (const json& e : sse.events) {
    if (e["choices"].empty()) continue;
    const json& choice = e["choices"][0];
    if (choice["delta"].contains("tool_calls")) {
      const json& function = choice["delta"]["tool_calls"][0]["function"];
      if (function.contains("name")) name += function["name"].get<std::string>();
      arguments += function["arguments"].get<std::string>();
    }
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(name, "get_time");
  EXPECT_EQ(arguments, "{}");
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(streamed_text(sse), "");
}

// Bounded arguments (an enum, a boolean), so that the random model's calls end.
const char* kLightTools = R"([
  {"type": "function", "function": {"name": "set_light", "parameters": {"type": "object",
    "properties": {"room": {"enum": ["kitchen", "hall"]}, "on": {"type": "boolean"}},
    "required": ["room", "on"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
    "properties": {"utc": {"type": "boolean"}}, "required": ["utc"],
    "additionalProperties": false}}}])";

struct Call {
  std::string name, arguments;
};

/// The calls of a streamed answer, assembled as a client does (by index), and its
/// finish_reason and content.
std::vector<Call> streamed_calls(const SseBody& sse, std::string& finish) {
  std::vector<Call> calls;
  for (const json& e : sse.events) {
    if (e["choices"].empty()) continue;
    const json& choice = e["choices"][0];
    if (choice["delta"].contains("tool_calls"))
      for (const json& d : choice["delta"]["tool_calls"]) {
        const size_t index = d["index"].get<size_t>();
        if (calls.size() <= index) calls.resize(index + 1);
        if (d["function"].contains("name")) calls[index].name += d["function"]["name"];
        calls[index].arguments += d["function"]["arguments"].get<std::string>();
      }
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  return calls;
}

/// The arguments of `name` validate against its parameters in kLightTools.
void expect_valid(const std::string& name, const std::string& arguments) {
  for (const json& tool : json::parse(kLightTools))
    if (tool["function"]["name"] == name) {
      EXPECT_TRUE(gengyun::testing::text_validates(
          arguments, nlohmann::ordered_json::parse(tool["function"]["parameters"].dump())))
          << name << " " << arguments;
      return;
    }
  ADD_FAILURE() << "no tool " << name;
}

// tool_choice "required" with parallel_tool_calls false (one call), then a named function:
// the answer is a call of the tools, in Hermes tags the model wrote under the grammar, parsed
// into tool_calls whose arguments validate; streamed, the same call.
TEST_F(ReasoningServerTest, ToolChoiceRequiredAndNamedAreCalls) {
  for (const json& choice :
       {json("required"), json{{"type", "function"}, {"function", {{"name", "get_time"}}}}}) {
    json request = {{"model", "hermes-tools-tiny"},
                    {"messages", {{{"role", "user"}, {"content", "Kitchen lights on."}}}},
                    {"tools", json::parse(kLightTools)},
                    {"tool_choice", choice},
                    {"parallel_tool_calls", false},
                    {"max_tokens", 200},
                    {"temperature", 0}};
    auto r = post_qwq(request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json whole = json::parse(r->body);
    const json& message = whole["choices"][0]["message"];
    ASSERT_EQ(message["tool_calls"].size(), 1u) << r->body;
    const json& call = message["tool_calls"][0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_TRUE(call["id"].get<std::string>().starts_with("call_")) << call;
    const std::string name = call["function"]["name"];
    if (choice.is_object()) {
      EXPECT_EQ(name, "get_time");
    }
    expect_valid(name, call["function"]["arguments"]);
    EXPECT_TRUE(message["content"].is_null()) << r->body;
    EXPECT_EQ(whole["choices"][0]["finish_reason"], "tool_calls");

    request["stream"] = true;
    r = post_qwq(request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const SseBody sse = parse_sse(r->body);
    ASSERT_TRUE(sse.done);
    std::string finish;
    const std::vector<Call> calls = streamed_calls(sse, finish);
    ASSERT_EQ(calls.size(), 1u) << r->body;
    EXPECT_EQ(calls[0].name, name);
    EXPECT_EQ(calls[0].arguments, call["function"]["arguments"]);
    EXPECT_EQ(finish, "tool_calls");
    EXPECT_EQ(streamed_text(sse), "");
    // The grammar holds the call, so its arguments stream as the model writes them: the first
    // delta is OpenAI's opening one, then pieces with only the index and arguments. How many
    // pieces reach the wire depends on how fast this client reads (the engine merges the steps
    // a reader has not taken into one event: RequestStream), so only one is certain here;
    // ChatAnswer's tests count the pieces of a text fed byte by byte.
    std::vector<json> deltas;
    for (const json& e : sse.events)
      if (!e["choices"].empty() && e["choices"][0]["delta"].contains("tool_calls"))
        deltas.push_back(e["choices"][0]["delta"]["tool_calls"][0]);
    ASSERT_GE(deltas.size(), 2u) << r->body;
    ASSERT_TRUE(deltas[0].contains("id")) << deltas[0];
    EXPECT_TRUE(deltas[0]["id"].get<std::string>().starts_with("call_")) << deltas[0];
    deltas[0].erase("id");  // the streamed response's own id, not the one above
    EXPECT_EQ(deltas[0], json({{"index", 0},
                               {"type", "function"},
                               {"function", {{"name", name}, {"arguments", ""}}}}));
    std::string arguments;
    for (size_t i = 1; i < deltas.size(); ++i) {
      EXPECT_EQ(deltas[i].size(), 2u) << deltas[i];
      EXPECT_EQ(deltas[i]["index"], 0);
      ASSERT_EQ(deltas[i]["function"].size(), 1u) << deltas[i];
      EXPECT_FALSE(deltas[i]["function"]["arguments"].get<std::string>().empty());
      arguments += deltas[i]["function"]["arguments"].get<std::string>();
    }
    EXPECT_EQ(arguments, call["function"]["arguments"]);
  }
}

// A call cut by max_tokens anywhere (QA: 1, 2, 3, 5 answered content "<t", "<tool",
// "<tool_cal", "<tool_call>") leaves none of its markup in content, streamed and not: no call
// before its name is written, then the call with its arguments as far as written
// (ChatAnswer's tests cover each cut point and a stop string exactly).
TEST_F(ReasoningServerTest, ACallCutByMaxTokensLeavesNoMarkupInContent) {
  const std::string get_time = "{\"utc\":";  // what the cut calls' arguments begin with
  std::set<std::string> seen;                // which cuts came: "none", "name", "arguments"
  for (int max_tokens = 1; max_tokens <= 30; ++max_tokens) {
    json request = {{"model", "hermes-tools-tiny"},
                    {"messages", {{{"role", "user"}, {"content", "What time is it?"}}}},
                    {"tools", json::parse(kLightTools)},
                    {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}},
                    {"max_tokens", max_tokens},
                    {"temperature", 0}};
    const std::string how = "max_tokens " + std::to_string(max_tokens);
    auto r = post_qwq(request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json whole = json::parse(r->body);
    const json& message = whole["choices"][0]["message"];
    EXPECT_EQ(whole["choices"][0]["finish_reason"], "length") << how;
    std::vector<Call> calls;
    for (const json& call : message.value("tool_calls", json::array()))
      calls.push_back({call["function"]["name"], call["function"]["arguments"]});
    EXPECT_EQ(message["content"], calls.empty() ? json("") : json(nullptr)) << how << r->body;
    ASSERT_LE(calls.size(), 1u) << how << r->body;
    if (calls.empty()) {
      seen.insert("none");
    } else {
      EXPECT_EQ(calls[0].name, "get_time") << how;
      const std::string& arguments = calls[0].arguments;
      EXPECT_TRUE(arguments.empty() || get_time.starts_with(arguments) ||
                  arguments.starts_with(get_time))
          << how << " " << arguments;
      seen.insert(arguments.empty() ? "name" : "arguments");
    }

    request["stream"] = true;
    r = post_qwq(request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const SseBody sse = parse_sse(r->body);
    ASSERT_TRUE(sse.done);
    std::string finish;
    const std::vector<Call> streamed = streamed_calls(sse, finish);
    EXPECT_EQ(finish, "length") << how;
    EXPECT_EQ(streamed_text(sse), "") << how << r->body;
    ASSERT_EQ(streamed.size(), calls.size()) << how << r->body;
    for (size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(streamed[i].name, calls[i].name) << how;
      EXPECT_EQ(streamed[i].arguments, calls[i].arguments) << how;
    }
  }
  EXPECT_EQ(seen, (std::set<std::string>{"none", "name", "arguments"}));
}

// tool_choice "required" with parallel calls: every call the model makes is valid.
TEST_F(ReasoningServerTest, RequiredParallelCallsAreEachValid) {
  const json request = {{"model", "hermes-tools-tiny"},
                        {"messages", {{{"role", "user"}, {"content", "Lights and time."}}}},
                        {"tools", json::parse(kLightTools)},
                        {"tool_choice", "required"},
                        {"max_tokens", 120},
                        {"temperature", 0}};
  auto r = post_qwq(request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json whole = json::parse(r->body);
  const json& message = whole["choices"][0]["message"];
  ASSERT_GE(message["tool_calls"].size(), 1u) << r->body;
  for (const json& call : message["tool_calls"])
    expect_valid(call["function"]["name"], call["function"]["arguments"]);
}

TEST_F(ReasoningServerTest, ToolChoiceErrorsAreBadRequests) {
  json request = {{"model", "hermes-tools-tiny"},
                  {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                  {"tools", json::parse(kLightTools)},
                  {"tool_choice", {{"type", "function"}, {"function", {{"name", "fly"}}}}}};
  auto r = post_qwq(request);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "tool_choice") << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["message"],
            "tool_choice names the function \"fly\", which is not in tools");
}

}  // namespace
}  // namespace gengyun::api::testing
