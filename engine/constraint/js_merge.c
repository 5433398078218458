/*
 * js_merge.c — conjunctions of schemas and disjointness of oneOf branches.
 *
 * js_merge turns "all of these schemas" (allOf, $ref beside other
 * keywords, an anyOf branch with its parent's keywords) into ONE schema:
 * the parts' top-level $ref and allOf are followed and flattened into
 * atoms, then keyword by keyword:
 *   type                     intersection (number ∩ integer = integer)
 *   properties               union; a name in several parts gets
 *                            {"allOf": [its schemas]}
 *   required                 union
 *   min* / max* bounds       the tighter one
 *   enum                     intersection;  items: {"allOf": [...]}
 *   prefixItems              element-wise allOf (same lengths only; a part's
 *                            `items` must start where the merged
 *                            prefixItems end)
 *   additionalProperties     exact: a part's additionalProperties applies to
 *                            every merged property that part does not
 *                            declare (that property's schema gets it in an
 *                            allOf; `false` makes an optional property
 *                            vanish and a required one unsatisfiable); the
 *                            merged object's extras must satisfy all of them
 *   anything else            must be equal in every part that has it (two
 *                            different `pattern`s, formats, anyOfs ... are an
 *                            error; two different `const`s match nothing)
 *
 * js_disjoint proves, conservatively, that no value generated for schema a
 * validates against schema b: by types, by enum/const values, or for
 * objects by a property b requires that a never generates, or a property a
 * always generates whose schemas in a and b are themselves disjoint (a
 * discriminator `const`, or additionalProperties false in b).
 * js_oneof_exclusive first makes object branches exclusive where that is
 * cheap: a branch does not generate the (optional) properties that another
 * branch requires and it does not — {"properties": {name: false}} merged
 * in, a stricter schema, so still sound — which turns the common
 * oneOf [{required: [a]}, {required: [b]}] into provably disjoint branches.
 */
#include "js_internal.h"

#include <stdlib.h>
#include <string.h>

#define MERGE_HOPS 64
#define DISJOINT_DEPTH 8

typedef struct {
    const json_t **v;
    size_t n, cap;
    bool is_false;
} atoms;

static bool atoms_add(js_ctx *c, atoms *a, const json_t *s) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        const json_t **v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            js_fail(c, "out of memory");
            return false;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    return true;
}

/* Collect the atoms of s: s's own keywords plus those of what its $ref and
 * allOf lead to. */
static bool flatten(js_ctx *c, atoms *a, const json_t *s, int hops) {
    if (hops > MERGE_HOPS) {
        js_fail(c, "allOf / $ref at %s nest more than %d deep (a cycle?)", js_where(c), MERGE_HOPS);
        return false;
    }
    if (json_is_true(s)) return true;
    if (json_is_false(s)) {
        a->is_false = true;
        return true;
    }
    if (!json_is_object(s)) {
        js_fail(c, "a schema in the allOf at %s is not an object or a boolean", js_where(c));
        return false;
    }
    if (!js_check_keywords(c, s)) return false;
    const json_t *ref = json_object_get(s, "$ref"), *all = json_object_get(s, "allOf");
    if (!ref && !all) return atoms_add(c, a, s);
    if (ref) {
        const json_t *t = js_resolve_ref(c, json_string_value(ref));
        if (!t || !flatten(c, a, t, hops + 1)) return false;
    }
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) if (!flatten(c, a, e, hops + 1)) return false;
    static const char *const drop[] = {"$ref", "allOf", NULL};
    if (js_constrains(s, drop)) {
        const json_t *rest = js_without(c, s, drop);
        if (!rest || !atoms_add(c, a, rest)) return false;
    }
    return true;
}

static json_t *all_of2(json_t *x, json_t *y) {
    return json_pack("{s:[OO]}", "allOf", x, y);
}

static bool is_bound(const char *k, bool *lower) {
    static const char *const lo[] = {"minimum", "exclusiveMinimum", "minLength", "minItems", NULL};
    static const char *const hi[] = {"maximum", "exclusiveMaximum", "maxLength", "maxItems", NULL};
    for (int i = 0; lo[i]; i++)
        if (!strcmp(k, lo[i]) || !strcmp(k, hi[i])) {
            *lower = !strcmp(k, lo[i]);
            return true;
        }
    return false;
}

/* The type keyword for mask (number covers integer). */
static json_t *type_of_mask(int mask) {
    static const char *const names[] = {"null", "boolean", "object", "array", "string", "integer", "number"};
    json_t *arr = json_array();
    if (mask & JS_T_NUM) mask &= ~JS_T_INT;
    for (int i = 0; i < 7 && arr; i++)
        if (mask & (1 << i)) json_array_append_new(arr, json_string(names[i]));
    return arr;
}

static json_t *enum_meet(const json_t *x, const json_t *y) {
    json_t *out = json_array();
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(x, i, a) json_array_foreach(y, j, b) if (json_equal(a, b)) {
        json_array_append(out, a);
        break;
    }
    return out;
}

static json_t *prefix_meet(const json_t *x, const json_t *y) {
    if (json_array_size(x) != json_array_size(y)) return NULL;
    json_t *out = json_array();
    for (size_t i = 0; out && i < json_array_size(x); i++)
        json_array_append_new(out, all_of2(json_array_get(x, i), json_array_get(y, i)));
    return out;
}

/* m[k] already holds old; fold v in.  *unsat: the parts cannot all hold. */
static bool combine(js_ctx *c, json_t *m, const char *k, json_t *old, json_t *v, bool *unsat) {
    json_t *nv = NULL;
    bool lower;
    if (json_equal(old, v)) return true;
    if (!strcmp(k, "type")) {
        json_t *a = json_pack("{sO}", "type", old), *b = json_pack("{sO}", "type", v);
        int ma = a ? js_declared_types(c, a) : -1, mb = b ? js_declared_types(c, b) : -1;
        json_decref(a);
        json_decref(b);
        if (ma < 0 || mb < 0) return false;
        nv = type_of_mask(ma & mb);
    } else if (!strcmp(k, "properties")) {
        const char *name;
        json_t *sub;
        json_object_foreach(v, name, sub) {
            json_t *prev = json_object_get(old, name);
            json_object_set_new(old, name, prev ? all_of2(prev, sub) : json_incref(sub));
        }
        return true;
    } else if (!strcmp(k, "required")) {
        size_t i;
        json_t *name;
        json_array_foreach(v, i, name) {
            size_t j;
            json_t *have;
            bool found = false;
            json_array_foreach(old, j, have) found = found || json_equal(have, name);
            if (!found) json_array_append(old, name);
        }
        return true;
    } else if (is_bound(k, &lower)) {
        bool v_tighter = lower ? json_number_value(v) > json_number_value(old)
                               : json_number_value(v) < json_number_value(old);
        nv = json_incref(v_tighter ? v : old);
    } else if (!strcmp(k, "enum")) nv = enum_meet(old, v);
    else if (!strcmp(k, "items")) nv = all_of2(old, v);
    else if (!strcmp(k, "prefixItems") && !(nv = prefix_meet(old, v)))
        return js_fail(c, "allOf at %s: prefixItems of different lengths", js_where(c)) != JS_FAIL;
    else if (!strcmp(k, "const")) {
        *unsat = true;
        return true;
    } else if (!nv)
        return js_fail(c, "allOf at %s: cannot merge two different `%s`", js_where(c), k) != JS_FAIL;
    if (!nv || json_object_set_new(m, k, nv)) return js_fail(c, "out of memory") != JS_FAIL;
    return true;
}

/* Each part's additionalProperties applies to the merged properties it
 * does not declare; the merged extras must satisfy all of them. */
static bool apply_additional(js_ctx *c, json_t *m, const atoms *a) {
    json_t *props = json_object_get(m, "properties"), *req = json_object_get(m, "required");
    if (json_array_size(req) && !props) {
        props = json_object();
        if (!props || json_object_set_new(m, "properties", props)) return false;
    }
    size_t i;
    json_t *name;
    json_array_foreach(req, i, name) if (!json_object_get(props, json_string_value(name)))
        json_object_set_new(props, json_string_value(name), json_true());
    json_t *aps = json_array();
    if (!aps) return false;
    for (size_t k = 0; k < a->n; k++) {
        json_t *ap = json_object_get(a->v[k], "additionalProperties");
        if (!ap || json_is_true(ap)) continue;
        json_array_append(aps, ap);
        json_t *own = json_object_get(a->v[k], "properties");
        const char *pn;
        json_t *sub;
        void *tmp;
        if (props)
            json_object_foreach_safe(props, tmp, pn, sub) if (!json_object_get(own, pn))
                json_object_set_new(props, pn, all_of2(sub, ap));
    }
    if (json_array_size(aps) == 1) json_object_set(m, "additionalProperties", json_array_get(aps, 0));
    else if (json_array_size(aps) > 1)
        json_object_set_new(m, "additionalProperties", json_pack("{sO}", "allOf", aps));
    json_decref(aps);
    return true;
}

/* `items` applies past a part's own prefixItems: every part with `items`
 * must have as many prefixItems as the merged schema. */
static bool items_line_up(js_ctx *c, const json_t *m, const atoms *a) {
    size_t n = json_array_size(json_object_get(m, "prefixItems"));
    for (size_t k = 0; k < a->n; k++) {
        const json_t *items = json_object_get(a->v[k], "items");
        if (items && !json_is_true(items) && json_array_size(json_object_get(a->v[k], "prefixItems")) != n) {
            js_fail(c, "allOf at %s: `items` of one part would apply to another part's prefixItems",
                    js_where(c));
            return false;
        }
    }
    return true;
}

static json_t *merge_atoms(js_ctx *c, const atoms *a, bool *unsat) {
    json_t *m = json_object();
    for (size_t i = 0; m && i < a->n && !*unsat; i++) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a->v[i], k, v) {
            if (js_keyword_kind(k) == JS_K_ANNOT || !strcmp(k, "additionalProperties")) continue;
            if (!strcmp(k, "nullable") && json_is_true(v) && a->n > 1) {
                js_fail(c, "`nullable` inside allOf (or beside $ref) is not supported at %s: use "
                           "anyOf with {\"type\": \"null\"}",
                        js_where(c));
                json_decref(m);
                return NULL;
            }
            json_t *old = json_object_get(m, k);
            bool ok = old ? combine(c, m, k, old, v, unsat)
                          : json_object_set_new(m, k, json_is_object(v) || json_is_array(v)
                                                          ? json_copy(v) : json_incref(v)) == 0;
            if (!ok) {
                json_decref(m);
                if (!c->fail) js_fail(c, "out of memory");
                return NULL;
            }
        }
    }
    if (m && !*unsat && (!apply_additional(c, m, a) || !items_line_up(c, m, a))) {
        json_decref(m);
        return NULL;
    }
    return m;
}

const json_t *js_merge(js_ctx *c, const json_t *const *parts, size_t n) {
    atoms a = {0};
    for (size_t i = 0; i < n; i++)
        if (!flatten(c, &a, parts[i], 0)) {
            free(a.v);
            return NULL;
        }
    bool unsat = a.is_false;
    json_t *m = unsat ? NULL : merge_atoms(c, &a, &unsat);
    free(a.v);
    if (unsat) {
        json_decref(m);
        js_empty(c, "the parts of the allOf at %s contradict each other", js_where(c));
        return js_keep(c, json_false());
    }
    return m ? js_keep(c, m) : NULL;
}

/* ---- disjointness -------------------------------------------------------- */

/* s with its top-level $ref / allOf merged in (NULL after an error). */
static const json_t *flat(js_ctx *c, const json_t *s) {
    if (json_is_object(s) && (json_object_get(s, "$ref") || json_object_get(s, "allOf")))
        return js_merge(c, &s, 1);
    return s;
}

static int enum_types(const json_t *s) {
    const json_t *e = json_object_get(s, "enum"), *k = json_object_get(s, "const");
    int t = 0;
    size_t i;
    json_t *v;
    if (k) return js_value_type(k);
    json_array_foreach(e, i, v) t |= js_value_type(v);
    return t;
}

static int branch_types(js_ctx *c, const json_t *s, int depth, bool generated);

/* The types of the values generated for s (generated) or accepted by s:
 * supersets. */
static int types_of(js_ctx *c, const json_t *s, int depth, bool generated) {
    s = flat(c, s);
    if (!s || c->fail || depth > DISJOINT_DEPTH) return JS_T_ALL;
    if (json_is_boolean(s)) return json_is_true(s) ? JS_T_ALL : 0;
    int t = js_declared_types(c, s);
    if (t < 0) return JS_T_ALL;
    if (generated && !json_object_get(s, "type")) {
        int inferred = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)s, k, v) {
            js_kind kind = js_keyword_kind(k);
            inferred |= kind == JS_K_OBJECT ? JS_T_OBJ : kind == JS_K_ARRAY ? JS_T_ARR
                        : kind == JS_K_STRING ? JS_T_STR : kind == JS_K_NUMBER ? JS_T_NUM | JS_T_INT : 0;
        }
        if (inferred) t = inferred;
    }
    if (json_is_true(json_object_get(s, "nullable"))) t |= JS_T_NULL;
    if (json_object_get(s, "enum") || json_object_get(s, "const")) t &= enum_types(s);
    if (json_object_get(s, "anyOf") || json_object_get(s, "oneOf")) t &= branch_types(c, s, depth, generated);
    return t;
}

static int branch_types(js_ctx *c, const json_t *s, int depth, bool generated) {
    const json_t *br = json_object_get(s, "anyOf");
    if (!br) br = json_object_get(s, "oneOf");
    int t = 0;
    size_t i;
    json_t *b;
    json_array_foreach(br, i, b) t |= types_of(c, b, depth + 1, generated);
    return t;
}

/* enum/const of a (what it generates) all outside b's enum/const. */
static bool values_disjoint(const json_t *a, const json_t *b) {
    const json_t *va = json_object_get(a, "enum"), *vb = json_object_get(b, "enum");
    json_t *ka = json_object_get(a, "const"), *kb = json_object_get(b, "const");
    if ((!va && !ka) || (!vb && !kb)) return false;
    for (size_t i = 0; i < (ka ? 1 : json_array_size(va)); i++) {
        json_t *x = ka ? ka : json_array_get(va, i);
        if (kb && json_equal(x, kb)) return false;
        for (size_t j = 0; !kb && j < json_array_size(vb); j++)
            if (json_equal(x, json_array_get(vb, j))) return false;
    }
    return true;
}

static bool disjoint(js_ctx *c, const json_t *a, const json_t *b, int depth);

/* The schema b applies to property `name` (true when nothing does). */
static const json_t *prop_schema(const json_t *s, const char *name) {
    const json_t *p = json_object_get(json_object_get(s, "properties"), name);
    if (p) return p;
    p = json_object_get(s, "additionalProperties");
    return p ? p : json_true();
}

/* A property schema that lets no value through: false, or an allOf with one. */
static bool never_written(const json_t *s) {
    if (json_is_false(s)) return true;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(s, "allOf"), i, e) if (never_written(e)) return true;
    return false;
}

static bool in_strings(const json_t *arr, const json_t *name) {
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (json_equal(e, name)) return true;
    return false;
}

static bool objects_disjoint(js_ctx *c, const json_t *a, const json_t *b, int depth) {
    const json_t *ap = json_object_get(a, "properties"), *areq = json_object_get(a, "required");
    const json_t *aadd = json_object_get(a, "additionalProperties");
    /* extra keys never spell a declared or required name */
    bool extras = !json_is_false(aadd) && (c->opts.allow_additional || json_object_size(ap) == 0);
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(b, "required"), i, name) { /* b requires a name a never writes */
        const json_t *p = json_object_get(ap, json_string_value(name));
        if (!in_strings(areq, name) && (p ? never_written(p) : !extras)) return true;
    }
    json_array_foreach(areq, i, name) { /* a always writes a value b rejects */
        const char *n = json_string_value(name);
        if (disjoint(c, prop_schema(a, n), prop_schema(b, n), depth + 1)) return true;
    }
    return false;
}

static bool disjoint(js_ctx *c, const json_t *a, const json_t *b, int depth) {
    if (depth > DISJOINT_DEPTH || c->fail) return false;
    a = flat(c, a);
    b = flat(c, b);
    if (!a || !b) return false;
    if (json_is_false(a) || json_is_false(b)) return true;
    if (json_is_true(a)) return false;
    int common = types_of(c, a, depth, true) & types_of(c, b, depth, false);
    if (!common) return true;
    if (!json_is_object(b) || c->fail) return false;
    if (values_disjoint(a, b)) return true;
    static const char *const unions[] = {"anyOf", "oneOf", "enum", "const", NULL};
    for (int i = 0; unions[i]; i++)
        if (json_object_get(a, unions[i]) || json_object_get(b, unions[i])) return false;
    return common == JS_T_OBJ && objects_disjoint(c, a, b, depth);
}

bool js_disjoint(js_ctx *c, const json_t *a, const json_t *b) { return disjoint(c, a, b, 0); }

/* The names some other branch requires and branch i does not, as
 * {"properties": {name: false, ...}} (NULL when none, or i is not an
 * object-only branch). */
static json_t *names_to_forbid(js_ctx *c, const json_t **br, size_t n, size_t i) {
    const json_t *a = flat(c, br[i]);
    if (!a || c->fail || !json_is_object(a) || types_of(c, a, 0, true) != JS_T_OBJ ||
        json_object_get(a, "enum") || json_object_get(a, "const"))
        return NULL;
    json_t *forbid = json_object();
    const json_t *areq = json_object_get(a, "required");
    for (size_t j = 0; j < n && forbid; j++) {
        const json_t *b = j == i ? NULL : flat(c, br[j]);
        size_t k;
        json_t *name;
        if (b && json_is_object(b))
            json_array_foreach(json_object_get(b, "required"), k, name) if (!in_strings(areq, name))
                json_object_set_new(forbid, json_string_value(name), json_false());
    }
    if (!json_object_size(forbid) || c->fail) {
        json_decref(forbid);
        return NULL;
    }
    return json_pack("{so}", "properties", forbid);
}

bool js_oneof_exclusive(js_ctx *c, const json_t **br, size_t n) {
    for (size_t i = 0; i < n && !c->fail; i++) {
        json_t *f = names_to_forbid(c, br, n, i);
        if (!f) continue;
        const json_t *parts[2] = {br[i], js_keep(c, f)};
        if (!parts[1] || !(br[i] = js_merge(c, parts, 2))) return false;
    }
    return !c->fail;
}
