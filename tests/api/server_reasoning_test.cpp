// Reasoning through the real server: a model whose template ends its prompt inside <think>
// (qwen2-tiny with QwQ's template) answers in reasoning_content, apart from content, streamed
// and not, and chat_template_kwargs {"enable_thinking": false} reaches the template and closes
// the reasoning in the prompt, so the same model answers in content. The tiny model has random
// weights and writes no </think>: its whole greedy answer is reasoning in the first case.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
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
    // qwen2-tiny with QwQ's chat template, served by a second server on the same ledger.
    auto source = gguf::File::open(gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf"));
    ASSERT_TRUE(source.ok());
    gguf::Writer writer;
    for (const auto& [key, value] : source->metadata()) {
      if (key != "tokenizer.chat_template") writer.set(key, value);
    }
    writer.set_string(
        "tokenizer.chat_template",
        read_text(gengyun::testing::testdata_path("chat/templates/Qwen-QwQ-32B.jinja")));
    for (const gguf::TensorInfo& t : source->tensors())
      ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
    const std::string path = (dir_ / "qwq-tiny.gguf").string();
    ASSERT_TRUE(writer.write(path).ok());
    qwq_registry_.reset(make_registry({{"qwq-tiny", path}}, {.n_threads = 1, .n_ctx = 512}));
    ASSERT_TRUE(qwq_registry_);
    qwq_server_ = std::make_unique<Server>(*qwq_registry_, *store_, options_);
    auto port = qwq_server_->bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    qwq_port_ = port.value();
    qwq_thread_ = std::thread([this] { qwq_server_->run(); });
  }
  void TearDown() override {
    if (qwq_server_) qwq_server_->stop();
    if (qwq_thread_.joinable()) qwq_thread_.join();
    qwq_server_.reset();
    qwq_registry_.reset();
    ServerTest::TearDown();
  }

  httplib::Result post_qwq(const json& body) {
    httplib::Client client("127.0.0.1", qwq_port_);
    client.set_read_timeout(60, 0);
    return client.Post("/v1/chat/completions", {{"Authorization", "Bearer " + key_}}, body.dump(),
                       "application/json");
  }

  std::unique_ptr<deploy::Registry> qwq_registry_;
  std::unique_ptr<Server> qwq_server_;
  std::thread qwq_thread_;
  int qwq_port_ = 0;
};

TEST_F(ReasoningServerTest, AnswersInsideThinkAreReasoningContent) {
  deploy::Acquired qwq = qwq_registry_->acquire("qwq-tiny");
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

}  // namespace
}  // namespace gengyun::api::testing
