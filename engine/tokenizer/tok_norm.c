/*
 * tok_norm.c — tokenizer.json normalizers, applied to each piece of text
 * between added tokens before pre-tokenization: NFC/NFD/NFKC/NFKD and
 * lowercase (utf8proc), Strip, StripAccents, Prepend, Replace (literal or
 * regex), Precompiled (tok_charsmap.c) and BertNormalizer
 * (tok_wordpiece.c).  A Sequence is loaded as the list of its steps
 * (tok_hf_pipe.c).
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static bool unicode_form(tok_buf *out, const char *s, size_t n, utf8proc_option_t opt,
                         char *err) {
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res,
                                      opt | UTF8PROC_STABLE);
    if (r < 0) return ct_err(err, "normalizer: %s", utf8proc_errmsg(r));
    out->len = 0;
    bool ok = tok_buf_put(out, res, (size_t)r);
    free(res);
    return ok || ct_err(err, "out of memory");
}

/* Per-codepoint rewrite: lowercase or dropping combining marks. */
static bool map_cpts(tok_buf *out, const char *s, size_t n, tok_norm_kind kind) {
    out->len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(s + i, n - i, &cp);
        if (k == 0) return false; /* input was made valid UTF-8 before */
        if (kind == TOK_NORM_LOWERCASE) {
            /* Rust's char::to_lowercase: simple mapping, but U+0130 -> "i\u0307" */
            char enc[4];
            bool ok = cp == 0x130 ? tok_buf_put(out, "i\xCC\x87", 3)
                                  : tok_buf_put(out, enc, tok_utf8_encode((uint32_t)utf8proc_tolower((int32_t)cp), enc));
            if (!ok) return false;
        } else {
            utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
            bool mark = c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC ||
                        c == UTF8PROC_CATEGORY_ME;
            if (!mark && !tok_buf_put(out, s + i, k)) return false;
        }
        i += k;
    }
    return true;
}

static bool strip(tok_buf *out, const char *s, size_t n, bool left, bool right) {
    size_t a = 0, b = n;
    uint32_t cp;
    size_t k;
    while (left && a < b && (k = tok_utf8_decode(s + a, b - a, &cp)) && tok_is_white_space(cp))
        a += k;
    while (right && b > a) {
        size_t p = b - 1;
        while (p > a && ((uint8_t)s[p] & 0xC0) == 0x80) p--;
        if (!(k = tok_utf8_decode(s + p, b - p, &cp)) || !tok_is_white_space(cp)) break;
        b = p;
    }
    out->len = 0;
    return tok_buf_put(out, s + a, b - a);
}

static bool replace(const tok_norm_step *st, tok_buf *out, const char *s, size_t n, char *err) {
    size_t *sp = NULL, n_sp = 0, cap = 0;
    bool ok = true;
    out->len = 0;
    if (st->has_rx) {
        ok = tok_rx_find_all(&st->rx, s, n, &sp, &n_sp, &cap, err);
    }
    size_t prev = 0, i = 0;
    while (ok) {
        size_t ms, me;
        if (st->has_rx) {
            if (i == n_sp) break;
            ms = sp[2 * i];
            me = sp[2 * i + 1];
            i++;
        } else {
            const char *hit = st->a_len ? memmem(s + prev, n - prev, st->a, st->a_len) : NULL;
            if (!hit) break;
            ms = (size_t)(hit - s);
            me = ms + st->a_len;
        }
        ok = tok_buf_put(out, s + prev, ms - prev) && tok_buf_put(out, st->b, st->b_len);
        prev = me;
    }
    ok = ok && tok_buf_put(out, s + prev, n - prev);
    free(sp);
    return ok || ct_err(err, "out of memory");
}

static bool apply_step(const tok_norm_step *st, tok_buf *out, const char *s, size_t n,
                       char *err) {
    switch (st->kind) {
    case TOK_NORM_NFC: return unicode_form(out, s, n, UTF8PROC_COMPOSE, err);
    case TOK_NORM_NFD: return unicode_form(out, s, n, UTF8PROC_DECOMPOSE, err);
    case TOK_NORM_NFKC: return unicode_form(out, s, n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, err);
    case TOK_NORM_NFKD: return unicode_form(out, s, n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, err);
    case TOK_NORM_LOWERCASE:
    case TOK_NORM_STRIP_ACCENTS:
        return map_cpts(out, s, n, st->kind) || ct_err(err, "out of memory");
    case TOK_NORM_STRIP: return strip(out, s, n, st->left, st->right) || ct_err(err, "out of memory");
    case TOK_NORM_PREPEND:
        out->len = 0;
        /* HF prepends only to non-empty text */
        return (n == 0 || (tok_buf_put(out, st->a, st->a_len) && tok_buf_put(out, s, n))) ||
               ct_err(err, "out of memory");
    case TOK_NORM_REPLACE: return replace(st, out, s, n, err);
    case TOK_NORM_PRECOMPILED:
        if (!st->cm) return (out->len = 0, tok_buf_put(out, s, n)) || ct_err(err, "out of memory");
        return tok_charsmap_normalize_hf(st->cm, s, n, out) || ct_err(err, "out of memory");
    case TOK_NORM_BERT:
        return tok_bert_normalize(st, s, n, out) || ct_err(err, "BertNormalizer: out of memory");
    }
    return ct_err(err, "unknown normalizer");
}

bool tok_normalize(const tokenizer *t, const char *s, size_t n, tok_buf *out, char *err) {
    out->len = 0;
    if (!tok_buf_put(out, s, n)) return ct_err(err, "out of memory");
    tok_buf tmp = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < t->n_norm; i++) {
        ok = apply_step(&t->norm[i], &tmp, out->p, out->len, err);
        if (ok) {
            tok_buf x = *out;
            *out = tmp;
            tmp = x;
        }
    }
    tok_buf_free(&tmp);
    if (ok && !out->p && !tok_buf_put(out, "", 0)) ok = ct_err(err, "out of memory");
    return ok;
}

void tok_norm_step_free(tok_norm_step *s) {
    tok_charsmap_free(s->cm);
    free(s->cm);
    s->cm = NULL;
    free(s->a);
    free(s->b);
    if (s->has_rx) tok_rx_free(&s->rx);
    s->a = s->b = NULL;
    s->has_rx = false;
}
