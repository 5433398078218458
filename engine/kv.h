/*
 * kv.h — the paged key/value cache: a pool of fixed-size blocks, per-sequence
 * block tables, reference counts and the prefix cache.
 *
 * Storage.  One pool of n_blocks blocks; a block holds block_size positions
 * of every layer:
 *     k, v: (n_blocks, n_layers, block_size, kv_dim)
 * so the rows of one layer inside one block are contiguous (stride kv_dim).
 * A sequence (kv_seq) maps its logical block i (positions
 * [i*block_size, (i+1)*block_size)) to a physical block through its table.
 * Nothing is reserved per sequence up front: the scheduler asks for blocks
 * as positions are about to be written (kv_seq_reserve).
 *
 * Every block is in exactly one of three states, so that at all times
 *     free + used + cached == total:
 *   free    on the free list, content meaningless;
 *   used    referenced by >= 1 sequence table (refcount = number of tables);
 *   cached  refcount 0 but kept in the prefix cache (its content is a
 *           known full block of tokens), evictable least-recently-used.
 *
 * Prefix cache.  A FULL block written by a sequence is published under the
 * hash chain  h_i = hash(h_{i-1}, tokens of block i)  (h_{-1} = seed), and
 * remembers its own token ids so a hash collision can never return wrong
 * keys.  A new sequence attaches the longest chain of cached blocks that
 * matches its prompt (kv_seq_attach_prefix), sharing them (refcount++).
 * Only full blocks are ever shared; a shared block is never written again,
 * because positions it covers are already computed.  When a block with the
 * same chain hash is already published (two sequences computed the same
 * prefix at once), the later one is simply not published and is freed when
 * its sequence lets go.  Allocation takes a free block first, then evicts
 * the least recently used cached block.
 *
 * Threading: a kv_pool is used by one thread at a time (the engine thread).
 * kv_k()/kv_v() are read/written concurrently by the forward pass's pool
 * threads for distinct (sequence, position) rows — they only compute
 * addresses.
 */
#ifndef CTGI_KV_H
#define CTGI_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The geometry and memory of the pool: what the forward pass needs. */
typedef struct {
    int n_layers;
    int kv_dim;     /* n_kv_heads * head_dim */
    int block_size; /* positions per block */
    int n_blocks;   /* total blocks */
    float *k;       /* (n_blocks, n_layers, block_size, kv_dim) */
    float *v;       /* (n_blocks, n_layers, block_size, kv_dim) */
} kv_store;

/* One sequence's view of the cache. */
typedef struct {
    int32_t *table;  /* (n_table) physical block of each logical block, owned */
    int n_table;     /* blocks held */
    int cap_table;   /* allocated entries of table */
    int n_computed;  /* positions [0, n_computed) hold valid K/V */
    int n_published; /* leading full blocks already offered to the prefix cache */
    uint64_t chain;  /* hash chain value after block n_published-1 */
    int n_looked_up; /* full blocks the last kv_seq_attach_prefix looked up */
} kv_seq;

typedef struct kv_pool kv_pool;

typedef struct {
    int total, free, used, cached;
    uint64_t prefix_hit_blocks;  /* blocks attached from the prefix cache */
    uint64_t prefix_miss_blocks; /* full prompt blocks looked up and not attached */
    uint64_t evictions;          /* cached blocks reclaimed for new data */
} kv_stats;

/* NULL on bad geometry or out of memory.  prefix_caching false: full blocks
 * are never published or looked up (every block goes free on release). */
kv_pool *kv_pool_create(int n_layers, int kv_dim, int block_size, int n_blocks, bool prefix_caching);
void kv_pool_free(kv_pool *kv);
const kv_store *kv_pool_store(const kv_pool *kv);
kv_stats kv_pool_stats(const kv_pool *kv);
size_t kv_pool_bytes(const kv_pool *kv);
/* Blocks needed to hold n positions. */
int kv_blocks_for(const kv_pool *kv, int n_positions);
/* Blocks that could be obtained right now (free + cached). */
int kv_available(const kv_pool *kv);

void kv_seq_init(kv_seq *s);
/* Attach the longest run of cached full blocks matching tokens[0, n) (the
 * caller passes n = prompt length - 1 so that at least one token is left
 * to compute).  s must be empty.  Returns the positions now covered (a
 * multiple of block_size), sets s->n_computed to it, counts hits/misses. */
int kv_seq_attach_prefix(kv_pool *kv, kv_seq *s, const int32_t *tokens, int n);
/* Give back a prefix just attached (nothing computed since) and take its
 * lookup out of the hit/miss counts: an admission that could not go ahead
 * this step looks up again at the next, and must count once. */
void kv_seq_detach_prefix(kv_pool *kv, kv_seq *s);
/* Ensure s holds blocks for positions [0, n_positions).  All or nothing:
 * false (and s unchanged) if the pool cannot supply enough blocks. */
bool kv_seq_reserve(kv_pool *kv, kv_seq *s, int n_positions);
/* Positions [0, n_computed) of s now hold valid K/V for tokens[0, n_computed)
 * (tokens = the sequence's full token list so far).  Publishes newly full
 * blocks to the prefix cache. */
void kv_seq_commit(kv_pool *kv, kv_seq *s, const int32_t *tokens, int n_computed);
/* Give every block back (refcount--; published blocks at 0 become cached,
 * others free), free the table and empty s; s can be reused.  Blocks are
 * given back last first, so LRU eviction eats a cached chain from its tail
 * and what stays cached is still a usable prefix. */
void kv_seq_release(kv_pool *kv, kv_seq *s);

/* ---- inspection and tests ---- */

typedef enum { KV_BLOCK_FREE, KV_BLOCK_USED, KV_BLOCK_CACHED } kv_block_state;
/* State of physical block b; *refcount (if not NULL) = tables holding it. */
kv_block_state kv_pool_block(const kv_pool *kv, int b, int *refcount);
/* Walks the free list, the LRU list, the hash map and every block, and
 * checks they agree with each other and with the counters.  O(n_blocks). */
bool kv_pool_check(const kv_pool *kv);

/* The block hash: h_i = fn(h_{i-1}, tokens of block i, block_size). */
typedef uint64_t (*kv_hash_fn)(uint64_t parent, const int32_t *tokens, int n);
/* The default: XXH3-64 of the token ids, seeded with the parent hash. */
uint64_t kv_hash_xxh3(uint64_t parent, const int32_t *tokens, int n);
/* Replace the hash of an unused pool (tests force collisions with it). */
void kv_pool_set_hash(kv_pool *kv, kv_hash_fn fn);

/* Address of the key (value) row of `layer` at position pos of sequence s.
 * pos must be < s->n_table * block_size. */
static inline float *kv_row(const kv_store *st, float *base, const kv_seq *s, int layer, int pos) {
    size_t blk = (size_t)s->table[pos / st->block_size];
    size_t row = (blk * (size_t)st->n_layers + (size_t)layer) * (size_t)st->block_size +
                 (size_t)(pos % st->block_size);
    return base + row * (size_t)st->kv_dim;
}
static inline float *kv_k(const kv_store *st, const kv_seq *s, int layer, int pos) {
    return kv_row(st, st->k, s, layer, pos);
}
static inline float *kv_v(const kv_store *st, const kv_seq *s, int layer, int pos) {
    return kv_row(st, st->v, s, layer, pos);
}

#endif
