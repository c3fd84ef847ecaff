// `gengyun render-chat`: the real binary prints each template's prompt for each conversation of
// testdata/chat exactly as Hugging Face rendered it, from a template file or from a GGUF's own
// template; template and input errors exit 1 with the message on stderr.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

using Json = nlohmann::ordered_json;

const std::string kBinary = GENGYUN_BINARY;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RenderChatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gengyun-render-chat-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    for (const Json& c :
         Json::parse(read_text(testing::testdata_path("chat/conversations.json")))) {
      write(c["name"].get<std::string>() + ".json", c.dump());
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::string conversation(const std::string& name) const {
    return (dir_ / (name + ".json")).string();
  }

  std::filesystem::path dir_;
};

TEST_F(RenderChatTest, TemplateFilesPrintHuggingFacesPromptsExactly) {
  const Json expected =
      Json::parse(read_text(testing::testdata_path("chat/expected_renders.json")));
  int matched = 0;
  for (const Json& want : expected) {
    const std::string tmpl =
        testing::testdata_path("chat/templates/" + want["template"].get<std::string>());
    const std::string name =
        want["template"].get<std::string>() + " × " + want["case"].get<std::string>();
    const auto out = run_process({kBinary, "render-chat", "--template", tmpl, "--conversation",
                                  conversation(want["case"].get<std::string>())});
    if (want.contains("error")) {
      EXPECT_EQ(out.exit_code, 1) << name;
      EXPECT_EQ(out.out, "") << name;
      EXPECT_EQ(out.err, "error: " + tmpl + ": " + want["error"].get<std::string>() + "\n") << name;
      matched += out.exit_code == 1 &&
                 out.err == "error: " + tmpl + ": " + want["error"].get<std::string>() + "\n";
    } else if (want["template"] != "meta-llama-Llama-3.2-3B-Instruct.jinja") {
      // (Llama 3.2 prints today's date through strftime_now; the engine's tests fix the clock.)
      EXPECT_EQ(out.exit_code, 0) << name << ": " << out.err;
      EXPECT_EQ(out.out, want["prompt"].get<std::string>()) << name;
      EXPECT_EQ(out.err, "") << name;
      matched += out.exit_code == 0 && out.out == want["prompt"].get<std::string>();
    }
  }
  EXPECT_EQ(matched, 72);
}

TEST_F(RenderChatTest, GgufTemplateIsTheModelsOwn) {
  // qwen-vocab.gguf and the qwen2-tiny models carry Qwen3's template.
  const Json expected =
      Json::parse(read_text(testing::testdata_path("chat/expected_renders.json")));
  for (const char* model : {"tokenizer/qwen-vocab.gguf", "models/qwen2-tiny-q8_0.gguf"}) {
    int checked = 0;
    for (const Json& want : expected) {
      if (want["template"] != "Qwen-Qwen3-0.6B.jinja") continue;
      const auto out =
          run_process({kBinary, "render-chat", testing::testdata_path(model), "--conversation",
                       conversation(want["case"].get<std::string>())});
      EXPECT_EQ(out.exit_code, 0) << model << ": " << out.err;
      EXPECT_EQ(out.out, want["prompt"].get<std::string>()) << model << " × " << want["case"];
      ++checked;
    }
    EXPECT_EQ(checked, 8);
  }
}

TEST_F(RenderChatTest, GgufBosAndEosComeFromTheVocabularyUnlessTheConversationGivesThem) {
  // qwen-vocab.gguf with a template that prints the two tokens.
  auto vocab = gguf::File::open(testing::testdata_path("tokenizer/qwen-vocab.gguf"));
  ASSERT_TRUE(vocab.ok()) << vocab.error().message;
  gguf::Writer writer;
  for (const auto& [key, value] : vocab->metadata()) writer.set(key, value);
  writer.set_string("tokenizer.chat_template", "[{{ bos_token }}|{{ eos_token }}]");
  const std::string model = (dir_ / "tokens.gguf").string();
  ASSERT_TRUE(writer.write(model).ok());
  auto out =
      run_process({kBinary, "render-chat", model, "--conversation", conversation("single_user")});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "[<s>|</s>]");  // the conversation's own
  const std::string plain = write("plain.json", R"({"messages": []})");
  out = run_process({kBinary, "render-chat", model, "--conversation", plain});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "[<|endoftext|>|<|im_end|>]");  // its tokenizer.ggml.bos/eos_token_id
}

TEST_F(RenderChatTest, BadInputExitsOneWithTheReason) {
  const std::string single = conversation("single_user");
  auto expect_error = [](const std::vector<std::string>& argv, const std::string& err) {
    const auto out = run_process(argv);
    EXPECT_EQ(out.exit_code, 1) << err;
    EXPECT_EQ(out.out, "") << err;
    EXPECT_EQ(out.err, err);
  };
  const std::string no_template = testing::testdata_path("models/stories260K-f32.gguf");
  expect_error({kBinary, "render-chat", no_template, "--conversation", single},
               "error: " + no_template + " has no tokenizer.chat_template; give --template\n");
  const std::string missing = (dir_ / "missing.json").string();
  expect_error({kBinary, "render-chat", "--template", missing, "--conversation", single},
               "error: --template: cannot read " + missing + ": No such file or directory\n");
  const std::string tmpl = write("ok.jinja", "{{ messages | length }}");
  expect_error({kBinary, "render-chat", "--template", tmpl, "--conversation", missing},
               "error: --conversation: cannot read " + missing + ": No such file or directory\n");
  const std::string not_json = write("bad.json", "{\"messages\": [");
  const auto bad =
      run_process({kBinary, "render-chat", "--template", tmpl, "--conversation", not_json});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err.rfind("error: " + not_json + ": not JSON: ", 0), 0u) << bad.err;
  const std::string unknown = write("unknown.json", R"({"messages": [], "tool": []})");
  expect_error({kBinary, "render-chat", "--template", tmpl, "--conversation", unknown},
               "error: " + unknown +
                   ": unknown conversation member \"tool\" (expected messages, tools, "
                   "add_generation_prompt, bos_token, eos_token, extra, name)\n");
  const std::string shadow =
      write("shadow.json", R"({"messages": [], "extra": {"bos_token": "<forged>"}})");
  expect_error({kBinary, "render-chat", "--template", tmpl, "--conversation", shadow},
               "error: " + shadow +
                   ": \"extra\" may not set \"bos_token\", a variable of its own (give it as "
                   "the conversation's member)\n");
  const std::string syntax = write("syntax.jinja", "line one\n{% for m in messages %}");
  expect_error({kBinary, "render-chat", "--template", syntax, "--conversation", single},
               "error: " + syntax +
                   ": TemplateSyntaxError: unexpected end of template; looking for the tags "
                   "'else' or 'endfor' (line 2, column 24)\n");
  const std::string runtime = write("runtime.jinja", "{{ messages[0].content.nope() }}");
  expect_error({kBinary, "render-chat", "--template", runtime, "--conversation", single},
               "error: " + runtime +
                   ": UndefinedError: 'str object' has no attribute 'nope' (line 1, column 28)\n");
}

// A conversation nesting arrays deeper than a request body may (64 levels) is refused while
// parsing, however deep (100 000 levels once overflowed the stack); 64 levels still render.
TEST_F(RenderChatTest, DeeplyNestedConversationExitsOne) {
  const std::string tmpl = write("count.jinja", "{{ messages | length }}");
  const auto nested = [&](const std::string& name, int arrays) {
    // The object, "messages", the message and `arrays` more levels inside it.
    return write(name, R"({"messages":[{"role":"user","content":"hi","x":)" +
                           std::string(static_cast<size_t>(arrays), '[') +
                           std::string(static_cast<size_t>(arrays), ']') + "}]}");
  };
  for (const int arrays : {62, 100000}) {
    const std::string conv = nested("deep" + std::to_string(arrays) + ".json", arrays);
    const auto out =
        run_process({kBinary, "render-chat", "--template", tmpl, "--conversation", conv});
    EXPECT_EQ(out.exit_code, 1) << arrays;
    EXPECT_EQ(out.out, "") << arrays;
    EXPECT_EQ(out.err, "error: " + conv +
                           ": arrays and objects nest more than 64 levels deep; at most 64 are "
                           "allowed\n")
        << arrays;
  }
  const std::string deepest = nested("deep61.json", 61);
  const auto out =
      run_process({kBinary, "render-chat", "--template", tmpl, "--conversation", deepest});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "1");
}

TEST_F(RenderChatTest, PrintsNothingButThePrompt) {
  const std::string tmpl = write("plain.jinja", "{{ messages[0].content }}");
  const std::string conv =
      write("nl.json", R"({"messages": [{"role": "user", "content": "a\nb\n"}]})");
  const auto out =
      run_process({kBinary, "render-chat", "--template", tmpl, "--conversation", conv});
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(out.out, "a\nb\n");
  EXPECT_EQ(out.err, "");
}

}  // namespace
}  // namespace gengyun::e2e
