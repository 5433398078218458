/*
 * tok_decode.c — ids back to text.
 *
 * Every token's bytes are computed once at load (like llama.cpp's
 * token-to-piece cache): special and added tokens stand for their text,
 * <0xNN> byte tokens for their byte, SentencePiece pieces have "▁" -> ' ',
 * byte-level pieces map their characters back to bytes (a piece with a
 * character outside that alphabet is kept as is, as Hugging Face's
 * ByteLevel decoder does).  A sequence decodes to the concatenation of its
 * tokens' bytes, minus the leading space(s) the tokenizer adds on encode
 * (SentencePiece: HF's Strip decoder / llama.cpp's lstrip of the first
 * piece), as UTF-8 with one U+FFFD per maximal invalid subsequence.
 * WordPiece (Hugging Face's decoder) joins tokens with a space unless they
 * continue a word ("##ing"), with its cleanup (" ." -> ".", ...) per token;
 * the token that starts the text has a form of its own.  The
 * stream decoder produces exactly the same text in pieces, holding back the
 * bytes of a character that is not complete yet.
 */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xNN>" -> the byte. */
static bool byte_piece(const char *s, size_t n, uint8_t *b) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return false;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    if (hi < 0 || lo < 0) return false;
    *b = (uint8_t)(hi * 16 + lo);
    return true;
}

/* Byte-level characters -> bytes; false if one is outside the alphabet. */
static bool bytelevel_decode(tok_buf *out, const char *s, size_t n) {
    size_t start = out->len;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(s + i, n - i, &cp);
        int b = k ? tok_cp_to_byte(cp) : -1;
        if (b < 0) {
            out->len = start;
            return false;
        }
        char c = (char)b;
        if (!tok_buf_put(out, &c, 1)) return false;
        i += k;
    }
    return true;
}

static bool normal_piece(const tokenizer *t, const char *s, size_t n, tok_buf *out) {
    tok_buf tmp = {0};
    size_t fl = strlen(t->dec.space_from);
    if (fl) { /* "▁" -> ' ' */
        for (size_t i = 0; i < n;) {
            bool hit = i + fl <= n && memcmp(s + i, t->dec.space_from, fl) == 0;
            if (!(hit ? tok_buf_putc(&tmp, ' ') : tok_buf_putc(&tmp, s[i]))) {
                tok_buf_free(&tmp);
                return false;
            }
            i += hit ? fl : 1;
        }
        s = tmp.p ? tmp.p : "";
        n = tmp.len;
    }
    bool ok = true;
    if (!t->dec.bytelevel || !bytelevel_decode(out, s, n)) ok = tok_buf_put(out, s, n);
    tok_buf_free(&tmp);
    return ok;
}

/* Hugging Face's WordPiece decoder cleanup (decoders/wordpiece.rs), applied
 * to one token's text from byte `from` on. */
static bool cleanup(tok_buf *b, size_t from) {
    static const char *const RULES[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    tok_buf tmp = {0};
    bool ok = true;
    for (size_t r = 0; ok && r < sizeof RULES / sizeof *RULES; r++) {
        size_t fl = strlen(RULES[r][0]), tl = strlen(RULES[r][1]);
        const char *s = b->p + from, *end = b->p + b->len;
        if (!memmem(s, (size_t)(end - s), RULES[r][0], fl)) continue;
        tmp.len = 0;
        while (ok && s < end) { /* replace all, left to right */
            const char *hit = memmem(s, (size_t)(end - s), RULES[r][0], fl);
            size_t k = hit ? (size_t)(hit - s) : (size_t)(end - s);
            ok = tok_buf_put(&tmp, s, k) && (!hit || tok_buf_put(&tmp, RULES[r][1], tl));
            s += k + (hit ? fl : 0);
        }
        b->len = from;
        ok = ok && tok_buf_put(b, tmp.p ? tmp.p : "", tmp.len);
    }
    tok_buf_free(&tmp);
    return ok;
}

/* HF WordPiece decoder: a token that does not start the text is " " + its
 * text, or its text minus the continuing prefix; every token, added and
 * special ones too, goes through it. */
static bool wordpiece_bytes(const tokenizer *t, int32_t id, bool first, tok_buf *out) {
    const char *s = t->text[id] ? t->text[id] : "";
    size_t n = t->len[id], from = out->len, pl = strlen(t->dec.wp_prefix);
    bool ok;
    if (first) ok = tok_buf_put(out, s, n);
    else if (pl && n >= pl && memcmp(s, t->dec.wp_prefix, pl) == 0) ok = tok_buf_put(out, s + pl, n - pl);
    else ok = tok_buf_putc(out, ' ') && tok_buf_put(out, s, n);
    return ok && (!t->dec.wp_cleanup || cleanup(out, from));
}

static bool piece_bytes(const tokenizer *t, int32_t id, tok_buf *out) {
    const char *s = t->text[id] ? t->text[id] : "";
    size_t n = t->len[id];
    uint16_t a = t->attr[id];
    uint8_t b;
    if (t->dec.wordpiece) return wordpiece_bytes(t, id, false, out);
    if (a & (TOK_ATTR_SPECIAL | TOK_ATTR_USER_DEFINED | TOK_ATTR_ADDED)) {
        /* GGUF WordPiece: spaced like every word, as the model's own (HF)
         * decoder does ([UNK] included); llama.cpp would glue it on */
        if (t->type == TOK_TYPE_WPM && !tok_buf_putc(out, ' ')) return false;
        return tok_buf_put(out, s, n);
    }
    if (t->dec.byte_tokens && (t->hf || (a & TOK_ATTR_BYTE)) && byte_piece(s, n, &b))
        return tok_buf_put(out, &b, 1);
    if (!t->hf && !(a & TOK_ATTR_NORMAL)) return true; /* llama.cpp: unused/undefined -> "" */
    size_t from = out->len;
    return normal_piece(t, s, n, out) && (!t->dec.wp_cleanup || cleanup(out, from));
}

bool tok_decoder_build(tokenizer *t, char *err) {
    tok_buf all = {0};
    if (!(t->dec_off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->dec_off)))
        return ct_err(err, "out of memory");
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->dec_off[id] = all.len;
        if (!piece_bytes(t, id, &all)) {
            tok_buf_free(&all);
            return ct_err(err, "out of memory");
        }
    }
    t->dec_off[t->n_vocab] = all.len;
    if (!all.p && !tok_buf_put(&all, "", 0)) return ct_err(err, "out of memory");
    t->dec_bytes = all.p;
    if (!t->dec.wordpiece) return true;
    /* WordPiece: what each token decodes to when it starts the text */
    tok_buf first = {0};
    if (!(t->dec_first_off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->dec_first_off)))
        return ct_err(err, "out of memory");
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->dec_first_off[id] = first.len;
        if (!wordpiece_bytes(t, id, true, &first)) {
            tok_buf_free(&first);
            return ct_err(err, "out of memory");
        }
    }
    t->dec_first_off[t->n_vocab] = first.len;
    if (!first.p && !tok_buf_put(&first, "", 0)) return ct_err(err, "out of memory");
    t->dec_first_bytes = first.p;
    return true;
}

/* The bytes of id in a decoded sequence ("" for skipped/invalid ids). */
static const char *bytes_of(const tokenizer *t, int32_t id, bool skip_special, size_t *n) {
    *n = 0;
    if (id < 0 || id >= t->n_vocab) return "";
    if (skip_special && (t->attr[id] & TOK_ATTR_SPECIAL)) return "";
    *n = t->dec_off[id + 1] - t->dec_off[id];
    return t->dec_bytes + t->dec_off[id];
}

size_t tok_token_bytes(const tokenizer *t, int32_t id, bool skip_special, char *buf, size_t cap) {
    size_t n;
    const char *p = bytes_of(t, id, skip_special, &n);
    if (buf && cap) memcpy(buf, p, n < cap ? n : cap);
    return n;
}

/* The text-start rule: the first non-empty piece drops up to
 * dec.strip_leading leading spaces (WordPiece: takes its text-start
 * form). */
static const char *strip_first(const tokenizer *t, int32_t id, const char *p, size_t *n,
                               bool *first) {
    if (!*first || *n == 0) return p;
    if (t->dec_first_off) {
        *first = false;
        *n = t->dec_first_off[id + 1] - t->dec_first_off[id];
        return t->dec_first_bytes + t->dec_first_off[id];
    }
    for (int k = 0; k < t->dec.strip_leading && *n > 0 && *p == ' '; k++) {
        p++;
        (*n)--;
    }
    *first = false;
    return p;
}

char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, bool skip_special) {
    tok_buf raw = {0}, out = {0};
    bool ok = true, first = true;
    for (size_t i = 0; ok && i < n; i++) {
        size_t k;
        const char *p = bytes_of(t, ids[i], skip_special, &k);
        p = strip_first(t, ids[i], p, &k, &first);
        ok = tok_buf_put(&raw, p, k);
    }
    ok = ok && tok_utf8_lossy(&out, raw.p ? raw.p : "", raw.len) && tok_buf_put(&out, "", 0);
    tok_buf_free(&raw);
    if (!ok) {
        tok_buf_free(&out);
        return NULL;
    }
    return out.p;
}

/* ---- streaming ---- */

void tok_stream_init(tok_stream *s, const tokenizer *t, bool skip_special) {
    memset(s, 0, sizeof *s);
    s->t = t;
    s->skip_special = skip_special;
    s->first = true;
}

static size_t append_out(char **out, size_t *out_len, const char *p, size_t n) {
    if (n == 0) return 0;
    char *b = realloc(*out, *out_len + n + 1);
    if (!b) return 0;
    memcpy(b + *out_len, p, n);
    *out_len += n;
    b[*out_len] = '\0';
    *out = b;
    return n;
}

size_t tok_stream_push(tok_stream *s, int32_t id, char **out, size_t *out_len) {
    size_t k;
    const char *p = bytes_of(s->t, id, s->skip_special, &k);
    p = strip_first(s->t, id, p, &k, &s->first);
    if (k == 0) return 0;
    tok_buf comb = {0}, text = {0};
    size_t got = 0;
    if (tok_buf_put(&comb, s->pending, s->n_pending) && tok_buf_put(&comb, p, k)) {
        size_t tail = tok_utf8_incomplete_tail(comb.p, comb.len);
        if (tok_utf8_lossy(&text, comb.p, comb.len - tail)) {
            got = append_out(out, out_len, text.p, text.len);
            memcpy(s->pending, comb.p + comb.len - tail, tail);
            s->n_pending = tail;
        }
    }
    tok_buf_free(&comb);
    tok_buf_free(&text);
    return got;
}

size_t tok_stream_flush(tok_stream *s, char **out, size_t *out_len) {
    if (s->n_pending == 0) return 0;
    s->n_pending = 0; /* an unfinished character: one replacement character */
    return append_out(out, out_len, "\xEF\xBF\xBD", 3);
}
