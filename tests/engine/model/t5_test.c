/*
 * t5_test.c — the encoder-decoder path (T5) against two independent
 * oracles:
 *
 *   - llama.cpp c392e50's greedy ids on ../shared/models/synth/arch/
 *     t5.gguf (reference/arch-t5.json: llama-cli, which encodes the
 *     prompt, then decodes from decoder_start_token_id): the `text` of each
 *     prompt tokenizes to its `encoder_ids`, and the greedy ids are equal up
 *     to the first step where ctgi's own top1 - top2 probability margin is
 *     <= 0.01 (the file's tolerance: it has no probabilities), with an F32
 *     and an F16 KV cache;
 *   - the float64 numpy pass tests/engine/model/t5_ref.py (its own forward
 *     pass and float32 bucket rule, sharing no code with ctgi), logits
 *     top-10 within 1e-3 per step, on t5.gguf, its Hugging Face directory
 *     (support/hf_write.c, itself checked tensor by tensor by
 *     hf_layout_check.py) and variants written here: the original T5's
 *     ReLU MLP (no ffn_gate), a tied head (no output.weight: dim^-0.5
 *     scale), umt5's relative bias in every layer, fewer decoder than
 *     encoder layers.  ctgi's bucket tables equal the reference's.
 *
 * And: GGUF and HF compute the same bits; F16 HF matrices stay close to
 * their F32 twin; files ctgi cannot run are refused by name.
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

#include "engine.h"
#include "model/dtype.h"
#include "model/forward.h"
#include "support/golden.h"
#include "support/gguf_write.h"
#include "support/hf_write.h"
#include "support/synth_model.h"
#include "support/testutil.h"

#define PYTHON "/usr/bin/python3" /* Debian's, with python3-numpy */
#define LOGIT_TOL 1e-3
enum { MAX_ENC = 256, N_STEPS = 32 };

/* ---- running T5 on the forward pass directly ---------------------------------------- */

typedef struct {
    model *m;
    pool *pool;
    fwd_ctx *fwd;
    kv_pool *kv;
    kv_seq dec, cross;
    int n_dec;
    float *logits; /* (vocab) the last step's */
} t5_runner;

static void t5_open(t5_runner *r, const char *path, kv_dtype dt) {
    char err[CT_ERRLEN];
    memset(r, 0, sizeof *r);
    if (!(r->m = model_load(path, err))) fail_msg("model_load(%s): %s", path, err);
    const model_config *c = &r->m->cfg;
    r->pool = pool_create(2, 0);
    r->fwd = fwd_create(r->m, r->pool, MAX_ENC);
    r->kv = kv_pool_create(c->n_layers, c->n_kv_heads * c->head_dim, 16, 64, dt, false);
    r->logits = malloc((size_t)c->vocab * sizeof(float));
    assert_true(r->pool && r->fwd && r->kv && r->logits);
    kv_seq_init(&r->dec);
    kv_seq_init(&r->cross);
}

static void t5_close(t5_runner *r) {
    kv_seq_release(r->kv, &r->dec);
    kv_seq_release(r->kv, &r->cross);
    free(r->logits);
    kv_pool_free(r->kv);
    fwd_free(r->fwd);
    pool_free(r->pool);
    model_free(r->m);
}

/* A new request: the prompt through the encoder, the decoder empty. */
static void t5_start(t5_runner *r, const int32_t *ids, int n) {
    int pos[MAX_ENC], seq[MAX_ENC] = {0};
    kv_seq_release(r->kv, &r->dec);
    kv_seq_release(r->kv, &r->cross);
    r->n_dec = 0;
    for (int i = 0; i < n; i++) pos[i] = i;
    const kv_seq *tabs[1] = {&r->cross};
    assert_true(kv_seq_reserve(r->kv, &r->cross, n));
    fwd_batch b = {.tokens = ids, .pos = pos, .seq = seq, .seqs = tabs, .n = n};
    assert_true(fwd_encode(r->fwd, kv_pool_store(r->kv), &b));
    kv_seq_commit_private(r->kv, &r->cross, n);
}

/* The decoder fed tok at its next position; r->logits then hold the next
 * token's logits. */
static void t5_step(t5_runner *r, int32_t tok) {
    int pos = r->n_dec, seq = 0;
    const kv_seq *tabs[1] = {&r->dec}, *cross[1] = {&r->cross};
    assert_true(kv_seq_reserve(r->kv, &r->dec, pos + 1));
    fwd_batch b = {.tokens = &tok, .pos = &pos, .seq = &seq, .seqs = tabs, .n = 1, .cross = cross};
    assert_true(fwd_eval(r->fwd, kv_pool_store(r->kv), &b, r->logits));
    kv_seq_commit_private(r->kv, &r->dec, ++r->n_dec);
}

static void softmax(const float *z, int n, double *p) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < n; i++) sum += p[i] = exp((double)z[i] - mx);
    for (int i = 0; i < n; i++) p[i] /= sum;
}

/* The two largest of p: their ids' margin. */
static double margin(const double *p, int n) {
    double a = -1, b = -1;
    for (int i = 0; i < n; i++)
        if (p[i] > a) b = a, a = p[i];
        else if (p[i] > b) b = p[i];
    return a - b;
}

/* ---- llama.cpp's greedy ids ------------------------------------------------------------- */

static json_t *load_reference(void) {
    char *path = tu_model_path("reference/arch-t5.json");
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) fail_msg("%s: %s", path, je.text);
    free(path);
    return j;
}

static void llamacpp_greedy(kv_dtype dt) {
    json_t *ref = load_reference();
    char *path = tu_model_path("synth/arch/t5.gguf");
    t5_runner r;
    t5_open(&r, path, dt);
    int vocab = r.m->cfg.vocab, total = 0, matched = 0;
    double *p = malloc((size_t)vocab * sizeof *p), least = 1;
    json_t *prompts = json_object_get(ref, "prompts");
    for (size_t i = 0; i < json_array_size(prompts); i++) {
        json_t *pr = json_array_get(prompts, i);
        const char *name = json_string_value(json_object_get(pr, "name"));
        const char *text = json_string_value(json_object_get(pr, "text"));
        int32_t want_enc[MAX_ENC], want[64], *ids = NULL;
        int n_enc = golden_json_ids(json_object_get(pr, "encoder_ids"), want_enc, MAX_ENC);
        int n_want = golden_json_ids(json_object_get(pr, "greedy_ids"), want, 64);
        char err[CT_ERRLEN];
        int n = tok_encode(r.m->tok, text, strlen(text), true, false, &ids, err);
        if (n != n_enc) fail_msg("%s: '%s' tokenizes to %d ids, llama.cpp %d", name, text, n, n_enc);
        for (int k = 0; k < n; k++)
            if (ids[k] != want_enc[k]) fail_msg("%s: encoder id %d is %d, llama.cpp %d", name, k, ids[k], want_enc[k]);
        free(ids);
        assert_int_equal((int)json_integer_value(json_object_get(pr, "decoder_start_id")), r.m->cfg.dec_start_id);
        t5_start(&r, want_enc, n_enc);
        int32_t tok = r.m->cfg.dec_start_id;
        total += n_want;
        for (int k = 0; k < n_want; k++) {
            t5_step(&r, tok);
            softmax(r.logits, vocab, p);
            double mg = margin(p, vocab);
            tok = golden_argmax(r.logits, vocab);
            if (tok != want[k]) {
                if (mg > 0.01) fail_msg("%s step %d: %d, llama.cpp %d (own margin %.4f)", name, k, tok, want[k], mg);
                printf("# %s: step %d differs under own margin %.4f: compared up to here\n", name, k, mg);
                break;
            }
            least = mg < least ? mg : least;
            matched++;
        }
    }
    printf("# t5 vs llama.cpp (KV %s): greedy %d of %d ids equal; least own margin %.4f\n", kv_dtype_name(dt),
           matched, total, least);
    free(p);
    free(path);
    t5_close(&r);
    json_decref(ref);
}

static void test_llamacpp_f32(void **state) { (void)state; llamacpp_greedy(KV_F32); }
static void test_llamacpp_f16(void **state) { (void)state; llamacpp_greedy(KV_F16); }

/* ---- the float64 reference ----------------------------------------------------------- */

static json_t *reference(const char *gguf, const int32_t *ids, int n) {
    char cmd[8192];
    int len = snprintf(cmd, sizeof cmd, "%s tests/engine/model/t5_ref.py '%s' -n %d --ids ", PYTHON, gguf, N_STEPS);
    for (int i = 0; i < n; i++) len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%d", i ? "," : "", ids[i]);
    int status = -1;
    char *out = tu_run(cmd, &status);
    if (status != 0 || !out) fail_msg("%s failed (status %d): %s", cmd, status, out ? out : "");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) fail_msg("t5_ref.py output: %s", je.text);
    free(out);
    return j;
}

/* ctgi's buckets of every offset in [-300, 300] equal the reference's. */
static void buckets_agree(const model *m, json_t *ref) {
    json_t *b = json_object_get(ref, "buckets");
    const model_config *c = &m->cfg;
    int D = c->rel_max_distance;
    for (int d = -300; d <= 300; d++) {
        int e = (int)json_integer_value(json_array_get(json_object_get(b, "enc"), (size_t)(d + 300)));
        int k = (int)json_integer_value(json_array_get(json_object_get(b, "dec"), (size_t)(d + 300)));
        int dc = d < -D ? -D : d > D ? D : d;
        if (m->rel_bucket_enc[dc + D] != e || model_rel_bucket(d, c->rel_buckets, D, true) != e)
            fail_msg("encoder bucket of offset %d: %d, reference %d", d, m->rel_bucket_enc[dc + D], e);
        if (m->rel_bucket_dec[dc + D] != k || model_rel_bucket(d, c->rel_buckets, D, false) != k)
            fail_msg("decoder bucket of offset %d: %d, reference %d", d, m->rel_bucket_dec[dc + D], k);
    }
}

typedef struct {
    double logit, prob; /* max |ctgi - reference| over the top-10 entries */
    int steps, total;
} ref_result;

/* The model at path (GGUF or HF) against t5_ref.py on ref_gguf, for a
 * prompt of n_enc ids drawn from seed; F32 KV cache. */
static void against_reference(const char *label, const char *path, const char *ref_gguf, int n_enc, uint64_t seed,
                              ref_result *res) {
    t5_runner r;
    t5_open(&r, path, KV_F32);
    int vocab = r.m->cfg.vocab;
    int32_t ids[MAX_ENC];
    ids[0] = 1;
    for (int i = 1; i < n_enc; i++) ids[i] = (int32_t)tu_rnd_in(&seed, 259, vocab - 1);
    json_t *ref = reference(ref_gguf, ids, n_enc), *g = json_object_get(ref, "greedy");
    buckets_agree(r.m, ref);
    assert_int_equal((int)json_integer_value(json_object_get(ref, "start")), r.m->cfg.dec_start_id);
    double *p = malloc((size_t)vocab * sizeof *p);
    t5_start(&r, ids, n_enc);
    int32_t tok = r.m->cfg.dec_start_id;
    res->total += N_STEPS;
    for (int k = 0; k < N_STEPS; k++) {
        t5_step(&r, tok);
        json_t *top = json_array_get(json_object_get(g, "top10"), (size_t)k);
        softmax(r.logits, vocab, p);
        for (size_t i = 0; i < json_array_size(top); i++) { /* [id, logit, p] */
            json_t *e = json_array_get(top, i);
            int id = (int)json_integer_value(json_array_get(e, 0));
            double d = fabs(r.logits[id] - json_number_value(json_array_get(e, 1)));
            double dp = fabs(p[id] - json_number_value(json_array_get(e, 2)));
            if (isnan(d) || d > LOGIT_TOL) fail_msg("%s step %d: logit(%d) %.6f, reference %.6f", label, k, id,
                                                    r.logits[id], json_number_value(json_array_get(e, 1)));
            res->logit = d > res->logit ? d : res->logit;
            res->prob = dp > res->prob ? dp : res->prob;
        }
        tok = golden_argmax(r.logits, vocab);
        int32_t want = (int32_t)json_integer_value(json_array_get(json_object_get(g, "ids"), (size_t)k));
        double mg = json_number_value(json_array_get(json_object_get(g, "margin"), (size_t)k));
        if (tok != want) {
            if (mg > 2 * LOGIT_TOL) fail_msg("%s step %d: %d, reference %d (margin %.4f)", label, k, tok, want, mg);
            printf("# %s: step %d: %d vs %d under margin %.4f: compared up to here\n", label, k, tok, want, mg);
            break;
        }
        res->steps++;
    }
    free(p);
    json_decref(ref);
    t5_close(&r);
}

/* path (and its HF directory, layout-checked) against the reference, on
 * prompts of 1, 9 and 40 ids. */
static void gguf_and_hf(const char *label, const char *gguf) {
    char err[CT_ERRLEN], hf[4096], cmd[8192], *dir = tu_mkdtemp();
    snprintf(hf, sizeof hf, "%s/hf", dir);
    if (!hf_write_from_gguf(gguf, hf, NULL, err)) fail_msg("%s", err);
    snprintf(cmd, sizeof cmd, "%s tests/engine/model/hf_layout_check.py '%s' '%s' 2>&1", PYTHON, gguf, hf);
    int status = -1;
    char *out = tu_run(cmd, &status);
    if (status != 0 || !out || strncmp(out, "ok ", 3) != 0) fail_msg("hf_layout_check: %s", out ? out : "");
    free(out);
    const int lens[3] = {1, 9, 40};
    for (int f = 0; f < 2; f++) {
        ref_result res = {0};
        for (int i = 0; i < 3; i++) against_reference(label, f ? hf : gguf, gguf, lens[i], 0x75a1u + (uint64_t)i, &res);
        printf("# %s (%s): max |logit - float64| %.2e, |p - p64| (top-10) %.2e, greedy %d of %d\n", label,
               f ? "HF" : "GGUF", res.logit, res.prob, res.steps, res.total);
    }
    tu_rmrf(dir);
    free(dir);
}

static void test_reference(void **state) {
    (void)state;
    char *path = tu_model_path("synth/arch/t5.gguf");
    gguf_and_hf("t5", path);
    free(path);
}

/* ---- variants of t5.gguf --------------------------------------------------------------- */

typedef struct {
    bool relu;       /* no ffn_gate anywhere: the original T5's ReLU MLP */
    bool tied;       /* no output.weight */
    bool every_bias; /* attn_rel_b in every layer (umt5) */
    int dec_layers;  /* > 0: keep that many decoder layers, say so in t5.decoder_block_count */
} variant;

static bool keep_tensor(const variant *v, const char *name) {
    int l;
    if (v->relu && strstr(name, ".ffn_gate.")) return false;
    if (v->tied && !strcmp(name, "output.weight")) return false;
    if (v->dec_layers > 0 && sscanf(name, "dec.blk.%d.", &l) == 1 && l >= v->dec_layers) return false;
    return true;
}

static void write_variant(const char *src, const char *dst, const variant *v) {
    char err[CT_ERRLEN];
    gguf_file *f = gguf_open(src, err);
    if (!f) fail_msg("%s", err);
    gw_writer *w = gw_new();
    bool ok = w != NULL;
    for (uint64_t i = 0; ok && i < gguf_n_kv(f); i++) ok = synth_gguf_copy_kv(w, f, i, err);
    if (ok && v->dec_layers > 0) ok = gw_add_u32(w, "t5.decoder_block_count", (uint32_t)v->dec_layers);
    uint64_t seed = 0x5eedu;
    for (uint64_t i = 0; ok && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (!keep_tensor(v, t->name)) continue;
        ok = gw_add_tensor(w, t->name, t->n_dims, t->ne, t->type, t->data, t->nbytes, false);
        int l, end = 0;
        char stack[4], name[96];
        /* umt5: after each later layer's attention out-projection, its own bias */
        if (ok && v->every_bias && sscanf(t->name, "%3[a-z].blk.%d.attn_o.weight%n", stack, &l, &end) == 2 && end > 0 &&
            l > 0) {
            const gguf_tensor *b0 = gguf_find_tensor(f, "enc.blk.0.attn_rel_b.weight");
            float *x = malloc(b0->nbytes);
            for (uint64_t k = 0; k < b0->n_elems; k++) x[k] = (float)(tu_rnd_in(&seed, -2000, 2000) / 1000.0);
            snprintf(name, sizeof name, "%s.blk.%d.attn_rel_b.weight", stack, l);
            ok = gw_add_tensor(w, name, b0->n_dims, b0->ne, DT_F32, x, b0->nbytes, true);
            free(x);
        }
    }
    ok = ok && gw_write(w, dst, err);
    gw_free(w);
    gguf_close(f);
    if (!ok) fail_msg("writing %s: %s", dst, err[0] ? err : "out of memory");
}

static void variant_case(const char *label, const variant *v) {
    char *src = tu_model_path("synth/arch/t5.gguf"), *dir = tu_mkdtemp(), path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, label);
    write_variant(src, path, v);
    gguf_and_hf(label, path);
    tu_rmrf(dir);
    free(dir);
    free(src);
}

static void test_relu(void **state) {
    (void)state;
    variant v = {.relu = true};
    variant_case("t5-relu", &v);
}

static void test_tied(void **state) {
    (void)state;
    variant v = {.tied = true};
    variant_case("t5-tied", &v);
}

static void test_umt5(void **state) {
    (void)state;
    variant v = {.every_bias = true};
    variant_case("umt5", &v);
}

static void test_fewer_decoder_layers(void **state) {
    (void)state;
    variant v = {.dec_layers = 1};
    variant_case("t5-dec1", &v);
}

/* ---- formats ---------------------------------------------------------------------------- */

/* The same weights through GGUF and HF: bit for bit the same logits; and
 * the HF directory's F16 matrices close to their F32 twin. */
static void test_formats_same_bits(void **state) {
    (void)state;
    char err[CT_ERRLEN], hf[4096], hf16[4096], *dir = tu_mkdtemp();
    char *path = tu_model_path("synth/arch/t5.gguf");
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(hf16, sizeof hf16, "%s/hf16", dir);
    hf_write_opts o16 = {.f16 = true};
    if (!hf_write_from_gguf(path, hf, NULL, err) || !hf_write_from_gguf(path, hf16, &o16, err)) fail_msg("%s", err);
    t5_runner a, b, c;
    t5_open(&a, path, KV_F32);
    t5_open(&b, hf, KV_F32);
    t5_open(&c, hf16, KV_F32);
    assert_string_equal(model_get_info(b.m).hf_class, "T5ForConditionalGeneration");
    assert_true(model_get_info(a.m).encoder_decoder && model_get_info(b.m).encoder_decoder);
    assert_int_equal(a.m->n_params, b.m->n_params);
    assert_string_equal(c.m->dtype, "F16");
    int vocab = a.m->cfg.vocab;
    int32_t ids[24] = {1};
    uint64_t s = 0x7a11u;
    for (int i = 1; i < 24; i++) ids[i] = (int32_t)tu_rnd_in(&s, 259, vocab - 1);
    t5_start(&a, ids, 24);
    t5_start(&b, ids, 24);
    t5_start(&c, ids, 24);
    int32_t tok = a.m->cfg.dec_start_id;
    double f16 = 0;
    for (int k = 0; k < 16; k++) {
        t5_step(&a, tok);
        t5_step(&b, tok);
        t5_step(&c, tok);
        assert_memory_equal(a.logits, b.logits, (size_t)vocab * sizeof(float));
        for (int i = 0; i < vocab; i++) f16 = fmax(f16, fabs(a.logits[i] - c.logits[i]));
        tok = golden_argmax(a.logits, vocab);
    }
    printf("# GGUF and HF: identical logits over 16 steps; HF F16 matrices vs F32: max |logit diff| %.2e\n", f16);
    assert_true(f16 < 0.05);
    t5_close(&a);
    t5_close(&b);
    t5_close(&c);
    tu_rmrf(dir);
    free(dir);
    free(path);
}

/* The decoder fed several tokens in one pass (a re-fed sequence after a
 * preemption) gives each row the bits it gets one token at a time; two
 * prompts encoded together give each the bits it gets alone. */
static void test_batch_shapes(void **state) {
    (void)state;
    char *path = tu_model_path("synth/arch/t5.gguf");
    t5_runner r;
    t5_open(&r, path, KV_F16);
    const model_config *c = &r.m->cfg;
    int vocab = c->vocab;
    int32_t p1[9] = {1, 278, 411, 284, 338, 339, 349, 398, 485}, p2[30], dec[8];
    uint64_t s = 0x9bu;
    p2[0] = 1;
    for (int i = 1; i < 30; i++) p2[i] = (int32_t)tu_rnd_in(&s, 259, vocab - 1);
    float *solo = malloc(8 * (size_t)vocab * sizeof(float)), *both = malloc(8 * (size_t)vocab * sizeof(float));
    /* solo, one token at a time */
    t5_start(&r, p1, 9);
    dec[0] = c->dec_start_id;
    for (int k = 0; k < 8; k++) {
        t5_step(&r, dec[k]);
        memcpy(solo + (size_t)k * vocab, r.logits, (size_t)vocab * sizeof(float));
        if (k < 7) dec[k + 1] = golden_argmax(r.logits, vocab);
    }
    /* both prompts encoded in one pass; p1's decoder fed its 8 tokens at once beside p2's start */
    kv_seq x1, x2, d1, d2;
    kv_seq_init(&x1);
    kv_seq_init(&x2);
    kv_seq_init(&d1);
    kv_seq_init(&d2);
    int32_t tok[39];
    int pos[39], seq[39];
    for (int i = 0; i < 9; i++) tok[i] = p1[i], pos[i] = i, seq[i] = 0;
    for (int i = 0; i < 30; i++) tok[9 + i] = p2[i], pos[9 + i] = i, seq[9 + i] = 1;
    const kv_seq *xt[2] = {&x1, &x2}, *dt[2] = {&d1, &d2};
    assert_true(kv_seq_reserve(r.kv, &x1, 9) && kv_seq_reserve(r.kv, &x2, 30));
    fwd_batch eb = {.tokens = tok, .pos = pos, .seq = seq, .seqs = xt, .n = 39};
    assert_true(fwd_encode(r.fwd, kv_pool_store(r.kv), &eb));
    kv_seq_commit_private(r.kv, &x1, 9);
    kv_seq_commit_private(r.kv, &x2, 30);
    for (int k = 0; k < 8; k++) tok[k] = dec[k], pos[k] = k, seq[k] = 0;
    tok[8] = c->dec_start_id, pos[8] = 0, seq[8] = 1;
    assert_true(kv_seq_reserve(r.kv, &d1, 8) && kv_seq_reserve(r.kv, &d2, 1));
    fwd_batch db = {.tokens = tok, .pos = pos, .seq = seq, .seqs = dt, .n = 9, .cross = xt};
    float *logits = malloc(9 * (size_t)vocab * sizeof(float));
    assert_true(fwd_eval(r.fwd, kv_pool_store(r.kv), &db, logits));
    memcpy(both, logits, 8 * (size_t)vocab * sizeof(float));
    assert_memory_equal(solo, both, 8 * (size_t)vocab * sizeof(float));
    /* a decoder batch without cross tables is refused, not run */
    db.cross = NULL;
    assert_false(fwd_run(r.fwd, kv_pool_store(r.kv), &db));
    /* the encoder refuses split or unordered prompts */
    pos[0] = 1;
    fwd_batch bad = {.tokens = tok, .pos = pos, .seq = seq, .seqs = xt, .n = 1};
    assert_false(fwd_encode(r.fwd, kv_pool_store(r.kv), &bad));
    kv_seq_release(r.kv, &x1);
    kv_seq_release(r.kv, &x2);
    kv_seq_release(r.kv, &d1);
    kv_seq_release(r.kv, &d2);
    free(logits);
    free(solo);
    free(both);
    t5_close(&r);
    free(path);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void expect_gguf_refusal(const synth_gguf_edit *e, const char *needle) {
    char *src = tu_model_path("synth/arch/t5.gguf"), *dir = tu_mkdtemp(), path[4096], err[CT_ERRLEN];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    if (!synth_gguf_rewrite(src, path, e, err)) fail_msg("%s", err);
    model *m = model_load(path, err);
    if (m) fail_msg("a T5 file whose '%s' is edited loaded", needle);
    printf("# refused: %s\n", err);
    if (!strstr(err, needle)) fail_msg("error '%s' does not name '%s'", err, needle);
    tu_rmrf(dir);
    free(dir);
    free(src);
}

static void test_bad_gguf(void **state) {
    (void)state;
    const char *drops[] = {"enc.blk.1.attn_o.weight", "dec.blk.0.cross_attn_k.weight", "enc.blk.0.attn_rel_b.weight",
                           "dec.blk.0.attn_rel_b.weight", "enc.output_norm.weight", "dec.blk.1.cross_attn_norm.weight",
                           "dec.blk.1.ffn_gate.weight"};
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
        synth_gguf_edit e = {.tensor = drops[i], .drop = true};
        expect_gguf_refusal(&e, drops[i]);
    }
    synth_gguf_edit k = {.drop_kv = "t5.attention.relative_buckets_count"};
    expect_gguf_refusal(&k, "t5.attention.relative_buckets_count");
    synth_gguf_edit b = {.u32_key = "t5.attention.relative_buckets_count", .u32 = 30};
    expect_gguf_refusal(&b, "t5.attention.relative_buckets_count 30");
    synth_gguf_edit s = {.u32_key = "t5.decoder_start_token_id", .u32 = 4096};
    expect_gguf_refusal(&s, "decoder start token id 4096");
    uint64_t ne[2] = {4, 31}; /* a bias table of 31 buckets for a 32-bucket model */
    synth_gguf_edit r = {.tensor = "enc.blk.0.attn_rel_b.weight", .n_dims = 2, .ne = {ne[0], ne[1]}};
    expect_gguf_refusal(&r, "enc.blk.0.attn_rel_b.weight");
}

/* An HF directory of t5.gguf's weights whose config.json key is set to
 * value (JSON text), or whose tensor `drop` is left out. */
static void expect_hf_refusal(const char *key, const char *value, const char *drop, const char *needle) {
    char *src = tu_model_path("synth/arch/t5.gguf"), *dir = tu_mkdtemp(), hf[4096], err[CT_ERRLEN], cfg[4200];
    char from[4200];
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(from, sizeof from, "%s", src);
    if (drop) { /* the GGUF without it, then its HF directory */
        snprintf(from, sizeof from, "%s/drop.gguf", dir);
        synth_gguf_edit e = {.tensor = drop, .drop = true};
        if (!synth_gguf_rewrite(src, from, &e, err)) fail_msg("%s", err);
    }
    if (!hf_write_from_gguf(from, hf, NULL, err)) fail_msg("%s", err);
    snprintf(cfg, sizeof cfg, "%s/config.json", hf);
    json_t *j = json_load_file(cfg, 0, NULL);
    assert_non_null(j);
    if (key) json_object_set_new(j, key, json_loads(value, JSON_DECODE_ANY, NULL));
    assert_int_equal(json_dump_file(j, cfg, 0), 0);
    json_decref(j);
    model *m = model_load(hf, err);
    if (m) fail_msg("an HF T5 directory with %s loaded", key ? key : drop);
    printf("# refused: %s\n", err);
    if (!strstr(err, needle)) fail_msg("error '%s' does not name '%s'", err, needle);
    tu_rmrf(dir);
    free(dir);
    free(src);
}

static void test_bad_hf(void **state) {
    (void)state;
    expect_hf_refusal("feed_forward_proj", "\"gated-relu\"", NULL, "feed_forward_proj 'gated-relu'");
    expect_hf_refusal("feed_forward_proj", "\"swish\"", NULL, "feed_forward_proj 'swish'");
    expect_hf_refusal("is_encoder_decoder", "false", NULL, "is_encoder_decoder");
    expect_hf_refusal("relative_attention_num_buckets", "7", NULL, "relative_attention_num_buckets 7");
    expect_hf_refusal("relative_attention_max_distance", "4", NULL, "relative_attention_max_distance 4");
    expect_hf_refusal(NULL, NULL, "dec.blk.1.cross_attn_v.weight", "decoder.block.1.layer.1.EncDecAttention.v.weight");
    expect_hf_refusal(NULL, NULL, "enc.blk.0.ffn_up.weight", "encoder.block.0.layer.1.DenseReluDense.wi_1.weight");
}

/* What an encoder-decoder model does not take: LoRA adapters (refused
 * before the path is read) and a draft model (refused by engine_create,
 * either way round). */
static void test_no_lora_no_draft(void **state) {
    (void)state;
    char err[CT_ERRLEN];
    char *path = tu_model_path("synth/arch/t5.gguf"), *llama = tu_model_path("stories260K.gguf");
    model *m = model_load(path, err), *other = model_load(llama, err);
    assert_true(m && other);
    assert_int_equal(model_lora_load(m, "a", "/nonexistent", err), 0);
    printf("# refused: %s\n", err);
    assert_non_null(strstr(err, "encoder-decoder"));
    engine_config c = engine_config_default();
    c.n_threads = 1;
    c.speculate = 2;
    c.draft_model = other;
    assert_null(engine_create(m, &c, err));
    printf("# refused: %s\n", err);
    assert_non_null(strstr(err, "encoder-decoder"));
    c.draft_model = m;
    assert_null(engine_create(other, &c, err));
    assert_non_null(strstr(err, "encoder-decoder"));
    model_free(other);
    model_free(m);
    free(path);
    free(llama);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llamacpp_f32), cmocka_unit_test(test_llamacpp_f16),
        cmocka_unit_test(test_reference),    cmocka_unit_test(test_relu),
        cmocka_unit_test(test_tied),         cmocka_unit_test(test_umt5),
        cmocka_unit_test(test_fewer_decoder_layers), cmocka_unit_test(test_formats_same_bits),
        cmocka_unit_test(test_batch_shapes), cmocka_unit_test(test_bad_gguf),
        cmocka_unit_test(test_bad_hf),       cmocka_unit_test(test_no_lora_no_draft),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
