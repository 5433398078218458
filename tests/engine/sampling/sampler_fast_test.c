/*
 * sampler_fast_test.c — the sampler's fast paths against references
 * written here the slow, obvious way:
 *   - greedy without logprobs (one argmax pass) picks what greedy with
 *     logprobs picks and what a plain scan picks: lowest id on ties, NaN
 *     as -inf, +inf as FLT_MAX, -inf bias as a ban, on rows of every
 *     length around the 8-lane vector width;
 *   - top_k / top_p selection (smp_rank_cut, the path sampler_sample takes)
 *     keeps exactly a prefix of the full sort by (logit desc, id asc), of
 *     the length the documented rules give, on random rows with many ties;
 *   - logprobs and top-n alternatives equal a double-precision log_softmax
 *     of the processed logits within about one float ulp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/vmath.h"
#include "sampling/sampler.h"
#include "sampling/sampler_internal.h"

/* ---- rows ---------------------------------------------------------------------- */

static uint64_t rs;
static uint64_t rnd(void) { return smp_splitmix64(&rs); }
static double unif(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }

typedef enum { ROW_SMOOTH, ROW_TIES, ROW_SPECIAL, ROW_PEAK_FLAT, ROW_WIDE, N_KINDS } row_kind;

/* smooth: uniform in [-8, 8); ties: 12 distinct values, so the max and
 * every cut point are shared by many ids; special: ties plus NaN, +inf,
 * -inf sprinkled (sometimes a whole row of -inf/NaN); peak + flat: a few
 * tokens far above a flat floor (the top-p window is too small); wide:
 * uniform in [-150, 150), so most tokens lie below SMP_EXP_FLOOR and weigh
 * nothing. */
static void make_row(float *l, int n, row_kind kind) {
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case ROW_SMOOTH: l[i] = (float)(16.0 * unif() - 8.0); break;
        case ROW_TIES: l[i] = (float)(rnd() % 12) * 0.5f - 3.0f; break;
        case ROW_PEAK_FLAT: l[i] = rnd() % 5000 == 0 ? 9.0f + (float)(rnd() % 3) : 0.0f; break;
        case ROW_WIDE: l[i] = (float)(300.0 * unif() - 150.0); break;
        default: {
            uint64_t r = rnd() % 40;
            l[i] = r == 0 ? NAN : r == 1 ? INFINITY : r < 6 ? -INFINITY : (float)(rnd() % 6) - 2.0f;
        }
        }
    }
    if (kind == ROW_SPECIAL && rnd() % 8 == 0)
        for (int i = 0; i < n; i++) l[i] = rnd() % 2 ? -INFINITY : NAN;
}

static const int SIZES[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 100, 1001, 32000, 32003};
#define N_SIZES ((int)(sizeof SIZES / sizeof *SIZES))

/* The processed logit (sampler.h: NaN -> -inf, +inf -> FLT_MAX after the
 * temperature), the obvious way. */
static float processed(float x, float t) {
    if (t != 1.0f) x /= t;
    if (isnan(x)) return -INFINITY;
    return x == INFINITY ? FLT_MAX : x;
}

static int32_t ref_argmax(const float *l, int n, float t) {
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (processed(l[i], t) > -INFINITY && (best < 0 || processed(l[i], t) > processed(l[best], t))) best = i;
    return best;
}

static int32_t sample_copy(sampler *s, const float *l, int n, sample_result *out, float *work) {
    memcpy(work, l, (size_t)n * sizeof *work);
    return sampler_sample(s, work, out);
}

/* ---- greedy --------------------------------------------------------------------- */

static void check_greedy_row(const float *l, int n, float *work) {
    sampler_params p = sampler_params_default();
    p.top_n = 3;
    sampler *s = sampler_create(&p, n, NULL, 0);
    assert_non_null(s);
    sample_result r;
    int32_t want = ref_argmax(l, n, 1.0f);
    int32_t fast = sample_copy(s, l, n, NULL, work);
    for (int i = 0; i < n; i++) /* the row comes back processed */
        if (memcmp(&work[i], &(float){processed(l[i], 1.0f)}, sizeof(float)) != 0)
            fail_msg("n %d: logit %d is %g, want %g", n, i, work[i], processed(l[i], 1.0f));
    int32_t full = sample_copy(s, l, n, &r, work);
    if (fast != want || full != want) fail_msg("n %d: fast %d, full %d, reference %d", n, fast, full, want);
    assert_int_equal(r.id, want);
    sampler_free(s);
    if (want < 0) return;
    /* ban the winner with a -inf bias: the next one wins */
    sampler_bias ban = {want, -INFINITY};
    p.logit_bias = &ban;
    p.n_logit_bias = 1;
    s = sampler_create(&p, n, NULL, 0);
    memcpy(work, l, (size_t)n * sizeof *work);
    work[want] = -INFINITY;
    int32_t next = ref_argmax(work, n, 1.0f);
    assert_int_equal(sample_copy(s, l, n, NULL, work), next);
    assert_int_equal(sample_copy(s, l, n, &r, work), next);
    sampler_free(s);
}

static void test_greedy_fast_equals_full(void **st) {
    float *l = malloc(32003 * sizeof *l), *work = malloc(32003 * sizeof *work);
    assert_true(l && work);
    for (int seed = 0; seed < 40; seed++)
        for (int k = 0; k < N_KINDS; k++)
            for (int z = 0; z < N_SIZES; z++) {
                rs = (uint64_t)seed * 1000003u + (uint64_t)k * 101u + (uint64_t)z;
                make_row(l, SIZES[z], (row_kind)k);
                check_greedy_row(l, SIZES[z], work);
            }
    free(l);
    free(work);
}

/* top_k = 1 while sampling is greedy over the divided logits (where the
 * division can make distinct logits equal: the lower id wins). */
static void test_top_k_1_is_argmax(void **st) {
    float *l = malloc(1001 * sizeof *l), *work = malloc(1001 * sizeof *work);
    assert_true(l && work);
    for (int seed = 0; seed < 200; seed++) {
        rs = (uint64_t)seed;
        int n = SIZES[seed % N_SIZES] > 1001 ? 1001 : SIZES[seed % N_SIZES];
        make_row(l, n, (row_kind)(seed % N_KINDS));
        sampler_params p = sampler_params_default();
        p.do_sample = true;
        p.temperature = seed % 2 ? 0.3f : 1.7f;
        p.top_k = 1;
        p.seed = (uint64_t)seed;
        sampler *s = sampler_create(&p, n, NULL, 0);
        assert_int_equal(sample_copy(s, l, n, NULL, work), ref_argmax(l, n, p.temperature));
        sampler_free(s);
    }
    free(l);
    free(work);
}

/* no_logprob: the same tokens (the generator advances the same way), the
 * logprob NaN and no alternatives, unless top_n asks for them. */
static void test_no_logprob(void **st) {
    enum { N = 32003 };
    float *l = malloc(N * sizeof *l), *work = malloc(N * sizeof *work);
    assert_true(l && work);
    for (int v = 0; v < 4; v++) {
        sampler_params p = sampler_params_default();
        p.do_sample = v > 0;
        p.temperature = 0.8f;
        p.top_k = v == 2 ? 20 : 0;
        p.top_p = v == 3 ? 0.7f : 1.0f;
        p.seed = 11;
        sampler_params q = p;
        q.no_logprob = true;
        sampler *a = sampler_create(&p, N, NULL, 0), *b = sampler_create(&q, N, NULL, 0);
        for (int t = 0; t < 20; t++) {
            rs = (uint64_t)t * 13u + (uint64_t)v;
            make_row(l, N, (row_kind)(t % N_KINDS));
            sample_result ra, rb;
            int32_t ia = sample_copy(a, l, N, &ra, work), ib = sample_copy(b, l, N, &rb, work);
            assert_int_equal(ia, ib);
            assert_int_equal(rb.id, ib);
            if (ib >= 0) assert_true(isnan(rb.logprob) && !isnan(ra.logprob));
            assert_int_equal(rb.n_top, 0);
        }
        sampler_free(a);
        sampler_free(b);
        q.top_n = 2; /* alternatives wanted: everything is computed */
        b = sampler_create(&q, N, NULL, 0);
        sample_result rb;
        make_row(l, N, ROW_SMOOTH);
        assert_true(sample_copy(b, l, N, &rb, work) >= 0);
        assert_true(isfinite(rb.logprob) && rb.n_top == 2);
        sampler_free(b);
    }
    free(l);
    free(work);
}

/* ---- top_k / top_p against a full sort ------------------------------------------ */

typedef struct {
    float l, w;
    int id;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->l != y->l) return x->l < y->l ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The tokens with a weight, fully sorted; returns how many. */
static int ref_sorted(const float *l, int n, float mx, ranked *r) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        float w = smp_expf(l[i] - mx);
        if (w > 0.0f) r[m++] = (ranked){l[i], w, i};
    }
    qsort(r, (size_t)m, sizeof *r, cmp_ranked);
    return m;
}

/* c[0, m) must be exactly r[0, m) as a set, and m the documented length:
 * the first k, then the shortest prefix of those reaching top_p of their
 * mass.  Summation order differs between the two, so a cut point whose
 * cumulative mass is within rounding of the target may go either way. */
static void check_cut(const smp_cand *c, int m, const ranked *r, int nr, int k, float top_p, double z,
                      const char *what) {
    int keep = k > 0 && k < nr ? k : nr, want = keep;
    double base = z, cum = 0.0;
    if (k > 0) {
        base = 0.0;
        for (int i = 0; i < keep; i++) base += r[i].w;
    }
    double target = top_p * base;
    if (top_p < 1.0f) {
        for (want = 0; want < keep && cum < target;) cum += r[want++].w;
    }
    if (m != want) {
        int lo = m < want ? m : want, hi = m < want ? want : m;
        double c2 = 0.0;
        for (int i = 0; i < hi; i++) {
            c2 += r[i].w;
            if (i + 1 >= lo && i + 1 < hi && fabs(c2 - target) > 1e-9 * base)
                fail_msg("%s: kept %d, want %d (k %d, top_p %g)", what, m, want, k, top_p);
        }
    }
    bool *in = calloc((size_t)(nr + 1), 1);
    assert_non_null(in);
    int max_id = 0;
    for (int i = 0; i < nr; i++) max_id = r[i].id > max_id ? r[i].id : max_id;
    int *rank = calloc((size_t)max_id + 1, sizeof *rank);
    for (int i = 0; i < nr; i++) rank[r[i].id] = i;
    for (int i = 0; i < m; i++) {
        int rk = rank[c[i].id];
        if (rk >= m || in[rk]) fail_msg("%s: id %d (rank %d) kept, but the first %d are wanted", what, c[i].id, rk, m);
        in[rk] = true;
        if (c[i].w != r[rk].w || c[i].key != -r[rk].l) fail_msg("%s: candidate %d has wrong weight/key", what, c[i].id);
    }
    free(in);
    free(rank);
}

static void test_rank_cut_matches_full_sort(void **st) {
    enum { NMAX = 32003 };
    float *l = malloc(NMAX * sizeof *l), *w = malloc(NMAX * sizeof *w);
    smp_cand *c = malloc(NMAX * sizeof *c);
    ranked *r = malloc(NMAX * sizeof *r);
    assert_true(l && w && c && r);
    static const int KS[] = {0, 1, 2, 5, 40, 1000};
    static const float PS[] = {1.0f, 0.05f, 0.5f, 0.9f, 0.99f};
    int checked = 0;
    for (int seed = 0; seed < 300; seed++) {
        rs = (uint64_t)seed * 7919u + 3;
        int n = SIZES[seed % N_SIZES];
        make_row(l, n, (row_kind)(seed % N_KINDS));
        int32_t best = smp_prepare(l, n, seed % 3 ? 1.0f : 0.6f);
        if (best < 0) continue;
        float mx = l[best];
        double z = smp_exp_sum(l, w, n, mx);
        int nr = ref_sorted(l, n, mx, r);
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 5; b++) {
                int k = KS[a] == 1000 ? n - 1 : KS[a];
                if (k == 0 && PS[b] >= 1.0f) continue;
                int m = smp_rank_cut(l, w, n, mx, z, k, PS[b], c);
                char what[96];
                snprintf(what, sizeof what, "seed %d n %d kind %d", seed, n, seed % N_KINDS);
                check_cut(c, m, r, nr, k, PS[b], z, what);
                checked++;
            }
    }
    assert_true(checked > 5000);
    free(l);
    free(w);
    free(c);
    free(r);
}

/* Equal logits weigh exactly 1 each, so top_p = 2^-j of 2^i tokens
 * reaches its target exactly: ">= top_p" keeps exactly that many, the
 * lowest ids (through the sorted tail for small rows and the quickselect
 * rounds for large ones). */
static void test_top_p_exact_boundary(void **st) {
    enum { NMAX = 4096 };
    float *l = malloc(NMAX * sizeof *l), *w = malloc(NMAX * sizeof *w);
    smp_cand *c = malloc(NMAX * sizeof *c);
    assert_true(l && w && c);
    for (int n = 2; n <= NMAX; n *= 4)
        for (float p = 0.5f; p * (float)n >= 1.0f; p /= 2) {
            for (int i = 0; i < NMAX; i++) l[i] = i < n ? 1.5f : -INFINITY;
            int32_t best = smp_prepare(l, NMAX, 1.0f);
            double z = smp_exp_sum(l, w, NMAX, l[best]);
            assert_true(z == (double)n);
            for (int k = 0; k <= 1; k++) {
                int m = smp_rank_cut(l, w, NMAX, l[best], z, k ? n : 0, p, c);
                if (m != (int)(p * (float)n)) fail_msg("%d equal tokens, top_p %g: kept %d", n, p, m);
                for (int i = 0; i < m; i++)
                    if (c[i].id >= m) fail_msg("%d equal tokens, top_p %g: id %d kept", n, p, c[i].id);
            }
        }
    free(l);
    free(w);
    free(c);
}

/* A big flat row where the nucleus lies far outside the 8-nat window, and
 * one where the cut falls inside a long run of equal logits. */
static void test_rank_cut_flat_rows(void **st) {
    enum { N = 151936 };
    float *l = malloc(N * sizeof *l), *w = malloc(N * sizeof *w);
    smp_cand *c = malloc(N * sizeof *c);
    ranked *r = malloc(N * sizeof *r);
    assert_true(l && w && c && r);
    for (int v = 0; v < 3; v++) {
        rs = 99 + (uint64_t)v;
        for (int i = 0; i < N; i++) l[i] = v == 0 ? 0.0f : v == 1 ? (float)(rnd() % 4) : (float)(rnd() % 64) * 0.25f;
        l[12345] = 10.0f;
        int32_t best = smp_prepare(l, N, 1.0f);
        float mx = l[best];
        double z = smp_exp_sum(l, w, N, mx);
        int nr = ref_sorted(l, N, mx, r);
        static const float PS[] = {0.3f, 0.5f, 0.95f};
        for (int b = 0; b < 3; b++) {
            int m = smp_rank_cut(l, w, N, mx, z, 0, PS[b], c);
            check_cut(c, m, r, nr, 0, PS[b], z, "flat");
            m = smp_rank_cut(l, w, N, mx, z, 50000, PS[b], c);
            check_cut(c, m, r, nr, 50000, PS[b], z, "flat, top_k 50000");
        }
    }
    free(l);
    free(w);
    free(c);
    free(r);
}

/* ---- logprobs against double log_softmax ---------------------------------------- */

/* |got - want| within one float ulp of want plus 1.5e-7: the float result
 * is rounded once (half an ulp), and the normaliser's error (one ulp per
 * term of vm_expf, summed in double) stays below 1e-7. */
static void assert_lp(float got, double want, const char *what, int id) {
    double tol = 1.5e-7 + fabs(want) * 0x1.0p-23;
    if (!(fabs((double)got - want) <= tol))
        fail_msg("%s: id %d logprob %.9g, double reference %.9g (off by %.3g, tol %.3g)", what, id, got, want,
                 fabs((double)got - want), tol);
}

static void check_logprobs(const float *l, int n, float t, bool sample, float *work, double *ref, ranked *r) {
    sampler_params p = sampler_params_default();
    p.top_n = SAMPLER_MAX_TOP_N;
    if (sample) {
        p.do_sample = true;
        p.temperature = t;
        p.top_k = 40; /* alternatives still come from the whole row */
        p.top_p = 0.8f;
        p.seed = 5;
    }
    float tt = sample ? t : 1.0f;
    double mx = -INFINITY, z = 0.0;
    for (int i = 0; i < n; i++) ref[i] = processed(l[i], tt), mx = ref[i] > mx ? ref[i] : mx;
    if (mx == -INFINITY) return;
    for (int i = 0; i < n; i++) z += exp(ref[i] - mx);
    double lse = mx + log(z);
    int nr = 0;
    for (int i = 0; i < n; i++)
        if (ref[i] > -INFINITY) r[nr++] = (ranked){(float)ref[i], 0, i};
    qsort(r, (size_t)nr, sizeof *r, cmp_ranked);
    if (!sample) { /* the prompt logprobs' normaliser */
        memcpy(work, l, (size_t)n * sizeof *work);
        double got = sampler_log_sum_exp(work, n);
        if (!(fabs(got - lse) <= 1e-7 * (1.0 + fabs(lse)))) fail_msg("log-sum-exp %.17g, double %.17g", got, lse);
    }
    sampler *s = sampler_create(&p, n, NULL, 0);
    sample_result res;
    for (int round = 0; round < 3; round++) {
        int32_t id = sample_copy(s, l, n, &res, work);
        assert_true(id >= 0 && id < n);
        assert_lp(res.logprob, ref[id] - lse, "chosen", id);
        int want_top = nr < SAMPLER_MAX_TOP_N ? nr : SAMPLER_MAX_TOP_N;
        assert_int_equal(res.n_top, want_top);
        for (int j = 0; j < want_top; j++) {
            if (res.top[j].id != r[j].id) fail_msg("alternative %d is id %d, want %d", j, res.top[j].id, r[j].id);
            assert_lp(res.top[j].logprob, ref[r[j].id] - lse, "alternative", r[j].id);
        }
    }
    sampler_free(s);
}

static void test_logprobs_match_double(void **st) {
    enum { NMAX = 151936 };
    float *l = malloc(NMAX * sizeof *l), *work = malloc(NMAX * sizeof *work);
    double *ref = malloc(NMAX * sizeof *ref);
    ranked *r = malloc(NMAX * sizeof *r);
    assert_true(l && work && ref && r);
    static const int NS[] = {9, 1000, 32000, NMAX};
    for (int seed = 0; seed < 24; seed++) {
        rs = (uint64_t)seed * 31u + 1;
        int n = NS[seed % 4];
        make_row(l, n, (row_kind)(seed / 4 % N_KINDS));
        if (seed % 5 == 0)
            for (int i = 0; i < n; i++) l[i] *= 6.0f; /* a peaked row: logprobs down to ~ -100 */
        check_logprobs(l, n, 1.0f, false, work, ref, r);
        check_logprobs(l, n, seed % 2 ? 0.7f : 1.3f, true, work, ref, r);
    }
    free(l);
    free(work);
    free(ref);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_fast_equals_full),
        cmocka_unit_test(test_top_k_1_is_argmax),
        cmocka_unit_test(test_no_logprob),
        cmocka_unit_test(test_rank_cut_matches_full_sort),
        cmocka_unit_test(test_top_p_exact_boundary),
        cmocka_unit_test(test_rank_cut_flat_rows),
        cmocka_unit_test(test_logprobs_match_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
