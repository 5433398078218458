/*
 * wmat_ref.c — the portable kernel set of wmat.h: plain C that spells out
 * the arithmetic contract (wmat.h) one output at a time.  It is the
 * definition the vector kernels are tested against, bit for bit, and the
 * fallback on CPUs without AVX2.
 *
 * Per type, wl_block() reads one row's 32-element block out of a group
 * block as the contract's terms: the unsigned quants u(e), the offset o,
 * the integer scales c_h and mins m_h of the two halves, and the float
 * scale ws and min wm.  The table (x = the dequantized weight):
 *
 *   type    u(e)                 o    c_h             m_h          ws     wm       x
 *   Q8_0    q + 128              128  1               -            d      -        d q
 *   Q4_0    nibble               8    1               -            d      -        d (n - 8)
 *   IQ4_NL  T[nibble] + 128      128  1               -            d      -        d T[n]
 *   Q4_1    nibble               0    1               1            d      m        d n + m
 *   Q5_0    nibble | h << 4      16   1               -            d      -        d (q5 - 16)
 *   Q5_1    nibble | h << 4      0    1               1            d      m        d q5 + m
 *   Q2_K    q2                   0    sc & 15         sc >> 4      d      -dmin    d sc q2 - dmin m
 *   Q3_K    q2 | h << 2          4    S (signed)      -            d      -        d S (q3)
 *   Q4_K    nibble               0    sc(s)           m(s)         d      -dmin    d sc q4 - dmin m
 *   Q5_K    nibble | h << 4      0    sc(s)           m(s)         d      -dmin    d sc q5 - dmin m
 *   Q6_K    lo | hi << 4         32   scale (signed)  -            d      -        d scale (q6)
 *
 * (c_h and m_h are per 16-element half: the same value twice for types
 * whose sub-blocks are 32 or more elements.)
 */
#include <math.h>

#include "model/dtype.h"
#include "wmat.h"
#include "wmat_internal.h"
#include "wmat_layout.h"

static float f16_at(const uint8_t *p, int r) { return dt_f16_to_f32(wl_u16(p + 2 * r)); }

/* Q4_0-style nibbles (4 vectors): element 4j+i is the low nibble of
 * dword j (j < 4) or the high nibble of dword j - 4. */
static int nib32(const uint8_t *qs, int r, int e) {
    int j = e / 4, i = e % 4;
    return j < 4 ? wl_vbyte(qs, j, r, i) & 15 : wl_vbyte(qs, j - 4, r, i) >> 4;
}

/* The 2-bit quant of element l of 32-block b of a Q2_K/Q3_K super-block. */
static int q2_at(const uint8_t *qs, int r, int b, int l) {
    return (wl_vbyte(qs, 8 * (b / 4) + l / 4, r, l % 4) >> (2 * (b % 4))) & 3;
}

static void block_32(uint32_t type, const uint8_t *g, int r, wl_block *o) {
    o->c[0] = o->c[1] = o->m[0] = o->m[1] = 1;
    o->ws = f16_at(g, r);
    o->wm = 0;
    for (int e = 0; e < 32; e++) {
        switch (type) {
        case DT_Q8_0: o->u[e] = wl_vbyte(g + WL_Q8_0_QS, e / 4, r, e % 4); break;
        case DT_Q4_0: o->u[e] = (uint8_t)nib32(g + WL_Q4_0_QS, r, e); break;
        case DT_IQ4_NL: o->u[e] = (uint8_t)(wl_iq4_table[nib32(g + WL_Q4_0_QS, r, e)] + 128); break;
        case DT_Q4_1: o->u[e] = (uint8_t)nib32(g + WL_Q4_1_QS, r, e); break;
        case DT_Q5_0:
            o->u[e] = (uint8_t)(nib32(g + WL_Q5_0_QS, r, e) | wl_mbit(g + WL_Q5_0_QH, e / 4, r, e % 4) << 4);
            break;
        case DT_Q5_1:
            o->u[e] = (uint8_t)(nib32(g + WL_Q5_1_QS, r, e) | wl_mbit(g + WL_Q5_1_QH, e / 4, r, e % 4) << 4);
            break;
        }
    }
    if (type == DT_Q4_1) o->wm = f16_at(g + WL_Q4_1_M, r);
    if (type == DT_Q5_1) o->wm = f16_at(g + WL_Q5_1_M, r);
}

/* 32-block b (0..7) of a K-quant super-block. */
static void block_k(uint32_t type, const uint8_t *g, int r, int b, wl_block *o) {
    uint8_t sb[12] = {0}; /* the row's packed 6-bit scales (Q3_K, Q4_K, Q5_K) */
    if (type == DT_Q3_K) wl_scale_bytes(g + WL_Q3_K_SC, r, sb);
    if (type == DT_Q4_K || type == DT_Q5_K) wl_scale_bytes(g + WL_Q4_K_SC, r, sb);
    o->ws = f16_at(g, r);
    o->wm = wl_has_min(type) ? -f16_at(g + WL_QK_DMIN, r) : 0.0f;
    for (int h = 0; h < 2; h++) {
        int s16 = 2 * b + h; /* 16-element sub-block */
        switch (type) {
        case DT_Q2_K: {
            uint8_t sc = g[WL_Q2_K_SC + s16 * 16 + r];
            o->c[h] = sc & 15;
            o->m[h] = sc >> 4;
            break;
        }
        case DT_Q3_K: o->c[h] = dt_q3k_scale(sb, s16); o->m[h] = 0; break;
        case DT_Q6_K: o->c[h] = (int8_t)g[WL_Q6_K_SC + s16 * 16 + r]; o->m[h] = 0; break;
        default: { /* Q4_K, Q5_K: one scale and min per 32 */
            uint8_t sc, mn;
            dt_q4k_scale_min(sb, b, &sc, &mn);
            o->c[h] = sc;
            o->m[h] = mn;
        }
        }
    }
    for (int l = 0; l < 32; l++) {
        int j = l / 4, i = l % 4, u = 0;
        switch (type) {
        case DT_Q2_K: u = q2_at(g + WL_Q2_K_QS, r, b, l); break;
        case DT_Q3_K: u = q2_at(g + WL_Q3_K_QS, r, b, l) | wl_mbit(g + WL_Q3_K_HM, 8 * b + j, r, i) << 2; break;
        case DT_Q4_K: case DT_Q5_K: {
            const uint8_t *qs = g + (type == DT_Q4_K ? WL_Q4_K_QS : WL_Q5_K_QS);
            int byte = wl_vbyte(qs, 8 * (b / 2) + j, r, i);
            u = b % 2 ? byte >> 4 : byte & 15;
            if (type == DT_Q5_K) u |= wl_mbit(g + WL_Q5_K_QH, 8 * b + j, r, i) << 4;
            break;
        }
        case DT_Q6_K: {
            int hh = b / 4, t = b % 4;
            int lo = (wl_vbyte(g + WL_Q6_K_QL, 16 * hh + 8 * (t & 1) + j, r, i) >> (4 * (t >> 1))) & 15;
            int hi = (wl_vbyte(g + WL_Q6_K_QH, 8 * hh + j, r, i) >> (2 * t)) & 3;
            u = lo | hi << 4;
            break;
        }
        }
        o->u[l] = (uint8_t)u;
    }
}

void wl_block_read(uint32_t type, const uint8_t *g, int r, int b, wl_block *o) {
    if (wl_type(type).qk == 32)
        block_32(type, g, r, o);
    else
        block_k(type, g, r, b, o);
}

/* The contract's step for one (row block, activation block). */
float wl_block_step(const wl_block *w, int o, bool has_min, const int8_t *a, float da, const int16_t *s, float acc) {
    int D[2] = {0, 0};
    for (int e = 0; e < 32; e++) D[e / 16] += w->u[e] * a[e];
    int I = w->c[0] * (D[0] - o * s[0]) + w->c[1] * (D[1] - o * s[1]);
    acc = fmaf((float)I, w->ws * da, acc);
    if (has_min) {
        int Mi = w->m[0] * s[0] + w->m[1] * s[1];
        acc = fmaf((float)Mi, w->wm * da, acc);
    }
    return acc;
}

/* ---- the portable products ------------------------------------------------------ */

#define REF_MTILE 8 /* x rows sharing one decoded block */

static void ref_quantized(const wmat *w, const wm_act *a, int M, int g0, int g1, float *y, int ldy) {
    wl_info t = wl_type(w->type);
    int K = w->cols, nsb = K / t.qk, per = t.qk / WM_QB, o = wl_offset(w->type);
    bool has_min = wl_has_min(w->type);
    for (int g = g0; g < g1; g++) {
        const uint8_t *gbase = w->data + (size_t)g * nsb * t.gbytes;
        int rows = wl_group_rows(w, g);
        for (int m0 = 0; m0 < M; m0 += REF_MTILE) {
            int m1 = m0 + REF_MTILE < M ? m0 + REF_MTILE : M;
            float acc[REF_MTILE][WM_GROUP] = {{0}};
            for (int sb = 0; sb < nsb; sb++)
                for (int b = 0; b < per; b++) {
                    int ab = sb * per + b; /* activation block */
                    for (int r = 0; r < rows; r++) {
                        wl_block blk;
                        wl_block_read(w->type, gbase + (size_t)sb * t.gbytes, r, b, &blk);
                        for (int m = m0; m < m1; m++) {
                            const int8_t *q = a->q + (size_t)m * K + (size_t)ab * WM_QB;
                            const int16_t *s = a->s + (size_t)m * (K / 16) + 2 * ab;
                            float da = a->d[(size_t)m * (K / WM_QB) + ab];
                            acc[m - m0][r] = wl_block_step(&blk, o, has_min, q, da, s, acc[m - m0][r]);
                        }
                    }
                }
            for (int m = m0; m < m1; m++)
                for (int r = 0; r < rows; r++) y[(size_t)m * ldy + g * WM_GROUP + r] = acc[m - m0][r];
        }
    }
}

static float half_value(uint32_t type, uint16_t h) {
    return type == DT_BF16 ? dt_bf16_to_f32(h) : dt_f16_to_f32(h);
}

static void ref_half(const wmat *w, const float *x, int M, int g0, int g1, float *y, int ldy) {
    int K = w->cols;
    for (int g = g0; g < g1; g++) {
        const uint8_t *gbase = w->data + (size_t)g * K * 32;
        int rows = wl_group_rows(w, g);
        for (int m = 0; m < M; m++)
            for (int r = 0; r < rows; r++) {
                float acc = 0.0f;
                for (int k = 0; k < K; k++)
                    acc = fmaf(x[(size_t)m * K + k], half_value(w->type, wl_u16(gbase + (size_t)k * 32 + 2 * r)), acc);
                y[(size_t)m * ldy + g * WM_GROUP + r] = acc;
            }
    }
}

void wm_matmul_portable(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y, int ldy) {
    if (wmat_quantized(w->type))
        ref_quantized(w, a, M, g0, g1, y, ldy);
    else
        ref_half(w, x, M, g0, g1, y, ldy);
}

void wm_act_quantize_portable(wm_act *a, const float *x, int m0, int m1) {
    int K = a->K, nb = K / WM_QB;
    for (int m = m0; m < m1; m++)
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)m * K + (size_t)b * WM_QB;
            int8_t *q = a->q + (size_t)m * K + (size_t)b * WM_QB;
            float amax = 0.0f;
            for (int e = 0; e < WM_QB; e++) amax = fmaxf(amax, fabsf(xb[e]));
            float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            int sum[2] = {0, 0};
            for (int e = 0; e < WM_QB; e++) {
                q[e] = (int8_t)lrintf(xb[e] * id);
                sum[e / 16] += q[e];
            }
            a->d[(size_t)m * nb + b] = d;
            a->s[(size_t)m * (K / 16) + 2 * b] = (int16_t)sum[0];
            a->s[(size_t)m * (K / 16) + 2 * b + 1] = (int16_t)sum[1];
        }
}
