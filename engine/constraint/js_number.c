/*
 * js_number.c — integers and numbers, with minimum / maximum /
 * exclusiveMinimum / exclusiveMaximum.
 *
 * Integers: exact ranges over decimal digit strings.  [lo, hi] splits into
 * the negative part ("-" and the magnitudes) and the non-negative part;
 * each into digit counts; a range of same-length strings x..y is its
 * common prefix, then (x's next digit, anything up to 9...9 after it), the
 * digits strictly between with \d{n}, and (y's next digit, 0...0 up to the
 * rest of y).  Without bounds: (?:0|-?[1-9]\d{0,15}) (no -0).  A missing bound is
 * ±(10^16 - 1).  JavaScript (ajv) reads numbers as doubles: an exclusive
 * bound of magnitude >= 2^53 is tightened by 3 instead of 1, so that no
 * generated integer rounds onto it.
 *
 * Numbers: without bounds, at most 16 integer and 16 fraction digits and an
 * exponent of 1-2 digits.  With a bound: no exponent, and at most 15 digits
 * in all — two different decimals of <= 15 significant digits never read
 * as the same double, so comparing the text with the bound's shortest
 * decimal (exactly) decides what ajv decides.  The values strictly inside
 * (A, B) are: integer parts strictly between A's and B's with any fraction;
 * A's integer part with a fraction above A's; B's with one below B's
 * (fractions compared digit by digit); plus A and B themselves as written
 * when inclusive.  A bound with more than 20 fraction digits is rounded
 * inwards (and then made exclusive).
 */
#include "js_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP16 9999999999999999LL /* largest integer generated: 16 digits */
#define CAP15 999999999999999LL  /* largest integer part of a bounded number */
#define TWO53 9007199254740992.0
#define FRAC_DIGITS 15           /* digits in all of a bounded number */
#define FP_MAX 20                /* fraction digits kept of a bound */

static const char NINES[] = "99999999999999999999";
static const char ZEROS[] = "00000000000000000000";

static int ndigits(int64_t v) {
    int d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

static int64_t pow10i(int d) {
    int64_t p = 1;
    while (d-- > 0) p *= 10;
    return p;
}

static void put_digits(js_ctx *c, char a, char b) {
    if (a == b) js_putc(c, a);
    else if (a == '0' && b == '9') js_put(c, "\\d");
    else js_printf(c, "[%c-%c]", a, b);
}

static void put_any_digits(js_ctx *c, int lo, int hi) {
    if (hi <= 0) return;
    if (lo == 1 && hi == 1) js_put(c, "\\d");
    else if (lo == hi) js_printf(c, "\\d{%d}", lo);
    else js_printf(c, "\\d{%d,%d}", lo, hi);
}

static bool all_of(const char *s, int n, char ch) {
    for (int i = 0; i < n; i++)
        if (s[i] != ch) return false;
    return true;
}

/* Digit strings s of length n with x <= s <= y. */
static void put_same_len(js_ctx *c, const char *x, const char *y, int n) {
    int p = 0;
    while (p < n && x[p] == y[p]) p++;
    js_putn(c, x, (size_t)p);
    x += p, y += p, n -= p;
    if (n == 0) return;
    if (n == 1) {
        put_digits(c, x[0], y[0]);
        return;
    }
    bool xlow = all_of(x + 1, n - 1, '0'), yhigh = all_of(y + 1, n - 1, '9');
    char a = xlow ? x[0] : (char)(x[0] + 1), b = yhigh ? y[0] : (char)(y[0] - 1);
    int alts = !xlow + (a <= b) + !yhigh;
    const char *sep = "";
    if (alts > 1) js_put(c, "(?:");
    if (!xlow) {
        js_putc(c, x[0]);
        put_same_len(c, x + 1, NINES, n - 1);
        sep = "|";
    }
    if (a <= b) {
        js_put(c, sep);
        put_digits(c, a, b);
        put_any_digits(c, n - 1, n - 1);
        sep = "|";
    }
    if (!yhigh) {
        js_put(c, sep);
        js_putc(c, y[0]);
        put_same_len(c, ZEROS, y + 1, n - 1);
    }
    if (alts > 1) js_putc(c, ')');
}

/* v in exactly d digits (d <= 20). */
static void zero_padded(char *out, int64_t v, int d) {
    out[d] = 0;
    for (int i = d - 1; i >= 0; i--, v /= 10) out[i] = (char)('0' + v % 10);
}

/* Alternatives (each after a `|` but the first: *alts counts them) for
 * the naturals in [lo, hi]; frac > 0: each may take a fraction so that it
 * has at most frac digits in all. */
static void put_nat_alts(js_ctx *c, int64_t lo, int64_t hi, int frac, int *alts) {
    for (int d = ndigits(lo); d <= ndigits(hi); d++) {
        int64_t a = d == 1 ? 0 : pow10i(d - 1), b = pow10i(d) - 1;
        if (lo > a) a = lo;
        if (hi < b) b = hi;
        if ((*alts)++) js_putc(c, '|');
        if (!frac && d >= 2 && a == pow10i(d - 1) && b == pow10i(d) - 1) { /* whole lengths d..e */
            int e = d;
            while (e < ndigits(hi) && hi >= pow10i(e + 1) - 1) e++;
            js_put(c, "[1-9]");
            put_any_digits(c, d - 1, e - 1);
            d = e;
            continue;
        }
        char x[24], y[24];
        zero_padded(x, a, d);
        zero_padded(y, b, d);
        put_same_len(c, x, y, d);
        if (frac - d >= 1) js_printf(c, "(?:\\.\\d{1,%d})?", frac - d);
    }
}

void js_put_int_range(js_ctx *c, int64_t lo, int64_t hi) {
    int alts = 0;
    js_put(c, "(?:");
    if (lo < 0) {
        int k = 0;
        js_put(c, "-(?:");
        put_nat_alts(c, hi < 0 ? -hi : 1, -lo, 0, &k);
        js_putc(c, ')');
        alts++;
    }
    if (hi >= 0) {
        int k = 0;
        if (alts) js_putc(c, '|');
        put_nat_alts(c, lo > 0 ? lo : 0, hi, 0, &k);
    }
    js_putc(c, ')');
}

/* ---- integers ------------------------------------------------------------- */

/* A bound as an integer: v rounded up (ceil) or down, clamped. */
static int64_t int_bound(const json_t *v, bool up) {
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i > CAP16 + 10 ? CAP16 + 10 : i < -CAP16 - 10 ? -CAP16 - 10 : (int64_t)i;
    }
    double d = json_real_value(v);
    if (d > 1e17) return CAP16 + 10;
    if (d < -1e17) return -CAP16 - 10;
    return (int64_t)(up ? ceil(d) : floor(d));
}

static bool big(const json_t *v) { return fabs(json_number_value(v)) >= TWO53; }

js_st js_compile_integer(js_ctx *c, const json_t *s) {
    const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    const json_t *xmn = json_object_get(s, "exclusiveMinimum"), *xmx = json_object_get(s, "exclusiveMaximum");
    if (!mn && !mx && !xmn && !xmx) {
        js_put(c, "(?:0|-?[1-9]\\d{0,15})");
        return c->fail ? JS_FAIL : JS_OK;
    }
    int64_t lo = -CAP16, hi = CAP16, b;
    if (mn && (b = int_bound(mn, true)) > lo) lo = b;
    if (xmn && (b = int_bound(xmn, false) + (big(xmn) ? 3 : 1)) > lo) lo = b;
    if (mx && (b = int_bound(mx, false)) < hi) hi = b;
    if (xmx && (b = int_bound(xmx, true) - (big(xmx) ? 3 : 1)) < hi) hi = b;
    if (lo > hi) return js_empty(c, "no integer fits the bounds at %s", js_where(c));
    js_put_int_range(c, lo, hi);
    return c->fail ? JS_FAIL : JS_OK;
}

/* ---- numbers ----------------------------------------------------------------- */

/* A bound's exact decimal: the integer's digits, or the double's shortest. */
typedef struct {
    bool neg, huge; /* below zero; integer part over 15 digits */
    int64_t ip;
    char fp[400]; /* fraction digits, no trailing zeros */
} decv;

static void dec_of(const json_t *v, decv *d) {
    char buf[64], digs[40];
    int nd = 0, point = -1;
    memset(d, 0, sizeof *d);
    if (json_is_integer(v)) snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else js_fmt_double(json_real_value(v), buf, sizeof buf);
    const char *p = buf;
    d->neg = *p == '-';
    if (d->neg) p++;
    for (; *p && *p != 'e' && *p != 'E' && nd < 38; p++) {
        if (*p == '.') point = nd;
        else digs[nd++] = *p;
    }
    int pos = (point < 0 ? nd : point) + (*p == 'e' || *p == 'E' ? atoi(p + 1) : 0);
    for (int i = 0; i < pos && !d->huge; i++) { /* integer part */
        d->ip = d->ip * 10 + (i < nd ? digs[i] - '0' : 0);
        d->huge = d->ip > CAP15;
    }
    size_t n = 0;
    for (int i = pos < 0 ? pos : (pos > nd ? nd : pos); i < nd && n + 1 < sizeof d->fp; i++)
        d->fp[n++] = i < 0 ? '0' : digs[i];
    while (n && d->fp[n - 1] == '0') n--;
    d->fp[n] = 0;
    if (!d->ip && !n && !d->huge) d->neg = false; /* -0 */
}

/* A magnitude bound. */
typedef struct {
    int64_t ip;
    char fp[FP_MAX + 1];
    bool incl;
    bool inf;  /* upper: none */
    bool none; /* lower: beyond every generated number */
} mag;

/* The bound d as a magnitude bound; rounded inwards when it has more than
 * FP_MAX fraction digits (and then exclusive). */
static void mag_of(const decv *d, bool incl, bool lower, mag *m) {
    memset(m, 0, sizeof *m);
    m->incl = incl;
    if (d->huge) {
        m->none = lower;
        m->inf = !lower;
        return;
    }
    m->ip = d->ip;
    size_t n = strlen(d->fp);
    memcpy(m->fp, d->fp, n > FP_MAX ? FP_MAX : n);
    if (n <= FP_MAX) return;
    m->incl = false;
    if (lower) {
        int i = FP_MAX - 1;
        while (i >= 0 && m->fp[i] == '9') m->fp[i--] = '0';
        if (i < 0) m->ip++;
        else m->fp[i]++;
        m->none = m->ip > CAP15;
    }
    for (n = FP_MAX; n && m->fp[n - 1] == '0'; n--) m->fp[n - 1] = 0;
}

static int mag_cmp(const mag *a, const mag *b) {
    if (a->ip != b->ip) return a->ip < b->ip ? -1 : 1;
    size_t la = strlen(a->fp), lb = strlen(b->fp);
    for (size_t i = 0; i < la || i < lb; i++) {
        char x = i < la ? a->fp[i] : '0', y = i < lb ? b->fp[i] : '0';
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

/* Fractions F (as 0.F: at most m digits, at least one unless allow_empty)
 * with lo < 0.F < hi; lo/hi NULL: no bound, "": zero.  Returns 0 when
 * there is none, 2 when only the empty F (nothing emitted), else 1. */
static int put_frac(js_ctx *c, const char *lo, const char *hi, int m, bool allow_empty) {
    bool empty = allow_empty && !lo;
    if (hi && !*hi) return 0;
    if (m <= 0) return empty ? 2 : 0;
    char ld = lo && *lo ? *lo : '0', hd = hi ? *hi : '9';
    if (lo && hi && ld > hd) return 0;
    if (lo && !*lo && !hi) { /* not all zeros: generated without trailing zeros */
        if (m > 1) js_printf(c, "\\d{0,%d}", m - 1);
        js_put(c, "[1-9]");
        return 1;
    }
    size_t start = c->n;
    int alts = 0;
    js_put(c, "(?:");
    char ma = lo ? (char)(ld + 1) : '0', mb = hi ? (char)(hd - 1) : '9';
    if (ma <= mb) {
        put_digits(c, ma, mb);
        if (m > 1) js_printf(c, "\\d{0,%d}", m - 1);
        alts++;
    }
    for (int side = 0; side < 2; side++) {
        char d;
        const char *sl, *sh;
        if (side == 0) { /* the digit of lo: the rest above lo's rest */
            if (!lo) continue;
            d = ld, sl = *lo ? lo + 1 : "", sh = hi && hd == ld ? hi + 1 : NULL;
        } else { /* the digit of hi: the rest below hi's rest */
            if (!hi || (lo && hd == ld)) continue;
            d = hd, sl = NULL, sh = hi + 1;
        }
        size_t mark = c->n;
        if (alts) js_putc(c, '|');
        js_putc(c, d);
        if (put_frac(c, sl, sh, m - 1, true) == 0) js_cut(c, mark);
        else alts++;
    }
    if (!alts) {
        js_cut(c, start);
        return empty ? 2 : 0;
    }
    js_put(c, empty ? ")?" : ")");
    return 1;
}

/* The alternative n.F with lo < 0.F < hi, if there is one. */
static void put_frac_alt(js_ctx *c, int64_t n, const char *lo, const char *hi, int *alts) {
    size_t mark = c->n;
    if (*alts) js_putc(c, '|');
    js_printf(c, "%lld\\.", (long long)n);
    if (put_frac(c, lo, hi, FRAC_DIGITS - ndigits(n), false) == 0) js_cut(c, mark);
    else ++*alts;
}

static void put_mag_lit(js_ctx *c, const mag *m, int *alts) {
    if ((*alts)++) js_putc(c, '|');
    js_printf(c, "%lld", (long long)m->ip);
    if (m->fp[0]) js_printf(c, "\\.%s", m->fp);
}

/* The magnitudes between A and B. */
static js_st put_magnitude(js_ctx *c, const mag *A, const mag *B) {
    int cmp = A->none ? 1 : B->inf ? -1 : mag_cmp(A, B);
    if (cmp > 0 || (cmp == 0 && !(A->incl && B->incl))) return JS_EMPTY;
    size_t start = c->n;
    int alts = 0;
    js_put(c, "(?:");
    if (A->incl) put_mag_lit(c, A, &alts);
    if (B->incl && !B->inf && cmp) put_mag_lit(c, B, &alts);
    if (B->inf || A->ip < B->ip) {
        int64_t top = B->inf ? CAP15 : B->ip - 1;
        if (A->ip + 1 <= top) put_nat_alts(c, A->ip + 1, top, FRAC_DIGITS, &alts);
        put_frac_alt(c, A->ip, A->fp, NULL, &alts);
        if (!B->inf && B->fp[0]) {
            js_printf(c, "%s%lld", alts++ ? "|" : "", (long long)B->ip);
            put_frac_alt(c, B->ip, NULL, B->fp, &alts);
        }
    } else put_frac_alt(c, A->ip, A->fp, B->fp, &alts);
    if (!alts) {
        js_cut(c, start);
        return JS_EMPTY;
    }
    js_putc(c, ')');
    return c->fail ? JS_FAIL : JS_OK;
}

/* The tighter of an inclusive and an exclusive bound (lower: the larger). */
static const json_t *tighter(const json_t *incl, const json_t *excl, bool lower, bool *is_incl) {
    *is_incl = excl == NULL;
    if (!excl) return incl;
    if (!incl) return excl;
    double i = json_number_value(incl), e = json_number_value(excl);
    *is_incl = lower ? i > e : i < e;
    return *is_incl ? incl : excl;
}

js_st js_compile_number(js_ctx *c, const json_t *s) {
    bool li, hi_;
    const json_t *L = tighter(json_object_get(s, "minimum"), json_object_get(s, "exclusiveMinimum"), true, &li);
    const json_t *H = tighter(json_object_get(s, "maximum"), json_object_get(s, "exclusiveMaximum"), false, &hi_);
    if (!L && !H) {
        js_put(c, "-?(?:0|[1-9]\\d{0,15})(?:\\.\\d{1,16})?(?:[eE][+-]?\\d{1,2})?");
        return c->fail ? JS_FAIL : JS_OK;
    }
    decv dl, dh;
    if (L) dec_of(L, &dl);
    if (H) dec_of(H, &dh);
    size_t start = c->n;
    int alts = 0;
    js_put(c, "(?:");
    bool h_zero = H && !dh.huge && !dh.ip && !dh.fp[0];
    if (!(H && (dh.neg || (h_zero && !hi_)))) { /* x >= 0 */
        mag A = {.incl = true}, B = {.inf = true};
        if (L && !dl.neg) mag_of(&dl, li, true, &A);
        if (H) mag_of(&dh, hi_, false, &B);
        js_st st = put_magnitude(c, &A, &B);
        if (st == JS_FAIL) return st;
        alts += st == JS_OK;
    }
    if (!(L && !dl.neg)) { /* x < 0: its magnitude */
        mag A = {.incl = false}, B = {.inf = true};
        if (H && dh.neg) mag_of(&dh, hi_, true, &A);
        if (L) mag_of(&dl, li, false, &B);
        size_t mark = c->n;
        js_put(c, alts ? "|-" : "-");
        js_st st = put_magnitude(c, &A, &B);
        if (st == JS_FAIL) return st;
        if (st == JS_EMPTY) js_cut(c, mark);
        else alts++;
    }
    if (!alts) {
        js_cut(c, start);
        return js_empty(c, "no number fits the bounds at %s", js_where(c));
    }
    js_putc(c, ')');
    return c->fail ? JS_FAIL : JS_OK;
}
