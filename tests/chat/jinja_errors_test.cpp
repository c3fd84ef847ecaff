// Bad templates and runaway templates: each gets a clear error naming where it went wrong,
// never a crash or a hang.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "util/ordered_json.h"

namespace gengyun::chat {
namespace {

using Json = nlohmann::ordered_json;

std::string parse_error(const std::string& source) {
  const auto t = ChatTemplate::parse(source);
  return t.ok() ? "parsed" : t.error().message;
}

std::string render(const std::string& source) {
  const auto t = ChatTemplate::parse(source);
  if (!t.ok()) return "parse error: " + t.error().message;
  const auto out = t->render(Json::object());
  return out.ok() ? out.value() : out.error().message;
}

std::string render_error(const std::string& source, const Json& vars = Json::object(),
                         RenderOptions options = {}) {
  const auto t = ChatTemplate::parse(source);
  if (!t.ok()) return "parse error: " + t.error().message;
  const auto out = t->render(vars, options);
  return out.ok() ? "rendered" : out.error().message;
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(parse_error("a\n{{ 1 + }}"), "TemplateSyntaxError: unexpected '}}' (line 2, column 8)");
  EXPECT_EQ(parse_error("{% if x %}\nyes"),
            "TemplateSyntaxError: unexpected end of template; looking for the tags 'elif' or "
            "'else' or 'endif' (line 2, column 4)");
  EXPECT_EQ(parse_error("ok\n  {{ x "),
            "TemplateSyntaxError: unexpected end of template, expected '}}' (line 2, column 3)");
  EXPECT_EQ(parse_error("{# open"),
            "TemplateSyntaxError: missing end of comment tag (line 1, column 1)");
  EXPECT_EQ(parse_error("{{ 'abc }}"),
            "TemplateSyntaxError: unexpected end of string (line 1, column 4)");
  EXPECT_EQ(parse_error("{{ a ) }}"), "TemplateSyntaxError: unexpected ')' (line 1, column 6)");
  EXPECT_EQ(parse_error("{{ a $ b }}"),
            "TemplateSyntaxError: unexpected char '$' (line 1, column 6)");
  // The whole character, not its UTF-8 lead byte (QA: the message was no valid UTF-8).
  EXPECT_EQ(parse_error("{{ 1 \u00a7 2 }}"),
            "TemplateSyntaxError: unexpected char '\u00a7' (line 1, column 6)");
  EXPECT_EQ(parse_error("{% set \u00e9 = 1 %}"),
            "TemplateSyntaxError: unexpected char '\u00e9' (line 1, column 8)");
  EXPECT_EQ(parse_error("{{ \U0001F600 }}"),
            "TemplateSyntaxError: unexpected char '\U0001F600' (line 1, column 4)");
  EXPECT_EQ(parse_error("{% frobnicate %}"),
            "TemplateSyntaxError: encountered unknown tag 'frobnicate' (line 1, column 4)");
  EXPECT_EQ(parse_error("{% break %}"),
            "TemplateSyntaxError: 'break' outside of a loop (line 1, column 4)");
  EXPECT_EQ(parse_error("{{ x | nosuchfilter }}"),
            "TemplateAssertionError: no filter named 'nosuchfilter' (line 1, column 8)");
  EXPECT_EQ(parse_error("{{ x is nosuchtest }}"),
            "TemplateAssertionError: no test named 'nosuchtest' (line 1, column 9)");
  EXPECT_EQ(
      parse_error("{{ 99999999999999999999 }}"),
      "TemplateSyntaxError: integer literal 99999999999999999999 is too large (line 1, column 4)");
}

TEST(JinjaErrors, DeepNestingIsRefusedNotRecursed) {
  EXPECT_EQ(parse_error("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"),
            "TemplateSyntaxError: template nests too deeply (line 1, column 103)");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_EQ(parse_error(ifs),
            "TemplateSyntaxError: template nests too deeply (line 1, column 2581)");
}

// A chain is parsed without recursing, but its tree is as tall as it is long, and rendering and
// freeing it would recurse: each kind of chain is refused past kMaxParseDepth levels.
TEST(JinjaErrors, LongChainsAreRefusedNotRecursed) {
  const auto chain = [](const std::string& head, const std::string& link) {
    std::string s = "{{ " + head;
    for (int i = 0; i < 100000; ++i) s += link;
    return s + " }}";
  };
  const std::string too_deep = "TemplateSyntaxError: template nests too deeply (line 1, column ";
  EXPECT_EQ(parse_error(chain("'a'", " ~ 'b'")), too_deep + "1208)");
  EXPECT_EQ(parse_error(chain("1", " + 1")), too_deep + "806)");
  EXPECT_EQ(parse_error(chain("1", " * 1")), too_deep + "806)");
  EXPECT_EQ(parse_error(chain("1", " ** 1")), too_deep + "1006)");
  EXPECT_EQ(parse_error(chain("x", " and x")), too_deep + "1206)");
  EXPECT_EQ(parse_error(chain("x", " or x")), too_deep + "1006)");
  EXPECT_EQ(parse_error(chain("x", " if x")), too_deep + "1004)");
  EXPECT_EQ(parse_error(chain("x", ".a")), too_deep + "405)");
  EXPECT_EQ(parse_error(chain("x", "[0]")), too_deep + "605)");
  EXPECT_EQ(parse_error(chain("x", "()")), too_deep + "403)");
  EXPECT_EQ(parse_error(chain("1", "|string")), too_deep + "1405)");
  EXPECT_EQ(parse_error(chain("x|list", "()")), too_deep + "408)");
  // Comparisons are one flat node however long: this renders.
  EXPECT_EQ(render_error(chain("1", " == 1")), "rendered");
  // A long but ordinary template still renders.
  std::string normal = "{{ 'a'";
  for (int i = 0; i < 150; ++i) normal += " ~ 'b'";
  normal += " }}";
  for (int i = 0; i < 20000; ++i) normal += "{{ x.a[0]|string ~ 'y' }}";
  EXPECT_EQ(render_error(normal, {{"x", {{"a", {1}}}}}), "rendered");
}

TEST(JinjaErrors, TemplateOverTheSizeLimitIsRefused) {
  const std::string big(10u << 20, 'x');
  EXPECT_EQ(parse_error(big), "chat template is 10485760 bytes; the limit is 1048576");
  EXPECT_EQ(parse_error(std::string(kMaxTemplateBytes, 'x')), "parsed");
}

TEST(JinjaErrors, EndlessLoopsStopAtTheStepLimit) {
  RenderOptions options;
  options.limits.max_steps = 1000000;
  EXPECT_EQ(render_error(
                "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                Json::object(), options),
            "TemplateRuntimeError: the template ran more than 1000000 steps (line 1, column 32)");
}

TEST(JinjaErrors, DeepRecursionStopsAtTheDepthLimit) {
  EXPECT_EQ(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
            "TemplateRuntimeError: recursion deeper than 200 levels (line 1, column 21)");
  const Json nested = Json::parse(std::string(300, '[') + std::string(300, ']'));
  EXPECT_EQ(render_error("{% for x in t recursive %}{{ loop(x) }}{% endfor %}", {{"t", nested}}),
            "TemplateRuntimeError: recursion deeper than 200 levels (line 1, column 34)");
  // Macro calls within the depth limit, each inside blocks and an expression within the parser's
  // limits, together nest deeper than the stack allows: refused at max_nesting.
  std::string deep = "{% macro f(n) %}";
  for (int i = 0; i < 190; ++i) deep += "{% if true %}";
  deep += "{% if n < 199 %}{{ f(n + 1)";
  for (int i = 0; i < 180; ++i) deep += "|string";
  deep += " }}{% endif %}";
  for (int i = 0; i < 190; ++i) deep += "{% endif %}";
  deep += "{% endmacro %}{{ f(0)|length }}";
  EXPECT_EQ(render_error(deep),
            "TemplateRuntimeError: the template nests deeper than 1000 levels "
            "of blocks and expressions (line 1, column 3355)");
}

TEST(JinjaErrors, OutputBeyondTheLimitIsRefused) {
  RenderOptions options;
  options.limits.max_output_bytes = 1000;
  EXPECT_EQ(render_error("{{ 'x' * 1001 }}", Json::object(), options),
            "TemplateRuntimeError: the template built more than 1000 bytes (line 1, column 8)");
  EXPECT_EQ(
      render_error("{% for i in range(100) %}0123456789ab{% endfor %}", Json::object(), options),
      "TemplateRuntimeError: the template built more than 1000 bytes (line 1, column 26)");
  EXPECT_EQ(
      render_error(
          "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
          "{% endfor %}",
          Json::object(), options),
      "TemplateRuntimeError: the template built more than 1000 bytes (line 1, column 75)");
  EXPECT_EQ(render_error("{{ 'x' * 9223372036854775807 }}"),
            "TemplateRuntimeError: the template built more than 67108864 bytes (line 1, column 8)");
}

// Lists and dicts share what they hold, so a template can build values exponentially large (or
// exponentially costly to walk) in a few steps: each case stops at a limit, quickly.
TEST(JinjaErrors, ValuesBuiltBySharingAreBounded) {
  const std::string ns = "{% set ns = namespace(l=[], d={}) %}";
  EXPECT_EQ(render_error(ns + "{% for i in range(40) %}{% set ns.l = ns.l + ns.l + [1] %}"
                              "{% endfor %}{{ ns.l|length }}"),
            "TemplateRuntimeError: the template built lists and dicts of more than 268435456 "
            "bytes (line 1, column 80)");
  EXPECT_EQ(render_error(ns + "{% for i in range(30) %}{% set ns.l = [ns.l, ns.l] %}"
                              "{% endfor %}{{ ns.l|string|length }}"),
            "TemplateRuntimeError: the template ran more than 10000000 steps (line 1, "
            "column 110)");
  // The same dict equals itself at once (Python compares items by identity first); two equal
  // ones are compared item by item, a step each.
  const std::string twins =
      ns +
      "{% set ns.e = {} %}{% for i in range(50) %}{% set ns.d = {'a': ns.d, 'b': ns.d} %}"
      "{% set ns.e = {'a': ns.e, 'b': ns.e} %}{% endfor %}";
  EXPECT_EQ(render(twins + "{{ ns.d == ns.d }}"), "True");
  EXPECT_EQ(render_error(twins + "{{ ns.d == ns.e }}"),
            "TemplateRuntimeError: the template ran more than 10000000 steps (line 1, "
            "column 173)");
  EXPECT_EQ(render_error(ns + "{% for i in range(40) %}{% set ns.d = {'a': ns.d, 'b': ns.d} %}"
                              "{% endfor %}{{ ns.d|tojson|length }}"),
            "TemplateRuntimeError: the template built more than 67108864 bytes (line 1, "
            "column 120)");
  EXPECT_EQ(render_error("{{ ([1] * 60000000)|length }}"),
            "TemplateRuntimeError: the template built lists and dicts of more than 268435456 "
            "bytes (line 1, column 9)");
  RenderOptions options;
  options.limits.max_value_bytes = 1000;
  EXPECT_EQ(render_error("{{ (['x' * 1000])|length }}", Json::object(), options),
            "TemplateRuntimeError: the template built lists and dicts of more than 1000 bytes "
            "(line 1, column 5)");
}

// Builtins and operators count steps for the work they do (a step per item visited, per
// kBytesPerStep bytes of strings, per comparison of a sort), so a template that repeats costly
// ones stops at the step limit rather than running for minutes.
TEST(JinjaErrors, CostlyBuiltinsStopAtTheStepLimit) {
  const std::string limit = "TemplateRuntimeError: the template ran more than 10000000 steps ";
  EXPECT_EQ(render_error("{% set l = range(20000)|list %}{% for i in range(100) %}"
                         "{% set _ = l|unique|list %}{% endfor %}done"),
            limit + "(line 1, column 70)");
  EXPECT_EQ(render_error("{% set s = 'x' * 50000000 %}{% for i in range(200) %}"
                         "{% set _ = s.count('y') %}{% endfor %}done"),
            limit + "(line 1, column 72)");
  EXPECT_EQ(render_error("{% set l = range(99999)|list %}{% for i in range(20000) %}"
                         "{% if -1 in l %}{% endif %}{% endfor %}done"),
            limit + "(line 1, column 65)");
  EXPECT_EQ(render_error("{% set l = range(99999)|list %}{% for i in range(20000) %}"
                         "{% if l is sameas l and -1 is in l %}{% endif %}{% endfor %}done"),
            limit + "(line 1, column 89)");
  EXPECT_EQ(render_error("{% set s = 'ab' * 20000000 %}{% for i in range(200) %}"
                         "{% set _ = s.replace('a', 'c').split('b')|join('-') %}{% endfor %}done"),
            limit + "(line 1, column 75)");
  EXPECT_EQ(render_error("{% set l = range(99999)|list %}{% for i in range(200) %}"
                         "{% set _ = l|sort(reverse=true) %}{% endfor %}done"),
            limit + "(line 1, column 70)");
  EXPECT_EQ(render_error("{% set s = 'x' * 50000000 %}{% for i in range(2000) %}"
                         "{% if s == s ~ '' %}{% endif %}{% endfor %}done"),
            limit + "(line 1, column 68)");
  // unique is a hash set now, not quadratic: 99 999 distinct items are a few hundred thousand
  // steps, in Jinja's order (first of each key; 1, 1.0 and True are one key).
  EXPECT_EQ(render("{{ range(99999)|unique|list|length }}"), "99999");
  EXPECT_EQ(render("{{ [3, 1, 1.0, true, 'A', 'a', 2, 3.5, none, none]|unique|list }}"),
            "[3, 1, 'A', 2, 3.5, None]");
  EXPECT_EQ(render("{{ ['A', 'a', 'b']|unique(case_sensitive=true)|list }}"), "['A', 'a', 'b']");
  EXPECT_EQ(render_error("{{ [[1], [1]]|unique|list }}"),
            "TypeError: unhashable type: 'list' (line 1, column 15)");
  RenderOptions options;
  options.limits.max_steps = 50000;
  EXPECT_EQ(render_error("{{ range(20000)|unique|list|length }}", Json::object(), options),
            "TemplateRuntimeError: the template ran more than 50000 steps (line 1, column 17)");
  // An integer power takes a step per bit of its exponent, not one per unit.
  EXPECT_EQ(render("{{ 1 ** 9223372036854775807 }} {{ (-1) ** 9223372036854775807 }} "
                   "{{ 0 ** 9223372036854775807 }} {{ (-2) ** 63 }} {{ 3 ** 39 }}"),
            "1 -1 0 -9223372036854775808 4052555153018976267");
  EXPECT_EQ(render_error("{{ 3 ** 40 }}"),
            "OverflowError: integer result too large (line 1, column 6)");
}

// Caps this process's address space at what it uses now plus `mib` MiB, so that an allocation
// beyond throws std::bad_alloc (which ends the process: the renderer does not catch it).
void cap_address_space(size_t mib) {
  std::ifstream status("/proc/self/status");
  size_t used_kib = 0;
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmSize:", 0) == 0) used_kib = std::stoul(line.substr(7));
  }
  const rlimit cap{(used_kib << 10) + (mib << 20), (used_kib << 10) + (mib << 20)};
  setrlimit(RLIMIT_AS, &cap);
}

// Renders `source` in a child process that may allocate at most `mib` MiB more and expects it to
// give `expected` (its output or error message); the child prints what it got.
void expect_in_bounded_memory(const std::string& source, const std::string& expected, size_t mib,
                              RenderOptions options = {}) {
  EXPECT_EXIT(
      {
        cap_address_space(mib);
        const auto t = ChatTemplate::parse(source);
        const auto out = t->render(Json::object(), options);
        const std::string got = out.ok() ? out.value() : out.error().message;
        std::fputs(got.c_str(), stderr);
        std::exit(got == expected ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "")
      << source;
}

// String builtins count their work against the steps before or as they do it, and walk strings
// code point by code point without building a list of them, so a template that calls them on
// a 20 MB string (or repeats them) ends at the step limit (2 M here, to end sooner) in a child
// allowed 256 MiB more: each case took a gigabyte or more before (std::bad_alloc here).
TEST(JinjaErrors, StringBuiltinsOnHugeStringsStopAtTheStepLimitInBoundedMemory) {
  RenderOptions options;
  options.limits.max_steps = 2000000;
  const std::string limit = "TemplateRuntimeError: the template ran more than 2000000 steps ";
  const auto expect = [&](const std::string& source, const std::string& expected) {
    expect_in_bounded_memory(source, expected, 256, options);
  };
  const std::string big = "{% set s = 'x' * 20000000 %}{% for i in range(20) %}";
  expect(big + "{% set _ = s.isalpha() %}{% endfor %}", limit + "(line 1, column 73)");
  expect(big + "{% set _ = s.strip() %}{% endfor %}", limit + "(line 1, column 71)");
  expect(big + "{% set _ = s|trim|int %}{% endfor %}", limit + "(line 1, column 66)");
  expect(big + "{% set _ = s|reverse %}{% endfor %}", limit + "(line 1, column 66)");
  expect(big + "{% set _ = s|wordcount %}{% endfor %}", limit + "(line 1, column 66)");
  expect(
      "{% set s = 'x' * 10000000 %}{% for i in range(20) %}"
      "{% set _ = s.replace('', '-') %}{% endfor %}",
      limit + "(line 1, column 73)");
  expect(
      "{% set ns = namespace(s='x') %}{% for i in range(24) %}"
      "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% for i in range(20) %}"
      "{% set _ = ns.s.isalpha() %}{% endfor %}",
      limit + "(line 1, column 143)");
  // Splits count a step per piece and per search, and check the list they make as it grows;
  // rsplit with maxsplit keeps only the pieces it returns.
  const std::string words = "{% set s = 'x ' * 10000000 %}";
  expect(words + "{{ s.split()|length }}", limit + "(line 1, column 40)");
  expect(words + "{{ s.split(' ')|length }}", limit + "(line 1, column 40)");
  expect(words + "{{ s.rsplit(' ')|length }}", limit + "(line 1, column 41)");
  expect(words + "{{ s.rsplit(none, 1)|length }}", "2");
  expect("{% set s = 'x' * 4000000 %}{{ s|list|length }}", limit + "(line 1, column 33)");
  // strftime_now's buffer is the size of its format first (it was 16 times: 320 MB here).
  expect("{{ strftime_now('x' * 20000000)|length }}", "20000000");
  // Sizes known up front are counted before anything is built: 64 MB more than the steps allow
  // is never allocated.
  RenderOptions few;
  few.limits.max_steps = 500000;
  expect_in_bounded_memory("{{ ('x' * 67000000)|length }}",
                           "TemplateRuntimeError: the template ran more than 500000 steps "
                           "(line 1, column 9)",
                           40, few);
  EXPECT_EQ(render_error("{{ ('<' * 20000000)|escape|length }}"),
            "TemplateRuntimeError: the template built more than 67108864 bytes "
            "(line 1, column 21)");
  // The text of a template counts its bytes as it is written (a loop over a long text wrote
  // gigabytes for a step per iteration).
  RenderOptions text_steps;
  text_steps.limits.max_steps = 10000;
  EXPECT_EQ(render_error("{% for i in range(1000) %}" + std::string(1000, 'x') + "{% endfor %}",
                         Json::object(), text_steps),
            "TemplateRuntimeError: the template ran more than 10000 steps (line 1, column 27)");
  // Repeating nothing is nothing, however many times (without a loop over the count).
  EXPECT_EQ(render("{{ ('' * 9223372036854775807)|length }} {{ ([] * 9223372036854775807) }}"),
            "0 []");
}

// A dict literal, namespace or dict() hashes its keys: a lookup or insertion is a step, so a
// 10,000-entry literal renders within the default 10,000,000 steps (linear searches, a step per
// key compared, ran out at about 4,470 entries). Insertion order, 1 == 1.0 == True as one key
// (its first object kept, the last value) and the last of repeated keys are Python's; expected
// values from Jinja2 3.1.6.
TEST(JinjaErrors, LargeDictLiteralsRenderWithinTheSteps) {
  std::string literal = "{";
  for (int i = 0; i < 10000; ++i) {
    literal += std::to_string(i) + ": " + std::to_string(i * i) + ", ";
  }
  literal += "'k': 1, 5000.0: 'f', true: 't', 'k': 2}";
  EXPECT_EQ(render("{% set d = " + literal +
                   " %}{{ d|length }}|{{ d[9999] }}|{{ d[5000] }}|{{ d[1] }}|{{ d.k }}|"
                   "{{ (d|list)[:3] }}|{{ (d|list)[-3:] }}|{{ 'k' in d }}|{{ 10000 in d }}"),
            "10001|99980001|f|t|2|[0, 1, 2]|[9998, 9999, 'k']|True|False");
}

// rfind and rsplit search the reversed string with glibc's memmem, in linear time as find and
// split do: 30 MB of 'a' then 'b' in 60 MB of 'a' is searched at once and then ends at the step
// limit (libstdc++'s rfind compared the needle at each of 30 M places first: hours).
TEST(JinjaErrors, RfindAndRsplitSearchInLinearTime) {
  const std::string limit = "TemplateRuntimeError: the template ran more than 10000000 steps ";
  const std::string strings = "{% set s = 'a' * 60000000 %}{% set n = 'a' * 30000000 ~ 'b' %}";
  EXPECT_EQ(render_error(strings + "{{ s.rfind(n) }}"), limit + "(line 1, column 73)");
  EXPECT_EQ(render_error(strings + "{{ s.rsplit(n)|length }}"), limit + "(line 1, column 74)");
}

// Strings are bounded all together, not only one by one: every string an expression builds
// and every text the template writes count their bytes against max_total_string_bytes
// (256 MiB), so five 60 MB strings end with a clear error. A variable's string is shared, not
// copied, so five variables holding one 60 MB string cost it once (QA 2026-12-07: counted as
// copies, they ended DeepSeek-V3.1's template on 450 system messages of 1 KB).
TEST(JinjaErrors, StringsAreBoundedAllTogether) {
  EXPECT_EQ(render_error("{% set a = 'x' * 60000000 %}{% set b = a ~ 'b' %}{% set c = a ~ 'c' %}"
                         "{% set d = a ~ 'd' %}{% set e = a ~ 'e' %}{{ 'ok' }}"),
            "TemplateRuntimeError: the template built strings of more than 268435456 bytes in "
            "all (line 1, column 105)");
  // Nor does a loop's `loop` object, alive for one iteration: a macro walking 800 items 600
  // times makes 480 000 of them (300 MB, counted as lists and dicts built).
  EXPECT_EQ(render("{% macro m(l) %}{% for x in l %}{% endfor %}{% endmacro %}"
                   "{% set l = range(800)|list %}{% for i in range(600) %}{{ m(l) }}{% endfor %}"
                   "done"),
            "done");
  EXPECT_EQ(render("{% set a = 'x' * 60000000 %}{% set b = a %}{% set c = a %}{% set d = a %}"
                   "{% set e = a %}{% set f = [a, b, c, d, e] %}{{ f|length }}"),
            "5");
  RenderOptions options;
  options.limits.max_total_string_bytes = 100;
  EXPECT_EQ(render_error("{{ 'x' * 60 }}{{ 'y' * 30 }}", Json::object(), options), "rendered");
  EXPECT_EQ(render_error("{{ 'x' * 60 }}{{ 'y' * 30 }}texts count", Json::object(), options),
            "TemplateRuntimeError: the template built strings of more than 100 bytes in all "
            "(line 1, column 29)");
}

TEST(JinjaErrors, DeepValuesAreRefused) {
  EXPECT_EQ(
      render_error("{% set ns = namespace(x=[]) %}{% for i in range(600) %}"
                   "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
      "TemplateRuntimeError: a list or dict nests deeper than 512 levels (line 1, column 70)");
  Json deep = Json::array();
  for (int i = 0; i < 600; ++i) deep = Json::array({deep});
  EXPECT_EQ(render_error("{{ x }}", {{"x", deep}}),
            "TemplateRuntimeError: a variable nests deeper than 512 levels");
  // A namespace that holds itself prints, and its cycle is broken when the rendering ends.
  const auto t = ChatTemplate::parse("{% set ns = namespace() %}{% set ns.me = [ns] %}{{ ns.me }}");
  ASSERT_TRUE(t.ok());
  const auto out = t->render(Json::object());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "[<Namespace>]");
}

TEST(JinjaErrors, RuntimeTypeErrors) {
  EXPECT_EQ(render_error("{{ 'a' + 1 }}"),
            "TypeError: can only concatenate str (not \"int\") to str (line 1, column 8)");
  EXPECT_EQ(render_error("{{ 1 / 0 }}"), "ZeroDivisionError: division by zero (line 1, column 6)");
  EXPECT_EQ(render_error("{{ 9223372036854775807 + 1 }}"),
            "OverflowError: integer result too large (line 1, column 24)");
  EXPECT_EQ(render_error("{{ 2 ** 64 }}"),
            "OverflowError: integer result too large (line 1, column 6)");
  // INT64_MIN // -1 overflows; INT64_MIN % -1 is 0, as in Python (QA 2026-12-07: it overflowed).
  EXPECT_EQ(render_error("{{ (-9223372036854775807 - 1) // -1 }}"),
            "OverflowError: integer result too large (line 1, column 31)");
  EXPECT_EQ(render("{{ (-9223372036854775807 - 1) % -1 }} {{ 7 % -1 }} {{ -7 % -1 }}"), "0 0 0");
  EXPECT_EQ(render_error("{% for x in 3 %}{% endfor %}"),
            "TypeError: 'int' object is not iterable (line 1, column 4)");
  EXPECT_EQ(render_error("{{ 'a'() }}"),
            "TypeError: 'str' object is not callable (line 1, column 7)");
  EXPECT_EQ(render_error("{{ 1 in 2 }}"),
            "TypeError: argument of type 'int' is not iterable (line 1, column 4)");
  EXPECT_EQ(render_error("{% set a, b = [1] %}"),
            "ValueError: not enough values to unpack (expected 2, got 1) (line 1, column 4)");
  EXPECT_EQ(render_error("{{ 'a' < 1 }}"),
            "TypeError: '<' not supported between instances of 'str' and 'int' (line 1, column 4)");
  EXPECT_EQ(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
            "TypeError: macro 'm' takes not more than 1 argument(s) (line 1, column 35)");
}

// A dict key must be hashable, as in Python; tojson takes the keys json.dumps takes and sorts
// keys of one kind (messages as Jinja2 3.1.6 and json.dumps give them).
TEST(JinjaErrors, DictKeysThatPythonRefuses) {
  EXPECT_EQ(render_error("{{ {[1]: 2} }}"),
            "TypeError: unhashable type: 'list' (line 1, column 4)");
  EXPECT_EQ(render_error("{{ {{}: 2} }}"), "TypeError: unhashable type: 'dict' (line 1, column 4)");
  EXPECT_EQ(render_error("{{ {1: 2}.get([1]) }}"),
            "TypeError: unhashable type: 'list' (line 1, column 14)");
  EXPECT_EQ(render_error("{{ [1] in {1: 2} }}"),
            "TypeError: unhashable type: 'list' (line 1, column 4)");
  // Every key and value is evaluated before any is inserted, as in Python's dict display.
  EXPECT_EQ(render_error("{{ {[1]: 2, 1: x.y} }}"),
            "UndefinedError: 'x' is undefined (line 1, column 17)");
  EXPECT_EQ(render_error("{{ {1: 2}[3] + 1 }}"),
            "UndefinedError: dict object has no element 3 (line 1, column 14)");
  EXPECT_EQ(
      render_error("{{ {x: 1}|tojson }}"),
      "TypeError: keys must be str, int, float, bool or None, not Undefined (line 1, column 11)");
  EXPECT_EQ(
      render_error("{{ {1: 2, 'a': 3}|tojson(sort_keys=true) }}"),
      "TypeError: '<' not supported between instances of 'str' and 'int' (line 1, column 19)");
}

// A builtin called with arguments Jinja2 or Python would refuse gets their TypeError, never
// has them ignored (QA 2026-12-07: `2.5|round(1, 'common', 3)` rendered 2.5).
TEST(JinjaErrors, ArgumentsABuiltinDoesNotTakeAreRefused) {
  EXPECT_EQ(render_error("{{ 2.5|round(1, 'common', 3) }}"),
            "TypeError: round() takes at most 2 arguments (3 given) (line 1, column 8)");
  EXPECT_EQ(render_error("{{ 2.5|round(precision=1, x=2) }}"),
            "TypeError: round() got an unexpected keyword argument 'x' (line 1, column 8)");
  EXPECT_EQ(render_error("{{ 2.5|round(1, precision=1) }}"),
            "TypeError: round() got multiple values for argument 'precision' (line 1, column 8)");
  EXPECT_EQ(render_error("{{ 'abc'|upper(1) }}"),
            "TypeError: upper() takes no arguments (1 given) (line 1, column 10)");
  EXPECT_EQ(render_error("{{ 'a'|d('b', true, 3) }}"),
            "TypeError: d() takes at most 2 arguments (3 given) (line 1, column 8)");
  EXPECT_EQ(render_error("{{ 1 is divisibleby(1, 2) }}"),
            "TypeError: divisibleby() takes at most 1 argument (2 given) (line 1, column 9)");
  EXPECT_EQ(render_error("{{ 1 is defined(1) }}"),
            "TypeError: defined() takes no arguments (1 given) (line 1, column 9)");
  // Python's str and dict methods take positional arguments only, but split's and splitlines'.
  EXPECT_EQ(render_error("{{ 'a b'.strip(chars='a') }}"),
            "TypeError: strip() takes no keyword arguments (line 1, column 15)");
  EXPECT_EQ(render_error("{{ {'a': 1}.get('a', 2, 3) }}"),
            "TypeError: get() takes at most 2 arguments (3 given) (line 1, column 16)");
  EXPECT_EQ(render_error("{{ {'a': 1}.items(1) }}"),
            "TypeError: items() takes no arguments (1 given) (line 1, column 18)");
  EXPECT_EQ(render_error("{{ 'abc'.startswith('a', 0, 1, 2) }}"),
            "TypeError: startswith() takes at most 3 arguments (4 given) (line 1, column 20)");
  EXPECT_EQ(render_error("{{ 'abc'.find('a', 1.5) }}"),
            "TypeError: slice indices must be integers or None or have an __index__ method (line "
            "1, column 14)");
  // The arguments select and map pass on are the test's and the filter's to take.
  EXPECT_EQ(render_error("{{ [1, 2]|select('gt', other=1)|list }}"),
            "TypeError: gt() takes no keyword arguments (line 1, column 11)");
  EXPECT_EQ(render_error("{{ ['a']|map('upper', 1)|list }}"),
            "TypeError: upper() takes no arguments (1 given) (line 1, column 10)");
  EXPECT_EQ(render_error("{{ [{}]|map(attribute='a', x=0)|list }}"),
            "FilterArgumentError: Unexpected keyword argument 'x' (line 1, column 9)");
  EXPECT_EQ(render_error("{{ [1]|map(x=0)|list }}"),
            "FilterArgumentError: map requires a filter argument (line 1, column 8)");
  EXPECT_EQ(render_error("{{ [{'a': 1}]|selectattr(attribute='a')|list }}"),
            "FilterArgumentError: Missing parameter for attribute name (line 1, column 15)");
  // Integer arguments are integers (or bools), as Python takes them.
  EXPECT_EQ(render_error("{{ 'abc'|replace('a', 'b', 'x') }}"),
            "TypeError: 'str' object cannot be interpreted as an integer (line 1, column 10)");
  EXPECT_EQ(render_error("{{ 'abc'|center(9.5) }}"),
            "TypeError: 'float' object cannot be interpreted as an integer (line 1, column 10)");
  EXPECT_EQ(render_error("{{ 'a\\nb'|indent(2.5) }}"),
            "TypeError: 'float' object cannot be interpreted as an integer (line 1, column 11)");
  EXPECT_EQ(render_error("{{ 'a'.splitlines('x') }}"),
            "TypeError: 'str' object cannot be interpreted as an integer (line 1, column 18)");
  EXPECT_EQ(render_error("{{ 'a'.splitlines(none) }}"),
            "TypeError: 'NoneType' object cannot be interpreted as an integer (line 1, column 18)");
  EXPECT_EQ(render_error("{{ 'a,b'.split(',', 'x') }}"),
            "TypeError: 'str' object cannot be interpreted as an integer (line 1, column 15)");
  EXPECT_EQ(render_error("{{ 2.5|round(none, 'ceil') }}"),
            "TypeError: unsupported operand type(s) for ** or pow(): 'int' and 'NoneType' (line 1, "
            "column 8)");
  // A center or indent past the size limit is refused before it is built.
  RenderOptions small;
  small.limits.max_output_bytes = 1000;
  EXPECT_EQ(render_error("{{ 'a'|center(1001) }}", Json::object(), small),
            "TemplateRuntimeError: the template built more than 1000 bytes (line 1, column 8)");
  EXPECT_EQ(render_error("{{ 'a'|indent(1001, true) }}", Json::object(), small),
            "TemplateRuntimeError: the template built more than 1000 bytes (line 1, column 8)");
}

TEST(JinjaErrors, VariablesMustBeAnObject) {
  const auto t = ChatTemplate::parse("x");
  ASSERT_TRUE(t.ok());
  const auto out = t->render(Json::array());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message, "template variables must be a JSON object");
}

// `extra` sets "documents" in its place, and a million names are appended in one pass (QA
// 2026-12-07: 120 000 took 15 s, each searched for among those before; this would take hours).
TEST(ConversationVariables, ExtraNamesAreAppendedOnce) {
  Json conversation = {{"messages", Json::array()}, {"extra", {{"documents", {"d"}}}}};
  for (int i = 0; i < 1'000'000; ++i)
    append_new_member(conversation["extra"], "k" + std::to_string(i), i);
  const auto vars = conversation_variables(conversation);
  ASSERT_TRUE(vars.ok()) << vars.error().message;
  using Members = std::vector<std::pair<const std::string, Json>>;
  const Members& out = vars.value().get_ref<const Json::object_t&>();
  ASSERT_EQ(out.size(), 4u + 1'000'000u);
  EXPECT_EQ(out[2].first, "documents");
  EXPECT_EQ(out[2].second, Json::array({"d"}));
  EXPECT_EQ(out[4].first, "k0");
  EXPECT_EQ(out.back().first, "k999999");
  EXPECT_EQ(out.back().second, 999'999);
}

TEST(ConversationVariables, DefaultsAndErrors) {
  const auto vars = conversation_variables(Json::parse(
      R"({"name": "n", "messages": [{"role": "user", "content": "hi"}], "bos_token": "<s>",
          "extra": {"enable_thinking": false}})"));
  ASSERT_TRUE(vars.ok()) << vars.error().message;
  EXPECT_EQ(vars->dump(),
            R"({"messages":[{"role":"user","content":"hi"}],"tools":null,"documents":null,)"
            R"("add_generation_prompt":true,"bos_token":"<s>","enable_thinking":false})");
  auto error = [](const char* json) {
    const auto v = conversation_variables(Json::parse(json));
    return v.ok() ? std::string("ok") : v.error().message;
  };
  EXPECT_EQ(error("[]"), "the conversation must be a JSON object");
  EXPECT_EQ(error("{}"), "the conversation needs \"messages\", an array of message objects");
  EXPECT_EQ(error(R"({"messages": [1]})"), "messages[0] is not an object");
  EXPECT_EQ(error(R"({"messages": [], "tools": {}})"), "\"tools\" must be an array");
  EXPECT_EQ(error(R"({"messages": [], "add_generation_prompt": 1})"),
            "\"add_generation_prompt\" must be true or false");
  EXPECT_EQ(error(R"({"messages": [], "eos_token": 2})"), "\"eos_token\" must be a string");
  EXPECT_EQ(error(R"({"messages": [], "extra": 2})"),
            "\"extra\" must be an object of template variables");
  for (const char* name :
       {"messages", "tools", "add_generation_prompt", "bos_token", "eos_token"}) {
    EXPECT_EQ(error(("{\"messages\": [], \"extra\": {\"" + std::string(name) + "\": 1}}").c_str()),
              "\"extra\" may not set \"" + std::string(name) +
                  "\", a variable of its own (give it as the conversation's member)");
  }
  EXPECT_EQ(error(R"({"messages": [], "mesages": []})"),
            "unknown conversation member \"mesages\" (expected messages, tools, "
            "add_generation_prompt, bos_token, eos_token, extra, name)");
}

// truncate, batch, slice and the padding and partition methods refuse what Jinja2 3.1.6 and
// Python refuse, with their messages; a width past the size limit is refused before it is
// built.
TEST(JinjaErrors, TruncateBatchSliceAndPaddingRefuseAsJinja) {
  const auto at = [](const std::string& message, int column) {
    return message + " (line 1, column " + std::to_string(column) + ")";
  };
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate(2) }}"),
            at("AssertionError: expected length >= 3, got 2", 17));
  EXPECT_EQ(render_error("{{ 'abc'|truncate(2.5) }}"),
            at("AssertionError: expected length >= 3, got 2.5", 10));
  EXPECT_EQ(render_error("{{ 'abc'|truncate(3, leeway=-1) }}"),
            at("AssertionError: expected leeway >= 0, got -1", 10));
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate('x') }}"),
            at("TypeError: '>=' not supported between instances of 'str' and 'int'", 17));
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate(4, leeway='a') }}"),
            at("TypeError: '>=' not supported between instances of 'str' and 'int'", 17));
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate(x) }}"),
            at("UndefinedError: 'x' is undefined", 17));
  EXPECT_EQ(
      render_error("{{ 'abcdefghij'|truncate(5.5, leeway=0) }}"),
      at("TypeError: slice indices must be integers or None or have an __index__ method", 17));
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate(4, end=5, leeway=0) }}"),
            at("TypeError: object of type 'int' has no len()", 17));
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate(4, end=[1], leeway=0) }}"),
            at("TypeError: can only concatenate str (not \"list\") to str", 17));
  EXPECT_EQ(render_error("{{ 'abcdefghij'|truncate(4, end=x, leeway=0) }}"),
            at("UndefinedError: 'x' is undefined", 17));
  EXPECT_EQ(render_error("{{ 5|truncate }}"),
            at("TypeError: object of type 'int' has no len()", 6));
  EXPECT_EQ(render_error("{{ none|truncate }}"),
            at("TypeError: object of type 'NoneType' has no len()", 9));
  EXPECT_EQ(render_error("{{ range(10)|truncate(3, leeway=0) }}"),
            at("AttributeError: 'list' object has no attribute 'rsplit'", 14));
  EXPECT_EQ(render_error("{{ range(10)|truncate(3, true, leeway=0) }}"),
            at("TypeError: can only concatenate list (not \"str\") to list", 14));
  EXPECT_EQ(render_error("{{ {'a': 1, 'b': 2, 'c': 3, 'd': 4}|truncate(0, end='', leeway=0) }}"),
            at("TypeError: unhashable type: 'slice'", 37));
  EXPECT_EQ(render_error("{{ 'abc'|truncate(4, true, '...', 0, 1) }}"),
            at("TypeError: truncate() takes at most 4 arguments (5 given)", 10));
  EXPECT_EQ(render_error("{{ 'abc'|truncate(4, length=3) }}"),
            at("TypeError: truncate() got multiple values for argument 'length'", 10));

  EXPECT_EQ(render_error("{{ [1, 2, 3]|batch(2.0, 'x')|list }}"),
            at("TypeError: can't multiply sequence by non-int of type 'float'", 14));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|batch('a', 'x')|list }}"),
            at("TypeError: '<' not supported between instances of 'int' and 'str'", 14));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|batch(none, 'x')|list }}"),
            at("TypeError: '<' not supported between instances of 'int' and 'NoneType'", 14));
  EXPECT_EQ(render_error("{{ 5|batch(2)|list }}"),
            at("TypeError: 'int' object is not iterable", 6));
  EXPECT_EQ(render_error("{{ [1]|batch }}"),
            at("TypeError: batch() missing required argument 'linecount'", 8));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|slice(0)|list }}"),
            at("ZeroDivisionError: integer division or modulo by zero", 14));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|slice(0.0)|list }}"),
            at("ZeroDivisionError: float floor division by zero", 14));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|slice(1.5)|list }}"),
            at("TypeError: 'float' object cannot be interpreted as an integer", 14));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|slice(none)|list }}"),
            at("TypeError: unsupported operand type(s) for //: 'int' and 'NoneType'", 14));
  EXPECT_EQ(render_error("{{ [1, 2, 3]|slice('2')|list }}"),
            at("TypeError: unsupported operand type(s) for //: 'int' and 'str'", 14));
  EXPECT_EQ(render_error("{{ 5|slice(2)|list }}"),
            at("TypeError: 'int' object is not iterable", 6));

  EXPECT_EQ(render_error("{{ 'ab'.center(5, 'xy') }}"),
            at("TypeError: The fill character must be exactly one character long", 15));
  EXPECT_EQ(render_error("{{ 'ab'.center(5, '') }}"),
            at("TypeError: The fill character must be exactly one character long", 15));
  EXPECT_EQ(render_error("{{ 'ab'.center(5, 1) }}"),
            at("TypeError: The fill character must be a unicode character, not int", 15));
  EXPECT_EQ(render_error("{{ 'ab'.ljust(5, none) }}"),
            at("TypeError: The fill character must be a unicode character, not NoneType", 14));
  EXPECT_EQ(render_error("{{ 'ab'.rjust(5.0) }}"),
            at("TypeError: 'float' object cannot be interpreted as an integer", 14));
  EXPECT_EQ(render_error("{{ 'ab'.zfill('x') }}"),
            at("TypeError: 'str' object cannot be interpreted as an integer", 14));
  EXPECT_EQ(render_error("{{ 'abc'.partition('') }}"), at("ValueError: empty separator", 19));
  EXPECT_EQ(render_error("{{ 'abc'.rpartition(1) }}"), at("TypeError: must be str, not int", 20));
  EXPECT_EQ(render_error("{{ 'ab'.center(width=5) }}"),
            at("TypeError: center() takes no keyword arguments", 15));
  EXPECT_EQ(render_error("{{ 'abc'.partition(sep='b') }}"),
            at("TypeError: partition() takes no keyword arguments", 19));
  EXPECT_EQ(render_error("{{ 'ab'.center(1, 'x', 2) }}"),
            at("TypeError: center() takes at most 2 arguments (3 given)", 15));
  EXPECT_EQ(render_error("{{ 'ab'.zfill() }}"),
            at("TypeError: zfill() missing required argument 'width'", 14));

  // Widths past the size limit (and past any allocation) are refused before anything is built.
  const std::string too_big = "TemplateRuntimeError: the template built more than 67108864 bytes";
  EXPECT_EQ(render_error("{{ 'ab'.center(10**12)|length }}"), at(too_big, 15));
  EXPECT_EQ(render_error("{{ 'ab'.ljust(10**18, '→')|length }}"), at(too_big, 14));
  EXPECT_EQ(render_error("{{ 'ab'.rjust(9223372036854775807, '→')|length }}"), at(too_big, 14));
  EXPECT_EQ(render_error("{{ '-1'.zfill(10**12)|length }}"), at(too_big, 14));
  EXPECT_EQ(render_error("{{ 'ab'|center(10**12)|length }}"), at(too_big, 9));
  EXPECT_EQ(render(R"({{ 'ab'.center(67108864, '·')|length }})").rfind("TemplateRuntimeError", 0),
            0u);
  EXPECT_EQ(render("{{ 'ab'.center(1000000, '·')|length }}"), "1000000");
  EXPECT_EQ(render_error("{{ [1]|batch(10**12, 0)|length }}").rfind("TemplateRuntimeError", 0), 0u);
  EXPECT_EQ(render_error("{{ [1]|slice(10**12)|length }}").rfind("TemplateRuntimeError", 0), 0u);
}

// wordwrap refuses what Jinja2 3.1.6 and Python's textwrap refuse, with their messages.
TEST(JinjaErrors, WordwrapRefusesAsJinja) {
  const auto at = [](const std::string& message, int column) {
    return message + " (line 1, column " + std::to_string(column) + ")";
  };
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(0) }}"),
            at("ValueError: invalid width 0 (must be > 0)", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(-1) }}"),
            at("ValueError: invalid width -1 (must be > 0)", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(false) }}"),
            at("ValueError: invalid width False (must be > 0)", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(0.0) }}"),
            at("ValueError: invalid width 0.0 (must be > 0)", 10));
  EXPECT_EQ(
      render_error("{{ 'abc def'|wordwrap(2.5) }}"),
      at("TypeError: slice indices must be integers or None or have an __index__ method", 14));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap('5') }}"),
            at("TypeError: '<=' not supported between instances of 'str' and 'int'", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(none) }}"),
            at("TypeError: '<=' not supported between instances of 'NoneType' and 'int'", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(x) }}"), at("UndefinedError: 'x' is undefined", 10));
  EXPECT_EQ(render_error("{{ 5|wordwrap }}"),
            at("AttributeError: 'int' object has no attribute 'splitlines'", 6));
  EXPECT_EQ(render_error("{{ none|wordwrap }}"),
            at("AttributeError: 'NoneType' object has no attribute 'splitlines'", 9));
  EXPECT_EQ(render_error("{{ x|wordwrap }}"), at("UndefinedError: 'x' is undefined", 6));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(wrapstring=1) }}"),
            at("AttributeError: 'int' object has no attribute 'join'", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(wrapstring=x) }}"),
            at("UndefinedError: 'x' is undefined", 10));
  EXPECT_EQ(render_error("{{ 'abc'|wordwrap(5, true, '\\n', true, 1) }}"),
            at("TypeError: wordwrap() takes at most 4 arguments (5 given)", 10));
  // What it builds is checked against the size limit as it grows.
  RenderOptions small;
  small.limits.max_output_bytes = 1000;
  EXPECT_EQ(
      render_error("{{ ('a ' * 400)|wordwrap(1, wrapstring='<br>') }}", Json::object(), small),
      at("TemplateRuntimeError: the template built more than 1000 bytes", 17));
}

// A keyword argument given twice is Jinja2's compile-time SyntaxError (Python refuses the call
// Jinja2 compiles), in a call (dict(), namespace(), a macro, a method) as in a filter or test
// (each expected value is Jinja2 3.1.6's but for the constants its optimizer folds, below).
TEST(JinjaErrors, RepeatedKeywordArgumentsAsJinja) {
  EXPECT_EQ(parse_error("{{ dict(a=1, a=2) }}"),
            "SyntaxError: keyword argument repeated: a (line 1, column 14)");
  EXPECT_EQ(parse_error("{{ namespace(a=1, b=0, a=2).a }}"),
            "SyntaxError: keyword argument repeated: a (line 1, column 24)");
  EXPECT_EQ(parse_error("{{ 'a,b'.split(sep=',', sep=',') }}"),
            "SyntaxError: keyword argument repeated: sep (line 1, column 25)");
  EXPECT_EQ(parse_error("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(a=1, a=2) }}"),
            "SyntaxError: keyword argument repeated: a (line 1, column 48)");
  EXPECT_EQ(parse_error("{% macro m(a) %}{{ a }}{% endmacro %}{% call m(a=1, a=2) %}{% endcall %}"),
            "SyntaxError: keyword argument repeated: a (line 1, column 53)");
  EXPECT_EQ(parse_error("{{ x|default(default_value=1, default_value=2) }}"),
            "SyntaxError: keyword argument repeated: default_value (line 1, column 31)");
  EXPECT_EQ(parse_error("{% set v = 2.56 %}{{ v|round(precision=0, precision=1) }}"),
            "SyntaxError: keyword argument repeated: precision (line 1, column 43)");
  EXPECT_EQ(parse_error("{{ range(3)|join(d='-', d='+') }}"),
            "SyntaxError: keyword argument repeated: d (line 1, column 25)");
  EXPECT_EQ(parse_error("{{ [1, 2]|select('eq', other=1, other=2)|list }}"),
            "SyntaxError: keyword argument repeated: other (line 1, column 33)");
  EXPECT_EQ(parse_error("{% filter replace(old='a', old='b', new='c') %}a{% endfilter %}"),
            "SyntaxError: keyword argument repeated: old (line 1, column 28)");
  // A parameter named twice in a macro or call block: Python's refusal of what Jinja2 compiles
  // (QA: the last argument was taken).
  EXPECT_EQ(parse_error("{% macro m2(a, a) %}[{{ a }}]{% endmacro %}{{ m2(1, 2) }}"),
            "SyntaxError: duplicate argument 'a' in function definition (line 1, column 16)");
  EXPECT_EQ(parse_error("{% macro m2(a, b, a=5) %}{% endmacro %}"),
            "SyntaxError: duplicate argument 'a' in function definition (line 1, column 19)");
  EXPECT_EQ(parse_error("{% macro m(x) %}{{ caller(1) }}{% endmacro %}"
                        "{% call(a, a) m(1) %}{{ a }}{% endcall %}"),
            "SyntaxError: duplicate argument 'a' in function definition (line 1, column 57)");
  EXPECT_EQ(parse_error("{{ x is sameas(other=1, other=2) }}"),
            "SyntaxError: keyword argument repeated: other (line 1, column 25)");
  // Constants, but the filter fails on them: Jinja2 does not fold it.
  EXPECT_EQ(parse_error("{{ [1]|round(precision=0, precision=1) }}"),
            "SyntaxError: keyword argument repeated: precision (line 1, column 27)");
  EXPECT_EQ(parse_error("{{ 'abc'|truncate(length=2, length=1) }}"),
            "SyntaxError: keyword argument repeated: length (line 1, column 29)");
  // Jinja2's optimizer folds a filter or test over constants before Python sees the call, and
  // then the last value wins (2.5|round(precision=1, precision=0) is 2.0 there): refused here.
  EXPECT_EQ(parse_error("{{ 2.5|round(precision=1, precision=0) }}"),
            "SyntaxError: keyword argument repeated: precision (line 1, column 27)");
  EXPECT_EQ(parse_error("{{ 1 is sameas(other=2, other=1) }}"),
            "SyntaxError: keyword argument repeated: other (line 1, column 25)");
}

}  // namespace
}  // namespace gengyun::chat
