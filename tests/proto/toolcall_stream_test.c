/*
 * toolcall_stream_test.c — proto/toolcall streams: for a set of texts of
 * every format (calls, content, malformed output), the events of a stream
 * fed in any pieces — every piece size 1..n, every cut into two, random
 * cuts — add up to tc_parse's result (content, calls, arguments, ids);
 * what a stream holds back and when it lets go; and the one documented
 * difference (a call whose arguments break after it opened).
 */
#include <stdio.h>

#include "toolcall_util.h"

typedef struct {
    tc_format f;
    const char *text;
} sample;

static const sample SAMPLES[] = {
    {TC_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"},
    {TC_HERMES, "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
                "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>"},
    {TC_HERMES, "<tool_call>{\"arguments\": {\"q\": [1, 2]}, \"type\": \"function\", \"name\": \"s\"}</tool_call>"},
    {TC_HERMES, "<tool_call>{\"name\": \"now\"}</tool_call> ok"},
    {TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": \" {\\\"a\\\": 1} \"}</tool_call>"},
    {TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {\"s\": \"}{\\\"]\", \"n\": [-0.5e-3, true, null]}}"
                "</tool_call>"},
    {TC_HERMES, "Voil\xC3\xA0 <tool_call>{\"name\": \"m\xC3\xA9t\xC3\xA9o\", \"arguments\": {\"v\": "
                "\"Z\xC3\xBCrich \xF0\x9F\x8C\xA7\"}}</tool_call>\n\nFin  "},
    {TC_HERMES, "<tool_call>{\"name\":\"a\",\"arguments\":{}}\n<tool_call>{\"name\":\"b\",\"arguments\":{}}"},
    {TC_HERMES, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}\n</tool_call>"},
    {TC_HERMES, "<tool_call>\n{\"name\": \"f\", \"argu"},
    {TC_HERMES, "<tool_call>{\"name\": f}</tool_call> and <tool_cal> <"},
    {TC_HERMES, "<tool_call>{\"function\": \"f\"}</tool_call>\n<tool_call>{\"name\":\"g\",\"arguments\":{}}</tool_call>"},
    {TC_HERMES, "a</tool_call>b <tool_call></tool_call> \n"},
    {TC_HERMES, "plain text, no calls at all\n  with   spaces "},
    {TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"},
    {TC_LLAMA3, " <|python_tag|>{\"type\": \"function\", \"name\": \"f\", \"parameters\": {}}; "
                "{\"name\": \"g\", \"arguments\": {\"x\": [1, {\"y\": \"}\"}]}}"},
    {TC_LLAMA3, "{\"result\": 42}"},
    {TC_LLAMA3, "{\"name\": \"Bob\", \"age\": 3}"},
    {TC_LLAMA3, "Checking.<|python_tag|>brave_search.call(query=\"x\")"},
    {TC_LLAMA3, "{\"name\":\"f\",\"parameters\":{}}; oops {"},
    {TC_LLAMA3, "\n\n{\"name\": \"f\"}"},
    {TC_LLAMA3, "<|python_tag|>{\"name\":\"f\",\"parameters\":{}}<|eom_id|> <|eot"},
    {TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 3.5, \"b\": 4}, \"id\": \"abcDEF123\"}, "
                 "{\"name\": \"sub\", \"arguments\": {}}]"},
    {TC_MISTRAL, "Sure. [TOOL_CALLS]add{\"a\":1}\n[TOOL_CALLS]mul[ARGS]{\"b\":{\"c\":2}}"},
    {TC_MISTRAL, "[TOOL_CALLS] oops [TOOL_CALLS][] [1, 2] [TOOL_CALL"},
    {TC_MISTRAL, "[TOOL_CALLS]f(x) then [TOOL_CALLS][{\"name\":\"g\",\"arguments\":{}}"},
    {TC_GENERIC, "{\"tool_call\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}"},
    {TC_GENERIC, "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": "
                 "{\"b\": \"x\"}, \"id\": \"1\"}]}"},
    {TC_GENERIC, "  {\"name\": \"f\", \"arguments\": {\"q\": 1}}  "},
    {TC_GENERIC, "{\"response\": \"hello\"}"},
    {TC_GENERIC, "Hello {\"tool_call\": {\"name\": \"f\"}}"},
    {TC_GENERIC, "{\"tool_call\": {\"name\": \"f\"}}"},
    {TC_GENERIC, ""},
};
#define N_SAMPLES (sizeof SAMPLES / sizeof SAMPLES[0])

/* Feed text in the pieces ending at cuts[0..n_cuts) (then the rest) and
 * fold the events; check each feed's events only extend the array. */
static void stream_result(tc_format f, const char *text, const size_t *cuts, int n_cuts,
                          tc_result *out) {
    tc_stream *s = tc_stream_new(f, SEED);
    assert_non_null(s);
    tc_event *evs = NULL;
    int n = 0, cap = 0, open = -1;
    size_t len = strlen(text), at = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        int before = n;
        assert_true(tc_stream_feed(s, text + at, end - at, i == n_cuts, &evs, &n, &cap));
        fold_events(evs + before, n - before, out, &open);
        at = end;
    }
    /* after the end nothing more comes */
    int before = n;
    assert_true(tc_stream_feed(s, "x", 1, true, &evs, &n, &cap));
    assert_int_equal(n, before);
    tc_events_clear(evs, n);
    free(evs);
    tc_stream_free(s);
}

static void parse_result(tc_format f, const char *text, tc_result *out) {
    uint64_t rng = SEED;
    assert_true(tc_parse(f, text, strlen(text), &rng, out) >= 0);
}

static void expect_stream(const sample *sm, const size_t *cuts, int n_cuts, const tc_result *want) {
    tc_result got;
    stream_result(sm->f, sm->text, cuts, n_cuts, &got);
    expect_same_result(&got, want, sm->text);
    tc_result_clear(&got);
}

static void test_every_piece_size(void **st) {
    size_t cuts[600];
    for (size_t i = 0; i < N_SAMPLES; i++) {
        tc_result want;
        parse_result(SAMPLES[i].f, SAMPLES[i].text, &want);
        size_t len = strlen(SAMPLES[i].text);
        for (size_t k = 1; k <= len; k++) {
            int n = 0;
            for (size_t c = k; c < len; c += k) cuts[n++] = c;
            expect_stream(&SAMPLES[i], cuts, n, &want);
        }
        expect_stream(&SAMPLES[i], cuts, 0, &want); /* one piece */
        tc_result_clear(&want);
    }
}

static void test_every_cut_in_two(void **st) {
    for (size_t i = 0; i < N_SAMPLES; i++) {
        tc_result want;
        parse_result(SAMPLES[i].f, SAMPLES[i].text, &want);
        size_t len = strlen(SAMPLES[i].text);
        for (size_t c = 0; c <= len; c++) expect_stream(&SAMPLES[i], &c, 1, &want);
        tc_result_clear(&want);
    }
}

static void test_random_cuts(void **st) {
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    size_t cuts[600];
    for (size_t i = 0; i < N_SAMPLES; i++) {
        tc_result want;
        parse_result(SAMPLES[i].f, SAMPLES[i].text, &want);
        size_t len = strlen(SAMPLES[i].text);
        for (int round = 0; round < 200; round++) {
            int n = 0;
            for (size_t c = 0;;) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                c += x % 9; /* empty pieces too */
                if (c >= len) break;
                cuts[n++] = c;
            }
            expect_stream(&SAMPLES[i], cuts, n, &want);
        }
        tc_result_clear(&want);
    }
}

/* ---- what is held back, and when it goes ---------------------------------------------- */

typedef struct {
    tc_stream *s;
    tc_event *evs;
    int n, cap;
} feeder;

/* Feed piece; the events it released, written as one string:
 * "C:text" content, "O:index:name" open, "A:index:text" arguments, joined by '|'. */
static void feed(feeder *fd, const char *piece, bool final, const char *want) {
    int before = fd->n;
    assert_true(tc_stream_feed(fd->s, piece, strlen(piece), final, &fd->evs, &fd->n, &fd->cap));
    char got[1024] = "";
    for (int i = before; i < fd->n; i++) {
        const tc_event *e = &fd->evs[i];
        char one[512];
        if (e->kind == TC_EV_CONTENT) snprintf(one, sizeof one, "C:%s", e->text);
        else if (e->kind == TC_EV_CALL_OPEN) snprintf(one, sizeof one, "O:%d:%s", e->index, e->name);
        else snprintf(one, sizeof one, "A:%d:%s", e->index, e->text);
        if (i > before) strcat(got, "|");
        strcat(got, one);
    }
    if (strcmp(got, want) != 0) fail_msg("after \"%s\": \"%s\", want \"%s\"", piece, got, want);
}

static feeder feeder_new(tc_format f) {
    feeder fd = {tc_stream_new(f, SEED), NULL, 0, 0};
    assert_non_null(fd.s);
    return fd;
}

static void feeder_free(feeder *fd) {
    tc_events_clear(fd->evs, fd->n);
    free(fd->evs);
    tc_stream_free(fd->s);
}

static void test_hermes_holds(void **st) {
    feeder fd = feeder_new(TC_HERMES);
    feed(&fd, "Hello <tool", false, "C:Hello");   /* " " and "<tool" held */
    feed(&fd, "_cal", false, "");
    feed(&fd, "l>\n{\"name\": \"f\", \"arg", false, ""); /* the name is known, the arguments not begun */
    feed(&fd, "uments\": {\"a\"", false, "O:0:f|A:0:{\"a\"");
    feed(&fd, ": [1, 2", false, "A:0:: [1, 2");
    feed(&fd, "]}}\n</tool_", false, "A:0:]}"); /* never past the arguments' brace */
    feed(&fd, "call>\n", false, "");
    feed(&fd, "<tool_call>{\"name\": \"g\"}", false, "O:1:g|A:1:{}");
    feed(&fd, "</tool_call>", true, "");
    assert_int_equal(fd.evs[5].kind, TC_EV_CALL_OPEN);
    assert_string_not_equal(fd.evs[1].id, fd.evs[5].id);
    check_id(TC_HERMES, fd.evs[1].id);
    feeder_free(&fd);

    /* text that only looked like a marker goes out when it is ruled out */
    fd = feeder_new(TC_HERMES);
    feed(&fd, "a <", false, "C:a");
    feed(&fd, "b", false, "C: <b");
    feed(&fd, "\n", false, "");
    feed(&fd, "c <tool_c", true, "C:\nc <tool_c"); /* the end: a piece of marker is text */
    feeder_free(&fd);

    /* a block that turns out malformed comes out as text when decided */
    fd = feeder_new(TC_HERMES);
    feed(&fd, "<tool_call>{\"name\"", false, "");
    feed(&fd, ": 7", false, "C:{\"name\": 7");
    feeder_free(&fd);
}

static void test_llama3_and_generic_hold_a_leading_brace(void **st) {
    feeder fd = feeder_new(TC_LLAMA3);
    feed(&fd, " {\"na", false, "");
    feed(&fd, "me\": \"f\", \"parameters\": {", false, "O:0:f|A:0:{");
    feed(&fd, "}}", true, "A:0:}");
    feeder_free(&fd);

    fd = feeder_new(TC_LLAMA3);
    feed(&fd, "{\"res", false, "");
    feed(&fd, "ult\": 1", false, "C:{\"result\": 1"); /* the first key says: not a call */
    feed(&fd, "}", true, "C:}");
    feeder_free(&fd);

    fd = feeder_new(TC_GENERIC);
    feed(&fd, "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {\"x\"", false, "O:0:f|A:0:{\"x\"");
    feed(&fd, ": 1}}, {\"name\": \"g\"", false, "A:0:: 1}");
    feed(&fd, "}]}", true, "O:1:g|A:1:{}");
    feeder_free(&fd);

    /* a '{' later than the start is plain text */
    fd = feeder_new(TC_GENERIC);
    feed(&fd, "x {", false, "C:x {");
    feed(&fd, "\"a\"", true, "C:\"a\"");
    feeder_free(&fd);
}

static void test_mistral_ids_and_v11(void **st) {
    feeder fd = feeder_new(TC_MISTRAL);
    feed(&fd, "[TOOL_CALLS]ad", false, "");
    feed(&fd, "d{\"a\"", false, "O:0:add|A:0:{\"a\"");
    feed(&fd, ":1}", true, "A:0::1}");
    check_id(TC_MISTRAL, fd.evs[0].id);
    feeder_free(&fd);
}

/* The difference: a call whose arguments began, then broke.  The stream
 * sent the open and a JSON prefix; tc_parse makes the whole call content. */
static void test_broken_after_open(void **st) {
    feeder fd = feeder_new(TC_HERMES);
    feed(&fd, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":", false, "O:0:f|A:0:{\"a\":");
    feed(&fd, "", true, ""); /* cut by max_tokens */
    feeder_free(&fd);
    expect_parse(TC_HERMES, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":",
                 "{\"name\":\"f\",\"arguments\":{\"a\":", NULL, 0);

    fd = feeder_new(TC_HERMES);
    feed(&fd, "<tool_call>{\"name\":\"f\",\"arguments\":{a}}</tool_call> tail", true,
         "O:0:f|A:0:{|C:a}} tail"); /* content resumes at the bad byte, the marker dropped */
    feeder_free(&fd);

    /* a later call still gets the next index and id */
    fd = feeder_new(TC_LLAMA3);
    feed(&fd, "{\"name\":\"f\",\"parameters\":{\"a\":1,}}", false, "O:0:f|A:0:{\"a\":1,|C:}}");
    feeder_free(&fd);
}

/* Events are merged within one feed, never across feeds (the caller may
 * have sent the earlier ones). */
static void test_events_not_merged_across_feeds(void **st) {
    feeder fd = feeder_new(TC_HERMES);
    feed(&fd, "ab", false, "C:ab");
    feed(&fd, "cd", false, "C:cd");
    assert_int_equal(fd.n, 2);
    assert_int_equal(fd.evs[0].len, 2);
    feeder_free(&fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_piece_size),
        cmocka_unit_test(test_every_cut_in_two),
        cmocka_unit_test(test_random_cuts),
        cmocka_unit_test(test_hermes_holds),
        cmocka_unit_test(test_llama3_and_generic_hold_a_leading_brace),
        cmocka_unit_test(test_mistral_ids_and_v11),
        cmocka_unit_test(test_broken_after_open),
        cmocka_unit_test(test_events_not_merged_across_feeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
