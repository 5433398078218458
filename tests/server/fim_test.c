/*
 * fim_test.c — fill-in-the-middle prompts (server/fim.c) per family.
 *
 * The layouts are the families' reference formats (fim.h): StarCoder,
 * Refact and DeepSeek-Coder on their real GGUF vocabularies from
 * shared/models/vocab (marker ids read from the files' token lists by a
 * Python GGUF reader written for these tests: starcoder <fim_prefix> 1,
 * <fim_middle> 2, <fim_suffix> 3, <fim_pad> 4, <repo_name> 5, <file_sep> 6;
 * refact the same four and <reponame> 18; deepseek-coder BOS 32013,
 * <｜fim▁hole｜> 32015, <｜fim▁begin｜> 32016, <｜fim▁end｜> 32017), and
 * Qwen2.5-Coder, CodeLlama, Codestral and CodeGemma on the hand-built
 * tokenizer.json vocabularies of tests/support/fim_vocab.h.  The ids of the
 * texts between the markers are llama.cpp's (vocab_cases.h): the GGUF
 * vocabularies' own vectors, and for the hand-built ones the vectors of
 * the vocabulary they extend (gpt-2 for the Qwen one, llama-spm for the
 * SentencePiece ones).  Where a family encodes the suffix without
 * SentencePiece's dummy prefix (CodeLlama's encode_infilling, Mistral's
 * "[SUFFIX]suffix"), a suffix " s" must give llama.cpp's ids of "s" with the
 * prefix ("▁s" either way); the prefix keeps it (" Hello world" → "▁",
 * "▁Hello", "▁world": 29871 15043 3186).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fim.h"
#include "model/model_info.h"
#include "support/fim_vocab.h"
#include "support/testutil.h"
#include "support/vocab_cases.h"

#define STARCODER "vocab/ggml-vocab-starcoder.gguf"
#define LLAMA_SPM "vocab/ggml-vocab-llama-spm.gguf"

/* A growing list of expected ids. */
typedef struct {
    int32_t v[512];
    int n;
} want;

static void put(want *w, int32_t id) {
    assert_true(w->n < 512);
    w->v[w->n++] = id;
}

/* llama.cpp's ids of `text` (a case of vocab_rel's vectors). */
static void put_case(want *w, const char *vocab_rel, const char *text) {
    int32_t *ids;
    int n = vc_ids(vocab_rel, text, &ids);
    if (n < 0) print_error("no case '%s' in %s\n", text, vocab_rel);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) put(w, ids[i]);
    free(ids);
}

/* Our tokenizer's ids of text (for the layout tests, where the pieces'
 * tokenization is not what is tested). */
static void put_text(want *w, const tokenizer *t, const char *text) {
    int32_t *ids;
    char err[CT_ERRLEN];
    int n = tok_encode(t, text, strlen(text), false, false, &ids, err);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) put(w, ids[i]);
    free(ids);
}

static void expect_prompt(const fim_prompt *p, const want *w) {
    bool same = p->n == w->n && memcmp(p->ids, w->v, (size_t)w->n * sizeof *w->v) == 0;
    if (!same) {
        print_error("prompt (%d):", p->n);
        for (int i = 0; i < p->n; i++) print_error(" %d", p->ids[i]);
        print_error("\nwanted (%d):", w->n);
        for (int i = 0; i < w->n; i++) print_error(" %d", w->v[i]);
        print_error("\n");
    }
    assert_true(same);
}

static void expect_stops(const fim_prompt *p, const int32_t *ids, int n) {
    assert_int_equal(p->n_stops, n);
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int k = 0; k < p->n_stops; k++) found = found || p->stops[k] == ids[i];
        assert_true(found);
    }
}

static tokenizer *load_rel(const char *rel) {
    char *p = tu_model_path(rel), err[CT_ERRLEN];
    tokenizer *t = model_load_tokenizer(p, err);
    free(p);
    assert_non_null(t);
    return t;
}

static bool build(const tokenizer *t, const char *prefix, const char *suffix, fim_prompt *out, proto_error *e) {
    fim_input in = {.prefix = prefix, .prefix_len = strlen(prefix), .suffix = suffix, .suffix_len = strlen(suffix)};
    return fim_build(t, &in, out, e);
}

/* ---- GGUF vocabularies --------------------------------------------------------------- */

/* PRE prefix SUF suffix MID on a byte-level vocabulary without BOS. */
static void psm_case(const char *rel, int32_t pre, int32_t suf, int32_t mid, const int32_t *stops, int n_stops) {
    tokenizer *t = load_rel(rel);
    fim_prompt p;
    proto_error e;
    const char *prefix = "    Hello\n    Hello", *suffix = "\n =";
    assert_true(build(t, prefix, suffix, &p, &e));
    want w = {0};
    put(&w, pre);
    put_case(&w, rel, prefix);
    int n_prefix = w.n - 1;
    put(&w, suf);
    put_case(&w, rel, suffix);
    put(&w, mid);
    expect_prompt(&p, &w);
    assert_int_equal(p.prefix_at, 1);
    assert_int_equal(p.n_prefix, n_prefix);
    assert_false(p.truncated);
    expect_stops(&p, stops, n_stops);
    fim_prompt_free(&p);
    tok_free(t);
}

static void test_starcoder(void **state) {
    (void)state;
    static const int32_t stops[] = {1, 3, 2, 4, 5, 6}; /* every marker; EOS 0 is the engine's */
    psm_case(STARCODER, 1, 3, 2, stops, 6);
}

static void test_refact(void **state) {
    (void)state;
    static const int32_t stops[] = {1, 3, 2, 4, 18};
    psm_case("vocab/ggml-vocab-refact.gguf", 1, 3, 2, stops, 5);
}

/* DeepSeek-Coder: BOS, <｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜>. */
static void test_deepseek_coder(void **state) {
    (void)state;
    const char *rel = "vocab/ggml-vocab-deepseek-coder.gguf";
    tokenizer *t = load_rel(rel);
    fim_prompt p;
    proto_error e;
    assert_true(build(t, "Hello, world!", " Hello World!", &p, &e));
    want w = {0};
    put(&w, 32013);
    put(&w, 32016);
    put_case(&w, rel, "Hello, world!");
    int n_prefix = w.n - 2;
    put(&w, 32015);
    put_case(&w, rel, " Hello World!");
    put(&w, 32017);
    expect_prompt(&p, &w);
    assert_int_equal(p.prefix_at, 2);
    assert_int_equal(p.n_prefix, n_prefix);
    static const int32_t stops[] = {32016, 32015, 32017};
    expect_stops(&p, stops, 3);
    fim_prompt_free(&p);
    /* empty prefix and suffix: the markers alone */
    assert_true(build(t, "", "", &p, &e));
    want m = {{32013, 32016, 32015, 32017}, 4};
    expect_prompt(&p, &m);
    assert_int_equal(p.n_prefix, 0);
    fim_prompt_free(&p);
    tok_free(t);
}

static void test_no_fim_tokens(void **state) {
    (void)state;
    static const char *const rels[] = {LLAMA_SPM, "vocab/ggml-vocab-gpt-2.gguf", "synth/qwen2-bpe-hf"};
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) {
        tokenizer *t = load_rel(rels[i]);
        assert_false(fim_supported(t));
        fim_prompt p;
        proto_error e;
        assert_false(build(t, "def f(", "):", &p, &e));
        assert_int_equal(e.status, 422);
        assert_non_null(strstr(e.message, "this model has no fill-in-the-middle tokens"));
        assert_null(p.ids);
        tok_free(t);
    }
}

/* A prefix given as token ids is used as it is. */
static void test_prefix_ids(void **state) {
    (void)state;
    tokenizer *t = load_rel(STARCODER);
    static const int32_t pre[] = {10, 20, 30};
    fim_input in = {.prefix_ids = pre, .n_prefix_ids = 3, .suffix = "\n =", .suffix_len = 3};
    fim_prompt p;
    proto_error e;
    assert_true(fim_build(t, &in, &p, &e));
    want w = {{1, 10, 20, 30, 3}, 5};
    put_case(&w, STARCODER, "\n =");
    put(&w, 2);
    expect_prompt(&p, &w);
    assert_int_equal(p.prefix_at, 1);
    assert_int_equal(p.n_prefix, 3);
    fim_prompt_free(&p);
    tok_free(t);
}

/* ---- hand-built tokenizer.json vocabularies ---------------------------------------- */

static tokenizer *load_family(fv_family f, char **dir) {
    *dir = tu_mkdtemp();
    assert_true(fv_write(f, *dir));
    char err[CT_ERRLEN];
    tokenizer *t = model_load_tokenizer(*dir, err);
    assert_non_null(t);
    return t;
}

static void drop(tokenizer *t, char *dir) {
    tok_free(t);
    tu_rmrf(dir);
    free(dir);
}

static void test_qwen_coder(void **state) {
    (void)state;
    char *dir;
    tokenizer *t = load_family(FV_QWEN_CODER, &dir);
    fim_prompt p;
    proto_error e;
    const char *gpt2 = "vocab/ggml-vocab-gpt-2.gguf";
    assert_true(build(t, "    Hello\n    Hello", " Hello World!", &p, &e));
    want w = {0};
    put(&w, 50257);
    put_case(&w, gpt2, "    Hello\n    Hello");
    put(&w, 50259);
    put_case(&w, gpt2, " Hello World!");
    put(&w, 50258);
    expect_prompt(&p, &w);
    static const int32_t stops[] = {50257, 50259, 50258, 50260, 50261, 50262};
    expect_stops(&p, stops, 6);
    fim_prompt_free(&p);
    drop(t, dir);
}

/* CodeLlama: BOS ▁<PRE> "▁"-prefixed prefix ▁<SUF> suffix without it ▁<MID>;
 * ▁<EOT> ends the middle. */
static void test_codellama(void **state) {
    (void)state;
    char *dir;
    tokenizer *t = load_family(FV_CODELLAMA, &dir);
    fim_prompt p;
    proto_error e;
    assert_true(build(t, " Hello world", " Hello world", &p, &e));
    want w = {{1, 32000}, 2};
    put_case(&w, LLAMA_SPM, " Hello world"); /* 29871 15043 3186 */
    put(&w, 32001);
    put_case(&w, LLAMA_SPM, "Hello world"); /* 15043 3186: no dummy prefix */
    put(&w, 32002);
    expect_prompt(&p, &w);
    assert_int_equal(p.prefix_at, 2);
    assert_int_equal(p.n_prefix, 3);
    static const int32_t stops[] = {32000, 32001, 32002, 32003};
    expect_stops(&p, stops, 4);
    fim_prompt_free(&p);
    drop(t, dir);
}

/* Codestral: BOS [SUFFIX] suffix [PREFIX] prefix — no middle marker. */
static void test_codestral(void **state) {
    (void)state;
    char *dir;
    tokenizer *t = load_family(FV_CODESTRAL, &dir);
    assert_true(fim_supported(t));
    fim_prompt p;
    proto_error e;
    assert_true(build(t, "Hello World", " Hello, world!", &p, &e));
    want w = {{1, 32001}, 2};
    put_case(&w, LLAMA_SPM, "Hello, world!");
    put(&w, 32000);
    int at = w.n;
    put_case(&w, LLAMA_SPM, "Hello World");
    expect_prompt(&p, &w);
    assert_int_equal(p.prefix_at, at);
    assert_int_equal(p.n_prefix, w.n - at);
    static const int32_t stops[] = {32000, 32001, 32002};
    expect_stops(&p, stops, 3);
    fim_prompt_free(&p);
    /* a suffix that starts a word: its pieces spell it without "▁" (the
     * Metaspace pre-tokenizer would prepend one at a text's start) */
    assert_true(build(t, "x", "Hello, world!", &p, &e));
    char spelled[64] = "";
    for (int i = 2; i < p.prefix_at - 1; i++) strcat(spelled, tok_piece(t, p.ids[i]));
    assert_string_equal(spelled, "Hello,\xE2\x96\x81world!");
    assert_int_equal(p.ids[p.prefix_at - 1], 32000);
    fim_prompt_free(&p);
    drop(t, dir);
}

/* CodeGemma: BOS <|fim_prefix|> … <|fim_suffix|> … <|fim_middle|> on a
 * vocabulary without dummy prefix; <|file_separator|> ends the middle. */
static void test_codegemma(void **state) {
    (void)state;
    char *dir;
    tokenizer *t = load_family(FV_CODEGEMMA, &dir);
    fim_prompt p;
    proto_error e;
    assert_true(build(t, " Hello world", " Hello World", &p, &e));
    want w = {{1, 32000}, 2};
    put_case(&w, LLAMA_SPM, "Hello world");
    put(&w, 32002);
    put_case(&w, LLAMA_SPM, "Hello World");
    put(&w, 32001);
    expect_prompt(&p, &w);
    static const int32_t stops[] = {32000, 32002, 32001, 32003};
    expect_stops(&p, stops, 4);
    fim_prompt_free(&p);
    drop(t, dir);
}

/* ---- llama.cpp's /infill layout: repository header, files, budget ------------------ */

static const fim_file FILES[] = {{"a.py", 4, "x = 1\n", 6}, {NULL, 0, "y", 1}};

/* StarCoder 2 has <repo_name> and <file_sep>: [REP]myproject\n
 * ([SEP]name\ntext)* [SEP]filename\n, then the hole. */
static void test_repo_layout(void **state) {
    (void)state;
    tokenizer *t = load_rel(STARCODER);
    fim_input in = {.prefix = "def f(", .prefix_len = 6, .suffix = "):", .suffix_len = 2, .files = FILES,
                    .n_files = 2, .repo = true};
    fim_prompt p;
    proto_error e;
    assert_true(fim_build(t, &in, &p, &e));
    want w = {{5}, 1};
    put_text(&w, t, "myproject\n");
    put(&w, 6);
    put_text(&w, t, "a.py\n");
    put_text(&w, t, "x = 1\n");
    put(&w, 6);
    put_text(&w, t, "tmp\n"); /* llama.cpp's name for a file without one */
    put_text(&w, t, "y");
    put(&w, 6);
    put_text(&w, t, "filename\n");
    put(&w, 1);
    int at = w.n;
    put_text(&w, t, "def f(");
    put(&w, 3);
    put_text(&w, t, "):");
    put(&w, 2);
    expect_prompt(&p, &w);
    assert_int_equal(p.prefix_at, at);
    fim_prompt_free(&p);
    /* without `repo` only the files come first (what /v1/completions never sends) */
    in.repo = false;
    in.n_files = 0;
    assert_true(fim_build(t, &in, &p, &e));
    assert_int_equal(p.ids[0], 1);
    fim_prompt_free(&p);
    tok_free(t);
}

/* DeepSeek-Coder has neither: each file after llama.cpp's snippet line, and
 * the BOS first (llama.cpp puts it after the files). */
static void test_files_without_separator(void **state) {
    (void)state;
    tokenizer *t = load_rel("vocab/ggml-vocab-deepseek-coder.gguf");
    fim_input in = {.prefix = "a", .prefix_len = 1, .suffix = "b", .suffix_len = 1, .files = FILES, .n_files = 2,
                    .repo = true};
    fim_prompt p;
    proto_error e;
    assert_true(fim_build(t, &in, &p, &e));
    want w = {{32013}, 1};
    put_text(&w, t, "\n\n--- snippet ---\n\n");
    put_text(&w, t, "x = 1\n");
    put_text(&w, t, "\n\n--- snippet ---\n\n");
    put_text(&w, t, "y");
    put(&w, 32016);
    put_text(&w, t, "a");
    put(&w, 32015);
    put_text(&w, t, "b");
    put(&w, 32017);
    expect_prompt(&p, &w);
    fim_prompt_free(&p);
    tok_free(t);
}

/* n tokens of text (our tokenizer) into ids. */
static int tokens_of(const tokenizer *t, const char *text, int32_t **ids) {
    char err[CT_ERRLEN];
    return tok_encode(t, text, strlen(text), false, false, ids, err);
}

/* llama.cpp's cut: the suffix gets a quarter of the room the markers
 * leave (more when the prefix is short), the prefix keeps its end, the
 * suffix its start, the files fill the rest keeping their end. */
static void test_budget(void **state) {
    (void)state;
    tokenizer *t = load_rel(STARCODER);
    const char *pre = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                      "sixteen seventeen eighteen nineteen twenty";
    const char *suf = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho";
    int32_t *pi, *si;
    int np = tokens_of(t, pre, &pi), ns = tokens_of(t, suf, &si);
    assert_true(np >= 20 && ns >= 17);
    fim_input in = {.prefix = pre, .prefix_len = strlen(pre), .suffix = suf, .suffix_len = strlen(suf), .budget = 23};
    fim_prompt p;
    proto_error e;
    assert_true(fim_build(t, &in, &p, &e)); /* room 20: suffix 5, prefix 15 */
    assert_true(p.truncated);
    assert_int_equal(p.n, 23);
    want w = {{1}, 1};
    for (int i = np - 15; i < np; i++) put(&w, pi[i]);
    put(&w, 3);
    for (int i = 0; i < 5; i++) put(&w, si[i]);
    put(&w, 2);
    expect_prompt(&p, &w);
    fim_prompt_free(&p);
    /* a short prefix leaves the suffix the rest */
    in.prefix = "one";
    in.prefix_len = 3;
    assert_true(fim_build(t, &in, &p, &e));
    assert_int_equal(p.n, 23);
    assert_int_equal(p.n_prefix, 1);
    assert_memory_equal(p.ids + 3, si, 16 * sizeof *si);
    fim_prompt_free(&p);
    /* room enough: nothing cut */
    in.budget = 3 + np + ns;
    in.prefix = pre;
    in.prefix_len = strlen(pre);
    assert_true(fim_build(t, &in, &p, &e));
    assert_false(p.truncated);
    assert_int_equal(p.n, 3 + np + ns);
    fim_prompt_free(&p);
    /* the files get what is left, from their end */
    in.files = FILES;
    in.n_files = 1;
    in.repo = true;
    in.budget = 3 + np + ns + 2;
    assert_true(fim_build(t, &in, &p, &e));
    assert_true(p.truncated);
    want fw = {{5}, 1};
    put_text(&fw, t, "myproject\n");
    put(&fw, 6);
    put_text(&fw, t, "a.py\n");
    put_text(&fw, t, "x = 1\n");
    put(&fw, 6);
    put_text(&fw, t, "filename\n");
    assert_int_equal(p.n, in.budget);
    assert_memory_equal(p.ids, fw.v + fw.n - 2, 2 * sizeof *fw.v); /* no BOS in this vocabulary */
    assert_int_equal(p.ids[2], 1);
    fim_prompt_free(&p);
    /* fewer tokens than the markers */
    in.budget = 2;
    assert_false(fim_build(t, &in, &p, &e));
    assert_int_equal(e.status, 400);
    free(pi);
    free(si);
    tok_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_refact),
        cmocka_unit_test(test_deepseek_coder),
        cmocka_unit_test(test_no_fim_tokens),
        cmocka_unit_test(test_prefix_ids),
        cmocka_unit_test(test_qwen_coder),
        cmocka_unit_test(test_codellama),
        cmocka_unit_test(test_codestral),
        cmocka_unit_test(test_codegemma),
        cmocka_unit_test(test_repo_layout),
        cmocka_unit_test(test_files_without_separator),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
