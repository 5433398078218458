/*
 * dtype_quant_test.c — dt_to_f32 on the block types added for llama.cpp's
 * quantized files (Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K Q5_K IQ4_XS), all
 * block types bit for bit against the documented formulas, and
 * synth_quantize's round trip.
 *
 * The hand-built blocks are a few bytes written by hand; the values they
 * mean are worked out by hand from ../shared/reference/quant-formats.md §2.
 * Random blocks of every type are checked bit for bit against that
 * document's element-by-element formulas (an addressing independent of
 * dtype.c's loops).  dtype_test.c has the type table, the half floats and
 * Q8_0/Q4_0/Q4_K/Q6_K blocks packed from chosen values.
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
#include "support/synth_model.h"
#include "support/testutil.h"

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void put_half(uint8_t *p, uint16_t h) { memcpy(p, &h, 2); }

/* ------------------------------------------------- hand-built blocks
 *
 * The expected values (noted beside each byte) are chosen to land on the
 * nibble order (value j+16 in the HIGH nibble of byte j), the high-bit
 * positions and where d sits.  All products are exact. */

/* Expect y[idx[i]] == want[i]. */
static void expect_at(const char *type, const float *y, const int *idx, const float *want, int n) {
    for (int i = 0; i < n; i++)
        if (y[idx[i]] != want[i]) fail_msg("%s: y[%d] = %g, want %g", type, idx[i], y[idx[i]], want[i]);
}

static void test_hand_q4_1(void **state) {
    uint8_t b[20] = {0};
    put_half(b, 0x3800);     /* d = 0.5 */
    put_half(b + 2, 0xbc00); /* m = -1 */
    b[4 + 0] = 0x5a;         /* value 0: 10, value 16: 5 */
    b[4 + 15] = 0xf0;        /* value 15: 0, value 31: 15 */
    float y[32];
    assert_true(dt_to_f32(DT_Q4_1, b, y, 32));
    /* y = q*d + m */
    int idx[] = {0, 16, 15, 31, 1, 17};
    float want[] = {10 * 0.5f - 1, 5 * 0.5f - 1, -1, 15 * 0.5f - 1, -1, -1};
    expect_at("Q4_1", y, idx, want, 6);
    assert_true(y[0] == 4.0f && y[16] == 1.5f && y[31] == 6.5f);
}

static void test_hand_q5_0(void **state) {
    uint8_t b[22] = {0};
    put_half(b, 0x3400);     /* d = 0.25 */
    uint8_t qh[4] = {0x01, 0x00, 0x01, 0x80}; /* u32 0x80010001: bits 0, 16, 31 */
    memcpy(b + 2, qh, 4);
    b[6 + 0] = 0x21;         /* value 0: 1 (+16 from bit 0), value 16: 2 (+16 from bit 16) */
    b[6 + 15] = 0xf7;        /* value 15: 7 (bit 15 clear), value 31: 15 (+16 from bit 31) */
    float y[32];
    assert_true(dt_to_f32(DT_Q5_0, b, y, 32));
    /* y = (q5 - 16)*d */
    int idx[] = {0, 16, 15, 31, 1};
    float want[] = {0.25f, 0.5f, (7 - 16) * 0.25f, 15 * 0.25f, -16 * 0.25f};
    expect_at("Q5_0", y, idx, want, 5);
}

static void test_hand_q5_1(void **state) {
    uint8_t b[24] = {0};
    put_half(b, 0x3800);     /* d = 0.5 */
    put_half(b + 2, 0x4000); /* m = 2 */
    uint8_t qh[4] = {0x04, 0x00, 0x02, 0x00}; /* bits 2 and 17 */
    memcpy(b + 4, qh, 4);
    b[8 + 2] = 0x3c;         /* value 2: 12 | 16 = 28, value 18: 3 */
    b[8 + 1] = 0x9f;         /* value 1: 15, value 17: 9 | 16 = 25 */
    float y[32];
    assert_true(dt_to_f32(DT_Q5_1, b, y, 32));
    /* y = q5*d + m */
    int idx[] = {2, 18, 1, 17, 0};
    float want[] = {28 * 0.5f + 2, 3 * 0.5f + 2, 15 * 0.5f + 2, 25 * 0.5f + 2, 2};
    expect_at("Q5_1", y, idx, want, 5);
}

static void test_hand_iq4_nl(void **state) {
    uint8_t b[18] = {0};
    put_half(b, 0x3800); /* d = 0.5 */
    b[2 + 0] = 0xf0;     /* value 0: T[0] = -127, value 16: T[15] = 113 */
    b[2 + 7] = 0x18;     /* value 7: T[8] = 1, value 23: T[1] = -104 */
    float y[32];
    assert_true(dt_to_f32(DT_IQ4_NL, b, y, 32));
    int idx[] = {0, 16, 7, 23, 1};
    float want[] = {-63.5f, 56.5f, 0.5f, -52.0f, -63.5f};
    expect_at("IQ4_NL", y, idx, want, 5);
}

/* Q2_K: scales[16] @0 (scale low nibble, min high), qs[64] @16, d @80,
 * dmin @82; 2-bit q of e at byte 32(e/128) + e%32, bits 2((e%128)/32). */
static void test_hand_q2_k(void **state) {
    uint8_t b[84] = {0};
    put_half(b + 80, 0x3c00); /* d = 1 */
    put_half(b + 82, 0x3800); /* dmin = 0.5 */
    b[0] = 0x21;  /* sub-block 0: sc 1, m 2 */
    b[1] = 0x03;  /* 1: sc 3, m 0 */
    b[2] = 0xf5;  /* 2: sc 5, m 15 */
    b[4] = 0x17;  /* 4: sc 7, m 1 */
    b[6] = 0x01;  /* 6: sc 1, m 0 */
    b[8] = 0x1a;  /* 8: sc 10, m 1 */
    b[15] = 0x42; /* 15: sc 2, m 4 */
    uint8_t *qs = b + 16;
    qs[0] = 0xe4;  /* values 0, 32, 64, 96: q 0, 1, 2, 3 */
    qs[16] = 0x02; /* value 16: q 2 */
    qs[32] = 0x01; /* value 128: q 1 */
    qs[63] = 0xc0; /* value 255 (byte 32+31, bits 6-7): q 3 */
    float y[256];
    assert_true(dt_to_f32(DT_Q2_K, b, y, 256));
    /* y = d*sc*q - dmin*m */
    int idx[] = {0, 32, 64, 96, 16, 128, 255, 1};
    float want[] = {0 - 1.0f, 5 * 1 - 7.5f, 7 * 2 - 0.5f, 1 * 3, 3 * 2, 10 * 1 - 0.5f, 2 * 3 - 2.0f, -1.0f};
    expect_at("Q2_K", y, idx, want, 8);
}

/* Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108.  Scale s: low 4
 * bits in byte s%8 (nibble s/8), top 2 bits in byte 8 + s%4 at bit pair
 * s/4; S = six bits - 32.  q3 = q2 - 4 unless bit e/32 of hmask[e%32]. */
static void test_hand_q3_k(void **state) {
    uint8_t b[110] = {0};
    put_half(b + 108, 0x3800); /* d = 0.5 */
    uint8_t *hm = b, *qs = b + 32, *sc = b + 96;
    sc[0] = 0x01;  /* S0 low 1; S8 low 0 */
    sc[8] = 0x02;  /* S0 top 2 -> 33 -> S0 = 1; S4, S8, S12 top 0 */
    sc[5] = 0x0f;  /* S5 low 15 */
    sc[9] = 0x0c;  /* S5 top (pair 1) 3 -> 63 -> S5 = 31 */
    sc[7] = 0xd0;  /* S15 low 13 */
    sc[11] = 0x40; /* S15 top (pair 3) 1 -> 29 -> S15 = -3 */
    sc[6] = 0x01;  /* S6 low 1 */
    sc[10] = 0x0c; /* S6 top (byte 8 + 6%4, pair 6/4 = 1) 3 -> 49 -> S6 = 17 */
    /* S1 = S8 = -32 (all bits zero) */
    qs[0] = 0x03;  hm[0] = 0x01;  /* value 0: q2 3, high bit set: q3 = 3 */
    /* value 1: q2 0, high bit clear: q3 = -4 */
    qs[16] = 0x10;                /* value 80 (byte 16, pair 2): q2 1, hmask[16] bit 2 clear: -3;
                                     value 16 (byte 16, pair 0): q2 0, clear: -4 */
    qs[34] = 0x02; hm[2] = 0x10;  /* value 130 (byte 32+2, pair 0): q2 2, hmask[2] bit 4: q3 = 2 */
    qs[63] = 0x40; hm[31] = 0x80; /* value 255: q2 1, hmask[31] bit 7: q3 = 1 */
    qs[4] = 0x80;  hm[4] = 0x08;  /* value 100 (sub 6; byte 4, pair 3): q2 2, hmask[4] bit 3: q3 = 2 */
    float y[256];
    assert_true(dt_to_f32(DT_Q3_K, b, y, 256));
    /* y = d*S*q3 */
    int idx[] = {0, 1, 80, 16, 130, 255, 100};
    float want[] = {0.5f * 1 * 3,    0.5f * 1 * -4, 0.5f * 31 * -3, 0.5f * -32 * -4,
                    0.5f * -32 * 2, 0.5f * -3 * 1, 0.5f * 17 * 2};
    expect_at("Q3_K", y, idx, want, 7);
}

/* Q5_K: d @0, dmin @2, scales[12] @4 (Q4_K's packing), qh[32] @16, qs[128]
 * @48; low 4 bits of e at byte 32(e/64) + e%32 (low nibble for even
 * sub-block e/32, high for odd), bit 4 = bit e/32 of qh[e%32]. */
static void test_hand_q5_k(void **state) {
    uint8_t b[176] = {0};
    put_half(b, 0x3800);     /* d = 0.5 */
    put_half(b + 2, 0x3400); /* dmin = 0.25 */
    uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    sc[0] = 2;    /* sc0 = 2 */
    sc[4] = 4;    /* m0 = 4 */
    sc[1] = 0x43; /* sc1 = 3; top bits of sc5 = 1 */
    sc[5] = 0x81; /* m1 = 1; top bits of m5 = 2 */
    sc[9] = 0x25; /* sc5 = 5 | 1<<4 = 21, m5 = 2 | 2<<4 = 34 */
    qs[0] = 0x97; qh[0] = 0x03;   /* value 0: 7|16 = 23 (sub 0); value 32: 9|16 = 25 (sub 1) */
    qs[74] = 0xb0; qh[10] = 0x20; /* value 170 (byte 64+10 high nibble, sub 5): 11|16 = 27 */
    float y[256];
    assert_true(dt_to_f32(DT_Q5_K, b, y, 256));
    /* y = d*sc*q - dmin*m; values 42 (sub 1: byte 10 high nibble, qh[10] bit 1) and
     * 160 (sub 5: byte 64 high nibble, qh[0] bit 5) have q 0 */
    int idx[] = {0, 32, 170, 42, 160};
    float want[] = {0.5f * 2 * 23 - 0.25f * 4, 0.5f * 3 * 25 - 0.25f * 1, 0.5f * 21 * 27 - 0.25f * 34,
                    -0.25f * 1, -0.25f * 34};
    expect_at("Q5_K", y, idx, want, 5);
    assert_true(y[170] == 275.0f);
}

/* IQ4_XS: d @0, scales_h u16 @2, scales_l[4] @4, qs[128] @8; sub-block s:
 * ls = nibble s%2 of scales_l[s/2] | bits 2s..2s+1 of scales_h << 4;
 * 16 bytes of qs each in IQ4_NL's order. */
static void test_hand_iq4_xs(void **state) {
    uint8_t b[136] = {0};
    put_half(b, 0x3800);  /* d = 0.5 */
    put_half(b + 2, 0x40c2); /* scales_h: s0 top 2, s3 top 3, s7 top 1 */
    b[4 + 0] = 0x01;      /* s0 low 1 -> ls 33 (S = 1); s1 low 0 -> ls 0 (S = -32) */
    b[4 + 1] = 0xe0;      /* s3 low 14 -> ls 62 (S = 30) */
    b[4 + 3] = 0x40;      /* s7 low 4 -> ls 20 (S = -12) */
    uint8_t *qs = b + 8;
    qs[0] = 0xf0;         /* value 0: T[0] = -127; value 16: T[15] = 113 */
    qs[16 * 3 + 5] = 0x0c; /* value 101: T[12] = 53; value 117: T[0] */
    qs[16 * 7 + 15] = 0x90; /* value 239: T[0]; value 255: T[9] = 13 */
    float y[256];
    assert_true(dt_to_f32(DT_IQ4_XS, b, y, 256));
    /* y = d*(ls-32)*T */
    int idx[] = {0, 16, 101, 117, 239, 255, 32};
    float want[] = {-63.5f, 56.5f, 15.0f * 53, 15.0f * -127, -6.0f * -127, -6.0f * 13, -16.0f * -127};
    expect_at("IQ4_XS", y, idx, want, 7);
}

/* --------------------------- random blocks vs the documented formulas */

/* An f16 field (dt_f16_to_f32 is checked against the definition for all
 * 65536 encodings in dtype_test.c). */
static float h16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dt_f16_to_f32(h);
}

/* n(e): the nibble order of the 32-value 4-bit types. */
static int nib32(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }

/* q2(e) of Q2_K / Q3_K. */
static int q2_of(const uint8_t *qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

/* sc(s), m(s) of Q4_K / Q5_K (quant-formats.md's table). */
static void k_scale_min(const uint8_t *sc, int s, int *scale, int *min) {
    *scale = s < 4 ? sc[s] & 63 : (sc[s + 4] & 15) | ((sc[s - 4] >> 6) << 4);
    *min = s < 4 ? sc[s + 4] & 63 : (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
}

static const int k_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Element e of block b, one element at a time from quant-formats.md §2,
 * in ggml's f32 operation order: a sub-block's step (d times its scale)
 * and offset (dmin times its min) are rounded to f32 first, then
 * step*q - offset. */
static float ref_elem(uint32_t type, const uint8_t *b, int e) {
    switch (type) {
    case DT_Q8_0: return (int8_t)b[2 + e] * h16(b);
    case DT_Q4_0: return (nib32(b + 2, e) - 8) * h16(b);
    case DT_Q4_1: return nib32(b + 4, e) * h16(b) + h16(b + 2);
    case DT_Q5_0: {
        uint32_t H;
        memcpy(&H, b + 2, 4);
        return ((nib32(b + 6, e) | (int)((H >> e) & 1) << 4) - 16) * h16(b);
    }
    case DT_Q5_1: {
        uint32_t H;
        memcpy(&H, b + 4, 4);
        return (nib32(b + 8, e) | (int)((H >> e) & 1) << 4) * h16(b) + h16(b + 2);
    }
    case DT_IQ4_NL: return h16(b) * k_levels[nib32(b + 2, e)];
    case DT_Q2_K: {
        int s = e / 16;
        float dl = h16(b + 80) * (b[s] & 15), ml = h16(b + 82) * (b[s] >> 4);
        return dl * q2_of(b + 16, e) - ml;
    }
    case DT_Q3_K: {
        const uint8_t *sc = b + 96;
        int s = e / 16, lo = s < 8 ? sc[s] & 15 : sc[s - 8] >> 4, hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
        int h = (b[e % 32] >> (e / 32)) & 1;
        float dl = h16(b + 108) * ((lo | hi << 4) - 32);
        return dl * (q2_of(b + 32, e) - (h ? 0 : 4));
    }
    case DT_Q4_K: case DT_Q5_K: {
        int s = e / 32, scale, min;
        k_scale_min(b + 4, s, &scale, &min);
        const uint8_t *qs = b + (type == DT_Q4_K ? 16 : 48);
        int byte = qs[32 * (e / 64) + e % 32], q = s % 2 == 0 ? byte & 15 : byte >> 4;
        if (type == DT_Q5_K) q |= ((b[16 + e % 32] >> s) & 1) << 4;
        float d1 = h16(b) * scale, m1 = h16(b + 2) * min;
        return d1 * q - m1;
    }
    case DT_Q6_K: {
        int h = e / 128, t = (e % 128) / 32, l = e % 32;
        int lo = (b[64 * h + 32 * (t & 1) + l] >> (4 * (t >> 1))) & 15, hi = (b[128 + 32 * h + l] >> (2 * t)) & 3;
        float ds = h16(b + 208) * (int8_t)b[192 + e / 16];
        return ds * ((lo | hi << 4) - 32);
    }
    case DT_IQ4_XS: {
        int s = e / 32, j = e % 32;
        uint16_t sh;
        memcpy(&sh, b + 2, 2);
        int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 15) | ((sh >> (2 * s)) & 3) << 4;
        int byte = b[8 + 16 * s + j % 16], n = j < 16 ? byte & 15 : byte >> 4;
        float dl = h16(b) * (ls - 32);
        return dl * k_levels[n];
    }
    }
    fail_msg("no reference for %s", dt_name(type));
    return 0;
}

/* Byte offsets of each block type's f16 fields (at most 2). */
static int half_fields(uint32_t type, int off[2]) {
    switch (type) {
    case DT_Q4_1: case DT_Q5_1: case DT_Q4_K: case DT_Q5_K: off[0] = 0; off[1] = 2; return 2;
    case DT_Q2_K: off[0] = 80; off[1] = 82; return 2;
    case DT_Q3_K: off[0] = 108; return 1;
    case DT_Q6_K: off[0] = 208; return 1;
    default: off[0] = 0; return 1;
    }
}

static const uint32_t k_block_types[] = {DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_IQ4_NL,
                                         DT_Q2_K, DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_IQ4_XS};

/* Random bytes (f16 fields: random finite values of magnitude < 2,
 * subnormals included), 200 blocks per type at an odd address: dt_to_f32
 * must give the formula's bits for every element. */
static void test_random_blocks_vs_formulas(void **state) {
    enum { NBLK = 200 };
    uint64_t s = 0x243f6a8885a308d3ull;
    uint8_t *buf = malloc(1 + NBLK * 292);
    float *y = malloc(NBLK * 256 * sizeof *y);
    for (size_t t = 0; t < sizeof k_block_types / sizeof k_block_types[0]; t++) {
        uint32_t type = k_block_types[t], be = dt_block_elems(type), bb = dt_block_bytes(type);
        uint8_t *b = buf + 1;
        for (size_t i = 0; i < (size_t)NBLK * bb; i++) b[i] = (uint8_t)(tu_rnd(&s) >> 56);
        int off[2], nf = half_fields(type, off);
        for (int i = 0; i < NBLK; i++)
            for (int f = 0; f < nf; f++) put_half(b + i * bb + off[f], (uint16_t)(tu_rnd(&s) >> 48) & 0xbfff);
        assert_true(dt_to_f32(type, b, y, (size_t)NBLK * be));
        for (int i = 0; i < NBLK; i++)
            for (uint32_t e = 0; e < be; e++) {
                float want = ref_elem(type, b + i * bb, (int)e), got = y[i * be + e];
                if (fbits(got) != fbits(want))
                    fail_msg("%s block %d value %u: got %.9g (0x%08x), formula %.9g (0x%08x)", dt_name(type),
                             i, e, got, fbits(got), want, fbits(want));
            }
    }
    free(buf);
    free(y);
}

/* -------------------------------------------- quantize round trip */

/* N(0,1) by Box-Muller from the test's xorshift. */
static float normal(uint64_t *s) {
    double u1 = ((tu_rnd(s) >> 11) + 0.5) / 9007199254740992.0, u2 = (tu_rnd(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

/* synth_quantize then dt_to_f32 on 64K N(0,1) values: the relative RMS
 * error must be under a bound set from the measured value (printed) with
 * ~15 % margin; a wrong layout on either side gives errors near 100 %. */
static void test_round_trip_normal(void **state) {
    enum { N = 65536 };
    const struct { uint32_t type; double bound; } T[] = {
        {DT_F16, 0.00025}, {DT_BF16, 0.0019}, {DT_Q8_0, 0.0062},  {DT_Q6_K, 0.023},
        {DT_Q5_1, 0.044},  {DT_Q5_0, 0.05},   {DT_Q5_K, 0.045},   {DT_Q4_1, 0.09},
        {DT_Q4_0, 0.1},    {DT_Q4_K, 0.092},  {DT_IQ4_NL, 0.092}, {DT_IQ4_XS, 0.094},
        {DT_Q3_K, 0.18},   {DT_Q2_K, 0.40},
    };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(N * 4);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N; i++) x[i] = normal(&s);
    for (size_t k = 0; k < sizeof T / sizeof T[0]; k++) {
        uint64_t nbytes;
        assert_true(dt_bytes(T[k].type, N, &nbytes));
        assert_true(synth_quantize(T[k].type, x, q, N));
        assert_true(dt_to_f32(T[k].type, q, y, N));
        double se = 0, sx = 0;
        for (int i = 0; i < N; i++) {
            se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            sx += (double)x[i] * x[i];
        }
        double rel = sqrt(se / sx);
        printf("# round trip %-6s %6.3f bits/value: relative RMS error %.5f (bound %.3g)\n",
               dt_name(T[k].type), nbytes * 8.0 / N, rel, T[k].bound);
        if (!(rel < T[k].bound)) fail_msg("%s: relative RMS error %.4f >= %.3g", dt_name(T[k].type), rel, T[k].bound);
    }
    assert_false(synth_quantize(DT_IQ2_XXS, x, q, 256));
    assert_false(synth_quantize(DT_Q3_K, x, q, 128)); /* not a whole block */
    free(x);
    free(y);
    free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_q4_1),
        cmocka_unit_test(test_hand_q5_0),
        cmocka_unit_test(test_hand_q5_1),
        cmocka_unit_test(test_hand_iq4_nl),
        cmocka_unit_test(test_hand_q2_k),
        cmocka_unit_test(test_hand_q3_k),
        cmocka_unit_test(test_hand_q5_k),
        cmocka_unit_test(test_hand_iq4_xs),
        cmocka_unit_test(test_random_blocks_vs_formulas),
        cmocka_unit_test(test_round_trip_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
