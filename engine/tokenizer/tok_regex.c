/*
 * tok_regex.c — PCRE2 behind the pre-tokenizers, in three dialects:
 *
 *  TOK_RX_BYTES  8-bit, no UTF: the regex runs over llama.cpp's "collapsed"
 *                text (one byte per codepoint, categories as bytes 0xD0..),
 *                so match offsets are codepoint indices; $ is end only
 *                (C++ std::regex ECMAScript semantics).
 *  TOK_RX_WIDE   UTF-8 with ASCII-only \s \d \w: llama.cpp's std::wregex
 *                path for regexes without \p{..}; $ is end only.
 *  TOK_RX_HF     UTF-8 with Unicode classes (\p{L}, \s = White_Space),
 *                ^/$ at line boundaries and (?i:..) folding ASCII letters
 *                only, as tokenizer.json's Oniguruma patterns behave in
 *                Hugging Face tokenizers / tokenizers.js.
 *
 * Compiled code is immutable and shared by threads; each search creates its
 * own match data.  JIT is used when available.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok_internal.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

static bool is_ascii_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Copy one escape sequence starting at p[i] == '\\'; returns its length. */
static size_t escape_len(const char *p, size_t i, size_t n) {
    if (i + 1 >= n) return 1;
    char c = p[i + 1];
    if ((c == 'p' || c == 'P' || c == 'x' || c == 'u') && i + 2 < n && p[i + 2] == '{') {
        const char *close = memchr(p + i + 2, '}', n - i - 2);
        if (close) return (size_t)(close - (p + i)) + 1;
    }
    return 2;
}

/* Oniguruma escapes whose Unicode meaning differs from PCRE2's: \w is
 * Alphabetic, marks, decimal digits and connectors (PCRE2 10.42: letters,
 * numbers, '_'); \h / \H are hex digits.  NULL: keep the escape. */
static const char *class_escape(char e, bool in_class) {
#define WORD "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}"
    switch (e) {
    case 'w': return in_class ? WORD : "[" WORD "]";
    case 'W': return in_class ? NULL : "[^" WORD "]";
    case 'h': return in_class ? "0-9A-Fa-f" : "[0-9A-Fa-f]";
    case 'H': return in_class ? NULL : "[^0-9A-Fa-f]";
    default: return NULL;
    }
#undef WORD
}

/* Rewrite an Oniguruma pattern for PCRE2: (?i:...) folds ASCII letters
 * only ([sS]), as Hugging Face tokenizers.js does, and class_escape(). */
static char *rewrite_hf(const char *p) {
    size_t n = strlen(p);
    tok_buf out = {0};
    bool stack[256], fold = false, ok = true;
    int depth = 0;
    bool in_class = false;
    for (size_t i = 0; i < n && ok;) {
        char c = p[i];
        if (c == '\\') {
            size_t k = escape_len(p, i, n);
            const char *rep = k == 2 ? class_escape(p[i + 1], in_class) : NULL;
            ok = rep ? tok_buf_put(&out, rep, strlen(rep)) : tok_buf_put(&out, p + i, k);
            i += k;
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = false;
            ok = tok_buf_putc(&out, c);
            i++;
            continue;
        }
        if (c == '[') {
            in_class = true;
            ok = tok_buf_putc(&out, c);
            /* a ']' right after '[' or '[^' is a literal */
            if (i + 1 < n && p[i + 1] == '^') ok = ok && tok_buf_putc(&out, p[++i]);
            if (i + 1 < n && p[i + 1] == ']') ok = ok && tok_buf_putc(&out, p[++i]);
            i++;
            continue;
        }
        if (c == '(' && depth < 256) {
            stack[depth++] = fold;
            if (strncmp(p + i, "(?i:", 4) == 0) {
                fold = true;
                ok = tok_buf_put(&out, "(?:", 3);
                i += 4;
                continue;
            }
        } else if (c == ')' && depth > 0) {
            fold = stack[--depth];
        }
        if (fold && is_ascii_alpha(c)) {
            char cls[4] = {'[', (char)(c | 0x20), (char)(c & ~0x20), ']'};
            ok = tok_buf_put(&out, cls, 4);
        } else {
            ok = tok_buf_putc(&out, c);
        }
        i++;
    }
    if (!ok || !tok_buf_putc(&out, '\0')) {
        tok_buf_free(&out);
        return NULL;
    }
    return out.p;
}

bool tok_rx_compile(tok_rx *rx, const char *pattern, tok_rx_mode mode, char *err) {
    uint32_t opts = 0;
    char *owned = NULL;
    switch (mode) {
    case TOK_RX_BYTES: opts = PCRE2_DOLLAR_ENDONLY; break;
    case TOK_RX_WIDE: opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY; break;
    case TOK_RX_HF:
        opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
        if (!(owned = rewrite_hf(pattern))) return ct_err(err, "out of memory");
        pattern = owned;
        break;
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        ct_err(err, "regex /%s/ at offset %zu: %s", pattern, (size_t)off, (const char *)msg);
        free(owned);
        return false;
    }
    free(owned);
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    rx->code = c;
    rx->mode = mode;
    return true;
}

void tok_rx_free(tok_rx *rx) {
    pcre2_code_free((pcre2_code *)rx->code);
    rx->code = NULL;
}

static bool push_span(size_t **spans, size_t *n, size_t *cap, size_t s, size_t e) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        size_t *p = realloc(*spans, nc * 2 * sizeof **spans);
        if (!p) return false;
        *spans = p;
        *cap = nc;
    }
    (*spans)[2 * *n] = s;
    (*spans)[2 * *n + 1] = e;
    (*n)++;
    return true;
}

/* Length of the character at subj[i] (1 in byte mode). */
static size_t char_len(const tok_rx *rx, const char *subj, size_t len, size_t i) {
    if (rx->mode == TOK_RX_BYTES) return 1;
    size_t k = 1;
    while (i + k < len && ((uint8_t)subj[i + k] & 0xC0) == 0x80) k++;
    return k;
}

bool tok_rx_find_all(const tok_rx *rx, const char *subj, size_t len, size_t **spans,
                     size_t *n_spans, size_t *cap, char *err) {
    const pcre2_code *c = rx->code;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    if (!md) return ct_err(err, "out of memory");
    /* callers pass valid UTF-8 in the UTF dialects: skip PCRE2's check, which
     * would otherwise rescan the subject on every call */
    uint32_t mopt = rx->mode == TOK_RX_BYTES ? 0 : PCRE2_NO_UTF_CHECK;
    size_t pos = 0;
    bool ok = true;
    while (pos <= len) {
        int rc = pcre2_match(c, (PCRE2_SPTR)subj, len, pos, mopt, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            /* e.g. the JIT stack limit on pathological input: retry interpreted */
            rc = pcre2_match(c, (PCRE2_SPTR)subj, len, pos, mopt | PCRE2_NO_JIT, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(rc, msg, sizeof msg);
                ok = ct_err(err, "regex match failed: %s", (const char *)msg);
                break;
            }
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e > s) {
            if (!(ok = push_span(spans, n_spans, cap, s, e))) {
                ct_err(err, "out of memory");
                break;
            }
            pos = e;
        } else { /* empty match: never a split point, step one character */
            if (s >= len) break;
            pos = s + char_len(rx, subj, len, s);
        }
    }
    pcre2_match_data_free(md);
    return ok;
}
