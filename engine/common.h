/*
 * common.h — tiny shared vocabulary of the engine: error buffers and
 * checked size arithmetic.  Every engine function that can fail takes a
 * `char *err` of CT_ERRLEN bytes and writes one human-readable line into it
 * (naming the file, tensor or key at fault) before returning failure.
 */
#ifndef CTGI_COMMON_H
#define CTGI_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_ERRLEN 512

/* printf into err (if err is not NULL); always returns false so callers can
 * write `return ct_err(err, "...")`. */
bool ct_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* a*b and a+b with overflow detection: return false on overflow. */
static inline bool ct_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool ct_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * Returns NULL and fills err on failure. */
char *ct_read_file(const char *path, size_t *len_out, char *err);

/* Monotonic clock in seconds. */
double ct_now(void);

/* Bytes of memory a new allocation can still get without swapping: the
 * kernel's MemAvailable (free + reclaimable page cache), else free
 * physical pages; 0 when unknown. */
uint64_t ct_mem_available(void);

/* "12.3 GiB" style text of n bytes into buf (cap >= 16); returns buf. */
const char *ct_fmt_bytes(uint64_t n, char *buf, size_t cap);

#endif
