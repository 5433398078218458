/*
 * toolcall_test.c — proto/toolcall: which format a template speaks, ids,
 * and tc_parse of each family's output: well-formed calls (parallel, text
 * before and after, arguments absent or inside a string, nested braces
 * and quotes in strings, unicode) and malformed output (unclosed tags and
 * JSON, invalid JSON, wrong keys and types, empty, markers alone, a JSON
 * answer that is not a call), which is always plain content, never an
 * error.  Expected results are written by hand.
 */
#include "toolcall_util.h"

#define C1(n, a) (want_call[]){{n, a}}, 1
#define C2(n1, a1, n2, a2) (want_call[]){{n1, a1}, {n2, a2}}, 2
#define NONE NULL, 0

/* ---- detection ---------------------------------------------------------------- */

static void test_detect_format(void **st) {
    assert_int_equal(tc_detect_format(NULL), TC_GENERIC);
    assert_int_equal(tc_detect_format("{{ messages }}"), TC_GENERIC);
    /* Qwen2.5 / Hermes: the tag in the system prompt or in rendered calls */
    assert_int_equal(tc_detect_format("{%- if tools %}<tools></tools> <tool_call>\\n{\"name\""), TC_HERMES);
    /* Llama 3.1: ipython header; 3.x built-ins: python_tag */
    assert_int_equal(tc_detect_format("<|start_header_id|>ipython<|end_header_id|>"), TC_LLAMA3);
    assert_int_equal(tc_detect_format("{{- '<|python_tag|>' + tool_call.name }}"), TC_LLAMA3);
    assert_int_equal(tc_detect_format("<|start_header_id|>{% if tools %}"), TC_LLAMA3);
    /* Llama 3.0 (no tools) stays generic; Functionary v3.1 too */
    assert_int_equal(tc_detect_format("<|start_header_id|>{{ m.role }}<|end_header_id|>"), TC_GENERIC);
    assert_int_equal(tc_detect_format("<|start_header_id|>ipython <function=x>"), TC_GENERIC);
    assert_int_equal(tc_detect_format("[AVAILABLE_TOOLS] {{ tools }} [/AVAILABLE_TOOLS]"), TC_MISTRAL);
    assert_int_equal(tc_detect_format("{{ '[TOOL_CALLS][' }}"), TC_MISTRAL);
    /* the first match wins: a Hermes tag beats the Llama header */
    assert_int_equal(tc_detect_format("<|start_header_id|>ipython <tool_call>"), TC_HERMES);
    assert_string_equal(tc_format_name(TC_HERMES), "hermes");
    assert_string_equal(tc_format_name(TC_LLAMA3), "llama3");
    assert_string_equal(tc_format_name(TC_MISTRAL), "mistral");
    assert_string_equal(tc_format_name(TC_GENERIC), "generic");
}

static void test_tools_note(void **st) {
    assert_true(tc_template_reads_tools("{% if tools %}{{ tools | tojson }}{% endif %}"));
    assert_false(tc_template_reads_tools("{{ messages }}"));
    assert_false(tc_template_reads_tools(NULL));
    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
                               "{\"type\":\"function\",\"function\":{\"name\":\"w\",\"parameters\":"
                               "{\"type\":\"object\"}}}]", 0, NULL);
    char *note = tc_tools_note(tools, false);
    assert_string_equal(note,
                        "You can call tools. To call one, answer with nothing but a JSON object: "
                        "{\"tool_call\": {\"name\": \"<tool name>\", \"arguments\": {<its arguments>}}}. "
                        "Otherwise answer as usual.\n\nTools:\n"
                        "{\"name\":\"now\"}\n{\"name\":\"w\",\"parameters\":{\"type\":\"object\"}}");
    free(note);
    note = tc_tools_note(tools, true);
    assert_non_null(strstr(note, "; to call several at once: {\"tool_calls\": [{\"name\": \"<tool name>\", "
                                 "\"arguments\": {<its arguments>}}, ...]}. Otherwise"));
    free(note);
    json_decref(tools);
}

/* ---- ids ------------------------------------------------------------------------ */

static void ids_of(tc_format f, const char *text, uint64_t seed, char ids[][40], int n) {
    uint64_t rng = seed;
    tc_result r;
    assert_int_equal(tc_parse(f, text, strlen(text), &rng, &r), n);
    for (int i = 0; i < n; i++) {
        check_id(f, r.calls[i].id);
        strcpy(ids[i], r.calls[i].id);
    }
    tc_result_clear(&r);
}

static void test_ids(void **st) {
    const char *h = "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>"
                    "<tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call>";
    char a[2][40], b[2][40], c[2][40];
    ids_of(TC_HERMES, h, 1, a, 2);
    ids_of(TC_HERMES, h, 1, b, 2);
    ids_of(TC_HERMES, h, 2, c, 2);
    assert_string_equal(a[0], b[0]); /* the same seed, the same ids */
    assert_string_equal(a[1], b[1]);
    assert_string_not_equal(a[0], a[1]);
    assert_string_not_equal(a[0], c[0]);
    ids_of(TC_MISTRAL, "[TOOL_CALLS][{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":{}}]",
           1, a, 2);
    assert_int_equal(strlen(a[0]), 9);
    assert_string_not_equal(a[0], a[1]);
    /* the generator advances: a second parse with the same state differs */
    uint64_t rng = 7;
    tc_result r1, r2;
    tc_parse(TC_HERMES, h, strlen(h), &rng, &r1);
    tc_parse(TC_HERMES, h, strlen(h), &rng, &r2);
    assert_string_not_equal(r1.calls[0].id, r2.calls[0].id);
    tc_result_clear(&r1);
    tc_result_clear(&r2);
}

/* ---- Hermes / Qwen ---------------------------------------------------------------- */

static void test_hermes_calls(void **st) {
    expect_parse(TC_HERMES,
                 "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                 "</tool_call>",
                 NULL, C1("get_weather", "{\"city\": \"Paris\"}"));
    /* text before, two blocks, the newline between them is no content */
    expect_parse(TC_HERMES,
                 "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
                 "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>",
                 "Let me check.", C2("a", "{\"x\": 1}", "b", "{}"));
    /* keys in another order, type and id members, "parameters" */
    expect_parse(TC_HERMES,
                 "<tool_call>{\"arguments\": {\"q\": [1, 2]}, \"type\": \"function\", \"id\": 5, "
                 "\"name\": \"s\"}</tool_call>",
                 NULL, C1("s", "{\"q\": [1, 2]}"));
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"s\", \"parameters\": {\"k\": null}}</tool_call>",
                 NULL, C1("s", "{\"k\": null}"));
    /* text after the calls; whitespace around them is no content */
    expect_parse(TC_HERMES,
                 "  <tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>\n\nDone.  ",
                 "Done.  ", C1("f", "{}"));
}

static void test_hermes_arguments_forms(void **st) {
    /* absent: {} */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"now\"}</tool_call>", NULL, C1("now", "{}"));
    /* an object written inside a JSON string: its text */
    expect_parse(TC_HERMES,
                 "<tool_call>{\"name\": \"f\", \"arguments\": \" {\\\"a\\\": \\\"\\\\u00e9\\\"} \"}"
                 "</tool_call>",
                 NULL, C1("f", "{\"a\": \"\\u00e9\"}"));
    /* a string that is not an object: content */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": \"[1]\"}</tool_call>",
                 "{\"name\": \"f\", \"arguments\": \"[1]\"}", NONE);
    /* nested braces, brackets and quotes inside strings */
    expect_parse(TC_HERMES,
                 "<tool_call>{\"name\": \"f\", \"arguments\": {\"s\": \"}{\\\"]\", \"n\": {\"m\": [1, "
                 "{\"k\": \"]}\"}], \"e\": -1.5e+3}}}</tool_call>",
                 NULL, C1("f", "{\"s\": \"}{\\\"]\", \"n\": {\"m\": [1, {\"k\": \"]}\"}], \"e\": -1.5e+3}}"));
    /* numbers of any size are JSON (found by fuzz_toolcall: beyond jansson's ints) */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {\"b\": 1111111111111111111111111114, "
                 "\"c\": -0.0e-400}}</tool_call>",
                 NULL, C1("f", "{\"b\": 1111111111111111111111111114, \"c\": -0.0e-400}"));
    /* unicode in the text, the name and the arguments */
    expect_parse(TC_HERMES,
                 "Voil\xC3\xA0 <tool_call>{\"name\": \"m\xC3\xA9t\xC3\xA9o\", \"arguments\": {\"ville\": "
                 "\"Z\xC3\xBCrich \xF0\x9F\x8C\xA7\", \"u\": \"\\ud83c\\udf27\"}}</tool_call>",
                 "Voil\xC3\xA0",
                 C1("m\xC3\xA9t\xC3\xA9o", "{\"ville\": \"Z\xC3\xBCrich \xF0\x9F\x8C\xA7\", \"u\": \"\\ud83c\\udf27\"}"));
}

static void test_hermes_lenient_closers(void **st) {
    /* no closing tag at the end */
    expect_parse(TC_HERMES, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}", NULL,
                 C1("f", "{\"a\": 1}"));
    /* no closing tag between two blocks */
    expect_parse(TC_HERMES,
                 "<tool_call>{\"name\":\"a\",\"arguments\":{}}\n<tool_call>{\"name\":\"b\","
                 "\"arguments\":{}}</tool_call>",
                 NULL, C2("a", "{}", "b", "{}"));
    /* the call object's own closing brace forgotten */
    expect_parse(TC_HERMES, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}\n</tool_call>", NULL,
                 C1("f", "{\"a\":1}"));
}

static void test_hermes_malformed_is_content(void **st) {
    /* unclosed JSON: the text without its marker */
    expect_parse(TC_HERMES, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1",
                 "\n{\"name\": \"f\", \"arguments\": {\"a\": 1", NONE);
    expect_parse(TC_HERMES, "Hi <tool_call>{\"na", "Hi {\"na", NONE);
    /* invalid JSON before the call opened */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": f}</tool_call>", "{\"name\": f}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{'name': 'f'}</tool_call>", "{'name': 'f'}", NONE);
    /* invalid JSON inside the arguments: the whole call is content */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {a: 1}}</tool_call>",
                 "{\"name\": \"f\", \"arguments\": {a: 1}}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1,}}</tool_call>",
                 "{\"name\": \"f\", \"arguments\": {\"a\": 1,}}", NONE);
    /* cut inside the arguments (max_tokens) */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"x",
                 "{\"name\": \"f\", \"arguments\": {\"a\": \"x", NONE);
    /* wrong keys, wrong types, duplicates, empty name */
    expect_parse(TC_HERMES, "<tool_call>{\"function\": \"f\", \"args\": {}}</tool_call>",
                 "{\"function\": \"f\", \"args\": {}}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>",
                 "{\"name\": 3, \"arguments\": {}}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>",
                 "{\"name\": \"f\", \"arguments\": [1]}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"name\": \"g\"}</tool_call>",
                 "{\"name\": \"f\", \"name\": \"g\"}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>",
                 "{\"name\": \"\", \"arguments\": {}}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"type\": \"tool\", \"name\": \"f\"}</tool_call>",
                 "{\"type\": \"tool\", \"name\": \"f\"}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"arguments\": {}}</tool_call>", "{\"arguments\": {}}", NONE);
    /* raw control characters and invalid UTF-8 inside strings are not JSON */
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"l1\nl2\"}}",
                 "{\"name\": \"f\", \"arguments\": {\"a\": \"l1\nl2\"}}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\xC3\", \"arguments\": {}}",
                 "{\"name\": \"f\xC3\", \"arguments\": {}}", NONE);
    expect_parse(TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"\\ud800\"}}",
                 "{\"name\": \"f\", \"arguments\": {\"a\": \"\\ud800\"}}", NONE);
    /* empty, markers only, a stray closer */
    expect_parse(TC_HERMES, "", NULL, NONE);
    expect_parse(TC_HERMES, "<tool_call>", NULL, NONE);
    expect_parse(TC_HERMES, "<tool_call></tool_call>", NULL, NONE);
    expect_parse(TC_HERMES, "a</tool_call>b", "ab", NONE);
    expect_parse(TC_HERMES, "<tool_call>\n\n</tool_call>", "\n\n", NONE);
    /* a broken block, then a good one */
    expect_parse(TC_HERMES,
                 "<tool_call>oops</tool_call>\n<tool_call>{\"name\":\"g\",\"arguments\":{}}</tool_call>",
                 "oops", C1("g", "{}"));
    /* something like a marker that is not one */
    expect_parse(TC_HERMES, "a <tool_cal> b <tool_call", "a <tool_cal> b <tool_call", NONE);
}

/* ---- Llama 3.x --------------------------------------------------------------------- */

static void test_llama3_calls(void **st) {
    expect_parse(TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", NULL,
                 C1("get_weather", "{\"city\": \"Paris\"}"));
    expect_parse(TC_LLAMA3, "<|python_tag|>{\"name\": \"f\", \"arguments\": {\"a\": 1}}", NULL,
                 C1("f", "{\"a\": 1}"));
    expect_parse(TC_LLAMA3,
                 "{\"type\": \"function\", \"name\": \"f\", \"parameters\": {}}; {\"name\": \"g\", "
                 "\"parameters\": {\"x\": [1, 2]}}",
                 NULL, C2("f", "{}", "g", "{\"x\": [1, 2]}"));
    expect_parse(TC_LLAMA3, " \n {\"name\":\"f\",\"parameters\":{}};\n", NULL, C1("f", "{}"));
    expect_parse(TC_LLAMA3, "Checking.<|python_tag|>{\"name\":\"f\",\"parameters\":{}}", "Checking.",
                 C1("f", "{}"));
    expect_parse(TC_LLAMA3, "{\"name\":\"f\",\"parameters\":{}} Done", "Done", C1("f", "{}"));
    /* Llama's end tokens are never content */
    expect_parse(TC_LLAMA3, "<|python_tag|>{\"name\":\"f\",\"parameters\":{}}<|eom_id|>", NULL, C1("f", "{}"));
    expect_parse(TC_LLAMA3, "Hi<|eot_id|>", "Hi", NONE);
    /* arguments as a string */
    expect_parse(TC_LLAMA3, "{\"name\":\"f\",\"parameters\":\"{\\\"a\\\":1}\"}", NULL,
                 C1("f", "{\"a\":1}"));
}

static void test_llama3_not_calls(void **st) {
    expect_parse(TC_LLAMA3, "The answer is {\"a\":1}", "The answer is {\"a\":1}", NONE);
    expect_parse(TC_LLAMA3, "{\"result\": 42}", "{\"result\": 42}", NONE);
    expect_parse(TC_LLAMA3, "{\"name\": \"Bob\", \"age\": 3}", "{\"name\": \"Bob\", \"age\": 3}", NONE);
    /* a bare object needs its arguments here (or it would be any JSON answer) */
    expect_parse(TC_LLAMA3, "{\"name\": \"f\"}", "{\"name\": \"f\"}", NONE);
    expect_parse(TC_LLAMA3, "{\"type\": \"object\", \"name\": \"f\"}", "{\"type\": \"object\", \"name\": \"f\"}",
                 NONE);
    /* built-in tools are Python, not JSON: content without the tag */
    expect_parse(TC_LLAMA3, "<|python_tag|>brave_search.call(query=\"x\")", "brave_search.call(query=\"x\")",
                 NONE);
    expect_parse(TC_LLAMA3, "<|python_tag|>", NULL, NONE);
    expect_parse(TC_LLAMA3, "{", "{", NONE);
    expect_parse(TC_LLAMA3, "  {}", "  {}", NONE);
    /* after a call and ';', something that is not a call: the call stays */
    expect_parse(TC_LLAMA3, "{\"name\":\"f\",\"parameters\":{}}; oops", "oops", C1("f", "{}"));
}

/* ---- Mistral --------------------------------------------------------------------------- */

static void test_mistral_calls(void **st) {
    expect_parse(TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 3.5, \"b\": 4}}]",
                 NULL, C1("add", "{\"a\": 3.5, \"b\": 4}"));
    /* Nemo's "id": read and ignored (ids are ours) */
    expect_parse(TC_MISTRAL,
                 "[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1}, \"id\": \"abcDEF123\"}, "
                 "{\"name\": \"sub\", \"arguments\": {}}]",
                 NULL, C2("add", "{\"a\": 1}", "sub", "{}"));
    /* v11: name outside the JSON, one marker per call, optional [ARGS] */
    expect_parse(TC_MISTRAL, "[TOOL_CALLS]add{\"a\": 3.5, \"b\": 4}", NULL, C1("add", "{\"a\": 3.5, \"b\": 4}"));
    expect_parse(TC_MISTRAL, "[TOOL_CALLS]add{\"a\":1}\n[TOOL_CALLS]mul[ARGS]{\"b\":{\"c\":2}}", NULL,
                 C2("add", "{\"a\":1}", "mul", "{\"b\":{\"c\":2}}"));
    expect_parse(TC_MISTRAL, "Sure. [TOOL_CALLS][{\"name\":\"f\",\"arguments\":{}}]", "Sure.", C1("f", "{}"));
    /* the closing bracket missing at the end */
    expect_parse(TC_MISTRAL, "[TOOL_CALLS][{\"name\":\"f\",\"arguments\":{}}", NULL, C1("f", "{}"));
}

static void test_mistral_malformed(void **st) {
    expect_parse(TC_MISTRAL, "[TOOL_CALLS] oops", " oops", NONE);
    expect_parse(TC_MISTRAL, "[TOOL_CALLS][]", "[]", NONE);
    expect_parse(TC_MISTRAL, "[TOOL_CALLS][1, 2]", "[1, 2]", NONE);
    expect_parse(TC_MISTRAL, "[TOOL_CALLS]", NULL, NONE);
    expect_parse(TC_MISTRAL, "[TOOL_CALLS]f(x)", "f(x)", NONE);
    expect_parse(TC_MISTRAL, "[TOOL_CALLS]add[ARG{\"a\":1}", "add[ARG{\"a\":1}", NONE);
    expect_parse(TC_MISTRAL, "[TOOL_CALLS]add{\"a\":", "add{\"a\":", NONE);
    expect_parse(TC_MISTRAL, "a [TOOL_CALL b", "a [TOOL_CALL b", NONE);
    expect_parse(TC_MISTRAL, "[1, 2] is a list", "[1, 2] is a list", NONE);
}

/* ---- generic ------------------------------------------------------------------------------- */

static void test_generic_calls(void **st) {
    expect_parse(TC_GENERIC, "{\"tool_call\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}", NULL,
                 C1("f", "{\"a\": 1}"));
    expect_parse(TC_GENERIC,
                 "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", "
                 "\"arguments\": {\"b\": \"x\"}, \"id\": \"1\"}]}",
                 NULL, C2("f", "{}", "g", "{\"b\": \"x\"}"));
    expect_parse(TC_GENERIC, "\n{\"name\": \"f\", \"arguments\": {\"q\": 1}}\n", NULL, C1("f", "{\"q\": 1}"));
    /* wrapped: the arguments may be absent */
    expect_parse(TC_GENERIC, "{\"tool_call\": {\"name\": \"f\"}}", NULL, C1("f", "{}"));
}

static void test_generic_not_calls(void **st) {
    expect_parse(TC_GENERIC, "{\"response\": \"hello\"}", "{\"response\": \"hello\"}", NONE);
    expect_parse(TC_GENERIC, "Hello {\"tool_call\": {\"name\": \"f\", \"arguments\": {}}}",
                 "Hello {\"tool_call\": {\"name\": \"f\", \"arguments\": {}}}", NONE);
    expect_parse(TC_GENERIC, "{\"tool_call\": 5}", "{\"tool_call\": 5}", NONE);
    expect_parse(TC_GENERIC, "{\"tool_calls\": {}}", "{\"tool_calls\": {}}", NONE);
    expect_parse(TC_GENERIC, "{\"tool_calls\": []}", "{\"tool_calls\": []}", NONE);
    expect_parse(TC_GENERIC, "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {}}",
                 NULL, C1("f", "{}"));
    expect_parse(TC_GENERIC, "{\"name\": \"f\"}", "{\"name\": \"f\"}", NONE);
    expect_parse(TC_GENERIC, "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>",
                 "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>", NONE);
}

/* Every format on every text of the others: never a crash, never an error,
 * and content + calls account for the text. */
static void test_any_format_any_text(void **st) {
    const char *texts[] = {
        "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>",
        "[TOOL_CALLS][{\"name\":\"f\",\"arguments\":{}}]",
        "<|python_tag|>{\"name\":\"f\",\"parameters\":{}}",
        "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}}]}",
        "{\"a\":", "}}}]]]", "\"\\", "[[[[", "<|", "[TOOL_CALLS]{", "\xFF\xFE", "",
    };
    for (int f = TC_GENERIC; f <= TC_MISTRAL; f++)
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            uint64_t rng = SEED;
            tc_result r;
            int n = tc_parse((tc_format)f, texts[i], strlen(texts[i]), &rng, &r);
            assert_true(n >= 0);
            assert_true(n > 0 || r.content_len <= strlen(texts[i]));
            check_args_parse(&r);
            tc_result_clear(&r);
        }
}

/* Deep nesting is bounded: past the scanner's depth the call (opened
 * already) is taken back and is content. */
static void test_deep_nesting(void **st) {
    char text[1200];
    int p = sprintf(text, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":");
    for (int i = 0; i < 300; i++) text[p++] = '[';
    text[p] = '\0';
    uint64_t rng = SEED;
    tc_result r;
    assert_int_equal(tc_parse(TC_HERMES, text, strlen(text), &rng, &r), 0);
    assert_int_equal(r.content_len, strlen(text) - strlen("<tool_call>"));
    tc_result_clear(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_format),
        cmocka_unit_test(test_tools_note),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_hermes_calls),
        cmocka_unit_test(test_hermes_arguments_forms),
        cmocka_unit_test(test_hermes_lenient_closers),
        cmocka_unit_test(test_hermes_malformed_is_content),
        cmocka_unit_test(test_llama3_calls),
        cmocka_unit_test(test_llama3_not_calls),
        cmocka_unit_test(test_mistral_calls),
        cmocka_unit_test(test_mistral_malformed),
        cmocka_unit_test(test_generic_calls),
        cmocka_unit_test(test_generic_not_calls),
        cmocka_unit_test(test_any_format_any_text),
        cmocka_unit_test(test_deep_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
