/*
 * jinja_parse.c — tokens to a syntax tree, and the public parse/free.
 *
 * Owns Jinja2's grammar as chat templates use it: the statements (if,
 * for with else / inline filter / recursive, set in its three forms,
 * macro, call blocks, break, continue, filter and generation blocks) and
 * the expression precedence ladder of Jinja2's parser (conditional, or, and, not, comparisons,
 * + -, ~, * / // %, **, unary, then postfix, filters and tests).  Tags
 * that would load other templates (include, import, extends, from, block)
 * are rejected: a sandboxed template has no files to load.
 *
 * Nesting is bounded (MAX_NEST) so hostile input cannot overflow the C
 * stack either here or in the evaluator, which recurses along the tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

enum { MAX_NEST = 120 };

typedef struct {
    const jtok *t;
    size_t pos, n;
    jarena *a;
    char *err;
    int nest;
    bool failed;
} parser;

static const jtok *cur(parser *P) { return &P->t[P->pos]; }
static const jtok *peek(parser *P, size_t k) {
    return P->pos + k < P->n ? &P->t[P->pos + k] : &P->t[P->n - 1];
}

static bool fail(parser *P, const char *fmt, const char *arg) {
    if (!P->failed) {
        char msg[256];
        snprintf(msg, sizeof msg, fmt, arg);
        ct_err(P->err, "template syntax error (line %d): %s", cur(P)->line, msg);
    }
    P->failed = true;
    return false;
}

static bool is_op(parser *P, const char *op) {
    const jtok *t = cur(P);
    return t->kind == JT_OP && jname_is(t->p, t->n, op);
}
static bool is_name(parser *P, const char *name) {
    const jtok *t = cur(P);
    return t->kind == JT_NAME && jname_is(t->p, t->n, name);
}
static bool skip_op(parser *P, const char *op) {
    if (!is_op(P, op)) return false;
    P->pos++;
    return true;
}
static bool skip_name(parser *P, const char *name) {
    if (!is_name(P, name)) return false;
    P->pos++;
    return true;
}
static bool expect_op(parser *P, const char *op) {
    return skip_op(P, op) || fail(P, "expected '%s'", op);
}
static bool expect_kind(parser *P, jtok_kind k, const char *what) {
    if (cur(P)->kind != k) return fail(P, "expected %s", what);
    P->pos++;
    return true;
}

static jnode *node(parser *P, jnode_kind k) {
    jnode *n = ja_alloc(P->a, sizeof *n);
    if (!n) { fail(P, "%s", "out of memory"); return NULL; }
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)k;
    n->line = cur(P)->line;
    return n;
}

/* A growing array of node pointers (plus optional names) in the arena. */
typedef struct {
    jnode **v;
    const char **names;
    size_t *name_n;
    size_t n, cap;
} nvec;

static bool nv_push(parser *P, nvec *v, jnode *x, const char *name, size_t name_n) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jnode **nv = ja_alloc(P->a, cap * sizeof *nv);
        const char **nn = ja_alloc(P->a, cap * sizeof *nn);
        size_t *nl = ja_alloc(P->a, cap * sizeof *nl);
        if (!nv || !nn || !nl) return fail(P, "%s", "out of memory");
        if (v->n) {
            memcpy(nv, v->v, v->n * sizeof *nv);
            memcpy(nn, v->names, v->n * sizeof *nn);
            memcpy(nl, v->name_n, v->n * sizeof *nl);
        }
        v->v = nv, v->names = nn, v->name_n = nl, v->cap = cap;
    }
    v->v[v->n] = x;
    v->names[v->n] = name;
    v->name_n[v->n] = name_n;
    v->n++;
    return true;
}

static jnode *parse_expr(parser *P, bool with_cond);
static jnode *parse_tuple(parser *P, bool with_cond, bool explicit_parens);
static jnode *parse_unary(parser *P, bool with_filter);

static bool enter(parser *P) {
    if (++P->nest > MAX_NEST) return fail(P, "%s", "expression or blocks nested too deeply");
    return true;
}

/* (args, kw=args) after the '(' was consumed, into n->kids / n->kw. */
static bool parse_call_args(parser *P, jnode *n) {
    nvec pos = {0}, kw = {0};
    while (!is_op(P, ")")) {
        if (pos.n + kw.n > 0 && !expect_op(P, ",")) return false;
        if (is_op(P, ")")) break;
        const jtok *t = cur(P);
        if (t->kind == JT_NAME && peek(P, 1)->kind == JT_OP && jname_is(peek(P, 1)->p, peek(P, 1)->n, "=")) {
            P->pos += 2;
            jnode *v = parse_expr(P, true);
            if (!v || !nv_push(P, &kw, v, t->p, t->n)) return false;
        } else {
            if (kw.n) return fail(P, "%s", "positional argument after keyword argument");
            jnode *v = parse_expr(P, true);
            if (!v || !nv_push(P, &pos, v, NULL, 0)) return false;
        }
    }
    P->pos++;
    n->kids = pos.v, n->nkids = pos.n;
    n->kw = kw.v, n->kwnames = kw.names, n->kwname_n = kw.name_n, n->nkw = kw.n;
    return true;
}

static jnode *parse_list_or_dict(parser *P, bool dict) {
    jnode *n = node(P, dict ? JN_DICT : JN_LIST);
    if (!n) return NULL;
    P->pos++;
    nvec keys = {0}, vals = {0};
    const char *close = dict ? "}" : "]";
    while (!is_op(P, close)) {
        if (keys.n && !expect_op(P, ",")) return NULL;
        if (is_op(P, close)) break;
        jnode *k = parse_expr(P, true);
        if (!k || !nv_push(P, &keys, k, NULL, 0)) return NULL;
        if (dict) {
            if (!expect_op(P, ":")) return NULL;
            jnode *v = parse_expr(P, true);
            if (!v || !nv_push(P, &vals, v, NULL, 0)) return NULL;
        }
    }
    P->pos++;
    n->kids = keys.v, n->nkids = keys.n;
    n->kw = vals.v, n->nkw = vals.n;
    return n;
}

static jnode *parse_primary(parser *P) {
    const jtok *t = cur(P);
    jnode *n;
    switch (t->kind) {
    case JT_NAME:
        if (!(n = node(P, JN_LIT))) return NULL;
        P->pos++;
        if (jname_is(t->p, t->n, "true") || jname_is(t->p, t->n, "True")) n->lit = jv_bool(true);
        else if (jname_is(t->p, t->n, "false") || jname_is(t->p, t->n, "False")) n->lit = jv_bool(false);
        else if (jname_is(t->p, t->n, "none") || jname_is(t->p, t->n, "None")) n->lit = jv_none();
        else n->kind = JN_NAME, n->name = t->p, n->name_n = t->n;
        return n;
    case JT_STRING: {
        if (!(n = node(P, JN_LIT))) return NULL;
        size_t total = 0, k = P->pos;
        for (; P->t[k].kind == JT_STRING; k++) total += P->t[k].n;
        char *s = ja_alloc(P->a, total + 1);
        if (!s) { fail(P, "%s", "out of memory"); return NULL; }
        size_t o = 0;
        for (; cur(P)->kind == JT_STRING; P->pos++) {
            memcpy(s + o, cur(P)->p, cur(P)->n);
            o += cur(P)->n;
        }
        n->lit = jv_str(s, o);
        return n;
    }
    case JT_INT:
    case JT_FLOAT:
        if (!(n = node(P, JN_LIT))) return NULL;
        n->lit = t->kind == JT_INT ? jv_int(t->i) : jv_float(t->f);
        P->pos++;
        return n;
    case JT_BIG:
        if (!(n = node(P, JN_LIT))) return NULL;
        n->lit = (jv){.k = JV_BIG};
        n->lit.s.p = t->p, n->lit.s.n = t->n;
        P->pos++;
        return n;
    case JT_OP:
        if (is_op(P, "(")) {
            P->pos++;
            n = parse_tuple(P, true, true);
            if (!n || !expect_op(P, ")")) return NULL;
            return n;
        }
        if (is_op(P, "[")) return parse_list_or_dict(P, false);
        if (is_op(P, "{")) return parse_list_or_dict(P, true);
        break;
    default:
        break;
    }
    fail(P, "unexpected '%s'", t->kind == JT_EOF ? "end of template" : t->kind == JT_VAR_END ? "}}" : t->kind == JT_BLOCK_END ? "%}" : "token");
    return NULL;
}

static jnode *parse_subscript(parser *P, jnode *obj) {
    jnode *n = node(P, JN_ITEM);
    if (!n) return NULL;
    n->a = obj;
    jnode *parts[3] = {NULL, NULL, NULL};
    int k = 0;
    bool slice = false;
    for (;;) {
        if (!is_op(P, ":") && !is_op(P, "]")) {
            if (!(parts[k] = parse_expr(P, true))) return NULL;
        }
        if (is_op(P, ":") && k < 2) { P->pos++; k++; slice = true; continue; }
        break;
    }
    if (!expect_op(P, "]")) return NULL;
    if (!slice) {
        if (!parts[0]) { fail(P, "%s", "empty subscript"); return NULL; }
        n->b = parts[0];
        return n;
    }
    n->kind = JN_SLICE;
    n->b = parts[0], n->c = parts[1], n->d = parts[2];
    return n;
}

static jnode *parse_postfix(parser *P, jnode *n) {
    while (n) {
        if (is_op(P, ".")) {
            P->pos++;
            const jtok *t = cur(P);
            jnode *x = node(P, t->kind == JT_INT ? JN_ITEM : JN_ATTR);
            if (!x) return NULL;
            x->a = n;
            if (t->kind == JT_NAME) x->name = t->p, x->name_n = t->n;
            else if (t->kind == JT_INT) {
                if (!(x->b = node(P, JN_LIT))) return NULL;
                x->b->lit = jv_int(t->i);
            } else { fail(P, "%s", "expected a name after '.'"); return NULL; }
            P->pos++;
            n = x;
        } else if (is_op(P, "[")) {
            P->pos++;
            n = parse_subscript(P, n);
        } else if (is_op(P, "(")) {
            P->pos++;
            jnode *c = node(P, JN_CALL);
            if (!c) return NULL;
            c->a = n;
            if (!parse_call_args(P, c)) return NULL;
            n = c;
        } else {
            break;
        }
    }
    return n;
}

/* `|name(args)` and `is [not] name args`, repeated. */
static jnode *parse_filters(parser *P, jnode *n) {
    while (n) {
        bool filt = is_op(P, "|");
        if (!filt && !is_name(P, "is")) break;
        P->pos++;
        jnode *f = node(P, filt ? JN_FILTER : JN_TEST);
        if (!f) return NULL;
        f->a = n;
        if (!filt && skip_name(P, "not")) f->op = 1;
        if (cur(P)->kind != JT_NAME) { fail(P, "expected a %s name", filt ? "filter" : "test"); return NULL; }
        f->name = cur(P)->p, f->name_n = cur(P)->n;
        P->pos++;
        if (skip_op(P, "(")) {
            if (!parse_call_args(P, f)) return NULL;
        } else if (!filt) {
            const jtok *t = cur(P);
            bool arg = t->kind == JT_STRING || t->kind == JT_INT || t->kind == JT_FLOAT || t->kind == JT_BIG ||
                       (t->kind == JT_NAME && !is_name(P, "else") && !is_name(P, "or") &&
                        !is_name(P, "and") && !is_name(P, "if") && !is_name(P, "is")) ||
                       is_op(P, "[") || is_op(P, "{") || is_op(P, "(");
            if (arg) {
                jnode *x = parse_postfix(P, parse_primary(P));
                if (!x || !(f->kids = ja_alloc(P->a, sizeof *f->kids))) return NULL;
                f->kids[0] = x, f->nkids = 1;
            }
        }
        n = f;
    }
    return n;
}

static jnode *parse_unary(parser *P, bool with_filter) {
    if (!enter(P)) return NULL;
    jnode *n;
    if (is_op(P, "-") || is_op(P, "+")) {
        n = node(P, is_op(P, "-") ? JN_NEG : JN_POS);
        P->pos++;
        if (n && !(n->a = parse_unary(P, false))) n = NULL;
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filters(P, n);
    P->nest--;
    return n;
}

static jnode *binop(parser *P, jnode *l, jop op, jnode *r) {
    if (!l || !r) return NULL;
    jnode *n = node(P, JN_BINOP);
    if (!n) return NULL;
    n->op = (uint8_t)op, n->a = l, n->b = r;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *n = parse_unary(P, true);
    while (n && skip_op(P, "**")) n = binop(P, n, JO_POW, parse_unary(P, true));
    return n;
}

static jnode *parse_math2(parser *P) {
    jnode *n = parse_pow(P);
    for (;;) {
        jop op;
        if (is_op(P, "*")) op = JO_MUL;
        else if (is_op(P, "/")) op = JO_DIV;
        else if (is_op(P, "//")) op = JO_FLOORDIV;
        else if (is_op(P, "%")) op = JO_MOD;
        else return n;
        P->pos++;
        n = binop(P, n, op, parse_pow(P));
    }
}

static jnode *parse_concat(parser *P) {
    jnode *n = parse_math2(P);
    while (n && skip_op(P, "~")) n = binop(P, n, JO_CONCAT, parse_math2(P));
    return n;
}

static jnode *parse_math1(parser *P) {
    jnode *n = parse_concat(P);
    for (;;) {
        if (!is_op(P, "+") && !is_op(P, "-")) return n;
        jop op = is_op(P, "+") ? JO_ADD : JO_SUB;
        P->pos++;
        n = binop(P, n, op, parse_concat(P));
    }
}

static int cmp_op(parser *P) {
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    static const jop codes[] = {JO_EQ, JO_NE, JO_LT, JO_LE, JO_GT, JO_GE};
    for (int i = 0; i < 6; i++)
        if (is_op(P, ops[i])) { P->pos++; return codes[i]; }
    if (is_name(P, "in")) { P->pos++; return JO_IN; }
    if (is_name(P, "not") && peek(P, 1)->kind == JT_NAME && jname_is(peek(P, 1)->p, peek(P, 1)->n, "in")) {
        P->pos += 2;
        return JO_NOTIN;
    }
    return -1;
}

static jnode *parse_compare(parser *P) {
    jnode *first = parse_math1(P);
    if (!first) return NULL;
    nvec rest = {0};
    uint8_t ops[32];
    int op;
    while ((op = cmp_op(P)) >= 0) {
        if (rest.n == 32) { fail(P, "%s", "comparison chain too long"); return NULL; }
        ops[rest.n] = (uint8_t)op;
        jnode *r = parse_math1(P);
        if (!r || !nv_push(P, &rest, r, NULL, 0)) return NULL;
    }
    if (!rest.n) return first;
    jnode *n = node(P, JN_CMP);
    if (!n || !(n->ops = ja_alloc(P->a, rest.n))) return NULL;
    memcpy(n->ops, ops, rest.n);
    n->a = first, n->kids = rest.v, n->nkids = rest.n;
    return n;
}

static jnode *parse_not(parser *P) {
    if (!is_name(P, "not")) return parse_compare(P);
    if (!enter(P)) return NULL;
    jnode *n = node(P, JN_NOT);
    P->pos++;
    if (n && !(n->a = parse_not(P))) n = NULL;
    P->nest--;
    return n;
}

static jnode *parse_logic(parser *P, bool is_or) {
    jnode *n = is_or ? parse_logic(P, false) : parse_not(P);
    while (n && skip_name(P, is_or ? "or" : "and")) {
        jnode *x = node(P, is_or ? JN_OR : JN_AND);
        if (!x) return NULL;
        x->a = n;
        if (!(x->b = is_or ? parse_logic(P, false) : parse_not(P))) return NULL;
        n = x;
    }
    return n;
}

static jnode *parse_expr(parser *P, bool with_cond) {
    if (!enter(P)) return NULL;
    jnode *n = parse_logic(P, true);
    while (with_cond && n && skip_name(P, "if")) {
        jnode *c = node(P, JN_COND);
        if (!c) return NULL;
        c->b = n;
        if (!(c->a = parse_logic(P, true))) return NULL;
        if (skip_name(P, "else") && !(c->c = parse_expr(P, true))) return NULL;
        n = c;
    }
    P->nest--;
    return n;
}

/* Comma-separated expressions: a tuple when there is a comma (or `()`). */
static jnode *parse_tuple(parser *P, bool with_cond, bool explicit_parens) {
    nvec items = {0};
    bool comma = false;
    for (;;) {
        if (items.n) {
            if (!skip_op(P, ",")) break;
            comma = true;
        }
        const jtok *t = cur(P);
        if (t->kind == JT_VAR_END || t->kind == JT_BLOCK_END || is_op(P, ")") ||
            (t->kind == JT_NAME && (is_name(P, "if") || is_name(P, "recursive"))))
            break;
        jnode *x = parse_expr(P, with_cond);
        if (!x || !nv_push(P, &items, x, NULL, 0)) return NULL;
    }
    if (items.n == 1 && !comma) return items.v[0];
    if (!items.n && !explicit_parens) { fail(P, "%s", "expected an expression"); return NULL; }
    jnode *n = node(P, JN_TUPLE);
    if (!n) return NULL;
    n->kids = items.v, n->nkids = items.n;
    return n;
}

/* ---- statements ------------------------------------------------------ */

static jnode *parse_body(parser *P, const char *const *ends, const char **found);

/* A for/set target: a name, names separated by commas (a tuple), or for
 * set only, `ns.attr`. */
static jnode *parse_target(parser *P, bool allow_attr) {
    bool parens = skip_op(P, "(");
    nvec names = {0};
    do {
        if (cur(P)->kind != JT_NAME) { fail(P, "%s", "expected a variable name"); return NULL; }
        jnode *n = node(P, JN_NAME);
        if (!n) return NULL;
        n->name = cur(P)->p, n->name_n = cur(P)->n;
        P->pos++;
        if (allow_attr && !names.n && skip_op(P, ".")) {
            jnode *a = node(P, JN_ATTR);
            if (!a || cur(P)->kind != JT_NAME) { fail(P, "%s", "expected an attribute name"); return NULL; }
            a->a = n, a->name = cur(P)->p, a->name_n = cur(P)->n;
            P->pos++;
            return a;
        }
        if (!nv_push(P, &names, n, NULL, 0)) return NULL;
    } while (skip_op(P, ","));
    if (parens && !expect_op(P, ")")) return NULL;
    if (names.n == 1 && !parens) return names.v[0];
    jnode *t = node(P, JN_TUPLE);
    if (!t) return NULL;
    t->kids = names.v, t->nkids = names.n;
    return t;
}

static bool end_tag(parser *P) { return expect_kind(P, JT_BLOCK_END, "'%}'"); }

static const char *const ENDS_IF[] = {"elif", "else", "endif", NULL};
static const char *const ENDS_ENDIF[] = {"endif", NULL};
static const char *const ENDS_FOR[] = {"else", "endfor", NULL};
static const char *const ENDS_ENDFOR[] = {"endfor", NULL};
static const char *const ENDS_SET[] = {"endset", NULL};
static const char *const ENDS_MACRO[] = {"endmacro", NULL};
static const char *const ENDS_CALL[] = {"endcall", NULL};
static const char *const ENDS_FILTER[] = {"endfilter", NULL};
static const char *const ENDS_GEN[] = {"endgeneration", NULL};

/* After `if` / `elif`: condition, body and what follows. */
static jnode *parse_if(parser *P) {
    jnode *n = node(P, JN_IF);
    const char *found = NULL;
    if (!n || !(n->a = parse_tuple(P, false, false)) || !end_tag(P)) return NULL;
    if (!(n->b = parse_body(P, ENDS_IF, &found))) return NULL;
    if (!strcmp(found, "elif")) return (n->c = parse_if(P)) ? n : NULL;
    if (!strcmp(found, "else")) {
        if (!end_tag(P) || !(n->c = parse_body(P, ENDS_ENDIF, &found))) return NULL;
    }
    return end_tag(P) ? n : NULL;
}

static jnode *parse_for(parser *P) {
    jnode *n = node(P, JN_FOR);
    const char *found = NULL;
    if (!n || !(n->a = parse_target(P, false))) return NULL;
    if (!skip_name(P, "in")) { fail(P, "%s", "expected 'in'"); return NULL; }
    if (!(n->b = parse_tuple(P, false, false))) return NULL;
    if (skip_name(P, "if") && !(n->c = parse_expr(P, true))) return NULL;
    if (skip_name(P, "recursive")) n->op = 1;
    if (!end_tag(P) || !(n->d = parse_body(P, ENDS_FOR, &found))) return NULL;
    if (!strcmp(found, "else")) {
        if (!end_tag(P) || !(n->e = parse_body(P, ENDS_ENDFOR, &found))) return NULL;
    }
    return end_tag(P) ? n : NULL;
}

static jnode *parse_set(parser *P) {
    jnode *n = node(P, JN_SET);
    const char *found = NULL;
    if (!n || !(n->a = parse_target(P, true))) return NULL;
    if (skip_op(P, "=")) {
        if (!(n->b = parse_tuple(P, true, false))) return NULL;
        return end_tag(P) ? n : NULL;
    }
    if (n->a->kind != JN_NAME) { fail(P, "%s", "a block set needs a single name"); return NULL; }
    if (!end_tag(P) || !(n->d = parse_body(P, ENDS_SET, &found))) return NULL;
    return end_tag(P) ? n : NULL;
}

/* A macro's or call block's parameter list after its '(', into n. */
static bool parse_params(parser *P, jnode *n) {
    nvec params = {0};
    while (!skip_op(P, ")")) {
        if (params.n && !expect_op(P, ",")) return NULL;
        if (skip_op(P, ")")) break;
        const jtok *t = cur(P);
        if (t->kind != JT_NAME) { fail(P, "%s", "expected a parameter name"); return NULL; }
        P->pos++;
        jnode *def = NULL;
        if (skip_op(P, "=") && !(def = parse_expr(P, true))) return NULL;
        if (!nv_push(P, &params, def, t->p, t->n)) return NULL;
    }
    n->kw = params.v, n->kwnames = params.names, n->kwname_n = params.name_n, n->nkw = params.n;
    return true;
}

static jnode *parse_macro(parser *P) {
    jnode *n = node(P, JN_MACRO);
    const char *found = NULL;
    if (!n) return NULL;
    if (cur(P)->kind != JT_NAME) { fail(P, "%s", "expected a macro name"); return NULL; }
    n->name = cur(P)->p, n->name_n = cur(P)->n;
    P->pos++;
    if (!expect_op(P, "(") || !parse_params(P, n)) return NULL;
    if (!end_tag(P) || !(n->d = parse_body(P, ENDS_MACRO, &found))) return NULL;
    return end_tag(P) ? n : NULL;
}

/* {% call [(params)] macro(args) %}body{% endcall %} */
static jnode *parse_call_block(parser *P) {
    jnode *n = node(P, JN_CALLBLOCK);
    const char *found = NULL;
    if (!n) return NULL;
    n->name = "caller", n->name_n = 6;
    if (skip_op(P, "(") && !parse_params(P, n)) return NULL;
    if (!(n->a = parse_expr(P, true))) return NULL;
    if (n->a->kind != JN_CALL) { fail(P, "%s", "a call block needs a macro call, as in {% call m() %}"); return NULL; }
    if (!end_tag(P) || !(n->d = parse_body(P, ENDS_CALL, &found))) return NULL;
    return end_tag(P) ? n : NULL;
}

static jnode *parse_filter_block(parser *P) {
    jnode *n = node(P, JN_FILTERBLOCK);
    const char *found = NULL;
    nvec chain = {0};
    if (!n) return NULL;
    do {
        jnode *f = node(P, JN_FILTER);
        if (!f || cur(P)->kind != JT_NAME) { fail(P, "%s", "expected a filter name"); return NULL; }
        f->name = cur(P)->p, f->name_n = cur(P)->n;
        P->pos++;
        if (skip_op(P, "(") && !parse_call_args(P, f)) return NULL;
        if (!nv_push(P, &chain, f, NULL, 0)) return NULL;
    } while (skip_op(P, "|"));
    n->kids = chain.v, n->nkids = chain.n;
    if (!end_tag(P) || !(n->d = parse_body(P, ENDS_FILTER, &found))) return NULL;
    return end_tag(P) ? n : NULL;
}

static jnode *parse_stmt(parser *P) {
    const jtok *t = cur(P);
    if (t->kind != JT_NAME) { fail(P, "%s", "expected a statement name after '{%'"); return NULL; }
    P->pos++;
    const char *p = t->p;
    size_t n = t->n;
    if (jname_is(p, n, "if")) return parse_if(P);
    if (jname_is(p, n, "for")) return parse_for(P);
    if (jname_is(p, n, "set")) return parse_set(P);
    if (jname_is(p, n, "macro")) return parse_macro(P);
    if (jname_is(p, n, "filter")) return parse_filter_block(P);
    if (jname_is(p, n, "call")) return parse_call_block(P);
    if (jname_is(p, n, "break") || jname_is(p, n, "continue")) {
        jnode *x = node(P, jname_is(p, n, "break") ? JN_BREAK : JN_CONTINUE);
        return x && end_tag(P) ? x : NULL;
    }
    if (jname_is(p, n, "generation")) {
        const char *found = NULL;
        jnode *body = NULL;
        if (!end_tag(P) || !(body = parse_body(P, ENDS_GEN, &found))) return NULL;
        return end_tag(P) ? body : NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(n < 60 ? n : 60), p);
    P->pos--;
    if (!strcmp(name, "include") || !strcmp(name, "import") || !strcmp(name, "extends") ||
        !strcmp(name, "from") || !strcmp(name, "block"))
        fail(P, "'%s' is not allowed: a sandboxed template cannot load other templates", name);
    else if (!strncmp(name, "end", 3) || !strcmp(name, "else") || !strcmp(name, "elif"))
        fail(P, "unexpected '%s'", name);
    else
        fail(P, "unknown tag '%s'", name);
    return NULL;
}

static bool in_list(const char *const *list, const char *p, size_t n, const char **which) {
    for (; list && *list; list++)
        if (jname_is(p, n, *list)) { *which = *list; return true; }
    return false;
}

/* Statements and text up to one of the end tags `ends` (NULL: the end of
 * the template); the end tag's name is consumed and returned in *found. */
static jnode *parse_body(parser *P, const char *const *ends, const char **found) {
    if (!enter(P)) return NULL;
    jnode *body = node(P, JN_BODY);
    nvec kids = {0};
    while (body) {
        const jtok *t = cur(P);
        jnode *x = NULL;
        if (t->kind == JT_EOF) {
            if (ends) {
                const char *want = ends[0];
                while (ends[1]) ends++, want = ends[0];
                fail(P, "unexpected end of template, expected '%s'", want);
                return NULL;
            }
            break;
        }
        if (t->kind == JT_DATA) {
            if ((x = node(P, JN_TEXT))) x->lit = jv_str(t->p, t->n);
            P->pos++;
        } else if (t->kind == JT_VAR_BEGIN) {
            P->pos++;
            if ((x = node(P, JN_OUTPUT)) && (!(x->a = parse_tuple(P, true, false)) ||
                                              !expect_kind(P, JT_VAR_END, "'}}'")))
                x = NULL;
        } else if (t->kind == JT_BLOCK_BEGIN) {
            const jtok *nt = peek(P, 1);
            if (nt->kind == JT_NAME && in_list(ends, nt->p, nt->n, found)) {
                P->pos += 2;
                break;
            }
            P->pos++;
            x = parse_stmt(P);
        } else {
            fail(P, "%s", "unexpected token");
        }
        if (!x || !nv_push(P, &kids, x, NULL, 0)) return NULL;
    }
    P->nest--;
    if (!body) return NULL;
    body->kids = kids.v, body->nkids = kids.n;
    return body;
}

jinja_template *jinja_parse(const char *src, size_t len, const jinja_options *opt, char *err) {
    jinja_options defaults = jinja_options_chat();
    jinja_template *t = calloc(1, sizeof *t);
    if (!t) { ct_err(err, "template: out of memory"); return NULL; }
    jtoks toks = {0};
    if (!src) src = "", len = 0;
    if (!jlex(src, len, opt ? opt : &defaults, &t->arena, &toks, err)) {
        free(toks.v);
        jinja_free(t);
        return NULL;
    }
    parser P = {.t = toks.v, .n = toks.n, .a = &t->arena, .err = err};
    const char *found = NULL;
    t->root = parse_body(&P, NULL, &found);
    free(toks.v);
    if (!t->root) {
        jinja_free(t);
        return NULL;
    }
    return t;
}

void jinja_free(jinja_template *t) {
    if (!t) return;
    ja_free(&t->arena);
    free(t);
}

jinja_options jinja_options_chat(void) {
    jinja_options o = {.trim_blocks = true, .lstrip_blocks = true};
    return o;
}
