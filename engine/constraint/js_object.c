/*
 * js_object.c — objects and arrays.
 *
 * Objects: the declared properties in declaration order, then the names
 * `required` lists without declaring them (their value: the
 * additionalProperties schema), then — when additionalProperties allows
 * them and either opts->allow_additional is set or the schema declares no
 * properties at all ({"type": "object"} is any object) — extra members
 * whose keys are raw strings (no escapes) of at most JS_EXTRA_KEY_MAX code
 * points that differ from every declared name (a complement of the names'
 * trie), so an extra can never duplicate a declared property.
 * Required members are always there, optional ones may be left out; a
 * property whose schema matches nothing (false, a recursion cut at
 * max_depth) is left out when optional and makes the object impossible
 * when required.  With at least one required member the list is linear
 * in size: (?:A,)?(?:B,)?R(?:,C)?...; with none every member may be the
 * first one, which costs n(n+1)/2 member copies.
 *
 * Arrays: prefixItems (the first ones required up to minItems, the rest
 * each optional after the previous), then the `items` elements with the
 * count minItems/maxItems leaves (repeats above CONS_MAX_REPEAT are capped
 * at 1000: fewer allowed is still sound; a minimum above it is an error).
 * Without `items`, elements past prefixItems are generated only as far as
 * minItems needs them, or freely with opts->allow_additional.
 */
#include "js_internal.h"

#include <stdlib.h>
#include <string.h>

#define JS_EXTRA_KEY_MAX 64
#define JS_REPEAT_MAX 1000
#define UNBOUNDED SIZE_MAX

/* ---- quantifiers --------------------------------------------------------- */

static void put_quant(js_ctx *c, size_t lo, size_t hi) {
    if (hi != UNBOUNDED && hi > JS_REPEAT_MAX) hi = JS_REPEAT_MAX;
    if (lo == 0 && hi == UNBOUNDED) js_putc(c, '*');
    else if (lo == 1 && hi == UNBOUNDED) js_putc(c, '+');
    else if (lo == 0 && hi == 1) js_putc(c, '?');
    else if (lo == hi) {
        if (lo != 1) js_printf(c, "{%zu}", lo);
    } else if (hi == UNBOUNDED) js_printf(c, "{%zu,}", lo);
    else js_printf(c, "{%zu,%zu}", lo, hi);
}

/* ---- the complement of a set of names -------------------------------------- */

typedef struct {
    uint32_t cp;
    int child, sibling;
    bool term;
} tnode;

typedef struct {
    tnode *v;
    int n, cap;
} trie;

static int trie_child(trie *t, int node, uint32_t cp, bool add) {
    int k;
    for (k = t->v[node].child; k >= 0; k = t->v[k].sibling)
        if (t->v[k].cp == cp) return k;
    if (!add) return -1;
    if (t->n == t->cap) {
        int cap = t->cap * 2;
        tnode *v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = (tnode){cp, -1, t->v[node].child, false};
    t->v[node].child = t->n;
    return t->n++;
}


/* Add a name that an extra key could spell: raw characters only, short. */
static bool trie_add(trie *t, const char *name, size_t len) {
    const unsigned char *p = (const unsigned char *)name, *end = p + len;
    for (const unsigned char *q = p; q < end; q++)
        if (*q < 0x20 || *q == '"' || *q == '\\') return true; /* never spelled raw */
    int node = 0, depth = 0;
    while (p < end) {
        if (++depth > JS_EXTRA_KEY_MAX) return true; /* longer than any extra key */
        node = trie_child(t, node, js_utf8_next(&p), true);
        if (node < 0) return false;
    }
    t->v[node].term = true;
    return true;
}

static const char RAW_CHAR_NEG[] = "[^\"\\\\\\x00-\\x1f"; /* a class left open */

/* Strings of 1..room raw characters (0..room when node is not a name's
 * end) that, after node's prefix, spell no name of the trie.  room > 0. */
static void put_trie_complement(js_ctx *c, const trie *t, int node, int room) {
    const tnode *nd = &t->v[node];
    js_put(c, "(?:");
    js_put(c, RAW_CHAR_NEG);
    for (int k = nd->child; k >= 0; k = t->v[k].sibling) js_put_cp(c, t->v[k].cp, true);
    js_putc(c, ']');
    if (room > 1) js_printf(c, "%s]{0,%d}", RAW_CHAR_NEG, room - 1);
    for (int k = nd->child; k >= 0; k = t->v[k].sibling) {
        if (room == 1 && t->v[k].term) continue; /* only the name itself would be left */
        js_putc(c, '|');
        js_put_cp(c, t->v[k].cp, false);
        if (room > 1) put_trie_complement(c, t, k, room - 1);
    }
    js_putc(c, ')');
    if (!nd->term) js_putc(c, '?');
}

/* ---- objects ---------------------------------------------------------------- */

typedef struct {
    char *re; /* `"key" : value` */
    bool req, star;
} member;

typedef struct {
    member *v;
    size_t n;
} members;

static void members_free(members *m) {
    for (size_t i = 0; i < m->n; i++) free(m->v[i].re);
    free(m->v);
}

/* Compile one member with a literal key; EMPTY when its value can be
 * nothing. */
static js_st add_member(js_ctx *c, members *m, const char *key, size_t klen, const json_t *sub,
                        bool req) {
    size_t from = c->n;
    js_put_string_lit(c, key, klen);
    js_put_ws(c, JS_WS_COLON);
    js_st st = js_compile(c, sub);
    if (st != JS_OK) {
        js_cut(c, from);
        return st;
    }
    char *re = js_take(c, from);
    if (!re) return JS_FAIL;
    m->v[m->n++] = (member){re, req, false};
    return JS_OK;
}

static bool is_required(const json_t *req, const char *name, size_t len) {
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) if (json_string_length(r) == len &&
                                      memcmp(json_string_value(r), name, len) == 0) return true;
    return false;
}

/* Is name required[j] for some j < i (a repeated entry)? */
static bool is_required_before(const json_t *req, size_t i, const char *name, size_t len) {
    for (size_t j = 0; j < i; j++) {
        const json_t *r = json_array_get(req, j);
        if (json_string_length(r) == len && memcmp(json_string_value(r), name, len) == 0) return true;
    }
    return false;
}

/* The extra member `"any other key": value`; EMPTY when its value can be
 * nothing. */
static js_st add_extra(js_ctx *c, members *m, const trie *names, const json_t *value) {
    size_t from = c->n;
    js_putc(c, '"');
    put_trie_complement(c, names, 0, JS_EXTRA_KEY_MAX);
    js_putc(c, '"');
    js_put_ws(c, JS_WS_COLON);
    js_st st = js_compile(c, value);
    if (st != JS_OK) {
        js_cut(c, from);
        return st;
    }
    char *re = js_take(c, from);
    if (!re) return JS_FAIL;
    m->v[m->n++] = (member){re, false, true};
    return JS_OK;
}

/* Members as a comma-separated list: required ones always, optional ones
 * (`?`) and the extras (`*`) optionally, in order. */
static void put_members(js_ctx *c, const members *m) {
    size_t first = 0;
    while (first < m->n && !m->v[first].req) first++;
    if (first < m->n) {
        for (size_t i = 0; i < first; i++) {
            js_printf(c, "(?:%s", m->v[i].re);
            js_put_ws(c, JS_WS_COMMA);
            js_put(c, m->v[i].star ? ")*" : ")?");
        }
        js_put(c, m->v[first].re);
        for (size_t i = first + 1; i < m->n; i++) {
            if (!m->v[i].req) js_put(c, "(?:");
            js_put_ws(c, JS_WS_COMMA);
            js_put(c, m->v[i].re);
            if (!m->v[i].req) js_put(c, m->v[i].star ? ")*" : ")?");
        }
        return;
    }
    if (!m->n) return;
    js_put(c, "(?:"); /* none required: any member may come first */
    for (size_t s = 0; s < m->n; s++) {
        if (s) js_putc(c, '|');
        for (size_t i = s; i < m->n; i++) {
            if (i > s || m->v[i].star) {
                if (i == s) js_put(c, m->v[i].re);
                js_put(c, "(?:");
                js_put_ws(c, JS_WS_COMMA);
                js_put(c, m->v[i].re);
                js_put(c, m->v[i].star ? ")*" : ")?");
            } else js_put(c, m->v[i].re);
        }
    }
    js_put(c, ")?");
}

/* The declared properties, then the required names not declared. */
static js_st object_members(js_ctx *c, const json_t *s, members *m, trie *names) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *ap = json_object_get(s, "additionalProperties");
    const char *k;
    size_t klen;
    json_t *sub;
    json_object_keylen_foreach((json_t *)props, k, klen, sub) {
        bool r = is_required(req, k, klen);
        size_t old = js_path_push(c, "properties");
        js_path_push(c, k);
        js_st st = add_member(c, m, k, klen, sub, r);
        js_path_pop(c, old);
        if (st == JS_FAIL || (st == JS_EMPTY && r)) return st;
        if (!trie_add(names, k, klen)) return js_fail(c, "out of memory");
    }
    size_t i;
    json_t *name;
    json_array_foreach(req, i, name) {
        const char *n = json_string_value(name);
        size_t len = json_string_length(name);
        if (json_object_getn(props, n, len) || is_required_before(req, i, n, len)) continue;
        if (json_is_false(ap))
            return js_empty(c, "required property `%s` at %s is not allowed by additionalProperties", n,
                            js_where(c));
        size_t old = js_path_push(c, "additionalProperties");
        js_st st = add_member(c, m, n, len, ap ? ap : json_true(), true);
        js_path_pop(c, old);
        if (st == JS_EMPTY)
            return js_empty(c, "required property `%s` at %s is not allowed by additionalProperties", n,
                            js_where(c));
        if (st == JS_FAIL) return st;
        if (!trie_add(names, n, len)) return js_fail(c, "out of memory");
    }
    return JS_OK;
}

js_st js_compile_object(js_ctx *c, const json_t *s) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *ap = json_object_get(s, "additionalProperties");
    members m = {calloc(json_object_size(props) + json_array_size(req) + 1, sizeof(member)), 0};
    trie names = {malloc(64 * sizeof(tnode)), 1, 64};
    if (!m.v || !names.v) {
        free(m.v);
        free(names.v);
        return js_fail(c, "out of memory");
    }
    names.v[0] = (tnode){0, -1, -1, false};
    c->depth++;
    js_st st = object_members(c, s, &m, &names);
    if (st == JS_OK && !json_is_false(ap) &&
        (c->opts.allow_additional || json_object_size(props) == 0)) {
        size_t old = js_path_push(c, "additionalProperties");
        st = add_extra(c, &m, &names, ap ? ap : json_true());
        js_path_pop(c, old);
        if (st == JS_EMPTY) st = JS_OK; /* no extras then */
    }
    c->depth--;
    if (st == JS_OK) {
        js_put(c, "\\{");
        js_put_ws(c, JS_WS_OPEN);
        put_members(c, &m);
        js_put_ws(c, JS_WS_CLOSE);
        js_put(c, "\\}");
    }
    members_free(&m);
    free(names.v);
    return c->fail ? JS_FAIL : st;
}

/* ---- arrays ---------------------------------------------------------------------- */

typedef struct {
    char **pre; /* compiled prefixItems */
    size_t k;   /* how many of them can be there */
    char *tail; /* the regex of a later element, NULL when none can be */
    size_t min, tmin, tmax;
} array_plan;

static size_t count_or(const json_t *s, const char *k, size_t dflt) {
    const json_t *v = json_object_get(s, k);
    return v ? (size_t)json_integer_value(v) : dflt;
}

/* Compile prefixItems and the later elements' schema; work out counts. */
static js_st array_plan_make(js_ctx *c, const json_t *s, array_plan *p) {
    const json_t *pre = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    size_t max = count_or(s, "maxItems", UNBOUNDED), n = json_array_size(pre);
    p->min = count_or(s, "minItems", 0);
    if (p->min > max) return js_empty(c, "minItems > maxItems at %s", js_where(c));
    p->pre = calloc(n + 1, sizeof(char *));
    if (!p->pre) return js_fail(c, "out of memory");
    for (p->k = 0; p->k < n && p->k < max; p->k++) {
        size_t old = js_path_push(c, "prefixItems");
        js_path_push_i(c, p->k);
        js_st st = js_compile_str(c, json_array_get(pre, p->k), &p->pre[p->k]);
        js_path_pop(c, old);
        if (st == JS_FAIL) return st;
        if (st == JS_EMPTY) {
            max = p->k; /* the array must end before this element */
            break;
        }
    }
    if (p->min > max) return js_empty(c, "minItems cannot be reached at %s", js_where(c));
    p->tmin = p->min > p->k ? p->min - p->k : 0;
    p->tmax = max == UNBOUNDED ? UNBOUNDED : max - p->k;
    if (p->k < n || json_is_false(items)) p->tmax = 0;
    else if (!items && n && !c->opts.allow_additional) p->tmax = p->tmin;
    if (p->tmax > 0) {
        size_t old = js_path_push(c, "items");
        js_st st = js_compile_str(c, items ? items : json_true(), &p->tail);
        js_path_pop(c, old);
        if (st == JS_FAIL) return st;
        if (st == JS_EMPTY) p->tmax = 0;
    }
    if (p->tmin > p->tmax) return js_empty(c, "minItems cannot be reached at %s", js_where(c));
    if (p->tmin > JS_REPEAT_MAX)
        return js_fail(c, "minItems above %d is not supported at %s", JS_REPEAT_MAX, js_where(c));
    return JS_OK;
}

static void put_array_body(js_ctx *c, const array_plan *p) {
    size_t req = p->min < p->k ? p->min : p->k, opened = 0;
    for (size_t i = 0; i < p->k; i++) {
        if (i >= req) {
            js_put(c, "(?:");
            opened++;
        }
        if (i) js_put_ws(c, JS_WS_COMMA);
        js_put(c, p->pre[i]);
    }
    if (p->tmax > 0) {
        if (p->k == 0) { /* t(?:,t){tmin-1,tmax-1}, optional when tmin is 0 */
            if (!p->tmin) js_put(c, "(?:");
            js_put(c, p->tail);
            if (p->tmax != 1) {
                js_put(c, "(?:");
                js_put_ws(c, JS_WS_COMMA);
                js_printf(c, "%s)", p->tail);
                put_quant(c, p->tmin ? p->tmin - 1 : 0, p->tmax == UNBOUNDED ? UNBOUNDED : p->tmax - 1);
            }
            if (!p->tmin) js_put(c, ")?");
        } else {
            js_put(c, "(?:");
            js_put_ws(c, JS_WS_COMMA);
            js_printf(c, "%s)", p->tail);
            put_quant(c, p->tmin, p->tmax);
        }
    }
    for (size_t i = 0; i < opened; i++) js_put(c, ")?");
}

js_st js_compile_array(js_ctx *c, const json_t *s) {
    array_plan p = {0};
    c->depth++;
    js_st st = array_plan_make(c, s, &p);
    c->depth--;
    if (st == JS_OK) {
        js_put(c, "\\[");
        js_put_ws(c, JS_WS_OPEN);
        put_array_body(c, &p);
        js_put_ws(c, JS_WS_CLOSE);
        js_put(c, "\\]");
    }
    for (size_t i = 0; p.pre && p.pre[i]; i++) free(p.pre[i]);
    free(p.pre);
    free(p.tail);
    return c->fail ? JS_FAIL : st;
}
