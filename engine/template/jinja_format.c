/*
 * jinja_format.c — Python string formatting: the `%` operator (and the
 * format filter, which is the same thing) and str.format().
 *
 * str.format supports the fields templates write: {}, {0}, {name}, an
 * attribute or index after the name ({0.x}, {0[k]}), the conversions !s
 * and !r, and format specs [[fill]align][sign][0][width][,|_][.prec][type]
 * with types s, d, b, o, x, X, c, e, E, f, F, g, G and %.  '#', 'z',
 * 'n' and nested {} inside a spec are refused with a clear error rather
 * than approximated.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

/* ---- "%" formatting --------------------------------------------------- */

/* One %-conversion of v by spec (flags, width, precision) and conv. */
static bool format_one(jrender *r, jbuf *b, const char *spec, size_t sn, char conv, jv v) {
    char fmt[32], tmp[512];
    if (sn > 16) return jr_fail(r, "format: spec too long");
    if (conv == 's' || conv == 'r') { /* width and precision count code points */
        jbuf t = jr_buf(r);
        bool ok = conv == 's' ? jv_write_str(r, &t, v) : jv_write_repr(r, &t, v, 0);
        bool left = memchr(spec, '-', sn) != NULL;
        size_t i = 0, width = 0, prec = SIZE_MAX;
        while (i < sn && strchr("-+ #0", spec[i])) i++;
        for (; i < sn && spec[i] >= '0' && spec[i] <= '9'; i++) width = width * 10 + (size_t)(spec[i] - '0');
        if (i < sn && spec[i] == '.')
            for (prec = 0, i++; i < sn && spec[i] >= '0' && spec[i] <= '9'; i++) prec = prec * 10 + (size_t)(spec[i] - '0');
        size_t bytes = t.n, cps = ju_len(t.p ? t.p : "", t.n);
        if (prec < cps) { /* keep the first prec code points */
            size_t c = 0;
            for (bytes = 0; bytes < t.n; bytes++) {
                bool start = ((unsigned char)t.p[bytes] & 0xC0) != 0x80;
                if (start && c == prec) break;
                c += start;
            }
            cps = prec;
        }
        for (size_t k = cps; ok && !left && k < width; k++) jb_putc(b, ' ');
        if (ok) jb_put(b, t.p ? t.p : "", bytes);
        for (size_t k = cps; ok && left && k < width; k++) jb_putc(b, ' ');
        jb_free(&t);
        return ok;
    }
    if (v.k == JV_BIG && (conv == 'd' || conv == 'i') && sn == 0) return jb_put(b, v.s.p, v.s.n);
    bool isnum = v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
    if (!isnum) return jr_fail(r, "%%%c format: a real number is required, not %s", conv, jv_type_name(v));
    double f = v.k == JV_FLOAT ? v.f : v.k == JV_INT ? (double)v.i : v.b;
    long long i = v.k == JV_FLOAT ? (long long)v.f : v.k == JV_INT ? v.i : v.b;
    if (conv == 'd' || conv == 'i' || conv == 'x' || conv == 'X' || conv == 'o' || conv == 'c') {
        snprintf(fmt, sizeof fmt, "%%%.*sll%c", (int)sn, spec, conv == 'i' ? 'd' : conv);
        if (conv == 'c') snprintf(fmt, sizeof fmt, "%%%.*sc", (int)sn, spec);
        snprintf(tmp, sizeof tmp, fmt, conv == 'c' ? (int)i : i);
    } else {
        snprintf(fmt, sizeof fmt, "%%%.*s%c", (int)sn, spec, conv);
        snprintf(tmp, sizeof tmp, fmt, f);
    }
    return jb_puts(b, tmp);
}

/* The value of a "%(key)s" conversion: args must be one mapping. */
static bool percent_key(jrender *r, const jv *args, size_t nargs, const char *k, size_t kn, jv *out) {
    if (nargs != 1 || (args[0].k != JV_DICT && args[0].k != JV_NS)) return jr_fail(r, "format requires a mapping");
    jv *v = jd_get_str(args[0].d, k, kn);
    if (!v) return jr_fail(r, "KeyError: '%.*s'", (int)kn, k);
    *out = *v;
    return true;
}

bool jformat_percent(jrender *r, jv fmt, const jv *args, size_t nargs, jv *out) {
    jbuf b = jr_buf(r);
    size_t used = 0;
    bool keyed = false;
    const char *p = fmt.s.p;
    for (size_t i = 0; i < fmt.s.n; i++) {
        if (p[i] != '%') { jb_putc(&b, p[i]); continue; }
        if (i + 1 < fmt.s.n && p[i + 1] == '%') { jb_putc(&b, '%'); i++; continue; }
        size_t s = i + 1, e;
        jv v;
        if (s < fmt.s.n && p[s] == '(') {
            const char *close = memchr(p + s, ')', fmt.s.n - s);
            if (!close) { jb_free(&b); return jr_fail(r, "incomplete format key"); }
            if (!percent_key(r, args, nargs, p + s + 1, (size_t)(close - p) - s - 1, &v)) { jb_free(&b); return false; }
            s = (size_t)(close - p) + 1, keyed = true;
        } else if (used >= nargs) {
            jb_free(&b);
            return jr_fail(r, "not enough arguments for format string");
        } else {
            v = args[used++];
        }
        for (e = s; e < fmt.s.n && p[e] && strchr("-+ #0123456789.", p[e]); e++) {}
        if (e >= fmt.s.n || !p[e] || !strchr("sdirfFeEgGxXoc", p[e])) { jb_free(&b); return jr_fail(r, "unsupported format character at index %zu", e); }
        if (!format_one(r, &b, p + s, e - s, p[e], v)) { jb_free(&b); return false; }
        i = e;
    }
    if (used < nargs && !keyed && !(nargs == 1 && (args[0].k == JV_DICT || args[0].k == JV_NS))) {
        jb_free(&b);
        return jr_fail(r, "not all arguments converted during string formatting");
    }
    return jv_from_buf(r, &b, out);
}

/* ---- str.format ------------------------------------------------------- */

typedef struct {
    const char *fill;
    size_t filln;       /* the fill: one code point */
    char align;         /* 0 (the type's default), '<', '>', '^', '=' */
    char sign;          /* 0, '+', '-', ' ' */
    bool zero;
    int64_t width, prec; /* -1 = not given */
    char group;         /* 0, ',', '_' */
    char type;          /* 0 = none */
} fspec;

enum { MAX_PREC = 100 };

static bool in_set(const char *set, char c) { return c && strchr(set, c); }

/* Byte length of the first k code points of p[0, n). */
static size_t cp_bytes(const char *p, size_t n, int64_t k) {
    size_t i = 0;
    for (int64_t c = 0; i < n; i++) {
        if (((unsigned char)p[i] & 0xC0) == 0x80) continue;
        if (c++ == k) break;
    }
    return i;
}

static int64_t read_num(const char *p, size_t n, size_t *i) {
    int64_t v = 0;
    for (; *i < n && p[*i] >= '0' && p[*i] <= '9'; (*i)++) v = v > 1000000000 ? v : v * 10 + (p[*i] - '0');
    return v;
}

static bool parse_spec(jrender *r, const char *p, size_t n, fspec *f) {
    *f = (fspec){.fill = " ", .filln = 1, .width = -1, .prec = -1};
    size_t i = 0, cl = 1;
    while (cl < n && ((unsigned char)p[cl] & 0xC0) == 0x80) cl++;
    if (n > cl && in_set("<>^=", p[cl])) f->fill = p, f->filln = cl, f->align = p[cl], i = cl + 1;
    else if (n && in_set("<>^=", p[0])) f->align = p[0], i = 1;
    if (i < n && in_set("+- ", p[i])) f->sign = p[i++];
    if (i < n && in_set("#z", p[i])) return jr_fail(r, "str.format: '%c' in a format spec is not supported", p[i]);
    if (i < n && p[i] == '0') f->zero = true, i++;
    if (i < n && p[i] >= '0' && p[i] <= '9') f->width = read_num(p, n, &i);
    if (i < n && in_set(",_", p[i])) f->group = p[i++];
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        f->prec = read_num(p, n, &i);
        if (i == d) return jr_fail(r, "Format specifier missing precision");
        if (f->prec > MAX_PREC) return jr_fail(r, "str.format: precision over %d is not supported", MAX_PREC);
    }
    if (i < n) f->type = p[i++];
    if (i < n || (f->type && !in_set("sdboxXceEfFgG%", f->type)))
        return jr_fail(r, "Invalid format specifier '%.*s'", (int)n, p);
    if (f->width > 0 && (uint64_t)f->width > r->lim->max_output)
        return jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output);
    return true;
}

/* Put `digits` with a separator every three digits from the right. */
static void put_grouped(jbuf *b, const char *digits, size_t n, char group) {
    for (size_t i = 0; i < n; i++) {
        if (group && i && (n - i) % 3 == 0) jb_putc(b, group);
        jb_putc(b, digits[i]);
    }
}

/* A float by f/F/e/E/g/G/% into b (without the sign); *neg its sign. */
static void put_float(jbuf *b, double x, const fspec *f, bool *neg) {
    char fmt[16], tmp[512];
    char t = f->type == '%' ? 'f' : f->type;
    *neg = signbit(x) && !isnan(x);
    x = fabs(x) * (f->type == '%' ? 100 : 1);
    snprintf(fmt, sizeof fmt, "%%.%d%c", (int)(f->prec < 0 ? 6 : f->prec), t);
    int n = snprintf(tmp, sizeof tmp, fmt, x);
    if (n < 0 || (size_t)n >= sizeof tmp) n = 0; /* |x| < 1e309 and prec <= 100 always fit */
    size_t int_end = 0;
    while (int_end < (size_t)n && tmp[int_end] >= '0' && tmp[int_end] <= '9') int_end++;
    put_grouped(b, tmp, int_end, f->group);
    jb_put(b, tmp + int_end, (size_t)n - int_end);
    if (f->type == '%') jb_putc(b, '%');
}

/* A float with a precision and no type: Python's 'g' with at least one
 * decimal ("12.0"), switching to an exponent from 10**(prec-1) on. */
static void put_general(jbuf *b, double x, int64_t prec, bool *neg) {
    char tmp[512];
    int p = prec ? (int)prec : 1;
    *neg = signbit(x) && !isnan(x);
    x = fabs(x);
    if (!isfinite(x)) { jb_puts(b, isnan(x) ? "nan" : "inf"); return; }
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
    int exp = atoi(strchr(tmp, 'e') + 1);
    bool sci = exp < -4 || exp >= p - 1;
    if (!sci) snprintf(tmp, sizeof tmp, "%.*f", p - 1 - exp, x);
    char *e = strchr(tmp, 'e');
    size_t mant = e ? (size_t)(e - tmp) : strlen(tmp);
    if (memchr(tmp, '.', mant)) { /* drop trailing zeros, then a bare '.' */
        while (tmp[mant - 1] == '0') mant--;
        if (tmp[mant - 1] == '.') mant--;
    }
    jb_put(b, tmp, mant);
    if (e) jb_puts(b, e);
    else if (!memchr(tmp, '.', mant)) jb_puts(b, ".0");
}

static bool bad_code(jrender *r, char type, jv v) {
    return jr_fail(r, "Unknown format code '%c' for object of type '%s'", type, jv_type_name(v));
}

/* An integer by d/b/o/x/X/c (or a float type) into b; *neg its sign. */
static bool put_int(jrender *r, jbuf *b, jv v, const fspec *f, bool *neg) {
    int64_t x = v.k == JV_INT ? v.i : v.b;
    if (in_set("eEfFgG%", f->type)) { put_float(b, (double)x, f, neg); return true; }
    if (f->type == 's') return bad_code(r, 's', v);
    if (f->type == 'c') {
        if (x < 0 || x > 0x10FFFF) return jr_fail(r, "%%c arg not in range(0x110000)");
        char enc[8];
        int k = 0;
        uint32_t c = (uint32_t)x;
        if (c < 0x80) enc[k++] = (char)c;
        else if (c < 0x800) enc[k++] = (char)(0xC0 | c >> 6), enc[k++] = (char)(0x80 | (c & 0x3F));
        else if (c < 0x10000) enc[k++] = (char)(0xE0 | c >> 12), enc[k++] = (char)(0x80 | (c >> 6 & 0x3F)), enc[k++] = (char)(0x80 | (c & 0x3F));
        else enc[k++] = (char)(0xF0 | c >> 18), enc[k++] = (char)(0x80 | (c >> 12 & 0x3F)), enc[k++] = (char)(0x80 | (c >> 6 & 0x3F)), enc[k++] = (char)(0x80 | (c & 0x3F));
        *neg = false;
        return jb_put(b, enc, (size_t)k);
    }
    *neg = x < 0;
    uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
    unsigned base = f->type == 'b' ? 2 : f->type == 'o' ? 8 : in_set("xX", f->type) ? 16 : 10;
    const char *dig = f->type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[72];
    size_t n = sizeof tmp;
    do tmp[--n] = dig[u % base], u /= base; while (u);
    put_grouped(b, tmp + n, sizeof tmp - n, base == 10 ? f->group : 0);
    return true;
}

/* format(v, spec) for a non-empty spec. */
static bool format_spec(jrender *r, jbuf *out, jv v, const char *sp, size_t sn) {
    fspec f;
    if (!parse_spec(r, sp, sn, &f)) return false;
    jbuf body = jr_buf(r);
    bool neg = false, numeric = true, ok = true;
    if (v.k == JV_STR) {
        numeric = false;
        if (f.type && f.type != 's') ok = bad_code(r, f.type, v);
        else if (f.sign || f.group || f.align == '=') ok = jr_fail(r, "str.format: sign, grouping or '=' alignment used with a string");
        else jb_put(&body, v.s.p, f.prec < 0 ? v.s.n : cp_bytes(v.s.p, v.s.n, f.prec));
    } else if (v.k == JV_INT || v.k == JV_BOOL) {
        ok = put_int(r, &body, v, &f, &neg);
    } else if (v.k == JV_BIG && !f.type && !f.group) {
        neg = v.s.p[0] == '-';
        jb_put(&body, v.s.p + neg, v.s.n - neg);
    } else if (v.k == JV_FLOAT) {
        if (!f.type && f.prec >= 0) put_general(&body, v.f, f.prec, &neg);
        else if (f.type && !in_set("eEfFgG%", f.type)) ok = bad_code(r, f.type, v);
        else if (f.type) put_float(&body, v.f, &f, &neg);
        else {
            char tmp[64];
            jv_float_repr(fabs(v.f), tmp, sizeof tmp);
            neg = signbit(v.f) && !isnan(v.f);
            if (f.group) ok = jr_fail(r, "str.format: grouping needs a type for floats");
            else jb_puts(&body, tmp);
        }
    } else {
        ok = jr_fail(r, "unsupported format string passed to %s.__format__", jv_type_name(v));
    }
    if (!ok) { jb_free(&body); return false; }
    const char *sign = neg ? "-" : f.sign == '+' ? "+" : f.sign == ' ' ? " " : "";
    char align = f.align ? f.align : f.zero ? (numeric ? '=' : '<') : numeric ? '>' : '<';
    if (f.zero && !f.align) f.fill = "0", f.filln = 1;
    int64_t len = (int64_t)(strlen(sign) + ju_len(body.p ? body.p : "", body.n));
    int64_t pad = f.width > len ? f.width - len : 0, left = align == '>' || align == '=' ? pad : align == '^' ? pad / 2 : 0;
    if (align != '=') for (int64_t i = 0; i < left; i++) jb_put(out, f.fill, f.filln);
    jb_puts(out, sign);
    if (align == '=') for (int64_t i = 0; i < left; i++) jb_put(out, f.fill, f.filln);
    jb_put(out, body.p ? body.p : "", body.n);
    for (int64_t i = left; i < pad; i++) jb_put(out, f.fill, f.filln);
    jb_free(&body);
    return true;
}

/* Which argument a field names: "" (the next one), digits, or a keyword,
 * then any .attr / [key] steps (the sandbox's formatter reads those as
 * Jinja2 does, so {0.x} also finds a dict's key). */
typedef struct { size_t next; bool autonum, manual; } fieldnum;

static bool field_value(jrender *r, const char *f, size_t n, const jargs *a, fieldnum *fnum, jv *out) {
    size_t i = 0;
    while (i < n && f[i] != '.' && f[i] != '[') i++;
    if (i == 0 || (f[0] >= '0' && f[0] <= '9')) {
        size_t k = 0, idx;
        if (i == 0) fnum->autonum = true, idx = fnum->next++;
        else idx = (size_t)read_num(f, i, &k), fnum->manual = true;
        if (i && k != i) return jr_fail(r, "str.format: bad field name '%.*s'", (int)n, f);
        if (fnum->autonum && fnum->manual) return jr_fail(r, "cannot switch between automatic and manual field numbering");
        if (idx >= a->npos) return jr_fail(r, "Replacement index %zu out of range for positional args tuple", idx);
        *out = a->pos[idx];
    } else {
        const jv *v = NULL;
        for (size_t k = 0; k < a->nkw; k++)
            if (a->kwnl[k] == i && !memcmp(a->kwn[k], f, i)) v = &a->kwv[k];
        if (!v) return jr_fail(r, "KeyError: '%.*s'", (int)i, f);
        *out = *v;
    }
    while (i < n) {
        bool attr = f[i++] == '.';
        size_t s = i;
        while (i < n && (attr ? f[i] != '.' && f[i] != '[' : f[i] != ']')) i++;
        if (i == s || (!attr && i == n)) return jr_fail(r, "str.format: bad field name '%.*s'", (int)n, f);
        size_t k = s;
        int64_t idx = read_num(f, i, &k);
        bool num = !attr && k == i && i - s < 10;
        if (attr ? !jgetattr(r, *out, f + s, i - s, out) : !jgetitem(r, *out, num ? jv_int(idx) : jv_str(f + s, i - s), out))
            return false;
        i += !attr;
    }
    return true;
}

/* One "{field!conv:spec}" (without the braces) into b. */
static bool format_field(jrender *r, jbuf *b, const char *f, size_t n, const jargs *a, fieldnum *fnum) {
    const char *colon = memchr(f, ':', n), *bang = memchr(f, '!', colon ? (size_t)(colon - f) : n);
    size_t name_n = bang ? (size_t)(bang - f) : colon ? (size_t)(colon - f) : n;
    jv v;
    if (!field_value(r, f, name_n, a, fnum, &v)) return false;
    if (bang) {
        size_t cn = (colon ? (size_t)(colon - bang) : n - (size_t)(bang - f)) - 1;
        if (cn != 1 || (bang[1] != 'r' && bang[1] != 's')) return jr_fail(r, "Unknown conversion specifier %.*s", (int)cn, bang + 1);
        jbuf t = jr_buf(r);
        if (!(bang[1] == 'r' ? jv_write_repr(r, &t, v, 0) : jv_write_str(r, &t, v)) || !jv_from_buf(r, &t, &v)) {
            jb_free(&t);
            return false;
        }
    }
    if (!colon || colon + 1 == f + n) return jv_write_str(r, b, v);
    return format_spec(r, b, v, colon + 1, (size_t)(f + n - colon - 1));
}

bool jformat_str(jrender *r, jv s, const jargs *a, jv *out) {
    jbuf b = jr_buf(r);
    fieldnum fnum = {0};
    for (size_t i = 0; i < s.s.n; i++) {
        char c = s.s.p[i];
        if ((c == '{' || c == '}') && i + 1 < s.s.n && s.s.p[i + 1] == c) { jb_putc(&b, c); i++; continue; }
        if (c == '}') { jb_free(&b); return jr_fail(r, "Single '}' encountered in format string"); }
        if (c != '{') { jb_putc(&b, c); continue; }
        const char *f = s.s.p + i + 1, *close = memchr(f, '}', s.s.n - i - 1);
        if (!close) { jb_free(&b); return jr_fail(r, "Single '{' encountered in format string"); }
        if (memchr(f, '{', (size_t)(close - f))) { jb_free(&b); return jr_fail(r, "str.format: nested fields in a format spec are not supported"); }
        if (!format_field(r, &b, f, (size_t)(close - f), a, &fnum)) { jb_free(&b); return false; }
        i = (size_t)(close - s.s.p);
    }
    return jv_from_buf(r, &b, out);
}
