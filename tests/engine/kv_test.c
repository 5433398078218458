/*
 * kv_test.c — engine/kv: the paged KV cache.
 *
 * Random operations against a shadow model (block accounting, refcounts,
 * and K/V contents that identify the whole prefix, so a wrong prefix hit or
 * a write into a shared block shows up as wrong numbers); the prefix cache
 * on a 200-token shared prompt; LRU eviction order; all-or-nothing
 * reservation; hash collisions forced through a degenerate hash; K/V row
 * addressing across block boundaries.  (Element types: kv_dtype_test.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kv.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int rng_int(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

/* K/V content of (position p, layer l, element i) of a sequence: a function
 * of its whole prefix t[0..p] (through `roll`), exact in float. */
static uint32_t roll_step(uint32_t roll, int32_t token) { return roll * 31u + (uint32_t)token + 1u; }
static float content(uint32_t roll, int l, int i, bool value) {
    return (float)((roll + (uint32_t)l * 7919u + (uint32_t)i * 104729u + (value ? 1u : 0u)) % 1000003u);
}

/* Pretend to run the model: fill positions [from, to) of s (write), or
 * check that they hold what that would have written. */
static void rows(const kv_pool *kv, const kv_seq *s, const int32_t *t, int from, int to, bool write) {
    const kv_store *st = kv_pool_store(kv);
    uint32_t roll = 0;
    for (int p = 0; p < from; p++) roll = roll_step(roll, t[p]);
    for (int p = from; p < to; p++) {
        roll = roll_step(roll, t[p]);
        for (int l = 0; l < st->n_layers; l++)
            for (int i = 0; i < st->kv_dim; i++) {
                float *k = (float *)kv_k(st, s, l, p) + i, *v = (float *)kv_v(st, s, l, p) + i;
                if (write) {
                    *k = content(roll, l, i, false);
                    *v = content(roll, l, i, true);
                } else if (*k != content(roll, l, i, false) || *v != content(roll, l, i, true)) {
                    fail_msg("wrong K/V at position %d layer %d element %d", p, l, i);
                }
            }
    }
}
static void write_rows(const kv_pool *kv, const kv_seq *s, const int32_t *t, int from, int to) {
    rows(kv, s, t, from, to, true);
}
static void check_rows(const kv_pool *kv, const kv_seq *s, const int32_t *t, int from, int to) {
    rows(kv, s, t, from, to, false);
}

/* A sequence computed and committed: attach, reserve n, write, commit. */
static int compute(kv_pool *kv, kv_seq *s, const int32_t *t, int n) {
    kv_seq_init(s);
    int start = kv_seq_attach_prefix(kv, s, t, n - 1);
    assert_true(kv_seq_reserve(kv, s, n));
    write_rows(kv, s, t, start, n);
    kv_seq_commit(kv, s, t, n);
    return start;
}

static void check_totals(const kv_pool *kv) {
    kv_stats st = kv_pool_stats(kv);
    assert_int_equal(st.free + st.used + st.cached, st.total);
    assert_true(kv_pool_check(kv));
}

static int refs(const kv_pool *kv, int b) {
    int r;
    kv_pool_block(kv, b, &r);
    return r;
}

/* ---- randomised accounting against a shadow model ---------------------------------- */

enum { R_SEQS = 32, R_MAXLEN = 96, R_BASES = 4, R_BLOCK = 4, R_BLOCKS = 48, R_OPS = 10000 };

typedef struct {
    kv_seq s;
    int32_t t[R_MAXLEN];
    int len;       /* 0 = idle (no tokens, no blocks) */
    int n_table;   /* shadow of s.n_table */
    int computed;  /* shadow of s.n_computed */
} rseq;

typedef struct {
    kv_pool *kv;
    rseq seq[R_SEQS];
    int32_t base[R_BASES][R_MAXLEN];
    uint64_t hits, misses; /* shadow counters */
    uint64_t rng;
} world;

/* Tokens from a 3-letter alphabet: a random prefix of one of 4 base
 * prompts, then random tokens, so full blocks repeat often. */
static void new_tokens(world *w, rseq *r) {
    r->len = 1 + rng_int(&w->rng, R_MAXLEN);
    int share = rng_int(&w->rng, r->len + 1), b = rng_int(&w->rng, R_BASES);
    for (int i = 0; i < r->len; i++) r->t[i] = i < share ? w->base[b][i] : rng_int(&w->rng, 3);
}

static void op_attach(world *w, rseq *r) {
    new_tokens(w, r);
    int got = kv_seq_attach_prefix(w->kv, &r->s, r->t, r->len - 1);
    int full = (r->len - 1) / R_BLOCK;
    assert_int_equal(got % R_BLOCK, 0);
    assert_true(got <= r->len - 1);
    assert_int_equal(r->s.n_computed, got);
    r->n_table = got / R_BLOCK;
    r->computed = got;
    w->hits += (uint64_t)(got / R_BLOCK);
    w->misses += (uint64_t)(full - got / R_BLOCK);
    check_rows(w->kv, &r->s, r->t, 0, got); /* the attached prefix is this prompt's */
}

static void op_reserve(world *w, rseq *r) {
    int target = r->computed + 1 + rng_int(&w->rng, 12);
    if (target > r->len) target = r->len;
    int old = r->n_table, need = kv_blocks_for(w->kv, target) - old, avail = kv_available(w->kv);
    int32_t before[R_MAXLEN];
    if (old > 0) memcpy(before, r->s.table, (size_t)old * sizeof(int32_t));
    bool ok = kv_seq_reserve(w->kv, &r->s, target);
    assert_int_equal(ok, need <= avail);
    if (ok && need > 0) r->n_table += need;
    assert_int_equal(r->s.n_table, r->n_table);
    if (old > 0) assert_memory_equal(before, r->s.table, (size_t)old * sizeof(int32_t)); /* held blocks stay */
}

static void op_commit(world *w, rseq *r) {
    int held = r->n_table * R_BLOCK < r->len ? r->n_table * R_BLOCK : r->len;
    if (held <= r->computed) return;
    int to = r->computed + 1 + rng_int(&w->rng, held - r->computed);
    /* only private blocks are ever written */
    for (int p = r->computed; p < to; p++) assert_int_equal(refs(w->kv, r->s.table[p / R_BLOCK]), 1);
    write_rows(w->kv, &r->s, r->t, r->computed, to);
    kv_seq_commit(w->kv, &r->s, r->t, to);
    r->computed = to;
    assert_int_equal(r->s.n_computed, to);
}

static void op_release(world *w, rseq *r) {
    kv_seq_release(w->kv, &r->s);
    assert_int_equal(r->s.n_table, 0);
    r->len = r->n_table = r->computed = 0;
}

/* free + used + cached == total; each block's refcount is the number of
 * tables holding it; a block in a table is USED, never FREE or CACHED. */
static void check_world(world *w, bool contents) {
    check_totals(w->kv);
    int count[R_BLOCKS] = {0};
    for (int i = 0; i < R_SEQS; i++)
        for (int j = 0; j < w->seq[i].n_table; j++) count[w->seq[i].s.table[j]]++;
    int used = 0;
    for (int b = 0; b < R_BLOCKS; b++) {
        int rc;
        kv_block_state st = kv_pool_block(w->kv, b, &rc);
        assert_int_equal(rc, count[b]);
        assert_int_equal(st == KV_BLOCK_USED, count[b] > 0);
        used += count[b] > 0;
    }
    kv_stats s = kv_pool_stats(w->kv);
    assert_int_equal(s.used, used);
    assert_int_equal(s.prefix_hit_blocks, w->hits);
    assert_int_equal(s.prefix_miss_blocks, w->misses);
    if (contents)
        for (int i = 0; i < R_SEQS; i++) check_rows(w->kv, &w->seq[i].s, w->seq[i].t, 0, w->seq[i].computed);
}

static void run_world(uint64_t seed) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->rng = seed;
    w->kv = kv_pool_create(2, 3, R_BLOCK, R_BLOCKS, KV_F32, true);
    assert_non_null(w->kv);
    for (int b = 0; b < R_BASES; b++)
        for (int i = 0; i < R_MAXLEN; i++) w->base[b][i] = rng_int(&w->rng, 3);
    for (int i = 0; i < R_SEQS; i++) kv_seq_init(&w->seq[i].s);
    for (int op = 0; op < R_OPS; op++) {
        rseq *r = &w->seq[rng_int(&w->rng, R_SEQS)];
        int k = rng_int(&w->rng, 10);
        if (r->len == 0) op_attach(w, r);
        else if (k < 5) op_reserve(w, r);
        else if (k < 8) op_commit(w, r);
        else op_release(w, r);
        check_world(w, op % 64 == 0);
    }
    kv_stats s = kv_pool_stats(w->kv);
    print_message("# seed %llu: hits %llu misses %llu evictions %llu\n", (unsigned long long)seed,
                  (unsigned long long)s.prefix_hit_blocks, (unsigned long long)s.prefix_miss_blocks,
                  (unsigned long long)s.evictions);
    /* the walk must have exercised sharing and eviction, or it proves little */
    assert_true(s.prefix_hit_blocks > 100 && s.evictions > 100);
    for (int i = 0; i < R_SEQS; i++) op_release(w, &w->seq[i]);
    check_world(w, false);
    assert_int_equal(kv_pool_stats(w->kv).used, 0);
    kv_pool_free(w->kv);
    free(w);
}

static void test_random_ops_seed_1(void **st) { (void)st; run_world(1); }
static void test_random_ops_seed_2(void **st) { (void)st; run_world(2); }
static void test_random_ops_seed_3(void **st) { (void)st; run_world(3); }
static void test_random_ops_seed_4242(void **st) { (void)st; run_world(4242); }

/* ---- the prefix cache ------------------------------------------------------------- */

enum { P_BLOCK = 16 };

static void shared_prompts(int32_t *a, int32_t *b, int n) {
    for (int i = 0; i < n; i++) a[i] = b[i] = 100 + (i * 37) % 1000;
    for (int i = 200; i < n; i++) {
        a[i] = 5000 + i;
        b[i] = 7000 + i;
    }
}

static void test_shared_prefix_attaches_full_blocks(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(2, 4, P_BLOCK, 64, KV_F32, true);
    int32_t a[210], b[210];
    shared_prompts(a, b, 210);
    kv_seq sa, sb;
    assert_int_equal(compute(kv, &sa, a, 210), 0); /* 13 full blocks published */
    kv_stats s = kv_pool_stats(kv);
    assert_int_equal(s.prefix_hit_blocks, 0);
    assert_int_equal(s.prefix_miss_blocks, 13);

    kv_seq_init(&sb);
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 209), 192); /* block 12 holds the tails */
    assert_int_equal(sb.n_table, 12);
    assert_int_equal(sb.n_computed, 192);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(sb.table[i], sa.table[i]);
        assert_int_equal(refs(kv, sa.table[i]), 2);
    }
    s = kv_pool_stats(kv);
    assert_int_equal(s.prefix_hit_blocks, 12);
    assert_int_equal(s.prefix_miss_blocks, 14);
    assert_true(kv_seq_reserve(kv, &sb, 210));
    assert_int_not_equal(sb.table[12], sa.table[12]);
    write_rows(kv, &sb, b, 192, 210);
    kv_seq_commit(kv, &sb, b, 210);
    check_rows(kv, &sa, a, 0, 210); /* b's writes did not touch a */
    check_rows(kv, &sb, b, 0, 210);
    kv_seq_release(kv, &sa);
    kv_seq_release(kv, &sb);
    s = kv_pool_stats(kv);
    assert_int_equal(s.cached, 14); /* 12 shared + the two block-12 variants */
    assert_int_equal(s.used, 0);
    check_totals(kv);
    kv_pool_free(kv);
}

/* An admission that cannot go ahead gives its attached prefix back
 * uncounted: the retry at the next step counts the lookup once. */
static void test_detach_prefix_uncounts(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(2, 4, P_BLOCK, 64, KV_F32, true);
    int32_t a[210], b[210];
    shared_prompts(a, b, 210);
    kv_seq sa, sb;
    compute(kv, &sa, a, 210);
    kv_seq_release(kv, &sa);
    kv_stats before = kv_pool_stats(kv);
    for (int retry = 0; retry < 3; retry++) {
        kv_seq_init(&sb);
        assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 209), 192);
        assert_int_equal(kv_pool_stats(kv).used, 12);
        kv_seq_detach_prefix(kv, &sb);
        kv_stats now = kv_pool_stats(kv);
        assert_int_equal(now.prefix_hit_blocks, before.prefix_hit_blocks);
        assert_int_equal(now.prefix_miss_blocks, before.prefix_miss_blocks);
        assert_int_equal(now.used, 0);
        assert_int_equal(now.cached, before.cached);
        check_totals(kv);
    }
    kv_seq_init(&sb); /* the admission that sticks counts: 12 hits, 1 miss */
    kv_seq_attach_prefix(kv, &sb, b, 209);
    kv_stats s = kv_pool_stats(kv);
    assert_int_equal(s.prefix_hit_blocks, before.prefix_hit_blocks + 12);
    assert_int_equal(s.prefix_miss_blocks, before.prefix_miss_blocks + 1);
    kv_seq_release(kv, &sb);
    kv_pool_free(kv);
}

static void test_partial_block_never_shared(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 2, P_BLOCK, 64, KV_F32, true);
    int32_t a[210], b[210];
    shared_prompts(a, b, 210);
    for (int i = 200; i < 210; i++) b[i] = a[i];
    kv_seq sa, sb;
    compute(kv, &sa, a, 200); /* block 12 holds 8 positions: not published */
    kv_seq_init(&sb);
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 209), 192);
    assert_true(kv_seq_reserve(kv, &sb, 210));
    assert_int_not_equal(sb.table[12], sa.table[12]);
    assert_int_equal(refs(kv, sa.table[12]), 1);
    kv_seq_release(kv, &sb);
    /* once a fills block 12, it is published and can be attached */
    assert_true(kv_seq_reserve(kv, &sa, 208));
    write_rows(kv, &sa, a, 200, 208);
    kv_seq_commit(kv, &sa, a, 208);
    kv_seq_init(&sb);
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 209), 208);
    assert_int_equal(sb.table[12], sa.table[12]);
    kv_seq_release(kv, &sa);
    kv_seq_release(kv, &sb);
    assert_int_equal(kv_pool_stats(kv).cached, 13); /* exactly a's 13 full blocks */
    check_totals(kv);
    kv_pool_free(kv);
}

static void test_one_token_difference_in_block_5(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 2, P_BLOCK, 64, KV_F32, true);
    int32_t a[210], b[210], c[210];
    shared_prompts(a, b, 210);
    memcpy(c, a, sizeof c);
    c[5 * P_BLOCK + 7] = 99999;
    kv_seq sa, sc;
    compute(kv, &sa, a, 210);
    kv_seq_init(&sc);
    assert_int_equal(kv_seq_attach_prefix(kv, &sc, c, 209), 5 * P_BLOCK);
    assert_int_equal(sc.n_table, 5);
    kv_stats s = kv_pool_stats(kv);
    assert_int_equal(s.prefix_hit_blocks, 5);
    assert_int_equal(s.prefix_miss_blocks, 13 + 8);
    kv_seq_release(kv, &sa);
    kv_seq_release(kv, &sc);
    check_totals(kv);
    kv_pool_free(kv);
}

static void test_prefix_caching_off(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 2, P_BLOCK, 64, KV_F32, false);
    int32_t a[210], b[210];
    shared_prompts(a, b, 210);
    kv_seq sa, sb;
    assert_int_equal(compute(kv, &sa, a, 210), 0);
    kv_seq_init(&sb);
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 209), 0);
    assert_int_equal(sb.n_table, 0);
    kv_seq_release(kv, &sa);
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, a, 209), 0);
    kv_stats s = kv_pool_stats(kv);
    assert_int_equal(s.free, 64);
    assert_int_equal(s.cached, 0);
    assert_int_equal(s.prefix_hit_blocks + s.prefix_miss_blocks, 0);
    check_totals(kv);
    kv_pool_free(kv);
}

/* Namespaces (a LoRA adapter's prefixes): the same tokens published in
 * namespace 3 are attached by namespace 3 only, not by the default one or
 * namespace 4; the namespace survives kv_seq_release; namespace 0 is the
 * default chain (blocks of kv_seq_init's sequences). */
static void test_prefix_namespaces(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 2, P_BLOCK, 64, KV_F32, true);
    int32_t t[70];
    for (int i = 0; i < 70; i++) t[i] = 500 + i;
    kv_seq a, b;
    kv_seq_init(&a);
    kv_seq_set_namespace(&a, 3);
    assert_int_equal(kv_seq_attach_prefix(kv, &a, t, 69), 0);
    assert_true(kv_seq_reserve(kv, &a, 70));
    write_rows(kv, &a, t, 0, 70);
    kv_seq_commit(kv, &a, t, 70);
    kv_seq_release(kv, &a); /* 4 full blocks cached under namespace 3 */
    uint64_t ns[4] = {0, 4, 3, 3};
    int want[4] = {0, 0, 64, 64};
    for (int i = 0; i < 4; i++) {
        kv_seq_init(&b);
        kv_seq_set_namespace(&b, ns[i]);
        assert_int_equal(kv_seq_attach_prefix(kv, &b, t, 69), want[i]);
        if (want[i]) check_rows(kv, &b, t, 0, want[i]);
        kv_seq_release(kv, &b);
    }
    /* release keeps the namespace: a reused sequence still finds namespace 3's blocks */
    kv_seq_init(&b);
    kv_seq_set_namespace(&b, 3);
    assert_int_equal(kv_seq_attach_prefix(kv, &b, t, 69), 64);
    kv_seq_release(kv, &b);
    assert_int_equal(kv_seq_attach_prefix(kv, &b, t, 69), 64);
    kv_seq_release(kv, &b);
    check_totals(kv);
    kv_pool_free(kv);
}

/* ---- sliding windows -------------------------------------------------------------- */

/* Blocks wholly before the window go back (cached when published, free
 * otherwise), only as far as they are computed, their entries become -1,
 * the rest still hold their rows, and release skips the holes. */
static void window_drop(bool prefix) {
    kv_pool *kv = kv_pool_create(1, 2, P_BLOCK, 64, KV_F32, prefix);
    int32_t t[100];
    for (int i = 0; i < 100; i++) t[i] = 1000 + i;
    kv_seq s;
    compute(kv, &s, t, 70); /* blocks 0..4, 4 full */
    assert_int_equal(s.n_table, 5);
    kv_seq_drop_before(kv, &s, 3 * P_BLOCK + 5); /* blocks 0, 1, 2 lie before position 53 */
    assert_int_equal(s.n_dropped, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(s.table[i], -1);
    kv_stats st = kv_pool_stats(kv);
    assert_int_equal(st.used, 2);
    assert_int_equal(prefix ? st.cached : st.free, prefix ? 3 : 62);
    check_totals(kv);
    check_rows(kv, &s, t, 3 * P_BLOCK, 70); /* the window's rows are intact (rows() reads only from `from`) */
    kv_seq_drop_before(kv, &s, 2 * P_BLOCK); /* behind what is dropped: nothing */
    assert_int_equal(s.n_dropped, 3);
    kv_seq_drop_before(kv, &s, 100); /* past the computed blocks: only full computed ones go */
    assert_int_equal(s.n_dropped, 4);
    assert_int_equal(kv_pool_stats(kv).used, 1);
    assert_true(kv_seq_reserve(kv, &s, 90)); /* the sequence goes on growing */
    write_rows(kv, &s, t, 70, 90);
    kv_seq_commit(kv, &s, t, 90);
    check_rows(kv, &s, t, 4 * P_BLOCK, 90);
    check_totals(kv);
    kv_seq_release(kv, &s);
    st = kv_pool_stats(kv);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.free + st.cached, 64);
    check_totals(kv);
    kv_pool_free(kv);
}
static void test_window_drop_prefix_caching(void **st) { (void)st; window_drop(true); }
static void test_window_drop_no_prefix_caching(void **st) { (void)st; window_drop(false); }

/* A dropped block that was published stays a usable prefix for another
 * sequence (its rows were not touched). */
static void test_window_dropped_blocks_serve_prefixes(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 2, P_BLOCK, 64, KV_F32, true);
    int32_t t[80];
    for (int i = 0; i < 80; i++) t[i] = 7 * i + 1;
    kv_seq a, b;
    compute(kv, &a, t, 50);
    kv_seq_drop_before(kv, &a, 40); /* blocks 0, 1 */
    assert_int_equal(compute(kv, &b, t, 80), 3 * P_BLOCK);
    check_rows(kv, &b, t, 0, 80);
    kv_seq_release(kv, &a);
    kv_seq_release(kv, &b);
    check_totals(kv);
    kv_pool_free(kv);
}

/* ---- LRU eviction and reservation --------------------------------------------------- */

/* A 4-token block of token x (5 tokens, so attach may look at 4). */
static void block_of(int32_t *t, int32_t x) {
    for (int i = 0; i < 5; i++) t[i] = x;
}

static void test_lru_evicts_least_recently_released(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 1, 4, 4, KV_F32, true);
    int32_t a[5], b[5], c[5];
    block_of(a, 1);
    block_of(b, 2);
    block_of(c, 3);
    kv_seq s[3], d, e, f;
    compute(kv, &s[0], a, 4);
    kv_seq_release(kv, &s[0]);
    compute(kv, &s[1], b, 4);
    int32_t blk_b = s[1].table[0];
    kv_seq_release(kv, &s[1]);
    compute(kv, &s[2], c, 4);
    kv_seq_release(kv, &s[2]);
    assert_int_equal(kv_pool_stats(kv).cached, 3); /* LRU: a, b, c */
    /* attaching a takes it off the LRU; releasing it makes it most recent */
    kv_seq_init(&d);
    assert_int_equal(kv_seq_attach_prefix(kv, &d, a, 4), 4);
    assert_int_equal(kv_pool_block(kv, d.table[0], NULL), KV_BLOCK_USED);
    assert_int_equal(kv_pool_stats(kv).cached, 2);
    kv_seq_release(kv, &d); /* LRU: b, c, a */
    kv_seq_init(&e);
    assert_true(kv_seq_reserve(kv, &e, 8)); /* the free block, then b evicted */
    assert_int_equal(e.table[1], blk_b);
    assert_int_equal(kv_pool_stats(kv).evictions, 1);
    kv_seq_init(&f);
    assert_int_equal(kv_seq_attach_prefix(kv, &f, b, 4), 0);
    assert_int_equal(kv_seq_attach_prefix(kv, &f, c, 4), 4); /* c in use now: a is the only cached */
    kv_seq g;
    kv_seq_init(&g);
    assert_true(kv_seq_reserve(kv, &g, 4));
    assert_int_equal(kv_pool_stats(kv).evictions, 2);
    assert_int_equal(kv_pool_stats(kv).cached, 0);
    kv_seq h;
    kv_seq_init(&h);
    assert_int_equal(kv_seq_attach_prefix(kv, &h, a, 4), 0);
    assert_null(h.table); /* a miss leaves the sequence untouched */
    check_totals(kv);
    kv_seq_release(kv, &e);
    kv_seq_release(kv, &f);
    kv_seq_release(kv, &g);
    kv_pool_free(kv);
}

/* A released chain is evicted from its last block: what remains is a prefix. */
static void test_eviction_takes_chain_tail_first(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 1, 4, 3, KV_F32, true);
    int32_t a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    kv_seq sa, x, y, z;
    compute(kv, &sa, a, 8);
    int32_t first = sa.table[0];
    kv_seq_release(kv, &sa);
    kv_seq_init(&x);
    kv_seq_init(&y);
    assert_true(kv_seq_reserve(kv, &x, 4)); /* the free block */
    assert_true(kv_seq_reserve(kv, &y, 4)); /* evicts a's block 1, not block 0 */
    assert_int_equal(kv_pool_block(kv, first, NULL), KV_BLOCK_CACHED);
    kv_seq_init(&z);
    assert_int_equal(kv_seq_attach_prefix(kv, &z, a, 8), 4);
    check_totals(kv);
    kv_seq_release(kv, &x);
    kv_seq_release(kv, &y);
    kv_seq_release(kv, &z);
    kv_pool_free(kv);
}

static void test_reserve_all_or_nothing(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 1, 4, 5, KV_F32, true);
    kv_seq a, b;
    kv_seq_init(&a);
    kv_seq_init(&b);
    assert_true(kv_seq_reserve(kv, &a, 12));
    assert_false(kv_seq_reserve(kv, &b, 12)); /* 3 blocks wanted, 2 free */
    assert_int_equal(b.n_table, 0);
    assert_int_equal(kv_pool_stats(kv).free, 2);
    assert_true(kv_seq_reserve(kv, &b, 8));
    int32_t t0 = b.table[0], t1 = b.table[1];
    assert_false(kv_seq_reserve(kv, &b, 9));
    assert_int_equal(b.n_table, 2);
    assert_int_equal(b.table[0], t0);
    assert_int_equal(b.table[1], t1);
    assert_true(kv_seq_reserve(kv, &b, 5)); /* already held */
    assert_int_equal(kv_available(kv), 0);
    /* cached blocks count as available: a's 3 published blocks */
    int32_t t[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    write_rows(kv, &a, t, 0, 12);
    kv_seq_commit(kv, &a, t, 12);
    kv_seq_release(kv, &a);
    assert_int_equal(kv_pool_stats(kv).cached, 3);
    assert_int_equal(kv_available(kv), 3);
    assert_false(kv_seq_reserve(kv, &b, 21)); /* 4 more wanted */
    assert_int_equal(kv_pool_stats(kv).evictions, 0);
    assert_true(kv_seq_reserve(kv, &b, 20));
    assert_int_equal(kv_pool_stats(kv).evictions, 3);
    check_totals(kv);
    kv_seq_release(kv, &b);
    kv_pool_free(kv);
}

/* ---- hash collisions ---------------------------------------------------------------- */

/* Every block at chain depth i gets the same hash, whatever its tokens. */
static uint64_t hash_ignores_tokens(uint64_t parent, const int32_t *tokens, int n) {
    (void)tokens;
    (void)n;
    return parent * 31 + 7;
}

/* Blocks with the same first token collide, whatever precedes them. */
static uint64_t hash_first_token(uint64_t parent, const int32_t *tokens, int n) {
    (void)parent;
    (void)n;
    return (uint64_t)tokens[0];
}

static void test_collision_compares_tokens(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 1, 4, 8, KV_F32, true);
    kv_pool_set_hash(kv, hash_ignores_tokens);
    int32_t a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 0}, b[9] = {1, 2, 3, 9, 5, 6, 7, 8, 0},
            c[9] = {1, 2, 3, 4, 5, 6, 7, 0, 0};
    kv_seq sa, sb, sc;
    compute(kv, &sa, a, 8);
    kv_seq_init(&sb);
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 8), 0); /* same hash, other tokens */
    kv_seq_init(&sc);
    assert_int_equal(kv_seq_attach_prefix(kv, &sc, c, 8), 4); /* block 1 collides */
    kv_seq_release(kv, &sc);
    kv_seq_release(kv, &sa);
    assert_int_equal(kv_pool_stats(kv).cached, 2);
    /* b computed: its blocks' hashes are taken, so they stay private and go free */
    compute(kv, &sb, b, 8);
    kv_seq_release(kv, &sb);
    assert_int_equal(kv_pool_stats(kv).cached, 2);
    check_totals(kv);
    kv_pool_free(kv);
}

static void test_collision_compares_parent(void **st) {
    (void)st;
    kv_pool *kv = kv_pool_create(1, 1, 4, 8, KV_F32, true);
    kv_pool_set_hash(kv, hash_first_token);
    int32_t a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 0}, b[9] = {5, 6, 7, 8, 1, 2, 3, 4, 0};
    kv_seq sa, sb;
    compute(kv, &sa, a, 8);
    kv_seq_init(&sb);
    /* b's block 0 has a's block 1's hash and tokens, but follows nothing */
    assert_int_equal(kv_seq_attach_prefix(kv, &sb, b, 8), 0);
    kv_seq_release(kv, &sa);
    check_totals(kv);
    kv_pool_free(kv);
}

static void test_default_hash_is_a_chain(void **st) {
    (void)st;
    int32_t t[4] = {1, 2, 3, 4};
    uint64_t h1 = kv_hash_xxh3(1, t, 4);
    assert_int_equal(h1, kv_hash_xxh3(1, t, 4));
    assert_int_not_equal(h1, kv_hash_xxh3(2, t, 4)); /* the parent matters */
    t[3] = 5;
    assert_int_not_equal(h1, kv_hash_xxh3(1, t, 4));
}

/* ---- K/V addressing and geometry ---------------------------------------------------- */

static float tag(int seq, int layer, int pos, int i) { return (float)(seq * 100000 + layer * 10000 + pos * 10 + i); }

static void test_rows_across_block_boundaries(void **st) {
    (void)st;
    enum { L = 3, D = 5, BS = 4, N = 20 };
    kv_pool *kv = kv_pool_create(L, D, BS, 12, KV_F32, false);
    const kv_store *s = kv_pool_store(kv);
    assert_int_equal(kv_pool_bytes(kv), 2u * 12 * L * BS * D * sizeof(float));
    kv_seq q[2];
    kv_seq_init(&q[0]);
    kv_seq_init(&q[1]);
    for (int n = BS; n <= N; n += BS) /* interleaved: q0 gets blocks 0,2,4.. q1 1,3,5.. */
        for (int j = 0; j < 2; j++) assert_true(kv_seq_reserve(kv, &q[j], n));
    assert_int_equal(q[0].table[1], 2);
    assert_int_equal(q[1].table[1], 3);
    for (int j = 0; j < 2; j++)
        for (int l = 0; l < L; l++)
            for (int p = 0; p < N; p++)
                for (int i = 0; i < D; i++) {
                    ((float *)kv_k(s, &q[j], l, p))[i] = tag(j, l, p, i);
                    ((float *)kv_v(s, &q[j], l, p))[i] = -tag(j, l, p, i);
                }
    for (int j = 0; j < 2; j++)
        for (int l = 0; l < L; l++)
            for (int p = 0; p < N; p++) {
                float *k = kv_k(s, &q[j], l, p), *k0 = (float *)s->k, *v0 = (float *)s->v;
                assert_true(k >= k0 && k + D <= k0 + (size_t)12 * L * BS * D);
                /* (block, layer, position in block, dim) */
                size_t want = (((size_t)q[j].table[p / BS] * L + l) * BS + p % BS) * D;
                assert_int_equal(k - k0, want);
                assert_int_equal((float *)kv_v(s, &q[j], l, p) - v0, want);
                if ((p + 1) % BS) assert_ptr_equal(kv_k(s, &q[j], l, p + 1), k + D);
                for (int i = 0; i < D; i++) {
                    assert_true(k[i] == tag(j, l, p, i));
                    assert_true(((float *)kv_v(s, &q[j], l, p))[i] == -tag(j, l, p, i));
                }
            }
    kv_seq_release(kv, &q[0]);
    kv_seq_release(kv, &q[1]);
    assert_int_equal(kv_pool_stats(kv).free, 12);
    check_totals(kv);
    kv_pool_free(kv);
}

static void test_geometry(void **st) {
    (void)st;
    assert_null(kv_pool_create(0, 4, 16, 8, KV_F32, true));
    assert_null(kv_pool_create(2, 0, 16, 8, KV_F32, true));
    assert_null(kv_pool_create(2, 4, 0, 8, KV_F32, true));
    assert_null(kv_pool_create(2, 4, 16, 0, KV_F32, true));
    assert_null(kv_pool_create(2, 4, 1 << 16, 1 << 16, KV_F32, true)); /* positions overflow int */
    assert_null(kv_pool_create(1 << 30, 1 << 30, 4, 1 << 10, KV_F32, true)); /* bytes overflow size_t */
    kv_pool *kv = kv_pool_create(2, 4, 16, 8, KV_F32, true);
    assert_int_equal(kv_blocks_for(kv, 0), 0);
    assert_int_equal(kv_blocks_for(kv, 1), 1);
    assert_int_equal(kv_blocks_for(kv, 16), 1);
    assert_int_equal(kv_blocks_for(kv, 17), 2);
    kv_stats s = kv_pool_stats(kv);
    assert_int_equal(s.total, 8);
    assert_int_equal(s.free, 8);
    assert_int_equal(kv_available(kv), 8);
    kv_seq q;
    kv_seq_init(&q);
    assert_true(kv_seq_reserve(kv, &q, 0));
    assert_int_equal(q.n_table, 0);
    kv_seq_release(kv, &q); /* an empty sequence releases cleanly */
    check_totals(kv);
    kv_pool_free(kv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ops_seed_1),
        cmocka_unit_test(test_random_ops_seed_2),
        cmocka_unit_test(test_random_ops_seed_3),
        cmocka_unit_test(test_random_ops_seed_4242),
        cmocka_unit_test(test_detach_prefix_uncounts),
        cmocka_unit_test(test_shared_prefix_attaches_full_blocks),
        cmocka_unit_test(test_partial_block_never_shared),
        cmocka_unit_test(test_one_token_difference_in_block_5),
        cmocka_unit_test(test_prefix_caching_off),
        cmocka_unit_test(test_prefix_namespaces),
        cmocka_unit_test(test_window_drop_prefix_caching),
        cmocka_unit_test(test_window_drop_no_prefix_caching),
        cmocka_unit_test(test_window_dropped_blocks_serve_prefixes),
        cmocka_unit_test(test_lru_evicts_least_recently_released),
        cmocka_unit_test(test_eviction_takes_chain_tail_first),
        cmocka_unit_test(test_reserve_all_or_nothing),
        cmocka_unit_test(test_collision_compares_tokens),
        cmocka_unit_test(test_collision_compares_parent),
        cmocka_unit_test(test_default_hash_is_a_chain),
        cmocka_unit_test(test_rows_across_block_boundaries),
        cmocka_unit_test(test_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
