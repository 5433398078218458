/*
 * matmul_test.c — the batch-invariant weight product (engine/matmul.h) and
 * what it buys the forward pass.
 *
 *   - every output of mm_rows equals mm_dot_ref (the portable scalar order)
 *     bit for bit, for M = 1..67 rows at every row of the batch, several
 *     starting rows, and several [n0, n1) column splits;
 *   - accuracy against a double-precision dot product;
 *   - bias, row stride ldy > N, columns outside [n0, n1) untouched;
 *   - the packed layout: every element where matmul.h says, zero padding,
 *     in place == out of place, rows read back; mm_packed on packed
 *     weights == the reference, for panel-cutting column ranges too;
 *   - attention's kernels: mm_dots == mm_dot_ref at any row stride,
 *     mm_wsum == one fma per position in order, split or not;
 *   - vm_expf / vm_swiglu / vm_exp_sum (engine/vmath.h): within 1 ulp of
 *     exp, the same bits in a vector lane and in the scalar tail, the
 *     softmax denominator in its documented lane order;
 *   - the forward pass: a sequence's logits are bit-identical whether its
 *     tokens are evaluated alone, one at a time, or inside a batch with
 *     other sequences' tokens, and whatever the pool's thread count.
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

#include "model/forward.h"
#include "kernels/matmul.h"
#include "kernels/wmat.h"
#include "model/dtype.h"
#include "kernels/vmath.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const int KS[] = {1, 7, 8, 9, 64, 768, 1000, 5632};
static const int NS[] = {1, 3, 17, 256};
enum { N_KS = sizeof KS / sizeof KS[0], N_NS = sizeof NS / sizeof NS[0], MAX_M = 67 };

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* uniform in [-1, 1) */
static float rng_float(uint64_t *s) { return (float)((rng_next(s) >> 40) * (1.0 / (1 << 23))) - 1.0f; }

static float *random_matrix(size_t n, uint64_t *s) {
    float *m = malloc(n * sizeof(float));
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) m[i] = rng_float(s);
    return m;
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Every output of y (M rows, stride ldy, columns [n0, n1)) equals the
 * scalar reference order on the same x row and w row, bit for bit. */
static void check_against_ref(const float *x, int M, int K, const float *w, int n0, int n1, const float *bias,
                              const float *y, int ldy, const char *what) {
    for (int m = 0; m < M; m++)
        for (int n = n0; n < n1; n++) {
            float ref = mm_dot_ref(x + (size_t)m * K, w + (size_t)n * K, K);
            if (bias) ref += bias[n];
            float got = y[(size_t)m * ldy + n];
            if (!same_bits(got, ref))
                fail_msg("%s: K=%d M=%d row %d col %d: %a != reference %a", what, K, M, m, n, (double)got,
                         (double)ref);
        }
}

/* M = 1..67 rows starting at rows 0..3 of a 70-row x: every row of every
 * batch, at every row of the batch, has the bits of that row computed
 * alone (M = 1), which are those of the scalar reference. */
static void test_rows_invariant_to_batch(void **state) {
    (void)state;
    uint64_t s = 0x1234567u;
    for (int ki = 0; ki < N_KS; ki++)
        for (int ni = 0; ni < N_NS; ni++) {
            int K = KS[ki], N = NS[ni], rows = MAX_M + 3;
            float *x = random_matrix((size_t)rows * K, &s), *w = random_matrix((size_t)N * K, &s);
            float *alone = malloc((size_t)rows * N * sizeof(float)), *y = malloc((size_t)MAX_M * N * sizeof(float));
            for (int r = 0; r < rows; r++) mm_rows(x + (size_t)r * K, 1, K, w, 0, N, NULL, alone + (size_t)r * N, N);
            check_against_ref(x, rows, K, w, 0, N, NULL, alone, N, "alone");
            for (int M = 1; M <= MAX_M; M++) {
                /* big products: fewer starting rows, so the test stays quick */
                int starts = (size_t)K * N > 100000 ? (M % 4 == 1 ? 2 : 1) : 4;
                for (int st = 0; st < starts; st++) {
                    int r0 = (st + M) % 4;
                    mm_rows(x + (size_t)r0 * K, M, K, w, 0, N, NULL, y, N);
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++)
                            if (!same_bits(y[(size_t)m * N + n], alone[(size_t)(r0 + m) * N + n]))
                                fail_msg("K=%d N=%d M=%d: row %d (x row %d) col %d differs from the row alone", K,
                                         N, M, m, r0 + m, n);
                }
            }
            free(x);
            free(w);
            free(alone);
            free(y);
        }
}

/* The columns split at several points (as threads split them): every piece
 * gives the reference bits, and the pieces together cover y. */
static void test_column_splits_do_not_matter(void **state) {
    (void)state;
    uint64_t s = 0xfeedu;
    const int Ms[] = {1, 2, 5, 13, 64};
    for (int ki = 0; ki < N_KS; ki++) {
        int K = KS[ki], N = 256;
        float *x = random_matrix((size_t)64 * K, &s), *w = random_matrix((size_t)N * K, &s);
        float *y = malloc((size_t)64 * N * sizeof(float)), *whole = malloc((size_t)64 * N * sizeof(float));
        mm_rows(x, 64, K, w, 0, N, NULL, whole, N);
        check_against_ref(x, 64, K, w, 0, N, NULL, whole, N, "whole");
        const int cuts[][3] = {{1, 2, 3}, {5, 100, 101}, {31, 128, 250}, {85, 170, 255}};
        for (int mi = 0; mi < 5; mi++)
            for (int c = 0; c < 4; c++) {
                int M = Ms[mi], edges[5] = {0, cuts[c][0], cuts[c][1], cuts[c][2], N};
                memset(y, 0xff, (size_t)64 * N * sizeof(float)); /* NaN: anything unwritten fails */
                for (int p = 0; p < 4; p++) mm_rows(x, M, K, w, edges[p], edges[p + 1], NULL, y, N);
                for (int i = 0; i < M * N; i++)
                    if (!same_bits(y[i], whole[i]))
                        fail_msg("K=%d M=%d cuts %d/%d/%d: row %d col %d differs", K, M, cuts[c][0], cuts[c][1],
                                 cuts[c][2], i / N, i % N);
            }
        free(x);
        free(w);
        free(y);
        free(whole);
    }
}

/* |y - exact| against the bound of 8-lane FMA accumulation: each lane
 * sums about K/8 terms in order, then 3 tree additions, so the error is
 * at most (K/8 + 4) u sum |x_k w_k| (u = 2^-24), first order. */
static void test_accuracy_against_double(void **state) {
    (void)state;
    uint64_t s = 0xacc0u;
    for (int ki = 0; ki < N_KS; ki++) {
        int K = KS[ki], M = 9, N = 17;
        float *x = random_matrix((size_t)M * K, &s), *w = random_matrix((size_t)N * K, &s);
        float *y = malloc((size_t)M * N * sizeof(float));
        mm_rows(x, M, K, w, 0, N, NULL, y, N);
        double worst = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double exact = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    double p = (double)x[(size_t)m * K + k] * w[(size_t)n * K + k];
                    exact += p;
                    mag += fabs(p);
                }
                double err = fabs(y[(size_t)m * N + n] - exact), bound = (K / 8.0 + 4) * 0x1p-24 * mag;
                if (err > bound) fail_msg("K=%d (%d,%d): error %.3g > bound %.3g", K, m, n, err, bound);
                if (mag > 0 && err / mag > worst) worst = err / mag;
            }
        print_message("# K=%d: worst error / sum|xw| = %.2e\n", K, worst);
        free(x);
        free(w);
        free(y);
    }
}

/* bias is added after the sum (reference + bias[n]), y rows may be longer
 * than N, and columns outside [n0, n1) are left alone. */
static void test_bias_stride_and_untouched_columns(void **state) {
    (void)state;
    uint64_t s = 0xb1a5u;
    const int Ms[] = {1, 4, 7};
    for (int ki = 0; ki < N_KS; ki++)
        for (int mi = 0; mi < 3; mi++) {
            int K = KS[ki], M = Ms[mi], N = 17, ldy = 23, n0 = 3, n1 = 14;
            float *x = random_matrix((size_t)M * K, &s), *w = random_matrix((size_t)N * K, &s);
            float *bias = random_matrix((size_t)N, &s), *y = malloc((size_t)M * ldy * sizeof(float));
            for (int i = 0; i < M * ldy; i++) y[i] = -7.0f;
            mm_rows(x, M, K, w, n0, n1, bias, y, ldy);
            check_against_ref(x, M, K, w, n0, n1, bias, y, ldy, "bias");
            for (int m = 0; m < M; m++)
                for (int n = 0; n < ldy; n++)
                    if (n < n0 || n >= n1) assert_true(y[(size_t)m * ldy + n] == -7.0f);
            mm_rows(x, M, K, w, 5, 5, bias, y, ldy); /* empty range: nothing happens */
            mm_rows(x, 0, K, w, 0, N, bias, y, ldy);
            free(x);
            free(w);
            free(bias);
            free(y);
        }
}

/* ---- packed weights ---------------------------------------------------------------- */

/* Where matmul.h says element (n, k) of a packed (N, K) matrix lives. */
static size_t packed_at(int N, int K, int n, int k) {
    size_t Kp = ((size_t)K + 7) / 8 * 8;
    int p0 = n / MM_PANEL * MM_PANEL, W = N - p0 < MM_PANEL ? N - p0 : MM_PANEL;
    return (size_t)p0 * Kp + (size_t)(k / 8) * W * 8 + (size_t)(n - p0) * 8 + k % 8;
}

/* mm_pack puts every element where the layout says, pads with zeros,
 * packs in place exactly as out of place, and mm_unpack_rows gives back
 * any row range. */
static void test_pack_layout(void **state) {
    (void)state;
    uint64_t s = 0x9ac4u;
    const int Ns[] = {1, 2, 3, 4, 7, 17, 48, 50};
    for (int ki = 0; ki < N_KS; ki++)
        for (int ni = 0; ni < 8; ni++) {
            int K = KS[ki], N = Ns[ni];
            size_t size = mm_packed_size(N, K), Kp = ((size_t)K + 7) / 8 * 8;
            assert_int_equal(size, (size_t)N * Kp);
            float *w = random_matrix((size_t)N * K, &s), *wp = malloc(size * sizeof(float));
            memset(wp, 0xff, size * sizeof(float)); /* NaN: anything unwritten shows */
            assert_true(mm_pack(w, N, K, wp));
            for (int n = 0; n < N; n++)
                for (size_t k = 0; k < Kp; k++) {
                    float want = k < (size_t)K ? w[(size_t)n * K + k] : 0.0f;
                    if (!same_bits(wp[packed_at(N, K, n, (int)k)], want)) fail_msg("K=%d N=%d (%d,%zu)", K, N, n, k);
                }
            if (K % 8 == 0) { /* in place: the same floats */
                float *ip = malloc((size_t)N * K * sizeof(float));
                memcpy(ip, w, (size_t)N * K * sizeof(float));
                assert_true(mm_pack(ip, N, K, ip));
                assert_memory_equal(ip, wp, size * sizeof(float));
                free(ip);
            } else {
                assert_false(mm_pack(w, N, K, w)); /* sizes differ: refused, w untouched */
            }
            float *back = malloc((size_t)N * K * sizeof(float));
            for (int n0 = 0; n0 < N; n0 += 2) {
                int n1 = n0 + 5 < N ? n0 + 5 : N;
                mm_unpack_rows(wp, N, K, n0, n1, back);
                assert_memory_equal(back, w + (size_t)n0 * K, (size_t)(n1 - n0) * K * sizeof(float));
            }
            free(back);
            free(w);
            free(wp);
        }
}

/* mm_packed on packed weights gives the reference bits for one row (the
 * streaming kernel on whole aligned panels, tiles elsewhere) and for many,
 * on column ranges that cut panels anywhere; columns outside are left
 * alone. */
static void test_packed_matches_reference(void **state) {
    (void)state;
    uint64_t s = 0x7ac3u;
    const int Ms[] = {1, 2, 5, 64, 67};
    const int cuts[][2] = {{0, 256}, {0, 12}, {12, 240}, {1, 2}, {5, 101}, {13, 256}};
    for (int ki = 0; ki < N_KS; ki++) {
        int K = KS[ki], N = 256;
        float *x = random_matrix((size_t)67 * K, &s), *w = random_matrix((size_t)N * K, &s);
        float *bias = random_matrix((size_t)N, &s), *wp = malloc(mm_packed_size(N, K) * sizeof(float));
        float *y = malloc((size_t)67 * N * sizeof(float));
        assert_true(mm_pack(w, N, K, wp));
        for (int mi = 0; mi < 5; mi++)
            for (int c = 0; c < 6; c++) {
                int M = Ms[mi], n0 = cuts[c][0], n1 = cuts[c][1];
                if ((size_t)K * N * M > 20000000 && c > 2) continue; /* keeps the test quick */
                for (int i = 0; i < M * N; i++) y[i] = -7.0f;
                mm_packed(x, M, K, wp, N, n0, n1, c % 2 ? bias : NULL, y, N);
                check_against_ref(x, M, K, w, n0, n1, c % 2 ? bias : NULL, y, N, "packed");
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++)
                        if (n < n0 || n >= n1) assert_true(y[(size_t)m * N + n] == -7.0f);
            }
        free(x);
        free(w);
        free(bias);
        free(wp);
        free(y);
    }
}

/* Attention's products: mm_dots is mm_dot_ref on rows at any stride, and
 * mm_wsum is one fma per position in order (the plain loop below), whether
 * the positions come in one call or split over several (KV blocks). */
static void test_attention_kernels(void **state) {
    (void)state;
    uint64_t s = 0xa77u;
    const int Ks[] = {1, 7, 8, 18, 64, 72, 100, 128};
    for (int ki = 0; ki < 8; ki++)
        for (int n = 1; n <= 21; n += 4) {
            int K = Ks[ki];
            size_t ld = (size_t)K + 13;
            float *x = random_matrix((size_t)K, &s), *w = random_matrix((size_t)n * ld, &s);
            float *wt = random_matrix((size_t)n, &s), y[21];
            mm_dots(x, K, w, ld, n, y);
            for (int i = 0; i < n; i++)
                if (!same_bits(y[i], mm_dot_ref(x, w + i * ld, K))) fail_msg("mm_dots K=%d n=%d row %d", K, n, i);
            float *acc = malloc((size_t)K * sizeof(float)), *ref = malloc((size_t)K * sizeof(float));
            for (int k = 0; k < K; k++) acc[k] = ref[k] = rng_float(&s);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < K; k++) ref[k] = fmaf(wt[i], w[i * ld + k], ref[k]);
            int cut = n / 3;
            mm_wsum(wt, cut, w, ld, K, acc);
            mm_wsum(wt + cut, n - cut, w + cut * ld, ld, K, acc);
            for (int k = 0; k < K; k++)
                if (!same_bits(acc[k], ref[k])) fail_msg("mm_wsum K=%d n=%d element %d", K, n, k);
            free(x);
            free(w);
            free(wt);
            free(acc);
            free(ref);
        }
}

/* ---- vmath ----------------------------------------------------------------------- */

static int64_t ulp_order(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : i;
}

static void test_expf_accuracy(void **state) {
    (void)state;
    int64_t worst = 0;
    float at = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -105.0f + 195.0f * (float)i / 2000000.0f;
        float got = vm_expf(x), want = (float)exp((double)x);
        int64_t d = llabs(ulp_order(got) - ulp_order(want));
        if (d > worst) { worst = d; at = x; }
    }
    print_message("# vm_expf: worst %lld ulp at %g\n", (long long)worst, (double)at);
    assert_true(worst <= 1);
    assert_true(vm_expf(0.0f) == 1.0f);
    assert_true(vm_expf(-INFINITY) == 0.0f);
    assert_true(isinf(vm_expf(INFINITY)) && isinf(vm_expf(89.0f)));
    assert_true(vm_expf(-200.0f) == 0.0f);
    assert_true(isnan(vm_expf(NAN)));
}

/* Each element of vm_swiglu's output equals the scalar formula on that
 * element, whatever its index (vector lane or scalar tail). */
static void test_swiglu_lane_invariant(void **state) {
    (void)state;
    uint64_t s = 0x5e1u;
    enum { N = 301 };
    float g[N], u[N], ref[N];
    for (int i = 0; i < N; i++) {
        g[i] = 30.0f * rng_float(&s);
        u[i] = rng_float(&s);
        ref[i] = g[i] / (1.0f + vm_expf(-g[i])) * u[i];
    }
    for (int off = 0; off < 9; off++) {
        float out[N];
        memcpy(out, g, sizeof out);
        vm_swiglu(out + off, u + off, N - off);
        for (int i = off; i < N; i++)
            if (!same_bits(out[i], ref[i])) fail_msg("offset %d element %d: %a != %a", off, i, out[i], ref[i]);
        double silu = g[17] / (1.0 + exp(-(double)g[17])) * u[17];
        assert_true(fabs(out[17] - silu) <= 1e-6 * fabs(silu) + 1e-30);
    }
}

/* vm_gelu, vm_geglu and vm_softcap: each element equals the scalar
 * formula on that element at any index (lane or tail), and the formulas
 * are close to double-precision GELU (tanh form) and tanh. */
static void test_gelu_softcap_lane_invariant(void **state) {
    (void)state;
    uint64_t s = 0x9e1u;
    enum { N = 301 };
    float x[N], u[N];
    for (int i = 0; i < N; i++) {
        x[i] = 12.0f * rng_float(&s);
        u[i] = rng_float(&s);
    }
    x[5] = 0.0f;
    x[6] = -0.0f;
    x[7] = 1e-30f;
    x[8] = -90.0f;
    for (int off = 0; off < 9; off++) {
        float g[N], gg[N], sc[N];
        memcpy(g, x, sizeof g);
        memcpy(gg, x, sizeof gg);
        memcpy(sc, x, sizeof sc);
        vm_gelu(g + off, N - off);
        vm_geglu(gg + off, u + off, N - off);
        vm_softcap(sc + off, N - off, 5.0f);
        for (int i = off; i < N; i++) {
            float want = vm_gelu_tanh1(x[i]);
            if (!same_bits(g[i], want)) fail_msg("gelu offset %d element %d: %a != %a", off, i, g[i], want);
            if (!same_bits(gg[i], want * u[i])) fail_msg("geglu offset %d element %d", off, i);
            float cap = 5.0f * vm_tanh1(x[i] * (1.0f / 5.0f));
            if (!same_bits(sc[i], cap)) fail_msg("softcap offset %d element %d: %a != %a", off, i, sc[i], cap);
        }
    }
    for (int i = 0; i < N; i++) {
        double xd = x[i], gd = 0.5 * xd * (1 + tanh(sqrt(2 / M_PI) * (xd + 0.044715 * xd * xd * xd)));
        /* for x << 0 the f32 rounding of u is amplified by e^(-2u): a few
         * ulp of |gelu| < 1e-6, far below llama.cpp's fp16 table's 5e-4 */
        if (fabs(vm_gelu_tanh1(x[i]) - gd) > 1e-6 * fabs(gd) + 1e-9)
            fail_msg("gelu(%a) = %a, double %a", x[i], vm_gelu_tanh1(x[i]), gd);
        double td = tanh(xd / 5);
        if (fabs(vm_tanh1(x[i] / 5) - td) > 2e-7) fail_msg("tanh(%a) = %a, double %a", x[i] / 5, vm_tanh1(x[i] / 5), td);
    }
}

/* vm_exp_sum: each element becomes vm_expf(s - mx), and the sum is element
 * i into lane i % 8 in order, then the fixed tree — computed here by that
 * description, for lengths that end in the vector loop and in the tail. */
static void test_exp_sum_order(void **state) {
    (void)state;
    uint64_t s = 0xe5u;
    for (int n = 1; n <= 41; n++) {
        float v[41], got[41], lane[8] = {0};
        for (int i = 0; i < n; i++) v[i] = 10.0f * rng_float(&s);
        memcpy(got, v, sizeof v);
        float sum = vm_exp_sum(got, (size_t)n, 3.5f);
        for (int i = 0; i < n; i++) {
            float e = vm_expf(v[i] - 3.5f);
            if (!same_bits(got[i], e)) fail_msg("n=%d element %d", n, i);
            lane[i % 8] += e;
        }
        float want = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
        if (!same_bits(sum, want)) fail_msg("n=%d: sum %a != %a", n, (double)sum, (double)want);
    }
}

/* ---- the forward pass ---------------------------------------------------------- */

typedef struct {
    model *m;
    int vocab;
} fwd_fixture;

/* *state = a fixture holding model c (vocabulary: stories260K's), written
 * to a scratch GGUF and loaded; -1 if that fails. */
static int fwd_open(void **state, synth_config c) {
    fwd_fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN] = "";
    char *dir = tu_mkdtemp(), *path = NULL, *vocab = tu_model_path("stories260K.gguf");
    c.vocab_gguf = vocab;
    bool ok = asprintf(&path, "%s/inv.gguf", dir) >= 0 && synth_write_gguf(&c, path, err) &&
              (fx->m = model_load(path, err)) != NULL;
    if (!ok) print_error("%s\n", err);
    if (ok) printf("# model: matrices %s, kernels %s\n", fx->m->dtype, wm_kernel_name(wm_kernels()));
    tu_rmrf(dir);
    free(dir);
    free(path);
    free(vocab);
    fx->vocab = ok ? fx->m->cfg.vocab : 0;
    *state = fx;
    return ok ? 0 : -1;
}

/* A seeded qwen2 (q/k/v biases) whose dimensions are not multiples of 8,
 * so every product runs the zero-padded last chunk. */
static int fwd_setup(void **state) {
    synth_config c = synth_default();
    c.arch = "qwen2";
    c.dim = 76;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 18;
    c.ffn_dim = 203;
    c.seed = 77;
    return fwd_open(state, c);
}

/* The same forward-pass checks on block-quantized weights: a llama with
 * K-quant rows (dim 256) in llama-quantize's Q4_K_M mix (Q4_K, Q6_K
 * output and some attn_v/ffn_down), so one step's batch runs the int8
 * kernels at M = 1 (VNNI) and at M >= 4 (AMX tiles where the CPU has them)
 * and must give every token the same bits either way. */
static int fwd_setup_q4_k_m(void **state) {
    synth_config c = synth_default();
    c.dim = 256;
    c.n_layers = 8; /* llama's use_more_bits puts Q6_K in layers 0, 2, 5, 7 */
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.ffn_dim = 512;
    c.weight_type = DT_Q4_K;
    c.llama_mix = true;
    c.seed = 78;
    return fwd_open(state, c);
}

/* Architectures other than llama's decoder (../shared/models/synth/arch):
 * gemma2 (sliding window 16 on even layers, soft-capping, post norms,
 * GeGLU), gptneox (LayerNorm, parallel residual, partial rotary, fused
 * qkv, biases, GELU) and bloom (ALiBi with 6 heads, embedding norm). */
static int fwd_open_file(void **state, const char *rel) {
    fwd_fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN] = "", *path = tu_model_path(rel);
    fx->m = model_load(path, err);
    if (!fx->m) print_error("%s: %s\n", path, err);
    free(path);
    fx->vocab = fx->m ? fx->m->cfg.vocab : 0;
    *state = fx;
    return fx->m ? 0 : -1;
}
static int fwd_setup_gemma2(void **state) { return fwd_open_file(state, "synth/arch/gemma2.gguf"); }
static int fwd_setup_gptneox(void **state) { return fwd_open_file(state, "synth/arch/gptneox.gguf"); }
static int fwd_setup_bloom(void **state) { return fwd_open_file(state, "synth/arch/bloom.gguf"); }

static int fwd_teardown(void **state) {
    fwd_fixture *fx = *state;
    model_free(fx->m);
    free(fx);
    return 0;
}

enum { N_SEQ = 3, SEQ_LEN = 24, MAX_T = 64 };

/* One batch entry: token i of sequence s. */
typedef struct {
    int seq, i;
} slot;

/* Runs the schedule (a list of batches, each a list of slots) on a fresh
 * cache with a pool of n_threads; logits of token i of sequence s land in
 * out[(s * SEQ_LEN + i) * vocab]. */
static void run_schedule(const fwd_fixture *fx, int n_threads, const int32_t ids[N_SEQ][SEQ_LEN],
                         const slot *slots, const int *batch_len, int n_batches, float *out) {
    const model_config *c = &fx->m->cfg;
    pool *p = pool_create(n_threads, 0);
    fwd_ctx *f = fwd_create(fx->m, p, MAX_T);
    kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 4, N_SEQ * SEQ_LEN / 4, KV_F32, false);
    assert_true(p && f && kv);
    kv_seq seqs[N_SEQ];
    const kv_seq *seqp[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        kv_seq_init(&seqs[s]);
        seqp[s] = &seqs[s];
    }
    float *logits = malloc((size_t)MAX_T * fx->vocab * sizeof(float));
    int32_t tok[MAX_T];
    int pos[MAX_T], seq[MAX_T];
    for (int b = 0, at = 0; b < n_batches; at += batch_len[b], b++) {
        for (int t = 0; t < batch_len[b]; t++) {
            const slot *sl = &slots[at + t];
            tok[t] = ids[sl->seq][sl->i];
            pos[t] = sl->i;
            seq[t] = sl->seq;
            assert_true(kv_seq_reserve(kv, &seqs[sl->seq], sl->i + 1));
        }
        fwd_batch fb = {.tokens = tok, .pos = pos, .seq = seq, .seqs = seqp, .n = batch_len[b]};
        assert_true(fwd_eval(f, kv_pool_store(kv), &fb, logits));
        for (int t = 0; t < batch_len[b]; t++) {
            const slot *sl = &slots[at + t];
            memcpy(out + ((size_t)sl->seq * SEQ_LEN + sl->i) * fx->vocab, logits + (size_t)t * fx->vocab,
                   (size_t)fx->vocab * sizeof(float));
        }
    }
    for (int s = 0; s < N_SEQ; s++) kv_seq_release(kv, &seqs[s]);
    free(logits);
    kv_pool_free(kv);
    fwd_free(f);
    pool_free(p);
}

static void assert_same_logits(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) fail_msg("%s: logit %zu differs: %a vs %a", what, i, (double)a[i], (double)b[i]);
}

/* Rounds of batches: each round takes up to chunk[q] next tokens of
 * every sequence q, interleaving the sequences token by token (starting
 * with a different sequence each round).  Returns the number of batches. */
static int build_rounds(const int chunk[N_SEQ], slot *slots, int *lens) {
    int done[N_SEQ] = {0}, n = 0, nb = 0, most = 0;
    for (int q = 0; q < N_SEQ; q++)
        if (chunk[q] > most) most = chunk[q];
    while (done[0] < SEQ_LEN || done[1] < SEQ_LEN || done[2] < SEQ_LEN) {
        int start = n;
        for (int k = 0; k < most; k++)
            for (int r = 0; r < N_SEQ; r++) {
                int q = (nb + r) % N_SEQ;
                if (k < chunk[q] && done[q] < SEQ_LEN) slots[n++] = (slot){q, done[q]++};
            }
        lens[nb++] = n - start;
    }
    return nb;
}

/* Reference: each sequence alone, its whole prompt in one call.  Then:
 * every token alone (M = 1, the decode path); all three sequences in
 * chunks interleaved in one batch per round; and everything again on 1 and
 * 3 threads (other column splits).  Every logit must keep its bits. */
static void test_forward_batch_invariant(void **state) {
    fwd_fixture *fx = *state;
    int32_t ids[N_SEQ][SEQ_LEN];
    uint64_t s = 0x70c5u;
    for (int q = 0; q < N_SEQ; q++)
        for (int i = 0; i < SEQ_LEN; i++) ids[q][i] = (int32_t)(rng_next(&s) % (uint64_t)fx->vocab);
    size_t total = (size_t)N_SEQ * SEQ_LEN * fx->vocab;
    float *ref = malloc(total * sizeof(float)), *got = malloc(total * sizeof(float));
    slot slots[N_SEQ * SEQ_LEN];
    int lens[N_SEQ * SEQ_LEN], n = 0, nb = 0;

    for (int q = 0; q < N_SEQ; q++, nb++) { /* each sequence alone, one call */
        for (int i = 0; i < SEQ_LEN; i++) slots[n++] = (slot){q, i};
        lens[nb] = SEQ_LEN;
    }
    run_schedule(fx, 2, ids, slots, lens, nb, ref);

    n = nb = 0; /* one token per call */
    for (int q = 0; q < N_SEQ; q++)
        for (int i = 0; i < SEQ_LEN; i++, nb++) {
            slots[n++] = (slot){q, i};
            lens[nb] = 1;
        }
    run_schedule(fx, 2, ids, slots, lens, nb, got);
    assert_same_logits(ref, got, total, "one token per call");

    /* rounds in which sequence q contributes chunk[q] tokens, interleaved,
     * so a token sits at a different row each time; {24, 24, 16} makes a
     * first round of 64 rows */
    const int chunks[2][N_SEQ] = {{5, 1, 3}, {24, 24, 16}};
    for (int c = 0; c < 2; c++) {
        nb = build_rounds(chunks[c], slots, lens);
        for (int threads = 1; threads <= 2; threads++) {
            memset(got, 0, total * sizeof(float));
            run_schedule(fx, threads, ids, slots, lens, nb, got);
            char what[64];
            snprintf(what, sizeof what, "chunks %d/%d/%d, %d threads", chunks[c][0], chunks[c][1], chunks[c][2],
                     threads);
            assert_same_logits(ref, got, total, what);
        }
    }
    free(ref);
    free(got);
}

int main(void) {
    const struct CMUnitTest kernel[] = {
        cmocka_unit_test(test_rows_invariant_to_batch),
        cmocka_unit_test(test_column_splits_do_not_matter),
        cmocka_unit_test(test_accuracy_against_double),
        cmocka_unit_test(test_bias_stride_and_untouched_columns),
        cmocka_unit_test(test_expf_accuracy),
        cmocka_unit_test(test_swiglu_lane_invariant),
        cmocka_unit_test(test_gelu_softcap_lane_invariant),
        cmocka_unit_test(test_pack_layout),
        cmocka_unit_test(test_packed_matches_reference),
        cmocka_unit_test(test_attention_kernels),
        cmocka_unit_test(test_exp_sum_order),
    };
    const struct CMUnitTest forward[] = {
        cmocka_unit_test(test_forward_batch_invariant),
    };
    int failed = cmocka_run_group_tests_name("matmul", kernel, NULL, NULL);
    failed += cmocka_run_group_tests_name("matmul_forward", forward, fwd_setup, fwd_teardown);
    failed += cmocka_run_group_tests_name("matmul_forward_q4_k_m", forward, fwd_setup_q4_k_m, fwd_teardown);
    failed += cmocka_run_group_tests_name("matmul_forward_gemma2", forward, fwd_setup_gemma2, fwd_teardown);
    failed += cmocka_run_group_tests_name("matmul_forward_gptneox", forward, fwd_setup_gptneox, fwd_teardown);
    failed += cmocka_run_group_tests_name("matmul_forward_bloom", forward, fwd_setup_bloom, fwd_teardown);
    return failed;
}
