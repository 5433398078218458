/*
 * arch_ref_test.c — architectures llama.cpp's references cannot cover
 * (their llama.cpp has no qwen3, and its llama ignores sliding windows),
 * against an independent float64 forward pass: tests/engine/model/
 * arch_ref.py (Debian's python3-numpy; its own GGUF reader and forward
 * pass, interleaved RoPE on the file's llama rows, sharing no code with
 * ctgi).
 *
 * Seeded models written here by synth_model: qwen3 (QK RMSNorm, head_dim
 * 32 with dim 64 and 4 heads, GQA), a llama with a sliding window of 8 on
 * every layer (Mistral's layout) over 48 positions, and a qwen3 with a
 * window too.  As a second opinion beside llama.cpp's references, the
 * same comparison on three of ../shared/models/synth/arch/'s files: gemma2
 * (soft-capping, post norms, alternating windows), gptneox (LayerNorm,
 * parallel residual, partial rotary) and mpt (ALiBi, qkv clamp).  And the
 * exact erf GELU that Hugging Face configs may ask for (llama.cpp has
 * none): mpt and gptneox as HF directories (support/hf_write.c) against
 * the reference with --gelu erf.
 *
 * Rule, as for the float64 goldens of ../shared/models (README,
 * "Tolerances"): every [id, logit] of the reference's top-10 at every
 * prompt position and greedy step within 1e-3 of the engine's logit (F32
 * KV cache; a float32 engine is ~1e-5 off), greedy ids equal wherever the
 * reference margin exceeds 2e-3; a divergence under a smaller margin ends
 * that prompt's comparison.
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

#include "support/golden.h"
#include "support/hf_write.h"
#include "support/synth_model.h"
#include "support/testutil.h"

#define REF_SCRIPT "tests/engine/model/arch_ref.py"
#define PYTHON "/usr/bin/python3" /* Debian's, with python3-numpy (scripts/install-deps.sh --test) */
#define LOGIT_TOL 1e-3
enum { PROMPT_LEN = 20, N_GREEDY = 28 };

/* The reference's output for model `path` on ids: parsed JSON. */
static json_t *reference(const char *path, const int32_t *ids, int n, int n_greedy, bool gelu_erf) {
    char cmd[8192];
    int len = snprintf(cmd, sizeof cmd, "%s %s '%s' -n %d %s--ids ", PYTHON, REF_SCRIPT, path, n_greedy,
                       gelu_erf ? "--gelu erf " : "");
    for (int i = 0; i < n; i++) len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%d", i ? "," : "", ids[i]);
    int status = -1;
    char *out = tu_run(cmd, &status);
    if (status != 0 || !out) fail_msg("%s failed (status %d): %s", cmd, status, out ? out : "");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) fail_msg("arch_ref.py output: %s", je.text);
    free(out);
    return j;
}

static double top10_diff(const float *z, json_t *top) {
    double worst = 0;
    for (size_t i = 0; i < json_array_size(top); i++) {
        json_t *e = json_array_get(top, i);
        double d = fabs(z[json_integer_value(json_array_get(e, 0))] - json_number_value(json_array_get(e, 1)));
        worst = isnan(d) ? INFINITY : d > worst ? d : worst;
    }
    return worst;
}

/* The model at path (GGUF, or an HF directory of ref_path's weights)
 * against arch_ref.py on the GGUF ref_path, from an empty F32 cache: the
 * prompt in one batch, then one token per step. */
static void compare_with(const char *label, const char *path, const char *ref_path, bool gelu_erf, uint64_t seed) {
    golden_runner r;
    assert_true(golden_open_kv(&r, path, KV_F32));
    int vocab = r.m->cfg.vocab;
    int32_t ids[PROMPT_LEN];
    ids[0] = 1; /* BOS */
    for (int i = 1; i < PROMPT_LEN; i++) ids[i] = (int32_t)tu_rnd_in(&seed, 259, vocab - 1);
    json_t *ref = reference(ref_path, ids, PROMPT_LEN, N_GREEDY, gelu_erf);
    json_t *ptop = json_object_get(ref, "prompt_top10"), *g = json_object_get(ref, "greedy");
    double worst = 0;
    golden_eval(&r, ids, PROMPT_LEN, 0);
    for (int i = 0; i < PROMPT_LEN; i++) {
        double d = top10_diff(r.logits + (size_t)i * vocab, json_array_get(ptop, (size_t)i));
        if (d > LOGIT_TOL) fail_msg("%s: prompt position %d: |logit - reference| %.3g", label, i, d);
        worst = d > worst ? d : worst;
    }
    float *row = malloc((size_t)vocab * sizeof(float));
    memcpy(row, r.logits + (size_t)(PROMPT_LEN - 1) * vocab, (size_t)vocab * sizeof(float));
    int matched = 0;
    for (int k = 0; k < N_GREEDY; k++) {
        double d = top10_diff(row, json_array_get(json_object_get(g, "top10"), (size_t)k));
        if (d > LOGIT_TOL) fail_msg("%s: greedy step %d: |logit - reference| %.3g", label, k, d);
        worst = d > worst ? d : worst;
        int32_t got = golden_argmax(row, vocab);
        int32_t want = (int32_t)json_integer_value(json_array_get(json_object_get(g, "ids"), (size_t)k));
        double margin = json_number_value(json_array_get(json_object_get(g, "margin"), (size_t)k));
        if (got != want) {
            if (margin > 2 * LOGIT_TOL) fail_msg("%s: greedy step %d: %d, reference %d (margin %.4f)", label, k, got, want, margin);
            printf("# %s: step %d: %d vs %d under margin %.4f: compared up to here\n", label, k, got, want, margin);
            break;
        }
        matched++;
        golden_eval(&r, &got, 1, PROMPT_LEN + k);
        memcpy(row, r.logits, (size_t)vocab * sizeof(float));
    }
    printf("# %s: max |logit - float64| over top-10 = %.2e (tolerance %.0e), greedy %d of %d\n", label, worst,
           LOGIT_TOL, matched, N_GREEDY);
    free(row);
    json_decref(ref);
    golden_close(&r);
}

static void compare(const char *label, const char *path, uint64_t seed) { compare_with(label, path, path, false, seed); }

/* A seeded model of config c written as GGUF into a scratch directory,
 * compared, removed. */
static void compare_synth(const char *label, synth_config c) {
    char *dir = tu_mkdtemp(), *vocab = tu_model_path("stories260K.gguf"), path[4096], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, label);
    c.vocab_gguf = vocab;
    if (!synth_write_gguf(&c, path, err)) fail_msg("%s", err);
    compare(label, path, c.seed);
    tu_rmrf(dir);
    free(dir);
    free(vocab);
}

static synth_config base(const char *arch, uint64_t seed) {
    synth_config c = synth_default();
    c.arch = arch;
    c.ctx_len = 256;
    c.seed = seed;
    return c;
}

static void test_qwen3(void **state) {
    (void)state;
    synth_config c = base("qwen3", 3301);
    c.head_dim = 32; /* q width 128 != dim 64 */
    c.norm_eps = 1e-6f;
    c.rope_theta = 1000000.0f;
    compare_synth("qwen3", c);
}

static void test_llama_sliding_window(void **state) {
    (void)state;
    synth_config c = base("llama", 3302);
    c.n_layers = 3;
    c.sliding_window = 8; /* 48 positions: most keys fall out of it */
    compare_synth("llama-swa8", c);
}

static void test_qwen3_sliding_window(void **state) {
    (void)state;
    synth_config c = base("qwen3", 3303);
    c.sliding_window = 5;
    compare_synth("qwen3-swa5", c);
}

static void test_shared_file(const char *name, uint64_t seed) {
    char rel[128];
    snprintf(rel, sizeof rel, "synth/arch/%s.gguf", name);
    char *path = tu_model_path(rel);
    compare(name, path, seed);
    free(path);
}

static void test_gemma2(void **state) { (void)state; test_shared_file("gemma2", 3304); }
static void test_gptneox(void **state) { (void)state; test_shared_file("gptneox", 3305); }
static void test_mpt(void **state) { (void)state; test_shared_file("mpt", 3306); }

/* The exact (erf) GELU, which only Hugging Face configs ask for (GGUF
 * families all run the tanh form): the shared file's weights as an HF
 * directory saying "gelu" (mpt: always), against the reference's erf GELU. */
static void test_hf_erf_gelu(const char *name, uint64_t seed) {
    char rel[128], err[CT_ERRLEN], *dir = tu_mkdtemp(), hf[4096];
    snprintf(rel, sizeof rel, "synth/arch/%s.gguf", name);
    snprintf(hf, sizeof hf, "%s/hf", dir);
    char *path = tu_model_path(rel);
    hf_write_opts o = {.gelu_erf = true};
    if (!hf_write_from_gguf(path, hf, &o, err)) fail_msg("%s", err);
    char label[64];
    snprintf(label, sizeof label, "%s-hf-erf", name);
    compare_with(label, hf, path, true, seed);
    tu_rmrf(dir);
    free(dir);
    free(path);
}

static void test_mpt_hf(void **state) { (void)state; test_hf_erf_gelu("mpt", 3307); }
static void test_gptneox_hf_erf(void **state) { (void)state; test_hf_erf_gelu("gptneox", 3308); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3),  cmocka_unit_test(test_llama_sliding_window),
        cmocka_unit_test(test_qwen3_sliding_window),
        cmocka_unit_test(test_gemma2), cmocka_unit_test(test_gptneox), cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_mpt_hf), cmocka_unit_test(test_gptneox_hf_erf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
