/*
 * encdec.h — what a request to an encoder-decoder model (T5) carries
 * beyond a decoder's, and the scheduler's encoder pass (internal to
 * engine/).
 *
 * The request's prompt is the encoder's input; the decoder's own token
 * list starts with the model's decoder_start_id (request.c), and is
 * scheduled, batched, preempted and sampled like any sequence's.  At
 * admission the scheduler also reserves the prompt's positions in `cross`
 * — a second block table in the same KV pool, so the encoder's output is
 * budgeted, preempted and freed like any K/V — and before the step's
 * decoder pass ed_encode runs every prompt admitted in that step through
 * the encoder at once, leaving each decoder layer's cross-attention K/V of
 * its output there (fwd_encode).  The encoder runs once per admission: a
 * preempted sequence gives both tables back and is encoded again when it
 * returns (the same bits: the pass is batch-invariant).  Neither table
 * takes part in prefix caching (kv_seq_commit_private): a decoder's K/V
 * depend on the encoder's input, not only on the decoder's tokens.
 */
#ifndef CTGI_ENCDEC_H
#define CTGI_ENCDEC_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "kv.h"
#include "model/forward.h"
#include "model/model.h"

typedef struct {
    int32_t *tokens; /* (n) the encoder's input: the request's prompt, copied */
    int n;
    kv_seq cross;    /* each decoder layer's cross K/V of the encoder's output, n positions;
                        n_computed = n once encoded, 0 while it holds no blocks */
} ed_state;

/* Submit-time checks of r against an encoder-decoder model m (true for a
 * decoder-only one): no prompt logprobs (the decoder never reads the
 * prompt as tokens), a prompt the encoder takes in one pass (at most
 * max_encode = max_batch_prefill_tokens tokens), and the encoder's
 * positions (whole blocks) plus the decoder's within the KV cache.  false +
 * err naming the numbers. */
bool ed_check(const model *m, const engine_request *r, int block_size, int kv_positions, int max_encode, char *err);

/* The state of a request with prompt ids[0, n); NULL: out of memory. */
ed_state *ed_create(const int32_t *ids, int n);
/* Frees e (NULL-safe); its blocks must have been given back (kv_seq_release). */
void ed_free(ed_state *e);

/* e's cross K/V are still to be computed (a fresh or re-admitted sequence). */
static inline bool ed_needs_encode(const ed_state *e) { return e && e->cross.n_computed < e->n; }

/* The encoders of seqs[0, n) in one pass (each holds blocks for its
 * prompt), then their cross tables marked computed.  tok, pos, seq (room
 * for every prompt token) and tables (n) are the caller's scratch.  false:
 * the pass failed (out of memory). */
bool ed_encode(fwd_ctx *fwd, kv_pool *kv, ed_state *const *seqs, int n, int32_t *tok, int *pos, int *seq,
               const kv_seq **tables);

#endif
