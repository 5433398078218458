/*
 * jinja_exec.c — statements, macro calls and the public render entry.
 *
 * Owns Jinja2's scoping as templates observe it: `if` shares its scope,
 * each for-loop iteration starts a fresh scope (a `set` inside a loop is
 * gone at the next iteration and after the loop — hence namespace()),
 * macros run in a scope whose parent is where they were defined (a call
 * block's body too, as the macro `caller`), a recursive loop's loop(xs)
 * reruns its for statement one level deeper.  Output goes to r->out,
 * which macros, loop(xs), block sets and filter blocks swap for a private
 * buffer to capture their body as a string.
 *
 * Limits: every loop iteration and call is a step (max_steps), macro
 * calls and recursive loop calls nest at most max_depth deep, all output and every built string is
 * capped at max_output, and all values at max_memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

static jscope *new_scope(jrender *r, jscope *parent) {
    jscope *s = jr_alloc(r, sizeof *s);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->parent = parent;
    return s;
}

static bool out_put(jrender *r, const char *p, size_t n) {
    if (!jb_put(r->out, p, n)) return jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output);
    return true;
}

/* Bind a for/set target (a name or a tuple of names) to v. */
static bool assign(jrender *r, jscope *s, const jnode *target, jv v) {
    if (target->kind == JN_NAME) return jscope_set(r, s, target->name, target->name_n, v);
    if (target->kind == JN_ATTR) {
        jv *ns = jscope_get(s, target->a->name, target->a->name_n);
        if (!ns || ns->k != JV_NS) return jr_fail(r, "cannot assign attribute on non-namespace object");
        return jd_set(r, ns->d, jv_str(target->name, target->name_n), v);
    }
    jlist *items;
    if (!jv_iterable(r, v, &items)) return false;
    if (items->n != target->nkids)
        return jr_fail(r, "cannot unpack %zu values into %zu names", items->n, target->nkids);
    for (size_t i = 0; i < items->n; i++)
        if (!assign(r, s, target->kids[i], items->v[i])) return false;
    return true;
}

/* Run body with output captured into a string. */
static bool capture(jrender *r, jscope *s, const jnode *body, jv *out) {
    jbuf tmp = jr_buf(r);
    jbuf *saved = r->out;
    r->out = &tmp;
    jexec x = jexec_body(r, s, body);
    r->out = saved;
    if (x == JX_ERR) { jb_free(&tmp); return false; }
    return jv_from_buf(r, &tmp, out);
}

/* Run for-statement n over `it` at recursion depth `depth` (1 at the
 * statement itself, deeper through a recursive loop's loop(...)). */
static jexec run_for(jrender *r, jscope *s, const jnode *n, jv it, int depth) {
    jlist *items;
    if (!jv_iterable(r, it, &items)) return JX_ERR;
    jscope *frame = new_scope(r, s);
    if (!frame) return JX_ERR;
    if (n->c) { /* `for x in xs if cond`: Jinja2 filters before counting */
        jlist *kept = jl_new(r, items->n);
        if (!kept) return JX_ERR;
        kept->n = 0;
        for (size_t i = 0; i < items->n; i++) {
            jv ok;
            frame->n = 0;
            if (!jr_step(r) || !assign(r, frame, n->a, items->v[i]) || !jeval(r, frame, n->c, &ok)) return JX_ERR;
            if (jv_truthy(ok)) kept->v[kept->n++] = items->v[i];
        }
        items = kept;
    }
    if (items->n == 0) return n->e ? jexec_body(r, s, n->e) : JX_OK;
    jloop *loop = jr_alloc(r, sizeof *loop);
    if (!loop) return JX_ERR;
    *loop = (jloop){.items = items, .depth = depth, .node = n->op ? n : NULL, .scope = s};
    jv lv = {.k = JV_LOOP};
    lv.loop = loop;
    for (size_t i = 0; i < items->n; i++) {
        loop->i = i;
        frame->n = 0; /* a fresh scope per iteration, reusing its storage */
        if (!jr_step(r) || !jscope_set(r, frame, "loop", 4, lv) || !assign(r, frame, n->a, items->v[i]))
            return JX_ERR;
        jexec x = jexec_body(r, frame, n->d);
        if (x == JX_ERR) return JX_ERR;
        if (x == JX_BREAK) break;
    }
    return JX_OK;
}

static jexec exec_for(jrender *r, jscope *s, const jnode *n) {
    jv it;
    if (!jeval(r, s, n->b, &it)) return JX_ERR;
    return run_for(r, s, n, it, 1);
}

/* loop(items) inside a `recursive` for: the same statement over items,
 * one level deeper, rendered to a string.  Nests like a macro call. */
static bool call_loop(jrender *r, const jloop *l, const jv *args, size_t nargs, size_t nkw, jv *out) {
    if (!l->node) return jr_fail(r, "The loop must have the 'recursive' marker to be used recursively");
    if (nargs != 1 || nkw) return jr_fail(r, "loop() takes exactly one iterable");
    if (r->depth >= r->lim->max_depth)
        return jr_fail(r, "template exceeded max_depth (%d nested macro calls or recursive loops)", r->lim->max_depth);
    jbuf tmp = jr_buf(r);
    jbuf *saved = r->out;
    r->out = &tmp;
    r->depth++;
    jexec x = run_for(r, l->scope, l->node, args[0], l->depth + 1);
    r->depth--;
    r->out = saved;
    if (x == JX_ERR) { jb_free(&tmp); return false; }
    return jv_from_buf(r, &tmp, out);
}

static jexec exec_filter_block(jrender *r, jscope *s, const jnode *n) {
    jv v;
    if (!capture(r, s, n->d, &v)) return JX_ERR;
    for (size_t i = 0; i < n->nkids; i++) {
        const jnode *f = n->kids[i];
        jargs a;
        if (!jeval_args(r, s, f, &a) || !jr_step(r) || !jfilter(r, f->name, f->name_n, v, &a, &v)) return JX_ERR;
    }
    jbuf *o = r->out;
    return jv_write_str(r, o, v) && !o->over ? JX_OK
           : (jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output), JX_ERR);
}

static bool call_macro(jrender *r, const jmacro *m, const jargs *a, const jv *caller, jv *out);

static jexec write_value(jrender *r, jv v) {
    if (!jv_write_str(r, r->out, v)) return JX_ERR;
    return r->out->over ? (jr_fail(r, "template exceeded max_output (%zu bytes)", r->lim->max_output), JX_ERR) : JX_OK;
}

/* {% call(params) m(args) %}body{% endcall %}: call macro m with `caller`
 * bound to the body (itself a macro taking params) and print the result. */
static jexec exec_call_block(jrender *r, jscope *s, const jnode *n) {
    jv fn, v;
    jargs a;
    jmacro *caller = jr_alloc(r, sizeof *caller);
    if (!caller || !jeval(r, s, n->a->a, &fn) || !jeval_args(r, s, n->a, &a)) return JX_ERR;
    if (fn.k != JV_MACRO) return jr_fail(r, "line %d: a call block must call a macro, not %s", n->line, jv_type_name(fn)), JX_ERR;
    caller->def = n, caller->closure = s;
    jv cv = {.k = JV_MACRO};
    cv.m = caller;
    if (!call_macro(r, fn.m, &a, &cv, &v)) return JX_ERR;
    return write_value(r, v);
}

static jexec exec_stmt(jrender *r, jscope *s, const jnode *n) {
    jv v;
    switch (n->kind) {
    case JN_TEXT: return out_put(r, n->lit.s.p, n->lit.s.n) ? JX_OK : JX_ERR;
    case JN_OUTPUT:
        if (!jeval(r, s, n->a, &v)) return JX_ERR;
        if (v.k == JV_STR) return out_put(r, v.s.p, v.s.n) ? JX_OK : JX_ERR;
        return write_value(r, v);
    case JN_IF:
        for (; n; n = n->c) {
            if (n->kind != JN_IF) return jexec_body(r, s, n);
            if (!jeval(r, s, n->a, &v)) return JX_ERR;
            if (jv_truthy(v)) return jexec_body(r, s, n->b);
        }
        return JX_OK;
    case JN_FOR: return exec_for(r, s, n);
    case JN_SET:
        if (n->b ? !jeval(r, s, n->b, &v) : !capture(r, s, n->d, &v)) return JX_ERR;
        return assign(r, s, n->a, v) ? JX_OK : JX_ERR;
    case JN_MACRO: {
        jmacro *m = jr_alloc(r, sizeof *m);
        if (!m) return JX_ERR;
        m->def = n, m->closure = s;
        v = (jv){.k = JV_MACRO};
        v.m = m;
        return jscope_set(r, s, n->name, n->name_n, v) ? JX_OK : JX_ERR;
    }
    case JN_BREAK: return JX_BREAK;
    case JN_CONTINUE: return JX_CONTINUE;
    case JN_FILTERBLOCK: return exec_filter_block(r, s, n);
    case JN_CALLBLOCK: return exec_call_block(r, s, n);
    case JN_BODY: return jexec_body(r, s, n);
    default: return jr_fail(r, "internal error: expression used as a statement"), JX_ERR;
    }
}

jexec jexec_body(jrender *r, jscope *s, const jnode *body) {
    if (r->nest >= JR_MAX_NEST) return jr_fail(r, "template nested too deeply (more than %d levels)", JR_MAX_NEST), JX_ERR;
    r->nest++;
    jexec x = JX_OK;
    for (size_t i = 0; i < body->nkids && x == JX_OK; i++) x = exec_stmt(r, s, body->kids[i]);
    r->nest--;
    return x;
}

/* Bind a macro's parameters (positional, keyword, default) in a scope
 * over its closure, plus `caller` for a call block, and render its body. */
static bool call_macro(jrender *r, const jmacro *m, const jargs *a, const jv *caller, jv *out) {
    const jnode *def = m->def;
    const jv *args = a->pos, *kwv = a->kwv;
    const char **kwn = a->kwn;
    const size_t *kwnl = a->kwnl;
    size_t nargs = a->npos, nkw = a->nkw;
    if (r->depth >= r->lim->max_depth)
        return jr_fail(r, "template exceeded max_depth (%d nested macro calls)", r->lim->max_depth);
    if (!jr_step(r)) return false;
    if (nargs > def->nkw)
        return jr_fail(r, "macro '%.*s' takes not more than %zu argument(s)", (int)def->name_n, def->name, def->nkw);
    jscope *s = new_scope(r, m->closure);
    if (!s) return false;
    for (size_t k = 0; k < nkw; k++) {
        size_t p = 0;
        while (p < def->nkw && !(def->kwname_n[p] == kwnl[k] && !memcmp(def->kwnames[p], kwn[k], kwnl[k]))) p++;
        if (p == def->nkw)
            return jr_fail(r, "macro '%.*s' has no parameter named '%.*s'", (int)def->name_n, def->name, (int)kwnl[k], kwn[k]);
    }
    for (size_t p = 0; p < def->nkw; p++) {
        jv v = jv_undef_named(def->kwnames[p], def->kwname_n[p]);
        const jv *kv = NULL;
        for (size_t k = 0; k < nkw; k++)
            if (def->kwname_n[p] == kwnl[k] && !memcmp(def->kwnames[p], kwn[k], kwnl[k])) kv = &kwv[k];
        if (p < nargs) v = args[p];
        else if (kv) v = *kv;
        else if (def->kw[p] && !jeval(r, s, def->kw[p], &v)) return false;
        if (!jscope_set(r, s, def->kwnames[p], def->kwname_n[p], v)) return false;
    }
    /* a call block's body has no caller of its own (Jinja2: "No caller
     * defined"), even inside a macro that has one */
    jv none = jv_undef_named("caller", 6);
    if ((caller || def->kind == JN_CALLBLOCK) && !jscope_set(r, s, "caller", 6, caller ? *caller : none)) return false;
    r->depth++;
    bool ok = capture(r, s, def->d, out);
    r->depth--;
    return ok;
}

bool jcall_value(jrender *r, jv fn, const jv *args, size_t nargs, const char **kwn,
                 const size_t *kwnl, const jv *kwv, size_t nkw, int line, jv *out) {
    jargs a = {.pos = args, .npos = nargs, .kwn = kwn, .kwnl = kwnl, .kwv = kwv, .nkw = nkw};
    if (fn.k == JV_MACRO) return call_macro(r, fn.m, &a, NULL, out);
    if (fn.k == JV_FUNC) return jr_step(r) && jcall_builtin(r, fn, &a, out);
    if (fn.k == JV_LOOP) return jr_step(r) && call_loop(r, fn.loop, args, nargs, nkw, out);
    if (fn.k == JV_UNDEF && fn.s.n)
        return jr_fail(r, "line %d: '%.*s' is undefined (not callable)", line, (int)fn.s.n, fn.s.p);
    return jr_fail(r, "line %d: '%s' object is not callable", line, jv_type_name(fn));
}

jinja_limits jinja_limits_default(void) {
    jinja_limits l = {.max_depth = 64, .max_steps = 1000000, .max_output = 4u << 20,
                      .now = 0, .max_memory = 256u << 20};
    return l;
}

char *jinja_render(const jinja_template *t, const json_t *ctx, const jinja_limits *lim,
                   size_t *out_len, char *err) {
    jinja_limits L = jinja_limits_default();
    if (lim) {
        jinja_limits d = L;
        L = *lim;
        if (L.max_depth <= 0) L.max_depth = d.max_depth;
        if (!L.max_steps) L.max_steps = d.max_steps;
        if (!L.max_output) L.max_output = d.max_output;
        if (!L.max_memory) L.max_memory = d.max_memory;
    }
    if (!t) { ct_err(err, "template: no template"); return NULL; }
    if (ctx && !json_is_object(ctx)) { ct_err(err, "template: context must be a JSON object"); return NULL; }
    jbuf out = {.limit = L.max_output};
    char errbuf[CT_ERRLEN];
    jrender r = {.out = &out, .lim = &L, .err = err ? err : errbuf};
    r.arena.limit = L.max_memory;
    jscope *root = new_scope(&r, NULL);
    bool ok = root != NULL;
    const char *k;
    json_t *x;
    if (ctx && ok) {
        json_object_foreach((json_t *)ctx, k, x) {
            jv v;
            if (!(ok = jv_from_json(&r, x, &v, 0) && jscope_set(&r, root, k, strlen(k), v))) break;
        }
    }
    if (ok) ok = jexec_body(&r, root, t->root) != JX_ERR && !r.failed;
    if (ok && !out.p) ok = jb_put(&out, "", 0);
    ja_free(&r.arena);
    if (!ok) {
        if (!r.failed) ct_err(err, "template: out of memory");
        jb_free(&out);
        return NULL;
    }
    if (out_len) *out_len = out.n;
    return out.p;
}
