/*
 * wmat_test.c — typed weight products (engine/kernels/wmat.h).
 *
 *   - every kernel set this CPU runs (portable, AVX2, AVX-512 VNNI) gives
 *     the same bits as the portable code, for every supported type, at
 *     every row of batches of 1..9 rows, for any split of the groups, with
 *     N not a multiple of 16 and with a row permutation;
 *   - a row's output does not depend on the batch around it;
 *   - the same for prefill-sized batches (several AMX passes and staged
 *     chunks) and for blocks at the formats' extremes (the largest integer
 *     sums, which the vector sets compute in f32);
 *   - accuracy: against a double-precision dot product of the exactly
 *     dequantized weights (dt_to_f32 of the file's blocks) with the
 *     quantized activations (q * d), the only difference is float
 *     rounding (relative 1e-5);
 *   - the activation quantizer: every set the same bits, within half a
 *     step of x, sums right;
 *   - sizes: the packed form is the file's bytes (+ the documented scale
 *     unpacking for Q3_K/Q4_K/Q5_K).
 * Weights are random bytes (every byte pattern is a valid block) with the
 * f16 scale fields set to sane values.
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

#include "kernels/wmat.h"
#include "kernels/wmat_internal.h"
#include "model/dtype.h"
#include "support/testutil.h"

static const uint32_t TYPES[] = {DT_F16,  DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1,
                                 DT_Q2_K, DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_IQ4_NL};
enum { N_TYPES = sizeof TYPES / sizeof TYPES[0], MAX_M = 21 };

/* Byte offsets of the f16 scale fields in one file block (-1: none). */
static void scale_fields(uint32_t type, int f[2]) {
    f[0] = 0;
    f[1] = -1;
    switch (type) {
    case DT_Q4_1: case DT_Q5_1: case DT_Q4_K: case DT_Q5_K: f[1] = 2; break;
    case DT_Q2_K: f[0] = 80; f[1] = 82; break;
    case DT_Q3_K: f[0] = 108; break;
    case DT_Q6_K: f[0] = 208; break;
    default: break;
    }
}

static float frand(uint64_t *s) { return (float)(tu_rnd(s) >> 40) / (float)(1 << 24) * 2.0f - 1.0f; }

/* N rows of K weights of `type` in file layout (malloc'd). */
static uint8_t *random_rows(uint32_t type, int N, int K, uint64_t *rng, size_t *row_bytes) {
    uint64_t rb = 0;
    assert_true(dt_bytes(type, (uint64_t)K, &rb));
    uint8_t *w = malloc(rb * N);
    assert_non_null(w);
    for (size_t i = 0; i < rb * N; i++) w[i] = (uint8_t)tu_rnd(rng);
    uint32_t qk = dt_block_elems(type), bb = dt_block_bytes(type);
    for (size_t blk = 0; blk < rb * N / bb; blk++) {
        uint8_t *p = w + blk * bb;
        if (qk == 1) { /* a half value in [-1, 1) */
            uint16_t h = type == DT_BF16 ? dt_f32_to_bf16(frand(rng)) : dt_f32_to_f16(frand(rng));
            memcpy(p, &h, 2);
            continue;
        }
        int f[2];
        scale_fields(type, f);
        for (int i = 0; i < 2; i++)
            if (f[i] >= 0) {
                uint16_t h = dt_f32_to_f16(0.001f + 0.02f * fabsf(frand(rng)));
                memcpy(p + f[i], &h, 2);
            }
    }
    *row_bytes = rb;
    return w;
}

typedef struct {
    uint32_t type;
    int N, K;
    uint8_t *file;   /* (N, row_bytes) */
    size_t row_bytes;
    uint8_t *packed;
    wmat w;
    int M;           /* rows of x */
    float *x;        /* (M, K) */
    void *abuf;
    wm_act a;
} fixture;

static void fixture_make_rows(fixture *f, uint32_t type, int N, int K, uint64_t seed, const int *row_map, int M) {
    uint64_t rng = seed;
    f->M = M;
    f->type = type;
    f->N = N;
    f->K = K;
    f->file = random_rows(type, N, K, &rng, &f->row_bytes);
    size_t bytes = wmat_bytes(type, N, K);
    assert_true(bytes > 0);
    f->packed = malloc(bytes);
    assert_non_null(f->packed);
    wmat_pack(type, N, K, f->file, row_map, f->packed);
    f->w = (wmat){type, N, K, f->packed};
    f->x = malloc((size_t)M * K * sizeof(float));
    for (int i = 0; i < M * K; i++) f->x[i] = frand(&rng) * (i % 7 == 0 ? 4.0f : 1.0f);
    f->abuf = malloc(wm_act_bytes(M, K));
    wm_act_init(&f->a, f->abuf, M, K);
    if (wmat_quantized(type)) wm_act_quantize(&f->a, f->x, 0, M);
}

static void fixture_make(fixture *f, uint32_t type, int N, int K, uint64_t seed, const int *row_map) {
    fixture_make_rows(f, type, N, K, seed, row_map, MAX_M);
}

static void fixture_free(fixture *f) {
    free(f->file);
    free(f->packed);
    free(f->x);
    free(f->abuf);
}

/* y (M, N) with set k; rows of x/a starting at m0 (a view of the fixture's). */
static void product(const fixture *f, wm_kernel_set k, int m0, int M, int g0, int g1, float *y) {
    wm_act a = f->a;
    a.q += (size_t)m0 * f->K;
    a.d += (size_t)m0 * (f->K / 32);
    a.s += (size_t)m0 * (f->K / 16);
    wm_matmul_with(k, &f->w, f->x + (size_t)m0 * f->K, &a, M, g0, g1, NULL, y, f->N);
}

static const int SHAPES[][2] = {{16, 256}, {40, 512}, {7, 256}, {33, 768}};

static void test_sets_agree_bitwise(void **state) {
    int checked = 0;
    for (int t = 0; t < N_TYPES; t++)
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
            fixture f;
            fixture_make(&f, TYPES[t], SHAPES[s][0], SHAPES[s][1], 1000 + t * 10 + s, NULL);
            int G = wm_groups(f.N);
            float *ref = calloc((size_t)MAX_M * f.N, sizeof(float)), *y = calloc((size_t)MAX_M * f.N, sizeof(float));
            product(&f, WM_PORTABLE, 0, MAX_M, 0, G, ref);
            for (int k = 0; k < WM_N_KERNELS; k++) {
                if (!wm_kernel_available((wm_kernel_set)k)) continue;
                for (int M = 1; M <= MAX_M; M += 2) /* the whole batch at once, M rows at a time */
                    for (int m0 = 0; m0 < MAX_M; m0 += M) {
                        int mm = MAX_M - m0 < M ? MAX_M - m0 : M;
                        for (int g = 0; g < G; g++) /* one group at a time: any split */
                            product(&f, (wm_kernel_set)k, m0, mm, g, g + 1, y + (size_t)m0 * f.N);
                    }
                if (memcmp(ref, y, (size_t)MAX_M * f.N * sizeof(float)) != 0) {
                    for (int i = 0; i < MAX_M * f.N; i++)
                        if (ref[i] != y[i])
                            fail_msg("%s %dx%d set %s: y[%d] = %.9g, portable %.9g", dt_name(f.type), f.N, f.K,
                                     wm_kernel_name((wm_kernel_set)k), i, y[i], ref[i]);
                }
                checked++;
            }
            free(ref);
            free(y);
            fixture_free(&f);
        }
    assert_true(checked >= N_TYPES * 4);
}

/* y (M, N) of every available set against the portable code's, whole
 * batch in one call over all groups; fails naming the first difference. */
static void sets_agree(const fixture *f, int M, const char *what) {
    int G = wm_groups(f->N);
    float *ref = calloc((size_t)M * f->N, sizeof(float)), *y = calloc((size_t)M * f->N, sizeof(float));
    product(f, WM_PORTABLE, 0, M, 0, G, ref);
    for (int k = WM_PORTABLE + 1; k < WM_N_KERNELS; k++) {
        if (!wm_kernel_available((wm_kernel_set)k)) continue;
        memset(y, 0, (size_t)M * f->N * sizeof(float));
        product(f, (wm_kernel_set)k, 0, M, 0, G, y);
        for (int i = 0; i < M * f->N; i++)
            if (memcmp(&ref[i], &y[i], sizeof(float)) != 0)
                fail_msg("%s %s %dx%d M=%d set %s: y[%d] = %.9g, portable %.9g", what, dt_name(f->type), f->N, f->K,
                         M, wm_kernel_name((wm_kernel_set)k), i, y[i], ref[i]);
    }
    free(ref);
    free(y);
}

/* Prefill-sized batches: the AMX set stages chunks of 32 blocks and runs
 * 128-row passes (wmat_avx512.c), so K spans several chunks (1280 = 40
 * blocks) and M several passes plus a ragged tile (150). */
static void test_long_batches_agree(void **state) {
    static const int Ms[] = {33, 48, 150};
    for (int t = 0; t < N_TYPES; t++) {
        fixture f;
        fixture_make_rows(&f, TYPES[t], 40, 1280, 4000 + t, NULL, 150);
        for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++) sets_agree(&f, Ms[i], "long batch");
        fixture_free(&f);
    }
}

/* Blocks whose integer sums are the largest the formats allow (the AVX-512
 * and AMX sets compute I and M in f32, exact only below 2^24): every quant
 * and integer scale at its extreme — Q6_K's quants 0 (q - 32 = -32) under
 * scales -128, the others' bytes all 0xFF (Q8_0: also 0x80 = -128) — with
 * every activation at +-127. */
static void make_extreme(fixture *f, uint8_t fill) {
    uint32_t bb = dt_block_bytes(f->type);
    for (size_t blk = 0; blk < f->row_bytes * f->N / bb; blk++) {
        uint8_t *p = f->file + blk * bb;
        memset(p, fill, bb);
        if (f->type == DT_Q6_K) {
            memset(p, 0, 192);         /* ql, qh: quants 0 */
            memset(p + 192, 0x80, 16); /* scales -128 */
        }
        int fs[2];
        scale_fields(f->type, fs);
        for (int i = 0; i < 2; i++)
            if (fs[i] >= 0) {
                uint16_t h = dt_f32_to_f16(0.01f);
                memcpy(p + fs[i], &h, 2);
            }
    }
    wmat_pack(f->type, f->N, f->K, f->file, NULL, f->packed);
}

static void test_extreme_blocks_agree(void **state) {
    for (int t = 0; t < N_TYPES; t++) {
        if (!wmat_quantized(TYPES[t])) continue;
        fixture f;
        fixture_make_rows(&f, TYPES[t], 16, 512, 9000 + t, NULL, 40);
        for (int sign = -1; sign <= 1; sign += 2) {
            for (int i = 0; i < f.M * f.K; i++) f.x[i] = (float)sign;
            wm_act_quantize(&f.a, f.x, 0, f.M);
            assert_int_equal(f.a.q[0], 127 * sign);
            for (int fill = 0; fill < 2; fill++) {
                make_extreme(&f, fill ? 0xFF : 0x80);
                sets_agree(&f, 1, "extreme");
                sets_agree(&f, f.M, "extreme");
            }
        }
        fixture_free(&f);
    }
}

/* Weights dequantized from the file's blocks, activations as quantized. */
static void test_accuracy_against_double(void **state) {
    for (int t = 0; t < N_TYPES; t++) {
        fixture f;
        fixture_make(&f, TYPES[t], 33, 512, 77 + t, NULL);
        if (!dt_convertible(f.type)) { /* dtype.c does not decode it (yet): nothing to compare with */
            fixture_free(&f);
            continue;
        }
        float *w = malloc((size_t)f.N * f.K * sizeof(float)), *y = malloc((size_t)MAX_M * f.N * sizeof(float));
        for (int n = 0; n < f.N; n++) assert_true(dt_to_f32(f.type, f.file + n * f.row_bytes, w + (size_t)n * f.K, f.K));
        product(&f, wm_kernels(), 0, MAX_M, 0, wm_groups(f.N), y);
        for (int m = 0; m < MAX_M; m++)
            for (int n = 0; n < f.N; n++) {
                double sum = 0, mag = 0;
                for (int k = 0; k < f.K; k++) {
                    double xv = wmat_quantized(f.type) ? (double)f.a.q[m * f.K + k] * f.a.d[m * (f.K / 32) + k / 32]
                                                       : (double)f.x[m * f.K + k];
                    sum += xv * w[(size_t)n * f.K + k];
                    mag += fabs(xv * w[(size_t)n * f.K + k]);
                }
                double err = fabs(y[m * f.N + n] - sum);
                if (err > 1e-5 * mag + 1e-30)
                    fail_msg("%s m %d n %d: %.9g vs double %.9g (|terms| %.3g)", dt_name(f.type), m, n,
                             y[m * f.N + n], sum, mag);
            }
        free(w);
        free(y);
        fixture_free(&f);
    }
}

/* F16/BF16 group blocks are one column's 16 values (zeros past the last
 * row), for any K: the packer transposes in tiles of 64 columns, so K = 100
 * ends in a partial tile and N = 21 in a partial group; the kernels then
 * agree with the portable set on that shape too. */
static void test_half_layout(void **state) {
    for (int t = 0; t < N_TYPES; t++) {
        if (wmat_quantized(TYPES[t])) continue;
        fixture f;
        fixture_make_rows(&f, TYPES[t], 21, 100, 31 + t, NULL, 3);
        for (int g = 0; g < wm_groups(f.N); g++)
            for (int k = 0; k < f.K; k++)
                for (int r = 0; r < WM_GROUP; r++) {
                    int n = g * WM_GROUP + r;
                    uint16_t want = 0, got;
                    if (n < f.N) memcpy(&want, f.file + (size_t)n * f.row_bytes + 2 * k, 2);
                    memcpy(&got, f.packed + (((size_t)g * f.K + k) * WM_GROUP + r) * 2, 2);
                    if (got != want) fail_msg("%s group %d column %d row %d: %#x, file %#x", dt_name(f.type), g, k, r, got, want);
                }
        sets_agree(&f, f.M, "half layout");
        fixture_free(&f);
    }
}

/* A permuted pack is the plain pack of permuted rows. */
static void test_row_map(void **state) {
    for (int t = 0; t < N_TYPES; t++) {
        int N = 24, K = 256, map[24];
        for (int n = 0; n < N; n++) map[n] = (n * 7 + 3) % N;
        fixture f;
        fixture_make(&f, TYPES[t], N, K, 5 + t, map);
        uint8_t *perm = malloc(f.row_bytes * N), *p2 = malloc(wmat_bytes(f.type, N, K));
        for (int n = 0; n < N; n++) memcpy(perm + n * f.row_bytes, f.file + map[n] * f.row_bytes, f.row_bytes);
        wmat_pack(f.type, N, K, perm, NULL, p2);
        assert_memory_equal(p2, f.packed, wmat_bytes(f.type, N, K));
        free(perm);
        free(p2);
        fixture_free(&f);
    }
}

static void test_activation_quantizer(void **state) {
    int K = 512, M = 5;
    uint64_t rng = 99;
    float *x = malloc((size_t)M * K * sizeof(float));
    for (int i = 0; i < M * K; i++) x[i] = frand(&rng) * (float)(1 + i % 5);
    for (int i = 0; i < 32; i++) x[64 + i] = 0.0f; /* an all-zero block */
    x[200] = 127.5f / 127.0f * 3.0f;                 /* ties and extremes */
    void *b0 = calloc(1, wm_act_bytes(M, K)), *b1 = calloc(1, wm_act_bytes(M, K));
    wm_act a0, a1;
    wm_act_init(&a0, b0, M, K);
    wm_act_init(&a1, b1, M, K);
    wm_act_quantize_portable(&a1, x, 0, M);
    if (wm_kernel_available(WM_AVX512)) { /* the vector quantizer: the same bits */
        wm_act_quantize_avx512(&a0, x, 0, M);
        assert_memory_equal(b0, b1, wm_act_bytes(M, K));
    }
    for (int m = 0; m < M; m++)
        for (int b = 0; b < K / 32; b++) {
            float d = a1.d[m * (K / 32) + b];
            int s[2] = {0, 0};
            for (int e = 0; e < 32; e++) {
                int q = a1.q[m * K + b * 32 + e];
                assert_true(q >= -127 && q <= 127);
                assert_true(fabsf(q * d - x[m * K + b * 32 + e]) <= 0.5001f * d + 1e-30f);
                s[e / 16] += q;
            }
            assert_int_equal(s[0], a1.s[m * (K / 16) + 2 * b]);
            assert_int_equal(s[1], a1.s[m * (K / 16) + 2 * b + 1]);
        }
    assert_true(a1.d[2] == 0.0f);
    free(x);
    free(b0);
    free(b1);
}

static void test_sizes(void **state) {
    for (int t = 0; t < N_TYPES; t++) {
        uint64_t rb = 0;
        assert_true(dt_bytes(TYPES[t], 4096, &rb));
        size_t file = rb * 4096, packed = wmat_bytes(TYPES[t], 4096, 4096);
        assert_int_equal(packed, file); /* the file's bytes, the K-quants' 6-bit scales still packed */
    }
    assert_int_equal(wmat_bytes(DT_Q4_K, 16, 128), 0); /* K not a multiple of 256 */
    assert_int_equal(wmat_bytes(DT_F32, 16, 128), 0);  /* not a wmat type */
    assert_int_equal(wmat_bytes(DT_Q8_0, 17, 64), 2 * 2 * 544);
}

int main(void) {
    printf("# kernel set of this CPU: %s\n", wm_kernel_name(wm_kernels()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_agree_bitwise),
        cmocka_unit_test(test_long_batches_agree),
        cmocka_unit_test(test_extreme_blocks_agree),
        cmocka_unit_test(test_accuracy_against_double),
        cmocka_unit_test(test_half_layout),
        cmocka_unit_test(test_row_map),
        cmocka_unit_test(test_activation_quantizer),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
