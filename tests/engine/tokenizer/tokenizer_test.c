/*
 * tokenizer_test.c — ids against the reference tokenizers' own test vectors.
 *
 *  - every llama.cpp vocabulary of shared/models/vocab with a GGUF and
 *    .inp/.out pair (bert-bge is the WordPiece one; none is Unigram): each
 *    case of .inp (cases separated by "\n__ggml_vocab_test__\n", as
 *    llama.cpp's test-tokenizer-0 reads them) must encode with
 *    add_special=false, parse_special=false to the ids of its .out line;
 *    one test per vocabulary, listing every failing case;
 *  - the tokenizer.json of synth/llama-spm-hf on the llama-spm cases and of
 *    synth/qwen2-bpe-hf on the gpt-2 cases (the README: tokenizers.js
 *    gives exactly those ids);
 *  - the text_cases of reference/<model>.json (add_special=true) via the GGUF files
 *    and the HF directories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "support/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok_load.h"

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
} tcase;

typedef struct {
    tcase *v;
    size_t n;
} tcases;

static void cases_free(tcases *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].text);
        free(c->v[i].ids);
    }
    free(c->v);
}

static int32_t *parse_ids(const char *line, size_t len, size_t *n) {
    int32_t *ids = malloc((len / 2 + 2) * sizeof *ids);
    *n = 0;
    const char *p = line, *end = line + len;
    while (p < end) {
        while (p < end && *p == ' ') p++;
        if (p >= end) break;
        ids[(*n)++] = (int32_t)strtol(p, (char **)&p, 10);
    }
    return ids;
}

/* Read <vocab>.inp / .out the way test-tokenizer-0 does. */
static bool read_cases(const char *gguf_rel, tcases *out) {
    char rel[256];
    size_t ilen, olen;
    char err[CT_ERRLEN];
    snprintf(rel, sizeof rel, "%s.inp", gguf_rel);
    char *ip = tu_model_path(rel);
    snprintf(rel, sizeof rel, "%s.out", gguf_rel);
    char *op = tu_model_path(rel);
    char *inp = ct_read_file(ip, &ilen, err), *outp = ct_read_file(op, &olen, err);
    free(ip);
    free(op);
    if (!inp || !outp) {
        free(inp);
        free(outp);
        return false;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t cap = 64;
    out->v = calloc(cap, sizeof *out->v);
    out->n = 0;
    for (size_t pos = 0; pos < ilen;) {
        const char *hit = memmem(inp + pos, ilen - pos, sep, strlen(sep));
        size_t end = hit ? (size_t)(hit - inp) : ilen;
        if (out->n == cap) out->v = realloc(out->v, (cap *= 2) * sizeof *out->v);
        tcase *c = &out->v[out->n++];
        c->len = end - pos;
        c->text = malloc(c->len + 1);
        memcpy(c->text, inp + pos, c->len);
        c->text[c->len] = '\0';
        pos = hit ? end + strlen(sep) : ilen;
    }
    size_t line = 0;
    for (size_t pos = 0; pos < olen && line < out->n; line++) {
        const char *nl = memchr(outp + pos, '\n', olen - pos);
        size_t end = nl ? (size_t)(nl - outp) : olen;
        out->v[line].ids = parse_ids(outp + pos, end - pos, &out->v[line].n_ids);
        pos = end + 1;
    }
    bool ok = line == out->n;
    free(inp);
    free(outp);
    return ok;
}

static void append_ids(char **msg, size_t *len, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char b[16];
        int k = snprintf(b, sizeof b, " %d", ids[i]);
        *msg = realloc(*msg, *len + (size_t)k + 1);
        memcpy(*msg + *len, b, (size_t)k + 1);
        *len += (size_t)k;
    }
}

static void append_str(char **msg, size_t *len, const char *s) {
    size_t k = strlen(s);
    *msg = realloc(*msg, *len + k + 1);
    memcpy(*msg + *len, s, k + 1);
    *len += k;
}

/* Encode every case; fail with a list of the cases that differ. */
static void check_cases(const tokenizer *t, const tcases *cs, bool add_special, const char *what) {
    char *msg = NULL;
    size_t mlen = 0, bad = 0;
    append_str(&msg, &mlen, "");
    for (size_t i = 0; i < cs->n; i++) {
        const tcase *c = &cs->v[i];
        int32_t *ids = NULL;
        char err[CT_ERRLEN] = "";
        int n = tok_encode(t, c->text, c->len, add_special, false, &ids, err);
        bool same = n >= 0 && (size_t)n == c->n_ids &&
                    (n == 0 || memcmp(ids, c->ids, (size_t)n * sizeof *ids) == 0);
        if (!same) {
            bad++;
            char head[96];
            snprintf(head, sizeof head, "\n  case %zu ", i);
            append_str(&msg, &mlen, head);
            char *q = malloc(c->len * 4 + 3), *w = q;
            *w++ = '\'';
            for (size_t k = 0; k < c->len; k++) {
                unsigned char ch = (unsigned char)c->text[k];
                if (ch == '\n') w += sprintf(w, "\\n");
                else if (ch == '\t') w += sprintf(w, "\\t");
                else *w++ = (char)ch;
            }
            *w++ = '\'';
            *w = '\0';
            append_str(&msg, &mlen, q);
            free(q);
            append_str(&msg, &mlen, "\n    want:");
            append_ids(&msg, &mlen, c->ids, c->n_ids);
            append_str(&msg, &mlen, n < 0 ? "\n    error: " : "\n    got: ");
            if (n < 0) append_str(&msg, &mlen, err);
            else append_ids(&msg, &mlen, ids, (size_t)n);
        }
        free(ids);
    }
    if (bad) {
        print_error("%s: %zu of %zu cases differ:%s\n", what, bad, cs->n, msg);
        free(msg);
        fail_msg("%s: %zu of %zu cases differ", what, bad, cs->n);
    }
    free(msg);
}

static tokenizer *load_gguf_tok(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    gguf_file *f = gguf_open(p, err);
    free(p);
    if (!f) {
        print_error("%s\n", err);
        return NULL;
    }
    tokenizer *t = tok_load_gguf(f, err);
    gguf_close(f);
    if (!t) print_error("%s: %s\n", rel, err);
    return t;
}

static tokenizer *load_hf_tok(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    tokenizer *t = tok_load_hf(p, err);
    free(p);
    if (!t) print_error("%s: %s\n", rel, err);
    return t;
}

/* One vocabulary's .inp/.out through a loaded tokenizer. */
static void run_vocab(tokenizer *t, const char *cases_rel, const char *what) {
    tcases cs = {0};
    bool have = read_cases(cases_rel, &cs);
    if (!have) {
        tok_free(t);
        cases_free(&cs);
        fail_msg("%s: cannot read %s.inp/.out", what, cases_rel);
    }
    assert_non_null(t);
    assert_true(cs.n >= 40);
    check_cases(t, &cs, false, what);
    cases_free(&cs);
    tok_free(t);
}

static void vocab_test(void **state) {
    const char *name = *state;
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    run_vocab(load_gguf_tok(rel), rel, name);
}

static void hf_llama_spm_cases(void **state) {
    run_vocab(load_hf_tok("synth/llama-spm-hf"), "vocab/ggml-vocab-llama-spm.gguf",
              "llama-spm-hf tokenizer.json");
}

static void hf_gpt2_cases(void **state) {
    run_vocab(load_hf_tok("synth/qwen2-bpe-hf/tokenizer.json"), "vocab/ggml-vocab-gpt-2.gguf",
              "qwen2-bpe-hf tokenizer.json");
}

/* reference/<ref>.json text_cases: text + add_special -> ids. */
static void run_text_cases(tokenizer *t, const char *ref, const char *what) {
    assert_non_null(t);
    char rel[128];
    snprintf(rel, sizeof rel, "reference/%s.json", ref);
    char *p = tu_model_path(rel);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    free(p);
    if (!j) {
        tok_free(t);
        fail_msg("%s: %s", rel, je.text);
    }
    const json_t *arr = json_object_get(j, "text_cases"), *c;
    tcases cs = {calloc(json_array_size(arr) + 1, sizeof(tcase)), 0};
    size_t i;
    json_array_foreach(arr, i, c) {
        tcase *tc = &cs.v[cs.n++];
        const json_t *ids = json_object_get(c, "ids"), *e;
        size_t k;
        tc->text = strdup(json_string_value(json_object_get(c, "text")));
        tc->len = strlen(tc->text);
        tc->ids = malloc((json_array_size(ids) + 1) * sizeof *tc->ids);
        json_array_foreach(ids, k, e) tc->ids[tc->n_ids++] = (int32_t)json_integer_value(e);
        assert_true(json_is_true(json_object_get(c, "add_special")));
    }
    json_decref(j);
    assert_int_equal(cs.n, 3);
    check_cases(t, &cs, true, what);
    cases_free(&cs);
    tok_free(t);
}

static void ref_stories_gguf(void **state) {
    run_text_cases(load_gguf_tok("stories260K.gguf"), "stories260K", "stories260K.gguf");
}
static void ref_llama_gguf(void **state) {
    run_text_cases(load_gguf_tok("synth/llama-spm-f32.gguf"), "llama-spm-f32", "llama-spm-f32.gguf");
}
static void ref_qwen2_gguf(void **state) {
    run_text_cases(load_gguf_tok("synth/qwen2-bpe-f32.gguf"), "qwen2-bpe-f32", "qwen2-bpe-f32.gguf");
}
static void ref_llama_hf(void **state) {
    run_text_cases(load_hf_tok("synth/llama-spm-hf"), "llama-spm-f32", "llama-spm-hf");
}
static void ref_llama_hf_bf16(void **state) {
    run_text_cases(load_hf_tok("synth/llama-spm-hf-bf16"), "llama-spm-f32", "llama-spm-hf-bf16");
}
static void ref_qwen2_hf(void **state) {
    run_text_cases(load_hf_tok("synth/qwen2-bpe-hf"), "qwen2-bpe-hf", "qwen2-bpe-hf");
}

/* BOS/EOS and the add flags each loader reports. */
static void special_ids(void **state) {
    tokenizer *t = load_gguf_tok("vocab/ggml-vocab-llama-spm.gguf");
    assert_non_null(t);
    assert_int_equal(tok_n_vocab(t), 32000);
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_eos(t), 2);
    assert_true(tok_add_bos(t));
    assert_false(tok_add_eos(t));
    assert_true(tok_is_special(t, 1));
    assert_false(tok_is_special(t, 15043));
    assert_string_equal(tok_piece(t, 15043), "\xE2\x96\x81Hello");
    assert_null(tok_piece(t, 32000));
    tok_free(t);
    t = load_gguf_tok("vocab/ggml-vocab-gpt-2.gguf");
    assert_non_null(t);
    assert_int_equal(tok_bos(t), 50256);
    assert_false(tok_add_bos(t));
    assert_true(tok_is_special(t, 50256));
    tok_free(t);
    t = load_hf_tok("synth/llama-spm-hf");
    assert_non_null(t);
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_eos(t), 2);
    assert_true(tok_add_bos(t));
    assert_false(tok_add_eos(t));
    tok_free(t);
    t = load_hf_tok("synth/qwen2-bpe-hf");
    assert_non_null(t);
    assert_int_equal(tok_bos(t), 50256);
    assert_int_equal(tok_eos(t), 50256);
    assert_false(tok_add_bos(t));
    assert_true(tok_is_special(t, 50256));
    tok_free(t);
}

#define VOCAB(name) {"vocab " name, vocab_test, NULL, NULL, (void *)name}

int main(void) {
    const struct CMUnitTest tests[] = {
        VOCAB("llama-spm"), VOCAB("phi-3"), VOCAB("gpt-2"), VOCAB("falcon"), VOCAB("mpt"),
        VOCAB("starcoder"), VOCAB("deepseek-coder"), VOCAB("deepseek-llm"), VOCAB("refact"),
        VOCAB("bert-bge"),
        cmocka_unit_test(hf_llama_spm_cases),
        cmocka_unit_test(hf_gpt2_cases),
        cmocka_unit_test(ref_stories_gguf),
        cmocka_unit_test(ref_llama_gguf),
        cmocka_unit_test(ref_qwen2_gguf),
        cmocka_unit_test(ref_llama_hf),
        cmocka_unit_test(ref_llama_hf_bf16),
        cmocka_unit_test(ref_qwen2_hf),
        cmocka_unit_test(special_ids),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, NULL, NULL);
}
