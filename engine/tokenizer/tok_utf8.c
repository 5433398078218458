/*
 * tok_utf8.c — UTF-8 and Unicode helpers of the tokenizer: strict and
 * llama.cpp-compatible decoding, lossy (U+FFFD) repair, the Unicode
 * White_Space set, llama.cpp's "collapsed" category bytes (utf8proc
 * categories) and the GPT-2 byte-level alphabet.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <utf8proc.h>

size_t tok_utf8_len(uint8_t lead) {
    /* llama.cpp's unicode_len_utf8: by the high nibble, 1 for stray bytes */
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[lead >> 4];
}

/* Expected length of a well-formed sequence and the allowed range of its
 * second byte (Unicode Table 3-7); 0 if b cannot start one. */
static size_t seq_info(uint8_t b, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) *lo = 0xA0;
        if (b == 0xED) *hi = 0x9F;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) *lo = 0x90;
        if (b == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Number of leading bytes of s[0..n) that form a valid prefix of the
 * sequence starting at s[0] (0 if s[0] is not a lead byte); *need is the
 * full length of that sequence. */
static size_t valid_prefix(const uint8_t *s, size_t n, size_t *need) {
    uint8_t lo, hi;
    size_t len = seq_info(s[0], &lo, &hi);
    *need = len;
    if (len == 0) return 0;
    size_t k = 1;
    while (k < len && k < n) {
        uint8_t c = s[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) break;
        k++;
    }
    return k;
}

size_t tok_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s;
    size_t need, k = valid_prefix(u, n, &need);
    if (k == 0 || k < need) return 0;
    uint32_t c;
    switch (need) {
    case 1: c = u[0]; break;
    case 2: c = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); break;
    case 3: c = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F); break;
    default:
        c = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
            ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
    *cp = c;
    return need;
}

size_t tok_utf8_encode(uint32_t cp, char out[4]) {
    /* no surrogate check: llama.cpp re-encodes what it decoded, byte for byte */
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* llama.cpp's unicode_cpt_from_utf8: checks only the continuation-byte
 * pattern (no overlong/surrogate checks); 0 = invalid at this byte. */
static size_t llama_cpt(const uint8_t *u, size_t n, uint32_t *cp) {
    uint8_t b = u[0];
    if (!(b & 0x80)) {
        *cp = b;
        return 1;
    }
    if (!(b & 0x40)) return 0;
    size_t len = !(b & 0x20) ? 2 : !(b & 0x10) ? 3 : !(b & 0x08) ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t k = 1; k < len; k++)
        if ((u[k] & 0xC0) != 0x80) return 0;
    uint32_t c = b & (0x7F >> len);
    for (size_t k = 1; k < len; k++) c = (c << 6) | (u[k] & 0x3F);
    /* llama.cpp would throw re-encoding these; treat them as invalid bytes */
    if (c > 0x10FFFF) return 0;
    *cp = c;
    return len;
}

uint32_t *tok_cpts_llama(const char *s, size_t n, size_t *n_out) {
    uint32_t *cp = malloc((n ? n : 1) * sizeof *cp);
    if (!cp) return NULL;
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, k = 0;
    while (i < n) {
        size_t len = llama_cpt(u + i, n - i, &cp[k]);
        if (len == 0) {
            cp[k] = 0xFFFD;
            len = 1;
        }
        i += len;
        k++;
    }
    *n_out = k;
    return cp;
}

static bool put_fffd(tok_buf *out) {
    return tok_buf_put(out, "\xEF\xBF\xBD", 3);
}

bool tok_utf8_lossy(tok_buf *out, const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && u[i] < 0x80) i++; /* ASCII run */
        if (i > start && !tok_buf_put(out, s + start, i - start)) return false;
        if (i >= n) break;
        size_t need, k = valid_prefix(u + i, n - i, &need);
        if (k && k == need) {
            if (!tok_buf_put(out, s + i, k)) return false;
            i += k;
        } else {
            if (!put_fffd(out)) return false;
            i += k ? k : 1; /* one U+FFFD per maximal invalid subpart */
        }
    }
    return true;
}

size_t tok_utf8_incomplete_tail(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        size_t need, got = valid_prefix(u + n - k, k, &need);
        if (need > 1 && got == k && k < need) return k;
        if (u[n - k] < 0x80 || u[n - k] >= 0xC0) break; /* reached a non-continuation */
    }
    return 0;
}

bool tok_is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

uint8_t tok_cpt_collapse(uint32_t cp) {
    /* llama.cpp's unicode_regex_split: one byte per codepoint; ASCII as is,
     * other whitespace -> \v, else a byte per general category. */
    if (cp < 128) return (uint8_t)cp;
    if (tok_is_white_space(cp)) return 0x0B;
    if (cp > 0x10FFFF) return 0xD0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return 0xD2;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 0xD1;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 0xD3;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return 0xD4;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
        return 0xD5;
    default:
        return 0xD0;
    }
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes map in order to U+0100.. */
uint32_t tok_byte_to_cp(uint8_t b) {
    if (b >= 0x21 && b <= 0x7E) return b;
    if (b >= 0xA1 && b <= 0xAC) return b;
    if (b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;            /* 0x00..0x20: 33 bytes */
    if (b >= 0x7F && b <= 0xA0) return 256u + 33 + (b - 0x7Fu); /* 34 bytes */
    return 256u + 67;                          /* 0xAD */
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) {
        uint8_t b = (uint8_t)cp;
        return tok_byte_to_cp(b) == cp ? (int)b : -1;
    }
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + (cp - 256 - 33));
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

bool tok_bytelevel_encode(tok_buf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char enc[4];
        size_t k = tok_utf8_encode(tok_byte_to_cp((uint8_t)s[i]), enc);
        if (!tok_buf_put(out, enc, k)) return false;
    }
    return true;
}
