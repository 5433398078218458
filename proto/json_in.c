/*
 * json_in.c — request bodies into jansson values (with the huge-integer
 * markers of json_in.h), and typed reads with serde-style messages.
 */
#include "json_in.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

#define MSG_PREFIX_422 "Failed to deserialize the JSON body into the target type: "
#define MSG_PREFIX_400 "Failed to parse the request body as JSON: "

/* ---- huge integers ------------------------------------------------------ */

/* Is s[0..n) a JSON integer literal (-?(0|[1-9][0-9]*)) outside int64? */
static bool huge_integer(const char *s, size_t n) {
    size_t i = s[0] == '-';
    size_t digits = n - i;
    if (digits == 0 || (s[i] == '0' && digits > 1)) return false;
    for (size_t j = i; j < n; j++)
        if (s[j] < '0' || s[j] > '9') return false;
    const char *lim = i ? "9223372036854775808" : "9223372036854775807";
    if (digits != 19) return digits > 19;
    return memcmp(s + i, lim, 19) > 0;
}

/* Replace every huge integer literal in the copy `text` by a marker real of
 * the same length.  Strings are skipped (a quote inside one is escaped).
 * Returns false if there are more than JI_MAX_BIG of them. */
static bool mark_huge_integers(char *text, size_t len, ji_doc *doc) {
    size_t i = 0;
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
            i++;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && strchr("0123456789+-.eE", text[i]) && text[i]) i++;
        if (!huge_integer(text + start, i - start)) continue;
        if (doc->n_big == JI_MAX_BIG) return false;
        int k = doc->n_big++;
        size_t n = i - start;
        snprintf(doc->big_text[k], sizeof doc->big_text[k], "%.*s", (int)n, text + start);
        char marker[24];
        int m = snprintf(marker, sizeof marker, "-%d.5e-300", k); /* <= 10 < 19 chars */
        doc->big_marker[k] = strtod(marker, NULL);
        memset(text + start, ' ', n);
        memcpy(text + start, marker, (size_t)m);
    }
    return true;
}

/* The original text of v if v is a huge-integer marker, else NULL. */
static const char *huge_text(const ji_doc *d, const json_t *v) {
    if (!json_is_real(v)) return NULL;
    double x = json_real_value(v);
    for (int k = 0; k < d->n_big; k++)
        if (x == d->big_marker[k]) return d->big_text[k];
    return NULL;
}

bool ji_load(const char *body, size_t len, ji_doc *doc, proto_error *err) {
    memset(doc, 0, sizeof *doc);
    char *copy = malloc(len + 1);
    if (!copy) return proto_fail(err, 500, "internal", "out of memory reading the body");
    memcpy(copy, body, len);
    copy[len] = '\0';
    if (!mark_huge_integers(copy, len, doc)) {
        free(copy);
        return proto_fail(err, 400, "invalid_json",
                          MSG_PREFIX_400 "more than %d integers too big for 64 bits", JI_MAX_BIG);
    }
    json_error_t je;
    doc->root = json_loadb(copy, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
                           &je);
    free(copy);
    if (!doc->root)
        return proto_fail(err, 400, "invalid_json", MSG_PREFIX_400 "%s at line %d column %d",
                          je.text, je.line, je.column);
    return true;
}

void ji_free(ji_doc *doc) {
    json_decref(doc->root);
    doc->root = NULL;
}

/* ---- messages ------------------------------------------------------------ */

bool ji_fail(proto_error *err, const char *path, const char *fmt, ...) {
    if (!err) return false;
    char what[PROTO_ERRLEN - 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (path && *path)
        return proto_fail(err, 422, "validation", MSG_PREFIX_422 "%.60s: %s", path, what);
    return proto_fail(err, 422, "validation", MSG_PREFIX_422 "%s", what);
}

/* A string as Rust's {:?} shows it, cut after ~200 bytes. */
static void debug_string(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 12 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == 0 ? "\\0" : NULL;
        if (esc) o += (size_t)snprintf(out + o, cap - o, "%s", esc);
        else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u{%x}", c);
        else out[o++] = (char)c;
        if (i + 1 < n && o + 12 >= cap) o += (size_t)snprintf(out + o, cap - o, "...");
    }
    snprintf(out + o, cap - o, "\"");
}

/* What v is, in serde_json's words ("string \"a\"", "integer `5`",
 * "floating point `1.5`", "boolean `true`", "null", "sequence", "map"). */
static void describe(const ji_doc *d, const json_t *v, char *out, size_t cap) {
    const char *huge = huge_text(d, v);
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: snprintf(out, cap, "map"); break;
    case JSON_ARRAY: snprintf(out, cap, "sequence"); break;
    case JSON_STRING: {
        char q[256];
        debug_string(json_string_value(v), json_string_length(v), q, sizeof q);
        snprintf(out, cap, "string %s", q);
        break;
    }
    case JSON_INTEGER: snprintf(out, cap, "integer `%" PRId64 "`", (int64_t)json_integer_value(v)); break;
    case JSON_REAL:
        if (huge) snprintf(out, cap, "integer `%s`", huge);
        else {
            jw_format_f64(json_real_value(v), num);
            snprintf(out, cap, "floating point `%s`", num);
        }
        break;
    case JSON_TRUE: snprintf(out, cap, "boolean `true`"); break;
    case JSON_FALSE: snprintf(out, cap, "boolean `false`"); break;
    case JSON_NULL: snprintf(out, cap, "null"); break;
    }
}

bool ji_type_error(const ji_doc *d, const json_t *v, const char *path, const char *expected,
                   proto_error *err) {
    char what[320];
    describe(d, v, what, sizeof what);
    return ji_fail(err, path, "invalid type: %s, expected %s", what, expected);
}

/* ---- typed reads ----------------------------------------------------------- */

bool ji_uint(const ji_doc *d, const json_t *v, uint64_t max, const char *expected,
             const char *path, uint64_t *out, proto_error *err) {
    const char *huge = huge_text(d, v);
    if (huge) {
        errno = 0;
        char *end;
        unsigned long long x = strtoull(huge, &end, 10);
        if (huge[0] != '-' && errno == 0 && *end == '\0' && x <= max) {
            *out = x;
            return true;
        }
        return ji_fail(err, path, "invalid value: integer `%s`, expected %s", huge, expected);
    }
    if (!json_is_integer(v)) return ji_type_error(d, v, path, expected, err);
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max)
        return ji_fail(err, path, "invalid value: integer `%" PRId64 "`, expected %s", (int64_t)x,
                       expected);
    *out = (uint64_t)x;
    return true;
}

bool ji_i32(const ji_doc *d, const json_t *v, const char *path, int32_t *out, proto_error *err) {
    const char *huge = huge_text(d, v);
    if (huge) return ji_fail(err, path, "invalid value: integer `%s`, expected i32", huge);
    if (!json_is_integer(v)) return ji_type_error(d, v, path, "i32", err);
    json_int_t x = json_integer_value(v);
    if (x < INT32_MIN || x > INT32_MAX)
        return ji_fail(err, path, "invalid value: integer `%" PRId64 "`, expected i32", (int64_t)x);
    *out = (int32_t)x;
    return true;
}

bool ji_f32(const ji_doc *d, const json_t *v, const char *path, float *out, proto_error *err) {
    const char *huge = huge_text(d, v);
    double x;
    if (huge) x = strtod(huge, NULL);
    else if (json_is_number(v)) x = json_number_value(v);
    else return ji_type_error(d, v, path, "f32", err);
    /* serde would turn a too-large value into inf; an honest error is
     * kinder than a parameter that silently became infinite */
    if (!(x <= 3.4028234663852886e38 && x >= -3.4028234663852886e38)) {
        char num[40];
        jw_format_f64(x, num);
        return ji_fail(err, path, "invalid value: floating point `%s`, expected f32",
                       huge ? huge : num);
    }
    *out = (float)x;
    return true;
}

bool ji_bool(const ji_doc *d, const json_t *v, const char *path, bool *out, proto_error *err) {
    if (!json_is_boolean(v)) return ji_type_error(d, v, path, "a boolean", err);
    *out = json_is_true(v);
    return true;
}

bool ji_string(const ji_doc *d, const json_t *v, const char *path, char **out, size_t *len,
               proto_error *err) {
    if (!json_is_string(v)) return ji_type_error(d, v, path, "a string", err);
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);
    if (!s) return proto_fail(err, 500, "internal", "out of memory reading the body");
    memcpy(s, json_string_value(v), n);
    s[n] = '\0';
    *out = s;
    if (len) *len = n;
    return true;
}
