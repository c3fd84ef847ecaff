#include "deploy/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "deploy/units.h"

namespace gengyun::deploy {
namespace {

TEST(Config, ReadsEveryKey) {
  auto config = parse_config(R"(
keep_alive: 10m
rescan_interval: 500ms
models:
  qwen:
    path: q.gguf
    aliases: [default, q]
    keep_alive: -1
    pin: true
    defaults: {temperature: 0.2, top_k: 20, max_tokens: 64, stop: ["\n\n"]}
  stories:
    keep_alive: 30
    aliases: tiny
)",
                             "/models");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->keep_alive_us, 600'000'000);
  EXPECT_EQ(config->rescan_interval_us, 500'000);
  const ModelConfig& qwen = config->models.at("qwen");
  EXPECT_EQ(qwen.path, "/models/q.gguf");
  EXPECT_EQ(qwen.aliases, (std::vector<std::string>{"default", "q"}));
  EXPECT_EQ(qwen.keep_alive_us, kKeepForever);
  EXPECT_TRUE(qwen.pin);
  EXPECT_EQ(qwen.defaults, nlohmann::json::parse(
                               R"({"temperature": 0.2, "top_k": 20, "max_tokens": 64,
                                   "stop": ["\n\n"]})"));
  const ModelConfig& stories = config->models.at("stories");
  EXPECT_EQ(stories.path, "");
  EXPECT_EQ(stories.keep_alive_us, 30'000'000);
  EXPECT_EQ(stories.aliases, (std::vector<std::string>{"tiny"}));
  EXPECT_FALSE(stories.pin);
}

TEST(Config, EmptyFileGivesTheDefaults) {
  auto config = parse_config("", "");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->keep_alive_us, 300'000'000);
  EXPECT_EQ(config->rescan_interval_us, 2'000'000);
  EXPECT_TRUE(config->models.empty());
}

TEST(Config, LorasAreParsedForTheirHook) {
  auto config = parse_config(
      "models:\n  base:\n    loras:\n      chat: {adapter: a.gguf, scale: 0.5}\n", "/m");
  ASSERT_TRUE(config.ok()) << config.error().message;
  const auto& loras = config->models.at("base").loras;
  ASSERT_EQ(loras.size(), 1u);
  EXPECT_EQ(loras[0].name, "chat");
  EXPECT_EQ(loras[0].adapter_path, "/m/a.gguf");
  EXPECT_EQ(loras[0].scale, 0.5);
}

// A `loras:` scale is checked as `--lora ...@SCALE` is (lora_scale): QA saw .nan, .inf and
// 1e300 accepted at start and every request then 503, and -1e-50 taken as 0.
TEST(Config, LoraScalesAreCheckedAsTheFlagsAre) {
  const std::pair<const char*, const char*> refused[] = {
      {".nan", "must be a finite number"},
      {".inf", "must be a finite number"},
      {"-.inf", "must be a finite number"},
      {"1e300", "is out of a 32-bit float's range (magnitudes 1.2e-38 to 3.4e38, or 0)"},
      {"-1e-50", "is out of a 32-bit float's range (magnitudes 1.2e-38 to 3.4e38, or 0)"},
      {"3.5e38", "is out of a 32-bit float's range (magnitudes 1.2e-38 to 3.4e38, or 0)"},
      {"x", "must be a number"},
  };
  for (const auto& [scale, message] : refused) {
    auto config = parse_config(
        "models:\n  base:\n    loras:\n      chat: {adapter: a.gguf, scale: " + std::string(scale) +
            "}\n",
        "");
    ASSERT_FALSE(config.ok()) << scale;
    EXPECT_EQ(config.error().message, "models.base.loras.chat.scale: " + std::string(message));
  }
  for (const auto& [scale, value] : {std::pair{"3e38", 3e38f}, {"-2", -2.0f}, {"0", 0.0f}}) {
    auto config = parse_config(
        "models:\n  base:\n    loras:\n      chat: {adapter: a.gguf, scale: " + std::string(scale) +
            "}\n",
        "");
    ASSERT_TRUE(config.ok()) << config.error().message;
    EXPECT_EQ(config->models.at("base").loras.at(0).scale, value);
  }
}

// An empty id or LoRA name would be listed but never served: a request's model is non-empty.
TEST(Config, AnEmptyModelIdOrLoraNameIsRefused) {
  auto model = parse_config("models:\n  \"\": {path: a.gguf}\n", "");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.error().message, "models: a model id is empty (\"\"), which no request can name");
  auto lora = parse_config("models:\n  base:\n    loras:\n      '': {adapter: a.gguf}\n", "");
  ASSERT_FALSE(lora.ok());
  EXPECT_EQ(lora.error().message,
            "models.base.loras: a LoRA name is empty (\"\"), which no request can name");
}

// Names a client could not send as written, and that would forge log lines.
TEST(Config, NamesWithControlCharactersOrBytesNotUtf8AreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"models:\n  \"a\\nb\": {path: a.gguf}\n",
       "models: the model id 'a\nb' holds control, format, invisible, private-use or unassigned "
       "characters, "
       "or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  a:\n    aliases: [\"x\\x85\"]\n",
       "models.a.aliases: the alias 'x\xc2\x85' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  base:\n    loras:\n      \"l\\t\": {adapter: a.gguf}\n",
       "models.base.loras: the LoRA name 'l\t' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      // Lines broken, text reordered or hidden (tokenizer::escape_control_characters's rule).
      {"models:\n  \"a\\u2028b\": {path: a.gguf}\n",
       "models: the model id 'a\u2028b' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  \"gpt\\u202E4o\": {path: a.gguf}\n",
       "models: the model id 'gpt\u202E4o' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  a:\n    aliases: [\"\\u2066x\\u2069\"]\n",
       "models.a.aliases: the alias '\u2066x\u2069' holds control, format, invisible, private-use "
       "or "
       "unassigned characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  a:\n    aliases: [\"\\u200Eq\", \"y\"]\n",
       "models.a.aliases: the alias '\u200Eq' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  a:\n    aliases: [\"q\\u200Bwen\"]\n",
       "models.a.aliases: the alias 'q\u200Bwen' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  base:\n    loras:\n      \"\\uFEFFl\": {adapter: a.gguf}\n",
       "models.base.loras: the LoRA name '\uFEFFl' holds control, format, invisible, private-use "
       "or "
       "unassigned characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  base:\n    loras:\n      \"l\\uE000\": {adapter: a.gguf}\n",
       "models.base.loras: the LoRA name 'l\uE000' holds control, format, invisible, private-use "
       "or "
       "unassigned characters, or bytes that are not UTF-8, which a model id may not"},
      {"models:\n  \"m\\u0378\": {path: a.gguf}\n",
       "models: the model id 'm\u0378' holds control, format, invisible, private-use or unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not"},
      // A space at an end: two names that show alike ("a " and "a").
      {"models:\n  \"m \": {path: a.gguf}\n",
       "models: the model id 'm ' begins or ends with a space, which a model id may not"},
      {"models:\n  a:\n    aliases: [\" q\"]\n",
       "models.a.aliases: the alias ' q' begins or ends with a space, which a model id may not"},
      {"models:\n  base:\n    loras:\n      \"l \": {adapter: a.gguf}\n",
       "models.base.loras: the LoRA name 'l ' begins or ends with a space, which a model id may "
       "not"},
      // A comma: a key's model list, stored comma-separated, could not name it.
      {"models:\n  \"m,n\": {path: a.gguf}\n",
       "models: the model id 'm,n' holds a comma, which a model id may not (a key's model list is "
       "stored comma-separated)"},
      {"models:\n  a:\n    aliases: [\"q,r\"]\n",
       "models.a.aliases: the alias 'q,r' holds a comma, which a model id may not (a key's model "
       "list is stored comma-separated)"},
      {"models:\n  base:\n    loras:\n      \"l,m\": {adapter: a.gguf}\n",
       "models.base.loras: the LoRA name 'l,m' holds a comma, which a model id may not (a key's "
       "model list is stored comma-separated)"},
  };
  for (const auto& [yaml, message] : cases) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message);
  }
  auto fine = parse_config("models:\n  \"m\\u00e9\":\n    aliases: [\"\\u6a21\"]\n", "");
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(fine->models.at("m\xc3\xa9").aliases, std::vector<std::string>{"\xe6\xa8\xa1"});
}

// Expects `name` refused as a model id, an alias and a LoRA name, each message the place, the
// name and then `refusal`.
void expect_refused_as_every_name(const std::string& name, const std::string& refusal) {
  const std::pair<std::string, std::string> cases[] = {
      {"models:\n  \"" + name + "\": {path: a.gguf}\n", "models: the model id '" + name + refusal},
      {"models:\n  a:\n    aliases: [\"" + name + "\"]\n",
       "models.a.aliases: the alias '" + name + refusal},
      {"models:\n  base:\n    loras:\n      \"" + name + "\": {adapter: a.gguf}\n",
       "models.base.loras: the LoRA name '" + name + refusal},
  };
  for (const auto& [yaml, message] : cases) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message);
  }
}

// A space other than U+0020 anywhere in a name (QA: "a b" with U+00A0 and "a b" were two ids
// that look alike) is refused naming its code point, in a model id, an alias and a LoRA name, at
// its start, in its middle and at its end; U+0020 inside a name stays allowed.
TEST(Config, NamesWithASpaceOtherThanU0020AreRefused) {
  const std::pair<const char*, const char*> spaces[] = {
      {"\u00A0", "U+00A0"}, {"\u3000", "U+3000"}, {"\u2009", "U+2009"}, {"\u202F", "U+202F"}};
  for (const auto& [space, code] : spaces) {
    const std::string s = space;
    for (const std::string& name : {s + "ab", "a" + s + "b", "ab" + s}) {
      const std::string refusal = "' holds the space " + std::string(code) +
                                  ", which shows as U+0020 does and which a model id may not";
      expect_refused_as_every_name(name, refusal);
    }
  }
  auto fine = parse_config(
      "models:\n  my model:\n    aliases: [my alias]\n    loras: {my lora: {adapter: a.gguf}}\n",
      "");
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(fine->models.at("my model").aliases, std::vector<std::string>{"my alias"});
  ASSERT_EQ(fine->models.at("my model").loras.size(), 1u);
  EXPECT_EQ(fine->models.at("my model").loras[0].name, "my lora");
}

// A name not in Unicode NFC ("cafe" and U+0301, as macOS stores file names) is refused, in a
// model id, an alias and a LoRA name: prices and keys' models are written composed, and would
// never match it (QA: two "café" rows in /v1/usage, one served free).
TEST(Config, NamesNotInNfcAreRefused) {
  const std::string name = "cafe\u0301";
  const std::string refusal =
      "' is not in Unicode NFC form, which a model id may not; write it composed, e.g. the 'é' of "
      "'café' as U+00E9, not 'e' and U+0301";
  expect_refused_as_every_name(name, refusal);
  auto fine = parse_config("models:\n  \"caf\u00e9\": {path: a.gguf}\n", "");
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_TRUE(fine->models.contains("caf\u00e9"));
}

// yaml-cpp keeps both entries of a key given twice and reads the first: each is an error at
// start naming the key (QA: {pin: true, pin: false} pinned; a second models.link was ignored).
TEST(Config, AKeyGivenTwiceIsRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"models:\n  link: {pin: true, pin: false}", "models.link.pin: is given twice"},
      {"models:\n  link: {pin: true}\n  link: {path: b.gguf}", "models.link: is given twice"},
      {"keep_alive: 1m\nkeep_alive: 2m", "keep_alive: is given twice"},
      {"models:\n  a:\n    defaults: {top_k: 1, top_k: 2}",
       "models.a.defaults.top_k: is given twice"},
      {"models:\n  a:\n    loras: {b: {adapter: x.gguf}, b: {adapter: y.gguf}}",
       "models.a.loras.b: is given twice"},
      {"models:\n  a:\n    loras: {b: {adapter: x.gguf, adapter: y.gguf}}",
       "models.a.loras.b.adapter: is given twice"},
      {"models:\n  ? [a]\n  : {}", "models: a key must be a name, not a list or a map"},
  };
  for (const auto& [yaml, message] : cases) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message);
  }
}

// keep_alive in the config follows the requests' rule (docs/deploy.md): any negative is never,
// the string "-1" as the number.
TEST(Config, KeepAliveFollowsTheRequestsRule) {
  const std::pair<const char*, int64_t> cases[] = {
      {"-1", kKeepForever}, {"\"-1\"", kKeepForever}, {"-5", kKeepForever},
      {"-5m", kKeepForever}, {"0", 0},                 {"\"0\"", 0},
      {"90", 90'000'000},   {"1h30m", 5'400'000'000}, {"3153600000", kMaxKeepAliveUs}};
  for (const auto& [value, us] : cases) {
    auto config = parse_config("keep_alive: " + std::string(value), "");
    ASSERT_TRUE(config.ok()) << value << ": " << config.error().message;
    EXPECT_EQ(config->keep_alive_us, us) << value;
  }
}

// Each default is checked as the API checks the request field, so that no default makes every
// request fail (QA: stop "" and temperature .nan were accepted, then every request was 400).
TEST(Config, DefaultsAreCheckedAsTheApiChecksRequestFields) {
  const std::pair<const char*, const char*> refused[] = {
      {"stop: ''", "stop: holds an empty string, which would match at every position"},
      {"stop: [x, '']", "stop: holds an empty string, which would match at every position"},
      {"stop: [a, b, c, d, e]", "stop: must be a string or a list of at most 4 strings"},
      {"temperature: .nan", "temperature: must be a number in [0, 2], got .nan"},
      {"top_p: .nan", "top_p: must be a number in (0, 1], got .nan"},
      {"min_p: .NaN", "min_p: must be a number in [0, 1], got .NaN"},
      {"presence_penalty: .inf", "presence_penalty: must be a number in [-2, 2], got .inf"},
      {"frequency_penalty: -.inf", "frequency_penalty: must be a number in [-2, 2], got -.inf"},
      {"repeat_penalty: .nan", "repeat_penalty: must be a number in (0, 3.4e38], got .nan"},
      {"repeat_penalty: 0", "repeat_penalty: must be a number in (0, 3.4e38], got 0"},
      {"repeat_penalty: 1e39", "repeat_penalty: must be a number in (0, 3.4e38], got 1e39"},
      {"temperature: hot", "temperature: must be a number in [0, 2]"},
      {"max_tokens: 0", "max_tokens: must be an integer >= 1, got 0"},
      {"top_k: -1", "top_k: must be an integer >= 0, got -1"},
      {"top_k: .nan", "top_k: must be an integer >= 0"},
      {"seed: 1.5", "seed: must be an integer"},
      // Quoted, a number is a string, which the API refuses in these fields.
      {"temperature: \"0.5\"", "temperature: must be a number in [0, 2]"},
      {"max_tokens: '5'", "max_tokens: must be an integer >= 1"},
      {"seed: '5'", "seed: must be an integer"},
      {"top_p: !!str 0.5", "top_p: must be a number in (0, 1]"},
      // Unquoted, YAML reads these as a number, a boolean, null: the API refuses `"stop": 5`.
      {"stop: 5",
       "stop: holds 5, which YAML reads as a number, a boolean or null, not a string; "
       "quote it (\"5\") to stop at that text"},
      {"stop: [a, true]",
       "stop: holds true, which YAML reads as a number, a boolean or null, "
       "not a string; quote it (\"true\") to stop at that text"},
      {"stop: [.inf]",
       "stop: holds .inf, which YAML reads as a number, a boolean or null, not "
       "a string; quote it (\".inf\") to stop at that text"},
  };
  for (const auto& [field, message] : refused) {
    auto config = parse_config("models:\n  a:\n    defaults: {" + std::string(field) + "}", "");
    ASSERT_FALSE(config.ok()) << field;
    EXPECT_EQ(config.error().message, "models.a.defaults." + std::string(message));
  }
  auto config = parse_config(
      "models:\n  a:\n    defaults: {repeat_penalty: 1e30, seed: 9223372036854775807, top_k: 0, "
      "stop: [], presence_penalty: -2}\n  b:\n    defaults: {seed: -5, stop: ['5', \"true\", !!str "
      "7, x]}",
      "");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->models.at("a").defaults,
            nlohmann::json::parse(R"({"repeat_penalty": 1e30, "seed": 9223372036854775807,
                                      "top_k": 0, "stop": [], "presence_penalty": -2.0})"));
  EXPECT_EQ(config->models.at("b").defaults,
            nlohmann::json::parse(R"({"seed": -5, "stop": ["5", "true", "7", "x"]})"));
}

TEST(Config, ErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"keep_alive: 5x",
       "keep_alive: invalid duration '5x': unknown unit 'x' (ns, us, ms, s, m, h)"},
      {"keepalive: 5m", "keepalive: unknown key (known: keep_alive, models, rescan_interval)"},
      {"models:\n  a:\n    pinned: true",
       "models.a.pinned: unknown key (known: aliases, defaults, keep_alive, loras, path, pin)"},
      {"models:\n  a:\n    pin: maybe", "models.a.pin: must be true or false"},
      {"models:\n  a:\n    defaults: {temperature: 3}",
       "models.a.defaults.temperature: must be a number in [0, 2], got 3"},
      {"models:\n  a:\n    defaults: {top_p: 0}",
       "models.a.defaults.top_p: must be a number in (0, 1], got 0"},
      {"models:\n  a:\n    defaults: {max_tokens: 1.5}",
       "models.a.defaults.max_tokens: must be an integer >= 1"},
      {"models:\n  a:\n    defaults: {logprobs: true}",
       "models.a.defaults.logprobs: unknown request field (known: temperature, top_p, top_k, "
       "min_p, max_tokens, presence_penalty, frequency_penalty, repeat_penalty, seed, stop)"},
      {"models:\n  a:\n    aliases: [b]\n  b: {}",
       "models.a.aliases: 'b' is the id of another model"},
      {"models:\n  a:\n    aliases: [x]\n  c:\n    aliases: [x]",
       "models.c.aliases: 'x' is also an alias of 'a'"},
      {"rescan_interval: -1s", "rescan_interval: must not be negative"},
      {"- a\n- b", "the config must be a map (keep_alive, models, ...)"},
      {"keep_alive: 1e20",
       "keep_alive: invalid keep-alive '1e20': longer than 100 years (-1 keeps the model loaded)"},
      {"keep_alive: 876001h", "keep_alive: invalid duration '876001h': longer than 100 years"},
      {"rescan_interval: -1", "rescan_interval: must not be negative"},
      {"rescan_interval: 1e20",
       "rescan_interval: invalid rescan interval '1e20': longer than 100 years (0: no rescans)"},
      {"models:\n  link:\n    aliases: [link]",
       "models.link.aliases: 'link' is the model's own id"},
      {"models:\n  link:\n    aliases: [l, l]", "models.link.aliases: 'l' is given twice"},
      {"models:\n  a:\n    loras: {b: {scale: 0.5}}",
       "models.a.loras.b.adapter: is missing (the adapter's GGUF file)"},
  };
  for (const auto& [yaml, message] : cases) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message);
  }
  auto syntax = parse_config("models: {a: [", "");
  ASSERT_FALSE(syntax.ok());
  EXPECT_TRUE(syntax.error().message.starts_with("YAML: yaml-cpp: error at line 1"))
      << syntax.error().message;
  EXPECT_EQ(load_config("/nonexistent/gengyun.yaml").error().message,
            "/nonexistent/gengyun.yaml: cannot read the config file");
}

// A config file is read up to kMaxConfigBytes: a larger one, or a device without end, is
// refused rather than read until memory runs out (QA: every other file a flag names had a
// bound); one of exactly the bound is read.
TEST(Config, AConfigFileOverTheBoundIsRefused) {
  EXPECT_EQ(load_config("/dev/zero").error().message,
            "/dev/zero: more than 1 MiB; a config file may hold at most 1 MiB");
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gengyun-config-bound-" + std::to_string(::getpid()) + ".yaml"))
                               .string();
  const std::string head = "keep_alive: 7m\n";
  for (const size_t size : {kMaxConfigBytes, kMaxConfigBytes + 1}) {
    {
      std::ofstream out(path, std::ios::binary);
      out << head << std::string(size - head.size(), '#');  // a comment to the end
    }
    auto loaded = load_config(path);
    if (size == kMaxConfigBytes) {
      ASSERT_TRUE(loaded.ok()) << loaded.error().message;
      EXPECT_EQ(loaded->keep_alive_us, 7 * 60 * 1'000'000LL);
    } else {
      ASSERT_FALSE(loaded.ok());
      EXPECT_EQ(loaded.error().message,
                path + ": more than 1 MiB; a config file may hold at most 1 MiB");
    }
  }
  std::filesystem::remove(path);
}

// A second YAML document would be ignored (QA: `keep_alive: 7m\n---\nbogus: 1` started without
// a word): refused, one that is not valid YAML too; a single leading `---` is one document.
TEST(Config, SeveralYamlDocumentsAreRefused) {
  const std::string several =
      "the config must be one YAML document; a second one (after a --- line) would be ignored";
  for (const char* yaml : {"keep_alive: 7m\n---\nbogus: 1", "keep_alive: 7m\n---\nbogus: [1",
                           "---\nkeep_alive: 7m\n---\n", "keep_alive: 7m\n...\n---\n"}) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, several) << yaml;
  }
  for (const char* yaml : {"---\nkeep_alive: 7m\n", "keep_alive: 7m\n...\n", "---\n"}) {
    auto config = parse_config(yaml, "");
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.error().message;
  }
  EXPECT_EQ(parse_config("---\nkeep_alive: 7m", "")->keep_alive_us, 420'000'000);
  // A syntax error in the first document is still YAML's own.
  auto syntax = parse_config("keep_alive: [7m\n---\nbogus: 1", "");
  ASSERT_FALSE(syntax.ok());
  EXPECT_TRUE(syntax.error().message.starts_with("YAML: yaml-cpp: error at line"))
      << syntax.error().message;

  std::string dir = (std::filesystem::temp_directory_path() / "gengyun-config-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/gengyun.yaml";
  std::ofstream(path) << "keep_alive: 7m\n---\nbogus: [1\n";
  auto loaded = load_config(path);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message, path + ": " + several);
}

// Plain scalars read as YAML reads them, 1.2's core schema or 1.1 as PyYAML (deploy/yaml_scalar.h):
// yaml-cpp took [0x10], [1_000], [yes] as stop strings, and 010 as 8 in max_tokens but 10 in
// temperature.
TEST(Config, PlainScalarsReadAsYamlReadsThem) {
  const char* kNotText =
      ", which YAML reads as a number, a boolean or null, not a string; quote it";
  for (const char* stop : {"0x10", "0o17", "1_000", ".inf", "-.Inf", ".nan", "+5", "1e3", "0b101",
                           "010", "1:30", "yes", "no", "on", "Off", "5"}) {
    auto config =
        parse_config("models:\n  a:\n    defaults: {stop: [x, " + std::string(stop) + "]}", "");
    ASSERT_FALSE(config.ok()) << stop;
    EXPECT_EQ(config.error().message, "models.a.defaults.stop: holds " + std::string(stop) +
                                          kNotText + " (\"" + stop + "\") to stop at that text");
  }
  auto texts = parse_config(
      "models:\n  a:\n    defaults: {stop: [y, n, 0x, 1_a]}\n  b:\n    defaults: {stop: ['0x10', "
      "!!str yes, \"1_000\", .Nan]}",
      "");
  ASSERT_TRUE(texts.ok()) << texts.error().message;
  EXPECT_EQ(texts->models.at("a").defaults,
            nlohmann::json::parse(R"({"stop": ["y", "n", "0x", "1_a"]})"));
  EXPECT_EQ(texts->models.at("b").defaults,
            nlohmann::json::parse(R"({"stop": ["0x10", "yes", "1_000", ".Nan"]})"));

  // Numbers read as the YAML number they are.
  const std::pair<const char*, const char*> read[] = {
      {"temperature: 0x1", R"({"temperature": 1.0})"},
      {"temperature: 1e-1", R"({"temperature": 0.1})"},
      {"temperature: +.5", R"({"temperature": 0.5})"},
      {"top_p: 0b1", R"({"top_p": 1.0})"},
      {"max_tokens: 0x10", R"({"max_tokens": 16})"},
      {"max_tokens: 0o17", R"({"max_tokens": 15})"},
      {"max_tokens: 1_000", R"({"max_tokens": 1000})"},
      {"max_tokens: 0b101", R"({"max_tokens": 5})"},
      {"max_tokens: +5", R"({"max_tokens": 5})"},
      {"max_tokens: 1:30", R"({"max_tokens": 90})"},
      {"top_k: 007", R"({"top_k": 7})"},
      // A leading 0 gives one value where 1.1 and 1.2 agree: 08 and 019 are text in 1.1 (not
      // octal) and decimal in 1.2, 01 and 0_7 octal in 1.1 with the value 1.2 gives or text in 1.2.
      {"top_k: 08", R"({"top_k": 8})"},
      {"max_tokens: 08", R"({"max_tokens": 8})"},
      {"max_tokens: 019", R"({"max_tokens": 19})"},
      {"max_tokens: 0_7", R"({"max_tokens": 7})"},
      {"temperature: 01", R"({"temperature": 1.0})"},
      {"seed: -0x10", R"({"seed": -16})"},
      {"seed: 0x7fffffffffffffff", R"({"seed": 9223372036854775807})"},
      {"seed: -0x8000000000000000", R"({"seed": -9223372036854775808})"},
  };
  for (const auto& [field, defaults] : read) {
    auto config = parse_config("models:\n  a:\n    defaults: {" + std::string(field) + "}", "");
    ASSERT_TRUE(config.ok()) << field << ": " << config.error().message;
    EXPECT_EQ(config->models.at("a").defaults, nlohmann::json::parse(defaults)) << field;
  }
  const std::pair<const char*, const char*> refused[] = {
      {"temperature: 010",
       "temperature: 010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for "
       "decimal, or write 0o for octal"},
      {"max_tokens: 010",
       "max_tokens: 010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for "
       "decimal, or write 0o for octal"},
      {"temperature: 0x10", "temperature: must be a number in [0, 2], got 0x10"},
      {"top_p: .inf", "top_p: must be a number in (0, 1], got .inf"},
      {"temperature: yes", "temperature: must be a number in [0, 2]"},
      {"temperature: 1_0a", "temperature: must be a number in [0, 2]"},
      {"max_tokens: 1e3", "max_tokens: must be an integer >= 1"},
      {"max_tokens: -0x1", "max_tokens: must be an integer >= 1, got -0x1"},
      {"max_tokens: 0x", "max_tokens: must be an integer >= 1"},
      {"max_tokens: 0o8", "max_tokens: must be an integer >= 1"},
      // As the API reads it (a seed past 2^63 - 1 made every request of the model fail).
      {"seed: 0xffffffffffffffff",
       "seed: must be an integer in [-9223372036854775808, "
       "9223372036854775807], got 0xffffffffffffffff"},
      {"seed: 0x1_0000_0000_0000_0000",
       "seed: must be an integer in [-9223372036854775808, "
       "9223372036854775807], got 0x1_0000_0000_0000_0000"},
      {"seed: -9223372036854775809",
       "seed: must be an integer in [-9223372036854775808, "
       "9223372036854775807], got -9223372036854775809"},
      {"max_tokens: 9223372036854775808",
       "max_tokens: must be an integer in [1, 9223372036854775807], got "
       "9223372036854775808"},
      {"top_k: 0010",
       "top_k: 0010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for "
       "decimal, or write 0o for octal"},
      {"seed: -010",
       "seed: -010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for "
       "decimal, or write 0o for octal"},
  };
  for (const auto& [field, message] : refused) {
    auto config = parse_config("models:\n  a:\n    defaults: {" + std::string(field) + "}", "");
    ASSERT_FALSE(config.ok()) << field;
    EXPECT_EQ(config.error().message, "models.a.defaults." + std::string(message));
  }
}

// pin, a LoRA's scale and the durations follow the same rule: booleans are YAML's (PyYAML's
// yes/no/on/off too, not y/n), quoted numbers and booleans are text.
TEST(Config, PinScaleAndDurationsReadAsYamlReadsThem) {
  for (const auto& [pin, value] : {std::pair{"yes", true},
                                   {"On", true},
                                   {"TRUE", true},
                                   {"no", false},
                                   {"off", false},
                                   {"False", false}}) {
    auto config = parse_config("models:\n  a: {pin: " + std::string(pin) + "}", "");
    ASSERT_TRUE(config.ok()) << pin << ": " << config.error().message;
    EXPECT_EQ(config->models.at("a").pin, value) << pin;
  }
  for (const char* pin : {"y", "n", "\"true\"", "!!str yes", "1", "tRUE", "[true]"}) {
    auto config = parse_config("models:\n  a: {pin: " + std::string(pin) + "}", "");
    ASSERT_FALSE(config.ok()) << pin;
    EXPECT_EQ(config.error().message, "models.a.pin: must be true or false") << pin;
  }
  const std::string lora = "models:\n  base:\n    loras:\n      chat: {adapter: a.gguf, scale: ";
  for (const auto& [scale, value] :
       {std::pair{"0x2", 2.0f}, {"1_5", 15.0f}, {"-.5", -0.5f}, {"1e-1", 0.1f}, {"007", 7.0f}}) {
    auto config = parse_config(lora + scale + "}\n", "");
    ASSERT_TRUE(config.ok()) << scale << ": " << config.error().message;
    EXPECT_EQ(config->models.at("base").loras.at(0).scale, value) << scale;
  }
  for (const auto& [scale, message] :
       {std::pair{"\"0.5\"", "must be a number"},
        {"yes", "must be a number"},
        {"010",
         "010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for decimal, or "
         "write 0o for octal"}}) {
    auto config = parse_config(lora + scale + "}\n", "");
    ASSERT_FALSE(config.ok()) << scale;
    EXPECT_EQ(config.error().message, "models.base.loras.chat.scale: " + std::string(message));
  }
  for (const auto& [value, us] : {std::pair{"1e3", int64_t{1'000'000'000}},
                                  {"+5", int64_t{5'000'000}},
                                  {"08", int64_t{8'000'000}},
                                  {"\"010\"", int64_t{10'000'000}}}) {
    auto config = parse_config("keep_alive: " + std::string(value), "");
    ASSERT_TRUE(config.ok()) << value << ": " << config.error().message;
    EXPECT_EQ(config->keep_alive_us, us) << value;
  }
  auto octal = parse_config("keep_alive: 010", "");
  ASSERT_FALSE(octal.ok());
  EXPECT_EQ(octal.error().message,
            "keep_alive: 010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading 0 for "
            "decimal, or write 0o for octal");
  auto interval = parse_config("rescan_interval: 0010", "");
  ASSERT_FALSE(interval.ok());
  EXPECT_EQ(interval.error().message,
            "rescan_interval: 0010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the leading "
            "0 for decimal, or write 0o for octal");
}

// A tag is honoured or refused, never ignored (QA: seed: !!float 5 was 5, stop: !!bool x was
// ["x"], !custom was dropped): !!str makes text, !!int, !!float, !!bool and !!null make that
// type (their text must read as it), then checked as any value of the type; other tags are
// refused naming the field and the tag.
TEST(Config, TagsAreHonouredOrRefused) {
  const std::pair<const char*, const char*> refused[] = {
      {"models:\n  a:\n    defaults: {seed: !!float 5}",
       "models.a.defaults.seed: must be an integer"},
      {"models:\n  a:\n    defaults: {max_tokens: !!float 5}",
       "models.a.defaults.max_tokens: must be an integer >= 1"},
      {"models:\n  a:\n    defaults: {seed: !!bool 1}",
       "models.a.defaults.seed: !!bool 1 is not a boolean"},
      {"models:\n  a:\n    defaults: {seed: !!bool yes}",
       "models.a.defaults.seed: must be an integer"},
      {"models:\n  a:\n    defaults: {max_tokens: !!null 5}",
       "models.a.defaults.max_tokens: !!null 5 is not null"},
      {"models:\n  a:\n    defaults: {max_tokens: !!null}",
       "models.a.defaults.max_tokens: must be an integer >= 1"},
      {"models:\n  a:\n    defaults: {top_k: !!int 1.5}",
       "models.a.defaults.top_k: !!int 1.5 is not an integer"},
      {"models:\n  a:\n    defaults: {temperature: !!float yes}",
       "models.a.defaults.temperature: !!float yes is not a number"},
      {"models:\n  a:\n    defaults: {seed: !custom 5}",
       "models.a.defaults.seed: the tag !custom is not one the config reads (!!str, !!int, "
       "!!float, !!bool, !!null)"},
      {"models:\n  a:\n    defaults: {temperature: !!binary aGk=}",
       "models.a.defaults.temperature: the tag !!binary is not one the config reads (!!str, "
       "!!int, !!float, !!bool, !!null)"},
      {"models:\n  a:\n    defaults: {stop: !!bool x}",
       "models.a.defaults.stop: !!bool x is not a boolean"},
      {"models:\n  a:\n    defaults: {stop: !!null x}",
       "models.a.defaults.stop: !!null x is not null"},
      {"models:\n  a:\n    defaults: {stop: [a, !!int 5]}",
       "models.a.defaults.stop: holds 5, which YAML reads as a number, a boolean or null, not a "
       "string; quote it (\"5\") to stop at that text"},
      {"models:\n  a:\n    defaults: {stop: [a, !!timestamp 2001-12-14]}",
       "models.a.defaults.stop: the tag !!timestamp is not one the config reads (!!str, !!int, "
       "!!float, !!bool, !!null)"},
      {"models:\n  a:\n    defaults: {stop: !x [a]}",
       "models.a.defaults.stop: the tag !x is not one the config reads on a list (!!seq)"},
      {"models:\n  a:\n    defaults: {!custom top_k: 1}",
       "models.a.defaults: the tag !custom is not one the config reads (!!str, !!int, !!float, "
       "!!bool, !!null)"},
      {"models:\n  a:\n    defaults: !!omap {top_k: 1}",
       "models.a.defaults: the tag !!omap is not one the config reads on a map (!!map)"},
      {"models: !!set {a}", "models: the tag !!set is not one the config reads on a map (!!map)"},
      {"!x {}", "the config: the tag !x is not one the config reads on a map (!!map)"},
      {"models:\n  a: {pin: !!bool 1}", "models.a.pin: !!bool 1 is not a boolean"},
      {"models:\n  a: {pin: !!int 1}", "models.a.pin: must be true or false"},
      {"models:\n  a: {pin: !custom true}",
       "models.a.pin: the tag !custom is not one the config reads (!!str, !!int, !!float, "
       "!!bool, !!null)"},
      {"models:\n  a: {path: !custom a.gguf}",
       "models.a.path: the tag !custom is not one the config reads (!!str, !!int, !!float, "
       "!!bool, !!null)"},
      {"models:\n  a: {aliases: !x [b]}",
       "models.a.aliases: the tag !x is not one the config reads on a list (!!seq)"},
      {"models:\n  a: !custom",
       "models.a: the tag !custom is not one the config reads (!!str, "
       "!!int, !!float, !!bool, !!null)"},
      {"keep_alive: !custom 5m",
       "keep_alive: the tag !custom is not one the config reads (!!str, !!int, !!float, !!bool, "
       "!!null)"},
      {"keep_alive: !!bool yes", "keep_alive: must be a number of seconds or a duration like 5m"},
      {"rescan_interval: !!null",
       "rescan_interval: must be a number of seconds or a duration like 5m"},
      {"models:\n  a:\n    loras: {b: {adapter: b.gguf, scale: !!bool yes}}",
       "models.a.loras.b.scale: must be a number"},
      {"models:\n  a:\n    loras: {b: {adapter: b.gguf, scale: !x 1}}",
       "models.a.loras.b.scale: the tag !x is not one the config reads (!!str, !!int, !!float, "
       "!!bool, !!null)"},
  };
  for (const auto& [yaml, message] : refused) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message) << yaml;
  }
  auto config = parse_config(
      "!!str keep_alive: !!int 90\nrescan_interval: !!str 5s\nmodels: !!map\n  a: !!null\n  b:\n"
      "    pin: !!bool on\n    aliases: !!seq [c]\n    defaults: !!map {temperature: !!float 1, "
      "top_p: !!int 1, max_tokens: !!int 0x10, seed: !!int -5, stop: !!seq [!!str 5, ! yes]}\n"
      "    loras: {d: {adapter: !!str d.gguf, scale: !!float 1}}",
      "");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->keep_alive_us, 90'000'000);
  EXPECT_EQ(config->rescan_interval_us, 5'000'000);
  ASSERT_EQ(config->models.size(), 2u);
  EXPECT_EQ(config->models.at("a").defaults, nlohmann::json::object());
  const ModelConfig& b = config->models.at("b");
  EXPECT_TRUE(b.pin);
  EXPECT_EQ(b.aliases, std::vector<std::string>{"c"});
  EXPECT_EQ(b.defaults, nlohmann::json::parse(R"({"temperature": 1.0, "top_p": 1.0,
      "max_tokens": 16, "seed": -5, "stop": ["5", "yes"]})"));
  EXPECT_EQ(b.loras.at(0).scale, 1.0f);
  EXPECT_TRUE(parse_config("!!null", "").ok());
}

// !!float reads decimal forms only, as PyYAML's float constructor and YAML 1.2's float form do
// (QA: !!float 0x10 was 16.0, where PyYAML fails and 1.2 has no hex float); !!int every integer
// form a plain scalar reads, and no float.
TEST(Config, TaggedNumbersReadAsEitherYamlReadsThem) {
  const std::pair<const char*, const char*> refused[] = {
      {"0x10",
       "!!float 0x10 is not a float: YAML reads floats in decimal only, not in 0x, 0o or "
       "0b form"},
      {"0o10",
       "!!float 0o10 is not a float: YAML reads floats in decimal only, not in 0x, 0o or "
       "0b form"},
      {"0b1",
       "!!float 0b1 is not a float: YAML reads floats in decimal only, not in 0x, 0o or "
       "0b form"},
      {"-0x1_0",
       "!!float -0x1_0 is not a float: YAML reads floats in decimal only, not in 0x, "
       "0o or 0b form"},
      {"inf", "!!float inf is not a number"},
      {"1:70", "!!float 1:70 is not a number"},
      {"._", "!!float ._ is not a number"},
  };
  for (const auto& [text, message] : refused) {
    const std::string yaml =
        "models:\n  a:\n    loras:\n      b:\n        adapter: b.gguf\n        scale: !!float " +
        std::string(text) + "\n";
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, "models.a.loras.b.scale: " + std::string(message)) << yaml;
  }
  const std::pair<const char*, float> floats[] = {
      {"5", 5.0f},          {"010", 10.0f},   {"-0010", -10.0f}, {"0_7", 7.0f},
      {"1_000.5", 1000.5f}, {"1e3", 1000.0f}, {"1E+3", 1000.0f}, {"1:30", 90.0f},
      {"1:30.5", 90.5f},    {".5", 0.5f},     {"+1.", 1.0f},     {"1_", 1.0f}};
  for (const auto& [text, value] : floats) {
    const std::string yaml =
        "models:\n  a:\n    loras:\n      b:\n        adapter: b.gguf\n        scale: !!float " +
        std::string(text) + "\n";
    auto config = parse_config(yaml, "");
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.error().message;
    EXPECT_EQ(config->models.at("a").loras.at(0).scale, value) << yaml;
  }
  const std::pair<const char*, const char*> not_integers[] = {
      {"!!int 1_000.5", "models.a.defaults.seed: !!int 1_000.5 is not an integer"},
      {"!!int 1e3", "models.a.defaults.seed: !!int 1e3 is not an integer"},
      {"!!int 0x", "models.a.defaults.seed: !!int 0x is not an integer"},
      {"!!int 010",
       "models.a.defaults.seed: 010 is octal in YAML 1.1 and decimal in YAML 1.2; drop the "
       "leading 0 for decimal, or write 0o for octal"},
  };
  for (const auto& [tagged, message] : not_integers) {
    const std::string yaml =
        "models:\n  a:\n    defaults:\n      seed: " + std::string(tagged) + "\n";
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message) << yaml;
  }
  const std::pair<const char*, int> integers[] = {{"0x10", 16}, {"0o10", 8},     {"0b101", 5},
                                                  {"-0b1", -1}, {"1_000", 1000}, {"1:30", 90},
                                                  {"08", 8}};
  for (const auto& [text, value] : integers) {
    const std::string yaml =
        "models:\n  a:\n    defaults:\n      seed: !!int " + std::string(text) + "\n";
    auto config = parse_config(yaml, "");
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.error().message;
    EXPECT_EQ(config->models.at("a").defaults, nlohmann::json({{"seed", value}})) << yaml;
  }
}

// Names and paths follow the one rule too (QA: aliases: [0x10] and a model key yes: were taken
// as the text "0x10" and "yes", where PyYAML reads 16 and true): a plain one that YAML reads as
// a number, a boolean or null is refused, quoted or tagged !!str it is the text.
TEST(Config, NamesAndPathsReadAsYamlReadsThem) {
  const std::pair<const char*, const char*> refused[] = {
      {"models:\n  a:\n    aliases: [0x10]",
       "models.a.aliases: the alias 0x10 reads as a number in YAML, not as text; quote it "
       "(\"0x10\")"},
      {"models:\n  a:\n    aliases: [b, 5]",
       "models.a.aliases: the alias 5 reads as a number in YAML, not as text; quote it (\"5\")"},
      {"models:\n  a:\n    aliases: yes",
       "models.a.aliases: the alias yes reads as a boolean in YAML, not as text; quote it "
       "(\"yes\")"},
      {"models:\n  a:\n    aliases: 5",
       "models.a.aliases: the alias 5 reads as a number in YAML, not as text; quote it (\"5\")"},
      {"models:\n  a:\n    aliases: [!!int 7]",
       "models.a.aliases: the alias 7 reads as a number in YAML, not as text; quote it (\"7\")"},
      {"models:\n  a:\n    aliases: ''", "models.a.aliases: must be a non-empty string"},
      {"models:\n  yes: {}",
       "models: the model id yes reads as a boolean in YAML, not as text; quote it (\"yes\":)"},
      {"models:\n  0x10: {}",
       "models: the model id 0x10 reads as a number in YAML, not as text; quote it (\"0x10\":)"},
      {"models:\n  .inf: {}",
       "models: the model id .inf reads as a number in YAML, not as text; quote it (\".inf\":)"},
      {"models:\n  1:30: {}",
       "models: the model id 1:30 reads as a number in YAML, not as text; quote it (\"1:30\":)"},
      {"models:\n  010: {}",
       "models: the model id 010 reads as a number in YAML, not as text; quote it (\"010\":)"},
      {"models:\n  !!bool on: {}",
       "models: the model id on reads as a boolean in YAML, not as text; quote it (\"on\":)"},
      {"models:\n  ~: {}",
       "models: a key is null (~, null or nothing), not a name; quote it (\"~\":) for that text"},
      {"models:\n  a:\n    defaults: {null: 1}",
       "models.a.defaults: a key is null (~, null or nothing), not a name; quote it (\"~\":) for "
       "that text"},
      {"models:\n  a:\n    loras: {yes: {adapter: a.gguf}}",
       "models.a.loras: the LoRA name yes reads as a boolean in YAML, not as text; quote it "
       "(\"yes\":)"},
      {"models:\n  a: {path: 0x10}",
       "models.a.path: the path 0x10 reads as a number in YAML, not as text; quote it "
       "(\"0x10\")"},
      {"models:\n  a:\n    loras: {b: {adapter: 1e3}}",
       "models.a.loras.b.adapter: the path 1e3 reads as a number in YAML, not as text; quote it "
       "(\"1e3\")"},
  };
  for (const auto& [yaml, message] : refused) {
    auto config = parse_config(yaml, "");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.error().message, message) << yaml;
  }
  auto config = parse_config(
      "models:\n  \"yes\": {aliases: ['0x10', !!str 5, \"~\"]}\n  '1:30': {path: !!str 0x10}\n"
      "  !!str .inf: {aliases: \"6\"}\n  y:\n    aliases: [n, 0x, v1.5]\n"
      "    loras: {\"on\": {adapter: '010'}}",
      "/m");
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->models.size(), 4u);
  EXPECT_EQ(config->models.at("yes").aliases, (std::vector<std::string>{"0x10", "5", "~"}));
  EXPECT_EQ(config->models.at("1:30").path, "/m/0x10");
  EXPECT_EQ(config->models.at(".inf").aliases, std::vector<std::string>{"6"});
  const ModelConfig& y = config->models.at("y");
  EXPECT_EQ(y.aliases, (std::vector<std::string>{"n", "0x", "v1.5"}));
  ASSERT_EQ(y.loras.size(), 1u);
  EXPECT_EQ(y.loras[0].name, "on");
  EXPECT_EQ(y.loras[0].adapter_path, "/m/010");
}

}  // namespace
}  // namespace gengyun::deploy
