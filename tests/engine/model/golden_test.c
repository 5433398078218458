/*
 * golden_test.c — the whole model against independent references.
 *
 * For every model of ../shared/models/reference (every *.json there) (float64 numpy
 * forward passes, cross-checked with llama.cpp): the top-10 logits at every
 * prompt position and every greedy step must be within the stated tolerance,
 * the 48 greedy ids must match, and the text cases must tokenize to the
 * reference ids and continue greedily to the reference ids.  GGUF and
 * safetensors forms of the same weights must agree with each other.  The
 * checks are tests/support/golden.c's.  Files with block-quantized matrices
 * run the native int8 kernels and are held to the references' bounds for
 * such kernels (golden_native.c); golden_quant_test.c checks their exact
 * dequantization through F32 copies.
 *
 * The references assume f32 keys and values, so those runs use an F32 KV
 * cache and stay exact.  The engine's default F16 cache (and BF16, Q8_0)
 * is held to a looser bound: llama.cpp's own F16 cache moves these logits
 * by up to 0.028 (synthetic models) / 0.027 (stories260K) (models/README.md
 * "Tolerances"); ctgi keeps q in f32 and widens the cached values exactly,
 * so it must stay within 0.05.  Greedy ids must match wherever the
 * reference margin exceeds twice the bound; a prompt's comparison ends at
 * a divergence under a smaller margin (later steps see other tokens).
 * Block-quantized files through a typed cache keep their native bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "support/golden.h"
#include "support/testutil.h"

#define REF_TEST(fn, file) \
    static void fn(void **state) { (void)state; golden_run_reference("reference/" file, NULL); }
REF_TEST(test_llama_spm_f32, "llama-spm-f32.json")
REF_TEST(test_llama_spm_f16, "llama-spm-f16.json")
REF_TEST(test_llama_spm_q8_0, "llama-spm-q8_0.json")
REF_TEST(test_llama_spm_hf, "llama-spm-hf.json")
REF_TEST(test_llama_spm_hf_bf16, "llama-spm-hf-bf16.json")
REF_TEST(test_qwen2_bpe_f32, "qwen2-bpe-f32.json")
REF_TEST(test_qwen2_bpe_hf, "qwen2-bpe-hf.json")
REF_TEST(test_stories260k, "stories260K.json")
/* the quantized family on the native int8 kernels (golden_run_native) */
REF_TEST(test_q4_0, "llama-spm-256-q4_0.json")
REF_TEST(test_q5_0, "llama-spm-256-q5_0.json")
REF_TEST(test_q4_k_m, "llama-spm-256-q4_k_m.json")
REF_TEST(test_q5_k_m, "llama-spm-256-q5_k_m.json")
REF_TEST(test_q3_k_m, "llama-spm-256-q3_k_m.json")
REF_TEST(test_q2_k, "llama-spm-256-q2_k.json")
REF_TEST(test_iq4_nl, "llama-spm-256-iq4_nl.json")
REF_TEST(test_256_q8_0, "llama-spm-256-q8_0.json")

/* The same references through typed KV caches (see the top of the file).
 * F16: the bound llama.cpp's own F16 cache nearly reaches (0.028); ctgi
 * measured <= 0.019.  BF16 (8 significant bits) and Q8_0 have no llama.cpp
 * figure here: about twice what ctgi measured (BF16 <= 0.16 on stories260K,
 * Q8_0 0.38 on llama-spm-256, whose logits have std ~24). */
#define KV_TEST(fn, file, dt, tol) \
    static void fn(void **state) { (void)state; golden_run_reference_kv("reference/" file, NULL, dt, tol); }
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
    golden_runner a, b;
    assert_true(golden_open(&a, pa));
    assert_true(golden_open(&b, pb));
    int vocab = a.m->cfg.vocab, n = 100;
    assert_int_equal(vocab, b.m->cfg.vocab);
    int32_t ids[100];
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 7919 + 13) % (vocab - 300)) + 259;
    golden_eval(&a, ids, n, 0);
    golden_eval(&b, ids, n, 0);
    double worst = 0;
    for (size_t i = 0; i < (size_t)n * vocab; i++) {
        double d = fabs(a.logits[i] - b.logits[i]);
        if (d > worst) worst = d;
    }
    printf("# %s vs %s: max |logit diff| over %d positions = %.2e\n", a_rel, b_rel, n, worst);
    assert_true(worst < 1e-3);
    golden_close(&a);
    golden_close(&b);
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
        cmocka_unit_test(test_q4_0),               cmocka_unit_test(test_q5_0),
        cmocka_unit_test(test_q4_k_m),             cmocka_unit_test(test_q5_k_m),
        cmocka_unit_test(test_q3_k_m),             cmocka_unit_test(test_q2_k),
        cmocka_unit_test(test_iq4_nl),             cmocka_unit_test(test_256_q8_0),
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
