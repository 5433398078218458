/*
 * engine_prompt_test.c — the engine's request options beyond plain
 * generation: prompt logprobs (TGI decoder_input_details, OpenAI echo),
 * min_new_tokens (vLLM min_tokens) and stop_ids (vLLM stop_token_ids).
 *
 * Prompt logprobs against independent oracles:
 *   - a float64 log_softmax of the single-sequence forward pass (fwd_eval,
 *     the path perplexity.c and generate.c use) and a brute-force sort of
 *     the whole vocabulary for the alternatives; sampling parameters
 *     (temperature, penalties) must not change them;
 *   - perplexity: the mean of -logprob over llama-perplexity's scored
 *     positions equals ppl_compute and the float64 reference of
 *     reference/perplexity.json (stories260K, all 45 chunks at once);
 *   - reference/stories260K.json: logprob differences between tokens equal
 *     the reference logit differences at every prompt position;
 *   - bit-identical alone, beside 20 random requests under a 7-token step
 *     budget, with the prefix already cached, and in a pool so small that
 *     it is preempted in the middle of its prompt (scheduler driven step by
 *     step, so the mid-prompt preemption is certain).
 * min_new_tokens and stop_ids against an unconstrained greedy run of
 * stories260K: where EOS is banned the second-best token comes, with its
 * probability renormalised; stop strings are matched only from token
 * min_new_tokens on; a stop id ends the request where it first appears.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "perplexity.h"
#include "request.h"
#include "scheduler.h"
#include "support/engine_fixture.h"
#include "support/testutil.h"

/* The synthetic model is drawn from seed 45; the fixture's pool runs the
 * single-sequence oracle and the scheduler test. */
static int setup(void **state) { return (*state = ef_fixture_create(45)) ? 0 : -1; }

static int teardown(void **state) {
    ef_fixture_free(*state);
    return 0;
}

/* ---- prompt logprobs: oracles ---------------------------------------------------------- */

/* logits (n, vocab) of ids[0..n) from the single-sequence forward pass,
 * with the KV cache type the engine uses by default (ef_config). */
static float *oracle_logits(const ef_fixture *fx, const model *m, const int32_t *ids, int n) {
    fwd_ctx *f = fwd_create(m, fx->pool, n);
    kv_dtype dt = (kv_dtype)engine_config_default().kv_dtype;
    kv_pool *kv = kv_pool_create(m->cfg.n_layers, m->cfg.n_kv_heads * m->cfg.head_dim, 16, (n + 15) / 16, dt, false);
    kv_seq ks;
    kv_seq_init(&ks);
    const kv_seq *seqs[1] = {&ks};
    int *pos = malloc((size_t)n * sizeof *pos), *seq = calloc((size_t)n, sizeof *seq);
    float *logits = malloc((size_t)n * m->cfg.vocab * sizeof *logits);
    for (int i = 0; i < n; i++) pos[i] = i;
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = n};
    assert_true(f && kv && kv_seq_reserve(kv, &ks, n) && fwd_eval(f, kv_pool_store(kv), &b, logits));
    kv_seq_release(kv, &ks);
    kv_pool_free(kv);
    fwd_free(f);
    free(pos);
    free(seq);
    return logits;
}

/* qsort_r order of ids by the logit row `row`, best first, ties by id. */
static int cmp_by_logit(const void *a, const void *b, void *row) {
    const float *l = row;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (l[x] != l[y]) return l[x] > l[y] ? -1 : 1;
    return x < y ? -1 : 1;
}

/* Every entry of p (n prompt ids, top_n alternatives) against float64
 * log_softmax of the oracle logits and a full sort of the vocabulary. */
static void check_against_oracle(const ef_fixture *fx, const model *m, const int32_t *ids, int n,
                                 const engine_prompt_token *p, int top_n) {
    int vocab = m->cfg.vocab;
    float *logits = oracle_logits(fx, m, ids, n);
    int32_t *order = malloc((size_t)vocab * sizeof *order);
    assert_true(isnan(p[0].logprob));
    assert_int_equal(p[0].n_top, 0);
    double worst = 0;
    for (int i = 1; i < n; i++) {
        const float *row = logits + (size_t)(i - 1) * vocab;
        double mx = row[0], z = 0;
        for (int k = 1; k < vocab; k++) mx = row[k] > mx ? row[k] : mx;
        for (int k = 0; k < vocab; k++) z += exp((double)row[k] - mx);
        double lse = mx + log(z), want = (double)row[ids[i]] - lse;
        double d = fabs(p[i].logprob - want);
        worst = d > worst ? d : worst;
        if (d > 1e-6 * (1 + fabs(want))) fail_msg("position %d: logprob %.9g, float64 %.9g", i, (double)p[i].logprob, want);
        for (int k = 0; k < vocab; k++) order[k] = k;
        qsort_r(order, (size_t)vocab, sizeof *order, cmp_by_logit, (void *)row);
        assert_int_equal(p[i].n_top, top_n);
        for (int k = 0; k < top_n; k++) {
            if (p[i].top[k].id != order[k]) fail_msg("position %d: alternative %d is %d, want %d", i, k, p[i].top[k].id, order[k]);
            assert_true(fabs(p[i].top[k].logprob - ((double)row[order[k]] - lse)) <= 1e-6 * (1 + fabs(want)));
        }
    }
    print_message("# %d positions: max |logprob - float64| %.2e\n", n - 1, worst);
    free(order);
    free(logits);
}

/* The synthetic model and stories260K: prompt logprobs are the raw model's,
 * whatever the sampling parameters. */
static void test_prompt_logprobs_vs_forward(void **state) {
    const ef_fixture *fx = *state;
    int32_t prompt[150];
    uint64_t r = 17;
    for (int i = 0; i < 150; i++) prompt[i] = (int32_t)(3 + tu_rnd(&r) % 509);
    engine_request q = engine_request_default();
    q.prompt = prompt;
    q.n_prompt = 150;
    q.max_new_tokens = 3;
    q.prompt_logprobs = true;
    q.sampling.top_n = 5;
    q.sampling.do_sample = true;
    q.sampling.temperature = 0.5f;
    q.sampling.repetition_penalty = 1.5f;
    q.sampling.seed = 3;
    ef_outcome o;
    ef_run_alone(fx->m, &q, &o);
    assert_non_null(o.fin.prompt);
    assert_int_equal(o.fin.n_prompt, 150);
    check_against_oracle(fx, fx->m, prompt, 150, o.fin.prompt, 5);
    ef_outcome_free(&o);

    int n;
    int32_t *ids = ef_encode(fx->stories, "Lily and Ben went to the park. They saw a big red ball.", &n);
    q.prompt = ids;
    q.n_prompt = n;
    q.sampling = sampler_params_default();
    q.sampling.top_n = SAMPLER_MAX_TOP_N;
    ef_run_alone(fx->stories, &q, &o);
    check_against_oracle(fx, fx->stories, ids, n, o.fin.prompt, SAMPLER_MAX_TOP_N);
    ef_outcome_free(&o);
    /* off: no array */
    q.prompt_logprobs = false;
    ef_run_alone(fx->stories, &q, &o);
    assert_null(o.fin.prompt);
    free(ids);
}

/* A scoring request (max_new_tokens 0 + prompt_logprobs) feeds its prompt
 * and ends: no TOKEN, FINAL reason length, n_generated 0, and the same
 * prompt logprobs, bit for bit, as the request that also generates.  With
 * prompt_logprobs_from, the entries before it are empty, the others the
 * same, and the rows before it may come from the prefix cache.  A prompt
 * that fills the whole context may be scored; without prompt_logprobs, 0
 * stays refused. */
static void test_scoring_request(void **state) {
    const ef_fixture *fx = *state;
    int32_t prompt[512];
    uint64_t r = 29;
    for (int i = 0; i < 512; i++) prompt[i] = (int32_t)(3 + tu_rnd(&r) % 509);
    engine_request q[2] = {engine_request_default(), engine_request_default()};
    for (int k = 0; k < 2; k++) {
        q[k].prompt = prompt;
        q[k].n_prompt = 200;
        q[k].prompt_logprobs = true;
        q[k].sampling.top_n = 3;
        q[k].max_new_tokens = k == 0 ? 0 : 4;
    }
    engine_config c = ef_config(64, 8, 2048, true);
    engine *e = ef_engine(fx->m, &c);
    ef_outcome o[2];
    ef_run_batch(e, q, 2, o);
    assert_true(o[0].ended && !o[0].failed);
    assert_int_equal(o[0].n, 0);
    assert_int_equal(o[0].fin.n_generated, 0);
    assert_int_equal(o[0].fin.reason, ENGINE_FINISH_LENGTH);
    assert_int_equal(o[0].fin.n_prompt, 200);
    assert_int_equal(o[1].n, 4);
    for (int i = 1; i < 200; i++) {
        assert_memory_equal(&o[0].fin.prompt[i].logprob, &o[1].fin.prompt[i].logprob, sizeof(float));
        assert_int_equal(o[0].fin.prompt[i].n_top, 3);
        assert_memory_equal(o[0].fin.prompt[i].top, o[1].fin.prompt[i].top, 3 * sizeof(sampler_token));
    }
    ef_outcome_free(&o[0]);
    /* only the tail: entries before position 150 empty, the rest the same */
    q[0].prompt_logprobs_from = 150;
    ef_run_batch(e, q, 1, o);
    assert_true(o[0].ended && !o[0].failed);
    assert_int_equal(o[0].fin.n_cached_prompt, 144); /* the 9 full blocks of rows < 149 */
    for (int i = 0; i < 200; i++) {
        if (i < 150) {
            assert_true(isnan(o[0].fin.prompt[i].logprob));
            assert_int_equal(o[0].fin.prompt[i].n_top, 0);
        } else {
            assert_memory_equal(&o[0].fin.prompt[i].logprob, &o[1].fin.prompt[i].logprob, sizeof(float));
            assert_memory_equal(o[0].fin.prompt[i].top, o[1].fin.prompt[i].top, 3 * sizeof(sampler_token));
        }
    }
    ef_outcome_free(&o[0]);
    ef_outcome_free(&o[1]);
    q[0].prompt_logprobs_from = 201;
    ef_expect_refusal(e, &q[0], (const char *const[]){"prompt_logprobs_from", "200", "201", NULL});
    q[0].prompt_logprobs_from = 0;
    q[0].n_prompt = 512; /* the whole context (512) */
    ef_run_batch(e, q, 1, o);
    assert_true(o[0].ended && !o[0].failed);
    assert_true(isfinite(o[0].fin.prompt[511].logprob));
    ef_outcome_free(&o[0]);
    q[0].prompt_logprobs = false;
    q[0].n_prompt = 4;
    ef_expect_refusal(e, &q[0], (const char *const[]){"max_new_tokens", NULL});
    engine_free(e);
}

/* llama-perplexity's method (chunks of 128, BOS first, second half scored)
 * from the engine's prompt logprobs, 45 chunks submitted at once. */
static void test_prompt_logprobs_vs_perplexity(void **state) {
    const ef_fixture *fx = *state;
    char err[CT_ERRLEN] = "";
    char *txt_path = tu_model_path("reference/perplexity.txt"), *ref_path = tu_model_path("reference/perplexity.json");
    size_t len;
    char *text = ct_read_file(txt_path, &len, err);
    assert_non_null(text);
    if (len && text[len - 1] == '\n') text[--len] = '\0';
    json_error_t je;
    json_t *ref = json_load_file(ref_path, 0, &je);
    assert_non_null(ref);
    json_t *mref = json_array_get(json_object_get(ref, "models"), 2);
    assert_string_equal(json_string_value(json_object_get(mref, "model")), "stories260K.gguf");
    double ref_nll = json_number_value(json_object_get(json_object_get(mref, "ref_forward"), "mean_nll"));

    int32_t *ids = NULL;
    int n = tok_encode(fx->stories->tok, text, len, true, false, &ids, err);
    enum { CTX = 128 };
    int chunks = n / CTX;
    assert_int_equal(chunks, 45);
    for (int c = 0; c < chunks; c++) ids[c * CTX] = 1; /* BOS replaces the first token */
    engine_request *reqs = calloc((size_t)chunks, sizeof *reqs);
    ef_outcome *out = calloc((size_t)chunks, sizeof *out);
    for (int c = 0; c < chunks; c++) {
        reqs[c] = engine_request_default();
        reqs[c].prompt = ids + c * CTX;
        reqs[c].n_prompt = CTX;
        reqs[c].max_new_tokens = 1;
        reqs[c].prompt_logprobs = true;
    }
    engine_config cfg = ef_config(500, 64, 8192, true);
    cfg.kv_dtype = ENGINE_KV_F32; /* the float64 reference's keys and values */
    engine *e = ef_engine(fx->stories, &cfg);
    ef_run_batch(e, reqs, chunks, out);
    double nll = 0;
    int scored = 0;
    for (int c = 0; c < chunks; c++) {
        for (int i = CTX / 2 + 1; i < CTX; i++, scored++) nll -= out[c].fin.prompt[i].logprob;
        ef_outcome_free(&out[c]);
    }
    ppl_result pr;
    assert_true(ppl_compute(e, ids, n, CTX, 1, 4, &pr, NULL, NULL, err));
    engine_free(e);
    assert_int_equal(scored, pr.n_scored);
    print_message("# mean NLL from prompt logprobs %.9f, ppl_compute %.9f, float64 reference %.9f\n", nll / scored,
                  pr.mean_nll, ref_nll);
    assert_true(fabs(nll / scored - pr.mean_nll) < 1e-6);
    assert_true(fabs(nll / scored - ref_nll) < 1e-4);
    json_decref(ref);
    free(reqs);
    free(out);
    free(ids);
    free(text);
    free(txt_path);
    free(ref_path);
}

/* Reference logits (float64) at every prompt position of the four
 * stories260K prompts: logprob differences are logit differences.  With an
 * F32 KV cache, as the reference (golden_test bounds the F16 cache). */
static void test_prompt_logprobs_golden(void **state) {
    const ef_fixture *fx = *state;
    char *path = tu_model_path("reference/stories260K.json");
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    assert_non_null(ref);
    double tol = 2 * json_number_value(json_object_get(json_object_get(ref, "tolerance"), "logit_abs_tol"));
    size_t pi;
    json_t *p;
    int positions = 0, actual_checked = 0;
    double worst = 0;
    json_array_foreach(json_object_get(ref, "prompts"), pi, p) {
        json_t *jids = json_object_get(p, "ids"), *top10 = json_object_get(p, "top10");
        int n = (int)json_array_size(jids);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        for (int i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(jids, i));
        engine_request q = engine_request_default();
        q.prompt = ids;
        q.n_prompt = n;
        q.max_new_tokens = 1;
        q.prompt_logprobs = true;
        q.sampling.top_n = SAMPLER_MAX_TOP_N;
        ef_outcome o;
        ef_run_alone_kv(fx->stories, &q, ENGINE_KV_F32, &o);
        for (int i = 1; i < n; i++, positions++) {
            const engine_prompt_token *e = &o.fin.prompt[i];
            json_t *t = json_array_get(top10, (size_t)i - 1);
            int32_t best = (int32_t)json_integer_value(json_array_get(json_array_get(t, 0), 0));
            double best_logit = json_number_value(json_array_get(json_array_get(t, 0), 1));
            assert_int_equal(e->top[0].id, best); /* margins >= 0.0057 > the engine's error */
            size_t k;
            json_t *pair;
            json_array_foreach(t, k, pair) {
                int32_t id = (int32_t)json_integer_value(json_array_get(pair, 0));
                double want = json_number_value(json_array_get(pair, 1)) - best_logit, got = NAN;
                for (int a = 0; a < e->n_top; a++)
                    if (e->top[a].id == id) got = (double)e->top[a].logprob - e->top[0].logprob;
                if (!(fabs(got - want) <= tol)) fail_msg("prompt %zu position %d id %d: %g vs %g", pi, i, id, got, want);
                worst = fabs(got - want) > worst ? fabs(got - want) : worst;
                if (id == ids[i]) { /* the actual token: its own entry */
                    assert_true(fabs((double)e->logprob - e->top[0].logprob - want) <= tol);
                    actual_checked++;
                }
            }
        }
        ef_outcome_free(&o);
        free(ids);
    }
    print_message("# %d positions, %d actual tokens in the reference top-10, max diff %.2e\n", positions,
                  actual_checked, worst);
    assert_int_equal(positions, 1 + 7 + 33 + 130 - 4);
    json_decref(ref);
    free(path);
}

/* ---- prompt logprobs: independent of the schedule --------------------------------------- */

static void make_job(ef_job *j, uint64_t *r, int n_prompt, bool plp) {
    ef_job_random(j, r, n_prompt);
    j->r.max_new_tokens = tu_rnd_in(r, 1, 20);
    j->r.prompt_logprobs = plp;
    j->r.sampling.top_n = 3;
    if (tu_rnd(r) % 2) {
        j->r.sampling.do_sample = true;
        j->r.sampling.temperature = 0.8f;
        j->r.sampling.seed = tu_rnd(r);
    }
}

/* 8 prompt-logprob requests (one of a single token) among 20 others, some
 * sharing their prompts; tiny budget, then a tiny pool. */
static void test_prompt_logprobs_schedule(void **state) {
    const ef_fixture *fx = *state;
    enum { N = 28, PLP = 8 };
    ef_job *jobs = calloc(N, sizeof *jobs);
    engine_request reqs[N];
    ef_outcome *alone = calloc(N, sizeof *alone), *got = calloc(N, sizeof *got);
    uint64_t r = 4242;
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], &r, i == 0 ? 1 : tu_rnd_in(&r, 2, 300), i < PLP);
        if (i >= PLP && i < 2 * PLP) { /* the same prompt as a prompt-logprob request */
            memcpy(jobs[i].prompt, jobs[i - PLP].prompt, sizeof jobs[i].prompt);
            jobs[i].r.n_prompt = jobs[i - PLP].r.n_prompt;
        }
        reqs[i] = jobs[i].r;
        reqs[i].prompt = jobs[i].prompt;
    }
    for (int i = 0; i < N; i++) ef_run_alone(fx->m, &reqs[i], &alone[i]);
    struct {
        int budget, batch, kv;
    } cfgs[] = {{7, 64, 8192}, {64, 32, 320}};
    for (int c = 0; c < 2; c++) {
        engine_config cfg = ef_config(cfgs[c].budget, cfgs[c].batch, cfgs[c].kv, true);
        engine *e = ef_engine(fx->m, &cfg);
        /* the sharing requests first, alone: their blocks are cached */
        for (int i = PLP; i < 2 * PLP; i++) ef_run_batch(e, &reqs[i], 1, &got[i]);
        for (int i = PLP; i < 2 * PLP; i++) ef_outcome_free(&got[i]);
        ef_run_batch(e, reqs, N, got);
        engine_stats st = engine_get_stats(e);
        print_message("# budget %d, %d KV tokens: %llu prefix hit blocks, %llu preemptions\n", cfgs[c].budget,
                      cfgs[c].kv, (unsigned long long)st.prefix_hit_blocks, (unsigned long long)st.preemptions);
        for (int i = 0; i < N; i++) {
            ef_assert_same(&alone[i], &got[i], i);
            if (i < PLP) assert_int_equal(got[i].fin.n_cached_prompt, 0);
            ef_outcome_free(&got[i]);
        }
        if (c == 0) assert_true(st.prefix_hit_blocks > 0); /* a tiny pool may have evicted them */
        if (c == 1) assert_true(st.preemptions > 0);
        engine_free(e);
    }
    for (int i = 0; i < N; i++) ef_outcome_free(&alone[i]);
    free(jobs);
    free(alone);
    free(got);
}

/* Driven step by step: a long prompt-logprob request admitted after a
 * decoding one is preempted in the middle of its prompt (the pool cannot
 * hold both), then re-feeds its prompt — attaching the blocks of the rows
 * it already recorded when they are still cached — and ends with the same
 * values as alone. */
static void test_prompt_logprobs_preempted_midprompt(void **state) {
    const ef_fixture *fx = *state;
    ef_job a, b;
    uint64_t r = 5;
    make_job(&a, &r, 40, false);
    make_job(&b, &r, 60, true);
    a.r.max_new_tokens = 40;
    a.r.ignore_eos = b.r.ignore_eos = true;
    b.r.max_new_tokens = 5;
    ef_outcome alone_a, alone_b;
    ef_run_alone(fx->m, &a.r, &alone_a);
    ef_run_alone(fx->m, &b.r, &alone_b);

    sched_config sc = {.block_size = 4, .n_blocks = 24, .max_prefill_tokens = 6, .max_batch_size = 4,
                       .prefix_caching = true, /* 96 positions < 79 + 64 */
                       .kv_dtype = (kv_dtype)engine_config_default().kv_dtype}; /* as ef_run_alone's engine */
    char err[CT_ERRLEN] = "";
    sched *s = sched_create(fx->m, fx->pool, &sc, err);
    assert_non_null(s);
    engine_req *ha = req_create(fx->m, &a.r, sched_kv_positions(s), err);
    engine_req *hb = req_create(fx->m, &b.r, sched_kv_positions(s), err);
    assert_true(ha && hb);
    sched_add(s, ha);
    sched_step(s); /* a first: b is the newer one, the preemption victim */
    sched_add(s, hb);
    bool recomputed = false;
    int recorded_when_preempted = -1, rows = req_plp_end(hb);
    engine_stats st;
    for (int guard = 0; sched_has_work(s); guard++) {
        assert_true(guard < 10000);
        int before = hb->n_plp;
        sched_stats(s, &st);
        uint64_t preemptions = st.preemptions;
        sched_step(s);
        assert_true(sched_check(s));
        assert_true(hb->n_plp >= before); /* never recorded backwards */
        sched_stats(s, &st);
        /* b is always the newest, so the victim */
        if (st.preemptions > preemptions && before > 0 && before < req_plp_end(hb) && recorded_when_preempted < 0)
            recorded_when_preempted = before;
        if (hb->kv.n_computed < hb->n_plp) recomputed = true;
    }
    print_message("# preempted with %d of %d prompt rows recorded; %llu preemptions, %llu tokens prefilled, "
                  "%llu prefix hit blocks, recomputed %d\n", recorded_when_preempted, rows,
                  (unsigned long long)st.preemptions, (unsigned long long)st.tokens_prefilled,
                  (unsigned long long)st.prefix_hit_blocks, recomputed);
    assert_true(recorded_when_preempted > 0);
    assert_true(recomputed || st.prefix_hit_blocks > 0);
    ef_outcome got_a = {0}, got_b = {0};
    ef_drain(ha, &got_a, false);
    ef_drain(hb, &got_b, false);
    ef_assert_same(&alone_a, &got_a, 0);
    ef_assert_same(&alone_b, &got_b, 1);
    req_release(ha);
    req_release(hb);
    sched_free(s);
    ef_outcome_free(&alone_b);
    ef_outcome_free(&got_b);
}

/* ---- min_new_tokens and stop ids ----------------------------------------------------------- */

/* "Once upon a time" greedy on stories260K, 400 tokens (it never picks EOS
 * by itself): the base run. */
static void story(const ef_fixture *fx, engine_request *q, int32_t **ids, ef_outcome *base) {
    int n;
    *ids = ef_encode(fx->stories, "Once upon a time", &n);
    *q = engine_request_default();
    q->prompt = *ids;
    q->n_prompt = n;
    q->max_new_tokens = 400;
    q->sampling.top_n = 2;
    ef_run_alone(fx->stories, q, base);
    assert_int_equal(base->n, 400);
    assert_int_equal(base->fin.stop_token_id, -1);
}

static void test_min_tokens_bans_eos(void **state) {
    const ef_fixture *fx = *state;
    engine_request q;
    int32_t *ids;
    ef_outcome base, o;
    story(fx, &q, &ids, &base);
    /* a logit bias that makes the story end (EOS id 2) somewhere past token 10 */
    sampler_bias bias = {2, 15}; /* (below ~19 the 400 tokens hold no EOS) */
    q.sampling.logit_bias = &bias;
    q.sampling.n_logit_bias = 1;
    do {
        bias.bias += 1;
        ef_run_alone(fx->stories, &q, &base);
    } while (base.fin.reason != ENGINE_FINISH_EOS && bias.bias < 30);
    int k = base.n; /* token k - 1 is EOS */
    assert_true(model_is_eos(fx->stories, base.ids[k - 1]) && k > 10);
    assert_int_equal(base.fin.stop_token_id, -1);
    assert_int_equal(base.top[k - 1][0].id, base.ids[k - 1]);
    q.min_new_tokens = k + 3;
    ef_run_alone(fx->stories, &q, &o);
    assert_true(o.n >= k + 3);
    for (int i = 0; i < k + 3; i++) assert_false(model_is_eos(fx->stories, o.ids[i]));
    assert_memory_equal(o.ids, base.ids, (size_t)(k - 1) * sizeof o.ids[0]);
    /* where EOS was best, the runner-up comes, EOS's mass spread over the rest */
    assert_int_equal(o.ids[k - 1], base.top[k - 1][1].id);
    double want = base.top[k - 1][1].logprob - log1p(-exp((double)base.top[k - 1][0].logprob));
    print_message("# EOS bias %.1f: EOS at token %d (p %.3f); banned: token %d, logprob %.6f (renormalised %.6f)\n",
                  (double)bias.bias, k,
                  exp(base.top[k - 1][0].logprob), o.ids[k - 1], (double)o.logprob[k - 1], want);
    assert_true(fabs(o.logprob[k - 1] - want) < 1e-4);
    /* min_new_tokens == max_new_tokens: exactly that many, reason length */
    q.min_new_tokens = q.max_new_tokens = k + 3;
    ef_run_alone(fx->stories, &q, &o);
    assert_int_equal(o.n, k + 3);
    assert_int_equal(o.fin.reason, ENGINE_FINISH_LENGTH);
    free(ids);
}

/* Position of needle in hay[from, len) or -1. */
static long find_from(const char *hay, size_t len, size_t from, const char *needle) {
    size_t nl = strlen(needle);
    for (size_t i = from; i + nl <= len; i++)
        if (memcmp(hay + i, needle, nl) == 0) return (long)i;
    return -1;
}

static void test_min_tokens_defers_stop_strings(void **state) {
    const ef_fixture *fx = *state;
    engine_request q;
    int32_t *ids;
    ef_outcome base, o;
    story(fx, &q, &ids, &base);
    const char *stop = "Lily";
    long first = find_from(base.text, base.text_len, 0, stop);
    assert_true(first >= 0);
    int last_tok = 0; /* the token that completes the first "Lily" (1-based) */
    while (base.end[last_tok] < (size_t)first + strlen(stop)) last_tok++;
    last_tok++;
    q.stops = (const char *const[]){stop};
    q.n_stops = 1;
    for (int min = last_tok; min <= last_tok + 1; min++) {
        q.min_new_tokens = min;
        ef_run_alone(fx->stories, &q, &o);
        /* the matcher sees text from token number `min` on */
        size_t from = min > 1 ? base.end[min - 2] : 0;
        long at = find_from(base.text, base.text_len, from, stop);
        print_message("# min_tokens %d: stop matched at byte %ld (first \"Lily\" at %ld)\n", min, at, first);
        assert_true(at >= 0); /* the story names Lily more than once */
        assert_int_equal(o.fin.reason, ENGINE_FINISH_STOP);
        assert_int_equal(o.text_len, (size_t)at + strlen(stop));
        assert_memory_equal(o.text, base.text, o.text_len);
        if (min == last_tok) assert_int_equal(at, first);
        else assert_true(at > first);
    }
    free(ids);
}

/* OpenAI's stop semantics (stop_exclude): the text ends before the stop
 * string, which is never handed out, not even in part; text that could
 * begin a stop string waits for the token that decides it. */
static void test_stop_exclude(void **state) {
    const ef_fixture *fx = *state;
    engine_request q;
    int32_t *ids;
    ef_outcome base, o;
    story(fx, &q, &ids, &base);
    int k = 2; /* a stop string from the last 2 bytes of token k to the first 2 of token k+1 */
    while (base.end[k] - base.end[k - 1] < 2 || base.end[k + 1] - base.end[k] < 2) k++;
    char stop[8] = {0};
    memcpy(stop, base.text + base.end[k] - 2, 4);
    long at = find_from(base.text, base.text_len, 0, stop);
    assert_true(at >= 0 && at <= (long)base.end[k] - 2);
    q.stops = (const char *const[]){stop};
    q.n_stops = 1;
    q.stop_exclude = true;
    ef_run_alone(fx->stories, &q, &o); /* collect(): FINAL's text == the tokens' texts joined */
    print_message("# stop %s at byte %ld: %d tokens, text %zu bytes\n", stop, at, o.n, o.text_len);
    assert_int_equal(o.fin.reason, ENGINE_FINISH_STOP);
    assert_int_equal(o.fin.stop_index, 0);
    assert_int_equal(o.text_len, (size_t)at);
    assert_memory_equal(o.text, base.text, (size_t)at);
    assert_memory_equal(o.ids, base.ids, (size_t)o.n * sizeof o.ids[0]);
    /* TGI's semantics on the same request: the stop string is kept */
    q.stop_exclude = false;
    ef_run_alone(fx->stories, &q, &base);
    assert_int_equal(base.text_len, (size_t)at + 4);
    /* a stop string that never completes: everything comes out in the end,
     * and the tokens ending in its first letters were held back meanwhile */
    free(ids);
    story(fx, &q, &ids, &base);
    const char *never = "Lily!?";
    q.stops = (const char *const[]){never};
    q.n_stops = 1;
    q.stop_exclude = true;
    ef_run_alone(fx->stories, &q, &o);
    assert_int_equal(o.fin.reason, ENGINE_FINISH_LENGTH);
    assert_int_equal(o.fin.stop_index, -1);
    assert_int_equal(o.text_len, base.text_len);
    assert_memory_equal(o.text, base.text, base.text_len);
    int held = 0;
    for (int i = 0; i < o.n; i++) {
        assert_true(o.end[i] <= base.end[i]);
        held += o.end[i] < base.end[i];
    }
    print_message("# \"%s\": %d of %d tokens released less than their text\n", never, held, o.n);
    assert_true(held > 0);
    free(ids);
}

static void test_stop_token_ids(void **state) {
    const ef_fixture *fx = *state;
    engine_request q;
    int32_t *ids;
    ef_outcome base, o;
    story(fx, &q, &ids, &base);
    int32_t id = base.ids[6], absent = 259; /* and an id the story never uses */
    int firsts = 0;
    while (base.ids[firsts] != id) firsts++;
    for (int i = 0; i < base.n; i++)
        if (base.ids[i] == absent) absent++, i = -1;
    q.stop_ids = (const int32_t[]){absent, id};
    q.n_stop_ids = 2;
    for (int ign = 0; ign < 2; ign++) {
        q.ignore_eos = ign;
        ef_run_alone(fx->stories, &q, &o);
        assert_int_equal(o.n, firsts + 1);
        assert_int_equal(o.ids[firsts], id);
        assert_memory_equal(o.ids, base.ids, (size_t)o.n * sizeof o.ids[0]);
        assert_int_equal(o.fin.reason, ENGINE_FINISH_EOS);
        assert_int_equal(o.fin.stop_token_id, id);
        assert_memory_equal(o.text, base.text, o.text_len); /* the token's text is kept, like EOS's */
    }
    /* banned while min_new_tokens lasts: it cannot end the request early */
    q.min_new_tokens = firsts + 4;
    ef_run_alone(fx->stories, &q, &o);
    for (int i = 0; i < firsts + 4 && i < o.n; i++) assert_int_not_equal(o.ids[i], id);
    assert_true(o.n >= firsts + 4);
    if (o.fin.reason == ENGINE_FINISH_EOS && o.fin.stop_token_id == id) assert_int_equal(o.ids[o.n - 1], id);
    free(ids);
}

static void test_refusals(void **state) {
    const ef_fixture *fx = *state;
    engine_config c = ef_config(64, 8, 1024, true);
    engine *e = ef_engine(fx->m, &c);
    int32_t prompt[4] = {1, 5, 6, 7};
    engine_request r = engine_request_default();
    assert_false(r.prompt_logprobs);
    r.prompt = prompt;
    r.n_prompt = 4;
    r.max_new_tokens = 5;
    r.min_new_tokens = 6;
    ef_expect_refusal(e, &r, (const char *const[]){"min_tokens", NULL});
    r.min_new_tokens = -1;
    ef_expect_refusal(e, &r, (const char *const[]){"min_tokens", NULL});
    r.min_new_tokens = 5;
    r.stop_ids = (const int32_t[]){7, 512};
    r.n_stop_ids = 2;
    ef_expect_refusal(e, &r, (const char *const[]){"stop token id 512", NULL});
    r.stop_ids = (const int32_t[]){-3};
    r.n_stop_ids = 1;
    ef_expect_refusal(e, &r, (const char *const[]){"stop token id -3", NULL});
    r.stop_ids = NULL;
    ef_expect_refusal(e, &r, (const char *const[]){"stop token", NULL});
    engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_logprobs_vs_forward),
        cmocka_unit_test(test_prompt_logprobs_vs_perplexity),
        cmocka_unit_test(test_scoring_request),
        cmocka_unit_test(test_prompt_logprobs_golden),
        cmocka_unit_test(test_prompt_logprobs_schedule),
        cmocka_unit_test(test_prompt_logprobs_preempted_midprompt),
        cmocka_unit_test(test_min_tokens_bans_eos),
        cmocka_unit_test(test_min_tokens_defers_stop_strings),
        cmocka_unit_test(test_stop_token_ids),
        cmocka_unit_test(test_stop_exclude),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
