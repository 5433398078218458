/*
 * fuzz_constraint.c — libFuzzer target: the constraint compilers on
 * arbitrary client input (engine/constraint/).
 *
 * Byte 0's low bit picks the input kind, the rest is the text:
 *   regex   cons_regex_check; a regex it accepts must compile
 *           (cons_compile for the stories260K vocabulary, 512 tokens) and
 *           a matcher then walks it: each step masks a logits row and
 *           accepts an allowed token picked by the next input bytes —
 *           the count cons_mask_logits returns must be the ids it left
 *           open, and cons_accept must take every token the mask allowed;
 *   schema  the text parsed as JSON and compiled by js_schema_to_regex;
 *           whatever it returns must be inside the regex dialect
 *           (cons_regex_check accepts it).
 * Any abort is a finding.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint/constraint.h"
#include "constraint/json_schema.h"
#include "model/model_info.h"

#define WALK_STEPS 24

static const tokenizer *vocab(void) {
    static tokenizer *t;
    if (t) return t;
    const char *dir = getenv("CTGI_MODELS");
    char path[1024], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir ? dir : "../shared/models");
    if (!(t = model_load_tokenizer(path, err))) {
        fprintf(stderr, "fuzz_constraint: %s (set CTGI_MODELS)\n", err);
        exit(2);
    }
    return t;
}

/* Walk g: at each step the mask must allow what cons_accept takes. */
static void walk(cons_grammar *g, const uint8_t *pick, size_t n_pick) {
    int nv = tok_n_vocab(vocab());
    float *logits = malloc((size_t)nv * sizeof *logits);
    cons_matcher *m = cons_matcher_new(g);
    if (!logits || !m) abort();
    for (int step = 0; step < WALK_STEPS; step++) {
        for (int i = 0; i < nv; i++) logits[i] = 0.0f;
        int allowed = cons_mask_logits(m, logits, nv);
        int counted = 0;
        for (int i = 0; i < nv; i++) counted += logits[i] != -INFINITY;
        if (counted != allowed) abort();
        if (allowed == 0 || cons_is_complete(m)) break;
        int k = n_pick ? pick[step % n_pick] % allowed : 0, id = -1;
        for (int i = 0; i < nv && id < 0; i++)
            if (logits[i] != -INFINITY && k-- == 0) id = i;
        if (tok_is_special(vocab(), id)) break; /* an eos: the text is complete */
        if (!cons_accept(m, id)) abort();
    }
    cons_matcher_free(m);
    free(logits);
}

static void fuzz_regex(const char *s, size_t n, const uint8_t *pick, size_t n_pick) {
    char err[CT_ERRLEN];
    if (!cons_regex_check(s, n, err)) return;
    int32_t eos = tok_eos(vocab());
    cons_grammar *g = cons_compile(s, n, vocab(), &eos, eos >= 0, err);
    if (!g) {
        if (strstr(err, "out of memory")) return;
        fprintf(stderr, "checked but not compiled: %s\n", err);
        abort();
    }
    walk(g, pick, n_pick);
    cons_grammar_unref(g);
}

static void fuzz_schema(const char *s, size_t n) {
    json_t *schema = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (!schema) return;
    js_opts o = js_opts_default();
    o.max_depth = 3; /* keep each input's regex small enough to check quickly */
    char err[CT_ERRLEN];
    char *re = js_schema_to_regex(schema, &o, err);
    json_decref(schema);
    if (!re) return;
    if (strlen(re) < (1u << 20) && !cons_regex_check(re, strlen(re), err)) {
        fprintf(stderr, "the schema compiler wrote a regex outside the dialect: %s\n", err);
        abort();
    }
    free(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        fuzz_schema(text, len);
    } else {
        /* the regex is the text up to a NUL; bytes after it pick the walk's tokens */
        const char *nul = memchr(text, '\0', len);
        size_t n = nul ? (size_t)(nul - text) : len;
        const uint8_t *pick = nul ? (const uint8_t *)nul + 1 : NULL;
        fuzz_regex(text, n, pick, nul ? len - n - 1 : 0);
    }
    return 0;
}
