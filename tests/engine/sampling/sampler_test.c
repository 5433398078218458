/*
 * sampler_test.c — engine/sampler: greedy, temperature, the warpers (top-k,
 * top-p, typical-p, min-p), penalties, logit bias, seeding, logprobs and
 * top-n alternatives, parameter validation.
 *
 * Sampling tests are deterministic: fixed seeds, and assertions chosen so
 * that a failure would need an event of probability < 1e-30 under the
 * intended distribution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/sampler.h"

/* ---- helpers ----------------------------------------------------------- */

/* Test-local deterministic noise (not the sampler's generator). */
static uint32_t noise_state;
static float noise(void) {
    noise_state = noise_state * 1664525u + 1013904223u;
    return (float)(noise_state >> 8) / (float)(1u << 24);
}

static sampler_params sampling(float temperature) {
    sampler_params p = sampler_params_default();
    p.do_sample = true;
    p.temperature = temperature;
    return p;
}

/* One draw from `logits` (copied; the sampler writes into its input). */
static int32_t draw1(sampler *s, const float *logits, int nv, sample_result *out) {
    float *tmp = malloc((size_t)nv * sizeof *tmp);
    assert_non_null(tmp);
    memcpy(tmp, logits, (size_t)nv * sizeof *tmp);
    int32_t id = sampler_sample(s, tmp, out);
    free(tmp);
    return id;
}

/* One draw from each of n_seeds fresh samplers; histogram into counts. */
static void draw_many_seeds(sampler_params p, const float *logits, int nv, int n_seeds,
                            int *counts) {
    memset(counts, 0, (size_t)nv * sizeof *counts);
    for (int k = 0; k < n_seeds; k++) {
        p.seed = (uint64_t)k * 0x9E3779B9u + 17;
        sampler *s = sampler_create(&p, nv, NULL, 0);
        assert_non_null(s);
        int32_t id = draw1(s, logits, nv, NULL);
        assert_in_range(id, 0, nv - 1);
        counts[id]++;
        sampler_free(s);
    }
}

/* counts must be non-zero exactly on the ids in allowed[0..n). */
static void assert_support(const int *counts, int nv, const int *allowed, int n) {
    for (int id = 0; id < nv; id++) {
        bool ok = false;
        for (int j = 0; j < n; j++) ok |= allowed[j] == id;
        if (ok && counts[id] == 0) fail_msg("allowed id %d never drawn", id);
        if (!ok && counts[id] != 0) fail_msg("id %d drawn %d times but is not allowed", id, counts[id]);
    }
}

/* A 4-token distribution, deliberately not in id order: id -> prob. */
static void logits_of(const double *probs, int n, float *logits) {
    for (int i = 0; i < n; i++) logits[i] = (float)log(probs[i]);
}

/* ---- greedy ------------------------------------------------------------ */

static void test_defaults(void **st) {
    sampler_params p = sampler_params_default();
    assert_false(p.do_sample);
    assert_float_equal(p.temperature, 1.0, 0);
    assert_int_equal(p.top_k, 0);
    assert_float_equal(p.top_p, 1.0, 0);
    assert_float_equal(p.typical_p, 1.0, 0);
    assert_float_equal(p.min_p, 0.0, 0);
    assert_float_equal(p.repetition_penalty, 1.0, 0);
    assert_float_equal(p.frequency_penalty, 0.0, 0);
    assert_float_equal(p.presence_penalty, 0.0, 0);
    assert_null(p.logit_bias);
    assert_int_equal(p.n_logit_bias, 0);
    assert_int_equal(p.top_n, 0);
    assert_true(sampler_params_validate(&p, 10, NULL));
}

static void test_greedy_argmax(void **st) {
    sampler_params p = sampler_params_default();
    sampler *s = sampler_create(&p, 4, NULL, 0);
    float l[4] = {0.1f, 3.0f, -1.0f, 2.9f};
    sample_result r;
    assert_int_equal(sampler_sample(s, l, &r), 1);
    assert_int_equal(r.id, 1);
    double lse = log(exp(0.1) + exp(3.0) + exp(-1.0) + exp(2.9));
    assert_float_equal(r.logprob, 3.0 - lse, 1e-6);
    assert_int_equal(r.n_top, 0);
    /* greedy leaves the logits as they were (no penalties, no bias) */
    assert_float_equal(l[3], 2.9f, 0);
    float l2[4] = {0.1f, 3.0f, -1.0f, 2.9f};
    assert_int_equal(sampler_sample(s, l2, NULL), 1);
    sampler_free(s);
}

static void test_greedy_ties_lowest_id(void **st) {
    sampler_params p = sampler_params_default();
    sampler *s = sampler_create(&p, 5, NULL, 0);
    float l[5] = {1.0f, 5.0f, 5.0f, -2.0f, 5.0f};
    assert_int_equal(sampler_sample(s, l, NULL), 1);
    sampler_free(s);
    /* do_sample with temperature 0 is greedy too */
    p = sampling(0.0f);
    s = sampler_create(&p, 5, NULL, 0);
    float l2[5] = {1.0f, 5.0f, 5.0f, -2.0f, 5.0f};
    assert_int_equal(sampler_sample(s, l2, NULL), 1);
    sampler_free(s);
}

/* Below SAMPLER_GREEDY_EPS the temperature means greedy: two tied tokens
 * would otherwise be a coin flip. */
static void test_tiny_temperature_is_greedy(void **st) {
    float l[2] = {1.0f, 1.0f};
    int counts[2];
    draw_many_seeds(sampling(1e-6f), l, 2, 200, counts);
    assert_int_equal(counts[0], 200);
}

/* NaN is banned; all-banned returns -1. */
static void test_nan_and_all_banned(void **st) {
    sampler_params p = sampler_params_default();
    sampler *s = sampler_create(&p, 3, NULL, 0);
    float l[3] = {NAN, 1.0f, 2.0f};
    assert_int_equal(sampler_sample(s, l, NULL), 2);
    assert_true(isinf(l[0]) && l[0] < 0);
    float l2[3] = {NAN, -INFINITY, NAN};
    sample_result r;
    assert_int_equal(sampler_sample(s, l2, &r), -1);
    assert_int_equal(r.id, -1);
    sampler_free(s);
    p = sampling(1.0f);
    s = sampler_create(&p, 3, NULL, 0);
    float l3[3] = {-INFINITY, -INFINITY, -INFINITY};
    assert_int_equal(sampler_sample(s, l3, NULL), -1);
    float l4[3] = {-INFINITY, NAN, 0.0f};
    assert_int_equal(sampler_sample(s, l4, NULL), 2);
    sampler_free(s);
}

/* ---- temperature and logprobs ------------------------------------------ */

static void check_temperature(float t) {
    const float raw[4] = {1.0f, 2.0f, 3.0f, 0.5f};
    sampler_params p = sampling(t);
    p.top_n = 4;
    sampler *s = sampler_create(&p, 4, NULL, 0);
    float l[4];
    memcpy(l, raw, sizeof l);
    sample_result r;
    int32_t id = sampler_sample(s, l, &r);
    double z = 0, lp[4];
    for (int i = 0; i < 4; i++) z += exp(raw[i] / t);
    for (int i = 0; i < 4; i++) {
        lp[i] = raw[i] / t - log(z);
        assert_float_equal(l[i], raw[i] / t, 1e-6); /* scaled in place */
    }
    assert_float_equal(r.logprob, lp[id], 1e-5);
    const int order[4] = {2, 1, 0, 3};
    assert_int_equal(r.n_top, 4);
    for (int j = 0; j < 4; j++) {
        assert_int_equal(r.top[j].id, order[j]);
        assert_float_equal(r.top[j].logprob, lp[order[j]], 1e-5);
    }
    sampler_free(s);
}

static void test_temperature_logprobs(void **st) {
    check_temperature(0.5f);
    check_temperature(1.0f);
    check_temperature(2.0f);
}

/* Greedy logprobs are log_softmax of the (unscaled) logits, whatever the
 * temperature field says. */
static void test_greedy_logprobs_ignore_temperature(void **st) {
    sampler_params p = sampler_params_default();
    p.temperature = 0.5f;
    p.top_n = 2;
    sampler *s = sampler_create(&p, 3, NULL, 0);
    float l[3] = {0.0f, 1.0f, 2.0f};
    sample_result r;
    assert_int_equal(sampler_sample(s, l, &r), 2);
    double lse = log(1 + exp(1.0) + exp(2.0));
    assert_float_equal(r.logprob, 2.0 - lse, 1e-6);
    assert_int_equal(r.top[1].id, 1);
    assert_float_equal(r.top[1].logprob, 1.0 - lse, 1e-6);
    sampler_free(s);
}

/* Temperature changes draw frequencies as exp(l/T) says. */
static void test_temperature_frequencies(void **st) {
    const float l[2] = {0.0f, 1.0f};
    sampler_params p = sampling(0.5f);
    p.seed = 99;
    sampler *s = sampler_create(&p, 2, NULL, 0);
    int c1 = 0, n = 20000;
    for (int i = 0; i < n; i++) c1 += draw1(s, l, 2, NULL) == 1;
    double want = exp(2.0) / (1 + exp(2.0)); /* 0.8808 at T=0.5 (0.731 at T=1) */
    assert_float_equal((double)c1 / n, want, 0.015);
    sampler_free(s);
}

static void test_top_n_sorted_and_normalised(void **st) {
    enum { NV = 50 };
    float raw[NV];
    noise_state = 7;
    for (int i = 0; i < NV; i++) raw[i] = 4.0f * noise();
    raw[10] = raw[20] = raw[30] = 9.0f; /* a tie at the top: ids ascending */
    raw[5] = -INFINITY;                  /* never listed */
    for (int greedy = 0; greedy < 2; greedy++) {
        sampler_params p = greedy ? sampler_params_default() : sampling(1.3f);
        p.top_n = SAMPLER_MAX_TOP_N;
        p.seed = 5;
        sampler *s = sampler_create(&p, NV, NULL, 0);
        sample_result r;
        int32_t id = draw1(s, raw, NV, &r);
        assert_int_equal(r.n_top, SAMPLER_MAX_TOP_N);
        assert_int_equal(r.top[0].id, 10);
        assert_int_equal(r.top[1].id, 20);
        assert_int_equal(r.top[2].id, 30);
        double sum = 0;
        for (int j = 0; j < r.n_top; j++) {
            sum += exp(r.top[j].logprob);
            assert_true(r.top[j].id != 5);
            if (j > 0) assert_true(r.top[j].logprob <= r.top[j - 1].logprob);
            if (r.top[j].id == id) assert_float_equal(r.top[j].logprob, r.logprob, 0);
        }
        assert_true(sum <= 1.0 + 1e-6);
        /* everything below the 20th is no more likely than it */
        for (int i = 0; i < NV; i++) {
            bool listed = false;
            for (int j = 0; j < r.n_top; j++) listed |= r.top[j].id == i;
            if (!listed && i != 5) assert_true(raw[i] <= raw[r.top[r.n_top - 1].id]);
        }
        sampler_free(s);
    }
}

static void test_top_n_small_vocab(void **st) {
    sampler_params p = sampler_params_default();
    p.top_n = 5;
    sampler *s = sampler_create(&p, 3, NULL, 0);
    float l[3] = {1.0f, -INFINITY, 1.0f};
    sample_result r;
    assert_int_equal(sampler_sample(s, l, &r), 0);
    assert_int_equal(r.n_top, 2);
    assert_int_equal(r.top[0].id, 0);
    assert_int_equal(r.top[1].id, 2);
    assert_float_equal(r.top[0].logprob, log(0.5), 1e-6);
    sampler_free(s);
}

/* ---- warpers ----------------------------------------------------------- */

static void test_top_k_1_is_greedy(void **st) {
    enum { NV = 1000 };
    float raw[NV];
    noise_state = 3;
    for (int i = 0; i < NV; i++) raw[i] = 10.0f * noise();
    raw[400] = raw[123] = 20.0f; /* tie: greedy says 123 */
    sampler_params g = sampler_params_default();
    sampler *gs = sampler_create(&g, NV, NULL, 0);
    int32_t want = draw1(gs, raw, NV, NULL);
    assert_int_equal(want, 123);
    sampler_free(gs);
    sampler_params p = sampling(1.5f);
    p.top_k = 1;
    int counts[NV];
    draw_many_seeds(p, raw, NV, 100, counts);
    assert_int_equal(counts[123], 100);
}

/* top_k on a 150k vocabulary keeps exactly the k best (reference: a full
 * sort in the test). */
static int cmp_desc_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void test_top_k_large_vocab(void **st) {
    enum { NV = 150000, K = 40 };
    float *raw = malloc(NV * sizeof *raw), *sorted = malloc(NV * sizeof *sorted);
    assert_non_null(raw);
    assert_non_null(sorted);
    noise_state = 11;
    for (int i = 0; i < NV; i++) raw[i] = 12.0f * noise();
    memcpy(sorted, raw, NV * sizeof *raw);
    qsort(sorted, NV, sizeof *sorted, cmp_desc_float);
    float kth = sorted[K - 1];
    assert_true(sorted[K] < kth); /* no tie at the boundary for this seed */
    sampler_params p = sampling(3.0f); /* flatten so many of the K show up */
    p.top_k = K;
    p.seed = 1;
    sampler *s = sampler_create(&p, NV, NULL, 0);
    int distinct = 0;
    bool *hit = calloc(NV, 1);
    for (int i = 0; i < 300; i++) {
        int32_t id = draw1(s, raw, NV, NULL);
        assert_true(raw[id] >= kth);
        if (!hit[id]) distinct++;
        hit[id] = true;
    }
    assert_true(distinct > K / 2);
    free(hit);
    sampler_free(s);
    free(raw);
    free(sorted);
}

/* probs by id: {0.3, 0.05, 0.5, 0.15}; descending: id2, id0, id3, id1. */
static const double P4[4] = {0.3, 0.05, 0.5, 0.15};

static void check_top_p(float top_p, const int *allowed, int n_allowed) {
    float l[4];
    logits_of(P4, 4, l);
    sampler_params p = sampling(1.0f);
    p.top_p = top_p;
    int counts[4];
    draw_many_seeds(p, l, 4, 1000, counts);
    assert_support(counts, 4, allowed, n_allowed);
}

static void test_top_p(void **st) {
    check_top_p(0.4f, (int[]){2}, 1);          /* 0.5 >= 0.4 */
    check_top_p(0.75f, (int[]){2, 0}, 2);      /* 0.5, 0.8 >= 0.75 */
    check_top_p(0.85f, (int[]){2, 0, 3}, 3);   /* 0.5, 0.8, 0.95 */
    check_top_p(0.97f, (int[]){2, 0, 3, 1}, 4);
    check_top_p(1.0f, (int[]){2, 0, 3, 1}, 4); /* off */
}

/* top_p sees the top_k-renormalised distribution, as chained HF warpers. */
static void test_top_k_then_top_p(void **st) {
    const double q[4] = {0.4, 0.3, 0.2, 0.1};
    float l[4];
    logits_of(q, 4, l);
    sampler_params p = sampling(1.0f);
    p.top_p = 0.75f;
    int counts[4];
    draw_many_seeds(p, l, 4, 1000, counts); /* 0.4, 0.7, 0.9 */
    assert_support(counts, 4, (int[]){0, 1, 2}, 3);
    p.top_k = 3; /* renormalised: 0.444, 0.778 >= 0.75 */
    draw_many_seeds(p, l, 4, 1000, counts);
    assert_support(counts, 4, (int[]){0, 1}, 2);
}

/* One strong token (id 77777, logit 10) and 149999 at logit 0: the nucleus
 * for 0.5 needs ~64k of the flat tokens, all tied, so the cut falls inside
 * a run of equal logits and must follow the id order.  Mass math: Z = e^10 + 149999 and the
 * flat tokens (ids ascending, skipping 77777) are added until
 * e^10 + n >= Z/2, i.e. n = ceil(Z/2 - e^10) = 63987 -> ids 0..63986. */
static void test_top_p_cut_inside_ties(void **st) {
    enum { NV = 150000, TOP = 77777 };
    float *l = calloc(NV, sizeof *l);
    assert_non_null(l);
    l[TOP] = 10.0f;
    double need = ceil((exp(10.0) + (NV - 1)) / 2 - exp(10.0));
    assert_int_equal((int)need, 63987);
    sampler_params p = sampling(1.0f);
    p.top_p = 0.5f;
    p.seed = 2024;
    sampler *s = sampler_create(&p, NV, NULL, 0);
    int max_flat = -1, tops = 0;
    for (int i = 0; i < 300; i++) {
        int32_t id = draw1(s, l, NV, NULL);
        if (id == TOP) { tops++; continue; }
        assert_true(id < (int)need);
        if (id > max_flat) max_flat = id;
    }
    /* ~220 uniform draws over [0, 63987): P(max < 50000) ~ e^-54 */
    assert_true(max_flat >= 50000);
    assert_true(tops > 30 && tops < 140); /* expected 0.256 * 300 = 77 */
    sampler_free(s);
    free(l);
}

/* top_p on a 150k vocabulary against a reference nucleus computed by a
 * full sort in the test: every draw lies inside it, and draws reach into
 * its lower-ranked part (so the cut is not too tight either).  Run both
 * alone and behind a top_k that only drops one negligible token. */
typedef struct {
    float l;
    int id;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->l != y->l) return x->l < y->l ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

static void test_top_p_matches_reference(void **st) {
    enum { NV = 150000 };
    const float t = 0.7f, top_p = 0.6f;
    float *l = malloc(NV * sizeof *l);
    ranked *r = malloc(NV * sizeof *r);
    int *rank = malloc(NV * sizeof *rank);
    assert_true(l && r && rank);
    noise_state = 5;
    for (int i = 0; i < NV; i++) l[i] = 6.0f * noise();
    l[NV - 1] = -200.0f; /* the one token top_k = NV-1 drops */
    double z = 0;
    for (int i = 0; i < NV; i++) r[i] = (ranked){l[i] / t, i}, z += exp(l[i] / t);
    qsort(r, NV, sizeof *r, cmp_ranked);
    int size = 0;
    for (double cum = 0; cum < top_p * z; size++) cum += exp(r[size].l);
    for (int i = 0; i < NV; i++) rank[r[i].id] = i;
    for (int variant = 0; variant < 2; variant++) {
        sampler_params p = sampling(t);
        p.top_p = top_p;
        p.top_k = variant ? NV - 1 : 0;
        p.seed = 4;
        sampler *s = sampler_create(&p, NV, NULL, 0);
        int deepest = 0;
        for (int i = 0; i < 300; i++) {
            int32_t id = draw1(s, l, NV, NULL);
            if (rank[id] >= size) fail_msg("id %d has rank %d outside the nucleus of %d", id, rank[id], size);
            if (rank[id] > deepest) deepest = rank[id];
        }
        assert_true(deepest > size * 3 / 4);
        sampler_free(s);
    }
    free(l);
    free(r);
    free(rank);
}

static void check_min_p(float min_p, const int *allowed, int n_allowed) {
    float l[4];
    logits_of(P4, 4, l);
    sampler_params p = sampling(1.0f);
    p.min_p = min_p;
    int counts[4];
    draw_many_seeds(p, l, 4, 1000, counts);
    assert_support(counts, 4, allowed, n_allowed);
}

static void test_min_p(void **st) {
    check_min_p(0.2f, (int[]){2, 0, 3}, 3); /* keep p >= 0.1 */
    check_min_p(0.5f, (int[]){2, 0}, 2);    /* keep p >= 0.25 */
    check_min_p(0.7f, (int[]){2}, 1);       /* keep p >= 0.35 */
    check_min_p(0.05f, (int[]){2, 0, 3, 1}, 4);
}

/* Reference typical-p, straight from HF's TypicalLogitsWarper in double:
 * sort by |-log p - H|, last = #(cumsum < mass), keep s <= s[last]. */
static int ref_typical(const double *prob, int n, double mass, int *keep) {
    double h = 0, s[8];
    int ord[8];
    for (int i = 0; i < n; i++) h -= prob[i] * log(prob[i]);
    for (int i = 0; i < n; i++) s[i] = fabs(-log(prob[i]) - h), ord[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[ord[j]] < s[ord[j - 1]]; j--) {
            int t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    double cum = 0;
    int last = 0;
    for (int i = 0; i < n; i++) last += (cum += prob[ord[i]]) < mass;
    if (last > n - 1) last = n - 1;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (s[i] <= s[ord[last]]) keep[m++] = i;
    return m;
}

static void check_typical(const double *prob, float mass, const int *want, int n_want) {
    int keep[8];
    int m = ref_typical(prob, 4, mass, keep);
    assert_int_equal(m, n_want);
    for (int i = 0; i < m; i++) assert_int_equal(keep[i], want[i]);
    float l[4];
    logits_of(prob, 4, l);
    sampler_params p = sampling(1.0f);
    p.typical_p = mass;
    int counts[4];
    draw_many_seeds(p, l, 4, 1000, counts);
    assert_support(counts, 4, want, n_want);
}

/* probs {0.4, 0.3, 0.2, 0.1}: H = 1.2799 nats; |-log p - H| =
 * {0.364, 0.076, 0.330, 1.023}; order id1, id2, id0, id3 with cumulative
 * 0.3, 0.5, 0.9, 1.0.  Note the most likely token (id0) is dropped at
 * mass 0.45 — typical sampling is not a top-p variant. */
static void test_typical_p(void **st) {
    const double q[4] = {0.4, 0.3, 0.2, 0.1};
    check_typical(q, 0.25f, (int[]){1}, 1);
    check_typical(q, 0.45f, (int[]){1, 2}, 2);
    check_typical(q, 0.6f, (int[]){0, 1, 2}, 3);
    check_typical(q, 0.95f, (int[]){0, 1, 2, 3}, 4);
}

/* Equal typicality is kept together: a uniform distribution keeps all. */
static void test_typical_p_ties(void **st) {
    const float l[5] = {0, 0, 0, 0, 0};
    sampler_params p = sampling(1.0f);
    p.typical_p = 0.2f;
    int counts[5];
    draw_many_seeds(p, l, 5, 500, counts);
    assert_support(counts, 5, (int[]){0, 1, 2, 3, 4}, 5);
}

/* typical_p on a big vocabulary against a reference from a full sort in
 * the test: every draw lies in the band {s <= s*} (s* = typicality of the
 * token where the sorted cumulative mass reaches typical_p), and draws
 * reach near its edge. */
static int cmp_by_key(const void *a, const void *b, void *keys) {
    double x = ((const double *)keys)[*(const int *)a], y = ((const double *)keys)[*(const int *)b];
    return (x > y) - (x < y);
}

static void test_typical_p_large_vocab(void **st) {
    enum { NV = 20000 };
    const double mass = 0.3;
    float *l = malloc(NV * sizeof *l);
    double *prob = malloc(NV * sizeof *prob), *sk = malloc(NV * sizeof *sk);
    int *ord = malloc(NV * sizeof *ord);
    assert_true(l && prob && sk && ord);
    noise_state = 9;
    double z = 0, h = 0;
    for (int i = 0; i < NV; i++) z += exp(l[i] = 8.0f * noise());
    for (int i = 0; i < NV; i++) prob[i] = exp(l[i]) / z, h -= prob[i] * log(prob[i]);
    for (int i = 0; i < NV; i++) sk[i] = fabs(-log(prob[i]) - h), ord[i] = i;
    qsort_r(ord, NV, sizeof *ord, cmp_by_key, sk);
    double cum = 0, s_star = 0, s_inner = 0;
    for (int i = 0; i < NV; i++) {
        cum += prob[ord[i]];
        if (s_inner == 0 && cum >= 0.8 * mass) s_inner = sk[ord[i]];
        if (cum >= mass) {
            s_star = sk[ord[i]];
            break;
        }
    }
    sampler_params p = sampling(1.0f);
    p.typical_p = (float)mass;
    p.seed = 77;
    sampler *s = sampler_create(&p, NV, NULL, 0);
    double smax = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t id = draw1(s, l, NV, NULL);
        if (sk[id] > s_star + 1e-5) fail_msg("id %d: s=%g outside the band s*=%g", id, sk[id], s_star);
        if (sk[id] > smax) smax = sk[id];
    }
    /* the outer 20% of the band's mass is hit ~400 times in 2000 draws */
    assert_true(smax > s_inner);
    sampler_free(s);
    free(l);
    free(prob);
    free(sk);
    free(ord);
}

/* ---- penalties and bias ------------------------------------------------ */

static void test_repetition_penalty(void **st) {
    sampler_params p = sampler_params_default();
    p.repetition_penalty = 2.0f;
    const int32_t prompt[] = {0, 1, 0, 4}; /* 0 twice: penalised once */
    sampler *s = sampler_create(&p, 6, prompt, 4);
    assert_non_null(s);
    float l[6] = {2.0f, -2.0f, 1.0f, 0.5f, 0.0f, 3.0f};
    assert_int_equal(sampler_sample(s, l, NULL), 5);
    const float want[6] = {1.0f, -4.0f, 1.0f, 0.5f, 0.0f, 3.0f};
    for (int i = 0; i < 6; i++) assert_float_equal(l[i], want[i], 0);
    assert_true(sampler_accept(s, 5)); /* generated tokens count too */
    assert_true(sampler_accept(s, 5));
    float l2[6] = {2.0f, -2.0f, 1.0f, 0.5f, 0.0f, 3.0f};
    assert_int_equal(sampler_sample(s, l2, NULL), 5);
    assert_float_equal(l2[5], 1.5f, 0);
    assert_float_equal(l2[0], 1.0f, 0);
    sampler_free(s);
    /* a penalty below 1 rewards repeats */
    p.repetition_penalty = 0.5f;
    s = sampler_create(&p, 6, prompt, 4);
    float l3[6] = {2.0f, -2.0f, 1.0f, 0.5f, 0.0f, 3.0f};
    assert_int_equal(sampler_sample(s, l3, NULL), 0);
    assert_float_equal(l3[0], 4.0f, 0);
    assert_float_equal(l3[1], -1.0f, 0);
    sampler_free(s);
}

static void test_frequency_presence(void **st) {
    sampler_params p = sampler_params_default();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    const int32_t prompt[] = {3, 3}; /* prompt tokens are not counted */
    sampler *s = sampler_create(&p, 5, prompt, 2);
    assert_true(sampler_accept(s, 1));
    assert_true(sampler_accept(s, 1));
    assert_true(sampler_accept(s, 2));
    float l[5] = {1, 1, 1, 1, 1};
    assert_int_equal(sampler_sample(s, l, NULL), 0);
    /* id1: 1 - (2*0.5 + 0.25); id2: 1 - (1*0.5 + 0.25) */
    const float want[5] = {1.0f, -0.25f, 0.25f, 1.0f, 1.0f};
    for (int i = 0; i < 5; i++) assert_float_equal(l[i], want[i], 0);
    sampler_free(s);
    /* negative values encourage: freq -1 on a token generated 3 times */
    p.frequency_penalty = -1.0f;
    p.presence_penalty = 0.0f;
    s = sampler_create(&p, 5, NULL, 0);
    for (int i = 0; i < 3; i++) assert_true(sampler_accept(s, 4));
    float l2[5] = {2, 1, 1, 1, 0};
    assert_int_equal(sampler_sample(s, l2, NULL), 4);
    assert_float_equal(l2[4], 3.0f, 0);
    sampler_free(s);
}

/* Order: repetition penalty, then bias, then temperature. */
static void test_processing_order(void **st) {
    sampler_params p = sampling(2.0f);
    p.repetition_penalty = 2.0f;
    sampler_bias b = {0, 1.0f};
    p.logit_bias = &b;
    p.n_logit_bias = 1;
    const int32_t prompt[] = {0};
    sampler *s = sampler_create(&p, 2, prompt, 1);
    float l[2] = {2.0f, 0.0f};
    sampler_sample(s, l, NULL);
    assert_float_equal(l[0], (2.0f / 2.0f + 1.0f) / 2.0f, 0); /* not (2+1)/2/2 */
    assert_float_equal(l[1], 0.0f, 0);
    sampler_free(s);
}

static void test_logit_bias_force_and_ban(void **st) {
    enum { NV = 10 };
    float l[NV];
    noise_state = 21;
    for (int i = 0; i < NV; i++) l[i] = 2.0f * noise();
    sampler_bias force = {7, 100.0f};
    sampler_params p = sampling(1.0f);
    p.logit_bias = &force;
    p.n_logit_bias = 1;
    int counts[NV];
    draw_many_seeds(p, l, NV, 300, counts);
    assert_int_equal(counts[7], 300);

    /* ban the argmax with -inf: greedy takes the runner-up */
    int best = 0, second = -1;
    for (int i = 1; i < NV; i++)
        if (l[i] > l[best]) best = i;
    for (int i = 0; i < NV; i++)
        if (i != best && (second < 0 || l[i] > l[second])) second = i;
    sampler_bias ban = {best, -INFINITY};
    sampler_params g = sampler_params_default();
    g.logit_bias = &ban;
    g.n_logit_bias = 1;
    g.top_n = 3;
    sampler *s = sampler_create(&g, NV, NULL, 0);
    sample_result r;
    assert_int_equal(draw1(s, l, NV, &r), second);
    for (int j = 0; j < r.n_top; j++) assert_int_not_equal(r.top[j].id, best);
    sampler_free(s);

    /* -100 when sampling: never drawn (e^-100 against logits in [0, 2]) */
    sampler_bias ban100[2] = {{3, -100.0f}, {4, -100.0f}};
    p.logit_bias = ban100;
    p.n_logit_bias = 2;
    draw_many_seeds(p, l, NV, 2000, counts);
    assert_int_equal(counts[3] + counts[4], 0);
}

/* The bias array is copied at create: the caller may free its own. */
static void test_logit_bias_copied(void **st) {
    sampler_bias *b = malloc(sizeof *b);
    *b = (sampler_bias){1, 50.0f};
    sampler_params p = sampler_params_default();
    p.logit_bias = b;
    p.n_logit_bias = 1;
    sampler *s = sampler_create(&p, 3, NULL, 0);
    free(b);
    float l[3] = {5, 0, 1};
    assert_int_equal(sampler_sample(s, l, NULL), 1);
    sampler_free(s);
}

/* ---- seeding and frequencies ------------------------------------------- */

static void run_seq(uint64_t seed, int n, int32_t *out, sampler *noise_neighbour) {
    enum { NV = 100 };
    float l[NV] = {0};
    sampler_params p = sampling(1.0f);
    p.seed = seed;
    sampler *s = sampler_create(&p, NV, NULL, 0);
    for (int i = 0; i < n; i++) {
        out[i] = draw1(s, l, NV, NULL);
        if (noise_neighbour) draw1(noise_neighbour, l, NV, NULL);
    }
    sampler_free(s);
}

static void test_seed_determinism(void **st) {
    enum { N = 200 };
    int32_t a[N], b[N], c[N], d[N];
    run_seq(42, N, a, NULL);
    run_seq(42, N, b, NULL);
    assert_memory_equal(a, b, sizeof a);
    run_seq(43, N, c, NULL);
    int same = 0;
    for (int i = 0; i < N; i++) same += a[i] == c[i];
    assert_true(same < N / 4); /* expected 2 of 200 */
    /* another request drawing in between changes nothing */
    sampler_params p = sampling(1.0f);
    p.seed = 42;
    sampler *other = sampler_create(&p, 100, NULL, 0);
    run_seq(42, N, d, other);
    sampler_free(other);
    assert_memory_equal(a, d, sizeof a);
}

static void test_empirical_frequencies(void **st) {
    const double q[4] = {0.1, 0.2, 0.3, 0.4};
    float l[4];
    logits_of(q, 4, l);
    sampler_params p = sampling(1.0f);
    p.seed = 12345;
    sampler *s = sampler_create(&p, 4, NULL, 0);
    int counts[4] = {0};
    enum { N = 20000 };
    for (int i = 0; i < N; i++) counts[draw1(s, l, 4, NULL)]++;
    /* sd <= sqrt(0.25/20000) = 0.0035; allow ~4 sd */
    for (int i = 0; i < 4; i++) assert_float_equal((double)counts[i] / N, q[i], 0.015);
    sampler_free(s);
}

/* ---- validation -------------------------------------------------------- */

static void expect_invalid(sampler_params p, int nv, const char *needle) {
    char err[CT_ERRLEN] = "";
    assert_false(sampler_params_validate(&p, nv, err));
    if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    assert_null(sampler_create(&p, nv, NULL, 0));
}

static void test_validation(void **st) {
    sampler_params d = sampler_params_default(), p;
    p = d, p.temperature = -0.5f;
    expect_invalid(p, 10, "`temperature` must be >= 0.0");
    p = d, p.temperature = NAN;
    expect_invalid(p, 10, "`temperature`");
    p = d, p.repetition_penalty = 0.0f;
    expect_invalid(p, 10, "`repetition_penalty` must be strictly positive");
    p = d, p.frequency_penalty = 2.5f;
    expect_invalid(p, 10, "`frequency_penalty` must be >= -2.0 and <= 2.0");
    p = d, p.presence_penalty = -2.01f;
    expect_invalid(p, 10, "`presence_penalty` must be >= -2.0 and <= 2.0");
    p = d, p.top_k = -1;
    expect_invalid(p, 10, "`top_k` must be strictly positive");
    p = d, p.top_p = 0.0f;
    expect_invalid(p, 10, "`top_p` must be > 0.0 and <= 1.0");
    p = d, p.top_p = 1.01f;
    expect_invalid(p, 10, "`top_p`");
    p = d, p.typical_p = 0.0f;
    expect_invalid(p, 10, "`typical_p` must be > 0.0 and <= 1.0");
    p = d, p.min_p = 1.5f;
    expect_invalid(p, 10, "`min_p` must be >= 0.0 and <= 1.0");
    p = d, p.top_n = SAMPLER_MAX_TOP_N + 1;
    expect_invalid(p, 10, "`top_n_tokens` must be >= 0 and <= 20. Given: 21");
    sampler_bias b = {10, 1.0f};
    p = d, p.logit_bias = &b, p.n_logit_bias = 1;
    expect_invalid(p, 10, "`logit_bias` token id 10 is out of range [0, 10)");
    b = (sampler_bias){-1, 1.0f};
    expect_invalid(p, 10, "token id -1 is out of range");
    b = (sampler_bias){2, NAN};
    expect_invalid(p, 10, "`logit_bias` for token id 2");
    p = d;
    expect_invalid(p, 0, "vocabulary size");
    /* the edges that are allowed */
    p = d, p.temperature = 0.0f, p.top_p = 1.0f, p.typical_p = 1.0f, p.min_p = 1.0f;
    p.frequency_penalty = -2.0f, p.presence_penalty = 2.0f, p.top_n = SAMPLER_MAX_TOP_N;
    b = (sampler_bias){9, -INFINITY};
    p.logit_bias = &b, p.n_logit_bias = 1;
    assert_true(sampler_params_validate(&p, 10, NULL));
}

static void test_create_and_accept_ranges(void **st) {
    sampler_params p = sampler_params_default();
    const int32_t bad[] = {1, 10};
    assert_null(sampler_create(&p, 10, bad, 2));
    assert_null(sampler_create(&p, 10, NULL, 1));
    sampler *s = sampler_create(&p, 10, bad, 1);
    assert_non_null(s);
    assert_false(sampler_accept(s, 10));
    assert_false(sampler_accept(s, -1));
    assert_true(sampler_accept(s, 9));
    sampler_free(s);
    sampler_free(NULL);
}

/* A sampler with every feature on, many steps: exercises the history
 * growth and the warper chain together (mainly for the sanitizers). */
static void test_everything_on(void **st) {
    enum { NV = 5000 };
    float *raw = malloc(NV * sizeof *raw);
    assert_non_null(raw);
    noise_state = 31;
    for (int i = 0; i < NV; i++) raw[i] = 5.0f * noise();
    sampler_bias b[2] = {{3, -INFINITY}, {4, 2.0f}};
    sampler_params p = sampling(0.8f);
    p.top_k = 500, p.top_p = 0.9f, p.typical_p = 0.95f, p.min_p = 0.02f;
    p.repetition_penalty = 1.3f, p.frequency_penalty = 0.4f, p.presence_penalty = 0.2f;
    p.logit_bias = b, p.n_logit_bias = 2, p.top_n = 5, p.seed = 8;
    int32_t prompt[300];
    for (int i = 0; i < 300; i++) prompt[i] = (int32_t)(i * 7 % NV);
    sampler *s = sampler_create(&p, NV, prompt, 300);
    assert_non_null(s);
    for (int step = 0; step < 400; step++) {
        sample_result r;
        int32_t id = draw1(s, raw, NV, &r);
        assert_in_range(id, 0, NV - 1);
        assert_int_not_equal(id, 3);
        assert_int_equal(r.n_top, 5);
        assert_true(sampler_accept(s, id));
    }
    sampler_free(s);
    free(raw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_greedy_argmax),
        cmocka_unit_test(test_greedy_ties_lowest_id),
        cmocka_unit_test(test_tiny_temperature_is_greedy),
        cmocka_unit_test(test_nan_and_all_banned),
        cmocka_unit_test(test_temperature_logprobs),
        cmocka_unit_test(test_greedy_logprobs_ignore_temperature),
        cmocka_unit_test(test_temperature_frequencies),
        cmocka_unit_test(test_top_n_sorted_and_normalised),
        cmocka_unit_test(test_top_n_small_vocab),
        cmocka_unit_test(test_top_k_1_is_greedy),
        cmocka_unit_test(test_top_k_large_vocab),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_top_k_then_top_p),
        cmocka_unit_test(test_top_p_cut_inside_ties),
        cmocka_unit_test(test_top_p_matches_reference),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_typical_p),
        cmocka_unit_test(test_typical_p_ties),
        cmocka_unit_test(test_typical_p_large_vocab),
        cmocka_unit_test(test_repetition_penalty),
        cmocka_unit_test(test_frequency_presence),
        cmocka_unit_test(test_processing_order),
        cmocka_unit_test(test_logit_bias_force_and_ban),
        cmocka_unit_test(test_logit_bias_copied),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_empirical_frequencies),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_create_and_accept_ranges),
        cmocka_unit_test(test_everything_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
