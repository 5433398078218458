/*
 * bench_util.h — small pieces the benchmarks of scripts/ share (the
 * forward-pass rig is bench_rig.h): a waker that the engine's notify
 * callback signals and the client thread sleeps on (bench_serving.c,
 * bench_http.c), percentiles of a sample (every bench that takes a median),
 * and the fatal-error exit.
 */
#ifndef CTGI_BENCH_UTIL_H
#define CTGI_BENCH_UTIL_H

#include <pthread.h>
#include <stdbool.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending; /* an event arrived since the last bench_wait */
} bench_waker;

#define BENCH_WAKER_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false}

/* engine_request.notify: ud is a bench_waker. */
void bench_wake(void *ud);
/* Sleep until bench_wake was called since the last return, then clear it. */
void bench_wait(bench_waker *w);

/* The p-quantile (0..1, nearest rank) of v[n], sorting v in place; 0 if n == 0. */
double bench_percentile(double *v, long n, double p);

/* "<program>: <message>" on stderr, then exit(1). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
