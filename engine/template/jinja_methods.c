/*
 * jinja_methods.c — Python methods on values and the global functions.
 *
 * Owns the str methods templates call (strip family with chars,
 * startswith/endswith with tuples, split/rsplit with maxsplit, replace,
 * find, count, join, format, case methods, ...), dict.items/keys/values/
 * get, the sandbox's refusal of mutating methods (list.append, dict.pop,
 * ...: an ImmutableSandboxedEnvironment raises SecurityError), the
 * globals range / namespace / dict / raise_exception / strftime_now,
 * and loop.cycle.  String formatting (str.format and `%`) is in
 * jinja_format.c, the rarer str methods in jinja_strmethods.c.
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

/* Byte offset of code point k of s (its length if past the end). */
static size_t cp_at(jv s, int64_t k) {
    size_t i = 0;
    for (int64_t c = 0; i < s.s.n; i++) {
        if (((unsigned char)s.s.p[i] & 0xC0) == 0x80) continue;
        if (c++ == k) break;
    }
    return i;
}

/* find/count's optional start and end, sliced as Python does: *win is
 * s[start:end] and *first its first code point's index.  False when the
 * window is empty and placed past the end (nothing is found there, not
 * even ""). */
static bool find_window(jv s, const jargs *a, jv *win, int64_t *first) {
    const jv *sv = jarg(a, 1, "start"), *ev = jarg(a, 2, "end");
    int64_t len = (int64_t)ju_len(s.s.p, s.s.n), st = sv && sv->k == JV_INT ? sv->i : 0;
    int64_t en = ev && ev->k == JV_INT ? ev->i : len;
    if (st < 0 && (st += len) < 0) st = 0;
    if (en < 0 && (en += len) < 0) en = 0;
    if (en > len) en = len;
    if (st > len || st > en) return false;
    size_t b0 = cp_at(s, st), b1 = cp_at(s, en);
    *win = jv_str(s.s.p + b0, b1 - b0), *first = st;
    return true;
}

/* mode: 0 find, 1 rfind, 2 count, 3 index, 4 rindex. */
static bool m_find(jrender *r, jv s, const jargs *a, int mode, jv *out) {
    const jv *x = jarg(a, 0, NULL);
    jv w;
    int64_t first;
    if (!need_str(r, x, "find")) return false;
    bool in = find_window(s, a, &w, &first);
    if (mode == 2) { /* count: non-overlapping */
        int64_t c = 0;
        if (!in) { *out = jv_int(0); return true; }
        if (!x->s.n) { *out = jv_int((int64_t)ju_len(w.s.p, w.s.n) + 1); return true; }
        for (const char *p = w.s.p, *e = w.s.p + w.s.n; (p = memmem(p, (size_t)(e - p), x->s.p, x->s.n)); p += x->s.n) c++;
        *out = jv_int(c);
        return true;
    }
    const char *hit = NULL;
    if (in && (mode == 0 || mode == 3)) hit = memmem(w.s.p, w.s.n, x->s.p, x->s.n);
    else if (in) for (size_t k = w.s.n + 1; k-- > x->s.n;)
        if (!memcmp(w.s.p + k - x->s.n, x->s.p, x->s.n)) { hit = w.s.p + k - x->s.n; break; }
    if (!hit && mode >= 3) return jr_fail(r, "substring not found"); /* index / rindex */
    *out = jv_int(hit ? first + (int64_t)ju_len(w.s.p, (size_t)(hit - w.s.p)) : -1);
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
    if (jname_is(m, n, "index")) return m_find(r, s, a, 3, out);
    if (jname_is(m, n, "rindex")) return m_find(r, s, a, 4, out);
    if (jname_is(m, n, "join")) return m_join(r, s, a, out);
    if (jname_is(m, n, "format")) return jformat_str(r, s, a, out);
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
    return jstr_method(r, s, m, n, a, out, found);
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
    if (jname_is(m, n, "copy")) { /* a new dict: the sandbox allows it */
        jdict *d = jd_new(r, obj.d->n);
        if (!d) return false;
        for (size_t i = 0; i < obj.d->n; i++)
            if (!jd_set(r, d, obj.d->keys[i], obj.d->vals[i])) return false;
        *out = jv_dict(d);
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
    case JF_CHANGED: { /* true on the first call and whenever the arguments differ */
        jlist *t = jl_new(r, a->npos);
        if (!t) return false;
        t->tuple = true;
        if (a->npos) memcpy(t->v, a->pos, a->npos * sizeof *t->v);
        jv now = jv_list(t);
        *out = jv_bool(!fn.self->changed_seen || !jv_equal(now, fn.self->changed_last));
        fn.self->changed_last = now, fn.self->changed_seen = true;
        return true;
    }
    }
    return jr_fail(r, "internal error: unknown builtin");
}
