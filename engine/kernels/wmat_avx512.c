/*
 * wmat_avx512.c — the AVX-512 VNNI kernel set of wmat.h (Ice Lake, Sapphire
 * Rapids, Zen 4 and later), compiled with target attributes so that a
 * baseline build still contains it (wmat.c picks it at run time).
 *
 * Block types.  A group block puts 4 quants of each of 16 rows in one
 * 64-byte vector (wmat_layout.h), so VPDPBUSD with the activation's dword
 * broadcast (u8 weight x s8 activation, 4 products per lane) accumulates
 * all 16 rows' dot products at once, lane r = row r: 8 instructions cover a
 * 32-element block with no horizontal sums.  Per type, unpack() turns the
 * stored fields into the 8 unsigned quant vectors and the block's scales;
 * step() is the contract's arithmetic (wmat.h) on 16 rows, for one x row.
 * A tile of up to WA_MT x rows shares each unpacked block.
 *
 * F16/BF16.  16 rows' values of one column are one 32-byte load; converted
 * to f32 (exact) they multiply a broadcast x[k]: acc = fma(x[k], w[k], acc)
 * per row, k in order — WA_HG groups side by side so that the four
 * dependent chains' latency is hidden.
 */
#include <immintrin.h>
#include <string.h>

#include "model/dtype.h"
#include "wmat_internal.h"
#include "wmat_layout.h"
#include "wmat_scales_x86.h"

#define WA_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define WA_INLINE static inline __attribute__((always_inline)) WA_TARGET

#define WA_MT 4 /* x rows per tile */
#define WA_HG 4  /* F16/BF16 decode: groups side by side */
#define WA_HMT 8 /* F16/BF16 prefill: x rows per tile (2 groups wide) */
/* Decode prefetches the weights wm_prefetch_bytes(type) ahead (3 to 6 KiB;
 * wmat.c has the measurements), into L2 (T1).  A decode step is one pass
 * over every weight, and one core keeps too few lines in flight on its own
 * to stream memory at full speed (~100 ns away), so every line is asked
 * for ahead, a few per 32-element block rather than a K-quant
 * super-block's 36 to 53 lines at once (a burst of prefetches waits for
 * fill buffers instead of overlapping the arithmetic: 87 -> 94 % on Q4_K).
 * Into L2, not L1: a T0 prefetch waits for one of the core's few L1 fill
 * buffers (perf put a third of the samples on the prefetch loop with 1 KiB
 * into L1), while the L2 tracks more lines in flight.  F16/BF16 decode
 * reads WA_HG groups side by side, each its own stream: each is prefetched
 * its share of the distance ahead. */
#define WA_PREFETCH_HINT _MM_HINT_T1

/* The scales of one row block (16 rows), as the contract names them. */
typedef struct {
    __m512 c0, c1; /* integer scales of the halves (types with sub-block scales), as floats */
    __m512 m0, m1; /* integer mins (types with mins and sub-block mins), as floats */
    __m512 ws, wm; /* float scale and min */
} wa_scales;

WA_INLINE __m512i ld(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }

WA_INLINE __m512 ld_f16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

WA_INLINE __m512 u8x16_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }

WA_INLINE __m512 i8x16_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }

WA_INLINE __m512 ld_i8x16_ps(const uint8_t *p) { return i8x16_ps(_mm_loadu_si128((const __m128i *)p)); }

WA_INLINE __m512i srl16(__m512i v, int n) { return _mm512_srl_epi16(v, _mm_cvtsi32_si128(n)); }

WA_INLINE __mmask64 ld_mask(const uint8_t *p) {
    uint64_t m;
    memcpy(&m, p, 8);
    return (__mmask64)m;
}

/* U[j] (j < 4) = low nibbles of vector j, U[j + 4] = its high nibbles. */
WA_INLINE void nibbles32(const uint8_t *qs, __m512i U[8]) {
    const __m512i lo = _mm512_set1_epi8(15);
    #pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        __m512i z = ld(qs + 64 * j);
        U[j] = _mm512_and_si512(z, lo);
        U[j + 4] = _mm512_and_si512(srl16(z, 4), lo);
    }
}

/* U[j] |= 16 (or `bit`) where mask t0 + j says so. */
WA_INLINE void high_bits(const uint8_t *masks, int t0, int bit, __m512i U[8]) {
    const __m512i v = _mm512_set1_epi8((char)bit);
    #pragma GCC unroll 16
    for (int j = 0; j < 8; j++) U[j] = _mm512_mask_add_epi8(U[j], ld_mask(masks + 8 * (t0 + j)), U[j], v);
}

/* 2-bit quants of 32-block b of a Q2_K/Q3_K super-block. */
WA_INLINE void quants2(const uint8_t *qs, int b, __m512i U[8]) {
    const __m512i three = _mm512_set1_epi8(3);
    #pragma GCC unroll 16
    for (int j = 0; j < 8; j++) U[j] = _mm512_and_si512(srl16(ld(qs + 64 * (8 * (b / 4) + j)), 2 * (b % 4)), three);
}

/* The 8 quant vectors and the scales of 32-block b of group block g. */
WA_INLINE void unpack(const uint32_t type, const uint8_t *g, int b, __m512i U[8], wa_scales *p) {
    *p = (wa_scales){0};
    p->ws = ld_f16(g);
    switch (type) {
    case DT_Q8_0:
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) U[j] = ld(g + WL_Q8_0_QS + 64 * j);
        break;
    case DT_Q4_0: nibbles32(g + WL_Q4_0_QS, U); break;
    case DT_IQ4_NL: {
        const __m512i t = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, (char)129,
                                                               (char)141, (char)153, (char)166, (char)181,
                                                               (char)197, (char)217, (char)241));
        nibbles32(g + WL_Q4_0_QS, U);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) U[j] = _mm512_shuffle_epi8(t, U[j]);
        break;
    }
    case DT_Q4_1: nibbles32(g + WL_Q4_1_QS, U); p->wm = ld_f16(g + WL_Q4_1_M); break;
    case DT_Q5_0: nibbles32(g + WL_Q5_0_QS, U); high_bits(g + WL_Q5_0_QH, 0, 16, U); break;
    case DT_Q5_1:
        nibbles32(g + WL_Q5_1_QS, U);
        high_bits(g + WL_Q5_1_QH, 0, 16, U);
        p->wm = ld_f16(g + WL_Q5_1_M);
        break;
    case DT_Q2_K: {
        quants2(g + WL_Q2_K_QS, b, U);
        __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(g + WL_Q2_K_SC + 16 * (2 * b))));
        __m512i s1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(g + WL_Q2_K_SC + 16 * (2 * b + 1))));
        const __m512i f = _mm512_set1_epi32(15);
        p->c0 = _mm512_cvtepi32_ps(_mm512_and_si512(s0, f));
        p->c1 = _mm512_cvtepi32_ps(_mm512_and_si512(s1, f));
        p->m0 = _mm512_cvtepi32_ps(_mm512_srli_epi32(s0, 4));
        p->m1 = _mm512_cvtepi32_ps(_mm512_srli_epi32(s1, 4));
        p->wm = _mm512_sub_ps(_mm512_setzero_ps(), ld_f16(g + WL_QK_DMIN));
        break;
    }
    case DT_Q3_K:
        quants2(g + WL_Q3_K_QS, b, U);
        high_bits(g + WL_Q3_K_HM, 8 * b, 4, U);
        p->c0 = i8x16_ps(wx_q3k_scale(g + WL_Q3_K_SC, 2 * b));
        p->c1 = i8x16_ps(wx_q3k_scale(g + WL_Q3_K_SC, 2 * b + 1));
        break;
    case DT_Q4_K:
    case DT_Q5_K: {
        const uint8_t *qs = g + (type == DT_Q4_K ? WL_Q4_K_QS : WL_Q5_K_QS) + 64 * 8 * (b / 2);
        const __m512i lo = _mm512_set1_epi8(15);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) U[j] = _mm512_and_si512(srl16(ld(qs + 64 * j), 4 * (b % 2)), lo);
        if (type == DT_Q5_K) high_bits(g + WL_Q5_K_QH, 8 * b, 16, U);
        __m128i sc, mn;
        wx_k4_scale_min(g + WL_Q4_K_SC, b, &sc, &mn);
        p->c0 = u8x16_ps(sc);
        p->m0 = u8x16_ps(mn);
        p->wm = _mm512_sub_ps(_mm512_setzero_ps(), ld_f16(g + WL_QK_DMIN));
        break;
    }
    case DT_Q6_K: {
        int h = b / 4, t = b % 4;
        const __m512i lo = _mm512_set1_epi8(15), three = _mm512_set1_epi8(3);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) {
            __m512i l = _mm512_and_si512(srl16(ld(g + WL_Q6_K_QL + 64 * (16 * h + 8 * (t & 1) + j)), 4 * (t >> 1)), lo);
            __m512i hi = _mm512_and_si512(srl16(ld(g + WL_Q6_K_QH + 64 * (8 * h + j)), 2 * t), three);
            U[j] = _mm512_or_si512(l, _mm512_slli_epi16(hi, 4));
        }
        p->c0 = ld_i8x16_ps(g + WL_Q6_K_SC + 16 * (2 * b));
        p->c1 = ld_i8x16_ps(g + WL_Q6_K_SC + 16 * (2 * b + 1));
        break;
    }
    }
}

WA_INLINE __m512i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm512_set1_epi32(v);
}

/* The contract's float part for 16 rows, from the integer dots D0, D1 of
 * the two halves (or their sum in D0 and 0 in D1 where the type's halves
 * share one scale: the same integers I and M follow).
 *
 * I and M are integers below 2^24 in magnitude for every type (the widest,
 * Q6_K: 2 halves x 128 x 16 x 32 x 127 < 2^24; Q5_K: 63 x 32 x 31 x 127),
 * so their products and sums computed in f32 are exact: the same (float)I
 * as the integer formula, one multiply instead of VPMULLD's two uops. */
WA_INLINE __m512 step_dots(const uint32_t type, __m512i D0, __m512i D1, const wa_scales *p, const int16_t *s,
                           float da, __m512 acc) {
    int s0 = s[0], s1 = s[1], o = wl_offset(type);
    __m512 I;
    if (wl_halves(type)) {
        __m512 E0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(D0, _mm512_set1_epi32(o * s0)));
        __m512 E1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(D1, _mm512_set1_epi32(o * s1)));
        I = _mm512_fmadd_ps(p->c0, E0, _mm512_mul_ps(p->c1, E1));
    } else if (type == DT_Q4_K || type == DT_Q5_K)
        I = _mm512_mul_ps(p->c0, _mm512_cvtepi32_ps(_mm512_add_epi32(D0, D1)));
    else
        I = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(D0, D1), _mm512_set1_epi32(o * (s0 + s1))));
    __m512 vda = _mm512_set1_ps(da);
    acc = _mm512_fmadd_ps(I, _mm512_mul_ps(p->ws, vda), acc);
    if (wl_has_min(type)) {
        __m512 M;
        if (type == DT_Q2_K)
            M = _mm512_fmadd_ps(p->m0, _mm512_set1_ps((float)s0), _mm512_mul_ps(p->m1, _mm512_set1_ps((float)s1)));
        else if (type == DT_Q4_K || type == DT_Q5_K)
            M = _mm512_mul_ps(p->m0, _mm512_set1_ps((float)(s0 + s1)));
        else
            M = _mm512_set1_ps((float)(s0 + s1));
        acc = _mm512_fmadd_ps(M, _mm512_mul_ps(p->wm, vda), acc);
    }
    return acc;
}

/* One x row's block: the contract's step on 16 rows at once. */
WA_INLINE __m512 step(const uint32_t type, const __m512i U[8], const wa_scales *p, const int8_t *q,
                      const int16_t *s, float da, __m512 acc) {
    __m512i D0 = _mm512_setzero_si512(), D1 = _mm512_setzero_si512();
    #pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        D0 = _mm512_dpbusd_epi32(D0, U[j], bcast4(q + 4 * j));
        D1 = _mm512_dpbusd_epi32(D1, U[j + 4], bcast4(q + 16 + 4 * j));
    }
    return step_dots(type, D0, D1, p, s, da, acc);
}

WA_INLINE void store_rows(float *y, __m512 v, int rows) {
    if (rows >= 16)
        _mm512_storeu_ps(y, v);
    else
        _mm512_mask_storeu_ps(y, (__mmask16)((1u << rows) - 1), v);
}

/* Rows [m0, m0 + mt) of x (mt <= WA_MT) against group g. */
WA_INLINE void tile_q(const uint32_t type, const wmat *w, const wm_act *a, int m0, int mt, int g, int pf, float *y,
                      int ldy) {
    wl_info t = wl_type(type);
    int K = w->cols, nsb = K / t.qk, per = t.qk / WM_QB, nab = K / WM_QB;
    const uint8_t *gbase = w->data + (size_t)g * nsb * t.gbytes;
    int lines = (t.gbytes + 63) / 64;
    __m512 acc[WA_MT];
    #pragma GCC unroll 16
    for (int i = 0; i < WA_MT; i++) acc[i] = _mm512_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *gb = gbase + (size_t)sb * t.gbytes;
        /* unrolled: a constant b turns unpack's shifts into immediates */
        #pragma GCC unroll 8
        for (int b = 0; b < per; b++) {
            if (m0 == 0 && pf) /* the group's first pass streams it from memory: every line is asked for ahead */
                for (int l = lines * b / per; l < lines * (b + 1) / per; l++)
                    _mm_prefetch((const char *)(gb + pf + 64 * l), WA_PREFETCH_HINT);
            __m512i U[8];
            wa_scales p;
            unpack(type, gb, b, U, &p);
            int ab = sb * per + b;
            #pragma GCC unroll 16
            for (int i = 0; i < mt; i++) {
                int m = m0 + i;
                acc[i] = step(type, U, &p, a->q + (size_t)m * K + (size_t)ab * WM_QB, a->s + (size_t)m * (K / 16) + 2 * ab,
                              a->d[(size_t)m * nab + ab], acc[i]);
            }
        }
    }
    int rows = wl_group_rows(w, g);
    #pragma GCC unroll 16
    for (int i = 0; i < mt; i++) store_rows(y + (size_t)(m0 + i) * ldy + g * WM_GROUP, acc[i], rows);
}

/* Tiles of WA_MT rows, then the 1-3 left; each call has a constant row
 * count, so its accumulators stay in registers. */
WA_INLINE void kern_q(const uint32_t type, const wmat *w, const wm_act *a, int M, int g0, int g1, float *y, int ldy) {
    int pf = wm_prefetch_bytes(type);
    for (int g = g0; g < g1; g++) {
        int m0 = 0;
        for (; m0 + WA_MT <= M; m0 += WA_MT) tile_q(type, w, a, m0, WA_MT, g, pf, y, ldy);
        switch (M - m0) {
        case 1: tile_q(type, w, a, m0, 1, g, pf, y, ldy); break;
        case 2: tile_q(type, w, a, m0, 2, g, pf, y, ldy); break;
        case 3: tile_q(type, w, a, m0, 3, g, pf, y, ldy); break;
        default: break;
        }
    }
}

/* ---- F16 / BF16 ------------------------------------------------------------------- */

WA_INLINE __m512 half16(const uint32_t type, const uint8_t *p) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (type == DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* x rows [m0, m0 + mt) x groups [g, g + ng), mt <= WA_HMT, ng <= WA_HG,
 * mt x ng <= 24 (the accumulators stay in registers).  pf: decode's
 * prefetch distance of the type (one x row only: rows after the first
 * find the weights in cache). */
WA_INLINE void tile_half(const uint32_t type, const wmat *w, const float *x, int m0, int mt, int g, int ng, int pf,
                         float *y, int ldy) {
    int K = w->cols;
    __m512 acc[WA_HMT][WA_HG];
    #pragma GCC unroll 16
    for (int i = 0; i < WA_HMT; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < WA_HG; j++) acc[i][j] = _mm512_setzero_ps();
    const uint8_t *base = w->data + (size_t)g * K * 32;
    int ahead = mt == 1 ? pf / ng / 64 * 64 : 0; /* per stream, whole lines */
    for (int k = 0; k < K; k++) {
        if (ahead && k % 2 == 0) /* 2 columns of 16 rows = one line per stream */
            #pragma GCC unroll 16
            for (int j = 0; j < ng; j++) _mm_prefetch((const char *)(base + ((size_t)j * K + k) * 32 + ahead), WA_PREFETCH_HINT);
        __m512 W[WA_HG];
        #pragma GCC unroll 16
        for (int j = 0; j < ng; j++) W[j] = half16(type, base + ((size_t)j * K + k) * 32);
        #pragma GCC unroll 16
        for (int i = 0; i < mt; i++) {
            __m512 xv = _mm512_set1_ps(x[(size_t)(m0 + i) * K + k]);
            #pragma GCC unroll 16
            for (int j = 0; j < ng; j++) acc[i][j] = _mm512_fmadd_ps(xv, W[j], acc[i][j]);
        }
    }
    #pragma GCC unroll 16
    for (int j = 0; j < ng; j++) {
        int gg = g + j, rows = wl_group_rows(w, gg);
        #pragma GCC unroll 16
        for (int i = 0; i < mt; i++) store_rows(y + (size_t)(m0 + i) * ldy + gg * WM_GROUP, acc[i][j], rows);
    }
}

/* Prefill-sized batches in tiles of WA_HMT rows x 2 groups: each converted
 * weight vector then serves 8 rows (the F16 conversion shares the FMA
 * ports, so fewer conversions per FMA is the speed); the rows left over and
 * decode run one row against WA_HG groups (four independent FMA chains). */
WA_INLINE void kern_half(const uint32_t type, const wmat *w, const float *x, int M, int g0, int g1, float *y, int ldy) {
    int full = M / WA_HMT * WA_HMT, pf = wm_prefetch_bytes(type);
    for (int g = g0; g < g1 && full; g += 2)
        for (int m0 = 0; m0 < full; m0 += WA_HMT) {
            if (g + 2 <= g1)
                tile_half(type, w, x, m0, WA_HMT, g, 2, pf, y, ldy);
            else
                tile_half(type, w, x, m0, WA_HMT, g, 1, pf, y, ldy);
        }
    int g = g0;
    for (; g + WA_HG <= g1; g += WA_HG)
        for (int m = full; m < M; m++) tile_half(type, w, x, m, 1, g, WA_HG, pf, y, ldy);
    for (; g < g1; g++)
        for (int m = full; m < M; m++) tile_half(type, w, x, m, 1, g, 1, pf, y, ldy);
}

WA_TARGET void wm_matmul_avx512(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y,
                                int ldy) {
    switch (w->type) {
    case DT_F16: kern_half(DT_F16, w, x, M, g0, g1, y, ldy); break;
    case DT_BF16: kern_half(DT_BF16, w, x, M, g0, g1, y, ldy); break;
    case DT_Q8_0: kern_q(DT_Q8_0, w, a, M, g0, g1, y, ldy); break;
    case DT_Q4_0: kern_q(DT_Q4_0, w, a, M, g0, g1, y, ldy); break;
    case DT_IQ4_NL: kern_q(DT_IQ4_NL, w, a, M, g0, g1, y, ldy); break;
    case DT_Q4_1: kern_q(DT_Q4_1, w, a, M, g0, g1, y, ldy); break;
    case DT_Q5_0: kern_q(DT_Q5_0, w, a, M, g0, g1, y, ldy); break;
    case DT_Q5_1: kern_q(DT_Q5_1, w, a, M, g0, g1, y, ldy); break;
    case DT_Q2_K: kern_q(DT_Q2_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q3_K: kern_q(DT_Q3_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q4_K: kern_q(DT_Q4_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q5_K: kern_q(DT_Q5_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q6_K: kern_q(DT_Q6_K, w, a, M, g0, g1, y, ldy); break;
    default: break;
    }
}

/* ---- activation quantization (the same arithmetic as the portable code) ----------- */

WA_TARGET void wm_act_quantize_avx512(wm_act *a, const float *x, int m0, int m1) {
    int K = a->K, nb = K / WM_QB;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int m = m0; m < m1; m++)
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)m * K + (size_t)b * WM_QB;
            __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
            float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            __m512 vid = _mm512_set1_ps(id);
            __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
            int8_t *q = a->q + (size_t)m * K + (size_t)b * WM_QB;
            _mm_storeu_si128((__m128i *)q, _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtsepi32_epi8(q1));
            a->d[(size_t)m * nb + b] = d;
            a->s[(size_t)m * (K / 16) + 2 * b] = (int16_t)_mm512_reduce_add_epi32(q0);
            a->s[(size_t)m * (K / 16) + 2 * b + 1] = (int16_t)_mm512_reduce_add_epi32(q1);
        }
}

/* ---- AMX: the integer dots of up to 16 x rows by 16 weight rows per tile op ------------
 *
 * A group block's quant vectors are exactly an AMX B tile (row j = dword j
 * of each of the 16 weight rows), and x's int8 rows are an A tile read in
 * place (stride K), so TDPBSUD (signed activations x unsigned quants)
 * gives the block's exact integer dot for 16 x rows x 16 weight rows; the
 * halves of types with 16-element sub-block scales take one op each.  The
 * integers go through the same float step as the VNNI kernel (step_dots),
 * so AMX changes no bit, only the speed of prefill-sized batches. */

#define AMX_TARGET \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c,amx-tile,amx-int8")))
#define AMX_INLINE static inline __attribute__((always_inline)) AMX_TARGET

/* Tile registers (macros: GCC's tile intrinsics paste the number into the asm).
 * Consecutive blocks use disjoint tiles, so that block ab + 1's loads and
 * product need not wait for block ab's product and store to let go of its
 * registers (tiles are not renamed: reusing one serializes the blocks).
 * Whole-block types: block parity 0 uses C 0, A 2, B 3; parity 1 uses C 1,
 * A 4, B 5.  Types with two 16-element halves: half h of the block is A 2
 * (h = 0) or 4 (h = 1) times B 3 or 5 into C 0, 1 (parity 0) or 6, 7
 * (parity 1). */
#define T_C0 0
#define T_C1 1
#define T_A0 2
#define T_B0 3
#define T_A1 4
#define T_B1 5
#define T_C2 6
#define T_C3 7

/* Tiles for x tiles of mt rows: C (mt x 16 int32); A (mt x 32 bytes, or 16
 * a half); B (8 rows of 64 bytes, or 4 a half). */
static AMX_TARGET void amx_config(int mt, bool halves) {
    uint8_t cfg[64] = {0};
    int ak = halves ? 16 : 32, bk = halves ? 4 : 8;
    const struct { int tile, rows, colsb; } t[] = {
        {T_C0, mt, 64}, {T_C1, mt, 64}, {T_C2, mt, 64}, {T_C3, mt, 64},
        {T_A0, mt, ak}, {T_A1, mt, ak}, {T_B0, bk, 64}, {T_B1, bk, 64},
    };
    cfg[0] = 1; /* palette 1 */
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint16_t colsb = (uint16_t)t[i].colsb;
        memcpy(cfg + 16 + 2 * t[i].tile, &colsb, 2);
        cfg[48 + t[i].tile] = (uint8_t)t[i].rows;
    }
    _tile_loadconfig(cfg);
}

/* Block b of the super-block at sb as a B tile, its scales in *p: Q8_0's
 * quants are a B tile as stored; the others are unpacked into bb.
 * Returns where the tile is. */
AMX_INLINE const uint8_t *amx_block(const uint32_t type, const uint8_t *sb, int b, uint8_t *bb, wa_scales *p) {
    if (type == DT_Q8_0) {
        *p = (wa_scales){0};
        p->ws = ld_f16(sb);
        return sb + WL_Q8_0_QS;
    }
    __m512i U[8];
    unpack(type, sb, b, U, p);
    #pragma GCC unroll 16
    for (int j = 0; j < 8; j++) _mm512_store_si512((void *)(bb + 64 * j), U[j]);
    return bb;
}

/* Where a pass of x tiles finds block ab's B tile and scales.  Staged: a
 * chunk of blocks [ab0, ab0 + n) unpacked beforehand (amx_stage) for every
 * x tile of the pass; block ab is tile0 + (ab - ab0) * stride and
 * sc[ab - ab0].  Inline (a pass of one or two x tiles, which would not
 * repay staging): each block is unpacked one iteration before its product,
 * from the group's packed blocks at gbase, into bbuf (2 x 512 bytes). */
typedef struct {
    bool inl;
    const uint8_t *tile0;
    size_t stride;
    const wa_scales *sc;
    const uint8_t *gbase;
    uint8_t *bbuf;
} amx_src;

/* Stages blocks [ab0, ab0 + n) of group g (ab0 and n whole super-blocks)
 * into qbuf and sc: unpacked once for every x tile of the pass (staging
 * inside the x-tile loop of long passes cost more than the tile products:
 * the tile loads wait for the vector stores that staged them). */
AMX_INLINE void amx_stage(const uint32_t type, const wmat *w, int g, int ab0, int n, uint8_t *qbuf, wa_scales *sc,
                          amx_src *o) {
    wl_info t = wl_type(type);
    int per = t.qk / WM_QB;
    const uint8_t *gbase = w->data + (size_t)g * (w->cols / t.qk) * t.gbytes;
    *o = (amx_src){.inl = false, .sc = sc, .stride = type == DT_Q8_0 ? (size_t)t.gbytes : 512};
    for (int i = 0; i < n; i += per)
        #pragma GCC unroll 8
        for (int b = 0; b < per; b++) { /* unrolled: a constant b makes unpack's shifts immediates */
            const uint8_t *bt = amx_block(type, gbase + (size_t)((ab0 + i) / per) * t.gbytes, b, qbuf + (size_t)512 * (i + b),
                                          &sc[i + b]);
            if (i + b == 0) o->tile0 = bt;
        }
}

/* The integer dots of a block for the tile's rows into cb (C of the whole
 * block, or of its halves at cb and cb + 256); bt is its B tile, parity
 * picks the tile set (above). */
AMX_INLINE void amx_dots(bool halves, int parity, const uint8_t *bt, const int8_t *ap, int K, int32_t *cb) {
    if (halves) {
        _tile_loadd(T_B0, bt, 64);
        _tile_loadd(T_A0, ap, K);
        _tile_loadd(T_B1, bt + 256, 64);
        _tile_loadd(T_A1, ap + 16, K);
        if (parity) {
            _tile_zero(T_C2);
            _tile_zero(T_C3);
            _tile_dpbsud(T_C2, T_A0, T_B0);
            _tile_dpbsud(T_C3, T_A1, T_B1);
            _tile_stored(T_C2, cb, 64);
            _tile_stored(T_C3, cb + 256, 64);
        } else {
            _tile_zero(T_C0);
            _tile_zero(T_C1);
            _tile_dpbsud(T_C0, T_A0, T_B0);
            _tile_dpbsud(T_C1, T_A1, T_B1);
            _tile_stored(T_C0, cb, 64);
            _tile_stored(T_C1, cb + 256, 64);
        }
    } else if (parity) {
        _tile_loadd(T_B1, bt, 64);
        _tile_loadd(T_A1, ap, K);
        _tile_zero(T_C1);
        _tile_dpbsud(T_C1, T_A1, T_B1);
        _tile_stored(T_C1, cb, 64);
    } else {
        _tile_loadd(T_B0, bt, 64);
        _tile_loadd(T_A0, ap, K);
        _tile_zero(T_C0);
        _tile_dpbsud(T_C0, T_A0, T_B0);
        _tile_stored(T_C0, cb, 64);
    }
}

/* x rows [m0, m0 + mt) (mt <= 16, the tiles configured for mt) against
 * blocks [ab0, ab0 + n) of a group from src, continuing the sums in
 * y[., n0 .. n0 + rows) when ab0 > 0 (a float stored and reloaded keeps
 * its bits: the contract's order is unchanged).  Software-pipelined: block
 * ab's tile product is issued, block ab + 1 is unpacked (inline sources),
 * then block ab - 1's integers (stored to the other half of cbuf the
 * iteration before) are read back and scaled, so the read-back does not
 * wait for the tile store just issued. */
AMX_INLINE void tile_amx(const uint32_t type, const amx_src *src, const wm_act *a, int ab0, int n, int m0, int mt,
                         float *y, int ldy, int n0, int rows, int32_t *cbuf) {
    int K = a->K, nab = K / WM_QB, per = wl_type(type).qk / WM_QB, gbytes = wl_type(type).gbytes;
    bool halves = wl_halves(type);
    __mmask16 live = (__mmask16)((1u << rows) - 1);
    __m512 acc[16];
    #pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        acc[i] = ab0 && i < mt ? _mm512_maskz_loadu_ps(live, y + (size_t)(m0 + i) * ldy + n0) : _mm512_setzero_ps();
    wa_scales ring[3]; /* inline: the scales of blocks j - 1, j, j + 1 (by j % 3) */
    const uint8_t *bt[2] = {0};
    if (src->inl) bt[0] = amx_block(type, src->gbase + (size_t)(ab0 / per) * gbytes, ab0 % per, src->bbuf, &ring[0]);
    for (int j = 0; j <= n; j++) {
        if (j < n) { /* issue block ab0 + j */
            const uint8_t *b = src->inl ? bt[j & 1] : src->tile0 + (size_t)j * src->stride;
            amx_dots(halves, j & 1, b, a->q + (size_t)m0 * K + (size_t)(ab0 + j) * WM_QB, K, cbuf + 512 * (j & 1));
        }
        if (src->inl && j + 1 < n) { /* unpack block ab0 + j + 1 */
            int ab = ab0 + j + 1;
            bt[(j + 1) & 1] = amx_block(type, src->gbase + (size_t)(ab / per) * gbytes, ab % per,
                                        src->bbuf + 512 * ((j + 1) & 1), &ring[(j + 1) % 3]);
        }
        if (j > 0) { /* finish block ab0 + j - 1 */
            int ab = ab0 + j - 1;
            const int32_t *cb = cbuf + 512 * ((j - 1) & 1);
            const wa_scales *p = src->inl ? &ring[(j - 1) % 3] : &src->sc[j - 1];
            #pragma GCC unroll 16
            for (int i = 0; i < mt; i++) {
                int m = m0 + i;
                __m512i D0 = _mm512_load_si512((const void *)(cb + 16 * i));
                __m512i D1 = halves ? _mm512_load_si512((const void *)(cb + 256 + 16 * i)) : _mm512_setzero_si512();
                acc[i] = step_dots(type, D0, D1, p, a->s + (size_t)m * (K / 16) + 2 * ab, a->d[(size_t)m * nab + ab],
                                   acc[i]);
            }
        }
    }
    #pragma GCC unroll 16
    for (int i = 0; i < mt; i++) store_rows(y + (size_t)(m0 + i) * ldy + n0, acc[i], rows);
}

/* One pass of x rows [mc, me) over blocks [ab0, ab0 + n) of group g: x
 * tiles of 16 rows, then one of the rows left (tiles reconfigured only
 * when the row count changes). */
AMX_INLINE void pass_amx(const uint32_t type, const amx_src *src, const wm_act *a, int ab0, int n, int mc, int me,
                         float *y, int ldy, int n0, int rows, int32_t *cbuf, int *configured) {
    bool halves = wl_halves(type);
    int m0 = mc;
    for (; m0 + 16 <= me; m0 += 16) { /* full tiles: a constant row count keeps acc[] in registers */
        if (*configured != 16) amx_config(*configured = 16, halves);
        tile_amx(type, src, a, ab0, n, m0, 16, y, ldy, n0, rows, cbuf);
    }
    if (m0 < me) {
        if (*configured != me - m0) amx_config(*configured = me - m0, halves);
        tile_amx(type, src, a, ab0, n, m0, me - m0, y, ldy, n0, rows, cbuf);
    }
}

/* Loop order, for the caches.  Batches of up to AMX_INLINE_ROWS rows run
 * each group's blocks inline (unpacked as the tiles go).  Larger ones run
 * in passes of AMX_MC x rows (their int8 activations stay in L2 while every
 * group is read); per group, chunks of AMX_KC blocks are staged once
 * (quants and scales stay in L1) and run by every x tile of the pass. */
#define AMX_INLINE_ROWS 32
#define AMX_MC 128
#define AMX_KC 32 /* a multiple of every type's blocks per super-block (8) */

AMX_INLINE void kern_amx(const uint32_t type, const wmat *w, const wm_act *a, int M, int g0, int g1, float *y,
                         int ldy) {
    wl_info t = wl_type(type);
    int nab = w->cols / WM_QB, configured = -1;
    int32_t cbuf[2 * 512] __attribute__((aligned(64))); /* two blocks' integers in flight (tile_amx) */
    if (M <= AMX_INLINE_ROWS) {
        uint8_t bbuf[2 * 512] __attribute__((aligned(64)));
        for (int g = g0; g < g1; g++) {
            amx_src src = {.inl = true, .gbase = w->data + (size_t)g * (w->cols / t.qk) * t.gbytes, .bbuf = bbuf};
            pass_amx(type, &src, a, 0, nab, 0, M, y, ldy, g * WM_GROUP, wl_group_rows(w, g), cbuf, &configured);
        }
    } else {
        uint8_t qbuf[AMX_KC * 512] __attribute__((aligned(64)));
        wa_scales sc[AMX_KC];
        for (int mc = 0; mc < M; mc += AMX_MC) {
            int me = mc + AMX_MC < M ? mc + AMX_MC : M;
            for (int g = g0; g < g1; g++)
                for (int ab0 = 0; ab0 < nab; ab0 += AMX_KC) {
                    int n = nab - ab0 < AMX_KC ? nab - ab0 : AMX_KC;
                    amx_src src;
                    amx_stage(type, w, g, ab0, n, qbuf, sc, &src);
                    pass_amx(type, &src, a, ab0, n, mc, me, y, ldy, g * WM_GROUP, wl_group_rows(w, g), cbuf,
                             &configured);
                }
        }
    }
    _tile_release();
}

AMX_TARGET void wm_matmul_amx(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y,
                              int ldy) {
    if (M < WM_AMX_MIN_ROWS) { /* tiles pay off from a few rows on; the same bits either way */
        wm_matmul_avx512(w, x, a, M, g0, g1, y, ldy);
        return;
    }
    switch (w->type) {
    case DT_Q8_0: kern_amx(DT_Q8_0, w, a, M, g0, g1, y, ldy); break;
    case DT_Q4_0: kern_amx(DT_Q4_0, w, a, M, g0, g1, y, ldy); break;
    case DT_IQ4_NL: kern_amx(DT_IQ4_NL, w, a, M, g0, g1, y, ldy); break;
    case DT_Q4_1: kern_amx(DT_Q4_1, w, a, M, g0, g1, y, ldy); break;
    case DT_Q5_0: kern_amx(DT_Q5_0, w, a, M, g0, g1, y, ldy); break;
    case DT_Q5_1: kern_amx(DT_Q5_1, w, a, M, g0, g1, y, ldy); break;
    case DT_Q2_K: kern_amx(DT_Q2_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q3_K: kern_amx(DT_Q3_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q4_K: kern_amx(DT_Q4_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q5_K: kern_amx(DT_Q5_K, w, a, M, g0, g1, y, ldy); break;
    case DT_Q6_K: kern_amx(DT_Q6_K, w, a, M, g0, g1, y, ldy); break;
    default: wm_matmul_avx512(w, x, a, M, g0, g1, y, ldy); break; /* F16/BF16 */
    }
}
