/*
 * js_pattern.c — a JSON-Schema `pattern` (an ECMAScript regex, compiled by
 * ajv with the `u` flag) rewritten into the dialect of constraint.h as the
 * JSON string contents whose DECODED text fully matches it.
 *
 * Full matches are sound: a string the whole pattern matches is also found
 * by the search JSON Schema performs.  A `^` at the start and a `$` at the
 * end of a top-level alternative are therefore dropped; anchors elsewhere
 * are refused.
 *
 * Every character the pattern can produce is written as the JSON string
 * literal spells it: a class, `.` or escape is parsed into a set of code
 * points (ECMAScript's sets: \s is JavaScript's white space, `.` leaves out
 * the four line terminators) and split into the characters JSON writes raw
 * (emitted as a class) and `"`, `\` and the controls, emitted as their JSON
 * escapes (\" \\ \n ... \u00XX) — so the pattern can never close the
 * string or put a raw control character in it.
 *
 * Supported: literals, `.`, classes with ranges and negation, \d \D \w \W
 * \s \S, \n \r \t \f \v \0 \b (in a class) \xHH \uHHHH (surrogate pairs
 * joined) \u{H...}, escaped punctuation, groups ( ), (?: ), (?<name> ),
 * alternation, * + ? {m} {m,} {m,n} with an optional lazy `?` (repeats above
 * 1000 are capped at 1000: fewer strings, still sound; a minimum above 1000
 * is refused).  Refused with the offset: backreferences, lookaround, \b \B
 * outside classes, \c, \p{..}, inline flags, anchors inside the pattern,
 * quantifiers with nothing to repeat.
 */
#include "js_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GROUP_DEPTH 64
#define REPEAT_MAX 1000
#define CP_MAX 0x10ffff
#define INF SIZE_MAX

typedef struct {
    uint32_t lo, hi;
} rng;

typedef struct {
    rng *v;
    size_t n, cap;
    bool oom;
} cset;

typedef struct {
    js_ctx *c;
    const char *pat, *p; /* the pattern, the cursor */
    int depth;
    bool term_char;          /* the last term's atom is one character */
    size_t atom_from, atom_to; /* its regex in c->out */
    size_t q_min, q_max;     /* its repetition */
} pparse;

static bool perr(pparse *x, const char *what) {
    js_fail(x->c, "`pattern` at %s: %s at offset %zu", js_where(x->c), what, (size_t)(x->p - x->pat));
    return false;
}

static size_t sat_add(size_t a, size_t b) { return a > INF - b ? INF : a + b; }

static size_t sat_mul(size_t a, size_t b) {
    if (!a || !b) return 0;
    return a > INF / b ? INF : a * b;
}

/* ---- code point sets ------------------------------------------------------ */

static void cs_add(cset *s, uint32_t lo, uint32_t hi) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        rng *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (rng){lo, hi};
}

static int rng_cmp(const void *a, const void *b) {
    const rng *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and merge overlapping or adjacent ranges. */
static void cs_norm(cset *s) {
    if (!s->n) return;
    qsort(s->v, s->n, sizeof *s->v, rng_cmp);
    size_t k = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->v[i].lo <= s->v[k].hi + 1) {
            if (s->v[i].hi > s->v[k].hi) s->v[k].hi = s->v[i].hi;
        } else s->v[++k] = s->v[i];
    }
    s->n = k + 1;
}

static void cs_negate(cset *s) {
    cs_norm(s);
    cset out = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].lo > next) cs_add(&out, next, s->v[i].lo - 1);
        next = s->v[i].hi + 1;
    }
    if (next <= CP_MAX) cs_add(&out, next, CP_MAX);
    free(s->v);
    out.oom |= s->oom;
    *s = out;
}

/* Remove [lo, hi] from a normalized set. */
static void cs_remove(cset *s, uint32_t lo, uint32_t hi) {
    cset out = {0};
    for (size_t i = 0; i < s->n; i++) {
        rng r = s->v[i];
        if (r.hi < lo || r.lo > hi) cs_add(&out, r.lo, r.hi);
        else {
            if (r.lo < lo) cs_add(&out, r.lo, lo - 1);
            if (r.hi > hi) cs_add(&out, hi + 1, r.hi);
        }
    }
    free(s->v);
    out.oom |= s->oom;
    *s = out;
}

static bool cs_has(const cset *s, uint32_t cp) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].lo <= cp && cp <= s->v[i].hi) return true;
    return false;
}

/* ECMAScript's \d \w \s, `.` without the s flag. */
static void cs_class_escape(cset *s, char which) {
    switch (which) {
    case 'd': cs_add(s, '0', '9'); break;
    case 'w':
        cs_add(s, '0', '9');
        cs_add(s, 'A', 'Z');
        cs_add(s, '_', '_');
        cs_add(s, 'a', 'z');
        break;
    case 's': {
        static const rng ws[] = {{0x09, 0x0d}, {0x20, 0x20}, {0xa0, 0xa0}, {0x1680, 0x1680},
                                 {0x2000, 0x200a}, {0x2028, 0x2029}, {0x202f, 0x202f},
                                 {0x205f, 0x205f}, {0x3000, 0x3000}, {0xfeff, 0xfeff}};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) cs_add(s, ws[i].lo, ws[i].hi);
        break;
    }
    default: /* '.' */
        cs_add(s, 0x0a, 0x0a);
        cs_add(s, 0x0d, 0x0d);
        cs_add(s, 0x2028, 0x2029);
        cs_negate(s);
        break;
    }
}

/* Add \d \D \w \W \s \S (upper case: the complement) to s. */
static void cs_add_escape(cset *s, char e) {
    cset t = {0};
    cs_class_escape(&t, (char)(e | 0x20));
    if (e >= 'A' && e <= 'Z') cs_negate(&t);
    for (size_t i = 0; i < t.n; i++) cs_add(s, t.v[i].lo, t.v[i].hi);
    s->oom |= t.oom;
    free(t.v);
}

/* ---- emitting a set as JSON string contents ---------------------------------- */

static void put_ranges(js_ctx *c, const cset *s) {
    js_putc(c, '[');
    for (size_t i = 0; i < s->n; i++) {
        js_put_cp(c, s->v[i].lo, true);
        if (s->v[i].hi == s->v[i].lo) continue;
        if (s->v[i].hi > s->v[i].lo + 1) js_putc(c, '-');
        js_put_cp(c, s->v[i].hi, true);
    }
    js_putc(c, ']');
}

/* The characters of s as JSON writes them: raw ones as a class, `"`, `\`
 * and controls as their escapes.  s is consumed. */
static bool put_cset(pparse *x, cset *s) {
    js_ctx *c = x->c;
    cs_norm(s);
    cs_remove(s, 0xd800, 0xdfff);
    if (s->oom) {
        free(s->v);
        return js_fail(c, "out of memory") != JS_FAIL;
    }
    bool quote = cs_has(s, '"'), bslash = cs_has(s, '\\');
    uint32_t ctrl = 0;
    for (uint32_t k = 0; k < 0x20; k++)
        if (cs_has(s, k)) ctrl |= 1u << k;
    cs_remove(s, 0, 0x1f);
    cs_remove(s, '"', '"');
    cs_remove(s, '\\', '\\');
    bool bad = quote || bslash || ctrl;
    if (!s->n && !bad) {
        free(s->v);
        return perr(x, "a character class that matches nothing");
    }
    if (!bad && s->n == 1 && s->v[0].lo == s->v[0].hi) js_put_cp(c, s->v[0].lo, false);
    else if (!bad) put_ranges(c, s);
    else {
        const char *sep = "";
        js_put(c, "(?:");
        if (s->n) {
            put_ranges(c, s);
            sep = "|";
        }
        if (quote) js_printf(c, "%s\\\\\"", sep), sep = "|";
        if (bslash) js_printf(c, "%s\\\\\\\\", sep), sep = "|";
        static const char shorts[] = "\bb\tt\nn\ff\rr";
        uint32_t short_mask = 0;
        for (int i = 0; shorts[i]; i += 2) short_mask |= 1u << shorts[i];
        if (ctrl & short_mask) {
            js_printf(c, "%s\\\\[", sep);
            for (int i = 0; shorts[i]; i += 2)
                if (ctrl & 1u << shorts[i]) js_putc(c, shorts[i + 1]);
            js_putc(c, ']');
            sep = "|";
        }
        if (ctrl & ~short_mask) {
            js_printf(c, "%s\\\\u00(?:", sep);
            sep = "";
            for (uint32_t k = 0; k < 0x20; k++)
                if ((ctrl & ~short_mask) & 1u << k) js_printf(c, "%s%02x", sep, (unsigned)k), sep = "|";
            js_putc(c, ')');
        }
        js_putc(c, ')');
    }
    free(s->v);
    return !c->fail;
}

/* ---- the parser ------------------------------------------------------------------ */

static int hexv(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* n hex digits at the cursor (n 0: the digits of \u{...} up to `}`). */
static bool parse_hex(pparse *x, int n, uint32_t *cp) {
    uint32_t v = 0;
    int k = 0;
    for (; n ? k < n : x->p[k] != '}'; k++) {
        int h = hexv((unsigned char)x->p[k]);
        if (h < 0 || k > 6) return perr(x, "a malformed hexadecimal escape");
        v = v * 16 + (uint32_t)h;
    }
    if (!k || v > CP_MAX) return perr(x, "a malformed hexadecimal escape");
    x->p += k + (n ? 0 : 1);
    *cp = v;
    return true;
}

/* \uHHHH (a surrogate pair in two escapes is one code point) or \u{H...}. */
static bool parse_u(pparse *x, uint32_t *cp) {
    if (*x->p == '{') {
        x->p++;
        return parse_hex(x, 0, cp);
    }
    if (!parse_hex(x, 4, cp)) return false;
    if (*cp >= 0xd800 && *cp <= 0xdbff && x->p[0] == '\\' && x->p[1] == 'u') {
        const char *save = x->p;
        uint32_t lo;
        x->p += 2;
        if (parse_hex(x, 4, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
            return true;
        }
        if (x->c->fail) return false;
        x->p = save;
    }
    if (*cp >= 0xd800 && *cp <= 0xdfff) return perr(x, "a lone surrogate");
    return true;
}

/* After a backslash: 1 = one code point in *cp, 2 = a set added to s,
 * 0 = error. */
static int parse_escape(pparse *x, cset *s, uint32_t *cp, bool in_class) {
    char e = *x->p++;
    switch (e) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S': cs_add_escape(s, e); return 2;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 't': *cp = '\t'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = '\v'; return 1;
    case 'x': return parse_hex(x, 2, cp) ? 1 : 0;
    case 'u': return parse_u(x, cp) ? 1 : 0;
    case '0':
        if (*x->p >= '0' && *x->p <= '9') return perr(x, "octal escapes are not supported");
        *cp = 0;
        return 1;
    case 'b':
        if (in_class) {
            *cp = '\b';
            return 1;
        }
        return perr(x, "\\b (word boundary) is not supported");
    case 'B': return perr(x, "\\B (word boundary) is not supported");
    case 'c': return perr(x, "\\c control escapes are not supported");
    case 'k': return perr(x, "named backreferences are not supported");
    case 'p': case 'P': return perr(x, "Unicode property escapes are not supported");
    case 0: x->p--; return perr(x, "a trailing backslash");
    default:
        if (e >= '1' && e <= '9') return perr(x, "backreferences are not supported");
        if ((unsigned char)e < 0x80 && !((e | 0x20) >= 'a' && (e | 0x20) <= 'z') && e > 0x20) {
            *cp = (uint32_t)e;
            return 1;
        }
        x->p--;
        return perr(x, "an unknown escape");
    }
}

static uint32_t next_cp(pparse *x) {
    const unsigned char *s = (const unsigned char *)x->p;
    uint32_t cp = js_utf8_next(&s);
    x->p = (const char *)s;
    return cp;
}

/* One member of a class: 1 = code point, 2 = set added, 0 = error. */
static int class_atom(pparse *x, cset *s, uint32_t *cp) {
    if (*x->p == '\\') {
        x->p++;
        if (*x->p == '-') {
            x->p++;
            *cp = '-';
            return 1;
        }
        return parse_escape(x, s, cp, true);
    }
    *cp = next_cp(x);
    return 1;
}

static bool parse_class(pparse *x) {
    cset s = {0};
    bool neg = *++x->p == '^';
    if (neg) x->p++;
    while (*x->p != ']') {
        uint32_t lo, hi;
        int k = *x->p ? class_atom(x, &s, &lo) : (perr(x, "a class without `]`"), 0);
        if (k == 1 && x->p[0] == '-' && x->p[1] && x->p[1] != ']') {
            x->p++;
            k = class_atom(x, &s, &hi);
            if (k == 2) k = (perr(x, "a range ending in a class escape"), 0);
            else if (k == 1 && hi < lo) k = (perr(x, "a range out of order"), 0);
            else if (k == 1) cs_add(&s, lo, hi);
        } else if (k == 1) cs_add(&s, lo, lo);
        else if (k == 2 && x->p[0] == '-' && x->p[1] && x->p[1] != ']')
            k = (perr(x, "a range starting at a class escape"), 0);
        if (!k) {
            free(s.v);
            return false;
        }
    }
    x->p++;
    if (neg) cs_negate(&s);
    return put_cset(x, &s);
}

static bool parse_alt(pparse *x, size_t *mn, size_t *mx, int *alts, int *terms);

static bool parse_group(pparse *x, size_t *mn, size_t *mx) {
    x->p++;
    if (x->p[0] == '?') {
        if (x->p[1] == ':') x->p += 2;
        else if (x->p[1] == '=' || x->p[1] == '!' ||
                 (x->p[1] == '<' && (x->p[2] == '=' || x->p[2] == '!')))
            return perr(x, "lookaround is not supported");
        else if (x->p[1] == '<') {
            const char *q = x->p + 2;
            while (*q == '_' || *q == '$' || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') ||
                   (q > x->p + 2 && *q >= '0' && *q <= '9'))
                q++;
            if (*q != '>' || q == x->p + 2) return perr(x, "a malformed group name");
            x->p = q + 1;
        } else return perr(x, "this kind of group (inline flags?) is not supported");
    }
    if (++x->depth > MAX_GROUP_DEPTH) return perr(x, "groups nested too deep");
    int alts, terms;
    js_put(x->c, "(?:");
    if (!parse_alt(x, mn, mx, &alts, &terms)) return false;
    if (*x->p != ')') return perr(x, "a group without `)`");
    x->p++;
    x->depth--;
    js_putc(x->c, ')');
    return true;
}

/* One atom; *one: it is one character (a class, `.`, a literal). */
static bool parse_atom(pparse *x, size_t *mn, size_t *mx, bool *one) {
    cset s = {0};
    uint32_t cp;
    *one = true;
    *mn = *mx = 1;
    switch (*x->p) {
    case '(': *one = false; return parse_group(x, mn, mx);
    case '[': return parse_class(x);
    case '.':
        x->p++;
        cs_class_escape(&s, '.');
        return put_cset(x, &s);
    case '*': case '+': case '?': case '{': return perr(x, "a quantifier with nothing to repeat");
    case '}': case ']': return perr(x, "a lone bracket");
    case '\\': {
        x->p++;
        int k = parse_escape(x, &s, &cp, false);
        if (k == 1) cs_add(&s, cp, cp);
        if (k) return put_cset(x, &s);
        free(s.v);
        return false;
    }
    default:
        cp = next_cp(x);
        cs_add(&s, cp, cp);
        return put_cset(x, &s);
    }
}

static bool parse_count(pparse *x, size_t *v) {
    if (*x->p < '0' || *x->p > '9') return false;
    *v = 0;
    while (*x->p >= '0' && *x->p <= '9') {
        *v = *v > 100000000 ? *v : *v * 10 + (size_t)(*x->p - '0');
        x->p++;
    }
    return true;
}

/* An optional quantifier: *lo, *hi (hi INF: unbounded); emitted. */
static bool parse_quant(pparse *x, size_t *lo, size_t *hi) {
    char q = *x->p;
    *lo = *hi = 1;
    if (q == '*' || q == '+' || q == '?') {
        x->p++;
        *lo = q == '+';
        *hi = q == '?' ? 1 : INF;
    } else if (q == '{') {
        x->p++;
        if (!parse_count(x, lo)) return perr(x, "a `{` that is not a quantifier");
        *hi = *lo;
        if (*x->p == ',') {
            x->p++;
            if (!parse_count(x, hi)) *hi = INF;
        }
        if (*x->p != '}') return perr(x, "a `{` that is not a quantifier");
        x->p++;
        if (*hi < *lo) return perr(x, "a quantifier {m,n} with n < m");
        if (*lo > REPEAT_MAX) return perr(x, "a repeat count above 1000");
    } else return true;
    if (*x->p == '?') x->p++; /* lazy: the same language */
    if (*x->p && strchr("*+?{", *x->p)) return perr(x, "a quantifier with nothing to repeat");
    if (*hi != INF && *hi > REPEAT_MAX) *hi = REPEAT_MAX;
    if (*lo == 0 && *hi == INF) js_putc(x->c, '*');
    else if (*lo == 1 && *hi == INF) js_putc(x->c, '+');
    else if (*lo == 0 && *hi == 1) js_putc(x->c, '?');
    else if (*lo == *hi) js_printf(x->c, "{%zu}", *lo);
    else if (*hi == INF) js_printf(x->c, "{%zu,}", *lo);
    else js_printf(x->c, "{%zu,%zu}", *lo, *hi);
    return true;
}

static bool parse_term(pparse *x, size_t *mn, size_t *mx) {
    size_t from = x->c->n, lo, hi;
    bool one;
    if (!parse_atom(x, mn, mx, &one)) return false;
    size_t to = x->c->n;
    if (!parse_quant(x, &lo, &hi)) return false;
    *x = (pparse){x->c, x->pat, x->p, x->depth, one, from, to, lo, hi};
    *mn = sat_mul(*mn, lo);
    *mx = hi == INF ? (*mx ? INF : 0) : sat_mul(*mx, hi);
    return true;
}

static bool parse_seq(pparse *x, size_t *mn, size_t *mx, int *terms) {
    const char *start = x->p;
    *mn = *mx = 0;
    *terms = 0;
    while (*x->p && *x->p != '|' && *x->p != ')') {
        if (*x->p == '^') {
            if (x->depth || x->p != start) return perr(x, "`^` inside the pattern is not supported");
            x->p++;
            continue;
        }
        if (*x->p == '$') {
            if (x->depth || (x->p[1] && x->p[1] != '|'))
                return perr(x, "`$` inside the pattern is not supported");
            x->p++;
            continue;
        }
        size_t a, b;
        if (!parse_term(x, &a, &b)) return false;
        *mn = sat_add(*mn, a);
        *mx = sat_add(*mx, b);
        ++*terms;
    }
    return true;
}

static bool parse_alt(pparse *x, size_t *mn, size_t *mx, int *alts, int *terms) {
    if (!parse_seq(x, mn, mx, terms)) return false;
    *alts = 1;
    while (*x->p == '|') {
        size_t a, b;
        int t;
        x->p++;
        js_putc(x->c, '|');
        if (!parse_seq(x, &a, &b, &t)) return false;
        if (a < *mn) *mn = a;
        if (b > *mx) *mx = b;
        ++*alts;
    }
    return true;
}

bool js_put_pattern(js_ctx *c, const char *p, js_pattern_info *info) {
    pparse x = {.c = c, .pat = p, .p = p};
    int alts, terms;
    size_t start = c->n;
    js_put(c, "(?:");
    if (!parse_alt(&x, &info->min_len, &info->max_len, &alts, &terms)) return false;
    if (*x.p) return perr(&x, "an unmatched `)`");
    js_putc(c, ')');
    if (info->max_len == 0) js_cut(c, start); /* only the empty string */
    info->single = alts == 1 && terms == 1 && x.term_char && info->max_len > 0;
    if (info->single) {
        info->atom = strndup(c->out + x.atom_from, x.atom_to - x.atom_from);
        if (!info->atom) return js_fail(c, "out of memory") != JS_FAIL;
        info->q_min = x.q_min;
        info->q_max = x.q_max;
    }
    return !c->fail;
}
