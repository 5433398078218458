/*
 * fuzz_tokenizer.c — libFuzzer target: tok_encode / tok_decode of every
 * tokenizer kind (fuzz_tok.h) on arbitrary bytes.
 *
 * Input: byte 0 picks the tokenizer and the add_special / parse_special /
 * skip_special flags; the rest is the text.  The text is encoded, the ids
 * decoded (with and without special tokens), every id's piece and bytes
 * read, and the rest read again as raw little-endian ids (any value, out
 * of range included) and decoded.  For the lossless tokenizers
 * (byte-level, no normalizer) valid UTF-8 encoded without special tokens
 * must decode back to itself, unless it holds a byte the vocabulary has
 * no token for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_tok.h"

static void check_round_trip(const fuzz_toks *ft, int which, const char *text, size_t len) {
    if (memchr(text, '\0', len) || !fuzz_utf8_valid(text, len)) return;
    if (!fuzz_bytes_covered(ft, which, text, len)) return;
    const tokenizer *t = ft->tok[which];
    char err[CT_ERRLEN];
    int32_t *ids = NULL;
    int n = tok_encode(t, text, len, false, false, &ids, err);
    if (n < 0) abort();
    char *back = tok_decode(t, ids, (size_t)n, false);
    if (!back || strlen(back) != len || memcmp(back, text, len) != 0) abort();
    free(back);
    free(ids);
}

static void decode_all(const tokenizer *t, const int32_t *ids, size_t n, bool skip) {
    free(tok_decode(t, ids, n, skip));
    for (size_t i = 0; i < n && i < 64; i++) {
        char buf[32];
        (void)tok_piece(t, ids[i]);
        (void)tok_is_special(t, ids[i]);
        size_t k = tok_token_bytes(t, ids[i], skip, buf, sizeof buf);
        (void)k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const fuzz_toks *ft = fuzz_toks_get();
    int which = (data[0] & 15) % ft->n;
    const tokenizer *t = ft->tok[which];
    bool add_special = data[0] & 16, parse_special = data[0] & 32, skip = data[0] & 64;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    char err[CT_ERRLEN];
    int32_t *ids = NULL;
    int n = tok_encode(t, text, len, add_special, parse_special, &ids, err);
    if (n > 0) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= tok_n_vocab(t)) abort(); /* encode makes only valid ids */
        decode_all(t, ids, (size_t)n, skip);
    }
    free(ids);
    if (ft->lossless[which]) check_round_trip(ft, which, text, len);

    size_t m = len / 4;
    int32_t *raw = malloc((m ? m : 1) * sizeof *raw);
    if (!raw) return 0;
    memcpy(raw, text, m * 4);
    decode_all(t, raw, m, skip);
    free(raw);
    return 0;
}
