// Generation through the HTTP server: greedy answers (whole and streamed) against the engine
// and the reference story, usage counts, stop strings, seeds, concurrency, disconnects.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "api/openai_response.h"
#include "nan_model.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

const std::vector<ChatMessage> kConversation = {{"system", "You are terse."},
                                                {"user", "Name three colors."}};

json chat_request(int max_tokens, bool stream) {
  return {{"model", "qwen2-tiny"},
          {"messages",
           {{{"role", "system"}, {"content", "You are terse."}},
            {{"role", "user"}, {"content", "Name three colors."}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"stream", stream}};
}

json completion_request(const std::string& model, const std::string& prompt, int max_tokens,
                        bool stream) {
  return {{"model", model},
          {"prompt", prompt},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"stream", stream}};
}

/// The engine's own greedy answer, called directly (no HTTP).
GenerationResult engine_greedy(LoadedModel& m, const std::vector<int32_t>& prompt, int max_tokens) {
  GenerationParams p;
  p.max_tokens = max_tokens;
  p.temperature = 0;
  auto r = m.generate(prompt, p, [](std::string_view) { return true; });
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : GenerationResult{};
}

json ok_json(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  if (!r) return json();
  EXPECT_EQ(r->status, 200) << r->body;
  return json::parse(r->body, nullptr, false);
}

/// Checks the structure of a streamed response and returns its text; `usage` gets the final
/// chunk's usage and `finish_reason` the finishing chunk's.
std::string check_stream(const httplib::Result& r, CompletionKind kind, json& usage,
                         std::string& finish_reason) {
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const SseBody sse = parse_sse(r->body);
  EXPECT_TRUE(sse.done);
  EXPECT_GE(sse.events.size(), 2u);
  if (sse.events.size() < 2) return "";
  const char* object = kind == CompletionKind::Chat ? "chat.completion.chunk" : "text_completion";
  const std::string id = sse.events[0]["id"];
  EXPECT_EQ(id.rfind(kind == CompletionKind::Chat ? "chatcmpl-" : "cmpl-", 0), 0u);
  for (const auto& e : sse.events) {
    EXPECT_EQ(e["object"], object);
    EXPECT_EQ(e["id"], id);
  }
  if (kind == CompletionKind::Chat) {
    EXPECT_EQ(sse.events[0]["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  }
  // Without stream_options.include_usage the chunk with the finish_reason is the last one and
  // carries the usage; no chunk has empty choices.
  const json& last = sse.events.back();
  EXPECT_EQ(last["choices"].size(), 1u);
  usage = last.value("usage", json());
  const json& finishing = last["choices"][0];
  finish_reason = finishing["finish_reason"].is_string() ? finishing["finish_reason"] : "";
  for (size_t i = 0; i + 1 < sse.events.size(); ++i) {
    EXPECT_EQ(sse.events[i]["choices"].size(), 1u);
    EXPECT_TRUE(sse.events[i]["choices"][0]["finish_reason"].is_null());
    EXPECT_FALSE(sse.events[i].contains("usage"));
  }
  return streamed_text(sse);
}

// Tools, a tool call and its result, and chat_template_kwargs reach the model's own template:
// the prompt's token count is the engine's chat_prompt for the same messages and options (with
// the tools in the client's key order), and tool_choice "none" leaves the tools out.
TEST_F(ServerTest, ToolsAndToolMessagesReachTheTemplate) {
  auto qwen = model("qwen2-tiny");
  ASSERT_TRUE(qwen);
  const std::string tools =
      R"([{"type":"function","function":{"name":"get_weather","description":"Weather",)"
      R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])";
  const json messages = json::parse(R"([
      {"role": "user", "content": "Weather in Hangzhou?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Hangzhou\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "21 C, clear"}])");
  const std::vector<ChatMessage> engine_messages = {
      {"user", "Weather in Hangzhou?"},
      {"assistant", "",
       R"({"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather",)"
       R"("arguments":{"city":"Hangzhou"}}}]})"},
      {"tool", "21 C, clear", R"({"tool_call_id":"call_1"})"}};
  for (const std::string choice : {"auto", "none"}) {
    const std::string body = R"({"model": "qwen2-tiny", "max_tokens": 1, "temperature": 0,
        "tool_choice": ")" + choice + R"(", "chat_template_kwargs": {"enable_thinking": false},
        "tools": )" + tools + R"(, "messages": )" + messages.dump() + "}";
    const json answer = ok_json(post_text("/v1/chat/completions", body, key_));
    const auto expected = qwen->chat_prompt(
        engine_messages, {choice == "auto" ? tools : "", R"({"enable_thinking":false})"});
    ASSERT_TRUE(expected.ok()) << expected.error().message;
    EXPECT_EQ(answer["usage"]["prompt_tokens"], expected->tokens.size()) << choice;
  }
  const auto with_tools = qwen->render_chat(engine_messages, {tools, ""});
  ASSERT_TRUE(with_tools.ok());
  EXPECT_NE(with_tools->find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": "
                             "\"get_weather\", \"description\": \"Weather\""),
            std::string::npos)
      << with_tools.value();
  EXPECT_NE(with_tools->find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                             "{\"city\": \"Hangzhou\"}}\n</tool_call>"),
            std::string::npos);
  EXPECT_NE(with_tools->find("<tool_response>\n21 C, clear\n</tool_response>"),
            std::string::npos);
}

TEST_F(ServerTest, GreedyChatWholeAndStreamedAgreeWithTheEngine) {
  auto qwen = model("qwen2-tiny");
  ASSERT_TRUE(qwen);
  const auto rendered = qwen->chat_prompt(kConversation, {});
  ASSERT_TRUE(rendered.ok()) << rendered.error().message;
  const std::vector<int32_t> prompt = rendered->tokens;
  const GenerationResult expected = engine_greedy(*qwen, prompt, 24);

  const json whole = ok_json(post("/v1/chat/completions", chat_request(24, false), key_));
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["model"], "qwen2-tiny");
  EXPECT_EQ(whole["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(whole["choices"][0]["message"]["content"], expected.text);
  EXPECT_EQ(whole["choices"][0]["finish_reason"], finish_reason_name(expected.finish_reason));
  EXPECT_EQ(whole["usage"]["prompt_tokens"], prompt.size());
  EXPECT_EQ(whole["usage"]["completion_tokens"], expected.completion_tokens);
  EXPECT_EQ(whole["usage"]["total_tokens"], prompt.size() + expected.completion_tokens);

  json usage;
  std::string finish;
  const std::string streamed =
      check_stream(post("/v1/chat/completions", chat_request(24, true), key_), CompletionKind::Chat,
                   usage, finish);
  EXPECT_EQ(streamed, expected.text);
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
  EXPECT_EQ(usage, whole["usage"]);

  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 2u);
  for (const auto& row : ledger) {
    EXPECT_EQ(row.endpoint, "/v1/chat/completions");
    EXPECT_EQ(row.model, "qwen2-tiny");
    EXPECT_EQ(row.status, "ok");
    EXPECT_EQ(row.http_status, 200);
    EXPECT_TRUE(row.error.empty());
    EXPECT_EQ(row.prompt_tokens, static_cast<int64_t>(prompt.size()));
    EXPECT_EQ(row.completion_tokens, expected.completion_tokens);
  }
}

TEST_F(ServerTest, GreedyCompletionWholeAndStreamedCountEveryToken) {
  auto qwen = model("qwen2-tiny");
  ASSERT_TRUE(qwen);
  const std::string text = "The quick brown fox";
  const auto prompt = qwen->tokenize(text, true, false);
  const GenerationResult expected = engine_greedy(*qwen, prompt, 20);
  ASSERT_EQ(expected.finish_reason, FinishReason::Length) << "pick a prompt without an early EOS";

  const json whole =
      ok_json(post("/v1/completions", completion_request("qwen2-tiny", text, 20, false), key_));
  EXPECT_EQ(whole["object"], "text_completion");
  EXPECT_EQ(whole["choices"][0]["text"], expected.text);
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(whole["usage"]["prompt_tokens"], prompt.size());
  EXPECT_EQ(whole["usage"]["completion_tokens"], 20);

  json usage;
  std::string finish;
  const std::string streamed =
      check_stream(post("/v1/completions", completion_request("qwen2-tiny", text, 20, true), key_),
                   CompletionKind::Text, usage, finish);
  EXPECT_EQ(streamed, expected.text);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage, whole["usage"]);

  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 2u);
  for (const auto& row : ledger) {
    EXPECT_EQ(row.endpoint, "/v1/completions");
    EXPECT_EQ(row.prompt_tokens, static_cast<int64_t>(prompt.size()));
    EXPECT_EQ(row.completion_tokens, 20);
    EXPECT_EQ(row.status, "ok");
  }
}

// stream_options.include_usage adds the reference's last chunk (empty choices, the usage) after
// the finishing chunk, and then only it carries the usage (a client summing the chunks' usage
// counts it once); without it no chunk has empty choices (check_stream).
TEST_F(ServerTest, IncludeUsageAddsTheUsageChunk) {
  for (const CompletionKind kind : {CompletionKind::Chat, CompletionKind::Text}) {
    json request = kind == CompletionKind::Chat
                       ? chat_request(6, true)
                       : completion_request("qwen2-tiny", "The quick brown fox", 6, true);
    request["stream_options"] = {{"include_usage", true}};
    const auto r = post(kind == CompletionKind::Chat ? "/v1/chat/completions" : "/v1/completions",
                        request, key_);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const SseBody sse = parse_sse(r->body);
    ASSERT_TRUE(sse.done);
    ASSERT_GE(sse.events.size(), 3u);
    const json& usage_chunk = sse.events.back();
    const json& finishing = sse.events[sse.events.size() - 2];
    EXPECT_EQ(usage_chunk["choices"], json::array());
    EXPECT_TRUE(finishing["choices"][0]["finish_reason"].is_string());
    // The others say "usage": null, as OpenAI's do.
    for (size_t i = 0; i + 1 < sse.events.size(); ++i) {
      ASSERT_TRUE(sse.events[i].contains("usage")) << sse.events[i];
      EXPECT_TRUE(sse.events[i]["usage"].is_null()) << sse.events[i];
    }
    EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 6);
    EXPECT_EQ(usage_chunk["system_fingerprint"], finishing["system_fingerprint"]);
    EXPECT_EQ(usage_chunk["system_fingerprint"].get<std::string>().rfind("fp_", 0), 0u);
  }
}

// OpenAI: "If the service_tier parameter is set, the response body will include the
// service_tier value based on the processing mode actually used": one tier, "default", named in
// the answer and in every chunk; without the parameter, in none.
TEST_F(ServerTest, ServiceTierIsNamedInTheAnswerWhenTheRequestGivesOne) {
  for (const bool stream : {false, true}) {
    json request = chat_request(2, stream);
    request["service_tier"] = "auto";
    const auto r = post("/v1/chat/completions", request, key_);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const std::vector<json> bodies =
        stream ? parse_sse(r->body).events : std::vector<json>{json::parse(r->body)};
    ASSERT_FALSE(bodies.empty());
    for (const json& body : bodies) EXPECT_EQ(body.value("service_tier", ""), "default") << body;
    request.erase("service_tier");
    const auto plain = post("/v1/chat/completions", request, key_);
    ASSERT_TRUE(plain);
    ASSERT_EQ(plain->status, 200) << plain->body;
    EXPECT_EQ(plain->body.find("service_tier"), std::string::npos) << plain->body;
  }
}

TEST_F(ServerTest, StoriesGreedyMatchesTheReferenceStory) {
  std::ifstream in(gengyun::testing::testdata_path("stories/once_upon_a_time_greedy_64.txt"),
                   std::ios::binary);
  ASSERT_TRUE(in);
  std::stringstream buffer;
  buffer << in.rdbuf();
  // llama2.c's run.c prints the prompt, then the story up to position 64 (BOS + 4 prompt
  // tokens + 59 generated), then a newline.
  const std::string prompt = "Once upon a time";
  std::string reference = buffer.str();
  ASSERT_EQ(reference.rfind(prompt, 0), 0u);
  ASSERT_EQ(reference.back(), '\n');
  reference = reference.substr(prompt.size(), reference.size() - prompt.size() - 1);

  std::ifstream expected_file(gengyun::testing::testdata_path("expected/stories260K-f32.json"));
  ASSERT_TRUE(expected_file);
  const json expected = json::parse(expected_file);
  const std::string greedy_64 = expected["cases"][0]["greedy_text"];
  ASSERT_EQ(expected["cases"][0]["tokens"], json({1, 403, 407, 261, 378}));
  ASSERT_EQ(greedy_64.rfind(reference, 0), 0u) << "the two references disagree";

  const json whole =
      ok_json(post("/v1/completions", completion_request("stories", prompt, 64, false), key_));
  const std::string text = whole["choices"][0]["text"];
  EXPECT_EQ(text.substr(0, reference.size()), reference);
  EXPECT_EQ(text, greedy_64);
  EXPECT_EQ(whole["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(whole["usage"]["completion_tokens"], 64);

  json usage;
  std::string finish;
  EXPECT_EQ(
      check_stream(post("/v1/completions", completion_request("stories", prompt, 64, true), key_),
                   CompletionKind::Text, usage, finish),
      greedy_64);
  EXPECT_EQ(usage["completion_tokens"], 64);
}

TEST_F(ServerTest, StopStringCutsTheAnswer) {
  const json full = ok_json(
      post("/v1/completions", completion_request("stories", "Once upon a time", 64, false), key_));
  const std::string text = full["choices"][0]["text"];
  const size_t cut = text.find("Lily");
  ASSERT_NE(cut, std::string::npos) << text;

  for (bool stream : {false, true}) {
    json request = completion_request("stories", "Once upon a time", 64, stream);
    request["stop"] = {"Lily", "zzz"};
    auto r = post("/v1/completions", request, key_);
    if (stream) {
      json usage;
      std::string finish;
      EXPECT_EQ(check_stream(r, CompletionKind::Text, usage, finish), text.substr(0, cut));
      EXPECT_EQ(finish, "stop");
      EXPECT_LT(usage["completion_tokens"], 64);
    } else {
      const json body = ok_json(r);
      EXPECT_EQ(body["choices"][0]["text"], text.substr(0, cut));
      EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
      EXPECT_LT(body["usage"]["completion_tokens"], 64);
    }
  }
}

// Log-probabilities are those of the tokens of the answer's text (QA 2026-12-07: the tokens after
// a stop string's start were reported, their text_offset past the text's end): the tokens of the
// answer without the stop string whose first byte lies before the cut, streamed or not, on both
// endpoints; a stop string at the very start leaves none.
TEST_F(ServerTest, AStopStringCutsTheLogprobsToTheTokensOfTheText) {
  json legacy = completion_request("stories", "Once upon a time", 40, false);
  legacy["logprobs"] = 1;
  const json whole = ok_json(post("/v1/completions", legacy, key_))["choices"][0];
  const std::string text = whole["text"];
  for (const std::string stop : {"ily. Sh", ", there"}) {
    SCOPED_TRACE(stop);
    const size_t cut = text.find(stop);
    ASSERT_NE(cut, std::string::npos) << text;
    json kept = {{"tokens", json::array()}, {"text_offset", json::array()}};
    for (size_t i = 0; i < whole["logprobs"]["tokens"].size(); ++i)
      if (whole["logprobs"]["text_offset"][i].get<size_t>() < cut) {
        kept["tokens"].push_back(whole["logprobs"]["tokens"][i]);
        kept["text_offset"].push_back(whole["logprobs"]["text_offset"][i]);
      }
    json request = legacy;
    request["stop"] = stop;
    const json answer = ok_json(post("/v1/completions", request, key_))["choices"][0];
    EXPECT_EQ(answer["text"], text.substr(0, cut));
    EXPECT_EQ(answer["logprobs"]["tokens"], kept["tokens"]);
    EXPECT_EQ(answer["logprobs"]["text_offset"], kept["text_offset"]);
    request["stream"] = true;
    auto streamed = post("/v1/completions", request, key_);
    ASSERT_TRUE(streamed);
    json tokens = json::array();
    for (const json& event : parse_sse(streamed->body).events)
      if (!event["choices"].empty() && event["choices"][0]["logprobs"].is_object())
        for (const json& token : event["choices"][0]["logprobs"]["tokens"]) tokens.push_back(token);
    EXPECT_EQ(tokens, kept["tokens"]);
  }
  // On chat, "ry d" cuts the text inside a token ("very"), which is reported.
  json chat = {{"model", "stories"},
               {"messages", {{{"role", "user"}, {"content", "Once upon"}}}},
               {"max_tokens", 30},
               {"temperature", 0},
               {"logprobs", true}};
  const json full = ok_json(post("/v1/chat/completions", chat, key_))["choices"][0];
  const std::string content = full["message"]["content"];
  const std::string stop = "ry d";
  const size_t cut = content.find(stop);
  ASSERT_NE(cut, std::string::npos) << content;
  json kept = json::array();
  size_t offset = 0;
  for (const json& token : full["logprobs"]["content"]) {
    if (offset >= cut) break;
    kept.push_back(token["token"]);
    offset += token["bytes"].size();
  }
  EXPECT_GT(offset, cut);  // the last token kept holds the first bytes of the stop string
  chat["stop"] = stop;
  const json answer = ok_json(post("/v1/chat/completions", chat, key_))["choices"][0];
  EXPECT_EQ(answer["message"]["content"], content.substr(0, cut));
  json tokens = json::array();
  for (const json& token : answer["logprobs"]["content"]) tokens.push_back(token["token"]);
  EXPECT_EQ(tokens, kept);
}

TEST_F(ServerTest, SameSeedSameSample) {
  json request = completion_request("stories", "Once upon a time", 32, false);
  request["temperature"] = 1.0;
  request["seed"] = 1234;
  const std::string first = ok_json(post("/v1/completions", request, key_))["choices"][0]["text"];
  const std::string second = ok_json(post("/v1/completions", request, key_))["choices"][0]["text"];
  EXPECT_EQ(first, second);
  std::string other;
  for (int seed = 99; seed < 104 && other.empty(); ++seed) {
    request["seed"] = seed;
    const std::string text = ok_json(post("/v1/completions", request, key_))["choices"][0]["text"];
    if (text != first) other = text;
  }
  EXPECT_FALSE(other.empty()) << "five other seeds all gave the same sample";
}

// Choice k of a seeded request samples with sampling::choice_seed(seed, k): choice 0 with the
// seed itself, as a lone request does, and no choice of seed 4 is one of seed 5's (with
// seed + k, choices 1 and 2 of seed 4 were choices 0 and 1 of seed 5; QA).
TEST_F(ServerTest, TheChoicesOfNearbySeedsDoNotCoincide) {
  json request = completion_request("stories", "Once upon a time", 24, false);
  request["temperature"] = 1.0;
  request["n"] = 3;
  std::vector<std::string> texts;
  for (int seed : {4, 5}) {
    request["seed"] = seed;
    const json choices = ok_json(post("/v1/completions", request, key_))["choices"];
    ASSERT_EQ(choices.size(), 3u);
    for (const json& choice : choices) texts.push_back(choice["text"]);
  }
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t j = i + 1; j < texts.size(); ++j)
      EXPECT_NE(texts[i], texts[j]) << "choice " << i % 3 << " of seed " << 4 + i / 3
                                    << " is choice " << j % 3 << " of seed " << 4 + j / 3;
  request["n"] = 1;
  for (int seed : {4, 5}) {
    request["seed"] = seed;
    EXPECT_EQ(ok_json(post("/v1/completions", request, key_))["choices"][0]["text"],
              texts[static_cast<size_t>(seed - 4) * 3]);
  }
}

// A legacy completion's top_logprobs objects list their tokens most likely first, as OpenAI's
// do (QA: they came in the alphabetical order of a std::map), streamed and not.
TEST_F(ServerTest, LegacyTopLogprobsComeMostLikelyFirst) {
  json request = completion_request("stories", "Once upon a time", 6, false);
  request["logprobs"] = 5;
  const auto r = post("/v1/completions", request, key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  request["stream"] = true;
  const auto streamed = post("/v1/completions", request, key_);
  ASSERT_TRUE(streamed);
  std::vector<nlohmann::ordered_json> entries;
  const auto whole = nlohmann::ordered_json::parse(r->body);
  for (const auto& top : whole["choices"][0]["logprobs"]["top_logprobs"]) entries.push_back(top);
  std::istringstream lines(streamed->body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("data: {")) continue;
    const auto chunk = nlohmann::ordered_json::parse(line.substr(6));
    const auto& logprobs = chunk["choices"][0]["logprobs"];
    if (logprobs.is_null()) continue;  // the finishing chunk
    for (const auto& top : logprobs["top_logprobs"]) entries.push_back(top);
  }
  ASSERT_EQ(entries.size(), 12u);
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_EQ(entries[i].size(), 5u) << entries[i].dump();
    std::vector<std::pair<double, std::string>> sorted;
    std::vector<std::string> keys;
    for (const auto& [token, logprob] : entries[i].items()) {
      keys.push_back(token);
      sorted.emplace_back(-logprob.get<double>(), token);
    }
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::string> likeliest_first;
    for (const auto& [minus_logprob, token] : sorted) likeliest_first.push_back(token);
    EXPECT_EQ(keys, likeliest_first) << "entry " << i << ": " << entries[i].dump();
    EXPECT_EQ(entries[i], entries[i % 6]) << "streamed entry " << i - 6;
  }
}

TEST_F(ServerTest, TextPartsAreJoinedWithNewlines) {
  json parts = chat_request(12, false);
  parts["messages"][1]["content"] = {{{"type", "text"}, {"text", "Name three"}},
                                     {{"type", "text"}, {"text", "colors."}}};
  json joined = chat_request(12, false);
  joined["messages"][1]["content"] = "Name three\ncolors.";
  const json a = ok_json(post("/v1/chat/completions", parts, key_));
  const json b = ok_json(post("/v1/chat/completions", joined, key_));
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
  EXPECT_EQ(a["usage"], b["usage"]);
}

TEST_F(ServerTest, ConcurrentRequestsEachGetTheirSoloAnswer) {
  const json first = completion_request("qwen2-tiny", "The quick brown fox", 40, false);
  const json second = completion_request("qwen2-tiny", "Hello world, today", 40, true);
  const std::string solo_first =
      ok_json(post("/v1/completions", first, key_))["choices"][0]["text"];
  json usage;
  std::string finish;
  const std::string solo_second =
      check_stream(post("/v1/completions", second, key_), CompletionKind::Text, usage, finish);
  ASSERT_NE(solo_first, solo_second);

  for (int round = 0; round < 3; ++round) {
    std::string a, b;
    std::thread ta(
        [&] { a = ok_json(post("/v1/completions", first, key_))["choices"][0]["text"]; });
    std::thread tb([&] {
      json u;
      std::string f;
      b = check_stream(post("/v1/completions", second, key_), CompletionKind::Text, u, f);
    });
    ta.join();
    tb.join();
    EXPECT_EQ(a, solo_first);
    EXPECT_EQ(b, solo_second);
  }
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 8u);
  for (const auto& row : ledger) EXPECT_EQ(row.status, "ok");
}

/// Sends `request` on a raw socket, reads until `events` SSE events have arrived, closes.
void read_events_and_disconnect(int port, const std::string& key, const json& request, int events) {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string body = request.dump();
  const std::string http =
      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Authorization: Bearer " +
      key + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  ASSERT_EQ(send(sock, http.data(), http.size(), 0), static_cast<ssize_t>(http.size()));
  std::string received;
  size_t seen = 0;
  char buffer[4096];
  while (static_cast<int>(seen) < events) {
    const ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "the stream ended early: " << received;
    received.append(buffer, static_cast<size_t>(n));
    seen = 0;
    for (size_t pos = received.find("data: "); pos != std::string::npos;
         pos = received.find("data: ", pos + 1))
      ++seen;
  }
  EXPECT_EQ(received.rfind("HTTP/1.1 200", 0), 0u) << received;
  close(sock);
}

TEST_F(ServerTest, ClientThatDisconnectsMidStreamIsCancelled) {
  // qwen2-tiny has a 4096-token context and no early EOS on this prompt: a full answer takes
  // far longer than reading three events and closing.
  const std::string prompt = "The quick brown fox";
  json request = completion_request("qwen2-tiny", prompt, 4000, true);
  read_events_and_disconnect(port_, key_, request, 3);

  const auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].status, "cancelled");
  EXPECT_EQ(ledger[0].http_status, 200);
  EXPECT_EQ(ledger[0].model, "qwen2-tiny");
  EXPECT_FALSE(ledger[0].error.empty());
  EXPECT_EQ(ledger[0].prompt_tokens,
            static_cast<int64_t>(model("qwen2-tiny")->tokenize(prompt, true, false).size()));
  EXPECT_GE(ledger[0].completion_tokens, 3);
  EXPECT_LT(ledger[0].completion_tokens, 4000);

  // The server serves on, and the engine is free again.
  const json after =
      ok_json(post("/v1/completions", completion_request("stories", "Once", 4, false), key_));
  EXPECT_EQ(after["usage"]["completion_tokens"], 4);
  EXPECT_EQ(rows().size(), 2u);
}

// A /v1/completions prompt given as text is the model's input as written: the texts of special
// tokens in it are those tokens, as llama.cpp's and vLLM's servers read them (QA 2026-12-07: a
// ChatML prompt built by the client was 52 tokens of plain text; the reference tokenization in
// testdata/moe, llama.cpp's, is 35), and it is answered as the reference's token ids are.
TEST_F(ServerTest, ACompletionPromptsSpecialTokensAreParsed) {
  std::ifstream file(gengyun::testing::testdata_path("moe/qwen3moe-tiny-f32.json"));
  const json reference = json::parse(file);
  const json& chatml = reference["cases"][1];
  ASSERT_NE(chatml["prompt"].get<std::string>().find("<|im_start|>"), std::string::npos);
  OwnServer own;
  start_own(own, {{"moe", gengyun::testing::testdata_path("models/qwen3moe-tiny-f32.gguf")}},
            {.n_threads = 1, .n_ctx = 512});
  std::vector<json> answers;
  for (const json& prompt : {chatml["prompt"], chatml["tokens"]}) {
    json request = completion_request("moe", "", 4, false);
    request["prompt"] = prompt;
    auto r = post_to(own.port, "/v1/completions", request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    answers.push_back(json::parse(r->body));
  }
  EXPECT_EQ(answers[0]["usage"]["prompt_tokens"], chatml["tokens"].size());
  EXPECT_EQ(answers[0]["choices"][0]["text"], answers[1]["choices"][0]["text"]);
}

// A prompt's token id outside the model's vocabulary is named as /v1/embeddings names one:
// the prompt (with its index when there are several), the id, the vocabulary's ids.
TEST_F(ServerTest, ACompletionPromptsIdOutsideTheVocabularyIsNamedWithItsIndex) {
  for (const auto& [prompt, message] :
       {std::pair<json, std::string>{json::parse("[1, 512]"),
                                     "prompt holds the token id 512, outside the vocabulary "
                                     "(0..511)"},
        {json::parse("[[1], [2, 600]]"),
         "prompt[1] holds the token id 600, outside the vocabulary (0..511)"},
        {json::parse("[1, 4294967296]"),
         "prompt holds the token id 4294967296, outside the vocabulary"}}) {
    json request = completion_request("stories", "", 4, false);
    request["prompt"] = prompt;
    const json error = expect_error(post("/v1/completions", request, key_), 400, nullptr);
    EXPECT_EQ(error.value("message", ""), message) << prompt;
    EXPECT_EQ(error.value("param", ""), "prompt") << prompt;
  }
}

// A generation the engine stops (here a model whose logits are all NaN) ends a stream as every
// stream ends: its usage chunk, the error, [DONE] (the error came alone, without the [DONE]
// that ends every other stream); a request not streamed gets the error.
TEST_F(ServerTest, AGenerationStoppedByTheEngineEndsItsStreamWithUsageErrorAndDone) {
  const std::string path = gengyun::testing::write_nan_norm_copy("qwen2-tiny-q8_0.gguf", "nan");
  ASSERT_FALSE(path.empty());
  OwnServer own;
  start_own(own, {{"nan", path}}, {.n_threads = 1, .n_ctx = 256});
  auto streamed = post_to(own.port, "/v1/completions", completion_request("nan", "Hello", 8, true));
  auto whole = post_to(own.port, "/v1/completions", completion_request("nan", "Hello", 8, false));
  own.stop();
  own.registry.reset();
  std::filesystem::remove(path);
  const std::string message =
      "generation stopped: the model's logits are all NaN (after 0 generated tokens): its "
      "weights hold NaN or infinite values, or its activations overflowed";
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);
  const SseBody sse = parse_sse(streamed->body);
  EXPECT_TRUE(sse.done);
  ASSERT_EQ(sse.events.size(), 2u) << streamed->body;
  EXPECT_EQ(sse.events[0]["choices"], json::array());
  EXPECT_EQ(sse.events[0]["usage"]["completion_tokens"], 0);
  EXPECT_EQ(sse.events[1]["error"]["message"], message);
  EXPECT_EQ(sse.events[1]["error"]["type"], "server_error");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 500);
  EXPECT_EQ(json::parse(whole->body)["error"]["message"], message);
}

// A streaming client that reads nothing: once its connection holds kUnsentMarkBytes unsent,
// the answer takes no more events, so the engine's stall timeout (here 0.2 s) cancels it (QA
// 2026-12-07: such a client was billed the whole max_tokens, all of it queued). The client's
// receive buffer is small: what it has not taken piles up in the server's socket (counted by
// Responder::unsent_bytes, SIOCOUTQ), whose send buffer grows to megabytes before the
// connection's own queue grows at all (QA 2026-12-07: so counting the queue alone held nothing).
TEST_F(ServerTest, AStreamWhoseClientReadsNothingIsCancelledByTheStallTimeout) {
  ModelOptions model_options{.n_threads = 1, .n_ctx = 4096};
  model_options.stall_timeout_us = 200'000;
  OwnServer own;
  start_own(own, {{"qwen2-tiny", gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf")}},
            model_options);

  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  const int size = 2048;
  setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(own.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  json request = completion_request("qwen2-tiny", "The quick brown fox", 4000, true);
  request["logprobs"] = 5;
  const std::string body = request.dump();
  const std::string http =
      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key_ +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  ASSERT_EQ(send(sock, http.data(), http.size(), 0), static_cast<ssize_t>(http.size()));

  const auto ledger = wait_for_rows(1);
  close(sock);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].status, "error");
  EXPECT_EQ(ledger[0].error, "generation stopped: the client read nothing for 0 s");
  EXPECT_EQ(ledger[0].http_status, 200);
  EXPECT_GT(ledger[0].completion_tokens, 0);
  EXPECT_LT(ledger[0].completion_tokens, 4000);
}

}  // namespace
}  // namespace gengyun::api::testing
