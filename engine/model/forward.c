/*
 * forward.c — the decoder forward pass: embeddings -> n_layers x (norm,
 * attention with RoPE and grouped-query heads, residual, norm, SwiGLU
 * MLP, residual) -> final norm -> output head, and the architectures'
 * variations as hooks on that one pass (model.h's model_config): RMSNorm
 * or LayerNorm (with bias), biases on every product, GeGLU or a plain
 * GELU MLP, parallel residual (x + attn(n1 x) + mlp(n2 x)), partial
 * rotary, learned positions, ALiBi, a qkv clamp, QK RMSNorm, embedding
 * scale and norm, attention and final soft-capping, post-attention and
 * post-MLP norms, sliding-window attention per layer.  Each lives in the
 * element-wise task or kernel it modifies (norm_row, norm_task,
 * qkv_hooks, attend_tile, ffn_forward, residual_task, softcap_task,
 * embed_and_rope_tables); a model that does not use one takes the plain
 * path, bit for bit.
 *
 * All n tokens of a call go through each weight product together: one
 * matrix product (T, K) x (N, K)^T per weight, split by output columns over
 * the pool's threads.  Weights in their file's type (wmat.h) split in
 * groups of 16 rows; their input is quantized once per product when the
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
#include "forward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "forward_lora.h"
#include "kernels/matmul.h"
#include "kernels/vmath.h"
#include "kernels/wmat.h"

/* BLAS mode: at or below this many rows the packed kernel runs instead
 * (sgemv would want row-major weights; see matmul_slice). */
#define FWD_GEMV_MAX_ROWS 2
/* BLAS mode: weight rows unpacked per sgemm call, enough that sgemm's own
 * packing of x is amortized over them. */
#define FWD_BLAS_ROWS 256

/* Inputs of at most this many rows are quantized by every thread for
 * itself (a few microseconds) instead of in a pool round trip of its own:
 * decode steps make ~4 products per layer. */
#define FWD_QUANT_OWN 4

/* Attention rows (token, head) computed together: the scores of a tile
 * are FWD_ATT_ROWS x positions floats per thread (64 KiB at 512). */
#define FWD_ATT_ROWS 32


/* Tokens [t0, t1) (one sequence, consecutive in the batch) x query heads
 * [h0, h1) (of one kv head). */
typedef struct {
    int t0, t1, h0, h1;
    int64_t cost;
} att_tile;

struct fwd_ctx {
    const model *m;
    pool *pool;
    int max_tokens;
    fwd_matmul mm_mode; /* FWD_MM_INVARIANT (0, calloc's default) or FWD_MM_BLAS */
    float *x;     /* (T, dim) residual stream */
    float *xb;    /* (T, dim) normed input of a block */
    float *xb2;   /* (T, dim) parallel residual: the MLP's normed input when it has its own norm */
    float *q;     /* (T, n_heads*head_dim) */
    float *k;     /* (T, kv_dim) */
    float *v;     /* (T, kv_dim) */
    float *att;   /* (T, n_heads*head_dim) attention output */
    float *proj;  /* (T, dim) output of wo / w_down */
    float *proj2; /* (T, dim) parallel residual: the MLP's output beside the attention's in proj */
    float *gate;  /* (T, ffn_dim) */
    float *up;    /* (T, ffn_dim) */
    float *rope;  /* (T, head_dim) cos | sin per token: [0,half) cos, [half,hd) sin */
    float *score; /* (n_threads, score_cap) attention scores per thread */
    size_t score_cap;
    att_tile *tiles; /* (max_tokens * n_heads) this batch's attention tiles */
    int n_tiles;
    int *rows;    /* (T) fwd_eval's wanted rows */
    void *act_buf;   /* (max_tokens, max K) activations quantized for the block types */
    wm_act act;      /* the current product's input, quantized (when a weight needs it) */
    void *act_small; /* (n_threads, FWD_QUANT_OWN rows x max K): each thread's own copy of a small input */
    size_t act_small_bytes; /* per thread */
    float *unpacked; /* BLAS mode: (n_threads, FWD_BLAS_ROWS * max K) row-major weight chunks */
    size_t unpacked_cap; /* floats per thread */
    int n_hidden; /* rows of the last fwd_run whose final hidden state is in xb (0: none) */
    fwd_lora lora;   /* this batch's LoRA rows and scratch (forward_lora.h) */
};

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
    free(f->act_buf);
    free(f->act_small);
    free(f);
}

int fwd_max_tokens(const fwd_ctx *f) { return f->max_tokens; }

void fwd_set_matmul(fwd_ctx *f, fwd_matmul mode) { f->mm_mode = mode; }

/* ---- matrix products -------------------------------------------------------- */

typedef struct {
    const float *in;   /* (T, K) */
    const wmat *w;     /* (N, K): one output per row */
    const float *bias; /* (N) or NULL */
    float *out;        /* (T, N) */
    int T;
} matmul_job;

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
    matmul_job jobs[3];
    int n_jobs;
} matmul_batch;

typedef struct {
    const matmul_batch *mb;
    fwd_ctx *f;
    bool quantize_own; /* each thread quantizes the (small) input itself */
} matmul_run;

static void matmul_task(void *arg, int ith, int nth) {
    const matmul_run *r = arg;
    const wm_act *act = &r->f->act;
    wm_act own;
    if (r->quantize_own) { /* the same arithmetic as quantize_task: the same bits */
        const matmul_job *j = &r->mb->jobs[0];
        wm_act_init(&own, (uint8_t *)r->f->act_small + (size_t)ith * r->f->act_small_bytes, j->T, j->w->cols);
        wm_act_quantize(&own, j->in, 0, j->T);
        act = &own;
    }
    for (int i = 0; i < r->mb->n_jobs; i++) matmul_slice(&r->mb->jobs[i], r->f, act, ith, nth);
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
static void matmul(fwd_ctx *f, matmul_batch *mb) {
    matmul_run r = {mb, f, false};
    bool quantize = false;
    for (int i = 0; i < mb->n_jobs; i++) quantize |= wmat_quantized(mb->jobs[i].w->type);
    r.quantize_own = quantize && mb->jobs[0].T <= FWD_QUANT_OWN;
    if (quantize && !r.quantize_own) {
        wm_act_init(&f->act, f->act_buf, mb->jobs[0].T, mb->jobs[0].w->cols);
        pool_run(f->pool, quantize_task, &r);
    }
    pool_run(f->pool, matmul_task, &r);
}

/* BLAS mode's unpack scratch, made on first use. */
static bool ensure_unpacked(fwd_ctx *f) {
    if (f->mm_mode != FWD_MM_BLAS || f->unpacked) return true;
    size_t cap = (size_t)FWD_BLAS_ROWS * max_k(&f->m->cfg);
    f->unpacked = malloc(cap * pool_size(f->pool) * sizeof(float));
    f->unpacked_cap = cap;
    return f->unpacked != NULL;
}

static matmul_job job(const float *in, const wmat *w, const float *bias, float *out, int T) {
    return (matmul_job){in, w, bias, out, T};
}

/* out[t] += scale * B (A in[t]) for the batch's adapted rows t, n <= 3
 * targets of layer l over the same rows (their base outputs done). */
static void lora_add(fwd_ctx *f, int l, int n, const lora_target *targets, const float *const *in,
                     float *const *out) {
    fwd_lora_apply(&f->lora, f->m, f->pool, l, n, targets, in, out);
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

/* A norm's weights: gain w (NULL: no norm) and LayerNorm bias b or NULL. */
typedef struct {
    const float *w, *b;
} norm_ref;

static void norm_row(const model_config *c, float *y, const float *x, norm_ref n) {
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

typedef struct {
    fwd_ctx *f;
    const kv_store *kv;
    const fwd_batch *b;
    norm_ref norm;  /* norm_task / residual_task: xb = norm(x) (w NULL: none) */
    norm_ref norm2; /* ... and xb2 = norm2(x) (parallel residual with an MLP norm) */
    norm_ref post;  /* residual_task: proj = post(proj) before it is added (gemma2) */
    bool add2;      /* residual_task: proj2 is added too (parallel residual) */
    int layer;
} layer_task_arg;

/* The first block's input: the embeddings' own norm (bloom), then xb (and
 * xb2) normed for layer 0. */
static void norm_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    const model *m = a->f->m;
    const model_config *c = &m->cfg;
    int s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        float *x = a->f->x + (size_t)t * c->dim;
        if (m->embd_norm) layernorm(x, x, m->embd_norm, m->embd_norm_b, c->dim, c->norm_eps);
        norm_row(c, a->f->xb + (size_t)t * c->dim, x, a->norm);
        if (a->norm2.w) norm_row(c, a->f->xb2 + (size_t)t * c->dim, x, a->norm2);
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

/* Causal attention for the rows of one tile: each row is one (token, head)
 * and gets softmax(scores) . v over positions lo..pos of its token's
 * sequence, a score being q.k * attn_scale, soft-capped (gemma2), plus
 * ALiBi's slope * (j - pos); lo is 0, or pos - window + 1 in a layer with
 * a sliding window (keys j with pos - j < window).  The tile's rows share
 * the sequence and the kv head,
 * so each block of cached keys (then values) is read once and serves every
 * row while it sits in L1.  Positions go block by block: one table lookup
 * per block, then the block's rows at stride row_bytes; blocks wholly
 * before every row's window are never read.  A row's arithmetic
 * has one order that depends on its pos and the values only (not on the
 * tile, the block size, the batch or the thread): each score is one
 * mm_dots dot, the max is exact, the denominator is vm_exp_sum's lane
 * order from lo, and each output element sums its positions in increasing order
 * (mm_wsum).  The cached rows are read in the cache's own type
 * (mm_dots_kv / mm_wsum_kv widen each element exactly in registers), so an
 * f16 cache changes the keys and values attention sees, not this order. */
static void attend_tile(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int layer, const att_tile *tl,
                        float *score) {
    const model_config *c = &f->m->cfg;
    const kv_seq *sq = b->seqs[b->seq[tl->t0]];
    int hd = c->head_dim, bs = kv->block_size, nh = tl->h1 - tl->h0, rows = (tl->t1 - tl->t0) * nh;
    int g = tl->h0 / (c->n_heads / c->n_kv_heads), stride = b->pos[tl->t1 - 1] + 1;
    int win = model_layer_window(c, layer);
    /* the tile's first row has the smallest position, so the lowest lo */
    int first = win && b->pos[tl->t0] - win + 1 > 0 ? b->pos[tl->t0] - win + 1 : 0;
    size_t ld = kv->row_bytes, head = kv_bytes(kv->dtype, (size_t)g * hd); /* q8_0: hd % 32 == 0 */
    for (int p0 = first / bs * bs; p0 < stride; p0 += bs) { /* scores: row r is (t0 + r / nh, h0 + r % nh) */
        const uint8_t *k = (const uint8_t *)kv_k(kv, sq, layer, p0) + head;
        for (int r = 0; r < rows; r++) {
            int t = tl->t0 + r / nh, lo = win && b->pos[t] - win + 1 > p0 ? b->pos[t] - win + 1 : p0;
            int n = (b->pos[t] + 1 < p0 + bs ? b->pos[t] + 1 : p0 + bs) - lo;
            const float *q = f->q + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd;
            if (n > 0) mm_dots_kv(q, hd, k + (size_t)(lo - p0) * ld, ld, kv->dtype, n, score + (size_t)r * stride + lo);
        }
    }
    float scale = c->attn_scale, inv[FWD_ATT_ROWS];
    for (int r = 0; r < rows; r++) {
        int t = tl->t0 + r / nh, P = b->pos[t], lo = win && P - win + 1 > 0 ? P - win + 1 : 0;
        float *sr = score + (size_t)r * stride, mx = -INFINITY;
        for (int p = lo; p <= P; p++) sr[p] *= scale;
        if (c->attn_softcap > 0) vm_softcap(sr + lo, (size_t)(P + 1 - lo), c->attn_softcap);
        if (f->m->alibi_slopes) {
            float slope = f->m->alibi_slopes[tl->h0 + r % nh];
            for (int p = lo; p <= P; p++) sr[p] += slope * (float)(p - P);
        }
        for (int p = lo; p <= P; p++) mx = sr[p] > mx ? sr[p] : mx;
        inv[r] = 1.0f / vm_exp_sum(sr + lo, (size_t)(P + 1 - lo), mx);
        memset(f->att + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd, 0, hd * sizeof(float));
    }
    for (int p0 = first / bs * bs; p0 < stride; p0 += bs) {
        const uint8_t *v = (const uint8_t *)kv_v(kv, sq, layer, p0) + head;
        for (int r = 0; r < rows; r++) {
            int t = tl->t0 + r / nh, lo = win && b->pos[t] - win + 1 > p0 ? b->pos[t] - win + 1 : p0;
            int n = (b->pos[t] + 1 < p0 + bs ? b->pos[t] + 1 : p0 + bs) - lo;
            float *out = f->att + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd;
            if (n > 0)
                mm_wsum_kv(score + (size_t)r * stride + lo, n, v + (size_t)(lo - p0) * ld, ld, kv->dtype, hd, out);
        }
    }
    for (int r = 0; r < rows; r++) {
        float *out = f->att + ((size_t)(tl->t0 + r / nh) * c->n_heads + tl->h0 + r % nh) * hd;
        for (int i = 0; i < hd; i++) out[i] *= inv[r];
    }
}

/* The batch's attention tiles: runs of consecutive tokens of one sequence
 * times the query heads of one kv head, at most FWD_ATT_ROWS rows.  A tile
 * costs about rows x (last pos + 1), the positions it reads. */
static void plan_tiles(fwd_ctx *f, const fwd_batch *b) {
    const model_config *c = &f->m->cfg;
    int hpg = c->n_heads / c->n_kv_heads, hstep = hpg < FWD_ATT_ROWS ? hpg : FWD_ATT_ROWS;
    int tstep = FWD_ATT_ROWS / hstep;
    f->n_tiles = 0;
    for (int t0 = 0, t1; t0 < b->n; t0 = t1) {
        for (t1 = t0 + 1; t1 < b->n && t1 - t0 < tstep && b->seq[t1] == b->seq[t0];) t1++;
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int h0 = g * hpg; h0 < (g + 1) * hpg; h0 += hstep) {
                int h1 = h0 + hstep < (g + 1) * hpg ? h0 + hstep : (g + 1) * hpg;
                int64_t cost = (int64_t)(t1 - t0) * (h1 - h0) * (b->pos[t1 - 1] + 1);
                f->tiles[f->n_tiles++] = (att_tile){t0, t1, h0, h1, cost};
            }
    }
}

/* Causal cost grows with position, so an even split by count would leave
 * the thread holding the prompt's tail with ~3/4 of a 512-token prefill;
 * the tiles are split by cumulative cost instead.  A tile belongs to the
 * thread whose share [lo, hi) of the total holds its starting cost.  Which
 * thread computes a tile changes nothing in how it is computed. */
static void attention_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    int64_t total = 0, at = 0;
    for (int i = 0; i < f->n_tiles; i++) total += f->tiles[i].cost;
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth;
    float *score = f->score + (size_t)ith * f->score_cap;
    for (int i = 0; i < f->n_tiles && at < hi; at += f->tiles[i++].cost)
        if (at >= lo) attend_tile(f, a->kv, a->b, a->layer, &f->tiles[i], score);
}

/* x += proj (normed first by post, gemma2) (+ proj2: parallel residual),
 * then xb = norm(x) and xb2 = norm2(x) with the next block's norms (if
 * any). */
static void residual_task(void *arg, int ith, int nth) {
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
        if (a->norm.w) norm_row(c, f->xb + (size_t)t * dim, x, a->norm);
        if (a->norm2.w) norm_row(c, f->xb2 + (size_t)t * dim, x, a->norm2);
    }
}

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
        for (int i = s; i < e; i++) f->gate[i] = 0.5f * f->gate[i] * (1.0f + erff(f->gate[i] * (float)M_SQRT1_2)) * f->up[i];
    }
}

/* The plain MLP's middle: up = gelu(up). */
static void gelu_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const model_config *c = &f->m->cfg;
    size_t n = (size_t)a->b->n * c->ffn_dim;
    int s, e;
    pool_range((int)n, ith, nth, &s, &e);
    if (s >= e) return;
    if (c->gelu == GELU_TANH) vm_gelu(f->up + s, (size_t)(e - s));
    else
        for (int i = s; i < e; i++) f->up[i] = 0.5f * f->up[i] * (1.0f + erff(f->up[i] * (float)M_SQRT1_2));
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

/* Scores of one attention tile per thread: FWD_ATT_ROWS x (max pos + 1). */
static bool ensure_score(fwd_ctx *f, const fwd_batch *b) {
    int need = 1;
    for (int t = 0; t < b->n; t++)
        if (b->pos[t] + 1 > need) need = b->pos[t] + 1;
    if ((size_t)need * FWD_ATT_ROWS <= f->score_cap) return true;
    float *s = realloc(f->score, (size_t)need * FWD_ATT_ROWS * pool_size(f->pool) * sizeof(float));
    if (!s) return false;
    f->score = s;
    f->score_cap = (size_t)need * FWD_ATT_ROWS;
    return true;
}

/* x = the token's embedding row (times embd_scale, plus the learned
 * position's row), and each token's RoPE cos | sin table. */
static void embed_and_rope_tables(fwd_ctx *f, const fwd_batch *b) {
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
 * or down(gelu(up in)), each product with its bias when the file has one. */
static void ffn_forward(fwd_ctx *f, const layer_weights *w, const float *in, float *out, layer_task_arg *a) {
    int T = a->b->n, l = a->layer;
    const lora_target t_up = LORA_UP, t_down = LORA_DOWN, t_gu[2] = {LORA_GATE, LORA_UP};
    if (f->m->cfg.ffn == FFN_GELU) {
        matmul_batch u = {{job(in, &w->w_up, w->b_up, f->up, T)}, 1};
        matmul(f, &u);
        lora_add(f, l, 1, &t_up, &in, &f->up);
        pool_run(f->pool, gelu_task, a);
        matmul_batch d = {{job(f->up, &w->w_down, w->b_down, out, T)}, 1};
        matmul(f, &d);
        lora_add(f, l, 1, &t_down, (const float *const[]){f->up}, &out);
        return;
    }
    matmul_batch gu = {{job(in, &w->w_gate, w->b_gate, f->gate, T), job(in, &w->w_up, w->b_up, f->up, T)}, 2};
    matmul(f, &gu);
    lora_add(f, l, 2, t_gu, (const float *const[]){in, in}, (float *const[]){f->gate, f->up});
    pool_run(f->pool, glu_task, a);
    matmul_batch d = {{job(f->gate, &w->w_down, w->b_down, out, T)}, 1};
    matmul(f, &d);
    lora_add(f, l, 1, &t_down, (const float *const[]){f->gate}, &out);
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

static void layer_forward(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int l) {
    const model_config *c = &f->m->cfg;
    const layer_weights *w = &f->m->layers[l];
    int T = b->n;
    layer_task_arg a = {.f = f, .kv = kv, .b = b, .layer = l};

    matmul_batch qkv = {{job(f->xb, &w->wq, w->bq, f->q, T), job(f->xb, &w->wk, w->bk, f->k, T),
                         job(f->xb, &w->wv, w->bv, f->v, T)}, 3};
    matmul(f, &qkv);
    const lora_target t_qkv[3] = {LORA_Q, LORA_K, LORA_V}, t_o = LORA_O;
    lora_add(f, l, 3, t_qkv, (const float *const[]){f->xb, f->xb, f->xb}, (float *const[]){f->q, f->k, f->v});
    pool_run(f->pool, rope_store_task, &a);
    pool_run(f->pool, attention_task, &a);
    matmul_batch o = {{job(f->att, &w->wo, w->bo, f->proj, T)}, 1};
    matmul(f, &o);
    lora_add(f, l, 1, &t_o, (const float *const[]){f->att}, &f->proj);
    if (c->parallel_residual) {
        /* x + attn(xb) + mlp(xb2, or xb when one norm feeds both) */
        ffn_forward(f, w, w->ffn_norm ? f->xb2 : f->xb, f->proj2, &a);
        a.add2 = true;
    } else {
        a.post = (norm_ref){w->post_attn_norm, NULL};
        a.norm = (norm_ref){w->ffn_norm, w->ffn_norm_b};
        pool_run(f->pool, residual_task, &a);
        ffn_forward(f, w, f->xb, f->proj, &a);
        a.post = (norm_ref){w->post_ffn_norm, NULL};
    }
    /* residual, then the next layer's norms (or the final norm) */
    next_norms(f->m, l, &a);
    pool_run(f->pool, residual_task, &a);
}

/* Every token's position has a block in its sequence's table: a missing
 * kv_seq_reserve is refused here instead of writing outside the pool.  And
 * the cache fits the model: q8_0 blocks must not straddle two heads. */
static bool positions_held(const model *m, const kv_store *kv, const fwd_batch *b) {
    if (m->cfg.head_dim % kv_dtype_align(kv->dtype) != 0) return false;
    for (int t = 0; t < b->n; t++) {
        if (b->pos[t] < 0 || b->pos[t] >= b->seqs[b->seq[t]]->n_table * kv->block_size) return false;
        if (m->pos_embd && b->pos[t] >= m->n_pos_embd) return false; /* no learned row for it */
    }
    return true;
}

bool fwd_run(fwd_ctx *f, const kv_store *kv, const fwd_batch *b) {
    const model *m = f->m;
    f->n_hidden = 0;
    if (b->n <= 0 || b->n > f->max_tokens) return false;
    if (!positions_held(m, kv, b)) return false;
    if (!ensure_score(f, b) || !ensure_unpacked(f) ||
        !fwd_lora_plan(&f->lora, m, b->adapter, b->n))
        return false;
    embed_and_rope_tables(f, b);
    plan_tiles(f, b);
    layer_task_arg a = {.f = f, .kv = kv, .b = b};
    next_norms(m, -1, &a);
    pool_run(f->pool, norm_task, &a);
    for (int l = 0; l < m->cfg.n_layers; l++) layer_forward(f, kv, b, l);
    f->n_hidden = b->n; /* xb now holds the final-normed rows */
    return true;
}

/* The rows are gathered into proj (free once the layers are done), so xb
 * stays intact for the next call. */
bool fwd_logits(fwd_ctx *f, const int *rows, int n_rows, float *logits) {
    int dim = f->m->cfg.dim;
    if (n_rows <= 0) return n_rows == 0;
    if (!ensure_unpacked(f)) return false;
    for (int i = 0; i < n_rows; i++) {
        if (rows[i] < 0 || rows[i] >= f->n_hidden) return false;
        memcpy(f->proj + (size_t)i * dim, f->xb + (size_t)rows[i] * dim, dim * sizeof(float));
    }
    matmul_batch out = {{job(f->proj, &f->m->output, NULL, logits, n_rows)}, 1};
    matmul(f, &out);
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
