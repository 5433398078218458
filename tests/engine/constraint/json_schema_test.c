/*
 * json_schema_test.c — engine/constraint/json_schema: JSON Schema -> regex,
 * with PCRE2 as the oracle (the dialect is a PCRE subset; each regex is
 * compiled as ^(?:RE)$ with PCRE2_UTF).
 *
 *  - the corpus tests/data/schemas/NN_name.json (one cmocka test per file:
 *    {"schema", "valid", "invalid", "opts"?}): every valid instance, written
 *    compactly and with the whitespace its mode allows, must match; every
 *    invalid one must not;
 *  - integer ranges (random bounds, every integer around them) and number
 *    ranges (decimal bounds, texts around them compared as doubles, as ajv
 *    does): a match is always in range, and the simple in-range texts match;
 *  - text shapes (-0, leading zeros, whitespace), whitespace modes, any-JSON
 *    depth, patterns that could produce `"` or controls, refused keywords
 *    and patterns, bad $refs, unsatisfiable recursion, oneOf overlap, the
 *    size limit; regex sizes and compile times are printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include "support/pcre_oracle.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "constraint/json_schema.h"
#include "support/testutil.h"

#define CORPUS_DIR "tests/data/schemas"

/* ---- the PCRE2 oracle ------------------------------------------------------ */

typedef struct {
    pcre2_code *code;
    pcre2_match_data *md;
} oracle;

static void oracle_init(oracle *o, const char *re) {
    o->code = pcre_whole(re);
    if (!o->code) fail_msg("PCRE2 refuses the regex (reason above)");
    o->md = pcre2_match_data_create_from_pattern(o->code, NULL);
    assert_non_null(o->md);
}

static bool oracle_match(oracle *o, const char *text) {
    int r = pcre2_match(o->code, (PCRE2_SPTR)text, strlen(text), 0, 0, o->md, NULL);
    if (r < 0 && r != PCRE2_ERROR_NOMATCH) fail_msg("pcre2_match error %d on %s", r, text);
    return r >= 0;
}

static void oracle_free(oracle *o) {
    pcre2_match_data_free(o->md);
    pcre2_code_free(o->code);
}

static char *compile(const char *schema_text, const js_opts *opts, char *err) {
    json_error_t je;
    json_t *s = json_loads(schema_text, JSON_DECODE_ANY, &je);
    if (!s) fail_msg("bad test schema %s: %s", schema_text, je.text);
    char *re = js_schema_to_regex(s, opts, err);
    json_decref(s);
    return re;
}

/* The schema's regex must match (or not) each text. */
static void expect(const char *schema, const js_opts *opts, const char *const *yes, const char *const *no) {
    char err[CT_ERRLEN] = "";
    char *re = compile(schema, opts, err);
    if (!re) fail_msg("%s: %s", schema, err);
    oracle o;
    oracle_init(&o, re);
    for (; yes && *yes; yes++)
        if (!oracle_match(&o, *yes)) fail_msg("%s should match %s (regex %.400s)", schema, *yes, re);
    for (; no && *no; no++)
        if (oracle_match(&o, *no)) fail_msg("%s should not match %s (regex %.400s)", schema, *no, re);
    oracle_free(&o);
    free(re);
}

static void expect_error(const char *schema, const js_opts *opts, const char *needle) {
    char err[CT_ERRLEN] = "";
    char *re = compile(schema, opts, err);
    if (re) fail_msg("%s compiled (%.200s), expected an error with \"%s\"", schema, re, needle);
    if (!strstr(err, needle)) fail_msg("%s: error \"%s\" lacks \"%s\"", schema, err, needle);
}

/* ---- JSON text of a value: compact, spaced, or with newlines ------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void dump_string(sbuf *b, const char *s, size_t n) {
    sb_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"') sb_str(b, "\\\"");
        else if (ch == '\\') sb_str(b, "\\\\");
        else if (ch == '\n') sb_str(b, "\\n");
        else if (ch == '\t') sb_str(b, "\\t");
        else if (ch == '\r') sb_str(b, "\\r");
        else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            sb_str(b, esc);
        } else sb_put(b, (const char *)&s[i], 1);
    }
    sb_str(b, "\"");
}

enum { WS_NONE, WS_SPACED, WS_LINES };

/* Whitespace per slot: after an opening bracket, before a closing one,
 * after ':' and after ','. */
static void dump(sbuf *b, const json_t *v, int ws) {
    static const char *const open[] = {"", "", "\n\t"}, *const close[] = {"", "", "\n"};
    static const char *const colon[] = {":", ": ", ": "}, *const comma[] = {",", ", ", ",\n"};
    char num[64];
    size_t i, klen;
    const char *k;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_NULL: sb_str(b, "null"); break;
    case JSON_TRUE: sb_str(b, "true"); break;
    case JSON_FALSE: sb_str(b, "false"); break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        sb_str(b, num);
        break;
    case JSON_REAL:
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, json_real_value(v));
            if (strtod(num, NULL) == json_real_value(v)) break;
        }
        sb_str(b, num);
        break;
    case JSON_STRING: dump_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_ARRAY:
        sb_str(b, "[");
        sb_str(b, open[ws]);
        json_array_foreach(v, i, x) {
            if (i) sb_str(b, comma[ws]);
            dump(b, x, ws);
        }
        sb_str(b, close[ws]);
        sb_str(b, "]");
        break;
    case JSON_OBJECT:
        sb_str(b, "{");
        sb_str(b, open[ws]);
        i = 0;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            if (i++) sb_str(b, comma[ws]);
            dump_string(b, k, klen);
            sb_str(b, colon[ws]);
            dump(b, x, ws);
        }
        sb_str(b, close[ws]);
        sb_str(b, "}");
        break;
    }
}

static char *text_of(const json_t *v, int ws) {
    sbuf b = {0};
    sb_str(&b, "");
    dump(&b, v, ws);
    return b.p;
}

/* ---- the corpus ----------------------------------------------------------------- */

static js_opts corpus_opts(const json_t *o) {
    js_opts opts = js_opts_default();
    const json_t *v;
    if ((v = json_object_get(o, "max_depth"))) opts.max_depth = (int)json_integer_value(v);
    if ((v = json_object_get(o, "allow_additional"))) opts.allow_additional = json_is_true(v);
    if ((v = json_object_get(o, "whitespace"))) {
        const char *w = json_string_value(v);
        opts.whitespace = !strcmp(w, "compact") ? JS_WS_COMPACT : !strcmp(w, "flexible") ? JS_WS_FLEXIBLE
                                                                                         : JS_WS_SPACE;
    }
    return opts;
}

static int corpus_check(const char *path, oracle *o, const json_t *list, bool want, js_whitespace mode) {
    int bad = 0;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        for (int ws = WS_NONE; ws <= WS_LINES; ws++) {
            if (want && ((ws == WS_SPACED && mode == JS_WS_COMPACT) || (ws == WS_LINES && mode != JS_WS_FLEXIBLE)))
                continue; /* that whitespace is not generated in this mode */
            char *t = text_of(v, ws);
            if (oracle_match(o, t) != want) {
                print_error("%s: %s instance %zu should %s: %s\n", path, want ? "valid" : "invalid", i,
                            want ? "match" : "not match", t);
                bad++;
            }
            free(t);
        }
    }
    return bad;
}

static int corpus_counts[2]; /* instances checked: valid, invalid */

static void test_corpus_file(void **state) {
    const char *path = *state;
    json_error_t je;
    json_t *f = json_load_file(path, 0, &je);
    if (!f) fail_msg("%s: %s (line %d)", path, je.text, je.line);
    js_opts opts = corpus_opts(json_object_get(f, "opts"));
    char err[CT_ERRLEN] = "";
    char *re = js_schema_to_regex(json_object_get(f, "schema"), &opts, err);
    if (!re) fail_msg("%s: %s", path, err);
    oracle o;
    oracle_init(&o, re);
    int bad = corpus_check(path, &o, json_object_get(f, "valid"), true, opts.whitespace) +
              corpus_check(path, &o, json_object_get(f, "invalid"), false, opts.whitespace);
    corpus_counts[0] += (int)json_array_size(json_object_get(f, "valid"));
    corpus_counts[1] += (int)json_array_size(json_object_get(f, "invalid"));
    if (bad) print_error("%s: regex (%zu bytes) %.1500s\n", path, strlen(re), re);
    oracle_free(&o);
    free(re);
    json_decref(f);
    assert_int_equal(bad, 0);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The corpus files, sorted; count in *n. */
static char **corpus_files(size_t *n) {
    DIR *d = opendir(CORPUS_DIR);
    char **v = NULL;
    *n = 0;
    if (!d) return NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        v = realloc(v, (*n + 1) * sizeof *v);
        v[*n] = malloc(sizeof CORPUS_DIR + len + 1);
        sprintf(v[(*n)++], "%s/%s", CORPUS_DIR, e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, name_cmp);
    return v;
}

static void test_corpus_size(void **st) {
    size_t n;
    char **files = corpus_files(&n);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* ---- integer ranges ------------------------------------------------------------- */

static int64_t rnd64(uint64_t *s, int64_t lo, int64_t hi) {
    return lo + (int64_t)(tu_rnd(s) % ((uint64_t)(hi - lo) + 1));
}

typedef struct {
    bool has;
    bool excl;
    long double v;
} ibound;

/* One bound of the schema: `"minimum": a` (or exclusive, or a ± .5). */
static void int_bound_text(uint64_t *rs, char *out, size_t cap, const char *kw, const char *xkw, int64_t a,
                           ibound *b) {
    bool half = tu_rnd(rs) % 4 == 0;
    b->has = true;
    b->excl = tu_rnd(rs) & 1;
    if (half) snprintf(out, cap, "\"%s\":%s%lld.5", b->excl ? xkw : kw, a < 0 ? "-" : "",
                       (long long)(a < 0 ? -a : a));
    else snprintf(out, cap, "\"%s\":%lld", b->excl ? xkw : kw, (long long)a);
    b->v = (long double)strtod(strchr(out, ':') + 1, NULL); /* as JavaScript reads it */
}

static bool int_in(int64_t x, const ibound *lo, const ibound *hi) {
    long double v = (long double)x;
    if (lo->has && (lo->excl ? v <= lo->v : v < lo->v)) return false;
    if (hi->has && (hi->excl ? v >= hi->v : v > hi->v)) return false;
    return x >= -9999999999999999LL && x <= 9999999999999999LL;
}

static void check_int_window(oracle *o, const char *schema, int64_t center, const ibound *lo, const ibound *hi) {
    for (int64_t x = center - 25; x <= center + 25; x++) {
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)x);
        if (oracle_match(o, t) != int_in(x, lo, hi))
            fail_msg("%s: %s should %s", schema, t, int_in(x, lo, hi) ? "match" : "not match");
    }
}

static void test_integer_ranges(void **st) {
    static const int64_t scales[] = {5, 100, 10000, 1000000, 1000000000000LL, 999999999999999LL,
                                     9007199254740991LL};
    uint64_t rs = 0x9e3779b97f4a7c15ULL;
    for (int it = 0; it < 400; it++) {
        int64_t sc = scales[tu_rnd(&rs) % 7], a = rnd64(&rs, -sc, sc), b = rnd64(&rs, -sc, sc);
        if (a > b) {
            int64_t t = a;
            a = b, b = t;
        }
        int sides = (int)(tu_rnd(&rs) % 3); /* 0 both, 1 minimum only, 2 maximum only */
        ibound lo = {0}, hi = {0};
        char s1[96] = "", s2[96] = "", schema[256];
        if (sides != 2) int_bound_text(&rs, s1, sizeof s1, "minimum", "exclusiveMinimum", a, &lo);
        if (sides != 1) int_bound_text(&rs, s2, sizeof s2, "maximum", "exclusiveMaximum", b, &hi);
        snprintf(schema, sizeof schema, "{\"type\":\"integer\"%s%s%s%s}", *s1 ? "," : "", s1, *s2 ? "," : "", s2);
        char err[CT_ERRLEN] = "";
        char *re = compile(schema, NULL, err);
        bool any = (lo.has ? (lo.excl ? floorl(lo.v) + 1 : ceill(lo.v)) : -1e16L) <=
                   (hi.has ? (hi.excl ? ceill(hi.v) - 1 : floorl(hi.v)) : 1e16L);
        if (!re) {
            if (any || !strstr(err, "matches nothing")) fail_msg("%s: %s", schema, err);
            continue;
        }
        oracle o;
        oracle_init(&o, re);
        check_int_window(&o, schema, a, &lo, &hi);
        check_int_window(&o, schema, b, &lo, &hi);
        check_int_window(&o, schema, 0, &lo, &hi);
        for (int k = 1; k <= 16; k++) { /* digit-count boundaries */
            int64_t p = 1;
            for (int j = 1; j < k; j++) p *= 10;
            int64_t xs[] = {p, p - 1, -p, -(p - 1), p * 10 - 1};
            for (int j = 0; j < 5; j++) {
                char t[32];
                snprintf(t, sizeof t, "%lld", (long long)xs[j]);
                if (oracle_match(&o, t) != int_in(xs[j], &lo, &hi)) fail_msg("%s: %s", schema, t);
            }
        }
        oracle_free(&o);
        free(re);
    }
}

/* ---- number ranges ------------------------------------------------------------ */

typedef struct {
    bool has, excl;
    double v;
} nbound;

static bool num_in(double x, const nbound *lo, const nbound *hi) {
    if (lo->has && (lo->excl ? x <= lo->v : x < lo->v)) return false;
    if (hi->has && (hi->excl ? x >= hi->v : x > hi->v)) return false;
    return true;
}

static double rnd_decimal(uint64_t *rs) {
    static const int dens[] = {1, 2, 4, 8, 10, 100, 1000, 3, 7};
    int den = dens[tu_rnd(rs) % 9];
    int64_t k = tu_rnd(rs) % 5 == 0 ? rnd64(rs, -1000000000, 1000000000) : rnd64(rs, -5000, 5000);
    return (double)k / den;
}

/* Texts around x: integer parts near it, assorted fractions, x's own digits. */
static void num_candidates(double x, char (*out)[48], int *n) {
    static const char *const fr[] = {"", ".0", ".5", ".25", ".1", ".125", ".999", ".001", ".75",
                                     ".3333", ".33333333333333", ".0001", ".9", ".142857"};
    long long f = (long long)floor(x);
    for (long long ip = f - 2; ip <= f + 2; ip++)
        for (size_t j = 0; j < sizeof fr / sizeof fr[0]; j++) {
            long long m = ip < 0 ? -ip : ip;
            snprintf(out[(*n)++], 48, "%s%lld%s", ip < 0 ? "-" : "", m, fr[j]);
            snprintf(out[(*n)++], 48, "%s%lld%s", ip < 0 ? "" : "-", m, fr[j]);
        }
    char s[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*f", prec, x);
        if (strtod(s, NULL) == x) break;
    }
    snprintf(out[(*n)++], 48, "%s", s);
    snprintf(out[(*n)++], 48, "%s1", s);
    snprintf(out[(*n)++], 48, "%s9", s);
}

/* Would the bounded-number shape write t: no exponent, no -0, no trailing
 * zero in the fraction, at most 15 digits? */
static bool simple_text(const char *t) {
    const char *dot = strchr(t, '.');
    size_t digits = 0;
    for (const char *p = t; *p; p++) digits += *p >= '0' && *p <= '9';
    if (digits > 15 || (strtod(t, NULL) == 0 && t[0] == '-')) return false;
    return !dot || (dot[1] && t[strlen(t) - 1] != '0');
}

static void test_number_ranges(void **st) {
    uint64_t rs = 0x2545f4914f6cdd1dULL;
    static char cands[600][48];
    for (int it = 0; it < 300; it++) {
        double a = rnd_decimal(&rs), b = rnd_decimal(&rs);
        if (a > b) {
            double t = a;
            a = b, b = t;
        }
        int sides = (int)(tu_rnd(&rs) % 3);
        nbound lo = {sides != 2, tu_rnd(&rs) & 1, a}, hi = {sides != 1, tu_rnd(&rs) & 1, b};
        char schema[256] = "{\"type\":\"number\"", part[96];
        if (lo.has) snprintf(part, sizeof part, ",\"%s\":%.17g", lo.excl ? "exclusiveMinimum" : "minimum", a), strcat(schema, part);
        if (hi.has) snprintf(part, sizeof part, ",\"%s\":%.17g", hi.excl ? "exclusiveMaximum" : "maximum", b), strcat(schema, part);
        strcat(schema, "}");
        char err[CT_ERRLEN] = "";
        char *re = compile(schema, NULL, err);
        if (!re) {
            if (a < b || (a == b && !lo.excl && !hi.excl) || !lo.has || !hi.has) fail_msg("%s: %s", schema, err);
            continue;
        }
        oracle o;
        oracle_init(&o, re);
        int n = 0;
        if (lo.has) num_candidates(a, cands, &n);
        if (hi.has) num_candidates(b, cands, &n);
        num_candidates(0, cands, &n);
        for (int i = 0; i < n; i++) {
            bool in = num_in(strtod(cands[i], NULL), &lo, &hi), m = oracle_match(&o, cands[i]);
            if (m && !in) fail_msg("%s: %s matches but is out of range", schema, cands[i]);
            if (in && !m && simple_text(cands[i])) fail_msg("%s: %s is in range but does not match", schema, cands[i]);
        }
        oracle_free(&o);
        free(re);
    }
}

/* ---- text shapes and whitespace ------------------------------------------------- */

static void test_number_texts(void **st) {
    expect("{\"type\":\"integer\"}", NULL, (const char *const[]){"0", "-1", "9999999999999999", "-42", NULL},
           (const char *const[]){"-0", "01", "+1", "1.0", "1e2", " 1", "1 ", "10000000000000000", "", NULL});
    expect("{\"type\":\"number\"}", NULL,
           (const char *const[]){"0", "-0.5", "1.25e+10", "3E-7", "0.0000000000000001", NULL},
           (const char *const[]){"01", ".5", "1.", "-", "1e", "1e999", "NaN", "Infinity", "0x10", NULL});
    expect("{\"type\":\"number\",\"minimum\":0}", NULL, (const char *const[]){"0", "7.5", "123456789012345", NULL},
           (const char *const[]){"-0", "1e3", "-0.5", "1234567890123456", NULL});
    expect("{\"type\":\"integer\",\"minimum\":1.5,\"maximum\":3.5}", NULL, (const char *const[]){"2", "3", NULL},
           (const char *const[]){"1", "4", "2.5", NULL});
    expect("{\"type\":\"integer\",\"exclusiveMaximum\":9007199254740993}", NULL,
           (const char *const[]){"9007199254740989", NULL},
           (const char *const[]){"9007199254740992", "9007199254740991", NULL});
    expect("{\"type\":\"number\",\"exclusiveMinimum\":0.1,\"exclusiveMaximum\":0.30000000000000004}", NULL,
           (const char *const[]){"0.2", "0.10000000000001", "0.3", NULL},
           (const char *const[]){"0.1", "0.30000000000000004", "0.1000000000000000001", NULL});
}

static void test_whitespace_modes(void **st) {
    const char *obj = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},"
                      "\"required\":[\"a\"]}";
    js_opts o = js_opts_default();
    expect(obj, &o, (const char *const[]){"{\"a\":[1,2]}", "{\"a\": [1, 2]}", NULL},
           (const char *const[]){" {\"a\":[]}", "{\"a\":[]} ", "{\"a\":[]}\n", "{\"a\":  []}", "{ \"a\":[]}",
                                 "{\"a\" :[]}", "{\"a\":[1 ,2]}", "{\"a\":[ 1]}", NULL});
    o.whitespace = JS_WS_COMPACT;
    expect(obj, &o, (const char *const[]){"{\"a\":[1,2]}", NULL},
           (const char *const[]){"{\"a\": [1,2]}", "{\"a\":[1, 2]}", NULL});
    o.whitespace = JS_WS_FLEXIBLE;
    expect(obj, &o, (const char *const[]){"{\"a\":[1,2]}", "{\n \"a\" : [ 1,\n\t2 ]\n}", "{\"a\":[]}", NULL},
           (const char *const[]){" {\"a\":[]}", "{\"a\":[]}\n", "{\"a\":   []}", "{\r\"a\":[]}", NULL});
}

static void test_any_json(void **st) {
    js_opts o = js_opts_default();
    char err[CT_ERRLEN] = "";
    o.max_depth = 3;
    char *re = js_any_json_regex(false, &o, err);
    assert_non_null(re);
    oracle or;
    oracle_init(&or, re);
    const char *yes[] = {"1", "\"x\"", "null", "[[[1]]]", "{\"a\":{\"b\":[true]}}", "[{}, []]",
                         "\"\\u00e9\\n\\\"\"", "\"é😀\"", "{\"\":\"\",\"\":0}", NULL};
    const char *no[] = {"[[[[1]]]]", "{\"a\":{\"b\":{\"c\":{}}}}", "[1,]", "{\"a\"}", "\"\\ud800\"", "\"\t\"",
                        "'x'", "[1 2]", " 1", NULL};
    for (int i = 0; yes[i]; i++) assert_true(oracle_match(&or, yes[i]));
    for (int i = 0; no[i]; i++)
        if (oracle_match(&or, no[i])) fail_msg("any-JSON (depth 3) matches %s", no[i]);
    oracle_free(&or);
    free(re);
    re = js_any_json_regex(true, &o, err);
    assert_non_null(re);
    oracle_init(&or, re);
    assert_true(oracle_match(&or, "{\"a\":[[1]]}"));
    assert_false(oracle_match(&or, "{\"a\":[[[1]]]}"));
    assert_false(oracle_match(&or, "[1]"));
    assert_false(oracle_match(&or, "1"));
    oracle_free(&or);
    free(re);
    for (int d = 1; d <= 5; d++) {
        o.max_depth = d;
        double t0 = ct_now();
        char *a = js_any_json_regex(false, &o, err), *b = js_any_json_regex(true, &o, err);
        assert_non_null(a);
        assert_non_null(b);
        printf("# any JSON at max_depth %d: %zu bytes (objects only: %zu), %.2f ms\n", d, strlen(a), strlen(b),
               (ct_now() - t0) * 1e3);
        free(a);
        free(b);
    }
    o.max_depth = 0;
    assert_null(js_any_json_regex(false, &o, err));
    assert_non_null(strstr(err, "max_depth"));
}

/* ---- patterns ---------------------------------------------------------------- */

static void test_pattern_escaping(void **st) {
    /* classes and `.` that include `"`, `\` and controls: written as JSON escapes */
    expect("{\"type\":\"string\",\"pattern\":\"^[^a]$\"}", NULL,
           (const char *const[]){"\"b\"", "\"\\\"\"", "\"\\\\\"", "\"\\n\"", "\"\\u0001\"", "\"é\"", NULL},
           (const char *const[]){"\"a\"", "\"\"\"", "\"\\\"", "\"\n\"", "\"\x01\"", "\"bb\"", NULL});
    expect("{\"type\":\"string\",\"pattern\":\"^.{2}$\"}", NULL, (const char *const[]){"\"\\t\\\"\"", "\"ab\"", NULL},
           (const char *const[]){"\"\\n\\n\"", "\"a\\r\"", "\"a\xe2\x80\xa8\"", "\"\t\t\"", NULL});
    expect("{\"type\":\"string\",\"pattern\":\"^\\\\S+\\\\s\\\\d$\"}", NULL,
           (const char *const[]){"\"ab\\t1\"", "\"\\\"q\\\" 2\"", "\"x\xc2\xa0" "3\"", NULL},
           (const char *const[]){"\"a b 1\"", "\"ab 12\"", NULL});
    expect("{\"type\":\"string\",\"pattern\":\"^(?<word>[\\\\w-]+)\\\\.\\\\x41\\\\u00e9\\\\u{1F600}?$\"}", NULL,
           (const char *const[]){"\"a-b_1.Aé\"", "\"z.Aé😀\"", NULL}, (const char *const[]){"\"a.Ae\"", "\".Aé\"", NULL});
    expect("{\"type\":\"string\",\"pattern\":\"^\\\\uD83D\\\\uDE00[\\\\b]$\"}", NULL, (const char *const[]){"\"😀\\b\"", NULL},
           (const char *const[]){"\"😀\"", NULL});
    /* lengths beside a single repeated class are intersected */
    expect("{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"minLength\":2,\"maxLength\":3}", NULL,
           (const char *const[]){"\"ab\"", "\"abc\"", NULL}, (const char *const[]){"\"a\"", "\"abcd\"", "\"AB\"", NULL});
    expect("{\"type\":\"string\",\"pattern\":\"^\\\\d{3}-\\\\d{4}$\",\"maxLength\":8}", NULL,
           (const char *const[]){"\"555-1234\"", NULL}, (const char *const[]){"\"5551234\"", NULL});
}

static void test_pattern_refused(void **st) {
    static const struct {
        const char *pattern, *needle;
    } cases[] = {
        {"(a)\\\\1", "backreferences"},         {"a(?=b)", "lookaround"},       {"(?<!x)y", "lookaround"},
        {"\\\\bword", "word boundary"},           {"(?i)abc", "inline flags"},    {"\\\\p{L}+", "Unicode property"},
        {"a^b", "`^` inside"},                  {"a$b", "`$` inside"},          {"(^a)", "`^` inside"},
        {"*a", "nothing to repeat"},            {"a**", "nothing to repeat"},   {"a{2", "not a quantifier"},
        {"a{3,1}", "n < m"},                    {"a{1001}", "above 1000"},      {"[z-a]", "out of order"},
        {"(ab", "without `)`"},                 {"ab)", "unmatched"},           {"[ab", "without `]`"},
        {"\\\\cA", "control escapes"},                     {"\\\\ud800", "lone surrogate"},  {"\\\\q", "unknown escape"},
        {"\\\\07", "octal"},                     {"[\\\\d-z]", "class escape"},    {"[]", "matches nothing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char schema[256];
        snprintf(schema, sizeof schema, "{\"properties\":{\"p\":{\"type\":\"string\",\"pattern\":\"%s\"}}}",
                 cases[i].pattern);
        expect_error(schema, NULL, cases[i].needle);
        expect_error(schema, NULL, "`pattern` at /properties/p");
    }
    expect_error("{\"type\":\"string\",\"pattern\":\"^a+b$\",\"maxLength\":3}", NULL, "minLength/maxLength");
    expect_error("{\"type\":\"string\",\"pattern\":\"^a$\",\"format\":\"date\"}", NULL, "together with `format`");
    expect_error("{\"type\":\"string\",\"format\":\"uri\"}", NULL, "unsupported format `uri`");
    expect_error("{\"type\":\"string\",\"format\":\"email\",\"maxLength\":20}", NULL, "format `email` with");
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_unsupported_keywords(void **st) {
    static const char *const kws[] = {
        "not", "if", "then", "else", "patternProperties", "propertyNames", "multipleOf", "uniqueItems",
        "contains", "minContains", "maxContains", "dependentRequired", "dependentSchemas", "dependencies",
        "unevaluatedProperties", "unevaluatedItems", "minProperties", "maxProperties", "additionalItems",
        "$dynamicRef", "$recursiveRef", "frobnicate",
    };
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++) {
        char schema[256], needle[128];
        snprintf(schema, sizeof schema,
                 "{\"type\":\"object\",\"properties\":{\"a/b\":{\"type\":\"array\",\"items\":{\"%s\":1}}}}", kws[i]);
        snprintf(needle, sizeof needle, "unsupported keyword `%s` at /properties/a~1b/items", kws[i]);
        expect_error(schema, NULL, needle);
    }
    expect_error("{\"not\":{}}", NULL, "unsupported keyword `not` at /");
    /* annotations and vendor extensions are fine */
    expect("{\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[1],\"$schema\":\"x\",\"$id\":\"y\","
           "\"$comment\":\"c\",\"deprecated\":true,\"readOnly\":false,\"writeOnly\":false,\"x-foo\":{},"
           "\"contentMediaType\":\"text/plain\",\"type\":\"boolean\"}",
           NULL, (const char *const[]){"true", NULL}, (const char *const[]){"1", NULL});
}

static void test_errors(void **st) {
    static const struct {
        const char *schema, *needle;
    } cases[] = {
        {"42", "must be an object or a boolean"},
        {"{\"properties\":{\"a\":[]}}", "at /properties/a must be an object or a boolean"},
        {"{\"type\":\"strin\"}", "unknown type `strin` at /"},
        {"{\"type\":[\"string\",\"float\"]}", "unknown type `float`"},
        {"{\"$ref\":\"#/$defs/missing\"}", "$ref `#/$defs/missing` at / points to nothing"},
        {"{\"$ref\":\"https://example.com/s.json\"}", "unsupported $ref"},
        {"{\"$ref\":\"#anchor\"}", "unsupported $ref"},
        {"{\"$ref\":\"#/$defs/a~2b\",\"$defs\":{}}", "bad JSON pointer"},
        {"{\"type\":\"object\",\"properties\":{\"self\":{\"$ref\":\"#\"}},\"required\":[\"self\"]}",
         "recursion through $ref `#` at /properties/self is cut at max_depth 5"},
        {"{\"$defs\":{\"n\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"},\"minItems\":1}},\"$ref\":\"#/$defs/n\"}",
         "recursion through $ref `#/$defs/n`"},
        {"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}",
         "recursion through $ref"},
        {"{\"oneOf\":[{\"type\":\"object\"},{\"type\":\"object\",\"properties\":{\"a\":{}}}]}", "may both match"},
        {"{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}", "may both match"},
        {"{\"anyOf\":[{\"type\":\"string\"}],\"oneOf\":[{\"type\":\"string\"}]}", "anyOf together with oneOf"},
        {"{\"allOf\":[{\"pattern\":\"a\"},{\"pattern\":\"b\"}]}", "cannot merge two different `pattern`"},
        {"{\"type\":\"string\",\"nullable\":true,\"anyOf\":[{\"minLength\":1}]}", "`nullable` beside `anyOf`"},
        {"{\"minLength\":-1}", "`minLength` must be a non-negative integer"},
        {"{\"items\":[{}]}", "prefixItems"},
        {"{\"required\":\"a\"}", "`required` must be an array of strings"},
        {"{\"type\":\"array\",\"minItems\":1001}", "minItems above 1000"},
        {"{\"type\":\"string\",\"minLength\":1001}", "minLength above 1000"},
        {"{\"enum\":[\"a\",\"bb\"],\"maxLength\":1}", "`maxLength` beside enum"},
        {"false", "matches nothing: schema `false`"},
        {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no integer fits"},
        {"{\"enum\":[]}", "matches nothing"},
        {"{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}", "matches nothing"},
        {"{\"type\":\"object\",\"required\":[\"a\"],\"additionalProperties\":false}", "not allowed by additionalProperties"},
        {"{\"type\":[]}", "allows no type"},
        {"{\"allOf\":[{\"items\":{\"type\":\"integer\"}},{\"prefixItems\":[{\"type\":\"string\"}]}]}",
         "`items` of one part would apply to another part's prefixItems"},
        {"{\"allOf\":[{\"$ref\":\"#\"}]}", "nest more than"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_error(cases[i].schema, NULL, cases[i].needle);
    /* a schema nested deeper than the compiler's stack allows */
    sbuf deep = {0};
    for (int i = 0; i < 300; i++) sb_str(&deep, "{\"items\":");
    sb_str(&deep, "{}");
    for (int i = 0; i < 300; i++) sb_str(&deep, "}");
    expect_error(deep.p, NULL, "nests more than 200 levels deep at /items/items");
    free(deep.p);
    /* a deep binary recursion outgrows the size limit with a large max_depth */
    js_opts o = js_opts_default();
    o.max_depth = 30;
    expect_error("{\"type\":\"object\",\"properties\":{\"l\":{\"$ref\":\"#\"},\"r\":{\"$ref\":\"#\"}},\"required\":[]}", &o,
                 "would exceed");
}

static void test_recursion_bound(void **st) {
    const char *list = "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"n\":{\"$ref\":\"#\"}},"
                       "\"required\":[\"v\"],\"additionalProperties\":false}";
    js_opts o = js_opts_default();
    o.max_depth = 2;
    expect(list, &o, (const char *const[]){"{\"v\":1}", "{\"v\":1,\"n\":{\"v\":2}}", NULL},
           (const char *const[]){"{\"v\":1,\"n\":{\"v\":2,\"n\":{\"v\":3}}}", NULL});
    /* a recursion without a container in between is cut at once */
    expect("{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}", NULL, (const char *const[]){"null", NULL},
           (const char *const[]){"1", NULL});
}

static void test_oneof_disjoint(void **st) {
    /* provably disjoint: additionalProperties false + a property the other requires */
    expect("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],"
           "\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"integer\"}},"
           "\"required\":[\"b\"],\"additionalProperties\":false}]}",
           NULL, (const char *const[]){"{\"a\":1}", "{\"b\":2}", NULL}, (const char *const[]){"{}", NULL});
    /* by enum values, by types with nullable */
    expect("{\"oneOf\":[{\"enum\":[\"x\",\"y\"]},{\"enum\":[\"z\"]},{\"type\":\"integer\",\"nullable\":true}]}", NULL,
           (const char *const[]){"\"x\"", "\"z\"", "null", "3", NULL}, (const char *const[]){"\"w\"", NULL});
    expect_error("{\"oneOf\":[{\"enum\":[\"x\",\"y\"]},{\"enum\":[\"y\"]}]}", NULL, "may both match");
    /* mutually exclusive required names: each branch stops writing the other's */
    js_opts o = js_opts_default();
    o.max_depth = 2;
    expect("{\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", &o,
           (const char *const[]){"{\"a\":1}", "{\"b\":[]}", NULL},
           (const char *const[]){"{\"a\":1,\"b\":2}", "{}", "{\"c\":1}", NULL});
    expect("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},"
           "\"c\":{\"type\":\"boolean\"}},\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}",
           NULL, (const char *const[]){"{\"a\":1}", "{\"a\":1,\"c\":true}", "{\"b\":\"x\",\"c\":false}", NULL},
           (const char *const[]){"{\"a\":1,\"b\":\"x\"}", "{\"c\":true}", NULL});
    o.allow_additional = true;
    expect("{\"oneOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],"
           "\"additionalProperties\":{\"type\":\"integer\"}},{\"required\":[\"b\"]}]}",
           &o, (const char *const[]){"{\"a\":1,\"x\":2}", "{\"b\":\"s\"}", NULL},
           (const char *const[]){"{\"a\":1,\"b\":2}", NULL});
}

static void test_enum_and_types(void **st) {
    expect("{\"type\":\"string\",\"enum\":[\"a\",1,\"b\\\"c\"]}", NULL, (const char *const[]){"\"a\"", "\"b\\\"c\"", NULL},
           (const char *const[]){"1", NULL});
    expect("{\"type\":\"integer\",\"enum\":[1,1.0,1.5,\"1\"]}", NULL, (const char *const[]){"1", NULL},
           (const char *const[]){"1.5", "\"1\"", NULL});
    expect("{\"const\":{\"a\":[1,{\"b\":null}]}}", NULL,
           (const char *const[]){"{\"a\":[1,{\"b\":null}]}", "{\"a\": [1, {\"b\": null}]}", NULL},
           (const char *const[]){"{\"a\":[1,{\"b\":0}]}", NULL});
    expect("{\"type\":[\"number\",\"integer\",\"null\"],\"maximum\":2}", NULL,
           (const char *const[]){"2", "1.5", "null", "-3", NULL}, (const char *const[]){"2.5", "3", NULL});
    expect("{\"type\":\"string\",\"minimum\":5,\"additionalProperties\":false}", NULL,
           (const char *const[]){"\"x\"", NULL}, (const char *const[]){"5", NULL});
    expect("{\"allOf\":[{\"type\":[\"number\",\"string\"]},{\"type\":\"integer\"},{\"minimum\":3},{\"maximum\":5}]}",
           NULL, (const char *const[]){"3", "5", NULL}, (const char *const[]){"\"x\"", "2", "6", "4.5", NULL});
    expect("{\"type\":\"string\",\"nullable\":true,\"enum\":[\"a\",null,1]}", NULL,
           (const char *const[]){"\"a\"", "null", NULL}, (const char *const[]){"1", NULL});
    expect("{\"type\":\"string\",\"maxLength\":0}", NULL, (const char *const[]){"\"\"", NULL},
           (const char *const[]){"\"a\"", NULL});
    expect("{\"allOf\":[{\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"integer\"}},"
           "{\"prefixItems\":[{\"maxLength\":1}],\"maxItems\":2}]}",
           NULL, (const char *const[]){"[\"a\",1]", "[]", NULL}, (const char *const[]){"[\"ab\"]", "[\"a\",1,2]", NULL});
    expect("{\"allOf\":[{\"properties\":{\"a\":{},\"b\":{}}},{\"properties\":{\"a\":{\"type\":\"integer\"}},"
           "\"additionalProperties\":false}],\"required\":[\"a\"]}",
           NULL, (const char *const[]){"{\"a\":1}", NULL}, (const char *const[]){"{\"a\":1,\"b\":1}", "{\"a\":\"x\"}", NULL});
}

/* ---- sizes -------------------------------------------------------------------------- */

static char *wide_schema(int n, bool required) {
    static const char *const types[] = {"{\"type\":\"string\"}", "{\"type\":\"integer\",\"minimum\":0}",
                                        "{\"type\":\"number\"}", "{\"type\":\"boolean\"}",
                                        "{\"type\":\"string\",\"enum\":[\"a\",\"b\",\"c\"]}"};
    sbuf b = {0};
    sb_str(&b, "{\"type\":\"object\",\"properties\":{");
    for (int i = 0; i < n; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s\"field_%02d\":%s", i ? "," : "", i, types[i % 5]);
        sb_str(&b, p);
    }
    sb_str(&b, "},\"required\":[");
    for (int i = 0; required && i < n; i += 2) {
        char p[32];
        snprintf(p, sizeof p, "%s\"field_%02d\"", i ? "," : "", i);
        sb_str(&b, p);
    }
    sb_str(&b, "],\"additionalProperties\":false}");
    return b.p;
}

static void test_sizes(void **st) {
    for (int req = 1; req >= 0; req--) {
        char *s = wide_schema(50, req), err[CT_ERRLEN] = "";
        double t0 = ct_now();
        char *re = compile(s, NULL, err);
        double ms = (ct_now() - t0) * 1e3;
        if (!re) fail_msg("%s", err);
        printf("# 50 properties, %s: %zu bytes, %.2f ms\n", req ? "25 required" : "none required", strlen(re), ms);
        assert_true(strlen(re) < (1u << 20));
        free(re);
        free(s);
    }
}

int main(void) {
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_corpus_size),       cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_number_ranges),     cmocka_unit_test(test_number_texts),
        cmocka_unit_test(test_whitespace_modes),  cmocka_unit_test(test_any_json),
        cmocka_unit_test(test_pattern_escaping),  cmocka_unit_test(test_pattern_refused),
        cmocka_unit_test(test_unsupported_keywords), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_recursion_bound),   cmocka_unit_test(test_oneof_disjoint),
        cmocka_unit_test(test_enum_and_types),    cmocka_unit_test(test_sizes),
    };
    size_t nf = sizeof fixed / sizeof fixed[0], nc;
    char **files = corpus_files(&nc);
    struct CMUnitTest *tests = calloc(nf + nc, sizeof *tests);
    assert_non_null(tests);
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < nc; i++)
        tests[nf + i] = (struct CMUnitTest){.name = files[i] + sizeof CORPUS_DIR, .test_func = test_corpus_file,
                                            .initial_state = files[i]};
    int rc = _cmocka_run_group_tests("json_schema", tests, nf + nc, NULL, NULL);
    printf("# corpus: %zu schemas, %d valid and %d invalid instances\n", nc, corpus_counts[0], corpus_counts[1]);
    for (size_t i = 0; i < nc; i++) free(files[i]);
    free(files);
    free(tests);
    return rc;
}
