/*
 * synth_quant.c — f32 -> model weight encodings for the synthetic model
 * writer (synth_model.h: synth_quantize): F32, F16, BF16 and the GGUF
 * block formats Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL (blocks of 32) and
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS (blocks of 256).
 *
 * These are simple, deliberately unclever quantizers (absmax or per
 * sub-block min/max, nearest level, no error search).  They produce valid
 * blocks in exactly the layout engine/model/dtype.c decodes, and that
 * decoding approximates the input.  Relative RMS error on N(0,1) data
 * (dtype_test.c test_round_trip_normal holds them to these): Q8_0 0.54 %,
 * Q6_K 2.0 %, Q5_1 3.8 %, Q5_K 3.9 %, Q5_0 4.3 %, Q4_1 7.8 %, Q4_K 7.9 %,
 * IQ4_NL 8.0 %, IQ4_XS 8.1 %, Q4_0 8.6 %, Q3_K 16 %, Q2_K 35 % (llama.cpp's
 * searching quantizers do better, most of all at 2-3 bits).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/dtype.h"
#include "synth_model.h"

static void store_f16(uint8_t *p, float v) {
    uint16_t h = dt_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* The f16 a scale is stored as, read back: what the decoder will use. */
static float f16_round(float v) { return dt_f16_to_f32(dt_f32_to_f16(v)); }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The value of largest magnitude among x[0..n) (its sign kept). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    return max;
}

/* ------------------------------------------------ blocks of 32 values */

/* The nibble order of Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL: byte j holds
 * value j (low nibble) and value j+16 (high nibble); only the low 4 bits
 * of each q are stored. */
static void put_nibbles32(uint8_t *qs, const int q[32]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
}

/* Q5_0/Q5_1: bit j of the little-endian u32 qh is bit 4 of value j. */
static void put_q5_high(uint8_t *qh, const int q[32]) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    memcpy(qh, &h, 4);
}

/* Q8_0: 32 values -> f16 d + 32 int8, d = absmax / 127. */
static void quant_q8_0(const float *x, uint8_t *b) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = f16_round(amax / 127.0f), id = d > 0 ? 1.0f / d : 0.0f;
    store_f16(b, d);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)clampi((int)lrintf(x[j] * id), -127, 127);
}

/* Q4_0 (bits 4) and Q5_0 (bits 5): y = (q - 2^(bits-1)) * d.  As in ggml,
 * the value of largest magnitude maps to the most negative level, so its
 * sign picks d's sign. */
static void quant_sym32(const float *x, int bits, float *d_out, int q[32]) {
    const int half = 1 << (bits - 1);
    float d = f16_round(signed_absmax(x, 32) / (float)-half), id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = clampi((int)lrintf(x[j] * id) + half, 0, 2 * half - 1);
    *d_out = d;
}

static void quant_q4_0(const float *x, uint8_t *b) {
    float d;
    int q[32];
    quant_sym32(x, 4, &d, q);
    store_f16(b, d);
    put_nibbles32(b + 2, q);
}

static void quant_q5_0(const float *x, uint8_t *b) {
    float d;
    int q[32];
    quant_sym32(x, 5, &d, q);
    store_f16(b, d);
    put_q5_high(b + 2, q);
    put_nibbles32(b + 6, q);
}

/* Q4_1 (bits 4) and Q5_1 (bits 5): y = q * d + m with m = min,
 * d = (max - min) / (2^bits - 1), both as stored in f16. */
static void quant_minmax32(const float *x, int bits, float *d_out, float *m_out, int q[32]) {
    const int qmax = (1 << bits) - 1;
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; j++) { lo = fminf(lo, x[j]); hi = fmaxf(hi, x[j]); }
    float d = f16_round((hi - lo) / (float)qmax), m = f16_round(lo);
    for (int j = 0; j < 32; j++) q[j] = d > 0 ? clampi((int)lrintf((x[j] - m) / d), 0, qmax) : 0;
    *d_out = d;
    *m_out = m;
}

static void quant_q4_1(const float *x, uint8_t *b) {
    float d, m;
    int q[32];
    quant_minmax32(x, 4, &d, &m, q);
    store_f16(b, d);
    store_f16(b + 2, m);
    put_nibbles32(b + 4, q);
}

static void quant_q5_1(const float *x, uint8_t *b) {
    float d, m;
    int q[32];
    quant_minmax32(x, 5, &d, &m, q);
    store_f16(b, d);
    store_f16(b + 2, m);
    put_q5_high(b + 4, q);
    put_nibbles32(b + 8, q);
}

/* IQ4_NL / IQ4_XS levels (dtype.c) and the index of the one nearest v. */
static const int8_t k_iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};

static int iq4_nearest(float v) {
    int best = 0;
    for (int k = 1; k < 16; k++)
        if (fabsf(v - k_iq4_levels[k]) < fabsf(v - k_iq4_levels[best])) best = k;
    return best;
}

/* IQ4_NL: y = d * level; the value of largest magnitude maps to level -127
 * (so d takes its sign), every value to the nearest level. */
static void quant_iq4_nl(const float *x, uint8_t *b) {
    float d = f16_round(signed_absmax(x, 32) / -127.0f);
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = iq4_nearest(d != 0 ? x[j] / d : 0);
    store_f16(b, d);
    put_nibbles32(b + 2, q);
}

/* ------------------------------------------ super-blocks of 256 values */

/* Unsigned K-quants (Q2_K, Q4_K, Q5_K): y = d*sc*q - dmin*m with q in
 * 0..qmax and sc, m in 0..smax, for nsub sub-blocks of len values.  Per
 * sub-block: offset = -min(0, min x), step = range / qmax; the multipliers
 * of d = max step / smax and dmin = max offset / smax are rounded (offset)
 * and rounded up (step, so the top value is not clipped). */
typedef struct {
    float d, dmin;
    int sc[16], m[16];
} kq_fit;

static void fit_scale_min(const float *x, int nsub, int len, int qmax, int smax, kq_fit *f) {
    float step[16], off[16], hi[16], max_step = 0, max_off = 0;
    for (int j = 0; j < nsub; j++) {
        float lo = 0;
        hi[j] = x[len * j];
        for (int l = 0; l < len; l++) { lo = fminf(lo, x[len * j + l]); hi[j] = fmaxf(hi[j], x[len * j + l]); }
        off[j] = -lo;
        step[j] = (hi[j] - lo) / (float)qmax;
        max_step = fmaxf(max_step, step[j]);
        max_off = fmaxf(max_off, off[j]);
    }
    f->d = f16_round(max_step / (float)smax);
    f->dmin = f16_round(max_off / (float)smax);
    for (int j = 0; j < nsub; j++) {
        f->m[j] = f->dmin > 0 ? clampi((int)lrintf(off[j] / f->dmin), 0, smax) : 0;
        float need = (hi[j] + f->dmin * f->m[j]) / (float)qmax; /* step that keeps the top in range */
        f->sc[j] = f->d > 0 ? clampi((int)ceilf(fmaxf(need, step[j]) / f->d - 1e-4f), 0, smax) : 0;
    }
}

/* q of value x in sub-block j of a fit. */
static int fit_q(const kq_fit *f, int j, float x, int qmax) {
    float es = f->d * f->sc[j], em = f->dmin * f->m[j];
    return es > 0 ? clampi((int)lrintf((x + em) / es), 0, qmax) : 0;
}

/* Q2_K and Q3_K 2-bit fields: byte 32(e/128) + e%32, bit pair (e%128)/32. */
static void put_q2(uint8_t *qs, int e, int q) {
    qs[32 * (e / 128) + e % 32] |= (uint8_t)((q & 3) << (2 * ((e % 128) / 32)));
}

/* Q2_K: 16 sub-blocks of 16, 4-bit scale and min per sub-block in one
 * byte (scale low nibble), q in 0..3; d and dmin at the end. */
static void quant_q2_k_block(const float *x, uint8_t *b) {
    kq_fit f;
    fit_scale_min(x, 16, 16, 3, 15, &f);
    memset(b, 0, 80);
    for (int s = 0; s < 16; s++) b[s] = (uint8_t)(f.sc[s] | f.m[s] << 4);
    for (int e = 0; e < 256; e++) put_q2(b + 16, e, fit_q(&f, e / 16, x[e], 3));
    store_f16(b + 80, f.d);
    store_f16(b + 82, f.dmin);
}

/* Q4_K's 12-byte packing of 8 six-bit (scale, min) pairs (see dtype.c). */
static void q4k_pack_scales(uint8_t *s, const int *sc, const int *m) {
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= (uint8_t)sc[j];
            s[j + 4] |= (uint8_t)m[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 15) | ((m[j] & 15) << 4));
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* Q4_K and Q5_K (bits 4 or 5): 8 sub-blocks of 32, six-bit scales and
 * mins; the low nibbles go to qs in 32-byte runs (low nibble = even
 * sub-block, high = odd), Q5_K's fifth bit of value 32j+l to bit j of
 * qh[l]. */
static void quant_k_block(const float *x, uint8_t *b, int bits) {
    const int qmax = (1 << bits) - 1;
    kq_fit f;
    fit_scale_min(x, 8, 32, qmax, 63, &f);
    store_f16(b, f.d);
    store_f16(b + 2, f.dmin);
    q4k_pack_scales(b + 4, f.sc, f.m);
    uint8_t *qh = b + 16, *qs = bits == 5 ? b + 48 : b + 16;
    memset(b + 16, 0, bits == 5 ? 160 : 128);
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32, q = fit_q(&f, j, x[e], qmax);
        qs[(j / 2) * 32 + l] |= (uint8_t)(j % 2 ? (q & 15) << 4 : q & 15);
        if (bits == 5) qh[l] |= (uint8_t)((q >> 4) << j);
    }
}

/* Signed sub-block scales (Q3_K, IQ4_XS): y = d*S*level.  In each
 * sub-block the value of largest magnitude maps to the most negative
 * level `lmin` (so S takes its sign); d = max |step| / smax and |S| is
 * rounded up so that value is not clipped. */
static float fit_signed(const float *x, int nsub, int len, float lmin, int smax, int *S) {
    float step[16], max_step = 0;
    for (int j = 0; j < nsub; j++) {
        step[j] = signed_absmax(x + len * j, len) / lmin;
        max_step = fmaxf(max_step, fabsf(step[j]));
    }
    float d = f16_round(max_step / (float)smax);
    for (int j = 0; j < nsub; j++) {
        int mag = d > 0 ? clampi((int)ceilf(fabsf(step[j]) / d - 1e-4f), 0, smax) : 0;
        S[j] = step[j] < 0 ? -mag : mag;
    }
    return d;
}

/* Q3_K: 16 sub-blocks of 16, q in -4..3 stored as q+4: low 2 bits as in
 * Q2_K, bit 2 in hmask (bit e/32 of hmask[e%32]); S+32 packed into 12
 * bytes (low nibbles of scales s and s+8 in byte s%8, top 2 bits of scales
 * i, i+4, i+8, i+12 in byte 8+i); d at the end. */
static void quant_q3_k_block(const float *x, uint8_t *b) {
    int S[16];
    float d = fit_signed(x, 16, 16, -4.0f, 31, S);
    memset(b, 0, 108);
    uint8_t *hmask = b, *qs = b + 32, *sc = b + 96;
    for (int s = 0; s < 16; s++) {
        int u = S[s] + 32;
        sc[s % 8] |= (uint8_t)((u & 15) << (s < 8 ? 0 : 4));
        sc[8 + s % 4] |= (uint8_t)((u >> 4) << (2 * (s / 4)));
    }
    for (int e = 0; e < 256; e++) {
        float es = d * S[e / 16];
        int u = (es != 0 ? clampi((int)lrintf(x[e] / es), -4, 3) : 0) + 4;
        put_q2(qs, e, u);
        hmask[e % 32] |= (uint8_t)((u >> 2) << (e / 32));
    }
    store_f16(b + 108, d);
}

/* Q6_K: 256 values, 16 sub-blocks of 16, y = d*sc*q with q in -32..31 and
 * int8 sc.  Per sub-block step = absmax / 31; d = max step / 127; the
 * multiplier is rounded up so no value is clipped. */
static void quant_q6_k_block(const float *x, uint8_t *b) {
    float step[16], max_step = 0;
    for (int s = 0; s < 16; s++) {
        float amax = 0;
        for (int l = 0; l < 16; l++) amax = fmaxf(amax, fabsf(x[16 * s + l]));
        step[s] = amax / 31.0f;
        max_step = fmaxf(max_step, step[s]);
    }
    float d = f16_round(max_step / 127.0f);
    uint8_t *ql = b, *qh = b + 128;
    int8_t *scales = (int8_t *)(b + 192);
    memset(b, 0, 208);
    for (int s = 0; s < 16; s++) scales[s] = (int8_t)(d > 0 ? clampi((int)ceilf(step[s] / d - 1e-4f), 0, 127) : 0);
    for (int e = 0; e < 256; e++) {
        float es = d * scales[e / 16];
        int q = es > 0 ? clampi((int)lrintf(x[e] / es), -32, 31) : 0;
        int u = q + 32, half = e / 128, r = e % 128, l = r % 32, grp = r / 32;
        uint8_t *lo = &ql[half * 64 + l + (grp & 1) * 32];
        *lo |= (uint8_t)(grp < 2 ? (u & 15) : (u & 15) << 4);
        qh[half * 32 + l] |= (uint8_t)((u >> 4) << (2 * grp));
    }
    store_f16(b + 208, d);
}

/* IQ4_XS: 8 sub-blocks of 32, y = d*(ls-32)*level, ls six bits (low 4 in
 * nibble s%2 of scales_l[s/2], top 2 in bits 2s, 2s+1 of scales_h), each
 * sub-block's 16 bytes of qs in IQ4_NL's nibble order. */
static void quant_iq4_xs_block(const float *x, uint8_t *b) {
    int S[8];
    float d = fit_signed(x, 8, 32, -127.0f, 31, S);
    uint16_t scales_h = 0;
    memset(b, 0, 136);
    store_f16(b, d);
    for (int s = 0; s < 8; s++) {
        int ls = S[s] + 32, q[32];
        b[4 + s / 2] |= (uint8_t)((ls & 15) << (4 * (s % 2)));
        scales_h |= (uint16_t)((ls >> 4) << (2 * s));
        float dl = d * S[s];
        for (int j = 0; j < 32; j++) q[j] = iq4_nearest(dl != 0 ? x[32 * s + j] / dl : 0);
        put_nibbles32(b + 8 + 16 * s, q);
    }
    memcpy(b + 2, &scales_h, 2);
}

/* --------------------------------------------------------- dispatch */

/* One block of each block type: x -> b. */
typedef void (*quant_block_fn)(const float *x, uint8_t *b);

static void quant_q4_k_block(const float *x, uint8_t *b) { quant_k_block(x, b, 4); }
static void quant_q5_k_block(const float *x, uint8_t *b) { quant_k_block(x, b, 5); }

static quant_block_fn block_quantizer(uint32_t type) {
    switch (type) {
    case DT_Q8_0: return quant_q8_0;
    case DT_Q4_0: return quant_q4_0;
    case DT_Q4_1: return quant_q4_1;
    case DT_Q5_0: return quant_q5_0;
    case DT_Q5_1: return quant_q5_1;
    case DT_IQ4_NL: return quant_iq4_nl;
    case DT_Q2_K: return quant_q2_k_block;
    case DT_Q3_K: return quant_q3_k_block;
    case DT_Q4_K: return quant_q4_k_block;
    case DT_Q5_K: return quant_q5_k_block;
    case DT_Q6_K: return quant_q6_k_block;
    case DT_IQ4_XS: return quant_iq4_xs_block;
    default: return NULL;
    }
}

bool synth_can_quantize(uint32_t type) {
    return type == DT_F32 || type == DT_F16 || type == DT_BF16 || block_quantizer(type) != NULL;
}

bool synth_quantize(uint32_t type, const float *src, void *dst, size_t n) {
    uint32_t be = dt_block_elems(type), bb = dt_block_bytes(type);
    if (be == 0 || n % be != 0) return false;
    uint8_t *out = dst;
    size_t nblk = n / be;
    quant_block_fn fn = block_quantizer(type);
    switch (type) {
    case DT_F32: memcpy(dst, src, n * sizeof(float)); return true;
    case DT_F16:
        for (size_t i = 0; i < n; i++) store_f16(out + 2 * i, src[i]);
        return true;
    case DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = dt_f32_to_bf16(src[i]);
            memcpy(out + 2 * i, &h, 2);
        }
        return true;
    default:
        if (!fn) return false;
        for (size_t i = 0; i < nblk; i++) fn(src + be * i, out + bb * i);
        return true;
    }
}
