/*
 * mask.c — which tokens may come next in a DFA state, and applying that to
 * a row of logits (cons_mask_logits).
 *
 * Owns: the masks' computation, caching and memory budget.  A state's mask
 * is made the first time a matcher stands in it: one preorder scan of the
 * token trie (token_index.c) that advances the DFA a byte per node from
 * the state and skips the subtree of any node where the DFA dies; every
 * token whose node is reached is allowed (its whole text keeps the text a
 * viable prefix, because dead NFA branches are pruned, nfa.c).  The scan
 * and the insertion happen under the grammar's lock (a second thread that
 * wants the same mask waits instead of computing it twice); the mask is
 * then published in its DFA state with a release store and read lock-free
 * ever after.  Masks of states past the DFA cap, or past MK_BUDGET bytes of
 * cached masks, are computed into the matcher's scratch each time.
 *
 * A mask is kept in the smallest of three forms (mk_mask): a bitset over
 * the tokenizer's ids, the list of allowed ids (a few digits or a quote:
 * most states inside structure) or the list of refused ids (free text);
 * 150k ids take 19 KB as bits, a list of 20 ids 80 bytes.  eos ids are
 * never in a mask — cons_mask_logits lets them through when the text so
 * far is accepted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

static size_t mask_words_n(int32_t V) { return ((size_t)V + 31) / 32; }
static size_t mask_words(const ti_index *ti) { return mask_words_n(ti->n_vocab); }

/* The trie scan from cursor start into bits (zeroed here); the allowed
 * count, -1 out of memory.  mu held. */
static int32_t fill(cons_grammar *g, const dfa_cursor *start, uint32_t *bits) {
    dfa *d = &g->d;
    const ti_index *ti = g->ti;
    const uint8_t *cls = d->a.cls;
    dfa_cursor *cur = g->depth;
    memset(bits, 0, mask_words(ti) * sizeof *bits);
    if (!dfa_cursor_copy(d, start, &cur[0])) return -1;
    int32_t count = 0;
    bool oom = false;
    for (uint32_t i = 0; i < ti->n_nodes;) {
        const ti_node *nd = &ti->nodes[i];
        const dfa_cursor *from = &cur[nd->depth - 1];
        dfa_cursor *to = &cur[nd->depth];
        bool alive;
        int32_t t = from->id >= 0 ? atomic_load_explicit(&dfa_get(d, from->id)->next[cls[nd->byte]], memory_order_relaxed)
                                  : DFA_UNKNOWN;
        if (t >= 0) { /* the common case: a known transition */
            to->id = t;
            alive = true;
        } else {
            alive = t != DFA_DEAD && dfa_cursor_step(d, from, nd->byte, to, &oom);
            if (oom) return -1;
        }
        if (!alive) {
            i = nd->end;
            continue;
        }
        for (int k = 0; k < nd->n_tok; k++) {
            int32_t id = ti->ids[nd->tok + k];
            bits[id >> 5] |= 1u << (id & 31);
        }
        count += nd->n_tok;
        i++;
    }
    return count;
}

/* The smallest form of a filled bitset (count of V allowed): a new mask,
 * NULL when out of memory.  Lists are shorter than the bitset's words. */
static mk_mask *pack(const uint32_t *bits, int32_t count, int32_t V) {
    size_t words = mask_words_n(V), n = words;
    mk_kind kind = MK_BITS;
    if ((size_t)count < words) kind = MK_ALLOW, n = (size_t)count;
    else if ((size_t)(V - count) < words) kind = MK_DENY, n = (size_t)(V - count);
    mk_mask *mk = malloc(sizeof *mk + n * sizeof *mk->data);
    if (!mk) return NULL;
    mk->kind = kind;
    mk->count = count;
    mk->n = (int32_t)n;
    if (kind == MK_BITS) {
        memcpy(mk->data, bits, words * sizeof *bits);
        return mk;
    }
    bool want = kind == MK_ALLOW;
    size_t k = 0;
    for (int32_t id = 0; id < V; id++)
        if ((((bits[id >> 5] >> (id & 31)) & 1u) != 0) == want) mk->data[k++] = (uint32_t)id;
    return mk;
}

/* mu held: the cached mask of m's state (made and published now if the
 * budget allows), or m's scratch bitset filled now. */
static const mk_mask *mask_locked(cons_matcher *m) {
    cons_grammar *g = m->g;
    int32_t V = g->ti->n_vocab;
    if (m->cur.id >= 0) {
        dfa_state *st = dfa_get(&g->d, m->cur.id);
        mk_mask *mk = atomic_load_explicit(&st->mask, memory_order_relaxed);
        if (mk) return mk; /* made by another thread while this one waited */
        if (g->mask_bytes < g->mask_budget) {
            int32_t count = fill(g, &m->cur, g->fill_bits);
            if (count < 0) return NULL;
            if ((mk = pack(g->fill_bits, count, V))) {
                g->mask_bytes += sizeof *mk + (size_t)mk->n * sizeof *mk->data;
                atomic_fetch_add_explicit(&g->stat_masks_made, 1, memory_order_relaxed);
                atomic_store_explicit(&st->mask, mk, memory_order_release);
                return mk;
            }
        }
    }
    size_t words = mask_words_n(V);
    if (!m->scratch && !(m->scratch = malloc(sizeof *m->scratch + words * sizeof *m->scratch->data))) return NULL;
    int32_t count = fill(g, &m->cur, m->scratch->data);
    if (count < 0) return NULL;
    m->scratch->kind = MK_BITS;
    m->scratch->count = count;
    m->scratch->n = (int32_t)words;
    atomic_fetch_add_explicit(&g->stat_masks_uncached, 1, memory_order_relaxed);
    return m->scratch;
}

const mk_mask *mk_mask_of(cons_matcher *m) {
    dfa *d = &m->g->d;
    if (m->cur.id >= 0) {
        const mk_mask *mk = atomic_load_explicit(&dfa_get(d, m->cur.id)->mask, memory_order_acquire);
        if (mk) return mk;
    }
    pthread_mutex_lock(&d->mu);
    const mk_mask *mk = mask_locked(m);
    pthread_mutex_unlock(&d->mu);
    return mk;
}

void mk_free_all(cons_grammar *g) {
    for (int32_t id = 0; id < g->d.n_states; id++) {
        dfa_state *st = dfa_get(&g->d, id);
        free(atomic_load_explicit(&st->mask, memory_order_relaxed));
        atomic_store_explicit(&st->mask, NULL, memory_order_relaxed);
    }
    g->mask_bytes = 0;
}

/* ---- applying a mask --------------------------------------------------------------------------- */

/* logits[i] = -inf for every i of [0, n) whose bit is clear.  Words that
 * are all ones are skipped; the rest go through a branch-free 32-lane
 * select the compiler vectorizes. */
static void apply_bits(const uint32_t *bits, float *logits, int n) {
    int full = n / 32;
    for (int w = 0; w < full; w++) {
        uint32_t b = bits[w];
        if (b == UINT32_MAX) continue;
        float *l = logits + (size_t)w * 32;
#pragma omp simd
        for (int j = 0; j < 32; j++) l[j] = (b >> j) & 1u ? l[j] : -INFINITY;
    }
    for (int i = full * 32; i < n; i++)
        if (!((bits[i >> 5] >> (i & 31)) & 1u)) logits[i] = -INFINITY;
}

/* Apply mk to logits[0, nv) (nv <= the tokenizer's ids); the count of
 * allowed ids among them. */
static int32_t apply(const mk_mask *mk, float *keep, float *logits, int nv, int32_t V) {
    int32_t listed = 0; /* list entries below nv */
    switch (mk->kind) {
    case MK_BITS:
        apply_bits(mk->data, logits, nv);
        if (nv == V) return mk->count;
        for (int w = 0; w < nv / 32; w++) listed += __builtin_popcount(mk->data[w]);
        for (int i = nv / 32 * 32; i < nv; i++) listed += (mk->data[i >> 5] >> (i & 31)) & 1u;
        return listed;
    case MK_DENY:
        for (int32_t i = 0; i < mk->n; i++)
            if (mk->data[i] < (uint32_t)nv) logits[mk->data[i]] = -INFINITY, listed++;
        return nv - listed;
    case MK_ALLOW:
        for (int32_t i = 0; i < mk->n; i++) keep[i] = mk->data[i] < (uint32_t)nv ? logits[mk->data[i]] : 0;
#pragma omp simd
        for (int i = 0; i < nv; i++) logits[i] = -INFINITY;
        for (int32_t i = 0; i < mk->n; i++)
            if (mk->data[i] < (uint32_t)nv) logits[mk->data[i]] = keep[i], listed++;
        return listed;
    }
    return 0;
}

int cons_mask_logits(cons_matcher *m, float *logits, int n_vocab) {
    const ti_index *ti = m->g->ti;
    int nv = n_vocab < ti->n_vocab ? n_vocab : ti->n_vocab;
    bool eos_ok = m->eos_allowed && cons_is_accepting(m);
    for (int i = 0; i < ti->n_eos; i++) m->eos_save[i] = ti->eos[i] < n_vocab ? logits[ti->eos[i]] : 0;
    const mk_mask *mk = mk_mask_of(m);
    if (!mk) { /* out of memory: nothing can be vouched for */
        for (int i = 0; i < n_vocab; i++) logits[i] = -INFINITY;
        return 0;
    }
    int32_t count = apply(mk, m->keep, logits, nv, ti->n_vocab);
    for (int i = nv; i < n_vocab; i++) logits[i] = -INFINITY; /* ids the tokenizer does not know */
    if (eos_ok) /* eos ids are never in a mask: they come back here */
        for (int i = 0; i < ti->n_eos; i++)
            if (ti->eos[i] < n_vocab) {
                logits[ti->eos[i]] = m->eos_save[i];
                count++;
            }
    return count;
}
