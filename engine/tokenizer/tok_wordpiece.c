/*
 * tok_wordpiece.c — BERT's WordPiece tokenizer and its normalizer.
 *
 * WordPiece cuts one pre-tokenized word greedily: from the left, the
 * longest piece of the vocabulary that matches, the first one as is and
 * every later one with the continuing-subword prefix; if some position has
 * no piece, or the word is longer than max_input_chars_per_word
 * characters, the whole word becomes the unk token.  Hugging Face spells
 * the pieces "word" / "##piece"; llama.cpp's GGUF vocabularies (model
 * "bert") spell them "▁word" / "piece", so the prefixes are per tokenizer
 * (wp_word_prefix, wp_cont_prefix).
 *
 * BertNormalizer (tokenizers' normalizers/bert.rs), in its order:
 *   clean_text    drop NUL, U+FFFD and control characters (general
 *                 categories Cc Cf Cs Co, except \t \n \r); White_Space -> ' '
 *   chinese       put a space on each side of a CJK ideograph
 *   strip_accents NFD, then drop nonspacing marks (Mn)
 *   lowercase     per character, the full mapping (İ -> i̇)
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- WordPiece ---- */

static bool lookup_piece(const tokenizer *t, tok_buf *key, const char *pre, const char *s,
                         size_t n, int32_t *id) {
    size_t pl = strlen(pre);
    if (pl + n > t->max_token_len) return false;
    key->len = 0;
    if (!tok_buf_put(key, pre, pl) || !tok_buf_put(key, s, n)) return false;
    int32_t v = tok_strmap_get(&t->vocab, key->p, key->len);
    if (v < 0 || v >= t->n_vocab) return false;
    *id = v;
    return true;
}

bool tok_wpm_word(const tokenizer *t, const char *w, size_t n, tok_ids *out) {
    if (n == 0) return true;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((uint8_t)w[i] & 0xC0) != 0x80;
    if (t->wp_max_chars && chars > t->wp_max_chars) return tok_ids_push(out, t->unk);
    size_t mark = out->n;
    tok_buf key = {0};
    bool ok = true;
    for (size_t start = 0; ok && start < n;) {
        const char *pre = start == 0 ? t->wp_word_prefix : t->wp_cont_prefix;
        size_t end = n;
        int32_t id = -1;
        while (end > start && !lookup_piece(t, &key, pre, w + start, end - start, &id)) {
            end--; /* back to the previous character boundary */
            while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80) end--;
        }
        if (id < 0) { /* no piece here: the whole word is unknown */
            out->n = mark;
            ok = tok_ids_push(out, t->unk);
            break;
        }
        ok = tok_ids_push(out, id);
        start = end;
    }
    tok_buf_free(&key);
    return ok;
}

/* ---- BertNormalizer ---- */

static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_control(uint32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: /* not Cn: tokenizers keeps e.g. U+FFFF (then [UNK]) */
        return true;
    default:
        return false;
    }
}

static bool put_cp(tok_buf *b, uint32_t cp) {
    char e[4];
    return tok_buf_put(b, e, tok_utf8_encode(cp, e));
}

/* clean_text and handle_chinese_chars, one pass. */
static bool clean_pass(const tok_norm_step *st, const char *s, size_t n, tok_buf *out) {
    out->len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(s + i, n - i, &cp);
        if (!k) return false; /* the HF path made the text valid */
        i += k;
        if (st->clean_text) {
            if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
            if (cp == '\t' || cp == '\n' || cp == '\r' || tok_is_white_space(cp)) cp = ' ';
        }
        bool ok = st->chinese && is_cjk(cp)
                      ? tok_buf_putc(out, ' ') && put_cp(out, cp) && tok_buf_putc(out, ' ')
                      : put_cp(out, cp);
        if (!ok) return false;
    }
    return true;
}

static bool strip_accents_pass(const char *s, size_t n, tok_buf *out) {
    utf8proc_uint8_t *nfd = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfd,
                                      UTF8PROC_DECOMPOSE | UTF8PROC_STABLE);
    if (r < 0) return false;
    out->len = 0;
    bool ok = true;
    for (utf8proc_ssize_t i = 0; ok && i < r;) {
        uint32_t cp;
        size_t k = tok_utf8_decode((const char *)nfd + i, (size_t)(r - i), &cp);
        if (!k) break;
        if (utf8proc_category((utf8proc_int32_t)cp) != UTF8PROC_CATEGORY_MN)
            ok = tok_buf_put(out, nfd + i, k);
        i += (utf8proc_ssize_t)k;
    }
    free(nfd);
    return ok;
}

/* Rust's char::to_lowercase: the simple mapping, except U+0130, the one
 * unconditional multi-character lowercase mapping of SpecialCasing.txt. */
static bool lowercase_pass(const char *s, size_t n, tok_buf *out) {
    out->len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(s + i, n - i, &cp);
        if (!k) return false;
        i += k;
        bool ok = cp == 0x130 ? tok_buf_put(out, "i\xCC\x87", 3)
                              : put_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        if (!ok) return false;
    }
    return true;
}

bool tok_bert_normalize(const tok_norm_step *st, const char *s, size_t n, tok_buf *out) {
    tok_buf a = {0};
    bool ok = clean_pass(st, s, n, &a);
    if (ok && st->strip_accents) {
        ok = strip_accents_pass(a.p ? a.p : "", a.len, out);
        tok_buf x = a;
        a = *out;
        *out = x;
    }
    if (ok && st->lowercase) ok = lowercase_pass(a.p ? a.p : "", a.len, out);
    else if (ok) ok = (out->len = 0, tok_buf_put(out, a.p ? a.p : "", a.len));
    tok_buf_free(&a);
    return ok && tok_buf_put(out, "", 0);
}
