/*
 * engine_spec_test.c — speculative decoding by prompt lookup (spec.h,
 * scheduler.c plan_drafts / take_tokens, sampler_sample_draft):
 *   - greedy: the tokens, logprobs (bit for bit), alternatives, texts and
 *     finish reasons with speculation equal those without, on the seeded
 *     synthetic model and stories260K, with prompts that repeat (drafts are
 *     accepted) and that do not, under repetition / frequency penalties,
 *     logit_bias, min_tokens with stop ids, stop strings, a regex
 *     constraint, top-n alternatives;
 *   - inside continuous batching: many requests at once with a small step
 *     budget and a KV pool small enough to preempt, each equal to itself
 *     alone without speculation; cancellation; every block comes back;
 *   - sampling keeps the model's distribution: the joint law of the first
 *     two tokens of a seeded request (4000 seeds, top-k 3; 1000 without
 *     the power check in a sanitizer stage) on stories260K,
 *     where prompt lookup (then a draft model) drafts the second, against
 *     the exact law computed from the forward pass's logits in double
 *     (chi-square), and each seed's tokens equal to those without
 *     speculation;
 *   - a draft model (--draft-model): greedy equality with stories260K
 *     drafting for itself (every draft accepted), the synthetic model
 *     drafting for stories260K and the reverse; another vocabulary and a
 *     draft model without a draft length are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "support/engine_fixture.h"
#include "support/golden.h"
#include "support/testutil.h"

static int setup(void **state) { return (*state = ef_fixture_create(44)) ? 0 : -1; }

static int teardown(void **state) {
    ef_fixture_free(*state);
    return 0;
}

/* r alone on an engine with k drafted tokens at most (0: no speculation);
 * the drafted / accepted counts of its FINAL. */
static void run_kd(const model *m, const model *draft, const engine_request *r, int k, ef_outcome *o) {
    engine_config c = ef_config(512, 8, 4096, false);
    c.speculate = k;
    c.debug_speculate_unpriced = true; /* tiny models: verify drafts whatever rows cost */
    c.draft_model = k > 0 ? draft : NULL;
    engine *e = ef_engine(m, &c);
    ef_run_batch(e, r, 1, o);
    engine_stats st = ef_settle(e);
    assert_int_equal(st.kv_blocks_used, 0);
    assert_int_equal((int)st.tokens_drafted, o->fin.n_drafted);
    assert_int_equal((int)st.tokens_accepted, o->fin.n_accepted);
    assert_true(o->fin.n_accepted <= o->fin.n_drafted);
    engine_free(e);
}

static void run_k(const model *m, const engine_request *r, int k, ef_outcome *o) { run_kd(m, NULL, r, k, o); }

/* A prompt of n ids from *rnd that repeats a segment of `period` ids
 * (0: no repetition). */
static void make_prompt(ef_job *j, uint64_t *rnd, int n, int period) {
    ef_job_random(j, rnd, n);
    if (period > 0)
        for (int i = period; i < n; i++) j->prompt[i] = j->prompt[i - period];
}

static void check_equal(const model *m, const engine_request *r, int case_no, int *drafted, int *accepted) {
    ef_outcome *ref = calloc(1, sizeof *ref), *o = calloc(1, sizeof *o);
    run_k(m, r, 0, ref);
    assert_int_equal(ref->fin.n_drafted, 0);
    const int ks[] = {1, 3, 8, 16};
    for (int i = 0; i < 4; i++) {
        memset(o, 0, sizeof *o);
        run_k(m, r, ks[i], o);
        ef_assert_same(ref, o, case_no * 10 + i);
        *drafted += o->fin.n_drafted;
        *accepted += o->fin.n_accepted;
        ef_outcome_free(o);
    }
    ef_outcome_free(ref);
    free(ref);
    free(o);
}

/* Greedy on the synthetic model: repeating and random prompts, with the
 * logits processors that change from token to token. */
static void test_greedy_equal_synth(void **state) {
    ef_fixture *fx = *state;
    uint64_t rnd = 7;
    int drafted = 0, accepted = 0;
    static const sampler_bias bias[] = {{5, 2.5f}, {9, -INFINITY}};
    static const int32_t stop_ids[] = {17};
    for (int c = 0; c < 12; c++) {
        ef_job *j = calloc(1, sizeof *j);
        make_prompt(j, &rnd, 40 + c * 7, c % 3 == 2 ? 0 : 5 + c);
        j->r.max_new_tokens = 60 + c * 5;
        j->r.ignore_eos = true;
        j->r.sampling.top_n = 2;
        if (c % 4 == 1) j->r.sampling.repetition_penalty = 1.3f;
        if (c % 4 == 3) j->r.sampling.frequency_penalty = 0.4f, j->r.sampling.presence_penalty = 0.3f;
        if (c % 5 == 0) j->r.sampling.logit_bias = bias, j->r.sampling.n_logit_bias = 2;
        if (c % 6 == 4) {
            j->r.stop_ids = stop_ids;
            j->r.n_stop_ids = 1;
            j->r.min_new_tokens = 20;
        }
        check_equal(fx->m, &j->r, c, &drafted, &accepted);
        free(j);
    }
    printf("# synthetic: %d drafted, %d accepted\n", drafted, accepted);
    assert_true(accepted > 0 && accepted < drafted);
}

/* Greedy on stories260K: real text that repeats (most drafts accepted) and
 * one that does not; stop strings; a regex constraint. */
static void test_greedy_equal_stories(void **state) {
    ef_fixture *fx = *state;
    static const char *texts[] = {
        "Lily and Tom went to the park. Lily and Tom went to the park. Lily and Tom went to the",
        "Once upon a time, there was a little girl named Lily. She loved to play outside. One day,",
        "The cat sat on the mat. The dog sat on the log. The cat sat on the",
    };
    static const char *stops[] = {"park. Lily", "sun"};
    int drafted = 0, accepted = 0;
    for (int c = 0; c < 6; c++) {
        int n;
        int32_t *ids = ef_encode(fx->stories, texts[c % 3], &n);
        engine_request r = engine_request_default();
        r.prompt = ids;
        r.n_prompt = n;
        r.max_new_tokens = 120;
        r.sampling.top_n = 2;
        if (c == 3) {
            r.stops = stops;
            r.n_stops = 2;
        }
        if (c == 4) r.sampling.repetition_penalty = 1.1f;
        cons_grammar *g = NULL;
        if (c == 5) {
            char err[CT_ERRLEN];
            engine_config ec = ef_config(64, 2, 1024, false);
            engine *e = ef_engine(fx->stories, &ec);
            const char *rx = "( [a-zA-Z]+[,.]?){1,60}";
            g = engine_constraint(e, rx, strlen(rx), err);
            assert_non_null(g);
            engine_free(e);
            r.constraint = g;
        }
        check_equal(fx->stories, &r, 100 + c, &drafted, &accepted);
        cons_grammar_unref(g);
        free(ids);
    }
    printf("# stories260K: %d drafted, %d accepted\n", drafted, accepted);
    assert_true(accepted > drafted / 2);
}

/* Many requests at once (greedy and seeded), a 10-token step budget and a
 * pool that preempts: every greedy request equals itself alone without
 * speculation, every request ends, and the blocks come back; then a
 * cancelled request mid-speculation. */
static void test_batched(void **state) {
    ef_fixture *fx = *state;
    enum { N = 10 };
    ef_job *jobs = calloc(N, sizeof *jobs);
    engine_request reqs[N];
    uint64_t rnd = 99;
    for (int i = 0; i < N; i++) {
        make_prompt(&jobs[i], &rnd, 20 + 3 * i, i % 4 == 3 ? 0 : 4 + i % 3);
        jobs[i].r.max_new_tokens = 70;
        jobs[i].r.ignore_eos = true;
        jobs[i].r.sampling.top_n = 1;
        if (i % 3 == 2) {
            jobs[i].r.sampling.do_sample = true;
            jobs[i].r.sampling.temperature = 0.7f;
            jobs[i].r.sampling.seed = (uint64_t)i;
        }
        reqs[i] = jobs[i].r;
    }
    ef_outcome *out = calloc(N, sizeof *out), *ref = calloc(1, sizeof *ref);
    const int kv[] = {4096, 320};
    for (int v = 0; v < 2; v++) {
        engine_config c = ef_config(10, 6, kv[v], v == 0);
        c.speculate = 6;
        c.debug_speculate_unpriced = true; /* tiny models: verify drafts whatever rows cost */
        engine *e = ef_engine(fx->m, &c);
        ef_run_batch(e, reqs, N, out);
        engine_stats st = ef_settle(e);
        printf("# batch kv %d: %llu drafted, %llu accepted, %llu preemptions\n", kv[v],
               (unsigned long long)st.tokens_drafted, (unsigned long long)st.tokens_accepted,
               (unsigned long long)st.preemptions);
        assert_int_equal(st.kv_blocks_used, 0);
        assert_true(st.tokens_accepted > 0);
        if (v == 1) assert_true(st.preemptions > 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(out[i].n, 70);
            if (reqs[i].sampling.do_sample) continue;
            memset(ref, 0, sizeof *ref);
            run_k(fx->m, &reqs[i], 0, ref);
            ef_assert_same(ref, &out[i], i);
            ef_outcome_free(ref);
        }
        for (int i = 0; i < N; i++) ef_outcome_free(&out[i]);
        /* cancel a speculating request after a few tokens */
        engine_request r = reqs[0];
        r.max_new_tokens = 200;
        engine_req *h = ef_submit(e, &r);
        ef_outcome *o = calloc(1, sizeof *o);
        while (o->n < 5 && !o->ended) ef_drain(h, o, false);
        engine_cancel(h);
        ef_drain(h, o, true);
        assert_true(o->cancelled || o->n == 200);
        engine_release(h);
        free(o);
        st = ef_settle(e);
        assert_int_equal(st.kv_blocks_used, 0);
        engine_free(e);
    }
    free(ref);
    free(out);
    free(jobs);
}

/* ---- sampling keeps the distribution --------------------------------------------------- */

enum { TOPK = 3 };

/* The top-TOPK ids of row (ties: lower id) and their probabilities under
 * softmax(row / T) restricted to them, in double. */
static void topk_law(const float *row, int V, double T, int32_t *id, double *p) {
    for (int k = 0; k < TOPK; k++) {
        id[k] = -1;
        for (int i = 0; i < V; i++) {
            bool taken = false;
            for (int q = 0; q < k; q++) taken |= id[q] == i;
            if (!taken && (id[k] < 0 || row[i] > row[id[k]])) id[k] = i;
        }
    }
    double z = 0;
    for (int k = 0; k < TOPK; k++) z += exp(((double)row[id[k]] - row[id[0]]) / T);
    for (int k = 0; k < TOPK; k++) p[k] = exp(((double)row[id[k]] - row[id[0]]) / T) / z;
}

static void sampling_law(ef_fixture *fx, const model *draft) {
    /* 4000 seeds tell a law moved by 3% apart; a sanitizer stage draws 1000
     * (the law's chi-square still holds, the power check needs the 4000) */
    const bool full = !tu_sanitized();
    const int SEEDS = full ? 4000 : 1000;
    const double T = 1.0;
    int n;
    int32_t *ids = ef_encode(fx->stories, "Lily and Tom went to the park. Lily and Tom went to the park. Lily and", &n);
    /* the exact law of (t1, t2) from the forward pass (f32 KV, as the engine below) */
    char *path = tu_model_path("stories260K.gguf");
    golden_runner g;
    assert_true(golden_open(&g, path));
    free(path);
    int V = g.m->cfg.vocab;
    int32_t a[TOPK], b[TOPK][TOPK], seq[GOLDEN_MAX_TOKENS];
    double pa[TOPK], pb[TOPK][TOPK];
    golden_eval(&g, ids, n, 0);
    topk_law(g.logits + (size_t)(n - 1) * V, V, T, a, pa);
    for (int i = 0; i < TOPK; i++) {
        memcpy(seq, ids, (size_t)n * sizeof *ids);
        seq[n] = a[i];
        golden_eval(&g, seq, n + 1, 0);
        topk_law(g.logits + (size_t)n * V, V, T, b[i], pb[i]);
    }
    golden_close(&g);

    engine_config c = ef_config(4096, 64, 16384, true);
    c.kv_dtype = ENGINE_KV_F32;
    c.speculate = 4;
    c.debug_speculate_unpriced = true; /* tiny models: verify drafts whatever rows cost */
    c.draft_model = draft;
    engine *e = ef_engine(fx->stories, &c);
    engine_request *reqs = calloc(SEEDS, sizeof *reqs);
    for (int s = 0; s < SEEDS; s++) {
        reqs[s] = engine_request_default();
        reqs[s].prompt = ids;
        reqs[s].n_prompt = n;
        reqs[s].max_new_tokens = 4;
        reqs[s].ignore_eos = true;
        reqs[s].sampling.do_sample = true;
        reqs[s].sampling.temperature = (float)T;
        reqs[s].sampling.top_k = TOPK;
        reqs[s].sampling.seed = 1000 + (uint64_t)s;
    }
    double count[TOPK][TOPK] = {{0}};
    int other = 0, drafted = 0, accepted = 0;
    enum { CHUNK = 500 };
    ef_outcome *out = calloc(CHUNK, sizeof *out);
    static int32_t first[CHUNK][4]; /* the first chunk's tokens, for the comparison below */
    for (int s0 = 0; s0 < SEEDS; s0 += CHUNK) {
        ef_run_batch(e, reqs + s0, CHUNK, out);
        for (int s = 0; s < CHUNK; s++) {
            if (s0 == 0) memcpy(first[s], out[s].ids, sizeof first[s]);
            int i = 0, j = 0;
            while (i < TOPK && a[i] != out[s].ids[0]) i++;
            if (i < TOPK) while (j < TOPK && b[i][j] != out[s].ids[1]) j++;
            if (i == TOPK || j == TOPK) other++;
            else count[i][j]++;
            drafted += out[s].fin.n_drafted;
            accepted += out[s].fin.n_accepted;
            ef_outcome_free(&out[s]);
        }
    }
    engine_free(e);
    /* a seed gives the same tokens without speculation: a verified row
     * draws with the random number plain decoding would */
    c.speculate = 0;
    c.draft_model = NULL;
    e = ef_engine(fx->stories, &c);
    ef_run_batch(e, reqs, CHUNK, out);
    int same = 0;
    for (int s = 0; s < CHUNK; s++) {
        same += out[s].n == 4 && memcmp(first[s], out[s].ids, sizeof first[s]) == 0;
        ef_outcome_free(&out[s]);
    }
    engine_free(e);
    assert_int_equal(same, CHUNK);
    double chi2 = 0, chi2_wrong = 0;
    for (int i = 0; i < TOPK; i++)
        for (int j = 0; j < TOPK; j++) {
            double ex = SEEDS * pa[i] * pb[i][j];
            chi2 += (count[i][j] - ex) * (count[i][j] - ex) / ex;
            /* power check: the law with 3% of t1's mass moved from the first
             * to the second candidate must be told apart */
            double pw = (pa[i] + (i == 0 ? -0.03 : i == 1 ? 0.03 : 0)) * pb[i][j];
            chi2_wrong += (count[i][j] - SEEDS * pw) * (count[i][j] - SEEDS * pw) / (SEEDS * pw);
        }
    printf("# %s: joint law of (t1, t2), %d seeds: chi2 %.2f (8 dof; wrong law %.1f), %d drafted, %d accepted\n",
           draft ? "draft model" : "prompt lookup", SEEDS,
           chi2, chi2_wrong, drafted, accepted);
    assert_int_equal(other, 0);
    assert_true(accepted > SEEDS / 4); /* the second token was mostly a verified draft */
    assert_true(chi2 < 26.1);          /* p = 0.001 at 8 degrees of freedom */
    if (full) assert_true(chi2_wrong > 26.1);
    free(out);
    free(reqs);
    free(ids);
}

static void test_sampling_law(void **state) { sampling_law(*state, NULL); }

/* With a draft model drafting greedily: stories260K itself, so that its
 * drafts are often the target's choice (the synthetic model's never are). */
static void test_sampling_law_draft(void **state) {
    ef_fixture *fx = *state;
    sampling_law(fx, fx->stories);
}

/* ---- draft model ---------------------------------------------------------------------- */

/* Greedy equality with a draft model: stories260K drafting for itself
 * (every draft is the target's own argmax: all accepted) and for the
 * synthetic model, and the synthetic model drafting for stories260K;
 * a vocabulary that differs is refused by name. */
static void test_draft_model(void **state) {
    ef_fixture *fx = *state;
    static const char *texts[] = {
        "Lily and Tom went to the park. Lily and Tom went to the park. Lily and Tom went to the",
        "Once upon a time, there was a little girl named Lily. She loved to play outside. One day,",
    };
    const model *pairs[3][2] = {{fx->stories, fx->stories}, {fx->stories, fx->m}, {fx->m, fx->stories}};
    ef_outcome *ref = calloc(1, sizeof *ref), *o = calloc(1, sizeof *o);
    for (int p = 0; p < 3; p++)
        for (int t = 0; t < 2; t++) {
            int n;
            int32_t *ids = ef_encode(fx->stories, texts[t], &n);
            engine_request r = engine_request_default();
            r.prompt = ids;
            r.n_prompt = n;
            r.max_new_tokens = 100;
            r.ignore_eos = true;
            r.sampling.top_n = 2;
            memset(ref, 0, sizeof *ref);
            memset(o, 0, sizeof *o);
            run_k(pairs[p][0], &r, 0, ref);
            run_kd(pairs[p][0], pairs[p][1], &r, 6, o);
            ef_assert_same(ref, o, p * 10 + t);
            printf("# draft pair %d, text %d: %d drafted, %d accepted\n", p, t, o->fin.n_drafted, o->fin.n_accepted);
            assert_true(o->fin.n_drafted > 0);
            if (p == 0) assert_int_equal(o->fin.n_accepted, o->fin.n_drafted);
            ef_outcome_free(ref);
            ef_outcome_free(o);
            free(ids);
        }
    free(ref);
    free(o);
    /* refusals: another vocabulary; no draft length */
    char err[CT_ERRLEN] = "", *path = tu_model_path("synth/llama-spm-f32.gguf");
    model *other = model_load(path, err);
    free(path);
    assert_non_null(other);
    engine_config c = ef_config(64, 2, 1024, false);
    c.speculate = 4;
    c.debug_speculate_unpriced = true; /* tiny models: verify drafts whatever rows cost */
    c.draft_model = other;
    assert_null(engine_create(fx->stories, &c, err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "draft model's vocabulary"));
    c.draft_model = fx->m;
    c.speculate = 0;
    assert_null(engine_create(fx->stories, &c, err));
    assert_non_null(strstr(err, "speculate"));
    model_free(other);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_equal_synth),
        cmocka_unit_test(test_greedy_equal_stories),
        cmocka_unit_test(test_batched),
        cmocka_unit_test(test_sampling_law),
        cmocka_unit_test(test_draft_model),
        cmocka_unit_test(test_sampling_law_draft),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
