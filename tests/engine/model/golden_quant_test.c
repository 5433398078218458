/*
 * golden_quant_test.c — exact dequantization of llama.cpp's quantized
 * files, proved on the whole model.
 *
 * synth/llama-spm-256-<type>.gguf are made by llama-quantize from one F32
 * master; reference/llama-spm-256-<type>.json is a float64 forward pass of
 * their weights dequantized by gguf-py (bit-identical to ggml's
 * dequantize_row_*, see ../shared/models/README.md).  Each file is
 * rewritten here to an all-F32 GGUF with dt_to_f32 (synth_gguf_rewrite
 * .to_f32) and that F32 file must meet the reference's logit_abs_tol
 * (1e-3): a wrong bit in any dequantizer moves the logits far more (the
 * logits' std is ~24).  Going through an F32 file keeps this a test of
 * dt_to_f32 alone, whatever the loader does with native types.
 *
 * Types covered: Q4_0 Q5_0 Q8_0 IQ4_NL (blocks of 32), Q2_K Q3_K Q4_K Q5_K
 * Q6_K (256).  Q4_1, Q5_1 and IQ4_XS have no file (dtype_test.c checks
 * them on hand-built blocks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "support/golden.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *const k_files[] = {"q4_0", "q5_0", "q4_k_m", "q5_k_m", "q3_k_m", "q2_k", "iq4_nl", "q8_0"};

static bool exists(const char *path) { return access(path, R_OK) == 0; }

/* The scratch directory for the F32 copies (71 MB each, one at a time),
 * removed by the teardown even when a check fails. */
static int make_dir(void **state) {
    *state = tu_mkdtemp();
    return *state ? 0 : -1;
}

static int remove_dir(void **state) {
    tu_rmrf(*state);
    free(*state);
    return 0;
}

static void test_dequantized_f32_copies(void **state) {
    char *dst = NULL, err[CT_ERRLEN];
    assert_true(asprintf(&dst, "%s/f32.gguf", (const char *)*state) > 0);
    int present = 0, checked = 0;
    for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
        char gguf_rel[128], ref_rel[128];
        snprintf(gguf_rel, sizeof gguf_rel, "synth/llama-spm-256-%s.gguf", k_files[i]);
        snprintf(ref_rel, sizeof ref_rel, "reference/llama-spm-256-%s.json", k_files[i]);
        char *src = tu_model_path(gguf_rel), *ref = tu_model_path(ref_rel);
        bool here = exists(src) && exists(ref);
        free(ref);
        if (!here) {
            printf("# %s: absent, skipped\n", gguf_rel);
            free(src);
            continue;
        }
        present++;
        if (!synth_gguf_rewrite(src, dst, &(synth_gguf_edit){.to_f32 = true}, err))
            fail_msg("rewrite %s to F32: %s", src, err);
        golden_run_reference(ref_rel, dst);
        unlink(dst);
        checked++;
        free(src);
    }
    printf("# %d of %zu llama-spm-256 files present, %d checked\n", present,
           sizeof k_files / sizeof k_files[0], checked);
    assert_int_equal(checked, present);
    assert_true(checked >= 6);
    free(dst);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dequantized_f32_copies, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
