/*
 * t5_sched_test.c — encoder-decoder sequences (T5) in the continuous-
 * batching scheduler and the engine, on ../shared/models/synth/arch/
 * t5.gguf:
 *   - the same requests (encoder inputs of 1 to 60 tokens, greedy and
 *     sampled) give the same tokens, logprobs and text alone and together:
 *     several encoded in one pass, their decoders batched, under a budget
 *     that decode tokens leave too small for a prompt (the step's first
 *     encoder overruns it), in a pool so small that sequences are
 *     preempted (both block tables given back, the prompt encoded again
 *     at readmission), on two threads, with prefix caching on;
 *   - block accounting (the scheduler's and the pool's own walks, cross
 *     tables included) after every step of random submit / step / cancel /
 *     release operations, every block back at the end;
 *   - prefix caching never shares a decoder's K/V: nothing is published or
 *     attached (their K/V depend on the encoder's input);
 *   - an injected forward-pass failure and cancellations give both tables'
 *     blocks back;
 *   - the engine's submit-time refusals (prompt logprobs, a prompt longer
 *     than one encoder pass, the KV cache), perplexity's, and FINAL's
 *     prompt count (the encoder's input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perplexity.h"
#include "request.h"
#include "scheduler.h"
#include "support/engine_fixture.h"
#include "support/testutil.h"

typedef struct {
    model *m;
    pool *pool;
} fixture;

static int setup(void **state) {
    char err[CT_ERRLEN] = "", *path = tu_model_path("synth/arch/t5.gguf");
    fixture *fx = calloc(1, sizeof *fx);
    fx->m = model_load(path, err);
    fx->pool = pool_create(1, 0);
    free(path);
    if (!fx->m || !fx->pool) {
        print_error("t5 fixture: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    pool_free(fx->pool);
    model_free(fx->m);
    free(fx);
    return 0;
}

typedef struct {
    int32_t prompt[64];
    int n_prompt, max_new;
    bool sample;
    uint64_t seed;
} spec;

static void make_spec(spec *sp, uint64_t *r) {
    sp->n_prompt = tu_rnd_in(r, 1, 60);
    sp->prompt[0] = 1;
    for (int i = 1; i < sp->n_prompt; i++) sp->prompt[i] = (int32_t)tu_rnd_in(r, 3, 511);
    sp->max_new = tu_rnd_in(r, 1, 30);
    sp->sample = tu_rnd(r) % 2;
    sp->seed = tu_rnd(r);
}

static engine_request request(const spec *sp) {
    engine_request r = engine_request_default();
    r.prompt = sp->prompt;
    r.n_prompt = sp->n_prompt;
    r.max_new_tokens = sp->max_new;
    r.ignore_eos = true;
    r.sampling.top_n = 2;
    if (sp->sample) {
        r.sampling.do_sample = true;
        r.sampling.temperature = 0.9f;
        r.sampling.top_k = 40;
        r.sampling.seed = sp->seed;
    }
    return r;
}

static engine_req *make_req(const fixture *fx, const spec *sp, int kv_positions) {
    engine_request r = request(sp);
    char err[CT_ERRLEN] = "";
    engine_req *h = req_create(fx->m, &r, kv_positions, err);
    if (!h) fail_msg("req_create: %s", err);
    return h;
}

static sched *make_sched(const fixture *fx, pool *p, int block, int n_blocks, int budget, int batch, bool prefix) {
    sched_config c = {.block_size = block, .n_blocks = n_blocks, .max_prefill_tokens = budget, .max_batch_size = batch,
                      .prefix_caching = prefix, .kv_dtype = KV_F16};
    char err[CT_ERRLEN] = "";
    sched *s = sched_create(fx->m, p, &c, err);
    if (!s) fail_msg("sched_create: %s", err);
    return s;
}

static void check_accounting(const sched *s) {
    engine_stats st;
    sched_stats(s, &st);
    assert_int_equal(st.kv_blocks_free + st.kv_blocks_used + st.kv_blocks_cached, st.kv_blocks_total);
    assert_true(sched_check(s));
}

static void run_all(sched *s, const fixture *fx, const spec *specs, int n, ef_outcome *out) {
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
        assert_int_equal(out[i].fin.n_prompt, specs[i].n_prompt); /* the encoder's input */
        assert_int_equal(out[i].fin.n_cached_prompt, 0);
        req_release(h[i]);
    }
    free(h);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_tokens_independent_of_schedule(void **state) {
    const fixture *fx = *state;
    enum { N = 24 };
    spec specs[N];
    ef_outcome alone[N], got[N];
    uint64_t r = 0x7501;
    for (int i = 0; i < N; i++) make_spec(&specs[i], &r);
    sched *roomy = make_sched(fx, fx->pool, 16, 64, 512, 4, false);
    for (int i = 0; i < N; i++) run_all(roomy, fx, &specs[i], 1, &alone[i]);
    sched_free(roomy);
    struct {
        int block, n_blocks, budget, batch;
        bool prefix, want_preempt;
        int threads;
    } cfgs[] = {
        {16, 128, 4096, 64, true, false, 1}, /* every prompt encoded in the first step */
        {16, 128, 4096, 64, true, false, 2}, /* ... on two threads */
        {16, 128, 64, 16, true, false, 1},   /* decodes leave less than a prompt: the first encoder overruns */
        {4, 40, 64, 16, true, true, 2},      /* 160 positions: preemptions, re-encoding */
        {8, 16, 60, 8, false, true, 1},      /* 128 positions, no prefix cache */
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        pool *p = cfgs[c].threads > 1 ? pool_create(cfgs[c].threads, 0) : fx->pool;
        sched *s = make_sched(fx, p, cfgs[c].block, cfgs[c].n_blocks, cfgs[c].budget, cfgs[c].batch, cfgs[c].prefix);
        run_all(s, fx, specs, N, got);
        for (int i = 0; i < N; i++) {
            ef_assert_same(&alone[i], &got[i], i);
            ef_outcome_free(&got[i]);
        }
        engine_stats st;
        sched_stats(s, &st);
        printf("# config %zu: %llu steps, %llu preemptions\n", c, (unsigned long long)st.steps,
               (unsigned long long)st.preemptions);
        if (cfgs[c].want_preempt) assert_true(st.preemptions > 0);
        assert_int_equal(st.kv_blocks_used, 0);
        assert_int_equal(st.kv_blocks_cached, 0); /* nothing was published */
        assert_int_equal(st.prefix_hit_blocks, 0);
        assert_int_equal(st.requests_finished, N);
        /* every prompt went through the encoder at least once (again after a preemption) */
        uint64_t enc = 0;
        for (int i = 0; i < N; i++) enc += (uint64_t)specs[i].n_prompt;
        assert_true(st.tokens_prefilled >= enc + N);
        if (!cfgs[c].want_preempt) assert_int_equal(st.tokens_prefilled, enc + N); /* + each start token */
        sched_free(s);
        if (p != fx->pool) pool_free(p);
    }
    for (int i = 0; i < N; i++) ef_outcome_free(&alone[i]);
}

/* The same prompt twice with prefix caching on: neither attaches anything
 * (the second would otherwise find the first's decoder blocks, which hold
 * K/V of another encoder input when the prompts differ), same outcome. */
static void test_no_prefix_sharing(void **state) {
    const fixture *fx = *state;
    spec specs[3];
    uint64_t r = 0x7502;
    for (int i = 0; i < 3; i++) {
        make_spec(&specs[i], &r);
        specs[i].max_new = 30;
        specs[i].sample = false;
    }
    specs[1] = specs[0];
    specs[1].prompt[specs[1].n_prompt - 1] ^= 1; /* another input, the same decoder start */
    ef_outcome alone[3], got[3];
    sched *s = make_sched(fx, fx->pool, 4, 128, 4096, 8, true);
    for (int i = 0; i < 3; i++) run_all(s, fx, &specs[i], 1, &alone[i]);
    run_all(s, fx, specs, 3, got);
    engine_stats st;
    sched_stats(s, &st);
    assert_int_equal(st.prefix_hit_blocks, 0);
    assert_int_equal(st.kv_blocks_cached, 0);
    for (int i = 0; i < 3; i++) {
        ef_assert_same(&alone[i], &got[i], i);
        ef_outcome_free(&alone[i]);
        ef_outcome_free(&got[i]);
    }
    sched_free(s);
}

/* Random submit / step / cancel / release; the books balance after each. */
static void test_random_ops(void **state) {
    const fixture *fx = *state;
    enum { OPS = 1500, LIVE = 32 };
    uint64_t r = 0x7503;
    sched *s = make_sched(fx, fx->pool, 4, 48, 40, 6, true);
    engine_req *live[LIVE];
    ef_outcome *outs = calloc(LIVE, sizeof *outs);
    int n_live = 0, ended = 0;
    for (int op_i = 0; op_i < OPS; op_i++) {
        int op = tu_rnd_in(&r, 0, 99);
        if (op < 25 && n_live < LIVE) {
            spec sp;
            make_spec(&sp, &r);
            if (sp.n_prompt > 40) sp.n_prompt = 40; /* one encoder pass (the engine refuses longer) */
            live[n_live] = make_req(fx, &sp, sched_kv_positions(s));
            memset(&outs[n_live], 0, sizeof outs[0]);
            sched_add(s, live[n_live++]);
        } else if (op < 85) {
            sched_step(s);
        } else if (op < 95 && n_live > 0) {
            atomic_store(&live[tu_rnd_in(&r, 0, n_live - 1)]->cancel, true);
        } else if (n_live > 0) {
            int i = tu_rnd_in(&r, 0, n_live - 1);
            req_release(live[i]);
            live[i] = live[--n_live];
            outs[i] = outs[n_live];
        }
        check_accounting(s);
        for (int i = 0; i < n_live; i++) {
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
    free(outs);
    for (int guard = 0; sched_has_work(s); guard++) {
        assert_true(guard < 1000);
        sched_step(s);
        check_accounting(s);
    }
    engine_stats st;
    sched_stats(s, &st);
    printf("# %d ended, %llu preemptions\n", ended, (unsigned long long)st.preemptions);
    assert_int_equal(st.kv_blocks_used, 0);
    assert_true(ended > 30);
    assert_true(st.preemptions > 0);
    sched_free(s);
}

/* Step 2 fails: its sequences end with ERROR, every block comes back. */
static void test_injected_failure(void **state) {
    const fixture *fx = *state;
    enum { N = 5 };
    spec specs[N];
    uint64_t r = 0x7504;
    for (int i = 0; i < N; i++) make_spec(&specs[i], &r);
    sched_config c = {.block_size = 8, .n_blocks = 64, .max_prefill_tokens = 256, .max_batch_size = N,
                      .prefix_caching = true, .kv_dtype = KV_F16, .fail_step = 2};
    char err[CT_ERRLEN] = "";
    sched *s = sched_create(fx->m, fx->pool, &c, err);
    assert_non_null(s);
    engine_req *h[N];
    for (int i = 0; i < N; i++) sched_add(s, h[i] = make_req(fx, &specs[i], sched_kv_positions(s)));
    while (sched_has_work(s)) {
        sched_step(s);
        check_accounting(s);
    }
    int failed = 0;
    for (int i = 0; i < N; i++) {
        ef_outcome o = {0};
        ef_drain(h[i], &o, false);
        failed += o.failed;
        req_release(h[i]);
    }
    engine_stats st;
    sched_stats(s, &st);
    assert_true(failed > 0);
    assert_int_equal(st.kv_blocks_used, 0);
    sched_free(s);
}

/* Through the engine: a cancelled stream frees both tables; the refusals. */
static void test_engine(void **state) {
    const fixture *fx = *state;
    engine_config c = ef_config(64, 8, 256, true);
    engine *e = ef_engine(fx->m, &c);
    spec sp;
    uint64_t r = 0x7505;
    make_spec(&sp, &r);
    sp.n_prompt = 20;
    sp.max_new = 200;
    engine_request q = request(&sp);
    engine_req *h = ef_submit(e, &q);
    engine_event ev = {0};
    assert_true(engine_next_event(h, &ev, true)); /* running: it holds blocks */
    assert_int_equal(ev.kind, ENGINE_EVENT_TOKEN);
    engine_event_clear(&ev);
    engine_cancel(h);
    ef_outcome o = {0};
    ef_drain(h, &o, true);
    assert_true(o.failed && o.cancelled);
    engine_release(h);
    engine_stats st = engine_get_stats(e);
    for (int i = 0; i < 200 && st.running + st.waiting > 0; i++) {
        usleep(5000);
        st = engine_get_stats(e);
    }
    assert_int_equal(st.kv_blocks_used, 0);
    assert_int_equal(st.kv_blocks_cached, 0);

    engine_request lp = request(&sp);
    lp.max_new_tokens = 8;
    lp.prompt_logprobs = true;
    ef_expect_refusal(e, &lp, (const char *const[]){"prompt logprobs", "encoder-decoder", NULL});
    lp.prompt_logprobs = false;
    lp.max_new_tokens = 0;
    ef_expect_refusal(e, &lp, (const char *const[]){"max_new_tokens", NULL});
    int32_t longp[100];
    for (int i = 0; i < 100; i++) longp[i] = 3 + i;
    engine_request big = request(&sp);
    big.prompt = longp;
    big.n_prompt = 100;
    big.max_new_tokens = 8;
    ef_expect_refusal(e, &big, (const char *const[]){"100 tokens", "max_batch_prefill_tokens (64)", NULL});
    engine_request kv = request(&sp);
    kv.n_prompt = 20; /* 32 positions in blocks of 16, + 230 > 256 */
    kv.max_new_tokens = 230;
    ef_expect_refusal(e, &kv, (const char *const[]){"KV", "max_batch_total_tokens", NULL});
    /* perplexity scores a text by the decoder reading it: T5's does not */
    ppl_result pr;
    char err[CT_ERRLEN] = "";
    assert_false(ppl_compute(e, longp, 100, 16, 1, 1, &pr, NULL, NULL, err));
    assert_non_null(strstr(err, "decoder-only"));
    engine_free(e);
}

/* The output is a text of its own: decoded like one (SentencePiece drops
 * the space that starts it), not as a continuation of the prompt.  BOS
 * alone is arch-t5.json's len1 prompt, whose first greedy token is 349
 * ("\u2581st"). */
static void test_text_starts_fresh(void **state) {
    const fixture *fx = *state;
    spec sp = {.prompt = {1}, .n_prompt = 1, .max_new = 4};
    ef_outcome o;
    sched *s = make_sched(fx, fx->pool, 16, 16, 64, 4, false);
    run_all(s, fx, &sp, 1, &o);
    assert_int_equal(o.ids[0], 349);
    char *want = tok_decode(fx->m->tok, o.ids, (size_t)o.n, true);
    assert_string_equal(o.text, want);
    assert_int_equal(o.text[0], 's');
    free(want);
    ef_outcome_free(&o);
    sched_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_independent_of_schedule),
        cmocka_unit_test(test_no_prefix_sharing),
        cmocka_unit_test(test_random_ops),
        cmocka_unit_test(test_injected_failure),
        cmocka_unit_test(test_engine),
        cmocka_unit_test(test_text_starts_fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
