/*
 * tok_fim_test.c — tok_fim (the vocabulary's fill-in-the-middle markers)
 * and tok_encode_cont (encoding without the SentencePiece space prefix).
 *
 * Markers: the GGUF vocabularies of shared/models/vocab, whose marker ids
 * were read from the files' tokenizer.ggml.tokens with a GGUF reader
 * written in Python for this test (starcoder: <fim_prefix> 1, <fim_middle>
 * 2, <fim_suffix> 3, <fim_pad> 4, <repo_name> 5, <file_sep> 6; refact: the
 * same four, <reponame> 18; deepseek-coder: <｜fim▁hole｜> 32015,
 * <｜fim▁begin｜> 32016, <｜fim▁end｜> 32017; none in the others), a GGUF
 * that names ids in tokenizer.ggml.fim_*_token_id (they win over the
 * texts), and the hand-built tokenizer.json vocabularies of
 * tests/support/fim_vocab.h.
 *
 * tok_encode_cont: llama.cpp's vectors (vocab_cases.h) are the oracle.  A
 * SentencePiece text " s" without the dummy prefix is "▁s" escaped, which
 * is what the dummy prefix makes of "s": so cont(" " + s) must give
 * llama.cpp's ids of s ("Hello world" → 15043 3186 on llama-spm; " Hello
 * world" → 29871 15043 3186 with the prefix).  Byte-level vocabularies
 * have no prefix: cont is llama.cpp's ids of the text itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model_info.h"
#include "support/fim_vocab.h"
#include "support/gguf_write.h"
#include "support/synth_model.h"
#include "support/testutil.h"
#include "support/vocab_cases.h"
#include "tokenizer/tokenizer.h"

static tokenizer *load_rel(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    tokenizer *t = model_load_tokenizer(p, err);
    if (!t) print_error("%s: %s\n", p, err);
    free(p);
    assert_non_null(t);
    return t;
}

static void expect_fim(const tok_fim_ids *f, int32_t pre, int32_t suf, int32_t mid, int32_t pad, int32_t rep,
                       int32_t sep, int32_t eot) {
    assert_int_equal(f->pre, pre);
    assert_int_equal(f->suf, suf);
    assert_int_equal(f->mid, mid);
    assert_int_equal(f->pad, pad);
    assert_int_equal(f->rep, rep);
    assert_int_equal(f->sep, sep);
    assert_int_equal(f->eot, eot);
}

static void test_gguf_markers(void **state) {
    (void)state;
    tok_fim_ids f;
    tokenizer *t = load_rel("vocab/ggml-vocab-starcoder.gguf");
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 1, 3, 2, 4, 5, 6, -1);
    tok_free(t);
    t = load_rel("vocab/ggml-vocab-refact.gguf");
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 1, 3, 2, 4, 18, -1, -1);
    tok_free(t);
    t = load_rel("vocab/ggml-vocab-deepseek-coder.gguf");
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 32016, 32015, 32017, -1, -1, -1, -1);
    tok_free(t);
    static const char *const none[] = {"llama-spm", "gpt-2", "falcon", "mpt", "phi-3", "gpt-neox",
                                       "deepseek-llm", "baichuan"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        char rel[96];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", none[i]);
        t = load_rel(rel);
        assert_false(tok_fim(t, &f));
        expect_fim(&f, -1, -1, -1, -1, -1, -1, -1);
        tok_free(t);
    }
}

/* The starcoder vocabulary with fim_pre_token_id 7, fim_sep_token_id 8 and
 * fim_mid_token_id 49152 (out of range: ignored, found by text). */
static void test_gguf_given_ids(void **state) {
    (void)state;
    char err[CT_ERRLEN];
    char *src = tu_model_path("vocab/ggml-vocab-starcoder.gguf"), *dir = tu_mkdtemp();
    char path[1024];
    snprintf(path, sizeof path, "%s/given.gguf", dir);
    gguf_file *f = gguf_open(src, err);
    assert_non_null(f);
    gw_writer *w = gw_new();
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) assert_true(synth_gguf_copy_kv(w, f, i, err));
    assert_true(gw_add_u32(w, "tokenizer.ggml.fim_pre_token_id", 7));
    assert_true(gw_add_u32(w, "tokenizer.ggml.fim_sep_token_id", 8));
    assert_true(gw_add_u32(w, "tokenizer.ggml.fim_mid_token_id", 49152));
    assert_true(gw_write(w, path, err));
    gw_free(w);
    gguf_close(f);
    tokenizer *t = model_load_tokenizer(path, err);
    assert_non_null(t);
    tok_fim_ids fi;
    assert_true(tok_fim(t, &fi));
    expect_fim(&fi, 7, 3, 2, 4, 5, 8, -1);
    tok_free(t);
    tu_rmrf(dir);
    free(dir);
    free(src);
}

static tokenizer *load_family(fv_family fam, char **dir) {
    *dir = tu_mkdtemp();
    assert_true(fv_write(fam, *dir));
    char err[CT_ERRLEN];
    tokenizer *t = model_load_tokenizer(*dir, err);
    if (!t) print_error("%s\n", err);
    assert_non_null(t);
    return t;
}

static void drop_dir(char *dir) {
    tu_rmrf(dir);
    free(dir);
}

static void test_hf_markers(void **state) {
    (void)state;
    tok_fim_ids f;
    char *dir;
    tokenizer *t = load_family(FV_QWEN_CODER, &dir);
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 50257, 50259, 50258, 50260, 50261, 50262, -1);
    tok_free(t);
    drop_dir(dir);
    t = load_family(FV_CODELLAMA, &dir);
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 32000, 32001, 32002, -1, -1, -1, 32003);
    tok_free(t);
    drop_dir(dir);
    t = load_family(FV_CODESTRAL, &dir);
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 32000, 32001, 32002, -1, -1, -1, -1);
    tok_free(t);
    drop_dir(dir);
    t = load_family(FV_CODEGEMMA, &dir);
    assert_true(tok_fim(t, &f));
    expect_fim(&f, 32000, 32002, 32001, -1, -1, 32003, -1);
    tok_free(t);
    drop_dir(dir);
    t = load_rel("synth/llama-spm-hf/tokenizer.json");
    assert_false(tok_fim(t, &f));
    tok_free(t);
    t = load_rel("synth/qwen2-bpe-hf");
    assert_false(tok_fim(t, &f));
    tok_free(t);
}

/* ids of text by tok_encode_cont (cont) or tok_encode without specials
 * equal llama.cpp's ids of `oracle_text` on vocabulary vocab_rel. */
static void expect_ids(const tokenizer *t, bool cont, const char *text, const char *vocab_rel, const char *oracle_text) {
    int32_t *want = NULL, *got = NULL;
    char err[CT_ERRLEN];
    int nw = vc_ids(vocab_rel, oracle_text, &want);
    assert_true(nw >= 0);
    int ng = cont ? tok_encode_cont(t, text, strlen(text), false, &got, err)
                  : tok_encode(t, text, strlen(text), false, false, &got, err);
    if (ng != nw || memcmp(got, want, (size_t)nw * sizeof *got) != 0) {
        print_error("'%s' (%s): %d ids, want %d (llama.cpp's ids of '%s')\n", text, cont ? "cont" : "encode", ng,
                    nw, oracle_text);
        fail();
    }
    free(want);
    free(got);
}

/* Cases of llama.cpp's vectors s with " " + s among them too. */
static const char *const PAIRED[] = {"Hello world", "Hello World", "Hello, world!", "Hello", " Hello", "  Hello",
                                     "   Hello"};

static void spm_cont_checks(const tokenizer *t, const char *vocab_rel, bool dummy_prefix) {
    for (size_t i = 0; i < sizeof PAIRED / sizeof *PAIRED; i++) {
        char spaced[64];
        snprintf(spaced, sizeof spaced, " %s", PAIRED[i]);
        expect_ids(t, true, spaced, vocab_rel, PAIRED[i]);
        if (dummy_prefix) expect_ids(t, false, spaced, vocab_rel, spaced);
    }
}

static void test_cont_spm_gguf(void **state) {
    (void)state;
    tokenizer *t = load_rel("vocab/ggml-vocab-llama-spm.gguf");
    spm_cont_checks(t, "vocab/ggml-vocab-llama-spm.gguf", true);
    /* the prefix only goes at the start: after a special token llama.cpp
     * adds it again, and so does cont */
    int32_t *a = NULL, *b = NULL;
    char err[CT_ERRLEN];
    int na = tok_encode_cont(t, "x</s>y", 6, true, &a, err), nb = tok_encode(t, "x</s>y", 6, false, true, &b, err);
    assert_int_equal(na, 3); /* "x" vs "▁x", then </s> and "▁y" alike */
    assert_int_equal(nb, 3);
    assert_string_equal(tok_piece(t, a[0]), "x");
    assert_string_equal(tok_piece(t, b[0]), "\xE2\x96\x81x");
    assert_memory_equal(a + 1, b + 1, 2 * sizeof *a);
    assert_string_equal(tok_piece(t, a[2]), "\xE2\x96\x81y");
    free(a);
    free(b);
    tok_free(t);
}

static void test_cont_bpe(void **state) {
    (void)state;
    static const char *const texts[] = {"Hello world", " Hello world", "    Hello\n    Hello", "\n =", "ied 4 ½ months"};
    static const char *const vocabs[] = {"vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-starcoder.gguf",
                                         "vocab/ggml-vocab-deepseek-coder.gguf"};
    for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; v++) {
        tokenizer *t = load_rel(vocabs[v]);
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) expect_ids(t, true, texts[i], vocabs[v], texts[i]);
        tok_free(t);
    }
    tokenizer *t = load_rel("synth/qwen2-bpe-hf");
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        expect_ids(t, true, texts[i], "vocab/ggml-vocab-gpt-2.gguf", texts[i]);
    tok_free(t);
}

/* tokenizer.json: the legacy Prepend("▁") normalizer (CodeLlama, Llama 2)
 * and Metaspace prepend_scheme "first" (Mistral v3). */
static void test_cont_spm_hf(void **state) {
    (void)state;
    const char *rel = "vocab/ggml-vocab-llama-spm.gguf";
    tokenizer *t = load_rel("synth/llama-spm-hf/tokenizer.json");
    spm_cont_checks(t, rel, true);
    tok_free(t);
    char *dir;
    t = load_family(FV_CODESTRAL, &dir);
    /* Metaspace does not prepend to a text that starts with "▁" already: only
     * texts without a leading space keep llama.cpp's ids */
    spm_cont_checks(t, rel, false);
    expect_ids(t, false, "Hello world", rel, "Hello world");
    tok_free(t);
    drop_dir(dir);
    t = load_family(FV_CODEGEMMA, &dir); /* no dummy prefix at all: cont = encode */
    expect_ids(t, false, " Hello world", rel, "Hello world");
    expect_ids(t, true, " Hello world", rel, "Hello world");
    tok_free(t);
    drop_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_markers),
        cmocka_unit_test(test_gguf_given_ids),
        cmocka_unit_test(test_hf_markers),
        cmocka_unit_test(test_cont_spm_gguf),
        cmocka_unit_test(test_cont_bpe),
        cmocka_unit_test(test_cont_spm_hf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
