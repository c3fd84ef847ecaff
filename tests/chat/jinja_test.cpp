// The Jinja engine feature by feature, each against output computed by hand (as Jinja2 with
// Hugging Face's settings gives it).
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "chat/chat_template.h"
#include "util/ordered_json.h"

namespace gengyun::chat {
namespace {

using Json = nlohmann::ordered_json;

// The output of `source` with `vars`, or "error: <message>".
std::string render(const std::string& source, const Json& vars = Json::object(),
                   RenderOptions options = {}) {
  const auto t = ChatTemplate::parse(source);
  if (!t.ok()) return "error: " + t.error().message;
  const auto out = t->render(vars, options);
  if (!out.ok()) return "error: " + out.error().message;
  return out.value();
}

TEST(Jinja, TextAndOutput) {
  EXPECT_EQ(render("hello"), "hello");
  EXPECT_EQ(render("{{ 'a' }}{{ \"b\" }}{{ 1 }}{{ 2.5 }}{{ none }}{{ true }}"), "ab12.5NoneTrue");
  EXPECT_EQ(render("{{ x }}|{{ y }}", {{"x", "X"}}), "X|");
  EXPECT_EQ(render("{{ [1, 'a', none, [true]] }}"), "[1, 'a', None, [True]]");
  EXPECT_EQ(render("{{ {'k': \"it's\", 'n': 1.0} }}"), "{'k': \"it's\", 'n': 1.0}");
  EXPECT_EQ(render("{{ 'a' 'b' }}"), "ab");
  EXPECT_EQ(render("{{ '\\n\\t\\\\\\u00e9\\x41\\d' }}"),
            "\n\t\\\xC3\xA9"
            "A\\d");
}

TEST(Jinja, TrailingNewlineDroppedAndNewlinesNormalized) {
  EXPECT_EQ(render("a\n"), "a");
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render("a\r\nb\rc"), "a\nb\nc");
}

TEST(Jinja, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  \n c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true %}b{% endif %}"), "ab");
  EXPECT_EQ(render("{% if true -%}\n\n  b{% endif %}"), "b");
  EXPECT_EQ(render("a {# note #} b"), "a  b");
  EXPECT_EQ(render("a {#- note -#} b"), "ab");
}

TEST(Jinja, TrimBlocksAndLstripBlocks) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: the indentation before it.
  EXPECT_EQ(render("{% if true %}\nyes\n{% endif %}\nafter"), "yes\nafter");
  EXPECT_EQ(render("x\n    {% if true %}\n    y\n    {% endif %}\nz"), "x\n    y\nz");
  // not after {{ }}, and not when text precedes the tag on its line
  EXPECT_EQ(render("{{ 'a' }}\nb"), "a\nb");
  EXPECT_EQ(render("a {% if true %}b{% endif %}"), "a b");
  // comments are trimmed as blocks are
  EXPECT_EQ(render("  {# c #}\nd"), "d");
  // `+` keeps what lstrip_blocks and trim_blocks would remove
  EXPECT_EQ(render("  {%+ if true +%}\nx{% endif %}"), "  \nx");
}

TEST(Jinja, RawBlock) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}!"), "{{ x }}{% if %}!");
}

TEST(Jinja, IfElifElse) {
  const std::string t = "{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}";
  EXPECT_EQ(render(t, {{"n", 1}}), "one");
  EXPECT_EQ(render(t, {{"n", 2}}), "two");
  EXPECT_EQ(render(t, {{"n", 3}}), "many");
}

TEST(Jinja, ForLoopVariables) {
  EXPECT_EQ(
      render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
             "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
             {{"xs", {"a", "b"}}}),
      "1021TrueFalse2;2110FalseTrue2;");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }} {% endfor %}",
                   {{"xs", {1, 2, 3}}}),
            ">1>2 1>2>3 2>3> ");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %}", {{"xs", {1, 2, 3}}}),
            "aba");
}

TEST(Jinja, ForElseFilterBreakContinue) {
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }},{% endfor %}"),
            "15,35,55,75,95,");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
                   "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "013");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                   {{"d", {{"b", 1}, {"a", 2}}}}),
            "b=1;a=2;");
  EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}), "ba");
  EXPECT_EQ(render("{% for c in 'héllo' %}[{{ c }}]{% endfor %}"), "[h][é][l][l][o]");
  EXPECT_EQ(render("{% for x in undefined_thing %}x{% endfor %}"), "");
}

TEST(Jinja, RecursiveLoop) {
  const Json tree = Json::parse(R"([{"n": "a", "c": [{"n": "b", "c": []}]}, {"n": "d", "c": []}])");
  EXPECT_EQ(
      render("{% for x in t recursive %}{{ x.n }}{{ loop.depth }}({{ loop(x.c) }}){% endfor %}",
             {{"t", tree}}),
      "a1(b2())d1()");
}

TEST(Jinja, ScopesOfSet) {
  // a set inside a loop stays in the loop; a set inside an if does not.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"),
            "21");
  EXPECT_EQ(render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"), "2");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% set s %}in {{ 'side' }}{% endset %}[{{ s }}]"), "[in side]");
  EXPECT_EQ(render("{% set s | upper %}abc{% endset %}{{ s }}"), "ABC");
}

TEST(Jinja, Namespace) {
  EXPECT_EQ(
      render("{% set ns = namespace(n=0, s='') %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
             "{% endfor %}{{ ns.n }}"),
      "3");
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.x = 'y' %}{{ ns.x }}"), "y");
  EXPECT_EQ(render("{% set d = {} %}{% set d.x = 1 %}"),
            "error: TemplateRuntimeError: cannot assign attribute on non-namespace object (line 1, "
            "column 20)");
}

TEST(Jinja, MacrosAndCall) {
  EXPECT_EQ(render("{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ "
                   "m(b=3, a=4) }}"),
            "<1B><12><43>");
  EXPECT_EQ(render("{% macro w(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call w('b') %}bold{% endcall %}"),
            "<b>bold</b>");
  EXPECT_EQ(
      render("{% macro w() %}{{ caller(7) }}{% endmacro %}{% call(x) w() %}[{{ x }}]{% endcall %}"),
      "[7]");
  EXPECT_EQ(render("{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}"), "G");
}

TEST(Jinja, Expressions) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} "
                   "{{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 4 / 2 }}"),
            "7 9 3 -4 1 2 3.5 1024 2.0");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 0.1 + 0.2 }}"),
            "a1None ababab [1, 2] 0.30000000000000004");
  EXPECT_EQ(render("{{ 'x' if true }}{{ 'y' if false }}{{ 'a' if false else 'b' }}"), "xb");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' in 'abc' }} {{ 4 not in [1, 2] }} "
                   "{{ 'k' in {'k': 1} }}"),
            "True False True True True");
  EXPECT_EQ(render("{{ none or 'd' }} {{ 0 and 1 }} {{ not 0 }} {{ 1 == 1.0 }} {{ true == 1 }}"),
            "d 0 True True True");
  EXPECT_EQ(render("{{ -x|abs }} {{ 'a' + 'b' | upper }}", {{"x", 3}}), "3 aB");
  EXPECT_EQ(render("{{ 1e3 }} {{ 1_000 }} {{ 1e16 }} {{ 0.00001 }} {{ 1.5e-7 }}"),
            "1000.0 1000 1e+16 1e-05 1.5e-07");
  EXPECT_EQ(render("{{ '%s-%d' % ('a', 3) }} {{ '%s!' | format('hi') }}"), "a-3 hi!");
}

TEST(Jinja, SubscriptsAndSlices) {
  const Json vars = {{"xs", {0, 1, 2, 3, 4}}, {"s", "héllo"}};
  EXPECT_EQ(render("{{ xs[1] }}{{ xs[-1] }}{{ xs[1:3] }}{{ xs[::2] }}{{ xs[::-1] }}{{ xs[-2:] }}{{ "
                   "xs[:-3] }}",
                   vars),
            "14[1, 2][0, 2, 4][4, 3, 2, 1, 0][3, 4][0, 1]");
  EXPECT_EQ(render("{{ s[1] }}{{ s[::-1] }}{{ s[1:3] }}{{ s[-1] }}", vars),
            "éolléhél"
            "o");
  EXPECT_EQ(render("{{ xs[4:1:-2] }}{{ xs[10:] }}{{ xs.0 }}", vars), "[4, 2][]0");
  EXPECT_EQ(render("{{ xs[::0] }}", vars),
            "error: ValueError: slice step cannot be zero (line 1, column 6)");
}

// A string's index and slices are Python's over code points (values from Python), found by
// walking code points from the end each bound counts from.
TEST(Jinja, StringIndexesAndSlicesAreCodePoints) {
  const Json vars = {{"s", "h\u00e9\u65e5\u672c\U0001F642x"}};
  EXPECT_EQ(render("{% for i in range(-8, 8) %}{{ s[i] if s[i] is defined else 'U' }}|"
                   "{% endfor %}{{ s[true] }}",
                   vars),
            "U|U|h|é|日|本|🙂|x|h|é|日|本|🙂|x|U|U|é");
  EXPECT_EQ(render("{{ s[:] }}|{{ s[1:4] }}|{{ s[-3:] }}|{{ s[:-2] }}|{{ s[2:100] }}|"
                   "{{ s[-100:2] }}|{{ s[4:1] }}|{{ s[-1:-5] }}|{{ s[::-1] }}|{{ s[::2] }}|"
                   "{{ s[1::3] }}|{{ s[5:0:-2] }}|{{ s[-2::-3] }}|{{ s[100::-1] }}|"
                   "{{ s[:-100:-1] }}|{{ s[3:3] }}|{{ s[0:6:4] }}|{{ s[-7:] }}",
                   vars),
            "hé日本🙂x|é日本|本🙂x|hé日本|日本🙂x|hé|||x🙂本日éh|h日🙂|é🙂|x本é|🙂é|"
            "x🙂本日éh|"
            "x🙂本日éh||h🙂|hé日本🙂x");
  EXPECT_EQ(render("{{ s[::0] }}", vars),
            "error: ValueError: slice step cannot be zero (line 1, column 5)");
  EXPECT_EQ(render("{{ s['a':] }}", vars),
            "error: TypeError: slice indices must be integers or None (line 1, column 5)");
  // Bytes that are not UTF-8 are characters of their own, walked back as forward.
  const std::string bytes = "'\xC3\xA9\xA9\xE6\x97x\xF0\x9F\x99\x82\xFF'";
  EXPECT_EQ(render("{% set s = " + bytes +
                   " %}{{ s | length }}{{ s[::-1] == (s | list | reverse | join) }}"
                   "{% for i in range(1, 8) %}{{ s[-i] == s[7 - i] }}{% endfor %}"),
            "7TrueTrueTrueTrueTrueTrueTrueTrue");
}

// Indexing and slicing a long string cost what they walk, not a list of all its characters
// (each took a step per byte and the list's bytes: 80 of them on 1 MB ran out of both).
TEST(Jinja, StringIndexesAndSlicesCostWhatTheyWalk) {
  const Json vars = {{"s", "\u00e9" + std::string(1 << 20, 'a') + "\u65e5"}};
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += "日éa日éa|";
  EXPECT_EQ(render("{% for i in range(20) %}{{ s[-1] }}{{ s[0] }}{{ s[-2:] }}{{ s[:2] }}|"
                   "{% endfor %}{{ (s[::-1] | length) == (s | length) }}",
                   vars),
            expected + "True");
}

TEST(Jinja, AttributesAndItems) {
  const Json vars = {{"m", {{"role", "user"}, {"items", "I"}}}};
  EXPECT_EQ(render("{{ m.role }}{{ m['role'] }}{{ m.missing is defined }}{{ m['items'] }}", vars),
            "useruserFalseI");
  EXPECT_EQ(render("{{ m.missing.x }}", vars),
            "error: UndefinedError: 'dict object' has no attribute 'missing' (line 1, column 13)");
  EXPECT_EQ(render("{{ nope.x }}"),
            "error: UndefinedError: 'nope' is undefined (line 1, column 8)");
  EXPECT_EQ(render("{{ [1][5] is defined }}"), "False");
}

TEST(Jinja, Tests) {
  EXPECT_EQ(render("{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}"
                   "{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is number }}"
                   "{{ 1 is integer }}{{ 1.0 is float }}{{ false is false }}{{ 0 is false }}"
                   "{{ true is boolean }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}"
                   "{{ 2 is in [1, 2] }}{{ 'a' is equalto 'a' }}{{ x is not none }}",
                   {{"x", 1}}),
            "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ not x is defined }}"), "True");
}

TEST(Jinja, Filters) {
  const Json vars = Json::parse(
      R"({"ms": [{"role": "user", "n": 2}, {"role": "tool", "n": 1}, {"role": "user", "n": 3}]})");
  EXPECT_EQ(render("{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'héllo' | length }}|"
                   "{{ [1, 2] | length }}|{{ 'aB' | upper }}{{ 'aB' | lower }}|{{ 'aaa' | "
                   "replace('a', 'b', 2) }}"),
            "a b|a|5|2|ABab|bba");
  EXPECT_EQ(
      render("{{ [1, 2, 3] | join(', ') }}|{{ x | default('d') }}|{{ '' | default('d', true) }}|"
             "{{ [1, 2] | first }}{{ [1, 2] | last }}{{ 'abc' | last }}"),
      "1, 2, 3|d|d|12c");
  EXPECT_EQ(
      render("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='n') | list }}|"
             "{{ ms | rejectattr('role', 'eq', 'user') | map(attribute='role') | join }}|"
             "{{ ms | map(attribute='n') | sum }}|{{ ms | map(attribute='role') | unique | list }}|"
             "{{ [3, 1, 2] | sort }}|{{ [1, 2, 3] | reject('odd') | list }}|"
             "{{ ms | sort(attribute='n') | map(attribute='n') | join }}",
             vars),
      "[2, 3]|tool|6|['user', 'tool']|[1, 2, 3]|[2]|123");
  EXPECT_EQ(
      render("{{ {'a': 1} | items | list }}|{{ '12' | int + 1 }}|{{ 'x' | int }}|{{ 2 | string }}"
             "|{{ '1.5' | float }}|{{ 'ab' | list }}|{{ [1, 2] | reverse | list }}|{{ -3 | abs }}"
             "|{{ 2.567 | round(2) }}|{{ 'a b  c' | wordcount }}|{{ [4, 9, 2] | max }}|{{ 'hi you' "
             "| title }}"),
      "[['a', 1]]|13|0|2|1.5|['a', 'b']|[2, 1]|3|2.57|3|9|Hi You");
  EXPECT_EQ(render("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}"),
            "a\n  b\n\n  c|  a\n  b");
  EXPECT_EQ(render("{{ '<a&b>' | e }}"), "&lt;a&amp;b&gt;");
}

// The title filter is Jinja2's do_title (pieces split at runs of -({[< and Python's whitespace,
// full Unicode case mappings), not str.title; expected values from Jinja2 3.1.6.
TEST(Jinja, TitleFilterAsJinja2) {
  auto title = [](const std::string& s) { return render("{{ s | title }}", {{"s", s}}); };
  EXPECT_EQ(title("they're bill's friends"), "They're Bill's Friends");
  EXPECT_EQ(title("hELLO wORLD 1st 2ND x_y.z/w"), "Hello World 1st 2nd X_y.z/w");
  EXPECT_EQ(title("a-b(c{d[e<f>g]h}i)j --k  ((l"), "A-B(C{D[E<F>g]h}i)j --K  ((L");
  EXPECT_EQ(title("a\u00a0b\u2003c\u3000d\u2028e\x1c"
                  "f\u0085g\u180eh\u200bi\tj\nk"),
            "A\u00a0B\u2003C\u3000D\u2028E\x1c"
            "F\u0085G\u180eh\u200bi\tJ\nK");
  EXPECT_EQ(title("\u00e9COLE \u00c9T\u00c9 \u043f\u0440\u0438\u0432\u0435\u0442 "
                  "\u041c\u0418\u0420 \u01c6ungla \u01c5X"),
            "\u00c9cole \u00c9t\u00e9 \u041f\u0440\u0438\u0432\u0435\u0442 \u041c\u0438\u0440 "
            "\u01c4ungla \u01c4x");
  EXPECT_EQ(title("stra\u00dfe \u00dftra\u00dfe \ufb01nal \u0390x"),
            "Stra\u00dfe SStra\u00dfe FInal \u0399\u0308\u0301x");
  EXPECT_EQ(title("\u0130STANBUL x\u0130"), "\u0130stanbul Xi\u0307");
  EXPECT_EQ(title("ab\u0301c \u0301ab"), "Ab\u0301c \u0301ab");
  EXPECT_EQ(title(""), "");
  EXPECT_EQ(render("{{ 12 | title }}|{{ 'a b'.title() }}|{{ \"it's\".title() }}"), "12|A B|It'S");
}

// repr escapes what Python's str.isprintable() rejects (categories Cc, Cf, Cs, Co, Cn, Zs but
// U+0020, Zl, Zp) as \xhh, \uhhhh or \Uhhhhhhhh. Expected values are Python 3.11's repr(chr(cp))
// for the first, the last and three seeded random code points of every Unicode category above
// ASCII, and some chosen ones (code points Unicode 15.0 assigned are left out: Python 3.11 has
// Unicode 14.0, utf8proc 15.0).
TEST(Jinja, ReprEscapesWhatPythonDoesNotPrint) {
  struct Case {
    uint32_t cp;
    const char* repr;
  };
  const Case cases[] = {
      {0x80, "'\\x80'"},           {0x85, "'\\x85'"},           {0x89, "'\\x89'"},
      {0x94, "'\\x94'"},           {0x99, "'\\x99'"},           {0x9F, "'\\x9f'"},
      {0xA0, "'\\xa0'"},           {0xA1, "'\u00a1'"},          {0xA2, "'\u00a2'"},
      {0xA6, "'\u00a6'"},          {0xA8, "'\u00a8'"},          {0xAA, "'\u00aa'"},
      {0xAB, "'\u00ab'"},          {0xAC, "'\u00ac'"},          {0xAD, "'\\xad'"},
      {0xB2, "'\u00b2'"},          {0xB5, "'\u00b5'"},          {0xBB, "'\u00bb'"},
      {0xC0, "'\u00c0'"},          {0xFF, "'\u00ff'"},          {0x100, "'\u0100'"},
      {0x1C5, "'\u01c5'"},         {0x1F2, "'\u01f2'"},         {0x2AD, "'\u02ad'"},
      {0x2B0, "'\u02b0'"},         {0x2E6, "'\u02e6'"},         {0x300, "'\u0300'"},
      {0x35F, "'\u035f'"},         {0x378, "'\\u0378'"},        {0x488, "'\u0488'"},
      {0x58A, "'\u058a'"},         {0x61C, "'\\u061c'"},        {0x660, "'\u0660'"},
      {0x81A, "'\u081a'"},         {0x8E2, "'\\u08e2'"},        {0x903, "'\u0903'"},
      {0xACC, "'\u0acc'"},         {0xE56, "'\u0e56'"},         {0xF3A, "'\u0f3a'"},
      {0xF3B, "'\u0f3b'"},         {0x1680, "'\\u1680'"},       {0x16EE, "'\u16ee'"},
      {0x1F8B, "'\u1f8b'"},        {0x1FFC, "'\u1ffc'"},        {0x2007, "'\\u2007'"},
      {0x200B, "'\\u200b'"},       {0x200F, "'\\u200f'"},       {0x2012, "'\u2012'"},
      {0x2019, "'\u2019'"},        {0x2028, "'\\u2028'"},       {0x2029, "'\\u2029'"},
      {0x202F, "'\\u202f'"},       {0x203A, "'\u203a'"},        {0x203F, "'\u203f'"},
      {0x2040, "'\u2040'"},        {0x2054, "'\u2054'"},        {0x20A0, "'\u20a0'"},
      {0x20A4, "'\u20a4'"},        {0x20DD, "'\u20dd'"},        {0x20E0, "'\u20e0'"},
      {0x217B, "'\u217b'"},        {0x2181, "'\u2181'"},        {0x2221, "'\u2221'"},
      {0x22C7, "'\u22c7'"},        {0x276F, "'\u276f'"},        {0x29CF, "'\u29cf'"},
      {0x2C43, "'\u2c43'"},        {0x2E04, "'\u2e04'"},        {0x2E09, "'\u2e09'"},
      {0x2E1C, "'\u2e1c'"},        {0x2E20, "'\u2e20'"},        {0x2E21, "'\u2e21'"},
      {0x2E5B, "'\u2e5b'"},        {0x3000, "'\\u3000'"},       {0x300F, "'\u300f'"},
      {0x30A0, "'\u30a0'"},        {0x338B, "'\u338b'"},        {0x4324, "'\u4324'"},
      {0xA672, "'\ua672'"},        {0xA715, "'\ua715'"},        {0xA7F2, "'\ua7f2'"},
      {0xA8D6, "'\ua8d6'"},        {0xA8F9, "'\ua8f9'"},        {0xE000, "'\\ue000'"},
      {0xF8FF, "'\\uf8ff'"},       {0xFBB3, "'\ufbb3'"},        {0xFE17, "'\ufe17'"},
      {0xFE32, "'\ufe32'"},        {0xFE34, "'\ufe34'"},        {0xFE69, "'\ufe69'"},
      {0xFEFF, "'\\ufeff'"},       {0xFF3D, "'\uff3d'"},        {0xFF3F, "'\uff3f'"},
      {0xFF5F, "'\uff5f'"},        {0xFF62, "'\uff62'"},        {0xFF63, "'\uff63'"},
      {0xFFFE, "'\\ufffe'"},       {0xFFFF, "'\\uffff'"},       {0x10000, "'\U00010000'"},
      {0x10116, "'\U00010116'"},   {0x10581, "'\U00010581'"},   {0x107AF, "'\U000107af'"},
      {0x10EAD, "'\U00010ead'"},   {0x10F54, "'\U00010f54'"},   {0x10F58, "'\U00010f58'"},
      {0x11055, "'\U00011055'"},   {0x11128, "'\U00011128'"},   {0x1123D, "'\U0001123d'"},
      {0x112F9, "'\U000112f9'"},   {0x11348, "'\U00011348'"},   {0x11357, "'\U00011357'"},
      {0x118B5, "'\U000118b5'"},   {0x118BC, "'\U000118bc'"},   {0x1240D, "'\U0001240d'"},
      {0x1246E, "'\U0001246e'"},   {0x1D172, "'\U0001d172'"},   {0x1D492, "'\U0001d492'"},
      {0x1D9EA, "'\U0001d9ea'"},   {0x1E921, "'\U0001e921'"},   {0x1E943, "'\U0001e943'"},
      {0x1E94B, "'\U0001e94b'"},   {0x1E95F, "'\U0001e95f'"},   {0x1ECB0, "'\U0001ecb0'"},
      {0x1EEF1, "'\U0001eef1'"},   {0x1F0D6, "'\U0001f0d6'"},   {0x1F10C, "'\U0001f10c'"},
      {0x1F3FF, "'\U0001f3ff'"},   {0x1FBCA, "'\U0001fbca'"},   {0x1FBF9, "'\U0001fbf9'"},
      {0x23131, "'\U00023131'"},   {0x2B727, "'\U0002b727'"},   {0x3134A, "'\U0003134a'"},
      {0x3E839, "'\\U0003e839'"},  {0x84087, "'\\U00084087'"},  {0xBB9C4, "'\\U000bb9c4'"},
      {0xE0001, "'\\U000e0001'"},  {0xE0066, "'\\U000e0066'"},  {0xE007F, "'\\U000e007f'"},
      {0xE0130, "'\U000e0130'"},   {0xE01EF, "'\U000e01ef'"},   {0xF0000, "'\\U000f0000'"},
      {0xF2264, "'\\U000f2264'"},  {0xFC2D9, "'\\U000fc2d9'"},  {0x10EE9F, "'\\U0010ee9f'"},
      {0x10FFFD, "'\\U0010fffd'"}, {0x10FFFF, "'\\U0010ffff'"},
  };
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    }
    s += static_cast<char>(0x80 | (cp & 0x3F));
    return s;
  };
  for (const Case& c : cases) {
    EXPECT_EQ(render("{{ [s] }}", {{"s", utf8(c.cp)}}), "[" + std::string(c.repr) + "]")
        << std::hex << c.cp;
  }
  // Surrogates (as their UTF-8 form decodes) and every ASCII code point.
  EXPECT_EQ(render("{{ [s, t] }}", {{"s", utf8(0xD800)}, {"t", utf8(0xDFFF)}}),
            "['\\ud800', '\\udfff']");
  std::string ascii;
  for (int c = 0; c < 0x80; ++c) ascii += static_cast<char>(c);
  EXPECT_EQ(render("{{ [s] }}", {{"s", ascii}}),
            "[" +
                std::string(
                    "'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\t\\n\\x0b\\x0c\\r\\x0e\\x0f\\x"
                    "10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f "
                    "!\"#$%&\\'()*+,-./"
                    "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`"
                    "abcdefghijklmnopqrstuvwxyz{|}~\\x7f'") +
                "]");
  EXPECT_EQ(render("{{ {'k': s} }}", {{"s", "a\u200b\U000e0041\ue000"}}),
            "{'k': 'a\\u200b\\U000e0041\\ue000'}");
}

TEST(Jinja, ToJsonAsHuggingFace) {
  const Json vars = Json::parse(R"({"v": {"z": 1, "a": [1.5, "é\n\"", null, true, {}, []]}})");
  EXPECT_EQ(render("{{ v | tojson }}", vars),
            R"({"z": 1, "a": [1.5, "é\n\"", null, true, {}, []]})");
  EXPECT_EQ(render("{{ v | tojson(indent=2) }}", vars),
            "{\n  \"z\": 1,\n  \"a\": [\n    1.5,\n    \"é\\n\\\"\",\n    null,\n    true,\n    "
            "{},\n    []\n  ]\n}");
  EXPECT_EQ(render("{{ v | tojson(sort_keys=true, separators=(',', ':')) }}", vars),
            R"({"a":[1.5,"é\n\"",null,true,{},[]],"z":1})");
  EXPECT_EQ(render("{{ 'é<>&' | tojson(ensure_ascii=true) }}"), R"("\u00e9<>&")");
  EXPECT_EQ(
      render("{{ x | tojson }}"),
      "error: TypeError: Object of type Undefined is not JSON serializable (line 1, column 8)");
}

TEST(Jinja, StringMethods) {
  EXPECT_EQ(render("{{ ' a '.strip() }}|{{ '\\na'.lstrip('\\n') }}|{{ 'a  '.rstrip() }}|"
                   "{{ 'a</think>b'.split('</think>')[-1] }}|{{ ' a  b '.split() }}|{{ "
                   "'a,b,c'.split(',', 1) }}|"
                   "{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'abc'.startswith('ab') }}{{ "
                   "'abc'.endswith(('x', 'c')) }}|"
                   "{{ 'aB'.upper() }}{{ 'aB'.lower() }}|{{ 'aXa'.replace('a', 'b') }}|{{ "
                   "'abc'.find('c') }}|"
                   "{{ '-'.join(['a', 'b']) }}|{{ 'a b'.title() }}|{{ 'ab'.count('b') }}"),
            "a|a|a|b|['a', 'b']|['a', 'b,c']|['a,b', 'c']|TrueTrue|ABab|bXb|2|a-b|A B|1");
  EXPECT_EQ(render("{{ 'x'.nope() }}"),
            "error: UndefinedError: 'str object' has no attribute 'nope' (line 1, column 12)");
}

// rfind, rindex, rsplit and split as Python gives them (each expected value is Python 3.11's):
// an empty needle, a needle longer than the string, overlapping matches (rsplit takes them from
// the right), maxsplit (after it, split keeps the rest's trailing whitespace and rsplit its
// leading whitespace), non-ASCII whitespace, strip by code points.
TEST(Jinja, RfindRsplitAndSplitAsPython) {
  const std::pair<const char*, const char*> cases[] = {
      {"{{ 'aaaa'.rfind('aa') }}", "2"},
      {"{{ 'abcabc'.rfind('abc') }}", "3"},
      {"{{ 'abc'.rfind('') }}", "3"},
      {"{{ ''.rfind('') }}", "0"},
      {"{{ ''.rfind('a') }}", "-1"},
      {"{{ 'ab'.rfind('abc') }}", "-1"},
      {"{{ 'abcab'.rfind('ab') }}", "3"},
      {"{{ 'aXbXXc'.rfind('XX') }}", "3"},
      {"{{ 'ab'.rfind('ab') }}", "0"},
      {"{{ 'h\xC3\xA9llo w\xC3\xB6rld'.rfind('\xC3\xB6') }}", "7"},
      {"{{ 'aaaa'.rindex('aaaa') }}", "0"},
      {"{{ 'x\xE3\x80\x80y\xE3\x80\x80'.rfind('\xE3\x80\x80') }}", "3"},
      {"{% set l = 'aaaaa'.rsplit('aa') %}[{{ l|join('|') }}]{{ l|length }}", "[a||]3"},
      {"{% set l = 'aaaaa'.split('aa') %}[{{ l|join('|') }}]{{ l|length }}", "[||a]3"},
      {"{% set l = 'xyxyx'.rsplit('xyx') %}[{{ l|join('|') }}]{{ l|length }}", "[xy|]2"},
      {"{% set l = 'xyxyx'.split('xyx') %}[{{ l|join('|') }}]{{ l|length }}", "[|yx]2"},
      {"{% set l = 'a,b,c'.rsplit(',', 0) %}[{{ l|join('|') }}]{{ l|length }}", "[a,b,c]1"},
      {"{% set l = 'a,b,c'.rsplit(',', 1) %}[{{ l|join('|') }}]{{ l|length }}", "[a,b|c]2"},
      {"{% set l = 'a,b,c'.rsplit(',', 5) %}[{{ l|join('|') }}]{{ l|length }}", "[a|b|c]3"},
      {"{% set l = ',a,'.rsplit(',') %}[{{ l|join('|') }}]{{ l|length }}", "[|a|]3"},
      {"{% set l = 'abc'.rsplit('abcd') %}[{{ l|join('|') }}]{{ l|length }}", "[abc]1"},
      {"{% set l = ''.rsplit(',') %}[{{ l|join('|') }}]{{ l|length }}", "[]1"},
      {"{% set l = 'a<>b<><>c'.rsplit('<>', 2) %}[{{ l|join('|') }}]{{ l|length }}", "[a<>b||c]3"},
      {"{% set l = 'a,b'.rsplit(',', -1) %}[{{ l|join('|') }}]{{ l|length }}", "[a|b]2"},
      {"{% set l = 'a,b,c'.rsplit(',', maxsplit=1) %}[{{ l|join('|') }}]{{ l|length }}",
       "[a,b|c]2"},
      {"{% set l = '  a b  c '.rsplit(none, 1) %}[{{ l|join('|') }}]{{ l|length }}", "[  a b|c]2"},
      {"{% set l = ' a b c '.split(none, 1) %}[{{ l|join('|') }}]{{ l|length }}", "[a|b c ]2"},
      {"{% set l = '  a b'.rsplit(none, 0) %}[{{ l|join('|') }}]{{ l|length }}", "[  a b]1"},
      {"{% set l = '  a b'.rsplit(none, 1) %}[{{ l|join('|') }}]{{ l|length }}", "[  a|b]2"},
      {"{% set l = '   '.rsplit(none, 1) %}[{{ l|join('|') }}]{{ l|length }}", "[]0"},
      {"{% set l = '   '.split(none, 0) %}[{{ l|join('|') }}]{{ l|length }}", "[]0"},
      {"{% set l = ' a b '.split(none, 0) %}[{{ l|join('|') }}]{{ l|length }}", "[a b ]1"},
      {"{% set l = ' a b '.rsplit() %}[{{ l|join('|') }}]{{ l|length }}", "[a|b]2"},
      {"{% set l = 'a b'.rsplit(none, 9223372036854775807) %}[{{ l|join('|') }}]{{ l|length }}",
       "[a|b]2"},
      {"{% set l = 'a  b '.split(none, 9223372036854775807) %}[{{ l|join('|') }}]{{ l|length }}",
       "[a|b]2"},
      {"{% set l = ''.rsplit(none, 1) %}[{{ l|join('|') }}]{{ l|length }}", "[]0"},
      {"{% set l = ' x '.rsplit(none, 0) %}[{{ l|join('|') }}]{{ l|length }}", "[ x]1"},
      {"{% set l = '\xE3\x80\x80"
       "a\xE3\x80\x80"
       "b\xE3\x80\x80'.rsplit(none, 1) %}[{{ l|join('|') }}]{{ l|length }}",
       "[\xE3\x80\x80"
       "a|b]2"},
      {"[{{ ' \xE3\x80\x80"
       "a b\xE3\x80\x80 '.strip() }}]",
       "[a b]"},
      {"[{{ '\xC3\xA9"
       "a\xC3\xA9'.strip('\xC3\xA9') }}]",
       "[a]"},
      {"[{{ 'xxaxx'.lstrip('x') }}]", "[axx]"},
      {"[{{ 'ab'.rstrip('') }}]", "[ab]"},
  };
  for (const auto& [source, expected] : cases) EXPECT_EQ(render(source), expected) << source;
  EXPECT_EQ(render("{{ 'ab'.rindex('c') }}"),
            "error: ValueError: substring not found (line 1, column 15)");
  EXPECT_EQ(render("{{ 'ab'.rsplit('') }}"),
            "error: ValueError: empty separator (line 1, column 15)");
}

TEST(Jinja, DictMethods) {
  const Json vars = {{"d", {{"a", 1}, {"b", 2}}}};
  EXPECT_EQ(
      render("{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}{{ d.get('a') }}"
             "{{ d.get('z') }}{{ d.get('z', 0) }}",
             vars),
      "['a', 'b'][1, 2][['a', 1], ['b', 2]]1None0");
}

TEST(Jinja, GlobalsAndRaise) {
  EXPECT_EQ(render("{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ dict(a=1) }}"),
            "[0, 1, 2][1, 3, 5]{'a': 1}");
  EXPECT_EQ(render("a{{ raise_exception('No ' ~ 'way') }}"), "error: TemplateError: No way");
  RenderOptions options;
  options.now = [] { return std::time_t{86400 * 365}; };  // 1 Jan 1971, 00:00 UTC
  EXPECT_EQ(render("{{ strftime_now('%Y') }}", Json::object(), options), "1971");
  EXPECT_EQ(render("{{ range(1000000) | length }}"),
            "error: OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
            "(100000). (line 1, column 9)");
}

// range()'s length is computed without overflow at the int64 limits (values as Python gives).
TEST(Jinja, RangeNearTheIntegerLimits) {
  EXPECT_EQ(render("{{ range(0, 9223372036854775807, 4611686018427387904) | list }}"),
            "[0, 4611686018427387904]");
  EXPECT_EQ(
      render("{{ range(9223372036854775807, -9223372036854775807, -4611686018427387904) | list }}"),
      "[9223372036854775807, 4611686018427387903, -1, -4611686018427387905]");
  EXPECT_EQ(render("{{ range(-9223372036854775807 - 1, 9223372036854775807, 9223372036854775807)"
                   " | list }}"),
            "[-9223372036854775808, -1, 9223372036854775806]");
  EXPECT_EQ(render("{{ range(-9223372036854775807, -9223372036854775807 - 1, -1) | list }}"),
            "[-9223372036854775807]");
  EXPECT_EQ(render("{{ range(10, 0, -3) | list }}{{ range(5, 0) | list }}"
                   "{{ range(0, 10, -1) | list }}"),
            "[10, 7, 4, 1][][]");
  EXPECT_EQ(render("{{ range(-9223372036854775807 - 1, 9223372036854775807, 92233720368548)"
                   " | length }}"),
            "error: OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
            "(100000). (line 1, column 9)");
}

// A key given twice is one key, in its first place with its last value, as in a Python dict:
// in a dict literal, in dict() of a mapping and keywords, and in JSON variables; tojson writes
// it once.
TEST(Jinja, DictsHoldOneKeyPerName) {
  EXPECT_EQ(render("{{ {'a': 1, 'b': 3, 'a': 2} }}|{{ {'a': 1, 'b': 3, 'a': 2} | tojson }}|"
                   "{{ {'a': 1, 'a': 2} | length }}|{{ dict({'a': 1, 'b': 3}, a=2) | tojson }}|"
                   "{{ {'a': 1, 'a': 2} | items | list }}"),
            "{'a': 2, 'b': 3}|{\"a\": 2, \"b\": 3}|1|{\"a\": 2, \"b\": 3}|[['a', 2]]");
  const auto vars = parse_ordered_json(R"({"x": {"a": 1, "b": 3, "a": {"c": 0, "c": 5}}})");
  EXPECT_EQ(render("{{ x | tojson }}|{{ x | length }}", vars), "{\"a\": {\"c\": 5}, \"b\": 3}|2");
}

// A dict literal takes any hashable key, as Python's dict: ints, floats, bools, None and strings
// (QA: `{0: 0, 512: 128}` was "dict keys must be strings, not int"). 1, 1.0 and True are one key
// (its first object, its last value); 'a' and 1 are two; lookups, `in`, iteration, items,
// dictsort and repr give the keys back as they are. Expected values as Jinja2 3.1.6 renders them.
TEST(Jinja, DictKeysOfAnyHashableType) {
  EXPECT_EQ(render("{{ {0: 0, 512: 128}[512] }}|{{ {0: 0, 512: 128} }}"), "128|{0: 0, 512: 128}");
  EXPECT_EQ(render("{{ {1: 'a', 1.0: 'b', true: 'c'} }}|{{ {true: 'a', 1: 'b'} }}|"
                   "{{ {1.0: 'a', 1: 'b'} }}|{{ {1: 2, true: 3}|length }}"),
            "{1: 'c'}|{True: 'b'}|{1.0: 'b'}|1");
  EXPECT_EQ(render("{{ {1.5: 'a', 'a': 1, none: 2, false: 3, 'n': 4} }}|{{ {x: 1} }}|"
                   "{{ {-0.0: 1} }}|{{ {0: 1, -0.0: 2} }}"),
            "{1.5: 'a', 'a': 1, None: 2, False: 3, 'n': 4}|{Undefined: 1}|{-0.0: 1}|{0: 2}");
  EXPECT_EQ(render("{{ {'a': 1, 1: 2}['a'] }}|{{ {'a': 1, 1: 2}[1] }}|{{ {'1': 1, 1: 2}['1'] }}|"
                   "{{ {'1': 1, 1: 2}[1] }}|{{ {0: 'z'}[false] }}|{{ {0: 'z'}[0.0] }}|"
                   "{{ {0: 'z'}.get(0) }}|{{ {0: 'z'}.get('0') }}|{{ {0: 'z'}.get(1, 'd') }}|"
                   "{{ {none: 'n'}[none] }}|{{ {'x': 1, 2: 3}.x }}"),
            "1|2|1|2|z|z|z|None|d|n|1");
  // A missing key, or an unhashable one, is undefined as Jinja's getitem gives it.
  EXPECT_EQ(render("{{ {1: 2}[3] }}|{{ {'a': 1}[3] }}|{{ {1: 2}[[1]] }}|{{ {1: 2}['1'] }}|"
                   "{{ {1: 2}.get(2) }}"),
            "||||None");
  EXPECT_EQ(render("{{ 512 in {512: 1} }}|{{ 512.0 in {512: 1} }}|{{ '512' in {512: 1} }}|"
                   "{{ true in {1: 2} }}|{{ 'a' in {1: 2, 'a': 3} }}|{{ 2 not in {1: 2} }}"),
            "True|True|False|True|True|True");
  EXPECT_EQ(render("{% for k in {1: 'a', 2.5: 'b', none: 'c', true: 'd'} %}"
                   "{{ k }}:{{ k is integer }};{% endfor %}"),
            "1:True;2.5:False;None:False;");
  EXPECT_EQ(
      render("{% for k, v in {2: 'a', 1: 'b'}.items() %}{{ k + 1 }}={{ v }};{% endfor %}|"
             "{{ {2: 'a', 1: 'b'}.keys()|list }}|{{ {2: 'a', 1: 'b'}|items|map('first')|list }}"),
      "3=a;2=b;|[2, 1]|[2, 1]");
  EXPECT_EQ(
      render("{% for k, v in {2: 'a', 1: 'b', 1.5: 'c'}|dictsort %}{{ k }}{{ v }} {% endfor %}"),
      "1b 1.5c 2a ");
  EXPECT_EQ(render("{{ {1: 2} == {1.0: 2} }}|{{ {1: 2} == {'1': 2} }}|"
                   "{{ {'a': 1, 2: 3} == {2: 3, 'a': 1} }}|{{ {'a': 1} == {'a': 1, 2: 3} }}"),
            "True|False|True|False");
  EXPECT_EQ(render("{{ dict({1: 2}, a=3) }}|"
                   "{% set ns = namespace({1: 2}) %}{% set ns.b = 3 %}{{ ns.b }}"),
            "{1: 2, 'a': 3}|3");
}

// tojson writes a key as json.dumps does: an int, float, bool or None as the string of its JSON
// (values as Python's json.dumps gives them).
TEST(Jinja, ToJsonOfDictKeysThatAreNotStrings) {
  EXPECT_EQ(render("{{ {1: 2, true: 3}|tojson }}"), "{\"1\": 3}");
  EXPECT_EQ(render("{{ {1: 2, 2.5: 3, false: 4, none: 5, 'x': 6, 1e20: 7}|tojson }}"),
            "{\"1\": 2, \"2.5\": 3, \"false\": 4, \"null\": 5, \"x\": 6, \"1e+20\": 7}");
  EXPECT_EQ(render("{{ {2: 1, 1.5: 2, true: 3}|tojson(sort_keys=true) }}"),
            "{\"true\": 3, \"1.5\": 2, \"2\": 1}");
  EXPECT_EQ(render("{{ {1: 2, '1': 3}|tojson }}"), "{\"1\": 2, \"1\": 3}");
  EXPECT_EQ(render("{{ {1: {2: 3}}|tojson(indent=2) }}"), "{\n  \"1\": {\n    \"2\": 3\n  }\n}");
}

// The shape of ByteDance Seed-OSS's template: a dict of int thinking-budget thresholds, walked
// with dictsort and looked up by an int (QA: it failed on every conversation). Expected values as
// Jinja2 3.1.6 renders this template.
TEST(Jinja, SeedOssThinkingBudgetTable) {
  const std::string source =
      "{%- if not thinking_budget is defined %}{%- set thinking_budget = -1 -%}{%- endif -%}\n"
      "{%- set budgets = {0: 0, 512: 128, 1024: 256, 2048: 512, 4096: 512, 8192: 1024,"
      " 16384: 1024} -%}\n"
      "{%- set ns = namespace(interval=none) -%}\n"
      "{%- for k, v in budgets|dictsort -%}\n"
      "{%- if ns.interval is none and thinking_budget <= k -%}{%- set ns.interval = v -%}"
      "{%- endif -%}\n"
      "{%- endfor -%}\n"
      "{%- if ns.interval is none -%}{%- set ns.interval = budgets[16384] -%}{%- endif -%}\n"
      "budget {{ thinking_budget }}, reflect every {{ ns.interval }}; {{ budgets[512] }}\n";
  EXPECT_EQ(render(source), "budget -1, reflect every 0; 128");
  EXPECT_EQ(render(source, {{"thinking_budget", 512}}), "budget 512, reflect every 128; 128");
  EXPECT_EQ(render(source, {{"thinking_budget", 600}}), "budget 600, reflect every 256; 128");
  EXPECT_EQ(render(source, {{"thinking_budget", 100000}}),
            "budget 100000, reflect every 1024; 128");
}

// int of a number beyond int64 is an OverflowError (Jinja's would be a big integer), never a
// wrong number; round with a precision past the doubles' leaves the number as Python does.
TEST(Jinja, IntAndRoundAtTheLimits) {
  const std::string overflow = "error: OverflowError: integer result too large (line 1, column ";
  EXPECT_EQ(render("{{ '99999999999999999999999'|int }}"), overflow + "30)");
  EXPECT_EQ(render("{{ ' -99999999999999999999999 '|int(5) }}"), overflow + "33)");
  EXPECT_EQ(render("{{ 1e300|int }}"), overflow + "10)");
  EXPECT_EQ(render("{{ '1e300'|int }}"), overflow + "12)");
  EXPECT_EQ(render("{{ 9.3e18|int }}"), overflow + "11)");
  EXPECT_EQ(render("{{ x|int }}", {{"x", std::numeric_limits<double>::infinity()}}),
            "error: OverflowError: cannot convert float infinity to integer (line 1, column 6)");
  EXPECT_EQ(render("{{ 'inf'|int(3) }} {{ 'nan'|int(7) }} {{ -9.2233720368547758e18|int }} "
                   "{{ 9.2e18|int }} {{ '9223372036854775807'|int }} "
                   "{{ '-9223372036854775808'|int }} {{ ' 4_2 '|int }} {{ '-42.9'|int }}"),
            "3 7 -9223372036854775808 9200000000000000000 9223372036854775807 "
            "-9223372036854775808 42 -42");
  EXPECT_EQ(render("{{ 1e300|round(400) }} {{ 1e300|round(100) }} {{ 1e300|round(-400) }} "
                   "{{ (-5.0)|round(-400) }} {{ 0.1|round(17) }} "
                   "{{ 123.456|round(-1) }} {{ 1.5e16|round(1) }} {{ 2.5|round }} "
                   "{{ 2.61|round(1, 'floor') }} {{ 2.61|round(1, 'ceil') }}"),
            "1e+300 1e+300 0.0 -0.0 0.1 120.0 1.5e+16 2.0 2.6 2.7");
}

// round is Python's round(value, precision): the exact binary value rounded half to even (2.675
// is 2.67499999999999982236431605997495353221893310546875), an integer staying an integer; ceil
// and floor divide the integer they give exactly (no -0.0, no error from x * 10**p divided back).
TEST(Jinja, RoundAsPython) {
  EXPECT_EQ(render("{{ 2.675|round(2) }} {{ 0.5|round }} {{ 1.5|round }} {{ 2.5|round }} "
                   "{{ (-0.5)|round }} {{ 0.45|round(1) }} {{ 18.63675|round(4) }} "
                   "{{ (-63.355)|round(2) }} {{ 150.0|round(-2) }} {{ 250.0|round(-2) }} "
                   "{{ 251.0|round(-2) }} {{ x|round(323) }} {{ x|round(324) }}",
                   {{"x", 5e-324}}),
            "2.67 0.0 2.0 2.0 -0.0 0.5 18.6367 -63.35 200.0 200.0 300.0 0.0 5e-324");
  EXPECT_EQ(render("{{ 3|round }} {{ true|round }} {{ 150|round(-2) }} {{ 250|round(-2) }} "
                   "{{ (-250)|round(-2) }} {{ (-251)|round(-2) }} {{ 1234|round(-20) }} "
                   "{{ (-5)|round(-1) }} {{ (-15)|round(-1) }} {{ 3|round(2, 'ceil') }}"),
            "3 1 200 200 -200 -300 0 0 -20 3.0");
  EXPECT_EQ(render("{{ (-0.3)|round(method='ceil') }} {{ (-0.0)|round(method='floor') }} "
                   "{{ 2.61|round(1, 'floor') }} {{ 1e300|round(5, 'floor') }} "
                   "{{ 1234.5|round(-2, 'ceil') }} {{ (-1234.5)|round(-2, 'ceil') }}"),
            "0.0 0.0 2.6 1.0000000000000002e+300 1300.0 -1200.0");
  EXPECT_EQ(render("{{ 9223372036854775807|round(-19) }}"),
            "error: OverflowError: integer result too large (line 1, column 24)");
  EXPECT_EQ(render("{{ 1.7976931348623157e308|round(-308) }}"),
            "error: OverflowError: rounded value too large to represent (line 1, column 27)");
  EXPECT_EQ(render("{{ 1e300|round(10, 'ceil') }}"),
            "error: OverflowError: cannot convert float infinity to integer (line 1, column 10)");
  EXPECT_EQ(render("{{ 1.0|round(309, 'ceil') }}"),
            "error: OverflowError: int too large to convert to float (line 1, column 8)");
  EXPECT_EQ(
      render("{{ 2.5|round(1.5) }}"),
      "error: TypeError: 'float' object cannot be interpreted as an integer (line 1, column 8)");
}

// wordcount is len(re.findall(r"\w+", s)): runs of letters, numbers (any script) and '_'; a
// combining mark is no word character.
TEST(Jinja, WordcountCountsWordCharacterRuns) {
  EXPECT_EQ(render("{{ 'hello, world!'|wordcount }} {{ 'a-b c'|wordcount }} {{ '  '|wordcount }} "
                   "{{ 'café naïve'|wordcount }} {{ 'x_y'|wordcount }} {{ ''|wordcount }} "
                   "{{ '١٢٣ ½ Ⅻ'|wordcount }} {{ '日本語 テスト'|wordcount }} "
                   "{{ 'e\u0301x'|wordcount }} {{ 'a\u00adb'|wordcount }} {{ 42|wordcount }}"),
            "2 3 0 2 1 0 3 2 2 2 1");
}

// Builtins bind their arguments as Jinja2 3.1's filters and tests and Python's methods do:
// keyword arguments by their parameters' names, select's and map's extra arguments passed on
// to the test or filter they name (each expected value is Jinja2 3.1.6's).
TEST(Jinja, BuiltinsTakeTheirArgumentsAsJinja) {
  EXPECT_EQ(render("{{ 'a,b,c'.split(',', maxsplit=1) }} {{ 'a,b'.split(sep=',') }} "
                   "{{ 1 is sameas(other=1) }} {{ 'a'|default(default_value='b') }} "
                   "{{ [1, 2]|sum(start=3) }} {{ [1, 2]|join(d='-') }} {{ '11'|int(0, 2) }} "
                   "{{ 'abc'|trim(chars='a') }} {{ 'x'|tojson(indent=2) }}"),
            "['a', 'b,c'] ['a', 'b'] True a 6 1-2 3 bc \"x\"");
  EXPECT_EQ(render("{{ [1, 2, 3]|select('divisibleby', num=2)|list }} "
                   "{{ [1, 2, 3]|reject('divisibleby', num=2)|list }} "
                   "{{ [{'a': 1}, {'a': 2}]|selectattr('a', 'eq', 2)|list }} "
                   "{{ ['a', 'b']|map('replace', 'a', 'c', count=1)|list }} "
                   "{{ [{'a': 1}, {}]|map(attribute='a', default=0)|list }} "
                   "{{ [{'a': 1}, {}]|map(attribute='a', default=none)|list }} "
                   "{{ [1, 2, 3]|select(x=1)|list }}"),
            "[2] [1, 3] [{'a': 2}] ['c', 'b'] [1, 0] [1, Undefined] [1, 2, 3]");
  // Integer arguments as Python takes them: a bool is 0 or 1; replace's count none is all.
  EXPECT_EQ(render("{{ 'aaa'|replace('a', 'b', none) }} {{ 'aaa'|replace('a', 'b', true) }} "
                   "{{ 'abc'|center(true) }}|{{ 'abc'|center(7) }}|{{ 'a\\nb'|indent(true) }}|"
                   "{{ 'a\\nb'|indent(2000)|length }}"),
            "bbb baa abc|  abc  |a\n b|2003");
  // round(x, none) is Python's round(x): an integer, half to even.
  EXPECT_EQ(render("{{ 2.5|round(none) }} {{ 3.5|round(none) }} {{ 3|round(none) }} "
                   "{{ (-2.5)|round(precision=none) }}"),
            "2 4 3 -2");
  // trim takes any value as Jinja's soft_str gives it (each Jinja2 3.1.6's).
  EXPECT_EQ(render("[{{ x|trim }}] [{{ none|trim }}] [{{ 12|trim('1') }}] [{{ [' a ']|trim }}] "
                   "[{{ {'d': 1}.d|trim }}] [{{ {}.description|trim }}]"),
            "[] [None] [2] [[' a ']] [1] []");
  // The undefined value's repr, as in a list: Jinja's "Undefined".
  EXPECT_EQ(render("{{ [x] }} {{ {'a': x} }} {{ x|pprint }}"),
            "[Undefined] {'a': Undefined} Undefined");
}

// The start and end of str.startswith, endswith, find, rfind, index, rindex and count: slice
// indices over code points as CPython adjusts them (each expected value is Python 3.11's).
TEST(Jinja, SearchMethodsTakeStartAndEnd) {
  EXPECT_EQ(render("{{ 'abc'.startswith('b', 1) }} {{ 'abc'.startswith('a', 1) }} "
                   "{{ 'abc'.startswith('', 3) }} {{ 'abc'.startswith('', 4) }} "
                   "{{ 'abc'.startswith(('x', 'b'), 1, 2) }} {{ 'abc'.startswith('bc', 1, 2) }} "
                   "{{ 'abc'.endswith('b', 0, 2) }} {{ 'abc'.endswith('c', -1) }} "
                   "{{ 'abc'.endswith('a', 0, -2) }} {{ 'abc'.endswith('', 5, 1) }} "
                   "{{ 'abc'.endswith('c', none, none) }}"),
            "True False True False True False True True True False True");
  EXPECT_EQ(render("{{ 'aXbXc'.find('X', 2) }} {{ 'aXbXc'.find('X', -2) }} "
                   "{{ 'aXbXc'.find('X', 2, 3) }} {{ 'aXbXc'.rfind('X', 0, 3) }} "
                   "{{ 'abc'.find('', 3) }} {{ 'abc'.find('', 4) }} {{ 'abc'.find('', -10) }} "
                   "{{ 'abc'.find('b', true) }} {{ 'héllo wörld'.find('ö', 5) }} "
                   "{{ 'héllo wörld'.rfind('l', 0, 5) }} {{ 'héllo wörld'.index('l', 3) }} "
                   "{{ 'aaa'.count('a', 1) }} {{ 'aaa'.count('', 1) }} {{ 'aaa'.count('', 4) }} "
                   "{{ 'aaa'.count('a', -2, -1) }}"),
            "3 3 -1 1 3 -1 0 1 7 3 3 2 3 0 1");
  EXPECT_EQ(render("{{ 'abc'.rindex('c', 0, 2) }}"),
            "error: ValueError: substring not found (line 1, column 16)");
}

// str.splitlines at Python's line boundaries, with keepends (each expected value is Python's).
TEST(Jinja, SplitlinesAsPython) {
  EXPECT_EQ(render("{{ 'a\\r\\nb\\rc\\x0bd\\x0ce\\x1cf\\x85g\\u2028h\\u2029i\\n'.splitlines() }}"),
            "['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']");
  EXPECT_EQ(render("{{ 'a\\r\\nb\\n\\nc'.splitlines(true) }} "
                   "{{ 'a\\r\\nb'.splitlines(keepends=true) }} {{ ''.splitlines() }} "
                   "{{ '\\n'.splitlines() }} {{ 'a\\n\\r'.splitlines() }}"),
            "['a\\r\\n', 'b\\n', '\\n', 'c'] ['a\\r\\n', 'b'] [] [''] ['a', '']");
}

// truncate, batch, slice and center as Jinja2 3.1.6's filters (each expected value is its).
TEST(Jinja, TruncateBatchSliceAndCenterAsJinja) {
  EXPECT_EQ(render("{{ 'foo bar baz qux'|truncate(9) }}|{{ 'foo bar baz qux'|truncate(9, True) }}|"
                   "{{ 'foo bar baz qux'|truncate(11) }}|"
                   "{{ 'foo bar baz qux'|truncate(11, False, '...', 0) }}"),
            "foo...|foo ba...|foo bar baz qux|foo bar...");
  // Lengths count code points; the cut goes back to the last space (only ' ').
  EXPECT_EQ(render("{{ 'héllo wörld ünïcode'|truncate(10, leeway=0) }}|"
                   "{{ 'héllo wörld ünïcode'|truncate(10, true, leeway=0) }}|"
                   "{{ 'héllo wörld'|truncate(6) }}|{{ 'ab  cd  ef'|truncate(7, false, '!', 0) }}|"
                   "{{ 'a\\tb\\tc\\td'|truncate(6, false, '!', 0) }}"),
            "héllo...|héllo w...|héllo wörld|ab !|a\tb\tc!");
  EXPECT_EQ(render("{{ 'abcdefghij'|truncate(3, leeway=0) }}|"
                   "{{ 'abcdefghij'|truncate(4, end='', leeway=0) }}|"
                   "{{ 'abcdefghij'|truncate(4, true, '…', 0) }}|"
                   "{{ 'abcdefghij'|truncate(5, leeway=none) }}|"
                   "{{ 'abcdefghijk'|truncate(5, leeway=none) }}|"
                   "{{ 'abcdefghij'|truncate(4, leeway=1.5) }}|{{ 'abc'|truncate(5.5, leeway=0) }}|"
                   "{{ 'abcdefghij'|truncate(true, end='', leeway=0) }}|"
                   "{{ 'abcdefghij'|truncate(9223372036854775807) }}|"
                   "{{ 'abcdefghij'|truncate(4, leeway=9223372036854775807) }}"),
            "...|abcd|abc…|abcdefghij|ab...|a...|abc|a|abcdefghij|abcdefghij");
  EXPECT_EQ(render("{{ ('x' * 300)|truncate|length }}|{{ ('x' * 260)|truncate|length }}|"
                   "{{ x|truncate }}|{{ [1, 2]|truncate(5) }}|"
                   "{{ [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]|truncate(4, true, [0], 0) }}"),
            "255|260||[1, 2]|[1, 2, 3, 0]");
  // batch and slice give lists of lists (Jinja's generators, listed).
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5]|batch(2)|list }}|{{ [1, 2, 3, 4, 5]|batch(2, 'x')|list }}|"
                   "{{ [1, 2, 3, 4]|batch(2, 'x')|list }}|{{ []|batch(3)|list }}|"
                   "{{ 'héllo'|batch(2)|list }}|{{ {'a': 1, 'b': 2, 'c': 3}|batch(2)|list }}|"
                   "{{ x|batch(2)|list }}|{{ [1, 2]|batch(5, none)|list }}|"
                   "{{ [1, 2]|batch(5, 0)|list }}"),
            "[[1, 2], [3, 4], [5]]|[[1, 2], [3, 4], [5, 'x']]|[[1, 2], [3, 4]]|[]|"
            "[['h', 'é'], ['l', 'l'], ['o']]|[['a', 'b'], ['c']]|[]|[[1, 2]]|[[1, 2, 0, 0, 0]]");
  // linecount compared as Python compares it: one no length equals leaves one list.
  EXPECT_EQ(render("{{ [1, 2, 3]|batch(0)|list }}|{{ [1, 2, 3]|batch(-1)|list }}|"
                   "{{ [1, 2, 3]|batch(1.5)|list }}|{{ [1, 2, 3]|batch(true)|list }}|"
                   "{{ [1, 2, 3]|batch(2.0)|list }}|{{ [1, 2, 3]|batch('a')|list }}|"
                   "{{ [1, 2, 3]|batch(none)|list }}|{{ [1, 2, 3]|batch(2, fill_with='-')|list }}|"
                   "{{ [1, 2, 3]|batch(linecount=1)|list }}"),
            "[[], [1, 2, 3]]|[[1, 2, 3]]|[[1, 2, 3]]|[[1], [2], [3]]|[[1, 2], [3]]|[[1, 2, 3]]|"
            "[[1, 2, 3]]|[[1, 2], [3, '-']]|[[1], [2], [3]]");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5, 6, 7]|slice(3)|list }}|"
                   "{{ [1, 2, 3, 4, 5, 6, 7]|slice(3, 'x')|list }}|"
                   "{{ [1, 2, 3, 4, 5, 6]|slice(3, 'x')|list }}|{{ [1, 2]|slice(4)|list }}|"
                   "{{ [1, 2]|slice(4, 0)|list }}|{{ []|slice(2)|list }}|"
                   "{{ 'héllo'|slice(2)|list }}|{{ x|slice(2)|list }}"),
            "[[1, 2, 3], [4, 5], [6, 7]]|[[1, 2, 3], [4, 5, 'x'], [6, 7, 'x']]|"
            "[[1, 2, 'x'], [3, 4, 'x'], [5, 6, 'x']]|[[1], [2], [], []]|[[1], [2], [0], [0]]|"
            "[[], []]|[['h', 'é', 'l'], ['l', 'o']]|[[], []]");
  EXPECT_EQ(render("{{ [1, 2, 3]|slice(-1)|list }}|{{ [1, 2, 3]|slice(true)|list }}|"
                   "{{ [1, 2, 3]|slice(slices=2, fill_with='z')|list }}|"
                   "{{ {'a': 1, 'b': 2, 'c': 3}|slice(2)|list }}|"
                   "{% for column in range(10)|slice(3) %}{{ column|join(',') }};{% endfor %}"),
            "[]|[[1, 2, 3]]|[[1, 2], [3, 'z']]|[['a', 'b'], ['c']]|0,1,2,3;4,5,6;7,8,9;");
  EXPECT_EQ(render("{{ 'é'|center(4) }}|{{ 'ab'|center(5) }}|{{ 'abc'|center(6) }}|"
                   "{{ x|center(3) }}|{{ none|center(6) }}|{{ [1]|center(5) }}|"
                   "{{ 'abc'|center(-5) }}|{{ 'abc'|center(width=7) }}"),
            " é  |  ab | abc  |   | None | [1] |abc|  abc  ");
}

// str.center, ljust, rjust, zfill, partition and rpartition as Python's (each expected value is
// Jinja2 3.1.6's; partition's tuple is a list here, so the tests join or index it).
TEST(Jinja, PaddingAndPartitionMethodsAsPython) {
  EXPECT_EQ(render("{{ 'ab'.center(5) }}|{{ 'ab'.center(5, '*') }}|{{ 'abc'.center(6, 'é') }}|"
                   "{{ 'é'.center(4, '→') }}|{{ 'ab'.ljust(5, '·') }}|{{ 'ab'.rjust(5) }}|"
                   "{{ 'ab'.rjust(-1) }}|{{ 'ab'.ljust(true, 'x') }}|{{ 'abc'.center(2) }}|"
                   "{{ ''.rjust(3, '0') }}"),
            "  ab |**ab*|éabcéé|→é→→|ab···|   ab|ab|ab|abc|000");
  EXPECT_EQ(render("{{ 'ab'.zfill(5) }}|{{ '-42'.zfill(5) }}|{{ '+42'.zfill(5) }}|"
                   "{{ '-'.zfill(3) }}|{{ 'é'.zfill(3) }}|{{ ''.zfill(2) }}|{{ '42'.zfill(-1) }}|"
                   "{{ '--4'.zfill(5) }}|{{ '3.5'.zfill(6) }}"),
            "000ab|-0042|+0042|-00|00é|00|42|-00-4|0003.5");
  EXPECT_EQ(render("{{ 'a=b=c'.partition('=')|join('|') }};"
                   "{{ 'a=b=c'.rpartition('=')|join('|') }};{{ 'abc'.partition('=')|join('|') }};"
                   "{{ 'abc'.rpartition('=')|join('|') }};"
                   "{{ 'héllo→wörld→!'.partition('→')|join('|') }};"
                   "{{ 'héllo→wörld→!'.rpartition('→')|join('|') }};"
                   "{{ ''.partition('x')|length }};{{ 'a::b'.partition('::')[2] }}"),
            "a|=|b=c;a=b|=|c;abc||;||abc;héllo|→|wörld→!;héllo→wörld|→|!;3;b");
  EXPECT_EQ(render("{% set head, sep, tail = 'key: value: more'.partition(': ') %}"
                   "{{ head }}/{{ sep }}/{{ tail }}"),
            "key/: /value: more");
}

// wordwrap as Jinja2 3.1.6's (Python 3.11's textwrap: chunks at whitespace and at hyphens
// between letters, long words broken after a hyphen where one fits, whitespace dropped at line
// ends; each expected value is Jinja2's, and 30 000 random cases agreed with it).
TEST(Jinja, WordwrapAsJinja) {
  EXPECT_EQ(render("{{ 'Lorem ipsum dolor sit amet, consectetur adipiscing elit'|wordwrap(20) }}"),
            "Lorem ipsum dolor\nsit amet,\nconsectetur\nadipiscing elit");
  EXPECT_EQ(
      render("{{ 'the quick brown fox'|wordwrap(10, wrapstring='<br>') }}|"
             "{{ 'a well-known, state-of-the-art fix'|wordwrap(8) }}|"
             "{{ 'a well-known, state-of-the-art fix'|wordwrap(8, break_on_hyphens=false) }}"),
      "the quick<br>brown fox|a well-\nknown,\nstate-\nof-the-\nart fix|"
      "a well-k\nnown, st\nate-of-t\nhe-art\nfix");
  EXPECT_EQ(render("{{ 'abcdefghijklmnop'|wordwrap(5) }}|"
                   "{{ 'abcdefghijklmnop'|wordwrap(5, false) }}|"
                   "{{ 'xx abcdefghijklmnop yy'|wordwrap(5, false) }}|"
                   "{{ '---abc-defghij'|wordwrap(6) }}"),
            "abcde\nfghij\nklmno\np|abcdefghijklmnop|xx\nabcdefghijklmnop\nyy|---abc\n-defgh\nij");
  // Widths count code points; each line of the text (str.splitlines) is wrapped alone.
  EXPECT_EQ(
      render("{{ 'héllo wörld ünïcode ça'|wordwrap(6) }}|"
             "{{ 'one\\ntwo three\\r\\n\\nfour'|wordwrap(5) }}|"
             "{{ '   lead  and  trail   '|wordwrap(6) }}|{{ ''|wordwrap(0) }}|"
             "{{ 'wait—what--now'|wordwrap(5) }}"),
      "héllo\nwörld \nünïcod\ne ça|one\ntwo\nthree\n\nfour|lead\nand\ntrail||wait—\nwhat\n--now");
  // A float width under 1 breaks after every code point; break_on_hyphens=1 (not True) chunks
  // at whitespace only but still breaks long words at hyphens.
  EXPECT_EQ(render("{{ 'abc def'|wordwrap(0.5) }}|{{ 'abc def'|wordwrap(2.5, false) }}|"
                   "{{ 'abc def'|wordwrap(true) }}|{{ 'a b'|wordwrap(1, break_on_hyphens=1) }}|"
                   "{{ 'ab-cd-ef'|wordwrap(4, break_on_hyphens=1) }}"),
            "a\nb\nc\nd\ne\nf|abc\ndef|a\nb\nc\nd\ne\nf|a\nb|ab-\ncd-\nef");
  EXPECT_EQ(render("{{ ('word ' * 30)|wordwrap|length }}"), "149");
}

TEST(Jinja, GenerationTagRendersItsBody) {
  EXPECT_EQ(render("{% generation %}a{% endgeneration %}"), "a");
}

}  // namespace
}  // namespace gengyun::chat
