/*
 * toolcall_util.h — helpers of the proto/toolcall tests: parse a text and
 * compare the result with an expected one written as a small table, check
 * an id's shape, and re-assemble stream events into a tc_result.
 */
#ifndef CTGI_TEST_TOOLCALL_UTIL_H
#define CTGI_TEST_TOOLCALL_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "toolcall.h"

#define SEED 0x1234ABCDull

typedef struct {
    const char *name, *args;
} want_call;

/* The id of a call of format f: "call_" + 24 alphanumerics, or 9. */
static inline void check_id(tc_format f, const char *id) {
    assert_non_null(id);
    size_t p = 0, n = 9;
    if (f != TC_MISTRAL) {
        assert_memory_equal(id, "call_", 5);
        p = 5;
        n = 24;
    }
    assert_int_equal(strlen(id), p + n);
    for (size_t i = p; i < p + n; i++) assert_true(isalnum((unsigned char)id[i]));
}

/* Every accepted call's arguments parse as a JSON object (numbers as reals:
 * a 30-digit integer is valid JSON that jansson's ints cannot hold). */
static inline void check_args_parse(const tc_result *r) {
    for (int i = 0; i < r->n_calls; i++) {
        json_error_t e;
        json_t *v = json_loads(r->calls[i].arguments, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
        if (!json_is_object(v)) fail_msg("arguments %s do not parse: %s", r->calls[i].arguments, e.text);
        json_decref(v);
    }
}

/* tc_parse(f, text) has content `content` (NULL: none) and the calls. */
static inline void expect_parse(tc_format f, const char *text, const char *content,
                                const want_call *calls, int n) {
    uint64_t rng = SEED;
    tc_result r;
    int got = tc_parse(f, text, strlen(text), &rng, &r);
    if (got != n) fail_msg("%s: %d calls, want %d (content %s)", text, got, n,
                           r.content ? r.content : "(null)");
    if (content) {
        if (!r.content) fail_msg("%s: no content, want \"%s\"", text, content);
        assert_string_equal(r.content, content);
        assert_int_equal(r.content_len, strlen(content));
    } else if (r.content)
        fail_msg("%s: content \"%s\", want none", text, r.content);
    for (int i = 0; i < n; i++) {
        check_id(f, r.calls[i].id);
        assert_string_equal(r.calls[i].name, calls[i].name);
        assert_string_equal(r.calls[i].arguments, calls[i].args);
        for (int k = 0; k < i; k++) assert_string_not_equal(r.calls[k].id, r.calls[i].id);
    }
    check_args_parse(&r);
    tc_result_clear(&r);
}

/* Stream events folded into a result (strings copied); the events'
 * order is checked on the way: a call's fragments follow its open, calls
 * open in index order, nothing comes for a call once the next opened. */
static inline void fold_events(const tc_event *e, int n, tc_result *r, int *open) {
    for (int i = 0; i < n; i++) {
        if (e[i].kind == TC_EV_CONTENT) {
            assert_non_null(e[i].text);
            assert_true(e[i].len > 0);
            r->content = realloc(r->content, r->content_len + e[i].len + 1);
            memcpy(r->content + r->content_len, e[i].text, e[i].len);
            r->content_len += e[i].len;
            r->content[r->content_len] = '\0';
        } else if (e[i].kind == TC_EV_CALL_OPEN) {
            assert_int_equal(e[i].index, r->n_calls);
            assert_non_null(e[i].id);
            assert_non_null(e[i].name);
            r->calls = realloc(r->calls, (size_t)(r->n_calls + 1) * sizeof *r->calls);
            tc_call *c = &r->calls[r->n_calls++];
            c->id = strdup(e[i].id);
            c->name = strdup(e[i].name);
            c->arguments = strdup("");
            *open = e[i].index;
        } else {
            assert_int_equal(e[i].index, *open);
            assert_true(e[i].len > 0);
            tc_call *c = &r->calls[e[i].index];
            size_t have = strlen(c->arguments);
            c->arguments = realloc(c->arguments, have + e[i].len + 1);
            memcpy(c->arguments + have, e[i].text, e[i].len + 1);
        }
    }
}

static inline void expect_same_result(const tc_result *a, const tc_result *b, const char *text) {
    if (!!a->content != !!b->content || (a->content && strcmp(a->content, b->content) != 0))
        fail_msg("%s: content \"%s\" vs \"%s\"", text, a->content ? a->content : "(null)",
                 b->content ? b->content : "(null)");
    assert_int_equal(a->content_len, b->content_len);
    if (a->n_calls != b->n_calls) fail_msg("%s: %d calls vs %d", text, a->n_calls, b->n_calls);
    for (int i = 0; i < a->n_calls; i++) {
        assert_string_equal(a->calls[i].id, b->calls[i].id);
        assert_string_equal(a->calls[i].name, b->calls[i].name);
        assert_string_equal(a->calls[i].arguments, b->calls[i].arguments);
    }
}

#endif
