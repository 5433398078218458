/*
 * jinja_value.c — the arena, byte buffers and the value model.
 *
 * Owns how values behave as Python objects do in Jinja2: truthiness,
 * equality (1 == 1.0 == True), ordering, str() and repr() (None, True,
 * ['a', 'b'], {'k': 1}, floats printed as Python's shortest repr), the
 * JSON conversions in both directions (tojson writes json.dumps spacing
 * with ensure_ascii=False, keys in insertion order), and iteration.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

enum { CHUNK = 64 * 1024, MAX_NEST_VALUE = 200 };

struct jarena_chunk {
    jarena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->limit && (n > a->limit || a->used > a->limit - n)) return NULL;
    jarena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK / 4 ? n : CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0, c->cap = cap;
        /* a big one-off block goes behind the current chunk so the
         * current chunk keeps serving small allocations */
        if (cap != CHUNK && a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    a->used += n;
    return p;
}

char *ja_strdup(jarena *a, const char *s, size_t n) {
    char *p = ja_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void ja_free(jarena *a) {
    for (jarena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

/* ---- jbuf ------------------------------------------------------------- */

bool jb_put(jbuf *b, const char *s, size_t n) {
    if (b->over) return false;
    if (b->limit && (n > b->limit || b->n > b->limit - n)) return !(b->over = true);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return !(b->over = true);
        b->p = p, b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

bool jb_puts(jbuf *b, const char *s) { return jb_put(b, s, strlen(s)); }
bool jb_putc(jbuf *b, char c) { return jb_put(b, &c, 1); }

bool jb_printf(jbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    return jb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void jb_free(jbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- render helpers --------------------------------------------------- */

bool jr_fail(jrender *r, const char *fmt, ...) {
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, CT_ERRLEN, fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return false;
}

bool jr_step(jrender *r) {
    if (++r->steps > r->lim->max_steps)
        return jr_fail(r, "template exceeded max_steps (%llu loop iterations and calls)",
                       (unsigned long long)r->lim->max_steps);
    return true;
}

void *jr_alloc(jrender *r, size_t n) {
    void *p = ja_alloc(&r->arena, n);
    if (!p) jr_fail(r, "template exceeded max_memory (%zu bytes of values)", r->arena.limit);
    return p;
}

jbuf jr_buf(jrender *r) {
    jbuf b = {.limit = r->lim->max_output};
    return b;
}

bool jv_from_buf(jrender *r, jbuf *b, jv *out) {
    if (b->over) {
        jb_free(b);
        return jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output);
    }
    char *p = jr_alloc(r, b->n + 1);
    if (p) {
        if (b->n) memcpy(p, b->p, b->n);
        p[b->n] = 0;
        *out = jv_str(p, b->n);
    }
    jb_free(b);
    return p != NULL;
}

/* ---- containers ------------------------------------------------------- */

jlist *jl_new(jrender *r, size_t n) {
    jlist *l = jr_alloc(r, sizeof *l);
    if (!l) return NULL;
    l->n = n;
    l->tuple = l->group = false;
    l->v = NULL;
    if (n && !(l->v = jr_alloc(r, n * sizeof *l->v))) return NULL;
    return l;
}

jdict *jd_new(jrender *r, size_t cap) {
    jdict *d = jr_alloc(r, sizeof *d);
    if (!d) return NULL;
    d->n = 0;
    d->cap = cap ? cap : 4;
    d->keys = jr_alloc(r, d->cap * sizeof *d->keys);
    d->vals = jr_alloc(r, d->cap * sizeof *d->vals);
    return d->keys && d->vals ? d : NULL;
}

jv *jd_get(const jdict *d, jv key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

jv *jd_get_str(const jdict *d, const char *k, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].k == JV_STR && d->keys[i].s.n == n && memcmp(d->keys[i].s.p, k, n) == 0)
            return &d->vals[i];
    return NULL;
}

bool jd_set(jrender *r, jdict *d, jv key, jv val) {
    jv *slot = jd_get(d, key);
    if (slot) { *slot = val; return true; }
    if (d->n == d->cap) {
        size_t cap = d->cap * 2;
        jv *k = jr_alloc(r, cap * sizeof *k), *v = jr_alloc(r, cap * sizeof *v);
        if (!k || !v) return false;
        memcpy(k, d->keys, d->n * sizeof *k);
        memcpy(v, d->vals, d->n * sizeof *v);
        d->keys = k, d->vals = v, d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n++] = val;
    return true;
}

jv jv_list(jlist *l) { jv v = {.k = JV_LIST}; v.l = l; return v; }
jv jv_dict(jdict *d) { jv v = {.k = JV_DICT}; v.d = d; return v; }

/* ---- Python semantics ------------------------------------------------- */

bool jv_truthy(jv v) {
    switch (v.k) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s.n > 0;
    case JV_LIST: return v.l->n > 0;
    case JV_DICT: case JV_NS: return v.d->n > 0 || v.k == JV_NS;
    default: return true;
    }
}

const char *jv_type_name(jv v) {
    static const char *const names[] = {"Undefined", "NoneType", "bool", "int", "float", "str",
                                        "list", "dict", "Namespace", "Macro", "function", "LoopContext", "int"};
    if (v.k == JV_LIST && v.l->tuple) return "tuple";
    return names[v.k];
}

static bool is_num(jv v) { return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL; }
static double num(jv v) {
    if (v.k == JV_BIG) return strtod(v.s.p, NULL); /* big digits are NUL-terminated */
    return v.k == JV_FLOAT ? v.f : v.k == JV_INT ? (double)v.i : (double)v.b;
}

/* Order a JV_BIG against a number: exactly against ints and bigs (a big
 * lies outside int64 and is stored without leading zeros), through the
 * nearest double against floats. */
static int big_cmp(jv a, jv b) {
    if (a.k == JV_FLOAT || b.k == JV_FLOAT) {
        double x = num(a), y = num(b);
        return (x > y) - (x < y);
    }
    if (a.k != JV_BIG) return -big_cmp(b, a);
    bool na = a.s.p[0] == '-';
    if (b.k != JV_BIG) return na ? -1 : 1;
    bool nb = b.s.p[0] == '-';
    if (na != nb) return na ? -1 : 1;
    int c = a.s.n != b.s.n ? (a.s.n > b.s.n ? 1 : -1) : memcmp(a.s.p, b.s.p, a.s.n);
    c = (c > 0) - (c < 0);
    return na ? -c : c;
}
static bool big_pair(jv a, jv b) {
    return (a.k == JV_BIG || b.k == JV_BIG) && (is_num(a) || a.k == JV_BIG) && (is_num(b) || b.k == JV_BIG);
}

/* Values built at run time can nest without bound (ns.l = [ns.l] in a
 * loop); past MAX_NEST_VALUE levels they compare unequal instead of
 * overflowing the stack. */
static bool equal_at(jv a, jv b, int depth);

bool jv_equal(jv a, jv b) { return equal_at(a, b, 0); }

static bool equal_at(jv a, jv b, int depth) {
    if (depth > MAX_NEST_VALUE) return false;
    if (big_pair(a, b)) return big_cmp(a, b) == 0;
    if (is_num(a) && is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) return (a.k == JV_INT ? a.i : a.b) == (b.k == JV_INT ? b.i : b.b);
        return num(a) == num(b);
    }
    if (a.k != b.k) return false;
    switch (a.k) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a.s.n == b.s.n && memcmp(a.s.p, b.s.p, a.s.n) == 0;
    case JV_LIST:
        if (a.l->n != b.l->n || a.l->tuple != b.l->tuple) return false;
        for (size_t i = 0; i < a.l->n; i++)
            if (!equal_at(a.l->v[i], b.l->v[i], depth + 1)) return false;
        return true;
    case JV_DICT:
        if (a.d->n != b.d->n) return false;
        for (size_t i = 0; i < a.d->n; i++) {
            jv *o = jd_get(b.d, a.d->keys[i]);
            if (!o || !equal_at(a.d->vals[i], *o, depth + 1)) return false;
        }
        return true;
    case JV_NS: return a.d == b.d;
    case JV_MACRO: return a.m == b.m;
    case JV_FUNC: return a.fn == b.fn && a.self == b.self;
    case JV_LOOP: return a.loop == b.loop;
    default: return false;
    }
}

static bool compare_at(jrender *r, jv a, jv b, int *cmp, int depth);

bool jv_compare(jrender *r, jv a, jv b, int *cmp) { return compare_at(r, a, b, cmp, 0); }

static bool compare_at(jrender *r, jv a, jv b, int *cmp, int depth) {
    if (depth > MAX_NEST_VALUE) return jr_fail(r, "values nested too deeply to compare");
    if (big_pair(a, b)) { *cmp = big_cmp(a, b); return true; }
    if (is_num(a) && is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
            int64_t x = a.k == JV_INT ? a.i : a.b, y = b.k == JV_INT ? b.i : b.b;
            *cmp = (x > y) - (x < y);
        } else {
            double x = num(a), y = num(b);
            *cmp = (x > y) - (x < y);
        }
        return true;
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        size_t m = a.s.n < b.s.n ? a.s.n : b.s.n;
        int c = m ? memcmp(a.s.p, b.s.p, m) : 0;
        *cmp = c ? (c > 0) - (c < 0) : (a.s.n > b.s.n) - (a.s.n < b.s.n);
        return true;
    }
    if (a.k == JV_LIST && b.k == JV_LIST) {
        for (size_t i = 0; i < a.l->n && i < b.l->n; i++) {
            if (jv_equal(a.l->v[i], b.l->v[i])) continue;
            return compare_at(r, a.l->v[i], b.l->v[i], cmp, depth + 1);
        }
        *cmp = (a.l->n > b.l->n) - (a.l->n < b.l->n);
        return true;
    }
    return jr_fail(r, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
                   jv_type_name(b));
}

size_t ju_len(const char *p, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* ---- printing --------------------------------------------------------- */

/* Python's repr(float): the shortest string that reads back exactly,
 * in exponent form outside [1e-4, 1e16). */
void jv_float_repr(double f, char *buf, size_t n) {
    if (isnan(f)) { snprintf(buf, n, "nan"); return; }
    if (isinf(f)) { snprintf(buf, n, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp is d.ddde±XX with prec significant digits */
    char digits[24];
    int nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char *o = buf;
    size_t left = n;
    int w = snprintf(o, left, "%s", neg ? "-" : "");
    o += w, left -= (size_t)w;
    if (exp < -4 || exp >= 16) {
        if (nd == 1) snprintf(o, left, "%ce%c%02d", digits[0], exp < 0 ? '-' : '+', abs(exp));
        else snprintf(o, left, "%c.%se%c%02d", digits[0], digits + 1, exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        snprintf(o, left, "0.%0*d%s", -exp - 1, 0, digits);
        if (exp == -1) snprintf(o, left, "0.%s", digits);
    } else if (nd <= exp + 1) {
        snprintf(o, left, "%s%0*d.0", digits, exp + 1 - nd, 0);
        if (nd == exp + 1) snprintf(o, left, "%s.0", digits);
    } else {
        snprintf(o, left, "%.*s.%s", exp + 1, digits, digits + exp + 1);
    }
}

static bool write_str_repr(jbuf *b, const char *p, size_t n) {
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jb_putc(b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == (unsigned char)q || c == '\\') { jb_putc(b, '\\'); jb_putc(b, (char)c); }
        else if (c == '\n') jb_puts(b, "\\n");
        else if (c == '\r') jb_puts(b, "\\r");
        else if (c == '\t') jb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) jb_printf(b, "\\x%02x", c);
        else jb_putc(b, (char)c);
    }
    return jb_putc(b, q);
}

static bool write_scalar(jbuf *b, jv v) {
    char tmp[64];
    switch (v.k) {
    case JV_UNDEF: return true;
    case JV_NONE: return jb_puts(b, "None");
    case JV_BOOL: return jb_puts(b, v.b ? "True" : "False");
    case JV_INT: return jb_printf(b, "%lld", (long long)v.i);
    case JV_BIG: return jb_put(b, v.s.p, v.s.n);
    case JV_FLOAT: jv_float_repr(v.f, tmp, sizeof tmp); return jb_puts(b, tmp);
    case JV_MACRO: return jb_printf(b, "<Macro '%.*s'>", (int)v.m->def->name_n, v.m->def->name);
    case JV_FUNC: return jb_puts(b, "<built-in function>");
    case JV_LOOP: return jb_printf(b, "<LoopContext %zu/%zu>", v.loop->i + 1, v.loop->items->n);
    default: return false;
    }
}

bool jv_write_repr(jrender *r, jbuf *b, jv v, int depth) {
    if (depth > MAX_NEST_VALUE) return jr_fail(r, "value nested too deeply to print");
    switch (v.k) {
    case JV_STR: return write_str_repr(b, v.s.p, v.s.n);
    case JV_UNDEF: return jb_puts(b, "Undefined");
    case JV_LIST: {
        jb_putc(b, v.l->tuple ? '(' : '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jb_puts(b, ", ");
            if (!jv_write_repr(r, b, v.l->v[i], depth + 1)) return false;
        }
        if (v.l->tuple && v.l->n == 1) jb_putc(b, ',');
        return jb_putc(b, v.l->tuple ? ')' : ']');
    }
    case JV_DICT:
    case JV_NS: {
        if (v.k == JV_NS) jb_puts(b, "<Namespace ");
        jb_putc(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) jb_puts(b, ", ");
            if (!jv_write_repr(r, b, v.d->keys[i], depth + 1)) return false;
            jb_puts(b, ": ");
            if (!jv_write_repr(r, b, v.d->vals[i], depth + 1)) return false;
        }
        jb_putc(b, '}');
        return v.k == JV_NS ? jb_putc(b, '>') : !b->over;
    }
    default:
        write_scalar(b, v);
        return true;
    }
}

bool jv_write_str(jrender *r, jbuf *b, jv v) {
    if (v.k == JV_STR) {
        jb_put(b, v.s.p, v.s.n); /* an overflow is reported by whoever owns b */
        return true;
    }
    if (v.k == JV_LIST || v.k == JV_DICT || v.k == JV_NS) return jv_write_repr(r, b, v, 0);
    write_scalar(b, v);
    return true;
}

bool jv_to_str(jrender *r, jv v, jv *out) {
    if (v.k == JV_STR) { *out = v; return true; }
    if (v.k == JV_UNDEF) { *out = jv_str("", 0); return true; }
    jbuf b = jr_buf(r);
    if (!jv_write_str(r, &b, v)) { jb_free(&b); return false; }
    return jv_from_buf(r, &b, out);
}

/* ---- JSON ------------------------------------------------------------- */

/* ensure_ascii: one non-ASCII UTF-8 sequence at p[*i] as \uXXXX (a
 * surrogate pair above the BMP); a malformed byte is kept as it is. */
static void json_ascii_escape(jbuf *b, const char *p, size_t n, size_t *i) {
    unsigned char c = (unsigned char)p[*i];
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
    bool ok = len > 1 && *i + (size_t)len <= n;
    for (int k = 1; ok && k < len; k++) {
        ok = ((unsigned char)p[*i + k] & 0xC0) == 0x80;
        cp = cp << 6 | ((unsigned char)p[*i + k] & 0x3F);
    }
    if (!ok) { jb_putc(b, (char)c); return; }
    if (cp >= 0x10000) jb_printf(b, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
    else jb_printf(b, "\\u%04x", cp);
    *i += (size_t)len - 1;
}

static void write_json_string(jbuf *b, const char *p, size_t n, bool ascii) {
    jb_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x7f || !ascii)) continue;
        jb_put(b, p + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': jb_puts(b, "\\\""); break;
        case '\\': jb_puts(b, "\\\\"); break;
        case '\n': jb_puts(b, "\\n"); break;
        case '\r': jb_puts(b, "\\r"); break;
        case '\t': jb_puts(b, "\\t"); break;
        case '\b': jb_puts(b, "\\b"); break;
        case '\f': jb_puts(b, "\\f"); break;
        default:
            if (c >= 0x80) json_ascii_escape(b, p, n, &i);
            else jb_printf(b, "\\u%04x", c);
            run = i + 1;
            break;
        }
    }
    jb_put(b, p + run, n - run);
    jb_putc(b, '"');
}

static void json_newline(jbuf *b, int indent, int level) {
    jb_putc(b, '\n');
    for (int i = 0; i < indent * level; i++) jb_putc(b, ' ');
}

static bool json_key(jrender *r, jbuf *b, jv k, bool ascii) {
    if (k.k == JV_STR) { write_json_string(b, k.s.p, k.s.n, ascii); return true; }
    jbuf t = jr_buf(r);
    if (k.k == JV_BOOL) jb_puts(&t, k.b ? "true" : "false");
    else if (k.k == JV_NONE) jb_puts(&t, "null");
    else if (k.k == JV_INT || k.k == JV_FLOAT || k.k == JV_BIG) write_scalar(&t, k);
    else { jb_free(&t); return jr_fail(r, "tojson: keys must be str, int, float, bool or None, not %s", jv_type_name(k)); }
    write_json_string(b, t.p, t.n, false);
    jb_free(&t);
    return true;
}

/* Key order for sort_keys (insertion order otherwise). */
static size_t *json_order(jrender *r, const jdict *d, bool sort) {
    size_t *ord = jr_alloc(r, (d->n + 1) * sizeof *ord);
    if (!ord) return NULL;
    for (size_t i = 0; i < d->n; i++) ord[i] = i;
    for (size_t i = 1; sort && i < d->n; i++) { /* insertion sort: stable, small dicts */
        size_t x = ord[i], j = i;
        int c;
        while (j > 0 && jv_compare(r, d->keys[ord[j - 1]], d->keys[x], &c) && c > 0) ord[j] = ord[j - 1], j--;
        ord[j] = x;
    }
    return r->failed ? NULL : ord;
}

bool jv_tojson(jrender *r, jbuf *b, jv v, const jjson_opts *o, int level) {
    if (level > MAX_NEST_VALUE) return jr_fail(r, "tojson: value nested too deeply");
    char tmp[64];
    switch (v.k) {
    case JV_NONE: jb_puts(b, "null"); break;
    case JV_BOOL: jb_puts(b, v.b ? "true" : "false"); break;
    case JV_INT: jb_printf(b, "%lld", (long long)v.i); break;
    case JV_BIG: jb_put(b, v.s.p, v.s.n); break;
    case JV_FLOAT:
        if (isnan(v.f)) jb_puts(b, "NaN");
        else if (isinf(v.f)) jb_puts(b, v.f < 0 ? "-Infinity" : "Infinity");
        else { jv_float_repr(v.f, tmp, sizeof tmp); jb_puts(b, tmp); }
        break;
    case JV_STR: write_json_string(b, v.s.p, v.s.n, o->ascii); break;
    case JV_LIST:
        if (!v.l->n) { jb_puts(b, "[]"); break; }
        jb_putc(b, '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jb_put(b, o->item_sep.s.p, o->item_sep.s.n);
            if (o->indent >= 0) json_newline(b, o->indent, level + 1);
            if (!jv_tojson(r, b, v.l->v[i], o, level + 1)) return false;
        }
        if (o->indent >= 0) json_newline(b, o->indent, level);
        jb_putc(b, ']');
        break;
    case JV_DICT:
    case JV_NS: {
        if (!v.d->n) { jb_puts(b, "{}"); break; }
        size_t *ord = json_order(r, v.d, o->sort_keys);
        if (!ord) return false;
        jb_putc(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) jb_put(b, o->item_sep.s.p, o->item_sep.s.n);
            if (o->indent >= 0) json_newline(b, o->indent, level + 1);
            if (!json_key(r, b, v.d->keys[ord[i]], o->ascii)) return false;
            jb_put(b, o->key_sep.s.p, o->key_sep.s.n);
            if (!jv_tojson(r, b, v.d->vals[ord[i]], o, level + 1)) return false;
        }
        if (o->indent >= 0) json_newline(b, o->indent, level);
        jb_putc(b, '}');
        break;
    }
    default:
        return jr_fail(r, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
    return true;
}

bool jv_from_json(jrender *r, const json_t *j, jv *out, int depth) {
    if (depth > MAX_NEST_VALUE) return jr_fail(r, "context nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL: *out = jv_none(); return true;
    case JSON_TRUE: *out = jv_bool(true); return true;
    case JSON_FALSE: *out = jv_bool(false); return true;
    case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return true;
    case JSON_REAL: *out = jv_float(json_real_value(j)); return true;
    case JSON_STRING: *out = jv_str(json_string_value(j), json_string_length(j)); return true;
    case JSON_ARRAY: {
        jlist *l = jl_new(r, json_array_size(j));
        if (!l) return false;
        for (size_t i = 0; i < l->n; i++)
            if (!jv_from_json(r, json_array_get(j, i), &l->v[i], depth + 1)) return false;
        *out = jv_list(l);
        return true;
    }
    case JSON_OBJECT: {
        jdict *d = jd_new(r, json_object_size(j));
        if (!d) return false;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)j, k, x) {
            jv v;
            if (!jv_from_json(r, x, &v, depth + 1)) return false;
            /* keys are unique in a JSON object: append without a lookup */
            d->keys[d->n] = jv_str(k, strlen(k));
            d->vals[d->n++] = v;
        }
        *out = jv_dict(d);
        return true;
    }
    }
    return jr_fail(r, "unsupported JSON value in context");
}

bool jv_iterable(jrender *r, jv v, jlist **out) {
    switch (v.k) {
    case JV_LIST: *out = v.l; return true;
    case JV_UNDEF: return (*out = jl_new(r, 0)) != NULL;
    case JV_DICT:
    case JV_NS: {
        jlist *l = jl_new(r, v.d->n);
        if (!l) return false;
        memcpy(l->v, v.d->keys, v.d->n * sizeof *l->v);
        *out = l;
        return true;
    }
    case JV_STR: {
        jlist *l = jl_new(r, ju_len(v.s.p, v.s.n));
        if (!l) return false;
        size_t k = 0;
        for (size_t i = 0; i < v.s.n;) {
            size_t j = i + 1;
            while (j < v.s.n && ((unsigned char)v.s.p[j] & 0xC0) == 0x80) j++;
            l->v[k++] = jv_str(v.s.p + i, j - i);
            i = j;
        }
        *out = l;
        return true;
    }
    default:
        return jr_fail(r, "'%s' object is not iterable", jv_type_name(v));
    }
}
