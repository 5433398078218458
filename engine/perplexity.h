/*
 * perplexity.h — the evaluation metric: mean cross-entropy of a model over a
 * token sequence, computed exactly as llama.cpp's llama-perplexity does
 * (ppl_stride 0): independent chunks of n_ctx tokens from an empty cache,
 * the first token of each chunk replaced by BOS when the vocab adds BOS,
 * only the second half of each chunk scored.
 *
 * It drives a running engine through engine.h like any other client: each
 * chunk is a scoring request (max_new_tokens 0, prompt_logprobs from the
 * second half's first scored token), so the numbers come from the same
 * forward pass and the same log_softmax the server's prompt logprobs use,
 * and only the scored rows go through the output head.  Chunks run side by
 * side in the engine's batch; the result does not depend on it (engine.h,
 * "Determinism").
 */
#ifndef CTGI_PERPLEXITY_H
#define CTGI_PERPLEXITY_H

#include "engine.h"

typedef struct {
    int n_tokens;
    int n_chunks;
    int n_scored;
    double nll;          /* total negative log-likelihood, nats */
    double mean_nll;     /* nll / n_scored */
    double ppl;          /* exp(mean_nll) */
    double seconds;
} ppl_result;

/* Per-chunk progress callback (running ppl after chunk i, in order); may be NULL. */
typedef void (*ppl_progress_fn)(void *ud, int chunk, int n_chunks, double running_ppl);

/* engine_config_default() shaped for ppl_compute: one chunk of n_ctx
 * tokens per step, KV for `in_flight` chunks at once, no prefix cache (the
 * chunks share nothing).  The caller sets the threads. */
engine_config ppl_engine_config(int n_ctx, int in_flight);

/* bos < 0: no BOS replacement.  n_ctx >= 4, even and within the model's
 * context; needs at least one full chunk.  Up to `in_flight` chunks are
 * submitted at once (>= 1; the engine's KV cache must hold that many, see
 * ppl_engine_config, or they wait their turn). */
bool ppl_compute(engine *e, const int32_t *tokens, int n_tokens, int n_ctx, int32_t bos, int in_flight,
                 ppl_result *out, ppl_progress_fn progress, void *ud, char *err);

#endif
