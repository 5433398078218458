/*
 * forward.c — the decoder forward pass: embeddings -> n_layers x (norm,
 * attention with RoPE and grouped-query heads, residual, norm, SwiGLU
 * MLP, residual) -> final norm -> output head, and the architectures'
 * variations as hooks on that one pass (model.h's model_config): RMSNorm
 * or LayerNorm (with bias), biases on every product, GeGLU, a plain GELU
 * or ReLU MLP, parallel residual (x + attn(n1 x) + mlp(n2 x)), partial
 * rotary, learned positions, ALiBi, T5's relative bias, a qkv clamp, QK
 * RMSNorm, embedding scale and norm, attention and final soft-capping,
 * post-attention and post-MLP norms, sliding-window attention per layer,
 * T5's cross-attention block and output scale.  Each lives in the
 * element-wise task or kernel it modifies (fwd_norm_row, norm_task,
 * qkv_hooks, attend_tile in forward_attn.c, fwd_ffn, fwd_residual_task,
 * softcap_task, fwd_embed, layer_forward's cross block in
 * forward_encdec.c, fwd_logits); a model that does not use one takes the
 * plain path, bit for bit.
 *
 * All n tokens of a call go through each weight product together: one
 * matrix product (T, K) x (N, K)^T per weight, split by output columns over
 * the pool's threads.  Weights in their file's type (wmat.h) split in
 * groups of 16 rows (fixed ranges, or pieces claimed as the threads go for
 * decode-sized batches: FWD_GUIDED_MAX_ROWS); their input is quantized once per product when the
 * type calls for it (by every thread for itself when it has at most
 * FWD_QUANT_OWN rows).  F32 weights split in whole panels and run
 * mm_packed (matmul.h).  Either way every output has one fixed summation
 * order, so a token's logits are the same bits whatever batch it is
 * computed in.  FWD_MM_BLAS (F32 weights only) instead calls
 * single-threaded BLAS sgemm, which is not batch-invariant; the weights are only held packed, so each
 * thread first unpacks a chunk of its rows into its own scratch
 * (row-major) and hands that to sgemm — a copy per call, ~2% of a
 * prefill's product.  For <= 2 rows BLAS mode used sgemv (which streams
 * the weights ~2x faster than sgemm — runtime-notes.md §2.6); on packed
 * weights it would read them twice, so those steps run the packed kernel,
 * which streams them at least as fast.  Attention runs on tiles of
 * (token, head) rows in parallel (attend_tile).  Weights are in rotate-half
 * RoPE layout (model.h), so one RoPE kernel serves every file format.
 *
 * LoRA: a batch may mix rows of several adapters and of none.  Every base
 * product is shared by all rows; after it, fwd_lora_apply
 * (forward_lora.c) adds each adapted row's scale * B (A x) to its output,
 * before the hooks that read it, with one fixed order per value: a row's
 * bits depend on its adapter and its own values only.
 */
#include "forward_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "kernels/matmul.h"
#include "kernels/vmath.h"
#include "kernels/wmat.h"

/* BLAS mode: at or below this many rows the packed kernel runs instead
 * (sgemv would want row-major weights; see matmul_slice). */
#define FWD_GEMV_MAX_ROWS 2
/* BLAS mode: weight rows unpacked per sgemm call, enough that sgemm's own
 * packing of x is amortized over them. */
#define FWD_BLAS_ROWS 256

/* Products of typed weights over at most this many rows share out their
 * groups as they go (guided claims, matmul_claim) instead of in fixed
 * halves.  Such a product streams its weights from memory, and how fast
 * each core gets its share varies from run to run (and a core may be lent
 * to the HTTP loop), so fixed halves leave one thread waiting at the end.
 * Larger batches keep fixed ranges: their cost is compute, evenly split,
 * and the AMX passes over row blocks want long runs of groups. */
#define FWD_GUIDED_MAX_ROWS 32

/* Inputs of at most this many rows are quantized by every thread for
 * itself (a few microseconds) instead of in a pool round trip of its own:
 * decode steps make ~4 products per layer. */
#define FWD_QUANT_OWN 4

/* ---- setup ---------------------------------------------------------------- */

/* The longest input row of a weight product: dim, ffn_dim or the query width. */
static int max_k(const model_config *c) {
    int k = c->dim > c->ffn_dim ? c->dim : c->ffn_dim, qd = c->n_heads * c->head_dim;
    return qd > k ? qd : k;
}

fwd_ctx *fwd_create(const model *m, pool *p, int max_tokens) {
    const model_config *c = &m->cfg;
    fwd_ctx *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->m = m;
    f->pool = p;
    f->max_tokens = max_tokens;
    size_t T = (size_t)max_tokens, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim;
    float **bufs[] = {&f->x, &f->xb, &f->xb2, &f->q, &f->k, &f->v, &f->att, &f->proj, &f->proj2, &f->gate, &f->up,
                      &f->rope};
    size_t sizes[] = {c->dim, c->dim, c->dim, qd, kvd, kvd, qd, c->dim, c->dim, c->ffn_dim, c->ffn_dim, c->head_dim};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *bufs[i] = mm_alloc(T * sizes[i] * sizeof(float)); /* huge pages: matmul.h */
        if (!*bufs[i]) { fwd_free(f); return NULL; }
    }
    /* wm_act_bytes grows with K and is a multiple of 64 (each thread's
     * act_small slice stays aligned) */
    f->act_small_bytes = wm_act_bytes(FWD_QUANT_OWN, max_k(c));
    if (!(f->rows = malloc(T * sizeof *f->rows)) || !fwd_lora_init(&f->lora, max_tokens) ||
        !(f->tiles = malloc(T * c->n_heads * sizeof *f->tiles)) ||
        (model_is_encdec(c) && !(f->xtiles = malloc(T * c->n_heads * sizeof *f->xtiles))) ||
        !(f->act_buf = mm_alloc(wm_act_bytes(max_tokens, max_k(c)))) ||
        !(f->act_small = mm_alloc(f->act_small_bytes * (size_t)pool_size(p)))) {
        fwd_free(f);
        return NULL;
    }
    /* BLAS must not start threads of its own: the pool owns the cores. */
    openblas_set_num_threads(1);
    return f;
}

void fwd_free(fwd_ctx *f) {
    if (!f) return;
    float *bufs[] = {f->x,  f->xb,   f->xb2, f->q,    f->k,     f->v,       f->att,
                     f->proj, f->proj2, f->gate, f->up, f->rope, f->score, f->unpacked};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(f->rows);
    fwd_lora_free(&f->lora);
    free(f->tiles);
    free(f->xtiles);
    free(f->act_buf);
    free(f->act_small);
    free(f);
}

int fwd_max_tokens(const fwd_ctx *f) { return f->max_tokens; }

void fwd_set_matmul(fwd_ctx *f, fwd_matmul mode) { f->mm_mode = mode; }

/* ---- matrix products -------------------------------------------------------- */

/* BLAS sgemm on rows [b, e) of F32 weights, a chunk at a time unpacked
 * into `scratch` (row-major); not batch-invariant. */
static void blas_slice(const matmul_job *j, int b, int e, float *scratch) {
    int N = j->w->rows, K = j->w->cols;
    const float *wp = (const float *)j->w->data;
    for (int c0 = b; c0 < e; c0 += FWD_BLAS_ROWS) {
        int c1 = e - c0 < FWD_BLAS_ROWS ? e : c0 + FWD_BLAS_ROWS;
        mm_unpack_rows(wp, N, K, c0, c1, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, c1 - c0, K, 1.0f, j->in, K, scratch, K, 0.0f,
                    j->out + c0, N);
    }
    if (j->bias)
        for (int t = 0; t < j->T; t++)
            for (int n = b; n < e; n++) j->out[(size_t)t * N + n] += j->bias[n];
}

/* F32 weights (matmul.h's panels): this thread's share of columns in whole
 * panels, so no panel is read by two threads. */
static void matmul_slice_f32(const matmul_job *j, const fwd_ctx *f, int ith, int nth) {
    int N = j->w->rows, K = j->w->cols, b, e;
    pool_range((N + MM_PANEL - 1) / MM_PANEL, ith, nth, &b, &e);
    b *= MM_PANEL;
    e = e * MM_PANEL < N ? e * MM_PANEL : N;
    if (b >= e) return;
    /* INVARIANT: the same bits for a row whatever T, its row index or the
     * split.  BLAS at <= 2 rows would be sgemv on row-major weights, which
     * are no longer held: the packed kernel streams them as fast. */
    if (f->mm_mode == FWD_MM_INVARIANT || j->T <= FWD_GEMV_MAX_ROWS)
        mm_packed(j->in, j->T, K, (const float *)j->w->data, N, b, e, j->bias, j->out, N);
    else
        blas_slice(j, b, e, f->unpacked + (size_t)ith * f->unpacked_cap);
}

/* out[:, cols] = in @ w[cols]^T (+ bias) for this thread's share of the
 * output columns.  Typed weights (wmat.h) split by groups of 16 rows and
 * always run the engine's kernels (BLAS mode covers F32 only). */
static void matmul_slice(const matmul_job *j, const fwd_ctx *f, const wm_act *act, int ith, int nth) {
    if (j->w->type == DT_F32) {
        matmul_slice_f32(j, f, ith, nth);
        return;
    }
    int g0, g1;
    pool_range(wm_groups(j->w->rows), ith, nth, &g0, &g1);
    wm_matmul(j->w, j->in, act, j->T, g0, g1, j->bias, j->out, j->w->rows);
}

typedef struct {
    const matmul_batch *mb;
    fwd_ctx *f;
    bool quantize_own; /* each thread quantizes the (small) input itself */
    int guided;        /* > 0: the jobs' groups, one after another, claimed in pieces */
    _Alignas(64) atomic_int next; /* the first unclaimed of them (a line of its own) */
} matmul_run;

/* Claims [*u0, *u1) of the run's groups: a share of what is left (big
 * pieces first, smaller ones near the end, so the threads finish
 * together; a few claims per thread and product).  False when none is
 * left. */
static bool matmul_claim(matmul_run *r, int nth, int *u0, int *u1) {
    int cur = atomic_load_explicit(&r->next, memory_order_relaxed);
    for (;;) {
        int left = r->guided - cur;
        if (left <= 0) return false;
        int c = left / (2 * nth);
        c = c < 2 ? (left < 2 ? left : 2) : c;
        if (atomic_compare_exchange_weak_explicit(&r->next, &cur, cur + c, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *u0 = cur;
            *u1 = cur + c;
            return true;
        }
    }
}

/* Claimed pieces until none is left; a piece may span two jobs.  Every
 * group is one kernel call's, whoever claims it: the same bits. */
static void matmul_guided(matmul_run *r, const wm_act *act, int nth) {
    int u0, u1;
    while (matmul_claim(r, nth, &u0, &u1))
        for (int i = 0, base = 0; i < r->mb->n_jobs; i++) {
            const matmul_job *j = &r->mb->jobs[i];
            int G = wm_groups(j->w->rows), g0 = u0 - base > 0 ? u0 - base : 0, g1 = u1 - base < G ? u1 - base : G;
            if (g0 < g1) wm_matmul(j->w, j->in, act, j->T, g0, g1, j->bias, j->out, j->w->rows);
            base += G;
        }
}

static void matmul_task(void *arg, int ith, int nth) {
    matmul_run *r = arg;
    const wm_act *act = &r->f->act;
    wm_act own;
    if (r->quantize_own) { /* the same arithmetic as quantize_task: the same bits */
        const matmul_job *j = &r->mb->jobs[0];
        wm_act_init(&own, (uint8_t *)r->f->act_small + (size_t)ith * r->f->act_small_bytes, j->T, j->w->cols);
        wm_act_quantize(&own, j->in, 0, j->T);
        act = &own;
    }
    if (r->guided > 0)
        matmul_guided(r, act, nth);
    else
        for (int i = 0; i < r->mb->n_jobs; i++) matmul_slice(&r->mb->jobs[i], r->f, act, ith, nth);
    if (r->f->lora.n_units > 0) fwd_lora_a(&r->f->lora, ith, nth); /* mm_lora's rank values */
}

/* The batch's input quantized once for its block-type weights (the jobs of
 * a batch share one input), rows split between threads. */
static void quantize_task(void *arg, int ith, int nth) {
    const matmul_run *r = arg;
    const matmul_job *j = &r->mb->jobs[0];
    int s, e;
    pool_range(j->T, ith, nth, &s, &e);
    if (s < e) wm_act_quantize(&r->f->act, j->in, s, e);
}

/* Up to three products over the same input in one pool round trip (two
 * when an input of more than FWD_QUANT_OWN rows is quantized first). */
void fwd_mm(fwd_ctx *f, matmul_batch *mb) {
    matmul_run r = {.mb = mb, .f = f};
    bool quantize = false, typed = true;
    for (int i = 0; i < mb->n_jobs; i++) {
        quantize |= wmat_quantized(mb->jobs[i].w->type);
        typed &= mb->jobs[i].w->type != DT_F32;
        r.guided += wm_groups(mb->jobs[i].w->rows);
    }
    if (!typed || mb->jobs[0].T > FWD_GUIDED_MAX_ROWS || pool_size(f->pool) == 1) r.guided = 0;
    r.quantize_own = quantize && mb->jobs[0].T <= FWD_QUANT_OWN;
    if (quantize && !r.quantize_own) {
        wm_act_init(&f->act, f->act_buf, mb->jobs[0].T, mb->jobs[0].w->cols);
        pool_run(f->pool, quantize_task, &r);
    }
    pool_run(f->pool, matmul_task, &r);
}

/* BLAS mode's unpack scratch, made on first use. */
bool fwd_ensure_unpacked(fwd_ctx *f) {
    if (f->mm_mode != FWD_MM_BLAS || f->unpacked) return true;
    size_t cap = (size_t)FWD_BLAS_ROWS * max_k(&f->m->cfg);
    f->unpacked = malloc(cap * pool_size(f->pool) * sizeof(float));
    f->unpacked_cap = cap;
    return f->unpacked != NULL;
}

/* The products of mb (n <= 3 targets of layer l, inputs in, outputs out),
 * then out[j][t] += scale * B (A in[j][t]) for the batch's adapted rows t:
 * the rank values A x in the products' own pool pass (matmul_task), the
 * outputs in one more (forward_lora.h). */
static void mm_lora(fwd_ctx *f, matmul_batch *mb, int l, int n, const lora_target *targets, const float *const *in,
                    float *const *out) {
    bool adapted = fwd_lora_prepare(&f->lora, f->m, l, n, targets, in, out);
    fwd_mm(f, mb);
    if (adapted) fwd_lora_b(&f->lora, f->pool);
}

/* ---- element-wise kernels ------------------------------------------------------ */

/* y = x / sqrt(mean(x^2) + eps) * g (y may be x) */
static void rmsnorm(float *y, const float *x, const float *g, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) y[i] = x[i] * s * g[i];
}

/* y = (x - mean(x)) / sqrt(var(x) + eps) * g (+ b) (y may be x) */
static void layernorm(float *y, const float *x, const float *g, const float *b, int n, float eps) {
    double sum = 0, ss = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    float mean = (float)(sum / n);
    for (int i = 0; i < n; i++) ss += (double)(x[i] - mean) * (x[i] - mean);
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) y[i] = (x[i] - mean) * s * g[i] + (b ? b[i] : 0.0f);
}

void fwd_norm_row(const model_config *c, float *y, const float *x, norm_ref n) {
    if (c->norm == NORM_RMS) rmsnorm(y, x, n.w, c->dim, c->norm_eps);
    else layernorm(y, x, n.w, n.b, c->dim, c->norm_eps);
}

/* Rotate-half RoPE on one head: pairs (i, i + half) rotate by pos * inv_freq[i]. */
static void rope_head(float *v, const float *cs, int half) {
    for (int i = 0; i < half; i++) {
        float c = cs[i], s = cs[half + i];
        float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x0 * s + x1 * c;
    }
}

/* The first block's input: the embeddings' own norm (bloom), then xb (and
 * xb2) normed for layer 0. */
void fwd_norm_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    const model *m = a->f->m;
    const model_config *c = &m->cfg;
    int s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        float *x = a->f->x + (size_t)t * c->dim;
        if (m->embd_norm) layernorm(x, x, m->embd_norm, m->embd_norm_b, c->dim, c->norm_eps);
        fwd_norm_row(c, a->f->xb + (size_t)t * c->dim, x, a->norm);
        if (a->norm2.w) fwd_norm_row(c, a->f->xb2 + (size_t)t * c->dim, x, a->norm2);
    }
}

/* q, k, v of one token after the projection: clamped (mpt's clamp_kqv),
 * each q and k head RMS-normed (qwen3), then rotated (RoPE on the first
 * n_rot dims of each head). */
static void qkv_hooks(const fwd_ctx *f, const layer_weights *w, float *q, float *k, float *v, const float *cs) {
    const model_config *c = &f->m->cfg;
    int hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    if (c->clamp_qkv > 0) {
        float lim = c->clamp_qkv;
        float *parts[3] = {q, k, v};
        int lens[3] = {qd, kvd, kvd};
        for (int p = 0; p < 3; p++)
            for (int i = 0; i < lens[p]; i++) parts[p][i] = fminf(fmaxf(parts[p][i], -lim), lim);
    }
    if (w->q_norm) {
        for (int h = 0; h < c->n_heads; h++) rmsnorm(q + h * hd, q + h * hd, w->q_norm, hd, c->norm_eps);
        for (int h = 0; h < c->n_kv_heads; h++) rmsnorm(k + h * hd, k + h * hd, w->k_norm, hd, c->norm_eps);
    }
    if (c->pos != POS_ROPE) return;
    for (int h = 0; h < c->n_heads; h++) rope_head(q + h * hd, cs, c->n_rot / 2);
    for (int h = 0; h < c->n_kv_heads; h++) rope_head(k + h * hd, cs, c->n_rot / 2);
}

/* RoPE on q and k (and the other qkv_hooks), then k and v stored into the cache at (seq, pos) in the
 * cache's element type (kv_put: f16/bf16 rounded to nearest even, q8_0
 * quantized per block of 32): the sequence's table already holds a block
 * for pos (kv_seq_reserve).  Attention then reads the stored values, for
 * this batch's own tokens too, so a row's keys never depend on whether
 * they were computed in the same step. */
static void rope_store_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const model_config *c = &f->m->cfg;
    int kvd = c->n_kv_heads * c->head_dim, qd = c->n_heads * c->head_dim;
    int s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        qkv_hooks(f, &f->m->layers[a->layer], f->q + (size_t)t * qd, f->k + (size_t)t * kvd, f->v + (size_t)t * kvd,
                  f->rope + (size_t)t * c->head_dim);
        const kv_seq *sq = a->b->seqs[a->b->seq[t]];
        kv_put(a->kv->dtype, f->k + (size_t)t * kvd, kv_k(a->kv, sq, a->layer, a->b->pos[t]), kvd);
        kv_put(a->kv->dtype, f->v + (size_t)t * kvd, kv_v(a->kv, sq, a->layer, a->b->pos[t]), kvd);
    }
}

/* x += proj (normed first by post, gemma2) (+ proj2: parallel residual),
 * then xb = norm(x) and xb2 = norm2(x) with the next block's norms (if
 * any). */
void fwd_residual_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const model_config *c = &f->m->cfg;
    int dim = c->dim, s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        float *x = f->x + (size_t)t * dim, *p = f->proj + (size_t)t * dim;
        if (a->post.w) rmsnorm(p, p, a->post.w, dim, c->norm_eps);
        for (int i = 0; i < dim; i++) x[i] += p[i];
        if (a->add2) {
            const float *p2 = f->proj2 + (size_t)t * dim;
            for (int i = 0; i < dim; i++) x[i] += p2[i];
        }
        if (a->norm.w) fwd_norm_row(c, f->xb + (size_t)t * dim, x, a->norm);
        if (a->norm2.w) fwd_norm_row(c, f->xb2 + (size_t)t * dim, x, a->norm2);
    }
}

/* The exact (erf) GELU of HF's gelu / mpt; the tanh form is vmath.h's. */
static float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2)); }

/* The gated MLP's middle: gate = act(gate) * up, act = silu (SwiGLU) or
 * GELU (GeGLU). */
static void glu_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const model_config *c = &f->m->cfg;
    size_t n = (size_t)a->b->n * c->ffn_dim;
    int s, e;
    pool_range((int)n, ith, nth, &s, &e);
    if (s >= e) return;
    /* vectorized exp (libm's expf is a call per element); an element gets
     * the same bits in any lane, so this stays batch-invariant */
    if (c->ffn == FFN_SWIGLU) {
        vm_swiglu(f->gate + s, f->up + s, (size_t)(e - s));
    } else if (c->gelu == GELU_TANH) {
        vm_geglu(f->gate + s, f->up + s, (size_t)(e - s));
    } else {
        for (int i = s; i < e; i++) f->gate[i] = gelu_erf(f->gate[i]) * f->up[i];
    }
}

/* The plain MLP's middle: up = gelu(up), or relu(up) (T5). */
static void act_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const model_config *c = &f->m->cfg;
    size_t n = (size_t)a->b->n * c->ffn_dim;
    int s, e;
    pool_range((int)n, ith, nth, &s, &e);
    if (s >= e) return;
    if (c->ffn == FFN_RELU)
        for (int i = s; i < e; i++) f->up[i] = f->up[i] > 0.0f ? f->up[i] : 0.0f;
    else if (c->gelu == GELU_TANH) vm_gelu(f->up + s, (size_t)(e - s));
    else
        for (int i = s; i < e; i++) f->up[i] = gelu_erf(f->up[i]);
}

/* Final logit soft-capping (gemma2) over rows x vocab logits. */
typedef struct {
    float *logits;
    size_t n;
    float cap;
} softcap_arg;

static void softcap_task(void *arg, int ith, int nth) {
    softcap_arg *a = arg;
    int s, e;
    pool_range((int)((a->n + 7) / 8), ith, nth, &s, &e); /* in runs of 8: a lane's bits never depend on the split */
    size_t lo = (size_t)s * 8, hi = (size_t)e * 8 < a->n ? (size_t)e * 8 : a->n;
    if (lo < hi) vm_softcap(a->logits + lo, hi - lo, a->cap);
}

/* ---- the pass ------------------------------------------------------------------- */

/* x = the token's embedding row (times embd_scale, plus the learned
 * position's row), and each token's RoPE cos | sin table. */
void fwd_embed(fwd_ctx *f, const fwd_batch *b) {
    const model *m = f->m;
    int dim = m->cfg.dim, half = m->cfg.pos == POS_ROPE ? m->cfg.n_rot / 2 : 0;
    float *pe = m->pos_embd ? f->proj : NULL; /* a row of scratch: proj is free until the first product */
    for (int t = 0; t < b->n; t++) {
        /* the file's row, dequantized (exact) */
        float *x = f->x + (size_t)t * dim;
        dt_to_f32(m->tok_embd_type, m->tok_embd + (size_t)b->tokens[t] * m->tok_embd_row_bytes, x, (size_t)dim);
        if (m->cfg.embd_scale != 1.0f)
            for (int i = 0; i < dim; i++) x[i] *= m->cfg.embd_scale;
        if (pe) {
            dt_to_f32(m->pos_embd_type, m->pos_embd + (size_t)b->pos[t] * m->pos_embd_row_bytes, pe, (size_t)dim);
            for (int i = 0; i < dim; i++) x[i] += pe[i];
        }
        float *cs = f->rope + (size_t)t * m->cfg.head_dim;
        for (int i = 0; i < half; i++) {
            double ang = (double)b->pos[t] * m->rope_inv_freq[i];
            cs[i] = (float)cos(ang);
            cs[half + i] = (float)sin(ang);
        }
    }
}

/* The MLP of layer w on in (T rows) into out: down(act(gate in) * up in)
 * or down(act(up in)), each product with its bias when the file has one. */
void fwd_ffn(fwd_ctx *f, const layer_weights *w, const float *in, float *out, layer_task_arg *a) {
    int T = a->b->n, l = a->layer;
    const lora_target t_up = LORA_UP, t_down = LORA_DOWN, t_gu[2] = {LORA_GATE, LORA_UP};
    if (f->m->cfg.ffn == FFN_GELU || f->m->cfg.ffn == FFN_RELU) {
        matmul_batch u = {{fwd_job(in, &w->w_up, w->b_up, f->up, T)}, 1};
        mm_lora(f, &u, l, 1, &t_up, &in, &f->up);
        pool_run(f->pool, act_task, a);
        matmul_batch d = {{fwd_job(f->up, &w->w_down, w->b_down, out, T)}, 1};
        mm_lora(f, &d, l, 1, &t_down, (const float *const[]){f->up}, &out);
        return;
    }
    matmul_batch gu = {{fwd_job(in, &w->w_gate, w->b_gate, f->gate, T), fwd_job(in, &w->w_up, w->b_up, f->up, T)}, 2};
    mm_lora(f, &gu, l, 2, t_gu, (const float *const[]){in, in}, (float *const[]){f->gate, f->up});
    pool_run(f->pool, glu_task, a);
    matmul_batch d = {{fwd_job(f->gate, &w->w_down, w->b_down, out, T)}, 1};
    mm_lora(f, &d, l, 1, &t_down, (const float *const[]){f->gate}, &out);
}

/* The norms the block after layer l reads: layer l+1's attention norm (and
 * its MLP norm in a parallel block), or the final norm. */
static void next_norms(const model *m, int l, layer_task_arg *a) {
    const model_config *c = &m->cfg;
    a->norm2 = (norm_ref){NULL, NULL};
    if (l + 1 >= c->n_layers) {
        a->norm = (norm_ref){m->out_norm, m->out_norm_b};
        return;
    }
    const layer_weights *n = &m->layers[l + 1];
    a->norm = (norm_ref){n->attn_norm, n->attn_norm_b};
    if (c->parallel_residual && n->ffn_norm) a->norm2 = (norm_ref){n->ffn_norm, n->ffn_norm_b};
}

/* One decoder layer.  An encoder-decoder's layer has a cross-attention
 * block between self-attention and the MLP: x += cross(cross_norm x). */
static void layer_forward(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int l) {
    const model *m = f->m;
    const model_config *c = &m->cfg;
    const layer_weights *w = &m->layers[l];
    int T = b->n;
    att_view self = {ATT_CAUSAL, f->tiles, f->n_tiles, w->rel_bias, m->rel_bucket_dec};
    layer_task_arg a = {.f = f, .kv = kv, .b = b, .layer = l, .att = &self};

    matmul_batch qkv = {{fwd_job(f->xb, &w->wq, w->bq, f->q, T), fwd_job(f->xb, &w->wk, w->bk, f->k, T),
                         fwd_job(f->xb, &w->wv, w->bv, f->v, T)}, 3};
    const lora_target t_qkv[3] = {LORA_Q, LORA_K, LORA_V}, t_o = LORA_O;
    mm_lora(f, &qkv, l, 3, t_qkv, (const float *const[]){f->xb, f->xb, f->xb}, (float *const[]){f->q, f->k, f->v});
    pool_run(f->pool, rope_store_task, &a);
    fwd_attention(f, &a);
    matmul_batch o = {{fwd_job(f->att, &w->wo, w->bo, f->proj, T)}, 1};
    mm_lora(f, &o, l, 1, &t_o, (const float *const[]){f->att}, &f->proj);
    if (w->cross_norm) {
        a.norm = (norm_ref){w->cross_norm, NULL};
        pool_run(f->pool, fwd_residual_task, &a);
        fwd_cross_attention(f, b, l, &a);
    }
    if (c->parallel_residual) {
        /* x + attn(xb) + mlp(xb2, or xb when one norm feeds both) */
        fwd_ffn(f, w, w->ffn_norm ? f->xb2 : f->xb, f->proj2, &a);
        a.add2 = true;
    } else {
        a.post = (norm_ref){w->post_attn_norm, NULL};
        a.norm = (norm_ref){w->ffn_norm, w->ffn_norm_b};
        pool_run(f->pool, fwd_residual_task, &a);
        fwd_ffn(f, w, f->xb, f->proj, &a);
        a.post = (norm_ref){w->post_ffn_norm, NULL};
    }
    /* residual, then the next layer's norms (or the final norm) */
    next_norms(f->m, l, &a);
    pool_run(f->pool, fwd_residual_task, &a);
}

/* Every token's position has a block in its sequence's table: a missing
 * kv_seq_reserve is refused here instead of writing outside the pool.  And
 * the cache fits the model: q8_0 blocks must not straddle two heads.  An
 * encoder-decoder's sequences have their encoder's K/V (cross tables).
 * *keys: the most keys a row sees. */
static bool positions_held(const model *m, const kv_store *kv, const fwd_batch *b, int *keys) {
    if (m->cfg.head_dim % kv_dtype_align(kv->dtype) != 0) return false;
    if (model_is_encdec(&m->cfg) && !b->cross) return false;
    *keys = 1;
    for (int t = 0; t < b->n; t++) {
        if (b->pos[t] < 0 || b->pos[t] >= b->seqs[b->seq[t]]->n_table * kv->block_size) return false;
        if (m->pos_embd && b->pos[t] >= m->n_pos_embd) return false; /* no learned row for it */
        if (b->pos[t] + 1 > *keys) *keys = b->pos[t] + 1;
        if (!model_is_encdec(&m->cfg)) continue;
        const kv_seq *x = b->cross[b->seq[t]];
        if (x->n_computed < 1 || x->n_computed > x->n_table * kv->block_size) return false;
        if (x->n_computed > *keys) *keys = x->n_computed;
    }
    return true;
}

bool fwd_run(fwd_ctx *f, const kv_store *kv, const fwd_batch *b) {
    const model *m = f->m;
    int keys;
    f->n_hidden = 0;
    if (b->n <= 0 || b->n > f->max_tokens) return false;
    if (!positions_held(m, kv, b, &keys)) return false;
    if (!fwd_ensure_score(f, keys) || !fwd_ensure_unpacked(f) ||
        !fwd_lora_plan(&f->lora, m, b->adapter, b->n))
        return false;
    fwd_embed(f, b);
    f->n_tiles = fwd_plan_tiles(f, b, ATT_CAUSAL, f->tiles);
    if (model_is_encdec(&m->cfg)) f->n_xtiles = fwd_plan_tiles(f, b, ATT_CROSS, f->xtiles);
    layer_task_arg a = {.f = f, .kv = kv, .b = b};
    next_norms(m, -1, &a);
    pool_run(f->pool, fwd_norm_task, &a);
    for (int l = 0; l < m->cfg.n_layers; l++) layer_forward(f, kv, b, l);
    f->n_hidden = b->n; /* xb now holds the final-normed rows */
    return true;
}

/* The rows are gathered into proj (free once the layers are done), so xb
 * stays intact for the next call; T5's tied head scales them first. */
bool fwd_logits(fwd_ctx *f, const int *rows, int n_rows, float *logits) {
    int dim = f->m->cfg.dim;
    float scale = f->m->cfg.output_scale;
    if (n_rows <= 0) return n_rows == 0;
    if (!fwd_ensure_unpacked(f)) return false;
    for (int i = 0; i < n_rows; i++) {
        if (rows[i] < 0 || rows[i] >= f->n_hidden) return false;
        float *p = f->proj + (size_t)i * dim;
        memcpy(p, f->xb + (size_t)rows[i] * dim, dim * sizeof(float));
        if (scale != 1.0f)
            for (int j = 0; j < dim; j++) p[j] *= scale;
    }
    matmul_batch out = {{fwd_job(f->proj, &f->m->output, NULL, logits, n_rows)}, 1};
    fwd_mm(f, &out);
    if (f->m->cfg.final_softcap > 0) {
        softcap_arg sa = {logits, (size_t)n_rows * f->m->cfg.vocab, f->m->cfg.final_softcap};
        pool_run(f->pool, softcap_task, &sa);
    }
    return true;
}

bool fwd_eval(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, float *logits) {
    if (!fwd_run(f, kv, b)) return false;
    int n_out = 0; /* the wanted rows, in batch order */
    for (int t = 0; t < b->n; t++)
        if (!b->want_logits || b->want_logits[t]) f->rows[n_out++] = t;
    return fwd_logits(f, f->rows, n_out, logits);
}
