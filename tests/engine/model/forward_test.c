/*
 * forward_test.c — properties of the batched forward pass that the golden
 * tests do not pin: a prompt evaluated in one call, in chunks, or token by
 * token gives the same logits; two sequences in one batch (interleaved, at
 * different positions) give what each gives alone; only the rows asked for
 * produce logits; bad batches are refused.  Through the paged cache: the
 * block size and scattered physical blocks do not change logits, and a
 * prefix attached from the prefix cache gives what recomputing it gives.
 * On qwen2, and on gemma2 (sliding window, soft-caps) and bloom (ALiBi).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "support/testutil.h"

typedef struct {
    model *m;
    pool *p;
    fwd_ctx *f;
    kv_pool *kv; /* blocks of FX_BLOCK positions, no prefix caching */
    kv_seq seqs[2];
    int vocab;
} fixture;

enum { FX_BLOCK = 4, FX_POSITIONS = 128 };

static int setup_model(void **state, const char *rel) {
    fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN], *path = tu_model_path(rel);
    fx->m = model_load(path, err);
    free(path);
    if (!fx->m) { print_error("%s\n", err); free(fx); return -1; }
    fx->p = pool_create(2, 0);
    fx->f = fwd_create(fx->m, fx->p, 64);
    fx->kv = kv_pool_create(fx->m->cfg.n_layers, fx->m->cfg.n_kv_heads * fx->m->cfg.head_dim, FX_BLOCK,
                            2 * FX_POSITIONS / FX_BLOCK, KV_F32, false);
    kv_seq_init(&fx->seqs[0]);
    kv_seq_init(&fx->seqs[1]);
    fx->vocab = fx->m->cfg.vocab;
    *state = fx;
    return 0;
}

static int setup(void **state) { return setup_model(state, "synth/qwen2-bpe-f32.gguf"); }
/* The same properties where attention has more to it: gemma2's sliding
 * window of 16 on even layers (block sizes 1, 3, 4, 16 cut it differently;
 * 40-token prompts leave most keys outside it), soft-capping and post
 * norms; bloom's ALiBi. */
static int setup_gemma2(void **state) { return setup_model(state, "synth/arch/gemma2.gguf"); }
static int setup_bloom(void **state) { return setup_model(state, "synth/arch/bloom.gguf"); }

static int teardown(void **state) {
    fixture *fx = *state;
    kv_seq_release(fx->kv, &fx->seqs[0]);
    kv_seq_release(fx->kv, &fx->seqs[1]);
    kv_pool_free(fx->kv);
    fwd_free(fx->f);
    pool_free(fx->p);
    model_free(fx->m);
    free(fx);
    return 0;
}

static void prompt(const fixture *fx, int32_t *ids, int n, int salt) {
    int range = fx->vocab < 50000 ? fx->vocab : 50000;
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 104729 + salt * 7919) % range);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

/* Reserve blocks for every token's position in its sequence of fx->seqs,
 * then run b through the fixture's pool. */
static bool run(fixture *fx, fwd_batch *b, float *out) {
    const kv_seq *seqs[2] = {&fx->seqs[0], &fx->seqs[1]};
    for (int t = 0; t < b->n; t++)
        if (!kv_seq_reserve(fx->kv, &fx->seqs[b->seq[t]], b->pos[t] + 1)) return false;
    b->seqs = seqs;
    bool ok = fwd_eval(fx->f, kv_pool_store(fx->kv), b, out);
    b->seqs = NULL;
    return ok;
}

/* logits of all n tokens of seq 0 (started afresh), evaluated `step` tokens per call */
static float *run_stepped(fixture *fx, const int32_t *ids, int n, int step) {
    float *out = malloc((size_t)n * fx->vocab * sizeof(float));
    int pos[64], seq[64] = {0};
    kv_seq_release(fx->kv, &fx->seqs[0]);
    for (int s = 0; s < n; s += step) {
        int len = n - s < step ? n - s : step;
        for (int i = 0; i < len; i++) pos[i] = s + i;
        fwd_batch b = {.tokens = ids + s, .pos = pos, .seq = seq, .n = len};
        assert_true(run(fx, &b, out + (size_t)s * fx->vocab));
    }
    return out;
}

static void test_chunking_does_not_change_logits(void **state) {
    fixture *fx = *state;
    int32_t ids[40];
    prompt(fx, ids, 40, 1);
    float *whole = run_stepped(fx, ids, 40, 40);
    int steps[] = {1, 3, 16};
    for (int i = 0; i < 3; i++) {
        float *part = run_stepped(fx, ids, 40, steps[i]);
        double d = max_diff(whole, part, (size_t)40 * fx->vocab);
        print_message("# step %d: max diff %.2e\n", steps[i], d);
        assert_true(d < 1e-4);
        free(part);
    }
    free(whole);
}

static void test_two_sequences_in_one_batch(void **state) {
    fixture *fx = *state;
    int32_t a[20], b[12];
    prompt(fx, a, 20, 2);
    prompt(fx, b, 12, 3);
    float *alone_a = run_stepped(fx, a, 20, 20);
    float *alone_b = run_stepped(fx, b, 12, 12);
    /* a's first 8 tokens alone, then a's remaining 12 interleaved with all of b (seq 1) */
    int pos[64], seq[64];
    int32_t ids[64];
    float *out = malloc((size_t)64 * fx->vocab * sizeof(float));
    kv_seq_release(fx->kv, &fx->seqs[0]);
    kv_seq_release(fx->kv, &fx->seqs[1]);
    for (int i = 0; i < 8; i++) { ids[i] = a[i]; pos[i] = i; seq[i] = 0; }
    fwd_batch first = {.tokens = ids, .pos = pos, .seq = seq, .n = 8};
    assert_true(run(fx, &first, out));
    int n = 0;
    for (int i = 0; i < 12; i++) {
        ids[n] = a[8 + i]; pos[n] = 8 + i; seq[n] = 0; n++;
        ids[n] = b[i]; pos[n] = i; seq[n] = 1; n++;
    }
    fwd_batch mixed = {.tokens = ids, .pos = pos, .seq = seq, .n = n};
    assert_true(run(fx, &mixed, out)); /* reserving token by token interleaves a's and b's blocks */
    for (int i = 0; i < 12; i++) {
        assert_true(max_diff(out + (size_t)(2 * i) * fx->vocab, alone_a + (size_t)(8 + i) * fx->vocab, fx->vocab) < 1e-4);
        assert_true(max_diff(out + (size_t)(2 * i + 1) * fx->vocab, alone_b + (size_t)i * fx->vocab, fx->vocab) < 1e-4);
    }
    free(out);
    free(alone_a);
    free(alone_b);
}

static void test_want_logits_selects_rows(void **state) {
    fixture *fx = *state;
    int32_t ids[10];
    prompt(fx, ids, 10, 4);
    float *all = run_stepped(fx, ids, 10, 10);
    int pos[10], seq[10] = {0};
    bool want[10] = {false};
    want[3] = want[9] = true;
    for (int i = 0; i < 10; i++) pos[i] = i;
    float *two = malloc((size_t)2 * fx->vocab * sizeof(float));
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .n = 10, .want_logits = want};
    assert_true(run(fx, &b, two));
    assert_true(max_diff(two, all + (size_t)3 * fx->vocab, fx->vocab) < 1e-4); /* sgemv vs sgemm rounding */
    assert_true(max_diff(two + fx->vocab, all + (size_t)9 * fx->vocab, fx->vocab) < 1e-4); /* sgemv vs sgemm rounding */
    free(two);
    free(all);
}

static void test_oversized_batch_refused(void **state) {
    fixture *fx = *state;
    int32_t ids[65] = {0};
    int pos[65] = {0}, seq[65] = {0};
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .n = 65};
    assert_false(run(fx, &b, NULL));
    b.n = 0;
    assert_false(run(fx, &b, NULL));
}

/* A position without a block in its sequence's table is refused, not written. */
static void test_position_without_block_refused(void **state) {
    fixture *fx = *state;
    kv_seq_release(fx->kv, &fx->seqs[0]);
    int32_t ids[2] = {5, 6};
    int pos[2] = {0, FX_BLOCK}, seq[2] = {0};
    const kv_seq *seqs[1] = {&fx->seqs[0]};
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = 1};
    assert_false(fwd_eval(fx->f, kv_pool_store(fx->kv), &b, NULL));
    assert_true(kv_seq_reserve(fx->kv, &fx->seqs[0], FX_BLOCK)); /* one block: position 0 only */
    b.n = 2;
    assert_false(fwd_eval(fx->f, kv_pool_store(fx->kv), &b, NULL));
}

/* The same 40 tokens through pools of block size 1, 3 and 16, the
 * sequence's blocks interleaved with another sequence's (so logical
 * neighbours are not physical neighbours): logits as with the fixture. */
static void test_block_size_does_not_change_logits(void **state) {
    fixture *fx = *state;
    int32_t ids[40];
    prompt(fx, ids, 40, 5);
    float *ref = run_stepped(fx, ids, 40, 40), *out = malloc((size_t)40 * fx->vocab * sizeof(float));
    const model_config *c = &fx->m->cfg;
    int sizes[] = {1, 3, 16}, pos[40], seq[40] = {0};
    for (int i = 0; i < 40; i++) pos[i] = i;
    for (int k = 0; k < 3; k++) {
        int bs = sizes[k], nb = 2 * (40 / bs + 1);
        kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, bs, nb, KV_F32, false);
        kv_seq s, filler;
        kv_seq_init(&s);
        kv_seq_init(&filler);
        for (int i = 1; i <= 40 / bs + 1; i++) {
            assert_true(kv_seq_reserve(kv, &filler, i * bs));
            assert_true(kv_seq_reserve(kv, &s, i * bs));
        }
        assert_int_equal(s.table[1] - s.table[0], 2);
        const kv_seq *seqs[1] = {&s};
        fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = 40};
        assert_true(fwd_eval(fx->f, kv_pool_store(kv), &b, out));
        double d = max_diff(ref, out, (size_t)40 * fx->vocab);
        print_message("# block size %d: max diff %.2e\n", bs, d);
        assert_true(d < 1e-6);
        kv_seq_release(kv, &s);
        kv_seq_release(kv, &filler);
        kv_pool_free(kv);
    }
    free(out);
    free(ref);
}

/* b shares its first 14 tokens with a.  After a is computed and committed,
 * b attaches a's first 3 blocks (12 positions: block 3 differs at 14) and
 * computes only the rest; its logits equal b computed from scratch. */
static void test_prefix_cache_matches_recompute(void **state) {
    fixture *fx = *state;
    int32_t a[20], b[18];
    prompt(fx, a, 20, 6);
    memcpy(b, a, 14 * sizeof(int32_t));
    for (int i = 14; i < 18; i++) b[i] = (int32_t)((40000 + i) % fx->vocab);
    float *alone_b = run_stepped(fx, b, 18, 18), *out = malloc((size_t)20 * fx->vocab * sizeof(float));
    const model_config *c = &fx->m->cfg;
    kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 4, 16, KV_F32, true);
    kv_seq sa, sb;
    kv_seq_init(&sa);
    kv_seq_init(&sb);
    int pos[20], seq[20] = {0};
    for (int i = 0; i < 20; i++) pos[i] = i;
    const kv_seq *seqs_a[1] = {&sa}, *seqs_b[1] = {&sb};

    assert_int_equal(kv_seq_attach_prefix(kv, &sa, a, 19), 0);
    assert_true(kv_seq_reserve(kv, &sa, 20));
    fwd_batch ba = {.tokens = a, .pos = pos, .seq = seq, .seqs = seqs_a, .n = 20};
    assert_true(fwd_eval(fx->f, kv_pool_store(kv), &ba, out));
    kv_seq_commit(kv, &sa, a, 20);

    int start = kv_seq_attach_prefix(kv, &sb, b, 17);
    assert_int_equal(start, 12);
    for (int i = 0; i < 3; i++) assert_int_equal(sb.table[i], sa.table[i]);
    assert_true(kv_seq_reserve(kv, &sb, 18));
    fwd_batch bb = {.tokens = b + start, .pos = pos + start, .seq = seq, .seqs = seqs_b, .n = 18 - start};
    assert_true(fwd_eval(fx->f, kv_pool_store(kv), &bb, out));
    kv_seq_commit(kv, &sb, b, 18);
    double d = max_diff(out, alone_b + (size_t)start * fx->vocab, (size_t)(18 - start) * fx->vocab);
    print_message("# attached prefix vs recompute: max diff %.2e\n", d);
    assert_true(d < 1e-4);
    kv_seq_release(kv, &sa);
    kv_seq_release(kv, &sb);
    assert_true(kv_pool_check(kv));
    kv_pool_free(kv);
    free(out);
    free(alone_b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunking_does_not_change_logits),
        cmocka_unit_test(test_two_sequences_in_one_batch),
        cmocka_unit_test(test_want_logits_selects_rows),
        cmocka_unit_test(test_oversized_batch_refused),
        cmocka_unit_test(test_position_without_block_refused),
        cmocka_unit_test(test_block_size_does_not_change_logits),
        cmocka_unit_test(test_prefix_cache_matches_recompute),
    };
    int failed = cmocka_run_group_tests_name("forward_qwen2", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("forward_gemma2", tests, setup_gemma2, teardown);
    failed += cmocka_run_group_tests_name("forward_bloom", tests, setup_bloom, teardown);
    return failed;
}
