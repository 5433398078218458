/*
 * synth_quant.c — f32 -> model weight encodings for the synthetic model
 * writer (synth_model.h: synth_quantize): F32, F16, BF16 and the GGUF
 * block formats Q8_0, Q4_0, Q4_K, Q6_K.
 *
 * These are simple, deliberately unclever quantizers (absmax or per
 * sub-block min/max, no error search).  They produce valid blocks in
 * exactly the layout engine/dtype.c decodes, and that decoding approximates
 * the input: on N(0,1) data the relative RMS error is Q8_0 0.5 %, Q6_K
 * 2.0 %, Q4_0 8.6 %, Q4_K 8.0 % (llama.cpp's searching quantizers do better).
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

/* Q8_0: 32 values -> f16 d + 32 int8, d = absmax / 127. */
static void quant_q8_0(const float *x, uint8_t *b, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, x += 32, b += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = f16_round(amax / 127.0f), id = d > 0 ? 1.0f / d : 0.0f;
        store_f16(b, d);
        for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)clampi((int)lrintf(x[j] * id), -127, 127);
    }
}

/* Q4_0: 32 values -> f16 d + 16 bytes of nibbles offset by 8.  As in ggml,
 * the value of largest magnitude maps to -8, so its sign picks d's sign. */
static void quant_q4_0(const float *x, uint8_t *b, size_t nblk) {
    for (size_t i = 0; i < nblk; i++, x += 32, b += 18) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        float d = f16_round(max / -8.0f), id = d != 0 ? 1.0f / d : 0.0f;
        store_f16(b, d);
        for (int j = 0; j < 16; j++) {
            int lo = clampi((int)lrintf(x[j] * id) + 8, 0, 15);
            int hi = clampi((int)lrintf(x[j + 16] * id) + 8, 0, 15);
            b[2 + j] = (uint8_t)(lo | (hi << 4));
        }
    }
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

/* Q4_K: 256 values, 8 sub-blocks of 32, y = d*sc*q - dmin*m with q in
 * 0..15.  Per sub-block: offset = -min(0, min x), step = range / 15; the
 * six-bit multipliers of d = max step / 63 and dmin = max offset / 63 are
 * rounded (offset) and rounded up (step, so the top value is not clipped). */
static void quant_q4_k_block(const float *x, uint8_t *b) {
    float step[8], off[8], hi[8], max_step = 0, max_off = 0;
    for (int j = 0; j < 8; j++) {
        float lo = 0;
        hi[j] = x[32 * j];
        for (int l = 0; l < 32; l++) { lo = fminf(lo, x[32 * j + l]); hi[j] = fmaxf(hi[j], x[32 * j + l]); }
        off[j] = -lo;
        step[j] = (hi[j] - lo) / 15.0f;
        max_step = fmaxf(max_step, step[j]);
        max_off = fmaxf(max_off, off[j]);
    }
    float d = f16_round(max_step / 63.0f), dmin = f16_round(max_off / 63.0f);
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        m[j] = dmin > 0 ? clampi((int)lrintf(off[j] / dmin), 0, 63) : 0;
        float need = (hi[j] + dmin * m[j]) / 15.0f; /* step that keeps the top in range */
        sc[j] = d > 0 ? clampi((int)ceilf(fmaxf(need, step[j]) / d - 1e-4f), 0, 63) : 0;
    }
    store_f16(b, d);
    store_f16(b + 2, dmin);
    q4k_pack_scales(b + 4, sc, m);
    uint8_t *qs = b + 16;
    memset(qs, 0, 128);
    for (int j = 0; j < 8; j++) {
        float es = d * sc[j], em = dmin * m[j];
        for (int l = 0; l < 32; l++) {
            int q = es > 0 ? clampi((int)lrintf((x[32 * j + l] + em) / es), 0, 15) : 0;
            qs[(j / 2) * 32 + l] |= (uint8_t)(j % 2 ? q << 4 : q);
        }
    }
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

bool synth_quantize(uint32_t type, const float *src, void *dst, size_t n) {
    uint32_t be = dt_block_elems(type);
    if (be == 0 || n % be != 0) return false;
    uint8_t *out = dst;
    size_t nblk = n / be;
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
    case DT_Q8_0: quant_q8_0(src, out, nblk); return true;
    case DT_Q4_0: quant_q4_0(src, out, nblk); return true;
    case DT_Q4_K:
        for (size_t i = 0; i < nblk; i++) quant_q4_k_block(src + 256 * i, out + 144 * i);
        return true;
    case DT_Q6_K:
        for (size_t i = 0; i < nblk; i++) quant_q6_k_block(src + 256 * i, out + 210 * i);
        return true;
    default: return false;
    }
}
