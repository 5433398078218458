/*
 * forward.c — the decoder forward pass: embeddings -> n_layers x (RMSNorm,
 * attention with RoPE and grouped-query heads, residual, RMSNorm, SwiGLU
 * MLP, residual) -> final RMSNorm -> output head.
 *
 * All n tokens of a call go through each weight product together: one
 * matrix product (T, K) x (N, K)^T per weight, split by output columns over
 * the pool's threads.  By default each thread runs mm_rows (matmul.h) on its
 * slice: every output has one fixed summation order, so a token's logits
 * are the same bits whatever batch it is computed in.  FWD_MM_BLAS instead
 * calls single-threaded BLAS (sgemm, or sgemv per row when T is tiny: for
 * one row sgemv streams the weights ~2x faster than sgemm — runtime-notes.md
 * §2.6), which is not batch-invariant.  Attention runs per
 * (token, head) pair in parallel.  Weights are in rotate-half RoPE layout
 * (model.h), so one RoPE kernel serves every file format.
 */
#include "forward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "vmath.h"

/* Rows at or below this use sgemv per row instead of one sgemm. */
#define FWD_GEMV_MAX_ROWS 2

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
    int score_cap;
    int *rows;    /* (T) fwd_eval's wanted rows */
    int n_hidden; /* rows of the last fwd_run whose final hidden state is in xb (0: none) */
};

/* ---- setup ---------------------------------------------------------------- */

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
        *bufs[i] = malloc(T * sizes[i] * sizeof(float));
        if (!*bufs[i]) { fwd_free(f); return NULL; }
    }
    if (!(f->rows = malloc(T * sizeof *f->rows))) { fwd_free(f); return NULL; }
    /* BLAS must not start threads of its own: the pool owns the cores. */
    openblas_set_num_threads(1);
    return f;
}

void fwd_free(fwd_ctx *f) {
    if (!f) return;
    float *bufs[] = {f->x, f->xb, f->q, f->k, f->v, f->att, f->proj, f->gate, f->up, f->rope, f->score};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(f->rows);
    free(f);
}

int fwd_max_tokens(const fwd_ctx *f) { return f->max_tokens; }

void fwd_set_matmul(fwd_ctx *f, fwd_matmul mode) { f->mm_mode = mode; }

/* ---- matrix products -------------------------------------------------------- */

typedef struct {
    const float *in; /* (T, K) */
    const float *w;  /* (N, K) row-major: one output per row */
    const float *bias; /* (N) or NULL */
    float *out;      /* (T, N) */
    int T, K, N;
} matmul_job;

/* out[:, cols] = in @ w[cols]^T (+ bias) for this thread's share of columns. */
static void matmul_slice(const matmul_job *j, fwd_matmul mode, int ith, int nth) {
    int b, e;
    pool_range(j->N, ith, nth, &b, &e);
    if (b >= e) return;
    if (mode == FWD_MM_INVARIANT) { /* same bits for a row whatever T, its row index or the split */
        mm_rows(j->in, j->T, j->K, j->w, b, e, j->bias, j->out, j->N);
        return;
    }
    const float *w = j->w + (size_t)b * j->K;
    if (j->T <= FWD_GEMV_MAX_ROWS) {
        for (int t = 0; t < j->T; t++)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, e - b, j->K, 1.0f, w, j->K,
                        j->in + (size_t)t * j->K, 1, 0.0f, j->out + (size_t)t * j->N + b, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, e - b, j->K, 1.0f, j->in, j->K,
                    w, j->K, 0.0f, j->out + b, j->N);
    }
    if (j->bias)
        for (int t = 0; t < j->T; t++)
            for (int n = b; n < e; n++) j->out[(size_t)t * j->N + n] += j->bias[n];
}

typedef struct {
    matmul_job jobs[3];
    int n_jobs;
} matmul_batch;

typedef struct {
    const matmul_batch *mb;
    fwd_matmul mode;
} matmul_run;

static void matmul_task(void *arg, int ith, int nth) {
    const matmul_run *r = arg;
    for (int i = 0; i < r->mb->n_jobs; i++) matmul_slice(&r->mb->jobs[i], r->mode, ith, nth);
}

/* Up to three products over the same input in one pool round trip. */
static void matmul(fwd_ctx *f, matmul_batch *mb) {
    matmul_run r = {mb, f->mm_mode};
    pool_run(f->pool, matmul_task, &r);
}

static matmul_job job(const float *in, const float *w, const float *bias, float *out, int T, int K, int N) {
    return (matmul_job){in, w, bias, out, T, K, N};
}

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

/* RoPE on q and k, then k and v stored into the cache at (seq, pos): the
 * sequence's table already holds a block for pos (kv_seq_reserve). */
static void rope_store_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const model_config *c = &f->m->cfg;
    int kvd = c->n_kv_heads * c->head_dim, qd = c->n_heads * c->head_dim, half = c->head_dim / 2;
    int s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        const float *cs = f->rope + (size_t)t * c->head_dim;
        for (int h = 0; h < c->n_heads; h++) rope_head(f->q + (size_t)t * qd + h * c->head_dim, cs, half);
        for (int h = 0; h < c->n_kv_heads; h++) rope_head(f->k + (size_t)t * kvd + h * c->head_dim, cs, half);
        const kv_seq *sq = a->b->seqs[a->b->seq[t]];
        memcpy(kv_k(a->kv, sq, a->layer, a->b->pos[t]), f->k + (size_t)t * kvd, kvd * sizeof(float));
        memcpy(kv_v(a->kv, sq, a->layer, a->b->pos[t]), f->v + (size_t)t * kvd, kvd * sizeof(float));
    }
}

/* Causal attention for one (token, head): softmax(q.k / sqrt(hd)) . v over
 * positions 0..pos of the token's sequence.  Positions go block by block:
 * one table lookup per block, then the block's rows at stride kv_dim. */
static void attend(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int layer, int t, int h, float *score) {
    const model_config *c = &f->m->cfg;
    const kv_seq *sq = b->seqs[b->seq[t]];
    int hd = c->head_dim, g = h / (c->n_heads / c->n_kv_heads), P = b->pos[t], bs = kv->block_size;
    size_t kvd = (size_t)kv->kv_dim;
    const float *q = f->q + ((size_t)t * c->n_heads + h) * hd;
    float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
    for (int p0 = 0; p0 <= P; p0 += bs) {
        const float *k = kv_k(kv, sq, layer, p0) + g * hd;
        int n = P - p0 < bs ? P - p0 + 1 : bs;
        for (int j = 0; j < n; j++, k += kvd) {
            float d = 0;
            /* an explicit simd reduction: without it the compiler may not
             * reorder the float sum, and the loop runs scalar */
#pragma omp simd reduction(+ : d)
            for (int i = 0; i < hd; i++) d += q[i] * k[i];
            score[p0 + j] = d * scale;
            if (score[p0 + j] > mx) mx = score[p0 + j];
        }
    }
    float sum = 0;
    for (int p = 0; p <= P; p++) {
        score[p] = expf(score[p] - mx);
        sum += score[p];
    }
    float *out = f->att + ((size_t)t * c->n_heads + h) * hd, inv = 1.0f / sum;
    memset(out, 0, hd * sizeof(float));
    for (int p0 = 0; p0 <= P; p0 += bs) {
        const float *v = kv_v(kv, sq, layer, p0) + g * hd;
        int n = P - p0 < bs ? P - p0 + 1 : bs;
        for (int j = 0; j < n; j++, v += kvd) {
            float w = score[p0 + j] * inv;
#pragma omp simd
            for (int i = 0; i < hd; i++) out[i] += w * v[i];
        }
    }
}

/* A (token, head) pair costs pos + 1: the positions it reads.  Causal cost
 * grows with position, so an even split by count would leave the thread
 * holding the prompt's tail with ~3/4 of a 512-token prefill; the pairs are
 * split by cumulative cost instead.  A pair belongs to the thread whose
 * share [lo, hi) of the total holds its starting cost.  Which thread
 * computes a pair changes nothing in how it is computed. */
static void attention_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    const fwd_batch *b = a->b;
    int nh = f->m->cfg.n_heads;
    int64_t total = 0;
    for (int t = 0; t < b->n; t++) total += (int64_t)(b->pos[t] + 1) * nh;
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth, at = 0;
    float *score = f->score + (size_t)ith * f->score_cap;
    for (int t = 0; t < b->n && at < hi; t++)
        for (int h = 0; h < nh; h++, at += b->pos[t] + 1)
            if (at >= lo && at < hi) attend(f, a->kv, b, a->layer, t, h, score);
}

/* x += proj, then xb = rmsnorm(x) with the next norm (if any). */
static void residual_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    int dim = f->m->cfg.dim, s, e;
    pool_range(a->b->n, ith, nth, &s, &e);
    for (int t = s; t < e; t++) {
        float *x = f->x + (size_t)t * dim;
        const float *p = f->proj + (size_t)t * dim;
        for (int i = 0; i < dim; i++) x[i] += p[i];
        if (a->norm_w) rmsnorm(f->xb + (size_t)t * dim, x, a->norm_w, dim, f->m->cfg.norm_eps);
    }
}

/* gate = silu(gate) * up */
static void swiglu_task(void *arg, int ith, int nth) {
    layer_task_arg *a = arg;
    fwd_ctx *f = a->f;
    size_t n = (size_t)a->b->n * f->m->cfg.ffn_dim;
    int s, e;
    pool_range((int)n, ith, nth, &s, &e);
    /* vectorized exp (libm's expf is a call per element); an element gets
     * the same bits in any lane, so this stays batch-invariant */
    if (s < e) vm_swiglu(f->gate + s, f->up + s, (size_t)(e - s));
}

/* ---- the pass ------------------------------------------------------------------- */

static bool ensure_score(fwd_ctx *f, const fwd_batch *b) {
    int need = 1;
    for (int t = 0; t < b->n; t++)
        if (b->pos[t] + 1 > need) need = b->pos[t] + 1;
    if (need <= f->score_cap) return true;
    float *s = realloc(f->score, (size_t)need * pool_size(f->pool) * sizeof(float));
    if (!s) return false;
    f->score = s;
    f->score_cap = need;
    return true;
}

static void embed_and_rope_tables(fwd_ctx *f, const fwd_batch *b) {
    const model *m = f->m;
    int dim = m->cfg.dim, half = m->cfg.head_dim / 2;
    for (int t = 0; t < b->n; t++) {
        memcpy(f->x + (size_t)t * dim, m->tok_embd + (size_t)b->tokens[t] * dim, dim * sizeof(float));
        float *cs = f->rope + (size_t)t * m->cfg.head_dim;
        for (int i = 0; i < half; i++) {
            double ang = (double)b->pos[t] * m->rope_inv_freq[i];
            cs[i] = (float)cos(ang);
            cs[half + i] = (float)sin(ang);
        }
    }
}

static void layer_forward(fwd_ctx *f, const kv_store *kv, const fwd_batch *b, int l) {
    const model_config *c = &f->m->cfg;
    const layer_weights *w = &f->m->layers[l];
    int T = b->n, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    layer_task_arg a = {f, kv, b, NULL, l};

    matmul_batch qkv = {{job(f->xb, w->wq, w->bq, f->q, T, c->dim, qd),
                         job(f->xb, w->wk, w->bk, f->k, T, c->dim, kvd),
                         job(f->xb, w->wv, w->bv, f->v, T, c->dim, kvd)}, 3};
    matmul(f, &qkv);
    pool_run(f->pool, rope_store_task, &a);
    pool_run(f->pool, attention_task, &a);
    matmul_batch o = {{job(f->att, w->wo, NULL, f->proj, T, qd, c->dim)}, 1};
    matmul(f, &o);
    a.norm_w = w->ffn_norm;
    pool_run(f->pool, residual_task, &a);

    matmul_batch gu = {{job(f->xb, w->w_gate, NULL, f->gate, T, c->dim, c->ffn_dim),
                        job(f->xb, w->w_up, NULL, f->up, T, c->dim, c->ffn_dim)}, 2};
    matmul(f, &gu);
    pool_run(f->pool, swiglu_task, &a);
    matmul_batch d = {{job(f->gate, w->w_down, NULL, f->proj, T, c->ffn_dim, c->dim)}, 1};
    matmul(f, &d);
    /* residual, then the next layer's attention norm (or the final norm) */
    a.norm_w = l + 1 < c->n_layers ? f->m->layers[l + 1].attn_norm : f->m->out_norm;
    pool_run(f->pool, residual_task, &a);
}

/* Every token's position has a block in its sequence's table: a missing
 * kv_seq_reserve is refused here instead of writing outside the pool. */
static bool positions_held(const kv_store *kv, const fwd_batch *b) {
    for (int t = 0; t < b->n; t++)
        if (b->pos[t] < 0 || b->pos[t] >= b->seqs[b->seq[t]]->n_table * kv->block_size) return false;
    return true;
}

bool fwd_run(fwd_ctx *f, const kv_store *kv, const fwd_batch *b) {
    const model *m = f->m;
    f->n_hidden = 0;
    if (b->n <= 0 || b->n > f->max_tokens) return false;
    if (!positions_held(kv, b)) return false;
    if (!ensure_score(f, b)) return false;
    embed_and_rope_tables(f, b);
    layer_task_arg a = {f, kv, b, m->layers[0].attn_norm, 0};
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
    for (int i = 0; i < n_rows; i++) {
        if (rows[i] < 0 || rows[i] >= f->n_hidden) return false;
        memcpy(f->proj + (size_t)i * dim, f->xb + (size_t)rows[i] * dim, dim * sizeof(float));
    }
    matmul_batch out = {{job(f->proj, f->m->output, NULL, logits, n_rows, dim, f->m->cfg.vocab)}, 1};
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
