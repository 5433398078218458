/*
 * jinja_wrap.c — the wordwrap filter: Python's textwrap as Jinja2 calls
 * it (each line of the input wrapped on its own, expand_tabs and
 * replace_whitespace off, drop_whitespace on, lines joined by wrapstring).
 *
 * textwrap cuts text into chunks (runs of whitespace, and words, which
 * with break_on_hyphens also end after a hyphen between letters, as in
 * "well-|known"), then fills lines greedily; a chunk longer than a line is
 * broken (after its last hyphen that fits, else at the width) when
 * break_long_words, or gets a line of its own.  Everything counts code
 * points, and "letters" and "word characters" come from utf8proc's
 * Unicode categories as Python's \w does.
 */
#include <string.h>
#include <utf8proc.h>

#include "jinja_internal.h"

typedef struct { size_t start, len; } span;

static bool tw_space(int32_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static bool is_digit(int32_t c) { return utf8proc_category(c) == UTF8PROC_CATEGORY_ND; }
static bool is_word(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return c == '_' || (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}
static bool letter(int32_t c) { return is_word(c) && !is_digit(c); }
static bool word_punct(int32_t c) { return is_word(c) || (c < 128 && c && strchr("!\"'&.,?", (int)c)); }

/* How many '-' start at c[j]. */
static size_t dashes(const int32_t *c, size_t n, size_t j) {
    size_t k = j;
    while (k < n && c[k] == '-') k++;
    return k - j;
}

/* The end of the word chunk starting at c[i] (not a space), as textwrap's
 * wordsep_re: an em-dash "--" between words is a chunk of its own; a word
 * ends before a space or an em-dash, or just after a hyphen with two
 * letters (or letter-hyphen-letter) before it and a letter, an optional
 * hyphen and a letter after it. */
static size_t word_end(const int32_t *c, size_t n, size_t i) {
    size_t d = dashes(c, n, i);
    if (i > 0 && word_punct(c[i - 1]) && d >= 2 && i + d < n && is_word(c[i + d])) return i + d;
    for (size_t j = i + 1;; j++) {
        if (j >= n || tw_space(c[j])) return j;
        if (c[j] != '-') continue;
        bool before = (j >= 2 && letter(c[j - 2]) && letter(c[j - 1])) ||
                      (j >= 3 && letter(c[j - 3]) && c[j - 2] == '-' && letter(c[j - 1]));
        bool after = j + 2 < n && letter(c[j + 1]) &&
                     (letter(c[j + 2]) || (c[j + 2] == '-' && j + 3 < n && letter(c[j + 3])));
        if (before && after) return j + 1;
        d = dashes(c, n, j);
        if (word_punct(c[j - 1]) && d >= 2 && j + d < n && is_word(c[j + d])) return j;
    }
}

static size_t split_chunks(const int32_t *c, size_t n, bool hyphens, span *ch) {
    size_t k = 0;
    for (size_t i = 0, j; i < n; i = j) {
        j = i;
        if (tw_space(c[i])) while (j < n && tw_space(c[j])) j++;
        else if (!hyphens) while (j < n && !tw_space(c[j])) j++;
        else j = word_end(c, n, i);
        ch[k++] = (span){i, j - i};
    }
    return k;
}

static bool all_dashes(const int32_t *c, size_t a, size_t b) {
    while (a < b && c[a] == '-') a++;
    return a == b;
}

/* str.isspace(), which drop_whitespace uses (unlike the chunking). */
static bool py_space(int32_t c) {
    return tw_space(c) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0x2028 || c == 0x2029 ||
           (c > 0x7f && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS);
}

static bool all_space(const int32_t *c, size_t a, size_t b) {
    while (a < b && py_space(c[a])) a++;
    return a == b;
}

static void put_cps(jbuf *b, const int32_t *c, size_t a, size_t e) {
    for (; a < e; a++) {
        utf8proc_uint8_t enc[4];
        jb_put(b, (const char *)enc, (size_t)utf8proc_encode_char(c[a], enc));
    }
}

typedef struct {
    int64_t width;
    bool long_words, hyphens;
    jv wrapstring;
} wrap_opts;

/* textwrap.wrap(c[0, n)) with its lines joined by wrapstring, into b. */
static bool wrap_para(jrender *r, jbuf *b, const int32_t *c, size_t n, const wrap_opts *o) {
    span *ch = jr_alloc(r, (n + 1) * sizeof *ch);
    if (!ch) return false;
    size_t nch = split_chunks(c, n, o->hyphens, ch), k = 0;
    bool first = true;
    while (k < nch) {
        if (!first && all_space(c, ch[k].start, ch[k].start + ch[k].len)) k++; /* a new line drops leading space */
        size_t ls = k < nch ? ch[k].start : n, le = ls, last = ls;
        int64_t cur = 0;
        bool shield = false; /* textwrap appended an empty piece, which keeps trailing space */
        for (; k < nch && cur + (int64_t)ch[k].len <= o->width; k++)
            last = ch[k].start, le = ch[k].start + ch[k].len, cur += (int64_t)ch[k].len;
        if (k < nch && (int64_t)ch[k].len > o->width) {
            if (o->long_words) { /* break it: after its last hyphen that fits, else at the width */
                size_t end = (size_t)(o->width - cur), h = end;
                while (o->hyphens && h > 0 && c[ch[k].start + h - 1] != '-') h--;
                if (h > 1 && ch[k].len > end && !all_dashes(c, ch[k].start, ch[k].start + h - 1)) end = h;
                if (end) last = ch[k].start, le = ch[k].start + end;
                shield = end == 0;
                ch[k].start += end, ch[k].len -= end;
            } else if (le == ls) {
                last = ch[k].start, le = ch[k].start + ch[k].len, k++;
            }
        }
        if (le > ls && !shield && all_space(c, last, le)) le = last; /* and its trailing space */
        if (le == ls) continue;
        if (!first) jb_put(b, o->wrapstring.s.p, o->wrapstring.s.n);
        put_cps(b, c, ls, le);
        first = false;
    }
    return true;
}

/* str.splitlines()'s line boundaries (\r\n counts as one). */
static bool line_break(int32_t c) {
    return c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e) || c == 0x85 ||
           c == 0x2028 || c == 0x2029;
}

/* wordwrap(s, width=79, break_long_words=True, wrapstring=None,
 * break_on_hyphens=True) */
bool jf_wordwrap(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *w = jarg(a, 0, "width"), *lw = jarg(a, 1, "break_long_words"), *ws = jarg(a, 2, "wrapstring"),
             *hy = jarg(a, 3, "break_on_hyphens");
    wrap_opts o = {.width = 79, .long_words = !lw || jv_truthy(*lw), .hyphens = !hy || jv_truthy(*hy),
                   .wrapstring = jv_str("\n", 1)};
    if (w && w->k != JV_INT) return jr_fail(r, "wordwrap: width must be an integer");
    if (w) o.width = w->i;
    if (o.width <= 0) return jr_fail(r, "invalid width %lld (must be > 0)", (long long)o.width);
    if (ws && ws->k != JV_NONE && !jv_to_str(r, *ws, &o.wrapstring)) return false;
    if (v.k == JV_UNDEF) /* Jinja2 calls a str method on it */
        return v.s.n ? jr_fail(r, "'%.*s' is undefined", (int)v.s.n, v.s.p) : jr_fail(r, "wordwrap: undefined value");
    if (v.k != JV_STR && !jv_to_str(r, v, &v)) return false;
    int32_t *c = jr_alloc(r, (v.s.n + 1) * sizeof *c);
    if (!c) return false;
    size_t n = 0;
    for (size_t i = 0; i < v.s.n;) { /* decode; a malformed byte reads as itself */
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)v.s.p + i, (utf8proc_ssize_t)(v.s.n - i), &cp);
        if (k <= 0) cp = (unsigned char)v.s.p[i], k = 1;
        c[n++] = cp, i += (size_t)k;
    }
    jbuf b = jr_buf(r);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && !line_break(c[j]); j++) {}
        if (i) jb_put(&b, o.wrapstring.s.p, o.wrapstring.s.n);
        if (!wrap_para(r, &b, c + i, j - i, &o)) { jb_free(&b); return false; }
        if (j < n) j += c[j] == '\r' && j + 1 < n && c[j + 1] == '\n' ? 2 : 1;
    }
    return jv_from_buf(r, &b, out);
}
