/*
 * openai_tools_test.c — the tool fields of a chat request: `tools` checked
 * and kept (parameters always an object), `tool_choice` in each form and
 * its defaults, `parallel_tool_calls`, every rejection with its status,
 * param and message, the cross-checks of oai_validate, the tools handed to
 * the template and to the constraint, and history messages (assistant
 * tool_calls with arguments parsed into objects, tool results) as the
 * template receives them.
 */
#include <stdlib.h>
#include <unistd.h>

#include "openai_util.h"
#include "template/chat_template.h"
#include "toolcall.h"

#define TOOL(name) "{\"type\":\"function\",\"function\":{\"name\":\"" name "\"}}"
#define WEATHER                                                                               \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\","   \
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}},"  \
    "\"strict\":true}}"
#define CHT(extra) "{" CHAT_HI "," extra "}"

static char *dumps(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS); }

static void expect_json(const json_t *v, const char *want) {
    char *s = dumps(v);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_tools_kept_for_the_template(void **st) {
    oai_request r = oparse(OAI_CHAT, CHT("\"tools\":[" WEATHER "," TOOL("now") "]"));
    assert_true(r.has_tools);
    assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_AUTO); /* the default with tools */
    assert_false(r.has_tool_choice);
    assert_true(r.parallel_tool_calls);
    expect_json(r.tools,
                "[{\"function\":{\"description\":\"d\",\"name\":\"get_weather\",\"parameters\":{"
                "\"properties\":{\"city\":{\"type\":\"string\"}},\"type\":\"object\"},\"strict\":true},"
                "\"type\":\"function\"},"
                "{\"function\":{\"name\":\"now\",\"parameters\":{\"additionalProperties\":false,\"properties\":{},\"type\":\"object\"}},"
                "\"type\":\"function\"}]");
    assert_ptr_equal(oai_template_tools(&r), r.tools);
    assert_null(oai_forced_tools(&r)); /* auto: nothing forced */
    assert_string_equal(oai_tool_name(json_array_get(r.tools, 1)), "now");
    oai_request_free(&r);
    /* null parameters, null description and strict are "not given" */
    r = oparse(OAI_CHAT, CHT("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a-b_9\","
                             "\"parameters\":null,\"description\":null,\"strict\":null}}]"));
    expect_json(json_object_get(json_object_get(json_array_get(r.tools, 0), "function"), "parameters"),
                "{\"additionalProperties\":false,\"properties\":{},\"type\":\"object\"}");
    oai_request_free(&r);
}

static void test_no_tools(void **st) {
    const char *bodies[] = {"{" CHAT_HI "}", CHT("\"tools\":null"), CHT("\"tools\":[]"),
                            CHT("\"tools\":[],\"tool_choice\":\"auto\"")};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        oai_request r = oparse(OAI_CHAT, bodies[i]);
        assert_null(r.tools);
        assert_false(r.has_tools);
        assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_NONE);
        assert_null(oai_template_tools(&r));
        assert_null(oai_forced_tools(&r));
        proto_limits l = olimits();
        proto_error e = {0};
        assert_true(oai_validate(&r, &l, &e));
        oai_request_free(&r);
    }
}

static void test_tool_choice_forms(void **st) {
    oai_request r = oparse(OAI_CHAT, CHT("\"tools\":[" TOOL("a") "," TOOL("b") "],\"tool_choice\":\"none\""));
    assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_NONE);
    assert_non_null(r.tools);
    assert_null(oai_template_tools(&r)); /* none: the template sees no tools */
    assert_null(oai_forced_tools(&r));
    oai_request_free(&r);

    r = oparse(OAI_CHAT, CHT("\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"tools\":["
                             TOOL("a") "," TOOL("b") "]"));
    assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_REQUIRED);
    assert_false(r.parallel_tool_calls);
    json_t *forced = oai_forced_tools(&r);
    assert_ptr_equal(forced, r.tools);
    json_decref(forced);
    oai_request_free(&r);

    r = oparse(OAI_CHAT, CHT("\"tools\":[" TOOL("a") "," TOOL("b") "],\"tool_choice\":{\"type\":"
                             "\"function\",\"function\":{\"name\":\"b\"}}"));
    assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_FUNCTION);
    assert_string_equal(r.tool_choice_name, "b");
    forced = oai_forced_tools(&r);
    expect_json(forced, "[{\"function\":{\"name\":\"b\",\"parameters\":{\"additionalProperties\":false,"
                        "\"properties\":{},\"type\":\"object\"}},\"type\":\"function\"}]");
    json_decref(forced);
    assert_ptr_equal(oai_template_tools(&r), r.tools); /* the template still sees them all */
    oai_request_free(&r);

    r = oparse(OAI_CHAT, CHT("\"tools\":[" TOOL("a") "],\"tool_choice\":null,\"parallel_tool_calls\":null"));
    assert_int_equal(r.tool_choice, OAI_TOOL_CHOICE_AUTO);
    assert_true(r.parallel_tool_calls);
    oai_request_free(&r);
}

static void test_tools_rejected(void **st) {
    struct {
        const char *body;
        int status;
        const char *msg;
    } cases[] = {
        {CHT("\"tools\":{}"), 400, DESER "tools: invalid type: map, expected a sequence"},
        {CHT("\"tools\":[\"f\"]"), 400, DESER "tools[0]: invalid type: string \"f\", expected a tool object"},
        {CHT("\"tools\":[{\"function\":{\"name\":\"f\"}}]"), 400, "Missing required parameter: 'tools[0].type'."},
        {CHT("\"tools\":[{\"type\":1}]"), 400, DESER "tools[0].type: invalid type: integer `1`, expected a string"},
        {CHT("\"tools\":[{\"type\":\"file_search\"}]"), 400,
         "Invalid value for 'tools[0].type': \"file_search\". Supported values are: 'function'."},
        {CHT("\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"x\"}}]"), 422,
         "tools[0].type: custom tools are not supported (only \"function\")"},
        {CHT("\"tools\":[{\"type\":\"function\"}]"), 400, "Missing required parameter: 'tools[0].function'."},
        {CHT("\"tools\":[{\"type\":\"function\",\"function\":[]}]"), 400,
         DESER "tools[0].function: invalid type: sequence, expected a function object"},
        {CHT("\"tools\":[" TOOL("a") ",{\"type\":\"function\",\"function\":{}}]"), 400,
         "Missing required parameter: 'tools[1].function.name'."},
        {CHT("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":7}}]"), 400,
         DESER "tools[0].function.name: invalid type: integer `7`, expected a string"},
        {CHT("\"tools\":[" TOOL("get weather") "]"), 400,
         "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that "
         "matches the pattern '^[a-zA-Z0-9_-]+$'."},
        {CHT("\"tools\":[" TOOL("") "]"), 400,
         "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that "
         "matches the pattern '^[a-zA-Z0-9_-]+$'."},
        {CHT("\"tools\":[" TOOL("a123456789b123456789c123456789d123456789e123456789f123456789g1234") "]"), 400,
         "Invalid 'tools[0].function.name': string too long. Expected a string with maximum length "
         "64, but got a string with length 65 instead."},
        {CHT("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":5}}]"), 400,
         DESER "tools[0].function.description: invalid type: integer `5`, expected a string"},
        {CHT("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":\"{}\"}}]"), 400,
         DESER "tools[0].function.parameters: invalid type: string \"{}\", expected a JSON Schema object"},
        {CHT("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"string\"}}}]"),
         400, "Invalid schema for function 'f': schema must be a JSON Schema of 'type: \"object\"', got "
              "'type: \"string\"'."},
        {CHT("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"strict\":\"yes\"}}]"), 400,
         DESER "tools[0].function.strict: invalid type: string \"yes\", expected a boolean"},
        {CHT("\"tools\":[" TOOL("f") "," TOOL("g") "," TOOL("f") "]"), 400,
         "tools[2].function.name: \"f\" is already the name of tools[0] (function names must be unique)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oparse_fails(OAI_CHAT, cases[i].body, cases[i].status, "tools", cases[i].msg);
        oai_request r;
        proto_error e = {0};
        assert_false(oai_parse(OAI_CHAT, cases[i].body, strlen(cases[i].body), &r, &e));
        assert_int_equal(oai_http_status(&e), cases[i].status);
        if (cases[i].status == 422) assert_string_equal(e.code, "unsupported_value");
        assert_null(r.tools);
        oai_request_free(&r);
    }
}

static void test_tool_choice_rejected(void **st) {
    struct {
        const char *body;
        int status;
        const char *msg;
    } cases[] = {
        {CHT("\"tool_choice\":1"), 400,
         DESER "tool_choice: invalid type: integer `1`, expected \"none\", \"auto\", \"required\" or a "
               "named function"},
        {CHT("\"tool_choice\":\"get_weather\""), 400,
         "Invalid value for 'tool_choice': \"get_weather\". Supported values are: 'none', 'auto', "
         "'required', or {\"type\": \"function\", \"function\": {\"name\": \"...\"}}."},
        {CHT("\"tool_choice\":{}"), 400, "Missing required parameter: 'tool_choice.type'."},
        {CHT("\"tool_choice\":{\"type\":\"tool\"}"), 400,
         "Invalid value for 'tool_choice.type': \"tool\". Supported values are: 'function'."},
        {CHT("\"tool_choice\":{\"type\":\"function\"}"), 400, "Missing required parameter: 'tool_choice.function'."},
        {CHT("\"tool_choice\":{\"type\":\"function\",\"function\":\"f\"}"), 400,
         DESER "tool_choice.function: invalid type: string \"f\", expected a function object"},
        {CHT("\"tool_choice\":{\"type\":\"function\",\"function\":{}}"), 400,
         "Missing required parameter: 'tool_choice.function.name'."},
        {CHT("\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":[]}}"), 400,
         DESER "tool_choice.function.name: invalid type: sequence, expected a string"},
        {CHT("\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\",\"tools\":[]}}"), 422,
         "`tool_choice` of type \"allowed_tools\" is not supported: name one function, or send \"auto\" "
         "or \"required\" with only the allowed tools"},
        {CHT("\"parallel_tool_calls\":\"no\""), 400,
         DESER "parallel_tool_calls: invalid type: string \"no\", expected a boolean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *param = strstr(cases[i].body, "parallel") ? "parallel_tool_calls" : "tool_choice";
        oparse_fails(OAI_CHAT, cases[i].body, cases[i].status, param, cases[i].msg);
    }
}

static void test_validate_cross_checks(void **st) {
    oinvalid(OAI_CHAT, CHT("\"tool_choice\":\"required\""), "tool_choice",
             "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.");
    oinvalid(OAI_CHAT, CHT("\"tools\":[],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"),
             "tool_choice",
             "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.");
    oinvalid(OAI_CHAT, CHT("\"tools\":[" TOOL("f") "],\"tool_choice\":{\"type\":\"function\",\"function\":"
                           "{\"name\":\"g\"}}"),
             "tool_choice", "Invalid value for 'tool_choice': no function named \"g\" in 'tools'.");
    ovalid(OAI_CHAT, CHT("\"tools\":[" TOOL("f") "],\"tool_choice\":{\"type\":\"function\",\"function\":"
                         "{\"name\":\"f\"}}"));
    ovalid(OAI_CHAT, CHT("\"tool_choice\":\"none\",\"parallel_tool_calls\":false"));
    ovalid(OAI_CHAT, CHT("\"tool_choice\":\"auto\""));
    /* completions know none of these fields */
    ovalid(OAI_COMPLETION, "{\"prompt\":\"p\",\"tools\":5,\"tool_choice\":\"required\"}");
}

static void test_history_reaches_the_template(void **st) {
    oai_request r = oparse(
        OAI_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"not json\"}},"
        "{\"id\":\"call_3\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"[1]\"}},"
        "{\"id\":\"call_4\",\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":{\"a\":1}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp_c\\\":21}\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"d\",\"type\":\"function\",\"function\":{\"name\":\"now\","
        "\"arguments\":\"\"}}]}],"
        "\"tools\":[" TOOL("get_weather") "]}");
    expect_json(r.messages,
                "[{\"content\":\"weather?\",\"role\":\"user\"},"
                "{\"content\":null,\"role\":\"assistant\",\"tool_calls\":["
                "{\"function\":{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"},\"id\":\"call_1\",\"type\":\"function\"},"
                "{\"function\":{\"arguments\":\"not json\",\"name\":\"f\"},\"id\":\"call_2\",\"type\":\"function\"},"
                "{\"function\":{\"arguments\":\"[1]\",\"name\":\"g\"},\"id\":\"call_3\",\"type\":\"function\"},"
                "{\"function\":{\"arguments\":{\"a\":1},\"name\":\"h\"},\"id\":\"call_4\",\"type\":\"function\"}]},"
                "{\"content\":\"{\\\"temp_c\\\":21}\",\"role\":\"tool\",\"tool_call_id\":\"call_1\"},"
                "{\"content\":\"a\\nb\",\"role\":\"tool\",\"tool_call_id\":\"call_2\"},"
                "{\"content\":\"Let me look.\",\"role\":\"assistant\",\"tool_calls\":[{\"function\":{"
                "\"arguments\":{},\"name\":\"now\"},\"id\":\"c\",\"type\":\"function\"}]},"
                "{\"content\":null,\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"arguments\":\"\","
                "\"name\":\"now\"},\"id\":\"d\",\"type\":\"function\"}]}]");
    proto_limits l = olimits();
    proto_error e = {0};
    assert_true(oai_validate(&r, &l, &e));
    oai_request_free(&r);
    /* tool_calls of another shape are passed on untouched */
    r = oparse(OAI_CHAT, "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":{\"a\":1}},"
                         "{\"role\":\"assistant\",\"content\":\"y\",\"tool_calls\":[5,{\"function\":3}]}]}");
    expect_json(r.messages, "[{\"content\":\"x\",\"role\":\"assistant\",\"tool_calls\":{\"a\":1}},"
                            "{\"content\":\"y\",\"role\":\"assistant\",\"tool_calls\":[5,{\"function\":3}]}]");
    oai_request_free(&r);
}

/* The parsed request rendered by a chat template that reads tools and
 * history the way Qwen2.5's does: parameters as objects, arguments as
 * objects (tojson, not a double-encoded string), tool_call_id kept; the
 * rendered call is read back by the Hermes parser. */
static void test_rendered_by_a_template(void **st) {
    static const char TEMPLATE[] =
        "{%- for t in tools %}T:{{ t.function.name }}{{ t.function.parameters.properties | tojson }}\n"
        "{% endfor %}"
        "{%- for m in messages %}{{ m.role }}:"
        "{%- if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{\"name\": \"{{ c.function.name }}\", "
        "\"arguments\": {{ c.function.arguments | tojson }}}</tool_call>{% endfor %}"
        "{%- elif m.role == 'tool' %}[{{ m.tool_call_id }}]{{ m.content }}"
        "{%- else %}{{ m.content }}{% endif %}{{ '\\n' }}{% endfor %}";
    char path[] = "/tmp/ctgi_tools_XXXXXX.jinja";
    int fd = mkstemps(path, 6);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, TEMPLATE, sizeof TEMPLATE - 1), (ssize_t)(sizeof TEMPLATE - 1));
    close(fd);
    char err[CT_ERRLEN];
    chat_template *ct = chat_template_create(NULL, path, err);
    unlink(path);
    if (!ct) fail_msg("%s", err);
    assert_int_equal(tc_detect_format(chat_template_source(ct)), TC_HERMES);
    oai_request r = oparse(
        OAI_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":[{\"type\":\"text\",\"text\":\"21C\"}]}],"
        "\"tools\":[" WEATHER "," TOOL("now") "]}");
    chat_render_opts o = {.tools = oai_template_tools(&r)};
    size_t n;
    char *text = chat_template_render(ct, NULL, r.messages, &o, &n, err);
    if (!text) fail_msg("%s", err);
    assert_string_equal(text, "T:get_weather{\"city\": {\"type\": \"string\"}}\n"
                              "T:now{}\n"
                              "user:weather?\n"
                              "assistant:<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"
                              "</tool_call>\n"
                              "tool:[call_1]21C\n");
    /* the rendered call is one the parser reads back */
    const char *call = strstr(text, "<tool_call>");
    uint64_t rng = 1;
    tc_result res;
    assert_int_equal(tc_parse(TC_HERMES, call, strcspn(call, "\n"), &rng, &res), 1);
    assert_string_equal(res.calls[0].name, "get_weather");
    assert_string_equal(res.calls[0].arguments, "{\"city\": \"Paris\"}");
    tc_result_clear(&res);
    free(text);
    oai_request_free(&r);
    chat_template_free(ct);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools_kept_for_the_template),
        cmocka_unit_test(test_no_tools),
        cmocka_unit_test(test_tool_choice_forms),
        cmocka_unit_test(test_tools_rejected),
        cmocka_unit_test(test_tool_choice_rejected),
        cmocka_unit_test(test_validate_cross_checks),
        cmocka_unit_test(test_history_reaches_the_template),
        cmocka_unit_test(test_rendered_by_a_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
