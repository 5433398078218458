/*
 * rx_utf8.c — code-point sets (rx_set_) and their UTF-8 encodings
 * (rx_utf8_): the bridge from the regex's code points to the NFA's bytes.
 *
 * A class like [a-zé] or [^"\\] is a set of code point ranges; the NFA
 * matches bytes, so each range becomes a few byte-range sequences, e.g.
 * U+0080..U+07FF = [C2-DF][80-BF].  A range is first cut where the
 * encoding length changes (U+007F, U+07FF, U+FFFF), then where a lower
 * 6-bit group does not span its whole [0, 63], until every byte position
 * of the piece ranges independently.  Surrogates are never encoded (the
 * sets drop them first), so the byte language is valid UTF-8 only.
 */
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

/* ---- sets ------------------------------------------------------------------------------ */

bool rx_set_add(rx_arena *a, rx_set *s, uint32_t lo, uint32_t hi) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 4;
        rx_range *r = rx_alloc(a, (size_t)cap * sizeof *r);
        if (!r) return false;
        if (s->n) memcpy(r, s->r, (size_t)s->n * sizeof *r);
        s->r = r; /* the old array stays in the arena until the parse is freed */
        s->cap = cap;
    }
    s->r[s->n++] = (rx_range){lo, hi};
    return true;
}

bool rx_set_add_set(rx_arena *a, rx_set *s, const rx_set *t) {
    for (int i = 0; i < t->n; i++)
        if (!rx_set_add(a, s, t->r[i].lo, t->r[i].hi)) return false;
    return true;
}

static int cmp_range(const void *x, const void *y) {
    const rx_range *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

void rx_set_normalize(rx_set *s) {
    if (s->n < 2) return;
    qsort(s->r, (size_t)s->n, sizeof *s->r, cmp_range);
    int k = 0;
    for (int i = 1; i < s->n; i++) {
        if (s->r[i].lo <= s->r[k].hi + 1) { /* overlapping or adjacent: merge */
            if (s->r[i].hi > s->r[k].hi) s->r[k].hi = s->r[i].hi;
        } else {
            s->r[++k] = s->r[i];
        }
    }
    s->n = k + 1;
}

bool rx_set_complement(rx_arena *a, const rx_set *s, rx_set *out) {
    *out = (rx_set){0};
    uint32_t next = 0; /* the first code point not yet covered */
    for (int i = 0; i < s->n; i++) {
        if (s->r[i].lo > next && !rx_set_add(a, out, next, s->r[i].lo - 1)) return false;
        next = s->r[i].hi + 1;
    }
    if (next <= RX_MAX_CODEPOINT && !rx_set_add(a, out, next, RX_MAX_CODEPOINT)) return false;
    return rx_set_drop_surrogates(a, out);
}

bool rx_set_drop_surrogates(rx_arena *a, rx_set *s) {
    const uint32_t lo = 0xD800, hi = 0xDFFF;
    rx_set t = {0};
    for (int i = 0; i < s->n; i++) {
        rx_range r = s->r[i];
        if (r.hi < lo || r.lo > hi) {
            if (!rx_set_add(a, &t, r.lo, r.hi)) return false;
            continue;
        }
        if (r.lo < lo && !rx_set_add(a, &t, r.lo, lo - 1)) return false;
        if (r.hi > hi && !rx_set_add(a, &t, hi + 1, r.hi)) return false;
    }
    *s = t;
    return true;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

int rx_utf8_encode(uint32_t cp, uint8_t *b) {
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (uint8_t)(0xF0 | cp >> 18);
    b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    b[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int rx_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    uint8_t c = s[0];
    int len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < (size_t)len) return 0;
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[k] & 0x3F);
    }
    if (v < min || v > RX_MAX_CODEPOINT || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

static int enc_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

bool rx_utf8_ranges(uint32_t lo, uint32_t hi, bool (*emit)(void *ud, const rx_utf8_seq *q), void *ud) {
    /* an explicit stack of pieces still to cut, taken in increasing order */
    rx_range stack[64];
    int sp = 0;
    stack[sp++] = (rx_range){lo, hi};
    while (sp > 0) {
        rx_range r = stack[--sp];
        bool cut = false;
        static const uint32_t len_edge[] = {0x7F, 0x7FF, 0xFFFF};
        for (int k = 0; k < 3 && !cut; k++)
            if (r.lo <= len_edge[k] && r.hi > len_edge[k]) {
                stack[sp++] = (rx_range){len_edge[k] + 1, r.hi}; /* the upper part after the lower */
                stack[sp++] = (rx_range){r.lo, len_edge[k]};
                cut = true;
            }
        int n = enc_len(r.lo);
        for (int i = 1; i < n && !cut; i++) {
            uint32_t m = (1u << (6 * i)) - 1; /* the low i continuation bytes */
            if ((r.lo & ~m) == (r.hi & ~m)) continue;
            if (r.lo & m) { /* lo does not start a full block of the lower bytes */
                stack[sp++] = (rx_range){(r.lo | m) + 1, r.hi};
                stack[sp++] = (rx_range){r.lo, r.lo | m};
                cut = true;
            } else if ((r.hi & m) != m) { /* hi does not end one */
                stack[sp++] = (rx_range){r.hi & ~m, r.hi};
                stack[sp++] = (rx_range){r.lo, (r.hi & ~m) - 1};
                cut = true;
            }
        }
        if (cut) continue;
        rx_utf8_seq q = {.len = n};
        rx_utf8_encode(r.lo, q.lo);
        rx_utf8_encode(r.hi, q.hi);
        if (!emit(ud, &q)) return false;
    }
    return true;
}
