/*
 * regex_test.c — engine/constraint's regex dialect, NFA and lazy DFA,
 * without a tokenizer:
 *   - every refused construct gives its own message and offset, and
 *     cons_regex_check agrees with cons_compile;
 *   - the accepted syntax compiles (lazy quantifiers, named groups, \u,
 *     literal braces, anchors at the ends);
 *   - match semantics against PCRE2 (the oracle, ^(?:re)\z in UTF mode) on
 *     ~45 patterns: Unicode classes and ranges across UTF-8 length
 *     boundaries, negated classes, nested quantifiers, {m,n}, alternation,
 *     JSON-ish patterns.  Strings come from random walks of the DFA, their
 *     mutations and random text; whole-string acceptance and, at every
 *     code-point boundary, prefix viability (PCRE2 partial_hard) must agree;
 *     the same with a DFA capped at 3 states (every step past the cap goes
 *     through NFA sets);
 *   - UTF-8: rx_utf8_ranges covers exactly its range (every code point
 *     checked), `.` accepts every code point but \n, no invalid UTF-8 byte
 *     string is ever accepted;
 *   - cons_regex_escape: the escaped text matches exactly itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/pcre_oracle.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"
#include "support/testutil.h"

/* ---- PCRE2, the oracle --------------------------------------------------------------------- */

static pcre2_code *oracle(const char *re) {
    pcre2_code *c = pcre_whole(re);
    assert_non_null(c);
    return c;
}

/* 2 full match, 1 partial (a prefix of a match), 0 neither.  s is valid UTF-8. */
static int oracle_match(pcre2_code *c, const uint8_t *s, size_t n) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int r = pcre2_match(c, s, n, 0, 0, md, NULL);
    int out = r >= 0 ? 2 : 0;
    if (r < 0) {
        assert_int_equal(r, PCRE2_ERROR_NOMATCH);
        r = pcre2_match(c, s, n, 0, PCRE2_PARTIAL_HARD, md, NULL);
        if (r == PCRE2_ERROR_PARTIAL || r >= 0) out = 1;
        else assert_int_equal(r, PCRE2_ERROR_NOMATCH);
    }
    pcre2_match_data_free(md);
    return out;
}

/* ---- our side ------------------------------------------------------------------------------------ */

/* Walk s through d with cursors (every path: lock-free known transitions,
 * new states, sets past the cap); res[i] for the prefix of i bytes: -1
 * dead, 1 accepting, 0 viable prefix. */
static void walk_all(dfa *d, const uint8_t *s, size_t n, int *res) {
    dfa_cursor c[2] = {{.id = 0}, {0}};
    int cur = 0;
    bool oom = false, dead = false;
    pthread_mutex_lock(&d->mu);
    for (size_t k = 0; k <= n; k++, cur ^= 1) {
        res[k] = dead ? -1 : dfa_cursor_accepting(d, &c[cur]) ? 1 : 0;
        if (k < n && !dead && !dfa_cursor_step(d, &c[cur], s[k], &c[cur ^ 1], &oom)) dead = true;
    }
    pthread_mutex_unlock(&d->mu);
    assert_false(oom);
    dfa_cursor_free(&c[0]);
    dfa_cursor_free(&c[1]);
}

static int walk(dfa *d, const uint8_t *s, size_t n) {
    int *res = malloc((n + 1) * sizeof *res);
    walk_all(d, s, n, res);
    int r = res[n];
    free(res);
    return r;
}

/* The same through the lock-free dfa_next (uncapped DFAs only). */
static void walk_fast_all(dfa *d, const uint8_t *s, size_t n, int *res) {
    int32_t st = 0;
    for (size_t k = 0; k <= n; k++) {
        res[k] = st == DFA_DEAD ? -1 : dfa_get(d, st)->accepting ? 1 : 0;
        if (k < n && st != DFA_DEAD) st = dfa_next(d, st, s[k]);
        assert_int_not_equal(st, DFA_FULL);
    }
}

static int walk_fast(dfa *d, const uint8_t *s, size_t n) {
    int *res = malloc((n + 1) * sizeof *res);
    walk_fast_all(d, s, n, res);
    int r = res[n];
    free(res);
    return r;
}

static void open_dfa(dfa *d, const char *re, int32_t max_states) {
    char err[CT_ERRLEN];
    if (!dfa_init(d, re, strlen(re), max_states, err)) print_error("%s: %s\n", re, err);
    assert_true(d->a.n > 0);
}

/* An independent UTF-8 validator (not rx_utf8_decode). */
static bool valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return false;
        uint32_t v = len == 1 ? c : len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            v = v << 6 | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static size_t put_cp(uint8_t *b, uint32_t cp) {
    if (cp < 0x80) return b[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return b[0] = (uint8_t)(0xE0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 63)), b[2] = (uint8_t)(0x80 | (cp & 63)), 3;
    b[0] = (uint8_t)(0xF0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 63));
    b[2] = (uint8_t)(0x80 | (cp >> 6 & 63)), b[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

/* ---- parse errors ------------------------------------------------------------------------------------- */

typedef struct {
    const char *re, *what;
    size_t off;
} bad_case;

static const bad_case bad[] = {
    {"a\\1", "backreference \\1", 1},
    {"(a)\\2", "backreference \\2", 3},
    {"\\k<n>", "backreference", 0},
    {"(?P=n)", "backreference (?P=name)", 0},
    {"(?=a)b", "lookahead (?=", 0},
    {"a(?!b)", "lookahead (?!", 1},
    {"(?<=a)b", "lookbehind (?<=", 0},
    {"(?<!a)b", "lookbehind (?<!", 0},
    {"a\\b", "word boundary \\b", 1},
    {"\\Ba", "word boundary \\B", 0},
    {"a*+", "possessive quantifier (*+)", 1},
    {"a++", "possessive quantifier (++)", 1},
    {"ab?+", "possessive quantifier (?+)", 2},
    {"a{2,3}+", "possessive quantifier ({2,3}+)", 1},
    {"(?i)abc", "inline flags (?i", 0},
    {"a(?-s:b)", "inline flags (?-", 1},
    {"\\p{L}", "Unicode property", 0},
    {"x\\P{Lu}", "Unicode property", 1},
    {"a^b", "anchor ^", 1},
    {"(^a)", "anchor ^", 1},
    {"a$b", "anchor $", 1},
    {"(a$)", "anchor $", 2},
    {"\\Aa", "anchor escapes", 0},
    {"a\\z", "anchor escapes", 1},
    {"a{3,2}", "repetition {3,2}: the maximum is below the minimum", 1},
    {"a{1001}", "repetition count 1001 is above 1000", 1},
    {"a{2,5000}", "repetition count 5000 is above 1000", 1},
    {"(a{1000}){1000}", "more than 1000000 NFA states", 9},
    {"(?:(?:.{1000}){1000})", "more than 1000000 NFA states", 14},
    {"(ab", "missing ) to close the group", 0},
    {"ab)", "unmatched )", 2},
    {"[ab", "missing ] to close the class", 0},
    {"[]a]", "empty class []", 0},
    {"[^]", "empty class [^]", 0},
    {"*a", "quantifier * has nothing to repeat", 0},
    {"a|+", "quantifier + has nothing to repeat", 2},
    {"{2}", "quantifier {..} has nothing to repeat", 0},
    {"a**", "a quantifier cannot follow another quantifier", 2},
    {"a{2}{3}", "a quantifier cannot follow another quantifier", 4},
    {"ab\\", "trailing backslash", 2},
    {"\\q", "unknown escape \\q", 0},
    {"[z-a]", "range out of order", 1},
    {"[\\d-z]", "class escape", 1},
    {"[a-\\w]", "class escape", 1},
    {"\\x{110000}", "code point above U+10FFFF", 0},
    {"\\x{D800}", "surrogate code point U+D800", 0},
    {"\\uDFFF", "surrogate code point", 0},
    {"\\xZ1", "\\x needs 2 hex digits", 0},
    {"\\u12", "\\u needs 4 hex digits", 0},
    {"\\x{}", "needs 1 to 6 hex digits", 0},
    {"[[:alpha:]]", "POSIX class", 1},
    {"(?>a)", "atomic group", 0},
    {"(?#note)a", "comment group", 0},
    {"(?|a)", "unknown group construct", 0},
    {"(?<1a>x)", "bad group name", 0},
    {"\\012", "octal escape", 0},
    {"\\Qa\\E", "quoting", 0},
    {"\\cA", "control escape", 0},
    {"ab\xff", "invalid UTF-8", 2},
    {"[\xc3]", "invalid UTF-8", 1},
    {"[^\\s\\S]", "matches no text", 0},
    {"a(?:[^\\d\\D])", "matches no text", 0},
};

static void test_errors(void **st) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const bad_case *c = &bad[i];
        char err[CT_ERRLEN] = "", err2[CT_ERRLEN] = "", want[64];
        bool ok = cons_regex_check(c->re, strlen(c->re), err);
        snprintf(want, sizeof want, "at offset %zu", c->off);
        if (ok || !strstr(err, c->what) || !strstr(err, want) || strncmp(err, "regex: ", 7) != 0)
            fail_msg("pattern %s: got \"%s\", want \"%s\" %s", c->re, ok ? "(accepted)" : err, c->what, want);
        /* the tokenizer-less check and a grammar's compile say the same */
        dfa d;
        assert_false(dfa_init(&d, c->re, strlen(c->re), 16, err2));
        assert_string_equal(err, err2);
    }
}

static void test_accepted_syntax(void **st) {
    static const char *const good[] = {
        "", "^", "$", "^$", "^abc$", "a*?b+?c??d{2,3}?", "(?:a)(?<name>b)(?P<n2>c)", "[\\b]", "\\u00e9\\u{1F600}",
        "a{,3}", "a{", "a{x}", "a{1,x}", "}", "]", "\\/\\-\\\"\\ \\#", "[\\s\\d]", "\\0", "a|", "()", "(|)", "[-a-]",
        "\\x41\\x{42}", "[\\]\\[^]", "\\n\\r\\t\\f\\v", "\\é", "[^\\D]", "x{0}", "(a|b){0,1000}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[CT_ERRLEN] = "";
        if (!cons_regex_check(good[i], strlen(good[i]), err)) fail_msg("pattern %s refused: %s", good[i], err);
    }
    /* a few of them, by what they match */
    struct {
        const char *re, *s;
        int want;
    } m[] = {
        {"a{,3}", "aaa", 1},   {"a{,3}", "aaaa", -1}, {"a{", "a{", 1},         {"a{x}", "a{x}", 1},
        {"\\u00e9", "é", 1},   {"\\v", "\v", 1},      {"[\\b]", "\b", 1},     {"x{0}", "", 1},
        {"$", "", 1},          {"^abc$", "abc", 1},   {"\\0", "", 0},         {"(|)", "", 1},
        {"[\\]\\[^]+", "]^[", 1}, {"\\é", "é", 1},   {"a*?b", "aab", 1},     {"[^\\D]", "7", 1},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        dfa d;
        open_dfa(&d, m[i].re, CONS_MAX_DFA_STATES);
        int got = walk(&d, (const uint8_t *)m[i].s, strlen(m[i].s));
        if (got != m[i].want) fail_msg("%s on \"%s\": %d, want %d", m[i].re, m[i].s, got, m[i].want);
        dfa_destroy(&d);
    }
    dfa d; /* \0 is NUL: the text is one zero byte */
    open_dfa(&d, "a\\0b", CONS_MAX_DFA_STATES);
    assert_int_equal(walk(&d, (const uint8_t *)"a\0b", 3), 1);
    dfa_destroy(&d);
}

/* ---- PCRE2 oracle -------------------------------------------------------------------------------------- */

static const char *const patterns[] = {
    "abc",
    "a|b|c",
    "(ab|a)(c|bcd)",
    "a*",
    "a+b+",
    "(a|b)*abb",
    "a?b?c?",
    "[a-z]+ (cat|dog)",
    "\\d{3}-\\d{4}",
    "\\{\"a\": (true|false), \"b\": \\d{1,3}\\}",
    "(a{2,3}){2}",
    "x{0,3}y{2,}",
    "(?:ab){1,3}c?",
    "[^\"\\\\]*",
    "\"([^\"\\\\\\x00-\\x1f]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*\"",
    "-?(0|[1-9]\\d*)(\\.\\d+)?([eE][+-]?\\d+)?",
    "\\[(\\d+(, ?\\d+)*)?\\]",
    "[\\x{80}-\\x{10FFFF}]+",
    "[^a-z]",
    ".{2,4}",
    "[\\x{7F}-\\x{800}]+",
    "[\\x{7FF}-\\x{10000}]*",
    "[^\\x{0}-\\x{7F}]{1,3}",
    "[\\x{FFF0}-\\x{10010}]",
    "[\\x{D7F0}-\\x{E010}]+",
    "é+|ü*",
    "[αβγ]+δ",
    "😀|😃{2}",
    "[\\x{1F600}-\\x{1F64F}]+x",
    "[^é]+",
    "\\w+@\\w+\\.com",
    "\\s*\\S+\\s*",
    "\\D\\W",
    "[^\\d\\s]+",
    "(a*)*b",
    "((a|b)*c)+",
    "(a|ab)(c|bcd)(d*)",
    "[-a]+",
    "[\\]\\[]+",
    "a.b",
    "\\.\\*\\+\\?\\(\\)\\{\\}\\|\\^\\$",
    "(?<year>\\d{4})-(?<m>0[1-9]|1[0-2])",
    "(true|false|null)",
    "(?:[a-c]{1,2}|[b-d]{2}){1,3}",
    "[\\t\\n\\r\\f ]+",
    "a*?b+?",
    "x{300}",
    "(ab|cd){2,}(ef)?",
};

#define MAXS 800

typedef struct {
    uint8_t s[MAXS];
    size_t n;
} str;

/* Code points the strings are made of: the pattern's own and some others. */
static int alphabet(const char *re, uint32_t *cps) {
    static const char extra[] = "aAbcdzZ09_- .\n\t\"\\{}:,[]ée€😀😃αδ\x7f";
    int n = 0;
    const char *srcs[2] = {re, extra};
    for (int k = 0; k < 2; k++)
        for (const uint8_t *p = (const uint8_t *)srcs[k]; *p;) {
            uint32_t cp;
            int l = rx_utf8_decode(p, strlen((const char *)p), &cp);
            p += l ? l : 1;
            if (l && n < 200) cps[n++] = cp;
        }
    static const uint32_t more[] = {0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF, 0x1F601, 0xFFF5, 0x10005};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) cps[n++] = more[i];
    return n;
}

/* A random walk of the DFA: stops in an accepting state now and then. */
static void dfa_walk_string(dfa *d, uint64_t *rnd, str *out) {
    int32_t s = 0;
    out->n = 0;
    size_t limit = (size_t)tu_rnd_in(rnd, 0, 1) ? 40 : MAXS - 8;
    while (out->n < limit) {
        if (dfa_get(d, s)->accepting && tu_rnd(rnd) % 5 == 0) return;
        int32_t cand[256], nc = 0, to[256];
        for (int b = 0; b < 256; b++) {
            int32_t t = dfa_next(d, s, (uint8_t)b);
            if (t >= 0) cand[nc] = b, to[nc++] = t;
        }
        if (nc == 0) return;
        int k = (int)(tu_rnd(rnd) % (uint64_t)nc);
        out->s[out->n++] = (uint8_t)cand[k];
        s = to[k];
    }
    while (out->n > 0 && !valid_utf8(out->s, out->n)) out->n--; /* cut a character the limit split */
}

static void mutate(str *x, uint64_t *rnd, const uint32_t *cps, int ncp) {
    /* find the code point boundaries */
    size_t b[MAXS + 1], nb = 0;
    for (size_t i = 0; i <= x->n; i++)
        if (i == x->n || (x->s[i] & 0xC0) != 0x80) b[nb++] = i;
    size_t at = b[tu_rnd(rnd) % nb], end = at < x->n ? at + 1 : at;
    while (end < x->n && (x->s[end] & 0xC0) == 0x80) end++;
    uint8_t ins[4];
    size_t li = put_cp(ins, cps[tu_rnd(rnd) % (uint64_t)ncp]);
    int op = (int)(tu_rnd(rnd) % 3);
    size_t del = op == 1 ? 0 : end - at; /* 0 delete, 1 insert, 2 replace */
    size_t add = op == 0 ? 0 : li;
    if (x->n - del + add > MAXS) return;
    memmove(x->s + at + add, x->s + at + del, x->n - at - del);
    memcpy(x->s + at, ins, add);
    x->n = x->n - del + add;
}

static void random_string(str *x, uint64_t *rnd, const uint32_t *cps, int ncp) {
    int len = tu_rnd_in(rnd, 0, 12);
    x->n = 0;
    for (int i = 0; i < len; i++) x->n += put_cp(x->s + x->n, cps[tu_rnd(rnd) % (uint64_t)ncp]);
}

/* Whole string and every code-point prefix: d against PCRE2.  Returns
 * whether the whole string matched. */
static bool compare(const char *re, pcre2_code *pc, dfa *d, bool fast, const str *x) {
    assert_true(valid_utf8(x->s, x->n));
    int res[MAXS + 1], res_fast[MAXS + 1];
    walk_all(d, x->s, x->n, res);
    if (fast) walk_fast_all(d, x->s, x->n, res_fast);
    for (size_t i = 0; i <= x->n; i++) {
        if (i < x->n && (x->s[i] & 0xC0) == 0x80) continue;
        int want = oracle_match(pc, x->s, i); /* 2 match, 1 prefix, 0 none */
        if (i == 0 && want == 0) want = 1; /* PCRE2 reports no partial match of an empty subject;
                                              every pattern here matches something */
        int got = res[i];                     /* 1 accept, 0 prefix, -1 dead */
        int mine = got == 1 ? 2 : got == 0 ? 1 : 0;
        if (want == 2 || mine == 2) { /* a match: both must say so exactly */
            if (want != mine) fail_msg("%s on \"%.*s\": PCRE2 %d, ours %d", re, (int)i, x->s, want, mine);
        } else if ((want > 0) != (mine > 0)) {
            fail_msg("%s on prefix \"%.*s\": PCRE2 viable %d, ours %d", re, (int)i, x->s, want, mine);
        }
        if (fast) assert_int_equal(res_fast[i], got);
    }
    return res[x->n] == 1;
}

static void oracle_pattern(const char *re, int32_t max_states, int n_strings, uint64_t seed) {
    pcre2_code *pc = oracle(re);
    dfa d, walker;
    open_dfa(&d, re, max_states);
    open_dfa(&walker, re, CONS_MAX_DFA_STATES); /* the string generator's own, uncapped */
    uint32_t cps[256];
    int ncp = alphabet(re, cps);
    uint64_t rnd = seed;
    str x;
    int matched = 0;
    for (int i = 0; i < n_strings; i++) {
        int kind = i % 3;
        if (kind == 2) {
            random_string(&x, &rnd, cps, ncp);
        } else {
            dfa_walk_string(&walker, &rnd, &x);
            for (int m = 0; kind == 1 && m < tu_rnd_in(&rnd, 1, 3); m++) mutate(&x, &rnd, cps, ncp);
        }
        matched += compare(re, pc, &d, max_states == CONS_MAX_DFA_STATES, &x);
    }
    /* both answers were exercised */
    if (matched == 0 || matched == n_strings) fail_msg("%s: %d of %d strings match", re, matched, n_strings);
    dfa_destroy(&d);
    dfa_destroy(&walker);
    pcre2_code_free(pc);
}

static void test_oracle(void **st) {
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        oracle_pattern(patterns[i], CONS_MAX_DFA_STATES, 150, 0x9E3779B97F4A7C15ull + i);
}

/* The same answers with a cache of 3 states: almost every step runs on NFA
 * sets past the cap, sometimes falling back into one of the cached states. */
static void test_oracle_state_cap(void **st) {
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        oracle_pattern(patterns[i], 3, 40, 0xD1B54A32D192ED03ull + i);
    dfa d;
    open_dfa(&d, "[a-z]{50}", 3);
    uint8_t s[60];
    memset(s, 'q', sizeof s);
    assert_int_equal(walk(&d, s, 50), 1);
    assert_int_equal(walk(&d, s, 49), 0);
    assert_int_equal(walk(&d, s, 51), -1);
    assert_int_equal(dfa_n_states(&d), 3);
    dfa_destroy(&d);
}

/* ---- UTF-8 ------------------------------------------------------------------------------------------- */

typedef struct {
    rx_utf8_seq q[64];
    int n;
} seqs;

static bool collect(void *ud, const rx_utf8_seq *q) {
    seqs *s = ud;
    assert_true(s->n < 64);
    s->q[s->n++] = *q;
    return true;
}

static bool seq_has(const rx_utf8_seq *q, const uint8_t *b, size_t n) {
    if ((size_t)q->len != n) return false;
    for (size_t k = 0; k < n; k++)
        if (b[k] < q->lo[k] || b[k] > q->hi[k]) return false;
    return true;
}

static void test_utf8_ranges_exact(void **st) {
    uint32_t ranges[][2] = {{0, 0x10FFFF}, {0x41, 0x5A}, {0x7F, 0x80}, {0x7E, 0x801}, {0x7FF, 0x10000},
                            {0x801, 0xFFFE}, {0xE000, 0x10FFFF}, {0x10001, 0x10FFFE}, {0x1F600, 0x1F64F},
                            {0, 0}, {0x3FF, 0x40000}};
    uint64_t rnd = 77;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0] + 4; r++) {
        uint32_t lo, hi;
        if (r < sizeof ranges / sizeof ranges[0]) {
            lo = ranges[r][0], hi = ranges[r][1];
        } else { /* random ones */
            lo = (uint32_t)(tu_rnd(&rnd) % 0x110000), hi = (uint32_t)(tu_rnd(&rnd) % 0x110000);
            if (lo > hi) { uint32_t t = lo; lo = hi; hi = t; }
        }
        seqs s = {0};
        assert_true(rx_utf8_ranges(lo, hi, collect, &s));
        for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            uint8_t b[4];
            size_t n = put_cp(b, cp);
            int hits = 0;
            for (int k = 0; k < s.n; k++) hits += seq_has(&s.q[k], b, n);
            bool in = cp >= lo && cp <= hi && !(cp >= 0xD800 && cp <= 0xDFFF);
            if (hits != (in ? 1 : 0)) fail_msg("range U+%X..U+%X: U+%X matched by %d sequences", lo, hi, cp, hits);
        }
    }
}

/* `.` takes every code point but \n, as one UTF-8 character each. */
static void test_dot_every_code_point(void **st) {
    dfa d;
    open_dfa(&d, ".", CONS_MAX_DFA_STATES);
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        uint8_t b[4];
        size_t n = put_cp(b, cp);
        int got = walk_fast(&d, b, n);
        if (got != (cp == '\n' ? -1 : 1)) fail_msg("U+%X: %d", cp, got);
    }
    dfa_destroy(&d);
}

/* Random byte strings: whatever is accepted is valid UTF-8, and every
 * viable prefix is a prefix of valid UTF-8. */
static void test_never_invalid_utf8(void **st) {
    static const char *const res[] = {".*", "[^a]*", "[\\x{80}-\\x{10FFFF}]*", "(é|[^\\x{0}-\\x{FFFF}])*", "\\D*\\W*\\S*"};
    uint64_t rnd = 5;
    for (size_t r = 0; r < sizeof res / sizeof res[0]; r++) {
        dfa d;
        open_dfa(&d, res[r], CONS_MAX_DFA_STATES);
        for (int i = 0; i < 20000; i++) {
            uint8_t s[8];
            size_t n = (size_t)tu_rnd_in(&rnd, 1, 8);
            for (size_t k = 0; k < n; k++) {
                uint64_t v = tu_rnd(&rnd);
                s[k] = (uint8_t)(v % 4 == 0 ? v >> 8 : v % 4 == 1 ? 0x80 | (v >> 8 & 0x3F) : 0xC0 | (v >> 8 & 0x3F));
            }
            int got = walk_fast(&d, s, n);
            if (got == 1 && !valid_utf8(s, n)) fail_msg("%s accepts invalid UTF-8", res[r]);
        }
        dfa_destroy(&d);
    }
}

/* ---- escape ---------------------------------------------------------------------------------------- */

static void test_escape(void **st) {
    static const char pool[] = "ab .^$|?*+()[]{}\\/-\n\t\x01\x7f\"é😀";
    uint64_t rnd = 11;
    for (int i = 0; i < 300; i++) {
        char s[40];
        size_t n = 0;
        int parts = tu_rnd_in(&rnd, 0, 12);
        for (int k = 0; k < parts; k++) { /* whole characters of the pool */
            size_t at = tu_rnd(&rnd) % (sizeof pool - 1);
            while (at > 0 && ((uint8_t)pool[at] & 0xC0) == 0x80) at--;
            size_t len = 1;
            while (at + len < sizeof pool - 1 && ((uint8_t)pool[at + len] & 0xC0) == 0x80) len++;
            memcpy(s + n, pool + at, len);
            n += len;
        }
        char *re = NULL;
        size_t len = 0, cap = 0;
        assert_true(cons_regex_escape(s, n, &re, &len, &cap));
        dfa d;
        open_dfa(&d, re, CONS_MAX_DFA_STATES);
        assert_int_equal(walk_fast(&d, (const uint8_t *)s, n), 1);
        if (n > 0) assert_int_not_equal(walk_fast(&d, (const uint8_t *)s, n - 1), 1);
        pcre2_code *pc = oracle(re); /* PCRE2 reads it the same way */
        assert_int_equal(oracle_match(pc, (const uint8_t *)s, n), 2);
        pcre2_code_free(pc);
        dfa_destroy(&d);
        free(re);
    }
    char *re = NULL; /* appending; invalid UTF-8 becomes U+FFFD */
    size_t len = 0, cap = 0;
    assert_true(cons_regex_escape("a.", 2, &re, &len, &cap));
    assert_true(cons_regex_escape("\xff", 1, &re, &len, &cap));
    assert_string_equal(re, "a\\.\\x{FFFD}");
    assert_int_equal(len, strlen(re));
    free(re);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_accepted_syntax),
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_oracle_state_cap),
        cmocka_unit_test(test_utf8_ranges_exact),
        cmocka_unit_test(test_dot_every_code_point),
        cmocka_unit_test(test_never_invalid_utf8),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
