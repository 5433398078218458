/*
 * kv.h — the paged key/value cache: a pool of fixed-size blocks, per-sequence
 * block tables, reference counts and the prefix cache.
 *
 * Storage.  One pool of n_blocks blocks; a block holds block_size positions
 * of every layer:
 *     k, v: (n_blocks, n_layers, block_size, kv_dim)
 * so the rows of one layer inside one block are contiguous (stride
 * row_bytes).  Elements are of the pool's kv_dtype (below): a row of kv_dim
 * values takes kv_bytes(dtype, kv_dim) bytes, so a byte budget holds twice
 * the positions at f16/bf16 as at f32, and 3.76x at q8_0.
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

/* ---- element types ---- */

/* What one cached K or V element is stored as.  The forward pass computes
 * in f32; rows are converted on the way in (kv_put) and widened back
 * exactly by the attention kernels as they read them (matmul.h).
 *   F32   4 bytes, exact;
 *   F16   2 bytes, IEEE binary16, rounded to nearest even (|x| >= 65520
 *         becomes inf; K/V values are far below that);
 *   BF16  2 bytes, the top half of an f32, rounded to nearest even (the
 *         f32 exponent range, 8 bits of precision);
 *   Q8_0  ggml's block_q8_0 along the row: each run of 32 values is an f16
 *         scale d then 32 int8 q, value = d * q (34 bytes per 32 values).
 *         A block must not straddle two heads, so head_dim must be a
 *         multiple of 32 (the engine refuses the type otherwise). */
typedef enum { KV_F32 = 0, KV_F16, KV_BF16, KV_Q8_0, KV_N_DTYPES } kv_dtype;

#define KV_Q8_BLOCK 32 /* values per Q8_0 block */
#define KV_Q8_BYTES 34 /* f16 scale + 32 int8 */

/* "f32" | "f16" | "bf16" | "q8_0" (the --kv-cache-dtype spellings); NULL
 * for a value out of range. */
const char *kv_dtype_name(kv_dtype t);
/* The type named s (the spellings above); false for anything else. */
bool kv_dtype_parse(const char *s, kv_dtype *out);
/* Values per row that a type needs as a unit: 32 for Q8_0, else 1. */
int kv_dtype_align(kv_dtype t);

/* Bytes of n values of type t (for Q8_0 n is a multiple of 32, or the
 * offset of a block boundary). */
static inline size_t kv_bytes(kv_dtype t, size_t n) {
    switch (t) {
    case KV_F16:
    case KV_BF16: return 2 * n;
    case KV_Q8_0: return n / KV_Q8_BLOCK * KV_Q8_BYTES;
    default: return 4 * n;
    }
}

/* n f32 values -> n values of type t at dst (any alignment; n a multiple
 * of 32 for Q8_0).  F16/BF16 round to nearest even; Q8_0 quantizes each
 * block as ggml's reference quantize_row_q8_0_ref: d = max|x| / 127,
 * q = roundf(x / d) (as x * (1/d), ties away from zero), d stored as f16. */
void kv_put(kv_dtype t, const float *src, void *dst, int n);
/* n values of type t -> f32, exactly (Q8_0: d * q is exact in f32: an
 * 11-bit significand times a 7-bit integer). */
void kv_get(kv_dtype t, const void *src, float *dst, int n);

/* The geometry and memory of the pool: what the forward pass needs. */
typedef struct {
    int n_layers;
    int kv_dim;       /* n_kv_heads * head_dim */
    int block_size;   /* positions per block */
    int n_blocks;     /* total blocks */
    kv_dtype dtype;   /* element type of k and v */
    size_t row_bytes; /* kv_bytes(dtype, kv_dim): one position of one layer */
    uint8_t *k;       /* (n_blocks, n_layers, block_size, row_bytes) */
    uint8_t *v;       /* (n_blocks, n_layers, block_size, row_bytes) */
} kv_store;

/* One sequence's view of the cache. */
typedef struct {
    int32_t *table;  /* (n_table) physical block of each logical block, owned */
    int n_table;     /* blocks held */
    int cap_table;   /* allocated entries of table */
    int n_computed;  /* positions [0, n_computed) hold valid K/V */
    int n_published; /* leading full blocks already offered to the prefix cache */
    uint64_t chain;  /* hash chain value after block n_published-1 */
    uint64_t seed;   /* h_{-1}: the namespace's chain seed (kv_seq_set_namespace) */
    int n_looked_up; /* full blocks the last kv_seq_attach_prefix looked up */
    int n_dropped;   /* leading blocks given back (kv_seq_drop_before): their entries are -1 */
} kv_seq;

typedef struct kv_pool kv_pool;

typedef struct {
    int total, free, used, cached;
    uint64_t prefix_hit_blocks;  /* blocks attached from the prefix cache */
    uint64_t prefix_miss_blocks; /* full prompt blocks looked up and not attached */
    uint64_t evictions;          /* cached blocks reclaimed for new data */
} kv_stats;

/* NULL on bad geometry (Q8_0 with kv_dim not a multiple of 32 included),
 * a dtype out of range, or out of memory.  prefix_caching false: full
 * blocks are never published or looked up (every block goes free on
 * release). */
kv_pool *kv_pool_create(int n_layers, int kv_dim, int block_size, int n_blocks, kv_dtype dtype,
                        bool prefix_caching);
void kv_pool_free(kv_pool *kv);
const kv_store *kv_pool_store(const kv_pool *kv);
kv_stats kv_pool_stats(const kv_pool *kv);
/* K + V bytes of the whole pool: n_blocks * block_size * kv_position_bytes. */
size_t kv_pool_bytes(const kv_pool *kv);
/* K + V bytes of one position over every layer: 2 * n_layers * kv_bytes(dtype, kv_dim). */
size_t kv_position_bytes(int n_layers, int kv_dim, kv_dtype dtype);
/* Blocks needed to hold n positions. */
int kv_blocks_for(const kv_pool *kv, int n_positions);
/* Blocks that could be obtained right now (free + cached). */
int kv_available(const kv_pool *kv);

void kv_seq_init(kv_seq *s);
/* The prefix-cache namespace of s (0 = the default, kept by kv_seq_init):
 * its hash chain starts from a seed derived from ns, so blocks published
 * in one namespace are never attached by a sequence of another (a LoRA
 * adapter's K/V differ from the base's for the same tokens).  Set on an
 * empty sequence; kv_seq_release keeps it. */
void kv_seq_set_namespace(kv_seq *s, uint64_t ns);
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
/* Positions [0, n_computed) of s now hold valid K/V that depend on more
 * than its tokens (an encoder-decoder's: on the encoder's input too), so
 * nothing is published to the prefix cache; its blocks go free on release. */
void kv_seq_commit_private(const kv_pool *kv, kv_seq *s, int n_computed);
/* Sliding-window attention: give back the blocks wholly before position
 * pos (no later query of s can see them), as far as they are computed and
 * offered to the prefix cache.  Their table entries become -1; positions
 * from pos on keep their blocks.  Every reader of s must stay at or after
 * pos (attention reads only its window). */
void kv_seq_drop_before(kv_pool *kv, kv_seq *s, int pos);
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

/* Address of the key (value) row of `layer` at position pos of sequence s:
 * row_bytes bytes of st->dtype.  pos must be < s->n_table * block_size. */
static inline void *kv_row(const kv_store *st, uint8_t *base, const kv_seq *s, int layer, int pos) {
    size_t blk = (size_t)s->table[pos / st->block_size];
    size_t row = (blk * (size_t)st->n_layers + (size_t)layer) * (size_t)st->block_size +
                 (size_t)(pos % st->block_size);
    return base + row * st->row_bytes;
}
static inline void *kv_k(const kv_store *st, const kv_seq *s, int layer, int pos) {
    return kv_row(st, st->k, s, layer, pos);
}
static inline void *kv_v(const kv_store *st, const kv_seq *s, int layer, int pos) {
    return kv_row(st, st->v, s, layer, pos);
}

#endif
