/*
 * toolcall_regex_test.c — tc_constraint_regex, checked with PCRE2 (whole
 * text, UTF): for each format, one call and parallel calls to each tool
 * match (and tc_parse reads them back as those calls), a wrong name, a
 * wrong wrapper, or several calls where one is allowed do not.  Arguments
 * are only ever given as valid instances of their schema, so the checks
 * hold for any compiler of json_schema.h that is correct (the arguments of
 * a tool without `parameters` are ours: exactly {}).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>

#include "common.h"
#include "support/pcre_oracle.h"
#include "toolcall_util.h"

static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"a.b\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}}}]";

static json_t *tools(void) {
    json_t *t = json_loads(TOOLS, 0, NULL);
    assert_non_null(t);
    return t;
}

/* Whole-text match, through the tests' one PCRE2 oracle (support/pcre_oracle.h). */
static bool matches(const char *re, const char *text) {
    pcre2_code *c = pcre_whole(re);
    if (!c) fail_msg("PCRE2 refuses %s", re);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc >= 0;
}

static char *regex(tc_format f, bool parallel) {
    json_t *t = tools();
    char err[CT_ERRLEN] = "";
    char *re = tc_constraint_regex(f, t, parallel, err);
    if (!re) fail_msg("no regex: %s", err);
    json_decref(t);
    return re;
}

/* text matches re and tc_parse reads it back as the calls. */
static void accepts(const char *re, tc_format f, const char *text, const want_call *calls, int n) {
    if (!matches(re, text)) fail_msg("%s does not match %s", text, re);
    expect_parse(f, text, NULL, calls, n);
}

static void rejects(const char *re, const char *text) {
    if (matches(re, text)) fail_msg("%s matches %s", text, re);
}

#define W(n, a) (want_call[]){{n, a}}, 1

static void test_hermes(void **st) {
    char *re = regex(TC_HERMES, false);
    accepts(re, TC_HERMES,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            W("get_weather", "{\"city\": \"Paris\"}"));
    accepts(re, TC_HERMES, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>",
            W("get_weather", "{\"city\":\"Paris\"}"));
    accepts(re, TC_HERMES, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>", W("now", "{}"));
    accepts(re, TC_HERMES, "<tool_call>\n{\"name\": \"a.b\", \"arguments\": {\"x\": 1}}\n</tool_call>",
            W("a.b", "{\"x\": 1}"));
    rejects(re, "<tool_call>\n{\"name\": \"now\", \"arguments\": {\"x\": 1}}\n</tool_call>");
    rejects(re, "<tool_call>\n{\"name\": \"aXb\", \"arguments\": {}}\n</tool_call>"); /* '.' is literal */
    rejects(re, "<tool_call>\n{\"name\": \"get_wether\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
    rejects(re, "{\"name\": \"now\", \"arguments\": {}}");
    rejects(re, "<tool_call>\n{\"name\": \"now\", \"parameters\": {}}\n</tool_call>");
    rejects(re, "Sure. <tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>");
    const char *two = "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>\n"
                      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>";
    rejects(re, two);
    free(re);
    re = regex(TC_HERMES, true);
    accepts(re, TC_HERMES, two, (want_call[]){{"now", "{}"}, {"get_weather", "{\"city\": \"Rome\"}"}}, 2);
    accepts(re, TC_HERMES, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>", W("now", "{}"));
    rejects(re, "");
    free(re);
}

static void test_llama3(void **st) {
    char *re = regex(TC_LLAMA3, false);
    accepts(re, TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
            W("get_weather", "{\"city\": \"Paris\"}"));
    accepts(re, TC_LLAMA3, "{\"name\":\"now\",\"parameters\":{}}", W("now", "{}"));
    rejects(re, "{\"name\": \"now\", \"arguments\": {}}");
    rejects(re, "<|python_tag|>{\"name\": \"now\", \"parameters\": {}}");
    rejects(re, "{\"name\": \"nope\", \"parameters\": {}}");
    const char *two = "{\"name\": \"now\", \"parameters\": {}}; {\"name\": \"now\", \"parameters\": {}}";
    rejects(re, two);
    free(re);
    re = regex(TC_LLAMA3, true);
    accepts(re, TC_LLAMA3, two, (want_call[]){{"now", "{}"}, {"now", "{}"}}, 2);
    free(re);
}

static void test_mistral(void **st) {
    char *re = regex(TC_MISTRAL, false);
    accepts(re, TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
            W("get_weather", "{\"city\": \"Paris\"}"));
    rejects(re, "[{\"name\": \"now\", \"arguments\": {}}]");
    rejects(re, "[TOOL_CALLS]now{}");
    const char *two = "[TOOL_CALLS][{\"name\": \"now\", \"arguments\": {}}, {\"name\": \"a.b\", \"arguments\": {}}]";
    rejects(re, two);
    free(re);
    re = regex(TC_MISTRAL, true);
    accepts(re, TC_MISTRAL, two, (want_call[]){{"now", "{}"}, {"a.b", "{}"}}, 2);
    free(re);
}

static void test_generic(void **st) {
    char *re = regex(TC_GENERIC, false);
    accepts(re, TC_GENERIC, "{\"tool_call\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}}",
            W("get_weather", "{\"city\": \"Oslo\"}"));
    rejects(re, "{\"name\": \"now\", \"arguments\": {}}");
    rejects(re, "{\"tool_calls\": [{\"name\": \"now\", \"arguments\": {}}]}");
    free(re);
    re = regex(TC_GENERIC, true);
    accepts(re, TC_GENERIC,
            "{\"tool_calls\": [{\"name\": \"now\", \"arguments\": {}}, {\"name\": \"now\", \"arguments\": {}}]}",
            (want_call[]){{"now", "{}"}, {"now", "{}"}}, 2);
    accepts(re, TC_GENERIC, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}]}", W("now", "{}"));
    rejects(re, "{\"tool_calls\": []}");
    rejects(re, "{\"tool_call\": {\"name\": \"now\", \"arguments\": {}}}");
    free(re);
}

/* A named choice: the filtered list holds one tool, only it is callable. */
static void test_one_tool(void **st) {
    json_t *t = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]", 0, NULL);
    char err[CT_ERRLEN];
    char *re = tc_constraint_regex(TC_HERMES, t, false, err);
    assert_non_null(re);
    accepts(re, TC_HERMES, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>", W("now", "{}"));
    rejects(re, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
    free(re);
    json_decref(t);
}

static void test_errors(void **st) {
    char err[CT_ERRLEN];
    json_t *t = json_loads("[]", 0, NULL);
    assert_null(tc_constraint_regex(TC_HERMES, t, false, err));
    assert_string_equal(err, "no tools to call");
    assert_null(tc_constraint_regex(TC_HERMES, NULL, false, err));
    json_decref(t);
    t = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
                   "{\"type\":\"function\",\"function\":{\"name\":\"bad\",\"parameters\":"
                   "{\"type\":\"object\",\"not\":{}}}}]", 0, NULL);
    assert_null(tc_constraint_regex(TC_GENERIC, t, true, err));
    assert_memory_equal(err, "tool \"bad\": ", 12);
    assert_non_null(strstr(err, "not"));
    json_decref(t);
    t = json_loads("[{\"type\":\"function\"}]", 0, NULL);
    assert_null(tc_constraint_regex(TC_LLAMA3, t, false, err));
    assert_string_equal(err, "tools[0]: not a function tool with a name");
    json_decref(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hermes),
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_one_tool),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
