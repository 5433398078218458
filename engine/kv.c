/*
 * kv.c — the paged KV cache (see kv.h for the model).
 *
 * This file owns: the K/V memory of every block and the conversion of rows
 * into and out of its element type (kv_put / kv_get); each block's state and
 * reference count; the free list; the LRU list of cached blocks; the prefix
 * cache (a hash map from chain hash to block, plus each published block's
 * parent hash and token ids).  A kv_seq owns only its table array; every
 * change of a block's state happens here, which is what keeps
 *     free + used + cached == total
 * true after each call.  kv_pool_check() verifies all of it from scratch.
 *
 * Per block b:
 *   state[b]      FREE (on the free stack), USED (ref[b] > 0) or CACHED
 *                 (ref[b] == 0, published, on the LRU list)
 *   published[b]  present in the hash map under hash[b]; USED and CACHED
 *                 blocks may be published, FREE ones never are
 * The hash map holds at most one block per chain hash (a second block with
 * the same hash is simply not published), so a lookup is one probe chain
 * followed by a parent-hash and token comparison: a colliding entry is a
 * miss, never a wrong hit.
 */
#include "kv.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

#include "kernels/matmul.h" /* mm_alloc */
#include "model/dtype.h"

#define KV_NIL (-1)
#define KV_CHAIN_SEED 0x63746769766b7631ull /* h_{-1} ("ctgivkv1") */

struct kv_pool {
    kv_store st;
    bool prefix_caching;
    kv_hash_fn hash_fn;
    /* per block, (n_blocks) each */
    int32_t *ref;
    uint8_t *state;     /* kv_block_state */
    uint8_t *published;
    uint64_t *hash;     /* h_i of a published block */
    uint64_t *parent;   /* h_{i-1} of a published block */
    int32_t *tokens;    /* (n_blocks, block_size) token ids of a published block */
    int32_t *prev, *next; /* LRU links of cached blocks */
    int32_t lru_head;   /* least recently released: evicted first */
    int32_t lru_tail;
    int32_t *free_stack; /* (n_blocks) LIFO: a just-freed block is warm in cache */
    int n_free, n_used, n_cached;
    /* prefix map: open addressing with linear probing, slot = block or
     * KV_NIL; at least twice as many slots as blocks, so probes are short */
    int32_t *map;
    size_t map_mask;
    uint64_t hits, misses, evictions;
};

uint64_t kv_hash_xxh3(uint64_t parent, const int32_t *tokens, int n) {
    return XXH3_64bits_withSeed(tokens, (size_t)n * sizeof *tokens, parent);
}

/* ---- element types ------------------------------------------------------------ */

static const char *const DTYPE_NAMES[KV_N_DTYPES] = {"f32", "f16", "bf16", "q8_0"};

const char *kv_dtype_name(kv_dtype t) { return (unsigned)t < KV_N_DTYPES ? DTYPE_NAMES[t] : NULL; }

bool kv_dtype_parse(const char *s, kv_dtype *out) {
    for (int t = 0; s && t < KV_N_DTYPES; t++)
        if (strcmp(s, DTYPE_NAMES[t]) == 0) {
            *out = (kv_dtype)t;
            return true;
        }
    return false;
}

int kv_dtype_align(kv_dtype t) { return t == KV_Q8_0 ? KV_Q8_BLOCK : 1; }

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static uint16_t get_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* One Q8_0 block, operation for operation ggml's quantize_row_q8_0_ref
 * (f32 arithmetic, nothing contracted under -std=c17).  A NaN element
 * becomes 0 instead of an undefined int8 conversion. */
static void q8_block_put(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < KV_Q8_BLOCK; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(b, dt_f32_to_f16(d));
    for (int j = 0; j < KV_Q8_BLOCK; j++) {
        float q = roundf(x[j] * id);
        b[2 + j] = (uint8_t)(int8_t)(isnan(q) ? 0.0f : q);
    }
}

void kv_put(kv_dtype t, const float *src, void *dst, int n) {
    uint8_t *d = dst;
    int i = 0;
    switch (t) {
    case KV_F16:
#ifdef __F16C__ /* VCVTPS2PH with imm 0 rounds to nearest even, like dt_f32_to_f16 */
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(d + 2 * i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), 0));
#endif
        for (; i < n; i++) put_u16(d + 2 * i, dt_f32_to_f16(src[i]));
        break;
    case KV_BF16:
        for (; i < n; i++) put_u16(d + 2 * i, dt_f32_to_bf16(src[i]));
        break;
    case KV_Q8_0:
        for (; i + KV_Q8_BLOCK <= n; i += KV_Q8_BLOCK) q8_block_put(src + i, d + (size_t)i / KV_Q8_BLOCK * KV_Q8_BYTES);
        break;
    default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    }
}

void kv_get(kv_dtype t, const void *src, float *dst, int n) {
    const uint8_t *s = src;
    int i = 0;
    switch (t) {
    case KV_F16:
#ifdef __F16C__ /* exact, like dt_f16_to_f32 */
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 2 * i))));
#endif
        for (; i < n; i++) dst[i] = dt_f16_to_f32(get_u16(s + 2 * i));
        break;
    case KV_BF16:
        for (; i < n; i++) dst[i] = dt_bf16_to_f32(get_u16(s + 2 * i));
        break;
    case KV_Q8_0:
        for (; i + KV_Q8_BLOCK <= n; i += KV_Q8_BLOCK) {
            const uint8_t *b = s + (size_t)i / KV_Q8_BLOCK * KV_Q8_BYTES;
            float d = dt_f16_to_f32(get_u16(b));
            for (int j = 0; j < KV_Q8_BLOCK; j++) dst[i + j] = d * (float)(int8_t)b[2 + j];
        }
        break;
    default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    }
}

/* ---- the prefix map -------------------------------------------------------- */

static int32_t map_find(const kv_pool *kv, uint64_t h) {
    for (size_t i = (size_t)h & kv->map_mask;; i = (i + 1) & kv->map_mask) {
        int32_t b = kv->map[i];
        if (b == KV_NIL || kv->hash[b] == h) return b;
    }
}

static void map_insert(kv_pool *kv, int32_t b) {
    size_t i = (size_t)kv->hash[b] & kv->map_mask;
    while (kv->map[i] != KV_NIL) i = (i + 1) & kv->map_mask;
    kv->map[i] = b;
}

/* Removes b and closes the gap by shifting later entries of the probe run
 * back (no tombstones, so lookups never slow down with churn). */
static void map_remove(kv_pool *kv, int32_t b) {
    size_t i = (size_t)kv->hash[b] & kv->map_mask;
    while (kv->map[i] != b) i = (i + 1) & kv->map_mask;
    kv->map[i] = KV_NIL;
    for (size_t j = (i + 1) & kv->map_mask; kv->map[j] != KV_NIL; j = (j + 1) & kv->map_mask) {
        size_t home = (size_t)kv->hash[kv->map[j]] & kv->map_mask;
        /* the entry at j may stay iff its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        kv->map[i] = kv->map[j];
        kv->map[j] = KV_NIL;
        i = j;
    }
}

/* The published block holding exactly `tokens` after chain value `parent`. */
static int32_t lookup(const kv_pool *kv, uint64_t h, uint64_t parent, const int32_t *tokens) {
    int32_t b = map_find(kv, h);
    size_t bs = (size_t)kv->st.block_size;
    if (b == KV_NIL || kv->parent[b] != parent ||
        memcmp(kv->tokens + (size_t)b * bs, tokens, bs * sizeof *tokens) != 0)
        return KV_NIL;
    return b;
}

/* ---- block states ------------------------------------------------------------ */

static void lru_unlink(kv_pool *kv, int32_t b) {
    if (kv->prev[b] != KV_NIL) kv->next[kv->prev[b]] = kv->next[b];
    else kv->lru_head = kv->next[b];
    if (kv->next[b] != KV_NIL) kv->prev[kv->next[b]] = kv->prev[b];
    else kv->lru_tail = kv->prev[b];
    kv->prev[b] = kv->next[b] = KV_NIL;
}

static void lru_push(kv_pool *kv, int32_t b) {
    kv->prev[b] = kv->lru_tail;
    kv->next[b] = KV_NIL;
    if (kv->lru_tail != KV_NIL) kv->next[kv->lru_tail] = b;
    else kv->lru_head = b;
    kv->lru_tail = b;
}

/* A block for new data: a free one, else the least recently used cached
 * one (forgotten by the prefix cache).  The caller checked kv_available. */
static int32_t block_alloc(kv_pool *kv) {
    int32_t b;
    if (kv->n_free > 0) {
        b = kv->free_stack[--kv->n_free];
    } else {
        b = kv->lru_head;
        lru_unlink(kv, b);
        map_remove(kv, b);
        kv->published[b] = 0;
        kv->n_cached--;
        kv->evictions++;
    }
    kv->state[b] = KV_BLOCK_USED;
    kv->ref[b] = 1;
    kv->n_used++;
    return b;
}

/* One more table holds b (a cached block comes back into use). */
static void block_ref(kv_pool *kv, int32_t b) {
    if (kv->ref[b]++ > 0) return;
    lru_unlink(kv, b);
    kv->state[b] = KV_BLOCK_USED;
    kv->n_cached--;
    kv->n_used++;
}

static void block_unref(kv_pool *kv, int32_t b) {
    if (--kv->ref[b] > 0) return;
    kv->n_used--;
    if (kv->published[b]) {
        kv->state[b] = KV_BLOCK_CACHED;
        lru_push(kv, b);
        kv->n_cached++;
    } else {
        kv->state[b] = KV_BLOCK_FREE;
        kv->free_stack[kv->n_free++] = b;
    }
}

/* ---- the pool -------------------------------------------------------------------- */

kv_pool *kv_pool_create(int n_layers, int kv_dim, int block_size, int n_blocks, kv_dtype dtype,
                        bool prefix_caching) {
    if (n_layers <= 0 || kv_dim <= 0 || block_size <= 0 || n_blocks <= 0) return NULL;
    if ((unsigned)dtype >= KV_N_DTYPES || kv_dim % kv_dtype_align(dtype) != 0) return NULL;
    /* positions of one sequence are ints; K/V bytes must fit size_t */
    if ((long long)n_blocks * block_size > INT_MAX) return NULL;
    size_t per_block, nb = (size_t)n_blocks, bytes, row = kv_bytes(dtype, (size_t)kv_dim);
    if (__builtin_mul_overflow((size_t)n_layers * (size_t)block_size, row, &per_block) ||
        __builtin_mul_overflow(per_block, nb, &bytes) || bytes > SIZE_MAX / 2)
        return NULL; /* K and V together must be countable in bytes */
    kv_pool *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->st = (kv_store){n_layers, kv_dim, block_size, n_blocks, dtype, row, NULL, NULL};
    kv->prefix_caching = prefix_caching;
    kv->hash_fn = kv_hash_xxh3;
    size_t slots = 16;
    while (slots < 2 * nb) slots *= 2;
    kv->map_mask = slots - 1;
    /* mm_alloc: 2 MiB aligned, on transparent huge pages.  Attention reads a
     * head's slice of every position, rows kv_dim values apart: on 4 KiB
     * pages that is a TLB miss every few positions (a 110M model decoding
     * at 8k positions was 15-40% slower with calloc's pages, on a busy
     * host).  The pages stay untouched until written, and no row is read
     * before it is written, so nothing needs zeroing. */
    kv->st.k = mm_alloc(nb * per_block);
    kv->st.v = mm_alloc(nb * per_block);
    kv->ref = calloc(nb, sizeof *kv->ref);
    kv->state = calloc(nb, 1);
    kv->published = calloc(nb, 1);
    kv->hash = calloc(nb, sizeof *kv->hash);
    kv->parent = calloc(nb, sizeof *kv->parent);
    kv->tokens = calloc(nb * (size_t)block_size, sizeof *kv->tokens);
    kv->prev = malloc(nb * sizeof *kv->prev);
    kv->next = malloc(nb * sizeof *kv->next);
    kv->free_stack = malloc(nb * sizeof *kv->free_stack);
    kv->map = malloc(slots * sizeof *kv->map);
    if (!kv->st.k || !kv->st.v || !kv->ref || !kv->state || !kv->published || !kv->hash || !kv->parent ||
        !kv->tokens || !kv->prev || !kv->next || !kv->free_stack || !kv->map) {
        kv_pool_free(kv);
        return NULL;
    }
    for (int b = 0; b < n_blocks; b++) {
        kv->prev[b] = kv->next[b] = KV_NIL;
        kv->free_stack[b] = n_blocks - 1 - b; /* block 0 is handed out first */
        kv->state[b] = KV_BLOCK_FREE;
    }
    for (size_t i = 0; i < slots; i++) kv->map[i] = KV_NIL;
    kv->n_free = n_blocks;
    kv->lru_head = kv->lru_tail = KV_NIL;
    return kv;
}

void kv_pool_free(kv_pool *kv) {
    if (!kv) return;
    void *arrays[] = {kv->st.k, kv->st.v, kv->ref, kv->state, kv->published, kv->hash, kv->parent,
                      kv->tokens, kv->prev, kv->next, kv->free_stack, kv->map};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(arrays[i]);
    free(kv);
}

const kv_store *kv_pool_store(const kv_pool *kv) { return &kv->st; }

kv_stats kv_pool_stats(const kv_pool *kv) {
    return (kv_stats){kv->st.n_blocks, kv->n_free, kv->n_used, kv->n_cached,
                      kv->hits, kv->misses, kv->evictions};
}

size_t kv_position_bytes(int n_layers, int kv_dim, kv_dtype dtype) {
    return 2 * (size_t)n_layers * kv_bytes(dtype, (size_t)kv_dim);
}

/* The K and V arrays (the per-block bookkeeping is a few dozen bytes). */
size_t kv_pool_bytes(const kv_pool *kv) {
    return (size_t)kv->st.n_blocks * (size_t)kv->st.block_size *
           kv_position_bytes(kv->st.n_layers, kv->st.kv_dim, kv->st.dtype);
}

int kv_blocks_for(const kv_pool *kv, int n_positions) {
    return n_positions <= 0 ? 0 : (n_positions - 1) / kv->st.block_size + 1;
}

int kv_available(const kv_pool *kv) { return kv->n_free + kv->n_cached; }

void kv_pool_set_hash(kv_pool *kv, kv_hash_fn fn) { kv->hash_fn = fn ? fn : kv_hash_xxh3; }

/* ---- sequences --------------------------------------------------------------------- */

void kv_seq_init(kv_seq *s) {
    memset(s, 0, sizeof *s);
    s->chain = s->seed = KV_CHAIN_SEED;
}

void kv_seq_set_namespace(kv_seq *s, uint64_t ns) {
    int32_t w[2] = {(int32_t)(uint32_t)ns, (int32_t)(uint32_t)(ns >> 32)};
    s->seed = ns ? kv_hash_xxh3(KV_CHAIN_SEED, w, 2) : KV_CHAIN_SEED;
    if (s->n_table == 0) s->chain = s->seed;
}

static bool table_grow(kv_seq *s, int n) {
    if (n <= s->cap_table) return true;
    int cap = s->cap_table ? s->cap_table : 8;
    while (cap < n) cap = cap > INT_MAX / 2 ? n : cap * 2;
    int32_t *t = realloc(s->table, (size_t)cap * sizeof *t);
    if (!t) return false;
    s->table = t;
    s->cap_table = cap;
    return true;
}

int kv_seq_attach_prefix(kv_pool *kv, kv_seq *s, const int32_t *tokens, int n) {
    if (s->n_table > 0) return s->n_computed;
    int bs = kv->st.block_size, full = n > 0 ? n / bs : 0;
    if (!kv->prefix_caching || full == 0) return 0;
    uint64_t chain = s->seed;
    int i = 0;
    for (; i < full; i++) {
        const int32_t *t = tokens + (size_t)i * bs;
        uint64_t h = kv->hash_fn(chain, t, bs);
        int32_t b = lookup(kv, h, chain, t);
        /* a miss ends the walk: every later block hangs off this one.  The
         * table is allocated on the first hit, so a miss leaves s as it was */
        if (b == KV_NIL || (i == 0 && !table_grow(s, full))) break;
        block_ref(kv, b);
        s->table[s->n_table++] = b;
        chain = h;
    }
    kv->hits += (uint64_t)i;
    kv->misses += (uint64_t)(full - i);
    s->n_looked_up = full;
    s->chain = chain;
    s->n_published = i;
    s->n_computed = i * bs;
    return s->n_computed;
}

bool kv_seq_reserve(kv_pool *kv, kv_seq *s, int n_positions) {
    int want = kv_blocks_for(kv, n_positions);
    if (want <= s->n_table) return true;
    if (want - s->n_table > kv_available(kv) || !table_grow(s, want)) return false;
    while (s->n_table < want) s->table[s->n_table++] = block_alloc(kv);
    return true;
}

/* Offer full block i of s (chain hash h, parent hash `parent`) to the cache.
 * An attached block is published already; a block whose hash is taken (the
 * same prefix computed twice at once, or a collision) stays private. */
static void publish(kv_pool *kv, int32_t b, uint64_t h, uint64_t parent, const int32_t *tokens) {
    if (kv->published[b] || map_find(kv, h) != KV_NIL) return;
    size_t bs = (size_t)kv->st.block_size;
    kv->hash[b] = h;
    kv->parent[b] = parent;
    memcpy(kv->tokens + (size_t)b * bs, tokens, bs * sizeof *tokens);
    kv->published[b] = 1;
    map_insert(kv, b);
}

void kv_seq_commit(kv_pool *kv, kv_seq *s, const int32_t *tokens, int n_computed) {
    int bs = kv->st.block_size, held = s->n_table * bs;
    s->n_computed = n_computed < held ? n_computed : held;
    if (!kv->prefix_caching) return;
    while ((s->n_published + 1) * bs <= s->n_computed) {
        const int32_t *t = tokens + (size_t)s->n_published * bs;
        uint64_t h = kv->hash_fn(s->chain, t, bs);
        publish(kv, s->table[s->n_published], h, s->chain, t);
        s->chain = h;
        s->n_published++;
    }
}

void kv_seq_commit_private(const kv_pool *kv, kv_seq *s, int n_computed) {
    int held = s->n_table * kv->st.block_size;
    s->n_computed = n_computed < held ? n_computed : held;
}

void kv_seq_drop_before(kv_pool *kv, kv_seq *s, int pos) {
    int end = pos / kv->st.block_size, full = s->n_computed / kv->st.block_size;
    if (end > full) end = full;
    if (kv->prefix_caching && end > s->n_published) end = s->n_published;
    if (end > s->n_table) end = s->n_table;
    for (; s->n_dropped < end; s->n_dropped++) {
        block_unref(kv, s->table[s->n_dropped]);
        s->table[s->n_dropped] = KV_NIL;
    }
}

void kv_seq_release(kv_pool *kv, kv_seq *s) {
    for (int i = s->n_table - 1; i >= s->n_dropped; i--) block_unref(kv, s->table[i]);
    free(s->table);
    uint64_t seed = s->seed; /* the namespace outlives the blocks */
    kv_seq_init(s);
    s->chain = s->seed = seed;
}

void kv_seq_detach_prefix(kv_pool *kv, kv_seq *s) {
    kv->hits -= (uint64_t)s->n_table;
    kv->misses -= (uint64_t)(s->n_looked_up - s->n_table);
    kv_seq_release(kv, s);
}

/* ---- inspection ---------------------------------------------------------------------- */

kv_block_state kv_pool_block(const kv_pool *kv, int b, int *refcount) {
    if (refcount) *refcount = kv->ref[b];
    return (kv_block_state)kv->state[b];
}

/* Each list holds exactly the blocks of its state, once; counters agree. */
static bool check_lists(const kv_pool *kv, uint8_t *seen) {
    for (int i = 0; i < kv->n_free; i++) {
        int32_t b = kv->free_stack[i];
        if (b < 0 || b >= kv->st.n_blocks || seen[b]++ || kv->state[b] != KV_BLOCK_FREE) return false;
    }
    int n = 0;
    for (int32_t b = kv->lru_head, prev = KV_NIL; b != KV_NIL; prev = b, b = kv->next[b], n++) {
        if (b < 0 || b >= kv->st.n_blocks || seen[b]++ || kv->state[b] != KV_BLOCK_CACHED) return false;
        if (kv->prev[b] != prev || (kv->next[b] == KV_NIL && kv->lru_tail != b)) return false;
    }
    return n == kv->n_cached;
}

bool kv_pool_check(const kv_pool *kv) {
    int nb = kv->st.n_blocks, used = 0, published = 0;
    if (kv->n_free + kv->n_used + kv->n_cached != nb) return false;
    uint8_t *seen = calloc((size_t)nb, 1);
    if (!seen) return false;
    bool ok = check_lists(kv, seen);
    for (int b = 0; ok && b < nb; b++) {
        int st = kv->state[b];
        used += st == KV_BLOCK_USED;
        published += kv->published[b];
        ok = (st == KV_BLOCK_USED) == (kv->ref[b] > 0) && kv->ref[b] >= 0 &&
             (st == KV_BLOCK_USED || seen[b] == 1) && (st != KV_BLOCK_FREE || !kv->published[b]) &&
             (st != KV_BLOCK_CACHED || kv->published[b]) &&
             (!kv->published[b] || map_find(kv, kv->hash[b]) == b);
    }
    int in_map = 0;
    for (size_t i = 0; i <= kv->map_mask; i++) in_map += kv->map[i] != KV_NIL;
    free(seen);
    return ok && used == kv->n_used && in_map == published;
}
