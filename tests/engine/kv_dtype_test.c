/*
 * kv_dtype_test.c — engine/kv: the KV cache's element types.
 *
 * f32 is exact; f16 and bf16 round to nearest even (checked in double
 * against the definition, ties built on purpose) and give back what they
 * hold, the F16C row path equals the scalar code value by value; q8_0 is
 * ggml's reference quantizer (ties away from zero, f16 scale) within its
 * error bound; names parse; a pool's bytes follow its type, so a byte
 * budget holds 2x the positions at f16/bf16 and 128/34 x at q8_0, and
 * q8_0 needs whole blocks per row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "model/dtype.h"
#include "support/testutil.h"

static void check_totals(const kv_pool *kv) {
    kv_stats st = kv_pool_stats(kv);
    assert_int_equal(st.free + st.used + st.cached, st.total);
    assert_true(kv_pool_check(kv));
}

static float rnd_value(uint64_t *s) { /* sign, 24 random bits, scale 2^-20 .. 2^15 */
    float m = (float)(tu_rnd(s) >> 40) / (float)(1 << 24);
    return ldexpf(tu_rnd_in(s, 0, 1) ? -m : m, tu_rnd_in(s, 0, 35) - 20);
}

/* y is the value of `bits` significand bits (implicit one included) nearest
 * to x, and on a tie the one with an even last bit: round to nearest even,
 * checked in double without the conversion code under test. */
static void check_nearest(float x, float y, int bits, const char *what) {
    if (x == 0.0f) {
        assert_true(y == 0.0f);
        return;
    }
    int e = ilogb(y != 0.0f ? y : x);
    double ulp = ldexp(1.0, e - (bits - 1)), units = (double)y / ulp, d = fabs((double)x - y);
    if (units != floor(units)) fail_msg("%s: %a is not representable", what, (double)y);
    if (d > ulp / 2) fail_msg("%s: %a -> %a is not the nearest", what, (double)x, (double)y);
    if (d == ulp / 2 && fmod(fabs(units), 2.0) != 0.0) fail_msg("%s: tie %a -> %a is not even", what, (double)x, (double)y);
}

/* f32 exact; f16 and bf16 round to nearest even (ties built on purpose),
 * values they hold come back unchanged, and a row converted at once (the
 * F16C path) equals one converted a value at a time (the scalar code). */
static void test_dtype_round_trip(void **st) {
    (void)st;
    enum { N = 37 };
    uint64_t r = 77;
    float x[N], y[N], one;
    uint8_t row[4 * N], single[4];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < N; i++) x[i] = rnd_value(&r);
        x[0] = 1.0f + 0x1p-11f;  /* f16 tie between 1 and 1 + 2^-10: to 1 */
        x[1] = 1.0f + 0x3p-11f;  /* f16 tie: up to 1 + 2^-9 */
        x[2] = 1.0f + 0x1p-8f;   /* bf16 tie between 1 and 1 + 2^-7: to 1 */
        x[3] = -(1.0f + 0x3p-8f); /* bf16 tie: up, away from 1 */
        for (kv_dtype t = KV_F32; t <= KV_BF16; t++) {
            kv_put(t, x, row, N);
            kv_get(t, row, y, N);
            for (int i = 0; i < N; i++) {
                kv_put(t, &x[i], single, 1);
                assert_memory_equal(single, row + kv_bytes(t, (size_t)i), kv_bytes(t, 1));
                kv_get(t, single, &one, 1);
                assert_memory_equal(&one, &y[i], sizeof one);
                if (t == KV_F32) assert_memory_equal(&x[i], &y[i], sizeof one);
                else if (t == KV_BF16) check_nearest(x[i], y[i], 8, "bf16");
                else if (fabsf(x[i]) >= 0x1p-14f) check_nearest(x[i], y[i], 11, "f16");
                else assert_true(fabsf(x[i] - y[i]) <= 0x1p-25f); /* f16 subnormal: fixed step 2^-24 */
            }
            float z[N]; /* what the type holds survives another trip */
            kv_put(t, y, row, N);
            kv_get(t, row, z, N);
            assert_memory_equal(y, z, sizeof y);
        }
    }
    assert_true(y[0] == 1.0f || y[0] == 0.0f);
}

/* ggml's reference quantize_row_q8_0_ref, written out from its definition:
 * d = max|x| / 127, q = roundf(x * (1 / d)) (ties away from zero), f16 d. */
static void q8_reference(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t h = dt_f32_to_f16(d);
    memcpy(b, &h, 2);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

static void test_dtype_q8_0(void **st) {
    (void)st;
    enum { N = 96 };
    uint64_t r = 5;
    float x[N], y[N];
    uint8_t row[N / 32 * 34], want[34];
    assert_int_equal(kv_bytes(KV_Q8_0, N), sizeof row);
    for (int round = 0; round < 300; round++) {
        /* blocks with max|x| within ~2^-5 .. 2^14: d = max/127 stays a normal
         * f16 (as in ggml, d beyond 65504 would overflow to inf, and a
         * subnormal d loses relative precision) */
        float scale = ldexpf(1.0f, tu_rnd_in(&r, 0, 9) - 10);
        for (int i = 0; i < N; i++) x[i] = rnd_value(&r) * scale;
        if (round == 0) memset(x + 32, 0, 32 * sizeof(float)); /* an all-zero block: d 0, q 0 */
        kv_put(KV_Q8_0, x, row, N);
        kv_get(KV_Q8_0, row, y, N);
        for (int blk = 0; blk < N / 32; blk++) {
            const float *xb = x + 32 * blk;
            q8_reference(xb, want);
            assert_memory_equal(row + 34 * blk, want, 34);
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
            /* half a step of d, plus 127 steps of d's f16 rounding */
            double bound = amax / 127.0 * (0.5 + 127 * 0x1p-11) * 1.0001;
            for (int j = 0; j < 32; j++)
                if (fabs((double)xb[j] - y[32 * blk + j]) > bound)
                    fail_msg("q8_0: %a -> %a, bound %a", (double)xb[j], (double)y[32 * blk + j], bound);
        }
    }
    /* d = 1 exactly: 2.5 and -2.5 round away from zero (3, -3), not to even */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.5f;
    kv_put(KV_Q8_0, x, row, 32);
    assert_int_equal((int8_t)row[2], 127);
    assert_int_equal((int8_t)row[3], 3);
    assert_int_equal((int8_t)row[4], -3);
    assert_int_equal((int8_t)row[5], 1);
    kv_get(KV_Q8_0, row, y, 32);
    assert_true(y[0] == 127.0f && y[1] == 3.0f && y[2] == -3.0f && y[5] == 0.0f);
}

static void test_dtype_names_and_bytes(void **st) {
    (void)st;
    const char *names[] = {"f32", "f16", "bf16", "q8_0"};
    for (kv_dtype t = KV_F32; t < KV_N_DTYPES; t++) {
        kv_dtype got = KV_N_DTYPES;
        assert_string_equal(kv_dtype_name(t), names[t]);
        assert_true(kv_dtype_parse(names[t], &got));
        assert_int_equal(got, t);
    }
    const char *bad[] = {"F16", "fp16", "float16", "q8", "q4_0", "", "f16 "};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kv_dtype got = KV_F32;
        assert_false(kv_dtype_parse(bad[i], &got));
    }
    assert_null(kv_dtype_name(KV_N_DTYPES));
    assert_int_equal(kv_bytes(KV_F32, 64), 256);
    assert_int_equal(kv_bytes(KV_F16, 64), 128);
    assert_int_equal(kv_bytes(KV_BF16, 64), 128);
    assert_int_equal(kv_bytes(KV_Q8_0, 64), 68);
    assert_int_equal(kv_bytes(KV_Q8_0, 32), 34); /* a head's offset at a block boundary */
}

/* The pool is sized in bytes by its type: the same blocks take half the
 * memory at f16/bf16 (so a byte budget holds twice the positions), 34/128
 * at q8_0; rows are row_bytes apart; Q8_0 needs kv_dim % 32 == 0. */
static void test_dtype_pool_bytes(void **st) {
    (void)st;
    enum { L = 3, D = 64, BS = 4, NB = 10 };
    size_t f32_bytes = 2u * NB * L * BS * D * sizeof(float);
    const size_t want[KV_N_DTYPES] = {f32_bytes, f32_bytes / 2, f32_bytes / 2, f32_bytes / 128 * 34};
    for (kv_dtype t = KV_F32; t < KV_N_DTYPES; t++) {
        kv_pool *kv = kv_pool_create(L, D, BS, NB, t, true);
        assert_non_null(kv);
        const kv_store *s = kv_pool_store(kv);
        assert_int_equal(s->dtype, t);
        assert_int_equal(s->row_bytes, kv_bytes(t, D));
        assert_int_equal(kv_pool_bytes(kv), want[t]);
        assert_int_equal(kv_position_bytes(L, D, t) * NB * BS, want[t]);
        /* what f32's bytes hold: 2x the positions at f16/bf16, 128/34 x at q8_0 */
        size_t fit = f32_bytes / kv_position_bytes(L, D, t);
        assert_int_equal(fit, t == KV_F32 ? NB * BS : t == KV_Q8_0 ? NB * BS * 128 / 34 : 2 * NB * BS);
        kv_seq q;
        kv_seq_init(&q);
        assert_true(kv_seq_reserve(kv, &q, 2 * BS));
        uint8_t *r0 = kv_k(s, &q, 1, 0), *r1 = kv_k(s, &q, 1, 1), *v0 = kv_v(s, &q, 2, BS);
        assert_int_equal(r1 - r0, s->row_bytes);
        assert_int_equal(r0 - s->k, (size_t)(q.table[0] * L + 1) * BS * s->row_bytes);
        assert_int_equal(v0 - s->v, (size_t)(q.table[1] * L + 2) * BS * s->row_bytes);
        float x[D], y[D]; /* a row written through kv_put reads back through kv_get */
        for (int i = 0; i < D; i++) x[i] = (float)(i - 20) * 0.25f;
        kv_put(t, x, v0, D);
        kv_get(t, v0, y, D);
        for (int i = 0; i < D; i++) assert_true(fabsf(x[i] - y[i]) <= 0.05f);
        kv_seq_release(kv, &q);
        check_totals(kv);
        kv_pool_free(kv);
    }
    assert_null(kv_pool_create(L, 48, BS, NB, KV_Q8_0, true)); /* 48 values: not whole blocks */
    assert_null(kv_pool_create(L, D, BS, NB, KV_N_DTYPES, true));
    kv_pool *kv = kv_pool_create(L, 48, BS, NB, KV_F16, true);
    assert_non_null(kv);
    kv_pool_free(kv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_round_trip),
        cmocka_unit_test(test_dtype_q8_0),
        cmocka_unit_test(test_dtype_names_and_bytes),
        cmocka_unit_test(test_dtype_pool_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
