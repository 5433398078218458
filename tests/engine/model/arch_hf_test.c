/*
 * arch_hf_test.c — each architecture's Hugging Face directory computes what
 * its GGUF computes, and values ctgi cannot compute are refused by name.
 *
 * The same weights in both formats: the llama.cpp-layout files of
 * ../shared/models/synth/arch/ (held to llama.cpp by arch_golden_test)
 * rewritten as their family's HF directory by support/hf_write.c (Conv1D
 * transposed, qkv rows interleaved per head or kv group, gemma's gains as
 * w, the family's config.json keys) — each directory first checked to be
 * the GGUF's model by hf_layout_check.py (numpy, the families' own
 * reshapes) — and synth_model's qwen3 and
 * sliding-window Mistral written both ways.  Loading each pair, the logits
 * of a 60-token prompt (past every sliding window) must agree to 1e-4 at
 * every position and id: the loader must undo each convention exactly.
 * mpt is not here: transformers' MptMLP is the erf GELU, llama.cpp's the
 * tanh one, so its HF directory is checked against the float64 reference
 * with erf instead (arch_ref_test).
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

#include "model/dtype.h"
#include "support/golden.h"
#include "support/hf_write.h"
#include "support/synth_arch.h"
#include "support/synth_model.h"
#include "support/testutil.h"

enum { N_TOK = 60 };

static void formats_agree(const char *label, const char *gguf, const char *hf) {
    golden_runner a, b;
    assert_true(golden_open(&a, gguf));
    assert_true(golden_open(&b, hf));
    model_info ia = model_get_info(a.m), ib = model_get_info(b.m);
    assert_int_equal(ia.vocab, ib.vocab);
    assert_string_equal(ia.architecture, ib.architecture);
    assert_int_equal(ia.n_params, ib.n_params);
    int32_t ids[N_TOK];
    uint64_t s = 0xa5c1u;
    ids[0] = 1;
    for (int i = 1; i < N_TOK; i++) ids[i] = (int32_t)tu_rnd_in(&s, 259, ia.vocab - 1);
    golden_eval(&a, ids, N_TOK, 0);
    golden_eval(&b, ids, N_TOK, 0);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N_TOK * ia.vocab; i++) {
        double d = fabs(a.logits[i] - b.logits[i]);
        worst = isnan(d) ? INFINITY : d > worst ? d : worst;
    }
    printf("# %s: GGUF vs HF (%s), max |logit diff| over %d positions = %.2e\n", label, ib.hf_class, N_TOK, worst);
    assert_true(worst < 1e-4);
    golden_close(&a);
    golden_close(&b);
}

/* The HF directory holds the GGUF's model in the family's own layout, by
 * an oracle that shares nothing with hf_write.c or ctgi: hf_layout_check.py
 * converts it back with the reshapes of transformers / convert_hf_to_gguf
 * and compares every tensor. */
static void layout_checked(const char *gguf, const char *hf) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/engine/model/hf_layout_check.py '%s' '%s' 2>&1", gguf, hf);
    int status = -1;
    char *out = tu_run(cmd, &status);
    printf("# hf_layout_check: %s", out ? out : "(no output)\n");
    if (status != 0 || !out || strncmp(out, "ok ", 3) != 0) fail_msg("hf_layout_check failed: %s", out ? out : "");
    free(out);
}

static void shared_pair(const char *name) {
    char rel[128], err[CT_ERRLEN], hf[4096], *dir = tu_mkdtemp();
    snprintf(rel, sizeof rel, "synth/arch/%s.gguf", name);
    snprintf(hf, sizeof hf, "%s/%s-hf", dir, name);
    char *path = tu_model_path(rel);
    if (!hf_write_from_gguf(path, hf, NULL, err)) fail_msg("%s", err);
    layout_checked(path, hf);
    formats_agree(name, path, hf);
    tu_rmrf(dir);
    free(dir);
    free(path);
}

#define PAIR(fn, name) \
    static void fn(void **state) { (void)state; shared_pair(name); }
PAIR(test_gpt2, "gpt2")
PAIR(test_starcoder, "starcoder")
PAIR(test_gptneox, "gptneox")
PAIR(test_falcon, "falcon")
PAIR(test_falcon_40b, "falcon-gqa")
PAIR(test_bloom, "bloom")
PAIR(test_phi3, "phi3")
PAIR(test_gemma, "gemma")
PAIR(test_gemma2, "gemma2")

/* The typed-weight path of the split and transposed layouts: the HF
 * directory with F16 matrices (grouped qkv rows moved whole in the F16
 * packing, Conv1D transposed in 2-byte elements) against its F32 twin.
 * Rounding the weights to F16 moves these logits by ~1e-3; a misplaced
 * row by whole units. */
static void f16_pair(const char *name) {
    char rel[128], err[CT_ERRLEN], a[4096], b[4096], *dir = tu_mkdtemp();
    snprintf(rel, sizeof rel, "synth/arch/%s.gguf", name);
    snprintf(a, sizeof a, "%s/f32", dir);
    snprintf(b, sizeof b, "%s/f16", dir);
    char *path = tu_model_path(rel);
    hf_write_opts o16 = {.f16 = true};
    if (!hf_write_from_gguf(path, a, NULL, err) || !hf_write_from_gguf(path, b, &o16, err)) fail_msg("%s", err);
    golden_runner x, y;
    assert_true(golden_open(&x, a));
    assert_true(golden_open(&y, b));
    assert_string_equal(y.m->dtype, "F16");
    int32_t ids[N_TOK];
    for (int i = 0; i < N_TOK; i++) ids[i] = (int32_t)(259 + (i * 37) % 250);
    golden_eval(&x, ids, N_TOK, 0);
    golden_eval(&y, ids, N_TOK, 0);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N_TOK * x.m->cfg.vocab; i++) worst = fmax(worst, fabs(x.logits[i] - y.logits[i]));
    printf("# %s: HF F16 vs F32 matrices: max |logit diff| %.2e\n", name, worst);
    assert_true(worst < 0.05);
    golden_close(&x);
    golden_close(&y);
    tu_rmrf(dir);
    free(dir);
    free(path);
}

static void test_f16_gpt2(void **state) { (void)state; f16_pair("gpt2"); }
static void test_f16_falcon_40b(void **state) { (void)state; f16_pair("falcon-gqa"); }
static void test_f16_bloom(void **state) { (void)state; f16_pair("bloom"); }
static void test_f16_phi3(void **state) { (void)state; f16_pair("phi3"); }

/* Typed fused matrices from GGUF: an architecture written with F16 or
 * Q8_0 matrices (synth_arch) against the same file dequantized to F32
 * (dt_to_f32: the same values).  F16 keeps f32 activations: only the
 * summation order differs.  Q8_0 quantizes the activations to int8 blocks
 * as llama.cpp does (relative logits move by ~0.1 on these models); a
 * misplaced row of a split qkv or gate_up moves them by units. */
static void typed_pair(const char *name, uint32_t type, double tol) {
    char rel[128], err[CT_ERRLEN], a[4096], b[4096], *dir = tu_mkdtemp();
    char *vocab = tu_model_path("stories260K.gguf");
    snprintf(rel, sizeof rel, "synth/arch/%s.gguf", name);
    char *tmpl = tu_model_path(rel);
    synth_arch_config c = {.template_gguf = tmpl, .vocab_gguf = vocab, .dim = 64, .n_layers = 2, .n_heads = 4,
                           .n_kv_heads = 2, .head_dim = 16, .ffn_dim = 128, .ctx_len = 128, .type = type,
                           .seed = 6600};
    snprintf(a, sizeof a, "%s/typed.gguf", dir);
    snprintf(b, sizeof b, "%s/f32.gguf", dir);
    if (!synth_arch_write(&c, a, err) || !synth_gguf_rewrite(a, b, &(synth_gguf_edit){.to_f32 = true}, err))
        fail_msg("%s", err);
    golden_runner x, y;
    assert_true(golden_open(&x, a));
    assert_true(golden_open(&y, b));
    int32_t ids[N_TOK];
    for (int i = 0; i < N_TOK; i++) ids[i] = (int32_t)(259 + (i * 37) % 250);
    golden_eval(&x, ids, N_TOK, 0);
    golden_eval(&y, ids, N_TOK, 0);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N_TOK * x.m->cfg.vocab; i++) worst = fmax(worst, fabs(x.logits[i] - y.logits[i]));
    printf("# %s %s: vs its F32 copy: max |logit diff| %.2e (bound %.0e)\n", name, x.m->dtype, worst, tol);
    assert_true(worst < tol);
    golden_close(&x);
    golden_close(&y);
    tu_rmrf(dir);
    free(dir);
    free(tmpl);
    free(vocab);
}

static void test_typed_falcon_40b(void **state) {
    (void)state;
    typed_pair("falcon-gqa", DT_F16, 1e-3);
    typed_pair("falcon-gqa", DT_Q8_0, 0.5);
}

static void test_typed_phi3(void **state) {
    (void)state;
    typed_pair("phi3", DT_F16, 1e-3);
    typed_pair("phi3", DT_Q8_0, 0.5);
}

/* synth_model writes the same seeded weights as GGUF and as HF. */
static void synth_pair(const char *label, synth_config c) {
    char *dir = tu_mkdtemp(), gguf[4096], hf[4096], err[CT_ERRLEN];
    char *vocab = tu_model_path("stories260K.gguf");
    snprintf(gguf, sizeof gguf, "%s/m.gguf", dir);
    snprintf(hf, sizeof hf, "%s/hf", dir);
    c.vocab_gguf = vocab;
    if (!synth_write_gguf(&c, gguf, err) || !synth_write_hf(&c, hf, err) || !hf_write_tokenizer(gguf, hf, err))
        fail_msg("%s", err);
    formats_agree(label, gguf, hf);
    tu_rmrf(dir);
    free(dir);
    free(vocab);
}

static void test_qwen3(void **state) {
    (void)state;
    synth_config c = synth_default();
    c.arch = "qwen3";
    c.head_dim = 32;
    c.seed = 4401;
    synth_pair("qwen3", c);
}

static void test_mistral(void **state) {
    (void)state;
    synth_config c = synth_default();
    c.sliding_window = 12;
    c.seed = 4402;
    synth_pair("mistral (llama + sliding_window)", c);
}

/* ---- refusals ------------------------------------------------------------------------ */

/* dir's config.json with key set to the JSON `value` (at path "a.b" for a
 * nested key), then loading must fail naming `want`. */
static void refuse_hf(const char *src_hf, const char *key, const char *value, const char *want) {
    char *dir = tu_mkdtemp(), path[4096], err[CT_ERRLEN] = "";
    const char *files[] = {"model.safetensors", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s", src_hf, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        assert_true(tu_copy(a, b));
    }
    snprintf(path, sizeof path, "%s/config.json", src_hf);
    json_t *cfg = json_load_file(path, 0, NULL), *v = json_loads(value, JSON_DECODE_ANY, NULL);
    assert_true(cfg && v);
    const char *dot = strchr(key, '.');
    if (dot) {
        char outer[64];
        snprintf(outer, sizeof outer, "%.*s", (int)(dot - key), key);
        json_object_set_new(json_object_get(cfg, outer), dot + 1, v);
    } else {
        json_object_set_new(cfg, key, v);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(json_dump_file(cfg, path, 0), 0);
    json_decref(cfg);
    model *m = model_load(dir, err);
    if (m) fail_msg("%s = %s loaded", key, value);
    printf("# %s = %s: %s\n", key, value, err);
    if (!strstr(err, want)) fail_msg("error '%s' does not name '%s'", err, want);
    tu_rmrf(dir);
    free(dir);
}

static void test_unsupported_hf_values_refused(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), err[CT_ERRLEN], hf[4096];
    static const struct { const char *arch, *key, *value, *want; } T[] = {
        {"mpt", "attn_config.qk_ln", "true", "attn_config.qk_ln"},
        {"mpt", "attn_config.alibi", "false", "attn_config.alibi"},
        {"mpt", "logit_scale", "2.0", "logit_scale"},
        {"falcon", "alibi", "true", "alibi"},
        {"falcon", "parallel_attn", "false", "parallel_attn"},
        {"gpt2", "scale_attn_by_inverse_layer_idx", "true", "scale_attn_by_inverse_layer_idx"},
        {"gpt2", "activation_function", "\"relu\"", "activation_function"},
        {"bloom", "apply_residual_connection_post_layernorm", "true", "apply_residual_connection_post_layernorm"},
        {"phi3", "rope_scaling", "{\"type\": \"longrope\", \"long_factor\": [1], \"short_factor\": [1]}", "longrope"},
        {"phi3", "hidden_act", "\"gelu\"", "hidden_act"},
        {"gemma", "hidden_activation", "\"relu\"", "hidden_activation"},
        {"gptneox", "rotary_pct", "0.35", "RoPE dimension count 5"}, /* int(16 * 0.35): odd */
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        char rel[128], *path;
        snprintf(rel, sizeof rel, "synth/arch/%s.gguf", T[i].arch);
        snprintf(hf, sizeof hf, "%s/%s", dir, T[i].arch);
        path = tu_model_path(rel);
        if (!hf_write_from_gguf(path, hf, NULL, err)) fail_msg("%s", err);
        refuse_hf(hf, T[i].key, T[i].value, T[i].want);
        free(path);
    }
    tu_rmrf(dir);
    free(dir);
}

/* qwen2/qwen3's use_sliding_window (windows on layers from
 * max_window_layers on) is not computed: refused. */
static void test_qwen_sliding_window_refused(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), hf[4096], err[CT_ERRLEN], *vocab = tu_model_path("stories260K.gguf");
    char gguf[4096];
    synth_config c = synth_default();
    c.arch = "qwen3";
    c.vocab_gguf = vocab;
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(gguf, sizeof gguf, "%s/m.gguf", dir);
    if (!synth_write_hf(&c, hf, err) || !synth_write_gguf(&c, gguf, err) || !hf_write_tokenizer(gguf, hf, err))
        fail_msg("%s", err);
    refuse_hf(hf, "use_sliding_window", "true", "use_sliding_window");
    tu_rmrf(dir);
    free(dir);
    free(vocab);
}

/* GGUF keys and tensors ctgi cannot compute, refused by name. */
static void test_unsupported_gguf_values_refused(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), out[4096], err[CT_ERRLEN];
    static const struct { const char *arch; synth_gguf_edit e; const char *want; } T[] = {
        {"phi3", {.add_key = "phi3.rope.scaling.type", .add_str = "yarn"}, "phi3.rope.scaling.type"},
        {"gpt2", {.add_key = "gpt2.attn_logit_softcapping", .add_str = "x"}, "soft-capping"},
        {"gemma", {.u32_key = "gemma.attention.value_length", .u32 = 16}, "value_length"},
        {"gptneox", {.u32_key = "gptneox.rope.dimension_count", .u32 = 5}, "RoPE dimension count 5"},
        {"mpt", {.f32_key = "mpt.attention.max_alibi_bias", .f32 = -1}, "ALiBi max bias"},
        {"gemma2", {.f32_key = "gemma2.final_logit_softcapping", .f32 = -25}, "final logit soft-capping"},
        {"phi3", {.u32_key = "phi3.attention.sliding_window", .u32 = 1u << 31}, "phi3.attention.sliding_window"},
        {"bloom", {.tensor = "token_embd_norm.bias", .drop = true}, "token_embd_norm.bias"},
        {"gemma2", {.tensor = "blk.3.post_ffw_norm.weight", .drop = true}, "blk.3.post_ffw_norm.weight"},
        {"falcon", {.tensor = "blk.1.attn_qkv.weight", .n_dims = 2, .ne = {64, 128}}, "attn_qkv.weight' has shape"},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        char rel[128], *path;
        snprintf(rel, sizeof rel, "synth/arch/%s.gguf", T[i].arch);
        snprintf(out, sizeof out, "%s/bad-%zu.gguf", dir, i);
        path = tu_model_path(rel);
        if (!synth_gguf_rewrite(path, out, &T[i].e, err)) fail_msg("%s", err);
        char lerr[CT_ERRLEN] = "";
        model *m = model_load(out, lerr);
        if (m) fail_msg("%s edit %zu loaded", T[i].arch, i);
        printf("# %s: %s\n", T[i].arch, lerr);
        if (!strstr(lerr, T[i].want)) fail_msg("error '%s' does not name '%s'", lerr, T[i].want);
        free(path);
    }
    tu_rmrf(dir);
    free(dir);
}

/* support/synth_arch.c (the bench models' writer) at other dimensions:
 * every architecture loads with the shape asked for and gives finite
 * logits, with F16 matrices. */
static void test_synth_arch_shapes(void **state) {
    (void)state;
    const char *names[] = {"gpt2", "gptneox", "falcon", "falcon-gqa", "mpt", "bloom", "starcoder", "phi3", "gemma",
                           "gemma2"};
    char *dir = tu_mkdtemp(), *vocab = tu_model_path("stories260K.gguf"), path[4096], err[CT_ERRLEN];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "synth/arch/%s.gguf", names[i]);
        char *tmpl = tu_model_path(rel);
        bool mqa = !strcmp(names[i], "falcon") || !strcmp(names[i], "starcoder") || !strcmp(names[i], "gemma");
        bool gqa = !strcmp(names[i], "falcon-gqa") || !strcmp(names[i], "phi3") || !strcmp(names[i], "gemma2");
        synth_arch_config c = {.template_gguf = tmpl, .vocab_gguf = vocab, .dim = 96, .n_layers = 3, .n_heads = 6,
                               .n_kv_heads = mqa ? 1 : gqa ? 3 : 6, .head_dim = 16, .ffn_dim = 160, .ctx_len = 128,
                               .sliding_window = 40, .type = DT_F16, .seed = 5500 + i};
        snprintf(path, sizeof path, "%s/%s.gguf", dir, names[i]);
        if (!synth_arch_write(&c, path, err)) fail_msg("%s: %s", names[i], err);
        golden_runner r;
        assert_true(golden_open(&r, path));
        const model_config *mc = &r.m->cfg;
        assert_int_equal(mc->dim, 96);
        assert_int_equal(mc->n_layers, 3);
        assert_int_equal(mc->n_kv_heads, c.n_kv_heads);
        assert_int_equal(mc->ffn_dim, 160);
        int32_t ids[50];
        for (int k = 0; k < 50; k++) ids[k] = (int32_t)(259 + k * 5);
        golden_eval(&r, ids, 50, 0);
        for (size_t k = 0; k < (size_t)50 * mc->vocab; k++)
            if (!isfinite(r.logits[k])) fail_msg("%s: logit %zu is %g", names[i], k, (double)r.logits[k]);
        printf("# %s: %s, %llu parameters, window %d\n", names[i], r.m->dtype, (unsigned long long)r.m->n_params,
               mc->sliding_window);
        golden_close(&r);
        free(tmpl);
    }
    tu_rmrf(dir);
    free(dir);
    free(vocab);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),      cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_gptneox),   cmocka_unit_test(test_falcon),
        cmocka_unit_test(test_falcon_40b), cmocka_unit_test(test_bloom),
        cmocka_unit_test(test_phi3),      cmocka_unit_test(test_gemma),
        cmocka_unit_test(test_gemma2),    cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_mistral),   cmocka_unit_test(test_unsupported_hf_values_refused),
        cmocka_unit_test(test_qwen_sliding_window_refused),
        cmocka_unit_test(test_unsupported_gguf_values_refused),
        cmocka_unit_test(test_synth_arch_shapes),
        cmocka_unit_test(test_f16_gpt2),     cmocka_unit_test(test_f16_falcon_40b),
        cmocka_unit_test(test_f16_bloom),    cmocka_unit_test(test_f16_phi3),
        cmocka_unit_test(test_typed_falcon_40b), cmocka_unit_test(test_typed_phi3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
