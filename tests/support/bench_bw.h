/*
 * bench_bw.h — the machine's memory bandwidth, measured on the engine's
 * pool: a multi-threaded read of a buffer far larger than the last-level
 * cache (scripts/bench_engine.c, scripts/bench_quant.c).  Decode on a CPU
 * is bound by it: a model's decode ceiling is bandwidth / bytes per token.
 */
#ifndef CTGI_BENCH_BW_H
#define CTGI_BENCH_BW_H

#include <stdbool.h>
#include <stddef.h>

#include "pool.h"

typedef struct {
    const float *p;
    size_t n;              /* floats; a multiple of 64 is read, the tail ignored */
    double sink[64 * 8];   /* per-thread results, a cache line apart */
} read_job;

/* A read buffer far larger than the last-level cache, kept for the whole run:
 * sampled at start (median and best of a few passes) and again between decode
 * rounds, because on a shared host the bandwidth moves with the neighbours. */
typedef struct {
    read_job *j;
    size_t bytes;
} bw_buffer;

/* pool_fn: reads this thread's share of j->p (a read_job). */
void bw_read_task(void *arg, int ith, int nth);

/* Fills (and faults in) a buffer of `bytes` over the pool's threads. */
bw_buffer bw_create(pool *p, size_t bytes);
void bw_free(bw_buffer *b);
/* One timed pass: GB/s with all pool threads (single: the caller alone). */
double bw_sample(pool *p, bw_buffer *b, bool single);
/* passes timed passes: the median and the best GB/s. */
void bw_stats(pool *p, bw_buffer *b, bool single, int passes, double *median, double *best);

#endif
