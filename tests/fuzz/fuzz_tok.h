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

typedef struct {
    tokenizer *tok[FUZZ_MAX_TOK];
    int n;
} fuzz_toks;

static const fuzz_toks *fuzz_toks_get(void) {
    static fuzz_toks ft;
    static int loaded;
    static const char *const files[] = {
        "stories260K.gguf",                  /* SentencePiece BPE, GGUF, byte fallback */
        "vocab/ggml-vocab-gpt-2.gguf",       /* byte-level BPE, GGUF */
        "synth/llama-spm-hf",                /* SentencePiece BPE, tokenizer.json */
        "synth/qwen2-bpe-hf",                /* byte-level BPE, tokenizer.json (qwen2 split) */
        "vocab/ggml-vocab-llama-spm.gguf",   /* llama.cpp's own SentencePiece vocab */
        "vocab/ggml-vocab-phi-3.gguf",
        "vocab/ggml-vocab-deepseek-llm.gguf",
        "vocab/ggml-vocab-deepseek-coder.gguf",
        "vocab/ggml-vocab-starcoder.gguf",
        "vocab/ggml-vocab-falcon.gguf",
        "vocab/ggml-vocab-gpt-neox.gguf",
        "vocab/ggml-vocab-refact.gguf",
    };
    if (loaded) return &ft;
    loaded = 1;
    const char *dir = getenv("CTGI_MODELS");
    if (!dir) dir = "../shared/models";
    for (size_t i = 0; i < sizeof files / sizeof files[0] && ft.n < FUZZ_MAX_TOK; i++) {
        char path[1024], err[CT_ERRLEN];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        tokenizer *t = model_load_tokenizer(path, err);
        if (t) ft.tok[ft.n++] = t;
        else fprintf(stderr, "fuzz: skipping %s: %s\n", files[i], err);
    }
    if (ft.n == 0) {
        fprintf(stderr, "fuzz: no tokenizer found under %s (set CTGI_MODELS)\n", dir);
        exit(2);
    }
    return &ft;
}

#endif
