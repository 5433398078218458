/*
 * js_string.c — JSON strings: any string (every code point but `"`, `\`
 * and controls raw, or one of JSON's escapes; \u escapes of UTF-16
 * surrogates are left out, astral characters are written raw), lengths
 * (minLength/maxLength count code points of the decoded string, so one
 * escape is one character; a maxLength above 1000 generates at most 1000,
 * a minLength above 1000 is an error), `pattern` (js_pattern.c) and the
 * formats below.
 *
 * Formats are written as regexes that ajv-formats (full mode) accepts, and
 * conservatively: date with real month lengths and leap years; time with
 * hours 00-23, no leap second, a fraction of at most 9 digits and a
 * mandatory Z or ±hh:mm offset; date-time = date "T" time; uuid in lower
 * case; email from a plain subset (dot-atom local part of [A-Za-z0-9_+-],
 * domain labels, an alphabetic TLD); ipv4 without leading zeros.  Other
 * formats are an error.  A format beside `pattern`, or with lengths its
 * strings do not always meet, is an error.
 */
#include "js_internal.h"

#include <stdlib.h>
#include <string.h>

#define JS_LEN_MAX 1000

const char JS_STR_CHAR[] = "(?:[^\"\\\\\\x00-\\x1f]|\\\\(?:[\"\\\\/bfnrt]|u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}"
                           "|[dD][0-7][0-9a-fA-F]{2})))";
const char JS_STR_ANY[] = "\"(?:[^\"\\\\\\x00-\\x1f]|\\\\(?:[\"\\\\/bfnrt]|u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}"
                          "|[dD][0-7][0-9a-fA-F]{2})))*\"";

#define RE_DATE                                                                               \
    "(?:\\d{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"       \
    "|(?:0[13578]|1[02])-31)|(?:\\d{2}(?:0[48]|[2468][048]|[13579][26])"                     \
    "|(?:[02468][048]|[13579][26])00)-02-29)"
#define RE_TIME                                                                               \
    "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)"
#define RE_OCTET "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
#define RE_LABEL "[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
#define RE_ATOM "[A-Za-z0-9_+-]{1,32}"

static const struct {
    const char *name, *re;
    size_t min, max; /* lengths of the strings re matches */
} FORMATS[] = {
    {"date", RE_DATE, 10, 10},
    {"time", RE_TIME, 9, 24},
    {"date-time", RE_DATE "T" RE_TIME, 20, 35},
    {"uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 36, 36},
    {"email", RE_ATOM "(?:\\." RE_ATOM "){0,2}@(?:" RE_LABEL "\\.){1,3}[A-Za-z]{2,12}", 6, 210},
    {"ipv4", "(?:" RE_OCTET "\\.){3}" RE_OCTET, 7, 15},
};

static size_t len_or(const json_t *s, const char *k, size_t dflt) {
    const json_t *v = json_object_get(s, k);
    return v ? (size_t)json_integer_value(v) : dflt;
}

static js_st put_format(js_ctx *c, const char *fmt, size_t min, size_t max) {
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++) {
        if (strcmp(FORMATS[i].name, fmt) != 0) continue;
        if (FORMATS[i].min < min || FORMATS[i].max > max)
            return js_fail(c, "format `%s` with minLength/maxLength is not supported at %s", fmt,
                           js_where(c));
        js_printf(c, "\"%s\"", FORMATS[i].re);
        return c->fail ? JS_FAIL : JS_OK;
    }
    return js_fail(c, "unsupported format `%s` at %s (supported: date, time, date-time, uuid, email, "
                      "ipv4)",
                   fmt, js_where(c));
}

static void put_count(js_ctx *c, size_t lo, size_t hi) {
    if (lo == 1 && hi == 1) return;
    if (lo == hi) js_printf(c, "{%zu}", lo);
    else if (hi == SIZE_MAX && lo == 0) js_putc(c, '*');
    else if (hi == SIZE_MAX) js_printf(c, "{%zu,}", lo);
    else js_printf(c, "{%zu,%zu}", lo, hi);
}

/* The pattern's strings, cut to the lengths when it is one repeated
 * character class; other patterns must meet the lengths already. */
static js_st put_pattern(js_ctx *c, const char *pat, size_t min, size_t max) {
    js_pattern_info info = {0};
    size_t start = c->n;
    js_putc(c, '"');
    size_t body = c->n;
    if (!js_put_pattern(c, pat, &info)) {
        free(info.atom);
        return JS_FAIL;
    }
    js_st st = JS_OK;
    if (info.min_len < min || info.max_len > max) {
        size_t lo = info.single && info.q_min > min ? info.q_min : min;
        size_t hi = info.single && info.q_max < max ? info.q_max : max;
        if (!info.single)
            st = js_fail(c, "`pattern` at %s can match strings outside minLength/maxLength: only a "
                            "single repeated character class can be combined with them",
                         js_where(c));
        else if (lo > hi) st = js_empty(c, "pattern and lengths at %s exclude each other", js_where(c));
        else if (lo > JS_LEN_MAX)
            st = js_fail(c, "minLength above %d is not supported at %s", JS_LEN_MAX, js_where(c));
        else {
            js_cut(c, body);
            js_put(c, info.atom);
            put_count(c, lo, hi > JS_LEN_MAX ? JS_LEN_MAX : hi);
        }
    }
    free(info.atom);
    if (st != JS_OK) {
        js_cut(c, start);
        return st;
    }
    js_putc(c, '"');
    return c->fail ? JS_FAIL : JS_OK;
}

js_st js_compile_string(js_ctx *c, const json_t *s) {
    const char *pat = json_string_value(json_object_get(s, "pattern"));
    const char *fmt = json_string_value(json_object_get(s, "format"));
    size_t min = len_or(s, "minLength", 0), max = len_or(s, "maxLength", SIZE_MAX);
    if (min > max) return js_empty(c, "minLength > maxLength at %s", js_where(c));
    if (pat && fmt) return js_fail(c, "`pattern` together with `format` is not supported at %s", js_where(c));
    if (fmt) return put_format(c, fmt, min, max);
    if (pat) return put_pattern(c, pat, min, max);
    if (min > JS_LEN_MAX)
        return js_fail(c, "minLength above %d is not supported at %s", JS_LEN_MAX, js_where(c));
    if (max == 0) {
        js_put(c, "\"\"");
        return c->fail ? JS_FAIL : JS_OK;
    }
    js_putc(c, '"');
    js_put(c, JS_STR_CHAR);
    put_count(c, min, max > JS_LEN_MAX && max != SIZE_MAX ? JS_LEN_MAX : max);
    js_putc(c, '"');
    return c->fail ? JS_FAIL : JS_OK;
}
