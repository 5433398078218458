/*
 * pool_test.c — the thread pool runs every share exactly once per call, the
 * caller included, across many back-to-back calls (the spin/sleep hand-off),
 * and pool_range partitions any n exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "pool.h"

typedef struct {
    atomic_int calls[8];
    atomic_long sum;
    atomic_int nth_seen; /* every share stores it: atomic, or the shares race */
} counter;

static void count_task(void *arg, int ith, int nth) {
    counter *c = arg;
    atomic_fetch_add(&c->calls[ith], 1);
    atomic_store(&c->nth_seen, nth);
    int b, e;
    pool_range(1000, ith, nth, &b, &e);
    long s = 0;
    for (int i = b; i < e; i++) s += i;
    atomic_fetch_add(&c->sum, s);
}

static void run_pool(int n, int rounds, bool sleepy) {
    pool *p = pool_create(n, 0);
    assert_non_null(p);
    assert_int_equal(pool_size(p), n);
    counter c = {0};
    for (int r = 0; r < rounds; r++) {
        if (sleepy && r % 10 == 0) usleep(2000); /* let workers fall asleep */
        pool_run(p, count_task, &c);
    }
    for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&c.calls[i]), rounds);
    assert_int_equal(atomic_load(&c.nth_seen), n);
    assert_int_equal(atomic_load(&c.sum), (long)rounds * 999 * 1000 / 2);
    pool_free(p);
}

static void test_single_thread(void **s) { (void)s; run_pool(1, 100, false); }
static void test_two_threads_many_rounds(void **s) { (void)s; run_pool(2, 20000, false); }
static void test_four_threads_with_sleeps(void **s) { (void)s; run_pool(4, 200, true); }

static void test_range_partitions(void **s) {
    (void)s;
    for (int n = 0; n < 50; n++)
        for (int nth = 1; nth <= 8; nth++) {
            int next = 0;
            for (int i = 0; i < nth; i++) {
                int b, e;
                pool_range(n, i, nth, &b, &e);
                assert_int_equal(b, next);
                assert_true(e >= b && e - b <= n / nth + 1);
                next = e;
            }
            assert_int_equal(next, n);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_thread),
        cmocka_unit_test(test_two_threads_many_rounds),
        cmocka_unit_test(test_four_threads_with_sleeps),
        cmocka_unit_test(test_range_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
