/*
 * dtype_test.c — the type table and the f32 conversions of dtype.c.
 *
 * Expected values are computed here from the format definitions, not with
 * dtype.c's own code: half floats from sign/exponent/mantissa with ldexp,
 * rounding checked as "no representable neighbour is closer" (and against
 * the compiler's _Float16 when it has one), quantised blocks by PACKING
 * chosen values into the documented layouts (the inverse of what dtype.c
 * does) with scales that make every product exact.  The synthetic models
 * give real-data checks: the F16/BF16/Q8_0 files are roundings of the F32
 * master weights.  The other block types are dtype_quant_test.c's;
 * golden_quant_test.c runs llama.cpp's quantized files.
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

#include "model/dtype.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "support/testutil.h"

/* xorshift64*: deterministic test data without global state. */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* binary16 value straight from the definition. */
static double half_value(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

/* ------------------------------------------------------------ table */

static void test_type_table(void **state) {
    struct { uint32_t t; const char *name; uint32_t be, bb; } want[] = {
        {DT_F32, "F32", 1, 4},         {DT_F16, "F16", 1, 2},        {DT_Q4_0, "Q4_0", 32, 18},
        {DT_Q4_1, "Q4_1", 32, 20},     {DT_Q5_0, "Q5_0", 32, 22},    {DT_Q5_1, "Q5_1", 32, 24},
        {DT_Q8_0, "Q8_0", 32, 34},     {DT_Q8_1, "Q8_1", 32, 36},    {DT_Q2_K, "Q2_K", 256, 84},
        {DT_Q3_K, "Q3_K", 256, 110},   {DT_Q4_K, "Q4_K", 256, 144},  {DT_Q5_K, "Q5_K", 256, 176},
        {DT_Q6_K, "Q6_K", 256, 210},   {DT_Q8_K, "Q8_K", 256, 292},  {DT_IQ2_XXS, "IQ2_XXS", 256, 66},
        {DT_IQ2_XS, "IQ2_XS", 256, 74}, {DT_IQ3_XXS, "IQ3_XXS", 256, 98}, {DT_IQ1_S, "IQ1_S", 256, 50},
        {DT_IQ4_NL, "IQ4_NL", 32, 18}, {DT_IQ3_S, "IQ3_S", 256, 110}, {DT_IQ2_S, "IQ2_S", 256, 82},
        {DT_IQ4_XS, "IQ4_XS", 256, 136}, {DT_I8, "I8", 1, 1},        {DT_I16, "I16", 1, 2},
        {DT_I32, "I32", 1, 4},         {DT_I64, "I64", 1, 8},        {DT_F64, "F64", 1, 8},
        {DT_IQ1_M, "IQ1_M", 256, 56},  {DT_BF16, "BF16", 1, 2},      {DT_TQ1_0, "TQ1_0", 256, 54},
        {DT_TQ2_0, "TQ2_0", 256, 66},  {DT_MXFP4, "MXFP4", 32, 17},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_true(dt_known(want[i].t));
        assert_string_equal(dt_name(want[i].t), want[i].name);
        assert_int_equal(dt_block_elems(want[i].t), want[i].be);
        assert_int_equal(dt_block_bytes(want[i].t), want[i].bb);
    }
    uint32_t gone[] = {4, 5, 31, 32, 33, 36, 37, 38, DT_COUNT, 99, UINT32_MAX};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        assert_false(dt_known(gone[i]));
        assert_string_equal(dt_name(gone[i]), "unknown");
        assert_int_equal(dt_block_elems(gone[i]), 0);
        assert_int_equal(dt_block_bytes(gone[i]), 0);
    }
    uint32_t conv[] = {DT_F32,  DT_F16,  DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0,   DT_Q5_1,
                       DT_Q2_K, DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_IQ4_NL, DT_IQ4_XS};
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) assert_true(dt_convertible(conv[i]));
    uint32_t not_conv[] = {DT_Q8_1, DT_Q8_K, DT_IQ2_XXS, DT_IQ3_S, DT_IQ1_M, DT_TQ2_0, DT_MXFP4, DT_I32, DT_F64, 4, 99};
    for (size_t i = 0; i < sizeof not_conv / sizeof not_conv[0]; i++) assert_false(dt_convertible(not_conv[i]));
}

static void test_dt_bytes(void **state) {
    uint64_t b;
    assert_true(dt_bytes(DT_F32, 10, &b));
    assert_int_equal(b, 40);
    assert_true(dt_bytes(DT_Q4_K, 512, &b));
    assert_int_equal(b, 288);
    assert_true(dt_bytes(DT_Q8_0, 0, &b));
    assert_int_equal(b, 0);
    assert_false(dt_bytes(DT_Q8_0, 33, &b));   /* not a whole block */
    assert_false(dt_bytes(DT_Q6_K, 128, &b));
    assert_false(dt_bytes(99, 32, &b));        /* unknown type */
    assert_false(dt_bytes(DT_F32, UINT64_MAX / 2, &b)); /* overflow */
    assert_true(dt_bytes(DT_Q8_0, (UINT64_MAX / 34) / 2 * 32, &b));
}

/* ------------------------------------------------------ half floats */

static void test_f16_to_f32_known(void **state) {
    assert_true(dt_f16_to_f32(0x3c00) == 1.0f);
    assert_true(dt_f16_to_f32(0xc000) == -2.0f);
    assert_true(dt_f16_to_f32(0x3555) == 0.333251953125f); /* nearest half to 1/3 */
    assert_true(dt_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(dt_f16_to_f32(0x0400) == ldexpf(1, -14));     /* smallest normal */
    assert_true(dt_f16_to_f32(0x0001) == ldexpf(1, -24));     /* smallest subnormal */
    assert_true(dt_f16_to_f32(0x03ff) == ldexpf(1023, -24));  /* largest subnormal */
    assert_true(dt_f16_to_f32(0x8001) == -ldexpf(1, -24));
    assert_int_equal(fbits(dt_f16_to_f32(0x0000)), 0x00000000);
    assert_int_equal(fbits(dt_f16_to_f32(0x8000)), 0x80000000); /* -0 keeps its sign */
    assert_true(isinf(dt_f16_to_f32(0x7c00)) && dt_f16_to_f32(0x7c00) > 0);
    assert_true(isinf(dt_f16_to_f32(0xfc00)) && dt_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(dt_f16_to_f32(0x7e00)));
    assert_true(isnan(dt_f16_to_f32(0x7c01))); /* signalling nan stays nan */
    assert_true(isnan(dt_f16_to_f32(0xffff)));
}

/* All 65536 encodings against the definition, and back again. */
static void test_f16_exhaustive(void **state) {
    for (uint32_t h = 0; h < 65536; h++) {
        double want = half_value((uint16_t)h);
        float got = dt_f16_to_f32((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(got));
            uint16_t back = dt_f32_to_f16(got);
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0);
            assert_int_equal(back & 0x8000, h & 0x8000);
            continue;
        }
        if ((double)got != want) fail_msg("f16 0x%04x: got %.9g want %.9g", h, got, want);
        assert_int_equal(signbit(got) != 0, (h >> 15) != 0);
        assert_int_equal(dt_f32_to_f16(got), h);
    }
}

/* dt_to_f32 may take a SIMD path (F16C): it must give the scalar bits for
 * every encoding, at any alignment and for a tail shorter than a vector. */
static void test_f16_bulk_matches_scalar(void **state) {
    uint8_t *src = malloc(2 * 65536 + 1);
    float *dst = malloc(65536 * sizeof *dst);
    for (uint32_t h = 0; h < 65536; h++) memcpy(src + 1 + 2 * h, &(uint16_t){(uint16_t)h}, 2);
    assert_true(dt_to_f32(DT_F16, src + 1, dst, 65536));
    for (uint32_t h = 0; h < 65536; h++) {
        float want = dt_f16_to_f32((uint16_t)h);
        if (fbits(dst[h]) != fbits(want))
            fail_msg("0x%04x: bulk 0x%08x scalar 0x%08x", h, fbits(dst[h]), fbits(want));
    }
    assert_true(dt_to_f32(DT_F16, src + 1 + 2 * 0x3c00, dst, 5)); /* tail only */
    assert_true(dst[0] == 1.0f && dst[4] == dt_f16_to_f32(0x3c04));
    free(src);
    free(dst);
}

/* Rounding ties and limits, values chosen by hand. */
static void test_f32_to_f16_rounding(void **state) {
    struct { float f; uint16_t h; } c[] = {
        {1.0f + ldexpf(1, -11), 0x3c00},                   /* tie, 0x3c00 even: down */
        {1.0f + 3 * ldexpf(1, -11), 0x3c02},               /* tie, 0x3c01 odd: up */
        {1.0f + ldexpf(1, -11) + ldexpf(1, -20), 0x3c01},  /* just above the tie */
        {1.0f + ldexpf(1, -11) - ldexpf(1, -23), 0x3c00},  /* just below */
        {65504.0f, 0x7bff},  {65519.0f, 0x7bff},           /* below the overflow tie */
        {65520.0f, 0x7c00},  {-65520.0f, 0xfc00},          /* tie goes to even = inf */
        {1e10f, 0x7c00},     {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
        {ldexpf(1, -24), 0x0001},                          /* smallest subnormal */
        {ldexpf(1, -25), 0x0000},                          /* tie with 0: to even 0 */
        {ldexpf(1.0000001f, -25), 0x0001},                 /* just above that tie */
        {ldexpf(3, -25), 0x0002},                          /* 1.5 ulp: tie, to even 2 */
        {ldexpf(5, -26), 0x0001},                          /* 1.25 ulp */
        {ldexpf(2047, -25), 0x0400},                       /* 1023.5 ulp: up into normal */
        {ldexpf(2045, -25), 0x03fe},                       /* 1022.5 ulp: tie, to even */
        {ldexpf(1, -30), 0x0000}, {-ldexpf(1, -30), 0x8000},
        {-0.0f, 0x8000}, {0.0f, 0x0000}, {-2.5f, 0xc100}, {0.1f, 0x2e66},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (dt_f32_to_f16(c[i].f) != c[i].h)
            fail_msg("case %zu: %.9g -> 0x%04x, want 0x%04x", i, c[i].f, dt_f32_to_f16(c[i].f),
                     c[i].h);
    uint16_t n = dt_f32_to_f16(NAN);
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
    n = dt_f32_to_f16(bitsf(0x7f800001)); /* payload only in low bits: still nan */
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
}

/* Random floats over the half range: the result must be a nearest half,
 * ties to the even encoding. */
static void test_f32_to_f16_random(void **state) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 1000000; i++) {
        /* exponents 2^-27 .. 2^16 to cover subnormal, normal and overflow */
        uint32_t bits = (uint32_t)(rnd(&s) >> 32);
        uint32_t exp = 100 + (bits >> 23) % 44;
        bits = (bits & 0x807fffffu) | (exp << 23);
        float f = bitsf(bits);
        uint16_t h = dt_f32_to_f16(f);
        double a = fabs((double)f);
        if (a >= 65520.0) {
            assert_int_equal(h & 0x7fff, 0x7c00);
            continue;
        }
        uint16_t mag = h & 0x7fff;
        assert_true(mag < 0x7c00);
        assert_int_equal(h >> 15, bits >> 31);
        double err = fabs(half_value(mag) - a);
        if (mag > 0) assert_true(err <= fabs(half_value((uint16_t)(mag - 1)) - a));
        double up = fabs(half_value((uint16_t)(mag + 1)) - a);
        assert_true(err <= up);
        if (mag > 0 && err == fabs(half_value((uint16_t)(mag - 1)) - a)) assert_true((mag & 1) == 0);
        if (err == up) assert_true((mag & 1) == 0);
#ifdef __FLT16_MAX__
        _Float16 ref = (_Float16)f; /* the compiler's IEEE conversion */
        uint16_t rb;
        memcpy(&rb, &ref, 2);
        assert_int_equal(h, rb);
#endif
    }
}

static void test_bf16(void **state) {
    assert_true(dt_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(dt_bf16_to_f32(0xc040) == -3.0f);
    assert_int_equal(fbits(dt_bf16_to_f32(0x0001)), 0x00010000); /* subnormal passes through */
    assert_true(isinf(dt_bf16_to_f32(0x7f80)));
    assert_true(isnan(dt_bf16_to_f32(0x7fc1)));
    struct { uint32_t f; uint16_t h; } c[] = {
        {0x3f808000, 0x3f80}, /* tie, even: down */
        {0x3f818000, 0x3f82}, /* tie, odd: up */
        {0x3f808001, 0x3f81}, /* above the tie */
        {0x3f807fff, 0x3f80},
        {0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to inf */
        {0xff7fffff, 0xff80},
        {0x7f800000, 0x7f80}, {0x80000000, 0x8000}, {0x00018000, 0x0002},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (dt_f32_to_bf16(bitsf(c[i].f)) != c[i].h)
            fail_msg("bf16 case %zu: 0x%08x -> 0x%04x want 0x%04x", i, c[i].f,
                     dt_f32_to_bf16(bitsf(c[i].f)), c[i].h);
    /* nan payloads that would truncate to the inf pattern stay nan */
    uint16_t n = dt_f32_to_bf16(bitsf(0x7f800001));
    assert_true((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0);
    n = dt_f32_to_bf16(bitsf(0xffc00000));
    assert_true((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0 && (n & 0x8000));
    for (uint32_t h = 0; h < 65536; h++) { /* every non-nan round trips */
        float f = dt_bf16_to_f32((uint16_t)h);
        if (!isnan(f)) assert_int_equal(dt_f32_to_bf16(f), h);
        else assert_true(isnan(dt_bf16_to_f32(dt_f32_to_bf16(f))));
    }
}

/* ---------------------------------------------------- block formats */

static void put_half(uint8_t *p, uint16_t h) { memcpy(p, &h, 2); }

/* Two Q8_0 blocks at an odd address. */
static void test_q8_0(void **state) {
    uint8_t buf[1 + 68];
    uint8_t *b = buf + 1;
    put_half(b, 0x3800);      /* d = 0.5 */
    put_half(b + 34, 0xbc00); /* d = -1 */
    for (int j = 0; j < 32; j++) {
        b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
        b[36 + j] = (uint8_t)(int8_t)(127 - j);
    }
    float y[64];
    assert_true(dt_to_f32(DT_Q8_0, b, y, 64));
    for (int j = 0; j < 32; j++) {
        assert_true(y[j] == (j * 8 - 128) * 0.5f);
        assert_true(y[32 + j] == -(127 - j));
    }
    assert_true(y[0] == -64.0f && y[31] == 60.0f);
    assert_false(dt_to_f32(DT_Q8_0, b, y, 48)); /* not a multiple of 32 */
}

static void test_q4_0(void **state) {
    uint8_t b[18];
    put_half(b, 0x3400); /* d = 0.25 */
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    assert_true(dt_to_f32(DT_Q4_0, b, y, 32));
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == (j - 8) * 0.25f);            /* low nibbles: values 0..15 */
        assert_true(y[j + 16] == (15 - j - 8) * 0.25f);  /* high nibbles: values 16..31 */
    }
    assert_true(y[0] == -2.0f && y[15] == 1.75f && y[16] == 1.75f && y[31] == -2.0f);
}

/* Q4_K: pack 6-bit scales/mins as the format defines (bytes 0-3 scales
 * 0-3, bytes 4-7 mins 0-3, pairs 4-7 split: low 4 bits in bytes 8-11,
 * high 2 bits in the top of bytes 0-7) and 4-bit quants (32-byte runs,
 * low nibbles = even sub-block, high nibbles = odd sub-block). */
static void pack_q4_k(uint8_t *b, uint16_t d, uint16_t dmin, const uint8_t sc[8],
                      const uint8_t mn[8], const uint8_t q[256]) {
    memset(b, 0, 144);
    put_half(b, d);
    put_half(b + 2, dmin);
    uint8_t *s = b + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
    for (int e = 0; e < 256; e++) {
        int sub = e / 32, run = sub / 2, l = e % 32;
        b[16 + run * 32 + l] |= (uint8_t)(sub % 2 ? q[e] << 4 : q[e]);
    }
}

static void test_q4_k(void **state) {
    uint8_t sc[8] = {1, 15, 16, 63, 42, 17, 33, 60}, mn[8] = {0, 63, 5, 31, 48, 1, 62, 20};
    uint8_t q[256], b[2 * 144];
    uint64_t s = 7;
    for (int e = 0; e < 256; e++) q[e] = (uint8_t)(rnd(&s) & 15);
    pack_q4_k(b, 0x3000, 0x2c00, sc, mn, q); /* d = 1/8, dmin = 1/16: all exact */
    /* second block: a "random" d to exercise rounding with the same formula */
    pack_q4_k(b + 144, 0x2e66, 0x1f1c, mn, sc, q);
    float y[512];
    assert_true(dt_to_f32(DT_Q4_K, b, y, 512));
    for (int e = 0; e < 256; e++) {
        float want = 0.125f * sc[e / 32] * q[e] - 0.0625f * mn[e / 32];
        if (y[e] != want) fail_msg("q4_k e=%d got %g want %g", e, y[e], want);
    }
    float d = (float)half_value(0x2e66), dm = (float)half_value(0x1f1c);
    for (int e = 0; e < 256; e++) {
        float d1 = d * mn[e / 32], m1 = dm * sc[e / 32];
        assert_true(y[256 + e] == d1 * q[e] - m1);
    }
    assert_true(y[0] == 0.125f * 1 * q[0]);
}

/* Q6_K: 6-bit values v (0..63, stored as v, meaning v-32).  Within each
 * half of 128: element l (l<32) low 4 bits in ql[l] low nibble, l+32 in
 * ql[l+32] low, l+64 in ql[l] high, l+96 in ql[l+32] high; the top 2 bits
 * of elements l, l+32, l+64, l+96 are bits 0-1, 2-3, 4-5, 6-7 of qh[l]. */
static void pack_q6_k(uint8_t *b, uint16_t d, const int8_t scales[16], const uint8_t v[256]) {
    memset(b, 0, 210);
    for (int e = 0; e < 256; e++) {
        int half = e / 128, k = e % 128, l = k % 32, quarter = k / 32;
        uint8_t *ql = b + half * 64, *qh = b + 128 + half * 32;
        int qli = l + (quarter % 2) * 32, shift = quarter / 2 ? 4 : 0;
        ql[qli] |= (uint8_t)((v[e] & 15) << shift);
        qh[l] |= (uint8_t)((v[e] >> 4) << (2 * quarter));
    }
    memcpy(b + 192, scales, 16);
    put_half(b + 208, d);
}

static void test_q6_k(void **state) {
    int8_t scales[16] = {1, -1, 127, -128, 5, 0, 64, -3, 9, 10, -77, 100, 2, 33, -8, 17};
    uint8_t v[256], b[210];
    for (int e = 0; e < 256; e++) v[e] = (uint8_t)((e * 37 + 11) % 64);
    v[0] = 0;  /* -32 */
    v[1] = 63; /* +31 */
    pack_q6_k(b, 0x2800, scales, v); /* d = 1/32 */
    float y[256];
    assert_true(dt_to_f32(DT_Q6_K, b, y, 256));
    for (int e = 0; e < 256; e++) {
        float want = 0.03125f * scales[e / 16] * (v[e] - 32);
        if (y[e] != want) fail_msg("q6_k e=%d got %g want %g", e, y[e], want);
    }
    assert_true(y[0] == -1.0f && y[1] == 31 * 0.03125f);
}

static void test_to_f32_plain(void **state) {
    float src[5] = {1.5f, -2.0f, 0.0f, 1e30f, -1e-30f}, dst[5];
    assert_true(dt_to_f32(DT_F32, src, dst, 5));
    assert_memory_equal(src, dst, sizeof src);
    uint8_t raw[1 + 6]; /* F16 and BF16 at an odd address */
    uint16_t h[3] = {0x3c00, 0x0001, 0xfc00};
    memcpy(raw + 1, h, 6);
    assert_true(dt_to_f32(DT_F16, raw + 1, dst, 3));
    assert_true(dst[0] == 1.0f && dst[1] == ldexpf(1, -24) && isinf(dst[2]) && dst[2] < 0);
    uint16_t bf[3] = {0x3f80, 0x4049, 0x8000};
    memcpy(raw + 1, bf, 6);
    assert_true(dt_to_f32(DT_BF16, raw + 1, dst, 3));
    assert_true(dst[0] == 1.0f && dst[1] == bitsf(0x40490000) && signbit(dst[2]));
    assert_false(dt_to_f32(DT_Q8_K, raw, dst, 256));
    assert_false(dt_to_f32(DT_Q5_K, raw, dst, 128)); /* not a whole block */
    assert_false(dt_to_f32(DT_I32, raw, dst, 1));
    assert_false(dt_to_f32(999, raw, dst, 1));
}

/* ------------------------------------------------- real model files */

static gguf_file *open_model(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    gguf_file *f = gguf_open(p, err);
    if (!f) print_error("%s\n", err);
    free(p);
    return f;
}

/* llama-spm-f16.gguf is llama-spm-f32.gguf's 2-D weights rounded to F16
 * (numpy, round to nearest even): our f32->f16 must give the same bits. */
static void test_real_f16_matches_f32(void **state) {
    gguf_file *a = open_model("synth/llama-spm-f32.gguf"), *h = open_model("synth/llama-spm-f16.gguf");
    assert_non_null(a);
    assert_non_null(h);
    int checked = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(h); i++) {
        const gguf_tensor *th = gguf_tensor_at(h, i), *ta = gguf_find_tensor(a, th->name);
        assert_non_null(ta);
        assert_int_equal(ta->n_elems, th->n_elems);
        if (th->type != DT_F16) continue;
        const uint8_t *src = ta->data, *hp = th->data;
        float *conv = malloc(th->n_elems * sizeof *conv);
        assert_true(dt_to_f32(DT_F16, th->data, conv, th->n_elems));
        for (uint64_t k = 0; k < th->n_elems; k++) {
            float f;
            uint16_t want;
            memcpy(&f, src + 4 * k, 4);
            memcpy(&want, hp + 2 * k, 2);
            if (dt_f32_to_f16(f) != want) fail_msg("%s[%llu]", th->name, (unsigned long long)k);
            assert_true(conv[k] == dt_f16_to_f32(want));
        }
        free(conv);
        checked++;
    }
    assert_int_equal(checked, 16); /* token_embd, output and 7 matrices x 2 layers */
    gguf_close(a);
    gguf_close(h);
}

/* Q8_0 (llama-quantize): d = amax/127 rounded to f16, q = round(x / d),
 * so each dequantized value is within ~d/2 of the F32 master. */
static void test_real_q8_0_close_to_f32(void **state) {
    gguf_file *a = open_model("synth/llama-spm-f32.gguf"), *q = open_model("synth/llama-spm-q8_0.gguf");
    assert_non_null(a);
    assert_non_null(q);
    const gguf_tensor *tq = gguf_find_tensor(q, "token_embd.weight");
    const gguf_tensor *ta = gguf_find_tensor(a, "token_embd.weight");
    assert_non_null(tq);
    assert_non_null(ta);
    assert_int_equal(tq->type, DT_Q8_0);
    float *y = malloc(tq->n_elems * sizeof *y);
    assert_true(dt_to_f32(DT_Q8_0, tq->data, y, tq->n_elems));
    const uint8_t *blocks = tq->data;
    for (uint64_t k = 0; k < tq->n_elems; k++) {
        uint16_t dh;
        float x;
        memcpy(&dh, blocks + (k / 32) * 34, 2);
        memcpy(&x, (const uint8_t *)ta->data + 4 * k, 4);
        double d = fabs(half_value(dh));
        if (fabs((double)y[k] - x) > 0.57 * d + 1e-30)
            fail_msg("token_embd[%llu]: q8_0 %g vs f32 %g (d %g)", (unsigned long long)k, y[k],
                     x, d);
    }
    free(y);
    gguf_close(a);
    gguf_close(q);
}

/* The BF16 safetensors directory is the F32 one rounded to bfloat16. */
static void test_real_bf16_matches_f32(void **state) {
    char *pa = tu_model_path("synth/llama-spm-hf"), *pb = tu_model_path("synth/llama-spm-hf-bf16");
    char err[CT_ERRLEN];
    st_model *a = st_open_dir(pa, err), *b = st_open_dir(pb, err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(st_n_tensors(a), st_n_tensors(b));
    for (uint64_t i = 0; i < st_n_tensors(b); i++) {
        const st_tensor *tb = st_tensor_at(b, i), *ta = st_find(a, tb->name);
        assert_non_null(ta);
        assert_int_equal(tb->type, DT_BF16);
        assert_int_equal(ta->n_elems, tb->n_elems);
        for (uint64_t k = 0; k < tb->n_elems; k++) {
            float f;
            uint16_t want;
            memcpy(&f, (const uint8_t *)ta->data + 4 * k, 4);
            memcpy(&want, (const uint8_t *)tb->data + 2 * k, 2);
            if (dt_f32_to_bf16(f) != want) fail_msg("%s[%llu]", tb->name, (unsigned long long)k);
        }
    }
    st_close(a);
    st_close(b);
    free(pa);
    free(pb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_dt_bytes),
        cmocka_unit_test(test_f16_to_f32_known),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f16_bulk_matches_scalar),
        cmocka_unit_test(test_f32_to_f16_rounding),
        cmocka_unit_test(test_f32_to_f16_random),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_q4_k),
        cmocka_unit_test(test_q6_k),
        cmocka_unit_test(test_to_f32_plain),
        cmocka_unit_test(test_real_f16_matches_f32),
        cmocka_unit_test(test_real_q8_0_close_to_f32),
        cmocka_unit_test(test_real_bf16_matches_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
