/*
 * jsonw.c — the JSON writer of jsonw.h: buffer growth, separators, string
 * escaping with UTF-8 repair, and serde_json/ryu-compatible f32 spelling.
 */
#include "jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw *w) { memset(w, 0, sizeof *w); }

void jw_free(jw *w) {
    free(w->buf);
    jw_init(w);
}

char *jw_finish(jw *w, size_t *len) {
    char *out = w->buf;
    bool ok = !w->failed && w->depth == 0 && !w->after_key && out;
    if (ok && len) *len = w->len;
    if (!ok) free(out);
    jw_init(w);
    return ok ? out : NULL;
}

/* Make room for n more bytes plus the terminator. */
static bool reserve(jw *w, size_t n) {
    if (w->failed) return false;
    if (w->len + n + 1 <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n + 1) {
        if (cap > SIZE_MAX / 2) return !(w->failed = true);
        cap *= 2;
    }
    char *b = realloc(w->buf, cap);
    if (!b) return !(w->failed = true);
    w->buf = b;
    w->cap = cap;
    return true;
}

void jw_raw(jw *w, const char *s, size_t len) {
    if (len == 0 || !reserve(w, len)) return; /* s may be NULL when len is 0 */
    memcpy(w->buf + w->len, s, len);
    w->len += len;
    w->buf[w->len] = '\0';
}

static void put(jw *w, char c) { jw_raw(w, &c, 1); }

/* Before any value or key: the comma between siblings, unless the value
 * follows its key. */
static void before_value(jw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth - 1]) put(w, ',');
        w->first[w->depth - 1] = false;
    }
}

static void open_container(jw *w, char c) {
    before_value(w);
    if (w->depth == JW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->first[w->depth++] = true;
    put(w, c);
}

static void close_container(jw *w, char c) {
    if (w->depth == 0 || w->after_key) {
        w->failed = true;
        return;
    }
    w->depth--;
    put(w, c);
}

void jw_obj_begin(jw *w) { open_container(w, '{'); }
void jw_obj_end(jw *w) { close_container(w, '}'); }
void jw_arr_begin(jw *w) { open_container(w, '['); }
void jw_arr_end(jw *w) { close_container(w, ']'); }

void jw_key(jw *w, const char *key) {
    before_value(w);
    put(w, '"');
    jw_raw(w, key, strlen(key));
    jw_raw(w, "\":", 2);
    w->after_key = true;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid;
 * *bad gets the length of the maximal invalid subpart (>= 1) in that case,
 * the unit Rust's from_utf8_lossy replaces by one U+FFFD. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char b = s[i];
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) break;
    }
    if (i == need) return need;
    *bad = i;
    return 0;
}

void jw_str(jw *w, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    if (!s) { /* an unset proto_str {NULL, 0} is the empty string */
        s = "";
        len = 0;
    }
    before_value(w);
    put(w, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: bytes since i that need no escaping */
    while (i + run < len) {
        size_t at = i + run, bad = 0;
        unsigned char c = p[at];
        size_t n = utf8_seq(p + at, len - at, &bad);
        if (n > 0 && c >= 0x20 && c != '"' && c != '\\') {
            run += n;
            continue;
        }
        jw_raw(w, s + i, run);
        if (n == 0) {
            jw_raw(w, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i = at + bad;
        } else {
            char esc[6] = {'\\', 0, 0, 0, 0, 0};
            size_t m = 2;
            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                m = 6;
            }
            jw_raw(w, esc, m);
            i = at + 1;
        }
        run = 0;
    }
    jw_raw(w, s + i, run);
    put(w, '"');
}

void jw_cstr(jw *w, const char *s) {
    if (s) jw_str(w, s, strlen(s));
    else jw_null(w);
}

void jw_u64(jw *w, uint64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    before_value(w);
    jw_raw(w, b, (size_t)n);
}

void jw_i64(jw *w, int64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    before_value(w);
    jw_raw(w, b, (size_t)n);
}

void jw_bool(jw *w, bool v) {
    before_value(w);
    if (v) jw_raw(w, "true", 4);
    else jw_raw(w, "false", 5);
}

void jw_null(jw *w) {
    before_value(w);
    jw_raw(w, "null", 4);
}

void jw_f32(jw *w, float v) {
    char b[40];
    size_t n = jw_format_f32(v, b);
    before_value(w);
    jw_raw(w, b, n);
}

/* ---- shortest round-trip floats ------------------------------------------ */

/* Does mantissa m × 10^e read back as v (as an f32 if f32, else a double)?
 * *dist gets |m×10^e − v|. */
static bool reads_back(uint64_t m, int e, double v, bool f32, double *dist) {
    char b[40];
    snprintf(b, sizeof b, "%" PRIu64 "e%d", m, e);
    double x = strtod(b, NULL);
    *dist = fabs(x - v);
    return f32 ? strtof(b, NULL) == (float)v : x == v;
}

/* The shortest digit string that reads back as v (finite, > 0), nearest to
 * v among equally short ones — what ryu computes.  The correctly rounded
 * p-digit decimal ("%.*e") is the nearest p-digit candidate; at a power of
 * two the rounding interval is lopsided, so its neighbours one unit in the
 * last place away are tried too.  Returns the digit count; *point is the
 * decimal exponent such that v = 0.d1d2d3… × 10^point. */
static int shortest_digits(double v, bool f32, char digits[24], int *point) {
    int max_p = f32 ? 9 : 17; /* enough digits to identify any value */
    for (int p = 1; p <= max_p; p++) {
        char b[48];
        snprintf(b, sizeof b, "%.*e", p - 1, v);
        uint64_t m = 0;
        char *q = b;
        for (; *q != 'e'; q++)
            if (*q >= '0' && *q <= '9') m = m * 10 + (uint64_t)(*q - '0');
        int e10 = atoi(q + 1) - (p - 1); /* v ≈ m × 10^e10 */
        uint64_t lo = 1, best = 0;
        for (int i = 1; i < p; i++) lo *= 10;
        double bd = 0, d;
        bool found = false;
        const uint64_t cand[3] = {m, m - 1, m + 1};
        for (int c = 0; c < 3; c++) {
            if (cand[c] < lo || cand[c] / 10 >= lo) continue; /* keep p digits */
            if (reads_back(cand[c], e10, v, f32, &d) && (!found || d < bd)) {
                found = true;
                best = cand[c];
                bd = d;
            }
        }
        if (!found && p < max_p) continue;
        if (!found) best = m;
        while (best % 10 == 0 && best >= 10) {
            best /= 10;
            e10++;
        }
        int n = snprintf(digits, 24, "%" PRIu64, best);
        *point = n + e10;
        return n;
    }
    *point = 0; /* unreachable: p == max_p always returns */
    return 0;
}

/* Lay v out as ryu's format32/format64 do; `big` is the largest decimal
 * point position written without exponent (13 for f32, 16 for f64), and
 * positions > `small` (-6, -5) are written as 0.000ddd. */
static size_t format_float(double v, bool f32, char *out) {
    const int big = f32 ? 13 : 16, small = f32 ? -6 : -5;
    if (!isfinite(v)) return (size_t)snprintf(out, 40, "null");
    size_t o = 0;
    if (signbit(v)) out[o++] = '-';
    if (v == 0.0) return o + (size_t)snprintf(out + o, 40 - o, "0.0");
    char d[24];
    int kk = 0;
    int len = shortest_digits(fabs(v), f32, d, &kk);
    int k = kk - len; /* exponent of the last digit */
    const char *zeros = "0000000000000000";
    if (k >= 0 && kk <= big) /* 1234e7 → 12340000000.0 */
        o += (size_t)snprintf(out + o, 40 - o, "%s%.*s.0", d, kk - len, zeros);
    else if (kk > 0 && kk <= big) /* 1234e-2 → 12.34 */
        o += (size_t)snprintf(out + o, 40 - o, "%.*s.%s", kk, d, d + kk);
    else if (kk > small && kk <= 0) /* 1234e-6 → 0.001234 */
        o += (size_t)snprintf(out + o, 40 - o, "0.%.*s%s", -kk, zeros, d);
    else if (len == 1) /* 1e30 */
        o += (size_t)snprintf(out + o, 40 - o, "%se%d", d, kk - 1);
    else /* 1234e30 → 1.234e33 */
        o += (size_t)snprintf(out + o, 40 - o, "%c.%se%d", d[0], d + 1, kk - 1);
    return o;
}

size_t jw_format_f32(float v, char *out) { return format_float((double)v, true, out); }
size_t jw_format_f64(double v, char *out) { return format_float(v, false, out); }
