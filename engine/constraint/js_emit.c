/*
 * js_emit.c — the output side of the JSON-Schema compiler: the regex
 * buffer (its size limit and the total work limit), escaping of literal
 * text and code points, errors and "matches nothing" reasons, the JSON
 * pointer of the schema at hand, the whitespace slots of each mode, JSON
 * values written as regexes (enum/const), and "any JSON value" nested at
 * most N containers deep.
 *
 * Any value at depth d: a scalar, or an array / object whose elements are
 * any values at depth d - 1.  A list costs two copies of its element
 * ((?:V(?:,V)*)?), so the regex grows about 4x per level (memoized per
 * depth while compiling: every `{}` of a schema at the same depth shares
 * the work).
 */
#include "js_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ------------------------------------------------------- */

static bool grow(js_ctx *c, size_t add) {
    if (c->fail) return false;
    c->work += add;
    if (c->n + add > JS_MAX_REGEX || c->work > JS_MAX_WORK) {
        js_fail(c, "the regex for this schema would exceed %u bytes (at %s): simplify the schema, "
                   "lower max_depth or bound recursion",
                JS_MAX_REGEX, js_where(c));
        return false;
    }
    if (c->n + add + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < c->n + add + 1) cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            js_fail(c, "out of memory");
            return false;
        }
        c->out = p;
        c->cap = cap;
    }
    return true;
}

void js_putn(js_ctx *c, const char *s, size_t n) {
    if (!grow(c, n)) return;
    memcpy(c->out + c->n, s, n);
    c->n += n;
    c->out[c->n] = 0;
}

void js_put(js_ctx *c, const char *s) { js_putn(c, s, strlen(s)); }

void js_putc(js_ctx *c, char ch) { js_putn(c, &ch, 1); }

void js_printf(js_ctx *c, const char *fmt, ...) {
    char buf[256];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < sizeof buf) js_putn(c, buf, (size_t)k);
    else if (k >= 0 && grow(c, (size_t)k)) { /* a long argument: format in place */
        vsnprintf(c->out + c->n, (size_t)k + 1, fmt, ap2);
        c->n += (size_t)k;
    }
    va_end(ap2);
}

void js_cut(js_ctx *c, size_t n) {
    if (n < c->n) {
        c->n = n;
        c->out[n] = 0;
    }
}

char *js_take(js_ctx *c, size_t from) {
    if (c->fail) return NULL;
    char *s = strndup(c->out + from, c->n - from);
    js_cut(c, from);
    if (!s) js_fail(c, "out of memory");
    return s;
}

static bool is_meta(int ch) { return ch && strchr("\\^$.|?*+()[]{}", ch) != NULL; }

void js_put_lit(js_ctx *c, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            js_printf(c, "\\x%02x", ch);
        else {
            if (is_meta(ch)) js_putc(c, '\\');
            js_putc(c, (char)ch);
        }
    }
}

void js_put_cp(js_ctx *c, uint32_t cp, bool in_class) {
    if (cp < 0x20 || cp == 0x7f) {
        js_printf(c, "\\x%02x", (unsigned)cp);
        return;
    }
    if (cp < 0x80) {
        if (in_class ? strchr("\\]^-[", (int)cp) != NULL : is_meta((int)cp)) js_putc(c, '\\');
        js_putc(c, (char)cp);
        return;
    }
    char b[4];
    size_t n;
    if (cp < 0x800) {
        b[0] = (char)(0xc0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18);
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    js_putn(c, b, n);
}

/* ---- errors and paths ---------------------------------------------------- */

js_st js_fail(js_ctx *c, const char *fmt, ...) {
    if (!c->fail) {
        c->fail = true;
        if (c->err) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err, CT_ERRLEN, fmt, ap);
            va_end(ap);
        }
    }
    return JS_FAIL;
}

js_st js_empty(js_ctx *c, const char *fmt, ...) {
    if (!c->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof c->why, fmt, ap);
        va_end(ap);
    }
    return c->fail ? JS_FAIL : JS_EMPTY;
}

const char *js_where(js_ctx *c) { return c->path_n ? c->path : "/"; }

static void path_add(js_ctx *c, const char *s, size_t n) {
    if (c->path_n + n + 1 > c->path_cap) {
        size_t cap = c->path_cap ? c->path_cap * 2 : 256;
        while (cap < c->path_n + n + 1) cap *= 2;
        char *p = realloc(c->path, cap);
        if (!p) {
            js_fail(c, "out of memory");
            return;
        }
        c->path = p;
        c->path_cap = cap;
    }
    memcpy(c->path + c->path_n, s, n);
    c->path_n += n;
    c->path[c->path_n] = 0;
}

size_t js_path_push(js_ctx *c, const char *seg) {
    size_t old = c->path_n;
    path_add(c, "/", 1);
    for (const char *p = seg; *p; p++) {
        if (*p == '~') path_add(c, "~0", 2);
        else if (*p == '/') path_add(c, "~1", 2);
        else path_add(c, p, 1);
    }
    return old;
}

size_t js_path_push_i(js_ctx *c, size_t i) {
    char b[32];
    snprintf(b, sizeof b, "%zu", i);
    return js_path_push(c, b);
}

void js_path_pop(js_ctx *c, size_t len) {
    if (c->path && len <= c->path_n) {
        c->path_n = len;
        c->path[len] = 0;
    }
}

/* Set the path to ptr (a $ref's fragment); returns the old path to restore. */
char *js_path_swap(js_ctx *c, const char *ptr) {
    char *old = strndup(c->path ? c->path : "", c->path_n);
    if (!old) {
        js_fail(c, "out of memory");
        return NULL;
    }
    c->path_n = 0;
    path_add(c, ptr, strlen(ptr));
    return old;
}

void js_path_restore(js_ctx *c, char *old) {
    c->path_n = 0;
    path_add(c, old, strlen(old));
    if (c->path) c->path[c->path_n] = 0;
    free(old);
}

const json_t *js_keep(js_ctx *c, json_t *j) {
    if (!j || json_array_append_new(c->keep, j) != 0) {
        js_fail(c, "out of memory");
        return NULL;
    }
    return j;
}

int js_levels_left(const js_ctx *c) {
    int l = c->opts.max_depth - c->depth;
    return l > 0 ? l : 0;
}

/* ---- whitespace ---------------------------------------------------------- */

static const char WS_FLEX[] = "[ \\n\\t]{0,2}";

void js_put_ws(js_ctx *c, js_ws_slot slot) {
    bool flex = c->opts.whitespace == JS_WS_FLEXIBLE;
    bool space = c->opts.whitespace == JS_WS_SPACE;
    switch (slot) {
    case JS_WS_OPEN:
    case JS_WS_CLOSE:
        if (flex) js_put(c, WS_FLEX);
        break;
    case JS_WS_COLON:
        if (flex) js_put(c, WS_FLEX);
        js_putc(c, ':');
        if (flex) js_put(c, WS_FLEX);
        if (space) js_put(c, " ?");
        break;
    case JS_WS_COMMA:
        if (flex) js_put(c, WS_FLEX);
        js_putc(c, ',');
        if (flex) js_put(c, WS_FLEX);
        if (space) js_put(c, " ?");
        break;
    }
}

/* ---- JSON literals ------------------------------------------------------------ */

void js_put_string_lit(js_ctx *c, const char *s, size_t n) {
    js_putc(c, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = ch == '"' ? "\\\\\"" : ch == '\\' ? "\\\\\\\\" : ch == '\b' ? "\\\\b"
                          : ch == '\f' ? "\\\\f" : ch == '\n' ? "\\\\n" : ch == '\r' ? "\\\\r"
                          : ch == '\t' ? "\\\\t" : NULL;
        if (esc) js_put(c, esc);
        else if (ch < 0x20) js_printf(c, "\\\\u00%02x", ch);
        else js_put_lit(c, (const char *)&s[i], 1);
    }
    js_putc(c, '"');
}

void js_fmt_double(double d, char *buf, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

void js_put_value(js_ctx *c, const json_t *v) {
    char num[64];
    size_t i;
    const char *k;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_NULL: js_put(c, "null"); break;
    case JSON_TRUE: js_put(c, "true"); break;
    case JSON_FALSE: js_put(c, "false"); break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        js_put_lit(c, num, strlen(num));
        break;
    case JSON_REAL:
        js_fmt_double(json_real_value(v), num, sizeof num);
        js_put_lit(c, num, strlen(num));
        break;
    case JSON_STRING: js_put_string_lit(c, json_string_value(v), json_string_length(v)); break;
    case JSON_ARRAY:
        js_put(c, "\\[");
        js_put_ws(c, JS_WS_OPEN);
        json_array_foreach(v, i, x) {
            if (i) js_put_ws(c, JS_WS_COMMA);
            js_put_value(c, x);
        }
        js_put_ws(c, JS_WS_CLOSE);
        js_put(c, "\\]");
        break;
    case JSON_OBJECT:
        js_put(c, "\\{");
        js_put_ws(c, JS_WS_OPEN);
        i = 0;
        size_t klen;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            if (i++) js_put_ws(c, JS_WS_COMMA);
            js_put_string_lit(c, k, klen);
            js_put_ws(c, JS_WS_COLON);
            js_put_value(c, x);
        }
        js_put_ws(c, JS_WS_CLOSE);
        js_put(c, "\\}");
        break;
    }
}

/* ---- any JSON value ------------------------------------------------------------ */

static const char ANY_NUMBER[] = "-?(?:0|[1-9]\\d{0,15})(?:\\.\\d{1,16})?(?:[eE][+-]?\\d{1,2})?";

static void put_any(js_ctx *c, int levels);

/* The memoized regex of any value within `levels` containers. */
static const char *any_memo(js_ctx *c, int levels) {
    if (!c->any_memo[levels]) {
        size_t from = c->n;
        put_any(c, levels);
        c->any_memo[levels] = js_take(c, from);
    }
    return c->any_memo[levels];
}

/* An object (or array) whose values nest at most levels - 1 containers. */
static void put_any_container(js_ctx *c, int levels, bool object) {
    const char *v = any_memo(c, levels - 1);
    if (!v) return;
    js_put(c, object ? "\\{" : "\\[");
    js_put_ws(c, JS_WS_OPEN);
    js_put(c, "(?:");
    for (int rep = 0; rep < 2; rep++) {
        if (rep) {
            js_put(c, "(?:");
            js_put_ws(c, JS_WS_COMMA);
        }
        if (object) {
            js_put(c, JS_STR_ANY);
            js_put_ws(c, JS_WS_COLON);
        }
        js_put(c, v);
    }
    js_put(c, ")*)?");
    js_put_ws(c, JS_WS_CLOSE);
    js_put(c, object ? "\\}" : "\\]");
}

static void put_any(js_ctx *c, int levels) {
    js_put(c, "(?:");
    js_put(c, JS_STR_ANY);
    js_putc(c, '|');
    js_put(c, ANY_NUMBER);
    js_put(c, "|true|false|null");
    if (levels > 0) {
        js_putc(c, '|');
        put_any_container(c, levels, true);
        js_putc(c, '|');
        put_any_container(c, levels, false);
    }
    js_putc(c, ')');
}

js_st js_any_value(js_ctx *c, int levels, bool object_only) {
    if (levels > JS_MAX_DEPTH_OPT) levels = JS_MAX_DEPTH_OPT;
    if (object_only) put_any_container(c, levels > 0 ? levels : 1, true);
    else {
        const char *v = any_memo(c, levels);
        if (v) js_put(c, v);
    }
    return c->fail ? JS_FAIL : JS_OK;
}
