/*
 * wmat_avx2.c — the AVX2 + FMA kernel set of wmat.h (Haswell, Zen 1-3),
 * compiled with target attributes and chosen at run time by wmat.c.
 *
 * The same shape as wmat_avx512.c on 8 rows at a time: a group's 64-byte
 * vectors are two halves of 8 rows (bytes [32h, 32h + 32)).  AVX2 has no
 * VPDPBUSD, so a dword of u8 x s8 products is VPMADDUBSW (pairs into int16,
 * saturating) then VPMADDWD by ones.  The int16 pair sums cannot saturate
 * when the unsigned operand is at most 127 (2 x 127 x 127 < 32767), which
 * holds for every type's u except Q8_0 and IQ4_NL (u up to 255); those two
 * multiply the signed quant w = u - 128 instead, as |w| (u8) times the
 * activation with w's sign, and need no offset: the same integer
 * sum (u - 128) a = D - 128 S that the contract computes.
 */
#include <immintrin.h>
#include <string.h>

#include "model/dtype.h"
#include "wmat_internal.h"
#include "wmat_layout.h"
#include "wmat_scales_x86.h"

#define W2_TARGET __attribute__((target("avx2,fma,f16c")))
#define W2_INLINE static inline __attribute__((always_inline)) W2_TARGET

#define W2_MT 4 /* x rows per tile */
#define W2_HG 4 /* F16/BF16: row halves side by side */

typedef struct {
    __m256i c0, c1, m0, m1;
    __m256 ws, wm;
} w2_scales;

W2_INLINE __m256i ld(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
W2_INLINE __m256 ld_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
W2_INLINE __m256i ld_u8x8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
W2_INLINE __m256i ld_i8x8(const uint8_t *p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
/* Rows 8h..8h+7 of 16 bytes, one per row, widened. */
W2_INLINE __m256i u8_half(__m128i v, int h) { return _mm256_cvtepu8_epi32(h ? _mm_srli_si128(v, 8) : v); }
W2_INLINE __m256i i8_half(__m128i v, int h) { return _mm256_cvtepi8_epi32(h ? _mm_srli_si128(v, 8) : v); }
W2_INLINE __m256i srl16(__m256i v, int n) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(n)); }

/* 0xFF in byte k where bit k of the 32-bit m is set. */
W2_INLINE __m256i expand_bits(uint32_t m) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                          3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* U[j] += `add` where half h of mask t0 + j says so. */
W2_INLINE void high_bits(const uint8_t *masks, int t0, int h, int add, __m256i U[8]) {
    const __m256i v = _mm256_set1_epi8((char)add);
    #pragma GCC unroll 16
    for (int j = 0; j < 8; j++) {
        uint32_t m;
        memcpy(&m, masks + 8 * (t0 + j) + 4 * h, 4);
        U[j] = _mm256_add_epi8(U[j], _mm256_and_si256(expand_bits(m), v));
    }
}

W2_INLINE void nibbles32(const uint8_t *qs, int h, __m256i U[8]) {
    const __m256i lo = _mm256_set1_epi8(15);
    #pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        __m256i z = ld(qs + 64 * j + 32 * h);
        U[j] = _mm256_and_si256(z, lo);
        U[j + 4] = _mm256_and_si256(srl16(z, 4), lo);
    }
}

W2_INLINE void quants2(const uint8_t *qs, int b, int h, __m256i U[8]) {
    const __m256i three = _mm256_set1_epi8(3);
    #pragma GCC unroll 16
    for (int j = 0; j < 8; j++)
        U[j] = _mm256_and_si256(srl16(ld(qs + 64 * (8 * (b / 4) + j) + 32 * h), 2 * (b % 4)), three);
}

/* Half h (rows 8h..8h+7) of 32-block b of group block g.  For Q8_0 and
 * IQ4_NL, U holds the signed quants (see the top comment). */
W2_INLINE void unpack(const uint32_t type, const uint8_t *g, int b, int h, __m256i U[8], w2_scales *p) {
    *p = (w2_scales){0};
    p->ws = ld_f16(g + 16 * h);
    switch (type) {
    case DT_Q8_0: {
        const __m256i x80 = _mm256_set1_epi8((char)0x80);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) U[j] = _mm256_xor_si256(ld(g + WL_Q8_0_QS + 64 * j + 32 * h), x80);
        break;
    }
    case DT_Q4_0: nibbles32(g + WL_Q4_0_QS, h, U); break;
    case DT_IQ4_NL: {
        const __m256i t = _mm256_broadcastsi128_si256(
            _mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
        nibbles32(g + WL_Q4_0_QS, h, U);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) U[j] = _mm256_shuffle_epi8(t, U[j]);
        break;
    }
    case DT_Q4_1: nibbles32(g + WL_Q4_1_QS, h, U); p->wm = ld_f16(g + WL_Q4_1_M + 16 * h); break;
    case DT_Q5_0: nibbles32(g + WL_Q5_0_QS, h, U); high_bits(g + WL_Q5_0_QH, 0, h, 16, U); break;
    case DT_Q5_1:
        nibbles32(g + WL_Q5_1_QS, h, U);
        high_bits(g + WL_Q5_1_QH, 0, h, 16, U);
        p->wm = ld_f16(g + WL_Q5_1_M + 16 * h);
        break;
    case DT_Q2_K: {
        quants2(g + WL_Q2_K_QS, b, h, U);
        __m256i s0 = ld_u8x8(g + WL_Q2_K_SC + 16 * (2 * b) + 8 * h), s1 = ld_u8x8(g + WL_Q2_K_SC + 16 * (2 * b + 1) + 8 * h);
        const __m256i f = _mm256_set1_epi32(15);
        p->c0 = _mm256_and_si256(s0, f);
        p->c1 = _mm256_and_si256(s1, f);
        p->m0 = _mm256_srli_epi32(s0, 4);
        p->m1 = _mm256_srli_epi32(s1, 4);
        p->wm = _mm256_sub_ps(_mm256_setzero_ps(), ld_f16(g + WL_QK_DMIN + 16 * h));
        break;
    }
    case DT_Q3_K:
        quants2(g + WL_Q3_K_QS, b, h, U);
        high_bits(g + WL_Q3_K_HM, 8 * b, h, 4, U);
        p->c0 = i8_half(wx_q3k_scale(g + WL_Q3_K_SC, 2 * b), h);
        p->c1 = i8_half(wx_q3k_scale(g + WL_Q3_K_SC, 2 * b + 1), h);
        break;
    case DT_Q4_K:
    case DT_Q5_K: {
        const uint8_t *qs = g + (type == DT_Q4_K ? WL_Q4_K_QS : WL_Q5_K_QS) + 64 * 8 * (b / 2) + 32 * h;
        const __m256i lo = _mm256_set1_epi8(15);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) U[j] = _mm256_and_si256(srl16(ld(qs + 64 * j), 4 * (b % 2)), lo);
        if (type == DT_Q5_K) high_bits(g + WL_Q5_K_QH, 8 * b, h, 16, U);
        __m128i sc, mn;
        wx_k4_scale_min(g + WL_Q4_K_SC, b, &sc, &mn);
        p->c0 = u8_half(sc, h);
        p->m0 = u8_half(mn, h);
        p->wm = _mm256_sub_ps(_mm256_setzero_ps(), ld_f16(g + WL_QK_DMIN + 16 * h));
        break;
    }
    case DT_Q6_K: {
        int hh = b / 4, t = b % 4;
        const __m256i lo = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3);
        #pragma GCC unroll 16
        for (int j = 0; j < 8; j++) {
            __m256i l = _mm256_and_si256(srl16(ld(g + WL_Q6_K_QL + 64 * (16 * hh + 8 * (t & 1) + j) + 32 * h), 4 * (t >> 1)), lo);
            __m256i hi = _mm256_and_si256(srl16(ld(g + WL_Q6_K_QH + 64 * (8 * hh + j) + 32 * h), 2 * t), three);
            U[j] = _mm256_or_si256(l, _mm256_slli_epi16(hi, 4));
        }
        p->c0 = ld_i8x8(g + WL_Q6_K_SC + 16 * (2 * b) + 8 * h);
        p->c1 = ld_i8x8(g + WL_Q6_K_SC + 16 * (2 * b + 1) + 8 * h);
        break;
    }
    }
}

W2_INLINE __m256i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}

/* Per dword: sum of 4 u8 x s8 products (u <= 127, no saturation). */
W2_INLINE __m256i dot4(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The same for signed w: |w| times a with w's sign. */
W2_INLINE __m256i dot4_signed(__m256i w, __m256i a) { return dot4(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w)); }

W2_INLINE __m256 step(const uint32_t type, const __m256i U[8], const w2_scales *p, const int8_t *q, const int16_t *s,
                      float da, __m256 acc) {
    __m256i D0 = _mm256_setzero_si256(), D1 = _mm256_setzero_si256();
    bool sgn = type == DT_Q8_0 || type == DT_IQ4_NL;
    #pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        __m256i a0 = bcast4(q + 4 * j), a1 = bcast4(q + 16 + 4 * j);
        D0 = _mm256_add_epi32(D0, sgn ? dot4_signed(U[j], a0) : dot4(U[j], a0));
        D1 = _mm256_add_epi32(D1, sgn ? dot4_signed(U[j + 4], a1) : dot4(U[j + 4], a1));
    }
    int s0 = s[0], s1 = s[1], o = sgn ? 0 : wl_offset(type);
    __m256i I;
    if (wl_halves(type))
        I = _mm256_add_epi32(_mm256_mullo_epi32(p->c0, _mm256_sub_epi32(D0, _mm256_set1_epi32(o * s0))),
                             _mm256_mullo_epi32(p->c1, _mm256_sub_epi32(D1, _mm256_set1_epi32(o * s1))));
    else if (type == DT_Q4_K || type == DT_Q5_K)
        I = _mm256_mullo_epi32(p->c0, _mm256_add_epi32(D0, D1));
    else
        I = _mm256_sub_epi32(_mm256_add_epi32(D0, D1), _mm256_set1_epi32(o * (s0 + s1)));
    __m256 vda = _mm256_set1_ps(da);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_mul_ps(p->ws, vda), acc);
    if (wl_has_min(type)) {
        __m256i M;
        if (type == DT_Q2_K)
            M = _mm256_add_epi32(_mm256_mullo_epi32(p->m0, _mm256_set1_epi32(s0)),
                                 _mm256_mullo_epi32(p->m1, _mm256_set1_epi32(s1)));
        else if (type == DT_Q4_K || type == DT_Q5_K)
            M = _mm256_mullo_epi32(p->m0, _mm256_set1_epi32(s0 + s1));
        else
            M = _mm256_set1_epi32(s0 + s1);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(M), _mm256_mul_ps(p->wm, vda), acc);
    }
    return acc;
}

/* Writes the first `rows` (0..8) lanes of v. */
W2_INLINE void store_rows(float *y, __m256 v, int rows) {
    if (rows >= 8) {
        _mm256_storeu_ps(y, v);
    } else if (rows > 0) {
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(y, t, (size_t)rows * sizeof(float));
    }
}

/* pf: decode's prefetch distance, as the AVX-512 set's (wm_prefetch_bytes) */
W2_INLINE void tile_q(const uint32_t type, const wmat *w, const wm_act *a, int m0, int mt, int g, int h, int pf,
                      float *y, int ldy) {
    wl_info t = wl_type(type);
    int K = w->cols, nsb = K / t.qk, per = t.qk / WM_QB, nab = K / WM_QB;
    const uint8_t *gbase = w->data + (size_t)g * nsb * t.gbytes;
    int lines = (t.gbytes + 63) / 64;
    __m256 acc[W2_MT];
    #pragma GCC unroll 16
    for (int i = 0; i < W2_MT; i++) acc[i] = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *gb = gbase + (size_t)sb * t.gbytes;
        /* unrolled: a constant b turns unpack's shifts into immediates */
        #pragma GCC unroll 8
        for (int b = 0; b < per; b++) {
            if (m0 == 0 && h == 0 && pf) /* the group's first pass streams it from memory (see wmat_avx512.c) */
                for (int l = lines * b / per; l < lines * (b + 1) / per; l++)
                    _mm_prefetch((const char *)(gb + pf + 64 * l), _MM_HINT_T1);
            __m256i U[8];
            w2_scales p;
            unpack(type, gb, b, h, U, &p);
            int ab = sb * per + b;
            #pragma GCC unroll 16
            for (int i = 0; i < mt; i++) {
                int m = m0 + i;
                acc[i] = step(type, U, &p, a->q + (size_t)m * K + (size_t)ab * WM_QB,
                              a->s + (size_t)m * (K / 16) + 2 * ab, a->d[(size_t)m * nab + ab], acc[i]);
            }
        }
    }
    int rows = wl_group_rows(w, g) - 8 * h; /* of this half: 8, fewer, or none */
    rows = rows > 8 ? 8 : rows;
    #pragma GCC unroll 16
    for (int i = 0; i < mt; i++) store_rows(y + (size_t)(m0 + i) * ldy + g * WM_GROUP + 8 * h, acc[i], rows);
}

W2_INLINE void kern_q(const uint32_t type, const wmat *w, const wm_act *a, int M, int g0, int g1, float *y, int ldy) {
    int pf = wm_prefetch_bytes(type);
    for (int g = g0; g < g1; g++)
        for (int h = 0; h < 2; h++)
            for (int m0 = 0; m0 < M; m0 += W2_MT) {
                int mt = M - m0 < W2_MT ? M - m0 : W2_MT;
                tile_q(type, w, a, m0, mt, g, h, pf, y, ldy);
            }
}

/* ---- F16 / BF16 --------------------------------------------------------------------- */

W2_INLINE __m256 half8(const uint32_t type, const uint8_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (type == DT_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* x rows [m0, m0 + mt) x the row halves [c, c + nc) (half c = rows 8c..8c+7
 * of the matrix, i.e. group c/2, half c%2). */
W2_INLINE void tile_half(const uint32_t type, const wmat *w, const float *x, int m0, int mt, int c, int nc, float *y,
                         int ldy) {
    int K = w->cols;
    __m256 acc[W2_MT][W2_HG];
    #pragma GCC unroll 16
    for (int i = 0; i < W2_MT; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < W2_HG; j++) acc[i][j] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 W[W2_HG];
        #pragma GCC unroll 16
        for (int j = 0; j < nc; j++)
            W[j] = half8(type, w->data + ((size_t)((c + j) / 2) * K + k) * 32 + 16 * ((c + j) % 2));
        #pragma GCC unroll 16
        for (int i = 0; i < mt; i++) {
            __m256 xv = _mm256_set1_ps(x[(size_t)(m0 + i) * K + k]);
            #pragma GCC unroll 16
            for (int j = 0; j < nc; j++) acc[i][j] = _mm256_fmadd_ps(xv, W[j], acc[i][j]);
        }
    }
    #pragma GCC unroll 16
    for (int j = 0; j < nc; j++) {
        int rows = w->rows - 8 * (c + j);
        rows = rows > 8 ? 8 : rows;
        #pragma GCC unroll 16
        for (int i = 0; i < mt; i++) store_rows(y + (size_t)(m0 + i) * ldy + 8 * (c + j), acc[i][j], rows);
    }
}

W2_INLINE void kern_half(const uint32_t type, const wmat *w, const float *x, int M, int g0, int g1, float *y, int ldy) {
    for (int c = 2 * g0; c < 2 * g1; c += W2_HG) {
        int nc = 2 * g1 - c < W2_HG ? 2 * g1 - c : W2_HG;
        for (int m0 = 0; m0 < M; m0 += W2_MT) {
            int mt = M - m0 < W2_MT ? M - m0 : W2_MT;
            tile_half(type, w, x, m0, mt, c, nc, y, ldy);
        }
    }
}

W2_TARGET void wm_matmul_avx2(const wmat *w, const float *x, const wm_act *a, int M, int g0, int g1, float *y,
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
