/*
 * security_unit_test.c — the pure parts of the server's hardening: API keys
 * (auth.c: lists, key files, the exact and constant-time check) and the
 * escaping of client text in log lines (log_escape).  The HTTP side runs
 * against a real server in security_test.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

static char *write_tmp(const char *text) {
    static const char tmpl[] = "/tmp/ctgi_keysXXXXXX";
    char *path = malloc(sizeof tmpl);
    memcpy(path, tmpl, sizeof tmpl);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void keys_list_and_file(void **st) {
    char *path = write_tmp("# comment\n\n  fromFile  \r\nsecond\n");
    auth_keys k;
    char err[AUTH_ERRLEN];
    assert_true(auth_keys_load(&k, " one , Two", path, err));
    assert_int_equal(k.n, 4);
    assert_true(auth_keys_check(&k, "Bearer one"));
    assert_true(auth_keys_check(&k, "Bearer Two"));
    assert_true(auth_keys_check(&k, "Bearer fromFile"));
    assert_true(auth_keys_check(&k, "bearer second")); /* the scheme in any case */
    assert_true(auth_keys_check(&k, "BEARER  second")); /* extra spaces before the key */
    assert_false(auth_keys_check(&k, "Bearer ONE"));    /* the key exactly */
    assert_false(auth_keys_check(&k, "Bearer two"));
    assert_false(auth_keys_check(&k, "Bearer on"));
    assert_false(auth_keys_check(&k, "Bearer one "));
    assert_false(auth_keys_check(&k, "Bearer # comment"));
    assert_false(auth_keys_check(&k, "Bearer "));
    assert_false(auth_keys_check(&k, "Basic one"));
    assert_false(auth_keys_check(&k, "one"));
    assert_false(auth_keys_check(&k, NULL));
    auth_keys_free(&k);
    unlink(path);
    free(path);
}

static void no_keys_no_auth(void **st) {
    auth_keys k;
    char err[AUTH_ERRLEN];
    assert_true(auth_keys_load(&k, NULL, NULL, err));
    assert_int_equal(k.n, 0);
    assert_true(auth_keys_check(&k, NULL));
    auth_keys_free(&k);
}

static void bad_keys(void **st) {
    auth_keys k;
    char err[AUTH_ERRLEN];
    assert_false(auth_keys_load(&k, "a,,b", NULL, err));
    assert_non_null(strstr(err, "empty API key"));
    assert_false(auth_keys_load(&k, "a b", NULL, err));
    assert_non_null(strstr(err, "spaces or control"));
    assert_false(auth_keys_load(&k, NULL, "/nonexistent/keys", err));
    assert_non_null(strstr(err, "/nonexistent/keys"));
    assert_non_null(strstr(err, "No such file"));
    char *path = write_tmp("# nothing but comments\n\n   \n");
    assert_false(auth_keys_load(&k, "ok", path, err));
    assert_non_null(strstr(err, "no API key"));
    assert_int_equal(k.n, 0);
    unlink(path);
    free(path);
}

static void escape_text(void **st) {
    char out[256];
    log_escape("/x\nFAKE\x1b[31m\"q\\ \x7f", out, sizeof out, 0);
    assert_string_equal(out, "/x\\x0aFAKE\\x1b[31m\"q\\ \\x7f"); /* messages: controls only */
    log_escape("/x\nFAKE\x1b[31m\"q\\ \x7f", out, sizeof out, LOG_ESC_FIELD);
    assert_string_equal(out, "/x\\x0aFAKE\\x1b[31m\\x22q\\x5c\\x20\\x7f"); /* key=value fields: also ", \\, space */
    log_escape("/x\n\x1b", out, sizeof out, LOG_ESC_JSON);
    assert_string_equal(out, "/x\n\x1b"); /* JSON escapes those itself */
    log_escape("/y\xff\xc2\x9b\xc3\xa9\xe2\x82\xac\xed\xa0\x80", out, sizeof out, LOG_ESC_JSON);
    assert_string_equal(out, "/y\\xff\\xc2\\x9b\xc3\xa9\xe2\x82\xac\\xed\\xa0\\x80"); /* bad UTF-8, C1, surrogate */
    log_escape("\xc3", out, sizeof out, 0); /* a sequence cut short */
    assert_string_equal(out, "\\xc3");
}

static void escape_truncates_whole(void **st) {
    char out[8];
    size_t n = log_escape("ab\n\ncd", out, sizeof out, 0);
    assert_string_equal(out, "ab\\x0a"); /* the next escape does not fit: cut before it */
    assert_int_equal(n, 6);
    n = log_escape("abc", out, 1, 0);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_list_and_file), cmocka_unit_test(no_keys_no_auth), cmocka_unit_test(bad_keys),
        cmocka_unit_test(escape_text),        cmocka_unit_test(escape_truncates_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
