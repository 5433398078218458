/*
 * forward.c — the decoder forward pass: embeddings -> n_layers x (RMSNorm,
 * attention with RoPE and grouped-query heads, residual, RMSNorm, SwiGLU
 * MLP, residual) -> final RMSNorm -> output head.
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
 */
#include "forward.h"

#include <cblas.h>
#include <math.h>
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
    float *q;     /* (T, n_heads*head_dim) */
    float *k;     /* (T, kv_dim) */
    float *v;     /* (T, kv_dim) */
    float *att;   /* (T, n_heads*head_dim) attention output */
    float *proj;  /* (T, dim) output of wo / w_down */
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
    float *norm_small; /* (n_threads, FWD_QUANT_OWN, dim): each thread's own normed copy of a small batch's x */
    bool fused_rope;   /* this batch's attention tiles also rotate and store their own q/k/v (plan_tiles) */
    float *unpacked; /* BLAS mode: (n_threads, FWD_BLAS_ROWS * max K) row-major weight chunks */
    size_t unpacked_cap; /* floats per thread */
    int n_hidden; /* rows of the last fwd_run whose final hidden state is in xb (0: none) */
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
    float **bufs[] = {&f->x, &f->xb, &f->q, &f->k, &f->v, &f->att, &f->proj, &f->gate, &f->up, &f->rope};
    size_t sizes[] = {c->dim, c->dim, qd, kvd, kvd, qd, c->dim, c->ffn_dim, c->ffn_dim, c->head_dim};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *bufs[i] = mm_alloc(T * sizes[i] * sizeof(float)); /* huge pages: matmul.h */
        if (!*bufs[i]) { fwd_free(f); return NULL; }
    }
    /* wm_act_bytes grows with K and is a multiple of 64 (each thread's
     * act_small slice stays aligned) */
    f->act_small_bytes = wm_act_bytes(FWD_QUANT_OWN, max_k(c));
    if (!(f->rows = malloc(T * sizeof *f->rows)) || !(f->tiles = malloc(T * c->n_heads * sizeof *f->tiles)) ||
        !(f->act_buf = mm_alloc(wm_act_bytes(max_tokens, max_k(c)))) ||
        !(f->act_small = mm_alloc(f->act_small_bytes * (size_t)pool_size(p))) ||
        !(f->norm_small = mm_alloc((size_t)FWD_QUANT_OWN * c->dim * pool_size(p) * sizeof(float)))) {
        fwd_free(f);
        return NULL;
    }
    /* BLAS must not start threads of its own: the pool owns the cores. */
    openblas_set_num_threads(1);
    return f;
}

void fwd_free(fwd_ctx *f) {
    if (!f) return;
    float *bufs[] = {f->x, f->xb, f->q, f->k, f->v, f->att, f->proj, f->gate, f->up, f->rope, f->score, f->unpacked};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(f->rows);
    free(f->tiles);
    free(f->act_buf);
    free(f->act_small);
    free(f->norm_small);
    free(f);
}

int fwd_max_tokens(const fwd_ctx *f) { return f->max_tokens; }

void fwd_set_matmul(fwd_ctx *f, fwd_matmul mode) { f->mm_mode = mode; }

/* ---- element-wise kernels ------------------------------------------------------ */

/* y = x / sqrt(mean(x^2) + eps) * g */
static void rmsnorm(float *y, const float *x, const float *g, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) y[i] = x[i] * s * g[i];
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

/* The output columns [c0, c1) thread ith of nth computes: whole panels of
 * F32 weights (no panel is read by two threads), whole groups of 16 rows
 * of typed ones.  A product's steps after its slice (residual, SwiGLU) use
 * the same split, so they touch only what their thread wrote. */
static void slice_cols(const wmat *w, int ith, int nth, int *c0, int *c1) {
    int unit = w->type == DT_F32 ? MM_PANEL : WM_GROUP, b, e;
    pool_range((w->rows + unit - 1) / unit, ith, nth, &b, &e);
    *c0 = b * unit < w->rows ? b * unit : w->rows;
    *c1 = e * unit < w->rows ? e * unit : w->rows;
}

/* out[:, c0:c1] = in @ w[c0:c1]^T (+ bias).  F32 weights run mm_packed
 * (or BLAS, see blas_slice); typed weights (wmat.h) always run the
 * engine's kernels on their groups (BLAS mode covers F32 only). */
static void matmul_slice(const matmul_job *j, const fwd_ctx *f, const wm_act *act, int c0, int c1, int ith) {
    int N = j->w->rows, K = j->w->cols;
    if (j->w->type != DT_F32) {
        wm_matmul(j->w, j->in, act, j->T, c0 / WM_GROUP, (c1 + WM_GROUP - 1) / WM_GROUP, j->bias, j->out, N);
        return;
    }
    /* INVARIANT: the same bits for a row whatever T, its row index or the
     * split.  BLAS at <= 2 rows would be sgemv on row-major weights, which
     * are no longer held: the packed kernel streams them as fast. */
    if (f->mm_mode == FWD_MM_INVARIANT || j->T <= FWD_GEMV_MAX_ROWS)
        mm_packed(j->in, j->T, K, (const float *)j->w->data, N, c0, c1, j->bias, j->out, N);
    else
        blas_slice(j, c0, c1, f->unpacked + (size_t)ith * f->unpacked_cap);
}

/* Up to three products over one input, and what each thread does before
 * and after its slice so that a decode layer needs few pool round trips. */
typedef struct {
    matmul_job jobs[3];
    int n_jobs;
    /* small batches (<= FWD_QUANT_OWN rows): the input is rmsnorm(x) with
     * these gains, computed by every thread for itself (the jobs' in is
     * ignored): the same bits as norm_task, without its round trip */
    const float *norm_w;
    bool residual; /* x += out on the thread's columns (jobs[0] is (T, dim)) */
    bool swiglu;   /* jobs[0].out = silu(jobs[0].out) * jobs[1].out on the thread's columns */
} matmul_batch;

typedef struct {
    const matmul_batch *mb;
    fwd_ctx *f;
    bool quantize_own; /* each thread quantizes the (small) input itself */
} matmul_run;

/* The steps after a thread's slice, on its columns [c0, c1) of every row. */
static void slice_epilogue(const matmul_batch *mb, fwd_ctx *f, int c0, int c1) {
    const matmul_job *j = &mb->jobs[0];
    int N = j->w->rows;
    for (int t = 0; t < j->T && c0 < c1; t++) {
        float *o = j->out + (size_t)t * N;
        if (mb->residual) {
            float *x = f->x + (size_t)t * f->m->cfg.dim;
            for (int n = c0; n < c1; n++) x[n] += o[n];
        }
        /* an element gets the same bits in any lane (vmath.h), so the
         * split does not change the result */
        if (mb->swiglu) vm_swiglu(o + c0, mb->jobs[1].out + (size_t)t * N + c0, (size_t)(c1 - c0));
    }
}

static void matmul_task(void *arg, int ith, int nth) {
    const matmul_run *r = arg;
    const matmul_batch *mb = r->mb;
    fwd_ctx *f = r->f;
    const float *in = mb->jobs[0].in;
    int T = mb->jobs[0].T;
    if (mb->norm_w) {
        int dim = f->m->cfg.dim;
        float *own = f->norm_small + (size_t)ith * FWD_QUANT_OWN * dim;
        for (int t = 0; t < T; t++)
            rmsnorm(own + (size_t)t * dim, f->x + (size_t)t * dim, mb->norm_w, dim, f->m->cfg.norm_eps);
        in = own;
    }
    const wm_act *act = &f->act;
    wm_act own_act;
    if (r->quantize_own) { /* the same arithmetic as quantize_task: the same bits */
        wm_act_init(&own_act, (uint8_t *)f->act_small + (size_t)ith * f->act_small_bytes, T, mb->jobs[0].w->cols);
        wm_act_quantize(&own_act, in, 0, T);
        act = &own_act;
    }
    int c0 = 0, c1 = 0;
    for (int i = 0; i < mb->n_jobs; i++) {
        matmul_job j = mb->jobs[i];
        j.in = in;
        slice_cols(j.w, ith, nth, &c0, &c1);
        if (c0 < c1) matmul_slice(&j, f, act, c0, c1, ith);
    }
    /* residual and SwiGLU products have one output width: jobs[0]'s split */
    slice_cols(mb->jobs[0].w, ith, nth, &c0, &c1);
    if (mb->residual || mb->swiglu) slice_epilogue(mb, f, c0, c1);
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

/* The batch in one pool round trip (two when an input of more than
 * FWD_QUANT_OWN rows is quantized first). */
static void matmul(fwd_ctx *f, const matmul_batch *mb) {
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

/* ---- element-wise tasks ---------------------------------------------------------- */

typedef struct {
    fwd_ctx *f;
    const kv_store *kv;
    const fwd_batch *b;
    const float *norm_w; /* for norm_task */
    int layer;
} layer_task_arg;

static void norm_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    const model_config *c = &a->f->m->cfg;
    int s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++)
        rmsnorm(a->f->xb + (size_t)t * c->dim, a->f->x + (size_t)t * c->dim, a->norm_w, c->dim, c->norm_eps);
}

/* Token t's query heads [h0, h1) and kv heads [g0, g1): RoPE on q and k,
 * then k and v of those kv heads stored into the cache at (seq, pos) in the
 * cache's element type (kv_put is element-wise: f16/bf16 rounded to
 * nearest even, q8_0 quantized per block of 32, which never straddles a
 * head: positions_held).  The sequence's table already holds a block for
 * pos (kv_seq_reserve).  Attention then reads the stored values, for this
 * batch's own tokens too, so a row's keys never depend on whether they
 * were computed in the same step. */
static void rope_store(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int layer, int t, int h0, int h1,
                       int g0, int g1) {
    const model_config *c = &f->m->cfg;
    int hd = c->head_dim, kvd = c->n_kv_heads * hd, qd = c->n_heads * hd, half = hd / 2;
    const float *cs = f->rope + (size_t)t * hd;
    for (int h = h0; h < h1; h++) rope_head(f->q + (size_t)t * qd + h * hd, cs, half);
    const kv_seq *sq = b->seqs[b->seq[t]];
    size_t off = kv_bytes(kv->dtype, (size_t)g0 * hd);
    for (int g = g0; g < g1; g++) rope_head(f->k + (size_t)t * kvd + g * hd, cs, half);
    kv_put(kv->dtype, f->k + (size_t)t * kvd + g0 * hd, (uint8_t *)kv_k(kv, sq, layer, b->pos[t]) + off,
           (g1 - g0) * hd);
    kv_put(kv->dtype, f->v + (size_t)t * kvd + g0 * hd, (uint8_t *)kv_v(kv, sq, layer, b->pos[t]) + off,
           (g1 - g0) * hd);
}

static void rope_store_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    const model_config *c = &a->f->m->cfg;
    int s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) rope_store(a->f, a->kv, a->b, a->layer, t, 0, c->n_heads, 0, c->n_kv_heads);
}

/* Causal attention for the rows of one tile: each row is one (token, head)
 * and gets softmax(q.k / sqrt(hd)) . v over positions 0..pos of its
 * token's sequence.  The tile's rows share the sequence and the kv head,
 * so each block of cached keys (then values) is read once and serves every
 * row while it sits in L1.  Positions go block by block: one table lookup
 * per block, then the block's rows at stride row_bytes.  A row's arithmetic
 * has one order that depends on its pos and the values only (not on the
 * tile, the block size, the batch or the thread): each score is one
 * mm_dots dot, the max is exact, the denominator is vm_exp_sum's lane
 * order, and each output element sums its positions in increasing order
 * (mm_wsum).  The cached rows are read in the cache's own type
 * (mm_dots_kv / mm_wsum_kv widen each element exactly in registers), so an
 * f16 cache changes the keys and values attention sees, not this order. */
static void attend_tile(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int layer, const att_tile *tl,
                        float *score) {
    const model_config *c = &f->m->cfg;
    const kv_seq *sq = b->seqs[b->seq[tl->t0]];
    int hd = c->head_dim, bs = kv->block_size, nh = tl->h1 - tl->h0, rows = (tl->t1 - tl->t0) * nh;
    int g = tl->h0 / (c->n_heads / c->n_kv_heads), stride = b->pos[tl->t1 - 1] + 1;
    size_t ld = kv->row_bytes, head = kv_bytes(kv->dtype, (size_t)g * hd); /* q8_0: hd % 32 == 0 */
    if (f->fused_rope) /* the tile holds all of its sequence's new tokens and its kv head's every query head */
        for (int t = tl->t0; t < tl->t1; t++) rope_store(f, kv, b, layer, t, tl->h0, tl->h1, g, g + 1);
    for (int p0 = 0; p0 < stride; p0 += bs) { /* scores: row r is (t0 + r / nh, h0 + r % nh) */
        const uint8_t *k = (const uint8_t *)kv_k(kv, sq, layer, p0) + head;
        for (int r = 0; r < rows; r++) {
            int t = tl->t0 + r / nh, n = b->pos[t] + 1 - p0;
            const float *q = f->q + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd;
            if (n > 0) mm_dots_kv(q, hd, k, ld, kv->dtype, n < bs ? n : bs, score + (size_t)r * stride + p0);
        }
    }
    float scale = 1.0f / sqrtf((float)hd), inv[FWD_ATT_ROWS];
    for (int r = 0; r < rows; r++) {
        float *sr = score + (size_t)r * stride, mx = -INFINITY;
        int t = tl->t0 + r / nh, P = b->pos[t];
        for (int p = 0; p <= P; p++) {
            sr[p] *= scale;
            mx = sr[p] > mx ? sr[p] : mx;
        }
        inv[r] = 1.0f / vm_exp_sum(sr, (size_t)P + 1, mx);
        memset(f->att + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd, 0, hd * sizeof(float));
    }
    for (int p0 = 0; p0 < stride; p0 += bs) {
        const uint8_t *v = (const uint8_t *)kv_v(kv, sq, layer, p0) + head;
        for (int r = 0; r < rows; r++) {
            int t = tl->t0 + r / nh, n = b->pos[t] + 1 - p0;
            float *out = f->att + ((size_t)t * c->n_heads + tl->h0 + r % nh) * hd;
            if (n > 0) mm_wsum_kv(score + (size_t)r * stride + p0, n < bs ? n : bs, v, ld, kv->dtype, hd, out);
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
    /* The tiles can rotate and store q/k/v themselves when each (sequence,
     * kv head) has one tile holding all of the sequence's new tokens: then
     * no tile reads a key another one writes. */
    f->fused_rope = hstep == hpg;
    for (int t0 = 0, t1; t0 < b->n; t0 = t1) {
        for (t1 = t0 + 1; t1 < b->n && t1 - t0 < tstep && b->seq[t1] == b->seq[t0];) t1++;
        for (int u = 0; u < t0 && f->fused_rope; u++) f->fused_rope = b->seq[u] != b->seq[t0];
        if (t1 < b->n && b->seq[t1] == b->seq[t0]) f->fused_rope = false;
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

static void embed_and_rope_tables(fwd_ctx *f, const fwd_batch *b) {
    const model *m = f->m;
    int dim = m->cfg.dim, half = m->cfg.head_dim / 2;
    for (int t = 0; t < b->n; t++) {
        /* the file's row, dequantized (exact) */
        dt_to_f32(m->tok_embd_type, m->tok_embd + (size_t)b->tokens[t] * m->tok_embd_row_bytes,
                  f->x + (size_t)t * dim, (size_t)dim);
        float *cs = f->rope + (size_t)t * m->cfg.head_dim;
        for (int i = 0; i < half; i++) {
            double ang = (double)b->pos[t] * m->rope_inv_freq[i];
            cs[i] = (float)cos(ang);
            cs[half + i] = (float)sin(ang);
        }
    }
}

/* One layer.  A small batch (<= FWD_QUANT_OWN rows: decode) takes five
 * pool round trips: the products' threads normalize their own copy of x
 * before, and add the residual or apply SwiGLU on their own columns after
 * (matmul_batch); its attention tiles rotate and store their own q/k/v
 * (fused_rope).  A larger batch normalizes once into xb, in a round trip
 * of its own after each residual.  Both give the same bits. */
static void layer_forward(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int l) {
    const model_config *c = &f->m->cfg;
    const layer_weights *w = &f->m->layers[l];
    int T = b->n;
    bool small = T <= FWD_QUANT_OWN;
    layer_task_arg a = {f, kv, b, NULL, l};

    matmul_batch qkv = {{job(f->xb, &w->wq, w->bq, f->q, T), job(f->xb, &w->wk, w->bk, f->k, T),
                         job(f->xb, &w->wv, w->bv, f->v, T)}, 3, small ? w->attn_norm : NULL, false, false};
    matmul(f, &qkv);
    if (!f->fused_rope) pool_run(f->pool, rope_store_task, &a);
    pool_run(f->pool, attention_task, &a);
    matmul_batch o = {{job(f->att, &w->wo, NULL, f->proj, T)}, 1, NULL, true, false};
    matmul(f, &o); /* x += att @ wo^T */
    if (!small) {
        a.norm_w = w->ffn_norm;
        pool_run(f->pool, norm_task, &a);
    }

    matmul_batch gu = {{job(f->xb, &w->w_gate, NULL, f->gate, T), job(f->xb, &w->w_up, NULL, f->up, T)}, 2,
                       small ? w->ffn_norm : NULL, false, true};
    matmul(f, &gu); /* gate = silu(gate) * up */
    matmul_batch d = {{job(f->gate, &w->w_down, NULL, f->proj, T)}, 1, NULL, true, false};
    matmul(f, &d); /* x += gate @ w_down^T */
    if (!small) { /* the next layer's attention norm (or the final norm) */
        a.norm_w = l + 1 < c->n_layers ? f->m->layers[l + 1].attn_norm : f->m->out_norm;
        pool_run(f->pool, norm_task, &a);
    }
}

/* Every token's position has a block in its sequence's table: a missing
 * kv_seq_reserve is refused here instead of writing outside the pool.  And
 * the cache fits the model: q8_0 blocks must not straddle two heads. */
static bool positions_held(const kv_store *kv, const fwd_batch *b, int head_dim) {
    if (head_dim % kv_dtype_align(kv->dtype) != 0) return false;
    for (int t = 0; t < b->n; t++)
        if (b->pos[t] < 0 || b->pos[t] >= b->seqs[b->seq[t]]->n_table * kv->block_size) return false;
    return true;
}

bool fwd_run(fwd_ctx *f, const kv_store *kv, const fwd_batch *b) {
    const model *m = f->m;
    f->n_hidden = 0;
    if (b->n <= 0 || b->n > f->max_tokens) return false;
    if (!positions_held(kv, b, m->cfg.head_dim)) return false;
    if (!ensure_score(f, b) || !ensure_unpacked(f)) return false;
    embed_and_rope_tables(f, b);
    plan_tiles(f, b);
    bool small = b->n <= FWD_QUANT_OWN; /* layer_forward: the products normalize for themselves */
    layer_task_arg a = {f, kv, b, small ? NULL : m->layers[0].attn_norm, 0};
    if (!small) pool_run(f->pool, norm_task, &a);
    for (int l = 0; l < m->cfg.n_layers; l++) layer_forward(f, kv, b, l);
    if (small) {
        a.norm_w = m->out_norm;
        pool_run(f->pool, norm_task, &a);
    }
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
    matmul_batch out = {{job(f->proj, &f->m->output, NULL, logits, n_rows)}, 1, NULL, false, false};
    matmul(f, &out);
    return true;
}

bool fwd_eval(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, float *logits) {
    if (!fwd_run(f, kv, b)) return false;
    int n_out = 0; /* the wanted rows, in batch order */
    for (int t = 0; t < b->n; t++)
        if (!b->want_logits || b->want_logits[t]) f->rows[n_out++] = t;
    return fwd_logits(f, f->rows, n_out, logits);
}
