/*
 * bench_bw.c — memory bandwidth on the engine's pool (bench_bw.h).
 */
#include "bench_bw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "support/bench_util.h"

static void *xaligned(size_t bytes) {
    size_t al = 2u << 20; /* huge-page aligned */
    void *p = aligned_alloc(al, (bytes + al - 1) / al * al);
    if (!p) bench_die("out of memory (%zu bytes)", bytes);
    return p;
}

typedef float vf16 __attribute__((vector_size(64)));

/* Sum this thread's share of the buffer with 4 independent 64-byte lanes. */
void bw_read_task(void *arg, int ith, int nth) {
    read_job *j = arg;
    size_t blocks = j->n / 64, per = blocks / (size_t)nth, rem = blocks % (size_t)nth;
    size_t b = (size_t)ith * per + ((size_t)ith < rem ? (size_t)ith : rem);
    size_t e = b + per + ((size_t)ith < rem ? 1 : 0);
    vf16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (size_t i = b; i < e; i++) {
        const float *q = j->p + i * 64;
        vf16 x0, x1, x2, x3;
        memcpy(&x0, q, 64);
        memcpy(&x1, q + 16, 64);
        memcpy(&x2, q + 32, 64);
        memcpy(&x3, q + 48, 64);
        a0 += x0;
        a1 += x1;
        a2 += x2;
        a3 += x3;
    }
    vf16 a = a0 + a1 + a2 + a3;
    double s = 0;
    for (int k = 0; k < 16; k++) s += a[k];
    j->sink[(ith % 64) * 8] = s;
}

/* Pseudo-random contents: no two pages alike, so nothing below the guest
 * (page merging, compression) can shortcut the reads. */
static void fill_task(void *arg, int ith, int nth) {
    read_job *j = arg;
    size_t per = j->n / (size_t)nth, b = (size_t)ith * per, e = ith == nth - 1 ? j->n : b + per;
    uint32_t *p = (uint32_t *)j->p;
    uint64_t x = 0x243F6A8885A308D3ull ^ ((uint64_t)ith << 32) ^ b;
    for (size_t i = b; i < e; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint32_t)(x >> 41) | 0x3c000000u; /* small positive floats */
    }
}

bw_buffer bw_create(pool *p, size_t bytes) {
    bw_buffer b = {calloc(1, sizeof(read_job)), bytes};
    if (!b.j) bench_die("out of memory");
    b.j->n = bytes / sizeof(float);
    b.j->p = xaligned(bytes);
    pool_run(p, fill_task, b.j); /* fault the pages in, spread over the threads */
    return b;
}

void bw_free(bw_buffer *b) {
    free((void *)b->j->p);
    free(b->j);
}

/* One timed pass: GB/s with all pool threads (single: the caller alone). */
double bw_sample(pool *p, bw_buffer *b, bool single) {
    double t0 = ct_now();
    if (single)
        bw_read_task(b->j, 0, 1);
    else
        pool_run(p, bw_read_task, b->j);
    return b->bytes / (ct_now() - t0) / 1e9;
}

/* passes timed passes: the median and the best GB/s. */
void bw_stats(pool *p, bw_buffer *b, bool single, int passes, double *median, double *best) {
    double g[32];
    if (passes > 32) passes = 32;
    for (int i = 0; i < passes; i++) g[i] = bw_sample(p, b, single);
    for (int i = 1; i < passes; i++) /* insertion sort, tiny n */
        for (int k = i; k > 0 && g[k] < g[k - 1]; k--) {
            double t = g[k];
            g[k] = g[k - 1];
            g[k - 1] = t;
        }
    *median = g[passes / 2];
    *best = g[passes - 1];
}

