/*
 * jinja_select.c — filters over sequences (length, join, sort, unique,
 * map, select/reject and their attr forms, items, dictsort, min/max, sum,
 * batch, slice, groupby, ...) and the `is` tests.
 *
 * Sorting is a stable merge sort like Python's sorted(); string keys are
 * compared case-insensitively unless case_sensitive=true, as Jinja2 does.
 * `attribute=` accepts dotted paths ("a.b", "items.0").
 */
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

bool jcase(jrender *r, jv v, int mode, jv *out); /* jinja_filters.c; mode 1 = lower */

static bool as_list(jrender *r, jv v, jlist **out) {
    return jv_iterable(r, v, out);
}

/* Dotted attribute path lookup as Jinja2's make_attrgetter: def (NULL or
 * None = none) replaces an Undefined met at any step. */
static bool get_path_def(jrender *r, jv v, jv attr, const jv *def, jv *out) {
    if (def && def->k == JV_NONE) def = NULL;
    if (attr.k != JV_STR) {
        if (!jgetitem(r, v, attr, out)) return false;
        if (def && out->k == JV_UNDEF) *out = *def;
        return true;
    }
    const char *p = attr.s.p, *end = p + attr.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t n = (size_t)(dot - p);
        bool digits = n > 0;
        int64_t idx = 0;
        for (size_t i = 0; i < n && digits; i++) {
            digits = p[i] >= '0' && p[i] <= '9';
            idx = idx * 10 + (p[i] - '0');
        }
        jv key = digits && n < 18 ? jv_int(idx) : jv_str(p, n);
        if (v.k == JV_UNDEF) return jr_fail(r, "cannot access '%.*s' of an undefined value", (int)n, p);
        if (!jgetitem(r, v, key, &v)) return false;
        if (def && v.k == JV_UNDEF) v = *def;
        p = dot + 1;
    }
    *out = v;
    return true;
}

static bool get_path(jrender *r, jv v, jv attr, jv *out) { return get_path_def(r, v, attr, NULL, out); }

/* The sort key of one item: attribute path, then lowercased if wanted. */
static bool sort_key(jrender *r, jv v, const jv *attr, bool case_sensitive, jv *out) {
    if (attr && attr->k != JV_NONE && attr->k != JV_UNDEF && !get_path(r, v, *attr, &v)) return false;
    if (!case_sensitive && v.k == JV_STR) return jcase(r, v, 1, out);
    *out = v;
    return true;
}

static bool keys_of(jrender *r, const jlist *l, const jv *attr, bool cs, jv **keys) {
    *keys = jr_alloc(r, (l->n + 1) * sizeof **keys);
    if (!*keys) return false;
    for (size_t i = 0; i < l->n; i++)
        if (!sort_key(r, l->v[i], attr, cs, &(*keys)[i])) return false;
    return true;
}

/* Stable merge sort of idx[0..n) by keys; sign -1 reverses. */
static bool merge_sort(jrender *r, size_t *idx, size_t *tmp, size_t n, const jv *keys, int sign) {
    if (n < 2) return true;
    size_t h = n / 2;
    if (!merge_sort(r, idx, tmp, h, keys, sign) || !merge_sort(r, idx + h, tmp, n - h, keys, sign)) return false;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c;
        if (!jv_compare(r, keys[idx[j]], keys[idx[i]], &c)) return false;
        tmp[k++] = c * sign < 0 ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return true;
}

static bool sorted_list(jrender *r, const jlist *l, const jv *keys, bool reverse, jv *out) {
    size_t *idx = jr_alloc(r, (l->n + 1) * sizeof *idx), *tmp = jr_alloc(r, (l->n + 1) * sizeof *tmp);
    jlist *o = jl_new(r, l->n);
    if (!idx || !tmp || !o) return false;
    for (size_t i = 0; i < l->n; i++) idx[i] = i;
    if (!merge_sort(r, idx, tmp, l->n, keys, reverse ? -1 : 1)) return false;
    for (size_t i = 0; i < l->n; i++) o->v[i] = l->v[idx[i]];
    *out = jv_list(o);
    return true;
}

static bool flag(const jargs *a, size_t i, const char *name) {
    const jv *v = jarg(a, i, name);
    return v && jv_truthy(*v);
}

bool jf_sort(jrender *r, jv v, const jargs *a, jv *out) {
    jlist *l;
    jv *keys;
    if (!as_list(r, v, &l) || !keys_of(r, l, jarg(a, 2, "attribute"), flag(a, 1, "case_sensitive"), &keys)) return false;
    return sorted_list(r, l, keys, flag(a, 0, "reverse"), out);
}

bool jf_dictsort(jrender *r, jv v, const jargs *a, jv *out) {
    if (v.k != JV_DICT && v.k != JV_NS) return jr_fail(r, "dictsort: expected a mapping, got %s", jv_type_name(v));
    const jv *by = jarg(a, 1, "by");
    bool by_value = by && by->k == JV_STR && jname_is(by->s.p, by->s.n, "value");
    if (by && !by_value && !(by->k == JV_STR && jname_is(by->s.p, by->s.n, "key")))
        return jr_fail(r, "You can only sort by either \"key\" or \"value\"");
    jlist *pairs = jl_new(r, v.d->n);
    jv *keys = jr_alloc(r, (v.d->n + 1) * sizeof *keys);
    if (!pairs || !keys) return false;
    for (size_t i = 0; i < v.d->n; i++) {
        jlist *t = jl_new(r, 2);
        if (!t) return false;
        t->tuple = true, t->v[0] = v.d->keys[i], t->v[1] = v.d->vals[i];
        pairs->v[i] = jv_list(t);
        if (!sort_key(r, by_value ? t->v[1] : t->v[0], NULL, flag(a, 0, "case_sensitive"), &keys[i])) return false;
    }
    return sorted_list(r, pairs, keys, flag(a, 2, "reverse"), out);
}

bool jf_unique(jrender *r, jv v, const jargs *a, jv *out) {
    jlist *l;
    jv *keys;
    if (!as_list(r, v, &l) || !keys_of(r, l, jarg(a, 1, "attribute"), flag(a, 0, "case_sensitive"), &keys)) return false;
    jlist *o = jl_new(r, l->n);
    if (!o) return false;
    o->n = 0;
    for (size_t i = 0; i < l->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = jv_equal(keys[j], keys[i]);
        if (!seen) o->v[o->n++] = l->v[i];
    }
    *out = jv_list(o);
    return true;
}

static bool min_max(jrender *r, jv v, const jargs *a, int want, jv *out) {
    jlist *l;
    jv *keys;
    if (!as_list(r, v, &l) || !keys_of(r, l, jarg(a, 1, "attribute"), flag(a, 0, "case_sensitive"), &keys)) return false;
    if (!l->n) { *out = jv_undef(); return true; }
    size_t best = 0;
    for (size_t i = 1; i < l->n; i++) {
        int c;
        if (!jv_compare(r, keys[i], keys[best], &c)) return false;
        if (c * want > 0) best = i;
    }
    *out = l->v[best];
    return true;
}
bool jf_min(jrender *r, jv v, const jargs *a, jv *out) { return min_max(r, v, a, -1, out); }
bool jf_max(jrender *r, jv v, const jargs *a, jv *out) { return min_max(r, v, a, 1, out); }

bool jf_sum(jrender *r, jv v, const jargs *a, jv *out) {
    jlist *l;
    const jv *attr = jarg(a, 0, "attribute"), *start = jarg(a, 1, "start");
    if (!as_list(r, v, &l)) return false;
    int64_t si = 0;
    double sf = 0;
    bool is_float = false;
    if (start && start->k == JV_FLOAT) is_float = true, sf = start->f;
    else if (start && start->k == JV_INT) si = start->i;
    for (size_t i = 0; i < l->n; i++) {
        jv x = l->v[i];
        if (attr && attr->k != JV_NONE && !get_path(r, x, *attr, &x)) return false;
        if (x.k == JV_FLOAT) {
            if (!is_float) sf = (double)si, is_float = true;
            sf += x.f;
        } else if (x.k == JV_INT || x.k == JV_BOOL) {
            int64_t xi = x.k == JV_INT ? x.i : x.b;
            if (is_float) sf += (double)xi;
            else if (__builtin_add_overflow(si, xi, &si)) return jr_fail(r, "integer overflow");
        } else {
            return jr_fail(r, "sum: unsupported operand type '%s'", jv_type_name(x));
        }
    }
    *out = is_float ? jv_float(sf) : jv_int(si);
    return true;
}

bool jf_length(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    switch (v.k) {
    case JV_STR: *out = jv_int((int64_t)ju_len(v.s.p, v.s.n)); return true;
    case JV_LIST: *out = jv_int((int64_t)v.l->n); return true;
    case JV_DICT: case JV_NS: *out = jv_int((int64_t)v.d->n); return true;
    case JV_UNDEF: *out = jv_int(0); return true;
    default: return jr_fail(r, "object of type '%s' has no len()", jv_type_name(v));
    }
}

static bool first_last(jrender *r, jv v, bool last, jv *out) {
    jlist *l;
    if (!as_list(r, v, &l)) return false;
    *out = l->n ? l->v[last ? l->n - 1 : 0] : jv_undef();
    return true;
}
bool jf_first(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return first_last(r, v, false, out); }
bool jf_last(jrender *r, jv v, const jargs *a, jv *out) { (void)a; return first_last(r, v, true, out); }

bool jf_join(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *sep = jarg(a, 0, "d"), *attr = jarg(a, 1, "attribute");
    jlist *l;
    if (!as_list(r, v, &l)) return false;
    jv s = jv_str("", 0);
    if (sep && !jv_to_str(r, *sep, &s)) return false;
    jbuf b = jr_buf(r);
    for (size_t i = 0; i < l->n; i++) {
        jv x = l->v[i];
        if (i) jb_put(&b, s.s.p, s.s.n);
        if ((attr && attr->k != JV_NONE && !get_path(r, x, *attr, &x)) || !jv_write_str(r, &b, x)) {
            jb_free(&b);
            return false;
        }
    }
    return jv_from_buf(r, &b, out);
}

bool jf_list(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    jlist *l, *o;
    if (!as_list(r, v, &l) || !(o = jl_new(r, l->n))) return false;
    if (l->n) memcpy(o->v, l->v, l->n * sizeof *o->v);
    *out = jv_list(o);
    return true;
}

bool jf_reverse(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    jlist *l, *o;
    if (!as_list(r, v, &l) || !(o = jl_new(r, l->n))) return false;
    for (size_t i = 0; i < l->n; i++) o->v[i] = l->v[l->n - 1 - i];
    if (v.k != JV_STR) { *out = jv_list(o); return true; }
    jbuf b = jr_buf(r);
    for (size_t i = 0; i < o->n; i++) jb_put(&b, o->v[i].s.p, o->v[i].s.n);
    return jv_from_buf(r, &b, out);
}

bool jf_items(jrender *r, jv v, const jargs *a, jv *out) {
    (void)a;
    if (v.k == JV_UNDEF) { jlist *e = jl_new(r, 0); if (!e) return false; *out = jv_list(e); return true; }
    if (v.k != JV_DICT && v.k != JV_NS) return jr_fail(r, "Can only get item pairs from a mapping.");
    jlist *o = jl_new(r, v.d->n);
    if (!o) return false;
    for (size_t i = 0; i < v.d->n; i++) {
        jlist *t = jl_new(r, 2);
        if (!t) return false;
        t->tuple = true, t->v[0] = v.d->keys[i], t->v[1] = v.d->vals[i];
        o->v[i] = jv_list(t);
    }
    *out = jv_list(o);
    return true;
}

bool jf_batch(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *cnt = jarg(a, 0, "linecount"), *fill = jarg(a, 1, "fill_with");
    jlist *l;
    if (!cnt || cnt->k != JV_INT || cnt->i <= 0) return jr_fail(r, "batch: linecount must be a positive integer");
    if (!as_list(r, v, &l)) return false;
    size_t per = (size_t)cnt->i, nb = (l->n + per - 1) / per;
    jlist *o = jl_new(r, nb);
    if (!o) return false;
    for (size_t b = 0; b < nb; b++) {
        size_t take = l->n - b * per < per ? l->n - b * per : per;
        bool pad = take < per && fill && fill->k != JV_NONE;
        jlist *row = jl_new(r, pad ? per : take);
        if (!row) return false;
        for (size_t i = 0; i < row->n; i++) row->v[i] = i < take ? l->v[b * per + i] : *fill;
        o->v[b] = jv_list(row);
    }
    *out = jv_list(o);
    return true;
}

/* groupby: items sorted by attribute, then runs of equal keys become
 * (grouper, list) tuples that also answer .grouper and .list.  Keys
 * compare case-insensitively unless case_sensitive; the grouper is then
 * the first item's own value, as in Jinja2. */
bool jf_groupby(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *attr = jarg(a, 0, "attribute"), *def = jarg(a, 1, "default");
    bool cs = flag(a, 2, "case_sensitive");
    jlist *l, *o;
    if (!attr) return jr_fail(r, "groupby: needs an attribute");
    if (!as_list(r, v, &l)) return false;
    jv *raw = jr_alloc(r, (l->n + 1) * sizeof *raw), *keys = jr_alloc(r, (l->n + 1) * sizeof *keys);
    size_t *idx = jr_alloc(r, (l->n + 1) * sizeof *idx), *tmp = jr_alloc(r, (l->n + 1) * sizeof *tmp);
    if (!raw || !keys || !idx || !tmp || !(o = jl_new(r, l->n))) return false;
    for (size_t i = 0; i < l->n; i++) {
        idx[i] = i;
        if (!get_path_def(r, l->v[i], *attr, def, &raw[i]) || !sort_key(r, raw[i], NULL, cs, &keys[i])) return false;
    }
    if (!merge_sort(r, idx, tmp, l->n, keys, 1)) return false;
    o->n = 0;
    for (size_t i = 0, j; i < l->n; i = j) {
        for (j = i + 1; j < l->n && jv_equal(keys[idx[j]], keys[idx[i]]); j++) {}
        jlist *g = jl_new(r, 2), *items = jl_new(r, j - i);
        if (!g || !items) return false;
        for (size_t k = i; k < j; k++) items->v[k - i] = l->v[idx[k]];
        g->tuple = g->group = true;
        g->v[0] = cs ? keys[idx[i]] : raw[idx[i]], g->v[1] = jv_list(items);
        o->v[o->n++] = jv_list(g);
    }
    *out = jv_list(o);
    return true;
}

/* slice(n, fill_with): n columns; the first len % n get one extra item,
 * the others are padded with fill_with when it is given. */
bool jf_slice(jrender *r, jv v, const jargs *a, jv *out) {
    const jv *cnt = jarg(a, 0, "slices"), *fill = jarg(a, 1, "fill_with");
    jlist *l, *o;
    if (!cnt || cnt->k != JV_INT || cnt->i <= 0 || cnt->i > 100000) return jr_fail(r, "slice: slices must be a positive integer");
    if (!as_list(r, v, &l) || !(o = jl_new(r, (size_t)cnt->i))) return false;
    size_t n = (size_t)cnt->i, per = l->n / n, extra = l->n % n, offset = 0;
    bool pad = fill && fill->k != JV_NONE;
    for (size_t k = 0; k < n; k++) {
        size_t start = offset + k * per;
        if (k < extra) offset++;
        size_t end = offset + (k + 1) * per;
        jlist *col = jl_new(r, end - start + (pad && k >= extra));
        if (!col) return false;
        for (size_t i = start; i < end; i++) col->v[i - start] = l->v[i];
        if (pad && k >= extra) col->v[end - start] = *fill;
        o->v[k] = jv_list(col);
    }
    *out = jv_list(o);
    return true;
}

/* ---- map / select ----------------------------------------------------- */

/* The arguments after the first `skip` positionals, kwargs dropped. */
static jargs rest_args(const jargs *a, size_t skip) {
    jargs r = {.pos = a->pos + (a->npos > skip ? skip : a->npos), .npos = a->npos > skip ? a->npos - skip : 0};
    return r;
}

bool jf_map(jrender *r, jv v, const jargs *a, jv *out) {
    jlist *l, *o;
    if (!as_list(r, v, &l) || !(o = jl_new(r, l->n))) return false;
    const jv *attr = jarg(a, 99, "attribute"), *def = jarg(a, 99, "default");
    const jv *fname = attr ? NULL : jarg(a, 0, NULL);
    if (!attr && (!fname || fname->k != JV_STR)) return jr_fail(r, "map: needs a filter name or attribute=");
    jargs rest = rest_args(a, 1);
    for (size_t i = 0; i < l->n; i++) {
        if (!jr_step(r)) return false;
        if (attr) {
            if (!get_path_def(r, l->v[i], *attr, def, &o->v[i])) return false;
        } else if (!jfilter(r, fname->s.p, fname->s.n, l->v[i], &rest, &o->v[i])) {
            return false;
        }
    }
    *out = jv_list(o);
    return true;
}

/* select/reject (attr=false) and selectattr/rejectattr (attr=true). */
static bool select_common(jrender *r, jv v, const jargs *a, bool attr, bool keep, jv *out) {
    jlist *l, *o;
    if (!as_list(r, v, &l) || !(o = jl_new(r, l->n))) return false;
    o->n = 0;
    size_t ti = attr ? 1 : 0;
    const jv *path = attr ? jarg(a, 0, NULL) : NULL;
    const jv *test = jarg(a, ti, NULL);
    if (attr && !path) return jr_fail(r, "selectattr: needs an attribute name");
    if (test && test->k != JV_STR) return jr_fail(r, "select: the test must be given by name");
    jargs rest = rest_args(a, ti + 1);
    for (size_t i = 0; i < l->n; i++) {
        jv x = l->v[i];
        bool t;
        if (!jr_step(r)) return false;
        if (attr && !get_path(r, x, *path, &x)) return false;
        if (test) {
            if (!jtest(r, test->s.p, test->s.n, x, &rest, &t)) return false;
        } else {
            t = jv_truthy(x);
        }
        if (t == keep) o->v[o->n++] = l->v[i];
    }
    *out = jv_list(o);
    return true;
}
bool jf_select(jrender *r, jv v, const jargs *a, jv *out) { return select_common(r, v, a, false, true, out); }
bool jf_reject(jrender *r, jv v, const jargs *a, jv *out) { return select_common(r, v, a, false, false, out); }
bool jf_selectattr(jrender *r, jv v, const jargs *a, jv *out) { return select_common(r, v, a, true, true, out); }
bool jf_rejectattr(jrender *r, jv v, const jargs *a, jv *out) { return select_common(r, v, a, true, false, out); }

/* ---- tests ------------------------------------------------------------ */

static bool cmp_test(jrender *r, jv v, const jv *o, int want_lo, int want_hi, bool *out) {
    int c;
    if (!o) return jr_fail(r, "comparison test needs an argument");
    if (!jv_compare(r, v, *o, &c)) return false;
    *out = c >= want_lo && c <= want_hi;
    return true;
}

static bool t_in(jrender *r, jv v, const jv *seq, bool *out) {
    if (!seq) return jr_fail(r, "'in' test needs a container");
    if (seq->k == JV_STR) {
        if (v.k != JV_STR) return jr_fail(r, "'in <string>' requires string as left operand");
        *out = v.s.n == 0 || memmem(seq->s.p, seq->s.n, v.s.p, v.s.n) != NULL;
    } else if (seq->k == JV_LIST) {
        *out = false;
        for (size_t i = 0; i < seq->l->n && !*out; i++) *out = jv_equal(seq->l->v[i], v);
    } else if (seq->k == JV_DICT || seq->k == JV_NS) {
        *out = jd_get(seq->d, v) != NULL;
    } else {
        return jr_fail(r, "argument of type '%s' is not iterable", jv_type_name(*seq));
    }
    return true;
}

static const char *const TESTS[] = {
    "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number",
    "string", "mapping", "iterable", "sequence", "callable", "odd", "even", "divisibleby",
    "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">",
    "ge", ">=", "in", "sameas", "lower", "upper", "escaped", "filter", "test", NULL,
};

bool jtest_exists(const char *name, size_t n) {
    for (int i = 0; TESTS[i]; i++)
        if (jname_is(name, n, TESTS[i])) return true;
    return false;
}

static bool is(const char *name, size_t n, const char *a, const char *b, const char *c) {
    return jname_is(name, n, a) || (b && jname_is(name, n, b)) || (c && jname_is(name, n, c));
}

static bool t_int_parity(jrender *r, jv v, int64_t mod, const jv *arg, int64_t rem, bool *out) {
    if (arg) {
        if (arg->k != JV_INT || arg->i == 0) return jr_fail(r, "divisibleby: needs a non-zero integer");
        mod = arg->i;
    }
    if (v.k != JV_INT && v.k != JV_BOOL) return jr_fail(r, "test needs an integer, got %s", jv_type_name(v));
    int64_t x = v.k == JV_INT ? v.i : v.b, m = mod == -1 ? 0 : x % mod;
    if (m < 0) m += mod < 0 ? -mod : mod;
    *out = m == rem;
    return true;
}

bool jtest(jrender *r, const char *name, size_t n, jv v, const jargs *a, bool *out) {
    const jv *arg = jarg(a, 0, NULL);
    uint8_t k = v.k;
    if (is(name, n, "defined", NULL, NULL)) *out = k != JV_UNDEF;
    else if (is(name, n, "undefined", NULL, NULL)) *out = k == JV_UNDEF;
    else if (is(name, n, "none", NULL, NULL)) *out = k == JV_NONE;
    else if (is(name, n, "boolean", NULL, NULL)) *out = k == JV_BOOL;
    else if (is(name, n, "false", NULL, NULL)) *out = k == JV_BOOL && !v.b;
    else if (is(name, n, "true", NULL, NULL)) *out = k == JV_BOOL && v.b;
    else if (is(name, n, "integer", NULL, NULL)) *out = k == JV_INT || k == JV_BIG;
    else if (is(name, n, "float", NULL, NULL)) *out = k == JV_FLOAT;
    else if (is(name, n, "number", NULL, NULL)) *out = k == JV_INT || k == JV_FLOAT || k == JV_BOOL || k == JV_BIG;
    else if (is(name, n, "string", NULL, NULL)) *out = k == JV_STR;
    else if (is(name, n, "mapping", NULL, NULL)) *out = k == JV_DICT;
    else if (is(name, n, "iterable", NULL, NULL)) *out = k == JV_STR || k == JV_LIST || k == JV_DICT || k == JV_UNDEF || k == JV_LOOP;
    else if (is(name, n, "sequence", NULL, NULL)) *out = k == JV_STR || k == JV_LIST || k == JV_DICT || k == JV_UNDEF;
    else if (is(name, n, "callable", NULL, NULL)) *out = k == JV_MACRO || k == JV_FUNC;
    else if (is(name, n, "odd", NULL, NULL)) return t_int_parity(r, v, 2, NULL, 1, out);
    else if (is(name, n, "even", NULL, NULL)) return t_int_parity(r, v, 2, NULL, 0, out);
    else if (is(name, n, "divisibleby", NULL, NULL)) {
        if (!arg) return jr_fail(r, "divisibleby: needs an argument");
        return t_int_parity(r, v, 0, arg, 0, out);
    }
    else if (is(name, n, "eq", "equalto", "==")) *out = arg && jv_equal(v, *arg);
    else if (is(name, n, "ne", "!=", NULL)) *out = !arg || !jv_equal(v, *arg);
    else if (is(name, n, "lt", "lessthan", "<")) return cmp_test(r, v, arg, -1, -1, out);
    else if (is(name, n, "le", "<=", NULL)) return cmp_test(r, v, arg, -1, 0, out);
    else if (is(name, n, "gt", "greaterthan", ">")) return cmp_test(r, v, arg, 1, 1, out);
    else if (is(name, n, "ge", ">=", NULL)) return cmp_test(r, v, arg, 0, 1, out);
    else if (is(name, n, "in", NULL, NULL)) return t_in(r, v, arg, out);
    else if (is(name, n, "sameas", NULL, NULL))
        *out = arg && arg->k == k && jv_equal(v, *arg) && (k == JV_NONE || k == JV_BOOL || k == JV_UNDEF || k == JV_INT);
    else if (is(name, n, "lower", "upper", NULL)) {
        jv c;
        if (k != JV_STR) { *out = false; return true; }
        if (!jcase(r, v, jname_is(name, n, "lower") ? 1 : 0, &c)) return false;
        *out = jv_equal(c, v);
    }
    else if (is(name, n, "escaped", NULL, NULL)) *out = false;
    else if (is(name, n, "filter", NULL, NULL)) *out = k == JV_STR && jfilter_exists(v.s.p, v.s.n);
    else if (is(name, n, "test", NULL, NULL)) *out = k == JV_STR && jtest_exists(v.s.p, v.s.n);
    else return jr_fail(r, "no test named '%.*s'", (int)n, name);
    return true;
}
