// Every real template of testdata/chat over every conversation renders byte for byte as
// Hugging Face's apply_chat_template did (testdata/chat/expected_renders.json), and the
// templates that raise give the same message.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "chat/chat_template.h"
#include "testdata.h"

namespace gengyun::chat {
namespace {

using Json = nlohmann::ordered_json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// 26 Jul 2024, 12:00 local time: the date the expected renders were made with.
std::time_t july_26_2024() {
  std::tm tm{};
  tm.tm_year = 2024 - 1900;
  tm.tm_mon = 6;
  tm.tm_mday = 26;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

TEST(TemplateExactness, EveryTemplateAndConversationAsHuggingFace) {
  REQUIRE_TESTDATA();
  const Json conversations =
      Json::parse(read_text(testing::testdata_path("chat/conversations.json")));
  const Json expected =
      Json::parse(read_text(testing::testdata_path("chat/expected_renders.json")));
  ASSERT_EQ(expected.size(), 80u);
  RenderOptions options;
  options.now = july_26_2024;
  int matched = 0;
  for (const Json& want : expected) {
    const std::string name =
        want["template"].get<std::string>() + " × " + want["case"].get<std::string>();
    const std::string source =
        read_text(testing::testdata_path("chat/templates/" + want["template"].get<std::string>()));
    ASSERT_FALSE(source.empty()) << name;
    const auto tmpl = ChatTemplate::parse(source);
    ASSERT_TRUE(tmpl.ok()) << name << ": " << tmpl.error().message;
    const Json* conversation = nullptr;
    for (const Json& c : conversations) {
      if (c["name"] == want["case"]) conversation = &c;
    }
    ASSERT_NE(conversation, nullptr) << name;
    const auto vars = conversation_variables(*conversation);
    ASSERT_TRUE(vars.ok()) << name << ": " << vars.error().message;
    const auto out = tmpl->render(vars.value(), options);
    if (want.contains("error")) {
      ASSERT_FALSE(out.ok()) << name << " rendered " << out.value();
      EXPECT_EQ(out.error().message, want["error"].get<std::string>()) << name;
      matched += out.error().message == want["error"].get<std::string>();
    } else {
      ASSERT_TRUE(out.ok()) << name << ": " << out.error().message;
      EXPECT_EQ(out.value(), want["prompt"].get<std::string>()) << name;
      matched += out.value() == want["prompt"].get<std::string>();
    }
  }
  EXPECT_EQ(matched, 80);
}

}  // namespace
}  // namespace gengyun::chat
