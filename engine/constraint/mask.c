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
 * A mask is a bitset over the tokenizer's ids plus the allowed count; eos
 * ids are never in it — cons_mask_logits lets them through when the text
 * so far is accepted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint_internal.h"

static size_t mask_words(const ti_index *ti) { return ((size_t)ti->n_vocab + 31) / 32; }

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

/* mu held: the cached mask of m's state (made now if the budget allows) or
 * m's scratch filled now. */
static int32_t mask_locked(cons_matcher *m, const uint32_t **bits) {
    cons_grammar *g = m->g;
    size_t words = mask_words(g->ti), size = sizeof(mk_mask) + words * sizeof(uint32_t);
    if (m->cur.id >= 0) {
        dfa_state *st = dfa_get(&g->d, m->cur.id);
        mk_mask *mk = atomic_load_explicit(&st->mask, memory_order_relaxed);
        if (mk) { /* made by another thread while this one waited */
            *bits = mk->bits;
            return mk->count;
        }
        if (g->mask_bytes + size <= g->mask_budget && (mk = malloc(size))) {
            int32_t count = fill(g, &m->cur, mk->bits);
            if (count < 0) {
                free(mk);
                return -1;
            }
            mk->count = count;
            g->mask_bytes += size;
            atomic_fetch_add_explicit(&g->stat_masks_made, 1, memory_order_relaxed);
            atomic_store_explicit(&st->mask, mk, memory_order_release);
            *bits = mk->bits;
            return count;
        }
    }
    if (!m->scratch && !(m->scratch = malloc(words * sizeof *m->scratch))) return -1;
    atomic_fetch_add_explicit(&g->stat_masks_uncached, 1, memory_order_relaxed);
    *bits = m->scratch;
    return fill(g, &m->cur, m->scratch);
}

int32_t mk_mask_of(cons_matcher *m, const uint32_t **bits) {
    dfa *d = &m->g->d;
    if (m->cur.id >= 0) {
        const mk_mask *mk = atomic_load_explicit(&dfa_get(d, m->cur.id)->mask, memory_order_acquire);
        if (mk) {
            *bits = mk->bits;
            return mk->count;
        }
    }
    pthread_mutex_lock(&d->mu);
    int32_t count = mask_locked(m, bits);
    pthread_mutex_unlock(&d->mu);
    return count;
}

void mk_free_all(cons_grammar *g) {
    for (int32_t id = 0; id < g->d.n_states; id++) {
        dfa_state *st = dfa_get(&g->d, id);
        free(atomic_load_explicit(&st->mask, memory_order_relaxed));
        atomic_store_explicit(&st->mask, NULL, memory_order_relaxed);
    }
    g->mask_bytes = 0;
}

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

static int32_t popcount_prefix(const uint32_t *bits, int n) {
    int32_t c = 0;
    for (int w = 0; w < n / 32; w++) c += __builtin_popcount(bits[w]);
    for (int i = n / 32 * 32; i < n; i++) c += (bits[i >> 5] >> (i & 31)) & 1u;
    return c;
}

int cons_mask_logits(cons_matcher *m, float *logits, int n_vocab) {
    const ti_index *ti = m->g->ti;
    int nv = n_vocab < ti->n_vocab ? n_vocab : ti->n_vocab;
    bool eos_ok = m->eos_allowed && cons_is_accepting(m);
    for (int i = 0; i < ti->n_eos; i++) m->eos_save[i] = ti->eos[i] < n_vocab ? logits[ti->eos[i]] : 0;
    const uint32_t *bits;
    int32_t count = mk_mask_of(m, &bits);
    if (count < 0) { /* out of memory: nothing can be vouched for */
        for (int i = 0; i < n_vocab; i++) logits[i] = -INFINITY;
        return 0;
    }
    apply_bits(bits, logits, nv);
    for (int i = nv; i < n_vocab; i++) logits[i] = -INFINITY; /* ids the tokenizer does not know */
    if (nv < ti->n_vocab) count = popcount_prefix(bits, nv);
    if (eos_ok)
        for (int i = 0; i < ti->n_eos; i++)
            if (ti->eos[i] < n_vocab) {
                logits[ti->eos[i]] = m->eos_save[i];
                count++;
            }
    return count;
}
