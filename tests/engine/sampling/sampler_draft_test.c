/*
 * sampler_draft_test.c — sampler_sample_draft, the verification step of
 * speculative decoding in isolation: the token it returns must follow
 * exactly the law sampler_sample draws from, whatever the draft, and the
 * draft must be accepted with probability p(draft).
 *
 * Oracle: the law written out here in double (softmax of logits / T, then
 * the top-k / top-p cut by hand on a 6-token vocabulary), independent of
 * the sampler's code.  Each case draws 60000 tokens from one seeded
 * sampler and compares the counts by chi-square (threshold: p = 0.001 at
 * the case's degrees of freedom), and a law moved by 2% of mass must be
 * told apart by the same threshold (the test has the power to fail).
 * Greedy: the id and the logprobs are sampler_sample's bit for bit; seeded
 * sampling: the same tokens and logprobs as sampler_sample for the same
 * seed, whatever the draft.
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

#include "sampling/sampler.h"

enum { V = 6, DRAWS = 60000 };

static const float LOGITS[V] = {1.0f, 2.2f, 0.3f, 1.9f, -0.5f, 1.2f};

/* chi-square quantiles at p = 0.001 for 1..5 degrees of freedom */
static const double CHI2_999[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52};

/* The law: softmax(l / T) over the top_k best (0: all), then the smallest
 * prefix by probability reaching top_p, renormalised. */
static void law(double T, int top_k, double top_p, double *p) {
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (LOGITS[order[j]] > LOGITS[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    int keep = top_k > 0 ? top_k : V;
    double z = 0;
    for (int i = 0; i < keep; i++) z += exp(LOGITS[order[i]] / T);
    double cum = 0;
    int kept = 0;
    while (kept < keep) {
        cum += exp(LOGITS[order[kept]] / T) / z;
        kept++;
        if (cum >= top_p - 1e-12) break;
    }
    double zz = 0;
    for (int i = 0; i < kept; i++) zz += exp(LOGITS[order[i]] / T);
    memset(p, 0, V * sizeof *p);
    for (int i = 0; i < kept; i++) p[order[i]] = exp(LOGITS[order[i]] / T) / zz;
}

static double chi2(const int *count, const double *p, int *dof) {
    double c = 0;
    *dof = -1;
    for (int i = 0; i < V; i++) {
        if (p[i] == 0) {
            if (count[i] != 0) return INFINITY;
            continue;
        }
        double ex = DRAWS * p[i];
        c += (count[i] - ex) * (count[i] - ex) / ex;
        (*dof)++;
    }
    return c;
}

static void check_case(double T, int top_k, float top_p, int draft) {
    sampler_params sp = sampler_params_default();
    sp.do_sample = true;
    sp.temperature = (float)T;
    sp.top_k = top_k;
    sp.top_p = top_p;
    sp.seed = 12345 + (uint64_t)draft;
    sampler *s = sampler_create(&sp, V, NULL, 0);
    assert_non_null(s);
    int count[V] = {0}, acc = 0;
    float row[V];
    for (int n = 0; n < DRAWS; n++) {
        memcpy(row, LOGITS, sizeof row);
        bool accepted;
        sample_result r;
        int32_t id = sampler_sample_draft(s, row, draft, &r, &accepted);
        assert_true(id >= 0 && id < V);
        assert_true(accepted == (id == draft)); /* a rejected draft is never drawn again */
        assert_int_equal(r.id, id);
        count[id]++;
        acc += accepted;
    }
    sampler_free(s);
    double p[V], moved[V];
    law(T, top_k, top_p, p);
    int dof, dof2;
    double c = chi2(count, p, &dof);
    /* the same counts against a law with 2% of mass moved between the two
     * most likely tokens (1 and 3) */
    memcpy(moved, p, sizeof moved);
    moved[1] -= 0.02;
    moved[3] += 0.02;
    double cw = chi2(count, moved, &dof2);
    /* acceptance: a binomial with p(draft); 5 standard deviations */
    double pa = p[draft], sd = sqrt(DRAWS * pa * (1 - pa));
    printf("# T %.1f top_k %d top_p %.2f draft %d: chi2 %.2f (%d dof; moved law %.1f), accepted %d (expected %.0f)\n",
           T, top_k, top_p, draft, c, dof, cw, acc, DRAWS * pa);
    assert_true(dof >= 1 && c < CHI2_999[dof]);
    assert_true(cw > CHI2_999[dof]);
    assert_true(fabs(acc - DRAWS * pa) <= 5 * sd + 1e-9);
}

static void test_law(void **state) {
    (void)state;
    for (int d = 0; d < V; d++) check_case(1.0, 0, 1.0f, d); /* every draft, no warper */
    check_case(0.7, 3, 1.0f, 3);                               /* top-k, draft inside */
    check_case(0.7, 3, 1.0f, 4);                               /* top-k, draft cut: never accepted */
    check_case(1.3, 0, 0.8f, 1);                               /* top-p */
    check_case(1.3, 4, 0.9f, 5);
}

/* Greedy: the argmax and its logprobs, exactly sampler_sample's. */
/* Seeded sampling: the same seed gives the same tokens and logprobs with
 * or without a draft to verify (whatever the draft), and the draft is
 * accepted exactly when it is the token drawn. */
static void test_seeded_same(void **state) {
    (void)state;
    sampler_params sp = sampler_params_default();
    sp.do_sample = true;
    sp.temperature = 0.9f;
    sp.top_p = 0.95f;
    sp.top_n = 2;
    sp.seed = 777;
    sampler *a = sampler_create(&sp, V, NULL, 0), *b = sampler_create(&sp, V, NULL, 0);
    int hits = 0;
    for (int i = 0; i < 2000; i++) {
        float r1[V], r2[V];
        memcpy(r1, LOGITS, sizeof r1);
        memcpy(r2, LOGITS, sizeof r2);
        sample_result x, y;
        memset(&x, 0, sizeof x);
        memset(&y, 0, sizeof y);
        bool accepted;
        int32_t d = (int32_t)((i * 7) % V);
        int32_t i1 = sampler_sample(a, r1, &x);
        int32_t i2 = sampler_sample_draft(b, r2, d, &y, &accepted);
        assert_int_equal(i1, i2);
        assert_true(accepted == (i1 == d));
        assert_memory_equal(&x, &y, sizeof x);
        hits += accepted;
    }
    assert_true(hits > 100); /* drafts were accepted as well as refused */
    sampler_free(a);
    sampler_free(b);
}

static void test_greedy(void **state) {
    (void)state;
    sampler_params sp = sampler_params_default();
    sp.top_n = 3;
    sampler *a = sampler_create(&sp, V, NULL, 0), *b = sampler_create(&sp, V, NULL, 0);
    for (int d = -1; d < V + 1; d++) {
        float r1[V], r2[V];
        memcpy(r1, LOGITS, sizeof r1);
        memcpy(r2, LOGITS, sizeof r2);
        sample_result x, y;
        memset(&x, 0, sizeof x); /* the unused alternatives stay zero on both sides */
        memset(&y, 0, sizeof y);
        bool accepted;
        int32_t i1 = sampler_sample(a, r1, &x);
        int32_t i2 = sampler_sample_draft(b, r2, d, &y, &accepted);
        assert_int_equal(i1, 1);
        assert_int_equal(i1, i2);
        assert_true(accepted == (d == 1));
        assert_memory_equal(&x, &y, sizeof x);
    }
    sampler_free(a);
    sampler_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_law),
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_seeded_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
