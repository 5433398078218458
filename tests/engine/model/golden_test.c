/*
 * golden_test.c — the whole model against independent references.
 *
 * For every model of ../shared/models/reference (every *.json there) (float64 numpy
 * forward passes, cross-checked with llama.cpp): the top-10 logits at every
 * prompt position and every greedy step must be within the stated tolerance,
 * the 48 greedy ids must match, and the text cases must tokenize to the
 * reference ids and continue greedily to the reference ids.  GGUF and
 * safetensors forms of the same weights must agree with each other.
 *
 * The references assume f32 keys and values, so those runs use an F32 KV
 * cache and stay exact.  The engine's default F16 cache (and BF16, Q8_0)
 * is held to a looser bound: llama.cpp's own F16 cache moves these logits
 * by up to 0.028 (synthetic models) / 0.027 (stories260K) (models/README.md
 * "Tolerances"); ctgi keeps q in f32 and widens the cached values exactly,
 * so it must stay within 0.05.  Greedy ids must match wherever the
 * reference margin exceeds twice the bound; a prompt's comparison ends at
 * a divergence under a smaller margin (later steps see other tokens).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "support/testutil.h"

typedef struct {
    model *m;
    pool *pool;
    fwd_ctx *fwd;
    kv_pool *kv;   /* 512 positions in blocks of 16, no prefix caching, of the run's type */
    kv_seq seq;    /* the one sequence; restarted by eval() at position 0 */
    int32_t ids[512]; /* its tokens so far */
    float *logits; /* (max_tokens, vocab) */
} runner;

enum { MAX_TOKENS = 256, KV_BLOCK = 16, KV_POSITIONS = 512 };

static bool runner_open(runner *r, const char *path, kv_dtype dt) {
    char err[CT_ERRLEN];
    memset(r, 0, sizeof *r);
    r->m = model_load(path, err);
    if (!r->m) {
        print_error("model_load(%s): %s\n", path, err);
        return false;
    }
    r->pool = pool_create(2, 0);
    r->fwd = fwd_create(r->m, r->pool, MAX_TOKENS);
    r->kv = kv_pool_create(r->m->cfg.n_layers, r->m->cfg.n_kv_heads * r->m->cfg.head_dim, KV_BLOCK,
                           KV_POSITIONS / KV_BLOCK, dt, false);
    kv_seq_init(&r->seq);
    r->logits = malloc((size_t)MAX_TOKENS * r->m->cfg.vocab * sizeof(float));
    return r->pool && r->fwd && r->kv && r->logits;
}

static void runner_close(runner *r) {
    free(r->logits);
    if (r->kv) kv_seq_release(r->kv, &r->seq);
    kv_pool_free(r->kv);
    fwd_free(r->fwd);
    pool_free(r->pool);
    model_free(r->m);
}

/* Evaluate ids[0..n) at positions start..; all logits into r->logits.
 * start 0 begins a new sequence. */
static void eval(runner *r, const int32_t *ids, int n, int start) {
    int pos[MAX_TOKENS], seq[MAX_TOKENS] = {0};
    const kv_seq *seqs[1] = {&r->seq};
    assert_true(start + n <= KV_POSITIONS);
    if (start == 0) kv_seq_release(r->kv, &r->seq);
    for (int i = 0; i < n; i++) {
        pos[i] = start + i;
        r->ids[start + i] = ids[i];
    }
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = n};
    assert_true(kv_seq_reserve(r->kv, &r->seq, start + n));
    assert_true(fwd_eval(r->fwd, kv_pool_store(r->kv), &b, r->logits));
    kv_seq_commit(r->kv, &r->seq, r->ids, start + n);
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* max |logit[id] - ref| over a top10 list [[id, logit], ...] */
static double top10_diff(const float *logits, json_t *top10) {
    double worst = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(top10, i, pair) {
        int id = (int)json_integer_value(json_array_get(pair, 0));
        double d = fabs(logits[id] - json_number_value(json_array_get(pair, 1)));
        if (d > worst) worst = d;
    }
    return worst;
}

static int json_ids(json_t *arr, int32_t *out, int cap) {
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (n < cap) out[n++] = (int32_t)json_integer_value(v);
    return n;
}

/* How one run is judged: logits within tol of the reference; a greedy id
 * that differs is a failure unless the step's margin (the reference's, or
 * for text cases the engine's own top1 - top2) is below 2 tol, which ends
 * that prompt's comparison.  exact: every greedy id must match. */
typedef struct {
    double tol;
    bool exact;
    double worst;  /* max |logit - reference| seen */
    int diverged;  /* prompts ended early at a small-margin divergence */
} judge;

static double top2_margin(const float *x, int n) {
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (x[i] > a) b = a, a = x[i];
        else if (x[i] > b) b = x[i];
    }
    return (double)a - b;
}

/* The greedy id at a step: true to go on, false to end the prompt here. */
static bool greedy_ok(judge *j, const char *name, int step, int32_t got, int32_t want, double margin) {
    if (got == want) return true;
    if (!j->exact && margin < 2 * j->tol) {
        print_message("# %s: greedy step %d: %d vs reference %d under margin %.3g: compared up to here\n", name,
                      step, got, want, margin);
        j->diverged++;
        return false;
    }
    fail_msg("%s: greedy step %d: got id %d, reference %d (margin %.3g)", name, step, got, want, margin);
    return false;
}

/* One prompt: prompt logits, then 48 greedy steps with their logits. */
static void check_prompt(runner *r, json_t *p, judge *j) {
    const char *name = json_string_value(json_object_get(p, "name"));
    int32_t ids[MAX_TOKENS], want[64];
    int n = json_ids(json_object_get(p, "ids"), ids, MAX_TOKENS);
    json_t *top10 = json_object_get(p, "top10"), *greedy = json_object_get(p, "greedy");
    json_t *margins = json_object_get(greedy, "margin");
    int vocab = r->m->cfg.vocab;
    eval(r, ids, n, 0);
    for (int i = 0; i < n; i++) {
        double d = top10_diff(r->logits + (size_t)i * vocab, json_array_get(top10, i));
        if (d > j->worst) j->worst = d;
        if (d > j->tol) fail_msg("%s: prompt position %d: logit diff %.3g > %.3g", name, i, d, j->tol);
    }
    int n_want = json_ids(json_object_get(greedy, "ids"), want, 64);
    json_t *gtop = json_object_get(greedy, "top10");
    float *last = malloc((size_t)vocab * sizeof(float));
    memcpy(last, r->logits + (size_t)(n - 1) * vocab, (size_t)vocab * sizeof(float));
    for (int k = 0; k < n_want; k++) {
        double d = top10_diff(last, json_array_get(gtop, k));
        if (d > j->worst) j->worst = d;
        if (d > j->tol) fail_msg("%s: greedy step %d: logit diff %.3g > %.3g", name, k, d, j->tol);
        int32_t got = argmax(last, vocab);
        if (!greedy_ok(j, name, k, got, want[k], json_number_value(json_array_get(margins, k)))) break;
        eval(r, &got, 1, n + k);
        memcpy(last, r->logits, (size_t)vocab * sizeof(float));
    }
    free(last);
}

/* Text cases: tokenization with BOS, then the greedy continuation. */
static void check_text_case(runner *r, json_t *tc, judge *j) {
    const char *text = json_string_value(json_object_get(tc, "text"));
    int32_t want[MAX_TOKENS], cont[64], *ids = NULL;
    int n_want = json_ids(json_object_get(tc, "ids"), want, MAX_TOKENS);
    int n_cont = json_ids(json_object_get(tc, "ref_greedy_ids"), cont, 64);
    char err[CT_ERRLEN];
    int n = tok_encode(r->m->tok, text, strlen(text), true, false, &ids, err);
    if (n < 0) fail_msg("tokenize '%s': %s", text, err);
    assert_int_equal(n, n_want);
    for (int i = 0; i < n; i++)
        if (ids[i] != want[i]) fail_msg("'%s': id %d is %d, reference %d", text, i, ids[i], want[i]);
    eval(r, ids, n, 0);
    int vocab = r->m->cfg.vocab;
    const float *row = r->logits + (size_t)(n - 1) * vocab;
    for (int k = 0; k < n_cont; k++) {
        int32_t next = argmax(row, vocab);
        if (!greedy_ok(j, text, k, next, cont[k], top2_margin(row, vocab))) break;
        eval(r, &next, 1, n + k);
        row = r->logits;
    }
    free(ids);
}

/* tol 0: the file's own tolerance and exact greedy ids (an F32 cache). */
static void run_reference(const char *ref_name, kv_dtype dt, double tol) {
    char *ref_path = tu_model_path(ref_name);
    json_error_t je;
    json_t *ref = json_load_file(ref_path, 0, &je);
    if (!ref) fail_msg("%s: %s", ref_path, je.text);
    char *model_path = tu_model_path(json_string_value(json_object_get(json_object_get(ref, "model"), "path")));
    runner r;
    assert_true(runner_open(&r, model_path, dt));
    judge j = {tol, tol == 0, 0, 0};
    if (j.exact) j.tol = json_number_value(json_object_get(json_object_get(ref, "tolerance"), "logit_abs_tol"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(ref, "prompts"), i, p) check_prompt(&r, p, &j);
    json_array_foreach(json_object_get(ref, "text_cases"), i, p) check_text_case(&r, p, &j);
    printf("# %s, KV %s: max |logit - reference| over top-10 = %.2e (tolerance %.0e), %d comparison(s) ended "
           "at a small-margin divergence\n",
           ref_name, kv_dtype_name(dt), j.worst, j.tol, j.diverged);
    runner_close(&r);
    json_decref(ref);
    free(ref_path);
    free(model_path);
}

#define REF_TEST(fn, file) \
    static void fn(void **state) { (void)state; run_reference("reference/" file, KV_F32, 0); }
REF_TEST(test_llama_spm_f32, "llama-spm-f32.json")
REF_TEST(test_llama_spm_f16, "llama-spm-f16.json")
REF_TEST(test_llama_spm_q8_0, "llama-spm-q8_0.json")
REF_TEST(test_llama_spm_hf, "llama-spm-hf.json")
REF_TEST(test_llama_spm_hf_bf16, "llama-spm-hf-bf16.json")
REF_TEST(test_qwen2_bpe_f32, "qwen2-bpe-f32.json")
REF_TEST(test_qwen2_bpe_hf, "qwen2-bpe-hf.json")
REF_TEST(test_stories260k, "stories260K.json")
REF_TEST(test_llama_spm_256_q8_0, "llama-spm-256-q8_0.json") /* head_dim 64: every KV type applies */

/* The same references through typed KV caches (see the top of the file).
 * F16: the bound llama.cpp's own F16 cache nearly reaches (0.028); ctgi
 * measured <= 0.019.  BF16 (8 significant bits) and Q8_0 have no llama.cpp
 * figure here: about twice what ctgi measured (BF16 <= 0.16 on stories260K,
 * Q8_0 0.38 on llama-spm-256, whose logits have std ~24). */
#define KV_TEST(fn, file, dt, tol) \
    static void fn(void **state) { (void)state; run_reference("reference/" file, dt, tol); }
#define TOL_F16 0.05
#define TOL_BF16 0.3
#define TOL_Q8_0 0.8
KV_TEST(test_kv_f16_llama_spm_f32, "llama-spm-f32.json", KV_F16, TOL_F16)
KV_TEST(test_kv_f16_qwen2_bpe_f32, "qwen2-bpe-f32.json", KV_F16, TOL_F16)
KV_TEST(test_kv_f16_stories260k, "stories260K.json", KV_F16, TOL_F16)
KV_TEST(test_kv_f16_llama_spm_256_q8_0, "llama-spm-256-q8_0.json", KV_F16, TOL_F16)
KV_TEST(test_kv_bf16_stories260k, "stories260K.json", KV_BF16, TOL_BF16)
KV_TEST(test_kv_bf16_llama_spm_256_q8_0, "llama-spm-256-q8_0.json", KV_BF16, TOL_BF16)
KV_TEST(test_kv_q8_0_llama_spm_256_q8_0, "llama-spm-256-q8_0.json", KV_Q8_0, TOL_Q8_0)

/* The same weights as GGUF (interleaved q/k) and as safetensors
 * (rotate-half q/k) must compute the same logits on a long prompt. */
static void compare_formats(const char *a_rel, const char *b_rel) {
    char *pa = tu_model_path(a_rel), *pb = tu_model_path(b_rel);
    runner a, b;
    assert_true(runner_open(&a, pa, KV_F32));
    assert_true(runner_open(&b, pb, KV_F32));
    int vocab = a.m->cfg.vocab, n = 100;
    assert_int_equal(vocab, b.m->cfg.vocab);
    int32_t ids[100];
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 7919 + 13) % (vocab - 300)) + 259;
    eval(&a, ids, n, 0);
    eval(&b, ids, n, 0);
    double worst = 0;
    for (size_t i = 0; i < (size_t)n * vocab; i++) {
        double d = fabs(a.logits[i] - b.logits[i]);
        if (d > worst) worst = d;
    }
    printf("# %s vs %s: max |logit diff| over %d positions = %.2e\n", a_rel, b_rel, n, worst);
    assert_true(worst < 1e-3);
    runner_close(&a);
    runner_close(&b);
    free(pa);
    free(pb);
}

static void test_gguf_vs_safetensors_llama(void **state) {
    (void)state;
    compare_formats("synth/llama-spm-f32.gguf", "synth/llama-spm-hf");
}

static void test_gguf_vs_safetensors_qwen2(void **state) {
    (void)state;
    compare_formats("synth/qwen2-bpe-f32.gguf", "synth/qwen2-bpe-hf");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm_f32),      cmocka_unit_test(test_llama_spm_f16),
        cmocka_unit_test(test_llama_spm_q8_0),     cmocka_unit_test(test_llama_spm_hf),
        cmocka_unit_test(test_llama_spm_hf_bf16),  cmocka_unit_test(test_qwen2_bpe_f32),
        cmocka_unit_test(test_qwen2_bpe_hf),       cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_llama_spm_256_q8_0),
        cmocka_unit_test(test_kv_f16_llama_spm_f32),
        cmocka_unit_test(test_kv_f16_qwen2_bpe_f32),
        cmocka_unit_test(test_kv_f16_stories260k),
        cmocka_unit_test(test_kv_f16_llama_spm_256_q8_0),
        cmocka_unit_test(test_kv_bf16_stories260k),
        cmocka_unit_test(test_kv_bf16_llama_spm_256_q8_0),
        cmocka_unit_test(test_kv_q8_0_llama_spm_256_q8_0),
        cmocka_unit_test(test_gguf_vs_safetensors_llama),
        cmocka_unit_test(test_gguf_vs_safetensors_qwen2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
