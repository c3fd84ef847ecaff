// ChatAnswer: a chat's generated text, as the engine's events bring it, into OpenAI's message
// (non-streamed) and chunk deltas (streamed). The streamed deltas, assembled as an OpenAI client
// assembles them, equal the non-streamed message wherever the text is cut into events.
#include "api/chat_answer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gengyun::api {
namespace {

using nlohmann::json;

const ResponseMeta kMeta{CompletionKind::Chat, "chatcmpl-t", 1700000000, "qwen"};
const ChatSyntax kQwen3{
    .reasoning = true, .starts_in_reasoning = false, .tool_calls = ToolCallFormat::Hermes};

// Chunks as nlohmann::json, whose objects compare whatever their members' order.
std::vector<json> as_json(const std::vector<nlohmann::ordered_json>& chunks) {
  return {chunks.begin(), chunks.end()};
}

// What a client (the openai SDK's stream helpers) builds from the deltas: reasoning_content and
// content concatenated, tool calls by index (id, type and name once, arguments appended).
json assemble(const std::vector<json>& chunks) {
  json message = {{"role", "assistant"}};
  std::string reasoning;
  std::string content;
  json calls = json::array();
  for (const json& chunk : chunks) {
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], kMeta.id);
    EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    const json& delta = chunk["choices"][0]["delta"];
    EXPECT_EQ(delta.size(), 1u) << delta;  // one kind of part per chunk
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"];
    if (delta.contains("content")) content += delta["content"];
    if (!delta.contains("tool_calls")) continue;
    for (const json& call : delta["tool_calls"]) {
      const size_t index = call["index"];
      if (index == calls.size()) {
        EXPECT_TRUE(call.contains("id")) << "a call's first delta carries its id";
        calls.push_back({{"id", call["id"]},
                         {"type", call["type"]},
                         {"function", {{"name", call["function"]["name"]}, {"arguments", ""}}}});
      }
      if (index >= calls.size()) {
        ADD_FAILURE() << "a delta for call " << index << " before its first delta";
        continue;
      }
      calls[index]["function"]["arguments"] =
          calls[index]["function"]["arguments"].get<std::string>() +
          call["function"]["arguments"].get<std::string>();
    }
  }
  message["content"] = content.empty() && !calls.empty() ? json(nullptr) : json(content);
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  if (!calls.empty()) message["tool_calls"] = calls;
  return message;
}

// The message for `text` not streamed; checks that streaming it cut at every byte (two events)
// and a byte at a time gives the same message and finish_reason. The text ends as the engine
// says: `engine` Length (max_tokens, the context's end) cuts it, Stop with `stop_string` too.
json answer(const ChatSyntax& syntax, bool tools, const std::string& text,
            std::string& finish_reason, FinishReason engine = FinishReason::Stop,
            bool stream_arguments = false, bool stop_string = false) {
  const bool cut = engine == FinishReason::Length || stop_string;
  ChatAnswer whole(kMeta, syntax, tools, /*stream=*/false, 0, stream_arguments);
  EXPECT_TRUE(whole.feed(text).empty());
  EXPECT_TRUE(whole.finish(cut).empty());
  const json message = whole.message();
  finish_reason = whole.finish_reason(engine);
  auto streamed = [&](const std::vector<std::string>& events, const std::string& how) {
    ChatAnswer answer(kMeta, syntax, tools, /*stream=*/true, 0, stream_arguments);
    std::vector<json> chunks;
    for (const std::string& e : events) {
      for (const auto& c : answer.feed(e)) chunks.push_back(c);
    }
    for (const auto& c : answer.finish(cut)) chunks.push_back(c);
    EXPECT_EQ(assemble(chunks), message) << how;
    EXPECT_EQ(answer.finish_reason(engine), finish_reason) << how;
  };
  for (size_t cut = 0; cut <= text.size(); ++cut)
    streamed({text.substr(0, cut), text.substr(cut)}, "cut at " + std::to_string(cut));
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  streamed(bytes, "byte by byte");
  return message;
}

TEST(ChatAnswer, ReasoningThenToolCalls) {
  std::string finish;
  const json message = answer(
      kQwen3, /*tools=*/true,
      "<think>\nCall it.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\": \"Hangzhou\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"time\", \"arguments\": "
      "{}}\n</tool_call>",
      finish);
  EXPECT_EQ(message, json::parse(R"({"role": "assistant", "content": null,
      "reasoning_content": "\nCall it.\n",
      "tool_calls": [
        {"id": "call_chatcmpl-t_0", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Hangzhou\"}"}},
        {"id": "call_chatcmpl-t_1", "type": "function",
         "function": {"name": "time", "arguments": "{}"}}]})"));
  EXPECT_EQ(finish, "tool_calls");
}

// A string argument may hold the closing tag's text (an escaped quote before it too): the call
// closes at the first </tool_call> outside the JSON's strings, wherever the events cut it.
TEST(ChatAnswer, AClosingTagInsideAnArgumentStringStaysInTheArgument) {
  std::string finish;
  const json message = answer(
      kQwen3, /*tools=*/true,
      "<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"s\": \"a</tool_call>b\\\"</tool_call>\"}}"
      "\n</tool_call>\n<tool_call>\n{\"name\": \"time\", \"arguments\": {}}\n</tool_call>",
      finish);
  EXPECT_EQ(message, json::parse(R"({"role": "assistant", "content": null,
      "tool_calls": [
        {"id": "call_chatcmpl-t_0", "type": "function",
         "function": {"name": "echo", "arguments": "{\"s\":\"a</tool_call>b\\\"</tool_call>\"}"}},
        {"id": "call_chatcmpl-t_1", "type": "function",
         "function": {"name": "time", "arguments": "{}"}}]})"));
  EXPECT_EQ(finish, "tool_calls");
}

TEST(ChatAnswer, StreamedCallDeltasAsOpenAI) {
  ChatAnswer answer(kMeta, kQwen3, /*tools=*/true, /*stream=*/true);
  EXPECT_TRUE(answer.feed("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}").empty());
  const std::vector<json> chunks = as_json(answer.feed("</tool_call>"));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], json::parse(R"({"tool_calls": [{"index": 0,
      "id": "call_chatcmpl-t_0", "type": "function",
      "function": {"name": "f", "arguments": ""}}]})"));
  EXPECT_EQ(
      chunks[1]["choices"][0]["delta"],
      json::parse(R"({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]})"));
}

// Choice k of n: its index on every chunk, call ids of its own.
TEST(ChatAnswer, AChoiceIndexMarksItsChunksAndCallIds) {
  ChatAnswer answer(kMeta, kQwen3, /*tools=*/true, /*stream=*/true, /*index=*/2);
  const std::vector<json> chunks =
      as_json(answer.feed("Hi<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>"));
  ASSERT_EQ(chunks.size(), 3u);
  for (const json& chunk : chunks) EXPECT_EQ(chunk["choices"][0]["index"], 2);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], json({{"content", "Hi"}}));
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["tool_calls"][0]["id"], "call_chatcmpl-t-2_0");
}

TEST(ChatAnswer, WithoutToolsCallsAreText) {
  std::string finish;
  const std::string text = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
  EXPECT_EQ(answer(kQwen3, /*tools=*/false, text, finish),
            json({{"role", "assistant"}, {"content", text}}));
  EXPECT_EQ(finish, "stop");
}

TEST(ChatAnswer, MalformedCallsAreTextNeverAnError) {
  std::string finish;
  for (const std::string& text :
       {std::string("<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>"),
        std::string("<tool_call>{\"name\": \"f\"")}) {
    EXPECT_EQ(answer(kQwen3, /*tools=*/true, text, finish),
              json({{"role", "assistant"}, {"content", text}}));
    EXPECT_EQ(finish, "stop");
  }
}

TEST(ChatAnswer, StartsInReasoningAndOtherFormats) {
  std::string finish;
  ChatSyntax qwq = kQwen3;
  qwq.starts_in_reasoning = true;
  EXPECT_EQ(
      answer(qwq, false, "Hmm.\n</think>\n\nParis.", finish),
      json({{"role", "assistant"}, {"content", "\n\nParis."}, {"reasoning_content", "Hmm.\n"}}));
  const ChatSyntax llama{.tool_calls = ToolCallFormat::Llama3Json};
  const json call = answer(llama, true, R"({"name": "f", "parameters": {"x": "y"}})", finish);
  EXPECT_EQ(call["tool_calls"][0]["function"],
            json({{"name", "f"}, {"arguments", R"({"x":"y"})"}}));
  EXPECT_EQ(finish, "tool_calls");
  // A model that never reasons has no reasoning_content; plain text is content.
  EXPECT_EQ(answer({}, true, "<think>x</think>", finish),
            json({{"role", "assistant"}, {"content", "<think>x</think>"}}));
}

TEST(ChatAnswer, ALengthCutKeepsTheEnginesReason) {
  std::string finish;
  answer(kQwen3, true, "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", finish,
         FinishReason::Length);
  EXPECT_EQ(finish, "length");
}

// Under the tool-call grammar (stream_arguments) a call opens with its id and name as soon as
// they are written, and its arguments follow in pieces that concatenate to the message's.
TEST(ChatAnswer, UnderTheGrammarArgumentsStreamInPieces) {
  const std::string text =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"\xE6\x9D\xAD\xE5\xB7"
      "\x9E\", \"days\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"time\", "
      "\"arguments\": {}}\n</tool_call>";
  std::string finish;
  EXPECT_EQ(answer(kQwen3, /*tools=*/true, text, finish, FinishReason::Stop,
                   /*stream_arguments=*/true),
            json::parse(R"({"role": "assistant", "content": null,
      "tool_calls": [
        {"id": "call_chatcmpl-t_0", "type": "function",
         "function": {"name": "get_weather",
                      "arguments": "{\"city\":\"\u676d\u5dde\",\"days\":[1,2]}"}},
        {"id": "call_chatcmpl-t_1", "type": "function",
         "function": {"name": "time", "arguments": "{}"}}]})"));
  EXPECT_EQ(finish, "tool_calls");
  // Byte by byte: the first delta of a call as OpenAI's, then index and arguments only.
  ChatAnswer streamed(kMeta, kQwen3, /*tools=*/true, /*stream=*/true, 0, true);
  std::vector<json> deltas;
  for (char c : text)
    for (const auto& chunk : streamed.feed(std::string(1, c)))
      deltas.push_back(chunk["choices"][0]["delta"]);
  for (const auto& chunk : streamed.finish()) deltas.push_back(chunk["choices"][0]["delta"]);
  ASSERT_GE(deltas.size(), 2u);
  EXPECT_EQ(deltas[0], json::parse(R"({"tool_calls": [{"index": 0, "id": "call_chatcmpl-t_0",
      "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})"));
  std::string arguments;
  size_t pieces = 0;
  for (size_t i = 1; i < deltas.size(); ++i) {
    const json& call = deltas[i]["tool_calls"][0];
    if (call["index"] != 0) break;
    EXPECT_EQ(call.size(), 2u) << call;
    EXPECT_EQ(call["function"].size(), 1u) << call;
    arguments += call["function"]["arguments"].get<std::string>();
    ++pieces;
  }
  EXPECT_EQ(arguments, "{\"city\":\"\xE6\x9D\xAD\xE5\xB7\x9E\",\"days\":[1,2]}");
  EXPECT_EQ(pieces, 26u);  // a piece per byte but whitespace, the two 3-byte characters whole
}

// Cut short under the grammar, the call that began is sent as far as it was written, streamed
// and not, with the engine's finish_reason "length".
TEST(ChatAnswer, UnderTheGrammarACutCallStaysACall) {
  std::string finish;
  EXPECT_EQ(
      answer(kQwen3, /*tools=*/true, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"x y",
             finish, FinishReason::Length, /*stream_arguments=*/true),
      json::parse(R"({"role": "assistant", "content": null,
      "tool_calls": [{"id": "call_chatcmpl-t_0", "type": "function",
         "function": {"name": "f", "arguments": "{\"a\":\"x y"}}]})"));
  EXPECT_EQ(finish, "length");
}

// A cut answer's message with the calls' ids left out (Mistral's are hashes).
json without_ids(json message) {
  if (message.contains("tool_calls"))
    for (json& call : message["tool_calls"]) call.erase("id");
  return message;
}

// The message a cut answer gives: `content`, and calls as {name, arguments} pairs.
json cut_message(const json& content,
                 const std::vector<std::pair<std::string, std::string>>& calls) {
  json message = {{"role", "assistant"}, {"content", content}};
  if (calls.empty()) return message;
  json list = json::array();
  for (const auto& [name, arguments] : calls)
    list.push_back(
        {{"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}});
  message["tool_calls"] = list;
  return message;
}

struct CutCase {
  ChatSyntax syntax;
  std::string text;  // the answer as far as it was written when cut
  json message;      // without the calls' ids
};

// Cut short (max_tokens, the context's end, a stop string), a call's markup is never content:
// a prefix of its tag or marker, or a head whose name is not whole, gives no call; a head past
// its name gives the call with its arguments as far as written ("" before their `{`). Content
// is the text before the call (null when there is none and there are calls). The same in each
// format, streamed and not, with the arguments streamed (the grammar) or not, and with the
// engine's finish_reason.
TEST(ChatAnswer, ACallCutShortLeavesNoMarkupInContent) {
  const ChatSyntax hermes{.tool_calls = ToolCallFormat::Hermes};
  const ChatSyntax llama{.tool_calls = ToolCallFormat::Llama3Json};
  const ChatSyntax mistral{.tool_calls = ToolCallFormat::MistralJson};
  const std::string add =
      "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}"
      "\n</tool_call>";
  const std::string add_args = "{\"a\":1,\"b\":2}";
  const std::vector<CutCase> cases = {
      // Hermes: inside the tag (QA: max_tokens 1, 2, 3, 5 gave "<t", "<tool", "<tool_cal",
      // "<tool_call>"), after text, after a whole call.
      {hermes, "<t", cut_message("", {})},
      {hermes, "<tool_cal", cut_message("", {})},
      {hermes, "<tool_call>", cut_message("", {})},
      {hermes, "Sure.\n<tool_ca", cut_message("Sure.", {})},
      {hermes, "Sure.\n<", cut_message("Sure.", {})},
      // Inside the head before the name closes (QA: max_tokens 8).
      {hermes, "<tool_call>\n{\"name\": ", cut_message("", {})},
      {hermes, "<tool_call>\n{\"name\": \"ad", cut_message("", {})},
      {hermes, "Sure.<tool_call>\n{\"name\": \"ad", cut_message("Sure.", {})},
      // After the name.
      {hermes, "<tool_call>\n{\"name\": \"add\"", cut_message(nullptr, {{"add", ""}})},
      {hermes, "<tool_call>\n{\"name\": \"add\", \"argum", cut_message(nullptr, {{"add", ""}})},
      {hermes,
       "<tool_call>\n{\"name\": \"add\", \"arguments\": ", cut_message(nullptr, {{"add", ""}})},
      // Inside the arguments (QA: a stop sequence under "auto"), a cut UTF-8 character left out.
      {hermes, "<tool_call>\n{\"name\": \"add\", \"arguments\": {",
       cut_message(nullptr, {{"add", "{"}})},
      {hermes, "Sure.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b",
       cut_message("Sure.", {{"add", "{\"a\":1,\"b"}})},
      {hermes, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": \"x \xE6\x9D",
       cut_message(nullptr, {{"add", "{\"a\":\"x "}})},
      // After the arguments, in the closing tag: the whole call.
      {hermes, add.substr(0, add.size() - 3), cut_message(nullptr, {{"add", add_args}})},
      // A second call cut (QA: max_tokens 100 gave one call and "<tool_call>\n{\"name\": \"ad").
      {hermes, add + "\n<tool_call>\n{\"name\": \"ad", cut_message(nullptr, {{"add", add_args}})},
      {hermes, add + "\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\"",
       cut_message(nullptr, {{"add", add_args}, {"add", "{\"a\""}})},
      {hermes, add + "\n<tool", cut_message(nullptr, {{"add", add_args}})},
      // Text that holds '<' where the answer is not cut stays content.
      {hermes, "a < b", cut_message("a < b", {})},
      {hermes, "Sure. ", cut_message("Sure. ", {})},
      // Llama 3.x: the marker's text or a prefix of it, then the JSON call.
      {llama, " ", cut_message(" ", {})},
      {llama, "<|python_", cut_message("", {})},
      {llama, "<|python_tag|>", cut_message("", {})},
      {llama, "{\"name\": \"ad", cut_message("", {})},
      {llama, "<|python_tag|>{\"name\": \"add\", ", cut_message(nullptr, {{"add", ""}})},
      {llama, "{\"name\": \"add\", \"parameters\": {\"a\": 1",
       cut_message(nullptr, {{"add", "{\"a\":1"}})},
      {llama, "{\"name\": \"add\", \"parameters\": {}}; {\"name\": \"time\", \"parameters\": {",
       cut_message(nullptr, {{"add", "{}"}, {"time", "{"}})},
      // Mistral: the marker, the list, a call of it.
      {mistral, "[TOOL_CA", cut_message("", {})},
      {mistral, "[TOOL_CALLS][", cut_message("", {})},
      {mistral, "[TOOL_CALLS][{\"name\": \"ad", cut_message("", {})},
      {mistral, "[TOOL_CALLS][{\"name\": \"add\"", cut_message(nullptr, {{"add", ""}})},
      {mistral, "[{\"name\": \"add\", \"arguments\": {}}, {\"name\": \"time\", \"arguments\": {\"z",
       cut_message(nullptr, {{"add", "{}"}, {"time", "{\"z"}})},
      {mistral, "[{\"name\": \"add\", \"arguments\": {}}, {\"nam",
       cut_message(nullptr, {{"add", "{}"}})},
  };
  for (const CutCase& c : cases)
    for (const bool stream_arguments : {false, true}) {
      const std::string how = c.text + (stream_arguments ? " (arguments streamed)" : "");
      std::string finish;
      EXPECT_EQ(without_ids(answer(c.syntax, /*tools=*/true, c.text, finish, FinishReason::Length,
                                   stream_arguments)),
                c.message)
          << how;
      EXPECT_EQ(finish, "length") << how;
      EXPECT_EQ(without_ids(answer(c.syntax, /*tools=*/true, c.text, finish, FinishReason::Stop,
                                   stream_arguments, /*stop_string=*/true)),
                c.message)
          << how << " (stop string)";
      EXPECT_EQ(finish, "stop") << how << " (stop string)";
    }
}

// Ended by the model (its end-of-generation token), the answer was not cut: a held prefix of a
// tag is its text, an unclosed call not under the grammar is text, and a call makes
// finish_reason "tool_calls". Where tools are not parsed, a cut answer is all content.
TEST(ChatAnswer, AnAnswerTheModelEndedIsNotCut) {
  std::string finish;
  for (const std::string& text : {std::string("a <"), std::string("Sure.\n<tool_ca"),
                                  std::string("<tool_call>\n{\"name\": \"add\", \"argu")}) {
    EXPECT_EQ(answer(kQwen3, /*tools=*/true, text, finish), cut_message(text, {})) << text;
    EXPECT_EQ(finish, "stop");
    EXPECT_EQ(answer(kQwen3, /*tools=*/false, text, finish, FinishReason::Length),
              cut_message(text, {}))
        << text;
  }
  const json call =
      answer(kQwen3, true, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\nDone",
             finish);
  EXPECT_EQ(without_ids(call), cut_message("Done", {{"f", "{}"}}));
  EXPECT_EQ(finish, "tool_calls");
  // The same answer cut by a stop string after its call: the cut's reason.
  answer(kQwen3, true, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\nDone",
         finish, FinishReason::Stop, false, /*stop_string=*/true);
  EXPECT_EQ(finish, "stop");
}

// The reasoning tokens of `events` (each the texts of the tokens one engine event brings), fed
// as the generation job feeds them, streamed or not.
int reasoning_tokens(const ChatSyntax& syntax, const std::vector<std::vector<std::string>>& events,
                     bool stream) {
  ChatAnswer answer(kMeta, syntax, false, stream);
  for (const auto& tokens : events) {
    std::vector<size_t> sizes;
    std::string text;
    for (const std::string& token : tokens) {
      sizes.push_back(token.size());
      text += token;
    }
    answer.add_tokens(sizes);
    answer.feed(text);
  }
  answer.finish();
  return answer.reasoning_tokens();
}

// reasoning_tokens counts the tokens with a byte in reasoning_content: not the content written
// before a <think> block (QA: every token up to the last reasoning one counted, 45 of content
// with 15 of reasoning made 60), not a tag's own tokens, a token split between reasoning and
// anything else yes, a token held back (it might begin </think>) when its bytes come out as
// reasoning, and reasoning left open at the end.
TEST(ChatAnswer, ReasoningTokensAreThoseOfReasoningContent) {
  const ChatSyntax qwq{.reasoning = true, .starts_in_reasoning = true};
  for (const bool stream : {false, true}) {
    EXPECT_EQ(reasoning_tokens(kQwen3,
                               {{"Hi"},
                                {" there"},
                                {"<think>"},
                                {"a"},
                                {"b</th"},
                                {"ink>"},
                                {"c<think>d"},
                                {"</think>"},
                                {""}},
                               stream),
              3);  // "a", "b</th", "c<think>d"
    EXPECT_EQ(
        reasoning_tokens(kQwen3, {{"Hi", "<think>", "<"}, {"x"}, {"y", "</think>", "z"}}, stream),
        3);  // "<", "x", "y"
    EXPECT_EQ(reasoning_tokens(kQwen3, {{"<think>"}, {"ab"}, {"</thi"}}, stream), 2);
    EXPECT_EQ(reasoning_tokens(qwq, {{"a", "</think>"}, {"b"}}, stream), 1);
    EXPECT_EQ(reasoning_tokens(kQwen3, {{"no", " reasoning"}}, stream), 0);
  }
}

}  // namespace
}  // namespace gengyun::api
