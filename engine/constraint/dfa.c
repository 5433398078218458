/*
 * dfa.c — the lazily built DFA of a grammar: subset construction on
 * demand, one memoised transition per (state, byte class).
 *
 * Owns: the state table and its growth, the set -> state hash, the lock
 * discipline that lets readers walk known transitions without it, and
 * cursors that keep going when the table is full.
 *
 * Publication: states live in chunks of DFA_CHUNK that never move.  A new
 * state is filled in completely (set, flags, transitions all DFA_UNKNOWN)
 * under mu and only then becomes reachable, by a release store of its id
 * into some transition slot; a reader that acquire-loads the id sees the
 * whole state.  Slots change once, from DFA_UNKNOWN to their final value,
 * always under mu.
 *
 * The cap: past max_states a transition to a state that is not in the
 * table yields DFA_FULL and is not memoised; a cursor then carries the NFA
 * set itself (computed under mu with the grammar's scratch).  Every answer
 * stays exact, only slower.  Allocation failures degrade the same way.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "constraint/constraint_internal.h"

/* ---- the set -> id table (mu held) ------------------------------------------------------ */

static uint64_t set_hash(const int32_t *set, int32_t n) { return XXH3_64bits(set, (size_t)n * sizeof *set); }

int32_t dfa_lookup(dfa *d, const int32_t *set, int32_t n) {
    if (!d->table_cap) return -1;
    uint32_t mask = d->table_cap - 1;
    for (uint32_t i = (uint32_t)set_hash(set, n) & mask;; i = (i + 1) & mask) {
        int32_t id = d->table[i];
        if (id < 0) return -1;
        const dfa_state *st = dfa_get(d, id);
        if (st->n == n && !memcmp(st->set, set, (size_t)n * sizeof *set)) return id;
    }
}

static void table_put(int32_t *table, uint32_t cap, uint64_t h, int32_t id) {
    uint32_t i = (uint32_t)h & (cap - 1);
    while (table[i] >= 0) i = (i + 1) & (cap - 1);
    table[i] = id;
}

static bool table_grow(dfa *d) {
    uint32_t cap = d->table_cap ? d->table_cap * 2 : 64;
    int32_t *t = malloc(cap * sizeof *t);
    if (!t) return false;
    memset(t, 0xff, cap * sizeof *t); /* -1 everywhere */
    for (int32_t id = 0; id < d->n_states; id++) {
        const dfa_state *st = dfa_get(d, id);
        table_put(t, cap, set_hash(st->set, st->n), id);
    }
    free(d->table);
    d->bytes += (size_t)(cap - d->table_cap) * sizeof *t;
    d->table = t;
    d->table_cap = cap;
    return true;
}

/* ---- states (mu held) ----------------------------------------------------------------------- */

static bool new_chunk(dfa *d, int c) {
    dfa_state *ch = calloc(DFA_CHUNK, sizeof *ch);
    size_t nt = (size_t)DFA_CHUNK * (size_t)d->a.n_cls;
    _Atomic int32_t *tr = malloc(nt * sizeof *tr);
    if (!ch || !tr) {
        free(ch);
        free(tr);
        return false;
    }
    for (size_t i = 0; i < nt; i++) atomic_init(&tr[i], DFA_UNKNOWN);
    for (int i = 0; i < DFA_CHUNK; i++) {
        ch[i].next = tr + (size_t)i * (size_t)d->a.n_cls;
        atomic_init(&ch[i].mask, NULL);
    }
    d->chunks[c] = ch;
    d->bytes += DFA_CHUNK * sizeof *ch + nt * sizeof *tr;
    return true;
}

/* A new state for set[0, n) (not in the table): its id, or DFA_FULL when the
 * cap is reached or memory is short. */
static int32_t add_state(dfa *d, const int32_t *set, int32_t n) {
    int32_t id = d->n_states;
    if (id >= d->max_states) return DFA_FULL;
    if ((uint32_t)(id + 1) * 2 > d->table_cap && !table_grow(d)) return DFA_FULL;
    if (id % DFA_CHUNK == 0 && !d->chunks[id / DFA_CHUNK] && !new_chunk(d, id / DFA_CHUNK)) return DFA_FULL;
    dfa_state *st = dfa_get(d, id);
    if (!(st->set = malloc((size_t)(n > 0 ? n : 1) * sizeof *set))) return DFA_FULL;
    memcpy(st->set, set, (size_t)n * sizeof *set);
    st->n = n;
    st->accepting = n > 0 && set[0] == NFA_MATCH_STATE;
    st->complete = n == 1 && set[0] == NFA_MATCH_STATE;
    table_put(d->table, d->table_cap, set_hash(set, n), id);
    d->bytes += (size_t)n * sizeof *set;
    d->n_states++;
    return id;
}

/* ---- life ---------------------------------------------------------------------------------------- */

bool dfa_init(dfa *d, const char *re, size_t len, int32_t max_states, char *err) {
    memset(d, 0, sizeof *d);
    rx_arena ar = {0};
    rx_node *root = rx_parse(re, len, &ar, err);
    bool ok = root && nfa_build(root, &d->a, err);
    rx_arena_free(&ar);
    if (!ok) return false;
    pthread_mutex_init(&d->mu, NULL);
    if (max_states < 1) max_states = 1;
    if (max_states > CONS_MAX_DFA_STATES) max_states = CONS_MAX_DFA_STATES;
    d->max_states = max_states;
    d->chunks = calloc((size_t)(max_states + DFA_CHUNK - 1) / DFA_CHUNK, sizeof *d->chunks);
    d->buf = malloc((size_t)d->a.n * sizeof *d->buf);
    if (d->chunks && d->buf && nfa_scratch_init(&d->sc, &d->a)) {
        int32_t n = nfa_closure(&d->a, &d->sc, d->a.start, d->buf);
        if (add_state(d, d->buf, n) == 0) return true;
    }
    int32_t n_nfa = d->a.n;
    dfa_destroy(d);
    return ct_err(err, "regex: out of memory (NFA of %d states)", n_nfa);
}

void dfa_destroy(dfa *d) {
    for (int32_t id = 0; id < d->n_states; id++) free(dfa_get(d, id)->set);
    if (d->chunks) {
        for (int32_t c = 0; c * DFA_CHUNK < d->max_states; c++) {
            if (!d->chunks[c]) continue;
            free((void *)d->chunks[c][0].next);
            free(d->chunks[c]);
        }
    }
    free(d->chunks);
    free(d->table);
    free(d->buf);
    nfa_scratch_free(&d->sc);
    nfa_free(&d->a);
    pthread_mutex_destroy(&d->mu);
    memset(d, 0, sizeof *d);
}

int32_t dfa_n_states(dfa *d) {
    pthread_mutex_lock(&d->mu);
    int32_t n = d->n_states;
    pthread_mutex_unlock(&d->mu);
    return n;
}

/* ---- transitions ------------------------------------------------------------------------------- */

int32_t dfa_next_locked(dfa *d, int32_t s, uint8_t b) {
    dfa_state *st = dfa_get(d, s);
    _Atomic int32_t *slot = &st->next[d->a.cls[b]];
    int32_t t = atomic_load_explicit(slot, memory_order_relaxed); /* written only under mu */
    if (t != DFA_UNKNOWN) return t;
    int32_t n = nfa_step(&d->a, &d->sc, st->set, st->n, b, d->buf);
    if (n == 0) t = DFA_DEAD;
    else if ((t = dfa_lookup(d, d->buf, n)) < 0) t = add_state(d, d->buf, n);
    if (t != DFA_FULL) atomic_store_explicit(slot, t, memory_order_release);
    return t;
}

int32_t dfa_next(dfa *d, int32_t s, uint8_t b) {
    int32_t t = atomic_load_explicit(&dfa_get(d, s)->next[d->a.cls[b]], memory_order_acquire);
    if (t != DFA_UNKNOWN) return t;
    pthread_mutex_lock(&d->mu);
    t = dfa_next_locked(d, s, b);
    pthread_mutex_unlock(&d->mu);
    return t;
}

/* ---- cursors ----------------------------------------------------------------------------------- */

void dfa_cursor_free(dfa_cursor *c) {
    free(c->set);
    *c = (dfa_cursor){0};
}

static bool cursor_hold(dfa_cursor *c, int32_t n) {
    if (c->cap >= n) return true;
    int32_t *s = realloc(c->set, (size_t)n * sizeof *s);
    if (!s) return false;
    c->set = s;
    c->cap = n;
    return true;
}

/* The set (n in *n) of a cursor that is not dead. */
static const int32_t *cursor_set(const dfa *d, const dfa_cursor *c, int32_t *n) {
    if (c->id >= 0) {
        const dfa_state *st = dfa_get(d, c->id);
        *n = st->n;
        return st->set;
    }
    *n = c->n;
    return c->set;
}

bool dfa_cursor_step(dfa *d, const dfa_cursor *from, uint8_t b, dfa_cursor *to, bool *oom) {
    if (from->id >= 0) {
        int32_t t = dfa_next_locked(d, from->id, b);
        if (t != DFA_FULL) {
            to->id = t;
            return t >= 0;
        }
    }
    int32_t n;
    const int32_t *set = cursor_set(d, from, &n);
    n = nfa_step(&d->a, &d->sc, set, n, b, d->buf);
    if (n == 0) return false;
    int32_t id = dfa_lookup(d, d->buf, n); /* back into the table when it holds the set */
    if (id >= 0) {
        to->id = id;
        return true;
    }
    if (!cursor_hold(to, n)) {
        *oom = true;
        return false;
    }
    memcpy(to->set, d->buf, (size_t)n * sizeof *to->set);
    to->n = n;
    to->id = DFA_FULL;
    return true;
}

bool dfa_cursor_copy(dfa *d, const dfa_cursor *from, dfa_cursor *to) {
    to->id = from->id;
    if (from->id != DFA_FULL) return true;
    if (!cursor_hold(to, from->n)) return false;
    memcpy(to->set, from->set, (size_t)from->n * sizeof *to->set);
    to->n = from->n;
    return true;
}

bool dfa_cursor_accepting(const dfa *d, const dfa_cursor *c) {
    if (c->id >= 0) return dfa_get(d, c->id)->accepting;
    return c->id == DFA_FULL && c->n > 0 && c->set[0] == NFA_MATCH_STATE;
}

bool dfa_cursor_complete(const dfa *d, const dfa_cursor *c) {
    if (c->id >= 0) return dfa_get(d, c->id)->complete;
    return c->id == DFA_FULL && c->n == 1 && c->set[0] == NFA_MATCH_STATE;
}
