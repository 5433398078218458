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
 */
#include <math.h>
#include <stddef.h>

#include "matmul.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* Same tree as lanes_sum() in matmul.c, for 4 accumulators at once. */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* R (1, 4 or 8) scores: x against rows w, w + ldw, ...  Always inlined
 * with a constant R, so the R accumulators live in registers. */
static inline __attribute__((always_inline)) void dots(const float *x, int K, const float *w, size_t ldw, int R,
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
    if (R == 1) {
        float t[4];
        _mm_storeu_ps(t, hsum4(acc[0], acc[0], acc[0], acc[0]));
        y[0] = t[0];
        return;
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r += 4) _mm_storeu_ps(y + r, hsum4(acc[r], acc[r + 1], acc[r + 2], acc[r + 3]));
}

void mm_dots(const float *x, int K, const float *w, size_t ldw, int n, float *y) {
    int i = 0;
    for (; i + 8 <= n; i += 8) dots(x, K, w + i * ldw, ldw, 8, y + i);
    for (; i + 4 <= n; i += 4) dots(x, K, w + i * ldw, ldw, 4, y + i);
    for (; i < n; i++) dots(x, K, w + i * ldw, ldw, 1, y + i);
}

/* acc[0, 8 * V) += sum over i of wt[i] * v_i[0, 8 * V), V <= 8 vectors held
 * in registers across all n positions. */
static inline __attribute__((always_inline)) void wsum_block(const float *wt, int n, const float *v, size_t ldv,
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

void mm_wsum(const float *wt, int n, const float *v, size_t ldv, int K, float *acc) {
    int k = 0;
    for (; k + 64 <= K; k += 64) wsum_block(wt, n, v + k, ldv, 8, acc + k);
    for (; k + 8 <= K; k += 8) wsum_block(wt, n, v + k, ldv, 1, acc + k);
    for (; k < K; k++) /* the scalar tail: the same fma per element */
        for (int i = 0; i < n; i++) acc[k] = fmaf(wt[i], v[i * ldv + k], acc[k]);
}

#else /* portable: the same orders */

void mm_dots(const float *x, int K, const float *w, size_t ldw, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = mm_dot_ref(x, w + i * ldw, K);
}

void mm_wsum(const float *wt, int n, const float *v, size_t ldv, int K, float *acc) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) acc[k] = fmaf(wt[i], v[i * ldv + k], acc[k]);
}

#endif
