/*
 * tokenize.c — POST /tokenize and POST /chat_tokenize (see tokenize.h).
 *
 * The tokenizer reports ids only, so each token's span is found by walking
 * the input with the token's bytes: a token whose bytes are next in the
 * input takes them; a SentencePiece word token whose leading space is the
 * tokenizer's own (the dummy prefix) takes the bytes after that space;
 * special tokens the tokenizer added (BOS) take no bytes; anything else
 * (a normalizer changed the bytes) takes as many bytes as it stands for.
 * `text` is the input slice, as TGI reports it.
 */
#include "tokenize.h"

#include <stdlib.h>
#include <string.h>

static size_t token_bytes(const tokenizer *t, int32_t id, bool skip_special, char **buf, size_t *cap) {
    size_t n = tok_token_bytes(t, id, skip_special, *buf, *cap);
    if (n >= *cap) {
        char *b = realloc(*buf, n + 1);
        if (!b) return 0;
        *buf = b;
        *cap = n + 1;
        tok_token_bytes(t, id, skip_special, *buf, *cap);
    }
    return n;
}

static void span(const tokenizer *t, int32_t id, const char *in, size_t len, size_t *cur, char **buf,
                 size_t *cap, size_t *start, size_t *stop) {
    size_t at = *cur, left = len - at;
    bool special = tok_is_special(t, id);
    size_t n = token_bytes(t, id, special ? false : true, buf, cap);
    const char *b = *buf;
    *start = *stop = at;
    if (n == 0) return;
    if (n <= left && memcmp(in + at, b, n) == 0) {
        *stop = at + n;
    } else if (special) {
        return; /* added by the tokenizer, not in the text */
    } else if (b[0] == ' ' && n - 1 <= left && memcmp(in + at, b + 1, n - 1) == 0) {
        *stop = at + n - 1;
    } else {
        *stop = at + (n < left ? n : left);
    }
    *cur = *stop;
}

/* The spans of ids[0..n) in text: toks[i] = {id, slice, start, stop}. */
static bool spans(const model *m, const char *text, size_t len, const int32_t *ids, int n,
                  tgi_simple_token *toks) {
    size_t cap = 64, cur = 0;
    char *buf = malloc(cap);
    if (!buf) return false;
    for (int i = 0; i < n; i++) {
        size_t a, b;
        span(model_tokenizer(m), ids[i], text, len, &cur, &buf, &cap, &a, &b);
        toks[i] = (tgi_simple_token){ids[i], {text + a, b - a}, a, b};
    }
    free(buf);
    return true;
}

char *tokenize_answer(const model *m, const tgi_request *req, size_t *len, proto_error *err) {
    char msg[CT_ERRLEN];
    int32_t *ids = NULL;
    int n = tok_encode(model_tokenizer(m), req->inputs, req->inputs_len, req->add_special_tokens, true, &ids, msg);
    if (n < 0) {
        proto_invalid(err, "tokenizer error: %s", msg);
        return NULL;
    }
    tgi_simple_token *toks = calloc((size_t)n + 1, sizeof *toks);
    char *out = NULL;
    if (toks && spans(m, req->inputs, req->inputs_len, ids, n, toks)) {
        int keep = n;
        if (req->p.has_truncate && req->p.truncate < (uint64_t)n) keep = (int)req->p.truncate;
        out = tgi_encode_tokenize(toks + (n - keep), keep, len);
    }
    if (!out) proto_fail(err, 500, "tokenizer", "out of memory");
    free(toks);
    free(ids);
    return out;
}

char *chat_tokenize_answer(const model *m, const char *text, size_t text_len, const int32_t *ids, int n,
                           size_t *len, proto_error *err) {
    tgi_simple_token *toks = calloc((size_t)n + 1, sizeof *toks);
    char *out = NULL;
    if (toks && spans(m, text, text_len, ids, n, toks))
        out = tgi_encode_chat_tokenize(toks, n, (proto_str){text, text_len}, len);
    if (!out) proto_fail(err, 500, "tokenizer", "out of memory");
    free(toks);
    return out;
}
