/*
 * stop_test.c — engine/stop: stop strings split across pieces, hold-back
 * counts, which match wins, UTF-8 stop strings, validation, and a
 * randomised comparison against a brute-force reference under random
 * piece splits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/stop.h"

static stop_matcher *make(const char *const *stops, int n) {
    stop_matcher *m = stop_create(stops, n);
    assert_non_null(m);
    return m;
}

static stop_result feed(stop_matcher *m, const char *s) {
    stop_result r;
    bool matched = stop_feed(m, s, strlen(s), &r);
    assert_int_equal(matched, r.matched);
    return r;
}

static void expect_match(stop_result r, int idx, size_t start, size_t end) {
    assert_true(r.matched);
    assert_int_equal(r.stop_index, idx);
    assert_int_equal(r.match_start, start);
    assert_int_equal(r.match_end, end);
    assert_int_equal(r.hold, 0);
}

static void expect_pending(stop_result r, size_t total, size_t hold) {
    assert_false(r.matched);
    assert_int_equal(r.stop_index, -1);
    assert_int_equal(r.total, total);
    assert_int_equal(r.hold, hold);
}

static void test_single_piece(void **st) {
    const char *stops[] = {"</s>"};
    stop_matcher *m = make(stops, 1);
    stop_result r = feed(m, "hello</s>world");
    expect_match(r, 0, 5, 9);
    assert_int_equal(r.total, 14); /* bytes after the match are counted */
    stop_free(m);
}

static void test_split_across_pieces(void **st) {
    const char *stops[] = {"###"};
    stop_matcher *m = make(stops, 1);
    expect_pending(feed(m, "a#"), 2, 1);
    expect_pending(feed(m, "#"), 3, 2);
    stop_result r = feed(m, "#b");
    expect_match(r, 0, 1, 4);
    assert_int_equal(r.total, 5);
    stop_free(m);
}

static void test_hold_back_counts(void **st) {
    const char *stops[] = {"</s>"};
    stop_matcher *m = make(stops, 1);
    expect_pending(feed(m, "Hello <"), 7, 1);
    expect_pending(feed(m, "/"), 8, 2);
    expect_pending(feed(m, "x"), 9, 0); /* "</x" can no longer match */
    expect_pending(feed(m, "<"), 10, 1);
    expect_pending(feed(m, "/s"), 12, 3);
    expect_pending(feed(m, ""), 12, 3); /* empty pieces change nothing */
    expect_match(feed(m, ">"), 0, 9, 13);
    stop_free(m);
}

/* The hold is the LONGEST suffix that prefixes any stop string. */
static void test_hold_longest_over_several(void **st) {
    const char *stops[] = {"abcde", "cdX"};
    stop_matcher *m = make(stops, 2);
    expect_pending(feed(m, "zabcd"), 5, 4); /* "abcd" of abcde beats "cd" of cdX */
    expect_match(feed(m, "X"), 1, 3, 6);     /* the failure link finds cdX */
    stop_free(m);
}

static void test_earliest_match_wins(void **st) {
    const char *stops[] = {"world", "hello"};
    stop_matcher *m = make(stops, 2);
    expect_match(feed(m, "say hello world"), 1, 4, 9);
    stop_free(m);
    /* the same across many small pieces */
    m = make(stops, 2);
    const char *pieces[] = {"sa", "y h", "el", "lo w", "orld"};
    stop_result r;
    for (int i = 0; i < 5; i++) r = feed(m, pieces[i]);
    expect_match(r, 1, 4, 9);
    stop_free(m);
}

/* "aab" in "aaab": after the third 'a' the candidate restarts one byte
 * later, which a naive matcher that resets to zero misses. */
static void test_overlapping_candidates(void **st) {
    const char *stops[] = {"aab"};
    stop_matcher *m = make(stops, 1);
    expect_pending(feed(m, "a"), 1, 1);
    expect_pending(feed(m, "a"), 2, 2);
    expect_pending(feed(m, "a"), 3, 2);
    expect_match(feed(m, "b"), 0, 1, 4);
    stop_free(m);
}

/* First to complete wins; at the same end byte the longest wins. */
static void test_nested_stops(void **st) {
    const char *s1[] = {"abcd", "bc"};
    stop_matcher *m = make(s1, 2);
    expect_match(feed(m, "abcd"), 1, 1, 3);
    stop_free(m);
    const char *s2[] = {"b", "ab"};
    m = make(s2, 2);
    expect_match(feed(m, "xab"), 1, 1, 3);
    stop_free(m);
    const char *s3[] = {"abc", "abd"};
    m = make(s3, 2);
    expect_pending(feed(m, "ab"), 2, 2);
    expect_match(feed(m, "d"), 1, 0, 3);
    stop_free(m);
    const char *s4[] = {"x", "x"}; /* duplicates report the first */
    m = make(s4, 2);
    expect_match(feed(m, "0x"), 0, 1, 2);
    stop_free(m);
}

static void test_utf8_stops(void **st) {
    const char *stops[] = {"\xE3\x80\x82" /* 。 */, "\xE2\x80\x93" /* – */};
    stop_matcher *m = make(stops, 2);
    expect_pending(feed(m, "\xE4\xBD\xA0\xE5\xA5\xBD" /* 你好 */), 6, 0);
    expect_pending(feed(m, "\xE3"), 7, 1); /* a token ending mid-character */
    expect_pending(feed(m, "\x81\x82"), 9, 0); /* あ shares the lead byte only */
    expect_pending(feed(m, "\xE3"), 10, 1);
    expect_pending(feed(m, "\x80"), 11, 2);
    expect_match(feed(m, "\x82!"), 0, 9, 12);
    stop_free(m);
    /* a multi-byte stop inside one piece with text around it */
    const char *s2[] = {"\xC3\xA9t\xC3\xA9" /* été */};
    m = make(s2, 1);
    expect_match(feed(m, "un \xC3\xA9t\xC3\xA9 chaud"), 0, 3, 8);
    stop_free(m);
}

static void test_sticky_after_match(void **st) {
    const char *stops[] = {"END"};
    stop_matcher *m = make(stops, 1);
    expect_match(feed(m, "xEND"), 0, 1, 4);
    stop_result r = feed(m, "more END text");
    expect_match(r, 0, 1, 4);
    assert_int_equal(r.total, 4 + 13);
    stop_result r2;
    assert_true(stop_feed(m, "", 0, NULL));
    assert_true(stop_feed(m, "", 0, &r2));
    expect_match(r2, 0, 1, 4);
    stop_free(m);
}

static void test_no_stops(void **st) {
    stop_matcher *m = stop_create(NULL, 0);
    assert_non_null(m);
    expect_pending(feed(m, "anything at all"), 15, 0);
    stop_free(m);
    stop_free(NULL);
}

static void test_many_stops(void **st) {
    enum { N = 100 };
    char buf[N][16];
    const char *stops[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "stop%03d", i);
        stops[i] = buf[i];
    }
    stop_matcher *m = make(stops, N);
    expect_pending(feed(m, "a stop05"), 8, 6);
    expect_pending(feed(m, "x and stop0"), 19, 5);
    expect_match(feed(m, "57!"), 57, 14, 21);
    stop_free(m);
}

static void test_validation(void **st) {
    char err[CT_ERRLEN] = "";
    const char *bad[] = {"ok", ""};
    assert_false(stop_validate(bad, 2, err));
    assert_non_null(strstr(err, "`stop`"));
    assert_non_null(strstr(err, "entry 1"));
    assert_null(stop_create(bad, 2));
    const char *null_entry[] = {"ok", NULL};
    assert_false(stop_validate(null_entry, 2, err));
    assert_null(stop_create(null_entry, 2));
    assert_false(stop_validate(NULL, 1, err));
    assert_false(stop_validate(bad, -1, err));
    assert_true(stop_validate(bad, 1, err));
    assert_true(stop_validate(NULL, 0, err));
}

/* ---- randomised comparison with a brute-force reference ----------------- */

static uint32_t rng_state = 12345;
static uint32_t rnd(uint32_t n) {
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

/* Reference: the first end position with a stop ending there, the longest
 * such stop (lowest index among equal strings).  Returns end or 0. */
static size_t ref_match(const char *text, size_t len, const char *const *stops, int n,
                        int *idx) {
    for (size_t end = 1; end <= len; end++) {
        int best = -1;
        for (int k = 0; k < n; k++) {
            size_t sl = strlen(stops[k]);
            if (sl <= end && memcmp(text + end - sl, stops[k], sl) == 0 &&
                (best < 0 || sl > strlen(stops[best])))
                best = k;
        }
        if (best >= 0) {
            *idx = best;
            return end;
        }
    }
    return 0;
}

/* Reference hold: the longest suffix of text[0, len) that is a proper
 * prefix of some stop. */
static size_t ref_hold(const char *text, size_t len, const char *const *stops, int n) {
    size_t best = 0;
    for (int k = 0; k < n; k++) {
        size_t sl = strlen(stops[k]);
        for (size_t h = 1; h < sl && h <= len; h++)
            if (h > best && memcmp(text + len - h, stops[k], h) == 0) best = h;
    }
    return best;
}

static void random_case(void) {
    char sbuf[4][6], text[48];
    const char *stops[4];
    int n = 1 + (int)rnd(4);
    for (int k = 0; k < n; k++) {
        int sl = 1 + (int)rnd(4);
        for (int j = 0; j < sl; j++) sbuf[k][j] = (char)('a' + rnd(3));
        sbuf[k][sl] = 0;
        stops[k] = sbuf[k];
    }
    size_t len = rnd(40);
    for (size_t i = 0; i < len; i++) text[i] = (char)('a' + rnd(3));
    int want_idx = -1;
    size_t want_end = ref_match(text, len, stops, n, &want_idx);
    stop_matcher *m = make(stops, n);
    size_t pos = 0, released = 0;
    stop_result r = {0};
    while (pos < len || pos == 0) {
        size_t piece = len - pos < 1 ? 0 : 1 + rnd((uint32_t)(len - pos < 5 ? len - pos : 5));
        stop_feed(m, text + pos, piece, &r);
        pos += piece;
        assert_int_equal(r.total, pos);
        if (r.matched) break;
        assert_true(want_end == 0 || want_end > pos); /* not missed */
        assert_int_equal(r.hold, ref_hold(text, pos, stops, n));
        assert_true(pos - r.hold >= released); /* release point never moves back */
        released = pos - r.hold;
        if (pos == len) break;
    }
    if (want_end) {
        assert_true(r.matched);
        assert_int_equal(r.match_end, want_end);
        assert_int_equal(r.stop_index, want_idx);
        assert_int_equal(r.match_start, want_end - strlen(stops[want_idx]));
        /* nothing released so far overlaps the match */
        assert_true(released <= r.match_start);
    } else {
        assert_false(r.matched);
    }
    stop_free(m);
}

static void test_random_against_reference(void **st) {
    for (int i = 0; i < 5000; i++) random_case();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_piece),
        cmocka_unit_test(test_split_across_pieces),
        cmocka_unit_test(test_hold_back_counts),
        cmocka_unit_test(test_hold_longest_over_several),
        cmocka_unit_test(test_earliest_match_wins),
        cmocka_unit_test(test_overlapping_candidates),
        cmocka_unit_test(test_nested_stops),
        cmocka_unit_test(test_utf8_stops),
        cmocka_unit_test(test_sticky_after_match),
        cmocka_unit_test(test_no_stops),
        cmocka_unit_test(test_many_stops),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
