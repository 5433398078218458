/*
 * sha256.h — SHA-256 (FIPS 180-4), streaming: the Hub names an LFS file's
 * blob by the SHA-256 of its bytes, and hub_fetch.c checks every such
 * download against it as the bytes arrive.
 */
#ifndef CTGI_SHA256_H
#define CTGI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t n;       /* bytes hashed so far */
    uint8_t buf[64];  /* the current partial block (n % 64 bytes of it) */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* The digest as 64 lower-case hex digits + NUL; c is spent afterwards. */
void sha256_hex(sha256_ctx *c, char out[65]);

#endif
