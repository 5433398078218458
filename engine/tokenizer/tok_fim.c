/*
 * tok_fim.c — the vocabulary's fill-in-the-middle markers (tok_fim):
 * prefix, suffix, middle, padding, repository and file separator, as GGUF
 * ids or by their texts, plus CodeLlama's end-of-infill token.
 *
 * The texts are llama.cpp's (src/llama-vocab.cpp, the FIM_* detection that
 * tok_gguf.c's mark_by_text mirrors) and those of families llama.cpp does
 * not detect: Mistral/Codestral [PREFIX]/[SUFFIX]/[MIDDLE], StarCoder 2's
 * <repo_name>/<file_sep>, CodeGemma's <|file_separator|>, CodeLlama's
 * ▁<EOT>.  Only tok_gguf.c's list changes token attributes (CONTROL): this
 * file reads the vocabulary, so tokenization stays llama.cpp's.  The scan
 * runs once per tokenizer, over every id (tokenizer.json added tokens are
 * not in the text map), comparing only texts of a marker's length.
 */
#include "tok_internal.h"

#include <string.h>

enum { ROLE_PRE, ROLE_SUF, ROLE_MID, ROLE_PAD, ROLE_REP, ROLE_SEP, ROLE_EOT, N_ROLES };

#define BAR "\xEF\xBD\x9C" /* ｜ (fullwidth vertical line, DeepSeek) */
#define LOW "\xE2\x96\x81" /* ▁ (SentencePiece's space) */

static const char *const TEXTS[N_ROLES][11] = {
    [ROLE_PRE] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<" BAR "fim" LOW "begin" BAR ">",
                  "<PRE>", LOW "<PRE>", "<|code_prefix|>", "<|prefix|>", "[PREFIX]", NULL},
    [ROLE_SUF] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<" BAR "fim" LOW "hole" BAR ">",
                  "<SUF>", LOW "<SUF>", "<|code_suffix|>", "<|suffix|>", "[SUFFIX]", NULL},
    [ROLE_MID] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<" BAR "fim" LOW "end" BAR ">",
                  "<MID>", LOW "<MID>", "<|code_middle|>", "<|middle|>", "[MIDDLE]", NULL},
    [ROLE_PAD] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
    [ROLE_REP] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<repo_name>", NULL},
    [ROLE_SEP] = {"<|file_sep|>", "<file_sep>", "<|file_separator|>", NULL},
    [ROLE_EOT] = {LOW "<EOT>", "<EOT>", NULL},
};

static int32_t *role_slot(tok_fim_ids *f, int r) {
    int32_t *const slots[N_ROLES] = {&f->pre, &f->suf, &f->mid, &f->pad, &f->rep, &f->sep, &f->eot};
    return slots[r];
}

/* The role whose list holds text s[0..n), or -1. */
static int role_of(const char *s, uint32_t n) {
    if (n < 5 || n > 24) return -1;
    for (int r = 0; r < N_ROLES; r++)
        for (int k = 0; TEXTS[r][k]; k++)
            if (strlen(TEXTS[r][k]) == n && memcmp(TEXTS[r][k], s, n) == 0) return r;
    return -1;
}

void tok_fim_detect(tokenizer *t, const int32_t given[6]) {
    bool fixed[N_ROLES] = {false};
    for (int r = 0; r < N_ROLES; r++) {
        int32_t g = given && r < 6 ? given[r] : -1;
        fixed[r] = g >= 0 && g < t->n_vocab; /* given by id: no guessing */
        *role_slot(&t->fim, r) = fixed[r] ? g : -1;
    }
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->text[id];
        if (!s || (s[0] != '<' && s[0] != '[' && s[0] != LOW[0])) continue;
        int r = role_of(s, t->len[id]);
        if (r < 0 || fixed[r]) continue;
        int32_t *slot = role_slot(&t->fim, r);
        if (*slot < 0) *slot = id; /* ids ascend: the first found is the lowest */
    }
}

bool tok_fim(const tokenizer *t, tok_fim_ids *out) {
    *out = t->fim;
    return out->pre >= 0 && out->suf >= 0;
}
