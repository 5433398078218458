/*
 * json_schema.c — JSON Schema -> regex (json_schema.h): the keyword table
 * (what is supported, what is an annotation, the shape of each keyword's
 * value), the dispatch of one schema ($ref, allOf, anyOf/oneOf,
 * enum/const, then per type), and the public entry points.
 *
 * js_emit.c holds the output buffer, errors and paths, JSON literals and
 * "any JSON value".  The types live in sibling files: js_object.c (objects,
 * arrays),
 * js_string.c + js_pattern.c (strings, formats, `pattern`), js_number.c
 * (integer and number ranges); js_merge.c merges schemas for allOf, for
 * siblings of $ref / anyOf / oneOf, and proves oneOf branches disjoint.
 *
 * Recursion: a $ref whose target is already being expanded is followed
 * again only when the value sits in more containers than at the previous
 * turn and fewer than opts->max_depth; otherwise that alternative matches
 * nothing (JS_EMPTY) and is dropped by the enclosing union, optional
 * property or array; if nothing is left the error names the $ref.
 */
#include "js_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keywords ------------------------------------------------------------ */

static const struct {
    const char *name;
    js_kind kind;
} KEYWORDS[] = {
    {"title", JS_K_ANNOT},           {"description", JS_K_ANNOT},
    {"default", JS_K_ANNOT},         {"examples", JS_K_ANNOT},
    {"example", JS_K_ANNOT},         {"$schema", JS_K_ANNOT},
    {"$id", JS_K_ANNOT},             {"$comment", JS_K_ANNOT},
    {"deprecated", JS_K_ANNOT},      {"readOnly", JS_K_ANNOT},
    {"writeOnly", JS_K_ANNOT},       {"contentMediaType", JS_K_ANNOT},
    {"contentEncoding", JS_K_ANNOT}, {"contentSchema", JS_K_ANNOT},
    {"$anchor", JS_K_ANNOT},         {"$dynamicAnchor", JS_K_ANNOT},
    {"$vocabulary", JS_K_ANNOT},     {"discriminator", JS_K_ANNOT},
    {"xml", JS_K_ANNOT},             {"externalDocs", JS_K_ANNOT},
    {"$defs", JS_K_ANNOT},           {"definitions", JS_K_ANNOT},
    {"type", JS_K_CORE},             {"enum", JS_K_CORE},
    {"const", JS_K_CORE},            {"$ref", JS_K_CORE},
    {"allOf", JS_K_CORE},            {"anyOf", JS_K_CORE},
    {"oneOf", JS_K_CORE},            {"nullable", JS_K_CORE},
    {"properties", JS_K_OBJECT},     {"required", JS_K_OBJECT},
    {"additionalProperties", JS_K_OBJECT},
    {"items", JS_K_ARRAY},           {"prefixItems", JS_K_ARRAY},
    {"minItems", JS_K_ARRAY},        {"maxItems", JS_K_ARRAY},
    {"pattern", JS_K_STRING},        {"format", JS_K_STRING},
    {"minLength", JS_K_STRING},      {"maxLength", JS_K_STRING},
    {"minimum", JS_K_NUMBER},        {"maximum", JS_K_NUMBER},
    {"exclusiveMinimum", JS_K_NUMBER}, {"exclusiveMaximum", JS_K_NUMBER},
};

js_kind js_keyword_kind(const char *key) {
    if (key[0] == 'x' && key[1] == '-') return JS_K_ANNOT; /* vendor extensions */
    for (size_t i = 0; i < sizeof KEYWORDS / sizeof KEYWORDS[0]; i++)
        if (strcmp(KEYWORDS[i].name, key) == 0) return KEYWORDS[i].kind;
    return JS_K_UNKNOWN;
}

static bool listed(const char *key, const char *const *list) {
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0) return true;
    return false;
}

bool js_constrains(const json_t *s, const char *const *except) {
    const char *k;
    json_t *v;
    if (!json_is_object(s)) return json_is_false(s);
    json_object_foreach((json_t *)s, k, v) {
        js_kind kind = js_keyword_kind(k);
        if (kind == JS_K_ANNOT || listed(k, except)) continue;
        if (strcmp(k, "nullable") == 0 && json_is_false(v)) continue;
        return true;
    }
    return false;
}

static bool is_count(const json_t *v) { return json_is_integer(v) && json_integer_value(v) >= 0; }

static bool is_schema(const json_t *v) { return json_is_object(v) || json_is_boolean(v); }

static bool is_schema_array(const json_t *v, bool nonempty) {
    if (!json_is_array(v) || (nonempty && json_array_size(v) == 0)) return false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!is_schema(e)) return false;
    return true;
}

static bool is_string_array(const json_t *v) {
    if (!json_is_array(v)) return false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return false;
    return true;
}

/* The shape a keyword's value must have; NULL when any shape is fine. */
static const char *bad_shape(const char *k, const json_t *v) {
    if (strcmp(k, "type") == 0)
        return json_is_string(v) || is_string_array(v) ? NULL : "a string or an array of strings";
    if (!strcmp(k, "$ref") || !strcmp(k, "pattern") || !strcmp(k, "format"))
        return json_is_string(v) ? NULL : "a string";
    if (!strcmp(k, "allOf") || !strcmp(k, "anyOf") || !strcmp(k, "oneOf"))
        return is_schema_array(v, true) ? NULL : "a non-empty array of schemas";
    if (!strcmp(k, "prefixItems")) return is_schema_array(v, true) ? NULL : "a non-empty array of schemas";
    if (!strcmp(k, "items"))
        return is_schema(v) ? NULL
               : json_is_array(v) ? "a schema (an array of schemas is draft-07's tuple form: use prefixItems)"
                                  : "a schema";
    if (!strcmp(k, "additionalProperties")) return is_schema(v) ? NULL : "a schema";
    if (!strcmp(k, "properties") || !strcmp(k, "$defs") || !strcmp(k, "definitions"))
        return json_is_object(v) ? NULL : "an object";
    if (!strcmp(k, "required")) return is_string_array(v) ? NULL : "an array of strings";
    if (!strcmp(k, "enum")) return json_is_array(v) ? NULL : "an array";
    if (!strcmp(k, "nullable")) return json_is_boolean(v) ? NULL : "a boolean";
    if (!strcmp(k, "minItems") || !strcmp(k, "maxItems") || !strcmp(k, "minLength") ||
        !strcmp(k, "maxLength"))
        return is_count(v) ? NULL : "a non-negative integer";
    if (js_keyword_kind(k) == JS_K_NUMBER) return json_is_number(v) ? NULL : "a number";
    return NULL;
}

bool js_check_keywords(js_ctx *c, const json_t *s) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (js_keyword_kind(k) == JS_K_UNKNOWN) {
            js_fail(c, "unsupported keyword `%s` at %s", k, js_where(c));
            return false;
        }
        const char *want = bad_shape(k, v);
        if (want) {
            js_fail(c, "`%s` must be %s, at %s", k, want, js_where(c));
            return false;
        }
    }
    return true;
}

/* ---- $ref ---------------------------------------------------------------- */

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* One reference token of a JSON pointer, unescaped (~0 ~1, %XX). */
static bool ref_token(const char **pp, char *tok, size_t cap) {
    const char *p = *pp;
    size_t n = 0;
    while (*p && *p != '/') {
        int ch = (unsigned char)*p++;
        if (ch == '%') {
            int h = hexval(p[0]), l = h < 0 ? -1 : hexval(p[1]);
            if (l < 0) return false;
            ch = h * 16 + l;
            p += 2;
        }
        if (ch == '~') {
            int e = (unsigned char)*p;
            if (e == '%' && p[1] == '3' && (p[2] == '0' || p[2] == '1')) { /* ~ followed by %30 / %31 */
                e = p[2];
                p += 2;
            }
            if (e != '0' && e != '1') return false;
            ch = e == '0' ? '~' : '/';
            p++;
        }
        if (n + 1 >= cap) return false;
        tok[n++] = (char)ch;
    }
    tok[n] = 0;
    *pp = p;
    return true;
}

const json_t *js_resolve_ref(js_ctx *c, const char *ref) {
    if (ref[0] != '#' || (ref[1] && ref[1] != '/')) {
        js_fail(c, "unsupported $ref `%s` at %s (only local refs: \"#\", \"#/$defs/...\")", ref,
                js_where(c));
        return NULL;
    }
    const json_t *node = c->root;
    const char *p = ref + 1;
    char tok[512];
    while (*p == '/') {
        p++;
        if (!ref_token(&p, tok, sizeof tok)) {
            js_fail(c, "bad JSON pointer in $ref `%s` at %s", ref, js_where(c));
            return NULL;
        }
        if (json_is_object(node)) node = json_object_get(node, tok);
        else if (json_is_array(node)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            node = (*tok && !*end && (tok[0] != '0' || !tok[1])) ? json_array_get(node, i) : NULL;
        } else node = NULL;
        if (!node) {
            js_fail(c, "$ref `%s` at %s points to nothing", ref, js_where(c));
            return NULL;
        }
    }
    if (!is_schema(node)) {
        js_fail(c, "$ref `%s` at %s does not point to a schema", ref, js_where(c));
        return NULL;
    }
    return node;
}

static js_st compile_ref(js_ctx *c, const json_t *s) {
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    static const char *const self[] = {"$ref", NULL};
    if (js_constrains(s, self)) { /* $ref beside other keywords: both apply */
        const json_t *m = js_merge(c, &s, 1);
        return m ? js_compile(c, m) : JS_FAIL;
    }
    const json_t *t = js_resolve_ref(c, ref);
    if (!t) return JS_FAIL;
    for (int i = c->n_refs - 1; i >= 0; i--) {
        if (c->refs[i].target != t) continue;
        if (c->depth <= c->refs[i].depth || c->depth >= c->opts.max_depth)
            return js_empty(c, "the recursion through $ref `%s` at %s is cut at max_depth %d", ref,
                            js_where(c), c->opts.max_depth);
        break;
    }
    if (c->n_refs == JS_MAX_REFS)
        return js_fail(c, "$ref `%s` at %s: more than %d nested $ref expansions", ref, js_where(c),
                       JS_MAX_REFS);
    c->refs[c->n_refs++] = (js_refent){t, c->depth};
    char *old = js_path_swap(c, ref + 1);
    js_st st = old ? js_compile(c, t) : JS_FAIL;
    if (old) js_path_restore(c, old);
    c->n_refs--;
    return st;
}

/* ---- anyOf / oneOf / allOf ----------------------------------------------- */

const json_t *js_without(js_ctx *c, const json_t *s, const char *const *drop) {
    json_t *o = json_object();
    const char *k;
    json_t *v;
    if (o)
        json_object_foreach((json_t *)s, k, v) if (!listed(k, drop)) json_object_set(o, k, v);
    return js_keep(c, o);
}

/* The branches as compiled: each merged with the schema's other keywords. */
static const json_t **union_branches(js_ctx *c, const json_t *s, const char *kw, size_t *n) {
    static const char *const drop[] = {"anyOf", "oneOf", NULL};
    const json_t *arr = json_object_get(s, kw);
    *n = json_array_size(arr);
    const json_t **br = calloc(*n, sizeof *br);
    if (!br) {
        js_fail(c, "out of memory");
        return NULL;
    }
    const json_t *sib = js_constrains(s, drop) ? js_without(c, s, drop) : NULL;
    if (sib && json_is_true(json_object_get(sib, "nullable"))) {
        js_fail(c, "`nullable` beside `%s` is not supported at %s: add {\"type\": \"null\"} to the %s",
                kw, js_where(c), kw);
        free(br);
        return NULL;
    }
    for (size_t i = 0; i < *n && !c->fail; i++) {
        br[i] = json_array_get(arr, i);
        if (sib) {
            const json_t *parts[2] = {sib, br[i]};
            size_t old = js_path_push(c, kw);
            js_path_push_i(c, i);
            br[i] = js_merge(c, parts, 2);
            js_path_pop(c, old);
        }
    }
    if (c->fail) {
        free(br);
        return NULL;
    }
    return br;
}

/* oneOf is an alternation only when no generated value can match two
 * branches: prove every pair disjoint or refuse. */
static bool oneof_disjoint(js_ctx *c, const json_t **br, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (i == j || js_disjoint(c, br[i], br[j])) continue;
            if (!c->fail)
                js_fail(c, "oneOf at %s: branches %zu and %zu may both match one value (give them "
                           "different types, or a required property with different `const`s), or "
                           "use anyOf",
                        js_where(c), i, j);
            return false;
        }
    return true;
}

static js_st compile_union(js_ctx *c, const json_t *s) {
    bool any = json_object_get(s, "anyOf") != NULL;
    if (any && json_object_get(s, "oneOf"))
        return js_fail(c, "anyOf together with oneOf is not supported at %s", js_where(c));
    const char *kw = any ? "anyOf" : "oneOf";
    size_t n;
    const json_t **br = union_branches(c, s, kw, &n);
    if (!br) return JS_FAIL;
    if (!any && (!js_oneof_exclusive(c, br, n) || !oneof_disjoint(c, br, n))) {
        free(br);
        return JS_FAIL;
    }
    size_t start = c->n, alts = 0;
    js_put(c, "(?:");
    for (size_t i = 0; i < n; i++) {
        size_t mark = c->n;
        if (alts) js_putc(c, '|');
        size_t old = js_path_push(c, kw);
        js_path_push_i(c, i);
        js_st st = js_compile(c, br[i]);
        js_path_pop(c, old);
        if (st == JS_FAIL) {
            free(br);
            return JS_FAIL;
        }
        if (st == JS_EMPTY) js_cut(c, mark);
        else alts++;
    }
    free(br);
    if (!alts) {
        js_cut(c, start);
        return js_empty(c, "no branch of %s at %s can match", kw, js_where(c));
    }
    js_putc(c, ')');
    return c->fail ? JS_FAIL : JS_OK;
}

static js_st compile_allof(js_ctx *c, const json_t *s) {
    const json_t *m = js_merge(c, &s, 1);
    return m ? js_compile(c, m) : JS_FAIL;
}

/* ---- enum / const ---------------------------------------------------------- */

static int type_bit(const char *name) {
    static const char *const names[] = {"null", "boolean", "object", "array", "string", "integer", "number"};
    for (int i = 0; i < 7; i++)
        if (strcmp(names[i], name) == 0) return 1 << i;
    return 0;
}

/* The types "type" allows (every type when absent); -1 after an error. */
int js_declared_types(js_ctx *c, const json_t *s) {
    const json_t *t = json_object_get(s, "type");
    if (!t) return 0x7f;
    int mask = 0;
    for (size_t i = 0; i < (json_is_array(t) ? json_array_size(t) : 1); i++) {
        const char *name = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
        int bit = type_bit(name);
        if (!bit) {
            js_fail(c, "unknown type `%s` at %s", name, js_where(c));
            return -1;
        }
        mask |= bit;
    }
    if (mask & JS_T_NUM) mask |= JS_T_INT;
    return mask;
}

int js_value_type(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return JS_T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return JS_T_BOOL;
    case JSON_OBJECT: return JS_T_OBJ;
    case JSON_ARRAY: return JS_T_ARR;
    case JSON_STRING: return JS_T_STR;
    case JSON_INTEGER: return JS_T_INT;
    case JSON_REAL: {
        double d = json_real_value(v);
        return floor(d) == d ? JS_T_INT : JS_T_NUM;
    }
    }
    return 0;
}

/* A keyword that would constrain value v (not supported beside enum/const). */
static const char *enum_conflict(const json_t *s, const json_t *v) {
    int vt = js_value_type(v);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)s, k, x) {
        js_kind kind = js_keyword_kind(k);
        if ((kind == JS_K_OBJECT && vt == JS_T_OBJ) || (kind == JS_K_ARRAY && vt == JS_T_ARR) ||
            (kind == JS_K_STRING && vt == JS_T_STR) || (kind == JS_K_NUMBER && (vt & (JS_T_INT | JS_T_NUM))))
            return k;
    }
    return NULL;
}

static js_st compile_enum(js_ctx *c, const json_t *s) {
    const json_t *e = json_object_get(s, "enum"), *k = json_object_get(s, "const");
    int types = js_declared_types(c, s);
    if (types < 0) return JS_FAIL;
    if (json_is_true(json_object_get(s, "nullable"))) types |= JS_T_NULL;
    size_t n = e ? json_array_size(e) : 1, alts = 0, start = c->n;
    js_put(c, "(?:");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = e ? json_array_get(e, i) : k;
        if ((k && !json_equal((json_t *)v, (json_t *)k)) || !(js_value_type(v) & types)) continue;
        const char *bad = enum_conflict(s, v);
        if (bad)
            return js_fail(c, "`%s` beside %s is not supported at %s", bad, e ? "enum" : "const",
                           js_where(c));
        if (alts++) js_putc(c, '|');
        js_put_value(c, v);
    }
    if (!alts) {
        js_cut(c, start);
        return js_empty(c, "no value of enum/const at %s fits the schema", js_where(c));
    }
    js_putc(c, ')');
    return c->fail ? JS_FAIL : JS_OK;
}

/* ---- types ----------------------------------------------------------------- */

/* The types to generate: "type" if given, else those the keywords speak
 * about (a schema with none is any value: 0); -1 after an error, -2 for
 * an empty "type" array. */
static int generated_types(js_ctx *c, const json_t *s) {
    int mask;
    if (json_object_get(s, "type")) {
        mask = js_declared_types(c, s);
        if (mask < 0) return -1;
        if (!mask && !json_is_true(json_object_get(s, "nullable"))) return -2; /* "type": [] */
        if (mask & JS_T_NUM) mask &= ~JS_T_INT; /* numbers include the integers */
    } else {
        mask = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)s, k, v) {
            switch (js_keyword_kind(k)) {
            case JS_K_OBJECT: mask |= JS_T_OBJ; break;
            case JS_K_ARRAY: mask |= JS_T_ARR; break;
            case JS_K_STRING: mask |= JS_T_STR; break;
            case JS_K_NUMBER: mask |= JS_T_NUM; break;
            default: break;
            }
        }
        if (!mask) return 0;
    }
    if (json_is_true(json_object_get(s, "nullable"))) mask |= JS_T_NULL;
    return mask;
}

static js_st compile_type(js_ctx *c, const json_t *s, int bit) {
    switch (bit) {
    case JS_T_NULL: js_put(c, "null"); return JS_OK;
    case JS_T_BOOL: js_put(c, "(?:true|false)"); return JS_OK;
    case JS_T_OBJ: return js_compile_object(c, s);
    case JS_T_ARR: return js_compile_array(c, s);
    case JS_T_STR: return js_compile_string(c, s);
    case JS_T_INT: return js_compile_integer(c, s);
    default: return js_compile_number(c, s);
    }
}

static js_st compile_types(js_ctx *c, const json_t *s) {
    int mask = generated_types(c, s);
    if (mask == -2) return js_empty(c, "`type` at %s allows no type", js_where(c));
    if (mask < 0) return JS_FAIL;
    if (mask == 0) return js_any_value(c, js_levels_left(c), false);
    static const int order[] = {JS_T_OBJ, JS_T_ARR, JS_T_STR, JS_T_INT, JS_T_NUM, JS_T_BOOL, JS_T_NULL};
    size_t start = c->n, alts = 0;
    js_put(c, "(?:");
    for (int i = 0; i < 7; i++) {
        if (!(mask & order[i])) continue;
        size_t mark = c->n;
        if (alts) js_putc(c, '|');
        js_st st = compile_type(c, s, order[i]);
        if (st == JS_FAIL || c->fail) return JS_FAIL;
        if (st == JS_EMPTY) js_cut(c, mark);
        else alts++;
    }
    if (!alts) {
        js_cut(c, start);
        return js_empty(c, "no value of the types at %s fits its keywords", js_where(c));
    }
    js_putc(c, ')');
    return c->fail ? JS_FAIL : JS_OK;
}

/* ---- dispatch ---------------------------------------------------------------- */

static js_st compile_schema(js_ctx *c, const json_t *s) {
    if (json_is_true(s)) return js_any_value(c, js_levels_left(c), false);
    if (json_is_false(s)) return js_empty(c, "schema `false` at %s", js_where(c));
    if (!json_is_object(s))
        return js_fail(c, "the schema at %s must be an object or a boolean", js_where(c));
    if (!js_check_keywords(c, s)) return JS_FAIL;
    if (json_object_get(s, "$ref")) return compile_ref(c, s);
    if (json_object_get(s, "allOf")) return compile_allof(c, s);
    if (json_object_get(s, "anyOf") || json_object_get(s, "oneOf")) return compile_union(c, s);
    if (json_object_get(s, "enum") || json_object_get(s, "const")) return compile_enum(c, s);
    return compile_types(c, s);
}

js_st js_compile(js_ctx *c, const json_t *s) {
    if (c->fail) return JS_FAIL;
    if (c->nest >= JS_MAX_NEST)
        return js_fail(c, "the schema nests more than %d levels deep at %s", JS_MAX_NEST, js_where(c));
    c->nest++;
    js_st st = compile_schema(c, s);
    c->nest--;
    return st;
}

js_st js_compile_str(js_ctx *c, const json_t *s, char **out) {
    size_t from = c->n;
    *out = NULL;
    js_st st = js_compile(c, s);
    if (st != JS_OK) {
        js_cut(c, from);
        return st;
    }
    *out = js_take(c, from);
    return *out ? JS_OK : JS_FAIL;
}

/* ---- entry points ---------------------------------------------------------------- */

js_opts js_opts_default(void) {
    return (js_opts){.whitespace = JS_WS_SPACE, .max_depth = 5, .allow_additional = false};
}

static bool ctx_init(js_ctx *c, const json_t *root, const js_opts *opts, char *err) {
    memset(c, 0, sizeof *c);
    c->root = root;
    c->opts = opts ? *opts : js_opts_default();
    c->err = err;
    if (c->opts.max_depth < 1 || c->opts.max_depth > JS_MAX_DEPTH_OPT)
        return ct_err(err, "max_depth must be 1..%d (got %d)", JS_MAX_DEPTH_OPT, c->opts.max_depth);
    if (c->opts.whitespace != JS_WS_COMPACT && c->opts.whitespace != JS_WS_SPACE &&
        c->opts.whitespace != JS_WS_FLEXIBLE)
        return ct_err(err, "unknown whitespace mode %d", (int)c->opts.whitespace);
    c->keep = json_array();
    if (!c->keep) return ct_err(err, "out of memory");
    return true;
}

static char *ctx_finish(js_ctx *c, js_st st) {
    if (st == JS_EMPTY) js_fail(c, "the schema matches nothing: %s", c->why);
    char *out = NULL;
    if (!c->fail && st == JS_OK) {
        out = c->out;
        c->out = NULL;
    }
    free(c->out);
    free(c->path);
    for (int i = 0; i <= JS_MAX_DEPTH_OPT + 1; i++) free(c->any_memo[i]);
    json_decref(c->keep);
    return out;
}

char *js_schema_to_regex(const json_t *schema, const js_opts *opts, char *err) {
    js_ctx c;
    if (!schema) {
        ct_err(err, "no schema");
        return NULL;
    }
    if (!ctx_init(&c, schema, opts, err)) return ctx_finish(&c, JS_FAIL);
    c.refs[c.n_refs++] = (js_refent){schema, 0};
    return ctx_finish(&c, js_compile(&c, schema));
}

char *js_any_json_regex(bool object_only, const js_opts *opts, char *err) {
    js_ctx c;
    if (!ctx_init(&c, NULL, opts, err)) return ctx_finish(&c, JS_FAIL);
    return ctx_finish(&c, js_any_value(&c, c.opts.max_depth, object_only));
}
