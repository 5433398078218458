/*
 * vocab_cases.c — llama.cpp's tokenizer vectors by text (vocab_cases.h).
 */
#include "vocab_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "testutil.h"

static char *read_rel(const char *gguf_rel, const char *ext, size_t *len) {
    char rel[256], err[CT_ERRLEN];
    snprintf(rel, sizeof rel, "%s.%s", gguf_rel, ext);
    char *path = tu_model_path(rel);
    char *s = ct_read_file(path, len, err);
    free(path);
    return s;
}

/* Ids of line `line` of out[0..n). */
static int line_ids(const char *out, size_t n, size_t line, int32_t **ids) {
    const char *p = out, *end = out + n;
    for (size_t i = 0; i < line && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    if (p >= end) return -1;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *ids = malloc(((size_t)(e - p) / 2 + 2) * sizeof **ids);
    if (!*ids) return -1;
    int k = 0;
    while (p < e) {
        while (p < e && *p == ' ') p++;
        if (p >= e) break;
        char *q;
        (*ids)[k++] = (int32_t)strtol(p, &q, 10);
        p = q;
    }
    return k;
}

int vc_ids(const char *gguf_rel, const char *text, int32_t **ids) {
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t ilen = 0, olen = 0, want = strlen(text);
    char *inp = read_rel(gguf_rel, "inp", &ilen), *out = read_rel(gguf_rel, "out", &olen);
    int n = -1;
    *ids = NULL;
    size_t line = 0;
    for (size_t pos = 0; inp && out && pos <= ilen; line++) {
        const char *hit = memmem(inp + pos, ilen - pos, sep, sizeof sep - 1);
        size_t end = hit ? (size_t)(hit - inp) : ilen;
        if (end - pos == want && memcmp(inp + pos, text, want) == 0) {
            n = line_ids(out, olen, line, ids);
            break;
        }
        if (!hit) break;
        pos = end + sizeof sep - 1;
    }
    free(inp);
    free(out);
    return n;
}
