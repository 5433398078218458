/*
 * forward.h — the transformer forward pass over a batch of tokens.
 *
 * One call processes n tokens (any mix of sequences and positions) in one
 * pass: every weight product is one product over all n rows (by default
 * the batch-invariant kernel of matmul.h on the model's packed weights;
 * see fwd_set_matmul), split across the pool's threads by output columns;
 * attention runs on tiles of (token, head) rows of one sequence and kv
 * head in parallel, reading the KV cache through kv.h.  Activations are
 * f32; K and V are stored in the cache's element type (kv_dtype) and read
 * in it directly.
 *
 * Encoder-decoder models (T5) run in two passes: fwd_encode over whole
 * prompts once, which leaves each decoder layer's cross-attention K/V of
 * the encoder's output in blocks of the KV pool (a second block table per
 * sequence), then fwd_run over decoder tokens like any decoder, each
 * sequence's rows also attending to its cross K/V (fwd_batch.cross).
 */
#ifndef CTGI_FORWARD_H
#define CTGI_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "kv.h"
#include "model.h"
#include "pool.h"

typedef struct fwd_ctx fwd_ctx;

/* Scratch for up to max_tokens tokens per call; uses (does not own) pool. */
fwd_ctx *fwd_create(const model *m, pool *p, int max_tokens);
void fwd_free(fwd_ctx *c);
int fwd_max_tokens(const fwd_ctx *c);

/* How the weight products are computed.  INVARIANT (the default): the
 * engine's own kernel (matmul.h), one fixed summation order per output, so
 * a token's logits are bit-identical whether it is evaluated alone or in
 * any batch, at any row.  BLAS: OpenBLAS sgemm on unpacked chunks of the
 * weights, whose rounding depends on the batch's shape (for comparison);
 * <= 2 rows run the packed kernel, as sgemv would want row-major weights. */
typedef enum { FWD_MM_INVARIANT = 0, FWD_MM_BLAS } fwd_matmul;
void fwd_set_matmul(fwd_ctx *c, fwd_matmul mode);

typedef struct {
    const int32_t *tokens; /* (n) */
    const int *pos;        /* (n) position of each token in its sequence */
    const int *seq;        /* (n) index into seqs */
    const kv_seq *const *seqs; /* the sequences' block tables */
    int n;                 /* <= fwd_max_tokens */
    /* which rows want logits: NULL = every row; else a (n) mask */
    const bool *want_logits;
    /* encoder-decoder models: each sequence's cross-attention K/V (the
     * table fwd_encode filled; n_computed = the encoder's length); NULL
     * for a decoder-only model */
    const kv_seq *const *cross;
    /* each row's LoRA adapter: 0 = the base alone, k = the model's k-th
     * adapter (model_lora_*); NULL = every row the base.  Rows of different
     * adapters share every base product; each adapted row then adds its
     * own scale * B (A x) (forward_lora.h), the same arithmetic
     * whatever else is in the batch. */
    const int *adapter;
} fwd_batch;

/* Runs the batch; writes logits (n_out, vocab) for the rows that want them,
 * in batch order.  Tokens of one sequence must appear in position order and
 * each sequence must already hold blocks for its positions
 * (kv_seq_reserve); a token attends to positions <= its own of its
 * sequence (earlier ones from the cache or from this batch).
 * Returns false if n is out of range, an adapter index is out of range, a position has no block in its
 * sequence's table, the cache is Q8_0 and head_dim is not a multiple of
 * 32, or scratch memory cannot grow.
 * = fwd_run, then fwd_logits of the wanted rows. */
bool fwd_eval(fwd_ctx *c, const kv_store *kv, const fwd_batch *b, float *logits);

/* The two halves of fwd_eval, for a caller that wants the output head in
 * pieces (the scheduler computes a prompt's logits a tile of rows at a
 * time, so its memory is bounded by the tile, not the batch):
 * fwd_run runs every layer over the batch (want_logits is ignored) and
 * keeps each row's final hidden state until the next fwd_run; fwd_logits
 * writes logits (n_rows, vocab) for rows[0, n_rows) of that batch (batch
 * indices, any order, n_rows <= the batch's n), and may be called any
 * number of times.  A row's logits are the same bits whichever rows are
 * computed with it (FWD_MM_INVARIANT).  fwd_logits returns false if no
 * batch was run or a row is out of range. */
bool fwd_run(fwd_ctx *c, const kv_store *kv, const fwd_batch *b);
bool fwd_logits(fwd_ctx *c, const int *rows, int n_rows, float *logits);

/* An encoder-decoder model's encoder over whole prompts: b->tokens of each
 * sequence consecutive at positions 0, 1, ..., n-1 (a prompt is never
 * split: bidirectional attention sees all of it; each sequence its own
 * tokens only), b->seqs[s] the sequence's cross table with blocks for its
 * n positions (kv_seq_reserve).  Runs the encoder stack and its final
 * norm, then writes every decoder layer's cross-attention keys and values
 * of that output into the table (cache layer l = decoder layer l) at the
 * token's position, in the cache's element type; the caller then marks
 * them computed (kv_seq_commit_private).  want_logits and cross are
 * ignored.  A row's K/V are the same bits whatever else is in the batch.
 * Leaves no rows for fwd_logits.  False as fwd_run (and for a decoder-only
 * model, or positions that do not start at 0 or run in order). */
bool fwd_encode(fwd_ctx *c, const kv_store *kv, const fwd_batch *b);

#endif
