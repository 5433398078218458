/*
 * engine_window_test.c — sliding-window attention in the engine: the KV
 * blocks that fall out of every layer's window go back to the pool as a
 * sequence advances (scheduler.c, kv_seq_drop_before).
 *
 * On phi3.gguf (../shared/models/synth/arch: window 24 on every layer,
 * checked against llama.cpp by arch_golden_test):
 *   - a request far longer than the whole KV cache is admitted and runs,
 *     holding at most window / block + 2 blocks, and its greedy tokens equal
 *     those of the forward pass run step by step over a cache that keeps
 *     every block (the golden runner: no scheduler, nothing dropped);
 *   - several such requests at once in a pool too small for all of them
 *     (preemptions) each get the tokens they get alone.
 * On gemma2.gguf (windows on alternate layers only) nothing can be dropped,
 * so the same long request is refused as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "support/engine_fixture.h"
#include "support/golden.h"
#include "support/testutil.h"

enum { PROMPT = 20, NEW = 200, BLOCK = 16 };

static model *load(const char *rel) {
    char err[CT_ERRLEN] = "", *path = tu_model_path(rel);
    model *m = path ? model_load(path, err) : NULL;
    if (!m) fail_msg("%s: %s", rel, *err ? err : "no path");
    free(path);
    return m;
}

/* A greedy request of PROMPT seeded ids that runs NEW tokens whatever it samples. */
static void long_job(ef_job *j, uint64_t seed) {
    uint64_t r = seed;
    ef_job_random(j, &r, PROMPT);
    j->r.max_new_tokens = NEW;
    j->r.ignore_eos = true;
}

/* The greedy continuation through the forward pass alone, every block kept. */
static void reference_ids(const char *rel, const ef_job *j, int32_t *out) {
    char *path = tu_model_path(rel);
    golden_runner g;
    assert_true(golden_open(&g, path));
    free(path);
    int vocab = g.m->cfg.vocab;
    golden_eval(&g, j->prompt, PROMPT, 0);
    out[0] = golden_argmax(g.logits + (size_t)(PROMPT - 1) * vocab, vocab);
    for (int k = 1; k < NEW; k++) {
        golden_eval(&g, &out[k - 1], 1, PROMPT + k - 1);
        out[k] = golden_argmax(g.logits, vocab);
    }
    golden_close(&g);
}

static void test_long_request_in_a_small_cache(void **st) {
    (void)st;
    model *m = load("synth/arch/phi3.gguf");
    assert_int_equal(model_kv_window(&m->cfg), 24);
    engine_config c = ef_config(64, 4, 4 * BLOCK, false); /* 64 positions for a 219-position sequence */
    c.block_size = BLOCK;
    c.kv_dtype = ENGINE_KV_F32; /* the golden runner's cache type */
    engine *e = ef_engine(m, &c);
    ef_job j;
    long_job(&j, 7);
    ef_outcome o = {0};
    engine_req *h = ef_submit(e, &j.r);
    ef_drain(h, &o, true);
    engine_release(h);
    assert_false(o.failed);
    assert_int_equal(o.n, NEW);
    engine_stats s = ef_settle(e);
    print_message("# KV blocks: %d total, peak %d held\n", s.kv_blocks_total, s.kv_blocks_used_peak);
    assert_true(s.kv_blocks_used_peak <= 24 / BLOCK + 2);
    assert_int_equal(s.kv_blocks_used, 0);
    int32_t ref[NEW];
    reference_ids("synth/arch/phi3.gguf", &j, ref);
    for (int k = 0; k < NEW; k++)
        if (o.ids[k] != ref[k]) fail_msg("token %d: engine %d, forward pass with every block %d", k, o.ids[k], ref[k]);
    ef_outcome_free(&o);
    engine_free(e);
    model_free(m);
}

static void test_many_long_requests_preempt_alike(void **st) {
    (void)st;
    model *m = load("synth/arch/phi3.gguf");
    enum { N = 4 };
    ef_job j[N];
    engine_request reqs[N];
    ef_outcome alone[N], together[N];
    for (int i = 0; i < N; i++) {
        long_job(&j[i], 100 + (uint64_t)i);
        reqs[i] = j[i].r;
        reqs[i].prompt = j[i].prompt;
        memset(&alone[i], 0, sizeof alone[i]);
        ef_run_alone(m, &reqs[i], &alone[i]);
    }
    /* 8 blocks: two sequences' windows at a time, the others wait or are preempted */
    engine_config c = ef_config(32, N, 8 * BLOCK, true);
    c.block_size = BLOCK;
    engine *e = ef_engine(m, &c);
    ef_run_batch(e, reqs, N, together);
    for (int i = 0; i < N; i++) ef_assert_same(&alone[i], &together[i], i);
    engine_stats s = ef_settle(e);
    print_message("# %llu preemptions\n", (unsigned long long)s.preemptions);
    assert_int_equal(s.kv_blocks_used, 0);
    for (int i = 0; i < N; i++) {
        ef_outcome_free(&alone[i]);
        ef_outcome_free(&together[i]);
    }
    engine_free(e);
    model_free(m);
}

/* Full layers need every block: the window frees nothing, the cache must hold it all. */
static void test_alternating_windows_keep_every_block(void **st) {
    (void)st;
    model *m = load("synth/arch/gemma2.gguf");
    assert_true(m->cfg.sliding_window > 0);
    assert_int_equal(model_kv_window(&m->cfg), 0);
    engine_config c = ef_config(64, 4, 4 * BLOCK, false);
    c.block_size = BLOCK;
    engine *e = ef_engine(m, &c);
    ef_job j;
    long_job(&j, 7);
    const char *needles[] = {"more than the whole KV cache holds", NULL};
    ef_expect_refusal(e, &j.r, needles);
    engine_free(e);
    model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_request_in_a_small_cache),
        cmocka_unit_test(test_many_long_requests_preempt_alike),
        cmocka_unit_test(test_alternating_windows_keep_every_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
