/*
 * jinja_strmethods.c — the less common Python str methods: the is*()
 * predicates, swapcase, casefold, zfill, center/ljust/rjust, partition/
 * rpartition and expandtabs.
 *
 * Strings are UTF-8; lengths and widths count code points as Python's do,
 * and character classes come from utf8proc's Unicode categories (close
 * to Python's: isdigit is Nd, isalnum is letters and numbers, isspace is
 * Python's whitespace set).  jinja_methods.c dispatches here for any str
 * method it does not handle itself.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "jinja_internal.h"

bool jcase(jrender *r, jv v, int mode, jv *out); /* jinja_filters.c */

/* The next code point of s at *i (bad bytes read as themselves). */
static int32_t next_cp(jv s, size_t *i) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s.s.p + *i, (utf8proc_ssize_t)(s.s.n - *i), &c);
    if (k <= 0) { c = (unsigned char)s.s.p[*i]; k = 1; }
    *i += (size_t)k;
    return c;
}

static bool is_cased(int32_t c) { return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c; }
static bool is_upper(int32_t c) { return utf8proc_tolower(c) != c; }
static bool is_lower(int32_t c) { return utf8proc_toupper(c) != c; }

static bool py_space(int32_t c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 ||
           (c > 0x7f && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS) || c == 0x2028 || c == 0x2029;
}

static bool char_class(int kind, int32_t c) {
    utf8proc_category_t cat = utf8proc_category(c);
    bool letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
    bool number = cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
    switch (kind) {
    case 0: return cat == UTF8PROC_CATEGORY_ND;     /* isdigit, isdecimal */
    case 1: return py_space(c);                     /* isspace */
    case 2: return letter;                          /* isalpha */
    case 3: return letter || number;                /* isalnum */
    default: return number;                         /* isnumeric */
    }
}

/* isdigit/isspace/isalpha/isalnum/isnumeric: non-empty, every char in
 * the class.  isupper/islower: some cased char, none of the other case.
 * istitle: uppercase only after uncased, lowercase only after cased. */
static bool predicate(const char *m, size_t n, jv s, bool *out) {
    static const char *const CLS[] = {"isdigit", "isspace", "isalpha", "isalnum", "isnumeric", "isdecimal", NULL};
    for (int k = 0; CLS[k]; k++) {
        if (!jname_is(m, n, CLS[k])) continue;
        bool ok = s.s.n > 0;
        for (size_t i = 0; ok && i < s.s.n;) ok = char_class(k == 5 ? 0 : k, next_cp(s, &i));
        *out = ok;
        return true;
    }
    bool up = jname_is(m, n, "isupper"), low = jname_is(m, n, "islower"), title = jname_is(m, n, "istitle");
    if (!up && !low && !title) return false;
    bool cased = false, ok = true, prev_cased = false;
    for (size_t i = 0; ok && i < s.s.n;) {
        int32_t c = next_cp(s, &i);
        if (title) {
            if (is_upper(c) && prev_cased) ok = false;
            else if (is_lower(c) && !prev_cased) ok = false;
            prev_cased = is_cased(c);
        } else if (up ? is_lower(c) : is_upper(c)) {
            ok = false;
        }
        cased |= is_cased(c);
    }
    *out = ok && cased;
    return true;
}

static bool put_cp(jbuf *b, int32_t c) {
    utf8proc_uint8_t enc[4];
    return jb_put(b, (const char *)enc, (size_t)utf8proc_encode_char(c, enc));
}

static bool swapcase(jrender *r, jv s, jv *out) {
    jbuf b = jr_buf(r);
    for (size_t i = 0; i < s.s.n;) {
        int32_t c = next_cp(s, &i);
        put_cp(&b, is_upper(c) ? utf8proc_tolower(c) : is_lower(c) ? utf8proc_toupper(c) : c);
    }
    return jv_from_buf(r, &b, out);
}

static bool casefold(jrender *r, jv s, jv *out) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s.s.p, (utf8proc_ssize_t)s.s.n, &dst,
                                      UTF8PROC_CASEFOLD);
    if (n < 0) return jr_fail(r, "casefold: %s", utf8proc_errmsg(n));
    jbuf b = jr_buf(r);
    jb_put(&b, (const char *)dst, (size_t)n);
    free(dst);
    return jv_from_buf(r, &b, out);
}

/* A width argument, bounded by the output limit. */
static bool width_arg(jrender *r, const jargs *a, const char *method, int64_t *w) {
    const jv *x = jarg(a, 0, "width");
    if (!x || x->k != JV_INT) return jr_fail(r, "%s: width must be an integer", method);
    *w = x->i;
    if (*w > 0 && (uint64_t)*w > r->lim->max_output)
        return jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output);
    return true;
}

/* center/ljust/rjust(width, fillchar) as Python: center puts the odd
 * extra fill on the left only when width is odd. */
static bool justify(jrender *r, jv s, const jargs *a, char how, const char *method, jv *out) {
    int64_t w;
    const jv *f = jarg(a, 1, "fillchar");
    if (!width_arg(r, a, method, &w)) return false;
    if (f && (f->k != JV_STR || ju_len(f->s.p, f->s.n) != 1))
        return jr_fail(r, "The fill character must be exactly one character long");
    jv fill = f ? *f : jv_str(" ", 1);
    int64_t len = (int64_t)ju_len(s.s.p, s.s.n);
    if (w <= len) { *out = s; return true; }
    int64_t marg = w - len, left = how == 'l' ? 0 : how == 'r' ? marg : marg / 2 + (marg & w & 1);
    jbuf b = jr_buf(r);
    for (int64_t i = 0; i < left; i++) jb_put(&b, fill.s.p, fill.s.n);
    jb_put(&b, s.s.p, s.s.n);
    for (int64_t i = left; i < marg; i++) jb_put(&b, fill.s.p, fill.s.n);
    return jv_from_buf(r, &b, out);
}

static bool zfill(jrender *r, jv s, const jargs *a, jv *out) {
    int64_t w;
    if (!width_arg(r, a, "zfill", &w)) return false;
    int64_t len = (int64_t)ju_len(s.s.p, s.s.n);
    if (w <= len) { *out = s; return true; }
    size_t sign = s.s.n && (s.s.p[0] == '+' || s.s.p[0] == '-');
    jbuf b = jr_buf(r);
    jb_put(&b, s.s.p, sign);
    for (int64_t i = len; i < w; i++) jb_putc(&b, '0');
    jb_put(&b, s.s.p + sign, s.s.n - sign);
    return jv_from_buf(r, &b, out);
}

static bool partition(jrender *r, jv s, const jargs *a, bool right, jv *out) {
    const jv *sep = jarg(a, 0, NULL);
    if (!sep || sep->k != JV_STR) return jr_fail(r, "partition: must be str, not %s", sep ? jv_type_name(*sep) : "nothing");
    if (!sep->s.n) return jr_fail(r, "empty separator");
    jlist *t = jl_new(r, 3);
    if (!t) return false;
    t->tuple = true;
    const char *hit = NULL;
    if (!right) hit = memmem(s.s.p, s.s.n, sep->s.p, sep->s.n);
    else for (size_t k = s.s.n + 1; !hit && k-- > sep->s.n;)
        if (!memcmp(s.s.p + k - sep->s.n, sep->s.p, sep->s.n)) hit = s.s.p + k - sep->s.n;
    if (!hit) {
        t->v[0] = t->v[1] = t->v[2] = jv_str("", 0);
        t->v[right ? 2 : 0] = s;
    } else {
        size_t at = (size_t)(hit - s.s.p);
        t->v[0] = jv_str(s.s.p, at), t->v[1] = *sep;
        t->v[2] = jv_str(s.s.p + at + sep->s.n, s.s.n - at - sep->s.n);
    }
    *out = jv_list(t);
    return true;
}

static bool expandtabs(jrender *r, jv s, const jargs *a, jv *out) {
    const jv *ts = jarg(a, 0, "tabsize");
    int64_t tab = ts && ts->k == JV_INT ? ts->i : 8;
    if (tab > 1024) return jr_fail(r, "expandtabs: tabsize too large");
    jbuf b = jr_buf(r);
    int64_t col = 0;
    for (size_t i = 0; i < s.s.n; i++) {
        char c = s.s.p[i];
        if (c == '\t') {
            int64_t pad = tab > 0 ? tab - col % tab : 0;
            for (int64_t k = 0; k < pad; k++) jb_putc(&b, ' ');
            col += pad;
            continue;
        }
        jb_putc(&b, c);
        if (c == '\n' || c == '\r') col = 0;
        else if (((unsigned char)c & 0xC0) != 0x80) col++;
    }
    return jv_from_buf(r, &b, out);
}

bool jstr_method(jrender *r, jv s, const char *m, size_t n, const jargs *a, jv *out, bool *found) {
    bool b;
    *found = true;
    if (predicate(m, n, s, &b)) { *out = jv_bool(b); return true; }
    if (jname_is(m, n, "swapcase")) return swapcase(r, s, out);
    if (jname_is(m, n, "casefold")) return casefold(r, s, out);
    if (jname_is(m, n, "zfill")) return zfill(r, s, a, out);
    if (jname_is(m, n, "center")) return justify(r, s, a, 'c', "center", out);
    if (jname_is(m, n, "ljust")) return justify(r, s, a, 'l', "ljust", out);
    if (jname_is(m, n, "rjust")) return justify(r, s, a, 'r', "rjust", out);
    if (jname_is(m, n, "partition")) return partition(r, s, a, false, out);
    if (jname_is(m, n, "rpartition")) return partition(r, s, a, true, out);
    if (jname_is(m, n, "expandtabs")) return expandtabs(r, s, a, out);
    *found = false;
    return true;
}
