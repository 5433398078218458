/*
 * jinja_filters_test.c — engine/jinja: filters (wordwrap's textwrap
 * rules included), tojson, str and dict methods, and string formatting
 * (str.format specs and `%`).
 *
 * Every expected string in the tables was produced by Python Jinja2 3.1.6
 * configured as transformers configures it (see jinja_cases.h); the error
 * cases check the message names the problem as Jinja2's exception does.
 */
#include "jinja_cases.h"

/* filters — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase filters_cases[] = {
    {"{{ \"  x  \" | trim }}|{{ \"xxhixx\" | trim(\"x\") }}|{{ \"ab\" | upper }}{{ \"AB\" | lower }}{{ \"hello wORLD\" | title }}{{ \"hELLO\" | capitalize }}{{ \"a-b c(d\" | title }}",
     NULL,
     "x|hi|ABabHello WorldHelloA-B C(D"},
    {"{{ \"\303\251a\" | upper }}{{ \"\303\211A\" | lower }}{{ \"\303\251a\" | length }}{{ \"\346\227\245\346\234\254\" | length }}",
     NULL,
     "\303\211A\303\251a22"},
    {"{{ xs | length }}{{ xs | count }}{{ xs | first }}{{ xs | last }}{{ xs | join(\",\") }}{{ xs | join }}{{ [1, 2] | join(\"-\") }}{{ d | length }}{{ u | length }}",
     "{\"xs\": [\"a\", \"b\", \"c\"], \"d\": {\"k\": 1}}",
     "33aca,b,cabc1-210"},
    {"{{ \"hello\" | first }}{{ \"hello\" | last }}{{ {\"a\": 1} | first }}[{{ [] | first }}]",
     NULL,
     "hoa[]"},
    {"{{ x | default(\"d\") }}{{ \"\" | default(\"e\", true) }}{{ \"\" | d(\"f\") }}{{ none | default(\"g\") }}{{ false | default(\"h\", boolean=true) }}{{ 0 | d(\"i\") }}",
     NULL,
     "deNoneh0"},
    {"{{ \"aaa\" | replace(\"a\", \"b\") }}{{ \"aaa\" | replace(\"a\", \"b\", 2) }}{{ \"a.b\" | replace(\".\", \"\") }}",
     NULL,
     "bbbbbaab"},
    {"{{ 3 | string }}{{ none | string }}{{ [1] | string }}{{ \"12\" | int + 1 }}{{ \" 42 \" | int }}{{ \"1.9\" | int }}{{ \"x\" | int }}{{ \"x\" | int(7) }}{{ 3.9 | int }}{{ true | int }}",
     NULL,
     "3None[1]134210731"},
    {"{{ \"1.5\" | float }}{{ 42 | float }}{{ \"x\" | float }}{{ -3 | abs }}{{ -2.5 | abs }}",
     NULL,
     "1.542.00.032.5"},
    {"{{ 2.5 | round }}{{ 3.5 | round }}{{ 0.5 | round }}{{ 3.14159 | round(2) }}{{ 2.675 | round(2) }}{{ 2.7 | round(0, \"floor\") }}{{ 2.1 | round(0, \"ceil\") }}{{ 3 | round }}{{ -1.5 | round }}",
     NULL,
     "2.04.00.03.142.672.03.03-2.0"},
    {"{{ \"abc\" | list }}{{ (1, 2) | list }}{{ {\"a\": 1} | list }}{{ [3, 1, 2] | reverse | list }}{{ \"abc\" | reverse }}",
     NULL,
     "['a', 'b', 'c'][1, 2]['a'][2, 1, 3]cba"},
    {"{{ [3, 1, 2] | sort }}{{ [3, 1, 2] | sort(reverse=true) }}{{ [\"b\", \"A\", \"a\", \"B\"] | sort }}{{ [\"b\", \"A\", \"a\", \"B\"] | sort(case_sensitive=true) }}",
     NULL,
     "[1, 2, 3][3, 2, 1]['A', 'a', 'b', 'B']['A', 'B', 'a', 'b']"},
    {"{{ xs | sort(attribute=\"n\") | map(attribute=\"n\") | list }}{{ xs | sort(attribute=\"n\", reverse=true) | map(attribute=\"id\") | list }}",
     "{\"xs\": [{\"n\": 3, \"id\": \"a\"}, {\"n\": 1, \"id\": \"b\"}, {\"n\": 3, \"id\": \"c\"}]}",
     "[1, 3, 3]['a', 'c', 'b']"},
    {"{{ [\"b\", \"A\", \"a\", \"B\", \"b\"] | unique | list }}{{ [1, 2, 1] | unique | list }}{{ [\"a\", \"A\"] | unique(case_sensitive=true) | list }}",
     NULL,
     "['b', 'A'][1, 2]['a', 'A']"},
    {"{{ us | map(attribute=\"name\") | join(\",\") }}|{{ us | map(attribute=\"nick\", default=\"-\") | list }}|{{ [\"a\", \"b\"] | map(\"upper\") | list }}|{{ [1.5, 2.5] | map(\"round\") | list }}",
     "{\"us\": [{\"name\": \"a\", \"nick\": \"A\"}, {\"name\": \"b\"}]}",
     "a,b|['A', '-']|['A', 'B']|[2.0, 2.0]"},
    {"{{ [1, 2, 3, 4] | select(\"odd\") | list }}{{ [1, 2, 3, 4] | reject(\"even\") | list }}{{ [0, 1, \"\", \"x\"] | select | list }}{{ [1, 5, 9] | select(\"gt\", 4) | list }}{{ [\"a\", \"b\"] | reject(\"equalto\", \"a\") | list }}",
     NULL,
     "[1, 3][1, 3][1, 'x'][5, 9]['b']"},
    {"{{ us | selectattr(\"age\", \"gt\", 20) | map(attribute=\"name\") | list }}{{ us | rejectattr(\"admin\") | map(attribute=\"name\") | list }}{{ us | selectattr(\"admin\") | list | length }}{{ us | selectattr(\"role\", \"equalto\", \"x\") | list | length }}",
     "{\"us\": [{\"name\": \"a\", \"age\": 10, \"admin\": true, \"role\": \"x\"}, {\"name\": \"b\", \"age\": 30}]}",
     "['b']['b']11"},
    {"{{ d | items | list }}{{ d | dictsort }}{{ d | dictsort(reverse=true) }}{{ d | dictsort(by=\"value\") }}{{ u | items | list }}",
     "{\"d\": {\"b\": 1, \"a\": 2, \"C\": 0}}",
     "[('b', 1), ('a', 2), ('C', 0)][('a', 2), ('b', 1), ('C', 0)][('C', 0), ('b', 1), ('a', 2)][('C', 0), ('b', 1), ('a', 2)][]"},
    {"{{ [1, 2, 3] | sum }}{{ [1.5, 2] | sum }}{{ us | sum(attribute=\"n\") }}{{ [1, 2] | sum(start=10) }}{{ [3, 1] | max }}{{ [3, 1] | min }}{{ [\"a\", \"B\"] | max }}{{ [\"a\", \"B\"] | min }}[{{ [] | max }}]",
     "{\"us\": [{\"n\": 1}, {\"n\": 2}]}",
     "63.531331Ba[]"},
    {"{{ \"a\\nb\\n\\nc\" | indent(2) }}|{{ \"a\\nb\" | indent(2, true) }}|{{ \"a\\n\\nb\\n\" | indent(4, blank=true) }}|{{ \"a\\nb\" | indent(\"> \") }}|{{ \"x\\n\" | indent }}",
     NULL,
     "a\n  b\n\n  c|  a\n  b|a\n    \n    b\n    |a\n> b|x\n"},
    {"{{ \"%s-%d\" | format(\"a\", 3) }}|{{ \"%05.1f\" | format(3.14159) }}|{{ \"%5s|%-5s|\" | format(\"ab\", \"cd\") }}|{{ \"%x %o %%\" | format(255, 8) }}|{{ \"%s\" | format([1, \"a\"]) }}|{{ \"%r\" | format(\"q\") }}",
     NULL,
     "a-3|003.1|   ab|cd   ||ff 10 %|[1, 'a']|'q'"},
    {"{{ [1, 2, 3, 4, 5] | batch(2) | list }}{{ [1, 2, 3] | batch(2, \"x\") | list }}{{ \"a b  c_d e-f\" | wordcount }}{{ \"ab\" | center(7) }}|{{ \"abc\" | center(6) }}|",
     NULL,
     "[[1, 2], [3, 4], [5]][[1, 2], [3, 'x']]5   ab  | abc  |"},
    {"{{ \"<a href='x'>&\\\"\" | escape }}{{ \"<b>\" | e }}{{ \"<b>\" | safe }}{{ d | attr(\"x\") }}",
     "{\"d\": {}}",
     "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;b&gt;<b>"},
    {"{{ 1 if 1 else 2 | string }}{{ -1 | abs }}{{ \"AbC\" | lower | upper }}",
     NULL,
     "11ABC"},
    {"{{ 'Hello World foo bar' | truncate(9) }}|{{ 'Hello World foo bar' | truncate(9, true) }}|{{ 'Hello World' | truncate(11) }}|{{ 'Hello World!' | truncate(11) }}|{{ 'Hello World foo' | truncate(12, false, '..', 0) }}|{{ 'abcdefghij' | truncate(5, killwords=true, end='') }}|{{ 'short' | truncate }}",
     NULL,
     "Hello...|Hello ...|Hello World|Hello World!|Hello..|abcdefghij|short"},
    {"{{ 'Hello World foo bar' | truncate(3) }}|{{ 'a b c d e f g' | truncate(5) }}|{{ 'Hello World foo bar' | truncate(14, leeway=10) }}|{{ 'a\303\251 bcd efg' | truncate(6, leeway=0) }}|{{ ('x' * 300) | truncate | length }}",
     NULL,
     "...|a...|Hello World foo bar|a\303\251...|255"},
    {"{% for g in xs | groupby('a') %}{{ g.grouper }}:{{ g.list | map(attribute='b') | join(',') }};{% endfor %}|{% for k, items in xs | groupby('a') %}{{ k }}={{ items | length }} {% endfor %}|{{ xs | groupby('a') }}",
     "{\"xs\": [{\"a\": \"x\", \"b\": 1}, {\"a\": \"y\", \"b\": 2}, {\"a\": \"x\", \"b\": 3}, {\"a\": \"X\", \"b\": 4}]}",
     "x:1,3,4;y:2;|x=3 y=1 |[('x', [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 3}, {'a': 'X', 'b': 4}]), ('y', [{'a': 'y', 'b': 2}])]"},
    {"{% for k, items in xs | groupby('a', case_sensitive=true) %}{{ k }}={{ items | length }} {% endfor %}|{% for k, items in xs | groupby('c', default='none') %}{{ k }}={{ items | length }} {% endfor %}|{{ xs | groupby('n.m') | map(attribute='grouper') | list }}|{{ [] | groupby('a') }}",
     "{\"xs\": [{\"a\": \"x\", \"b\": 1, \"n\": {\"m\": 2}}, {\"a\": \"y\", \"b\": 2, \"c\": \"q\", \"n\": {\"m\": 1}}, {\"a\": \"x\", \"b\": 3, \"n\": {\"m\": 2}}, {\"a\": \"X\", \"b\": 4, \"n\": {\"m\": 0}}]}",
     "X=1 x=2 y=1 |none=3 q=1 |[0, 1, 2]|[]"},
    {"{{ [1, 2, 3, 4, 5] | slice(2) | list }}|{{ [1, 2, 3, 4, 5, 6, 7] | slice(3, 0) | list }}|{{ [1, 2] | slice(3) | list }}|{{ 'abcde' | slice(2) | list }}",
     NULL,
     "[[1, 2, 3], [4, 5]]|[[1, 2, 3], [4, 5, 0], [6, 7, 0]]|[[1], [2], []]|[['a', 'b', 'c'], ['d', 'e']]"},
    {"{{ 'a b&c/d' | urlencode }}|{{ {'a': 1, 'b c': 'x&y/z'} | urlencode }}|{{ [('q', '\303\251'), ('n', none)] | urlencode }}|{{ 42 | urlencode }}|{{ 'a+b=c?d~e_f.g-h' | urlencode }}",
     NULL,
     "a%20b%26c/d|a=1&b+c=x%26y%2Fz|q=%C3%A9&n=None|42|a%2Bb%3Dc%3Fd~e_f.g-h"},
    {"[{{ d | attr('k') }}]{% set ns = namespace(x=3) %}{{ ns | attr('x') }}{% for i in [7] %}{{ loop | attr('index') }}{% endfor %}",
     "{\"d\": {\"k\": \"v\"}}",
     "[]31"},
    {"{{ xs | min(attribute='n') }}|{{ xs | max(attribute='n') }}|{{ xs | sum(attribute='n') }}|{{ ['b', 'A', 'c'] | max }}|{{ ['b', 'A', 'c'] | min(case_sensitive=true) }}|{{ [1, 2] | first }}{{ [1, 2] | last }}",
     "{\"xs\": [{\"n\": 3}, {\"n\": 1}, {\"n\": 2}]}",
     "{'n': 1}|{'n': 3}|6|c|A|12"},
    {"{{ d | dictsort(false, 'value') }}|{{ d | dictsort(true) }}|{{ d | dictsort(by='key', reverse=true) }}|{{ d | string }}|{{ d | list }}|{{ d | items | list | length }}",
     "{\"d\": {\"b\": 1, \"a\": 3, \"B\": 2}}",
     "[('b', 1), ('B', 2), ('a', 3)]|[('B', 2), ('a', 3), ('b', 1)]|[('b', 1), ('B', 2), ('a', 3)]|{'b': 1, 'a': 3, 'B': 2}|['b', 'a', 'B']|3"},
    {"{{ 'The quick brown fox jumps' | wordwrap(10) }}|{{ 'abcdefghijklmnop qr' | wordwrap(5) }}|{{ 'abcdefghijklmnop qr' | wordwrap(5, false) }}|{{ 'a b c' | wordwrap(3, wrapstring='<br>') }}",
     NULL,
     "The quick\nbrown fox\njumps|abcde\nfghij\nklmno\np qr|abcdefghijklmnop\nqr|a b<br>c"},
    {"{{ s | wordwrap(7) }}|{{ s | wordwrap(7, break_on_hyphens=false) }}|{{ s | wordwrap(4) }}",
     "{\"s\": \"a well-known long-hyphenated wait--what co-op 12-34 x\"}",
     "a well-\nknown\nlong-hy\nphenate\nd wait\n--what\nco-op\n12-34 x|a well-\nknown l\nong-hyp\nhenated\nwait--w\nhat\nco-op\n12-34 x|a we\nll-k\nnown\nlong\n-hyp\nhena\nted\nwait\n--\nwhat\nco-\nop 1\n2-34\nx"},
    {"{{ s | wordwrap(6) }}|{{ s | wordwrap(3, wrapstring='|') }}|{{ s | wordwrap(2) }}",
     "{\"s\": \"  lead  na\\u00efve\\ttab\\n\\nsecond   line\\r\\nsupercalifragilistic ab\\u00a0cd\\n\"}",
     "  lead\nna\303\257ve\ntab\n\nsecond\nline\nsuperc\nalifra\ngilist\nic\nab\302\240cd|  l|ead|na\303\257|ve|tab||sec|ond|lin|e|sup|erc|ali|fra|gil|ist|ic |ab\302\240|cd|  \nle\nad\nna\n\303\257v\ne\t\nta\nb\n\nse\nco\nnd\nli\nne\nsu\npe\nrc\nal\nif\nra\ngi\nli\nst\nic\nab\n\302\240c\nd"},
};

/* tojson — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase tojson_cases[] = {
    {"{{ d | tojson }}",
     "{\"d\": {\"b\": 1, \"a\": [1, 2.5, {\"x\": null}], \"c\": \"\303\251<>&'\\\"\\n\", \"t\": true}}",
     "{\"b\": 1, \"a\": [1, 2.5, {\"x\": null}], \"c\": \"\303\251<>&'\\\"\\n\", \"t\": true}"},
    {"{{ d | tojson(indent=2) }}",
     "{\"d\": {\"b\": 1, \"a\": [1, 2.0, {\"x\": null}, [], {}], \"c\": \"x\"}}",
     "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2.0,\n    {\n      \"x\": null\n    },\n    [],\n    {}\n  ],\n  \"c\": \"x\"\n}"},
    {"{{ tools | tojson(indent=4) }}",
     "{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather \302\253here\302\273\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]}",
     "[\n    {\n        \"type\": \"function\",\n        \"function\": {\n            \"name\": \"get_weather\",\n            \"description\": \"Get the weather \302\253here\302\273\",\n            \"parameters\": {\n                \"type\": \"object\",\n                \"properties\": {\n                    \"city\": {\n                        \"type\": \"string\"\n                    }\n                },\n                \"required\": [\n                    \"city\"\n                ]\n            }\n        }\n    }\n]"},
    {"{{ x | tojson }}",
     "{\"x\": \"\342\200\250 \\u0001 \177 \303\251 \346\227\245\346\234\254 \\\\ / \\t\\r\\b\\f\"}",
     "\"\342\200\250 \\u0001 \177 \303\251 \346\227\245\346\234\254 \\\\ / \\t\\r\\b\\f\""},
    {"{{ {1: \"a\", true: \"b\", none: \"c\"} | tojson }}{{ 3.0 | tojson }}{{ 1e20 | tojson }}{{ \"s\" | tojson }}{{ none | tojson }}{{ (1, 2) | tojson }}",
     NULL,
     "{\"1\": \"b\", \"null\": \"c\"}3.01e+20\"s\"null[1, 2]"},
    {"{{ {\"b\": 1, \"a\": {\"d\": 1, \"c\": 2}} | tojson(sort_keys=true) }}",
     NULL,
     "{\"a\": {\"c\": 2, \"d\": 1}, \"b\": 1}"},
    {"{{ x | tojson }}",
     "{\"x\": [1.5, 2.0, 3, null, true, \"s\", 0.1, 1e-07, 123456789012]}",
     "[1.5, 2.0, 3, null, true, \"s\", 0.1, 1e-07, 123456789012]"},
    {"{{ x | tojson(separators=(',', ':')) }}",
     "{\"x\": [1, \"two\", {\"k\": \"v\"}]}",
     "[1,\"two\",{\"k\":\"v\"}]"},
    {"{{ x | tojson(indent=2, separators=(',', ': ')) }}|{{ x | tojson(indent=1, separators=(';', '=')) }}",
     "{\"x\": [1, {\"k\": \"v\", \"a\": []}]}",
     "[\n  1,\n  {\n    \"k\": \"v\",\n    \"a\": []\n  }\n]|[\n 1;\n {\n  \"k\"=\"v\";\n  \"a\"=[]\n }\n]"},
    {"{{ x | tojson(sort_keys=true, separators=(',', ':')) }}|{{ x | tojson(indent=none, separators=[', ', ' = '], sort_keys=false) }}",
     "{\"x\": {\"b\": 1, \"a\": {\"d\": 1, \"c\": 2}}}",
     "{\"a\":{\"c\":2,\"d\":1},\"b\":1}|{\"b\" = 1, \"a\" = {\"d\" = 1, \"c\" = 2}}"},
    {"{{ x | tojson(true) }}|{{ x | tojson(ensure_ascii=true, indent=1) }}|{{ x | tojson(false, 2, sort_keys=true) }}|{{ {'a': [1]} | tojson(2) }}",
     "{\"x\": {\"\303\251\": \"\346\227\245\346\234\254 \360\237\230\200 \\u007f\"}}",
     "{\"\\u00e9\": \"\\u65e5\\u672c \\ud83d\\ude00 \\u007f\"}|{\n \"\\u00e9\": \"\\u65e5\\u672c \\ud83d\\ude00 \\u007f\"\n}|{\n  \"\303\251\": \"\346\227\245\346\234\254 \360\237\230\200 \177\"\n}|{\"a\": [1]}"},
};

/* methods — expected outputs from Python Jinja2 3.1.6 (transformers settings) */
static const jcase methods_cases[] = {
    {"{{ \"  x  \".strip() }}|{{ \"xyzx\".strip(\"x\") }}|{{ \"xyz\".lstrip(\"x\") }}|{{ \"xyzx\".rstrip(\"x\") }}|{{ \"\\n\\nhi\\n\".lstrip(\"\\n\") }}|{{ \" a \".lstrip() }}|{{ \" a \".rstrip() }}|",
     NULL,
     "x|yz|yz|xyz|hi\n|a | a|"},
    {"{{ s.startswith(\"a\") }}{{ s.startswith(\"b\") }}{{ s.endswith(\"c\") }}{{ s.endswith((\"x\", \"c\")) }}{{ s.startswith((\"x\", \"y\")) }}",
     "{\"s\": \"a,b,c\"}",
     "TrueFalseTrueTrueFalse"},
    {"{{ \"a,b,,c\".split(\",\") }}{{ \"  a  b \".split() }}{{ \" a b c \".split(None, 1) }}{{ \"a b c\".rsplit(None, 1) }}{{ \"a,b,c\".split(\",\", 1) }}{{ \"a,b,c\".rsplit(\",\", 1) }}{{ \"abc\".split(\"x\") }}{{ \"\".split() }}{{ \"\".split(\",\") }}",
     NULL,
     "['a', 'b', '', 'c']['a', 'b']['a', 'b c ']['a b', 'c']['a', 'b,c']['a,b', 'c']['abc'][]['']"},
    {"{{ \"abc\".replace(\"b\", \"\") }}{{ \"aaa\".replace(\"\", \"-\") }}{{ \"aaa\".replace(\"a\", \"b\", 1) }}{{ \"abcabc\".find(\"c\") }}{{ \"abcabc\".rfind(\"c\") }}{{ \"abc\".find(\"z\") }}{{ \"h\303\251llo\".find(\"l\") }}{{ \"abcabc\".count(\"bc\") }}",
     NULL,
     "ac-a-a-a-baa25-122"},
    {"{{ \"ab\".upper() }}{{ \"AB\".lower() }}{{ \"hello world\".title() }}{{ \"it's\".title() }}{{ \"hELLO\".capitalize() }}",
     NULL,
     "ABabHello WorldIt'SHello"},
    {"{{ \", \".join([\"a\", \"b\"]) }}{{ \"-\".join(\"abc\") }}{{ \"x{}y{}\".format(1, \"z\") }}{{ \"{a}!\".format(a=2) }}{{ \"{{}}{0}\".format(5) }}",
     NULL,
     "a, ba-b-cx1yz2!{}5"},
    {"{{ d.get(\"x\") }}|{{ d.get(\"y\") }}|{{ d.get(\"y\", \"def\") }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.items() | list }}",
     "{\"d\": {\"x\": 1, \"z\": [2]}}",
     "1|None|def|['x', 'z']|[1, [2]]|[('x', 1), ('z', [2])]"},
    {"{{ \"abc\".removeprefix(\"a\") }}{{ \"abc\".removesuffix(\"c\") }}{{ \"12\".isdigit() }}{{ \"1a\".isdigit() }}",
     NULL,
     "bcabTrueFalse"},
    {"{% set c = \"<think>\\nabc\\n</think>\\n\\nanswer\" %}{{ c.split(\"</think>\")[-1].lstrip(\"\\n\") }}|{{ \"</think>\" in c }}|{{ c.split(\"</think>\")[0].rstrip(\"\\n\").split(\"<think>\")[-1].lstrip(\"\\n\") }}",
     NULL,
     "answer|True|abc"},
    {"{{ 'abcabc'.index('c') }}|{{ 'abcabc'.rindex('c') }}|{{ 'abcabc'.rfind('b') }}|{{ 'ABC'.isupper() }}{{ 'AbC'.isupper() }}{{ 'abc1'.islower() }}{{ '1'.islower() }}|{{ 'ab'.isalpha() }}{{ 'a1'.isalpha() }}{{ '12'.isdigit() }}{{ ' \\t'.isspace() }}{{ 'a1'.isalnum() }}{{ ''.isalnum() }}|{{ 'Hello World'.istitle() }}{{ 'Hello world'.istitle() }}{{ 'A1 B'.istitle() }}",
     NULL,
     "2|5|4|TrueFalseTrueFalse|TrueFalseTrueTrueTrueFalse|TrueFalseTrue"},
    {"{{ '\303\200B'.isupper() }}{{ '\303\240b'.islower() }}{{ '\303\251'.isalpha() }}{{ '\331\243'.isdigit() }}{{ 'Ab \303\207d'.istitle() }}{{ ''.isupper() }}{{ ''.istitle() }}{{ '\302\240'.isspace() }}|{{ '\303\200b\303\207'.swapcase() }}|{{ 'Stra\303\237e \303\211A'.casefold() }}",
     NULL,
     "TrueTrueTrueTrueTrueFalseFalseTrue|\303\240B\303\247|strasse \303\251a"},
    {"{{ 'aBc'.swapcase() }}|{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}|{{ '+7'.zfill(3) }}|{{ 'abc'.zfill(2) }}|{{ 'ab'.center(7, '*') }}|{{ 'abc'.center(6) }}|{{ 'ab'.ljust(5, '.') }}|{{ 'ab'.rjust(5) }}|{{ '\303\251'.rjust(3, '-') }}|{{ 'x'.center(4, '\303\251') }}",
     NULL,
     "AbC|00042|-0042|+07|abc|***ab**| abc  |ab...|   ab|--\303\251|\303\251x\303\251\303\251"},
    {"{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}|{{ 'abc'.partition('x') }}|{{ 'abc'.rpartition('x') }}|{{ 'a\\tbc\\td'.expandtabs() }}|{{ 'ab\\ncd\\te'.expandtabs(2) }}",
     NULL,
     "('a', '=', 'b=c')|('a=b', '=', 'c')|('abc', '', '')|('', '', 'abc')|a       bc      d|ab\ncd  e"},
    {"{{ d.get('x', 5) }}|{{ d.get('y', 5) }}|{{ d.copy() }}|{{ d.copy() == d }}|{{ d.items() | list }}|{{ d.keys() | list }}|{{ d.values() | list }}",
     "{\"d\": {\"x\": 1}}",
     "1|5|{'x': 1}|True|[('x', 1)]|['x']|[1]"},
    {"{{ '{:>5}'.format('ab') }}|{{ '{0:.2f}'.format(3.14159) }}|{{ '{:<4}|'.format('a') }}|{{ '{:^7}'.format('mid') }}|{{ '{:*^7}'.format('m') }}|{{ '{:05d}'.format(42) }}|{{ '{:d}'.format(7) }}|{{ '{:s}'.format('s') }}|{{ '{:>6.2f}'.format(2.5) }}|{{ '{:5}'.format(3) }}|{{ '{:5}'.format('x') }}|{{ '{:.3}'.format('abcdef') }}|{{ '{x:>3}'.format(x=1) }}|{{ '{:f}'.format(1) }}|{{ '{:+d}'.format(5) }}|{{ '{:,}'.format(1234567) }}",
     NULL,
     "   ab|3.14|a   ||  mid  |***m***|00042|7|s|  2.50|    3|x    |abc|  1|1.000000|+5|1,234,567"},
    {"{{ '{:>8.3f}|{:<8.2e}|{:^9.1%}|{:+.2f}|{: d}|{:x}|{:X}|{:o}|{:b}|{:08.2f}|{:-^10}|{:,d}|{:_d}|{:,.2f}'.format(3.14159, 12345.678, 0.256, -1.5, 42, 255, 255, 8, 5, -3.14159, '\303\251', 1234567, 1234567, 1234567.891) }}",
     NULL,
     "   3.142|1.23e+04|  25.6%  |-1.50| 42|ff|FF|10|101|-0003.14|----\303\251-----|1,234,567|1_234_567|1,234,567.89"},
    {"{{ '{:5}|{:<5}|{:05}|{:=+6}|{:c}|{:g}|{:.3g}|{:G}|{:e}'.format(True, 7, 'ab', 42, 65, 0.0001, 1234567.0, 1e20, 0.5) }}|{{ '{:.2}|{:.3}|{:.3}|{:.1}|{:.3}|{:.3}|{:.0}|{:10.3}|{:.2}'.format(3.14159, 100.0, 12.0, 0.5, 0.0001, 0.00001, 7.0, -2.5, 9.96) }}",
     NULL,
     "    1|7    |ab000|+   42|A|0.0001|1.23e+06|1E+20|5.000000e-01|3.1|1e+02|12.0|0.5|0.0001|1e-05|7e+00|      -2.5|1e+01"},
    {"{{ '{0} {1} {0}'.format('a', 'b') }}|{{ '{x[k]} {y[1]} {x.k}'.format(x={'k': 'v'}, y=[1, 2]) }}|{{ '{!r:>6}'.format('q') }}|{{ '{0!s}'.format(1.5) }}|{{ '{}'.format(none) }}|{{ '{}'.format([1]) }}|{{ '{:}'.format(3) }}|{{ '{:.2}'.format('h\303\251llo') }}",
     NULL,
     "a b a|v 2 v|   'q'|1.5|None|[1]|3|h\303\251"},
    {"{{ '%s - %d' % ('a', 3) }}|{{ '%s' % 'x' }}|{{ '%.2f%%' % 12.345 }}|{{ '%(a)s=%(b)d' % {'a': 'k', 'b': 2} }}|{{ '%5.2f|%-6s|%+d|%03d|%x|%e' % (3.14159, 'ab', 5, 7, 255, 12345.6789) }}|{{ '%s' % [1, 2] }}|{{ '%s' % {'a': 1} }}",
     NULL,
     "a - 3|x|12.35%|k=2| 3.14|ab    |+5|007|ff|1.234568e+04|[1, 2]|{'a': 1}"},
    {"{{ 'abcabc'.find('c', 3) }}|{{ 'abcabc'.find('a', 1, 3) }}|{{ 'abcabc'.rfind('b', 0, 4) }}|{{ 'abc'.find('', 3) }}|{{ 'abc'.find('', 4) }}|{{ 'abc'.find('', 2, 1) }}|{{ 'abcabc'.index('b', -3) }}|{{ 'abc'.index('', 1) }}|{{ 'aaaa'.count('a', 1) }}|{{ 'abc'.count('', 1, 2) }}|{{ 'abc'.count('', 5) }}|{{ 'h\303\251llo h\303\251llo'.find('l', 5) }}|{{ 'abcabc'.rindex('c', None, -1) }}",
     NULL,
     "5|-1|1|3|-1|-1|4|1|3|2|0|8|2"},
};

static void test_filters(void **st) { (void)st; RUN_CASES(filters_cases); }
static void test_tojson(void **st) { (void)st; RUN_CASES(tojson_cases); }
static void test_methods(void **st) { (void)st; RUN_CASES(methods_cases); }

static void test_filter_errors(void **st) {
    (void)st;
    expect_error("{{ u | tojson }}", NULL, "Object of type Undefined is not JSON serializable");
    expect_error("{{ x | tojson(separators=',') }}", "{\"x\": 1}", "separators must be a pair of strings");
    expect_error("{{ 'abc' | truncate(2) }}", NULL, "expected length >= 3, got 2");
    expect_error("{{ 'abc' | truncate(5, leeway=-1) }}", NULL, "expected leeway >= 0, got -1");
    expect_error("{{ 123 | truncate(3) }}", NULL, "object of type 'int' has no len()");
    expect_error("{{ xs | groupby }}", "{\"xs\": []}", "groupby: needs an attribute");
    expect_error("{{ [1] | slice(0) }}", NULL, "slice: slices must be a positive integer");
    expect_error("{{ [1, 2] | urlencode }}", NULL, "urlencode: expected (key, value) pairs");
    expect_error("{{ 'a b' | wordwrap(0) }}", NULL, "invalid width 0 (must be > 0)");
    expect_error("{{ nothing | wordwrap(5) }}", NULL, "'nothing' is undefined");
    expect_error("{{ {'a': 1} | dictsort(false, 'vaue') }}", NULL, "You can only sort by either \"key\" or \"value\"");
}

static void test_method_errors(void **st) {
    (void)st;
    expect_error("{{ 'abc'.index('z') }}", NULL, "substring not found");
    expect_error("{{ 'abc'.rindex('z') }}", NULL, "substring not found");
    expect_error("{{ 'abc'.partition('') }}", NULL, "empty separator");
    expect_error("{{ 'x'.center(3, 'ab') }}", NULL, "The fill character must be exactly one character long");
    expect_error("{{ 'x'.zfill('3') }}", NULL, "zfill: width must be an integer");
    expect_error("{{ 'x'.ljust(100000000) }}", NULL, "max_output");
}

static void test_format_errors(void **st) {
    (void)st;
    expect_error("{{ '{:d}'.format('x') }}", NULL, "Unknown format code 'd' for object of type 'str'");
    expect_error("{{ '{:s}'.format(1) }}", NULL, "Unknown format code 's' for object of type 'int'");
    expect_error("{{ '{:>5}'.format(none) }}", NULL, "unsupported format string passed to NoneType.__format__");
    expect_error("{{ '{} {1}'.format(1, 2) }}", NULL, "cannot switch between automatic and manual field numbering");
    expect_error("{{ '{2}'.format(1) }}", NULL, "Replacement index 2 out of range");
    expect_error("{{ '{x}'.format(y=1) }}", NULL, "KeyError: 'x'");
    expect_error("{{ '}'.format() }}", NULL, "Single '}' encountered in format string");
    expect_error("{{ '{'.format() }}", NULL, "Single '{' encountered in format string");
    expect_error("{{ '{0!x}'.format(1) }}", NULL, "Unknown conversion specifier x");
    expect_error("{{ '{:{w}}'.format(1, w=3) }}", NULL, "nested fields in a format spec are not supported");
    expect_error("{{ '{:#x}'.format(1) }}", NULL, "'#' in a format spec is not supported");
    expect_error("{{ '{:.}'.format(1.5) }}", NULL, "Format specifier missing precision");
    expect_error("{{ '{:>999999999}'.format(1) }}", NULL, "max_output");
    expect_error("{{ '%s %s' % ('a',) }}", NULL, "not enough arguments for format string");
    expect_error("{{ '%s' % ('a', 'b') }}", NULL, "not all arguments converted during string formatting");
    expect_error("{{ '%(a)s' % ('a',) }}", NULL, "format requires a mapping");
    expect_error("{{ '%(b)s' % {'a': 1} }}", NULL, "KeyError: 'b'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),       cmocka_unit_test(test_tojson),
        cmocka_unit_test(test_methods),       cmocka_unit_test(test_filter_errors),
        cmocka_unit_test(test_method_errors), cmocka_unit_test(test_format_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
