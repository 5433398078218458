/*
 * dtype.c — the ggml type table (names, block geometry) and exact
 * conversion to f32 of every weight type llama.cpp's quantizer writes for
 * Llama/Qwen2 models: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS.
 *
 * Dequantisation follows ggml's reference C code operation for operation
 * (same products, same order, f32 arithmetic), so the results are
 * bit-identical to what ggml's dequantize_row_* produce.  The layouts are
 * those of ../shared/reference/quant-formats.md §2.  Every product here is
 * exact in f32 (an f16 scale times integers: at most 24 significant bits,
 * e.g. Q6_K's d * int8 scale * 6-bit q), so the only rounding is the final
 * addition of an offset (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K: step*q - dmin*m),
 * and an FMA would round that the same way.  What the order of the
 * products still decides is the sign of a zero: ggml's (d*sc)*q is -0
 * when d*sc < 0 and q = 0, d*(sc*q) would be +0.  So this file forms a
 * sub-block's step (d*sc) and offset (dmin*m) first, as ggml does.
 *
 * All multi-byte fields are little-endian and may sit at any address (a
 * Q4_0 block is 18 bytes, safetensors offsets are arbitrary), so every load
 * goes through memcpy.
 */
#include "dtype.h"

#include <string.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

#include "common.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ctgi reads little-endian model files directly and needs a little-endian host"
#endif

/* ---------------------------------------------------------------- table */

typedef struct {
    const char *name;   /* NULL: id not defined by ggml */
    uint32_t blk_elems;
    uint32_t blk_bytes;
} dt_info;

/* Block sizes are ggml's (ggml-common.h static_asserts).  Ids 4, 5 (Q4_2,
 * Q4_3), 31-33 (Q4_0_4_4 ...) and 36-38 (IQ4_NL_4_4 ...) were removed from
 * ggml and are rejected. */
static const dt_info k_types[DT_COUNT] = {
    [DT_F32] = {"F32", 1, 4},
    [DT_F16] = {"F16", 1, 2},
    [DT_Q4_0] = {"Q4_0", 32, 18},
    [DT_Q4_1] = {"Q4_1", 32, 20},
    [DT_Q5_0] = {"Q5_0", 32, 22},
    [DT_Q5_1] = {"Q5_1", 32, 24},
    [DT_Q8_0] = {"Q8_0", 32, 34},
    [DT_Q8_1] = {"Q8_1", 32, 36},
    [DT_Q2_K] = {"Q2_K", 256, 84},
    [DT_Q3_K] = {"Q3_K", 256, 110},
    [DT_Q4_K] = {"Q4_K", 256, 144},
    [DT_Q5_K] = {"Q5_K", 256, 176},
    [DT_Q6_K] = {"Q6_K", 256, 210},
    [DT_Q8_K] = {"Q8_K", 256, 292},
    [DT_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [DT_IQ2_XS] = {"IQ2_XS", 256, 74},
    [DT_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [DT_IQ1_S] = {"IQ1_S", 256, 50},
    [DT_IQ4_NL] = {"IQ4_NL", 32, 18},
    [DT_IQ3_S] = {"IQ3_S", 256, 110},
    [DT_IQ2_S] = {"IQ2_S", 256, 82},
    [DT_IQ4_XS] = {"IQ4_XS", 256, 136},
    [DT_I8] = {"I8", 1, 1},
    [DT_I16] = {"I16", 1, 2},
    [DT_I32] = {"I32", 1, 4},
    [DT_I64] = {"I64", 1, 8},
    [DT_F64] = {"F64", 1, 8},
    [DT_IQ1_M] = {"IQ1_M", 256, 56},
    [DT_BF16] = {"BF16", 1, 2},
    [DT_TQ1_0] = {"TQ1_0", 256, 54},
    [DT_TQ2_0] = {"TQ2_0", 256, 66},
    [DT_MXFP4] = {"MXFP4", 32, 17},
};

static const dt_info *info(uint32_t type) {
    if (type >= DT_COUNT || !k_types[type].name) return NULL;
    return &k_types[type];
}

const char *dt_name(uint32_t type) {
    const dt_info *t = info(type);
    return t ? t->name : "unknown";
}

bool dt_known(uint32_t type) { return info(type) != NULL; }

bool dt_convertible(uint32_t type) {
    switch (type) {
    case DT_F32: case DT_F16: case DT_BF16:
    case DT_Q8_0: case DT_Q4_0: case DT_Q4_1: case DT_Q5_0: case DT_Q5_1:
    case DT_Q2_K: case DT_Q3_K: case DT_Q4_K: case DT_Q5_K: case DT_Q6_K:
    case DT_IQ4_NL: case DT_IQ4_XS:
        return true;
    default:
        return false;
    }
}

uint32_t dt_block_elems(uint32_t type) {
    const dt_info *t = info(type);
    return t ? t->blk_elems : 0;
}

uint32_t dt_block_bytes(uint32_t type) {
    const dt_info *t = info(type);
    return t ? t->blk_bytes : 0;
}

bool dt_bytes(uint32_t type, uint64_t n, uint64_t *bytes_out) {
    const dt_info *t = info(type);
    if (!t || n % t->blk_elems != 0) return false;
    return ct_mul_ok(n / t->blk_elems, t->blk_bytes, bytes_out);
}

/* ------------------------------------------------------ scalar formats */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.  Moving
 * exponent+mantissa up by 13 bits and adding 112 to the exponent (127-15)
 * is right for normal numbers.  Exponent 31 (inf/nan) needs 255, i.e.
 * another 112; the mantissa (nan payload, quiet bit) is carried over.
 * Exponent 0 (zero, subnormals m * 2^-24) is built as
 * 2^-14 * (1 + m/1024) - 2^-14: both operands and the difference are
 * exact in f32.  Written without early returns to keep it branch-light. */
float dt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = h & 0x7c00;
    uint32_t o = ((uint32_t)(h & 0x7fff) << 13) + (112u << 23);
    if (exp == 0x7c00) o += 112u << 23;
    if (exp == 0x7c00 && (h & 0x3ff)) o |= 0x400000; /* nan comes out quiet, as F16C does */
    float mag = bits_f32(o);
    if (exp == 0) mag = bits_f32(o + (1u << 23)) - bits_f32(113u << 23);
    return bits_f32(f32_bits(mag) | sign);
}

/* Round-to-nearest-even shift right of a value by s bits (1 <= s < 32). */
static inline uint32_t shr_rne(uint32_t v, unsigned s) {
    uint32_t q = v >> s, rem = v & ((1u << s) - 1), half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return q;
}

uint16_t dt_f32_to_f16(float f) {
    uint32_t bits = f32_bits(f);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) /* nan: keep it a (quiet) nan with the top payload bits */
        return (uint16_t)(sign | 0x7e00 | ((abs >> 13) & 0x3ff));
    /* 65520 is halfway between the largest half (65504) and 2^16; the tie
     * goes to the even side, 2^16, which overflows to inf. */
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);
    if (abs >= 0x38800000u) /* >= 2^-14: normal half; the carry of the
                             * rounding may bump the exponent, as it should */
        return (uint16_t)(sign | shr_rne(abs - (112u << 23), 13));
    /* Subnormal or zero: result is round(|f| / 2^-24).  Anything at or
     * below 2^-25 (half of the smallest subnormal, a tie) rounds to 0. */
    if (abs <= 0x33000000u) return sign;
    uint32_t exp = abs >> 23, mant = (abs & 0x7fffff) | 0x800000;
    /* |f| = mant * 2^(exp-150), so |f| / 2^-24 = mant >> (126 - exp);
     * exp is in [102, 112] here, the shift in [14, 24]. */
    return (uint16_t)(sign | shr_rne(mant, 126 - exp));
}

/* bfloat16 is the top half of an f32, so widening is a shift. */
float dt_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t dt_f32_to_bf16(float f) {
    uint32_t bits = f32_bits(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) /* nan: force the quiet bit so that
                                             * truncation cannot make it inf */
        return (uint16_t)((bits >> 16) | 0x40);
    /* Overflow rounds up into the inf encoding, which is the IEEE result. */
    return (uint16_t)shr_rne(bits, 16);
}

/* -------------------------------------------- blocks of 32 values */

/* Q8_0 — 32 values, 34 bytes:
 *   struct { f16 d; int8_t qs[32]; }      y[j] = qs[j] * d */
static void deq_q8_0(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 34, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) y[j] = qs[j] * d;
    }
}

/* The 4-bit types of 32 values (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) share one
 * nibble order: byte j of qs[16] holds value j in its low nibble and value
 * j+16 in its high nibble (not adjacent pairs). */

/* Q4_0 — 32 values, 18 bytes:
 *   struct { f16 d; uint8_t qs[16]; }
 * nibbles are offset by 8:  y = (nibble - 8) * d */
static void deq_q4_0(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 18, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = ((qs[j] & 0x0f) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1 — 32 values, 20 bytes:
 *   struct { f16 d; f16 m; uint8_t qs[16]; }
 * unsigned nibbles with an offset:  y = nibble * d + m */
static void deq_q4_1(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 20, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        const float m = dt_f16_to_f32(load_u16(b + 2));
        const uint8_t *qs = b + 4;
        for (int j = 0; j < 16; j++) {
            y[j] = (qs[j] & 0x0f) * d + m;
            y[j + 16] = (qs[j] >> 4) * d + m;
        }
    }
}

/* The fifth bit of value j of a Q5_0/Q5_1 block: bit j of the
 * little-endian u32 qh, moved to bit 4. */
static inline int q5_high(uint32_t qh, int j) { return (int)((qh >> j) & 1) << 4; }

/* Q5_0 — 32 values, 22 bytes:
 *   struct { f16 d; uint8_t qh[4]; uint8_t qs[16]; }
 * 5-bit values offset by 16:  y = (q5 - 16) * d */
static void deq_q5_0(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 22, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            y[j] = (((qs[j] & 0x0f) | q5_high(qh, j)) - 16) * d;
            y[j + 16] = (((qs[j] >> 4) | q5_high(qh, j + 16)) - 16) * d;
        }
    }
}

/* Q5_1 — 32 values, 24 bytes:
 *   struct { f16 d; f16 m; uint8_t qh[4]; uint8_t qs[16]; }
 * unsigned 5-bit values with an offset:  y = q5 * d + m */
static void deq_q5_1(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 24, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        const float m = dt_f16_to_f32(load_u16(b + 2));
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            y[j] = ((qs[j] & 0x0f) | q5_high(qh, j)) * d + m;
            y[j + 16] = ((qs[j] >> 4) | q5_high(qh, j + 16)) * d + m;
        }
    }
}

/* The 16 non-uniform levels of IQ4_NL and IQ4_XS (denser near zero, as
 * the weights are). */
static const int8_t k_iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};

/* IQ4_NL — 32 values, 18 bytes (Q4_0's layout):
 *   struct { f16 d; uint8_t qs[16]; }       y = d * levels[nibble] */
static void deq_iq4_nl(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 18, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = d * k_iq4_levels[qs[j] & 0x0f];
            y[j + 16] = d * k_iq4_levels[qs[j] >> 4];
        }
    }
}

/* ----------------------------------- super-blocks of 256 values */

/* Q2_K and Q3_K store 2-bit fields the same way: byte 32h+l of qs[64]
 * holds values 128h+l, +32, +64 and +96 in bit pairs 0-1, 2-3, 4-5, 6-7.
 * So sub-block s of 16 values (e = 16s+l) reads bytes 32(s/8) + 16(s%2)
 * + l at shift 2((s%8)/2). */
static inline const uint8_t *q2_bytes(const uint8_t *qs, int s) { return qs + 32 * (s / 8) + 16 * (s % 2); }
static inline int q2_shift(int s) { return 2 * ((s % 8) / 2); }

/* Q2_K — 256 values, 84 bytes (d at the END):
 *   struct { uint8_t scales[16]; uint8_t qs[64]; f16 d; f16 dmin; }
 * 16 sub-blocks of 16; scales[s] holds sub-block s's 4-bit scale (low
 * nibble) and 4-bit min (high nibble).
 *   y = (d*sc) * q - (dmin*m),  q in 0..3 */
static void deq_q2_k(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 84) {
        const float d = dt_f16_to_f32(load_u16(b + 80));
        const float dmin = dt_f16_to_f32(load_u16(b + 82));
        const uint8_t *scales = b, *qs = b + 16;
        for (int s = 0; s < 16; s++, y += 16) {
            const float dl = d * (scales[s] & 0x0f), ml = dmin * (scales[s] >> 4);
            const uint8_t *q = q2_bytes(qs, s);
            const int shift = q2_shift(s);
            for (int l = 0; l < 16; l++) y[l] = dl * ((q[l] >> shift) & 3) - ml;
        }
    }
}

/* Q3_K — 256 values, 110 bytes (d at the END):
 *   struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; f16 d; }
 * 16 sub-blocks of 16.  Low 2 bits of each value as in Q2_K; the high bit
 * of value e is bit e/32 of hmask[e%32], and a CLEAR bit subtracts 4:
 *   q = q2 - (h ? 0 : 4) in -4..3,   y = (d*S) * q */
static void deq_q3_k(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 110) {
        const float d = dt_f16_to_f32(load_u16(b + 108));
        const uint8_t *hmask = b, *qs = b + 32, *scales = b + 96;
        for (int s = 0; s < 16; s++, y += 16) {
            const float dl = d * dt_q3k_scale(scales, s);
            const uint8_t *q = q2_bytes(qs, s), *hm = hmask + 16 * (s % 2);
            const int shift = q2_shift(s), hbit = s / 2; /* e/32 for e = 16s+l */
            for (int l = 0; l < 16; l++) {
                const int q3 = ((q[l] >> shift) & 3) - (((hm[l] >> hbit) & 1) ? 0 : 4);
                y[l] = dl * q3;
            }
        }
    }
}


/* Q4_K — 256 values, 144 bytes (d at the START):
 *   struct { f16 d; f16 dmin; uint8_t scales[12]; uint8_t qs[128]; }
 * 8 sub-blocks of 32; sub-block j has scale d*sc[j] and offset dmin*m[j].
 * Each 32-byte run of qs serves two sub-blocks: low nibbles the first,
 * high nibbles the second (a 64-value pairing, unlike Q4_0's).
 *   y = (d*sc) * q - (dmin*m),  q in 0..15 */
static void deq_q4_k(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 144) {
        const float d = dt_f16_to_f32(load_u16(b));
        const float dmin = dt_f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4, *q = b + 16;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            dt_q4k_scale_min(scales, j, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            dt_q4k_scale_min(scales, j + 1, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* Q5_K — 256 values, 176 bytes (d at the START):
 *   struct { f16 d; f16 dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; }
 * Q4_K plus a fifth bit: bit j of qh[l] is the high bit of value 32j+l.
 *   y = (d*sc) * q - (dmin*m),  q in 0..31 */
static void deq_q5_k(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 176) {
        const float d = dt_f16_to_f32(load_u16(b));
        const float dmin = dt_f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4, *qh = b + 16, *q = b + 48;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            dt_q4k_scale_min(scales, j, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            dt_q4k_scale_min(scales, j + 1, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((q[l] & 0x0f) | ((qh[l] >> j) & 1) << 4) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((q[l] >> 4) | ((qh[l] >> (j + 1)) & 1) << 4) - m2;
        }
    }
}

/* Q6_K — 256 values, 210 bytes (d at the END):
 *   struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; f16 d; }
 * Each value is 6 bits (offset by 32): 4 low bits in ql, 2 high bits in
 * qh; element e uses scale d*scales[e/16].  Per half (128 values) with
 * ql, qh advanced by 64 and 32 bytes, for l < 32:
 *   value l     : ql[l]    low nibble, qh[l] bits 0-1
 *   value l+32  : ql[l+32] low nibble, qh[l] bits 2-3
 *   value l+64  : ql[l]    high nibble, qh[l] bits 4-5
 *   value l+96  : ql[l+32] high nibble, qh[l] bits 6-7
 *   y = (d*scale) * q */
static void deq_q6_k(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 210) {
        const float d = dt_f16_to_f32(load_u16(b + 208));
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* IQ4_XS — 256 values, 136 bytes:
 *   struct { f16 d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; }
 * 8 sub-blocks of 32 with six-bit scales ls offset by 32: the low 4 bits
 * are nibble s%2 of scales_l[s/2], the top 2 bits are bits 2s, 2s+1 of
 * scales_h.  Each sub-block's 16 bytes of qs are in IQ4_NL's order (byte
 * j: value j low nibble, value j+16 high nibble).
 *   y = (d*(ls-32)) * levels[nibble] */
static void deq_iq4_xs(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 136) {
        const float d = dt_f16_to_f32(load_u16(b));
        const uint16_t scales_h = load_u16(b + 2);
        const uint8_t *scales_l = b + 4, *qs = b + 8;
        for (int s = 0; s < 8; s++, y += 32, qs += 16) {
            const int ls = ((scales_l[s / 2] >> (4 * (s % 2))) & 0x0f) | ((scales_h >> (2 * s)) & 3) << 4;
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * k_iq4_levels[qs[j] & 0x0f];
                y[j + 16] = dl * k_iq4_levels[qs[j] >> 4];
            }
        }
    }
}

/* ------------------------------------------------------- dispatch */

/* With F16C (any x86-64 since 2012, enabled by -march=native) the CPU
 * converts 8 halves per instruction; half -> single is exact in hardware
 * (subnormals included, MXCSR.DAZ does not apply), so both paths give the
 * same bits. */
static void conv_f16(const uint8_t *src, float *dst, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
#endif
    for (; i < n; i++) dst[i] = dt_f16_to_f32(load_u16(src + 2 * i));
}

static void conv_bf16(const uint8_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = dt_bf16_to_f32(load_u16(src + 2 * i));
}

bool dt_to_f32(uint32_t type, const void *src, float *dst, size_t n) {
    if (!dt_convertible(type) || n % dt_block_elems(type) != 0) return false;
    const uint8_t *s = src;
    size_t nblk = n / dt_block_elems(type);
    switch (type) {
    case DT_F32: memcpy(dst, src, n * sizeof(float)); break;
    case DT_F16: conv_f16(s, dst, n); break;
    case DT_BF16: conv_bf16(s, dst, n); break;
    case DT_Q8_0: deq_q8_0(s, dst, nblk); break;
    case DT_Q4_0: deq_q4_0(s, dst, nblk); break;
    case DT_Q4_1: deq_q4_1(s, dst, nblk); break;
    case DT_Q5_0: deq_q5_0(s, dst, nblk); break;
    case DT_Q5_1: deq_q5_1(s, dst, nblk); break;
    case DT_IQ4_NL: deq_iq4_nl(s, dst, nblk); break;
    case DT_Q2_K: deq_q2_k(s, dst, nblk); break;
    case DT_Q3_K: deq_q3_k(s, dst, nblk); break;
    case DT_Q4_K: deq_q4_k(s, dst, nblk); break;
    case DT_Q5_K: deq_q5_k(s, dst, nblk); break;
    case DT_Q6_K: deq_q6_k(s, dst, nblk); break;
    case DT_IQ4_XS: deq_iq4_xs(s, dst, nblk); break;
    }
    return true;
}
