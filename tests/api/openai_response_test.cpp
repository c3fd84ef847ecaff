// Response shapes: what OpenAI clients parse, field by field.
#include "api/openai_response.h"

#include <gtest/gtest.h>

#include <set>

#include "api/errors.h"
#include "api/sse.h"

namespace gengyun::api {
namespace {

using nlohmann::json;

const ResponseMeta kChat{CompletionKind::Chat, "chatcmpl-x", 1700000000, "qwen"};
const ResponseMeta kText{CompletionKind::Text, "cmpl-x", 1700000000, "qwen"};

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
  const json body = completion_response(kChat, "hello", "stop", {5, 2, 3});
  EXPECT_EQ(body, json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion", "created": 1700000000, "model": "qwen",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 3}}})"));
}

TEST(CompletionResponse, TextShape) {
  const json body = completion_response(kText, "hello", "length", {3, 4});
  EXPECT_EQ(body, json::parse(R"({
    "id": "cmpl-x", "object": "text_completion", "created": 1700000000, "model": "qwen",
    "choices": [{"index": 0, "text": "hello", "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 0}}})"));
}

TEST(StreamChunks, ChatShapes) {
  EXPECT_EQ(*opening_chunk(kChat), json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "qwen", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "logprobs": null, "finish_reason": null}]})"));
  EXPECT_EQ(text_chunk(kChat, "Hi")["choices"][0]["delta"], json({{"content", "Hi"}}));
  EXPECT_TRUE(text_chunk(kChat, "Hi")["choices"][0]["finish_reason"].is_null());
  const json finish = finish_chunk(kChat, "stop");
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(usage_chunk(kChat, {5, 2, 4}), json::parse(R"({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "qwen", "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 4}}})"));
}

TEST(StreamChunks, TextShapes) {
  EXPECT_FALSE(opening_chunk(kText).has_value());
  EXPECT_EQ(text_chunk(kText, "Hi"), json::parse(R"({
    "id": "cmpl-x", "object": "text_completion", "created": 1700000000, "model": "qwen",
    "choices": [{"index": 0, "text": "Hi", "logprobs": null, "finish_reason": null}]})"));
  EXPECT_EQ(finish_chunk(kText, "length")["choices"][0]["text"], "");
  EXPECT_EQ(finish_chunk(kText, "length")["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(usage_chunk(kText, {1, 1})["object"], "text_completion");
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
