/*
 * matmul_attn.c — attention's two small products, q.k over a run of cached
 * keys and the weighted sum of cached values, each with one fixed order per
 * output (matmul.h: mm_dots, mm_wsum).
 *
 * Attention is 5-10% of a prefill's FLOPs but was half its time: a 64-long
 * dot product written as one simd reduction is a chain of dependent FMAs
 * (latency-bound, ~40 cycles per score), and out[i] += w * v[i] went through
 * memory for every position.  Here the keys go 8 at a time (8 independent
 * accumulator chains keep both FMA pipes busy) and the value sum keeps 64
 * outputs in registers across positions.
 *
 * Orders (what makes a token's attention independent of its batch, of the
 * KV block size and of which path ran):
 *   - mm_dots: each score is mm_dot_ref(x, w_i, K): 8 lanes over k in
 *     order, a zero-padded last chunk, the fixed tree;
 *   - mm_wsum: acc[k] = fma(wt[i], v_i[k], acc[k]) for i = 0, 1, ... in
 *     order, one element at a time, whatever vector or scalar code does it;
 *     a caller that splits the positions into several calls (KV blocks)
 *     gets the same bits, since acc goes through memory exactly.
 *
 * A KV cache of f16, bf16 or q8_0 (kv.h) is read in its own type by
 * mm_dots_kv / mm_wsum_kv: each element is widened to f32 exactly (in
 * registers: VCVTPH2PS, a 16-bit shift, int8 -> f32 times the block's
 * scale), then the orders above apply unchanged, so a typed cache changes
 * the values attention sees (what kv_put stored) and nothing else.  Those
 * need F16C besides AVX2/FMA; the portable twins widen 32 values at a time
 * into a buffer (kv_get) and follow the same lanes.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "matmul.h"
#include "wmat.h"

/* Positions i of mm_wsum_kv from 32 values widened at a time: the
 * portable code, and the vector code's K % 8 tail. */
static void wsum_kv_ref(const float *wt, int n, const uint8_t *v, size_t ldv, kv_dtype t, int K, float *acc) {
    float buf[KV_Q8_BLOCK];
    for (int i = 0; i < n; i++)
        for (int k0 = 0; k0 < K; k0 += KV_Q8_BLOCK) {
            int m = K - k0 < KV_Q8_BLOCK ? K - k0 : KV_Q8_BLOCK;
            kv_get(t, v + (size_t)i * ldv + kv_bytes(t, (size_t)k0), buf, m);
            for (int k = 0; k < m; k++) acc[k0 + k] = fmaf(wt[i], buf[k], acc[k0 + k]);
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Compiled for AVX2+FMA+F16C whatever the build's -march; run where
 * wm_kernels() says the CPU has them (the dispatchers at the end). */
#define ATTN_AVX2 __attribute__((target("avx2,fma,f16c")))

/* Same tree as lanes_sum() in matmul.c, for 4 accumulators at once. */
static inline ATTN_AVX2 __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* y[r] = the fixed tree of acc[r]'s lanes, r < R (1, 4 or 8). */
static inline __attribute__((always_inline)) ATTN_AVX2 void store_sums(const __m256 *acc, int R, float *y) {
    if (R == 1) {
        float t[4];
        _mm_storeu_ps(t, hsum4(acc[0], acc[0], acc[0], acc[0]));
        y[0] = t[0];
        return;
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r += 4) _mm_storeu_ps(y + r, hsum4(acc[r], acc[r + 1], acc[r + 2], acc[r + 3]));
}

/* R (1, 4 or 8) scores: x against rows w, w + ldw, ...  Always inlined
 * with a constant R, so the R accumulators live in registers. */
static inline __attribute__((always_inline)) ATTN_AVX2 void dots(const float *x, int K, const float *w, size_t ldw, int R,
                                                        float *y) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 xv = _mm256_loadu_ps(x + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + r * ldw + k), acc[r]);
    }
    if (k < K) { /* the zero-padded last chunk */
        int rem = K - k;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 xv = _mm256_maskload_ps(x + k, m);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(w + r * ldw + k, m), acc[r]);
    }
    store_sums(acc, R, y);
}

static ATTN_AVX2 void mm_dots_avx2(const float *x, int K, const float *w, size_t ldw, int n, float *y) {
    int i = 0;
    for (; i + 8 <= n; i += 8) dots(x, K, w + i * ldw, ldw, 8, y + i);
    for (; i + 4 <= n; i += 4) dots(x, K, w + i * ldw, ldw, 4, y + i);
    for (; i < n; i++) dots(x, K, w + i * ldw, ldw, 1, y + i);
}

/* acc[0, 8 * V) += sum over i of wt[i] * v_i[0, 8 * V), V <= 8 vectors held
 * in registers across all n positions. */
static inline __attribute__((always_inline)) ATTN_AVX2 void wsum_block(const float *wt, int n, const float *v, size_t ldv,
                                                             int V, float *acc) {
    __m256 a[8];
#pragma GCC unroll 8
    for (int j = 0; j < V; j++) a[j] = _mm256_loadu_ps(acc + 8 * j);
    for (int i = 0; i < n; i++) {
        __m256 s = _mm256_broadcast_ss(wt + i);
        const float *vi = v + i * ldv;
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) a[j] = _mm256_fmadd_ps(s, _mm256_loadu_ps(vi + 8 * j), a[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < V; j++) _mm256_storeu_ps(acc + 8 * j, a[j]);
}

static ATTN_AVX2 void mm_wsum_avx2(const float *wt, int n, const float *v, size_t ldv, int K, float *acc) {
    int k = 0;
    for (; k + 64 <= K; k += 64) wsum_block(wt, n, v + k, ldv, 8, acc + k);
    for (; k + 8 <= K; k += 8) wsum_block(wt, n, v + k, ldv, 1, acc + k);
    for (; k < K; k++) /* the scalar tail: the same fma per element */
        for (int i = 0; i < n; i++) acc[k] = fmaf(wt[i], v[i * ldv + k], acc[k]);
}

#endif

/* ---- portable: the same orders ---- */

static void mm_dots_portable(const float *x, int K, const float *w, size_t ldw, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = mm_dot_ref(x, w + i * ldw, K);
}

static void mm_wsum_portable(const float *wt, int n, const float *v, size_t ldv, int K, float *acc) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) acc[k] = fmaf(wt[i], v[i * ldv + k], acc[k]);
}



/* ---- typed caches ------------------------------------------------------------------ */

#if defined(__x86_64__)

/* Values k..k+7 of a 16-bit row (F16 or BF16), widened exactly.  Always
 * inlined with a constant t, so the branch folds away. */
static inline __attribute__((always_inline)) ATTN_AVX2 __m256 kv_load8(kv_dtype t, const uint8_t *row, int k) {
    __m128i h = _mm_loadu_si128((const __m128i *)(row + 2 * (size_t)k));
    if (t == KV_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Q8_0 block b's scale d, broadcast (once per block, not per 8 values). */
static inline __attribute__((always_inline)) ATTN_AVX2 __m256 q8_scale(const uint8_t *b) {
    uint16_t h;
    memcpy(&h, b, sizeof h);
    return _mm256_set1_ps(_cvtsh_ss(h));
}

/* Values 8c..8c+7 of Q8_0 block b: d * q, exact in f32. */
static inline __attribute__((always_inline)) ATTN_AVX2 __m256 q8_load8(const uint8_t *b, int c, __m256 d) {
    __m128i q = _mm_loadl_epi64((const __m128i *)(b + 2 + 8 * c));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
}

/* The last rem (1..7) values of a 16-bit row from k, zero-padded to 8 like
 * a masked load. */
static inline __attribute__((always_inline)) ATTN_AVX2 __m256 kv_load_tail(kv_dtype t, const uint8_t *row, int k, int rem) {
    uint16_t buf[8] = {0};
    memcpy(buf, row + 2 * (size_t)k, 2 * (size_t)rem);
    return kv_load8(t, (const uint8_t *)buf, 0);
}

/* dots() on 16-bit rows of type t: the same lanes, chunks and tree. */
static inline __attribute__((always_inline)) ATTN_AVX2 void dots_kv(const float *x, int K, const uint8_t *w, size_t ldw,
                                                           kv_dtype t, int R, float *y) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 xv = _mm256_loadu_ps(x + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(xv, kv_load8(t, w + r * ldw, k), acc[r]);
    }
    if (k < K) {
        int rem = K - k;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 xv = _mm256_maskload_ps(x + k, m);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(xv, kv_load_tail(t, w + r * ldw, k, rem), acc[r]);
    }
    store_sums(acc, R, y);
}

/* dots() on Q8_0 rows (K % 32 == 0), a block at a time: x's 4 chunks
 * are loaded once per block and each row's scale once; acc[r] still takes
 * its chunks in increasing k, so the lanes and the tree are dots()'s. */
static inline __attribute__((always_inline)) ATTN_AVX2 void dots_q8(const float *x, int K, const uint8_t *w, size_t ldw,
                                                           int R, float *y) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int k = 0; k < K; k += KV_Q8_BLOCK) {
        __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        __m256 x2 = _mm256_loadu_ps(x + k + 16), x3 = _mm256_loadu_ps(x + k + 24);
        size_t off = (size_t)k / KV_Q8_BLOCK * KV_Q8_BYTES;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *b = w + r * ldw + off;
            __m256 d = q8_scale(b);
            acc[r] = _mm256_fmadd_ps(x0, q8_load8(b, 0, d), acc[r]);
            acc[r] = _mm256_fmadd_ps(x1, q8_load8(b, 1, d), acc[r]);
            acc[r] = _mm256_fmadd_ps(x2, q8_load8(b, 2, d), acc[r]);
            acc[r] = _mm256_fmadd_ps(x3, q8_load8(b, 3, d), acc[r]);
        }
    }
    store_sums(acc, R, y);
}

/* Rows 8, 4, then 1 at a time (t constant: one instance per type). */
static inline __attribute__((always_inline)) ATTN_AVX2 void dots_kv_rows(const float *x, int K, const uint8_t *w, size_t ldw,
                                                                kv_dtype t, int n, float *y) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        if (t == KV_Q8_0) dots_q8(x, K, w + i * ldw, ldw, 8, y + i);
        else dots_kv(x, K, w + i * ldw, ldw, t, 8, y + i);
    }
    for (; i + 4 <= n; i += 4) {
        if (t == KV_Q8_0) dots_q8(x, K, w + i * ldw, ldw, 4, y + i);
        else dots_kv(x, K, w + i * ldw, ldw, t, 4, y + i);
    }
    for (; i < n; i++) {
        if (t == KV_Q8_0) dots_q8(x, K, w + i * ldw, ldw, 1, y + i);
        else dots_kv(x, K, w + i * ldw, ldw, t, 1, y + i);
    }
}

static ATTN_AVX2 void mm_dots_kv_avx2(const float *x, int K, const void *w, size_t ldw, kv_dtype t, int n, float *y) {
    switch (t) {
    case KV_F16: dots_kv_rows(x, K, w, ldw, KV_F16, n, y); break;
    case KV_BF16: dots_kv_rows(x, K, w, ldw, KV_BF16, n, y); break;
    case KV_Q8_0: dots_kv_rows(x, K, w, ldw, KV_Q8_0, n, y); break;
    default: mm_dots(x, K, w, ldw / sizeof(float), n, y); break;
    }
}

/* wsum_block() on 16-bit rows of type t: values [k0, k0 + 8 * V) of each row. */
static inline __attribute__((always_inline)) ATTN_AVX2 void wsum_kv_block(const float *wt, int n, const uint8_t *v,
                                                                 size_t ldv, kv_dtype t, int k0, int V, float *acc) {
    __m256 a[8];
#pragma GCC unroll 8
    for (int j = 0; j < V; j++) a[j] = _mm256_loadu_ps(acc + 8 * j);
    for (int i = 0; i < n; i++) {
        __m256 s = _mm256_broadcast_ss(wt + i);
        const uint8_t *vi = v + i * ldv;
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) a[j] = _mm256_fmadd_ps(s, kv_load8(t, vi, k0 + 8 * j), a[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < V; j++) _mm256_storeu_ps(acc + 8 * j, a[j]);
}

static inline __attribute__((always_inline)) ATTN_AVX2 void wsum_kv(const float *wt, int n, const uint8_t *v, size_t ldv,
                                                           kv_dtype t, int K, float *acc) {
    int k = 0;
    for (; k + 64 <= K; k += 64) wsum_kv_block(wt, n, v, ldv, t, k, 8, acc + k);
    for (; k + 8 <= K; k += 8) wsum_kv_block(wt, n, v, ldv, t, k, 1, acc + k);
    if (k < K) wsum_kv_ref(wt, n, v + kv_bytes(t, (size_t)k), ldv, t, K - k, acc + k);
}

/* wsum_block() on Q8_0 rows: NB (1 or 2) blocks from value k0, each
 * block's scale once per position. */
static inline __attribute__((always_inline)) ATTN_AVX2 void wsum_q8_block(const float *wt, int n, const uint8_t *v,
                                                                 size_t ldv, int k0, int NB, float *acc) {
    __m256 a[8];
#pragma GCC unroll 8
    for (int j = 0; j < 4 * NB; j++) a[j] = _mm256_loadu_ps(acc + 8 * j);
    size_t off = (size_t)k0 / KV_Q8_BLOCK * KV_Q8_BYTES;
    for (int i = 0; i < n; i++) {
        __m256 s = _mm256_broadcast_ss(wt + i);
#pragma GCC unroll 2
        for (int bb = 0; bb < NB; bb++) {
            const uint8_t *b = v + i * ldv + off + (size_t)bb * KV_Q8_BYTES;
            __m256 d = q8_scale(b);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) a[4 * bb + c] = _mm256_fmadd_ps(s, q8_load8(b, c, d), a[4 * bb + c]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < 4 * NB; j++) _mm256_storeu_ps(acc + 8 * j, a[j]);
}

static ATTN_AVX2 void mm_wsum_kv_avx2(const float *wt, int n, const void *v, size_t ldv, kv_dtype t, int K, float *acc) {
    int k = 0;
    switch (t) {
    case KV_F16: wsum_kv(wt, n, v, ldv, KV_F16, K, acc); break;
    case KV_BF16: wsum_kv(wt, n, v, ldv, KV_BF16, K, acc); break;
    case KV_Q8_0: /* K % 32 == 0: pairs of blocks, then one */
        for (; k + 2 * KV_Q8_BLOCK <= K; k += 2 * KV_Q8_BLOCK) wsum_q8_block(wt, n, v, ldv, k, 2, acc + k);
        if (k < K) wsum_q8_block(wt, n, v, ldv, k, 1, acc + k);
        break;
    default: mm_wsum(wt, n, v, ldv / sizeof(float), K, acc); break;
    }
}

#endif

/* ---- portable: the same orders ---- */

/* mm_dot_ref's lanes and tree over a row widened 32 values at a time. */
static float dot_kv_ref(const float *x, const uint8_t *w, kv_dtype t, int K) {
    float lane[8] = {0}, buf[KV_Q8_BLOCK];
    for (int k0 = 0; k0 < K; k0 += KV_Q8_BLOCK) {
        int m = K - k0 < KV_Q8_BLOCK ? K - k0 : KV_Q8_BLOCK;
        kv_get(t, w + kv_bytes(t, (size_t)k0), buf, m);
        for (int k = 0; k < m; k += 8) /* a last chunk short of 8 is zero-padded */
            for (int j = 0; j < 8; j++) {
                bool in = k + j < m;
                lane[j] = fmaf(in ? x[k0 + k + j] : 0.0f, in ? buf[k + j] : 0.0f, lane[j]);
            }
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static void mm_dots_kv_portable(const float *x, int K, const void *w, size_t ldw, kv_dtype t, int n, float *y) {
    if (t == KV_F32) {
        mm_dots(x, K, w, ldw / sizeof(float), n, y);
        return;
    }
    for (int i = 0; i < n; i++) y[i] = dot_kv_ref(x, (const uint8_t *)w + i * ldw, t, K);
}

static void mm_wsum_kv_portable(const float *wt, int n, const void *v, size_t ldv, kv_dtype t, int K, float *acc) {
    if (t == KV_F32) mm_wsum(wt, n, v, ldv / sizeof(float), K, acc);
    else wsum_kv_ref(wt, n, v, ldv, t, K, acc);
}



/* ---- dispatch: the AVX2 twins where the CPU runs them (the same bits) ---- */

static bool use_avx2(void) {
#if defined(__x86_64__)
    return wm_kernels() >= WM_AVX2;
#else
    return false;
#endif
}

void mm_dots(const float *x, int K, const float *w, size_t ldw, int n, float *y) {
#if defined(__x86_64__)
    if (use_avx2()) { mm_dots_avx2(x, K, w, ldw, n, y); return; }
#endif
    mm_dots_portable(x, K, w, ldw, n, y);
}

void mm_wsum(const float *wt, int n, const float *v, size_t ldv, int K, float *acc) {
#if defined(__x86_64__)
    if (use_avx2()) { mm_wsum_avx2(wt, n, v, ldv, K, acc); return; }
#endif
    mm_wsum_portable(wt, n, v, ldv, K, acc);
}

void mm_dots_kv(const float *x, int K, const void *w, size_t ldw, kv_dtype t, int n, float *y) {
#if defined(__x86_64__)
    if (use_avx2()) { mm_dots_kv_avx2(x, K, w, ldw, t, n, y); return; }
#endif
    mm_dots_kv_portable(x, K, w, ldw, t, n, y);
}

void mm_wsum_kv(const float *wt, int n, const void *v, size_t ldv, kv_dtype t, int K, float *acc) {
#if defined(__x86_64__)
    if (use_avx2()) { mm_wsum_kv_avx2(wt, n, v, ldv, t, K, acc); return; }
#endif
    mm_wsum_kv_portable(wt, n, v, ldv, t, K, acc);
}
