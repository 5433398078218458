/*
 * jinja_methods.c — Python methods on values and the global functions.
 *
 * Owns the str methods templates call (strip family with chars,
 * startswith/endswith with tuples, split/rsplit with maxsplit, replace,
 * find, count, join, format, case methods, ...), dict.items/keys/values/
 * get, the sandbox's refusal of mutating methods (list.append, dict.pop,
 * ...: an ImmutableSandboxedEnvironment raises SecurityError), the
 * globals range / namespace / dict / raise_exception / strftime_now,
 * loop.cycle, and Python's `%` string formatting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jinja_internal.h"

bool jcase(jrender *r, jv v, int mode, jv *out);
bool jstrip(jrender *r, jv v, const jv *chars, int which, jv *out);
bool jreplace(jrender *r, jv s, jv old, jv new, int64_t count, jv *out);

enum { MAX_RANGE = 100000 };

static bool need_str(jrender *r, const jv *v, const char *method) {
    if (v && v->k == JV_STR) return true;
    return jr_fail(r, "%s: expected a string argument", method);
}

static bool list_of(jrender *r, size_t cap, jlist **out) {
    *out = jl_new(r, cap);
    if (*out) (*out)->n = 0;
    return *out != NULL;
}

static bool py_ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* str.split / str.rsplit (Python semantics, including sep=None). */
static bool m_split(jrender *r, jv s, const jargs *a, bool right, jv *out) {
    const jv *sep = jarg(a, 0, "sep"), *maxv = jarg(a, 1, "maxsplit");
    int64_t max = maxv && maxv->k == JV_INT ? maxv->i : -1;
    jlist *l;
    if (!list_of(r, s.s.n + 1, &l)) return false;
    const char *p = s.s.p;
    size_t n = s.s.n;
    if (!sep || sep->k == JV_NONE) { /* runs of whitespace; ends trimmed */
        size_t i = 0, e = n;
        if (!right) {
            while (i < n) {
                while (i < n && py_ws(p[i])) i++;
                if (i == n) break;
                if (max >= 0 && (int64_t)l->n == max) {
                    l->v[l->n++] = jv_str(p + i, n - i); /* the rest keeps its tail */
                    break;
                }
                size_t j = i;
                while (j < n && !py_ws(p[j])) j++;
                l->v[l->n++] = jv_str(p + i, j - i);
                i = j;
            }
        } else {
            while (e > 0) {
                while (e > 0 && py_ws(p[e - 1])) e--;
                if (e == 0) break;
                if (max >= 0 && (int64_t)l->n == max) {
                    l->v[l->n++] = jv_str(p, e);
                    break;
                }
                size_t j = e;
                while (j > 0 && !py_ws(p[j - 1])) j--;
                l->v[l->n++] = jv_str(p + j, e - j);
                e = j;
            }
        }
    } else {
        if (!need_str(r, sep, "split")) return false;
        if (!sep->s.n) return jr_fail(r, "empty separator");
        const char *sp = sep->s.p;
        size_t sn = sep->s.n, i = 0, e = n;
        while (max < 0 || (int64_t)l->n < max) {
            if (!right) {
                const char *hit = memmem(p + i, n - i, sp, sn);
                if (!hit) break;
                l->v[l->n++] = jv_str(p + i, (size_t)(hit - p) - i);
                i = (size_t)(hit - p) + sn;
            } else {
                size_t k = e;
                while (k >= sn && memcmp(p + k - sn, sp, sn) != 0) k--;
                if (k < sn) break;
                l->v[l->n++] = jv_str(p + k, e - k);
                e = k - sn;
            }
        }
        l->v[l->n++] = right ? jv_str(p, e) : jv_str(p + i, n - i);
    }
    if (right) /* collected back to front */
        for (size_t i = 0; i < l->n / 2; i++) {
            jv t = l->v[i];
            l->v[i] = l->v[l->n - 1 - i], l->v[l->n - 1 - i] = t;
        }
    *out = jv_list(l);
    return true;
}

static bool affix_match(jv s, jv x, bool end) {
    if (x.k != JV_STR || x.s.n > s.s.n) return false;
    return memcmp(s.s.p + (end ? s.s.n - x.s.n : 0), x.s.p, x.s.n) == 0;
}

static bool m_affix(jrender *r, jv s, const jargs *a, bool end, jv *out) {
    const jv *x = jarg(a, 0, NULL);
    if (!x) return jr_fail(r, "%s: needs an argument", end ? "endswith" : "startswith");
    bool hit = false;
    if (x->k == JV_LIST) {
        for (size_t i = 0; i < x->l->n && !hit; i++) hit = affix_match(s, x->l->v[i], end);
    } else if (need_str(r, x, end ? "endswith" : "startswith")) {
        hit = affix_match(s, *x, end);
    } else {
        return false;
    }
    *out = jv_bool(hit);
    return true;
}

static bool m_find(jrender *r, jv s, const jargs *a, int mode, jv *out) {
    const jv *x = jarg(a, 0, NULL);
    if (!need_str(r, x, "find")) return false;
    if (mode == 2) { /* count: non-overlapping */
        int64_t c = 0;
        if (!x->s.n) { *out = jv_int((int64_t)ju_len(s.s.p, s.s.n) + 1); return true; }
        for (const char *p = s.s.p, *e = s.s.p + s.s.n; (p = memmem(p, (size_t)(e - p), x->s.p, x->s.n)); p += x->s.n) c++;
        *out = jv_int(c);
        return true;
    }
    const char *hit = NULL;
    if (mode == 0) hit = memmem(s.s.p, s.s.n, x->s.p, x->s.n);
    else for (size_t k = s.s.n + 1; k-- > x->s.n;)
        if (!memcmp(s.s.p + k - x->s.n, x->s.p, x->s.n)) { hit = s.s.p + k - x->s.n; break; }
    *out = jv_int(hit ? (int64_t)ju_len(s.s.p, (size_t)(hit - s.s.p)) : -1);
    return true;
}

static bool m_join(jrender *r, jv s, const jargs *a, jv *out) {
    const jv *x = jarg(a, 0, NULL);
    jlist *l;
    if (!x || !jv_iterable(r, *x, &l)) return x ? false : jr_fail(r, "join: needs an iterable");
    jbuf b = jr_buf(r);
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].k != JV_STR) {
            jb_free(&b);
            return jr_fail(r, "sequence item %zu: expected str instance, %s found", i, jv_type_name(l->v[i]));
        }
        if (i) jb_put(&b, s.s.p, s.s.n);
        jb_put(&b, l->v[i].s.p, l->v[i].s.n);
    }
    return jv_from_buf(r, &b, out);
}

/* str.format with {}, {0} and {name} fields (no format specs). */
static bool m_format(jrender *r, jv s, const jargs *a, jv *out) {
    jbuf b = jr_buf(r);
    size_t auto_i = 0;
    for (size_t i = 0; i < s.s.n; i++) {
        char c = s.s.p[i];
        if ((c == '{' || c == '}') && i + 1 < s.s.n && s.s.p[i + 1] == c) { jb_putc(&b, c); i++; continue; }
        if (c != '{') { jb_putc(&b, c); continue; }
        const char *close = memchr(s.s.p + i, '}', s.s.n - i);
        if (!close) { jb_free(&b); return jr_fail(r, "Single '{' encountered in format string"); }
        const char *f = s.s.p + i + 1;
        size_t fn = (size_t)(close - f);
        const jv *v = NULL;
        if (memchr(f, ':', fn) || memchr(f, '!', fn)) { jb_free(&b); return jr_fail(r, "str.format: format specs are not supported"); }
        if (fn == 0) v = auto_i < a->npos ? &a->pos[auto_i++] : NULL;
        else if (f[0] >= '0' && f[0] <= '9') {
            size_t idx = (size_t)atoi(f);
            v = idx < a->npos ? &a->pos[idx] : NULL;
        } else {
            for (size_t k = 0; k < a->nkw; k++)
                if (a->kwnl[k] == fn && !memcmp(a->kwn[k], f, fn)) v = &a->kwv[k];
        }
        if (!v) { jb_free(&b); return jr_fail(r, "str.format: no argument for field '{%.*s}'", (int)fn, f); }
        if (!jv_write_str(r, &b, *v)) { jb_free(&b); return false; }
        i = (size_t)(close - s.s.p);
    }
    return jv_from_buf(r, &b, out);
}

static bool m_str(jrender *r, jv s, const char *m, size_t n, const jargs *a, jv *out, bool *found) {
    *found = true;
    if (jname_is(m, n, "strip")) return jstrip(r, s, jarg(a, 0, "chars"), 3, out);
    if (jname_is(m, n, "lstrip")) return jstrip(r, s, jarg(a, 0, "chars"), 1, out);
    if (jname_is(m, n, "rstrip")) return jstrip(r, s, jarg(a, 0, "chars"), 2, out);
    if (jname_is(m, n, "startswith")) return m_affix(r, s, a, false, out);
    if (jname_is(m, n, "endswith")) return m_affix(r, s, a, true, out);
    if (jname_is(m, n, "split")) return m_split(r, s, a, false, out);
    if (jname_is(m, n, "rsplit")) return m_split(r, s, a, true, out);
    if (jname_is(m, n, "upper")) return jcase(r, s, 0, out);
    if (jname_is(m, n, "lower")) return jcase(r, s, 1, out);
    if (jname_is(m, n, "capitalize")) return jcase(r, s, 2, out);
    if (jname_is(m, n, "title")) return jcase(r, s, 4, out);
    if (jname_is(m, n, "find")) return m_find(r, s, a, 0, out);
    if (jname_is(m, n, "rfind")) return m_find(r, s, a, 1, out);
    if (jname_is(m, n, "count")) return m_find(r, s, a, 2, out);
    if (jname_is(m, n, "join")) return m_join(r, s, a, out);
    if (jname_is(m, n, "format")) return m_format(r, s, a, out);
    if (jname_is(m, n, "replace")) {
        const jv *o = jarg(a, 0, NULL), *nw = jarg(a, 1, NULL), *c = jarg(a, 2, "count");
        if (!need_str(r, o, "replace") || !need_str(r, nw, "replace")) return false;
        return jreplace(r, s, *o, *nw, c && c->k == JV_INT ? c->i : -1, out);
    }
    if (jname_is(m, n, "removeprefix") || jname_is(m, n, "removesuffix")) {
        const jv *x = jarg(a, 0, NULL);
        bool end = m[6] == 's';
        if (!need_str(r, x, "removeprefix")) return false;
        *out = affix_match(s, *x, end) ? jv_str(s.s.p + (end ? 0 : x->s.n), s.s.n - x->s.n) : s;
        return true;
    }
    if (jname_is(m, n, "splitlines")) {
        jargs nl = {0};
        jv sep = jv_str("\n", 1);
        nl.pos = &sep, nl.npos = 1;
        jv t;
        if (!jstrip(r, s, &sep, 2, &t)) return false;
        if (!t.s.n && !s.s.n) { jlist *e; if (!list_of(r, 0, &e)) return false; *out = jv_list(e); return true; }
        return m_split(r, s.s.n && s.s.p[s.s.n - 1] == '\n' ? jv_str(s.s.p, s.s.n - 1) : s, &nl, false, out);
    }
    if (jname_is(m, n, "isdigit") || jname_is(m, n, "isspace") || jname_is(m, n, "isalpha") || jname_is(m, n, "isalnum")) {
        int kind = jname_is(m, n, "isdigit") ? 0 : jname_is(m, n, "isspace") ? 1 : jname_is(m, n, "isalpha") ? 2 : 3;
        bool ok = s.s.n > 0;
        for (size_t i = 0; i < s.s.n && ok; i++) {
            unsigned char c = (unsigned char)s.s.p[i];
            bool dig = c >= '0' && c <= '9', alpha = (c | 32) >= 'a' && (c | 32) <= 'z';
            ok = kind == 0 ? dig : kind == 1 ? py_ws((char)c) : kind == 2 ? alpha : dig || alpha;
        }
        *out = jv_bool(ok);
        return true;
    }
    *found = false;
    return true;
}

static bool unsafe(jrender *r, jv obj, const char *m, size_t n) {
    static const char *const mut[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort",
                                      "reverse", "update", "setdefault", "popitem", "add", "discard", NULL};
    for (int i = 0; mut[i]; i++)
        if (jname_is(m, n, mut[i]))
            return jr_fail(r, "access to attribute '%.*s' of '%s' object is unsafe.", (int)n, m, jv_type_name(obj));
    return true;
}

bool jmethod(jrender *r, jv obj, const char *m, size_t n, const jargs *a, jv *out, bool *found) {
    *found = false;
    if (!unsafe(r, obj, m, n)) return false;
    if (obj.k == JV_STR) return m_str(r, obj, m, n, a, out, found);
    if (obj.k != JV_DICT) return true;
    *found = true;
    if (jname_is(m, n, "get")) {
        const jv *k = jarg(a, 0, NULL), *d = jarg(a, 1, NULL);
        if (!k) return jr_fail(r, "get expected at least 1 argument, got 0");
        jv *v = jd_get(obj.d, *k);
        *out = v ? *v : d ? *d : jv_none();
        return true;
    }
    if (jname_is(m, n, "keys") || jname_is(m, n, "values") || jname_is(m, n, "items")) {
        jlist *l = jl_new(r, obj.d->n);
        if (!l) return false;
        for (size_t i = 0; i < obj.d->n; i++) {
            if (m[0] == 'k') l->v[i] = obj.d->keys[i];
            else if (m[0] == 'v') l->v[i] = obj.d->vals[i];
            else {
                jlist *t = jl_new(r, 2);
                if (!t) return false;
                t->tuple = true, t->v[0] = obj.d->keys[i], t->v[1] = obj.d->vals[i];
                l->v[i] = jv_list(t);
            }
        }
        *out = jv_list(l);
        return true;
    }
    *found = false;
    return true;
}

/* ---- globals ---------------------------------------------------------- */

bool jglobal(const char *name, size_t n, jv *out) {
    static const struct { const char *name; jfunc_id id; } G[] = {
        {"range", JF_RANGE}, {"namespace", JF_NAMESPACE}, {"dict", JF_DICT},
        {"raise_exception", JF_RAISE}, {"strftime_now", JF_STRFTIME},
    };
    for (size_t i = 0; i < sizeof G / sizeof *G; i++)
        if (jname_is(name, n, G[i].name)) {
            *out = (jv){.k = JV_FUNC};
            out->fn = G[i].id;
            return true;
        }
    return false;
}

static bool g_range(jrender *r, const jargs *a, jv *out) {
    int64_t v[3] = {0, 0, 1};
    if (a->npos < 1 || a->npos > 3 || a->nkw) return jr_fail(r, "range expected 1 to 3 integer arguments");
    for (size_t i = 0; i < a->npos; i++) {
        jv x = a->pos[i];
        if (x.k != JV_INT && x.k != JV_BOOL) return jr_fail(r, "range: '%s' object cannot be interpreted as an integer", jv_type_name(x));
        v[a->npos == 1 ? 1 : i] = x.k == JV_INT ? x.i : x.b;
    }
    if (v[2] == 0) return jr_fail(r, "range() arg 3 must not be zero");
    double count = v[2] > 0 ? (v[1] > v[0] ? ((double)v[1] - (double)v[0] + (double)v[2] - 1) / (double)v[2] : 0)
                            : (v[0] > v[1] ? ((double)v[0] - (double)v[1] - (double)v[2] - 1) / (double)-v[2] : 0);
    if (count > MAX_RANGE)
        return jr_fail(r, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MAX_RANGE);
    jlist *l = jl_new(r, (size_t)count);
    if (!l) return false;
    for (size_t i = 0; i < l->n; i++) l->v[i] = jv_int(v[0] + (int64_t)i * v[2]);
    *out = jv_list(l);
    return true;
}

/* namespace(...) and dict(...): an optional mapping, then keywords. */
static bool g_mapping(jrender *r, const jargs *a, bool ns, jv *out) {
    jdict *d = jd_new(r, a->nkw + 4);
    if (!d) return false;
    if (a->npos > 1) return jr_fail(r, "%s expected at most 1 positional argument", ns ? "namespace" : "dict");
    if (a->npos == 1) {
        jv m = a->pos[0];
        if (m.k != JV_DICT && m.k != JV_NS) return jr_fail(r, "%s: positional argument must be a mapping", ns ? "namespace" : "dict");
        for (size_t i = 0; i < m.d->n; i++)
            if (!jd_set(r, d, m.d->keys[i], m.d->vals[i])) return false;
    }
    for (size_t i = 0; i < a->nkw; i++)
        if (!jd_set(r, d, jv_str(a->kwn[i], a->kwnl[i]), a->kwv[i])) return false;
    *out = jv_dict(d);
    out->k = ns ? JV_NS : JV_DICT;
    return true;
}

static bool g_strftime(jrender *r, const jargs *a, jv *out) {
    const jv *f = jarg(a, 0, "format");
    if (!need_str(r, f, "strftime_now")) return false;
    char fmt[256], buf[1024];
    if (f->s.n >= sizeof fmt) return jr_fail(r, "strftime_now: format too long");
    memcpy(fmt, f->s.p, f->s.n);
    fmt[f->s.n] = 0;
    time_t t = r->lim->now ? r->lim->now : time(NULL);
    struct tm tm;
    if (!localtime_r(&t, &tm)) return jr_fail(r, "strftime_now: bad time");
    size_t n = strftime(buf, sizeof buf, fmt, &tm);
    if (n == 0 && f->s.n) return jr_fail(r, "strftime_now: result too long or empty");
    char *p = jr_alloc(r, n + 1);
    if (!p) return false;
    memcpy(p, buf, n + 1);
    *out = jv_str(p, n);
    return true;
}

bool jcall_builtin(jrender *r, jv fn, const jargs *a, jv *out) {
    switch (fn.fn) {
    case JF_RANGE: return g_range(r, a, out);
    case JF_NAMESPACE: return g_mapping(r, a, true, out);
    case JF_DICT: return g_mapping(r, a, false, out);
    case JF_STRFTIME: return g_strftime(r, a, out);
    case JF_RAISE: {
        const jv *m = jarg(a, 0, NULL);
        jv s = jv_str("", 0);
        if (m && !jv_to_str(r, *m, &s)) return false;
        return jr_fail(r, "%.*s", (int)s.s.n, s.s.p);
    }
    case JF_CYCLE:
        if (!a->npos) return jr_fail(r, "no items for cycling given");
        *out = a->pos[fn.self->i % a->npos];
        return true;
    }
    return jr_fail(r, "internal error: unknown builtin");
}

/* ---- "%" formatting --------------------------------------------------- */

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

bool jformat_percent(jrender *r, jv fmt, const jv *args, size_t nargs, jv *out) {
    jbuf b = jr_buf(r);
    size_t used = 0;
    const char *p = fmt.s.p;
    for (size_t i = 0; i < fmt.s.n; i++) {
        if (p[i] != '%') { jb_putc(&b, p[i]); continue; }
        if (i + 1 < fmt.s.n && p[i + 1] == '%') { jb_putc(&b, '%'); i++; continue; }
        size_t s = i + 1, e = s;
        while (e < fmt.s.n && strchr("-+ #0123456789.", p[e])) e++;
        if (e >= fmt.s.n || !strchr("sdirfFeEgGxXoc", p[e])) { jb_free(&b); return jr_fail(r, "unsupported format character at index %zu", e); }
        if (used >= nargs) { jb_free(&b); return jr_fail(r, "not enough arguments for format string"); }
        if (!format_one(r, &b, p + s, e - s, p[e], args[used++])) { jb_free(&b); return false; }
        i = e;
    }
    if (used < nargs) { jb_free(&b); return jr_fail(r, "not all arguments converted during string formatting"); }
    return jv_from_buf(r, &b, out);
}
