/*
 * jsonw_test.c — proto/jsonw: f32/f64 spelling as serde_json (ryu) writes
 * it, string escapes and UTF-8 repair per maximal invalid subpart,
 * separators in nested containers, integer extremes, and sticky failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static void f32_is(float v, const char *want) {
    char b[40];
    size_t n = jw_format_f32(v, b);
    assert_string_equal(b, want);
    assert_int_equal(n, strlen(want));
}

static void f64_is(double v, const char *want) {
    char b[40];
    jw_format_f64(v, b);
    assert_string_equal(b, want);
}

/* Expected values are what Rust's `ryu::Buffer::format` prints. */
static void test_f32_spelling(void **st) {
    f32_is(-0.41f, "-0.41");
    f32_is(0.0f, "0.0");
    f32_is(-0.0f, "-0.0");
    f32_is(1.0f, "1.0");
    f32_is(0.1f, "0.1");
    f32_is(12.34f, "12.34");
    f32_is(-1.25f, "-1.25");
    f32_is(123456.0f, "123456.0");
    f32_is(16777216.0f, "16777216.0");
    f32_is(1e12f, "1000000000000.0"); /* 13 digits before the point: still plain */
    f32_is(1e13f, "1e13");
    f32_is(1.5e20f, "1.5e20");
    f32_is(1e-6f, "0.000001");
    f32_is(1.2345678e-5f, "0.000012345678");
    f32_is(1e-7f, "1e-7");
    f32_is(-1.5e-10f, "-1.5e-10");
    f32_is(FLT_MAX, "3.4028235e38");
    f32_is(FLT_MIN, "1.1754944e-38");
    f32_is(1e-45f, "1e-45"); /* the smallest subnormal */
    f32_is(NAN, "null");
    f32_is(INFINITY, "null");
    f32_is(-INFINITY, "null");
}

static void test_f64_spelling(void **st) {
    f64_is(1.5, "1.5");
    f64_is(1.0, "1.0");
    f64_is(0.1, "0.1");
    f64_is(1e39, "1e39");
    f64_is(1e15, "1000000000000000.0");
    f64_is(1e16, "1e16");
    f64_is(0.0001, "0.0001");
    f64_is(0.00001, "0.00001");
    f64_is(0.000001, "1e-6");
    f64_is(5e-324, "5e-324");
    f64_is(-2.5e-300, "-2.5e-300");
}

/* Every spelling reads back as the same float and has <= 9 digits. */
static void test_f32_round_trip(void **st) {
    uint32_t s = 0x9e3779b9u;
    char b[40];
    for (int i = 0; i < 100000; i++) {
        s = s * 1664525u + 1013904223u;
        float v;
        memcpy(&v, &s, sizeof v);
        jw_format_f32(v, b);
        if (!isfinite(v)) {
            assert_string_equal(b, "null");
            continue;
        }
        float back = strtof(b, NULL);
        if (memcmp(&back, &v, sizeof v) != 0) fail_msg("%a printed as %s", (double)v, b);
        int digits = 0;
        for (const char *p = b; *p && *p != 'e'; p++) digits += *p >= '1' && *p <= '9';
        assert_true(digits <= 9);
    }
}

static char *one_string(const char *s, size_t n) {
    jw w;
    jw_init(&w);
    jw_str(&w, s, n);
    return jw_finish(&w, NULL);
}

static void str_is(const char *s, size_t n, const char *want) {
    char *got = one_string(s, n);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_string_escapes(void **st) {
    str_is("plain", 5, "\"plain\"");
    str_is("\"\\/", 3, "\"\\\"\\\\/\""); /* '/' is not escaped */
    str_is("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    str_is("\0\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\x7f\"");
    str_is("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8_repair(void **st) {
    str_is("\xe2\x82", 2, "\"" FFFD "\"");           /* truncated 3-byte: one */
    str_is("\xe2\x82" "A", 3, "\"" FFFD "A\"");
    str_is("\xf0\x9f\x98", 3, "\"" FFFD "\"");       /* truncated 4-byte: one */
    str_is("\xc0\xaf", 2, "\"" FFFD FFFD "\"");      /* overlong lead, stray continuation */
    str_is("\xed\xa0\x80", 3, "\"" FFFD FFFD FFFD "\""); /* surrogate: each byte */
    str_is("\xf4\x90\x80\x80", 4, "\"" FFFD FFFD FFFD FFFD "\""); /* above U+10FFFF */
    str_is("a\xffz", 3, "\"a" FFFD "z\"");
    str_is("\xe0\x80", 2, "\"" FFFD FFFD "\"");      /* E0 needs A0..BF next */
}

static void test_containers(void **st) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "a");
    jw_arr_begin(&w);
    jw_u64(&w, UINT64_MAX);
    jw_i64(&w, INT64_MIN);
    jw_arr_begin(&w);
    jw_arr_end(&w);
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_bool(&w, true);
    jw_bool(&w, false);
    jw_null(&w);
    jw_cstr(&w, NULL);
    jw_arr_end(&w);
    jw_key(&w, "b");
    jw_f32(&w, 0.5f);
    jw_obj_end(&w);
    size_t len;
    char *s = jw_finish(&w, &len);
    const char *want = "{\"a\":[18446744073709551615,-9223372036854775808,[],{},true,false,"
                       "null,null],\"b\":0.5}";
    assert_string_equal(s, want);
    assert_int_equal(len, strlen(want));
    free(s);
}

static void test_failures_are_sticky(void **st) {
    jw w;
    jw_init(&w);
    jw_obj_begin(&w); /* never closed */
    assert_null(jw_finish(&w, NULL));
    jw_init(&w);
    jw_obj_begin(&w);
    jw_key(&w, "k"); /* key without a value */
    jw_obj_end(&w);
    assert_null(jw_finish(&w, NULL));
    jw_init(&w);
    jw_arr_end(&w); /* close with nothing open */
    assert_null(jw_finish(&w, NULL));
    jw_init(&w);
    for (int i = 0; i <= JW_MAX_DEPTH; i++) jw_arr_begin(&w);
    for (int i = 0; i <= JW_MAX_DEPTH; i++) jw_arr_end(&w);
    assert_null(jw_finish(&w, NULL));
    jw_init(&w);
    assert_null(jw_finish(&w, NULL)); /* nothing written */
    jw_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_spelling),
        cmocka_unit_test(test_f64_spelling),
        cmocka_unit_test(test_f32_round_trip),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_failures_are_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
