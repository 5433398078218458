/*
 * cons_cache.c — compiled grammars kept by (regex, tokenizer, eos ids), so
 * that a regex a server sees again (the same JSON schema, the same tool
 * set) finds its DFA states and masks already made.
 *
 * Owns: the entries (least recently used dropped past the capacity) and
 * one token index per (tokenizer, eos ids) seen, shared by the grammars it
 * compiles.  Every call is under the cache's lock except the regex
 * compilation itself, so a slow compile does not hold up hits; two threads
 * missing the same regex at once both compile and the first to insert
 * wins.  Entries hold a reference: a grammar dropped from the cache lives
 * on in the requests that use it.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "constraint/constraint_internal.h"

typedef struct {
    uint64_t hash;
    char *re;
    size_t len;
    const ti_index *ti;
    cons_grammar *g;
    uint64_t used; /* clock at the last hit */
} cache_entry;

struct cons_cache {
    pthread_mutex_t mu;
    int cap, n;
    cache_entry *e;
    uint64_t clock;
    ti_index **idx; /* one per (tokenizer, eos ids) */
    int n_idx;
};

cons_cache *cons_cache_new(int capacity) {
    cons_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = capacity > 0 ? capacity : 0;
    if (c->cap && !(c->e = calloc((size_t)c->cap, sizeof *c->e))) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void cons_cache_free(cons_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].re);
        cons_grammar_unref(c->e[i].g);
    }
    for (int i = 0; i < c->n_idx; i++) ti_unref(c->idx[i]);
    free(c->idx);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* mu held: the index for (t, eos), built now if new; NULL + err. */
static ti_index *index_for(cons_cache *c, const tokenizer *t, const int32_t *eos, int n_eos, char *err) {
    for (int i = 0; i < c->n_idx; i++)
        if (ti_matches(c->idx[i], t, eos, n_eos)) return c->idx[i];
    ti_index **v = realloc(c->idx, (size_t)(c->n_idx + 1) * sizeof *v);
    if (!v) {
        ct_err(err, "out of memory");
        return NULL;
    }
    c->idx = v;
    ti_index *ti = ti_build(t, eos, n_eos, err);
    if (ti) c->idx[c->n_idx++] = ti;
    return ti;
}

/* mu held: the entry for the key, or NULL. */
static cache_entry *find(cons_cache *c, uint64_t h, const char *re, size_t len, const ti_index *ti) {
    for (int i = 0; i < c->n; i++) {
        cache_entry *e = &c->e[i];
        if (e->hash == h && e->ti == ti && e->len == len && !memcmp(e->re, re, len)) return e;
    }
    return NULL;
}

/* mu held: keep g under the key (a reference of its own), dropping the
 * least recently used entry if full.  Out of memory: not kept. */
static void insert(cons_cache *c, uint64_t h, const char *re, size_t len, const ti_index *ti, cons_grammar *g) {
    char *copy = malloc(len ? len : 1);
    if (!copy || c->cap == 0) {
        free(copy);
        return;
    }
    memcpy(copy, re, len);
    int slot = c->n;
    if (c->n == c->cap) {
        slot = 0;
        for (int i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[slot].used) slot = i;
        free(c->e[slot].re);
        cons_grammar_unref(c->e[slot].g);
    } else {
        c->n++;
    }
    c->e[slot] = (cache_entry){h, copy, len, ti, cons_grammar_ref(g), ++c->clock};
}

cons_grammar *cons_cache_get(cons_cache *c, const char *re, size_t len, const tokenizer *t, const int32_t *eos_ids,
                             int n_eos, char *err) {
    pthread_mutex_lock(&c->mu);
    ti_index *ti = index_for(c, t, eos_ids, n_eos, err);
    if (!ti) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    uint64_t h = XXH3_64bits_withSeed(re, len, (uint64_t)(uintptr_t)ti);
    cache_entry *e = find(c, h, re, len, ti);
    if (e) {
        e->used = ++c->clock;
        cons_grammar *g = cons_grammar_ref(e->g);
        pthread_mutex_unlock(&c->mu);
        return g;
    }
    ti_ref(ti); /* the index outlives the unlocked compile whatever happens to the cache */
    pthread_mutex_unlock(&c->mu);

    cons_grammar *g = cons_compile_index(re, len, ti, CONS_MAX_DFA_STATES, err);
    pthread_mutex_lock(&c->mu);
    if (g) {
        if ((e = find(c, h, re, len, ti))) { /* another thread compiled it meanwhile */
            cons_grammar_unref(g);
            g = cons_grammar_ref(e->g);
            e->used = ++c->clock;
        } else {
            insert(c, h, re, len, ti, g);
        }
    }
    pthread_mutex_unlock(&c->mu);
    ti_unref(ti);
    return g;
}
