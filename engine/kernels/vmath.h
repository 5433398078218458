/*
 * vmath.h — element-wise math the compiler can vectorize, with results that
 * do not depend on how it was vectorized.
 *
 * libm's expf is a call per element, so a loop over it runs scalar (SwiGLU
 * calls it ffn_dim times per token).  vm_expf is straight-line float code
 * (no branches, no tables) and vm_expf8 its AVX2 twin, written with
 * intrinsics because gcc will not if-convert the clamps at -O2 (it threads
 * them into branches).  Every step is one IEEE operation (fmaf is one
 * rounding, like vfmadd; the C is compiled with -std=c17, so nothing is
 * contracted), so an element gets the same bits in a vector lane or in the
 * scalar remainder loop, at any position in any batch.
 */
#ifndef CTGI_VMATH_H
#define CTGI_VMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float vm_float(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline uint32_t vm_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Constants of vm_expf (also used by the AVX2 version). */
#define VM_EXP_LO (-104.0f)          /* e^x rounds to 0 below */
#define VM_EXP_HI 89.0f              /* e^x overflows above */
#define VM_EXP_LOG2E 0x1.715476p+0f
#define VM_EXP_ROUND 12582912.0f     /* 1.5 * 2^23 */
#define VM_EXP_LN2_HI 0x1.62e43p-1f  /* ln2 = HI - LO_NEG */
#define VM_EXP_LN2_LO_NEG 0x1.05c61p-29f

/* e^x, within 1 ulp of the exact value over the whole float range
 * (checked against double exp in tests/engine/matmul_test.c), denormal
 * results included; inf and 0 beyond the range, NaN for NaN.  Each line
 * is one IEEE operation, mirrored one for one by vm_expf8. */
static inline float vm_expf(float x) {
    /* clamp as maxps/minps do (a NaN passes through as x); beyond the
     * bounds the result is 0 or inf anyway */
    float xc = isgreater(VM_EXP_LO, x) ? VM_EXP_LO : x;
    xc = isless(VM_EXP_HI, xc) ? VM_EXP_HI : xc;
    /* x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2: adding 1.5 * 2^23
     * rounds to an integer, which then sits in the low mantissa bits of t */
    float t = xc * VM_EXP_LOG2E + VM_EXP_ROUND;
    float n = t - VM_EXP_ROUND;
    int32_t ni = (int32_t)(vm_bits(t) - vm_bits(VM_EXP_ROUND));
    float r = fmaf(n, -VM_EXP_LN2_HI, xc);
    r = fmaf(n, VM_EXP_LN2_LO_NEG, r);
    /* e^r: Taylor series to r^7 (the r^8 term is < 0.1 ulp), Horner with fma */
    float p = 0x1.a01a02p-13f;       /* 1/7! */
    p = fmaf(p, r, 0x1.6c16c2p-10f); /* 1/6! */
    p = fmaf(p, r, 0x1.111112p-7f);  /* 1/5! */
    p = fmaf(p, r, 0x1.555556p-5f);  /* 1/4! */
    p = fmaf(p, r, 0x1.555556p-3f);  /* 1/3! */
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    /* times 2^n as two powers of two, so n in [-150, 129] never leaves the
     * exponent range of either factor; only the last multiply rounds */
    int32_t n1 = ni / 2, n2 = ni - n1;
    return p * vm_float((uint32_t)(n1 + 127) << 23) * vm_float((uint32_t)(n2 + 127) << 23);
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* vm_expf on 8 lanes, the same operations in the same order. */
static inline __m256 vm_expf8(__m256 x) {
    __m256 xc = _mm256_max_ps(_mm256_set1_ps(VM_EXP_LO), x); /* lo > x ? lo : x */
    xc = _mm256_min_ps(_mm256_set1_ps(VM_EXP_HI), xc);       /* hi < xc ? hi : xc */
    __m256 round = _mm256_set1_ps(VM_EXP_ROUND);
    __m256 t = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(VM_EXP_LOG2E)), round);
    __m256 n = _mm256_sub_ps(t, round);
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(round));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VM_EXP_LN2_HI), xc);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(VM_EXP_LN2_LO_NEG), r);
    __m256 p = _mm256_set1_ps(0x1.a01a02p-13f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.6c16c2p-10f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.111112p-7f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.555556p-5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.555556p-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* ni / 2 rounding toward zero, as C's division: add the sign bit first */
    __m256i n1 = _mm256_srai_epi32(_mm256_add_epi32(ni, _mm256_srli_epi32(ni, 31)), 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
#endif

/* gate[i] = silu(gate[i]) * up[i] = gate / (1 + e^-gate) * up, i < n: the
 * SwiGLU of the MLP.  8 lanes at a time where AVX2 is there; the rest (and
 * everything elsewhere) by the scalar mirror, so an element gets the same
 * bits at any index. */
static inline void vm_swiglu(float *gate, const float *up, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 d = _mm256_add_ps(one, vm_expf8(_mm256_xor_ps(g, sign)));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, d), _mm256_loadu_ps(up + i)));
    }
#endif
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + vm_expf(-gate[i])) * up[i];
}

/* s[i] = e^(s[i] - mx) for i < n, and their sum: element i goes to lane
 * i % 8, lanes in increasing i, then the fixed tree of matmul.h; the
 * vector loop and the scalar tail (and the portable code) keep those
 * lanes, so the sum depends on n and the values only (a softmax's
 * denominator, the same whatever batch its row is in). */
static inline float vm_exp_sum(float *s, size_t n, float mx) {
    float lane[8] = {0};
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps(), m = _mm256_set1_ps(mx);
    for (; i + 8 <= n; i += 8) {
        __m256 e = vm_expf8(_mm256_sub_ps(_mm256_loadu_ps(s + i), m));
        _mm256_storeu_ps(s + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    _mm256_storeu_ps(lane, acc);
#endif
    for (; i < n; i++) {
        s[i] = vm_expf(s[i] - mx);
        lane[i % 8] += s[i];
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* GELU, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as x / (1 + e^(-2u)) (the same function: 0.5 (1 + tanh u) is
 * the logistic of 2u), which has no cancellation for x < 0.  One IEEE
 * operation per step, the AVX2 lanes mirroring the scalar code. */
#define VM_GELU_K2 0x1.988454p+0f /* 2 sqrt(2/pi) */
#define VM_GELU_C 0.044715f
static inline float vm_gelu_tanh1(float x) {
    float x2 = x * x;
    float u2 = (x + (VM_GELU_C * x2) * x) * VM_GELU_K2;
    return x / (1.0f + vm_expf(-u2));
}

/* tanh(y) = sign(y) (1 - e^(-2|y|)) / (1 + e^(-2|y|)): exact to a few ulp
 * of 1 (absolute ~1e-7 near 0, where it is used scaled by a cap). */
static inline float vm_tanh1(float y) {
    float e = vm_expf(-2.0f * fabsf(y));
    return copysignf((1.0f - e) / (1.0f + e), y);
}

#if defined(__AVX2__) && defined(__FMA__)
static inline __m256 vm_gelu_tanh8(__m256 x) {
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 u2 = _mm256_mul_ps(_mm256_add_ps(x, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(VM_GELU_C), x2), x)),
                              _mm256_set1_ps(VM_GELU_K2));
    __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), vm_expf8(_mm256_xor_ps(u2, _mm256_set1_ps(-0.0f))));
    return _mm256_div_ps(x, d);
}

static inline __m256 vm_tanh8(__m256 y) {
    __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_andnot_ps(sign, y);
    __m256 e = vm_expf8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), a));
    __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(t, _mm256_and_ps(sign, y));
}
#endif

/* x[i] = gelu_tanh(x[i]), i < n (the non-gated GELU MLP). */
static inline void vm_gelu(float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, vm_gelu_tanh8(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++) x[i] = vm_gelu_tanh1(x[i]);
}

/* gate[i] = gelu_tanh(gate[i]) * up[i], i < n: GeGLU. */
static inline void vm_geglu(float *gate, const float *up, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(vm_gelu_tanh8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
#endif
    for (; i < n; i++) gate[i] = vm_gelu_tanh1(gate[i]) * up[i];
}

/* s[i] = cap * tanh(s[i] / cap), i < n: soft-capping (gemma2). */
static inline void vm_softcap(float *s, size_t n, float cap) {
    size_t i = 0;
    float inv = 1.0f / cap;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 vc = _mm256_set1_ps(cap), vi = _mm256_set1_ps(inv);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(s + i, _mm256_mul_ps(vc, vm_tanh8(_mm256_mul_ps(_mm256_loadu_ps(s + i), vi))));
#endif
    for (; i < n; i++) s[i] = cap * vm_tanh1(s[i] * inv);
}

#endif
