/*
 * constraint.c — constraint.h's grammar and matcher: compiling a regex for
 * a tokenizer, reference counting, advancing a matcher by a token, the
 * accepting/complete tests, and the regex helpers (check, escape).
 *
 * A grammar = the lazy DFA of its regex (dfa.c) + the tokenizer's token
 * index (token_index.c, shared) + the masks hung on its DFA states
 * (mask.c).  A matcher = a reference on the grammar and a cursor; its own
 * buffers cover what cannot be shared (masks and walks past the caps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

/* ---- grammars --------------------------------------------------------------------------------- */

bool cons_regex_check(const char *re, size_t len, char *err) {
    rx_arena ar = {0};
    nfa a;
    rx_node *root = rx_parse(re, len, &ar, err);
    bool ok = root && nfa_build(root, &a, err);
    rx_arena_free(&ar);
    if (ok) nfa_free(&a);
    return ok;
}

/* The regex part of a grammar (no index yet). */
static cons_grammar *grammar_new(const char *re, size_t len, int32_t max_states, char *err) {
    cons_grammar *g = calloc(1, sizeof *g);
    if (!g) {
        ct_err(err, "out of memory");
        return NULL;
    }
    if (!dfa_init(&g->d, re, len, max_states, err)) {
        free(g);
        return NULL;
    }
    atomic_init(&g->refs, 1);
    atomic_init(&g->stat_masks_made, 0);
    atomic_init(&g->stat_masks_uncached, 0);
    g->mask_budget = MK_BUDGET;
    return g;
}

static bool grammar_attach(cons_grammar *g, ti_index *ti, char *err) {
    g->ti = ti_ref(ti);
    g->depth = calloc((size_t)ti->max_len + 1, sizeof *g->depth);
    g->fill_bits = malloc(((size_t)ti->n_vocab + 31) / 32 * sizeof *g->fill_bits + sizeof(uint32_t));
    return (g->depth && g->fill_bits) || ct_err(err, "out of memory");
}

cons_grammar *cons_compile_index(const char *re, size_t len, ti_index *ti, int32_t max_states, char *err) {
    cons_grammar *g = grammar_new(re, len, max_states, err);
    if (g && !grammar_attach(g, ti, err)) {
        cons_grammar_unref(g);
        return NULL;
    }
    return g;
}

cons_grammar *cons_compile(const char *re, size_t len, const tokenizer *t, const int32_t *eos_ids, int n_eos,
                           char *err) {
    cons_grammar *g = grammar_new(re, len, CONS_MAX_DFA_STATES, err); /* regex errors first */
    if (!g) return NULL;
    ti_index *ti = ti_build(t, eos_ids, n_eos, err);
    bool ok = ti && grammar_attach(g, ti, err);
    ti_unref(ti);
    if (!ok) {
        cons_grammar_unref(g);
        return NULL;
    }
    return g;
}

cons_grammar *cons_grammar_ref(cons_grammar *g) {
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void cons_grammar_unref(cons_grammar *g) {
    if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) return;
    mk_free_all(g);
    if (g->depth)
        for (int i = 0; i <= g->ti->max_len; i++) dfa_cursor_free(&g->depth[i]);
    free(g->depth);
    free(g->fill_bits);
    dfa_destroy(&g->d);
    ti_unref(g->ti);
    free(g);
}

const tokenizer *cons_grammar_tokenizer(const cons_grammar *g) { return g->ti->t; }

void cons_grammar_stats(cons_grammar *g, cons_stats *s) {
    pthread_mutex_lock(&g->d.mu);
    *s = (cons_stats){
        .nfa_states = g->d.a.n,
        .byte_classes = g->d.a.n_cls,
        .dfa_states = g->d.n_states,
        .dfa_bytes = g->d.bytes,
        .mask_bytes = g->mask_bytes,
        .masks_made = atomic_load(&g->stat_masks_made),
        .masks_uncached = atomic_load(&g->stat_masks_uncached),
        .trie_nodes = g->ti->n_nodes,
    };
    pthread_mutex_unlock(&g->d.mu);
}

/* ---- matchers -------------------------------------------------------------------------------------- */

cons_matcher *cons_matcher_new(cons_grammar *g) {
    cons_matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->eos_save = malloc((size_t)(g->ti->n_eos > 0 ? g->ti->n_eos : 1) * sizeof *m->eos_save);
    m->keep = malloc(((size_t)g->ti->n_vocab + 31) / 32 * sizeof *m->keep + sizeof *m->keep);
    if (!m->eos_save || !m->keep) {
        free(m->eos_save);
        free(m->keep);
        free(m);
        return NULL;
    }
    m->g = cons_grammar_ref(g);
    m->cur.id = 0; /* the start state is always state 0 */
    m->eos_allowed = true;
    return m;
}

void cons_matcher_free(cons_matcher *m) {
    if (!m) return;
    dfa_cursor_free(&m->cur);
    dfa_cursor_free(&m->tmp[0]);
    dfa_cursor_free(&m->tmp[1]);
    free(m->scratch);
    free(m->keep);
    free(m->eos_save);
    cons_grammar_unref(m->g);
    free(m);
}

void cons_matcher_allow_eos(cons_matcher *m, bool allow) { m->eos_allowed = allow; }

bool cons_is_accepting(const cons_matcher *m) { return dfa_cursor_accepting(&m->g->d, &m->cur); }

bool cons_is_complete(const cons_matcher *m) { return dfa_cursor_complete(&m->g->d, &m->cur); }

/* The rest of a walk under the lock: from cached state s (or m->cur when s
 * is DFA_FULL) over p[0, n); m->cur moves only if every byte survives. */
static bool walk_locked(cons_matcher *m, int32_t s, const uint8_t *p, size_t n) {
    dfa *d = &m->g->d;
    pthread_mutex_lock(&d->mu);
    dfa_cursor *a = &m->tmp[0], *b = &m->tmp[1];
    bool ok = true, oom = false;
    if (s >= 0) a->id = s;
    else ok = dfa_cursor_copy(d, &m->cur, a);
    for (size_t k = 0; ok && k < n; k++) {
        ok = dfa_cursor_step(d, a, p[k], b, &oom);
        dfa_cursor *t = a;
        a = b;
        b = t;
    }
    if (ok) { /* trade buffers: the walk's end becomes the matcher's cursor */
        dfa_cursor t = m->cur;
        m->cur = *a;
        *a = t;
    }
    pthread_mutex_unlock(&d->mu);
    return ok;
}

bool cons_accept(cons_matcher *m, int32_t id) {
    const ti_index *ti = m->g->ti;
    if (id < 0 || id >= ti->n_vocab) return false;
    if (ti_is_eos(ti, id)) return m->eos_allowed && cons_is_accepting(m);
    if (!ti->in_trie[id]) return false;
    const uint8_t *p = ti->text + ti->off[id];
    size_t n = ti->off[id + 1] - ti->off[id], k = 0;
    int32_t s = m->cur.id;
    for (; s >= 0 && k < n; k++) { /* lock-free while the transitions are known */
        int32_t t = dfa_next(&m->g->d, s, p[k]);
        if (t == DFA_DEAD) return false;
        if (t == DFA_FULL) break;
        s = t;
    }
    if (s >= 0 && k == n) {
        m->cur.id = s;
        return true;
    }
    return walk_locked(m, s, p + k, n - k);
}

/* ---- regex text -------------------------------------------------------------------------------------- */

static bool put(char **out, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap * 2 + n + 16;
        char *o = realloc(*out, c);
        if (!o) return false;
        *out = o;
        *cap = c;
    }
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
    return true;
}

bool cons_regex_escape(const char *s, size_t n, char **out, size_t *out_len, size_t *out_cap) {
    static const char meta[] = "\\^$.|?*+()[]{}/-";
    if (!put(out, out_len, out_cap, "", 0)) return false;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        uint32_t cp;
        int k = rx_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        char buf[16];
        bool ok;
        if (k == 0) { /* not UTF-8: the language has only valid text; U+FFFD, as the decoder shows it */
            ok = put(out, out_len, out_cap, "\\x{FFFD}", 8);
            k = 1;
        } else if (c < 0x80 && c != 0 && strchr(meta, c)) {
            buf[0] = '\\', buf[1] = (char)c;
            ok = put(out, out_len, out_cap, buf, 2);
        } else if (c < 0x20 || c == 0x7F) {
            ok = put(out, out_len, out_cap, buf, (size_t)snprintf(buf, sizeof buf, "\\x%02X", c));
        } else {
            ok = put(out, out_len, out_cap, s + i, (size_t)k);
        }
        if (!ok) return false;
        i += (size_t)k;
    }
    return true;
}
