/*
 * pcre_oracle.h — PCRE2, the independent oracle of the constraint tests:
 * a regex compiled for whole-text matching, `^(?:re)\z` in UTF mode (the
 * constraint dialect's meaning).  Header-only: the tools that link
 * tests/support do not use it.
 */
#ifndef CTGI_TEST_PCRE_ORACLE_H
#define CTGI_TEST_PCRE_ORACLE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* re compiled to match a whole text, or NULL after printing PCRE2's
 * reason to stderr (the caller asserts).  pcre2_code_free it. */
static inline pcre2_code *pcre_whole(const char *re) {
    size_t n = strlen(re) + 16;
    char *w = malloc(n);
    if (!w) return NULL;
    snprintf(w, n, "^(?:%s)\\z", re);
    int ec;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)w, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        fprintf(stderr, "PCRE2 refuses the regex (%s at %zu): %.300s\n", (char *)msg, (size_t)off, w);
    }
    free(w);
    return c;
}

#endif
