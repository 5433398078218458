/*
 * rx_parse.c — the regex dialect of constraint.h, parsed into a syntax
 * tree (rx_node) by recursive descent:
 *
 *     alt    := cat ('|' cat)*
 *     cat    := repeat*
 *     repeat := atom (quantifier lazy?)?
 *     atom   := literal | '.' | class | group | escape
 *
 * Owns the dialect's decisions: which constructs exist, what the escapes
 * mean (PCRE2's, without UCP: \d \w \s are ASCII; \v is VT as in
 * ECMAScript), and the error for every construct it refuses, naming it and
 * its byte offset.  Everything is a code point; bytes appear only in nfa.c.
 * The tree lives in an arena owned by the caller (freed in one go).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

/* ---- arena -------------------------------------------------------------------------------- */

struct rx_block {
    rx_block *next;
    size_t used, cap;
    max_align_t data[];
};

void *rx_alloc(rx_arena *a, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    rx_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void rx_arena_free(rx_arena *a) {
    for (rx_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

/* ---- parser state and errors ------------------------------------------------------------ */

typedef struct {
    const uint8_t *s;
    size_t n, i;
    rx_arena *a;
    char *err;
    int depth;
} rx_parser;

/* "regex: <what> at offset N"; returns NULL so callers can `return fail(...)`. */
__attribute__((format(printf, 3, 4))) static void *fail(rx_parser *p, size_t off, const char *fmt, ...) {
    char what[CT_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ct_err(p->err, "regex: %s at offset %zu", what, off);
    return NULL;
}

static void *oom(rx_parser *p) { return fail(p, p->i, "out of memory"); }

static bool at(const rx_parser *p, size_t k, uint8_t c) { return p->i + k < p->n && p->s[p->i + k] == c; }

static rx_node *node(rx_parser *p, rx_kind k, size_t off) {
    rx_node *x = rx_alloc(p->a, sizeof *x);
    if (!x) return oom(p);
    x->kind = k;
    x->off = off;
    return x;
}

static bool add_kid(rx_parser *p, rx_node *x, rx_node *kid) {
    if (x->n == x->cap) {
        int cap = x->cap ? x->cap * 2 : 4;
        rx_node **k = rx_alloc(p->a, (size_t)cap * sizeof *k);
        if (!k) return oom(p) != NULL;
        if (x->n) memcpy(k, x->kids, (size_t)x->n * sizeof *k);
        x->kids = k;
        x->cap = cap;
    }
    x->kids[x->n++] = kid;
    return true;
}

static rx_node *set_node(rx_parser *p, size_t off, const rx_set *s) {
    rx_node *x = node(p, RX_SET, off);
    if (x) x->set = *s;
    return x;
}

/* ---- escapes ------------------------------------------------------------------------------ */

static int hexval(uint8_t c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool is_alnum(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* \xHH, \x{H..}, \uHHHH, \u{H..} after the letter (p->i at the digits). */
static bool parse_hex(rx_parser *p, size_t off, char letter, uint32_t *cp) {
    uint32_t v = 0;
    int nd = 0;
    if (at(p, 0, '{')) {
        p->i++;
        for (; p->i < p->n && hexval(p->s[p->i]) >= 0 && nd < 7; p->i++, nd++) v = v * 16 + (uint32_t)hexval(p->s[p->i]);
        if (nd == 0 || !at(p, 0, '}')) return fail(p, off, "\\%c{...} needs 1 to 6 hex digits and a }", letter);
        p->i++;
    } else {
        int want = letter == 'x' ? 2 : 4;
        for (; nd < want && p->i < p->n && hexval(p->s[p->i]) >= 0; p->i++, nd++) v = v * 16 + (uint32_t)hexval(p->s[p->i]);
        if (nd < want) return fail(p, off, "\\%c needs %d hex digits", letter, want);
    }
    if (v > RX_MAX_CODEPOINT) return fail(p, off, "code point above U+10FFFF");
    if (v >= 0xD800 && v <= 0xDFFF) return fail(p, off, "surrogate code point U+%04X (not valid in UTF-8)", v);
    *cp = v;
    return true;
}

/* \d \w \s as sets (ASCII, as PCRE2 without UCP); negated ones complemented. */
static bool class_escape(rx_parser *p, uint8_t c, rx_set *out) {
    static const rx_range digit[] = {{'0', '9'}};
    static const rx_range word[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static const rx_range space[] = {{'\t', '\r'}, {' ', ' '}};
    uint8_t lower = c | 0x20;
    const rx_range *r = lower == 'd' ? digit : lower == 'w' ? word : space;
    int n = lower == 'd' ? 1 : lower == 'w' ? 4 : 2;
    rx_set s = {0};
    for (int k = 0; k < n; k++)
        if (!rx_set_add(p->a, &s, r[k].lo, r[k].hi)) return oom(p) != NULL;
    if (c >= 'a') {
        *out = s;
        return true;
    }
    return rx_set_complement(p->a, &s, out) || oom(p) != NULL;
}

/* An escape that is refused: its message, or NULL. */
static const char *refused_escape(uint8_t c, bool in_class) {
    switch (c) {
    case 'b': return in_class ? NULL : "word boundary \\b is not supported";
    case 'B': return "word boundary \\B is not supported";
    case 'A': case 'z': case 'Z': case 'G': return "anchor escapes (\\A \\z \\Z \\G) are not supported";
    case 'p': case 'P': return "Unicode property \\p{..} / \\P{..} is not supported";
    case 'k': case 'g': return "named or relative backreference (\\k, \\g) is not supported";
    case 'Q': case 'E': return "quoting \\Q..\\E is not supported";
    case 'c': return "control escape \\c is not supported";
    default: return NULL;
    }
}

/* p->i at the backslash.  A single code point (*is_set false, *cp) or a
 * class escape (*is_set, *set). */
static bool parse_escape(rx_parser *p, bool in_class, uint32_t *cp, bool *is_set, rx_set *set) {
    size_t off = p->i++;
    if (p->i >= p->n) return fail(p, off, "trailing backslash");
    uint8_t c = p->s[p->i++];
    *is_set = false;
    const char *no = refused_escape(c, in_class);
    if (no) return fail(p, off, "%s", no);
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        *is_set = true;
        return class_escape(p, c, set);
    case 'n': *cp = '\n'; return true;
    case 'r': *cp = '\r'; return true;
    case 't': *cp = '\t'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case 'b': *cp = '\b'; return true; /* in a class only (refused outside) */
    case 'x': case 'u': return parse_hex(p, off, (char)c, cp);
    case '0':
        if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') return fail(p, off, "octal escape \\0NN is not supported");
        *cp = 0;
        return true;
    default: break;
    }
    if (c >= '1' && c <= '9') return fail(p, off, "backreference \\%c is not supported", c);
    if (c >= 0x80) { /* an escaped non-ASCII character is itself */
        p->i--;
        int k = rx_utf8_decode(p->s + p->i, p->n - p->i, cp);
        if (!k) return fail(p, p->i, "invalid UTF-8");
        p->i += (size_t)k;
        return true;
    }
    if (is_alnum(c)) return fail(p, off, "unknown escape \\%c", c);
    *cp = c; /* escaped punctuation, space or control character */
    return true;
}

/* ---- quantifiers ---------------------------------------------------------------------------- */

static size_t read_num(const rx_parser *p, size_t k, long *v) {
    size_t start = k;
    *v = 0;
    for (; k < p->n && p->s[k] >= '0' && p->s[k] <= '9'; k++)
        if (*v < 1000000) *v = *v * 10 + (p->s[k] - '0');
    return k - start;
}

/* A {m} {m,} {m,n} {,n} quantifier at p->i: 1 (parsed, p->i after it), 0
 * (not a quantifier: `{` is a literal, p->i unchanged), -1 error. */
static int parse_braces(rx_parser *p, int *min, int *max) {
    size_t off = p->i, k = p->i + 1;
    long lo = 0, hi = -1;
    size_t nd = read_num(p, k, &lo);
    k += nd;
    if (k < p->n && p->s[k] == ',') {
        size_t nd2 = read_num(p, k + 1, &hi);
        if (nd == 0 && nd2 == 0) return 0; /* "{,}" */
        if (nd2 == 0) hi = -1;
        k += 1 + nd2;
    } else {
        if (nd == 0) return 0;
        hi = lo;
    }
    if (k >= p->n || p->s[k] != '}') return 0;
    if (lo > CONS_MAX_REPEAT || hi > CONS_MAX_REPEAT)
        return fail(p, off, "repetition count %ld is above %d", lo > CONS_MAX_REPEAT ? lo : hi, CONS_MAX_REPEAT), -1;
    if (hi >= 0 && hi < lo) return fail(p, off, "repetition {%ld,%ld}: the maximum is below the minimum", lo, hi), -1;
    *min = (int)lo;
    *max = (int)hi;
    p->i = k + 1;
    return 1;
}

/* ---- atoms ------------------------------------------------------------------------------------ */

static rx_node *parse_alt(rx_parser *p);

/* One class member at p->i: a code point or a class escape. */
static bool class_atom(rx_parser *p, uint32_t *cp, bool *is_set, rx_set *set) {
    if (p->s[p->i] == '\\') return parse_escape(p, true, cp, is_set, set);
    *is_set = false;
    int k = rx_utf8_decode(p->s + p->i, p->n - p->i, cp);
    if (!k) return fail(p, p->i, "invalid UTF-8");
    p->i += (size_t)k;
    return true;
}

static rx_node *parse_class(rx_parser *p) {
    size_t off = p->i++;
    bool neg = at(p, 0, '^');
    if (neg) p->i++;
    if (at(p, 0, ']')) return fail(p, off, "empty class %s (write \\] for a literal ])", neg ? "[^]" : "[]");
    rx_set s = {0};
    for (;;) {
        if (p->i >= p->n) return fail(p, off, "missing ] to close the class");
        if (p->s[p->i] == ']') break;
        if (p->s[p->i] == '[' && (at(p, 1, ':') || at(p, 1, '=') || at(p, 1, '.')))
            return fail(p, p->i, "POSIX class [:name:] is not supported");
        size_t item = p->i;
        uint32_t lo, hi;
        bool lo_set, hi_set;
        rx_set ls, hs;
        if (!class_atom(p, &lo, &lo_set, &ls)) return NULL;
        if (at(p, 0, '-') && p->i + 1 < p->n && p->s[p->i + 1] != ']') {
            p->i++;
            if (!class_atom(p, &hi, &hi_set, &hs)) return NULL;
            if (lo_set || hi_set) return fail(p, item, "a range cannot have a class escape (\\d \\w \\s) as an end");
            if (lo > hi) return fail(p, item, "range out of order (U+%04X > U+%04X)", lo, hi);
            if (!rx_set_add(p->a, &s, lo, hi)) return oom(p);
        } else if (lo_set ? !rx_set_add_set(p->a, &s, &ls) : !rx_set_add(p->a, &s, lo, lo)) {
            return oom(p);
        }
    }
    p->i++;
    rx_set_normalize(&s);
    rx_set out = s;
    if (neg ? !rx_set_complement(p->a, &s, &out) : !rx_set_drop_surrogates(p->a, &out)) return oom(p);
    return set_node(p, off, &out);
}

/* p->i after "(?"; the group's kind is checked, p->i moved past its opener. */
static bool group_opener(rx_parser *p, size_t off) {
    uint8_t c = p->i < p->n ? p->s[p->i] : 0;
    if (c == ':') {
        p->i++;
        return true;
    }
    bool python = c == 'P' && at(p, 1, '<');
    if ((c == '<' && !at(p, 1, '=') && !at(p, 1, '!')) || python) { /* (?<name> or (?P<name> */
        p->i += python ? 2 : 1;
        size_t start = p->i;
        while (p->i < p->n && (is_alnum(p->s[p->i]) || p->s[p->i] == '_')) p->i++;
        bool digit_first = p->i > start && p->s[start] >= '0' && p->s[start] <= '9';
        if (p->i == start || digit_first || !at(p, 0, '>')) return fail(p, off, "bad group name (expected (?<name>...))") != NULL;
        p->i++;
        return true;
    }
    if (c == '=' || c == '!') return fail(p, off, "lookahead (?%c is not supported", c) != NULL;
    if (c == '<') return fail(p, off, "lookbehind (?<%c is not supported", p->s[p->i + 1]) != NULL;
    if (c == '>') return fail(p, off, "atomic group (?> is not supported") != NULL;
    if (c == 'P') return fail(p, off, "named backreference (?P=name) is not supported") != NULL;
    if (c == '#') return fail(p, off, "comment group (?# is not supported") != NULL;
    if (c == '-' || c == '^' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return fail(p, off, "inline flags (?%c...) are not supported", c) != NULL;
    return fail(p, off, "unknown group construct (?%c", c ? c : ' ') != NULL;
}

static rx_node *parse_group(rx_parser *p) {
    size_t off = p->i++;
    if (at(p, 0, '?')) {
        p->i++;
        if (!group_opener(p, off)) return NULL;
    }
    if (++p->depth > RX_MAX_DEPTH) return fail(p, off, "groups nested deeper than %d", RX_MAX_DEPTH);
    rx_node *x = parse_alt(p);
    p->depth--;
    if (!x) return NULL;
    if (!at(p, 0, ')')) return fail(p, off, "missing ) to close the group");
    p->i++;
    return x;
}

static rx_node *parse_atom(rx_parser *p) {
    size_t off = p->i;
    uint8_t c = p->s[p->i];
    int qmin, qmax;
    rx_set s = {0};
    switch (c) {
    case '(': return parse_group(p);
    case '[': return parse_class(p);
    case '.':
        p->i++;
        if (!rx_set_add(p->a, &s, '\n', '\n')) return oom(p);
        rx_set any;
        if (!rx_set_complement(p->a, &s, &any)) return oom(p);
        return set_node(p, off, &any);
    case '*': case '+': case '?': return fail(p, off, "quantifier %c has nothing to repeat", c);
    case '^': return fail(p, off, "anchor ^ is only allowed at the very start");
    case '$':
        if (p->i + 1 != p->n) return fail(p, off, "anchor $ is only allowed at the very end");
        p->i++;
        return node(p, RX_EMPTY, off);
    case '{':
        if (parse_braces(p, &qmin, &qmax) != 0) return p->i != off ? fail(p, off, "quantifier {..} has nothing to repeat") : NULL;
        break; /* a literal { */
    default: break;
    }
    uint32_t cp;
    bool is_set = false;
    if (c == '\\') {
        if (!parse_escape(p, false, &cp, &is_set, &s)) return NULL;
    } else {
        int k = rx_utf8_decode(p->s + p->i, p->n - p->i, &cp);
        if (!k) return fail(p, off, "invalid UTF-8");
        p->i += (size_t)k;
    }
    if (!is_set && !rx_set_add(p->a, &s, cp, cp)) return oom(p);
    return set_node(p, off, &s);
}

/* ---- sequences and alternatives ----------------------------------------------------------------- */

static rx_node *parse_repeat(rx_parser *p) {
    rx_node *x = parse_atom(p);
    for (bool quantified = false; x && p->i < p->n;) {
        size_t qoff = p->i;
        uint8_t c = p->s[p->i];
        int min, max;
        if (c == '*' || c == '+' || c == '?') {
            min = c == '+';
            max = c == '?' ? 1 : -1;
            p->i++;
        } else if (c == '{') {
            int r = parse_braces(p, &min, &max);
            if (r < 0) return NULL;
            if (r == 0) break; /* a literal {: the next atom */
        } else {
            break;
        }
        if (quantified) return fail(p, qoff, "a quantifier cannot follow another quantifier (use a group)");
        if (at(p, 0, '+')) return fail(p, qoff, "possessive quantifier (%.*s+) is not supported", (int)(p->i - qoff), p->s + qoff);
        if (at(p, 0, '?')) p->i++; /* lazy: the same language */
        rx_node *r = node(p, RX_REP, qoff);
        if (!r || !add_kid(p, r, x)) return NULL;
        r->min = min;
        r->max = max;
        x = r;
        quantified = true;
    }
    return x;
}

static rx_node *parse_cat(rx_parser *p) {
    rx_node *cat = node(p, RX_CAT, p->i);
    if (!cat) return NULL;
    while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        rx_node *x = parse_repeat(p);
        if (!x || !add_kid(p, cat, x)) return NULL;
    }
    if (cat->n == 0) cat->kind = RX_EMPTY;
    return cat->n == 1 ? cat->kids[0] : cat;
}

static rx_node *parse_alt(rx_parser *p) {
    size_t off = p->i;
    rx_node *first = parse_cat(p);
    if (!first || !at(p, 0, '|')) return first;
    rx_node *alt = node(p, RX_ALT, off);
    if (!alt || !add_kid(p, alt, first)) return NULL;
    while (at(p, 0, '|')) {
        p->i++;
        rx_node *x = parse_cat(p);
        if (!x || !add_kid(p, alt, x)) return NULL;
    }
    return alt;
}

rx_node *rx_parse(const char *re, size_t len, rx_arena *a, char *err) {
    rx_parser p = {.s = (const uint8_t *)re, .n = len, .a = a, .err = err};
    if (len > 0 && re[0] == '^') p.i = 1; /* matching is whole-text anyway */
    rx_node *root = parse_alt(&p);
    if (root && p.i < p.n) return fail(&p, p.i, "unmatched )");
    return root;
}
