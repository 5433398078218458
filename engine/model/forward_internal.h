/*
 * forward_internal.h — what the three files of the forward pass share
 * (internal to engine/model/): forward.c (the decoder pass, the weight
 * products and the element-wise tasks), forward_attn.c (attention tiles
 * over the KV cache, over an encoder's cross K/V, or over a batch's own
 * rows) and forward_encdec.c (T5's encoder pass and the decoder's
 * cross-attention block).  Nothing here is seen outside the forward pass.
 */
#ifndef CTGI_FORWARD_INTERNAL_H
#define CTGI_FORWARD_INTERNAL_H

#include "forward.h"
#include "forward_lora.h"
#include "kernels/wmat.h"

/* Attention rows (token, head) computed together: the scores of a tile
 * are FWD_ATT_ROWS x keys floats per thread (64 KiB at 512). */
#define FWD_ATT_ROWS 32

/* Tokens [t0, t1) (one sequence, consecutive in the batch) x query heads
 * [h0, h1) (of one kv head).  Full (non-causal) attention: every row sees
 * keys [0, n_keys); ATT_BATCH's keys are the batch rows from key0 on. */
typedef struct {
    int t0, t1, h0, h1;
    int n_keys, key0;
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
    att_tile *tiles;  /* (max_tokens * n_heads) this batch's attention tiles */
    int n_tiles;
    att_tile *xtiles; /* (max_tokens * n_heads) its cross-attention tiles (encoder-decoder), else NULL */
    int n_xtiles;
    int *rows;    /* (T) fwd_eval's wanted rows */
    void *act_buf;   /* (max_tokens, max K) activations quantized for the block types */
    wm_act act;      /* the current product's input, quantized (when a weight needs it) */
    void *act_small; /* (n_threads, FWD_QUANT_OWN rows x max K): each thread's own copy of a small input */
    size_t act_small_bytes; /* per thread */
    float *unpacked; /* BLAS mode: (n_threads, FWD_BLAS_ROWS * max K) row-major weight chunks */
    size_t unpacked_cap; /* floats per thread */
    int n_hidden; /* rows of the last fwd_run whose final hidden state is in xb (0: none) */
    fwd_lora lora;   /* this batch's LoRA rows and scratch (forward_lora.h); none in an encoder pass */
};

/* ---- weight products (forward.c) ---------------------------------------------------- */

typedef struct {
    const float *in;   /* (T, K) */
    const wmat *w;     /* (N, K): one output per row */
    const float *bias; /* (N) or NULL */
    float *out;        /* (T, N) */
    int T;
} matmul_job;

typedef struct {
    matmul_job jobs[3];
    int n_jobs;
} matmul_batch;

static inline matmul_job fwd_job(const float *in, const wmat *w, const float *bias, float *out, int T) {
    return (matmul_job){in, w, bias, out, T};
}

/* Up to three products over the same input, split over the pool's
 * threads by output columns; each output has one fixed summation order. */
void fwd_mm(fwd_ctx *f, matmul_batch *mb);
/* BLAS mode's unpack scratch, made on first use (false: out of memory). */
bool fwd_ensure_unpacked(fwd_ctx *f);

/* ---- blocks (forward.c) -------------------------------------------------------------- */

/* A norm's weights: gain w (NULL: no norm) and LayerNorm bias b or NULL. */
typedef struct {
    const float *w, *b;
} norm_ref;

/* What a tile's rows attend to:
 *   ATT_CAUSAL  the sequence's cached K/V at positions lo..pos (a decoder's
 *               self-attention; lo > 0 inside a sliding window);
 *   ATT_CROSS   every key of the sequence's cross K/V (an encoder-decoder's
 *               decoder: the encoder's output, fwd_batch.cross);
 *   ATT_BATCH   every row of the batch of the token's own sequence (the
 *               encoder's bidirectional attention over f->k / f->v in f32). */
typedef enum { ATT_CAUSAL = 0, ATT_CROSS, ATT_BATCH } att_kind;

typedef struct {
    att_kind kind;
    const att_tile *tiles;
    int n_tiles;
    const float *rel_bias;  /* (rel_buckets, n_heads) T5's bias by bucket of key - query, or NULL */
    const int32_t *bucket;  /* the stack's bucket of offset d at [d + rel_max_distance] */
} att_view;

typedef struct {
    fwd_ctx *f;
    const kv_store *kv;
    const fwd_batch *b;
    norm_ref norm;  /* norm_task / residual_task: xb = norm(x) (w NULL: none) */
    norm_ref norm2; /* ... and xb2 = norm2(x) (parallel residual with an MLP norm) */
    norm_ref post;  /* residual_task: proj = post(proj) before it is added (gemma2) */
    bool add2;      /* residual_task: proj2 is added too (parallel residual) */
    int layer;      /* the cache layer K/V are stored into and read from */
    const att_view *att; /* attention_task's keys */
} layer_task_arg;

void fwd_norm_row(const model_config *c, float *y, const float *x, norm_ref n);
/* The first block's input: the embeddings' own norm (bloom), then xb = norm(x) (and xb2). */
void fwd_norm_task(void *arg, int ith, int nth);
/* x += proj (normed first by post) (+ proj2), then xb = norm(x), xb2 = norm2(x). */
void fwd_residual_task(void *arg, int ith, int nth);
/* The MLP of w on in (T rows) into out. */
void fwd_ffn(fwd_ctx *f, const layer_weights *w, const float *in, float *out, layer_task_arg *a);
/* x = each token's embedding (scaled, plus learned positions), and the RoPE tables. */
void fwd_embed(fwd_ctx *f, const fwd_batch *b);

/* ---- attention (forward_attn.c) ------------------------------------------------------- */

/* The batch's attention tiles for keys of `kind` into out (room for
 * max_tokens x n_heads); their count.  cross: the sequences' cross tables
 * (ATT_CROSS). */
int fwd_plan_tiles(const fwd_ctx *f, const fwd_batch *b, att_kind kind, att_tile *out);
/* Scores for rows that see up to `keys` keys. */
bool fwd_ensure_score(fwd_ctx *f, int keys);
/* a->att's tiles on the pool: f->att = softmax(q.k scores) . v. */
void fwd_attention(fwd_ctx *f, layer_task_arg *a);

/* ---- encoder-decoder (forward_encdec.c) ------------------------------------------------ */

/* Decoder layer l's cross-attention on xb (normed by its cross_norm) into
 * proj: q from the decoder's rows, keys and values from each sequence's
 * cross K/V. */
void fwd_cross_attention(fwd_ctx *f, const fwd_batch *b, int l, layer_task_arg *a);

#endif
