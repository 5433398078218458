/*
 * pool.h — the engine's one thread pool.
 *
 * The machine's cores are shared by exactly one set of threads: the caller
 * plus n-1 workers.  BLAS is called single-threaded from inside pool tasks
 * (the engine splits matrix products itself), so no other runtime's threads
 * compete for the cores (../shared/reference/runtime-notes.md §2).
 * Workers spin briefly, then sleep on a futex-backed condition variable.
 */
#ifndef CTGI_POOL_H
#define CTGI_POOL_H

/* A task is called once per thread: ith in [0, nth). */
typedef void (*pool_fn)(void *arg, int ith, int nth);

typedef struct pool pool;

/* n_threads >= 1; workers run at nice +nice_incr (0 to leave as is). */
pool *pool_create(int n_threads, int nice_incr);
void pool_free(pool *p);
int pool_size(const pool *p);

/* Run fn on every thread (the caller is thread 0) and wait for all. */
void pool_run(pool *p, pool_fn fn, void *arg);

/* Helper: the [begin, end) share of n items for thread ith of nth. */
static inline void pool_range(int n, int ith, int nth, int *begin, int *end) {
    int per = n / nth, rem = n % nth;
    *begin = ith * per + (ith < rem ? ith : rem);
    *end = *begin + per + (ith < rem ? 1 : 0);
}

#endif
