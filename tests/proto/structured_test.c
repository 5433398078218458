/*
 * structured_test.c — proto/structured: every API shape of a constraint
 * (OpenAI response_format in OpenAI's, TGI's and llama.cpp's forms; vLLM's
 * guided_* and structured_outputs) becomes a regex whose language is the one
 * asked for (PCRE2 is the oracle: what must match and what must not), and
 * every malformed or refused constraint gets its status, param and message.
 */
#include "support/pcre_oracle.h"

#include "openai_util.h"
#include "constraint/json_schema.h"
#include "structured.h"

/* Whether text is in the language of regex (whole-text match). */
static bool in_language(const char *regex, const char *text) {
    pcre2_code *re = pcre_whole(regex);
    if (!re) fail_msg("PCRE2 refuses %s", regex);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

/* The regex a chat body's constraint fields give (NULL: none); fails the
 * test when they are refused. */
static char *regex_of(const char *fields) {
    char body[2048];
    snprintf(body, sizeof body, "{" CHAT_HI ",%s}", fields);
    oai_request r = oparse(OAI_CHAT, body);
    proto_error e = {0};
    char *re = NULL;
    if (!oai_constraint_regex(&r, &re, &e)) fail_msg("%s refused: %s", fields, e.message);
    oai_request_free(&r);
    return re;
}

static void refused(const char *fields, int status, const char *param, const char *msg) {
    char body[2048];
    snprintf(body, sizeof body, "{" CHAT_HI ",%s}", fields);
    oai_request r = oparse(OAI_CHAT, body);
    proto_error e = {0};
    char *re = NULL;
    assert_false(oai_constraint_regex(&r, &re, &e));
    assert_null(re);
    assert_int_equal(oai_http_status(&e), status);
    assert_string_equal(e.param, param);
    if (!strstr(e.message, msg)) fail_msg("%s: \"%s\" lacks \"%s\"", fields, e.message, msg);
    oai_request_free(&r);
}

static void test_none(void **st) {
    assert_null(regex_of("\"response_format\":{\"type\":\"text\"}"));
    assert_null(regex_of("\"response_format\":null,\"guided_json\":null"));
}

static void test_schema_forms(void **st) {
    const char *forms[] = {
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"strict\":true,"
        "\"schema\":{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}}}",
        "\"response_format\":{\"type\":\"json_object\",\"schema\":{\"type\":\"object\",\"properties\":"
        "{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}}",  /* llama.cpp */
        "\"response_format\":{\"type\":\"json\",\"value\":{\"type\":\"object\",\"properties\":"
        "{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}}",  /* TGI */
        "\"guided_json\":{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}",
        "\"guided_json\":\"{\\\"type\\\":\\\"object\\\",\\\"properties\\\":{\\\"ok\\\":{\\\"type\\\":\\\"boolean\\\"}},"
        "\\\"required\\\":[\\\"ok\\\"]}\"", /* a schema string */
        "\"structured_outputs\":{\"json\":{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},"
        "\"required\":[\"ok\"]}}",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *re = regex_of(forms[i]);
        assert_non_null(re);
        assert_true(in_language(re, "{\"ok\":true}"));
        assert_true(in_language(re, "{\"ok\": false}"));
        assert_false(in_language(re, "{}"));
        assert_false(in_language(re, "{\"ok\":1}"));
        free(re);
    }
}

static void test_any_object(void **st) {
    const char *forms[] = {"\"response_format\":{\"type\":\"json_object\"}",
                           "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}",
                           "\"structured_outputs\":{\"json_object\":true}"};
    /* any JSON object, nested up to the default depth: json_schema_test
     * checks that language (the regex is too long for PCRE2's compiler) */
    js_opts o = js_opts_default();
    char err[CT_ERRLEN];
    char *want = js_any_json_regex(true, &o, err);
    assert_non_null(want);
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *re = regex_of(forms[i]);
        assert_non_null(re);
        assert_string_equal(re, want);
        free(re);
    }
    free(want);
}

static void test_regex_and_choice(void **st) {
    char *re = regex_of("\"guided_regex\":\"[a-c]{2}\\\\d\"");
    assert_true(in_language(re, "ab7"));
    assert_false(in_language(re, "ad7"));
    free(re);
    re = regex_of("\"structured_outputs\":{\"regex\":\"x+\"}");
    assert_true(in_language(re, "xxx"));
    free(re);
    re = regex_of("\"response_format\":{\"type\":\"regex\",\"value\":\"(yes|no)\"}");
    assert_true(in_language(re, "no"));
    assert_false(in_language(re, "maybe"));
    free(re);
    /* choices are literal text: metacharacters, spaces and Unicode included */
    re = regex_of("\"guided_choice\":[\"a.b\",\"(x|y)\",\"light blue\",\"ünï ✓\",\"1+1\"]");
    const char *in[] = {"a.b", "(x|y)", "light blue", "ünï ✓", "1+1"};
    for (size_t i = 0; i < 5; i++) assert_true(in_language(re, in[i]));
    const char *out[] = {"axb", "x", "y", "light", "11", "1+1+1", ""};
    for (size_t i = 0; i < 7; i++) assert_false(in_language(re, out[i]));
    free(re);
    re = regex_of("\"structured_outputs\":{\"choice\":[\"only\"]}");
    assert_true(in_language(re, "only"));
    free(re);
}

static void test_refusals(void **st) {
    refused("\"guided_regex\":\"a\",\"guided_choice\":[\"a\"]", 400, "guided_choice",
            "You can only use one kind of structured outputs constraint");
    refused("\"response_format\":{\"type\":\"json_object\"},\"guided_regex\":\"a\"", 400, "guided_regex",
            "only use one kind");
    refused("\"response_format\":{\"type\":\"xml\"}", 400, "response_format", "got: xml");
    refused("\"response_format\":{\"type\":\"json_schema\"}", 400, "response_format", "needs a `json_schema`");
    refused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":"
            "{\"type\":\"object\",\"patternProperties\":{\"a\":{}}}}}",
            422, "response_format", "patternProperties");
    refused("\"guided_json\":{\"type\":\"strange\"}", 400, "guided_json", "strange");
    refused("\"guided_json\":\"{nope\"", 400, "guided_json", "not a JSON object");
    refused("\"guided_json\":[1]", 400, "guided_json", "must be an object");
    refused("\"guided_regex\":\"a(b\"", 400, "guided_regex", "regex");
    refused("\"guided_regex\":\"(a)\\\\1\"", 400, "guided_regex", "regex");
    refused("\"guided_regex\":5", 400, "guided_regex", "must be a string");
    refused("\"guided_choice\":[]", 400, "guided_choice", "non-empty array");
    refused("\"guided_choice\":[\"a\",3]", 400, "guided_choice", "choice[1]");
    refused("\"guided_choice\":[\"\"]", 400, "guided_choice", "choice[0]");
    refused("\"guided_grammar\":\"root ::= \\\"a\\\"\"", 422, "guided_grammar", "not supported");
    refused("\"structured_outputs\":{\"grammar\":\"root ::= x\"}", 422, "structured_outputs.grammar",
            "not supported");
    refused("\"structured_outputs\":{\"regex\":\"a\",\"choice\":[\"b\"]}", 400, "structured_outputs.choice",
            "only use one kind");
    refused("\"structured_outputs\":7", 400, "structured_outputs", "must be an object");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),          cmocka_unit_test(test_schema_forms),
        cmocka_unit_test(test_any_object),    cmocka_unit_test(test_regex_and_choice),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
