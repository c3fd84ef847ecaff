// Response shapes: what OpenAI clients parse, field by field.
#include "api/openai_response.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "api/errors.h"
#include "api/sse.h"

namespace gengyun::api {
namespace {

using nlohmann::json;

const ResponseMeta kChat{CompletionKind::Chat, "chatcmpl-x", 1700000000, "qwen"};
const ResponseMeta kText{CompletionKind::Text, "cmpl-x", 1700000000, "qwen"};
const ResponseMeta kChatWithFingerprint{CompletionKind::Chat, "chatcmpl-x", 1700000000, "qwen",
                                        "fp_0123456789ab"};

TEST(NewResponseId, PrefixAndRandomSuffix) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = new_response_id(CompletionKind::Chat);
    ASSERT_EQ(id.rfind("chatcmpl-", 0), 0u);
    ASSERT_EQ(id.size(), 9u + 24u);
    for (char c : id.substr(9)) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(new_response_id(CompletionKind::Text).rfind("cmpl-", 0), 0u);
}

TEST(CompletionResponse, ChatShape) {
  const json body = completion_response(kChatWithFingerprint, {{"hello", "stop"}}, {5, 2, 3});
  EXPECT_EQ(body, json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion", "created": 1700000000, "model": "qwen",
    "system_fingerprint": "fp_0123456789ab",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello", "refusal": null},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}})"));
}

TEST(CompletionResponse, ChoicesInOrderWithTheirIndex) {
  const json body =
      completion_response(kText, {{"a", "stop"}, {"b", "length"}, {"c", "stop"}}, {3, 6});
  ASSERT_EQ(body["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(body["choices"][i]["index"], i);
  EXPECT_EQ(body["choices"][1]["text"], "b");
  EXPECT_EQ(body["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 6);
}

TEST(SystemFingerprint, FpAnd12HexDigitsEqualForEqualConfigurations) {
  const std::string a = system_fingerprint("/models/a.gguf", 4096);
  EXPECT_EQ(a.size(), 15u);
  EXPECT_EQ(a.rfind("fp_", 0), 0u);
  for (char c : a.substr(3)) EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(c))) << a;
  EXPECT_EQ(a, system_fingerprint("/models/a.gguf", 4096));
  EXPECT_NE(a, system_fingerprint("/models/a.gguf", 2048));
  EXPECT_NE(a, system_fingerprint("/models/b.gguf", 4096));
}

TEST(CompletionResponse, TextShape) {
  const json body = completion_response(kText, {{"hello", "length"}}, {3, 4});
  EXPECT_EQ(body, json::parse(R"({
    "id": "cmpl-x", "object": "text_completion", "created": 1700000000, "model": "qwen",
    "choices": [{"index": 0, "text": "hello", "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}})"));
}

// Members in OpenAI's order (ordered_json compares it).
TEST(StreamChunks, ChatShapes) {
  EXPECT_EQ(*opening_chunk(kChat), nlohmann::ordered_json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "qwen", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "logprobs": null, "finish_reason": null}]})"));
  EXPECT_EQ(text_chunk(kChat, "Hi")["choices"][0]["delta"], json({{"content", "Hi"}}));
  EXPECT_TRUE(text_chunk(kChat, "Hi")["choices"][0]["finish_reason"].is_null());
  const json finish = finish_chunk(kChat, "stop");
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(finish.contains("usage"));
  const TokenUsage usage{5, 2, 4};
  EXPECT_EQ(finish_chunk(kChat, "stop", &usage)["usage"], usage_json(usage));
  EXPECT_EQ(usage_chunk(kChat, usage), nlohmann::ordered_json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "qwen", "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}})"));
  EXPECT_EQ(text_chunk(kChatWithFingerprint, "Hi")["system_fingerprint"], "fp_0123456789ab");
}

TEST(StreamChunks, TextShapes) {
  EXPECT_FALSE(opening_chunk(kText).has_value());
  EXPECT_EQ(text_chunk(kText, "Hi"), nlohmann::ordered_json::parse(R"({
    "id": "cmpl-x", "object": "text_completion", "created": 1700000000, "model": "qwen",
    "choices": [{"index": 0, "text": "Hi", "logprobs": null, "finish_reason": null}]})"));
  EXPECT_EQ(finish_chunk(kText, "length")["choices"][0]["text"], "");
  EXPECT_EQ(finish_chunk(kText, "length")["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(usage_chunk(kText, {1, 1})["object"], "text_completion");
}

TEST(Logprobs, ChatContentWithBytesAndAlternatives) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<TokenLogprob> tokens = {
      {"Hi", -0.25f, {{"Hi", -0.25f}, {"Hello", -1.5f}}},
      {"\xE4\xBD", -2.0f, {{"\xE4\xBD", -2.0f}, {"x", -inf}}}};
  const json lp = json::parse(dump_json(chat_logprobs(tokens)));
  EXPECT_EQ(lp, json::parse(R"({"content": [
    {"token": "Hi", "logprob": -0.25, "bytes": [72, 105],
     "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
                      {"token": "Hello", "logprob": -1.5, "bytes": [72, 101, 108, 108, 111]}]},
    {"token": "\ufffd", "logprob": -2.0, "bytes": [228, 189],
     "top_logprobs": [{"token": "\ufffd", "logprob": -2.0, "bytes": [228, 189]},
                      {"token": "x", "logprob": -9999.0, "bytes": [120]}]}],
    "refusal": null})"));
  EXPECT_EQ(chat_logprobs({}), json::parse(R"({"content": [], "refusal": null})"));
}

TEST(Logprobs, CompletionOffsetsCountCharactersAcrossCalls) {
  TextOffset offset;
  const json first = completion_logprobs(
      {{" h\xC3\xA9", -0.5f, {{" h\xC3\xA9", -0.5f}, {" a", -1.0f}}}, {"\xE4\xBD", -1.0f, {}}},
      offset);
  EXPECT_EQ(offset.chars, 3);  // " hé"; the first two bytes of U+4F60 wait for the third
  EXPECT_EQ(offset.pending, "\xE4\xBD");
  EXPECT_EQ(first["tokens"].size(), 2u);
  EXPECT_EQ(first["token_logprobs"], json({-0.5, -1.0}));
  EXPECT_EQ(first["text_offset"], json({0, 3}));
  EXPECT_EQ(first["top_logprobs"][0][" a"], -1.0);
  EXPECT_EQ(first["tokens"], json({" h\xC3\xA9", "bytes:\\xe4\\xbd"}));
  EXPECT_EQ(first["top_logprobs"][1], json({{"bytes:\\xe4\\xbd", -1.0}}));  // the sampled one
  // Its third byte starts the next token, inside character 3.
  const json second = completion_logprobs({{"\xA0!", -3.0f, {}}}, offset);
  EXPECT_EQ(second["text_offset"], json({3}));
  EXPECT_EQ(offset.chars, 5);
  EXPECT_EQ(offset.pending, "");
}

// OpenAI: "The API will always return the logprob of the sampled token, so there may be up to
// logprobs+1 elements": a token sampled from outside the top list joins it.
TEST(Logprobs, CompletionTopLogprobsHoldTheSampledToken) {
  TextOffset offset;
  const json out = completion_logprobs(
      {{"b", -3.0f, {{"a", -0.5f}, {"c", -1.0f}}}, {"a", -0.5f, {{"a", -0.5f}, {"c", -1.0f}}}},
      offset);
  EXPECT_EQ(out["top_logprobs"], json::parse(R"([{"a": -0.5, "c": -1.0, "b": -3.0},
                                                 {"a": -0.5, "c": -1.0}])"));
}

// OpenAI lists a legacy top_logprobs object's tokens most likely first (the sampled one, when
// it joins them, last); a std::map gave them in alphabetical order (QA).
TEST(Logprobs, CompletionTopLogprobsKeepTheirOrder) {
  TextOffset offset;
  const auto out =
      completion_logprobs({{"b", -3.0f, {{"c", -0.5f}, {"a", -1.0f}}}, {"c", -0.5f, {}}}, offset);
  EXPECT_EQ(dump_json(out["top_logprobs"]), R"([{"c":-0.5,"a":-1.0,"b":-3.0},{"c":-0.5}])");
  EXPECT_EQ(dump_json(completion_response(kText, {{"cb", "stop", out}},
                                          {})["choices"][0]["logprobs"]["top_logprobs"][0]),
            R"({"c":-0.5,"a":-1.0,"b":-3.0})");
  EXPECT_NE(sse_event(text_chunk(kText, "cb", out)).find(R"({"c":-0.5,"a":-1.0,"b":-3.0})"),
            std::string::npos);
}

// Two pieces of characters would both show as U+FFFD, so that as keys of one top_logprobs
// object they would collide and one logprob would be lost (QA 2026-12-07): each is written
// "bytes:" and its bytes, as OpenAI writes them.
TEST(Logprobs, PiecesOfCharactersAreWrittenAsTheirBytes) {
  TextOffset offset;
  const json out = completion_logprobs(
      {{"\xE4", -0.25f, {{"\xE5", -0.5f}, {"\xE4", -0.25f}, {"\xC3\xA9", -2.0f}}}}, offset);
  EXPECT_EQ(out["tokens"], json({"bytes:\\xe4"}));
  EXPECT_EQ(out["top_logprobs"],
            json::parse(R"([{"bytes:\\xe5": -0.5, "bytes:\\xe4": -0.25, "\u00e9": -2.0}])"));
}

// Bytes that make no character show as one U+FFFD each in the text (the stream decoder's
// maximal ill-formed subparts): each such token is a character of its own.
TEST(Logprobs, CompletionOffsetsCountEachReplacementCharacter) {
  TextOffset offset;
  const json lone = completion_logprobs(
      {{"\xE4", -1.0f, {}}, {"\xE4", -1.0f, {}}, {"\xE4", -1.0f, {}}, {"\x80", -1.0f, {}}}, offset);
  // E4 E4 E4 80: E4 (cut), E4 (cut), E4 80 (still unfinished: its third byte may follow).
  EXPECT_EQ(lone["text_offset"], json({0, 1, 2, 2}));
  EXPECT_EQ(offset.chars, 2);
  const json stray =
      completion_logprobs({{"A", -1.0f, {}}, {"\x80", -1.0f, {}}, {"B", -1.0f, {}}}, offset);
  // "A" ends the unfinished E4 80 (one U+FFFD, character 2), then A, a stray 80 and B follow.
  EXPECT_EQ(stray["text_offset"], json({3, 4, 5}));
  EXPECT_EQ(offset.chars, 6);
}

TEST(StreamChunks, CarryLogprobs) {
  const json lp = chat_logprobs({{"Hi", -0.25f, {}}});
  EXPECT_EQ(text_chunk(kChat, "Hi", lp)["choices"][0]["logprobs"], lp);
  EXPECT_TRUE(text_chunk(kChat, "Hi")["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(completion_response(kChat, {{"Hi", "stop", lp}}, {})["choices"][0]["logprobs"], lp);
  EXPECT_EQ(text_chunk(kText, "Hi", nullptr, 3)["choices"][0]["index"], 3);
  EXPECT_EQ(finish_chunk(kText, "stop", nullptr, 2)["choices"][0]["index"], 2);
  EXPECT_EQ((*opening_chunk(kChat, 1))["choices"][0]["index"], 1);
  const json delta = delta_chunk(kChat, {{"reasoning_content", "r"}}, lp, 1);
  EXPECT_EQ(delta["choices"][0]["delta"], json({{"reasoning_content", "r"}}));
  EXPECT_EQ(delta["choices"][0]["logprobs"], lp);
  EXPECT_EQ(delta["choices"][0]["index"], 1);
  EXPECT_TRUE(delta["choices"][0]["finish_reason"].is_null());
}

// A chat choice with its whole message (reasoning, tool calls) keeps it and adds refusal null.
TEST(CompletionResponse, ChatChoiceWithItsMessage) {
  const json message = {{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "r"}};
  const json body = completion_response(kChat, {{"", "tool_calls", nullptr, message}}, {});
  json expected = message;
  expected["refusal"] = nullptr;
  EXPECT_EQ(body["choices"][0]["message"], expected);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
}

TEST(ErrorBody, NullsForEmptyParamAndCode) {
  EXPECT_EQ(error_body(invalid_request("bad", "top_p")), json::parse(R"({"error": {
    "message": "bad", "type": "invalid_request_error", "param": "top_p", "code": null}})"));
  EXPECT_EQ(error_body(model_not_found("x"))["error"]["code"], "model_not_found");
  EXPECT_EQ(model_not_found("x").http_status, 404);
  EXPECT_EQ(invalid_api_key("no").http_status, 401);
  EXPECT_EQ(error_body(invalid_api_key("no"))["error"]["code"], "invalid_api_key");
  EXPECT_EQ(payload_too_large(10).http_status, 413);
  EXPECT_EQ(internal_error("boom").type, "server_error");
}

TEST(DumpJson, ReplacesInvalidUtf8InsteadOfThrowing) {
  EXPECT_EQ(dump_json(json{{"t", std::string("a\xff"
                                             "b")}}),
            "{\"t\":\"a\xEF\xBF\xBD"
            "b\"}");
}

TEST(SseEvent, DataLineAndBlankLine) {
  EXPECT_EQ(sse_event(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
}

}  // namespace
}  // namespace gengyun::api
