/*
 * engine_test.c — the engine through its public API (engine.h), with its
 * own thread, fed from another thread at random step moments:
 *   - random arrival schedules (120 requests, prompts 1..300 tokens, greedy
 *     and seeded sampling) with a tiny (7) and a normal token budget give
 *     each request exactly the tokens it gives alone;
 *   - a tiny KV pool forces preemptions; everything still completes alike;
 *   - two requests sharing a 200-token prefix: the second prefills only its
 *     new tokens, and its output equals the output with prefix caching off;
 *   - cancelling half of 100 requests at random moments returns every
 *     block and leaves the others' tokens alone;
 *   - refusal at submit (the numbers named), invalid parameters;
 *   - every KV cache type (f32, f16, bf16, q8_0): the same invariance, and
 *     a byte budget buys tokens at the type's real size;
 *   - events on a real model (stories260K): texts, stop strings, top-n.
 * The block accounting (free + used + cached == total) is checked on every
 * stats snapshot the submitting thread takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "support/engine_fixture.h"
#include "support/testutil.h"

static int setup(void **state) { return (*state = ef_fixture_create(44)) ? 0 : -1; }

static int teardown(void **state) {
    ef_fixture_free(*state);
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

typedef struct {
    ef_job q;
    int submit_step; /* submitted once the engine has run this many steps */
    int cancel_step; /* -1: never cancelled */
} job;

static void make_job(job *j, uint64_t *r, int max_prompt, int min_new, int max_new) {
    ef_job_random(&j->q, r, tu_rnd_in(r, 1, max_prompt));
    engine_request *q = &j->q.r;
    q->max_new_tokens = tu_rnd_in(r, min_new, max_new);
    q->sampling.top_n = 2;
    if (tu_rnd(r) % 2) { /* seeded sampling */
        q->sampling.do_sample = true;
        q->sampling.temperature = 0.8f;
        q->sampling.top_k = 50;
        q->sampling.top_p = 0.9f;
        q->sampling.seed = tu_rnd(r);
    }
    j->submit_step = 0;
    j->cancel_step = -1;
}

/* Every job alone, one after the other. */
static void run_alone(const model *m, const job *jobs, int n, ef_outcome *out) {
    for (int i = 0; i < n; i++) ef_run_alone(m, &jobs[i].q.r, &out[i]);
}

/* ---- a schedule played from another thread ----------------------------------------------- */

typedef struct {
    engine *e;
    const job *jobs;
    int n;
    engine_req **h;
    atomic_bool books_ok; /* free + used + cached == total in every snapshot */
} player;

static bool check_books(player *p, engine_stats *st) {
    *st = engine_get_stats(p->e);
    if (st->kv_blocks_free + st->kv_blocks_used + st->kv_blocks_cached != st->kv_blocks_total)
        atomic_store(&p->books_ok, false);
    return st->waiting == 0 && st->running == 0;
}


/* Until the engine has run `step` steps (or has nothing to do). */
static void wait_step(player *p, int step) {
    engine_stats st;
    while (!check_books(p, &st) && st.steps < (uint64_t)step) usleep(50);
}

typedef struct {
    int step, job;
    bool cancel;
} action;

static int cmp_action(const void *a, const void *b) {
    const action *x = a, *y = b;
    if (x->step != y->step) return x->step - y->step;
    return (int)x->cancel - (int)y->cancel; /* submit before cancel */
}

static void *play(void *arg) {
    player *p = arg;
    action *acts = calloc((size_t)p->n * 2, sizeof *acts);
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        acts[n++] = (action){p->jobs[i].submit_step, i, false};
        if (p->jobs[i].cancel_step >= 0) acts[n++] = (action){p->jobs[i].cancel_step, i, true};
    }
    qsort(acts, (size_t)n, sizeof *acts, cmp_action);
    for (int k = 0; k < n; k++) {
        wait_step(p, acts[k].step);
        if (acts[k].cancel) {
            engine_cancel(p->h[acts[k].job]);
        } else {
            char err[CT_ERRLEN] = "";
            p->h[acts[k].job] = engine_submit(p->e, &p->jobs[acts[k].job].q.r, err);
            if (!p->h[acts[k].job]) fprintf(stderr, "engine_submit: %s\n", err);
        }
    }
    free(acts);
    return NULL;
}

/* Play jobs on a fresh engine with config c; out[i] = what job i got. */
static engine_stats run_schedule(const model *m, const engine_config *c, const job *jobs, int n, ef_outcome *out) {
    player p = {ef_engine(m, c), jobs, n, calloc((size_t)n, sizeof(engine_req *)), true};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, play, &p), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < n; i++) {
        assert_non_null(p.h[i]);
        memset(&out[i], 0, sizeof out[i]);
        ef_drain(p.h[i], &out[i], true);
        engine_release(p.h[i]);
    }
    engine_stats st = ef_settle(p.e);
    assert_true(atomic_load(&p.books_ok));
    assert_int_equal(st.kv_blocks_used, 0);
    assert_int_equal(st.kv_blocks_free + st.kv_blocks_cached, st.kv_blocks_total);
    engine_free(p.e);
    free(p.h);
    return st;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_random_arrivals(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 120 };
    job *jobs = calloc(N, sizeof *jobs);
    ef_outcome *alone = calloc(N, sizeof *alone), *got = calloc(N, sizeof *got);
    uint64_t r = 2024;
    int step = 0;
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], &r, 300, 1, 24);
        jobs[i].submit_step = step += tu_rnd_in(&r, 0, 3);
    }
    run_alone(fx->m, jobs, N, alone);
    int budgets[] = {7, 256}, batches[] = {64, 16};
    for (int b = 0; b < 2; b++) {
        engine_config c = ef_config(budgets[b], batches[b], 8192, true);
        engine_stats st = run_schedule(fx->m, &c, jobs, N, got);
        for (int i = 0; i < N; i++) ef_assert_same(&alone[i], &got[i], i);
        assert_int_equal(st.requests_finished, N);
        print_message("# budget %d: %llu steps, peak %d blocks used, %llu prefix hit blocks, %llu preemptions\n",
                      budgets[b], (unsigned long long)st.steps, st.kv_blocks_used_peak,
                      (unsigned long long)st.prefix_hit_blocks, (unsigned long long)st.preemptions);
    }
    free(jobs);
    free(alone);
    free(got);
}

static void test_preemption_tiny_pool(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 40 };
    job *jobs = calloc(N, sizeof *jobs);
    ef_outcome *alone = calloc(N, sizeof *alone), *got = calloc(N, sizeof *got);
    uint64_t r = 99;
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], &r, 120, 30, 60);
        jobs[i].submit_step = 0; /* one burst: the pool is oversubscribed whatever the timing */
    }
    run_alone(fx->m, jobs, N, alone);
    engine_config c = ef_config(64, 32, 320, true); /* 20 blocks of 16 */
    engine_stats st = run_schedule(fx->m, &c, jobs, N, got);
    for (int i = 0; i < N; i++) ef_assert_same(&alone[i], &got[i], i);
    assert_true(st.preemptions > 0);
    assert_int_equal(st.requests_finished, N);
    assert_int_equal(st.kv_blocks_total, 20);
    free(jobs);
    free(alone);
    free(got);
}

/* Also the one test whose engine runs a pool of two threads. */
static void test_shared_prefix(void **state) {
    const ef_fixture *fx = *state;
    job a, b;
    uint64_t r = 7;
    make_job(&a, &r, 1, 20, 20);
    make_job(&b, &r, 1, 20, 20);
    a.q.r.n_prompt = b.q.r.n_prompt = 210;
    for (int i = 0; i < 210; i++) a.q.prompt[i] = b.q.prompt[i] = (int32_t)(3 + tu_rnd(&r) % 509);
    for (int i = 200; i < 210; i++) b.q.prompt[i] = (int32_t)(3 + (a.q.prompt[i] + 1) % 509);

    ef_outcome alone_b, got_a, got_b;
    ef_run_alone(fx->m, &b.q.r, &alone_b);
    engine_config c = ef_config(4096, 64, 4096, true);
    c.n_threads = 2;
    engine *e = ef_engine(fx->m, &c);
    ef_run_batch(e, &a.q.r, 1, &got_a);
    engine_stats s1 = ef_settle(e);
    assert_int_equal(s1.tokens_prefilled, 210);
    assert_int_equal(s1.prefix_hit_blocks, 0);
    ef_run_batch(e, &b.q.r, 1, &got_b);
    engine_stats s2 = ef_settle(e);
    /* 200 shared tokens = 12 full blocks of 16 (192 tokens); block 12 differs */
    assert_int_equal(s2.prefix_hit_blocks, 12);
    assert_int_equal(s2.tokens_prefilled - s1.tokens_prefilled, 210 - 192);
    assert_int_equal(got_b.fin.n_cached_prompt, 192);
    assert_int_equal(got_a.fin.n_cached_prompt, 0);
    ef_assert_same(&alone_b, &got_b, 1);
    engine_free(e);
}

static void test_cancel_half(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 100 };
    job *jobs = calloc(N, sizeof *jobs);
    ef_outcome *alone = calloc(N, sizeof *alone), *got = calloc(N, sizeof *got);
    uint64_t r = 31337;
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], &r, 150, 40, 80);
        jobs[i].submit_step = tu_rnd_in(&r, 0, 40);
        if (i % 2) jobs[i].cancel_step = jobs[i].submit_step + tu_rnd_in(&r, 0, 60);
    }
    run_alone(fx->m, jobs, N, alone);
    engine_config c = ef_config(128, 64, 2048, true);
    engine_stats st = run_schedule(fx->m, &c, jobs, N, got);
    int cancelled = 0;
    for (int i = 0; i < N; i++) {
        if (jobs[i].cancel_step < 0 || !got[i].failed) {
            assert_false(got[i].failed);
            ef_assert_same(&alone[i], &got[i], i);
            continue;
        }
        cancelled++;
        assert_true(got[i].cancelled);
        /* what it got before the cancel is the start of its tokens alone */
        assert_true(got[i].n <= alone[i].n);
        assert_memory_equal(got[i].ids, alone[i].ids, (size_t)got[i].n * sizeof got[i].ids[0]);
    }
    assert_true(cancelled > 5); /* most, unless this thread was starved of CPU for long */
    assert_int_equal(st.requests_failed, cancelled);
    assert_int_equal(st.requests_finished, N - cancelled);
    free(jobs);
    free(alone);
    free(got);
}

static void test_refusals(void **state) {
    const ef_fixture *fx = *state;
    engine_config c = ef_config(64, 8, 64, true); /* 4 blocks of 16 */
    engine *e = ef_engine(fx->m, &c);
    assert_int_equal(engine_get_config(e).max_batch_total_tokens, 64);
    int32_t prompt[600];
    for (int i = 0; i < 600; i++) prompt[i] = 5 + i % 400;
    engine_request r = engine_request_default();
    r.prompt = prompt;
    r.n_prompt = 60;
    r.max_new_tokens = 10; /* 69 KV positions > 64 */
    ef_expect_refusal(e, &r, (const char *const[]){"60", "10", "69", "64", NULL});
    r.n_prompt = 500;
    r.max_new_tokens = 20; /* context 512 */
    ef_expect_refusal(e, &r, (const char *const[]){"500", "20", "512", NULL});
    r.n_prompt = 4;
    r.max_new_tokens = 0;
    ef_expect_refusal(e, &r, (const char *const[]){"max_new_tokens", NULL});
    r.max_new_tokens = 4;
    r.n_prompt = 0;
    ef_expect_refusal(e, &r, (const char *const[]){"empty", NULL});
    r.n_prompt = 4;
    prompt[2] = 512;
    ef_expect_refusal(e, &r, (const char *const[]){"512", "vocabulary", NULL});
    prompt[2] = 7;
    r.sampling.top_p = 0.0f;
    ef_expect_refusal(e, &r, (const char *const[]){"top_p", NULL});
    r.sampling = sampler_params_default();
    r.sampling.temperature = -1.0f;
    ef_expect_refusal(e, &r, (const char *const[]){"temperature", NULL});
    r.sampling = sampler_params_default();
    r.stops = (const char *const[]){"ok", ""};
    r.n_stops = 2;
    ef_expect_refusal(e, &r, (const char *const[]){"stop", NULL});
    r.n_stops = 0;
    /* what fits exactly is accepted: 60 + 5 - 1 = 64 positions */
    r.n_prompt = 60;
    r.max_new_tokens = 5;
    ef_outcome o;
    ef_run_batch(e, &r, 1, &o); /* and it does not fail */
    engine_free(e);

    engine_config bad = ef_config(64, 8, 64, true);
    bad.block_size = -1;
    char err[CT_ERRLEN] = "";
    assert_null(engine_create(fx->m, &bad, err));
    assert_non_null(strstr(err, "block_size -1"));
}

/* Every KV cache type on a model with head_dim 32 (q8_0 needs whole blocks
 * of 32 per head): requests arriving at random steps, fed in tiny chunks
 * beside each other with prefix caching and preemptions, give each the
 * tokens and logprob bits it gives alone with that cache type; and a typed
 * cache does change the logprobs (the type took effect). */
static void test_each_kv_dtype(void **state) {
    (void)state;
    enum { N = 12 };
    model *m = ef_synth_model(46, 32);
    assert_non_null(m);
    job *jobs = calloc(N, sizeof *jobs);
    ef_outcome *f32 = calloc(N, sizeof *f32), *alone = calloc(N, sizeof *alone), *got = calloc(N, sizeof *got);
    uint64_t r = 31;
    int step = 0;
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], &r, 90, 4, 16);
        jobs[i].submit_step = step += tu_rnd_in(&r, 0, 2);
    }
    for (int t = ENGINE_KV_F32; t <= ENGINE_KV_Q8_0; t++) {
        for (int i = 0; i < N; i++) ef_run_alone_kv(m, &jobs[i].q.r, (engine_kv_dtype)t, &alone[i]);
        engine_config c = ef_config(7, 16, 160, true); /* 10 blocks of 16: preemptions */
        c.kv_dtype = (engine_kv_dtype)t;
        engine_stats st = run_schedule(m, &c, jobs, N, got);
        for (int i = 0; i < N; i++) ef_assert_same(&alone[i], &got[i], i);
        int moved = 0;
        for (int i = 0; i < N; i++) {
            if (t == ENGINE_KV_F32) f32[i] = alone[i];
            else moved += memcmp(&f32[i].logprob[0], &alone[i].logprob[0], sizeof(float)) != 0;
        }
        print_message("# KV %s: %llu preemptions, %d of %d first logprobs differ from KV f32\n",
                      engine_kv_dtype_name((engine_kv_dtype)t), (unsigned long long)st.preemptions, moved, N);
        assert_true(t == ENGINE_KV_F32 || moved > 0);
    }
    free(jobs);
    free(f32);
    free(alone);
    free(got);
    model_free(m);
}

/* A byte budget buys tokens at the type's real size: 2 layers x 2 kv heads
 * x 32 dims, K and V = 1024 bytes a token in f32, 512 in f16/bf16, 272 in
 * q8_0 (34 bytes per 32 values); the blocks' bytes follow.  q8_0 on a
 * model with head_dim 16 is refused, naming it. */
static void test_kv_dtype_budget(void **state) {
    const ef_fixture *fx = *state;
    model *m = ef_synth_model(47, 32);
    assert_non_null(m);
    const size_t budget = 1 << 20, per_token[] = {1024, 512, 512, 272};
    int tokens[4];
    for (int t = ENGINE_KV_F32; t <= ENGINE_KV_Q8_0; t++) {
        engine_config c = ef_config(64, 8, 0, true);
        c.kv_cache_bytes = budget;
        c.kv_dtype = (engine_kv_dtype)t;
        engine *e = ef_engine(m, &c);
        engine_config got = engine_get_config(e);
        engine_stats st = engine_get_stats(e);
        tokens[t] = got.max_batch_total_tokens;
        assert_int_equal(got.kv_dtype, t);
        assert_int_equal(tokens[t], (budget / per_token[t] + 15) / 16 * 16); /* whole blocks, rounded up */
        assert_int_equal(got.kv_cache_bytes, (size_t)tokens[t] * per_token[t]);
        assert_int_equal(st.kv_block_bytes, 16 * per_token[t]);
        engine_free(e);
    }
    assert_int_equal(tokens[ENGINE_KV_F16], 2 * tokens[ENGINE_KV_F32]);
    assert_int_equal(tokens[ENGINE_KV_BF16], 2 * tokens[ENGINE_KV_F32]);
    assert_true(tokens[ENGINE_KV_Q8_0] >= 3 * tokens[ENGINE_KV_F32]);
    engine_config c = ef_config(64, 8, 64, true);
    assert_int_equal(c.kv_dtype, ENGINE_KV_F16); /* the default */
    c.kv_dtype = ENGINE_KV_Q8_0;
    char err[CT_ERRLEN] = "";
    assert_null(engine_create(fx->m, &c, err));
    assert_non_null(strstr(err, "q8_0"));
    assert_non_null(strstr(err, "head_dim is 16"));
    c.kv_dtype = (engine_kv_dtype)9;
    assert_null(engine_create(fx->m, &c, err));
    assert_non_null(strstr(err, "dtype"));
    engine_kv_dtype t = ENGINE_KV_F32;
    assert_true(engine_kv_dtype_parse("bf16", &t) && t == ENGINE_KV_BF16);
    assert_false(engine_kv_dtype_parse("fp8", &t));
    assert_string_equal(engine_kv_dtype_name(ENGINE_KV_Q8_0), "q8_0");
    model_free(m);
}

/* Real text: TGI stop semantics, UTF-8 pieces, top-n alternatives. */
static void test_events_on_stories(void **state) {
    const ef_fixture *fx = *state;
    int n;
    int32_t *ids = ef_encode(fx->stories, "Once upon a time", &n);
    engine_config c = ef_config(64, 8, 1024, true);
    engine *e = ef_engine(fx->stories, &c);
    engine_request r = engine_request_default();
    r.prompt = ids;
    r.n_prompt = n;
    r.max_new_tokens = 60;
    r.sampling.top_n = 3;
    r.stops = (const char *const[]){"zq", "Lily", "Lily"};
    r.n_stops = 3;
    engine_req *h = ef_submit(e, &r);
    engine_event ev;
    int tokens = 0;
    while (engine_next_event(h, &ev, true)) {
        if (ev.kind == ENGINE_EVENT_TOKEN) {
            tokens++;
            assert_int_equal(ev.token.n_top, 3);
            assert_int_equal(ev.token.top[0].id, ev.token.id); /* greedy: the best one */
            assert_true(ev.token.top[0].logprob >= ev.token.top[1].logprob);
        } else {
            assert_int_equal(ev.kind, ENGINE_EVENT_FINAL);
            assert_int_equal(ev.final.reason, ENGINE_FINISH_STOP);
            assert_string_equal(engine_finish_name(ev.final.reason), "stop_sequence");
            assert_int_equal(ev.final.stop_index, 1); /* which one matched: the first of equal strings */
            assert_int_equal(ev.final.stop_token_id, -1);
            assert_int_equal(ev.final.n_generated, tokens);
            assert_int_equal(ev.final.n_prompt, n);
            /* "Once upon a time, there was a little girl named Lily" */
            assert_string_equal(ev.final.text, ", there was a little girl named Lily");
        }
        engine_event_clear(&ev);
    }
    engine_release(h);
    /* a handle released unread, and one never finished: no leak, no hang */
    r.n_stops = 0;
    engine_release(ef_submit(e, &r));
    r.max_new_tokens = 400;
    r.ignore_eos = true;
    h = ef_submit(e, &r);
    engine_free(e); /* ends h: tokens, then ERROR "engine shut down" (or FINAL) */
    engine_event last = {0};
    while (engine_next_event(h, &ev, true)) {
        engine_event_clear(&last);
        last = ev;
    }
    assert_true(last.kind != ENGINE_EVENT_TOKEN);
    if (last.kind == ENGINE_EVENT_ERROR) assert_string_equal(last.error.message, "engine shut down");
    engine_event_clear(&last);
    engine_release(h);
    free(ids);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_arrivals),
        cmocka_unit_test(test_preemption_tiny_pool),
        cmocka_unit_test(test_shared_prefix),
        cmocka_unit_test(test_cancel_half),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_each_kv_dtype),
        cmocka_unit_test(test_kv_dtype_budget),
        cmocka_unit_test(test_events_on_stories),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
