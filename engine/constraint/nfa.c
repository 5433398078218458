/*
 * nfa.c — the syntax tree compiled to a Thompson NFA over bytes, and the
 * two operations the DFA is made of: epsilon closure and a byte step over
 * a set of NFA states.
 *
 * Owns: the NFA's shape and its limits.  The tree is compiled backwards —
 * each node is built in front of the state that follows it — so no patch
 * lists are needed and a repetition's copies are just repeated calls.
 * {m,n} expands to m copies then n-m nested optional ones; {m,} to m-1
 * copies and a loop; each copy counts against CONS_MAX_NFA_STATES, and the
 * error names the outermost repetition being expanded.  A code-point set
 * becomes its UTF-8 byte-range sequences (rx_utf8.c), chained by byte
 * states whose common suffixes are shared.  State 0 is the single MATCH
 * state, so a sorted set is accepting iff it starts with 0.
 *
 * After the build: `live` marks states from which MATCH is reachable
 * (closures keep only live states, so every non-empty set is a viable
 * prefix and an empty one is dead), and the byte classes group bytes that
 * no live byte state tells apart (the DFA stores one transition per class).
 */
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

typedef struct {
    uint8_t lo, hi;
    int32_t out, id;
} byte_memo;

typedef struct {
    nfa *a;
    char *err;
    bool in_rep;     /* a repetition is being expanded ... */
    size_t rep_off;  /* ... the outermost one starts here */
    byte_memo memo[128]; /* byte states of the set being compiled, for suffix sharing */
    int n_memo;
    int32_t *starts; /* the set's sequence starts */
    int n_starts, cap_starts;
    int32_t next;    /* where the set's sequences lead */
    bool failed;
} nfa_builder;

static int32_t add_state(nfa_builder *b, uint8_t kind, uint8_t lo, uint8_t hi, int32_t out, int32_t out1) {
    nfa *a = b->a;
    if (a->n >= CONS_MAX_NFA_STATES) {
        if (!b->failed)
            ct_err(b->err, "regex: the pattern needs more than %d NFA states (a repetition too large) at offset %zu",
                   CONS_MAX_NFA_STATES, b->in_rep ? b->rep_off : 0);
        b->failed = true;
        return -1;
    }
    if (a->n == a->cap) {
        int32_t cap = a->cap ? a->cap * 2 : 256;
        nfa_state *st = realloc(a->st, (size_t)cap * sizeof *st);
        if (!st) {
            if (!b->failed) ct_err(b->err, "regex: out of memory (%d NFA states)", a->n);
            b->failed = true;
            return -1;
        }
        a->st = st;
        a->cap = cap;
    }
    a->st[a->n] = (nfa_state){.kind = kind, .lo = lo, .hi = hi, .out = out, .out1 = out1};
    return a->n++;
}

/* ---- code-point sets ------------------------------------------------------------------ */

static int32_t byte_state(nfa_builder *b, uint8_t lo, uint8_t hi, int32_t out) {
    for (int k = 0; k < b->n_memo; k++)
        if (b->memo[k].lo == lo && b->memo[k].hi == hi && b->memo[k].out == out) return b->memo[k].id;
    int32_t id = add_state(b, NFA_BYTE, lo, hi, out, -1);
    if (id >= 0 && b->n_memo < (int)(sizeof b->memo / sizeof b->memo[0]))
        b->memo[b->n_memo++] = (byte_memo){lo, hi, out, id};
    return id;
}

static bool emit_seq(void *ud, const rx_utf8_seq *q) {
    nfa_builder *b = ud;
    int32_t t = b->next;
    for (int k = q->len - 1; k >= 0 && t >= 0; k--) t = byte_state(b, q->lo[k], q->hi[k], t);
    if (t < 0) return false;
    if (b->n_starts == b->cap_starts) {
        int cap = b->cap_starts ? b->cap_starts * 2 : 16;
        int32_t *s = realloc(b->starts, (size_t)cap * sizeof *s);
        if (!s) {
            if (!b->failed) ct_err(b->err, "regex: out of memory");
            b->failed = true;
            return false;
        }
        b->starts = s;
        b->cap_starts = cap;
    }
    b->starts[b->n_starts++] = t;
    return true;
}

static int32_t compile_set(nfa_builder *b, const rx_set *s, int32_t next) {
    if (s->n == 0) return add_state(b, NFA_FAIL, 0, 0, -1, -1); /* e.g. [^\s\S]: matches nothing */
    b->n_memo = 0;
    b->n_starts = 0;
    b->next = next;
    for (int i = 0; i < s->n; i++)
        if (!rx_utf8_ranges(s->r[i].lo, s->r[i].hi, emit_seq, b)) return -1;
    int32_t t = b->starts[b->n_starts - 1];
    for (int i = b->n_starts - 2; i >= 0 && t >= 0; i--) t = add_state(b, NFA_SPLIT, 0, 0, b->starts[i], t);
    return t;
}

/* ---- the tree ------------------------------------------------------------------------------ */

static int32_t compile(nfa_builder *b, const rx_node *x, int32_t next);

static int32_t compile_rep(nfa_builder *b, const rx_node *x, int32_t next) {
    const rx_node *k = x->kids[0];
    bool outer = !b->in_rep;
    if (outer) {
        b->in_rep = true;
        b->rep_off = x->off;
    }
    int32_t t = next;
    int copies = x->min;
    if (x->max < 0) { /* a loop: s -> body -> s, s -> next */
        int32_t s = add_state(b, NFA_SPLIT, 0, 0, -1, next);
        int32_t body = s < 0 ? -1 : compile(b, k, s);
        if (body >= 0) b->a->st[s].out = body;
        t = body < 0 ? -1 : copies > 0 ? body : s; /* x+ enters the body; x* the choice */
        if (copies > 0) copies--;
    } else {
        for (int i = 0; i < x->max - x->min && t >= 0; i++) { /* (x(x(x)?)?)? */
            int32_t body = compile(b, k, t);
            t = body < 0 ? -1 : add_state(b, NFA_SPLIT, 0, 0, body, next);
        }
    }
    for (int i = 0; i < copies && t >= 0; i++) t = compile(b, k, t);
    if (outer) b->in_rep = false;
    return t;
}

static int32_t compile(nfa_builder *b, const rx_node *x, int32_t next) {
    switch (x->kind) {
    case RX_EMPTY: return next;
    case RX_SET: return compile_set(b, &x->set, next);
    case RX_CAT:
        for (int i = x->n - 1; i >= 0 && next >= 0; i--) next = compile(b, x->kids[i], next);
        return next;
    case RX_ALT: {
        int32_t t = compile(b, x->kids[x->n - 1], next);
        for (int i = x->n - 2; i >= 0 && t >= 0; i--) {
            int32_t s = compile(b, x->kids[i], next);
            t = s < 0 ? -1 : add_state(b, NFA_SPLIT, 0, 0, s, t);
        }
        return t;
    }
    case RX_REP: return compile_rep(b, x, next);
    }
    return -1;
}

/* ---- after the build ------------------------------------------------------------------------- */

static void mark_live(nfa *a) {
    a->st[NFA_MATCH_STATE].live = 1;
    for (bool changed = true; changed;) { /* edges point mostly backwards: few passes */
        changed = false;
        for (int32_t i = 0; i < a->n; i++) {
            nfa_state *s = &a->st[i];
            if (s->live) continue;
            bool l = false;
            if (s->kind == NFA_BYTE || s->kind == NFA_EPS) l = a->st[s->out].live;
            else if (s->kind == NFA_SPLIT) l = a->st[s->out].live || a->st[s->out1].live;
            if (l) s->live = 1, changed = true;
        }
    }
}

static void byte_classes(nfa *a) {
    bool edge[257] = {0};
    for (int32_t i = 0; i < a->n; i++)
        if (a->st[i].kind == NFA_BYTE && a->st[i].live) edge[a->st[i].lo] = edge[a->st[i].hi + 1] = true;
    int c = 0;
    a->cls_rep[0] = 0;
    for (int v = 0; v < 256; v++) {
        if (v > 0 && edge[v]) a->cls_rep[++c] = (uint8_t)v;
        a->cls[v] = (uint8_t)c;
    }
    a->n_cls = c + 1;
}

bool nfa_build(const rx_node *root, nfa *out, char *err) {
    *out = (nfa){0};
    nfa_builder b = {.a = out, .err = err};
    int32_t m = add_state(&b, NFA_MATCH, 0, 0, -1, -1);
    out->start = m < 0 ? -1 : compile(&b, root, m);
    free(b.starts);
    if (out->start < 0) {
        nfa_free(out);
        return false;
    }
    mark_live(out);
    if (!out->st[out->start].live) {
        nfa_free(out);
        return ct_err(err, "regex: the pattern matches no text at offset 0");
    }
    byte_classes(out);
    return true;
}

void nfa_free(nfa *a) {
    free(a->st);
    *a = (nfa){0};
}

/* ---- closure and step --------------------------------------------------------------------------- */

bool nfa_scratch_init(nfa_scratch *sc, const nfa *a) {
    sc->mark = calloc((size_t)a->n, sizeof *sc->mark);
    sc->stack = malloc((size_t)a->n * sizeof *sc->stack);
    sc->gen = 0;
    if (sc->mark && sc->stack) return true;
    nfa_scratch_free(sc);
    return false;
}

void nfa_scratch_free(nfa_scratch *sc) {
    free(sc->mark);
    free(sc->stack);
    *sc = (nfa_scratch){0};
}

static void next_gen(const nfa *a, nfa_scratch *sc) {
    if (++sc->gen == 0) { /* wrapped: forget every mark */
        memset(sc->mark, 0, (size_t)a->n * sizeof *sc->mark);
        sc->gen = 1;
    }
}

/* Append to out[n..) the live BYTE/MATCH states reachable from s by epsilon
 * moves that this generation has not added yet. */
static int32_t add_closure(const nfa *a, nfa_scratch *sc, int32_t s, int32_t *out, int32_t n) {
    if (sc->mark[s] == sc->gen || !a->st[s].live) return n;
    int32_t sp = 0;
    sc->mark[s] = sc->gen;
    sc->stack[sp++] = s;
    while (sp > 0) {
        int32_t id = sc->stack[--sp];
        const nfa_state *x = &a->st[id];
        if (x->kind == NFA_BYTE || x->kind == NFA_MATCH) {
            out[n++] = id;
            continue;
        }
        int32_t to[2] = {x->out, x->kind == NFA_SPLIT ? x->out1 : -1};
        for (int k = 1; k >= 0; k--) {
            int32_t t = to[k];
            if (t < 0 || sc->mark[t] == sc->gen || !a->st[t].live) continue;
            sc->mark[t] = sc->gen;
            sc->stack[sp++] = t;
        }
    }
    return n;
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return a < b ? -1 : a > b;
}

int32_t nfa_closure(const nfa *a, nfa_scratch *sc, int32_t s, int32_t *out) {
    next_gen(a, sc);
    int32_t n = add_closure(a, sc, s, out, 0);
    qsort(out, (size_t)n, sizeof *out, cmp_i32);
    return n;
}

int32_t nfa_step(const nfa *a, nfa_scratch *sc, const int32_t *set, int32_t n, uint8_t b, int32_t *out) {
    next_gen(a, sc);
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        const nfa_state *x = &a->st[set[i]];
        if (x->kind == NFA_BYTE && b >= x->lo && b <= x->hi) k = add_closure(a, sc, x->out, out, k);
    }
    if (k > 1) qsort(out, (size_t)k, sizeof *out, cmp_i32);
    return k;
}
