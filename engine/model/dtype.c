/*
 * dtype.c — the ggml type table (names, block geometry) and exact
 * conversion of F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K data to f32.
 *
 * Dequantisation follows ggml's reference C code operation for operation
 * (same products, same order, f32 arithmetic), so the results are
 * bit-identical to what ggml's dequantize_row_* produce.  This file is
 * compiled with -std=c17, where GCC does not contract a*b-c into an FMA,
 * which keeps the rounding identical too.
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
    case DT_Q8_0: case DT_Q4_0: case DT_Q4_K: case DT_Q6_K:
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

/* -------------------------------------------------------- block formats */

/* Q8_0 — 32 values, 34 bytes:
 *   struct { f16 d; int8_t qs[32]; }      y[j] = qs[j] * d */
static void deq_q8_0(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 34, y += 32) {
        const float d = dt_f16_to_f32(load_u16(b));
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) y[j] = qs[j] * d;
    }
}

/* Q4_0 — 32 values, 18 bytes:
 *   struct { f16 d; uint8_t qs[16]; }
 * byte j holds value j in its low nibble and value j+16 in its high
 * nibble; nibbles are offset by 8:  y = (nibble - 8) * d */
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

/* Q4_K's 8 pairs (scale, min) of 6 bits each are packed into 12 bytes:
 *   j < 4:  scale = s[j] & 63,         min = s[j+4] & 63
 *   j >= 4: scale = (s[j+4] & 15) | (s[j-4] >> 6) << 4,
 *           min   = (s[j+4] >> 4)  | (s[j]   >> 6) << 4
 * i.e. bytes 0-7 hold the low 6 bits of scales 0-3 / mins 0-3 and lend
 * their top 2 bits to pairs 4-7, whose low 4 bits live in bytes 8-11. */
static inline void q4k_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Q4_K — 256 values, 144 bytes:
 *   struct { f16 d; f16 dmin; uint8_t scales[12]; uint8_t qs[128]; }
 * 8 sub-blocks of 32; sub-block j has scale d*sc[j] and offset dmin*m[j].
 * Each 32-byte run of qs serves two sub-blocks: low nibbles the first,
 * high nibbles the second.   y = d*sc * q - dmin*m */
static void deq_q4_k(const uint8_t *b, float *y, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, b += 144) {
        const float d = dt_f16_to_f32(load_u16(b));
        const float dmin = dt_f16_to_f32(load_u16(b + 2));
        const uint8_t *scales = b + 4, *q = b + 16;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            q4k_scale_min(scales, j, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            q4k_scale_min(scales, j + 1, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* Q6_K — 256 values, 210 bytes:
 *   struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; f16 d; }
 * Each value is 6 bits (offset by 32): 4 low bits in ql, 2 high bits in
 * qh; element e uses scale d*scales[e/16].  Per half (128 values) with
 * ql, qh advanced by 64 and 32 bytes, for l < 32:
 *   value l     : ql[l]    low nibble, qh[l] bits 0-1
 *   value l+32  : ql[l+32] low nibble, qh[l] bits 2-3
 *   value l+64  : ql[l]    high nibble, qh[l] bits 4-5
 *   value l+96  : ql[l+32] high nibble, qh[l] bits 6-7 */
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
    case DT_Q4_K: deq_q4_k(s, dst, nblk); break;
    case DT_Q6_K: deq_q6_k(s, dst, nblk); break;
    }
    return true;
}
