/*
 * fuzz_tok.h — the tokenizers the tokenizer and streaming fuzz targets
 * share: every kind the engine implements, loaded once per process from
 * $CTGI_MODELS (SentencePiece BPE and byte-level BPE, each from a GGUF
 * vocabulary and from a tokenizer.json, plus GGUF vocabularies with other
 * pre-tokenizer rules, and WordPiece from llama.cpp's bert-bge GGUF), and a
 * Unigram tokenizer.json written here (shared/models has no Unigram
 * vocabulary).  A file that is missing is skipped; no tokenizer at all is
 * a setup error (the process exits, the run fails).
 */
#ifndef CTGI_FUZZ_TOK_H
#define CTGI_FUZZ_TOK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model_info.h"
#include "tokenizer/tokenizer.h"

#define FUZZ_MAX_TOK 16

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

/* A precompiled charsmap (SentencePiece's darts-clone layout) with six
 * rules: Ａ -> a, ﬁ -> fi, em space -> ' ', ① -> 1, ①① -> 11, e + U+0301 -> é. */
static const char FUZZ_CHARSMAP_B64[] =
    "vAMAAAAEAAAAAAAAAAAAAAAAAAAAAACAAAAAAAMAAIAAAAAAAAAAAAUAAIAAAAAAAAAAAAcAAIAAAAAAAAAAAAoAAIANAACA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABlmAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAACBGQIAAAAAAIMJAgCACAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "gQECAAAAAAAAAAAAAAAAAAAAAACRcAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkUACAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "rLwCAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAKCFAgAAAAAAAAAAAKCdAgAAAAAAAAAAAAAAAAAAAAAAoYECALyAAgAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAzDQDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA4pgDAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAADihAMAAAAAAAAAAADvjAMAw6kAIAAxADExAGZpAGEA";

/* A Unigram tokenizer.json (T5 layout: Precompiled + Replace, WhitespaceSplit
 * + Metaspace, </s> appended, byte fallback), loaded from a temporary file. */
static tokenizer *fuzz_unigram(char *err) {
    char dir[] = "/tmp/ctgi-fuzz-ugm-XXXXXX", path[64];
    if (!mkdtemp(dir)) return NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    tokenizer *t = NULL;
    if (f) {
        fprintf(f, "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
                   "{\"id\":1,\"content\":\"</s>\",\"special\":true}],"
                   "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\","
                   "\"precompiled_charsmap\":\"%s\"},{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},"
                   "\"content\":\" \"}]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
                   "{\"type\":\"WhitespaceSplit\"},{\"type\":\"Metaspace\",\"replacement\":\"\u2581\","
                   "\"add_prefix_space\":true}]},\"post_processor\":{\"type\":\"TemplateProcessing\","
                   "\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\","
                   "\"type_id\":0}}],\"special_tokens\":{\"</s>\":{\"id\":\"</s>\",\"ids\":[1],\"tokens\":[\"</s>\"]}}},"
                   "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":"
                   "{\"String\":\"\u2581\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
                   "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
                   "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":["
                   "[\"<unk>\",0],[\"</s>\",0],[\"\u2581\",-2]",
                FUZZ_CHARSMAP_B64);
        for (int c = 'a'; c <= 'z'; c++) fprintf(f, ",[\"%c\",-%d.5],[\"\u2581%c\",-%d.25]", c, 3 + c % 5, c, 4 + c % 3);
        static const char *const more[] = {"th", "he", "in", "er", "an", "the", "\u00e9", "11", "fi"};
        for (size_t i = 0; i < sizeof more / sizeof *more; i++) fprintf(f, ",[\"%s\",-%zu.75]", more[i], 4 + i % 4);
        for (int b = 0; b < 256; b++) fprintf(f, ",[\"<0x%02X>\",-30]", b);
        fputs("]}}", f);
        fclose(f);
        t = model_load_tokenizer(path, err);
    }
    unlink(path);
    rmdir(dir);
    return t;
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
        {"vocab/ggml-vocab-bert-bge.gguf", false},      /* WordPiece, GGUF */
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
    char err[CT_ERRLEN];
    tokenizer *ugm = fuzz_unigram(err);
    if (ugm) ft.tok[ft.n++] = ugm; /* Unigram with a charsmap and byte fallback */
    else fprintf(stderr, "fuzz: no Unigram tokenizer: %s\n", err);
    if (ft.n == 0) {
        fprintf(stderr, "fuzz: no tokenizer found under %s (set CTGI_MODELS)\n", dir);
        exit(2);
    }
    return &ft;
}

#endif
