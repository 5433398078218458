/*
 * tok_map.c — the small containers the tokenizer is built from: a chunked
 * string arena (stable pointers), a growable byte buffer, an open-addressing
 * string -> id hash map (vocabulary lookups) and a pair -> (rank, result)
 * hash map (BPE merges).  Linear probing with power-of-two capacities kept
 * at most half full, so a lookup touches one or two cache lines.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct tok_chunk {
    tok_chunk *next;
    size_t used, cap;
    char data[];
};

#define TOK_CHUNK_SIZE ((size_t)1 << 20)

char *tok_arena_dup(tok_arena *a, const char *s, size_t len) {
    tok_chunk *c = a->head;
    if (!c || c->cap - c->used < len + 1) {
        /* a big string gets its own chunk so the current one keeps filling */
        size_t cap = len + 1 > TOK_CHUNK_SIZE ? len + 1 : TOK_CHUNK_SIZE;
        tok_chunk *n = malloc(sizeof *n + cap);
        if (!n) return NULL;
        n->used = 0;
        n->cap = cap;
        if (c && len + 1 > TOK_CHUNK_SIZE) { /* keep the open chunk on top */
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    char *p = c->data + c->used;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

void tok_arena_free(tok_arena *a) {
    tok_chunk *c = a->head;
    while (c) {
        tok_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

/* ---- byte buffer ---- */

static bool buf_reserve(tok_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) return false;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool tok_buf_put(tok_buf *b, const void *s, size_t n) {
    if (!buf_reserve(b, n)) return false;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool tok_buf_putc(tok_buf *b, char c) {
    return tok_buf_put(b, &c, 1);
}

void tok_buf_free(tok_buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- string map ---- */

static uint32_t hash_bytes(const char *s, size_t n) {
    /* FNV-1a, 64-bit, folded: good spread for short token strings */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t cap_for(size_t expected) {
    uint32_t cap = 16;
    while ((size_t)cap < expected * 2 + 2 && cap < (1u << 31)) cap <<= 1;
    return cap;
}

bool tok_strmap_init(tok_strmap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->n = 0;
    m->ents = calloc(m->cap, sizeof *m->ents);
    return m->ents != NULL;
}

static tok_strmap_ent *strmap_slot(const tok_strmap *m, const char *key, size_t len,
                                   uint32_t h) {
    uint32_t mask = m->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        tok_strmap_ent *e = &m->ents[i];
        if (!e->key) return e;
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) return e;
    }
}

static bool strmap_grow(tok_strmap *m) {
    tok_strmap bigger = {calloc((size_t)m->cap * 2, sizeof *m->ents), m->cap * 2, m->n};
    if (!bigger.ents) return false;
    for (uint32_t i = 0; i < m->cap; i++) {
        const tok_strmap_ent *e = &m->ents[i];
        if (e->key) *strmap_slot(&bigger, e->key, e->len, e->hash) = *e;
    }
    free(m->ents);
    *m = bigger;
    return true;
}

int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val) {
    if ((size_t)(m->n + 1) * 2 > m->cap && !strmap_grow(m)) return -1;
    uint32_t h = hash_bytes(key, len);
    tok_strmap_ent *e = strmap_slot(m, key, len, h);
    if (e->key) return 0;
    e->key = key;
    e->len = (uint32_t)len;
    e->hash = h;
    e->val = val;
    m->n++;
    return 1;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
    if (!m->ents) return -1;
    const tok_strmap_ent *e = strmap_slot(m, key, len, hash_bytes(key, len));
    return e->key ? e->val : -1;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->ents);
    m->ents = NULL;
    m->cap = m->n = 0;
}

/* ---- pair map ---- */

#define PAIR_EMPTY UINT64_MAX

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static uint32_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

bool tok_pairmap_init(tok_pairmap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->n = 0;
    m->ents = malloc((size_t)m->cap * sizeof *m->ents);
    if (!m->ents) return false;
    for (uint32_t i = 0; i < m->cap; i++) m->ents[i].key = PAIR_EMPTY;
    return true;
}

static tok_pairmap_ent *pair_slot(const tok_pairmap *m, uint64_t k) {
    uint32_t mask = m->cap - 1;
    for (uint32_t i = pair_hash(k) & mask;; i = (i + 1) & mask) {
        tok_pairmap_ent *e = &m->ents[i];
        if (e->key == PAIR_EMPTY || e->key == k) return e;
    }
}

static bool pairmap_grow(tok_pairmap *m) {
    tok_pairmap bigger;
    if (!tok_pairmap_init(&bigger, (size_t)m->cap)) return false;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->ents[i].key != PAIR_EMPTY) *pair_slot(&bigger, m->ents[i].key) = m->ents[i];
    bigger.n = m->n;
    free(m->ents);
    *m = bigger;
    return true;
}

int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t res) {
    if ((size_t)(m->n + 1) * 2 > m->cap && !pairmap_grow(m)) return -1;
    uint64_t k = pair_key(a, b);
    tok_pairmap_ent *e = pair_slot(m, k);
    if (e->key == k) return 0;
    e->key = k;
    e->rank = rank;
    e->res = res;
    m->n++;
    return 1;
}

bool tok_pairmap_set(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t res) {
    if (tok_pairmap_put(m, a, b, rank, res) < 0) return false;
    tok_pairmap_ent *e = pair_slot(m, pair_key(a, b));
    e->rank = rank;
    e->res = res;
    return true;
}

bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *res) {
    if (!m->ents || a < 0 || b < 0) return false;
    const tok_pairmap_ent *e = pair_slot(m, pair_key(a, b));
    if (e->key == PAIR_EMPTY) return false;
    *rank = e->rank;
    *res = e->res;
    return true;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->ents);
    m->ents = NULL;
    m->cap = m->n = 0;
}
