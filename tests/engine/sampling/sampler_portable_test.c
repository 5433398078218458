/*
 * sampler_portable_test.c — the sampler's plain C code gives the same bits
 * as the AVX2 build: same seed + same logits => same tokens, logprobs,
 * alternatives and processed logits on every machine (sampler_internal.h).
 *
 * The Makefile builds this file with -mno-avx2 -mno-fma (so __AVX2__ is not
 * defined), and it compiles the sampler's three sources into itself under
 * other names (pt_*), beside the library's AVX2 build it links against.
 * Both then run the same requests on the same rows.  On a machine without
 * AVX2 both sides are the portable code and the test shows nothing; it
 * says so.
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

/* ---- the portable twin, under other names ------------------------------------ */

#ifdef __AVX2__
#error "build this test with -mno-avx2 (see the Makefile)"
#endif

#define sampler_params_default pt_sampler_params_default
#define sampler_params_validate pt_sampler_params_validate
#define sampler_create pt_sampler_create
#define sampler_free pt_sampler_free
#define sampler_accept pt_sampler_accept
#define sampler_sample pt_sampler_sample
#define sampler_sample_draft pt_sampler_sample_draft
#define sampler_top_logprobs pt_sampler_top_logprobs
#define sampler_log_sum_exp pt_sampler_log_sum_exp
#define smp_prepare pt_smp_prepare
#define smp_exp_sum pt_smp_exp_sum
#define smp_next_above pt_smp_next_above
#define smp_above8 pt_smp_above8
#define smp_gather_top_k pt_smp_gather_top_k
#define smp_gather_from pt_smp_gather_from
#define smp_gather_weights pt_smp_gather_weights
#define smp_mass_prefix pt_smp_mass_prefix
#define smp_rank_cut pt_smp_rank_cut
#define smp_top_p_cut pt_smp_top_p_cut
#define smp_typical_cut pt_smp_typical_cut
#define smp_min_p_cut pt_smp_min_p_cut
#define smp_draw pt_smp_draw
#define smp_draw_weights pt_smp_draw_weights

/* sampler.h was read above under the real names: declare the twins */
sampler *sampler_create(const sampler_params *p, int n_vocab, const int32_t *prompt, int n_prompt);
void sampler_free(sampler *s);
bool sampler_accept(sampler *s, int32_t id);
int32_t sampler_sample(sampler *s, float *logits, sample_result *out);
int sampler_top_logprobs(const float *logits, int n_vocab, double lse, int k, sampler_token *top);
double sampler_log_sum_exp(float *logits, int n_vocab);
sampler_params sampler_params_default(void);
bool sampler_params_validate(const sampler_params *p, int n_vocab, char *err);

#include "sampling/sampler_vocab.c"
#include "sampling/sampler_select.c"
#include "sampling/sampler.c"

#undef sampler_params_default
#undef sampler_params_validate
#undef sampler_create
#undef sampler_free
#undef sampler_accept
#undef sampler_sample
#undef sampler_top_logprobs
#undef sampler_log_sum_exp

/* ---- rows and requests ------------------------------------------------------- */

static uint64_t rs;
static uint64_t rnd(void) { return smp_splitmix64(&rs); }
static double unif(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }

static void make_row(float *l, int n, int kind) {
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case 0: l[i] = (float)(5.0 * unif() - 2.5) * (float)(1 + rnd() % 3); break;
        case 1: l[i] = (float)(rnd() % 10) * 0.5f; break; /* ties */
        case 2: { /* specials */
            uint64_t r = rnd() % 30;
            l[i] = r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ? -INFINITY : (float)(unif() * 20.0 - 10.0);
            break;
        }
        case 3: l[i] = rnd() % 3000 == 0 ? 12.0f : (float)unif(); break; /* peak + flat: top-p fallback */
        default: l[i] = (float)(unif() * 240.0 - 120.0); /* wider than SMP_EXP_FLOOR */
        }
    }
}

static sampler_params random_params(int n) {
    sampler_params p = sampler_params_default();
    p.seed = rnd();
    p.top_n = (int)(rnd() % (SAMPLER_MAX_TOP_N + 1));
    p.no_logprob = rnd() % 4 == 0;
    if (rnd() % 4 == 0) { /* greedy */
        if (rnd() % 2) p.repetition_penalty = 1.3f;
        return p;
    }
    p.do_sample = true;
    p.temperature = (float)(0.2 + 1.6 * unif());
    if (rnd() % 2) p.top_k = (int)(1 + rnd() % (uint64_t)(n < 100 ? n : 100));
    if (rnd() % 2) p.top_p = (float)(0.05 + 0.95 * unif());
    if (rnd() % 5 == 0) p.typical_p = (float)(0.2 + 0.8 * unif());
    if (rnd() % 5 == 0) p.min_p = (float)(0.3 * unif());
    if (rnd() % 3 == 0) p.repetition_penalty = 1.2f, p.frequency_penalty = 0.5f, p.presence_penalty = 0.3f;
    return p;
}

static bool same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* One request, 12 tokens, on both builds: everything must match bit for bit. */
static void run_both(const sampler_params *p, const float *rows, int n_rows, int n, float *wa, float *wb,
                     const char *what) {
    sampler *a = sampler_create(p, n, NULL, 0), *b = pt_sampler_create(p, n, NULL, 0);
    assert_true(a && b);
    for (int t = 0; t < 12; t++) {
        const float *row = rows + (size_t)(t % n_rows) * (size_t)n;
        memcpy(wa, row, (size_t)n * sizeof *wa);
        memcpy(wb, row, (size_t)n * sizeof *wb);
        sample_result ra, rb;
        memset(&ra, 0, sizeof ra);
        memset(&rb, 0, sizeof rb);
        int32_t ia = sampler_sample(a, wa, t % 3 ? &ra : NULL), ib = pt_sampler_sample(b, wb, t % 3 ? &rb : NULL);
        if (ia != ib) fail_msg("%s, token %d: AVX2 %d, portable %d", what, t, ia, ib);
        if (!same_bits(wa, wb, (size_t)n * sizeof *wa)) fail_msg("%s, token %d: processed logits differ", what, t);
        if (t % 3 && (!same_bits(&ra.logprob, &rb.logprob, sizeof ra.logprob) || ra.n_top != rb.n_top ||
                      !same_bits(ra.top, rb.top, (size_t)ra.n_top * sizeof *ra.top)))
            fail_msg("%s, token %d: logprobs differ (%.9g vs %.9g)", what, t, ra.logprob, rb.logprob);
        if (ia < 0) break;
        assert_true(sampler_accept(a, ia) && pt_sampler_accept(b, ib));
    }
    sampler_free(a);
    pt_sampler_free(b);
    /* prompt logprobs' normaliser */
    memcpy(wa, rows, (size_t)n * sizeof *wa);
    memcpy(wb, rows, (size_t)n * sizeof *wb);
    double la = sampler_log_sum_exp(wa, n), lb = pt_sampler_log_sum_exp(wb, n);
    if (!same_bits(&la, &lb, sizeof la) || !same_bits(wa, wb, (size_t)n * sizeof *wa))
        fail_msg("%s: log-sum-exp %.17g vs %.17g", what, la, lb);
}

static void test_portable_equals_avx2(void **st) {
#if !defined(__x86_64__)
    skip();
#endif
    static const int NS[] = {1, 5, 8, 13, 64, 777, 4099, 32000, 151936};
    enum { ROWS = 3, NMAX = 151936 };
    float *rows = malloc((size_t)ROWS * NMAX * sizeof *rows);
    float *wa = malloc(NMAX * sizeof *wa), *wb = malloc(NMAX * sizeof *wb);
    assert_true(rows && wa && wb);
    int runs = 0;
    for (int z = 0; z < (int)(sizeof NS / sizeof *NS); z++) {
        int n = NS[z], reqs = n > 10000 ? 6 : 60;
        for (int kind = 0; kind < 5; kind++) {
            rs = (uint64_t)(z * 16 + kind) + 1;
            for (int r = 0; r < ROWS; r++) make_row(rows + (size_t)r * (size_t)n, n, kind);
            for (int q = 0; q < reqs; q++) {
                sampler_params p = random_params(n);
                char what[64];
                snprintf(what, sizeof what, "n %d kind %d request %d", n, kind, q);
                run_both(&p, rows, ROWS, n, wa, wb, what);
                runs++;
            }
        }
    }
    assert_true(runs > 1000);
    free(rows);
    free(wa);
    free(wb);
}

int main(void) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        printf("# no AVX2/FMA here: both sides run the portable code\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable_equals_avx2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
