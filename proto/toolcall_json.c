/*
 * toolcall_json.c — a strict JSON scanner that reads one byte at a time and
 * says where values begin and end (toolcall_internal.h).
 *
 * The tool-call machine needs to know, while a model is still writing,
 * whether the text so far can still be JSON, where the arguments object
 * begins and where it closes — never the parsed value.  The scanner keeps
 * a stack of open containers and one small state; it accepts exactly what
 * RFC 8259 accepts (plus \u0000), so an arguments object it lets through
 * is one that every JSON parser reads.
 */
#include <string.h>

#include "toolcall_internal.h"

enum {
    JS_VALUE,     /* a value comes next */
    JS_OBJ_FIRST, /* after '{': a key or '}' */
    JS_OBJ_KEY,   /* after ',' in an object: a key */
    JS_COLON,     /* after a key */
    JS_ARR_FIRST, /* after '[': a value or ']' */
    JS_AFTER,     /* after a member: ',' or the container's close */
    JS_STR,
    JS_ESC,
    JS_HEX,
    JS_NUM,
    JS_LIT,
    JS_DONE,
};

/* number sub-states; the last four may end the number */
enum { N_MINUS, N_DOT, N_E, N_ESIGN, N_ZERO, N_INT, N_FRAC, N_EXP };

static const char *const LITS[3] = {"true", "false", "null"};

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

void tj_reset(tj *j) { memset(j, 0, sizeof *j); }

bool tj_done(const tj *j) { return j->state == JS_DONE; }

/* A value ended at the current depth. */
static tj_result value_end(tj *j, size_t end, tj_cb cb, void *ctx) {
    if (!cb(ctx, TJ_END, j->depth, end, 0)) return TJ_STOP;
    j->state = j->depth == 0 ? JS_DONE : JS_AFTER;
    return TJ_TAKEN;
}

static tj_result begin_value(tj *j, const char *buf, size_t pos, tj_cb cb, void *ctx) {
    unsigned char c = (unsigned char)buf[pos];
    int st;
    if (c == '{' || c == '[') st = c == '{' ? JS_OBJ_FIRST : JS_ARR_FIRST;
    else if (c == '"') st = JS_STR;
    else if (c == '-' || is_digit(c)) st = JS_NUM;
    else if (c == 't' || c == 'f' || c == 'n') st = JS_LIT;
    else return TJ_BAD;
    if ((c == '{' || c == '[') && j->depth >= TJ_MAX_DEPTH) return TJ_BAD;
    if (!cb(ctx, TJ_BEGIN, j->depth, pos, c)) return TJ_STOP;
    j->state = (uint8_t)st;
    if (c == '{' || c == '[') j->stack[j->depth++] = c;
    else if (c == '"') {
        j->key = false;
        j->str_start = pos;
    } else if (st == JS_NUM) j->sub = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
    else {
        j->sub = 1;
        j->u = c == 't' ? 0 : c == 'f' ? 1 : 2;
    }
    return TJ_TAKEN;
}

/* The first byte of a UTF-8 sequence inside a string. */
static bool utf8_lead(tj *j, unsigned char c) {
    j->utf_lo = 0x80;
    j->utf_hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) j->utf_need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        j->utf_need = 2;
        if (c == 0xE0) j->utf_lo = 0xA0;
        if (c == 0xED) j->utf_hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        j->utf_need = 3;
        if (c == 0xF0) j->utf_lo = 0x90;
        if (c == 0xF4) j->utf_hi = 0x8F; /* <= U+10FFFF */
    } else return false;
    return true;
}

static tj_result in_string(tj *j, size_t pos, unsigned char c, tj_cb cb, void *ctx) {
    if (j->utf_need) {
        if (c < j->utf_lo || c > j->utf_hi) return TJ_BAD;
        j->utf_lo = 0x80;
        j->utf_hi = 0xBF;
        j->utf_need--;
        return TJ_TAKEN;
    }
    if (j->want_low && c != '\\') return TJ_BAD;
    if (c == '\\') {
        j->state = JS_ESC;
        return TJ_TAKEN;
    }
    if (c == '"') {
        if (!j->key) return value_end(j, pos + 1, cb, ctx);
        j->state = JS_COLON;
        return cb(ctx, TJ_KEY, j->depth, j->str_start, pos + 1) ? TJ_TAKEN : TJ_STOP;
    }
    if (c < 0x20) return TJ_BAD;
    if (c >= 0x80 && !utf8_lead(j, c)) return TJ_BAD;
    return TJ_TAKEN;
}

static tj_result in_escape(tj *j, unsigned char c) {
    if (j->state == JS_ESC) {
        if (j->want_low && c != 'u') return TJ_BAD;
        if (c == 'u') {
            j->state = JS_HEX;
            j->sub = 0;
            j->u = 0;
        } else if (strchr("\"\\/bfnrt", c) && c) j->state = JS_STR;
        else return TJ_BAD;
        return TJ_TAKEN;
    }
    int d = is_digit(c) ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
    if (d < 0) return TJ_BAD;
    j->u = (uint16_t)(j->u * 16 + d);
    if (++j->sub < 4) return TJ_TAKEN;
    bool high = j->u >= 0xD800 && j->u <= 0xDBFF, low = j->u >= 0xDC00 && j->u <= 0xDFFF;
    if (j->want_low ? !low : low) return TJ_BAD;
    j->want_low = high;
    j->state = JS_STR;
    return TJ_TAKEN;
}

/* One byte of a number; *ended when c is not part of it (then c is read
 * again as the next token). */
static tj_result in_number(tj *j, unsigned char c, bool *ended) {
    uint8_t s = j->sub;
    *ended = false;
    if (is_digit(c)) {
        if (s == N_ZERO) return TJ_BAD; /* no leading zeros */
        j->sub = s == N_MINUS ? (c == '0' ? N_ZERO : N_INT)
                 : s == N_DOT ? N_FRAC
                 : s == N_E || s == N_ESIGN ? N_EXP : s;
        return TJ_TAKEN;
    }
    if (c == '.' && (s == N_ZERO || s == N_INT)) j->sub = N_DOT;
    else if ((c == 'e' || c == 'E') && (s == N_ZERO || s == N_INT || s == N_FRAC)) j->sub = N_E;
    else if ((c == '+' || c == '-') && s == N_E) j->sub = N_ESIGN;
    else if (s >= N_ZERO) *ended = true;
    else return TJ_BAD;
    return TJ_TAKEN;
}

/* ',' or a close after a member. */
static tj_result after_member(tj *j, size_t pos, unsigned char c, tj_cb cb, void *ctx) {
    uint8_t top = j->stack[j->depth - 1];
    if (c == ',') {
        j->state = top == '{' ? JS_OBJ_KEY : JS_VALUE;
        return TJ_TAKEN;
    }
    if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
        j->depth--;
        return value_end(j, pos + 1, cb, ctx);
    }
    return TJ_BAD;
}

tj_result tj_step(tj *j, const char *buf, size_t pos, tj_cb cb, void *ctx) {
    unsigned char c = (unsigned char)buf[pos];
    for (;;) {
        switch (j->state) {
        case JS_STR: return in_string(j, pos, c, cb, ctx);
        case JS_ESC:
        case JS_HEX: return in_escape(j, c);
        case JS_LIT: {
            const char *lit = LITS[j->u];
            if (c != (unsigned char)lit[j->sub]) return TJ_BAD;
            if (lit[++j->sub] == '\0') return value_end(j, pos + 1, cb, ctx);
            return TJ_TAKEN;
        }
        case JS_NUM: {
            bool ended;
            tj_result r = in_number(j, c, &ended);
            if (r != TJ_TAKEN || !ended) return r;
            r = value_end(j, pos, cb, ctx);
            if (r != TJ_TAKEN) return r;
            continue; /* read c again after the number */
        }
        case JS_DONE: return TJ_LEFT;
        default: break;
        }
        if (is_ws(c)) return TJ_TAKEN;
        switch (j->state) {
        case JS_VALUE: return begin_value(j, buf, pos, cb, ctx);
        case JS_ARR_FIRST:
            if (c == ']') {
                j->depth--;
                return value_end(j, pos + 1, cb, ctx);
            }
            return begin_value(j, buf, pos, cb, ctx);
        case JS_OBJ_FIRST:
            if (c == '}') {
                j->depth--;
                return value_end(j, pos + 1, cb, ctx);
            }
            /* fall through */
        case JS_OBJ_KEY:
            if (c != '"') return TJ_BAD;
            j->state = JS_STR;
            j->key = true;
            j->str_start = pos;
            return TJ_TAKEN;
        case JS_COLON:
            if (c != ':') return TJ_BAD;
            j->state = JS_VALUE;
            return TJ_TAKEN;
        default: return after_member(j, pos, c, cb, ctx);
        }
    }
}

static bool no_events(void *ctx, tj_event ev, int depth, size_t a, size_t b) {
    (void)ctx, (void)ev, (void)depth, (void)a, (void)b;
    return true;
}

bool tj_is_object(const char *s, size_t n) {
    if (n == 0 || s[0] != '{') return false;
    tj j;
    tj_reset(&j);
    for (size_t i = 0; i < n; i++)
        if (tj_step(&j, s, i, no_events, NULL) != TJ_TAKEN) return false;
    return tj_done(&j);
}
