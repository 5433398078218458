/*
 * perplexity.h — the evaluation metric: mean cross-entropy of a model over a
 * token sequence, computed exactly as llama.cpp's llama-perplexity does
 * (ppl_stride 0): independent chunks of n_ctx tokens from an empty cache,
 * the first token of each chunk replaced by BOS when the vocab adds BOS,
 * only the second half of each chunk scored.
 */
#ifndef CTGI_PERPLEXITY_H
#define CTGI_PERPLEXITY_H

#include "forward.h"

typedef struct {
    int n_tokens;
    int n_chunks;
    int n_scored;
    double nll;          /* total negative log-likelihood, nats */
    double mean_nll;     /* nll / n_scored */
    double ppl;          /* exp(mean_nll) */
    double seconds;
} ppl_result;

/* Per-chunk progress callback (running ppl after chunk i); may be NULL. */
typedef void (*ppl_progress_fn)(void *ud, int chunk, int n_chunks, double running_ppl);

/* bos < 0: no BOS replacement.  n_ctx >= 4 and even; needs at least one
 * full chunk.  The pool/forward context must allow n_ctx tokens per call. */
bool ppl_compute(const model *m, pool *p, const int32_t *tokens, int n_tokens, int n_ctx,
                 int32_t bos, ppl_result *out, ppl_progress_fn progress, void *ud, char *err);

#endif
