// tandem's Jinja interpreter on its own: whitespace control as HF configures jinja2, Python's
// values and formatting, the statements chat templates use, and clear errors (with the line)
// for what it cannot parse or render. Whole real templates are checked byte for byte against
// jinja2 by tests/reference/chat_template_check.py.
#include <gtest/gtest.h>

#include "model/jinja/template.h"

namespace tandem::jinja {
namespace {

std::string render(const std::string& source, const Dict& context = {}) { return Template(source).render(context); }

std::string error_of(const std::string& source, const Dict& context = {}) {
  try {
    render(source, context);
  } catch (const TemplateError& e) { return e.what(); }
  return "(no error)";
}

TEST(Jinja, WhitespaceControlIsHuggingFaces) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before it goes.
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(render("a\n    {% if true %}b{% endif %}"), "a\nb");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("a\n\n{%- if true -%}\n\n b {%- endif %}"), "ab");
  EXPECT_EQ(render("x {# a comment #}\ny"), "x y");
  EXPECT_EQ(render("  {%+ if true %}k{% endif %}"), "  k");
  EXPECT_EQ(render("{% raw %}{{ not parsed }}{% endraw %}"), "{{ not parsed }}");
}

TEST(Jinja, ValuesPrintAsPythonsDo) {
  EXPECT_EQ(render("{{ none }} {{ true }} {{ 1.0 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 / 2 }}"),
            "None True 1.0 1e+20 0.30000000000000004 3 -4 3.5");
  EXPECT_EQ(render("{{ [1, 'a', none] }} {{ {'k': \"it's\"} }}"), "[1, 'a', None] {'k': \"it's\"}");
  EXPECT_EQ(render("{{ undefined_name }}|{{ x.y is defined }}", {{"x", Value(Dict{})}}), "|False");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"), "a1None abab 2 1024");
}

TEST(Jinja, TojsonIsHuggingFacesJsonDumps) {
  const Dict context = {
      {"t", Value::from_json(nlohmann::ordered_json::parse(R"({"z": 1, "a": [true, null, "é\n"]})"))}};
  EXPECT_EQ(render("{{ t | tojson }}", context), R"({"z": 1, "a": [true, null, "é\n"]})");
  EXPECT_EQ(render("{{ t | tojson(indent=2) }}", context),
            "{\n  \"z\": 1,\n  \"a\": [\n    true,\n    null,\n    \"é\\n\"\n  ]\n}");
  EXPECT_EQ(render("{{ t | tojson(sort_keys=true, separators=(',', ':')) }}", context),
            R"({"a":[true,null,"é\n"],"z":1})");
  EXPECT_EQ(render("{{ 'é😀' | tojson(ensure_ascii=true) }}"), R"("\u00e9\ud83d\ude00")");
}

TEST(Jinja, StatementsAndScopesAsJinja2) {
  EXPECT_EQ(render("{% for x in [3, 4, 5] if x != 4 %}{{ loop.index }}/{{ loop.length }}:{{ x }}"
                   "{% if not loop.last %},{% endif %}{% endfor %}"),
            "1/2:3,2/2:5");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  // A set inside a loop stays there; a namespace carries state out.
  EXPECT_EQ(render("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for x in [1, 2] %}{% set n = n + x %}"
                   "{% set ns.n = ns.n + x %}{% endfor %}{{ n }} {{ ns.n }}"),
            "0 3");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 1 %}{% continue %}{% endif %}{% if x > 3 %}{% break %}"
                   "{% endif %}{{ x }}{% endfor %}"),
            "023");
  EXPECT_EQ(render("{% macro tag(name, v='x') %}<{{ name }}={{ v }}>{% endmacro %}{{ tag('a') }}{{ tag('b', v=2) }}"),
            "<a=x><b=2>");
  EXPECT_EQ(render("{% set block %}in {{ 1 + 1 }}{% endset %}[{{ block }}]"), "[in 2]");
  EXPECT_EQ(render("{{ 'a' if false }}|{{ 'b' if false else 'c' }}"), "|c");
}

TEST(Jinja, FiltersTestsAndMethodsChatTemplatesUse) {
  const Dict context = {
      {"messages", Value::from_json(nlohmann::ordered_json::parse(
                       R"([{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}])"))}};
  EXPECT_EQ(
      render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('|') }}", context),
      " hi ");
  EXPECT_EQ(
      render("{{ messages[0].content | trim }}|{{ messages[-1]['content'] | upper }}|{{ messages | length }}", context),
      "hi|YO|2");
  EXPECT_EQ(render("{{ messages[1:] | map(attribute='role') | list }}", context), "['assistant']");
  EXPECT_EQ(render("{{ 'a</think>b'.split('</think>')[-1] }} {{ 'abc'[::-1] }} {{ 'x y  z'.split() }}"),
            "b cba ['x', 'y', 'z']");
  EXPECT_EQ(render("{{ 'Hello'.startswith('He') }} {{ ' x '.strip() }}| {{ '{}-{name}'.format(1, name='n') }}"),
            "True x| 1-n");
  EXPECT_EQ(render("{{ x is string }} {{ x is not none }} {{ 3 is divisibleby 3 }} {{ [] is iterable }}",
                   {{"x", Value("s")}}),
            "True True True True");
  EXPECT_EQ(render("{{ ('<b>' | safe) + '<i>' }} {{ none | default('d') }} {{ undefined | default('d') }}"),
            "<b>&lt;i&gt; None d");
}

TEST(Jinja, ErrorsNameTheLineAndTheReason) {
  EXPECT_EQ(error_of("{{ raise_exception('roles must alternate') }}"), "roles must alternate");
  EXPECT_EQ(error_of("line one\n{% if x %}never closed"),
            "chat template: the template ends where {% elif or else or endif %} was expected");
  EXPECT_EQ(error_of("a\n\n{{ x | frobnicate }}"),
            "the chat template uses the filter 'frobnicate', which tandem does not support");
  EXPECT_EQ(error_of("\n{{ 'unclosed }}"), "chat template line 2: a string is never closed");
  EXPECT_EQ(error_of("{% call x() %}{% endcall %}"), "chat template line 1: the statement {% call %} is not supported");
  EXPECT_EQ(error_of("{{ 1 + 'a' }}"), "chat template line 1: unsupported operand types for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ m.content }}"), "chat template line 1: 'm' is undefined (reading .content)");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "chat template line 1: integer overflow in +");
  // Found by fuzz_chat_template:
  EXPECT_EQ(error_of("{{ '4'[] }}"), "chat template line 1: an empty subscript []");
  EXPECT_EQ(error_of("{{ " + std::string(100000, '(') + " }}"),
            "chat template line 1: expressions nested more than 64 deep");
  EXPECT_EQ(error_of("{{ " + std::string(100000, '-') + "1 }}"),
            "chat template line 1: expressions nested more than 64 deep");
  std::string sum = "{{ 1";
  for (int i = 0; i < 1000; ++i) sum += " + 1";
  EXPECT_EQ(error_of(sum + " }}"), "chat template line 1: an expression more than 256 levels deep");
  EXPECT_EQ(error_of("{% set ns = namespace() %}{% set ns.me = [1, {'a': ns}] %}"),
            "chat template line 1: a namespace cannot hold itself");
  EXPECT_EQ(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                     "{{ ns.x | tojson }}"),
            "a value nested more than 128 deep (or holding itself)");
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += "{% if true %}";
  EXPECT_EQ(error_of(deep), "chat template line 1: statements nested more than 128 deep");
  EXPECT_THROW(Value::from_json(nlohmann::ordered_json::parse(std::string(200, '[') + std::string(200, ']'))),
               TemplateError);  // a client's tools nested past 128 levels
  EXPECT_EQ(error_of("{{ 99999999999999999999 }}"), "chat template: stoll");
  EXPECT_EQ(render("{{ 1e300 | int }}"), "9223372036854775807");
}

TEST(Jinja, ATemplateGoneWrongIsStoppedNotFollowed) {
  EXPECT_EQ(error_of("{{ range(100000000) }}"), "range() of more than 2^20 numbers");
  EXPECT_EQ(error_of("{% for i in range(1000) %}{% for j in range(1000) %}{{ 'x' * 100 }}{% endfor %}{% endfor %}"),
            "the chat template's output passed 64 MiB");
  EXPECT_EQ(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
            "chat template line 1: macros nested more than 64 deep");
  EXPECT_EQ(error_of("{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}"),
            "chat template line 1: the template ran for more than 10 million steps");
}

}  // namespace
}  // namespace tandem::jinja
