/*
 * jinja_eval.c — expressions: names, attribute and item access, slicing,
 * arithmetic, comparisons, boolean logic and calls.
 *
 * Semantics are Python's as Jinja2 exposes them: `and`/`or` return an
 * operand, `/` always gives a float, `//` and `%` floor, ints do not
 * silently wrap (overflow is an error rather than a bigint), `~` joins
 * the str() of both sides.  A missing variable, key or attribute is
 * Undefined, which prints as "" and is falsy; taking an attribute or item
 * of Undefined is an error, as with Jinja2's default Undefined.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jinja_internal.h"

/* ---- scopes ----------------------------------------------------------- */

jv *jscope_get(jscope *s, const char *name, size_t n) {
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (s->name_n[i] == n && memcmp(s->names[i], name, n) == 0) return &s->vals[i];
    return NULL;
}

bool jscope_set(jrender *r, jscope *s, const char *name, size_t n, jv v) {
    for (size_t i = 0; i < s->n; i++)
        if (s->name_n[i] == n && memcmp(s->names[i], name, n) == 0) { s->vals[i] = v; return true; }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const char **nm = jr_alloc(r, cap * sizeof *nm);
        size_t *nl = jr_alloc(r, cap * sizeof *nl);
        jv *vals = jr_alloc(r, cap * sizeof *vals);
        if (!nm || !nl || !vals) return false;
        if (s->n) {
            memcpy(nm, s->names, s->n * sizeof *nm);
            memcpy(nl, s->name_n, s->n * sizeof *nl);
            memcpy(vals, s->vals, s->n * sizeof *vals);
        }
        s->names = nm, s->name_n = nl, s->vals = vals, s->cap = cap;
    }
    s->names[s->n] = name;
    s->name_n[s->n] = n;
    s->vals[s->n++] = v;
    return true;
}

/* ---- access ----------------------------------------------------------- */

static bool undefined_access(jrender *r, jv obj, const char *what, size_t n) {
    if (obj.s.n) return jr_fail(r, "'%.*s' is undefined", (int)obj.s.n, obj.s.p);
    return jr_fail(r, "cannot access '%.*s' of an undefined value", (int)n, what);
}

static bool loop_attr(jrender *r, jloop *l, const char *name, size_t n, jv *out) {
    int64_t i = (int64_t)l->i, len = (int64_t)l->items->n;
    if (jname_is(name, n, "index")) *out = jv_int(i + 1);
    else if (jname_is(name, n, "index0")) *out = jv_int(i);
    else if (jname_is(name, n, "revindex")) *out = jv_int(len - i);
    else if (jname_is(name, n, "revindex0")) *out = jv_int(len - i - 1);
    else if (jname_is(name, n, "first")) *out = jv_bool(i == 0);
    else if (jname_is(name, n, "last")) *out = jv_bool(i == len - 1);
    else if (jname_is(name, n, "length")) *out = jv_int(len);
    else if (jname_is(name, n, "depth")) *out = jv_int(l->depth);
    else if (jname_is(name, n, "depth0")) *out = jv_int(l->depth - 1);
    else if (jname_is(name, n, "previtem")) *out = i > 0 ? l->items->v[i - 1] : jv_undef_named("previtem", 8);
    else if (jname_is(name, n, "nextitem")) *out = i + 1 < len ? l->items->v[i + 1] : jv_undef_named("nextitem", 8);
    else if (jname_is(name, n, "cycle") || jname_is(name, n, "changed")) {
        jv f = {.k = JV_FUNC};
        f.fn = name[1] == 'y' ? JF_CYCLE : JF_CHANGED;
        f.self = l;
        *out = f;
    }
    else *out = jv_undef_named(name, n);
    (void)r;
    return true;
}

bool jgetattr(jrender *r, jv obj, const char *name, size_t n, jv *out) {
    jv *v;
    switch (obj.k) {
    case JV_UNDEF: return undefined_access(r, obj, name, n);
    case JV_DICT:
    case JV_NS:
        v = jd_get_str(obj.d, name, n);
        *out = v ? *v : jv_undef_named(name, n);
        return true;
    case JV_LOOP: return loop_attr(r, obj.loop, name, n, out);
    case JV_LIST:
        if (obj.l->group && jname_is(name, n, "grouper")) { *out = obj.l->v[0]; return true; }
        if (obj.l->group && jname_is(name, n, "list")) { *out = obj.l->v[1]; return true; }
        *out = jv_undef_named(name, n);
        return true;
    default: *out = jv_undef_named(name, n); return true;
    }
}

/* Byte offset of code point `idx` in a UTF-8 string (n if past the end). */
static size_t cp_offset(const char *p, size_t n, int64_t idx) {
    size_t i = 0;
    for (int64_t c = 0; i < n; i++) {
        if (((unsigned char)p[i] & 0xC0) == 0x80) continue;
        if (c++ == idx) return i;
    }
    return n;
}

bool jgetitem(jrender *r, jv obj, jv key, jv *out) {
    if (obj.k == JV_UNDEF) return undefined_access(r, obj, "[item]", 6);
    if ((obj.k == JV_LIST || obj.k == JV_STR) && (key.k == JV_INT || key.k == JV_BOOL)) {
        int64_t i = key.k == JV_INT ? key.i : key.b;
        int64_t len = obj.k == JV_LIST ? (int64_t)obj.l->n : (int64_t)ju_len(obj.s.p, obj.s.n);
        if (i < 0) i += len;
        if (i < 0 || i >= len) { *out = jv_undef(); return true; }
        if (obj.k == JV_LIST) { *out = obj.l->v[i]; return true; }
        size_t a = cp_offset(obj.s.p, obj.s.n, i), b = cp_offset(obj.s.p, obj.s.n, i + 1);
        *out = jv_str(obj.s.p + a, b - a);
        return true;
    }
    if (obj.k == JV_DICT || obj.k == JV_NS) {
        jv *v = jd_get(obj.d, key);
        *out = v ? *v : key.k == JV_STR ? jv_undef_named(key.s.p, key.s.n) : jv_undef();
        return true;
    }
    if (key.k == JV_STR) return jgetattr(r, obj, key.s.p, key.s.n, out);
    *out = jv_undef();
    return true;
}

/* Python's slice.indices(): clamp start/stop for a sequence of len. */
static bool slice_bounds(jrender *r, int64_t len, const jv *bv, int64_t *start, int64_t *stop,
                         int64_t *step) {
    *step = 1;
    if (bv[2].k == JV_INT) *step = bv[2].i;
    else if (bv[2].k != JV_NONE && bv[2].k != JV_UNDEF) return jr_fail(r, "slice indices must be integers or None");
    if (*step == 0) return jr_fail(r, "slice step cannot be zero");
    for (int k = 0; k < 2; k++) {
        int64_t *dst = k ? stop : start;
        if (bv[k].k == JV_NONE || bv[k].k == JV_UNDEF) {
            if (k == 0) *dst = *step > 0 ? 0 : len - 1;
            else *dst = *step > 0 ? len : -1;
            continue;
        }
        if (bv[k].k != JV_INT) return jr_fail(r, "slice indices must be integers or None");
        int64_t x = bv[k].i;
        if (x < 0) x += len;
        if (*step > 0) x = x < 0 ? 0 : x > len ? len : x;
        else x = x < -1 ? -1 : x > len - 1 ? len - 1 : x;
        *dst = x;
    }
    return true;
}

static bool eval_slice(jrender *r, jscope *s, const jnode *n, jv *out) {
    jv obj, bv[3] = {jv_none(), jv_none(), jv_none()};
    if (!jeval(r, s, n->a, &obj)) return false;
    const jnode *parts[3] = {n->b, n->c, n->d};
    for (int k = 0; k < 3; k++)
        if (parts[k] && !jeval(r, s, parts[k], &bv[k])) return false;
    if (obj.k != JV_LIST && obj.k != JV_STR) {
        if (obj.k == JV_UNDEF) return undefined_access(r, obj, "[slice]", 7);
        return jr_fail(r, "'%s' object is not subscriptable", jv_type_name(obj));
    }
    bool ascii = true;
    for (size_t i = 0; obj.k == JV_STR && i < obj.s.n && ascii; i++) ascii = (unsigned char)obj.s.p[i] < 0x80;
    jlist *chars = NULL;
    if (obj.k == JV_STR && !ascii && !jv_iterable(r, obj, &chars)) return false;
    int64_t len = obj.k == JV_LIST ? (int64_t)obj.l->n : chars ? (int64_t)chars->n : (int64_t)obj.s.n;
    int64_t start = 0, stop = 0, step = 1;
    if (!slice_bounds(r, len, bv, &start, &stop, &step)) return false;
    int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                             : (start > stop ? (start - stop - step - 1) / -step : 0);
    if (obj.k == JV_LIST || chars) {
        const jlist *src = obj.k == JV_LIST ? obj.l : chars;
        jlist *l = jl_new(r, (size_t)count);
        if (!l) return false;
        l->tuple = obj.k == JV_LIST && obj.l->tuple;
        for (int64_t i = 0; i < count; i++) l->v[i] = src->v[start + i * step];
        if (obj.k == JV_LIST) { *out = jv_list(l); return true; }
        jbuf b = jr_buf(r);
        for (int64_t i = 0; i < count; i++) jb_put(&b, l->v[i].s.p, l->v[i].s.n);
        return jv_from_buf(r, &b, out);
    }
    if (step == 1) { *out = jv_str(obj.s.p + start, (size_t)count); return true; }
    char *p = jr_alloc(r, (size_t)count + 1);
    if (!p) return false;
    for (int64_t i = 0; i < count; i++) p[i] = obj.s.p[start + i * step];
    *out = jv_str(p, (size_t)count);
    return true;
}

/* ---- arithmetic ------------------------------------------------------- */

static bool is_int(jv v) { return v.k == JV_INT || v.k == JV_BOOL; }
static int64_t ival(jv v) { return v.k == JV_INT ? v.i : v.k == JV_BOOL ? v.b : 0; }
static bool is_num(jv v) { return is_int(v) || v.k == JV_FLOAT; }
static double fval(jv v) { return v.k == JV_FLOAT ? v.f : (double)ival(v); }

static const char *const OPNAME[] = {"+", "-", "*", "/", "//", "%", "**", "~"};

static bool bad_operands(jrender *r, jop op, jv a, jv b) {
    if (a.k == JV_BIG || b.k == JV_BIG) {
        jv x = a.k == JV_BIG ? a : b;
        return jr_fail(r, "integer %.*s is beyond the 64-bit range: this interpreter prints and compares such "
                       "literals but cannot do arithmetic (%s) on them", (int)x.s.n, x.s.p, OPNAME[op]);
    }
    if (a.k == JV_UNDEF || b.k == JV_UNDEF) {
        jv u = a.k == JV_UNDEF ? a : b;
        if (u.s.n) return jr_fail(r, "'%.*s' is undefined", (int)u.s.n, u.s.p);
        return jr_fail(r, "undefined value used in arithmetic");
    }
    return jr_fail(r, "unsupported operand type(s) for %s: '%s' and '%s'", OPNAME[op], jv_type_name(a), jv_type_name(b));
}

static bool repeat(jrender *r, jv seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    size_t unit = seq.k == JV_STR ? seq.s.n : seq.l->n;
    if (unit && (uint64_t)times > r->lim->max_output / unit)
        return jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output);
    if (seq.k == JV_STR) {
        jbuf b = jr_buf(r);
        for (int64_t i = 0; i < times; i++) jb_put(&b, seq.s.p, seq.s.n);
        return jv_from_buf(r, &b, out);
    }
    jlist *l = jl_new(r, unit * (size_t)times);
    if (!l) return false;
    l->tuple = seq.l->tuple;
    for (int64_t i = 0; i < times; i++) memcpy(l->v + i * unit, seq.l->v, unit * sizeof *l->v);
    *out = jv_list(l);
    return true;
}

static bool int_result(jrender *r, bool overflow, int64_t v, jv *out) {
    if (overflow) return jr_fail(r, "integer overflow");
    *out = jv_int(v);
    return true;
}

static bool arith_num(jrender *r, jop op, jv a, jv b, jv *out) {
    int64_t x = ival(a), y = ival(b), z = 0;
    bool ints = is_int(a) && is_int(b);
    double fx = fval(a), fy = fval(b);
    switch (op) {
    case JO_ADD:
    case JO_SUB:
    case JO_MUL:
        if (ints) {
            bool of = op == JO_ADD ? __builtin_add_overflow(x, y, &z)
                    : op == JO_SUB ? __builtin_sub_overflow(x, y, &z) : __builtin_mul_overflow(x, y, &z);
            return int_result(r, of, z, out);
        }
        *out = jv_float(op == JO_ADD ? fx + fy : op == JO_SUB ? fx - fy : fx * fy);
        return true;
    case JO_DIV:
        if (fy == 0) return jr_fail(r, "division by zero");
        *out = jv_float(fx / fy); return true;
    case JO_FLOORDIV:
    case JO_MOD:
        if (fy == 0) return jr_fail(r, ints && op == JO_MOD ? "integer modulo by zero" : "division by zero");
        if (ints) {
            if (x == INT64_MIN && y == -1) return jr_fail(r, "integer overflow");
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) q--, m += y;
            *out = jv_int(op == JO_FLOORDIV ? q : m);
            return true;
        } else {
            double m = fmod(fx, fy);
            if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
            *out = jv_float(op == JO_FLOORDIV ? floor(fx / fy) : m);
            return true;
        }
    case JO_POW:
        if (ints && y >= 0) {
            int64_t acc = 1;
            for (int64_t i = 0; i < y; i++) {
                if (__builtin_mul_overflow(acc, x, &acc)) return jr_fail(r, "integer overflow");
                if (acc == 0 || acc == 1) break;
            }
            *out = jv_int(acc);
            return true;
        }
        *out = jv_float(pow(fx, fy));
        return true;
    default:
        return bad_operands(r, op, a, b);
    }
}

static bool binop(jrender *r, jop op, jv a, jv b, jv *out) {
    if (op == JO_CONCAT) {
        jbuf buf = jr_buf(r);
        if (!jv_write_str(r, &buf, a) || !jv_write_str(r, &buf, b)) { jb_free(&buf); return false; }
        return jv_from_buf(r, &buf, out);
    }
    if (is_num(a) && is_num(b)) return arith_num(r, op, a, b, out);
    if (op == JO_ADD && a.k == JV_STR && b.k == JV_STR) {
        jbuf buf = jr_buf(r);
        jb_put(&buf, a.s.p, a.s.n);
        jb_put(&buf, b.s.p, b.s.n);
        return jv_from_buf(r, &buf, out);
    }
    if (op == JO_ADD && a.k == JV_LIST && b.k == JV_LIST && a.l->tuple == b.l->tuple) {
        jlist *l = jl_new(r, a.l->n + b.l->n);
        if (!l) return false;
        l->tuple = a.l->tuple;
        if (a.l->n) memcpy(l->v, a.l->v, a.l->n * sizeof *l->v);
        if (b.l->n) memcpy(l->v + a.l->n, b.l->v, b.l->n * sizeof *l->v);
        *out = jv_list(l);
        return true;
    }
    if (op == JO_MUL && (a.k == JV_STR || a.k == JV_LIST) && is_int(b)) return repeat(r, a, ival(b), out);
    if (op == JO_MUL && (b.k == JV_STR || b.k == JV_LIST) && is_int(a)) return repeat(r, b, ival(a), out);
    if (op == JO_MOD && a.k == JV_STR) {
        if (b.k == JV_LIST && b.l->tuple) return jformat_percent(r, a, b.l->v, b.l->n, out);
        return jformat_percent(r, a, &b, 1, out);
    }
    return bad_operands(r, op, a, b);
}

static bool contains(jrender *r, jv item, jv container, bool *out) {
    switch (container.k) {
    case JV_STR:
        if (item.k != JV_STR) return jr_fail(r, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        *out = item.s.n == 0 || memmem(container.s.p, container.s.n, item.s.p, item.s.n) != NULL;
        return true;
    case JV_LIST:
        *out = false;
        for (size_t i = 0; i < container.l->n && !*out; i++) *out = jv_equal(container.l->v[i], item);
        return true;
    case JV_DICT:
    case JV_NS: *out = jd_get(container.d, item) != NULL; return true;
    case JV_UNDEF: *out = false; return true;
    default:
        return jr_fail(r, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static bool compare(jrender *r, jop op, jv a, jv b, bool *out) {
    int c;
    switch (op) {
    case JO_EQ: *out = jv_equal(a, b); return true;
    case JO_NE: *out = !jv_equal(a, b); return true;
    case JO_IN: return contains(r, a, b, out);
    case JO_NOTIN: if (!contains(r, a, b, out)) return false; *out = !*out; return true;
    default: break;
    }
    if (!jv_compare(r, a, b, &c)) return false;
    *out = op == JO_LT ? c < 0 : op == JO_LE ? c <= 0 : op == JO_GT ? c > 0 : c >= 0;
    return true;
}

/* Evaluate a node list of expressions into an arena array. */
static jv *eval_all(jrender *r, jscope *s, jnode *const *nodes, size_t n) {
    jv *v = jr_alloc(r, (n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!jeval(r, s, nodes[i], &v[i])) return NULL;
    return v;
}

bool jeval_args(jrender *r, jscope *s, const jnode *n, jargs *a) {
    a->npos = n->nkids, a->nkw = n->nkw;
    a->kwn = n->kwnames, a->kwnl = n->kwname_n;
    return (a->pos = eval_all(r, s, n->kids, n->nkids)) && (a->kwv = eval_all(r, s, n->kw, n->nkw));
}

static bool eval_call(jrender *r, jscope *s, const jnode *n, jv *out) {
    jargs a;
    jv fn;
    if (n->a->kind == JN_ATTR) {
        jv obj;
        if (!jeval(r, s, n->a->a, &obj) || !jeval_args(r, s, n, &a)) return false;
        if (obj.k == JV_STR || obj.k == JV_LIST || obj.k == JV_DICT) {
            bool found = false;
            if (!jmethod(r, obj, n->a->name, n->a->name_n, &a, out, &found)) return false;
            if (found) return true;
        }
        if (!jgetattr(r, obj, n->a->name, n->a->name_n, &fn)) return false;
    } else if (!jeval(r, s, n->a, &fn) || !jeval_args(r, s, n, &a)) {
        return false;
    }
    return jcall_value(r, fn, a.pos, a.npos, a.kwn, a.kwnl, a.kwv, a.nkw, n->line, out);
}

static bool eval_filter_or_test(jrender *r, jscope *s, const jnode *n, jv *out) {
    jv v;
    jargs a;
    if (!jeval(r, s, n->a, &v) || !jeval_args(r, s, n, &a)) return false;
    if (n->kind == JN_FILTER) return jr_step(r) && jfilter(r, n->name, n->name_n, v, &a, out);
    bool t;
    if (!jtest(r, n->name, n->name_n, v, &a, &t)) return false;
    *out = jv_bool(n->op ? !t : t);
    return true;
}

static bool eval_collection(jrender *r, jscope *s, const jnode *n, jv *out) {
    if (n->kind == JN_DICT) {
        jdict *d = jd_new(r, n->nkids);
        if (!d) return false;
        for (size_t i = 0; i < n->nkids; i++) {
            jv k, v;
            if (!jeval(r, s, n->kids[i], &k) || !jeval(r, s, n->kw[i], &v) || !jd_set(r, d, k, v)) return false;
        }
        *out = jv_dict(d);
        return true;
    }
    jlist *l = jl_new(r, n->nkids);
    if (!l) return false;
    l->tuple = n->kind == JN_TUPLE;
    for (size_t i = 0; i < n->nkids; i++)
        if (!jeval(r, s, n->kids[i], &l->v[i])) return false;
    *out = jv_list(l);
    return true;
}

static bool eval_cmp(jrender *r, jscope *s, const jnode *n, jv *out) {
    jv left, right;
    if (!jeval(r, s, n->a, &left)) return false;
    for (size_t i = 0; i < n->nkids; i++) {
        bool ok;
        if (!jeval(r, s, n->kids[i], &right) || !compare(r, (jop)n->ops[i], left, right, &ok)) return false;
        if (!ok) { *out = jv_bool(false); return true; }
        left = right;
    }
    *out = jv_bool(true);
    return true;
}

/* -big: flip the sign of the digits; -9223372036854775808 is an int. */
static bool negate_big(jrender *r, jv a, jv *out) {
    bool neg = a.s.p[0] == '-';
    if (!neg && jname_is(a.s.p, a.s.n, "9223372036854775808")) { *out = jv_int(INT64_MIN); return true; }
    char *p = jr_alloc(r, a.s.n + 2);
    if (!p) return false;
    size_t n = neg ? a.s.n - 1 : a.s.n + 1;
    if (neg) memcpy(p, a.s.p + 1, n);
    else p[0] = '-', memcpy(p + 1, a.s.p, a.s.n);
    p[n] = 0;
    *out = (jv){.k = JV_BIG};
    out->s.p = p, out->s.n = n;
    return true;
}

static bool eval_node(jrender *r, jscope *s, const jnode *n, jv *out);

bool jeval(jrender *r, jscope *s, const jnode *n, jv *out) {
    if (r->nest >= JR_MAX_NEST) return jr_fail(r, "template nested too deeply (more than %d levels)", JR_MAX_NEST);
    r->nest++;
    bool ok = eval_node(r, s, n, out);
    r->nest--;
    return ok;
}

static bool eval_node(jrender *r, jscope *s, const jnode *n, jv *out) {
    jv a, b;
    switch (n->kind) {
    case JN_LIT: *out = n->lit; return true;
    case JN_NAME: {
        jv *v = jscope_get(s, n->name, n->name_n);
        if (v) *out = *v;
        else if (!jglobal(n->name, n->name_n, out)) *out = jv_undef_named(n->name, n->name_n);
        return true;
    }
    case JN_ATTR: return jeval(r, s, n->a, &a) && jgetattr(r, a, n->name, n->name_n, out);
    case JN_ITEM: return jeval(r, s, n->a, &a) && jeval(r, s, n->b, &b) && jgetitem(r, a, b, out);
    case JN_SLICE: return eval_slice(r, s, n, out);
    case JN_CALL: return eval_call(r, s, n, out);
    case JN_FILTER: case JN_TEST: return eval_filter_or_test(r, s, n, out);
    case JN_BINOP: return jeval(r, s, n->a, &a) && jeval(r, s, n->b, &b) && binop(r, (jop)n->op, a, b, out);
    case JN_NEG: case JN_POS:
        if (!jeval(r, s, n->a, &a)) return false;
        if (a.k == JV_BIG) return n->kind == JN_POS ? (*out = a, true) : negate_big(r, a, out);
        if (!is_num(a)) return jr_fail(r, "bad operand type for unary %s: '%s'", n->kind == JN_NEG ? "-" : "+", jv_type_name(a));
        if (n->kind == JN_POS) *out = a.k == JV_BOOL ? jv_int(a.b) : a;
        else if (a.k == JV_FLOAT) *out = jv_float(-a.f);
        else if (ival(a) == INT64_MIN) return jr_fail(r, "integer overflow");
        else *out = jv_int(-ival(a));
        return true;
    case JN_NOT: if (!jeval(r, s, n->a, &a)) return false; *out = jv_bool(!jv_truthy(a)); return true;
    case JN_AND: case JN_OR:
        if (!jeval(r, s, n->a, &a)) return false;
        if (jv_truthy(a) == (n->kind == JN_OR)) { *out = a; return true; }
        return jeval(r, s, n->b, out);
    case JN_CMP: return eval_cmp(r, s, n, out);
    case JN_COND:
        if (!jeval(r, s, n->a, &a)) return false;
        if (jv_truthy(a)) return jeval(r, s, n->b, out);
        if (n->c) return jeval(r, s, n->c, out);
        *out = jv_undef();
        return true;
    case JN_LIST: case JN_TUPLE: case JN_DICT: return eval_collection(r, s, n, out);
    default: return jr_fail(r, "internal error: statement used as an expression");
    }
}
