#include "chat/chat_format.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "testdata.h"

namespace gengyun::chat {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::vector<Message> kMultiTurn = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello! How can I help?"},
    {"user", "Tell me a joke."},
};

TEST(DetectChatFormat, RulesOnHandmadeTemplates) {
  EXPECT_EQ(detect_chat_format("", false), ChatFormat::ChatML);
  EXPECT_EQ(detect_chat_format("", true), ChatFormat::Llama2);
  EXPECT_EQ(detect_chat_format("{{ '<|im_start|>' + role }}", true), ChatFormat::ChatML);
  EXPECT_EQ(detect_chat_format("{{ bos_token + '[INST] ' }}", false), ChatFormat::Llama2);
  EXPECT_EQ(detect_chat_format("{{ messages }}", false), ChatFormat::ChatML);
  EXPECT_EQ(detect_chat_format("{{ '<|start_header_id|>' + role }}", false), ChatFormat::Llama3);
}

TEST(DetectChatFormat, RealTemplates) {
  REQUIRE_TESTDATA();
  const struct {
    const char* file;
    ChatFormat format;
  } cases[] = {
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ChatFormat::ChatML},
      {"Qwen-Qwen3-0.6B.jinja", ChatFormat::ChatML},
      {"Qwen-QwQ-32B.jinja", ChatFormat::ChatML},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", ChatFormat::Llama2},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ChatFormat::Llama3},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", ChatFormat::Llama3},
  };
  for (const auto& c : cases) {
    const std::string tmpl = read_text(testing::testdata_path(std::string("chat/templates/") + c.file));
    ASSERT_FALSE(tmpl.empty()) << c.file;
    EXPECT_EQ(detect_chat_format(tmpl, false), c.format) << c.file;
  }
}

TEST(RenderChat, ChatMLExactString) {
  EXPECT_EQ(render_chat(ChatFormat::ChatML, kMultiTurn, "<s>", "</s>"),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
            "<|im_start|>user\nTell me a joke.<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(ChatFormat::ChatML, {}, "", ""), "<|im_start|>assistant\n");
  const std::vector<Message> tool = {{"tool", "{\"temp\": 21}"}};
  EXPECT_EQ(render_chat(ChatFormat::ChatML, tool, "", ""),
            "<|im_start|>tool\n{\"temp\": 21}<|im_end|>\n<|im_start|>assistant\n");
}

TEST(RenderChat, Llama3ExactString) {
  EXPECT_EQ(render_chat(ChatFormat::Llama3, kMultiTurn, "<|begin_of_text|>", "<|eot_id|>"),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// The Llama 3.2 template prepends a dated header to the system message; after the system turn
// its render of multi_turn equals ours turn for turn.
TEST(RenderChat, Llama3MatchesLlama32TemplateAfterTheSystemTurn) {
  REQUIRE_TESTDATA();
  const auto renders =
      nlohmann::json::parse(read_text(testing::testdata_path("chat/expected_renders.json")));
  const std::vector<Message> turns(kMultiTurn.begin() + 1, kMultiTurn.end());
  const std::string ours = render_chat(ChatFormat::Llama3, turns, "", "");
  int found = 0;
  for (const auto& r : renders) {
    if (r["template"] != "meta-llama-Llama-3.2-3B-Instruct.jinja" || r["case"] != "multi_turn") continue;
    const std::string prompt = r["prompt"];
    const std::string system_end = "Be brief.<|eot_id|>";
    const size_t at = prompt.find(system_end);
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(prompt.substr(at + system_end.size()), ours);
    ++found;
  }
  EXPECT_EQ(found, 1);
}

TEST(RenderChat, ChatMLMatchesQwenTemplateRenders) {
  REQUIRE_TESTDATA();
  const nlohmann::json conversations =
      nlohmann::json::parse(read_text(testing::testdata_path("chat/conversations.json")));
  const nlohmann::json renders =
      nlohmann::json::parse(read_text(testing::testdata_path("chat/expected_renders.json")));
  // Cases where the real template renders plain ChatML: Qwen2.5 with an explicit system
  // message (without one it inserts its default system prompt), Qwen3 without tools or
  // thinking flags.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Qwen-Qwen2.5-7B-Instruct.jinja", "system_user"},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", "multi_turn"},
      {"Qwen-Qwen3-0.6B.jinja", "single_user"},
      {"Qwen-Qwen3-0.6B.jinja", "system_user"},
      {"Qwen-Qwen3-0.6B.jinja", "multi_turn"},
      {"Qwen-Qwen3-0.6B.jinja", "unicode"},
  };
  for (const auto& [tmpl, name] : cases) {
    const nlohmann::json* conversation = nullptr;
    for (const auto& c : conversations) {
      if (c.at("name") == name) conversation = &c;
    }
    const nlohmann::json* render = nullptr;
    for (const auto& r : renders) {
      if (r.at("template") == tmpl && r.at("case") == name) render = &r;
    }
    ASSERT_NE(conversation, nullptr) << name;
    ASSERT_NE(render, nullptr) << tmpl << " " << name;
    std::vector<Message> messages;
    for (const auto& m : conversation->at("messages")) {
      messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    }
    EXPECT_EQ(render_chat(ChatFormat::ChatML, messages, conversation->at("bos_token").get<std::string>(),
                          conversation->at("eos_token").get<std::string>()),
              render->at("prompt").get<std::string>())
        << tmpl << " " << name;
  }
}

TEST(RenderChat, Llama2ExactStrings) {
  EXPECT_EQ(render_chat(ChatFormat::Llama2, kMultiTurn, "<s>", "</s>"),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello! How can I help?</s>"
            "<s>[INST] Tell me a joke. [/INST]");

  const std::vector<Message> single = {{"user", "Hello!"}};
  EXPECT_EQ(render_chat(ChatFormat::Llama2, single, "<s>", "</s>"), "[INST] Hello! [/INST]");

  const std::vector<Message> no_system = {
      {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Again"}, {"assistant", "Sure."}, {"user", "Bye"}};
  EXPECT_EQ(render_chat(ChatFormat::Llama2, no_system, "<s>", "</s>"),
            "[INST] Hi [/INST]Hello.</s><s>[INST] Again [/INST]Sure.</s><s>[INST] Bye [/INST]");
  EXPECT_EQ(render_chat(ChatFormat::Llama2, no_system, "", "\n"),
            "[INST] Hi [/INST]Hello.\n[INST] Again [/INST]Sure.\n[INST] Bye [/INST]");

  const std::vector<Message> ends_with_reply = {{"user", "Hi"}, {"assistant", "Hello."}};
  EXPECT_EQ(render_chat(ChatFormat::Llama2, ends_with_reply, "<s>", "</s>"), "[INST] Hi [/INST]Hello.</s>");
}

TEST(RenderChat, RequestSpansAreTheRolesAndContents) {
  const std::vector<Message> messages = {{"system", "S"}, {"user", "Hi"}, {"assistant", "Yo"}};
  std::vector<std::pair<size_t, size_t>> spans;
  const std::string chatml = render_chat(ChatFormat::ChatML, messages, "", "", &spans);
  std::string shown;
  for (const auto& [b, e] : spans) shown += chatml.substr(b, e - b) + "|";
  EXPECT_EQ(shown, "system|S|user|Hi|assistant|Yo|");
  spans.clear();
  const std::string llama2 = render_chat(ChatFormat::Llama2, messages, "<s>", "</s>", &spans);
  shown.clear();
  for (const auto& [b, e] : spans) shown += llama2.substr(b, e - b) + "|";
  EXPECT_EQ(shown, "S|Hi|Yo|");
  spans.clear();
  const std::string llama3 = render_chat(ChatFormat::Llama3, messages, "", "", &spans);
  EXPECT_EQ(spans.size(), 6u);
  EXPECT_EQ(llama3.substr(spans[3].first, spans[3].second - spans[3].first), "Hi");
}

}  // namespace
}  // namespace gengyun::chat
