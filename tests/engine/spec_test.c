/*
 * spec_test.c — speculative decoding's drafting side in isolation
 * (spec.h): prompt lookup, the acceptance controller, and the pricing of
 * drafted rows (spec_cost, spec_gate).
 *
 * The cost fit is checked against step times made from a known a + b*rows
 * (exact, then with noise), the gate against its rule computed here:
 * draft k' tokens only while (p + p^2 + ... + p^k') / k' >= bar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "spec.h"
#include "support/testutil.h"

static void test_lookup(void **state) {
    (void)state;
    int32_t t[] = {5, 6, 7, 8, 9, 5, 6, 7}, out[4];
    /* the last 3 tokens (5 6 7) recur at 0: the tokens after them */
    assert_int_equal(spec_lookup(t, 8, 4, out), 4);
    assert_int_equal(out[0], 8);
    assert_int_equal(out[3], 6);
    assert_int_equal(spec_lookup(t, 8, 2, out), 2);
    int32_t u[] = {1, 2, 3, 4};
    assert_int_equal(spec_lookup(u, 4, 4, out), 0); /* nothing recurs */
    assert_int_equal(spec_lookup(t, 8, 0, out), 0);
}

static void test_controller(void **state) {
    (void)state;
    spec_state st;
    memset(&st, 0, sizeof st);
    assert_int_equal(spec_want(&st, 8), 1);
    spec_update(&st, 8, 1, 1); /* all accepted: doubles */
    assert_int_equal(spec_want(&st, 8), 2);
    spec_update(&st, 8, 2, 1); /* partial: accepted + 1 */
    assert_int_equal(spec_want(&st, 8), 2);
    spec_update(&st, 8, 2, 0); /* a miss at k > 1: back to 1 */
    assert_int_equal(spec_want(&st, 8), 1);
    spec_update(&st, 8, 1, 0); /* a miss at 1: a pause of one step */
    assert_int_equal(spec_want(&st, 8), 0);
    assert_int_equal(spec_want(&st, 8), 1);
    /* the acceptance counts: each draft up to the first refused one */
    assert_true(st.hits > 1.0 && st.tries > st.hits);
}

static void test_cost_fit(void **state) {
    (void)state;
    spec_cost c;
    memset(&c, 0, sizeof c);
    assert_true(spec_cost_bar(&c, 1) == 0); /* nothing known */
    for (int i = 0; i < 50; i++) spec_cost_add(&c, 4, 0.010 + 0.001 * 4);
    assert_true(spec_cost_bar(&c, 4) == 0); /* one row count only: no slope to see */
    memset(&c, 0, sizeof c);
    const double a = 0.010, b = 0.001;
    for (int i = 0; i < 200; i++) {
        int rows = 1 + i % 5;
        spec_cost_add(&c, rows, a + b * rows);
    }
    for (int rows = 1; rows <= 16; rows *= 4) {
        double want = rows * b / (a + b * rows), got = spec_cost_bar(&c, rows);
        print_message("# exact fit, %d rows: bar %.5f (want %.5f)\n", rows, got, want);
        assert_true(fabs(got - want) < 1e-6);
    }
    /* noisy times (+-20% of b on each step): the bar within 25% */
    memset(&c, 0, sizeof c);
    uint64_t rnd = 99;
    for (int i = 0; i < 400; i++) {
        int rows = 1 + (int)(tu_rnd(&rnd) % 3);
        double noise = 0.2 * b * ((double)(tu_rnd(&rnd) % 2001) / 1000.0 - 1.0);
        spec_cost_add(&c, rows, a + b * rows + noise);
    }
    double want = b / (a + b), got = spec_cost_bar(&c, 1);
    print_message("# noisy fit: bar %.5f (want %.5f)\n", got, want);
    assert_true(fabs(got - want) < 0.25 * want);
    /* rows that cost nothing, and steps that are all rows */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 40; i++) spec_cost_add(&c, 1 + i % 2, 0.01);
    assert_true(spec_cost_bar(&c, 1) == 0);
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 40; i++) spec_cost_add(&c, 1 + i % 2, 0.002 * (1 + i % 2));
    assert_true(fabs(spec_cost_bar(&c, 3) - 1.0) < 1e-6);
}

/* The largest k' <= k whose expected accepted tokens per row reach bar. */
static int rule(double p, int k, double bar) {
    double sum = 0, pi = 1;
    int best = 0;
    for (int i = 1; i <= k; i++) {
        pi *= p;
        sum += pi;
        if (sum / i >= bar) best = i;
    }
    return best;
}

static void test_gate(void **state) {
    (void)state;
    spec_state st;
    memset(&st, 0, sizeof st);
    assert_int_equal(spec_gate(&st, 4, 0), 4); /* rows free or unknown: the controller decides */
    assert_int_equal(spec_gate(&st, 0, 0.5), 0);
    const double ps[][2] = {{20, 20}, {14, 20}, {7, 20}, {1, 20}};
    const double bars[] = {0.05, 0.3, 0.6, 0.9};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        for (size_t j = 0; j < sizeof bars / sizeof bars[0]; j++) {
            memset(&st, 0, sizeof st);
            st.hits = ps[i][0];
            st.tries = ps[i][1];
            double p = (st.hits + 1) / (st.tries + 2);
            int want = rule(p, 8, bars[j]), got = spec_gate(&st, 8, bars[j]);
            if (want > 0) assert_int_equal(got, want);
            else assert_int_equal(got, 1); /* the first such step probes */
        }
    /* a sequence whose drafts do not pay drafts one token every
     * SPEC_MAX_BACKOFF + 1 steps */
    memset(&st, 0, sizeof st);
    st.tries = 30;
    int drafted = 0;
    for (int step = 0; step < 10 * (SPEC_MAX_BACKOFF + 1); step++) drafted += spec_gate(&st, 4, 0.5);
    assert_int_equal(drafted, 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_controller),
        cmocka_unit_test(test_cost_fit),
        cmocka_unit_test(test_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
