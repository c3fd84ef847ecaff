// What each real template's answers speak (template_syntax), and whether a rendered prompt
// ends inside reasoning (ends_in_reasoning) or just after a reasoning block it closed
// (ends_after_reasoning), the template's own tags counted, the client's not.
#include "chat/chat_syntax.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "testdata.h"

namespace gengyun::chat {
namespace {

std::string read_template(const std::string& name) {
  std::ifstream in(testing::testdata_path("chat/templates/" + name), std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ChatSyntax, OfEveryRealTemplate) {
  REQUIRE_TESTDATA();
  using F = ToolCallFormat;
  const std::map<std::string, std::pair<bool, F>> expected = {
      {"HuggingFaceTB-SmolLM3-3B.jinja", {true, F::None}},
      {"Qwen-QwQ-32B.jinja", {true, F::Hermes}},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", {false, F::Hermes}},
      {"Qwen-Qwen3-0.6B.jinja", {true, F::Hermes}},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", {true, F::None}},
      {"google-gemma-2-2b-it.jinja", {false, F::None}},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", {false, F::Llama3Json}},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", {false, F::Llama3Json}},
      {"microsoft-Phi-3.5-mini-instruct.jinja", {false, F::None}},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", {false, F::MistralJson}}};
  for (const auto& [name, want] : expected) {
    const std::string source = read_template(name);
    ASSERT_FALSE(source.empty()) << name;
    const ChatSyntax syntax = template_syntax(source);
    EXPECT_EQ(syntax.reasoning, want.first) << name;
    EXPECT_EQ(syntax.tool_calls, want.second) << name;
    EXPECT_FALSE(syntax.starts_in_reasoning) << name;
  }
}

// QwQ's and DeepSeek-R1's generation prompts open <think> and, with enable_thinking off (or
// not given, in these versions), close it at once; Qwen3's and SmolLM3's open and close it
// only when it is off.
TEST(ChatSyntax, PromptsThatEndInsideReasoning) {
  REQUIRE_TESTDATA();
  const struct {
    const char* name;
    bool thinking_on;
    bool thinking_off;
    bool closed_on;  // ends_after_reasoning
    bool closed_off;
  } cases[] = {{"Qwen-QwQ-32B.jinja", true, false, false, true},
               {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", true, false, false, true},
               {"Qwen-Qwen3-0.6B.jinja", false, false, false, true},
               {"HuggingFaceTB-SmolLM3-3B.jinja", false, false, false, true}};
  const std::vector<std::string> request = {"messages"};
  for (const auto& c : cases) {
    auto tmpl = ChatTemplate::parse(read_template(c.name));
    ASSERT_TRUE(tmpl.ok()) << c.name;
    for (const bool thinking : {true, false}) {
      const nlohmann::ordered_json vars = {
          {"messages", {{{"role", "user"}, {"content", "Is <think> a tag? </think>"}}}},
          {"add_generation_prompt", true},
          {"enable_thinking", thinking}};
      const auto prompt = tmpl->render_marked(vars, request);
      ASSERT_TRUE(prompt.ok()) << c.name << ": " << prompt.error().message;
      EXPECT_EQ(ends_in_reasoning(prompt->text, prompt->request_spans),
                thinking ? c.thinking_on : c.thinking_off)
          << c.name << " " << thinking << ": " << prompt->text;
      EXPECT_EQ(ends_after_reasoning(prompt->text, prompt->request_spans),
                thinking ? c.closed_on : c.closed_off)
          << c.name << " " << thinking << ": " << prompt->text;
    }
  }
}

TEST(ChatSyntax, TagsAClientWroteDoNotCount) {
  const std::string prompt = "<|im_start|>user\nsay <think> please<|im_end|>\nassistant\n";
  const size_t at = prompt.find("say");
  const std::vector<std::pair<size_t, size_t>> spans = {{at, at + 16}};
  EXPECT_FALSE(ends_in_reasoning(prompt, spans));
  EXPECT_TRUE(ends_in_reasoning(prompt, {}));
  EXPECT_TRUE(ends_in_reasoning("a</think><think>", {}));
  EXPECT_FALSE(ends_in_reasoning("<think></think>x", {}));
  // The client's </think> after the template's <think> does not close it.
  EXPECT_TRUE(
      ends_in_reasoning("<think>x</think>", std::vector<std::pair<size_t, size_t>>{{8, 16}}));
  EXPECT_FALSE(ends_in_reasoning("", {}));
  EXPECT_TRUE(ends_after_reasoning("<think>\n\n</think>\n\n", {}));
  EXPECT_FALSE(ends_after_reasoning("<think>\n\n</think>\n\nx", {}));
  EXPECT_FALSE(ends_after_reasoning("<think>x", {}));
  EXPECT_FALSE(ends_after_reasoning("", {}));
  // A </think> the client wrote closes nothing.
  EXPECT_FALSE(
      ends_after_reasoning("<think>x</think>", std::vector<std::pair<size_t, size_t>>{{8, 16}}));
}

// A client's message of a million tags (QA 2026-12-07: 437 500 "<think>" in one message took
// 595 s, the tag it lacked searched from each of its tags to the start): the walk over them is
// linear, so this ends at once (it would run for hours).
TEST(ChatSyntax, AMessageOfManyTagsIsWalkedOnce) {
  const std::string head = "<|im_start|>user\n";
  for (const std::string_view tag : {"<think>", "</think>"}) {
    std::string message;
    for (int i = 0; i < 1'000'000; ++i) message += tag;
    const std::string prompt = head + message + "<|im_end|>\n<|im_start|>assistant\n";
    const std::vector<std::pair<size_t, size_t>> spans = {
        {head.size(), head.size() + message.size()}};
    EXPECT_FALSE(ends_in_reasoning(prompt, spans));
    EXPECT_FALSE(ends_after_reasoning(prompt, spans));
    EXPECT_TRUE(ends_in_reasoning(prompt + "<think>\n", spans));
    EXPECT_TRUE(ends_after_reasoning(prompt + "<think>\n\n</think>\n\n", spans));
  }
}

}  // namespace
}  // namespace gengyun::chat
