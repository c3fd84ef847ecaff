// /v1/completions with echo: the prompt's text before the answer's, for a prompt of token ids
// the text that gives those ids, and a character split between the prompt and the answer
// whole (QA 2026-12-07).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

json echo_request(const std::string& model, const json& prompt, int max_tokens, bool stream) {
  return {{"model", model},   {"prompt", prompt}, {"max_tokens", max_tokens},
          {"temperature", 0}, {"stream", stream}, {"echo", true}};
}

/// The texts of a completion answer's choice 0: whole, or each chunk of a stream that has text.
std::vector<std::string> texts(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  if (!r) return {};
  EXPECT_EQ(r->status, 200) << r->body;
  std::vector<std::string> out;
  if (r->get_header_value("Content-Type") != "text/event-stream") {
    out.push_back(json::parse(r->body)["choices"][0]["text"]);
    return out;
  }
  for (const json& event : parse_sse(r->body).events)
    if (!event["choices"].empty() && event["choices"][0].value("text", "") != "")
      out.push_back(event["choices"][0]["text"]);
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += part;
  return out;
}

// A prompt of token ids is echoed as the text prompt that tokenizes to them is: special tokens'
// text included (it was left out), and a SentencePiece model's BOS and the space the tokenizer
// puts after it left out (the echo began with a space).
TEST_F(ServerTest, AnEchoOfTokenIdsIsTheTextThatGivesThem) {
  struct Case {
    std::string model;
    std::string text;
  };
  for (const Case& c : {Case{"qwen2-tiny", "<|im_start|>user\nHi there<|im_end|>\n"},
                        Case{"stories", "Once upon a time"}, Case{"stories", "Once</s>upon"}}) {
    std::vector<int32_t> ids;
    {
      deploy::ModelLease m = model(c.model);
      ASSERT_TRUE(m);
      ids = m->tokenize(c.text, /*add_bos=*/true, /*parse_special=*/true);
    }
    if (c.text == "Once upon a time") {
      ASSERT_EQ(ids, (std::vector<int32_t>{1, 403, 407, 261, 378}));
    }
    json plain = echo_request(c.model, c.text, 3, false);
    plain["echo"] = false;
    const std::vector<std::string> answer = texts(post("/v1/completions", plain, key_));
    ASSERT_EQ(answer.size(), 1u);
    for (const bool stream : {false, true}) {
      SCOPED_TRACE(c.text + (stream ? " (streamed)" : ""));
      const std::vector<std::string> by_ids =
          texts(post("/v1/completions", echo_request(c.model, ids, 3, stream), key_));
      ASSERT_FALSE(by_ids.empty());
      EXPECT_EQ(joined(by_ids), c.text + answer[0]);
      if (stream) {
        EXPECT_EQ(by_ids[0], c.text);  // the echo's chunk
      }
      EXPECT_EQ(
          joined(texts(post("/v1/completions", echo_request(c.model, c.text, 3, stream), key_))),
          c.text + answer[0]);
    }
  }
}

// A prompt of ids that ends inside a character: the echo leaves the character's first bytes to
// the answer, whose first token completes it, so the text holds it whole (it was "Caf\uFFFD"
// then "\uFFFD", the two halves decoded apart); a token that does not complete it makes it one
// U+FFFD, as the bytes decoded together do.
TEST_F(ServerTest, ACharacterSplitBetweenThePromptAndTheAnswerIsWhole) {
  std::vector<int32_t> prompt;
  int32_t c3 = -1, a9 = -1, x = -1;  // the byte-level tokens of the bytes 0xC3, 0xA9 and 'x'
  {
    deploy::ModelLease m = model("qwen2-tiny");
    ASSERT_TRUE(m);
    for (int32_t id = 0; id < m->n_vocab(); ++id) {
      const std::string bytes = m->token_bytes(id);
      if (bytes == "\xC3") c3 = id;
      if (bytes == "\xA9") a9 = id;
      if (bytes == "x") x = id;
    }
    prompt = m->tokenize("Caf", /*add_bos=*/true, /*parse_special=*/true);
  }
  ASSERT_GE(c3, 0);
  ASSERT_GE(a9, 0);
  ASSERT_GE(x, 0);
  prompt.push_back(c3);  // "Caf\xC3": é (C3 A9) is cut after its first byte
  const std::string replacement = "\xEF\xBF\xBD";
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "whole");
    json request = echo_request("qwen2-tiny", prompt, 1, stream);
    request["logit_bias"] = {{std::to_string(a9), 100}};
    const std::vector<std::string> whole = texts(post("/v1/completions", request, key_));
    EXPECT_EQ(joined(whole), "Caf\xC3\xA9");
    if (stream) {
      EXPECT_EQ(whole, (std::vector<std::string>{"Caf", "\xC3\xA9"}));
    }
    request["logit_bias"] = {{std::to_string(x), 100}};
    const std::vector<std::string> cut = texts(post("/v1/completions", request, key_));
    EXPECT_EQ(joined(cut), "Caf" + replacement + "x");
    if (stream) {
      EXPECT_EQ(cut, (std::vector<std::string>{"Caf", replacement + "x"}));
    }
  }
  // Two prompts, two choices each: every choice holds its prompt's character whole.
  json batch = echo_request("qwen2-tiny", {prompt, prompt}, 1, false);
  batch["n"] = 2;
  batch["logit_bias"] = {{std::to_string(a9), 100}};
  auto r = post("/v1/completions", batch, key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json answer = json::parse(r->body);
  ASSERT_EQ(answer["choices"].size(), 4u);
  for (const json& choice : answer["choices"])
    EXPECT_EQ(choice["text"], std::string("Caf\xC3\xA9"));
}

}  // namespace
}  // namespace gengyun::api::testing
