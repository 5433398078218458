/*
 * sched_test.c — the scheduler driven step by step on the test's thread
 * (no engine thread, so every schedule is exactly reproducible):
 *   - block accounting (free + used + cached == total, and the KV pool's
 *     and scheduler's own consistency walks) after every one of > 10,000
 *     random submit / step / cancel / release operations, several seeds;
 *   - the same requests give the same tokens alone, packed with a tiny or a
 *     normal token budget, in a pool so small that sequences get preempted,
 *     with prefix sharing;
 *   - a step never feeds more than its budget (decode tokens aside);
 *   - cancelled sequences give every block back and end with ERROR;
 *   - an injected forward-pass failure (sched_config.fail_step) ends the
 *     sequences of that step with ERROR and gives their blocks back; the
 *     prefix cache holds nothing of the failed step, so the same requests
 *     run again afterwards give the tokens they give alone;
 *   - the random operations and the schedule comparison also carry prompt
 *     logprobs, min_new_tokens and stop ids (prompt logprobs compared bit
 *     for bit too).
 * The model: seeded random llama, dim 64, 2 layers, stories260K's 512-token
 * vocabulary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "scheduler.h"
#include "support/engine_fixture.h"
#include "support/testutil.h"

static int setup(void **state) { return (*state = ef_fixture_create(33)) ? 0 : -1; }

static int teardown(void **state) {
    ef_fixture_free(*state);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

/* A request: prompt from a seed (share > 0: its first `share` tokens come
 * from a common stream, so prompts share prefixes), sampled or greedy. */
typedef struct {
    int32_t prompt[320];
    int n_prompt;
    int max_new;
    bool sample;
    uint64_t seed;
    bool prompt_logprobs;
    int min_new;
    int32_t stop_id; /* -1: none */
} spec;

static void make_spec(spec *sp, uint64_t *r, int max_prompt, int max_new, int share) {
    sp->n_prompt = tu_rnd_in(r, 1, max_prompt);
    uint64_t common = 0x1234567;
    for (int i = 0; i < sp->n_prompt; i++)
        sp->prompt[i] = i < share ? (int32_t)(3 + tu_rnd(&common) % 509) : (int32_t)(3 + tu_rnd(r) % 509);
    sp->max_new = tu_rnd_in(r, 1, max_new);
    sp->sample = tu_rnd(r) % 2;
    sp->seed = tu_rnd(r);
    sp->prompt_logprobs = false;
    sp->min_new = 0;
    sp->stop_id = -1;
}

/* The request options, drawn from the spec's own seed (so the schedules
 * of the tests that use them stay what they were). */
static void spec_options(spec *sp) {
    uint64_t x = sp->seed | 1;
    sp->prompt_logprobs = tu_rnd(&x) % 3 == 0;
    sp->min_new = tu_rnd(&x) % 2 ? tu_rnd_in(&x, 0, sp->max_new) : 0;
    sp->stop_id = tu_rnd(&x) % 4 == 0 ? (int32_t)(3 + tu_rnd(&x) % 509) : -1;
}

static engine_req *make_req(const ef_fixture *fx, const spec *sp, int kv_positions) {
    engine_request r = engine_request_default();
    r.prompt = sp->prompt;
    r.n_prompt = sp->n_prompt;
    r.max_new_tokens = sp->max_new;
    r.ignore_eos = true;
    r.prompt_logprobs = sp->prompt_logprobs;
    r.min_new_tokens = sp->min_new;
    r.stop_ids = &sp->stop_id;
    r.n_stop_ids = sp->stop_id >= 0;
    if (sp->sample) {
        r.sampling.do_sample = true;
        r.sampling.temperature = 0.9f;
        r.sampling.top_k = 40;
        r.sampling.top_p = 0.95f;
        r.sampling.seed = sp->seed;
    }
    char err[CT_ERRLEN] = "";
    engine_req *h = req_create(fx->m, &r, kv_positions, err);
    if (!h) fail_msg("req_create: %s", err);
    return h;
}

static sched *make_sched_on(const ef_fixture *fx, pool *p, int block, int n_blocks, int budget, int batch,
                            bool prefix) {
    sched_config c = {.block_size = block, .n_blocks = n_blocks, .max_prefill_tokens = budget, .max_batch_size = batch,
                      .prefix_caching = prefix, .kv_dtype = (kv_dtype)engine_config_default().kv_dtype};
    char err[CT_ERRLEN] = "";
    sched *s = sched_create(fx->m, p, &c, err);
    if (!s) fail_msg("sched_create: %s", err);
    return s;
}

static sched *make_sched(const ef_fixture *fx, int block, int n_blocks, int budget, int batch, bool prefix) {
    return make_sched_on(fx, fx->pool, block, n_blocks, budget, batch, prefix);
}

static void check_accounting(const sched *s) {
    engine_stats st;
    sched_stats(s, &st);
    assert_int_equal(st.kv_blocks_free + st.kv_blocks_used + st.kv_blocks_cached, st.kv_blocks_total);
    assert_true(sched_check(s));
}

/* Run specs[0..n) through s: all submitted at once, stepped to the end. */
static void run_all(sched *s, const ef_fixture *fx, const spec *specs, int n, ef_outcome *out) {
    engine_req **h = calloc((size_t)n, sizeof *h);
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        h[i] = make_req(fx, &specs[i], sched_kv_positions(s));
        sched_add(s, h[i]);
    }
    for (int guard = 0; sched_has_work(s); guard++) {
        assert_true(guard < 100000);
        sched_step(s);
        check_accounting(s);
    }
    for (int i = 0; i < n; i++) {
        ef_drain(h[i], &out[i], false);
        assert_true(out[i].ended && !out[i].failed);
        req_release(h[i]);
    }
    free(h);
}

/* Each spec alone in a roomy scheduler without prefix caching. */
static void run_alone(const ef_fixture *fx, const spec *specs, int n, ef_outcome *out) {
    sched *s = make_sched(fx, 16, 64, 512, 4, false);
    for (int i = 0; i < n; i++) run_all(s, fx, &specs[i], 1, &out[i]);
    sched_free(s);
}

/* ---- tests ------------------------------------------------------------------------- */

/* > 10,000 random operations over 3 seeds; the books balance after each. */
static void test_block_accounting_random_ops(void **state) {
    const ef_fixture *fx = *state;
    enum { OPS = 3500, LIVE = 64 };
    for (uint64_t seed = 1; seed <= 3; seed++) {
        uint64_t r = seed * 0x9E3779B97F4A7C15ull;
        int budgets[] = {3, 16, 64};
        sched *s = make_sched(fx, 4, 24, budgets[seed - 1], 6, true);
        engine_req *live[LIVE];
        ef_outcome *outs = calloc(LIVE, sizeof *outs);
        int n_live = 0, n_ops = 0;
        uint64_t ended = 0;
        for (; n_ops < OPS; n_ops++) {
            int op = tu_rnd_in(&r, 0, 99);
            if (op < 30 && n_live < LIVE) {
                spec sp;
                make_spec(&sp, &r, 40, 20, tu_rnd_in(&r, 0, 40));
                spec_options(&sp);
                live[n_live] = make_req(fx, &sp, sched_kv_positions(s));
                memset(&outs[n_live], 0, sizeof outs[0]);
                sched_add(s, live[n_live++]);
            } else if (op < 85) {
                sched_step(s);
            } else if (op < 95 && n_live > 0) {
                atomic_store(&live[tu_rnd_in(&r, 0, n_live - 1)]->cancel, true);
            } else if (n_live > 0) { /* the caller walks away */
                int i = tu_rnd_in(&r, 0, n_live - 1);
                req_release(live[i]);
                live[i] = live[--n_live];
                outs[i] = outs[n_live];
            }
            check_accounting(s);
            for (int i = 0; i < n_live; i++) { /* finished ones are released */
                ef_drain(live[i], &outs[i], false);
                if (!outs[i].ended) continue;
                ended++;
                req_release(live[i]);
                ef_outcome_free(&outs[i]);
                live[i] = live[--n_live];
                outs[i] = outs[n_live];
                i--;
            }
        }
        for (int i = 0; i < n_live; i++) req_release(live[i]);
        free(outs); /* the live ones have not ended: no prompt logprobs yet */
        for (int guard = 0; sched_has_work(s); guard++) {
            assert_true(guard < 1000);
            sched_step(s);
            check_accounting(s);
        }
        engine_stats st;
        sched_stats(s, &st);
        assert_int_equal(st.kv_blocks_used, 0);
        assert_true(ended > 50);
        assert_true(st.preemptions > 0);
        assert_true(st.prefix_hit_blocks > 0);
        sched_free(s);
    }
}

/* The same 40 requests alone, then together under several configurations. */
static void test_tokens_independent_of_schedule(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 40 };
    spec *specs = calloc(N, sizeof *specs);
    ef_outcome *alone = calloc(N, sizeof *alone), *got = calloc(N, sizeof *got);
    uint64_t r = 77;
    for (int i = 0; i < N; i++) {
        make_spec(&specs[i], &r, 120, 40, i % 3 == 0 ? 100 : 0);
        spec_options(&specs[i]);
    }
    run_alone(fx, specs, N, alone);
    struct {
        int block, n_blocks, budget, batch;
        bool prefix;
        bool want_preempt;
        int threads; /* 2: the step's rows (samples, prompt logprobs) run on two threads: pool_min_logits
                        is 0, so even this small vocabulary goes to the pool (alone: one thread) */
    } cfgs[] = {
        {16, 64, 4096, 64, true, false, 1}, /* everything at once */
        {16, 64, 4096, 64, true, false, 2}, /* ... sampled on the pool */
        {16, 64, 7, 64, true, false, 1},    /* tiny budget: prompts in 7-token chunks */
        {4, 48, 40, 16, true, true, 2},     /* 192 positions: preemptions */
        {16, 12, 13, 8, false, true, 1},    /* no prefix cache, preemptions */
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        pool *p = cfgs[c].threads > 1 ? pool_create(cfgs[c].threads, 0) : fx->pool;
        assert_non_null(p);
        sched *s = make_sched_on(fx, p, cfgs[c].block, cfgs[c].n_blocks, cfgs[c].budget, cfgs[c].batch,
                                 cfgs[c].prefix);
        run_all(s, fx, specs, N, got);
        for (int i = 0; i < N; i++) {
            ef_assert_same(&alone[i], &got[i], i);
            ef_outcome_free(&got[i]);
        }
        engine_stats st;
        sched_stats(s, &st);
        if (cfgs[c].want_preempt) assert_true(st.preemptions > 0);
        assert_int_equal(st.kv_blocks_used, 0);
        assert_int_equal(st.requests_finished, N);
        sched_free(s);
        if (p != fx->pool) pool_free(p);
    }
    for (int i = 0; i < N; i++) ef_outcome_free(&alone[i]);
    free(specs);
    free(alone);
    free(got);
}

/* Step 3 fails: the 6 sequences it feeds end with ERROR "... (injected
 * fault)", every block is free or cached, and the same requests then run
 * in full, token for token as alone (no block of the failed step was
 * offered to the prefix cache). */
static void test_injected_step_failure(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 6 };
    spec specs[N];
    ef_outcome alone[N], got[N];
    uint64_t r = 41;
    for (int i = 0; i < N; i++) make_spec(&specs[i], &r, 60, 12, i % 2 ? 40 : 0);
    run_alone(fx, specs, N, alone);
    sched_config c = {.block_size = 4, .n_blocks = 96, .max_prefill_tokens = 16, .max_batch_size = N,
                      .prefix_caching = true, .kv_dtype = (kv_dtype)engine_config_default().kv_dtype, .fail_step = 3};
    char err[CT_ERRLEN] = "";
    sched *s = sched_create(fx->m, fx->pool, &c, err);
    assert_non_null(s);
    engine_req *h[N];
    for (int i = 0; i < N; i++) {
        h[i] = make_req(fx, &specs[i], sched_kv_positions(s));
        sched_add(s, h[i]);
    }
    for (int step = 0; sched_has_work(s); step++) {
        assert_true(step < 10000);
        sched_step(s);
        check_accounting(s);
    }
    int failed = 0;
    for (int i = 0; i < N; i++) {
        engine_event ev = {0};
        while (engine_next_event(h[i], &ev, false)) {
            if (ev.kind == ENGINE_EVENT_ERROR) {
                assert_non_null(strstr(ev.error.message, "injected fault"));
                assert_false(ev.error.cancelled);
                failed++;
            }
            engine_event_clear(&ev);
        }
        req_release(h[i]);
    }
    engine_stats st;
    sched_stats(s, &st);
    assert_true(failed > 0); /* step 3 fed someone (chunked prompts: likely all) */
    assert_int_equal((int)st.requests_failed, failed);
    assert_int_equal(st.kv_blocks_used, 0);
    run_all(s, fx, specs, N, got); /* step 3 is past: everything runs */
    for (int i = 0; i < N; i++) {
        ef_assert_same(&alone[i], &got[i], i);
        ef_outcome_free(&alone[i]);
        ef_outcome_free(&got[i]);
    }
    sched_free(s);
}

/* A step feeds at most max(budget, decode tokens) tokens. */
static void test_budget_respected(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 12, BUDGET = 9 };
    sched *s = make_sched(fx, 16, 64, BUDGET, 8, true);
    spec specs[N];
    engine_req *h[N];
    uint64_t r = 5;
    for (int i = 0; i < N; i++) {
        make_spec(&specs[i], &r, 60, 12, 0);
        h[i] = make_req(fx, &specs[i], sched_kv_positions(s));
        sched_add(s, h[i]);
    }
    engine_stats prev;
    sched_stats(s, &prev);
    bool chunked = false;
    while (sched_has_work(s)) {
        sched_step(s);
        engine_stats st;
        sched_stats(s, &st);
        uint64_t fed = st.tokens_prefilled - prev.tokens_prefilled + st.tokens_decoded - prev.tokens_decoded;
        uint64_t decodes = st.tokens_decoded - prev.tokens_decoded;
        assert_true(fed <= (decodes > BUDGET ? decodes : BUDGET));
        assert_true(decodes <= 8);
        chunked |= st.tokens_prefilled - prev.tokens_prefilled > 0 && decodes > 0;
        prev = st;
    }
    assert_true(chunked); /* prompt chunks rode along with decode tokens */
    for (int i = 0; i < N; i++) {
        ef_outcome o = {0};
        ef_drain(h[i], &o, false);
        assert_true(o.ended && !o.failed);
        req_release(h[i]);
    }
    sched_free(s);
}

/* Cancel everything mid-flight: ERROR "cancelled", all blocks back. */
static void test_cancel_returns_blocks(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 10 };
    sched *s = make_sched(fx, 8, 64, 32, 8, true);
    engine_req *h[N];
    uint64_t r = 9;
    for (int i = 0; i < N; i++) {
        spec sp;
        make_spec(&sp, &r, 100, 40, 50);
        sp.max_new = 40;
        h[i] = make_req(fx, &sp, sched_kv_positions(s));
        sched_add(s, h[i]);
    }
    for (int k = 0; k < 6; k++) sched_step(s);
    engine_stats st;
    sched_stats(s, &st);
    assert_true(st.kv_blocks_used > 0);
    for (int i = 0; i < N; i++) atomic_store(&h[i]->cancel, true);
    sched_step(s);
    assert_false(sched_has_work(s));
    sched_stats(s, &st);
    assert_int_equal(st.kv_blocks_used, 0);
    assert_int_equal(st.kv_blocks_free + st.kv_blocks_cached, st.kv_blocks_total);
    assert_true(st.kv_blocks_cached > 0); /* full blocks stay reusable */
    assert_int_equal(st.requests_failed, N);
    for (int i = 0; i < N; i++) {
        ef_outcome o = {0};
        ef_drain(h[i], &o, false);
        assert_true(o.ended && o.failed && o.cancelled);
        assert_false(req_next_event(h[i], &(engine_event){0}, true)); /* the stream is over */
        req_release(h[i]);
    }
    sched_free(s);
}

/* A preempted sequence's client sees its tokens once each, in order, and
 * the same tokens as without the preemption. */
static void test_preempted_stream_continues(void **state) {
    const ef_fixture *fx = *state;
    spec specs[2] = {0};
    uint64_t r = 11;
    for (int i = 0; i < 2; i++) {
        make_spec(&specs[i], &r, 10, 10, 0);
        specs[i].n_prompt = 30;
        specs[i].max_new = 60;
    }
    ef_outcome alone[2], got[2];
    run_alone(fx, specs, 2, alone);
    /* 12 blocks of 8 = 96 positions: both prompts fit, not both lives (89 each) */
    sched *s = make_sched(fx, 8, 12, 64, 4, true);
    run_all(s, fx, specs, 2, got);
    engine_stats st;
    sched_stats(s, &st);
    assert_true(st.preemptions > 0);
    for (int i = 0; i < 2; i++) ef_assert_same(&alone[i], &got[i], i);
    sched_free(s);
}

/* Requests sharing a prefix, submitted together: the later ones wait one
 * step for the first to compute the shared blocks, then attach them rather
 * than compute them again in the same step. */
static void test_shared_prefix_same_step(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 4, SHARED = 70, OWN = 6 };
    spec specs[N];
    uint64_t r = 21;
    for (int i = 0; i < N; i++) {
        make_spec(&specs[i], &r, 10, 10, 0);
        specs[i].n_prompt = SHARED + OWN;
        for (int k = 0; k < SHARED + OWN; k++)
            specs[i].prompt[k] = (int32_t)(3 + (k < SHARED ? k * 7 : i * 31 + k) % 509);
    }
    ef_outcome alone[N], got[N];
    run_alone(fx, specs, N, alone);
    sched *s = make_sched(fx, 16, 64, 4096, 8, true);
    run_all(s, fx, specs, N, got);
    engine_stats st;
    sched_stats(s, &st);
    /* 70 shared tokens = 4 full blocks of 16, attached by the 3 later ones */
    assert_int_equal(st.prefix_hit_blocks, 4 * (N - 1));
    assert_int_equal(st.tokens_prefilled, (SHARED + OWN) + (N - 1) * (SHARED + OWN - 64));
    for (int i = 0; i < N; i++) ef_assert_same(&alone[i], &got[i], i);
    sched_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_accounting_random_ops),
        cmocka_unit_test(test_tokens_independent_of_schedule),
        cmocka_unit_test(test_budget_respected),
        cmocka_unit_test(test_cancel_returns_blocks),
        cmocka_unit_test(test_injected_step_failure),
        cmocka_unit_test(test_preempted_stream_continues),
        cmocka_unit_test(test_shared_prefix_same_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
