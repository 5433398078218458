/*
 * jinja_cases.h — the table runner shared by the engine/jinja tests.
 *
 * A case is a template, an optional JSON context and the output Python
 * Jinja2 3.1.6 gives for it, configured as transformers configures it
 * (ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and
 * jinja2.ext.loopcontrols, its raise_exception / strftime_now globals and
 * its json.dumps tojson).  Rendering uses the chat options, the default
 * limits, and a fixed clock (1700000000) for strftime_now.
 */
#ifndef CTGI_TESTS_JINJA_CASES_H
#define CTGI_TESTS_JINJA_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja.h"
#include "support/testutil.h"

typedef struct {
    const char *src;
    const char *ctx; /* JSON object text or NULL */
    const char *want;
} jcase;

/* Parse + render with the chat options; NULL + err on failure. */
static inline char *render_lim(const char *src, const char *ctx_json, const jinja_limits *lim, char *err) {
    json_t *ctx = NULL;
    if (ctx_json) {
        json_error_t je;
        ctx = json_loads(ctx_json, 0, &je);
        assert_non_null(ctx);
    }
    jinja_options o = jinja_options_chat();
    jinja_template *t = jinja_parse(src, strlen(src), &o, err);
    char *out = NULL;
    if (t) {
        size_t n = 0;
        out = jinja_render(t, ctx, lim, &n, err);
        if (out) assert_int_equal(n, strlen(out));
        jinja_free(t);
    }
    json_decref(ctx);
    return out;
}

static inline char *render(const char *src, const char *ctx_json, char *err) {
    jinja_limits lim = jinja_limits_default();
    lim.now = 1700000000; /* strftime_now's clock (with TZ=UTC) */
    return render_lim(src, ctx_json, &lim, err);
}

static inline void run_cases(const jcase *cases, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char err[CT_ERRLEN] = "";
        char *out = render(cases[i].src, cases[i].ctx, err);
        if (!out || strcmp(out, cases[i].want) != 0) {
            print_error("case %zu: %s\n  want: [%s]\n  got:  [%s]\n", i, cases[i].src, cases[i].want,
                        out ? out : err);
            bad++;
        }
        free(out);
    }
    assert_int_equal(bad, 0);
}

/* The render must fail and the error must contain `needle`. */
static inline void expect_error_lim(const char *src, const char *ctx, const jinja_limits *lim, const char *needle) {
    char err[CT_ERRLEN] = "";
    char *out = lim ? render_lim(src, ctx, lim, err) : render(src, ctx, err);
    if (out) print_error("expected an error for %s, got [%s]\n", src, out);
    assert_null(out);
    if (!strstr(err, needle)) print_error("error [%s] lacks [%s]\n", err, needle);
    assert_non_null(strstr(err, needle));
}

static inline void expect_error(const char *src, const char *ctx, const char *needle) {
    expect_error_lim(src, ctx, NULL, needle);
}

#define RUN_CASES(table) run_cases((table), sizeof(table) / sizeof *(table))

#endif
