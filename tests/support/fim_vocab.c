/*
 * fim_vocab.c — hand-built FIM vocabularies (see fim_vocab.h).
 */
#include "fim_vocab.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

typedef struct {
    const char *base;        /* directory under shared/models */
    int first_id;            /* id of the first added token */
    const char *tokens[7];   /* NULL-terminated, consecutive ids */
    const char *normalizer;  /* JSON replacing "normalizer", or NULL to keep */
    const char *pretok;      /* JSON replacing "pre_tokenizer", or NULL to keep */
} family;

static const family FAMILIES[] = {
    [FV_QWEN_CODER] = {"synth/qwen2-bpe-hf", 50257,
                       {"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>",
                        "<|file_sep|>", NULL}, NULL, NULL},
    [FV_CODELLAMA] = {"synth/llama-spm-hf", 32000,
                      {"\xE2\x96\x81<PRE>", "\xE2\x96\x81<SUF>", "\xE2\x96\x81<MID>", "\xE2\x96\x81<EOT>", NULL},
                      NULL, NULL},
    [FV_CODESTRAL] = {"synth/llama-spm-hf", 32000, {"[PREFIX]", "[SUFFIX]", "[MIDDLE]", NULL}, "null",
                      "{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"first\","
                      "\"split\":false}"},
    [FV_CODEGEMMA] = {"synth/llama-spm-hf", 32000,
                      {"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|file_separator|>", NULL},
                      "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}", NULL},
};

static bool replace_section(json_t *tj, const char *key, const char *text) {
    if (!text) return true;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v && json_object_set_new(tj, key, v) == 0;
}

bool fv_write(fv_family which, const char *dir) {
    const family *f = &FAMILIES[which];
    char rel[128], out[1024];
    snprintf(rel, sizeof rel, "%s/tokenizer.json", f->base);
    char *src = tu_model_path(rel);
    json_t *tj = json_load_file(src, 0, NULL);
    free(src);
    bool ok = tj && replace_section(tj, "normalizer", f->normalizer) && replace_section(tj, "pre_tokenizer", f->pretok);
    json_t *added = ok ? json_object_get(tj, "added_tokens") : NULL;
    for (int i = 0; ok && f->tokens[i]; i++) {
        json_t *a = json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", f->first_id + i, "content", f->tokens[i],
                              "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1);
        ok = a && json_array_append_new(added, a) == 0;
    }
    snprintf(out, sizeof out, "%s/tokenizer.json", dir);
    ok = ok && json_dump_file(tj, out, 0) == 0;
    json_decref(tj);
    snprintf(rel, sizeof rel, "%s/tokenizer_config.json", f->base);
    src = tu_model_path(rel);
    snprintf(out, sizeof out, "%s/tokenizer_config.json", dir);
    ok = ok && tu_copy(src, out);
    free(src);
    return ok;
}
