/*
 * bench_util.c — see bench_util.h.
 */
#include "bench_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void bench_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void bench_wake(void *ud) {
    bench_waker *w = ud;
    pthread_mutex_lock(&w->mu);
    w->pending = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void bench_wait(bench_waker *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->pending) pthread_cond_wait(&w->cv, &w->mu);
    w->pending = false;
    pthread_mutex_unlock(&w->mu);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *v, long n, double p) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(long)(p * (double)(n - 1) + 0.5)];
}
