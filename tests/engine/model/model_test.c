/*
 * model_test.c — the model loader (engine/model*.c, arch.c) on generated
 * models (tests/support/synth_model.h) and on broken files.
 *
 *   - format equivalence: the same config + seed written as GGUF F32 and as
 *     a Hugging Face F32 directory gives the same logits (llama GQA, llama
 *     with head_dim != dim/heads, qwen2 with biases, tied and untied, a
 *     sharded checkpoint, llama3 and linear RoPE scaling);
 *   - weight types: loading F16 / BF16 / Q8_0 / Q4_0 / Q4_K / Q6_K files is
 *     exact (equal to an F32 file of the dequantized values), and copies of
 *     one model stay close to its F32 logits (observed diffs are printed);
 *   - n_params, tokenizer metadata copy, the synthetic writer itself;
 *   - broken inputs: model_load() returns NULL with a message naming the
 *     problem, and `ctgi generate` exits 1 with that message, no crash;
 *     including files the loader used to accept (tokenizer larger than the
 *     embedding, RoPE scaling factor 0 / NaN, zero rope_freqs).
 * Scratch files live in one tu_mkdtemp() directory, removed at the end.
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
#include <sys/stat.h>
#include <unistd.h>

#include "model/dtype.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "support/synth_model.h"
#include "kernels/wmat.h"
#include "support/testutil.h"

enum { N_PROMPT = 100 };

typedef struct {
    char *dir;                   /* scratch */
    char *spm_vocab, *spm_tok;   /* llama-spm vocab GGUF + tokenizer.json */
    char *gpt2_vocab, *qwen_tok; /* gpt-2 vocab GGUF + tokenizer.json */
    char *tiny_vocab;            /* stories260K.gguf: a 512-token vocab */
    char *bad_base;              /* small valid GGUF that broken files derive from */
    char *good_hf, *sharded_hf;  /* valid HF directories */
    float *qref;                 /* F32 logits of quant_config(), on first use */
} fixture;

/* char var[] = "<scratch dir>/<name>" (on the stack: nothing to free when
 * an assertion jumps out of a test) */
#define SCRATCH(var, name) \
    char var[1024];        \
    snprintf(var, sizeof var, "%s/%s", fx->dir, name)

static char *path_in(const fixture *fx, const char *name) {
    char *p = malloc(strlen(fx->dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", fx->dir, name);
    return p;
}

/* ---- running a model ------------------------------------------------------ */

typedef struct {
    float *logits; /* (N_PROMPT, vocab) */
    int vocab, half;
    uint64_t n_params;
    float inv_freq[512];
} run_out;

static void prompt_ids(int vocab, int32_t *ids) {
    for (int i = 0; i < N_PROMPT; i++)
        ids[i] = vocab > 600 ? (int32_t)((i * 7919 + 13) % (vocab - 300)) + 259
                             : (int32_t)((i * 7919 + 13) % (vocab - 3)) + 3;
}

static void run_model(const char *path, run_out *o) {
    char err[CT_ERRLEN];
    model *m = model_load(path, err);
    if (!m) fail_msg("model_load(%s): %s", path, err);
    const model_config *c = &m->cfg;
    pool *p = pool_create(2, 0);
    fwd_ctx *f = fwd_create(m, p, N_PROMPT);
    kv_pool *kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 16, (N_PROMPT + 15) / 16, KV_F32, false);
    kv_seq ks;
    kv_seq_init(&ks);
    const kv_seq *seqs[1] = {&ks};
    o->vocab = c->vocab;
    o->half = c->head_dim / 2;
    o->n_params = m->n_params;
    memcpy(o->inv_freq, m->rope_inv_freq, (size_t)o->half * sizeof(float));
    o->logits = malloc((size_t)N_PROMPT * c->vocab * sizeof(float));
    assert_true(p && f && kv && o->logits);
    int32_t ids[N_PROMPT];
    int pos[N_PROMPT], seq[N_PROMPT] = {0};
    prompt_ids(c->vocab, ids);
    for (int i = 0; i < N_PROMPT; i++) pos[i] = i;
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = seqs, .n = N_PROMPT};
    assert_true(kv_seq_reserve(kv, &ks, N_PROMPT));
    assert_true(fwd_eval(f, kv_pool_store(kv), &b, o->logits));
    kv_seq_commit(kv, &ks, ids, N_PROMPT);
    kv_seq_release(kv, &ks);
    kv_pool_free(kv);
    fwd_free(f);
    pool_free(p);
    model_free(m);
}

/* max |a - b| over positions [from, to) */
static double max_diff(const run_out *a, const run_out *b, int from, int to) {
    assert_int_equal(a->vocab, b->vocab);
    double worst = 0;
    for (size_t i = (size_t)from * a->vocab; i < (size_t)to * a->vocab; i++)
        worst = fmax(worst, fabs((double)a->logits[i] - b->logits[i]));
    return worst;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int argmax_agree(const run_out *a, const run_out *b) {
    int same = 0;
    for (int i = 0; i < N_PROMPT; i++)
        same += argmax(a->logits + (size_t)i * a->vocab, a->vocab) ==
                argmax(b->logits + (size_t)i * b->vocab, b->vocab);
    return same;
}

static void write_gguf(const synth_config *c, const char *path) {
    char err[CT_ERRLEN];
    if (!synth_write_gguf(c, path, err)) fail_msg("synth_write_gguf(%s): %s", path, err);
}

static void write_hf(const synth_config *c, const char *dir) {
    char err[CT_ERRLEN];
    if (!synth_write_hf(c, dir, err)) fail_msg("synth_write_hf(%s): %s", dir, err);
}

/* Write c as GGUF and HF, run both, require equal logits; outputs kept in
 * *g / *h when given (caller frees logits). */
static void formats_agree(fixture *fx, const synth_config *c, const char *label, run_out *g,
                          run_out *h) {
    SCRATCH(gp, "eq.gguf");
    SCRATCH(hp, "eq-hf");
    run_out a, b;
    write_gguf(c, gp);
    write_hf(c, hp);
    run_model(gp, &a);
    run_model(hp, &b);
    double d = max_diff(&a, &b, 0, N_PROMPT);
    printf("# %s: GGUF F32 vs HF F32 max |logit diff| = %.2e (%d positions)\n", label, d, N_PROMPT);
    if (g) *g = a; else free(a.logits);
    if (h) *h = b; else free(b.logits);
    tu_rmrf(gp);
    tu_rmrf(hp);
    if (!(d < 1e-4)) {
        if (g) free(g->logits);
        if (h) free(h->logits);
        fail_msg("%s: formats differ by %g", label, d);
    }
}

static synth_config llama_config(const fixture *fx) {
    synth_config c = synth_default();
    c.vocab_gguf = fx->spm_vocab;
    c.tokenizer_json = fx->spm_tok;
    c.seed = 20260301;
    return c;
}

static synth_config qwen2_config(const fixture *fx) {
    synth_config c = synth_default();
    c.arch = "qwen2";
    c.vocab_gguf = fx->gpt2_vocab;
    c.tokenizer_json = fx->qwen_tok;
    c.rope_theta = 1e6f;
    c.norm_eps = 1e-6f;
    c.tied = true;
    c.seed = 20260302;
    return c;
}

/* ---- format equivalence ------------------------------------------------------ */

static void test_equiv_llama_gqa(void **state) {
    fixture *fx = *state;
    synth_config c = llama_config(fx);
    formats_agree(fx, &c, "llama GQA 4/2 heads, untied", NULL, NULL);
}

static void test_equiv_llama_head_dim(void **state) {
    fixture *fx = *state;
    synth_config c = llama_config(fx);
    c.head_dim = 32; /* q: 4 x 32 = 128 rows from a 64-wide residual */
    formats_agree(fx, &c, "llama head_dim 32 != 64/4", NULL, NULL);
}

static void test_equiv_llama_tied(void **state) {
    fixture *fx = *state;
    synth_config c = llama_config(fx);
    c.tied = true;
    c.n_kv_heads = 1;
    formats_agree(fx, &c, "llama tied, MQA", NULL, NULL);
}

static void test_equiv_qwen2_tied(void **state) {
    fixture *fx = *state;
    synth_config c = qwen2_config(fx);
    formats_agree(fx, &c, "qwen2 biases, tied", NULL, NULL);
}

static void test_equiv_qwen2_untied(void **state) {
    fixture *fx = *state;
    synth_config c = qwen2_config(fx);
    c.tied = false;
    c.n_layers = 3;
    formats_agree(fx, &c, "qwen2 biases, untied", NULL, NULL);
}

/* A 3-shard checkpoint computes what one model.safetensors does. */
static void test_equiv_sharded(void **state) {
    fixture *fx = *state;
    run_out a, b;
    SCRATCH(single, "single-hf");
    synth_config c = llama_config(fx);
    write_hf(&c, single);
    run_model(single, &a);
    run_model(fx->sharded_hf, &b);
    double d = max_diff(&a, &b, 0, N_PROMPT);
    printf("# sharded (3) vs single safetensors: max |logit diff| = %.2e\n", d);
    assert_true(d == 0);
    free(a.logits);
    free(b.logits);
    tu_rmrf(single);
}

/* Scaled RoPE: GGUF (rope_freqs tensor / rope.scaling.* keys) and HF
 * (rope_scaling) agree; position 0 is unaffected by RoPE, later positions
 * must differ from the unscaled model (orig ctx 32, prompt 100). */
static void check_scaling(fixture *fx, const char *type, float factor) {
    synth_config c = llama_config(fx), c0 = c;
    c.rope_scaling = type;
    c.rope_factor = factor;
    c.rope_orig_ctx = 32;
    run_out g, h, u;
    char label[64];
    snprintf(label, sizeof label, "rope scaling %s x%g", type, (double)factor);
    formats_agree(fx, &c, label, &g, &h);
    for (int i = 0; i < g.half; i++) assert_float_equal(g.inv_freq[i], h.inv_freq[i], 1e-6 * h.inv_freq[i]);
    SCRATCH(up, "unscaled.gguf");
    write_gguf(&c0, up);
    run_model(up, &u);
    double d0 = max_diff(&g, &u, 0, 1), d_late = 1e9;
    for (int p = 8; p < N_PROMPT; p++) d_late = fmin(d_late, max_diff(&g, &u, p, p + 1));
    printf("# %s vs unscaled: position 0 diff %.2e, min over positions 8..99 of the max diff %.3f\n",
           label, d0, d_late);
    assert_true(d0 < 1e-4);
    assert_true(d_late > 0.05);
    /* the lowest frequency is divided by the factor, the highest kept */
    assert_float_equal(g.inv_freq[g.half - 1] * factor, u.inv_freq[g.half - 1], 1e-4 * u.inv_freq[g.half - 1]);
    if (!strcmp(type, "llama3")) assert_float_equal(g.inv_freq[0], u.inv_freq[0], 1e-6);
    free(g.logits);
    free(h.logits);
    free(u.logits);
    tu_rmrf(up);
}

static void test_rope_llama3(void **state) { check_scaling(*state, "llama3", 8.0f); }
static void test_rope_linear(void **state) { check_scaling(*state, "linear", 4.0f); }

/* n_params counts every weight once, whatever the storage type. */
static void test_n_params(void **state) {
    fixture *fx = *state;
    synth_config c = llama_config(fx);
    uint64_t q = 4 * 16, kv = 2 * 16, d = 64, ffn = 128, V = 32000;
    uint64_t want = 2 * V * d + d + 2 * (2 * d + q * d + 2 * kv * d + d * q + 3 * ffn * d);
    run_out a, b;
    SCRATCH(p32, "np32.gguf");
    SCRATCH(p16, "np16.gguf");
    write_gguf(&c, p32);
    c.weight_type = DT_F16;
    write_gguf(&c, p16);
    run_model(p16, &b);
    run_model(p32, &a);
    printf("# n_params: expected %llu, F16 file %llu, F32 file %llu\n", (unsigned long long)want,
           (unsigned long long)b.n_params, (unsigned long long)a.n_params);
    free(a.logits);
    free(b.logits);
    tu_rmrf(p32);
    tu_rmrf(p16);
    assert_int_equal(b.n_params, want);
    assert_int_equal(a.n_params, want);
}

/* model_get_info, the public view of a model, says what was written: the
 * same for the GGUF and the HF directory of one qwen2 model, except the
 * format. */
static void check_info(const char *path, const synth_config *c, const char *format) {
    char err[CT_ERRLEN];
    model *m = model_load(path, err);
    if (!m) fail_msg("%s: %s", path, err);
    model_info mi = model_get_info(m);
    assert_string_equal(mi.format, format);
    assert_string_equal(mi.path, path);
    assert_string_equal(mi.architecture, "qwen2");
    assert_string_equal(mi.hf_class, "Qwen2ForCausalLM");
    assert_string_equal(mi.weight_type, "F32");
    assert_non_null(mi.name);
    assert_int_equal(mi.dim, c->dim);
    assert_int_equal(mi.n_layers, c->n_layers);
    assert_int_equal(mi.n_heads, c->n_heads);
    assert_int_equal(mi.n_kv_heads, c->n_kv_heads);
    assert_int_equal(mi.head_dim, c->head_dim);
    assert_int_equal(mi.ctx_len, c->ctx_len);
    const tokenizer *t = model_tokenizer(m);
    assert_ptr_equal(t, m->tok);
    assert_int_equal(mi.vocab, tok_n_vocab(t));
    assert_int_equal(mi.bos_id, tok_bos(t));
    assert_int_equal(mi.eos_id, tok_eos(t));
    assert_true(mi.eos_id >= 0 && mi.n_eos >= 1 && model_is_eos(m, mi.eos_id));
    for (int i = 0; i < mi.n_eos; i++) assert_true(model_is_eos(m, mi.eos_ids[i]));
    assert_int_equal(mi.n_params, m->n_params);
    printf("# %s: %s %s, %s, %llu parameters, vocab %d, bos %d, eos %d (%d ending ids)\n", format,
           mi.architecture, mi.hf_class, mi.weight_type, (unsigned long long)mi.n_params, mi.vocab, mi.bos_id,
           mi.eos_id, mi.n_eos);
    model_free(m);
}

static void test_model_info(void **state) {
    fixture *fx = *state;
    synth_config c = qwen2_config(fx);
    SCRATCH(gp, "info.gguf");
    SCRATCH(hp, "info-hf");
    write_gguf(&c, gp);
    write_hf(&c, hp);
    check_info(gp, &c, "gguf");
    check_info(hp, &c, "safetensors");
    tu_rmrf(gp);
    tu_rmrf(hp);
}

/* The copied tokenizer metadata tokenizes like the vocab file it came from. */
static void test_tokenizer_copied(void **state) {
    fixture *fx = *state;
    char err[CT_ERRLEN];
    synth_config c = qwen2_config(fx);
    SCRATCH(gp, "tok.gguf");
    write_gguf(&c, gp);
    gguf_file *src = gguf_open(fx->gpt2_vocab, err), *dst = gguf_open(gp, err);
    assert_non_null(src);
    assert_non_null(dst);
    for (uint64_t i = 0; i < gguf_n_kv(src); i++) {
        const gguf_kv *a = gguf_kv_at(src, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)a->key.len, a->key.ptr);
        if (strncmp(key, "tokenizer.", 10) != 0) continue;
        const gguf_kv *b = gguf_find(dst, key);
        if (!b) fail_msg("key %s not copied", key);
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->arr_type, b->arr_type);
        assert_int_equal(a->arr_n, b->arr_n);
    }
    model *m = model_load(gp, err);
    tokenizer *t = model_load_tokenizer(fx->gpt2_vocab, err);
    assert_non_null(m);
    assert_non_null(t);
    const char *text = "Hello world! Once upon a time, 12345.";
    int32_t *x = NULL, *y = NULL;
    int nx = tok_encode(m->tok, text, strlen(text), true, false, &x, err);
    int ny = tok_encode(t, text, strlen(text), true, false, &y, err);
    assert_true(nx > 0);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, (size_t)nx * sizeof *x);
    free(x);
    free(y);
    tok_free(t);
    model_free(m);
    gguf_close(src);
    gguf_close(dst);
    tu_rmrf(gp);
}

/* Same seed -> same bytes; another seed -> other weights. */
static void test_synth_deterministic(void **state) {
    fixture *fx = *state;
    synth_config c = synth_default();
    c.vocab_gguf = fx->tiny_vocab;
    SCRATCH(a, "det-a.gguf");
    SCRATCH(b, "det-b.gguf");
    write_gguf(&c, a);
    write_gguf(&c, b);
    size_t la, lb;
    char *da = ct_read_file(a, &la, NULL), *db = ct_read_file(b, &lb, NULL);
    assert_true(da && db && la == lb && memcmp(da, db, la) == 0);
    free(db);
    c.seed = 2;
    write_gguf(&c, b);
    db = ct_read_file(b, &lb, NULL);
    assert_true(db && la == lb && memcmp(da, db, la) != 0);
    /* K-quants need rows of 256: the 64-wide model cannot be written */
    char err[CT_ERRLEN];
    c.weight_type = DT_Q4_K;
    assert_false(synth_write_gguf(&c, b, err));
    assert_non_null(strstr(err, "token_embd.weight"));
    free(da);
    free(db);
    tu_rmrf(a);
    tu_rmrf(b);
}

/* ---- weight types ------------------------------------------------------------ */

/* Quantizers: dequantized values approximate the input (relative RMS). */
static void test_quantizers(void **state) {
    (void)state;
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(N * 4);
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) { /* uniform-ish mix with outliers and a zero run */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1) * (i % 97 == 0 ? 8 : 1);
        if (i >= 512 && i < 800) x[i] = 0;
    }
    const struct { uint32_t type; double tol; } T[] = {
        {DT_F16, 1e-3}, {DT_BF16, 5e-3}, {DT_Q8_0, 0.01}, {DT_Q6_K, 0.03},
        {DT_Q4_0, 0.2}, {DT_Q4_K, 0.2},
    };
    for (size_t k = 0; k < sizeof T / sizeof T[0]; k++) {
        assert_true(synth_quantize(T[k].type, x, q, N));
        assert_true(dt_to_f32(T[k].type, q, y, N));
        double se = 0, sx = 0;
        for (int i = 0; i < N; i++) {
            se += (x[i] - y[i]) * (double)(x[i] - y[i]);
            sx += (double)x[i] * x[i];
            if (x[i] == 0 && fabsf(y[i]) > 1e-6f && T[k].type != DT_Q4_K) fail_msg("%s: zero -> %g", dt_name(T[k].type), y[i]);
        }
        double rel = sqrt(se / sx);
        printf("# quantizer %-5s relative RMS error %.4f\n", dt_name(T[k].type), rel);
        assert_true(rel < T[k].tol);
    }
    assert_false(synth_quantize(DT_IQ2_XXS, x, q, N));
    assert_false(synth_quantize(DT_Q4_K, x, q, 100));
    free(x);
    free(y);
    free(q);
}

/* 256-wide (K-quant rows), 2 layers, llama-spm vocabulary. */
static synth_config quant_config(const fixture *fx) {
    synth_config c = llama_config(fx);
    c.dim = 256;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.ffn_dim = 512;
    c.seed = 7;
    return c;
}

/* The type's logits vs the F32 model's: max and RMS difference, RMS
 * relative to the logits' own RMS (< rel_tol), greedy argmax agreement. */
static void check_type(fixture *fx, uint32_t type, bool hf, double rel_tol, int min_agree) {
    synth_config c = quant_config(fx);
    run_out ref = {0}, o;
    if (!fx->qref) {
        SCRATCH(p, "qref.gguf");
        write_gguf(&c, p);
        run_model(p, &ref);
        fx->qref = ref.logits;
        tu_rmrf(p);
    }
    ref.logits = fx->qref;
    ref.vocab = 32000;
    c.weight_type = type;
    SCRATCH(p, hf ? "q-hf" : "q.gguf");
    hf ? write_hf(&c, p) : write_gguf(&c, p);
    run_model(p, &o);
    double d = max_diff(&ref, &o, 0, N_PROMPT), sd = 0, sr = 0;
    for (size_t i = 0; i < (size_t)N_PROMPT * o.vocab; i++) {
        sd += ((double)ref.logits[i] - o.logits[i]) * ((double)ref.logits[i] - o.logits[i]);
        sr += (double)ref.logits[i] * ref.logits[i];
    }
    double rel = sqrt(sd / sr);
    int agree = argmax_agree(&ref, &o);
    printf("# %s %-4s vs F32: max |diff| %.4f, RMS diff %.4f (logit RMS %.1f): relative %.5f (tolerance "
           "%.3g); argmax agrees at %d/%d\n", hf ? "HF  " : "GGUF", dt_name(type), d,
           sqrt(sd / ((double)N_PROMPT * o.vocab)), sqrt(sr / ((double)N_PROMPT * o.vocab)), rel, rel_tol,
           agree, N_PROMPT);
    free(o.logits);
    tu_rmrf(p);
    assert_true(rel < rel_tol);
    assert_true(agree >= min_agree);
}

static void test_gguf_f16(void **state) { check_type(*state, DT_F16, false, 0.002, 97); }
static void test_hf_f16(void **state) { check_type(*state, DT_F16, true, 0.002, 97); }
static void test_hf_bf16(void **state) { check_type(*state, DT_BF16, true, 0.015, 90); }
static void test_gguf_q8_0(void **state) { check_type(*state, DT_Q8_0, false, 0.04, 90); }
static void test_gguf_q6_k(void **state) { check_type(*state, DT_Q6_K, false, 0.12, 75); }
static void test_gguf_q4_0(void **state) { check_type(*state, DT_Q4_0, false, 0.4, 35); }
static void test_gguf_q4_k(void **state) { check_type(*state, DT_Q4_K, false, 0.4, 35); }

/* ---- broken files ---------------------------------------------------------------- */

/* dst = src with one edit (synth_gguf_rewrite) */
static void rewrite_gguf(const char *src, const char *dst, const synth_gguf_edit *e) {
    char err[CT_ERRLEN];
    if (!synth_gguf_rewrite(src, dst, e, err)) fail_msg("rewrite %s: %s", src, err);
}

/* Loading a quantized file computes what an F32 file of the dequantized
 * values computes (q/k un-permuted after dequantization): exactly up to
 * float rounding for F16/BF16 (f32 activations), and within the error of
 * quantizing the activations to int8 blocks for the block types (the
 * bound is ~3x what these were measured at). */
static void test_quant_exact(void **state) {
    fixture *fx = *state;
    synth_config c = quant_config(fx);
    c.vocab_gguf = fx->tiny_vocab;
    const struct { uint32_t type; double rel_tol; } T[] = {
        {DT_F16, 5e-6},  {DT_BF16, 5e-6}, {DT_Q8_0, 0.03}, {DT_Q4_0, 0.03}, {DT_Q4_1, 0.03},
        {DT_Q5_0, 0.03}, {DT_Q5_1, 0.03}, {DT_IQ4_NL, 0.03}, {DT_Q2_K, 0.03}, {DT_Q3_K, 0.03},
        {DT_Q4_K, 0.03}, {DT_Q5_K, 0.03}, {DT_Q6_K, 0.03},
    };
    SCRATCH(q, "exact-q.gguf");
    SCRATCH(f, "exact-f32.gguf");
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        c.weight_type = T[i].type;
        write_gguf(&c, q);
        rewrite_gguf(q, f, &(synth_gguf_edit){.to_f32 = true});
        run_out a, b;
        run_model(q, &a);
        run_model(f, &b);
        double d = max_diff(&a, &b, 0, N_PROMPT), sd = 0, sr = 0;
        for (size_t k = 0; k < (size_t)N_PROMPT * a.vocab; k++) {
            sd += ((double)a.logits[k] - b.logits[k]) * ((double)a.logits[k] - b.logits[k]);
            sr += (double)b.logits[k] * b.logits[k];
        }
        printf("# GGUF %-4s vs its dequantized F32 copy: max |logit diff| = %.2e, relative RMS %.2e (bound %.0e)\n",
               dt_name(T[i].type), d, sqrt(sd / sr), T[i].rel_tol);
        assert_true(sqrt(sd / sr) < T[i].rel_tol);
        if (!wmat_quantized(T[i].type)) assert_true(d < 1e-4);
        free(a.logits);
        free(b.logits);
    }
    tu_rmrf(q);
    tu_rmrf(f);
}

/* strstr for any of the '|'-separated alternatives of want */
static bool contains(const char *s, const char *want) {
    char alt[256];
    for (const char *p = want; *p;) {
        size_t n = strcspn(p, "|");
        snprintf(alt, sizeof alt, "%.*s", (int)n, p);
        if (strstr(s, alt)) return true;
        p += n + (p[n] == '|');
    }
    return false;
}

/* model_load(path) must fail with an error containing want (and want2). */
static void expect_load_error(const char *path, const char *want, const char *want2) {
    char err[CT_ERRLEN] = "";
    model *m = model_load(path, err);
    if (m) {
        model_free(m);
        fail_msg("%s loaded, expected an error containing '%s'", path, want);
    }
    printf("# %s\n", err);
    if (!contains(err, want)) fail_msg("error '%s' does not contain '%s'", err, want);
    if (want2 && !contains(err, want2)) fail_msg("error '%s' does not contain '%s'", err, want2);
}

static void test_bad_gguf_edits(void **state) {
    fixture *fx = *state;
    static const struct { synth_gguf_edit e; const char *want, *want2; } T[] = {
        {{.str_key = "general.architecture", .str = "gpt-j"}, "unsupported architecture 'gpt-j'", NULL},
        {{.u32_key = "llama.embedding_length", .u32 = 1u << 31}, "llama.embedding_length", NULL},
        {{.u32_key = "llama.embedding_length", .u32 = 1u << 20}, "hidden size 1048576", "range"},
        {{.u32_key = "llama.block_count", .u32 = 100000}, "layer count 100000", NULL},
        {{.u32_key = "llama.attention.head_count", .u32 = 0}, "attention head count 0", NULL},
        {{.u32_key = "llama.attention.head_count_kv", .u32 = 3}, "not a multiple", NULL},
        {{.drop_kv = "llama.embedding_length"}, "llama.embedding_length", NULL},
        {{.drop_kv = "general.architecture"}, "general.architecture", NULL},
        {{.drop_kv = "tokenizer.ggml.tokens"}, "tokenizer.ggml.tokens", NULL},
        {{.tensor = "blk.1.ffn_down.weight", .drop = true}, "missing tensor 'blk.1.ffn_down.weight'", NULL},
        {{.tensor = "token_embd.weight", .drop = true}, "token_embd.weight", NULL},
        {{.tensor = "blk.0.attn_k.weight", .n_dims = 2, .ne = {256, 64}}, "'blk.0.attn_k.weight' has shape", NULL},
        {{.tensor = "blk.0.attn_norm.weight", .n_dims = 2, .ne = {128, 2}}, "'blk.0.attn_norm.weight' has shape", NULL},
        {{.tensor = "blk.0.attn_q.weight", .retype = true, .type = DT_IQ4_XS},
         "'blk.0.attn_q.weight' has type IQ4_XS, which ctgi does not compute with", NULL},
        {{.tensor = "blk.1.ffn_gate.weight", .retype = true, .type = DT_IQ2_XXS},
         "'blk.1.ffn_gate.weight' has type IQ2_XXS", NULL},
        {{.tensor = "output.weight", .raw = true, .offset = 1u << 30}, "'output.weight'", "past end of file"},
        {{.tensor = "token_embd.weight", .raw = true, .n_dims = 2, .ne = {256, 1ull << 40}},
         "'token_embd.weight'", "past end of file"},
        {{.tensor = "token_embd.weight", .raw = true, .n_dims = 3, .ne = {1ull << 40, 1ull << 40, 1ull << 40}},
         "'token_embd.weight'", "overflows"},
        {{.tensor = "blk.0.ffn_up.weight", .raw = true, .n_dims = 2, .ne = {0, 512}}, "invalid dimension", NULL},
    };
    SCRATCH(p, "bad.gguf");
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        rewrite_gguf(fx->bad_base, p, &T[i].e);
        expect_load_error(p, T[i].want, T[i].want2);
    }
    tu_rmrf(p);
}

/* A GGUF whose RoPE scaling would divide by zero (or by NaN) must not load:
 * it would give NaN logits at every position. */
static void test_bad_rope_scaling(void **state) {
    fixture *fx = *state;
    synth_config c = synth_default();
    c.vocab_gguf = fx->tiny_vocab;
    c.rope_scaling = "linear";
    c.rope_factor = 4;
    SCRATCH(lin, "linear.gguf");
    SCRATCH(l3, "llama3.gguf");
    SCRATCH(p, "bad-rope.gguf");
    write_gguf(&c, lin);
    c.rope_scaling = "llama3";
    c.rope_orig_ctx = 32;
    write_gguf(&c, l3);
    rewrite_gguf(lin, p, &(synth_gguf_edit){.f32_key = "llama.rope.scaling.factor", .f32 = 0});
    expect_load_error(p, "factor", NULL);
    rewrite_gguf(lin, p, &(synth_gguf_edit){.f32_key = "llama.rope.scaling.factor", .f32 = NAN});
    expect_load_error(p, "factor", NULL);
    rewrite_gguf(l3, p, &(synth_gguf_edit){.tensor = "rope_freqs.weight", .retype = true, .type = DT_F32});
    expect_load_error(p, "rope_freqs.weight", NULL);
    rewrite_gguf(l3, p, &(synth_gguf_edit){.tensor = "rope_freqs.weight", .retype = true, .type = DT_F16});
    expect_load_error(p, "rope_freqs.weight", NULL);
    tu_rmrf(lin);
    tu_rmrf(l3);
    tu_rmrf(p);
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A tokenizer with more tokens than the embedding has rows: token ids from
 * encoding would index past the weights (`ctgi perplexity` reads out of
 * bounds), so the load must fail. */
static void test_tokenizer_exceeds_vocab(void **state) {
    fixture *fx = *state;
    SCRATCH(tied, "tied.gguf");
    SCRATCH(p, "small-vocab.gguf");
    rewrite_gguf(fx->bad_base, tied, &(synth_gguf_edit){.tensor = "output.weight", .drop = true});
    rewrite_gguf(tied, p, &(synth_gguf_edit){.tensor = "token_embd.weight", .n_dims = 2, .ne = {256, 300}});
    expect_load_error(p, "512", "300");
    const char *bin = tu_ctgi_bin();
    if (access(bin, X_OK) == 0) {
        char cmd[8192], *text = tu_model_path("reference/perplexity.txt");
        int status = -1;
        snprintf(cmd, sizeof cmd, "'%s' perplexity --model '%s' --file '%s' --ctx 64 2>&1", bin, p, text);
        char *out = tu_run(cmd, &status);
        printf("# ctgi perplexity: exit %d: %.300s\n", status, out ? out : "");
        free(out);
        free(text);
        assert_int_equal(status, 1);
    }
    tu_rmrf(tied);
    tu_rmrf(p);
}

static void test_bad_gguf_bytes(void **state) {
    fixture *fx = *state;
    size_t len;
    char err[CT_ERRLEN], *img = ct_read_file(fx->bad_base, &len, err);
    assert_non_null(img);
    gguf_file *g = gguf_open_mem(img, len, "mem", err);
    assert_non_null(g);
    size_t data_start = len;
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++)
        data_start = (size_t)fmin((double)data_start, (double)((const char *)gguf_tensor_at(g, i)->data - img));
    gguf_close(g);
    const struct { size_t cut; const char *want; } cuts[] = {
        {0, "not a GGUF file"}, {3, "not a GGUF file"}, {20, "truncated"}, {2000, "truncated|left in the file"},
        {data_start - 40, "truncated|left in the file"}, {data_start + 1000, "past end of file"}, {len - 1, "past end of file"},
    };
    SCRATCH(p, "cut.gguf");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(p, img, cuts[i].cut);
        expect_load_error(p, cuts[i].want, NULL);
    }
    memcpy(img, "GGUG", 4);
    write_bytes(p, img, len);
    expect_load_error(p, "bad magic", NULL);
    memcpy(img, "GGUF\1\0\0\0", 8); /* version 1 */
    write_bytes(p, img, len);
    expect_load_error(p, "version 1", NULL);
    expect_load_error("/nonexistent/model.gguf", "no such file or directory", NULL);
    expect_load_error(fx->dir, "config.json", NULL); /* a directory without a model */
    tu_rmrf(p);
    free(img);
}

/* A fresh directory dst holding symlinks to every file of src except skip. */
static void hf_variant(const char *src, const char *dst, const char *skip) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && for f in '%s'/*; do b=$(basename \"$f\"); "
             "[ \"$b\" = '%s' ] || ln -s \"$f\" '%s'/\"$b\"; done", dst, dst, src, skip ? skip : "", dst);
    assert_int_equal(system(cmd), 0);
}

/* dst = src with config.json key set to a JSON value (json text). */
static void hf_config_edit(const char *src, const char *dst, const char *key, const char *value) {
    char path[4096];
    hf_variant(src, dst, "config.json");
    snprintf(path, sizeof path, "%s/config.json", src);
    json_t *cfg = json_load_file(path, 0, NULL), *v = json_loads(value, JSON_DECODE_ANY, NULL);
    assert_true(cfg && v);
    json_object_set_new(cfg, key, v);
    snprintf(path, sizeof path, "%s/config.json", dst);
    assert_int_equal(json_dump_file(cfg, path, JSON_INDENT(2)), 0);
    json_decref(cfg);
}

static void test_bad_hf(void **state) {
    fixture *fx = *state;
    SCRATCH(v, "bad-hf");
    char path[4096];
    hf_variant(fx->good_hf, v, "config.json");
    expect_load_error(v, "config.json", NULL);
    snprintf(path, sizeof path, "%s/config.json", v);
    write_bytes(path, "{\"model_type\": \"llama\", ", 24);
    expect_load_error(v, "config.json", NULL);
    write_bytes(path, "[1, 2]", 6);
    expect_load_error(v, "not a JSON object", NULL);
    hf_config_edit(fx->good_hf, v, "model_type", "\"gptj\"");
    expect_load_error(v, "unsupported architecture 'gptj'", NULL);
    hf_config_edit(fx->good_hf, v, "intermediate_size", "256");
    expect_load_error(v, "mlp.gate_proj.weight' has shape", NULL);
    hf_config_edit(fx->good_hf, v, "num_hidden_layers", "3");
    expect_load_error(v, "missing tensor", NULL);
    hf_config_edit(fx->good_hf, v, "hidden_size", "4294967296");
    expect_load_error(v, "hidden size", NULL);
    hf_config_edit(fx->good_hf, v, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}");
    expect_load_error(v, "yarn", NULL);
    hf_variant(fx->good_hf, v, "tokenizer.json");
    expect_load_error(v, "tokenizer", NULL);
    hf_variant(fx->good_hf, v, "model.safetensors");
    expect_load_error(v, "model.safetensors", NULL);
    hf_variant(fx->sharded_hf, v, "model-00002-of-00003.safetensors");
    expect_load_error(v, "model-00002-of-00003.safetensors", NULL);
    tu_rmrf(v);
}

/* `ctgi generate` on broken models: exit 1 with the reason, never a crash. */
static void test_cli_bad_models(void **state) {
    fixture *fx = *state;
    const char *bin = tu_ctgi_bin();
    if (access(bin, X_OK) != 0) {
        printf("# %s not built: skipped\n", bin);
        skip();
    }
    SCRATCH(magic, "cli-magic.gguf");
    SCRATCH(arch, "cli-arch.gguf");
    SCRATCH(type, "cli-type.gguf");
    SCRATCH(cut, "cli-cut.gguf");
    SCRATCH(hf, "cli-hf");
    size_t len;
    char *img = ct_read_file(fx->bad_base, &len, NULL);
    assert_non_null(img);
    write_bytes(cut, img, len / 2);
    memcpy(img, "XXXX", 4);
    write_bytes(magic, img, len);
    free(img);
    rewrite_gguf(fx->bad_base, arch, &(synth_gguf_edit){.str_key = "general.architecture", .str = "gpt-j"});
    rewrite_gguf(fx->bad_base, type, &(synth_gguf_edit){.tensor = "blk.0.attn_v.weight", .retype = true, .type = DT_IQ4_XS});
    hf_variant(fx->good_hf, hf, "config.json");
    const struct { const char *path, *want; } T[] = {
        {magic, "bad magic"}, {cut, "past end of file"}, {arch, "unsupported architecture 'gpt-j'"},
        {type, "has type IQ4_XS"}, {hf, "config.json"}, {"/nonexistent.gguf", "no such file"},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        char cmd[8192];
        int status = -1;
        snprintf(cmd, sizeof cmd, "'%s' generate --model '%s' --prompt hi --max-new-tokens 1 2>&1", bin, T[i].path);
        char *out = tu_run(cmd, &status);
        assert_non_null(out);
        printf("# exit %d: %s", status, out);
        assert_int_equal(status, 1);
        if (!strstr(out, T[i].want)) fail_msg("ctgi output '%s' does not contain '%s'", out, T[i].want);
        free(out);
    }
}

/* ---- fixture ------------------------------------------------------------------- */

static int group_setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    char err[CT_ERRLEN];
    fx->dir = tu_mkdtemp();
    fx->spm_vocab = tu_model_path("vocab/ggml-vocab-llama-spm.gguf");
    fx->spm_tok = tu_model_path("synth/llama-spm-hf/tokenizer.json");
    fx->gpt2_vocab = tu_model_path("vocab/ggml-vocab-gpt-2.gguf");
    fx->qwen_tok = tu_model_path("synth/qwen2-bpe-hf/tokenizer.json");
    fx->tiny_vocab = tu_model_path("stories260K.gguf");
    fx->bad_base = path_in(fx, "base.gguf");
    fx->good_hf = path_in(fx, "good-hf");
    fx->sharded_hf = path_in(fx, "sharded-hf");
    *state = fx;
    synth_config c = quant_config(fx);
    c.vocab_gguf = fx->tiny_vocab;
    synth_config h = llama_config(fx);
    bool ok = synth_write_gguf(&c, fx->bad_base, err) && synth_write_hf(&h, fx->good_hf, err);
    h.hf_shards = 3;
    ok = ok && synth_write_hf(&h, fx->sharded_hf, err);
    if (!ok) fprintf(stderr, "model_test setup: %s\n", err);
    return ok ? 0 : -1;
}

static int group_teardown(void **state) {
    fixture *fx = *state;
    tu_rmrf(fx->dir);
    char **s[] = {&fx->dir, &fx->spm_vocab, &fx->spm_tok, &fx->gpt2_vocab, &fx->qwen_tok,
                  &fx->tiny_vocab, &fx->bad_base, &fx->good_hf, &fx->sharded_hf};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) free(*s[i]);
    free(fx->qref);
    free(fx);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equiv_llama_gqa),     cmocka_unit_test(test_equiv_llama_head_dim),
        cmocka_unit_test(test_equiv_llama_tied),    cmocka_unit_test(test_equiv_qwen2_tied),
        cmocka_unit_test(test_equiv_qwen2_untied),  cmocka_unit_test(test_equiv_sharded),
        cmocka_unit_test(test_rope_llama3),         cmocka_unit_test(test_rope_linear),
        cmocka_unit_test(test_n_params),            cmocka_unit_test(test_model_info),
        cmocka_unit_test(test_tokenizer_copied),
        cmocka_unit_test(test_synth_deterministic), cmocka_unit_test(test_quantizers),
        cmocka_unit_test(test_gguf_f16),            cmocka_unit_test(test_hf_f16),
        cmocka_unit_test(test_hf_bf16),             cmocka_unit_test(test_gguf_q8_0),
        cmocka_unit_test(test_gguf_q6_k),           cmocka_unit_test(test_gguf_q4_0),
        cmocka_unit_test(test_gguf_q4_k),           cmocka_unit_test(test_quant_exact),
        cmocka_unit_test(test_bad_gguf_edits),      cmocka_unit_test(test_tokenizer_exceeds_vocab),
        cmocka_unit_test(test_bad_rope_scaling),
        cmocka_unit_test(test_bad_gguf_bytes),      cmocka_unit_test(test_bad_hf),
        cmocka_unit_test(test_cli_bad_models),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
