/*
 * sampler_vocab.c — the sampler's passes over the whole vocabulary: the
 * clean-up + argmax pass every call makes, the exp-sum behind log-sum-exp
 * and the sampling weights, and the threshold scan that lets top-k, top-n
 * and the top-p window skip most of a 150k-entry row.
 *
 * These are the only O(V) loops of a call, so they are written 8 lanes at a
 * time with AVX2 (`#if defined(__AVX2__) && defined(__FMA__)`, as the
 * kernels are), with a plain C twin for everything else and for the tail of
 * a row.  The twins agree to the bit (sampler_internal.h): comparisons and
 * blends are exact, vm_expf8 is vm_expf lane by lane (smp_expf's floor is
 * a compare and a mask), and sums keep a lane per id mod 8.  tests/engine/sampling/sampler_portable_test.c builds the C
 * side alone and checks it against this build.
 */
#include "sampler_internal.h"

#include <float.h>
#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#define SMP_AVX2 1
#include <immintrin.h>
#endif

/* ---- clean-up and argmax ------------------------------------------------- */

#ifdef SMP_AVX2
/* The 8-lane part of smp_prepare over l[0, n8): each lane keeps its best
 * value and the FIRST index holding it (strict >), so the lowest index
 * among the lanes with the overall max is the overall first argmax. */
static int32_t prepare8(float *l, int n8, float temperature, float *best_v) {
    const bool scale = temperature != 1.0f;
    const __m256 vt = _mm256_set1_ps(temperature), ninf = _mm256_set1_ps(-INFINITY);
    const __m256 fmax = _mm256_set1_ps(FLT_MAX);
    __m256 vbest = ninf;
    __m256i vidx = _mm256_set1_epi32(-1), cur = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32(8);
    for (int i = 0; i < n8; i += 8) {
        __m256 x = _mm256_loadu_ps(l + i);
        if (scale) x = _mm256_div_ps(x, vt);
        x = _mm256_blendv_ps(x, ninf, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); /* NaN -> -inf */
        x = _mm256_min_ps(x, fmax);                                       /* +inf -> FLT_MAX */
        _mm256_storeu_ps(l + i, x);
        __m256 gt = _mm256_cmp_ps(x, vbest, _CMP_GT_OQ);
        vbest = _mm256_blendv_ps(vbest, x, gt);
        vidx = _mm256_blendv_epi8(vidx, cur, _mm256_castps_si256(gt));
        cur = _mm256_add_epi32(cur, step);
    }
    float bv[8];
    int32_t bi[8];
    _mm256_storeu_ps(bv, vbest);
    _mm256_storeu_si256((__m256i *)bi, vidx);
    int32_t best = -1;
    float v = -INFINITY;
    for (int k = 0; k < 8; k++) {
        if (bi[k] < 0) continue;
        if (bv[k] > v || (bv[k] == v && bi[k] < best)) v = bv[k], best = bi[k];
    }
    *best_v = v;
    return best;
}
#endif

int32_t smp_prepare(float *l, int n, float temperature) {
    int32_t best = -1;
    float bv = -INFINITY;
    int i = 0;
#ifdef SMP_AVX2
    i = n / 8 * 8;
    best = prepare8(l, i, temperature, &bv);
#endif
    for (; i < n; i++) {
        float x = l[i];
        if (temperature != 1.0f) x /= temperature;
        if (isnan(x)) x = -INFINITY;
        else if (x == INFINITY) x = FLT_MAX;
        l[i] = x;
        if (x > bv) { /* later ids win only when strictly larger */
            bv = x;
            best = i;
        }
    }
    return best;
}

/* ---- exp-sum --------------------------------------------------------------- */

/* Double lanes: a float sum over 150k terms would lose ~1e-4 of the total
 * to rounding (and with it the logprobs' precision); the float -> double
 * conversion is exact, so the lanes' sums still do not depend on the build. */
double smp_exp_sum(const float *l, float *w, int n, float mx) {
    double lane[8] = {0};
    int i = 0;
#ifdef SMP_AVX2
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    const __m256 m = _mm256_set1_ps(mx), lo = _mm256_set1_ps(SMP_EXP_FLOOR);
    for (; i + 8 <= n; i += 8) {
        /* smp_expf: lanes below the floor get e^floor, then 0 */
        __m256 x = _mm256_sub_ps(_mm256_loadu_ps(l + i), m);
        __m256 e = vm_expf8(_mm256_max_ps(x, lo));
        e = _mm256_and_ps(e, _mm256_cmp_ps(x, lo, _CMP_GE_OQ));
        if (w) _mm256_storeu_ps(w + i, e);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    _mm256_storeu_pd(lane, a0);
    _mm256_storeu_pd(lane + 4, a1);
#endif
    for (; i < n; i++) {
        float e = smp_expf(l[i] - mx);
        if (w) w[i] = e;
        lane[i % 8] += e;
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* ---- threshold scan ------------------------------------------------------- */

unsigned smp_above8(const float *x, float t) {
#ifdef SMP_AVX2
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x), _mm256_set1_ps(t), _CMP_GT_OQ));
#else
    unsigned m = 0;
    for (int j = 0; j < 8; j++) m |= (unsigned)(x[j] > t) << j;
    return m;
#endif
}

int smp_next_above(const float *x, int i, int n, float t) {
#ifdef SMP_AVX2
    const __m256 vt = _mm256_set1_ps(t);
    for (; i + 8 <= n; i += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vt, _CMP_GT_OQ));
        if (mask) return i + __builtin_ctz((unsigned)mask);
    }
#endif
    for (; i < n; i++)
        if (x[i] > t) return i;
    return n;
}
