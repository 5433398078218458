/*
 * matmul_pack.c — the packed weight layout of matmul.h: packing a
 * row-major (N, K) matrix into panels of MM_PANEL rows, K-major in chunks
 * of 8 (at load time, in place when the sizes allow), and reading rows back
 * out (BLAS mode, tied embeddings, tests).
 *
 * Only data moves here; no arithmetic, so nothing here can change a bit of
 * any product.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "matmul.h"

/* 2 MiB: a transparent huge page on x86-64. */
#define MM_HUGE ((size_t)2 << 20)

void *mm_alloc(size_t bytes) {
    /* 64-byte lines at least: wm_act's arrays and the kernels' vector
     * loads assume it, and a buffer that straddles lines differently from
     * run to run made decode speed depend on malloc's luck (up to 7%) */
    if (bytes < MM_HUGE) return aligned_alloc(64, (bytes + 63) / 64 * 64 + (bytes == 0) * 64);
    size_t len = (bytes + MM_HUGE - 1) / MM_HUGE * MM_HUGE;
    void *p = aligned_alloc(MM_HUGE, len);
    if (p) (void)madvise(p, len, MADV_HUGEPAGE); /* advice: without it only the TLB suffers */
    return p;
}

static size_t round8(int K) { return ((size_t)K + 7) / 8 * 8; }

size_t mm_packed_size(int N, int K) { return (size_t)N * round8(K); }

/* Rows [0, W) of a row-major slice (stride K) into one panel (W rows,
 * Kp = round8(K) columns), zero-padding the last chunk. */
static void pack_panel(const float *w, int W, int K, float *panel) {
    size_t full = (size_t)K / 8, tail = (size_t)K % 8;
    for (size_t c = 0; c < full; c++) /* a constant-size copy: one vector */
        for (int r = 0; r < W; r++) memcpy(panel + (c * W + r) * 8, w + (size_t)r * K + c * 8, 8 * sizeof(float));
    if (tail)
        for (int r = 0; r < W; r++) {
            float *dst = panel + (full * W + r) * 8;
            memcpy(dst, w + (size_t)r * K + full * 8, tail * sizeof(float));
            for (size_t j = tail; j < 8; j++) dst[j] = 0.0f;
        }
}

bool mm_pack(const float *w, int N, int K, float *wp) {
    size_t Kp = round8(K);
    float *tmp = NULL;
    if ((const float *)wp == w) {
        if (Kp != (size_t)K) return false;
        tmp = malloc((size_t)MM_PANEL * K * sizeof(float));
        if (!tmp) return false;
    }
    for (int p0 = 0; p0 < N; p0 += MM_PANEL) {
        int W = N - p0 < MM_PANEL ? N - p0 : MM_PANEL;
        const float *src = w + (size_t)p0 * K;
        if (tmp) { /* in place: the panel's floats are the same in both forms */
            memcpy(tmp, src, (size_t)W * K * sizeof(float));
            src = tmp;
        }
        pack_panel(src, W, K, wp + (size_t)p0 * Kp);
    }
    free(tmp);
    return true;
}

/* Panel by panel, chunk by chunk: each chunk of a row is 8 floats in a
 * row (a constant-size copy, one vector), so reading a panel is one
 * sequential pass. */
void mm_unpack_rows(const float *wp, int N, int K, int n0, int n1, float *out) {
    size_t Kp = round8(K), full = (size_t)K / 8, tail = (size_t)K % 8;
    for (int p0 = n0 / MM_PANEL * MM_PANEL; p0 < n1; p0 += MM_PANEL) {
        int W = N - p0 < MM_PANEL ? N - p0 : MM_PANEL;
        int r0 = n0 > p0 ? n0 - p0 : 0, r1 = n1 < p0 + W ? n1 - p0 : W;
        const float *panel = wp + (size_t)p0 * Kp;
        float *dst = out + (size_t)(p0 + r0 - n0) * K;
        for (size_t c = 0; c < full; c++)
            for (int r = r0; r < r1; r++)
                memcpy(dst + (size_t)(r - r0) * K + c * 8, panel + (c * W + r) * 8, 8 * sizeof(float));
        if (tail)
            for (int r = r0; r < r1; r++)
                memcpy(dst + (size_t)(r - r0) * K + full * 8, panel + (full * W + r) * 8, tail * sizeof(float));
    }
}
