/*
 * testutil.c — see testutil.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_models_dir(void) {
    const char *d = getenv("CTGI_MODELS");
    return d && *d ? d : "../shared/models";
}

char *tu_model_path(const char *rel) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", tu_models_dir(), rel) < 0) return NULL;
    return p;
}

char *tu_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    char *p = NULL;
    if (asprintf(&p, "%s/ctgi-test-XXXXXX", base && *base ? base : "/tmp") < 0) return NULL;
    if (!mkdtemp(p)) { free(p); return NULL; }
    return p;
}

void tu_rmrf(const char *path) {
    char *cmd = NULL;
    if (path && asprintf(&cmd, "rm -rf '%s'", path) >= 0) {
        if (system(cmd) != 0) { /* best effort cleanup */ }
    }
    free(cmd);
}

const char *tu_ctgi_bin(void) {
    const char *b = getenv("CTGI_BIN");
    return b && *b ? b : "build/ctgi";
}

bool tu_sanitized(void) {
    const char *a = getenv("CTGI_ASAN"), *t = getenv("CTGI_TEST_SLOWDOWN");
    return (a && *a && strcmp(a, "0") != 0) || (t && *t && strcmp(t, "1") != 0);
}

char *tu_run(const char *cmd, int *status) {
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            buf = nb;
        }
    }
    int st = pclose(f);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (buf) buf[len] = '\0';
    return buf;
}

bool tu_copy(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    bool ok = in && out;
    char buf[1 << 16];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = false;
    return ok;
}

uint64_t tu_rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int tu_rnd_in(uint64_t *s, int lo, int hi) { return lo + (int)(tu_rnd(s) % (uint64_t)(hi - lo + 1)); }
