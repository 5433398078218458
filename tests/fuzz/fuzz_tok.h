/*
 * fuzz_tok.h — the tokenizers the tokenizer and streaming fuzz targets
 * share: every kind the engine implements, loaded once per process from
 * $CTGI_MODELS (SentencePiece BPE and byte-level BPE, each from a GGUF
 * vocabulary and from a tokenizer.json, plus GGUF vocabularies with other
 * pre-tokenizer rules).  A file that is missing is skipped; no tokenizer
 * at all is a setup error (the process exits, the run fails).
 */
#ifndef CTGI_FUZZ_TOK_H
#define CTGI_FUZZ_TOK_H

#include <stdio.h>
#include <stdlib.h>

#include "model/model_info.h"
#include "tokenizer/tokenizer.h"

#define FUZZ_MAX_TOK 12

/* Whether s[0, n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF). */
static inline bool fuzz_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n || (k == 2 && c < 0xc2) || (k == 4 && c > 0xf4)) return false;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80) return false;
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
            return false;
        i += k;
    }
    return true;
}

typedef struct {
    tokenizer *tok[FUZZ_MAX_TOK];
    bool lossless[FUZZ_MAX_TOK]; /* byte-level, no normalizer: decode(encode(valid UTF-8)) == text */
    /* Which bytes have a token of their own.  Real byte-level vocabularies
     * lack some: all lack c0, c1 and f5..ff (never in UTF-8), and
     * StarCoder's and Refact's lack f1 too, so text holding them cannot
     * come back (the encoder drops the byte, as llama.cpp and HF do). */
    bool has_byte[FUZZ_MAX_TOK][256];
    int n;
} fuzz_toks;

/* Whether every byte of s[0, n) has a token in tokenizer `which`. */
static inline bool fuzz_bytes_covered(const fuzz_toks *ft, int which, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!ft->has_byte[which][(unsigned char)s[i]]) return false;
    return true;
}

static void fuzz_scan_bytes(const tokenizer *t, bool has_byte[256]) {
    for (int32_t id = 0; id < tok_n_vocab(t); id++) {
        char buf[8];
        if (tok_token_bytes(t, id, false, buf, sizeof buf) == 1) has_byte[(unsigned char)buf[0]] = true;
    }
}

static const fuzz_toks *fuzz_toks_get(void) {
    static fuzz_toks ft;
    static int loaded;
    static const struct {
        const char *file;
        bool lossless;
    } files[] = {
        {"stories260K.gguf", false},                   /* SentencePiece BPE, GGUF, byte fallback */
        {"vocab/ggml-vocab-gpt-2.gguf", true},         /* byte-level BPE, GGUF */
        {"synth/llama-spm-hf", false},                 /* SentencePiece BPE, tokenizer.json */
        {"synth/qwen2-bpe-hf", false},                 /* byte-level BPE, tokenizer.json, NFC */
        {"vocab/ggml-vocab-llama-spm.gguf", false},    /* llama.cpp's own SentencePiece vocab */
        {"vocab/ggml-vocab-phi-3.gguf", false},
        {"vocab/ggml-vocab-deepseek-llm.gguf", true},  /* other pre-tokenizer regexes */
        {"vocab/ggml-vocab-deepseek-coder.gguf", true},
        {"vocab/ggml-vocab-starcoder.gguf", true},
        {"vocab/ggml-vocab-falcon.gguf", true},        /* lacks some byte tokens (0x1d, ...) */
        {"vocab/ggml-vocab-gpt-neox.gguf", true},
        {"vocab/ggml-vocab-refact.gguf", true},
    };
    if (loaded) return &ft;
    loaded = 1;
    const char *dir = getenv("CTGI_MODELS");
    if (!dir) dir = "../shared/models";
    for (size_t i = 0; i < sizeof files / sizeof files[0] && ft.n < FUZZ_MAX_TOK; i++) {
        char path[1024], err[CT_ERRLEN];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].file);
        tokenizer *t = model_load_tokenizer(path, err);
        if (!t) {
            fprintf(stderr, "fuzz: skipping %s: %s\n", files[i].file, err);
            continue;
        }
        ft.lossless[ft.n] = files[i].lossless;
        if (files[i].lossless) fuzz_scan_bytes(t, ft.has_byte[ft.n]);
        ft.tok[ft.n++] = t;
    }
    if (ft.n == 0) {
        fprintf(stderr, "fuzz: no tokenizer found under %s (set CTGI_MODELS)\n", dir);
        exit(2);
    }
    return &ft;
}

#endif
