/*
 * auth.c — API keys (see auth.h).  Keys are kept only as SHA-256 digests:
 * comparing digests hides the keys' lengths, and comparing every byte of
 * every digest (OR of XORs, no early exit) hides where a guess differs.
 */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sha256.h"

static void digest(const char *key, size_t n, char out[65]) {
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, key, n);
    sha256_hex(&c, out);
}

/* Add key[0..n) after trimming spaces; false + err for an unusable key. */
static bool add_key(auth_keys *k, const char *key, size_t n, const char *from, char err[AUTH_ERRLEN]) {
    while (n > 0 && (*key == ' ' || *key == '\t')) key++, n--;
    while (n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t' || key[n - 1] == '\r')) n--;
    if (n == 0) {
        snprintf(err, AUTH_ERRLEN, "%s: an empty API key", from);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f) {
            snprintf(err, AUTH_ERRLEN, "%s: an API key may not hold spaces or control characters", from);
            return false;
        }
    char (*d)[65] = realloc(k->digest, (size_t)(k->n + 1) * sizeof *d);
    if (!d) {
        snprintf(err, AUTH_ERRLEN, "%s: out of memory", from);
        return false;
    }
    k->digest = d;
    digest(key, n, d[k->n++]);
    return true;
}

static bool load_list(auth_keys *k, const char *list, char err[AUTH_ERRLEN]) {
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        if (!add_key(k, p, n, "--api-key", err)) return false;
        if (!p[n]) return true;
        p += n + 1;
    }
}

static bool load_file(auth_keys *k, const char *path, char err[AUTH_ERRLEN]) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, AUTH_ERRLEN, "--api-key-file %s: %s", path, strerror(errno));
        return false;
    }
    char from[AUTH_ERRLEN / 2];
    snprintf(from, sizeof from, "--api-key-file %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int before = k->n;
    bool ok = true;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        size_t n = (size_t)len, i = 0;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == n || line[i] == '#') continue;
        ok = add_key(k, line + i, n - i, from, err);
    }
    if (ok && ferror(f)) {
        snprintf(err, AUTH_ERRLEN, "--api-key-file %s: %s", path, strerror(errno));
        ok = false;
    }
    if (ok && k->n == before) {
        snprintf(err, AUTH_ERRLEN, "--api-key-file %s: no API key in it (one per line)", path);
        ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

bool auth_keys_load(auth_keys *k, const char *list, const char *file, char err[AUTH_ERRLEN]) {
    *k = (auth_keys){0};
    bool ok = (!list || load_list(k, list, err)) && (!file || load_file(k, file, err));
    if (!ok) auth_keys_free(k);
    return ok;
}

void auth_keys_free(auth_keys *k) {
    free(k->digest);
    *k = (auth_keys){0};
}

bool auth_keys_check(const auth_keys *k, const char *authorization) {
    if (k->n == 0) return true;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) return false;
    const char *key = authorization + 7;
    while (*key == ' ') key++;
    char d[65];
    digest(key, strlen(key), d);
    unsigned any = 0;
    for (int i = 0; i < k->n; i++) {
        unsigned diff = 0;
        for (int j = 0; j < 64; j++) diff |= (unsigned)(unsigned char)(d[j] ^ k->digest[i][j]);
        any |= (unsigned)(diff == 0);
    }
    return any != 0;
}
