/*
 * forward.h — the transformer forward pass over a batch of tokens.
 *
 * One call processes n tokens (any mix of sequences and positions) in one
 * pass: every weight product is a single BLAS call over all n rows
 * (cblas_sgemv per row when n is tiny), split across the pool's threads by
 * output columns; attention runs per (token, head) in parallel, reading the
 * KV cache through kv.h.  Activations are f32.
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

typedef struct {
    const int32_t *tokens; /* (n) */
    const int *pos;        /* (n) position of each token in its sequence */
    const int *seq;        /* (n) sequence slot in the kv cache */
    int n;                 /* <= fwd_max_tokens */
    /* which rows want logits: NULL = every row; else a (n) mask */
    const bool *want_logits;
} fwd_batch;

/* Runs the batch; writes logits (n_out, vocab) for the rows that want them,
 * in batch order.  Tokens of one sequence must appear in position order and
 * positions must be < kv->capacity; a token attends to positions <= its own
 * of its sequence (earlier ones from the cache or from this batch).
 * Returns false if n is out of range or scratch memory cannot grow. */
bool fwd_eval(fwd_ctx *c, kv_cache *kv, const fwd_batch *b, float *logits);

#endif
