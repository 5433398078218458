/*
 * lora_test.c — LoRA adapters (engine/model/lora.c, forward.c's lora_task,
 * the engine's per-request adapter and prefix-cache namespaces).
 *
 * Oracle: a copy of the base with the merged weights W + scale * B A,
 * computed in double by the test's own writer (tests/support/lora_write.c,
 * following PEFT's and llama.cpp's converters' layouts, sharing no code
 * with the loader); base + adapter must give the merged model's logits
 * (F32 weights: within 1e-4 of the largest logit) and the same greedy ids.
 *   - a GGUF llama base (q/k rows permuted in the file) with the adapter as
 *     a PEFT folder (HF layout: no permutation) and as a GGUF LoRA (B's q/k
 *     rows permuted: undone at load);
 *   - a Hugging Face base with a BF16 rslora PEFT adapter on some targets
 *     and an F16-valued GGUF LoRA on others;
 *   - a qwen2 GGUF (biases, no permuted rows) with a GGUF LoRA;
 *   - the engine: a batch mixing 3 adapters and the base gives each
 *     request the tokens it gets alone, bit for bit; a prompt cached under
 *     one adapter is not attached by another, and is by the same one;
 *   - bad adapters: rank mismatch, unsupported target, shape mismatch,
 *     truncated files, another adapter.type or general.type, another
 *     architecture, a lone lora_A, bad names: NULL + a message naming it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/forward.h"
#include "support/engine_fixture.h"
#include "support/gguf_write.h"
#include "support/hf_write.h"
#include "support/lora_write.h"
#include "support/synth_model.h"
#include "support/testutil.h"

enum { N = 48 };

typedef struct {
    char *dir;
    char *vocab;
    synth_config cfg;
    char base_gguf[1024], base_hf[1024];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = tu_mkdtemp();
    fx->vocab = tu_model_path("stories260K.gguf");
    if (!fx->dir || !fx->vocab) return -1;
    fx->cfg = synth_default();
    fx->cfg.vocab_gguf = fx->vocab;
    fx->cfg.seed = 11;
    char err[CT_ERRLEN];
    snprintf(fx->base_gguf, sizeof fx->base_gguf, "%s/base.gguf", fx->dir);
    snprintf(fx->base_hf, sizeof fx->base_hf, "%s/base-hf", fx->dir);
    if (!synth_write_gguf(&fx->cfg, fx->base_gguf, err) || !synth_write_hf(&fx->cfg, fx->base_hf, err) ||
        !hf_write_tokenizer(fx->base_gguf, fx->base_hf, err)) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    tu_rmrf(fx->dir);
    free(fx->dir);
    free(fx->vocab);
    free(fx);
    return 0;
}

static model *load(const char *path) {
    char err[CT_ERRLEN];
    model *m = model_load(path, err);
    if (!m) fail_msg("model_load(%s): %s", path, err);
    return m;
}

static int add(model *m, const char *name, const char *path) {
    char err[CT_ERRLEN];
    int id = model_lora_load(m, name, path, err);
    if (!id) fail_msg("model_lora_load(%s): %s", path, err);
    return id;
}

/* Logits (N, vocab) of a fixed prompt, every row with adapter id. */
static float *run(const model *m, int id) {
    const model_config *c = &m->cfg;
    pool *p = pool_create(2, 0);
    fwd_ctx *f = fwd_create(m, p, N);
    kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 16, (N + 15) / 16, KV_F32, false);
    kv_seq ks;
    kv_seq_init(&ks);
    const kv_seq *seqs[1] = {&ks};
    float *logits = malloc((size_t)N * c->vocab * sizeof(float));
    int32_t ids[N];
    int pos[N], seq[N] = {0}, ad[N];
    for (int i = 0; i < N; i++) {
        ids[i] = (int32_t)((i * 7919 + 13) % (c->vocab - 3)) + 3;
        pos[i] = i;
        ad[i] = id;
    }
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = N, .adapter = ad};
    assert_true(kv_seq_reserve(kv, &ks, N));
    assert_true(fwd_eval(f, kv_pool_store(kv), &b, logits));
    kv_seq_release(kv, &ks);
    kv_pool_free(kv);
    fwd_free(f);
    pool_free(p);
    return logits;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* got must equal want within tol of the largest |logit| with the same argmax
 * at every row; returns the rows whose argmax differs from base's (the
 * adapter must matter, or the comparison proves nothing). */
static int expect_merged(const float *got, const float *want, const float *base, int vocab, const char *what) {
    double worst = 0, big = 0;
    int moved = 0;
    for (size_t i = 0; i < (size_t)N * vocab; i++) {
        worst = fmax(worst, fabs((double)got[i] - want[i]));
        big = fmax(big, fabs((double)want[i]));
    }
    for (int r = 0; r < N; r++) {
        int a = argmax(got + (size_t)r * vocab, vocab), w = argmax(want + (size_t)r * vocab, vocab);
        if (a != w) fail_msg("%s: row %d argmax %d, merged %d", what, r, a, w);
        moved += a != argmax(base + (size_t)r * vocab, vocab);
    }
    print_message("# %s: max |diff| %.3g of max |logit| %.3g; %d/%d greedy ids differ from the base\n", what, worst,
                  big, moved, N);
    if (worst > 1e-4 * big) fail_msg("%s: logits differ by %g (max logit %g)", what, worst, big);
    return moved;
}

static lw_config lwc(unsigned targets, int r, float alpha, const char *dtype, uint64_t seed) {
    return (lw_config){.targets = targets, .r = r, .alpha = alpha, .dtype = dtype, .seed = seed, .amp = 0.35f};
}

/* ---- equal to the merged model ---------------------------------------------------- */

static void test_gguf_base(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN], peft[1024], gl[1024], merged[1024];
    snprintf(peft, sizeof peft, "%s/a1-peft", fx->dir);
    snprintf(gl, sizeof gl, "%s/a1.gguf", fx->dir);
    snprintf(merged, sizeof merged, "%s/a1-merged.gguf", fx->dir);
    lw_config c = lwc(LW_ALL, 8, 16, "F32", 1);
    lw_adapter *a = lw_make(&fx->cfg, &c);
    assert_true(lw_write_peft(a, peft, NULL, err) && lw_write_gguf(a, gl, err) && lw_merge_gguf(a, fx->base_gguf, merged, err));
    lw_free(a);
    model *m = load(fx->base_gguf), *mm = load(merged);
    int ip = add(m, "peft", peft), ig = add(m, "gg", gl);
    assert_int_equal(ip, 1);
    assert_int_equal(ig, 2);
    assert_int_equal(model_lora_count(m), 2);
    assert_int_equal(model_lora_find(m, "gg"), 2);
    assert_int_equal(model_lora_find(m, "nope"), 0);
    model_lora_info in = model_lora_get(m, 1);
    assert_string_equal(in.name, "peft");
    assert_string_equal(in.format, "peft");
    assert_string_equal(in.targets, "q,k,v,o,gate,up,down");
    assert_int_equal(in.rank, 8);
    assert_int_equal(in.n_layers, 2);
    assert_string_equal(model_lora_get(m, 2).format, "gguf");
    float *base = run(m, 0), *want = run(mm, 0), *gp = run(m, ip), *gg = run(m, ig);
    assert_true(expect_merged(gp, want, base, m->cfg.vocab, "GGUF llama + PEFT") >= N / 4);
    expect_merged(gg, want, base, m->cfg.vocab, "GGUF llama + GGUF LoRA (permuted q/k)");
    /* the base rows are untouched by loading adapters */
    float *alone = run(mm, 0);
    assert_memory_equal(want, alone, (size_t)N * m->cfg.vocab * sizeof(float));
    free(alone);
    free(base);
    free(want);
    free(gp);
    free(gg);
    model_free(m);
    model_free(mm);
}

static void test_hf_base(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN], p2[1024], g3[1024], m2[1024], m3[1024];
    snprintf(p2, sizeof p2, "%s/a2-peft", fx->dir);
    snprintf(g3, sizeof g3, "%s/a3.gguf", fx->dir);
    snprintf(m2, sizeof m2, "%s/a2-merged", fx->dir);
    snprintf(m3, sizeof m3, "%s/a3-merged", fx->dir);
    lw_config c2 = lwc(LW_Q | LW_V | LW_O | LW_DOWN, 4, 8, "BF16", 2);
    c2.rslora = true;
    lw_config c3 = lwc(LW_Q | LW_K | LW_GATE | LW_UP, 6, 12, "F16", 3);
    lw_adapter *a2 = lw_make(&fx->cfg, &c2), *a3 = lw_make(&fx->cfg, &c3);
    assert_true(lw_write_peft(a2, p2, NULL, err) && lw_merge_hf(a2, fx->base_hf, m2, err));
    assert_true(lw_write_gguf(a3, g3, err) && lw_merge_hf(a3, fx->base_hf, m3, err));
    lw_free(a2);
    lw_free(a3);
    model *m = load(fx->base_hf), *mm2 = load(m2), *mm3 = load(m3);
    int i2 = add(m, "rs", p2), i3 = add(m, "g3", g3);
    assert_string_equal(model_lora_get(m, i2).targets, "q,v,o,down");
    /* 16-bit pairs stay in their file's type (half the bytes a step reads) */
    const lora_pair *q2 = &m->loras[i2 - 1].w[LORA_Q], *q3 = &m->loras[i3 - 1].w[LORA_Q];
    assert_true(q2->a_type == DT_BF16 && q2->bt_type == DT_BF16);
    assert_true(q3->a_type == DT_F16 && q3->bt_type == DT_F16);
    float *base = run(m, 0), *w2 = run(mm2, 0), *w3 = run(mm3, 0), *g2 = run(m, i2), *gg3 = run(m, i3);
    assert_true(expect_merged(g2, w2, base, m->cfg.vocab, "HF + BF16 rslora PEFT") > 0);
    assert_true(expect_merged(gg3, w3, base, m->cfg.vocab, "HF + GGUF LoRA") > 0);
    free(base);
    free(w2);
    free(w3);
    free(g2);
    free(gg3);
    model_free(m);
    model_free(mm2);
    model_free(mm3);
}

/* A qwen2 GGUF (q/k/v biases; its converter permutes no rows): the GGUF
 * LoRA's B rows are taken as they are. */
static void test_qwen2_gguf(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN], b[1024], g[1024], mg[1024];
    synth_config c = fx->cfg;
    c.arch = "qwen2";
    c.seed = 12;
    snprintf(b, sizeof b, "%s/qwen2.gguf", fx->dir);
    snprintf(g, sizeof g, "%s/qwen2-lora.gguf", fx->dir);
    snprintf(mg, sizeof mg, "%s/qwen2-merged.gguf", fx->dir);
    lw_config lc = lwc(LW_Q | LW_K | LW_V | LW_UP, 8, 4, "F32", 13);
    lw_adapter *a = lw_make(&c, &lc);
    assert_true(synth_write_gguf(&c, b, err) && lw_write_gguf(a, g, err) && lw_merge_gguf(a, b, mg, err));
    lw_free(a);
    model *m = load(b), *mm = load(mg);
    assert_non_null(m->layers[0].bq);
    int id = add(m, "q", g);
    float *base = run(m, 0), *want = run(mm, 0), *got = run(m, id);
    assert_true(expect_merged(got, want, base, m->cfg.vocab, "qwen2 GGUF + GGUF LoRA") > 0);
    free(base);
    free(want);
    free(got);
    model_free(m);
    model_free(mm);
}

/* ---- the engine ------------------------------------------------------------------------- */

static model *three_adapters(fixture *fx) {
    char err[CT_ERRLEN], p[1024];
    model *m = load(fx->base_gguf);
    for (int k = 0; k < 3; k++) {
        lw_config c = lwc(k == 1 ? LW_Q | LW_K : LW_ALL, 4 + 2 * k, 8, "F32", 20 + k);
        lw_adapter *a = lw_make(&fx->cfg, &c);
        char name[16];
        snprintf(name, sizeof name, "ad%d", k);
        snprintf(p, sizeof p, "%s/mix%d%s", fx->dir, k, k == 2 ? ".gguf" : "");
        assert_true(k == 2 ? lw_write_gguf(a, p, err) : lw_write_peft(a, p, NULL, err));
        lw_free(a);
        assert_int_equal(add(m, name, p), k + 1);
    }
    return m;
}

static void test_mixed_batch(void **state) {
    fixture *fx = *state;
    model *m = three_adapters(fx);
    enum { R = 8 };
    ef_job jobs[R];
    engine_request reqs[R];
    uint64_t rnd = 5;
    for (int i = 0; i < R; i++) {
        ef_job_random(&jobs[i], &rnd, 20 + 7 * i);
        jobs[i].r.adapter = i % 4;
        jobs[i].r.max_new_tokens = 24;
        jobs[i].r.ignore_eos = true;
        reqs[i] = jobs[i].r;
        reqs[i].prompt = jobs[i].prompt;
    }
    /* the same prompt under every adapter: different tokens */
    for (int i = 4; i < 8; i++) memcpy(jobs[i].prompt, jobs[4].prompt, sizeof jobs[4].prompt), reqs[i].n_prompt = reqs[4].n_prompt;
    static ef_outcome alone[R], batch[R];
    for (int i = 0; i < R; i++) ef_run_alone(m, &reqs[i], &alone[i]);
    engine_config cfg = ef_config(64, 8, 2048, true);
    cfg.n_threads = 2;
    engine *e = ef_engine(m, &cfg);
    ef_run_batch(e, reqs, R, batch);
    int differ = 0;
    for (int i = 0; i < R; i++) ef_assert_same(&alone[i], &batch[i], i);
    for (int i = 5; i < 8; i++) differ += memcmp(alone[i].ids, alone[4].ids, sizeof alone[4].ids) != 0;
    assert_int_equal(differ, 3);
    engine_free(e);
    for (int i = 0; i < R; i++) ef_outcome_free(&alone[i]), ef_outcome_free(&batch[i]);
    /* an adapter the model does not have */
    engine *e2 = ef_engine(m, &cfg);
    reqs[0].adapter = 4;
    ef_expect_refusal(e2, &reqs[0], (const char *const[]){"adapter 4", "3 LoRA adapters", NULL});
    engine_free(e2);
    model_free(m);
}

/* Speculation with adapters: on stories260K (real text, whose continuation
 * of a repeated passage prompt lookup drafts) with two small adapters, a
 * batch of requests under the base and each adapter decodes the same
 * greedy tokens with and without drafts.  Drafted rows run through their
 * sequence's adapter: an accepted draft's K/V and the token after it come
 * from those rows, so an adapter missing there would change the text. */
static void test_spec_adapters(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN], p[1024];
    char *path = tu_model_path("stories260K.gguf");
    model *m = load(path);
    free(path);
    const model_config *mc = &m->cfg;
    synth_config sc = synth_default();
    sc.arch = "llama";
    sc.dim = mc->dim;
    sc.n_layers = mc->n_layers;
    sc.n_heads = mc->n_heads;
    sc.n_kv_heads = mc->n_kv_heads;
    sc.head_dim = mc->head_dim;
    sc.ffn_dim = mc->ffn_dim;
    for (int k = 0; k < 2; k++) {
        lw_config c = {.targets = LW_ALL, .r = 4, .alpha = 4, .dtype = k ? "BF16" : "F16", .seed = 70 + k, .amp = 0.06f};
        lw_adapter *a = lw_make(&sc, &c);
        snprintf(p, sizeof p, "%s/story%d", fx->dir, k);
        assert_true(lw_write_peft(a, p, NULL, err));
        lw_free(a);
        char name[16];
        snprintf(name, sizeof name, "s%d", k);
        assert_int_equal(add(m, name, p), k + 1);
    }
    int n;
    int32_t *ids = ef_encode(m, "Lily and Tom went to the park. They saw a big dog. Lily and Tom went to the park. They", &n);
    enum { R = 6 };
    engine_request reqs[R];
    for (int i = 0; i < R; i++) {
        reqs[i] = engine_request_default();
        reqs[i].prompt = ids;
        reqs[i].n_prompt = n;
        reqs[i].max_new_tokens = 40;
        reqs[i].ignore_eos = true;
        reqs[i].adapter = i % 3;
    }
    static ef_outcome plain[R], spec[R];
    engine_config cfg = ef_config(64, 8, 2048, false);
    cfg.n_threads = 2;
    engine *e = ef_engine(m, &cfg);
    ef_run_batch(e, reqs, R, plain);
    engine_free(e);
    cfg.speculate = 4;
    cfg.debug_speculate_unpriced = true; /* drafts verified whatever rows cost */
    e = ef_engine(m, &cfg);
    ef_run_batch(e, reqs, R, spec);
    engine_free(e);
    int accepted[3] = {0}, differ = 0;
    for (int i = 0; i < R; i++) {
        ef_assert_same(&plain[i], &spec[i], i);
        accepted[i % 3] += spec[i].fin.n_accepted;
    }
    differ = memcmp(plain[1].ids, plain[0].ids, sizeof plain[0].ids) != 0;
    differ += memcmp(plain[2].ids, plain[0].ids, sizeof plain[0].ids) != 0;
    print_message("# speculation with adapters: drafts accepted base %d, s0 %d, s1 %d; %d adapters change the text\n",
                  accepted[0], accepted[1], accepted[2], differ);
    assert_int_equal(differ, 2);
    for (int k = 0; k < 3; k++) assert_true(accepted[k] >= 4);
    for (int i = 0; i < R; i++) ef_outcome_free(&plain[i]), ef_outcome_free(&spec[i]);
    free(ids);
    model_free(m);
}

static void test_prefix_namespace(void **state) {
    fixture *fx = *state;
    model *m = three_adapters(fx);
    ef_job j;
    uint64_t rnd = 9;
    ef_job_random(&j, &rnd, 70);
    j.r.max_new_tokens = 8;
    engine_request r = j.r;
    r.prompt = j.prompt;
    engine_config cfg = ef_config(512, 8, 2048, true);
    engine *e = ef_engine(m, &cfg);
    static ef_outcome o[4], want;
    int seq[4] = {0, 2, 2, 0};
    for (int i = 0; i < 4; i++) {
        r.adapter = seq[i];
        ef_run_batch(e, &r, 1, &o[i]);
    }
    assert_int_equal(o[0].fin.n_cached_prompt, 0);
    assert_int_equal(o[1].fin.n_cached_prompt, 0); /* the base's blocks are not adapter 2's */
    assert_true(o[2].fin.n_cached_prompt >= 48);   /* adapter 2's own are */
    assert_true(o[3].fin.n_cached_prompt >= 48);
    r.adapter = 2;
    ef_run_alone(m, &r, &want);
    ef_assert_same(&want, &o[1], 1);
    ef_assert_same(&want, &o[2], 2);
    ef_assert_same(&o[0], &o[3], 3);
    engine_free(e);
    for (int i = 0; i < 4; i++) ef_outcome_free(&o[i]);
    ef_outcome_free(&want);
    model_free(m);
}

/* ---- bad adapters ----------------------------------------------------------------------- */

static void expect_bad(const char *base, const char *path, const char *const *needles) {
    char err[CT_ERRLEN] = "";
    model *m = load(base);
    int id = model_lora_load(m, "bad", path, err);
    if (id) fail_msg("%s loaded", path);
    for (int i = 0; needles[i]; i++)
        if (!strstr(err, needles[i])) fail_msg("'%s' not in: %s", needles[i], err);
    print_message("# refused: %s\n", err);
    assert_int_equal(model_lora_count(m), 0);
    model_free(m);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Rewrite dir/adapter_config.json with r changed to r_cfg. */
static void set_config_r(const char *dir, int r_cfg, const char *modules) {
    char p[1100];
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"peft_type\": \"LORA\", \"r\": %d, \"lora_alpha\": 8, \"target_modules\": [%s]}", r_cfg, modules);
    fclose(f);
}

static void truncate_file(const char *p, long keep) {
    FILE *f = fopen(p, "r+");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), keep), 0);
    fclose(f);
}

static void test_bad_peft(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN], d[512], p[1024];
    lw_config c = lwc(LW_Q | LW_V, 4, 8, "F32", 7);
    lw_adapter *a = lw_make(&fx->cfg, &c);
    snprintf(d, sizeof d, "%s/bad-peft", fx->dir);
    assert_true(lw_write_peft(a, d, NULL, err));
    /* the good one loads */
    model *m = load(fx->base_gguf);
    assert_int_equal(add(m, "ok", d), 1);
    /* names: taken, empty, with a comma */
    assert_int_equal(model_lora_load(m, "ok", d, err), 0);
    assert_non_null(strstr(err, "two LoRA adapters are named 'ok'"));
    assert_int_equal(model_lora_load(m, "", d, err), 0);
    assert_int_equal(model_lora_load(m, "a,b", d, err), 0);
    assert_int_equal(model_lora_load(m, "x", "/nonexistent/adapter", err), 0);
    assert_non_null(strstr(err, "/nonexistent/adapter"));
    model_free(m);

    set_config_r(d, 8, "\"q_proj\", \"v_proj\"");
    expect_bad(fx->base_gguf, d, NEEDLES("lora_A.weight", "rank 4", "r is 8"));
    set_config_r(d, 4, "\"q_proj\", \"lm_head\"");
    expect_bad(fx->base_gguf, d, NEEDLES("target module 'lm_head' is not supported"));
    set_config_r(d, 4, "\"q_proj\"");
    assert_true(lw_write_peft(a, d, "\"use_dora\": true", err));
    expect_bad(fx->base_gguf, d, NEEDLES("use_dora", "DoRA"));
    lw_free(a);

    /* shape: an adapter made for a model of another width */
    synth_config wide = fx->cfg;
    wide.dim = 96;
    a = lw_make(&wide, &c);
    assert_true(lw_write_peft(a, d, NULL, err));
    expect_bad(fx->base_gguf, d, NEEDLES("layers.0.self_attn.q_proj.lora_A.weight", "(4, 96)", "takes 64 inputs"));
    lw_free(a);

    /* a tensor that is no LoRA weight of a supported module, a lone A, a
     * truncated file */
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", d);
    sw_writer *s = sw_new();
    float z[4 * 64] = {0};
    uint64_t sh[2] = {4, 64};
    sw_add(s, "base_model.model.model.embed_tokens.lora_embedding_A", "F32", 2, sh, z, sizeof z);
    assert_true(sw_write(s, p, err));
    sw_free(s);
    expect_bad(fx->base_gguf, d, NEEDLES("embed_tokens.lora_embedding_A", "not the lora_A/lora_B"));
    s = sw_new();
    sw_add(s, "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "F32", 2, sh, z, sizeof z);
    assert_true(sw_write(s, p, err));
    sw_free(s);
    expect_bad(fx->base_gguf, d, NEEDLES("layers.1.self_attn.q_proj.lora_A.weight", "has no lora_B"));
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    truncate_file(p, sb.st_size - 100);
    expect_bad(fx->base_gguf, d, NEEDLES("adapter_model.safetensors"));
    /* no adapter_config.json */
    snprintf(p, sizeof p, "%s/adapter_config.json", d);
    unlink(p);
    expect_bad(fx->base_gguf, d, NEEDLES("adapter_config.json"));
}

static void test_bad_gguf(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN], g[1024], g2[1024];
    lw_config c = lwc(LW_Q | LW_DOWN, 4, 8, "F32", 8);
    lw_adapter *a = lw_make(&fx->cfg, &c);
    snprintf(g, sizeof g, "%s/bad.gguf", fx->dir);
    snprintf(g2, sizeof g2, "%s/bad2.gguf", fx->dir);
    assert_true(lw_write_gguf(a, g, err));
    lw_free(a);
    synth_gguf_edit ed = {.str_key = "adapter.type", .str = "ia3"};
    assert_true(synth_gguf_rewrite(g, g2, &ed, err));
    expect_bad(fx->base_gguf, g2, NEEDLES("adapter.type 'ia3' is not supported"));
    ed = (synth_gguf_edit){.str_key = "general.type", .str = "model"};
    assert_true(synth_gguf_rewrite(g, g2, &ed, err));
    expect_bad(fx->base_gguf, g2, NEEDLES("general.type is 'model'"));
    ed = (synth_gguf_edit){.str_key = "general.architecture", .str = "qwen2"};
    assert_true(synth_gguf_rewrite(g, g2, &ed, err));
    expect_bad(fx->base_gguf, g2, NEEDLES("architecture 'qwen2'", "'llama'"));
    /* the base model itself is no adapter */
    expect_bad(fx->base_gguf, fx->base_gguf, NEEDLES("not 'adapter'"));
    /* rank: A of rank 4, B of rank 3 */
    gw_writer *w = gw_new();
    gw_add_str(w, "general.architecture", "llama");
    gw_add_str(w, "general.type", "adapter");
    gw_add_str(w, "adapter.type", "lora");
    static float z[128 * 4];
    uint64_t na[2] = {64, 4}, nb[2] = {3, 64};
    gw_add_tensor(w, "blk.0.attn_q.weight.lora_a", 2, na, DT_F32, z, 64 * 4 * 4, false);
    gw_add_tensor(w, "blk.0.attn_q.weight.lora_b", 2, nb, DT_F32, z, 64 * 3 * 4, false);
    assert_true(gw_write(w, g2, err));
    gw_free(w);
    expect_bad(fx->base_gguf, g2, NEEDLES("blk.0.attn_q.weight.lora_a", "rank 4", "rank 3", "disagree"));
    /* shape: B with 128 rows for attn_q's 64 */
    w = gw_new();
    gw_add_str(w, "general.architecture", "llama");
    gw_add_str(w, "general.type", "adapter");
    gw_add_str(w, "adapter.type", "lora");
    uint64_t nb2[2] = {4, 128};
    gw_add_tensor(w, "blk.1.attn_q.weight.lora_a", 2, na, DT_F32, z, 64 * 4 * 4, false);
    gw_add_tensor(w, "blk.1.attn_q.weight.lora_b", 2, nb2, DT_F32, z, 128 * 4 * 4, false);
    gw_add_tensor(w, "blk.0.attn_qkv.weight.lora_a", 2, na, DT_F32, z, 64 * 4 * 4, false);
    assert_true(gw_write(w, g2, err));
    gw_free(w);
    expect_bad(fx->base_gguf, g2, NEEDLES("blk.0.attn_qkv.weight.lora_a", "not the lora_a/lora_b"));
    w = gw_new();
    gw_add_str(w, "general.architecture", "llama");
    gw_add_str(w, "general.type", "adapter");
    gw_add_str(w, "adapter.type", "lora");
    gw_add_tensor(w, "blk.1.attn_q.weight.lora_a", 2, na, DT_F32, z, 64 * 4 * 4, false);
    gw_add_tensor(w, "blk.1.attn_q.weight.lora_b", 2, nb2, DT_F32, z, 128 * 4 * 4, false);
    assert_true(gw_write(w, g2, err));
    gw_free(w);
    expect_bad(fx->base_gguf, g2, NEEDLES("blk.1.attn_q.weight.lora_b", "64 outputs"));
    /* truncated */
    struct stat sb;
    assert_int_equal(stat(g, &sb), 0);
    truncate_file(g, sb.st_size / 2);
    expect_bad(fx->base_gguf, g, NEEDLES("bad.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_base),        cmocka_unit_test(test_hf_base),
        cmocka_unit_test(test_qwen2_gguf),
        cmocka_unit_test(test_mixed_batch),      cmocka_unit_test(test_spec_adapters),
        cmocka_unit_test(test_prefix_namespace),
        cmocka_unit_test(test_bad_peft),         cmocka_unit_test(test_bad_gguf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
