/*
 * auth.h — the API keys of `ctgi serve` (--api-key KEY[,KEY...] and
 * --api-key-file FILE, one key per line) and the check of a request's
 * `Authorization: Bearer <key>` against them.
 *
 * The scheme name ("Bearer") is matched without regard to case, as HTTP
 * says; the key itself exactly.  The check takes the same time whichever
 * key (if any) matches and however much of it does: every key is compared,
 * as SHA-256 digests, with no early exit.
 */
#ifndef CTGI_AUTH_H
#define CTGI_AUTH_H

#include <stdbool.h>

#define AUTH_ERRLEN 256

typedef struct {
    char (*digest)[65]; /* (n) SHA-256 of each key, hex */
    int n;
} auth_keys;

/* Keys from a comma-separated list (may be NULL) and a file (may be NULL;
 * one key per line, blank lines and lines starting with '#' skipped,
 * surrounding spaces trimmed).  false + err when the file cannot be read
 * or holds no key, or a key is empty or holds a space or control byte. */
bool auth_keys_load(auth_keys *k, const char *list, const char *file, char err[AUTH_ERRLEN]);
void auth_keys_free(auth_keys *k);
/* Whether the Authorization header value (NULL = absent) carries one of
 * the keys; true when there are no keys. */
bool auth_keys_check(const auth_keys *k, const char *authorization);

#endif
